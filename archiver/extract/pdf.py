"""PDF text layer and URI link annotations, read with pdfium (pypdfium2): fast and tolerant of damaged files."""

from __future__ import annotations

import ctypes
import functools
import re
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as raw

from ..errors import UsageError
from .document import Document, Link, close_mark, one_line, open_mark, settle_links, unmarked

# pdfium joins a line that ends in a hyphen to the next one and marks the hyphen with U+FFFE (U+0002
# from get_text_bounded). Both the hyphen and the line break were printed: restore them, so that the
# text extractor sees the URL as it was typeset.
_LINE_END_HYPHEN = re.compile("[\ufffe\x02]")
_LEADING_NUMBER = re.compile(r"(?m)^(\d{1,3})[ \t]*(?=\S)")
# A footnote mark is set smaller than the text it precedes, or raised above its baseline.
_MARK_SIZE_RATIO = 0.85
_MARK_RAISE = 1.0
# A wrapped link's pieces are joined without a space when they look like pieces of a URL.
_URLISH = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|www\.)|[/.?=&]", re.IGNORECASE)
_Area = tuple[float, float, float, float]  # left, bottom, right, top
# Past these a file is no paper (the longest treatises run to a few thousand pages and cite tens of
# thousands of URLs); reading on would only let a hostile file hold extract for hours.
MAX_PAGES = 10_000
MAX_LINKS = 200_000


