"""What a response says, as text: its title, main text (boilerplate removed) and whole visible text,
for HTML and PDF.

Shared by the soft-404 rules (classify.py) and the drift measure (drift.py).

Bodies come from servers we do not control, so nothing here raises on bad input: an undecodable or
unparseable body yields empty text, never an exception. Library failures (lxml, trafilatura,
pdfium) are caught where the body enters them and logged at debug level.

- Charset: byte-order mark, then ``charset=`` in Content-Type, then an XML declaration's encoding,
  ``<meta charset>`` or ``<meta http-equiv="Content-Type">`` in the first 4 KB, then UTF-8;
  undecodable bytes become U+FFFD.
  Like browsers (WHATWG Encoding), ``iso-8859-1``/``latin1``/``us-ascii`` decode as windows-1252.
- HTML: main text by trafilatura (comments sections excluded: readers' comments are not what was
  cited). When trafilatura finds nothing -- tiny pages, error pages, placeholders -- the whole visible
  text (below) is used instead, so a short "Page not found" page still has text for the soft-404 rules.
- HTML, visible text (``PageText.visible``): everything a reader sees in the body -- main text plus
  navigation, ads, banners, comments, bylines, footers -- with what a reader never sees removed: the
  ``<head>``, scripts, styles, ``<noscript>``, ``<template>``, ``svg``/``math``/``iframe``/``object``,
  elements with the ``hidden`` attribute, and HTML comments and processing instructions (the parser drops
  those). Attribute values are not text, so nonces, asset URLs and CSRF tokens in hidden inputs do not
  count -- nor, a known gap, the few a reader does see (an ``<input type=submit value=...>`` label, a
  ``placeholder``, an image's ``alt``). Whitespace is
  collapsed within lines (source line breaks stay, as in the main text). drift.py uses it to tell a
  visibly changed page from a mere refetch. It comes from the same lxml parse as the main text
  (trafilatura works on its own copy of the tree) and is also the fallback main text above; on a
  200 KB news page it adds about 10-14 ms to page_text's 70 ms (trafilatura alone is about 65 ms).
- PDF and plain text: ``visible`` is the same as ``text``.
- PDF (``application/pdf``, or ``%PDF-`` near the start whatever the type says): page text by
  pdfium, in a separate process (a pdfium crash or hang costs that page's text, never the run);
  title from the document information dictionary.
- ``text/plain``: as is. A missing or ``application/octet-stream`` type is decided by the body: HTML if
  it starts like HTML, text if it is NUL-free UTF-8. Anything else: kind ``"other"`` and empty text.

trafilatura logs ``WARNING discarding data: <url>`` whenever it finds no main text (every tiny page);
that is expected here, since the visible-text fallback then takes over.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import multiprocessing
import re
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

# lxml ships no type information; unused-ignore keeps this clean if pyproject later adds an lxml override.
import lxml.etree  # type: ignore[import-untyped, unused-ignore]
import lxml.html  # type: ignore[import-untyped, unused-ignore]

log = logging.getLogger(__name__)

# Bounds on hostile or merely enormous bodies; beyond them only the head of the document counts.
MAX_HTML_BYTES = 5_000_000
MAX_PDF_PAGES = 500
MAX_TEXT_CHARS = 2_000_000
SNIFF_BYTES = 4096

_HTML_TYPES = {"text/html", "application/xhtml+xml", "application/xml+html"}
_PDF_TYPES = {"application/pdf", "application/x-pdf"}
# Types servers send when they do not know; the body itself decides then.
_UNKNOWN_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/unknown", "unknown/unknown"}
# WHATWG Encoding maps these labels to windows-1252; real "latin-1" pages use its 0x80-0x9F quotes.
_AS_WINDOWS_1252 = {"latin-1", "iso8859-1", "ascii", "cp1252"}

_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)""", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_HTML_START = re.compile(rb"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|title|meta|div|p|h1|table)[\s>/]",
                         re.I | re.S)
# Characters lxml refuses in a tree (XML 1.0 forbids them); hostile pages contain them anyway.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_INVISIBLE = ("script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object")
_BLOCKS = ("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "fieldset", "figcaption",
           "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
           "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul")

# pdfium is not thread-safe; the checker may extract from several threads.
_PDFIUM_LOCK = threading.Lock()
PDF_SECONDS = 120.0  # one PDF's text; far beyond what a 500-page paper takes
_READER_LOCK = threading.Lock()
_reader: ProcessPoolExecutor | None = None


