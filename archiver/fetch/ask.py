"""What a request asks for when it is not a citation's plain GET: the method, headers and body a
browser's page or yt-dlp sends for a sub-resource, and whether redirects are followed.

The fetcher still owns everything else (address rules, politeness, caps, recording): an `Ask` only
shapes the request line, some headers and the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Headers the fetcher sets itself, whatever the asker sent: the connection is ours, the encodings
# must be ones every replay tool decodes (a browser would ask for br and zstd), and the length
# follows from the body.
OWN_HEADERS = frozenset({
    "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade",
    "content-length", "accept-encoding", "trailer", "expect",
})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class Ask:
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()  # as the asker sent them; empty: archiver's own
    body: bytes | None = None
    follow: bool = True  # follow redirects (False: the 3xx is the answer, as a browser wants it)

    @classmethod
    def of(cls, method: str, headers: Mapping[str, str], body: bytes | None = None, follow: bool = True) -> Ask:
        kept = tuple((k, v) for k, v in headers.items() if k.lower() not in OWN_HEADERS and not k.startswith(":"))
        return cls(method.upper(), kept, body or None, follow)

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT

    def request_headers(self, defaults: Mapping[str, str]) -> dict[str, str]:
        """The headers to send: the asker's over archiver's defaults (Accept-Encoding stays ours)."""
        if not self.headers:
            return dict(defaults)
        sent = {k.lower() for k, _ in self.headers}
        out = {k: v for k, v in defaults.items() if k.lower() not in sent or k.lower() in OWN_HEADERS}
        out.update(self.headers)
        return out

    def redirected(self, status: int) -> Ask:
        """The request to send to a redirect's target: 301/302/303 turn a POST into a body-less GET
        (as browsers do); 307/308 repeat it."""
        if status in (301, 302, 303) and self.method not in ("GET", "HEAD"):
            dropped = {"content-type", "content-length"}
            return Ask("GET", tuple((k, v) for k, v in self.headers if k.lower() not in dropped), None, self.follow)
        return self


__all__ = ["IDEMPOTENT", "OWN_HEADERS", "Ask"]
