"""Test papers built at test time: PDFs typeset the way papers wrap URLs, and DOCX files with real hyperlinks.

PDF URLs are given with "|" where the typesetter breaks the line: "…/annual-|report" breaks after a
hyphen that belongs to the URL (it stays at the line end), "…/docu|ment" breaks mid-word without a
hyphen, "…/reports/|2021" breaks after a slash. The "|" is not part of the intended URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docx import Document as new_docx
from docx.opc.constants import CONTENT_TYPE as CT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.packuri import PackURI
from docx.opc.part import XmlPart
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from reportlab.lib.pagesizes import letter
from reportlab.pdfbase.pdfmetrics import getAscent, getDescent, stringWidth
from reportlab.pdfgen.canvas import Canvas

BREAK = "|"
LEFT, TOP = 72.0, 720.0
BODY_FONT, BODY_SIZE, BODY_LEADING = "Times-Roman", 11.0, 14.0
NOTE_SIZE, NOTE_LEADING, MARK_SIZE = 9.0, 11.5, 6.0
WORDS = ("the tribunal considered evidence from several sources including reports by observers and "
         "statements of witnesses whose accounts were gathered over many months of careful work").split()


def intended(url: str) -> str:
    return url.replace(BREAK, "")


def body_lines(count: int, seed: int = 0) -> list[str]:
    """Deterministic prose, about 90 characters a line."""
    lines = []
    for i in range(count):
        start = (seed * 7 + i * 5) % len(WORDS)
        words = [WORDS[(start + j) % len(WORDS)] for j in range(15)]
        lines.append(" ".join(words).capitalize() + ("." if i % 3 == 2 else ""))
    return lines


def _draw_footnote(canvas: Canvas, y: float, number: int, citation: str, url: str, annotate: bool) -> float:
    """A numbered footnote whose URL wraps at its "|" marks; returns the baseline below it."""
    canvas.setFont(BODY_FONT, MARK_SIZE)
    canvas.drawString(LEFT, y + 3, str(number))  # superscript footnote mark
    x = LEFT + stringWidth(str(number), BODY_FONT, MARK_SIZE) + 1
    pieces = url.split(BREAK)
    target = intended(url)
    ascent = getAscent(BODY_FONT, NOTE_SIZE)
    descent = getDescent(BODY_FONT, NOTE_SIZE)  # negative
    canvas.setFont(BODY_FONT, NOTE_SIZE)
    prefix = f"{citation}, online: <"
    for i, piece in enumerate(pieces):
        lead = prefix if i == 0 else ""
        tail = ">." if i == len(pieces) - 1 else ""
        canvas.drawString(x, y, lead + piece + tail)
        if annotate:
            x0 = x + stringWidth(lead, BODY_FONT, NOTE_SIZE)
            x1 = x0 + stringWidth(piece, BODY_FONT, NOTE_SIZE)
            canvas.linkURL(target, (x0, y + descent, x1, y + ascent), relative=0, thickness=0)
        x = LEFT
        y -= NOTE_LEADING
    return y


def make_pdf(path: Path, footnotes: list[tuple[int, str, str]], *, annotate: bool,
             body: int = 12) -> None:
    """One page per four footnotes: body prose citing them, then the footnotes at the foot of the page.

    `footnotes` holds (number, citation text, URL with "|" at each line break). With `annotate`, every
    printed piece of a URL gets a link annotation to the whole intended URL, as Word and hyperref do.
    """
    canvas = Canvas(str(path), pagesize=letter)
    chunks = [footnotes[i:i + 4] for i in range(0, len(footnotes), 4)] or [[]]
    for page, notes in enumerate(chunks):
        _draw_page(canvas, page, body, notes, annotate)
        canvas.showPage()
    canvas.save()


def _draw_page(canvas: Canvas, page: int, body: int, notes: list[tuple[int, str, str]], annotate: bool) -> None:
    y = TOP
    lines = body_lines(body, seed=page)
    marks = {round((k + 1) * body / (len(notes) + 1)) - 1: n for k, (n, _, _) in enumerate(notes)}
    for i, line in enumerate(lines):
        canvas.setFont(BODY_FONT, BODY_SIZE)
        canvas.drawString(LEFT, y, line)
        if i in marks:
            canvas.setFont(BODY_FONT, MARK_SIZE)
            canvas.drawString(LEFT + stringWidth(line, BODY_FONT, BODY_SIZE), y + 4, str(marks[i]))
        y -= BODY_LEADING
        if i % 4 == 3:
            y -= BODY_LEADING / 2  # paragraph gap
    y = min(y - 2 * NOTE_LEADING, 72 + NOTE_LEADING * 3 * len(notes))
    canvas.line(LEFT, y + NOTE_LEADING, LEFT + 144, y + NOTE_LEADING)
    for number, citation, url in notes:
        y = _draw_footnote(canvas, y, number, citation, url, annotate)
    canvas.setFont(BODY_FONT, 9)
    canvas.drawCentredString(letter[0] / 2, 40, str(page + 1))


def make_pdf_pages(path: Path, pages: int) -> list[str]:
    """A long text-heavy paper: 36 lines of prose and one annotated, wrapped footnote URL per page."""
    canvas = Canvas(str(path), pagesize=letter)
    urls = []
    for page in range(pages):
        url = f"https://www.example-{page % 17}.org/archive/{2000 + page % 20}/reports/long-|report-number-{page}.html"
        urls.append(intended(url))
        _draw_page(canvas, page, 36, [(page + 1, f"Author {page}, “Report number {page}”, Example", url)], True)
        canvas.showPage()
    canvas.save()
    return urls


_NS = nsdecls("w", "r")


def _run(text: str, superscript: bool = False) -> str:
    props = '<w:rPr><w:vertAlign w:val="superscript"/></w:rPr>' if superscript else ""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<w:r {_NS}>{props}<w:t xml:space="preserve">{escaped}</w:t></w:r>'


def _hyperlink(rid: str, text: str) -> str:
    return f'<w:hyperlink {_NS} r:id="{rid}">{_run(text)}</w:hyperlink>'


def _field(url: str, text: str) -> list[str]:
    """A HYPERLINK field, as older Word versions and some converters write links."""
    return [f'<w:r {_NS}><w:fldChar w:fldCharType="begin"/></w:r>',
            f'<w:r {_NS}><w:instrText xml:space="preserve"> HYPERLINK "{url}" \\o "{text}" </w:instrText></w:r>',
            f'<w:r {_NS}><w:fldChar w:fldCharType="separate"/></w:r>', _run(text),
            f'<w:r {_NS}><w:fldChar w:fldCharType="end"/></w:r>']


def make_docx(path: Path, body: list[tuple[str, str]], footnotes: list[tuple[str, str, str]], *,
              fields: list[tuple[str, str]] | None = None, empty_links: int = 0) -> None:
    """A DOCX with real hyperlinks (w:hyperlink to external relationships) in body paragraphs and footnotes.

    `body` holds (link text, URL): one paragraph each, citing footnote i when there is one.
    `footnotes` holds (citation, link text, URL). `fields` adds paragraphs linking by HYPERLINK field
    codes; `empty_links` adds hyperlinks whose target is "#". A table of numbers is added too.
    """
    word = new_docx()
    part = word.part
    word.add_heading("A paper with links", level=1)
    for i, (text, url) in enumerate(body):
        paragraph = word.add_paragraph(" ".join(body_lines(1, seed=i)) + " See ")
        paragraph._p.append(parse_xml(_hyperlink(part.relate_to(url, RT.HYPERLINK, is_external=True), text)))
        paragraph._p.append(parse_xml(_run(".")))
        if i < len(footnotes):
            paragraph._p.append(parse_xml(f'<w:r {_NS}><w:rPr><w:vertAlign w:val="superscript"/></w:rPr>'
                                          f'<w:footnoteReference w:id="{i + 1}"/></w:r>'))
    for text, url in fields or []:
        paragraph = word.add_paragraph("Also see ")
        for xml in _field(url, text):
            paragraph._p.append(parse_xml(xml))
    for _ in range(empty_links):
        paragraph = word.add_paragraph("A link to nowhere: ")
        paragraph._p.append(parse_xml(_hyperlink(part.relate_to("#", RT.HYPERLINK, is_external=True), "here")))
    table = word.add_table(rows=2, cols=2)
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row.cells):
            cell.text = str(r * 2 + c + 1)
    paragraph = word.add_paragraph("Closing words.")
    for i in range(len(body), len(footnotes)):  # footnotes beyond the body paragraphs: cite them here
        paragraph._p.append(parse_xml(f'<w:r {_NS}><w:footnoteReference w:id="{i + 1}"/></w:r>'))
    if footnotes:
        _add_footnotes(word, footnotes)
    word.save(str(path))


def _add_footnotes(word: Any, footnotes: list[tuple[str, str, str]]) -> None:
    """python-docx has no footnote API: add the part, its content type and relationship by hand."""
    document_part = word.part
    root = parse_xml(
        f'<w:footnotes {_NS}>'
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
        '<w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p>'
        '</w:footnote></w:footnotes>')
    part = XmlPart(PackURI("/word/footnotes.xml"), CT.WML_FOOTNOTES, root, document_part.package)
    document_part.relate_to(part, RT.FOOTNOTES)
    for i, (citation, text, url) in enumerate(footnotes, 1):
        rid = part.relate_to(url, RT.HYPERLINK, is_external=True)
        root.append(parse_xml(
            f'<w:footnote {_NS} w:id="{i}"><w:p>'
            f'<w:r><w:rPr><w:vertAlign w:val="superscript"/></w:rPr><w:footnoteRef/></w:r>'
            f'{_run(" " + citation + ", online: ")}{_hyperlink(rid, text)}{_run(".")}</w:p></w:footnote>'))


def make_docx_paragraphs(path: Path, paragraphs: list[list[str | tuple[str, str]]]) -> None:
    """A DOCX whose paragraphs are runs: a str is plain text, (text, url) a w:hyperlink around `text`.

    Word splits a hyperlink wherever the formatting changes: two (text, url) in a row with one URL are
    how such a split hyperlink is stored."""
    word = new_docx()
    part = word.part
    for segments in paragraphs:
        paragraph = word.add_paragraph()
        for segment in segments:
            if isinstance(segment, str):
                paragraph._p.append(parse_xml(_run(segment)))
            else:
                text, url = segment
                rid = part.relate_to(url, RT.HYPERLINK, is_external=True)
                paragraph._p.append(parse_xml(_hyperlink(rid, text)))
    word.save(str(path))


def make_pdf_lines(path: Path, lines: list[list[str | tuple[str, str]]]) -> None:
    """One page of lines of text; a (text, url) segment gets a link annotation to `url` over exactly its text.

    Segments of a line are drawn one after the other: ["(", ("https://a.example/x-", url), "y)"] prints
    "(https://a.example/x-y)" with an annotation that covers only part of the printed URL."""
    canvas = Canvas(str(path), pagesize=letter)
    ascent, descent = getAscent(BODY_FONT, BODY_SIZE), getDescent(BODY_FONT, BODY_SIZE)
    y = TOP
    for segments in lines:
        x = LEFT
        for segment in segments:
            text, url = (segment, None) if isinstance(segment, str) else segment
            canvas.setFont(BODY_FONT, BODY_SIZE)
            canvas.drawString(x, y, text)
            width = stringWidth(text, BODY_FONT, BODY_SIZE)
            if url:
                canvas.linkURL(url, (x, y + descent, x + width, y + ascent), relative=0, thickness=0)
            x += width
        y -= BODY_LEADING
    canvas.showPage()
    canvas.save()
