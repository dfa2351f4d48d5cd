"""Citations in plain text (txt, md, and the text layer of PDFs): where the URLs are and what cites them."""

from __future__ import annotations

import bisect
import datetime as dt
import re
from dataclasses import dataclass, field

from ..errors import InvalidURL
from .urls import Evidence, Repaired, join_lines, repair, strip_trailing

_HOSTISH = re.compile(r"^(?:https?:/{1,3})?[^\s/<>@]+\.[^\s/<>@]+", re.IGNORECASE)
_BARE = re.compile(
    r"(?<![\w@./:-])(?:https?:/{1,3}[^\s<>\"]+|www\.[^\s<>\"]+"
    r"|(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,24}/[^\s<>\"]*)",
    re.IGNORECASE,
)
_EMPTY_LINK = re.compile(r"\]\(\s*#?\s*\)")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_NUMBER_LINE = re.compile(r"^[ \t]*(\d{1,3})[ \t]*$", re.MULTILINE)
_SUPERSCRIPT = re.compile(r"(?<=[a-z.,;:”\"’)])(?<!\d[.,])([1-9]\d{0,2})(?=[\s,.;:]|$)")
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december"]
_MONTH = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?" \
         r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})\s+{_MONTH}\s+(\d{{4}})\b", re.IGNORECASE)
_MONTH_DAY = re.compile(rf"\b{_MONTH}\s+(\d{{1,2}}),?\s+(\d{{4}})\b", re.IGNORECASE)
_ACCESSED = re.compile(r"\b(?:accessed|retrieved|last visited|viewed)(?:\s+on)?[:\s]+", re.IGNORECASE)
_ONLINE_TAIL = re.compile(r"[,.\s]*\bonline\b\s*(?:\([^()]*\))?\s*:?\s*$", re.IGNORECASE)
_LEAD = re.compile(r"^[\s>.,;:)]*(?:(?:see\s+also|also\s+see)\b[\s:,]*)?", re.IGNORECASE)
# Lines the footnote search may skip between a footnote number and its URL.
_FOOTNOTE_REACH = 5
_CONTEXT_MAX = 199


@dataclass
class Found:
    url: str
    cited_as: str | None = None
    id: str | None = None
    context: str | None = None
    accessed: dt.date | None = None
    candidates: list[str] = field(default_factory=list)
    suspect: bool = False
    memento: dict[str, str] | None = None
    note: str | None = None
    printed_url: str | None = None  # the printed form with only certain repairs (see urls.Repaired)
    truncated: bool = False
    confirmed: str | None = None  # what settled the URL: "link" (annotation/hyperlink) or "probe"
    doi: str | None = None  # a DOI citation (dois.py): the DOI, and `url` its doi.org link


@dataclass
class Invalid:
    printed: str
    reason: str
    id: str | None = None
    context: str | None = None


@dataclass
class ExtractResult:
    source: str
    citations: list[Found] = field(default_factory=list)
    invalid: list[Invalid] = field(default_factory=list)
    stripped: int = 0


@dataclass
class _Raw:
    start: int
    end: int
    printed: str
    truncated: bool = False
    unclosed: bool = False
    exact: bool = False  # delimited by "<" and ">" in typed text: the URL is exactly what is between
    delimited: bool = False  # closed by ">": the URL's last character is the one before it


def extract_text(text: str, *, source: str, wrapped: bool = True) -> ExtractResult:
    """Every URL cited in `text`, repaired, with its footnote id, context and access date.

    `wrapped`: the text was extracted from typeset pages (a PDF, a text dump of one), so a URL may run
    on over a line break and lose a hyphen there. Typed text (what the Markdown, LaTeX, HTML and DOCX
    readers give) is not: a URL in it ends at white space or at the ">" that closes it, and is taken
    as written.
    """
    result = ExtractResult(source=source, stripped=len(_EMPTY_LINK.findall(text)))
    raws = _find_raw(text, wrapped)
    prose = list(text)
    for raw in raws:
        prose[raw.start:raw.end] = " " * (raw.end - raw.start)
    evidence = Evidence("".join(prose), [join_lines(r.printed)[0] for r in raws])
    lines = _LineIndex(text)
    ids = _footnote_ids(text, raws, lines)
    repaired: dict[int, Repaired] = {}
    contexts: dict[int, str] = {}
    completions: list[str] = []  # URLs repaired so far: what a truncated URL may be the start of
    for order in sorted(range(len(raws)), key=lambda i: raws[i].truncated):  # truncated ones last
        raw = raws[order]
        contexts[order] = _context_before(text, raws, order, lines)
        words = {w.lower() for w in re.findall(r"[^\W\d_]+", contexts[order])}
        try:
            repaired[order] = repair(raw.printed, evidence, words, truncated=raw.truncated,
                                     completions=completions if raw.truncated else None, exact=raw.exact,
                                     guesses=wrapped, delimited=raw.delimited)
            completions.append(repaired[order].url)
        except InvalidURL as exc:
            result.invalid.append(Invalid(join_lines(raw.printed)[0], exc.detail, ids[order],
                                          _shorten(contexts[order]) or None))
    for order, raw in enumerate(raws):
        if order not in repaired:
            continue
        fix = repaired[order]
        context = contexts[order]
        note = fix.note or ("the '<' before this URL is never closed" if raw.unclosed else None)
        result.citations.append(Found(
            url=fix.url, cited_as=fix.cited_as, id=ids[order], context=_shorten(context) or None,
            accessed=_accessed(context), candidates=fix.candidates, suspect=fix.suspect, memento=fix.memento,
            note=note, printed_url=fix.printed_url, truncated=raw.truncated))
    return result


