"""What a failed request means: the exception requests, urllib3 or the socket raised, turned into
the `FetchFailure` (errors.py) whose outcome word the run records (dns_error, tls_error, ...,
blocked_address when the address guard refused every address of the host)."""

from __future__ import annotations

import socket

import requests
import urllib3.exceptions

from ..errors import (
    BlockedAddress,
    ConnectionFailure,
    DNSFailure,
    FetchFailure,
    FetchTimeout,
    InvalidURL,
    TLSFailure,
)
from .guard import AddressRefused


def failure_of(url: str, exc: BaseException) -> FetchFailure:
    """Turn a requests/urllib3/socket exception into the failure it means."""
    if isinstance(exc, FetchFailure):
        return exc
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        nxt = getattr(seen, "reason", None) if isinstance(seen, urllib3.exceptions.MaxRetryError) else None
        if nxt is None and seen.args and isinstance(seen.args[0], BaseException):
            nxt = seen.args[0]
        seen = nxt or seen.__cause__ or seen.__context__
    detail = str(chain[-1]) or type(chain[-1]).__name__
    refused = next((item for item in chain if isinstance(item, AddressRefused)), None)
    if refused is not None:  # wrapped by urllib3 as a connection error, but nothing was attempted
        return BlockedAddress(url, refused.reason)
    for item in chain:
        if isinstance(item, (urllib3.exceptions.NameResolutionError, socket.gaierror)):
            return DNSFailure(url, detail)
        if isinstance(item, (requests.exceptions.SSLError, urllib3.exceptions.SSLError)) or (
            type(item).__module__ == "ssl"
        ):
            return TLSFailure(url, detail)
        # urllib3's NewConnectionError subclasses ConnectTimeoutError: a refusal is no timeout.
        if isinstance(item, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError, ConnectionResetError)):
            return ConnectionFailure(url, detail)
        if isinstance(item, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, socket.timeout)):
            return FetchTimeout(url, detail)
        if isinstance(
            item,
            (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
             requests.exceptions.MissingSchema, urllib3.exceptions.LocationParseError, UnicodeError),
        ):
            return InvalidURL(url, detail)
    return ConnectionFailure(url, detail)


__all__ = ["failure_of"]
