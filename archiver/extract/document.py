"""A paper as `archiver extract` reads it: the text a reader sees and the link targets the file carries.

The types every reader returns and the small helpers they share; `readers.py` picks the reader.
The readers only read. Matching links to the printed URLs (and trusting the link) is reconcile's job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from ..doi import doi_key, doi_of_url
from ..errors import UsageError


@dataclass(frozen=True)
class Link:
    url: str  # the target as stored (annotation URI, hyperlink target, \url{}, bib url field), stripped
    text: str = ""  # visible text of the link, whitespace collapsed
    page: int | None = None  # 1-based, PDFs only
    key: str | None = None  # BibTeX citation key, CSL-JSON id, RIS ID
    context: str | None = None  # BibTeX, CSL-JSON, RIS: "Authors, Title, Year"
    accessed: dt.date | None = None  # BibTeX urldate, CSL-JSON accessed, RIS Y2


@dataclass
class Document:
    kind: str  # "text", "pdf", "docx", "html", "tex", "bib", "csl" (CSL-JSON), "ris"
    text: str  # what a reader sees, in reading order; URLs in it may be damaged
    links: list[Link] = field(default_factory=list)
    stripped: int = 0  # links with empty targets (href="#", "", "javascript:void(0)")


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def one_line(text: str) -> str:
    return " ".join(text.split())


CONTEXT_MAX = 200


def distinct_urls(urls: list[str]) -> list[str]:
    """An entry's URLs, each once, in order. A URL that is the doi.org link of the entry's own DOI names
    the same work: kept once (dois.py makes it the entry's DOI citation)."""
    unique: dict[str, str] = {}
    for url in urls:
        doi = doi_of_url(url)
        if url:
            unique.setdefault(doi_key(doi) if doi else url, url)
    return list(unique.values())


def people_text(people: list[str], *, more: bool = False) -> str:
    """Authors as a reference prints them: one, two joined by "and", else "First et al." (`more`: the
    list was cut short, as BibTeX's `and others`)."""
    if not people:
        return ""
    if len(people) > 2 or more:
        return f"{people[0]} et al."
    return " and ".join(people)


def work_context(who: str, title: str, year: str) -> str:
    """ "Authors, Title, Year", as a reader would identify the work: the context of a library entry."""
    context = ", ".join(part for part in (who, title.rstrip("."), year) if part)
    if len(context) > CONTEXT_MAX:
        context = context[:CONTEXT_MAX - 1].rsplit(" ", 1)[0] + "…"
    return context
