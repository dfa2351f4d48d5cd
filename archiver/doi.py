"""DOI names: what one is (`10.NNNN/suffix`), the links that resolve one (doi.org, dx.doi.org) and
the URL archiver fetches for one. Manifests validate `doi:` entries with it; extract recognises DOIs
with it."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

# The DOI Handbook's syntax: the directory indicator 10, a registrant code of dot-separated digits,
# a slash, and a suffix of any printable characters (no white space in practice, nor in a manifest).
_DOI = re.compile(r"^10\.\d{4,9}(?:\.\d+)*/\S+$")
RESOLVER_HOSTS = frozenset({"doi.org", "dx.doi.org", "www.doi.org"})
RESOLVER = "https://doi.org/"
# doi.org reads the DOI from the path: the characters a URL gives meaning to (`%`, `#`, `?`, space,
# quotes, brackets) must be escaped there (the DOI Handbook's encoding rules); `/` and the sub-delims stay.
_PATH_SAFE = "/:;()!$&'*+,=@"


def is_doi(text: str) -> bool:
    """True when `text` is a DOI name as the handbook writes it (no `doi:` or URL prefix)."""
    return _DOI.match(text) is not None


def doi_url(doi: str) -> str:
    """The URL that resolves `doi`, escaped as doi.org expects: what a DOI citation fetches."""
    return RESOLVER + quote(doi, safe=_PATH_SAFE)


def doi_of_url(url: str) -> str | None:
    """The DOI a doi.org / dx.doi.org link resolves (unescaped), or None for any other URL. A shortDOI
    (`https://doi.org/gddkhn`) is not a DOI name: it stays a URL."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or host not in RESOLVER_HOSTS:
        return None
    doi = unquote(parts.path[1:])
    return doi if is_doi(doi) else None


def doi_key(doi: str) -> str:
    """DOI names are case-insensitive (ASCII letters): the form two are compared in."""
    return doi.lower()


__all__ = ["RESOLVER", "RESOLVER_HOSTS", "doi_key", "doi_of_url", "doi_url", "is_doi"]
