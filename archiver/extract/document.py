"""A paper as `archiver extract` reads it: the text a reader sees and the link targets the file carries.

The types every reader returns and the small helpers they share; `readers.py` picks the reader.
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
    # The text was extracted from typeset pages (PDF, a text dump of one): a URL in it may run on over a
    # line break and lose a hyphen there. Typed text (Markdown, LaTeX, HTML, DOCX) never breaks a URL.
    wrapped: bool = False


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def one_line(text: str) -> str:
    return " ".join(text.split())
