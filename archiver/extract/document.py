"""A paper as `archiver extract` reads it: the text a reader sees and the link targets the file carries.

The types every reader returns and the small helpers they share; `readers.py` picks the reader.
The readers only read. Matching links to the printed URLs (and trusting the link) is reconcile's job.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..doi import doi_key, doi_of_url
from ..errors import UsageError
from .urls import strip_trailing


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


# Readers that know which printed text a hyperlink covers (DOCX, HTML, PDF) mark it in their text with
# these private-use characters; settle_links then writes the covered text as the extractor should read it.
_OPEN, _MID, _CLOSE = "\ue000", "\ue001", "\ue002"
_ANY_MARK = re.compile(f"[{_OPEN}{_MID}{_CLOSE}]")
_MARKED = re.compile(f"{_OPEN}(\\d+){_MID}([^{_OPEN}{_MID}{_CLOSE}]*){_CLOSE}")
_STRAY = re.compile(f"{_OPEN}\\d*{_MID}?|{_MID}|{_CLOSE}")
_PRINTED_URL = re.compile(r"^(?:https?:/{1,3}|www\.|(?:[\w-]+\.)+[a-z]{2,24}/)", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:/*", re.IGNORECASE)


def unmarked(text: str) -> str:
    """`text` from the file with any character settle_links reads as a mark replaced."""
    if _OPEN in text or _MID in text or _CLOSE in text:
        return _ANY_MARK.sub("\ufffd", text)
    return text


def mark(index: int, text: str) -> str:
    """`text` marked as printed under links[index]."""
    return f"{_OPEN}{index}{_MID}{text}{_CLOSE}"


def open_mark(index: int) -> str:
    return f"{_OPEN}{index}{_MID}"


def close_mark() -> str:
    return _CLOSE


def same_url(printed: str, target: str) -> bool:
    """Whether `printed` is `target` as printed: scheme, "www.", case, an end slash, white space and
    hyphens (the damage of printing) aside; fragments aside too, as a print may add one."""
    def key(url: str) -> str:
        text = _SCHEME.sub("", url.strip().lower().split("#", 1)[0]).removeprefix("www.")
        return re.sub(r"[-\s]", "", text).rstrip("/")
    return key(printed) == key(target)


def with_printed_fragment(target: str, printed: str) -> str:
    """The link target, with the fragment that the printed URL shows and the target lacks.

    The print is what the author wrote and a reader follows by hand; a target without the `#section`
    of its own printed text is a link made from the page URL alone (Word, pandoc)."""
    base, hash_mark, fragment = printed.partition("#")
    if "#" in target or not hash_mark or not fragment or not same_url(base, target):
        return target
    return f"{target}#{strip_trailing(fragment)}"


def settle_links(text: str, links: list[Link]) -> tuple[str, list[Link]]:
    """The text with each marked hyperlink's printed text settled, and the links as the text has them.

    Consecutive marks of one target with only white space between are one hyperlink (Word splits a
    hyperlink at every run; a printed URL may be broken by a space the hyperlink bridges). Printed text
    that is a URL is written as `<url>` with its white space removed, so that the text extractor finds
    exactly the URL the hyperlink covers, and no piece of it apart; a printed `#fragment` the target
    lacks is kept (with_printed_fragment). Other printed text ("the report") stays prose.
    """
    out: list[str] = []
    settled: list[Link] = []
    used: set[int] = set()
    pos = 0
    matches = list(_MARKED.finditer(text))
    i = 0
    while i < len(matches):
        first = matches[i]
        index = int(first.group(1))
        visible = [first.group(2)]
        last = first
        while i + 1 < len(matches):
            nxt = matches[i + 1]
            gap = text[last.end():nxt.start()]
            if gap.strip() or int(nxt.group(1)) >= len(links) or index >= len(links) or \
                    links[int(nxt.group(1))].url != links[index].url:
                break
            visible += [gap, nxt.group(2)]
            used.add(int(nxt.group(1)))
            last = nxt
            i += 1
        i += 1
        out.append(text[pos:first.start()])
        pos = last.end()
        printed = "".join(visible)
        if index >= len(links):
            out.append(printed)
            continue
        used.add(index)
        out.append(_settle(printed, links[index], settled))
    out.append(text[pos:])
    settled.extend(link for n, link in enumerate(links) if n not in used)
    result = "".join(out)
    if _OPEN in result or _MID in result or _CLOSE in result:  # marks nested (a link in a link): dropped
        result = _STRAY.sub("", result)
    return result, settled


def _settle(printed: str, link: Link, settled: list[Link]) -> str:
    squeezed = "".join(printed.split())
    stripped = strip_trailing(squeezed)  # a link area often takes in the sentence's "." or ")"
    exact = same_url(squeezed, link.url)
    spaced = any(ch.isspace() for ch in printed.strip())
    if not _PRINTED_URL.match(squeezed) or (spaced and not (exact or same_url(stripped, link.url))):
        settled.append(link if link.text or not printed.strip() else replace(link, text=one_line(printed)))
        return printed
    core = squeezed if exact else stripped
    lead = printed[:len(printed) - len(printed.lstrip())]
    trail = printed[len(printed.rstrip()):]
    settled.append(replace(link, url=with_printed_fragment(link.url, core), text=core))
    return f"{lead}<{core}>{squeezed[len(core):]}{trail}"
