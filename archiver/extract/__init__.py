"""`archiver extract`: cited URLs of papers, with the damage of text extraction repaired."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from .document import Document, Link
from .dois import separate_dois
from .probe import settle_by_probe, settle_offline
from .readers import read_document
from .reconcile import reconcile
from .text import ExtractResult, Found, Invalid, extract_text
from .writer import manifest_yaml

__all__ = ["Document", "ExtractResult", "Found", "Invalid", "Link", "Tally", "extract_papers", "extract_text",
           "manifest_yaml", "read_document", "tally"]

_BAD_ID_CHARS = re.compile(r"[^A-Za-z0-9_.:-]")


def extract_papers(paths: list[Path], *, probe: bool, dois: bool = True, settings: Settings | None = None,
                   on_probe: Callable[[str, bool], None] | None = None,
                   on_notice: Callable[[str], None] | None = None) -> list[ExtractResult]:
    """Citations of every paper, settled by probing (`probe`) or flagged for a person (offline); DOIs
    become DOI citations (`dois`), or are left out. `on_notice` hears what concerns the whole run
    (probing without a network), once."""
    results = [reconcile(read_document(path), source=str(path)) for path in paths]
    for result in results:
        prefix = f"{_BAD_ID_CHARS.sub('_', Path(result.source).stem)}:" if len(results) > 1 else ""
        items: list[Found | Invalid] = [*result.citations, *result.invalid]
        for item in items:
            if item.id is not None:
                item.id = prefix + _BAD_ID_CHARS.sub("_", item.id)[:100 - len(prefix)]
    found = [f for r in results for f in r.citations]
    if probe:
        settle_by_probe(found, settings or Settings(), on_probe, on_notice)
    else:
        for f in found:
            settle_offline(f)
    for result in results:
        _truncated_to_invalid(result)
        separate_dois(result, keep=dois)
    return results


def _truncated_to_invalid(result: ExtractResult) -> None:
    """A URL cut off by the end of the document that nothing completes is not a URL: list it as invalid."""
    keep = []
    for f in result.citations:
        if f.truncated and not f.confirmed and f.url == f.printed_url:
            result.invalid.append(Invalid(f.cited_as or f.url, "truncated at the end of the document", f.id,
                                          f.context))
        else:
            keep.append(f)
    result.citations = keep


@dataclass(frozen=True)
class Tally:
    found: int  # cited URLs
    dois: int  # DOI citations, counted apart
    repaired: int
    suspect: int
    invalid: int
    stripped: int

    @property
    def dropped(self) -> int:
        return self.invalid + self.stripped

    def __str__(self) -> str:
        return (f"found {self.found} URLs, {self.dois} DOIs; repaired {self.repaired}, suspect {self.suspect},"
                f" dropped {self.dropped} ({self.invalid} invalid, listed with the reason;"
                f" {self.stripped} links with empty targets)")


def tally(result: ExtractResult) -> Tally:
    dois = sum(1 for f in result.citations if f.doi)
    return Tally(found=len(result.citations) - dois, dois=dois,
                 repaired=sum(1 for f in result.citations if f.cited_as),
                 suspect=sum(1 for f in result.citations if f.suspect), invalid=len(result.invalid),
                 stripped=result.stripped)