def _find_raw(text: str, wrapped: bool) -> list[_Raw]:
    raws: list[_Raw] = []
    # Spans of bracketed URLs, in order of their start, with the furthest end reached so far: a
    # position is inside one exactly when the furthest end of those starting at or before it lies
    # beyond it (a bisect instead of a scan of every span: documents cite thousands of URLs).
    taken_starts: list[int] = []
    reach: list[int] = []
    for match in re.finditer("<", text):
        start = match.end()
        close = text.find(">", start)
        reopen = text.find("<", start)
        stop = close if close >= 0 and (reopen < 0 or close < reopen) else -1
        body = text[start:stop] if stop >= 0 else text[start:reopen if reopen >= 0 else len(text)]
        if not _HOSTISH.match(body.strip()):
            continue
        lines = [line.strip() for line in body.strip().splitlines()]
        if not wrapped and stop >= 0 and not any(ch.isspace() for ch in body):
            raws.append(_Raw(start, stop, body, exact=True))
        elif not wrapped:
            continue  # typed text: a "<" whose ">" is past white space delimits no URL; a URL in it is bare
        elif stop >= 0 and not any(ch.isspace() for line in lines for ch in line):
            raws.append(_Raw(start, stop, body, delimited=True))
        elif stop < 0 and reopen < 0 and not any(ch.isspace() for line in lines for ch in line):
            raws.append(_Raw(start, len(text), body, truncated=True))
        else:
            first = re.match(r"\s*[^\s<>]+", body)
            if first is None:
                continue
            raws.append(_Raw(start, start + first.end(), first.group(), unclosed=True))
        taken_starts.append(match.start())
        reach.append(max(raws[-1].end + 1, reach[-1] if reach else 0))
    bare_reach = 0  # bare URLs are found in order: only the furthest end so far matters
    for match in _BARE.finditer(text):
        before = bisect.bisect_right(taken_starts, match.start())
        if (before and reach[before - 1] > match.start()) or bare_reach > match.start():
            continue
        end = _continue_bare(text, match.end()) if wrapped else match.end()
        raws.append(_Raw(match.start(), end, text[match.start():end]))
        bare_reach = max(bare_reach, end)
    raws.sort(key=lambda r: r.start)
    return raws


_NEXT_LINE = re.compile(r"[ \t]*\n[ \t]*([^\s<>\"]+)")
_URL_START = re.compile(r"(?i)(?:https?://|www\.)")
# A Wayback memento wrapped just before the URL it embeds: ".../web/20201023120000/" + "https://..."
_MEMENTO_PREFIX = re.compile(r"/web/\d{4,14}(?:[a-z]{2}_)?/$")


def _continue_bare(text: str, end: int) -> int:
    """Follow an unbracketed URL onto the next line when its pieces say it goes on."""
    while True:
        # Matched in place: slicing the rest of the text at every URL made extraction quadratic.
        newline = _NEXT_LINE.match(text, end)
        if not newline:
            return end
        tail, nxt = text[max(0, end - 3):end], newline.group(1)
        if _URL_START.match(nxt) and not _MEMENTO_PREFIX.search(text, max(0, end - 40), end):
            return end  # the next line starts a URL of its own: a list of URLs, not one wrapped URL
        glued = re.search(r"(%[0-9A-Fa-f]?|[-=&?_/])$", tail) is not None and not tail.endswith("/")
        if not (glued or re.search(r"[/%=&_#?]", strip_trailing(nxt))):
            return end
        end = newline.end()


