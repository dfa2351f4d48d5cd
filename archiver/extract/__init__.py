"""`archiver extract`: cited URLs of papers, with the damage of text extraction repaired."""

from __future__ import annotations

from .text import ExtractResult, Found, Invalid, extract_text

__all__ = ["ExtractResult", "Found", "Invalid", "extract_text"]
