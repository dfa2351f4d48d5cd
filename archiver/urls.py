"""Validation and canonical form of the URLs archiver fetches."""

from __future__ import annotations

import functools
import re
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

from .errors import InvalidURL

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters RFC 3986 allows unescaped in a path or query, plus '%' so that existing escapes survive.
_SAFE = "!$&'()*+,;=:@/?%~-._"
# Underscores are not legal in host names but real sites use them in subdomains; browsers accept them.
_SPACE = re.compile(r"\s")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


# Runs, reports and the daemon normalise the same URLs over and over; small, so that a big manifest's
# URLs do not all stay here (~0.5 KB each).
@functools.lru_cache(maxsize=4096)
def normalize_url(url: str) -> str:
    """Return the form of `url` that archiver fetches and deduplicates on.

    Lower-cases scheme and host, encodes international host names with IDNA, drops the default
    port and the fragment (never sent to a server), and percent-encodes characters that may not
    appear raw. Raises InvalidURL with the reason when the text is not an absolute http(s) URL.
    """
    text = url.strip()
    if not text:
        raise InvalidURL(url, "empty URL")
    if _SPACE.search(text):
        raise InvalidURL(url, "URL contains white space")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(url, str(exc)) from exc
    scheme = parts.scheme.lower()
    if not scheme:
        raise InvalidURL(url, "no scheme (expected http:// or https://)")
    if scheme not in _DEFAULT_PORTS:
        raise InvalidURL(url, f"unsupported scheme {scheme!r}")
    host = _normalize_host(url, parts)
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username or parts.password:
        raise InvalidURL(url, "credentials in URLs are not archived")
    path = quote(parts.path, safe=_SAFE) or "/"
    query = quote(parts.query, safe=_SAFE)
    return urlunsplit((scheme, netloc, path, query, ""))


def _normalize_host(url: str, parts: SplitResult) -> str:
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidURL(url, "no host name")
    if ":" in host:  # IPv6 literal; urlsplit already checked the brackets
        return f"[{host.lower()}]"
    if "[" in parts.netloc:
        raise InvalidURL(url, f"unsupported IP literal [{host}]")
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InvalidURL(url, f"bad host name {host!r}") from exc
    labels = ascii_host.split(".")
    if not all(_HOST_LABEL.match(label) for label in labels):
        raise InvalidURL(url, f"bad host name {host!r}")
    return ascii_host


def host_of(url: str) -> str:
    """The politeness key of a URL: its host name, without port."""
    return (urlsplit(url).hostname or "").lower()
