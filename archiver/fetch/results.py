"""What a fetch produced: each hop's recorded request and response (`Hop`), and the whole fetch with
its redirect chain and outcome (`FetchResult`).

Plain data over spooled files: the WARC writer and the checker read these without loading the HTTP
stack, so nothing here imports requests or urllib3.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, field
from typing import IO

REDIRECT_STATUSES = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class TlsInfo:
    """Who answered an HTTPS request: the TLS connection's protocol, cipher and the certificates the
    server presented, read once per connection (wire.py) and shared by every hop it carries.

    `chain` is DER, leaf first: the chain as the server sent it when `chain_source` is "sent", the
    leaf alone when it is "leaf" (the TLS stack gave nothing more). `record` is the metadata record's
    block (archiver/evidence/tls.py), built once per connection; `summary` the leaf's fields for the
    database (subject, issuer, validity, sha256)."""

    version: str | None
    cipher: str | None
    chain: tuple[bytes, ...]
    chain_source: str
    record: bytes
    summary: str  # JSON


@dataclass
class Hop:
    """One request and its response: a redirect step, or the final answer."""

    url: str
    started_at: dt.datetime
    request: bytes
    response: IO[bytes]  # status line and headers as received, then the body de-chunked (see wire.py)
    response_length: int
    header_length: int
    status: int
    reason: str
    headers: list[tuple[str, str]]
    ip: str | None  # the peer address actually connected to (WARC-IP-Address)
    block_sha1: str  # hex, over all response bytes as received
    payload_sha1: str  # hex, over the de-chunked body, content-encoding kept
    payload_sha256: str
    payload_size: int
    truncated: str | None = None  # WARC-Truncated reason: length, time, disconnect
    tls: TlsInfo | None = None  # HTTPS: the connection's protocol and certificates

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    @property
    def location(self) -> str | None:
        if self.status in REDIRECT_STATUSES:
            return self.header("Location")
        return None

    def close(self) -> None:
        self.response.close()

    def body(self, limit: int) -> bytes:
        """Up to `limit` bytes of the body decoded from its Content-Encoding, for reading the page.
        A decompression cap (not the wire size) bounds memory: gzip bombs stop at `limit`."""
        self.response.seek(self.header_length)
        raw = self.response.read(limit)
        self.response.seek(0)
        encoding = (self.header("Content-Encoding") or "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            wbits = 47 if encoding != "deflate" else (15 if raw[:1] == b"\x78" else -15)
            try:
                return zlib.decompressobj(wbits).decompress(raw, limit)
            except zlib.error:
                return b""
        return raw


@dataclass
class FetchResult:
    """One fetch of a URL: every hop in order (redirects, then the answer), or the failure word."""

    url: str
    started_at: dt.datetime
    hops: list[Hop] = field(default_factory=list)
    outcome: str = "ok"  # 'ok' when the last hop is an HTTP response, else a FetchFailure word
    error: str | None = None
    attempts: int = 0
    elapsed: float = 0.0

    @property
    def final(self) -> Hop | None:
        return self.hops[-1] if self.hops and self.outcome == "ok" else None

    def close(self) -> None:
        for hop in self.hops:
            hop.close()


__all__ = ["REDIRECT_STATUSES", "FetchResult", "Hop", "TlsInfo"]
