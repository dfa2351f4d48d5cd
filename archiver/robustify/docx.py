"""Robust links in a Word document: each hyperlink of the main document part (`w:hyperlink` to an
external relationship) is followed by runs that read " (archived: COPY, DATE)", COPY itself a hyperlink
to a new relationship.

Only the main part's XML and its relationships part change, and only by inserted text (found in the
raw XML: the namespace prefixes are the file's own); every other member of the package is written
back byte for byte, with its name, order, time stamp and compression. A hyperlink Word split into
several elements (at a change of formatting) gets one archived link, after its last piece.
Hyperlinks in footnotes and endnotes (their own parts) are not touched.
"""

from __future__ import annotations

import copy
import io
import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from lxml import etree  # type: ignore[import-untyped]  # no stubs; lxml-stubs is not a dependency

from ..errors import UsageError
from ..extract.word import MAX_PACKAGE_BYTES, MAX_PART_BYTES
from . import ArchivedLink, CopyFinder, Found, Insertion, Robustified, copies_for, splice

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_OFFICE_DOCUMENT = _R + "/officeDocument"
_HYPERLINK = _R + "/hyperlink"


@dataclass(frozen=True)
class _Hyperlink:
    start: int
    end: int  # after its end tag
    target: str


def robustify_docx(path: Path, raw: bytes, finder: CopyFinder) -> Robustified:
    try:
        package = zipfile.ZipFile(io.BytesIO(raw))
        members = package.infolist()
        if sum(m.file_size for m in members) > MAX_PACKAGE_BYTES or any(m.file_size > MAX_PART_BYTES
                                                                        for m in members):
            raise UsageError(f"{path}: parts inflate past the caps on a DOCX: refused as a zip bomb")
        main = _main_part(package)
        rels_name = posixpath.join(posixpath.dirname(main), "_rels", posixpath.basename(main) + ".rels")
        document = package.read(main).decode("utf-8")
        rels = package.read(rels_name).decode("utf-8")
        targets = {rel.get("Id"): rel.get("Target") for rel in etree.fromstring(rels.encode())
                   if rel.get("TargetMode") == "External" and rel.get("Type") == _HYPERLINK}
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, etree.XMLSyntaxError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable DOCX ({exc})") from exc
    w, r = _prefix(document, _W), _prefix(document, _R)
    if w is None or r is None:  # no hyperlink can be written without both namespaces
        return Robustified(raw, 0, 0, ())
    links = _hyperlinks(document, w, r, targets)
    copies = copies_for([Found(link.target, lambda _: []) for link in links], finder)
    edits: list[Insertion] = []
    new_rels: list[str] = []
    taken = set(targets) | set(re.findall(r'\bId="([^"]*)"', rels))
    for link in links:
        if link.target not in copies:
            continue
        rid = _fresh_id(taken)
        copy = copies[link.target]
        edits.append(Insertion(link.end, _runs(w, r, rid, copy)))
        new_rels.append(f'<Relationship Id="{rid}" Type="{_HYPERLINK}" Target={quoteattr(copy.url)}'
                        ' TargetMode="External"/>')
    if not edits:
        return Robustified(raw, len(links), 0, ())
    closing = re.search(r"</(?:[\w.-]+:)?Relationships\s*>\s*$", rels)
    if closing is None:
        raise UsageError(f"{path}: {rels_name} has no closing </Relationships>")
    changed = {main: splice(document, edits).encode(),
               rels_name: splice(rels, [Insertion(closing.start(), "".join(new_rels))]).encode()}
    return Robustified(_repacked(package, changed), len(links), len(edits), tuple(edits))


def _main_part(package: zipfile.ZipFile) -> str:
    root = etree.fromstring(package.read("_rels/.rels"))
    for rel in root.iter(f"{_PKG}Relationship"):
        if rel.get("Type") == _OFFICE_DOCUMENT:
            return str(rel.get("Target")).lstrip("/")
    raise KeyError("no officeDocument relationship")


def _prefix(xml: str, namespace: str) -> str | None:
    match = re.search(rf'xmlns:([\w.-]+)\s*=\s*["\']{re.escape(namespace)}["\']', xml)
    return match.group(1) if match else None


def _hyperlinks(document: str, w: str, r: str, targets: dict[str, str]) -> list[_Hyperlink]:
    opening = re.compile(rf"<{w}:hyperlink\b([^>]*?)(/?)>")
    marker = f'<{w}:r><{w}:t xml:space="preserve"> (archived: '
    found: list[_Hyperlink] = []
    for match in opening.finditer(document):
        rid = re.search(rf'\b{r}:id\s*=\s*["\']([^"\']*)["\']', match.group(1))
        if match.group(2):
            end = match.end()
        else:
            close = document.find(f"</{w}:hyperlink>", match.end())
            if close == -1:
                continue
            end = close + len(f"</{w}:hyperlink>")
        if rid is None or rid.group(1) not in targets or document.startswith(marker, end) \
                or document.endswith(f"{marker}</{w}:t></{w}:r>", 0, match.start()):  # an archived link itself
            continue
        link = _Hyperlink(match.start(), end, targets[rid.group(1)])
        if found and found[-1].target == link.target and not document[found[-1].end:link.start].strip():
            found[-1] = link  # one hyperlink split by Word: the archived link goes after its last piece
        else:
            found.append(link)
    return found


def _fresh_id(taken: set[str]) -> str:
    number = 1
    while f"rIdArchived{number}" in taken:
        number += 1
    taken.add(f"rIdArchived{number}")
    return f"rIdArchived{number}"


def _runs(w: str, r: str, rid: str, copy: ArchivedLink) -> str:
    def text(value: str) -> str:
        return f'<{w}:r><{w}:t xml:space="preserve">{escape(value)}</{w}:t></{w}:r>'
    link = (f'<{w}:hyperlink {r}:id="{rid}" {w}:history="1"><{w}:r><{w}:rPr><{w}:color {w}:val="0563C1"/>'
            f'<{w}:u {w}:val="single"/></{w}:rPr><{w}:t>{escape(copy.url)}</{w}:t></{w}:r></{w}:hyperlink>')
    return f"{text(' (archived: ')}{link}{text(f', {copy.day})')}"


def _repacked(package: zipfile.ZipFile, changed: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as repacked:
        for member in package.infolist():
            data = changed.get(member.filename)
            # writestr fills in the offsets and sizes of the ZipInfo it is given: a copy, not the reader's
            repacked.writestr(copy.copy(member), package.read(member) if data is None else data,
                              compress_type=member.compress_type)
    return out.getvalue()
