"""Which pages `--capture auto` renders in the browser: HTML that a plain GET keeps as an empty shell.

A known platform (platforms.py: X, Instagram, Telegram, YouTube, Facebook, Dropbox), or a page whose
visible text is tiny while it loads scripts (the shell of a single-page app), or one that says it
needs JavaScript. Everything else stays an HTTP capture: rendering costs a browser and seconds a page.
"""

from __future__ import annotations

import re

from ..fetch.results import FetchResult
from ..platforms import JS_SHELL, platform_for

HTML_TYPES = ("text/html", "application/xhtml+xml")
READ_LIMIT = 2 * 1024 * 1024  # of the body, decoded: a shell is small, an article's text comes early
TINY_TEXT = 200  # visible characters below which a page that runs scripts is a shell
SHORT_TEXT = 1000  # visible characters below which "enable JavaScript" means the page is missing
HEAVY_INLINE = 2000  # characters of inline script that make a page script-driven without <script src>
_HIDDEN = re.compile(rb"<(script|style|noscript|template|svg)\b[^>]*>.*?</\1\s*>", re.S | re.I)
_CODE = re.compile(rb"<(script|style)\b[^>]*>.*?</\1\s*>", re.S | re.I)
_SCRIPT = re.compile(rb"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_TAG = re.compile(rb"<[^>]*>")
_COMMENT = re.compile(rb"<!--.*?-->", re.S)


def is_html(result: FetchResult) -> bool:
    final = result.final
    if final is None:
        return False
    ctype = (final.header("Content-Type") or "").split(";")[0].strip().lower()
    return ctype in HTML_TYPES


def why_render(result: FetchResult) -> str | None:
    """Why this fetch's page needs the browser (one line), or None when the HTTP capture is the page."""
    final = result.final
    if final is None or not 200 <= final.status < 300 or not is_html(result):
        return None
    platform = platform_for(final.url) or platform_for(result.url)
    if platform is not None:
        return f"{platform.name} renders its pages with JavaScript"
    return shell_reason(final.body(READ_LIMIT))


def shell_reason(html: bytes) -> str | None:
    """Why an HTML page looks like a JavaScript shell, or None. A tag-stripping read, not a parse:
    it runs on every HTML page of an auto run, and only has to tell text from no text."""
    scripts = _SCRIPT.findall(html)
    external = sum(1 for attrs, _ in scripts if b"src" in attrs.lower())
    inline = sum(len(body) for attrs, body in scripts if b"json" not in attrs.lower())
    if not (external or inline):  # before the text: on a 100 KB page it took 2.8 ms, 2/3 of a run's CPU
        return None
    html = _COMMENT.sub(b" ", html)
    text = _visible(_HIDDEN.sub(b" ", html))
    if len(text) < SHORT_TEXT and JS_SHELL.search(_visible(_CODE.sub(b" ", html)).lower()):
        return "the page says it needs JavaScript"
    if len(text) < TINY_TEXT and (external or inline >= HEAVY_INLINE):
        return f"{len(text)} characters of visible text while it loads scripts"
    return None


def _visible(html: bytes) -> str:
    # split() and \s are the same whitespace (str.isspace); join(split()) is 3x faster than a sub and strip
    return " ".join(_TAG.sub(b" ", html).decode("utf-8", "replace").split())


__all__ = ["HTML_TYPES", "is_html", "shell_reason", "why_render"]