def read_pdf(path: Path) -> Document:
    try:
        pdf = pdfium.PdfDocument(str(path))
    except (pdfium.PdfiumError, OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable PDF ({one_line(str(exc)) or type(exc).__name__})") from exc
    try:
        texts: list[str] = []
        links: list[Link] = []
        if len(pdf) > MAX_PAGES:
            raise UsageError(f"{path}: {len(pdf):,} pages, more than the {MAX_PAGES:,} archiver reads in one paper")
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            try:
                raw_text: str = unmarked(textpage.get_text_range())
                found = _page_links(pdf, page, textpage, index + 1, MAX_LINKS - len(links))
                if found is None:
                    raise UsageError(f"{path}: more than {MAX_LINKS:,} link annotations (by page {index + 1})")
                text = _page_text(textpage, raw_text)
                if found:
                    text = _mark_links(text, raw_text, textpage, found, len(links))
                texts.append(text)
                links.extend(link for link, _ in found)
            finally:
                textpage.close()
                page.close()
    except pdfium.PdfiumError as exc:
        raise UsageError(f"{path}: not a readable PDF ({one_line(str(exc))})") from exc
    finally:
        pdf.close()
    text, links = settle_links("\n".join(texts), links)
    return Document("pdf", text, links, wrapped=True)


def _page_text(textpage: pdfium.PdfTextPage, text: str) -> str:
    if len(text) == textpage.count_chars():  # offsets are char indices: footnote marks can be told apart
        text = _unglue_marks(text, textpage)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _LINE_END_HYPHEN.sub("-\n", text)


def _unglue_marks(text: str, textpage: pdfium.PdfTextPage) -> str:
    """Put a footnote's superscript number on its own line, where the text extractor looks for it.

    pdfium glues the mark to the footnote text ("1Lucia de la Torre, ...").
    """
    cuts: list[tuple[int, int]] = []
    for match in _LEADING_NUMBER.finditer(text):
        digit, follower = match.start(1), match.end()
        if text[follower] in "\r\n" or text[follower].isdigit():
            continue
        mark_size = raw.FPDFText_GetFontSize(textpage.raw, digit)
        text_size = raw.FPDFText_GetFontSize(textpage.raw, follower)
        raised = _origin_y(textpage, digit) - _origin_y(textpage, follower) > _MARK_RAISE
        if raised or (text_size > 0 and mark_size < text_size * _MARK_SIZE_RATIO):
            cuts.append((match.end(1), follower))
    for start, end in reversed(cuts):
        text = text[:start] + "\n" + text[end:]
    return text


def _origin_y(textpage: pdfium.PdfTextPage, index: int) -> float:
    x, y = ctypes.c_double(), ctypes.c_double()
    if not raw.FPDFText_GetCharOrigin(textpage.raw, index, ctypes.byref(x), ctypes.byref(y)):
        return 0.0
    return float(y.value)


_Covered = list[tuple[_Area, list[str]]]  # each area of a link with the printed lines inside it


def _page_links(pdf: pdfium.PdfDocument, page: pdfium.PdfPage, textpage: pdfium.PdfTextPage,
                number: int, room: int) -> list[tuple[Link, _Covered]] | None:
    """URI link annotations in /Annots order, with the text they cover; the pieces of a link wrapped over
    lines become one Link. None when the page has more than `room` annotations."""
    pieces: list[tuple[str, _Covered, _Area]] = []  # URI, areas and their printed lines, the last area
    seen_rects: set[tuple[str, tuple[float, ...]]] = set()
    position = ctypes.c_int(0)
    link = raw.FPDF_LINK()
    seen = 0
    while raw.FPDFLink_Enumerate(page.raw, ctypes.byref(position), ctypes.byref(link)):
        seen += 1
        if seen > room:
            return None  # stop at once: reading every annotation of a hostile page first is the hang
        uri = _uri(pdf, link)
        if uri is None:
            continue  # internal destinations, launch actions...
        quads, rect = _areas(link)
        key = (uri, tuple(c for area in [*quads, *rect] for c in area))
        if key in seen_rects or not (quads or rect):
            continue  # the same annotation written twice (some tools do): its text once
        seen_rects.add(key)
        areas = quads
        covered = [(area, _text_in(textpage, area)) for area in quads]
        if not any(lines for _, lines in covered):  # no QuadPoints, or bogus ones
            areas = rect
            covered = [(area, _text_in(textpage, area)) for area in rect]
        if pieces and pieces[-1][0] == uri and _continues(textpage, pieces[-1][2], areas[0]):
            pieces[-1][1].extend(covered)
            pieces[-1] = (uri, pieces[-1][1], areas[-1])
        else:
            pieces.append((uri, covered, areas[-1]))
    return [(Link(url=uri, text=_join_pieces([line for _, lines in covered for line in lines]), page=number),
             covered) for uri, covered, _ in pieces]


# How far (in characters) the text a link covers is looked for around the character under its area:
# the page text differs from pdfium's character indices by a character per line at most.
_REACH = 400
_OPENERS = "(<[{\"'“‘"


def _mark_links(text: str, raw_text: str, textpage: pdfium.PdfTextPage, found: list[tuple[Link, _Covered]],
                first: int) -> str:
    """The page text with the printed lines each link covers marked for document.settle_links.

    The annotation, not the look of the text, says where a printed URL starts and ends: marked, its
    broken lines become one URL and no piece of it is read apart."""
    spans: list[tuple[int, int, int]] = []  # start, end, link index
    for number, (_, covered) in enumerate(found, first):
        for area, lines in covered:
            at: int | None = None
            for line in lines:
                start = _locate(text, line, functools.partial(_char_at, textpage, area, raw_text)) if at is None \
                    else text.find(line, at, at + _REACH)
                if start < 0 or (at is not None and text[at:start].strip()):
                    break
                end = start + len(line)
                # An area that takes in part of a printed word covers the word: link rectangles are
                # drawn loosely, and a URL has no white space to end it before the area does.
                while start > 0 and not text[start - 1].isspace() and text[start - 1] not in _OPENERS:
                    start -= 1
                while end < len(text) and not text[end].isspace():
                    end += 1
                spans.append((start, end, number))
                at = end
    spans.sort()
    kept: list[tuple[int, int, int]] = []
    for span in spans:
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)  # two annotations over one text (some files): the first settles it
    for start, end, number in reversed(kept):
        text = f"{text[:start]}{open_mark(number)}{text[start:end]}{close_mark()}{text[end:]}"
    return text


def _char_at(textpage: pdfium.PdfTextPage, area: _Area, raw_text: str) -> int:
    """Where in the page text the first character inside `area` is, about; -1 when none is."""
    left, bottom, right, top = area
    half = max((top - bottom) / 2, 1.0)
    index = int(raw.FPDFText_GetCharIndexAtPos(textpage.raw, left + min(1.0, (right - left) / 2), bottom + half,
                                               half, half))
    if index < 0:
        return -1
    # The page text has "\n" for pdfium's "\r\n" and "-\n" for its line-end hyphen mark.
    return index - raw_text.count("\r\n", 0, index) + raw_text.count("\ufffe", 0, index) \
        + raw_text.count("\x02", 0, index)


