"""DOIs as citations of their own kind, for every format in one place after the readers.

Readers report what a document holds: doi.org links (hyperlinks, annotations, `\\doi`, BibTeX `doi`
fields as links) and text with `doi: 10.1000/xyz` printed in it. Two steps turn them into DOI
citations: before the text is searched, a printed `doi:` prefix is spelled as its doi.org link, so
the text finder decides where the DOI ends (and joins one wrapped across lines) as it does for any
URL; after the citations are settled, every citation whose URL resolves a DOI becomes a DOI citation
(`Found.doi`), written `doi:` in the manifest and counted apart from cited URLs.
"""

from __future__ import annotations

import re

from ..doi import RESOLVER, doi_key, doi_of_url, doi_url
from ..urls import normalize_url
from .text import ExtractResult, Found

# `doi:10.1000/xyz`, `DOI: 10.1000/xyz`, `DOI 10.1000/xyz` as reference styles print them; the word
# must stand on its own (not `.../doi:10...` inside a URL, not `10.1000/doi` inside a DOI). The DOI
# runs to white space or markup (`]` of a Markdown link text, quotes, angle brackets).
_PRINTED = re.compile(r"(?<![^\s(\[{<>,;\"'“‘—–])doi\s*:?\s*(10\.\d{4,9}(?:\.\d+)*/[^\s\]\"<>]+)", re.IGNORECASE)


def spell_out_prefixes(text: str) -> str:
    """`doi: 10.1000/xyz` becomes `https://doi.org/10.1000/xyz`: a URL the text finder finds, and
    ends (trailing punctuation) or joins (wrapped across lines) as any other."""
    # In a DOI, `#` and `?` are characters of the name; in the URL they would start a fragment or query.
    return _PRINTED.sub(lambda m: RESOLVER + m.group(1).replace("#", "%23").replace("?", "%3F"), text)


def separate_dois(result: ExtractResult, *, keep: bool) -> None:
    """Mark every citation of a DOI as a DOI citation (or drop it: `keep` false, `--no-doi`).

    One DOI cited twice under the same id is one citation, as one URL is: a reference printed as
    `doi:10.1/x` with a link to https://doi.org/10.1/x, or a BibTeX entry whose `url` is its DOI's link.
    """
    kept: list[Found] = []
    seen: set[tuple[str, str | None]] = set()
    for found in result.citations:
        doi = found.doi or doi_of_url(found.url)
        if doi is None:
            kept.append(found)
            continue
        if not keep or (doi_key(doi), found.id) in seen:
            continue
        seen.add((doi_key(doi), found.id))
        found.doi = doi
        found.url = normalize_url(doi_url(doi))
        if found.cited_as is not None and doi_key(_printed_doi(found.cited_as)) == doi_key(doi):
            found.cited_as = None  # printed as another link to the same DOI: the DOI says it all
        kept.append(found)
    result.citations = kept


def _printed_doi(printed: str) -> str:
    return doi_of_url(printed) or doi_of_url(f"https://{printed}") or ""


__all__ = ["separate_dois", "spell_out_prefixes"]
