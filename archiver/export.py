"""`archiver export`: one manifest's captures as a WACZ 1.1.1 package or as one WARC file.

The records are copied byte for byte (each is a whole gzip member at an offset the database knows),
so digests, record ids and revisit links stay exactly as captured; a fresh warcinfo record opens the
new file. A revisit carries no payload, so the capture it refers to is always copied with it (for a
browser capture, also the captures its sub-resources' revisits refer to). A browser capture's
sub-resources, screenshot (urn:screenshot:<page>) and DOM (urn:dom:<page>) are in the WARC and the
CDXJ index, and its page entry carries the title the browser rendered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import __version__, stamps
from .archive import Archive
from .atomic import atomic_output
from .cdx import cdxj_lines, entries_from_rows, timestamp14
from .config import Settings
from .db import ArchiveDB
from .errors import NotArchived, StorageError, UsageError
from .evidence import provenance
from .evidence.package_stamp import FIELD as PACKAGE_STAMPS
from .evidence.package_stamp import PackageStamps, stamp_package
from .evidence.signing import SigningKey, load_key, sign_digest
from .manifests import load_manifest
from .storage import COPY_CHUNK
from .warc import RecordBuilder

WACZ_VERSION = "1.1.1"
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
TITLE_SCAN = 64 * 1024  # a <title> sits in the head: never decode a whole page to find it


@dataclass
class Selection:
    """A manifest as the archive knows it, and the records of its captures."""

    path: str
    name: str
    title: str | None
    urls: list[str]  # fetch URLs of the current citations, in manifest order
    records: list[dict[str, Any]] = field(default_factory=list)


def resolve_manifest(db: ArchiveDB, ref: str) -> Selection:
    """MANIFEST as typed: a manifest file (its current citations, as `report` reads them), else a
    manifest the database knows by path or by name. Unknown: UsageError (exit 2); a bad file:
    ManifestError (exit 3)."""
    known = db.export_manifests()
    if Path(ref).is_file():
        manifest = load_manifest(ref)
        wanted = Path(ref).resolve()
        stored = next((m for m in known if m["path"] == ref or Path(m["path"]).resolve() == wanted), None)
        urls = [c.fetch_url for c in manifest.citations]  # loading skips invalid URLs: never captured
        return Selection(stored["path"] if stored else manifest.path, manifest.name, manifest.title,
                         list(dict.fromkeys(urls)))
    matches = [m for m in known if m["path"] == ref] or [m for m in known if m["name"] == ref]
    if not matches:
        raise UsageError(f"{ref}: no such manifest file, and no manifest of that path or name in {db.path}")
    if len(matches) > 1:
        paths = ", ".join(m["path"] for m in matches)
        raise UsageError(f"{ref}: names several manifests ({paths}); give its path")
    row = matches[0]
    urls = [c["fetch_url"] for c in db.export_citations(row["path"]) if c["fetch_url"]]
    return Selection(row["path"], row["name"], row["title"], list(dict.fromkeys(urls)))


def select(archive: Archive, ref: str) -> Selection:
    selection = resolve_manifest(archive.db, ref)
    selection.records = archive.db.export_records(selection.urls)
    if not any(r["rec_type"] in ("response", "revisit") for r in selection.records):
        raise not_captured(ref, selection, archive)
    return selection


def not_captured(ref: str, selection: Selection, archive: Archive) -> NotArchived:
    return NotArchived(f"{ref}: no capture of its {len(selection.urls)} cited URLs in {archive.settings.db_path}")


# -- the WARC -----------------------------------------------------------------------------------


class _Counting:
    """The output file, with the sha256 and size of what went through (the WACZ needs both)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.handle.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size


def write_warc(archive: Archive, records: list[dict[str, Any]], out: _Counting, filename: str,
               when: dt.datetime) -> dict[tuple[str, int], int]:
    """A warcinfo, then each record copied byte for byte; returns where each record landed."""
    RecordBuilder(gzip_level=archive.settings.gzip_level).warcinfo(out, filename, when, archive.settings.user_agent)
    placed: dict[tuple[str, int], int] = {}
    handles: dict[str, IO[bytes]] = {}
    try:
        for row in records:
            key = (row["warc"], row["offset"])
            if key in placed:
                continue  # a record two selected captures share (an original cited twice)
            source = handles.get(row["warc"])
            if source is None:
                path = archive.store.path_of(row["warc"], f"the records row at offset {row['offset']}")
                try:
                    source = handles[row["warc"]] = archive.store.open_read(
                        row["warc"], f"the records row at offset {row['offset']}")
                except OSError as exc:
                    raise StorageError(f"{path}: cannot open WARC: {exc.strerror or exc}") from exc
            placed[key] = out.tell()
            _copy(source, row["offset"], row["length"], out, row["warc"])
    finally:
        for handle in handles.values():
            handle.close()
    return placed