def _locate(text: str, line: str, hint: Callable[[], int]) -> int:
    """Where `line` is in `text`: its only occurrence, else the one nearest to the character `hint` gives."""
    if not line:
        return -1
    start = text.find(line)
    if start < 0 or text.find(line, start + 1) < 0:
        return start
    return _nearest(text, line, hint())


def _nearest(text: str, line: str, hint: int) -> int:
    """The occurrence of `line` in `text` nearest to `hint` (within _REACH of it when there is a hint)."""
    if not line:
        return -1
    lo, hi = (0, len(text)) if hint < 0 else (max(hint - _REACH, 0), hint + _REACH + len(line))
    best = -1
    start = text.find(line, lo, hi)
    while start >= 0:
        if best < 0 or abs(start - hint) < abs(best - hint):
            best = start
        start = text.find(line, start + 1, hi)
    return best


def _continues(textpage: pdfium.PdfTextPage, above: _Area, below: _Area) -> bool:
    """Whether `below` continues a link wrapped from `above`: it opens the next line.

    Two annotations in a row with one URI are also how consecutive citations of the same URL look;
    those have the citation's text before them on their line.
    """
    height = max(above[3] - above[1], 1.0)
    if not (below[3] <= above[1] + height / 2 and above[1] - below[3] < height):
        return False
    quarter = (below[3] - below[1]) / 4
    before: str = textpage.get_text_bounded(0, below[1] + quarter, below[0] - 0.5, below[3] - quarter)
    return not before.strip()


def _uri(pdf: pdfium.PdfDocument, link: raw.FPDF_LINK) -> str | None:
    action = raw.FPDFLink_GetAction(link)
    if not action or raw.FPDFAction_GetType(action) != raw.PDFACTION_URI:
        return None
    size = raw.FPDFAction_GetURIPath(pdf.raw, action, None, 0)
    if size <= 1:
        return ""
    buffer = ctypes.create_string_buffer(size)
    raw.FPDFAction_GetURIPath(pdf.raw, action, buffer, size)
    data = buffer.raw[:size - 1]
    # The spec says 7-bit ASCII; real files hold UTF-8, and sometimes Latin-1.
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return data.decode("latin-1").strip()


def _areas(link: raw.FPDF_LINK) -> tuple[list[_Area], list[_Area]]:
    """The link's QuadPoints (one per printed line) and its rectangle.

    A single annotation over a wrapped URL has a rectangle that spans whole lines of other text, so
    the quads, when the file has them, say better what is under the link.
    """
    quads: list[_Area] = []
    for i in range(max(raw.FPDFLink_CountQuadPoints(link), 0)):
        quad = raw.FS_QUADPOINTSF()
        if raw.FPDFLink_GetQuadPoints(link, i, ctypes.byref(quad)):
            xs, ys = (quad.x1, quad.x2, quad.x3, quad.x4), (quad.y1, quad.y2, quad.y3, quad.y4)
            quads.append((min(xs), min(ys), max(xs), max(ys)))
    rect = raw.FS_RECTF()
    if not raw.FPDFLink_GetAnnotRect(link, ctypes.byref(rect)):
        return quads, []
    return quads, [(min(rect.left, rect.right), min(rect.bottom, rect.top), max(rect.left, rect.right),
                    max(rect.bottom, rect.top))]


def _text_in(textpage: pdfium.PdfTextPage, rect: _Area) -> list[str]:
    """The printed lines inside `rect`."""
    left, bottom, right, top = rect
    text: str = textpage.get_text_bounded(left, bottom, right, top)
    return [line.strip() for line in _LINE_END_HYPHEN.sub("-\n", text).splitlines() if line.strip()]


def _join_pieces(texts: list[str]) -> str:
    pieces = [t for t in texts if t]
    if len(pieces) > 1 and not any(ch.isspace() for t in pieces for ch in t) and _URLISH.search(pieces[0]):
        return "".join(pieces)  # a URL printed over several lines: the line breaks are not in it
    return one_line(" ".join(pieces))
