"""Wire recording: every request as the bytes sent, every response as the status line and header
lines as received, followed by the body with its Content-Encoding intact.

A chunked body is stored de-chunked, with its `Transfer-Encoding` line renamed
`X-Archive-Orig-Transfer-Encoding`: chunk framing is transport, not content, and readers disagree on
framed bodies (warcio computes and checks payload digests over the framing, warcio issues #74/#75),
while a de-chunked body has one reading. The recording sits on urllib3's connection and http.client's
response file object; a thread-local routes each recording to the fetch that owns the thread, which
warcio's capture_http gets wrong with shared sessions. The body itself is written by the fetcher as
it reads it (`Recording.body`), de-framed.

The same connections dial the resolver override (`settings.resolve`, like curl's --resolve): a listed
host:port is connected at its address, while the name stays the host for the Host header, TLS SNI and
the certificate check, and the peer address recorded (WARC-IP-Address) is the one connected.

Every connection is opened by the address guard (guard.dial): the addresses the fetcher's DNS
pre-check found for the host (handed over with `use_candidates`, so a name is resolved once), else
the override's or a lookup's, each judged by the policy before it is connected. A connection to the
configured proxy is the one exception: the user named that address.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import socket
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import requests.adapters
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions

from ..evidence import tls
from . import guard
from .guard import AddressPolicy, AddressRefused, Candidate
from .results import TlsInfo

SPOOL_IN_MEMORY = 1024 * 1024
_TE_LINE = re.compile(rb"(?im)^([ \t]*)(transfer-encoding[ \t]*:)")


class Recording:
    """Bytes of one request/response exchange, as sent and as received."""

    def __init__(self, spool_dir: Path | None) -> None:
        self.request = bytearray()
        self.response: IO[bytes] = tempfile.SpooledTemporaryFile(
            SPOOL_IN_MEMORY, dir=str(spool_dir) if spool_dir is not None else None
        )
        self.response_length = 0
        self.header_length = 0
        self.block_sha1 = hashlib.sha1()
        self.ip: str | None = None
        self.tls: TlsInfo | None = None  # set by an HTTPS connection when it sends the request
        self.sock: socket.socket | None = None
        self.disk_error: OSError | None = None
        self.aborted = False
        self.finished = False
        self._lock = threading.Lock()

    def reset(self) -> None:
        """A new request on this connection: forget a stale attempt (urllib3 may retry internally)."""
        self.request.clear()
        self.response.seek(0)
        self.response.truncate()
        self.response_length = self.header_length = 0
        self.block_sha1 = hashlib.sha1()

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self.finished:
                return
            self.sock = sock
            aborted = self.aborted
        if self.ip is None:
            try:
                self.ip = str(sock.getpeername()[0])
            except OSError:
                pass
        if aborted:
            self._shutdown(sock)

    def received(self, data: bytes | memoryview) -> None:
        """Bytes of the status line and headers, as http.client consumes them."""
        self._write(data)

    def headers_done(self, chunked: bool) -> None:
        if chunked:
            self.response.seek(0)
            head = _TE_LINE.sub(rb"\1X-Archive-Orig-\2", self.response.read())
            self.response.seek(0)
            self.response.truncate()
            self.response_length = 0
            self.block_sha1 = hashlib.sha1()
            self._write(head)
        self.header_length = self.response_length

    def body(self, data: bytes) -> None:
        self._write(data)

    def _write(self, data: bytes | memoryview) -> None:
        try:
            self.response.write(data)
        except OSError as exc:  # disk full: not the server's fault, so it must not look like one
            self.disk_error = exc
            raise
        self.block_sha1.update(data)
        self.response_length += len(data)

    def finish(self) -> bool:
        """The exchange is over: from now on the socket may go back to the pool, so it must never
        be cut. Returns whether it was cut before that (decided under the same lock as abort)."""
        with self._lock:
            self.finished = True
            self.sock = None
            return self.aborted

    def abort(self) -> None:
        """Called from the watchdog thread when the fetch's total time is up."""
        with self._lock:
            if self.finished:
                return
            self.aborted = True
            if self.sock is not None:
                self._shutdown(self.sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        try:
            # The base-class method: SSLSocket.shutdown would also drop its SSL object under the
            # feet of the thread blocked in recv.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.response.close()


_local = threading.local()


def _current() -> Recording | None:
    if getattr(_local, "suspended", False):
        return None
    return getattr(_local, "recording", None)


def use_recording(recording: Recording | None) -> None:
    """Route what this thread's connections send and receive to `recording` (None: to nothing)."""
    _local.recording = recording


def use_candidates(host: str, port: int, candidates: list[Candidate] | None) -> None:
    """The addresses this thread's next new connection to host:port dials (the DNS pre-check's answer,
    so the name is not resolved a second time); None: none handed over."""
    _local.candidates = None if candidates is None else (_key(host), port, candidates)


def _handed(host: str, port: int) -> list[Candidate] | None:
    handed = getattr(_local, "candidates", None)
    if handed is not None and handed[0] == _key(host) and handed[1] == port:
        return list(handed[2])
    return None


def _key(host: str) -> str:
    return host.lower().rstrip(".").strip("[]")


class _TeeReader:
    """Wraps http.client's buffered socket file so every byte it consumes is also recorded."""

    def __init__(self, fp: Any, recording: Recording) -> None:
        self._fp = fp
        self._rec = recording

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._fp.read(n)
        self._rec.received(data)
        return data

    def read1(self, n: int = -1) -> bytes:
        data: bytes = self._fp.read1(n)
        self._rec.received(data)
        return data

    def readline(self, limit: int = -1) -> bytes:
        data: bytes = self._fp.readline(limit)
        self._rec.received(data)
        return data

    def readinto(self, buffer: Any) -> int:
        n: int = self._fp.readinto(buffer)
        self._rec.received(memoryview(buffer)[:n])
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fp, name)

    def unwrap(self) -> Any:
        return self._fp


