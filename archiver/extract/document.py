"""A paper as `archiver extract` reads it: the text a reader sees and the link targets the file carries.

The readers only read. Matching links to the printed URLs (and trusting the link) is reconcile's job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError


@dataclass(frozen=True)
class Link:
    url: str  # the target as stored (annotation URI, hyperlink target, \url{}, bib url field), stripped
    text: str = ""  # visible text of the link, whitespace collapsed
    page: int | None = None  # 1-based, PDFs only
    key: str | None = None  # BibTeX citation key
    context: str | None = None  # BibTeX: "Authors, Title, Year"
    accessed: dt.date | None = None  # BibTeX urldate


@dataclass
class Document:
    kind: str  # "text", "pdf", "docx", "html", "tex", "bib"
    text: str  # what a reader sees, in reading order; URLs in it may be damaged
    links: list[Link] = field(default_factory=list)
    stripped: int = 0  # links with empty targets (href="#", "", "javascript:void(0)")


SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx", ".tex", ".bib")


def read_document(path: Path) -> Document:
    """The document at `path`, read by the reader its suffix names. Raises UsageError naming the file."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"{path}: unsupported file type {suffix or '(no suffix)'!r}; "
                         f"expected one of {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise UsageError(f"{path}: cannot read ({'a directory' if path.is_dir() else 'no such file'})")
    # Readers are imported on demand: a plain-text run should not pay for loading pdfium or lxml.
    if suffix in (".txt", ".md"):
        return Document("text", read_bytes(path).decode("utf-8", errors="replace").replace("\r\n", "\n"))
    if suffix == ".pdf":
        from .pdf import read_pdf
        return read_pdf(path)
    if suffix == ".docx":
        from .word import read_docx
        return read_docx(path)
    if suffix in (".html", ".htm"):
        from .webpage import read_html
        return read_html(path)
    if suffix == ".tex":
        from .latex import read_tex
        return read_tex(path)
    from .bibtex import read_bib
    return read_bib(path)


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def one_line(text: str) -> str:
    return " ".join(text.split())