@dataclass(frozen=True)
class PageText:
    title: str  # <title> (or PDF title), whitespace collapsed; "" when none
    text: str  # main text with boilerplate removed, paragraphs separated by "\n"; "" when none
    kind: str  # "html", "pdf", "text" or "other"
    # Whole visible text (boilerplate included, markup a reader never sees excluded), lines separated by
    # "\n"; for PDF and plain text the same as `text`; "" when none.
    visible: str = ""


def page_text(body: bytes, content_type: str | None = None, url: str | None = None) -> PageText:
    """Title and main text of a decoded (Content-Encoding already removed) response body."""
    kind = body_kind(body, content_type)
    if kind == "pdf":
        return _pdf_text(body)
    if kind == "html":
        return _html_text(decode_body(body[:MAX_HTML_BYTES], content_type, html=True), url)
    if kind == "text":
        text = decode_body(body[: MAX_TEXT_CHARS * 4], content_type, html=False)
        text = _tidy_lines(text.replace("\r\n", "\n").replace("\r", "\n"))
        return PageText(title="", text=text, kind="text", visible=text)
    return PageText(title="", text="", kind="other")


def body_kind(body: bytes, content_type: str | None) -> str:
    """"html", "pdf", "text" or "other", from the media type, falling back to the body when it is vague."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if b"%PDF-" in body[:1024]:
        return "pdf"
    if media in _PDF_TYPES:
        # A dead PDF link often answers with an HTML error page still labelled application/pdf.
        return "html" if _HTML_START.match(body[:SNIFF_BYTES].lstrip(codecs.BOM_UTF8)) else "pdf"
    if media in _HTML_TYPES:
        return "html"
    if media == "text/plain":
        return "text"
    if media in _UNKNOWN_TYPES:
        head = body[:SNIFF_BYTES].lstrip(codecs.BOM_UTF8)
        if _HTML_START.match(head):
            return "html"
        if head and b"\x00" not in head and _is_utf8(head):
            return "text"
    return "other"


def decode_body(body: bytes, content_type: str | None, *, html: bool) -> str:
    """The body as text, by byte-order mark, then header charset, then (HTML only) in-document declarations,
    then UTF-8. Unknown or non-text labels are skipped; undecodable bytes become U+FFFD."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                      (codecs.BOM_UTF16_BE, "utf-16-be")):
        if body.startswith(bom):
            return body[len(bom):].decode(name, "replace")
    declared = _CHARSET_PARAM.search(content_type or "")
    candidates = [(declared.group(1), False)] if declared else []
    if html:  # XHTML pages declare their encoding in the XML declaration instead of (or besides) a meta tag
        for found in (_XML_ENCODING.match(body), _META_CHARSET.search(body[:SNIFF_BYTES])):
            if found:
                candidates.append((found.group(1).decode("ascii", "replace"), True))
    for label, in_document in candidates:
        codec = _codec(label, in_document=in_document)
        if codec:
            return body.decode(codec, "replace")
    return body.decode("utf-8", "replace")


def _codec(label: str, *, in_document: bool) -> str | None:
    try:
        info = codecs.lookup(label)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True):  # base64, rot13, zlib... are codecs but not charsets
        return None
    if info.name in _AS_WINDOWS_1252:
        return "cp1252"
    if in_document and info.name.startswith("utf-16"):
        # A page we could read this label from is ASCII-compatible, so not UTF-16; HTML says use UTF-8.
        return "utf-8"
    return info.name


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(data) - 3  # a character cut by the sniffing window is still UTF-8
    return True


def _html_text(markup: str, url: str | None) -> PageText:
    tree = _parse_html(markup)
    if tree is None:
        return PageText(title="", text="", kind="html")
    found = tree.find(".//title")
    title = " ".join(found.text_content().split()) if found is not None else ""
    main = _main_text(tree, url)  # first: _visible_text takes the tree apart
    visible = _visible_text(tree)[:MAX_TEXT_CHARS]
    return PageText(title=title[:1000], text=(main or visible)[:MAX_TEXT_CHARS], kind="html", visible=visible)


def _parse_html(markup: str) -> lxml.html.HtmlElement | None:
    # Parsing UTF-8 bytes (not str) sidesteps lxml's refusal of str documents carrying an XML encoding
    # declaration; the decoding decision was already made by decode_body.
    data = _NOT_XML.sub("", markup).encode("utf-8", "replace")
    if not data.strip():
        return None
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
    try:
        tree = lxml.html.document_fromstring(data, parser=parser)
    except (lxml.etree.LxmlError, ValueError) as exc:
        log.debug("unparseable HTML: %s", exc)
        return None
    return tree if isinstance(tree, lxml.html.HtmlElement) else None


