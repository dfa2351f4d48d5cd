"""`archiver robustify`: a copy of a paper with an archived link beside each cited link (Robust Links).

Each format's module finds its links with character offsets into the original file (`markup.py`:
HTML and Markdown; `tex.py`: LaTeX and BibTeX; `docx.py`: Word's hyperlinks; `manifest.py`: YAML
manifests) and says what to insert where; this module asks a `CopyFinder` for the archived copy of
every link's URL (`normalize_url`, the fetch form every row is keyed by) and splices the inserted
text in. Nothing is ever replaced or removed: outside the inserted text the output is the input,
byte for byte (text is decoded with `surrogateescape`, so even bytes that are not UTF-8 survive).

Where the copies come from: `ours_finder`, the replay URL of each URL's newest good capture under a
prefix where our replay is served; or `public_finder`, the best public memento (archiver.copies).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .. import stamps
from ..cdx import timestamp14
from ..db.archive_db import ArchiveDB
from ..errors import InvalidURL, UsageError
from ..urls import normalize_url


@dataclass(frozen=True)
class ArchivedLink:
    """An archived copy of a cited URL: where a reader sees it, and the instant it was captured."""

    url: str
    datetime: dt.datetime
    archive: str = ""  # "ours", or the public archive's name

    @property
    def day(self) -> str:
        """`2024-05-01`: the capture's date, as people read it beside a link."""
        return self.datetime.astimezone(dt.UTC).date().isoformat()

    @property
    def stamp(self) -> str:
        """`2024-05-01T12:34:56Z`: the capture's instant (Robust Links' data-versiondate, manifests)."""
        return stamps.iso(self.datetime, "seconds")


# Fetch URLs in, the archived copy of each that has one out (keyed by the fetch URL).
CopyFinder = Callable[[Iterable[str]], dict[str, ArchivedLink]]


@dataclass(frozen=True)
class Insertion:
    at: int  # an offset into the original text (characters) or part (for DOCX, characters of the XML)
    text: str


# What to insert, and where, to give one link its archived copy.
Edits = Callable[[ArchivedLink], list[Insertion]]


@dataclass(frozen=True)
class Found:
    """A link as written in the file: its target, and the insertions that give it `copy`."""

    url: str
    edits: Edits


@dataclass(frozen=True)
class Robustified:
    data: bytes  # the robustified file
    links: int  # links found in the paper
    robust: int  # links given an archived copy
    inserted: tuple[Insertion, ...]  # for DOCX: into word/document.xml

    @property
    def exit_code(self) -> int:
        return 0 if self.robust else 1


def fetch_form(url: str) -> str | None:
    try:
        return normalize_url(url)
    except InvalidURL:
        return None


def copies_for(found: list[Found], finder: CopyFinder) -> dict[str, ArchivedLink]:
    """The archived copy of each found link that has one, keyed by the link's URL as written."""
    forms = {item.url: fetch_form(item.url) for item in found}
    copies = finder(sorted({form for form in forms.values() if form is not None}))
    return {url: copies[form] for url, form in forms.items() if form is not None and form in copies}


def insertions(found: list[Found], copies: Mapping[str, ArchivedLink]) -> list[Insertion]:
    """Every insertion of the links that have a copy, in file order (stable for one offset)."""
    edits = [edit for item in found if item.url in copies for edit in item.edits(copies[item.url])]
    return sorted(edits, key=lambda edit: edit.at)


def splice(text: str, edits: Iterable[Insertion]) -> str:
    """`text` with each insertion's text inserted at its offset."""
    out: list[str] = []
    pos = 0
    for edit in sorted(edits, key=lambda edit: edit.at):
        out += [text[pos:edit.at], edit.text]
        pos = edit.at
    out.append(text[pos:])
    return "".join(out)


def decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def robustify_text(text: str, found: list[Found], finder: CopyFinder) -> tuple[str, int, list[Insertion]]:
    """The text with archived links inserted, how many links got one, and the insertions."""
    copies = copies_for(found, finder)
    edits = insertions(found, copies)
    return splice(text, edits), sum(item.url in copies for item in found), edits


SUFFIXES = (".md", ".html", ".htm", ".tex", ".bib", ".docx", ".yaml", ".yml")


def robustify(path: Path, finder: CopyFinder) -> Robustified:
    """The paper at `path` with archived links added, by its suffix. Raises UsageError for others."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"{path}: cannot robustify {suffix or '(no suffix)'!r} files; expected one of "
                         f"{', '.join(SUFFIXES)}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if suffix == ".docx":
        from .docx import robustify_docx
        return robustify_docx(path, raw, finder)
    text = decode(raw)
    found = scan(path, suffix, text)
    out, robust, edits = robustify_text(text, found, finder)
    return Robustified(encode(out), len(found), robust, tuple(edits))


def scan(path: Path, suffix: str, text: str) -> list[Found]:
    if suffix == ".md":
        from .markup import markdown_links
        return markdown_links(text)
    if suffix in (".html", ".htm"):
        from .markup import html_links
        return html_links(text)
    if suffix == ".tex":
        from .tex import latex_links
        return latex_links(text)
    if suffix == ".bib":
        from .tex import bibtex_links
        return bibtex_links(text)
    from .manifest import manifest_links
    return manifest_links(path, text)


def ours_finder(db: ArchiveDB, prefix: str) -> CopyFinder:
    """Our own copies: the replay URL, under `prefix` (where a replay of the archive is served, e.g.
    https://archive.example.org/paper), of each URL's newest good capture."""
    base = prefix.rstrip("/")

    def find(fetch_urls: Iterable[str]) -> dict[str, ArchivedLink]:
        found = {}
        for url, captures in db.good_captures(list(fetch_urls)).items():
            newest = captures[-1]  # oldest first
            found[url] = ArchivedLink(f"{base}/{timestamp14(newest['captured_at'])}/{url}",
                                      stamps.parse(newest["captured_at"]), "ours")
        return found

    return find


class PublicCopy(Protocol):
    """What archiver.copies' `Copy` carries: the archive, the memento URL and its datetime."""

    @property
    def archive(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def datetime(self) -> dt.datetime: ...


BestCopies = Callable[[ArchiveDB, Iterable[str]], Mapping[str, PublicCopy]]


def public_finder(db: ArchiveDB, best_copies: BestCopies) -> CopyFinder:
    """The best public memento of each URL, as archiver.copies.best_copies chose it."""

    def find(fetch_urls: Iterable[str]) -> dict[str, ArchivedLink]:
        return {url: ArchivedLink(copy.url, copy.datetime, copy.archive)
                for url, copy in best_copies(db, list(fetch_urls)).items()}

    return find
