"""Markdown papers: link targets, autolinks and reference definitions as links, and the prose they sit in.

A small scanner, not a renderer: it knows what decides where a URL ends in Markdown (the `)` closing an
inline link's destination, the `>` closing an autolink, the end of a reference definition's line, the
backticks around a code span, fenced code blocks) and leaves the rest of the text as typed. Each URL
the syntax delimits is written into the text as `<url>`, where the text extractor takes it as it
stands; bare URLs in the prose end at white space (a Markdown URL never runs on over a line break).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from .document import Document, Link, one_line, read_bytes

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# [label]: destination "optional title" -- the destination ends at white space or at its ">".
_DEFINITION = re.compile(r"^ {0,3}\[(?!\^)((?:[^\[\]\\]|\\.){1,999})\]:[ \t]*(?:<([^<>\n]*)>|(\S+))"
                         r"(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?[ \t]*$")
_FOOTNOTE = re.compile(r"^ {0,3}\[\^([^\]\s]{1,100})\]:[ \t]*")
_ESCAPABLE = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^<>]*?)?)\s*/?>")
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*)>")
_WEB = re.compile(r"^(?:https?://|www\.)", re.IGNORECASE)
_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "hr"}
_TITLE = re.compile(r"""\s+(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\((?:[^()\\]|\\.)*\))\s*$""", re.DOTALL)
_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
MAX_NESTING = 50  # link text inside link text: [![a](b)](c) is two levels; past this it is not a paper


def read_markdown(path: Path) -> Document:
    source = read_bytes(path).decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    scanner = _Scanner()
    return Document("md", scanner.convert(source), scanner.links, scanner.stripped)


class _Scanner:
    def __init__(self) -> None:
        self.links: list[Link] = []
        self.stripped = 0  # links with empty targets: [text](#), [text]()

    def convert(self, source: str) -> str:
        """The document as text: code blocks kept, definitions as `label <url>`, inline markup resolved."""
        out: list[str] = []
        prose: list[str] = []
        fence: str | None = None
        lines = _COMMENT.sub("", source).split("\n")
        for line in lines[:-1] if lines[-1] == "" else lines:
            if fence is not None:
                if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                    fence = None
                else:
                    out.append(line + "\n")
                continue
            opening = _FENCE.match(line)
            definition = _DEFINITION.match(line)
            footnote = _FOOTNOTE.match(line)
            if opening or definition or footnote:
                out.append(self._inline("".join(prose)))
                prose = []
            if opening:
                fence = opening.group(1)
            elif definition:
                label = one_line(_unescape(definition.group(1)))
                out.append(self._target(label, definition.group(2) if definition.group(2) is not None
                                        else definition.group(3)) + "\n")
            elif footnote:
                # As the other readers give footnotes: the number alone on its line, then the note.
                label = footnote.group(1)
                rest = line[footnote.end():]
                prose.append(f"\n{label}\n{rest}\n" if label.isdigit() else rest + "\n")
            else:
                prose.append(line + "\n")
        out.append(self._inline("".join(prose)))
        return "".join(out)

    def _target(self, label: str, destination: str) -> str:
        """`label <url>` for a link destination; the label alone when the target is no web URL."""
        # <https://x.org/a b> is a valid destination; renderers write its spaces as %20.
        url = re.sub(r"\s", lambda m: f"%{ord(m.group()):02X}", _unescape(destination).strip())
        if url in ("", "#"):
            self.stripped += 1
            return label
        if not _WEB.match(url):
            return label  # mailto:, #section, ./relative.md: not citations
        self.links.append(Link(url=url, text=label))
        squeezed = "".join(label.split()).strip("<>")
        if not squeezed or squeezed.rstrip("/") == url.rstrip("/") or _WEB.sub("", squeezed) == _WEB.sub("", url):
            return f"<{url}>"  # [https://x.org](https://x.org): one citation, not two
        return f"{label} <{url}>"

    def _inline(self, text: str, depth: int = 0) -> str:
        out: list[str] = []
        i = 0
        n = len(text)
        while i < n:
            char = text[i]
            if char == "\\" and i + 1 < n and text[i + 1] in _ESCAPABLE:
                out.append(text[i + 1])
                i += 2
            elif char == "`":
                i = self._code_span(text, i, out)
            elif char == "<":
                i = self._angle(text, i, out)
            elif char == "[" or (char == "!" and text.startswith("[", i + 1)):
                i = self._link(text, i, out, depth)
            else:
                out.append(char)
                i += 1
        return "".join(out)

    def _code_span(self, text: str, i: int, out: list[str]) -> int:
        run = len(text) - i - len(text[i:].lstrip("`"))
        close = re.compile(rf"(?<!`){'`' * run}(?!`)").search(text, i + run)
        if close is None:
            out.append(text[i:i + run])
            return i + run
        content = text[i + run:close.start()].replace("\n", " ")
        if content.startswith(" ") and content.endswith(" ") and content.strip():
            content = content[1:-1]
        # The backticks end a URL in a code span; the text extractor never sees them.
        out.append(f"<{content}>" if content and not any(c.isspace() for c in content) and _WEB.match(content)
                   else content)
        return close.end()

    def _angle(self, text: str, i: int, out: list[str]) -> int:
        autolink = _AUTOLINK.match(text, i)
        if autolink:
            url = autolink.group(1)
            if _WEB.match(url):
                self.links.append(Link(url=url, text=url))
                out.append(f"<{url}>")
            else:
                out.append(url)  # <mailto:...>, <irc://...>
            return autolink.end()
        tag = _TAG.match(text, i)
        if tag is None:
            out.append("<")  # <www.example.org/a>, or a lone "<": the text extractor reads it
            return i + 1
        name = tag.group(2).lower()
        href = _HREF.search(tag.group(3)) if name == "a" and not tag.group(1) else None
        if href:
            url = next(g for g in href.groups() if g is not None)
            out.append(" " + self._target("", url) + " ")
        elif name in _BLOCK_TAGS:
            out.append("\n")
        return tag.end()

    def _link(self, text: str, i: int, out: list[str], depth: int) -> int:
        """[text](destination "title"), ![alt](image), [text][label], [^note]; or a literal "["."""
        image = text[i] == "!"
        start = i + 2 if image else i + 1
        close = _closing_bracket(text, start)
        if close is None or depth >= MAX_NESTING:
            out.append(text[i:start])
            return start
        inner = text[start:close]
        if inner.startswith("^") and not image:
            out.append(inner[1:])  # a footnote mark: its number, as the other readers print it
            return close + 1
        if text.startswith("(", close + 1):
            end = _closing_paren(text, close + 2)
            if end is not None:
                label = one_line(self._inline(inner, depth + 1))
                destination = _destination(text[close + 2:end])
                if destination is None:
                    out.append(text[i:start])
                    return start
                if image:
                    out.append(label)  # an embedded image is not a citation; its alt text is prose
                else:
                    out.append(self._target(label, destination))
                return end + 1
        out.append(self._inline(inner, depth + 1))
        return close + 1


def _closing_bracket(text: str, start: int) -> int | None:
    """The "]" closing a "[" at start-1: brackets nest, escapes and code spans do not count."""
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "`":
            run = len(text) - i - len(text[i:].lstrip("`"))
            close = text.find("`" * run, i + run)
            i = close + run if close >= 0 else i + run
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            if depth == 0:
                return i
            depth -= 1
        elif char == "\n" and text.startswith("\n", i + 1):
            return None  # a blank line ends the paragraph, and any link in it
        i += 1
    return None


def _closing_paren(text: str, start: int) -> int | None:
    """The ")" ending an inline link's "(destination title)": parentheses in the URL nest."""
    depth = 0
    i = start
    while i < len(text) and text[i] in " \t\n":
        i += 1
    angle = text.startswith("<", i)
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if angle and char == ">":
            angle = False
        elif angle:
            pass  # (<a URL with ) in it>)
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return i
            depth -= 1
        elif char == "\n" and text.startswith("\n", i + 1):
            return None
        i += 1
    return None


def _destination(inside: str) -> str | None:
    """The destination of `(destination "title")`, or None when the parentheses hold no link."""
    inside = _TITLE.sub("", inside).strip()
    if inside.startswith("<"):
        return inside[1:-1] if inside.endswith(">") and "\n" not in inside else None
    if any(ch.isspace() for ch in inside):
        return None
    return inside


def _unescape(text: str) -> str:
    """Backslash escapes and character references resolved, as CommonMark reads a link destination.

    Only references closed by ";" are references there: `?a=1&not=2` keeps its `&not`, which
    html.unescape alone would turn into "¬" (HTML's legacy names need no ";")."""
    text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)
    return _REFERENCE.sub(lambda m: html.unescape(m.group()), text)