def _main_text(tree: lxml.html.HtmlElement, url: str | None) -> str:
    import trafilatura  # imported late: it pulls in justext, htmldate and courlan (about 0.3 s)

    try:
        # trafilatura copies a tree it is given, so `tree` stays whole for the visible text.
        extracted = trafilatura.extract(tree, url=url, output_format="txt", include_comments=False,
                                        include_tables=True, deduplicate=False, with_metadata=False)
    except Exception as exc:  # hostile markup may trip anything in a third-party parser;
        # the page then simply has no main text of trafilatura's finding and the fallback takes over.
        log.debug("trafilatura failed on %s: %r", url, exc)
        return ""
    return _tidy_lines(extracted) if isinstance(extracted, str) else ""


def _visible_text(tree: lxml.html.HtmlElement) -> str:
    """The text a reader sees; consumes `tree` (invisible elements are dropped from it)."""
    for element in [*tree.iter(*_INVISIBLE), *tree.xpath("//*[@hidden]")]:
        if element.getparent() is not None:  # drop_tree keeps the tail, which is outside the element
            element.drop_tree()
    for element in tree.iter(*_BLOCKS):
        element.tail = "\n" + (element.tail or "")
        element.text = "\n" + (element.text or "")
    try:
        text = tree.text_content()
    except (lxml.etree.LxmlError, ValueError) as exc:
        log.debug("no visible text: %s", exc)
        return ""
    return _tidy_lines(str(text))


def _tidy_lines(text: str) -> str:
    lines = (" ".join(line.split()) for line in text[:MAX_TEXT_CHARS].split("\n"))
    return "\n".join(line for line in lines if line)


def _pdf_text(body: bytes) -> PageText:
    """PDF text, parsed in a separate process: pdfium is C code fed with hostile bytes, and a crash
    or a hang there must cost one page, not the run or the daemon. A process that is already a
    worker (the checker's pool for big runs) is isolated already and parses here."""
    if multiprocessing.parent_process() is not None:
        return pdf_text_here(body)
    with _READER_LOCK:
        global _reader
        if _reader is None:
            _reader = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"))
        reader = _reader
    future = reader.submit(pdf_text_here, body)
    try:
        return future.result(timeout=PDF_SECONDS)
    except (BrokenProcessPool, FutureTimeout) as exc:
        log.warning("PDF reader %s: the page's text is left empty", "timed out" if isinstance(exc, FutureTimeout)
                    else "crashed")
        _discard_reader(reader)
        return PageText(title="", text="", kind="pdf")


def pdf_reader_pids() -> list[int]:
    """Processes parsing PDFs now (for tests and diagnostics)."""
    with _READER_LOCK:
        processes = getattr(_reader, "_processes", None) or {}
        return [process.pid for process in processes.values() if process.pid is not None]


def _discard_reader(reader: ProcessPoolExecutor) -> None:
    global _reader
    with _READER_LOCK:
        if _reader is reader:
            _reader = None
    # The executor has no public way to end a hung worker (3.14 adds terminate_workers()): kill it.
    for process in list((getattr(reader, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            process.kill()
    reader.shutdown(wait=False, cancel_futures=True)


def pdf_text_here(body: bytes) -> PageText:
    import pypdfium2  # imported late: only PDFs need it

    pages: list[str] = []
    title = ""
    with _PDFIUM_LOCK:
        try:
            document = pypdfium2.PdfDocument(body)
        except Exception as exc:  # PdfiumError, and pdfium's ctypes layer on broken files
            log.debug("unreadable PDF: %r", exc)
            return PageText(title="", text="", kind="pdf")
        try:
            title = _pdf_title(document)
            size = 0
            for index in range(min(len(document), MAX_PDF_PAGES)):
                page = document[index]
                try:
                    textpage = page.get_textpage()
                    chunk = textpage.get_text_range()
                    textpage.close()
                except Exception as exc:  # one broken page should not lose the others
                    log.debug("unreadable PDF page %d: %r", index, exc)
                    chunk = ""
                finally:
                    page.close()
                pages.append(chunk)
                size += len(chunk)
                if size > MAX_TEXT_CHARS:
                    break
        finally:
            document.close()
    text = "\n".join(pages).replace("\r\n", "\n").replace("\r", "\n").replace("\x0c", "\n")
    text = _tidy_lines(_NOT_XML.sub("", text))
    return PageText(title=title, text=text, kind="pdf", visible=text)


def _pdf_title(document: object) -> str:
    try:
        metadata = document.get_metadata_dict(skip_empty=True)  # type: ignore[attr-defined]
    except Exception as exc:  # a damaged info dictionary must not cost the text
        log.debug("unreadable PDF metadata: %r", exc)
        return ""
    title = metadata.get("Title", "") if isinstance(metadata, dict) else ""
    return " ".join(str(title).split())[:1000]
