"""CDXJ index lines for replay (pywb) and WACZ packages, built from the database, not from the WARCs.

The records table already knows every record's file, offset, length, URI, date and payload digest,
and the capture row knows each hop's HTTP status and the final Content-Type: so an index of a
terabyte of WARCs is one query, with no file read. Only response and revisit records are indexed
(what a replay engine looks up); a revisit is marked `warc/revisit` with the same digest as its
original, which is how pywb and ReplayWeb.page find the original's bytes.

A browser capture holds more than its page's hops: every sub-resource the page fetched (indexed under
its own URL, with the status and Content-Type capture_resources keeps), and the `resource` records of
the rendering, indexed under their `urn:screenshot:<page>` / `urn:dom:<page>` / `urn:media-info:<page>`
URIs (pywb and ReplayWeb.page look those up as they are). The `metadata` record is not indexed: its
WARC-Target-URI is the page's own URL, and an index line for it would compete with the page.

Keys are SURTs from the `surt` package, the same function pywb applies to the URLs it looks up:
a key made any other way would simply never be found.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from . import stamps
from .errors import UsageError
from .extras import install_hint

INDEXED_TYPES = ("response", "revisit", "resource")
HOP_TYPES = ("response", "revisit")
# The Content-Type of each kind of resource record a rendering writes (the records table keeps none).
RESOURCE_MIMES = {"urn:screenshot:": "image/png", "urn:dom:": "text/html", "urn:media-info:": "application/json"}
REVISIT_MIME = "warc/revisit"
UNKNOWN_MIME = "unk"  # what pywb's own indexer writes when a record has no Content-Type


@dataclass(frozen=True)
class CdxEntry:
    url: str
    timestamp: str  # 14 digits, UTC
    mime: str
    status: int | None
    digest: str | None  # Base32 SHA-1, without the "sha1:" label (as cdxj-indexer writes it)
    length: int
    offset: int
    filename: str
    rec_type: str


def timestamp14(iso: str) -> str:
    """'2024-05-01T12:34:56.789Z' -> '20240501123456' (the form replay URLs and CDXJ use)."""
    if iso.endswith("Z"):  # stamps.iso's stored form, already UTC: read by position, once per record
        digits = iso[0:4] + iso[5:7] + iso[8:10] + iso[11:13] + iso[14:16] + iso[17:19]
        if len(digits) == 14 and digits.isdigit():
            return digits
    try:
        return stamps.digits14(stamps.parse(iso))
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time: {iso!r}") from None


def _hop_statuses(redirects: str | None, final_status: int | None) -> list[int | None]:
    """Each hop's HTTP status, from the capture's redirects column (snapshot writes objects,
    older rows may hold [url, status] pairs)."""
    if not redirects:
        return [final_status]
    out: list[int | None] = []
    for hop in json.loads(redirects):
        status = hop.get("status") if isinstance(hop, dict) else hop[1]
        out.append(int(status) if status is not None else None)
    return out


def entries_from_rows(rows: Iterable[dict[str, Any]], rename: Callable[[str], str] = str,
                      placed: dict[tuple[str, int], int] | None = None) -> Iterator[CdxEntry]:
    """CDX entries for the response/revisit records of `rows` (records joined with their capture,
    as db.export_records returns them, ordered by capture then offset). `rename` gives the filename
    a WARC is served under (replay: the file as it is on disk now); `placed` maps (warc, offset) to
    the record's offset in a packaged WARC (export)."""
    for _capture, group in groupby(rows, key=lambda r: r["capture_id"]):
        records = list(group)
        # A capture's response records are its hops in order (builder.capture writes them so); a
        # browser capture's sub-resources follow its page's hops.
        hops = [r for r in records if r["rec_type"] in HOP_TYPES]
        statuses = _hop_statuses(records[0]["redirects"], records[0]["http_status"])
        own = len(statuses) if records[0].get("mode") == "browser" else len(hops)
        for index, row in enumerate(hops):
            if index < own:
                mime, status = _hop_fields(row, index, index == own - 1, statuses)
            else:
                mime, status = _resource_fields(row)
            yield _entry(row, mime, status, rename, placed)
        for row in records:
            if row["rec_type"] == "resource" and row["uri"]:
                prefix = next((p for p in RESOURCE_MIMES if row["uri"].startswith(p)), None)
                yield _entry(row, RESOURCE_MIMES[prefix] if prefix else UNKNOWN_MIME, None, rename, placed)


def _hop_fields(row: dict[str, Any], index: int, last: bool, statuses: list[int | None]) -> tuple[str, int | None]:
    """A page's own hop: the capture row knows each hop's status and the final Content-Type."""
    if row["rec_type"] == "revisit":
        mime = REVISIT_MIME
    elif last and row["content_type"]:
        mime = row["content_type"].split(";")[0].strip().lower() or UNKNOWN_MIME
    else:
        mime = UNKNOWN_MIME  # a redirect hop's Content-Type is in its record only
    status = statuses[index] if index < len(statuses) else (row["http_status"] if last else None)
    return mime, status


def _resource_fields(row: dict[str, Any]) -> tuple[str, int | None]:
    """A sub-resource's record: its answer's status and type from capture_resources; a redirect hop
    on the way to it has no row there (pywb reads such a record's status itself)."""
    if row["rec_type"] == "revisit":
        mime = REVISIT_MIME
    else:
        mime = (row.get("resource_type") or "").split(";")[0].strip().lower() or UNKNOWN_MIME
    status = row.get("resource_status")
    return mime, int(status) if status is not None else None


def _entry(row: dict[str, Any], mime: str, status: int | None, rename: Callable[[str], str],
           placed: dict[tuple[str, int], int] | None) -> CdxEntry:
    digest = row["payload_digest"]
    warc, offset = row["warc"], row["offset"]
    if placed is not None:
        offset = placed[(warc, offset)]
    return CdxEntry(row["uri"], timestamp14(row["date"]), mime, status,
                    digest.removeprefix("sha1:") if digest else None, row["length"], offset, rename(warc),
                    row["rec_type"])


def surt_key(url: str) -> str:
    try:
        import surt
    except ImportError:  # an optional extra: say how to get it instead of a traceback
        raise UsageError(f"replay and export need the replay extra: {install_hint('replay')}") from None
    return str(surt.surt(url))


def _fields(entry: CdxEntry) -> dict[str, str]:
    fields: dict[str, str] = {"url": entry.url, "mime": entry.mime}
    if entry.status is not None:
        fields["status"] = str(entry.status)
    if entry.digest:
        fields["digest"] = entry.digest
    fields.update({"length": str(entry.length), "offset": str(entry.offset), "filename": entry.filename})
    return fields


def cdxj_lines(entries: Iterable[CdxEntry]) -> list[str]:
    """Sorted as plain text, the order pywb's binary search and `sort` agree on. Within one key and
    second, an original ("text/...") sorts before its revisit ("warc/revisit"), which is the order
    pywb's revisit resolution reads them in."""
    keys: dict[str, str] = {}  # a URL captured 30 times is SURT-ed once: surt() is most of the cost
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    out = []
    for entry in entries:
        key = keys.get(entry.url)
        if key is None:
            key = keys[entry.url] = surt_key(entry.url)
        out.append(f"{key} {entry.timestamp} {dumps(_fields(entry))}\n")
    out.sort()
    return out
