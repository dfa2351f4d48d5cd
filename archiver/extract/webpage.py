"""HTML papers (and saved web pages): the text a browser shows, and the targets of their <a href> links."""

from __future__ import annotations

import codecs
import collections
import html
import html.parser
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html  # type: ignore[import-untyped]  # no stubs; lxml-stubs is not a dependency
from lxml import etree

from ..errors import UsageError
from .document import Document, Link, close_mark, one_line, open_mark, read_bytes, settle_links, unmarked

_BLOCK = {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "footer", "header",
          "blockquote", "main", "nav", "aside", "ul", "ol", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot",
          "caption", "pre", "hr", "figure", "figcaption", "address", "details", "summary", "form", "fieldset",
          "body"}
_CELL = {"td", "th"}
_DROP = {"script", "style", "noscript", "template", "head", "title", "meta", "link", "svg", "math", "object",
         "iframe", "button", "select", "textarea"}
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9._-]+)""")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# Footnote list items (Pandoc "fn1", Wikipedia "cite_note-1", Hugo "fn:1"): their number is the list's.
_NOTE_ID = re.compile(r"fn|note", re.IGNORECASE)
_EMPTY_HREF = re.compile(r"^(?:#?|javascript:.*)$", re.IGNORECASE | re.DOTALL)


def read_html(path: Path) -> Document:
    data = read_bytes(path)
    if not data.strip():
        return Document("html", "")
    encoding = _encoding(data)
    try:
        # huge_tree: past 256 levels of nesting libxml2 would otherwise drop the rest of the page
        # silently; the tree is walked iteratively below, so depth costs no recursion.
        parser = lxml.html.HTMLParser(encoding=encoding, huge_tree=True)
        root = lxml.html.document_fromstring(data, parser=parser)
        if any(error.type == etree.ErrorTypes.ERR_RESOURCE_LIMIT for error in parser.error_log):
            # Deeper than libxml2 goes even so (2,048 levels): it stops there and loses the rest.
            flat = flatten_deep_html(data.decode(encoding, errors="replace"))
            root = lxml.html.document_fromstring(flat.encode("utf-8"),
                                                 parser=lxml.html.HTMLParser(encoding="utf-8", huge_tree=True))
    except (etree.LxmlError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable HTML file ({one_line(str(exc))})") from exc
    base = _base(root)
    body = root.find("body")
    top = body if body is not None else root
    links: list[Link] = []
    stripped = 0
    by_anchor: dict[Any, int] = {}  # anchor element -> its link's index, for the text walk to mark
    for anchor in top.iter("a", "area"):
        href = anchor.get("href")
        if href is None:
            continue  # a named anchor, not a link
        href = href.strip()
        if _EMPTY_HREF.match(href):
            stripped += 1
            continue
        if href.startswith("#"):
            continue  # a jump within the page
        if base:
            href = urljoin(base, href)
        elif href.startswith("//"):
            href = "https:" + href
        if urlsplit(href).scheme.lower() not in ("http", "https"):
            continue  # mailto:, relative links with no base to resolve them: not citations
        label = one_line(anchor.text_content()) or one_line(" ".join(anchor.xpath(".//img/@alt")))
        by_anchor[anchor] = len(links)
        links.append(Link(url=href, text=label))
    text, links = settle_links(_text(top, by_anchor), links)
    return Document("html", text, links, stripped)


KEEP_DEPTH = 512  # levels of nesting kept as they are when a page must be flattened
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
         "wbr"}


class _Flattener(html.parser.HTMLParser):
    """Re-writes a page with its nesting cut at KEEP_DEPTH: deeper, only text, links and line breaks
    survive. A streaming parser with a list for a stack: no depth limit and no recursion."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.counts: collections.Counter[str] = collections.Counter()  # of `open`: no scan per end tag
        self.dropping = 0  # inside a <script> or <style> below the kept depth

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if len(self.open) < KEEP_DEPTH:
            self.out.append(self.get_starttag_text() or "")
        elif tag in ("a", "area"):
            self.out.append(self.get_starttag_text() or "")
        elif tag in _BLOCK or tag == "br":
            self.out.append("<br>")
        elif tag in _DROP:
            self.dropping += 1
        if tag not in _VOID:
            self.open.append(tag)
            self.counts[tag] += 1

    def handle_endtag(self, tag: str) -> None:
        if not self.counts[tag]:
            return
        while self.open:
            closed = self.open.pop()
            self.counts[closed] -= 1
            if len(self.open) < KEEP_DEPTH or closed == "a":
                self.out.append(f"</{closed}>")
            elif closed in _BLOCK:
                self.out.append("<br>")
            elif closed in _DROP:
                self.dropping = max(self.dropping - 1, 0)
            if closed == tag:
                return

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(html.escape(data, quote=False))


def flatten_deep_html(markup: str) -> str:
    flattener = _Flattener()
    flattener.feed(markup)
    flattener.close()
    return "".join(flattener.out)


def _encoding(data: bytes) -> str:
    """The declared encoding, else UTF-8 when the bytes are UTF-8, else Windows-1252 as browsers assume."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    head = data[:4096]
    declared = _XML_ENCODING.match(head) or _CHARSET.search(head)
    if declared:
        try:
            return codecs.lookup(declared.group(1).decode("ascii")).name
        except LookupError:
            pass
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


def _base(root: Any) -> str | None:
    for base in root.iter("base"):
        href = (base.get("href") or "").strip()
        if urlsplit(href).scheme.lower() in ("http", "https"):
            return href
    return None


def _text(root: Any, anchors: dict[Any, int]) -> str:
    """Visible text, block elements on lines of their own; iterative, as pages can nest very deep.

    The text of each link in `anchors` is marked with its link's index (document.settle_links)."""
    out: list[str] = []
    pre = 0
    numbers: list[int] = []  # the next item number of each open <ol>

    def add(text: str | None) -> None:
        if text:
            text = unmarked(text)
            out.append(text if pre else re.sub(r"\s+", " ", text))

    walker = etree.iterwalk(root, events=("start", "end", "comment", "pi"))
    for event, element in walker:
        tag = element.tag if isinstance(element.tag, str) else ""
        if event in ("comment", "pi"):
            add(element.tail)
        elif event == "start":
            if tag in _DROP:
                walker.skip_subtree()
                continue
            if tag == "ol":
                numbers.append(_int(element.get("start"), 1))
            if tag in _BLOCK:
                out.append("\n")
            if tag == "li" and element.getparent() is not None and element.getparent().tag == "ol" and numbers:
                number = _int(element.get("value"), numbers[-1])
                numbers[-1] = number + 1
                if _NOTE_ID.search(element.get("id") or ""):
                    out.append(f"{number}\n")  # alone on its line, where the text extractor looks for it
            if tag == "br":
                out.append("\n")
            if tag == "pre":
                pre += 1
            if element in anchors:
                out.append(open_mark(anchors[element]))
            add(element.text)
        else:
            if tag == "ol" and numbers:
                numbers.pop()
            if tag == "pre":
                pre -= 1
            if element in anchors:
                out.append(close_mark())
            if tag in _BLOCK:
                out.append("\n")
            elif tag in _CELL:
                out.append("\t")
            add(element.tail)
    lines = [line.strip(" ") for line in "".join(out).replace("\xa0", " ").split("\n")]
    text = "\n".join(re.sub(r" {2,}", " ", line) for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
