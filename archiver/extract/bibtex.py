"""BibTeX/BibLaTeX bibliographies, read with bibtexparser 1.x: every URL an entry carries, with its key."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from bibtexparser.bparser import BibTexParser
from bibtexparser.latexenc import latex_to_unicode

from ..doi import doi_url
from ..errors import UsageError
from .document import Document, Link, distinct_urls, one_line, people_text, read_bytes, work_context

_URL_COMMAND = re.compile(r"\\(?:url|href|nolinkurl)\s*\{([^{}]*)\}")
_BARE_URL = re.compile(r"(?:https?://|www\.)[^\s{}<>\"]+", re.IGNORECASE)
_TRAILING = ".,;:)]'\""
# A line break written out as "\n" (or "\r", "\t") by an exporter that joins a field's values with it:
# a URL has no backslash but in a LaTeX escape, so this ends one URL and the next begins.
_ESCAPED_BREAK = re.compile(r"\\[nrt](?=(?i:https?://|www\.)|\s|$)")
_LATEX_ESCAPE = re.compile(r"\\([_%#&$~])")
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
_COMMAND_WITH_ARGUMENT = re.compile(r"\\[A-Za-z]{2,}\*?\s*(?=\{)")
_COMMAND = re.compile(r"\\[A-Za-z]+\*?\s*|\\(?=[^A-Za-z])")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_ACCESSED = re.compile(r"\b(?:accessed|retrieved|last visited|viewed)(?:\s+on)?[:\s]+(.{6,40})", re.IGNORECASE)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]{3,})\.?,?\s+(\d{4})")
_MONTH_DAY_YEAR = re.compile(r"^([A-Za-z]{3,})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})")


def read_bib(path: Path) -> Document:
    source = read_bytes(path).decode("utf-8", errors="replace")
    parser = BibTexParser(common_strings=True, ignore_nonstandard_types=False)  # keep @online, @webpage...
    try:
        entries: list[dict[str, Any]] = parser.parse(source).entries
    except Exception as exc:  # the parser (pyparsing underneath) has no error type of its own
        raise UsageError(f"{path}: not a readable BibTeX file ({one_line(str(exc)) or type(exc).__name__})") from exc
    links: list[Link] = []
    lines: list[str] = []
    for entry in entries:
        fields = {name.lower(): str(value) for name, value in entry.items()}
        urls = entry_urls(fields)
        if not urls:
            continue
        context = entry_context(fields)
        accessed = _iso_date(fields.get("urldate", "")) or _accessed_in(fields.get("note", "")) \
            or _accessed_in(fields.get("howpublished", "")) or _accessed_in(fields.get("addendum", ""))
        key = str(entry.get("ID") or "") or None
        links.extend(Link(url=url, key=key, context=context or None, accessed=accessed) for url in urls)
        lines.append(" ".join([context + "," if context else "", *(f"<{url}>" for url in urls)]).strip())
    return Document("bib", "\n".join(lines) + ("\n" if lines else ""), links)


def entry_urls(fields: dict[str, str]) -> list[str]:
    """The URLs of one entry, in field order url, howpublished, note, doi (as its doi.org link), eprint;
    each once."""
    found: list[str] = []
    for name in ("url", "howpublished", "note", "addendum"):
        value = _ESCAPED_BREAK.sub(" ", fields.get(name, ""))
        urls = _URL_COMMAND.findall(value) or (_BARE_URL.findall(value) if name != "url" else value.split())
        found.extend(_clean_url(url) for url in urls)
    doi = _LATEX_ESCAPE.sub(r"\1", fields.get("doi", "")).strip().strip("{}")
    if doi:
        found.append(doi_url(_DOI_PREFIX.sub("", doi).strip()))
    eprint = fields.get("eprint", "").strip()
    kind = (fields.get("eprinttype") or fields.get("archiveprefix") or "").strip().lower()
    if eprint and kind == "arxiv":
        found.append("https://arxiv.org/abs/" + eprint)
    return distinct_urls(found)


def _clean_url(url: str) -> str:
    url = _LATEX_ESCAPE.sub(r"\1", url.strip()).replace("\\textasciitilde{}", "~").replace("{}", "")
    url = url.strip("{}")
    while url and url[-1] in _TRAILING and not (url[-1] == ")" and url.count("(") >= url.count(")")):
        url = url[:-1]
    return url


def clean(value: str) -> str:
    """LaTeX markup to plain text on one line: accents decoded, commands and braces dropped."""
    text = _COMMAND_WITH_ARGUMENT.sub("", value)
    text = latex_to_unicode(text)
    text = _LATEX_ESCAPE.sub(r"\1", text)
    text = _COMMAND.sub("", text).replace("{", "").replace("}", "").replace("~", " ")
    return one_line(text)


def entry_context(fields: dict[str, str]) -> str:
    """ "Authors, Title, Year", as a reader would identify the work."""
    who = _names(fields.get("author") or fields.get("editor") or "")
    who = who or clean(fields.get("organization") or fields.get("institution") or fields.get("publisher") or "")
    year = clean(fields.get("year", "")) or fields.get("date", "")[:4]
    return work_context(who, clean(fields.get("title", "")), year)


def _names(value: str) -> str:
    if not value.strip():
        return ""
    names = [clean(name) for name in re.split(r"\s+and\s+", value.strip())]
    people = []
    for name in names:
        if name.lower() == "others":
            continue
        if "," in name:  # "Last, First" (or "Last, Jr, First")
            parts = [p.strip() for p in name.split(",")]
            name = " ".join([parts[-1], parts[0], *parts[1:-1]]).strip()
        people.append(name)
    return people_text(people, more=len(names) > len(people))


def _iso_date(value: str) -> dt.date | None:
    match = _ISO_DATE.search(value)
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _accessed_in(value: str) -> dt.date | None:
    """The date after "accessed" (or "retrieved", "last visited"), ISO or spelled out."""
    for match in _ACCESSED.finditer(clean(value)):
        phrase = match.group(1)
        iso = _iso_date(phrase[:12])
        if iso:
            return iso
        for pattern, day_at, month_at in ((_DAY_MONTH_YEAR, 1, 2), (_MONTH_DAY_YEAR, 2, 1)):
            spelled = pattern.match(phrase)
            if spelled and spelled.group(month_at)[:3].lower() in _MONTHS:
                try:
                    return dt.date(int(spelled.group(3)), _MONTHS.index(spelled.group(month_at)[:3].lower()) + 1,
                                   int(spelled.group(day_at)))
                except ValueError:
                    continue
    return None