class _RecordingResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        recording = _current()
        self._recording = recording
        if recording is not None:
            recording.attach(sock)
            self.fp = _TeeReader(self.fp, recording)  # type: ignore[assignment]  # duck-typed BufferedReader

    def begin(self) -> None:
        super().begin()
        if self._recording is not None:
            self._recording.headers_done(bool(self.chunked))
            if isinstance(self.fp, _TeeReader):
                # The fetcher records the body de-framed (Recording.body): stop teeing every read.
                self.fp = self.fp.unwrap()


_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


def _quick_ack(sock: socket.socket | None) -> None:
    """ACK the answer to what was just sent at once, as on a fresh connection. A keep-alive connection
    that sends a request right after a response puts Linux's delayed ACK in its interactive mode, where
    the ACK of the response's first segment waits up to 40 ms for data to ride on; a server with Nagle's
    algorithm on (Python's http.server, many small sites) writes headers and body separately and holds
    the body until that ACK comes. Not sticky: the kernel decides again at the next send."""
    if sock is not None and _TCP_QUICKACK is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
        except OSError:
            pass


class _RecordingHTTPConnection(urllib3.connection.HTTPConnection):
    response_class = _RecordingResponse
    # From the resolver override (config.resolve_map), set by the pool: the addresses and ports to dial
    # instead of asking DNS. The name stays the host for the Host header, SNI and certificate checks.
    connect_to: tuple[tuple[str, int], ...] | None = None
    # Set by the pool; the class default refuses every non-public address.
    policy: AddressPolicy = AddressPolicy()

    def _new_conn(self) -> socket.socket:
        """Connect through the address guard (urllib3's own would resolve and connect unchecked)."""
        port = self.port or self.default_port
        # A connection that carries `proxy` goes to the proxy, whose address the user configured.
        policy = None if self.proxy is not None else self.policy
        timeout = self.timeout if isinstance(self.timeout, (int, float)) else None
        try:
            if self.connect_to is not None:
                candidates = [c for address, at in self.connect_to for c in guard.numeric(address, at)]
            else:
                candidates = _handed(self._dns_host, port) or guard.resolve(self._dns_host, port)
            sock = guard.dial(candidates, policy, timeout=timeout, source_address=self.source_address,
                              socket_options=self.socket_options or ())
        except socket.gaierror as exc:
            raise urllib3.exceptions.NameResolutionError(self.host, self, exc) from exc
        except AddressRefused as exc:
            raise urllib3.exceptions.NewConnectionError(self, f"Refused to connect to {self.host}: {exc}") from exc
        except TimeoutError as exc:
            raise urllib3.exceptions.ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from exc
        except OSError as exc:
            raise urllib3.exceptions.NewConnectionError(
                self, f"Failed to establish a new connection: {exc}"
            ) from exc
        sys.audit("http.client.connect", self, self.host, port)
        return sock

    def putrequest(self, *args: Any, **kwargs: Any) -> None:
        recording = _current()
        if recording is not None:
            recording.reset()
        super().putrequest(*args, **kwargs)

    def send(self, data: Any) -> None:
        super().send(data)
        _quick_ack(self.sock)
        recording = _current()
        if recording is not None:
            recording.attach(self.sock)
            if isinstance(data, (bytes, bytearray, memoryview)):
                recording.request += data

    def _tunnel(self) -> None:
        # The CONNECT exchange with a proxy is not part of the archived request.
        _local.suspended = True
        try:
            super()._tunnel()
        finally:
            _local.suspended = False