def _copy(source: IO[bytes], offset: int, length: int, out: _Counting, name: str) -> None:
    source.seek(offset)
    left = length
    while left:
        chunk = source.read(min(left, COPY_CHUNK))
        if not chunk:
            raise StorageError(f"{name}: ends inside the record at offset {offset} (length {length})")
        out.write(chunk)
        left -= len(chunk)


@dataclass(frozen=True)
class Exported:
    output: Path
    captures: int
    records: int
    pages: int
    size: int
    signed_by: str | None = None  # the public key's sha256 fingerprint, when signed
    provenance: tuple[Path, ...] = ()  # the provenance files written beside a WARC export
    timestamps: tuple[dict[str, str], ...] = ()  # the RFC 3161 tokens put in a WACZ (package_stamp.py)
    stamp_errors: tuple[str, ...] = ()  # one line per TSA that gave no token


def _packaged_name(selection: Selection, when: dt.datetime) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", selection.name.lower()).strip("-") or "manifest"
    return f"archiver-export-{slug}-{stamps.digits14(when)}.warc.gz"


def export_warc(settings: Settings, ref: str, output: Path) -> Exported:
    """One WARC file of MANIFEST's captures (and the originals of their revisits), and its provenance
    summary beside it (`<output>.provenance.json` and `.provenance.md`)."""
    when = stamps.now()
    with Archive(settings, writing=False) as archive:
        selection = select(archive, ref)
        with atomic_output(output) as handle:
            out = _Counting(handle)
            placed = write_warc(archive, selection.records, out, output.name, when)
        doc = _provenance(archive, selection, output.name, out)
        written = (output.with_name(output.name + ".provenance.json"), output.with_name(output.name + ".provenance.md"))
        for path, data in zip(written, _provenance_files(doc), strict=True):
            with atomic_output(path) as handle:
                handle.write(data)
    return Exported(output, len({r["capture_id"] for r in selection.records}), len(placed) + 1, 0, out.size,
                    provenance=written)


def _provenance(archive: Archive, selection: Selection, warc_name: str, out: _Counting) -> dict[str, Any]:
    return provenance.summary(archive, {r["capture_id"] for r in selection.records},
                              subject=f"captures of the URLs cited in {selection.path}",
                              export={"warc": warc_name, "sha256": out.sha256.hexdigest(), "bytes": out.size})


def _provenance_files(doc: dict[str, Any]) -> tuple[bytes, bytes]:
    return json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n", provenance.markdown(doc).encode()


def export_wacz(settings: Settings, ref: str, output: Path, sign: str | None = None,
                timestamp: bool | None = None) -> Exported:
    """A WACZ 1.1.1 package: archive/ (one WARC, stored uncompressed in the zip: it is gzip already,
    and readers seek into it), indexes/index.cdxj, pages/pages.jsonl, provenance/provenance.json and
    provenance/provenance.md (archiver/evidence/provenance.py), datapackage.json (sha256 and size of
    each of those) and datapackage-digest.json (sha256 of datapackage.json; with `sign`, a key file or
    "anonymous", signed as archiver/evidence/signing.py says; with `timestamp` (None: when the `tsa`
    setting lists authorities) also each TSA's token over datapackage.json's sha256, as
    archiver/evidence/package_stamp.py says). A TSA that fails is a line in `stamp_errors`: the
    package is written all the same."""
    key: SigningKey | None = load_key(sign) if sign is not None else None  # a bad key: before any work
    if timestamp and not settings.tsa:
        raise UsageError("--stamp needs a timestamp authority: the tsa setting (config `tsa` or ARCHIVER_TSA)")
    stamping = bool(settings.tsa) if timestamp is None else timestamp
    tokens = PackageStamps()
    when = stamps.now()
    stamp = when.timetuple()[:6]
    with Archive(settings, writing=False) as archive:
        selection = select(archive, ref)
        warc_name = _packaged_name(selection, when)
        pages = _pages(archive, selection)
        with atomic_output(output) as handle, zipfile.ZipFile(handle, "w", allowZip64=True) as package:
            resources: list[dict[str, Any]] = []
            info = zipfile.ZipInfo(f"archive/{warc_name}", stamp)
            info.compress_type = zipfile.ZIP_STORED
            with package.open(info, "w", force_zip64=True) as member:
                out = _Counting(member)
                placed = write_warc(archive, selection.records, out, warc_name, when)
            resources.append(_resource(info.filename, out.sha256.hexdigest(), out.size))
            entries = entries_from_rows(selection.records, rename=lambda _warc: warc_name, placed=placed)
            index = "".join(cdxj_lines(entries)).encode()
            resources.append(_put(package, "indexes/index.cdxj", index, stamp))
            resources.append(_put(package, "pages/pages.jsonl", pages, stamp))
            doc_json, doc_md = _provenance_files(_provenance(archive, selection, warc_name, out))
            resources.append(_put(package, "provenance/provenance.json", doc_json, stamp))
            resources.append(_put(package, "provenance/provenance.md", doc_md, stamp))
            created = stamps.iso(when, "seconds")
            datapackage = json.dumps({
                "profile": "data-package",
                "resources": resources,
                "wacz_version": WACZ_VERSION,
                "title": selection.title or selection.name,
                "description": f"Captures of the URLs cited in {selection.path}, kept by archiver",
                "created": created,
                "software": f"archiver {__version__}",
            }, indent=2).encode()
            _put(package, "datapackage.json", datapackage, stamp)
            digest: dict[str, Any] = {"path": "datapackage.json",
                                      "hash": "sha256:" + hashlib.sha256(datapackage).hexdigest()}
            if key is not None:
                digest = sign_digest(datapackage, created, key)
            if stamping:
                tokens = stamp_package(settings, datapackage)
                if tokens.entries:
                    digest[PACKAGE_STAMPS] = tokens.entries
            _put(package, "datapackage-digest.json", json.dumps(digest, indent=2).encode(), stamp)
        size = output.stat().st_size
    page_count = pages.count(b"\n") - 1
    return Exported(output, len({r["capture_id"] for r in selection.records}), len(placed) + 1, page_count, size,
                    signed_by=key.fingerprint if key is not None else None, timestamps=tuple(tokens.entries),
                    stamp_errors=tuple(tokens.errors))


