"""DOCX text and hyperlinks, footnotes and endnotes included, read with python-docx and its lxml tree.

python-docx opens the package and resolves relationships; it has no footnote API, so the footnote and
endnote parts are read as XML. Footnotes come out after the body the way PDF text extraction gives
them: the number alone on a line, then the note, so the text extractor finds footnote ids.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docx
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.exceptions import PackageNotFoundError
from lxml import etree  # type: ignore[import-untyped]  # no stubs; lxml-stubs is not a dependency

from ..errors import UsageError
from .document import Document, Link, mark, one_line, settle_links, unmarked

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_EMPTY_TARGET = re.compile(r"^\s*(?:#?|javascript:.*)\s*$", re.IGNORECASE | re.DOTALL)
_FIELD_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
# Elements with no visible text of their own, or with text that is not shown (deleted, moved away).
_SKIP = {f"{_W}{name}" for name in ("rPr", "pPr", "sectPr", "tblPr", "tblGrid", "trPr", "tcPr", "delText",
                                     "moveFrom", "footnoteRef", "endnoteRef", "separator",
                                     "continuationSeparator", "commentReference")} | {f"{_MC}Fallback"}
# python-docx loads every part of the package into memory and parses the XML ones whole: a 300 KB
# file whose parts inflate to gigabytes (a zip bomb) must be refused from the zip directory first.
MAX_PACKAGE_BYTES = 256 * 1024 * 1024  # all parts, inflated
MAX_PART_BYTES = 64 * 1024 * 1024  # one part, inflated: a 64 MiB document.xml is ~10,000 pages
MAX_RATIO = 100  # inflated / stored, for parts over 1 MiB; Word's XML compresses 5-20 times
_CHARS = {f"{_W}tab": "\t", f"{_W}br": "\n", f"{_W}cr": "\n", f"{_W}noBreakHyphen": "-", f"{_W}softHyphen": ""}


def read_docx(path: Path) -> Document:
    _check_package(path)
    try:
        word = docx.Document(str(path))
        body = word.part.element.body
        notes = {kind: _notes(word.part, reltype) for kind, reltype in (("footnote", RT.FOOTNOTES),
                                                                         ("endnote", RT.ENDNOTES))}
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, etree.LxmlError, OSError) as exc:
        raise UsageError(f"{path}: not a readable DOCX ({one_line(str(exc)) or type(exc).__name__})") from exc
    walker = _Walker(_hyperlinks(word.part), notes, [])
    walker.walk(body)
    parts = ["".join(walker.out)]
    for kind in ("footnote", "endnote"):
        for number, note_id in walker.numbered(kind):
            element, rels = notes[kind][note_id]
            note = _Walker(rels, notes, walker.links)
            note.walk(element)
            walker.stripped += note.stripped
            parts.append(f"{number}\n{_tidy(''.join(note.out)).strip()}\n")
    text, links = settle_links(_tidy("\n".join(parts)), walker.links)
    return Document("docx", text, links, walker.stripped)


def _check_package(path: Path) -> None:
    """Refuse a package whose parts would inflate past the caps, reading only the zip directory.

    The sizes come from the directory; zipfile stops reading a member at its stated size and checks
    its CRC, so a part cannot inflate past what the directory says."""
    try:
        with zipfile.ZipFile(path) as package:
            parts = package.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable DOCX ({one_line(str(exc)) or type(exc).__name__})") from exc
    total = 0
    for part in parts:
        total += part.file_size
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > MAX_PART_BYTES or (part.file_size > 1024 * 1024 and ratio > MAX_RATIO):
            raise UsageError(f"{path}: part {part.filename} inflates to {part.file_size:,} bytes "
                             f"({ratio:,.0f} times its stored size): refused as a zip bomb")
        if total > MAX_PACKAGE_BYTES:
            raise UsageError(f"{path}: parts inflate to more than {MAX_PACKAGE_BYTES:,} bytes: refused as a zip bomb")


def _hyperlinks(part: Any) -> dict[str, str]:
    return {rid: rel.target_ref for rid, rel in part.rels.items() if rel.is_external}


def _notes(document_part: Any, reltype: str) -> dict[str, tuple[Any, dict[str, str]]]:
    """Footnotes (or endnotes) by w:id, each with the hyperlink targets of its part."""
    for rel in document_part.rels.values():
        if rel.reltype == reltype and not rel.is_external:
            part = rel.target_part
            root = part.element if hasattr(part, "element") else etree.fromstring(part.blob)
            rels = _hyperlinks(part)
            kind = "footnote" if reltype == RT.FOOTNOTES else "endnote"
            return {note.get(f"{_W}id"): (note, rels) for note in root.iterchildren(f"{_W}{kind}")
                    if note.get(f"{_W}type") in (None, "normal")}
    return {}


@dataclass
class _Field:
    instruction: list[str] = field(default_factory=list)
    result_at: tuple[int, int] | None = None  # (id of the output buffer, its length) at w:fldChar separate


class _Walker:
    """Visible text in document order, and the hyperlinks in it (w:hyperlink, HYPERLINK fields)."""

    def __init__(self, rels: dict[str, str], notes: dict[str, dict[str, tuple[Any, dict[str, str]]]],
                 links: list[Link]) -> None:
        self.rels = rels
        self.notes = notes
        self.out: list[str] = []
        self.links = links  # shared by the walkers of the body and its notes: marks in the text index it
        self.stripped = 0
        self.fields: list[_Field] = []
        self.order: dict[str, list[str]] = {"footnote": [], "endnote": []}

    def numbered(self, kind: str) -> Iterator[tuple[int, str]]:
        """Notes in the order the text references them, as Word numbers them; unreferenced ones after."""
        ids = self.order[kind] + [i for i in self.notes[kind] if i not in self.order[kind]]
        yield from ((n, i) for n, i in enumerate((i for i in ids if i in self.notes[kind]), 1))

    def walk(self, element: Any) -> None:
        for child in element.iterchildren():
            tag = child.tag
            if not isinstance(tag, str) or tag in _SKIP:
                continue
            if tag == f"{_W}t":
                self.out.append(unmarked(child.text or ""))
            elif tag in _CHARS:
                self.out.append(_CHARS[tag])
            elif tag == f"{_W}p":
                self.walk(child)
                self.out.append("\n")
            elif tag == f"{_W}tr":
                self._row(child)
            elif tag == f"{_W}hyperlink":
                self._hyperlink(child)
            elif tag in (f"{_W}footnoteReference", f"{_W}endnoteReference"):
                self._reference(child, "footnote" if tag == f"{_W}footnoteReference" else "endnote")
            elif tag == f"{_W}fldChar":
                self._field_char(child.get(f"{_W}fldCharType"))
            elif tag == f"{_W}instrText":
                if self.fields:
                    self.fields[-1].instruction.append(child.text or "")
            elif tag == f"{_W}fldSimple":
                text = self._capture(child)
                if self._field_link(child.get(f"{_W}instr") or "", text):
                    self.out[-1] = mark(len(self.links) - 1, text)
            elif tag == f"{_MC}AlternateContent":
                choice = child.find(f"{_MC}Choice")
                if choice is not None:
                    self.walk(choice)
            else:
                self.walk(child)

    def _capture(self, element: Any) -> str:
        """Walk `element` into a buffer of its own and return its text (also kept in the output)."""
        outer, self.out = self.out, []
        try:
            self.walk(element)
            text = "".join(self.out)
        finally:
            self.out = outer
        self.out.append(text)
        return text

    def _row(self, row: Any) -> None:
        # A row on one line, cells apart: a table of numbers must not look like footnote numbers.
        cells = []
        outer = self.out
        for cell in row.iterchildren(f"{_W}tc"):
            self.out = []
            self.walk(cell)
            cells.append(one_line("".join(self.out)))
        self.out = outer
        self.out.append("\t".join(cells) + "\n")

    def _hyperlink(self, element: Any) -> None:
        text = self._capture(element)
        rid = element.get(f"{_R}id")
        if rid is None:
            return  # w:anchor only: a jump inside the document
        target = self.rels.get(rid, "")
        if _EMPTY_TARGET.match(target):
            self.stripped += 1
        else:
            self.links.append(Link(url=target.strip(), text=one_line(text)))
            self.out[-1] = mark(len(self.links) - 1, text)  # the printed text this hyperlink covers

    def _reference(self, element: Any, kind: str) -> None:
        note_id = element.get(f"{_W}id")
        if note_id is None:
            return
        if note_id not in self.order[kind]:
            self.order[kind].append(note_id)
        if element.get(f"{_W}customMarkFollows") not in ("1", "true", "on"):
            self.out.append(str(self.order[kind].index(note_id) + 1))  # the superscript mark, as PDFs print it

    def _field_char(self, kind: str | None) -> None:
        if kind == "begin":
            self.fields.append(_Field())
        elif kind == "separate" and self.fields:
            self.fields[-1].result_at = (id(self.out), len(self.out))
        elif kind == "end" and self.fields:
            done = self.fields.pop()
            text = ""
            here = done.result_at is not None and done.result_at[0] == id(self.out)
            if done.result_at is not None and here:
                text = "".join(self.out[done.result_at[1]:])
            if self._field_link("".join(done.instruction), text) and done.result_at is not None and here:
                self.out[done.result_at[1]:] = [mark(len(self.links) - 1, text)]

    def _field_link(self, instruction: str, text: str) -> bool:
        """Add the link a HYPERLINK field instruction names; whether it added one."""
        tokens = [bare or quoted for quoted, bare in _FIELD_TOKEN.findall(instruction)]
        if not tokens or tokens[0].upper() != "HYPERLINK":
            return False
        target: str | None = None
        anchor = ""
        rest = iter(tokens[1:])
        for token in rest:
            if token.lower() in ("\\l", "\\o", "\\t"):
                argument = next(rest, "")
                anchor = argument if token.lower() == "\\l" else anchor
            elif not token.startswith("\\") and target is None:
                target = token
        if target is None:
            return False  # HYPERLINK \l "bookmark": a jump inside the document
        target = target.replace("\\\\", "\\")
        if _EMPTY_TARGET.match(target):
            self.stripped += 1
            return False
        self.links.append(Link(url=f"{target.strip()}#{anchor}" if anchor else target.strip(), text=one_line(text)))
        return True


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
