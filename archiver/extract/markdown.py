"""Markdown papers: link targets, autolinks and reference definitions as links, and the prose they sit in.

A small scanner, not a renderer: it knows what decides where a URL ends in Markdown (the `)` closing an
inline link's destination, the `>` closing an autolink, the end of a reference definition's line, the
backticks around a code span, fenced code blocks) and leaves the rest of the text as typed. Each URL
the syntax delimits is written into the text as `<url>`, where the text extractor takes it as it
stands; bare URLs in the prose end at white space (a Markdown URL never runs on over a line break).
"""

from __future__ import annotations

import bisect
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
        shape = _Shape(text)
        i = 0
        n = len(text)
        while i < n:
            char = text[i]
            if char == "\\" and i + 1 < n and text[i + 1] in _ESCAPABLE:
                out.append(text[i + 1])
                i += 2
            elif char == "`":
                i = self._code_span(text, i, out, shape)
            elif char == "<":
                i = self._angle(text, i, out)
            elif char == "[" or (char == "!" and text.startswith("[", i + 1)):
                i = self._link(text, i, out, depth, shape)
            else:
                out.append(char)
                i += 1
        return "".join(out)

    def _code_span(self, text: str, i: int, out: list[str], shape: _Shape) -> int:
        run = _RUN.match(text, i)
        assert run is not None  # text[i] is a backtick
        if i not in shape.code:
            out.append(run.group())
            return run.end()
        close, after = shape.code[i]
        content = text[run.end():close].replace("\n", " ")
        if content.startswith(" ") and content.endswith(" ") and content.strip():
            content = content[1:-1]
        # The backticks end a URL in a code span; the text extractor never sees them.
        out.append(f"<{content}>" if content and not any(c.isspace() for c in content) and _WEB.match(content)
                   else content)
        return after

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

    def _link(self, text: str, i: int, out: list[str], depth: int, shape: _Shape) -> int:
        """[text](destination "title"), ![alt](image), [text][label], [^note]; or a literal "["."""
        image = text[i] == "!"
        start = i + 2 if image else i + 1
        close = shape.brackets.get(start - 1)
        if close is None or depth >= MAX_NESTING:
            out.append(text[i:start])
            return start
        inner = text[start:close]
        if inner.startswith("^") and not image:
            out.append(inner[1:])  # a footnote mark: its number, as the other readers print it
            return close + 1
        if text.startswith("(", close + 1):
            end = shape.closing_paren(close + 1)
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


_RUN = re.compile(r"`+")
_STRUCTURE = re.compile(r"\\.|`+|[\[\]()]|\n[ \t]*\n", re.DOTALL)
_MAX_TITLE = 2000


class _Shape:
    """Where each code span, "[" and "(" of a text closes, found once for the whole text.

    Looking for each closer from its opener would take time quadratic in the text on a hostile
    file ("[[[[..." with no "]"); one pass with stacks takes linear time."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.code: dict[int, tuple[int, int]] = {}  # opening run -> (closing run start, its end)
        runs = [(m.start(), m.end()) for m in _RUN.finditer(text)]
        by_length: dict[int, list[int]] = {}
        for number, (a, b) in enumerate(runs):
            by_length.setdefault(b - a, []).append(number)
        inside = 0
        for number, (a, b) in enumerate(runs):
            if a < inside:
                continue  # a run inside a code span
            same = by_length[b - a]
            later = bisect.bisect_right(same, number)
            if later < len(same):  # the next run of as many backticks closes it
                closing = runs[same[later]]
                self.code[a] = closing
                inside = closing[1]
        self.brackets: dict[int, int] = {}
        self.parens: dict[int, int] = {}
        brackets: list[int] = []
        parens: list[int] = []
        skip = 0
        for match in _STRUCTURE.finditer(text):
            at, token = match.start(), match.group()
            if at < skip or token.startswith("\\"):
                continue
            if token.startswith("`"):
                skip = self.code[at][1] if at in self.code else skip
            elif token == "[":
                brackets.append(at)
            elif token == "]" and brackets:
                self.brackets[brackets.pop()] = at
            elif token == "(":
                parens.append(at)
            elif token == ")" and parens:
                self.parens[parens.pop()] = at
            elif token.startswith("\n"):  # a blank line ends the paragraph, and any link open in it
                brackets.clear()
                parens.clear()
        self.closers: dict[str, list[int]] = {">": [], ")": [], "\n": []}
        for match in re.finditer(r"[>)\n]", text):
            self.closers[match.group()].append(match.start())

    def closing_paren(self, opening: int) -> int | None:
        """The ")" ending an inline link's "(destination title)" opened at `opening`."""
        text = self.text
        first = opening + 1
        while first < len(text) and text[first] in " \t\n":
            first += 1
        if not text.startswith("<", first):
            return self.parens.get(opening)
        # (<a URL with ) in it> "title"): the ">" ends the destination, on its line.
        gt = self._next(first, ">\n")
        if gt is None or text[gt] != ">":
            return None
        close = self._next(gt, ")")
        if close is None or close - gt > _MAX_TITLE or _TITLE.sub("", text[gt + 1:close]).strip():
            return None
        return close

    def _next(self, after: int, chars: str) -> int | None:
        """The first of `chars` (some of ">", ")", newline) after `after`."""
        found = []
        for char in chars:
            positions = self.closers[char]
            k = bisect.bisect_right(positions, after)
            if k < len(positions):
                found.append(positions[k])
        return min(found) if found else None


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