def _resource(path: str, sha256: str, size: int) -> dict[str, Any]:
    return {"name": Path(path).name.lower(), "path": path, "hash": f"sha256:{sha256}", "bytes": size}


def _put(package: zipfile.ZipFile, path: str, data: bytes, stamp: tuple[int, ...]) -> dict[str, Any]:
    info = zipfile.ZipInfo(path, stamp)  # type: ignore[arg-type]  # typeshed wants exactly six ints
    info.compress_type = zipfile.ZIP_DEFLATED
    package.writestr(info, data)
    return _resource(path, hashlib.sha256(data).hexdigest(), len(data))


def _pages(archive: Archive, selection: Selection) -> bytes:
    """pages.jsonl: a header, then each cited URL with a whole 2xx capture, at its newest one, titled
    as a reader saw it: a browser capture's rendered title (scripts may set it), else the <title>."""
    lines = [json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "All Pages"})]
    newest = archive.db.report_captures(selection.urls)
    rendered = _rendered_titles(selection.records)
    for url in selection.urls:
        found = newest.get(url)
        if found is None:
            continue
        captured_at, payload_id, content_type = found.captured_at, found.payload_capture_id, found.content_type
        ts = timestamp14(captured_at)
        page: dict[str, Any] = {"id": hashlib.sha1(f"{url} {ts}".encode()).hexdigest()[:24], "url": url,
                                "ts": f"{ts[:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:]}Z"}
        title = rendered.get((url, captured_at))
        if not title and (content_type or "").lower().startswith("text/html"):
            title = _title(archive, payload_id)
        if title:
            page["title"] = title
        lines.append(json.dumps(page, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


def _rendered_titles(records: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(fetch URL, capture time) -> the title the browser showed, from captures.rendering."""
    out: dict[tuple[str, str], str] = {}
    for row in records:
        if row.get("rendering") and (row["fetch_url"], row["captured_at"]) not in out:
            try:
                title = json.loads(row["rendering"]).get("title")
            except (ValueError, AttributeError):
                continue  # a damaged rendering column: the page's <title> will do
            if isinstance(title, str) and title.strip():
                out[(row["fetch_url"], row["captured_at"])] = " ".join(title.split())[:300]
    return out


def _title(archive: Archive, capture_id: int) -> str | None:
    capture = archive.db.capture(capture_id)
    if capture is None:
        return None
    head = bytearray()
    for chunk in archive.open_payload(capture):
        head += chunk
        if len(head) >= TITLE_SCAN:
            break
    found = _TITLE.search(bytes(head[:TITLE_SCAN]))
    if not found:
        return None
    text = html.unescape(found.group(1).decode("utf-8", errors="replace"))
    return " ".join(text.split())[:300] or None