class _RecordingHTTPSConnection(_RecordingHTTPConnection, urllib3.connection.HTTPSConnection):
    # The TLS facts of the socket they were read from: once per connection, whatever it carries.
    _tls: tuple[object, TlsInfo | None] | None = None

    def send(self, data: Any) -> None:
        super().send(data)
        recording = _current()
        if recording is not None and self.sock is not None:
            cached = self._tls
            if cached is None or cached[0] is not self.sock:
                cached = self._tls = (self.sock, tls.read(self.sock))
            recording.tls = cached[1]


Addresses = Mapping[tuple[str, int], tuple[tuple[str, int], ...]]


def _aim(conn: _RecordingHTTPConnection, addresses: Addresses, policy: AddressPolicy) -> None:
    """Give a new connection the guard's policy and its override addresses, if its host:port has some
    (the proxy's, when the connection goes to a proxy: the proxy resolves the names it is asked for)."""
    conn.policy = policy
    if addresses:
        conn.connect_to = addresses.get((_key(conn.host), conn.port or conn.default_port))


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _RecordingHTTPConnection
    addresses: Addresses = {}
    policy: AddressPolicy = AddressPolicy()

    def _new_conn(self) -> _RecordingHTTPConnection:
        conn = super()._new_conn()
        assert isinstance(conn, _RecordingHTTPConnection)  # ConnectionCls
        _aim(conn, self.addresses, self.policy)
        return conn


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _RecordingHTTPSConnection
    addresses: Addresses = {}
    policy: AddressPolicy = AddressPolicy()

    def _new_conn(self) -> _RecordingHTTPSConnection:
        conn = super()._new_conn()
        assert isinstance(conn, _RecordingHTTPSConnection)  # ConnectionCls
        _aim(conn, self.addresses, self.policy)
        return conn


def _pool_classes(addresses: Addresses, policy: AddressPolicy
                  ) -> dict[str, type[urllib3.connectionpool.HTTPConnectionPool]]:
    """Pool classes that know the override and the policy: urllib3 builds pools itself, so they ride
    on the class."""
    attributes = {"addresses": addresses, "policy": policy}
    return {"http": type("HTTPPool", (_HTTPPool,), attributes), "https": type("HTTPSPool", (_HTTPSPool,), attributes)}


class RecordingAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter on recording connections, dialling through the address guard under `policy`
    (default: public addresses only) and the override's addresses where a host:port has some."""

    def __init__(self, *args: Any, addresses: Addresses | None = None, policy: AddressPolicy | None = None,
                 **kwargs: Any) -> None:
        # Before super(): it builds the pool manager.
        self._pool_classes = _pool_classes(addresses or {}, policy or AddressPolicy())
        super().__init__(*args, **kwargs)
        self._pool_keys: dict[tuple[str, str, bool | str, Any], tuple[Mapping[str, Any], Mapping[str, Any]]] = {}

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
        # requests stats the CA bundle path on every request; on sandboxed kernels that costs more
        # than the request. The answer only depends on scheme, host and the TLS settings.
        parts = urlsplit(request.url)
        key = (parts.scheme, parts.netloc, verify, cert)
        cached = self._pool_keys.get(key)
        if cached is None:
            cached = self._pool_keys[key] = super().build_connection_pool_key_attributes(request, verify, cert)
        return dict(cached[0]), dict(cached[1])

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = self._pool_classes
        return manager


__all__ = ["SPOOL_IN_MEMORY", "Addresses", "Recording", "RecordingAdapter", "use_candidates", "use_recording"]
