"""What a response says, as text: its title and main text (boilerplate removed), for HTML and PDF.

Shared by the soft-404 rules (classify.py) and the drift measure (drift.py).
STUB: the real implementation (trafilatura for HTML, pypdfium2 for PDF) replaces the bodies below;
the signatures are the contract.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PageText:
    title: str  # <title> (or PDF title), whitespace collapsed; "" when none
    text: str  # main text with boilerplate removed, paragraphs separated by "\n"; "" when none
    kind: str  # "html", "pdf", "text" or "other"


def page_text(body: bytes, content_type: str | None = None, url: str | None = None) -> PageText:
    """Title and main text of a decoded (Content-Encoding already removed) response body."""
    raw = body.decode("utf-8", "replace")
    title = re.search(r"(?is)<title[^>]*>(.*?)</title>", raw)
    text = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>|<[^>]+>", " ", raw)
    return PageText(title=" ".join(html.unescape(title.group(1)).split()) if title else "",
                    text=" ".join(html.unescape(text).split()), kind="html")