class _LineIndex:
    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.lines = text.split("\n")

    def line_of(self, offset: int) -> int:
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def nonblank_between(self, a: int, b: int) -> int:
        return sum(1 for line in self.lines[a + 1:b] if line.strip())


def _footnote_ids(text: str, raws: list[_Raw], lines: _LineIndex) -> list[str | None]:
    """fn<N> per URL: the footnote number printed above it, or, where extraction lost it, inferred."""
    numbers = [(lines.line_of(m.start()), int(m.group(1))) for m in _NUMBER_LINE.finditer(text)]
    if not numbers:
        return [None] * len(raws)  # no footnotes: superscript-looking digits would be noise
    printed_numbers = {n for _, n in numbers}
    assigned: list[int | None] = []
    anchors: list[tuple[int, int]] = []  # (line where the citation's search may start, its number)
    for raw in raws:
        first, last = lines.line_of(raw.start), lines.line_of(max(raw.start, raw.end - 1))
        before = [(ln, n) for ln, n in numbers if ln < first]
        after = [(ln, n) for ln, n in numbers if ln > last]
        number: int | None = None
        if before:
            anchor_line, value = before[-1]
            if anchors and anchors[-1][1] == value and anchors[-1][0] > anchor_line:
                anchor_line = anchors[-1][0]  # a footnote citing several URLs
            if lines.nonblank_between(anchor_line, first) <= _FOOTNOTE_REACH:
                number = value
        if number is None and after and lines.nonblank_between(last, after[0][0]) <= 1:
            guess = after[0][1] - 1
            if guess >= 1 and guess not in printed_numbers and (not before or guess > before[-1][1]):
                number = guess
        if number is None:
            window = text[lines.starts[before[-1][0]] if before else 0:raw.start]
            free = sorted({int(m.group(1)) for m in _SUPERSCRIPT.finditer(window)}
                          - printed_numbers - {n for n in assigned if n is not None})
            number = free[0] if free else None
        assigned.append(number)
        anchors.append((lines.line_of(raw.end), number if number is not None else -1))
    ids: list[str | None] = []
    for i, number in enumerate(assigned):
        if number is None:
            ids.append(None)
            continue
        same = [j for j, n in enumerate(assigned) if n == number]
        ids.append(f"fn{number}" if len(same) == 1 else f"fn{number}{chr(ord('a') + same.index(i))}")
    return ids


def _context_before(text: str, raws: list[_Raw], order: int, lines: _LineIndex) -> str:
    """The citation text between the footnote start (or the previous URL) and this URL, on one line."""
    raw = raws[order]
    first = lines.line_of(raw.start)
    lo = raws[order - 1].end if order else 0
    for number in _NUMBER_LINE.finditer(text, lo, raw.start):
        lo = max(lo, number.end())
    blanks = [m.end() for m in _BLANK_LINE.finditer(text, lo, raw.start)]
    lo = blanks[-1] if blanks else lo
    if lines.line_of(lo) < first - _FOOTNOTE_REACH:
        # No footnote number here: PDF extraction marks unnumbered footnotes with a leading space.
        for ln in range(first, lines.line_of(lo), -1):
            if lines.lines[ln].startswith(" ") and lines.lines[ln].strip():
                lo = lines.starts[ln]
                break
    chunk = text[lo:raw.start].rstrip("<(")
    chunk = _ONLINE_TAIL.sub("", chunk)
    chunk = _LEAD.sub("", " ".join(chunk.split()))
    return chunk.strip(" ,;")


def _shorten(context: str) -> str:
    if len(context) <= _CONTEXT_MAX:
        return context
    return context[:_CONTEXT_MAX - 1].rsplit(" ", 1)[0] + "…"


def _accessed(context: str) -> dt.date | None:
    """An explicit date: after "accessed", or in parentheses as legal citation styles print it."""
    spans = [m.end() for m in _ACCESSED.finditer(context)]
    found: list[tuple[int, dt.date]] = []
    for pattern, day_i, month_i, year_i in ((_DAY_MONTH, 1, 2, 3), (_MONTH_DAY, 2, 1, 3)):
        for m in pattern.finditer(context):
            opened = context.rfind("(", 0, m.start()) > context.rfind(")", 0, m.start())
            if not (opened or m.start() in spans):
                continue
            month = next(i for i, name in enumerate(_MONTHS, 1) if name.startswith(m.group(month_i).lower()[:3]))
            try:
                found.append((m.start(), dt.date(int(m.group(year_i)), month, int(m.group(day_i)))))
            except ValueError:
                continue
    found.sort(key=lambda item: (item[0] not in spans, -item[0]))
    return found[0][1] if found else None
