"""Robust links in HTML and Markdown, found in the raw text with each format's own syntax.

HTML: every `<a href>` (as the standard library's parser reads the tags: comments, scripts and
styles are not markup) gains the Robust Links attributes `data-originalurl`, `data-versionurl` and
`data-versiondate`, inserted before the tag's `>`. An `<a>` that already has `data-versionurl` is
left as it is.

Markdown: an inline link `[text](url)`, a reference link `[text][label]` / `[label]` whose definition
gives the URL, an autolink `<url>` and a bare URL in prose are each followed by
` ([archived](COPY "DATE"))`; not inside code spans, fenced code blocks or HTML comments, and not after
images. A link already followed by one is left as it is.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from . import ArchivedLink, Edits, Found, Insertion

# --- HTML ------------------------------------------------------------------------------------------


class _Anchors(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.found: list[tuple[str, str, int]] = []  # (href, the raw tag, offset of its closing ">")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a" or any(name == "data-versionurl" for name, _ in attrs):
            return
        href = next((value for name, value in attrs if name == "href" and value and value.strip()), None)
        raw = self.get_starttag_text()
        if href is None or raw is None:
            return
        line, column = self.getpos()
        start = self.line_starts[line - 1] + column
        if self.text[start:start + len(raw)] != raw:  # the parser's position is not the tag's: leave it
            return
        end = start + len(raw)
        self.found.append((href.strip(), raw, end - 2 if raw.endswith("/>") else end - 1))


def html_links(text: str) -> list[Found]:
    parser = _Anchors(text)
    parser.feed(text)
    parser.close()
    return [Found(href, _attributes(href, at)) for href, _, at in parser.found]


def _attributes(href: str, at: int) -> Edits:
    def edits(copy: ArchivedLink) -> list[Insertion]:
        return [Insertion(at, f' data-originalurl="{html.escape(href)}" data-versionurl="{html.escape(copy.url)}"'
                              f' data-versiondate="{copy.stamp}"')]
    return edits


# --- Markdown --------------------------------------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_DEFINITION = re.compile(r"^ {0,3}\[(?!\^)((?:[^\[\]\\]|\\.){1,999})\]:[ \t]*(?:<([^<>\n]*)>|(\S+))"
                         r"(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?[ \t]*$", re.MULTILINE)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_AUTOLINK = re.compile(r"<(https?://[^\s<>]*)>", re.IGNORECASE)
_BARE = re.compile(r"(?<![\w/<(\[\"'=])https?://[^\s<>]+", re.IGNORECASE)
_TAG = re.compile(r"<[A-Za-z/][^<>]*>")
_RUN = re.compile(r"`+")
_TITLE = re.compile(r"""\s+(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\((?:[^()\\]|\\.)*\))\s*$""", re.DOTALL)
_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_WEB = re.compile(r"^https?://", re.IGNORECASE)
MARK = " ([archived]("
_ADDED = re.compile(r' \(\[archived\]\((?:<[^<>\n]*>|\S+) "[^"\n]*"\)\)')  # what a run before inserted


def markdown_links(text: str) -> list[Found]:
    dead = _dead_ranges(text)
    definitions: dict[str, str] = {}
    for match in _DEFINITION.finditer(text):
        if not _inside(dead, match.start()):
            definitions.setdefault(_label(match.group(1)), _unescape(match.group(2) or match.group(3) or ""))
            dead.append((match.start(), match.end()))
    escaped = {m.start() + 1 for m in re.finditer(r"\\.", text)}
    found: list[tuple[int, str]] = []  # (offset after the link, its URL)
    for start, end, url in _bracket_links(text, dead, escaped, definitions):
        dead.append((start, end))
        if url is not None:
            found.append((end, url))
    for match in _AUTOLINK.finditer(text):
        if not _inside(dead, match.start()):
            dead.append((match.start(), match.end()))
            found.append((match.end(), match.group(1)))
    for match in _TAG.finditer(text):  # a URL in an HTML tag's attribute is no bare URL
        dead.append((match.start(), match.end()))
    for match in _BARE.finditer(text):
        if not _inside(dead, match.start()):
            url = _bare_end(match.group())
            found.append((match.start() + len(url), url))
    return [Found(url, _archived_after(end)) for end, url in sorted(found)
            if _WEB.match(url) and not text.startswith(MARK, end)]


def _archived_after(end: int) -> Edits:
    def edits(copy: ArchivedLink) -> list[Insertion]:
        target = f"<{copy.url}>" if re.search(r"[\s()<>]", copy.url) else copy.url
        return [Insertion(end, f'{MARK}{target} "{copy.day}"))')]
    return edits


def _dead_ranges(text: str) -> list[tuple[int, int]]:
    """Where nothing is a link: fenced code blocks, HTML comments, code spans, archived links added before."""
    dead = [(m.start(), m.end()) for m in _COMMENT.finditer(text)]
    dead += [(m.start(), m.end()) for m in _ADDED.finditer(text)]
    fence: str | None = None
    opened = 0
    pos = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                dead.append((opened, pos + len(line)))
                fence = None
        else:
            opening = _FENCE.match(line)
            if opening:
                fence, opened = opening.group(1), pos
        pos += len(line)
    if fence is not None:
        dead.append((opened, len(text)))
    runs = [m for m in _RUN.finditer(text) if not _inside(dead, m.start())]
    used: set[int] = set()
    for number, run in enumerate(runs):  # a run of backticks is closed by the next run as long
        if number in used:
            continue
        closing = next((k for k in range(number + 1, len(runs)) if len(runs[k].group()) == len(run.group())), None)
        if closing is not None:
            used.update(range(number, closing + 1))
            dead.append((run.start(), runs[closing].end()))
    return dead


def _inside(ranges: list[tuple[int, int]], at: int) -> bool:
    return any(start <= at < end for start, end in ranges)


def _bracket_links(text: str, dead: list[tuple[int, int]], escaped: set[int],
                   definitions: dict[str, str]) -> list[tuple[int, int, str | None]]:
    """(start, end, URL or None for an image) of each `[...](...)`, `[...][...]`, `[...]` link."""
    pairs: list[tuple[int, int]] = []
    stack: list[int] = []
    for match in re.finditer(r"[\[\]]|\n[ \t]*\n", text):
        at = match.start()
        if at in escaped or _inside(dead, at):
            continue
        if match.group() == "[":
            stack.append(at)
        elif match.group() == "]" and stack:
            pairs.append((stack.pop(), at))
        elif match.group().startswith("\n"):
            stack.clear()
    links: list[tuple[int, int, str | None]] = []
    for open_at, close in sorted(pairs):
        if any(start <= open_at < end for start, end, url in links if url is not None):
            continue  # a link inside a link's text is no link
        image = open_at > 0 and text[open_at - 1] == "!" and open_at - 1 not in escaped
        start = open_at - 1 if image else open_at
        inner = text[open_at + 1:close]
        if inner.startswith("^"):
            continue  # a footnote mark
        if text.startswith("(", close + 1):
            end = _closing_paren(text, close + 1)
            destination = _destination(text[close + 2:end]) if end is not None else None
            if end is not None and destination is not None:
                links.append((start, end + 1, None if image else destination))
                continue
        reference = re.match(r"\[((?:[^\[\]\\]|\\.)*)\]", text[close + 1:close + 1002])
        label = _label(reference.group(1) if reference and reference.group(1) else inner)
        if label in definitions and not text.startswith(":", close + 1):
            end = close + 1 + (reference.end() if reference else 0)
            links.append((start, end, None if image else definitions[label]))
    return links


def _closing_paren(text: str, opening: int) -> int | None:
    """The ")" closing an inline link's "(destination "title")" that opens at `opening`."""
    depth = 0
    i = opening + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "<" and depth == 0 and not text[opening + 1:i].strip():
            close = text.find(">", i)
            if close == -1 or "\n" in text[i:close]:
                return None
            i = close + 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return i
            depth -= 1
        elif char == "\n" and text[i + 1:i + 2] == "\n":
            return None
        i += 1
    return None


def _destination(inside: str) -> str | None:
    inside = _TITLE.sub("", inside).strip()
    if inside.startswith("<"):
        return _unescape(inside[1:-1]) if inside.endswith(">") else None
    if not inside or any(ch.isspace() for ch in inside):
        return None
    return _unescape(inside)


def _label(text: str) -> str:
    """A reference label as CommonMark matches it: case and white space runs aside."""
    return " ".join(text.split()).casefold()


def _unescape(text: str) -> str:
    text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)
    return _REFERENCE.sub(lambda m: html.unescape(m.group()), text)


def _bare_end(url: str) -> str:
    """A bare URL without the sentence's punctuation after it (GFM's extended autolink rule)."""
    while url:
        last = url[-1]
        if last in ".,;:!?'\"*_~":
            url = url[:-1]
        elif last == ")" and url.count(")") > url.count("("):
            url = url[:-1]
        else:
            break
    return url
