"""HTTP fetching: the only module that imports requests.

Every request is recorded as the bytes sent, and every response as the status line and header lines
as received, followed by the body with its Content-Encoding intact. A chunked body is stored
de-chunked, with its `Transfer-Encoding` line renamed `X-Archive-Orig-Transfer-Encoding`: chunk
framing is transport, not content, and readers disagree on framed bodies (warcio computes and checks
payload digests over the framing, warcio issues #74/#75), while a de-chunked body has one reading.
The recording sits on urllib3's connection and http.client's response file object; a thread-local
routes each recording to the fetch that owns the thread, which warcio's capture_http gets wrong with
shared sessions.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import heapq
import http.client
import os
import random
import re
import socket
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from ipaddress import ip_address
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar

from .config import Settings
from .errors import (
    ConnectionFailure,
    DNSFailure,
    FetchFailure,
    FetchTimeout,
    Interrupted,
    InvalidURL,
    StorageError,
    TLSFailure,
    TooManyRedirects,
)
from .politeness import HostGate
from .urls import host_of, normalize_url

CHUNK = 256 * 1024  # most pages arrive in one read
SPOOL_IN_MEMORY = 1024 * 1024
RETRY_STATUSES = {408, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524}
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
# Only encodings every replay tool can decode; a stored body keeps its Content-Encoding as sent.
ACCEPT_ENCODING = "gzip, deflate"
_TE_LINE = re.compile(rb"(?im)^([ \t]*)(transfer-encoding[ \t]*:)")
REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Encoding": ACCEPT_ENCODING,
    "Accept-Language": "en;q=0.9, *;q=0.5",
}


# ----------------------------------------------------------------------------------------------
# Wire recording


class _Recording:
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


def _current() -> _Recording | None:
    if getattr(_local, "suspended", False):
        return None
    return getattr(_local, "recording", None)


class _TeeReader:
    """Wraps http.client's buffered socket file so every byte it consumes is also recorded."""

    def __init__(self, fp: Any, recording: _Recording) -> None:
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
                # The body is recorded de-framed by Fetcher._read_body: stop teeing every read.
                self.fp = self.fp.unwrap()


class _RecordingMixin:
    sock: socket.socket | None
    response_class: type[http.client.HTTPResponse] = _RecordingResponse

    def putrequest(self, *args: Any, **kwargs: Any) -> None:
        recording = _current()
        if recording is not None:
            recording.reset()
        super().putrequest(*args, **kwargs)  # type: ignore[misc]  # mixin: the HTTPConnection base has it

    def send(self, data: Any) -> None:
        super().send(data)  # type: ignore[misc]  # mixin: the HTTPConnection base has it
        recording = _current()
        if recording is not None:
            recording.attach(self.sock)
            if isinstance(data, (bytes, bytearray, memoryview)):
                recording.request += data

    def _tunnel(self) -> None:
        # The CONNECT exchange with a proxy is not part of the archived request.
        _local.suspended = True
        try:
            super()._tunnel()  # type: ignore[misc]  # mixin: the HTTPConnection base has it
        finally:
            _local.suspended = False


class _RecordingHTTPConnection(_RecordingMixin, urllib3.connection.HTTPConnection):
    pass


class _RecordingHTTPSConnection(_RecordingMixin, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _RecordingHTTPConnection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _RecordingHTTPSConnection


_POOL_CLASSES = {"http": _HTTPPool, "https": _HTTPSPool}


class _RecordingAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
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
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager


# ----------------------------------------------------------------------------------------------
# Results


@dataclass
class Hop:
    """One request and its response: a redirect step, or the final answer."""

    url: str
    started_at: dt.datetime
    request: bytes
    response: IO[bytes]  # status line and headers as received, then the body de-chunked (see top)
    response_length: int
    header_length: int
    status: int
    reason: str
    headers: list[tuple[str, str]]
    ip: str | None
    block_sha1: str  # hex, over all response bytes as received
    payload_sha1: str  # hex, over the de-chunked body, content-encoding kept
    payload_sha256: str
    payload_size: int
    truncated: str | None = None  # WARC-Truncated reason: length, time, disconnect

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


# ----------------------------------------------------------------------------------------------
# Deadlines


class _Watchdog:
    """Cuts the socket of a fetch whose total time is up: read timeouts alone never end a server
    that drips one byte a second."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, _Recording]] = []
        self._cond = threading.Condition()
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, deadline: float, recording: _Recording) -> None:
        with self._cond:
            self._seq += 1
            earliest = not self._heap or deadline < self._heap[0][0]
            heapq.heappush(self._heap, (deadline, self._seq, recording))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="archiver-watchdog", daemon=True)
                self._thread.start()
            if earliest:  # the watchdog sleeps until the earliest deadline; only a new one wakes it
                self._cond.notify()

    def close(self) -> None:
        """End the thread: a daemon builds a Fetcher per job run, and must not keep one per run."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, _, recording = self._heap[0]
                wait = deadline - self.clock()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                recording.abort()


# ----------------------------------------------------------------------------------------------
# Fetcher


def _ca_bundle(env: Mapping[str, str]) -> str | bool:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        if env.get(name):
            return env[name]
    if env.get("SSL_CERT_DIR"):
        return env["SSL_CERT_DIR"]
    return True


def _retry_after(value: str | None, now: dt.datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - now).total_seconds(), 0.0)


def classify(url: str, exc: BaseException) -> FetchFailure:
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


class Fetcher:
    """Fetches URLs politely; thread-safe, one session and connection pool shared by all workers.
    Proxy and CA settings are read from the environment when it is built."""

    def __init__(
        self,
        settings: Settings,
        gate: HostGate[Any],
        *,
        spool_dir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self.gate = gate
        self.spool_dir = spool_dir
        self.clock = clock
        self.now = now
        self.verify = _ca_bundle(os.environ)
        self._session = self._new_session()
        self._watchdog = _Watchdog(clock)
        self._dns_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="archiver-dns")
        self._dns_cache: dict[tuple[str, int], FetchFailure | None] = {}
        self._dns_lock = threading.Lock()
        self._proxy_cache: dict[tuple[str, str], dict[str, str]] = {}
        self.stopping = threading.Event()
        self._active: set[_Recording] = set()
        self._active_lock = threading.Lock()

    def stop(self) -> None:
        """Interrupt: cut every fetch in flight so workers return at once."""
        self.stopping.set()
        with self._active_lock:
            active = list(self._active)
        for recording in active:
            recording.abort()

    def close(self) -> None:
        self._watchdog.close()
        self._dns_pool.shutdown(wait=False, cancel_futures=True)
        self._session.close()

    def _new_session(self) -> requests.Session:
        """One session and connection pool for all workers: a host's keep-alive connection is
        reused whichever worker fetches from it next (with per_host 1, one connection per host)."""
        session = requests.Session()
        adapter = _RecordingAdapter(pool_connections=256, pool_maxsize=self.settings.per_host, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # Cookies live for one fetch only (see fetch): sharing them across citations would make
        # one capture depend on another.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        session.headers.clear()
        # Proxies and CA bundles are looked up by us, once (see _send, _proxies); ~/.netrc
        # credentials must never be sent to cited sites.
        session.trust_env = False
        return session

    # -- DNS ------------------------------------------------------------------------------------

    def _check_dns(self, url: str, remaining: float) -> None:
        """Resolve the host with a time limit: getaddrinfo itself has none, and a dead resolver
        would otherwise hang the run. Skipped when a proxy resolves for us."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            ip_address(host)
            return
        except ValueError:
            pass
        if self._proxies(url):
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        key = (host, port)
        with self._dns_lock:
            if key in self._dns_cache:
                failure = self._dns_cache[key]
                if failure is not None:
                    raise DNSFailure(url, failure.detail)
                return
        future = self._dns_pool.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
        failure = None
        try:
            future.result(timeout=max(min(self.settings.connect_timeout, remaining), 0.1))
        except FutureTimeout:
            failure = DNSFailure(url, f"resolving {host} timed out")
        except (OSError, UnicodeError) as exc:
            failure = DNSFailure(url, f"cannot resolve {host}: {exc}")
        if future.done():  # an answer (name or error) holds for the run; a slow resolver may recover
            with self._dns_lock:
                self._dns_cache[key] = failure
        if failure is not None:
            raise failure

    # -- one request ----------------------------------------------------------------------------

    def _request(self, url: str, cookies: RequestsCookieJar, deadline: float) -> Hop:
        """One GET of `url`, body streamed into the spool. Raises FetchFailure when no response."""
        recording = _Recording(self.spool_dir)
        started_at = self.now()
        _local.recording = recording
        self._watchdog.watch(deadline, recording)
        with self._active_lock:
            self._active.add(recording)
        response = None
        try:
            if self.stopping.is_set():
                raise Interrupted(f"{url}: not started, interrupted")
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise FetchTimeout(url, "total time cap reached")
            timeout = (min(self.settings.connect_timeout, remaining), min(self.settings.timeout, remaining))
            try:
                response = self._send(url, cookies, timeout)
            except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError,
                    http.client.HTTPException, ValueError) as exc:
                self._raise_if_ours(recording, url, exc)
                if recording.aborted:
                    raise FetchTimeout(url, f"no response within the {self.settings.total_timeout:g} s cap") from exc
                raise classify(url, exc) from exc
            if recording.aborted:
                # http.client takes EOF for the end of the headers, so a cut mid-header looks whole.
                response.raw.close()
                raise FetchTimeout(url, f"headers not complete within the {self.settings.total_timeout:g} s cap")
            sha1, sha256, size, truncated = self._read_body(response, recording, deadline)
            # requests-stubs leave extract_cookies_to_jar unannotated.
            extract_cookies_to_jar(cookies, response.request, response.raw)  # type: ignore[no-untyped-call]
            return Hop(
                url=url,
                started_at=started_at,
                request=bytes(recording.request),
                response=recording.response,
                response_length=recording.response_length,
                header_length=recording.header_length,
                status=response.status_code,
                reason=str(response.reason or ""),
                headers=list(response.raw.headers.items()),
                ip=recording.ip,
                block_sha1=recording.block_sha1.hexdigest(),
                payload_sha1=sha1,
                payload_sha256=sha256,
                payload_size=size,
                truncated=truncated,
            )
        except BaseException:
            recording.close()
            if response is not None:
                response.raw.close()
            raise
        finally:
            _local.recording = None
            recording.finish()
            with self._active_lock:
                self._active.discard(recording)

    def _send(self, url: str, cookies: RequestsCookieJar, timeout: tuple[float, float]) -> requests.Response:
        """Send one GET through the adapter directly: Session.send would read (and decode) the
        body of a redirect before we could record it."""
        session = self._session
        request = session.prepare_request(requests.Request("GET", url, headers=REQUEST_HEADERS | {
            "User-Agent": self.settings.user_agent}, cookies=cookies if len(cookies) else None))
        adapter = session.get_adapter(url)
        return adapter.send(request, stream=True, timeout=timeout, verify=self.verify, proxies=self._proxies(url))

    def _proxies(self, url: str) -> dict[str, str]:
        """HTTP(S)_PROXY / NO_PROXY as requests reads them, looked up once per scheme and host."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        proxies = self._proxy_cache.get(key)
        if proxies is None:
            no_proxy = os.environ.get("NO_PROXY", os.environ.get("no_proxy"))
            proxies = self._proxy_cache[key] = requests.utils.get_environ_proxies(url, no_proxy=no_proxy)
        return proxies

    def _raise_if_ours(self, recording: _Recording, url: str, exc: BaseException) -> None:
        """A full disk and Ctrl-C surface as I/O errors inside the HTTP stack too: they are not
        the server's doing, so they leave as what they are, never as a fetch outcome."""
        if recording.disk_error is not None:
            raise StorageError(f"cannot spool {url}: {recording.disk_error}") from exc
        if self.stopping.is_set():
            raise Interrupted(f"{url}: abandoned on interrupt") from exc

    def _read_body(
        self, response: requests.Response, recording: _Recording, deadline: float
    ) -> tuple[str, str, int, str | None]:
        sha1, sha256, size = hashlib.sha1(), hashlib.sha256(), 0
        truncated = None
        raw = response.raw
        try:
            for chunk in raw.stream(CHUNK, decode_content=False):
                over = size + len(chunk) - self.settings.max_size
                if over > 0:
                    chunk = chunk[: len(chunk) - over]
                recording.body(chunk)
                sha1.update(chunk)
                sha256.update(chunk)
                size += len(chunk)
                if over > 0:
                    truncated = "length"
                    break
                if self.stopping.is_set():
                    raise Interrupted(f"{response.url}: abandoned on interrupt")
                if self.clock() >= deadline:
                    truncated = "time"
                    break
        except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, OSError,
                http.client.HTTPException, ValueError) as exc:
            self._raise_if_ours(recording, response.url, exc)
            timed_out = recording.aborted or isinstance(exc, (urllib3.exceptions.ReadTimeoutError, socket.timeout))
            truncated = "time" if timed_out else "disconnect"
        if recording.finish() and not truncated:
            truncated = "time"  # a body without a length ends at EOF, which the cut also produces
        if truncated:
            raw.close()  # the connection is mid-body: never hand it back to the pool
        else:
            raw.release_conn()
        return sha1.hexdigest(), sha256.hexdigest(), size, truncated

    def _attempts(self, url: str, deadline: float, held: bool, cookies: RequestsCookieJar) -> tuple[Hop, int]:
        """GET with retries on 408/429/5xx and timeouts, honouring Retry-After within the caps.
        `held`: the caller already holds this host's politeness slot for the first attempt."""
        host = host_of(url)
        attempt = 0
        while True:
            attempt += 1
            if not held and not self.gate.acquire(host, timeout=max(deadline - self.clock(), 0)):
                if self.gate.closed:
                    raise Interrupted(f"{url}: abandoned on interrupt")
                raise FetchTimeout(url, f"waited past the {self.settings.total_timeout:g} s cap for a turn at {host}")
            held = False
            hop: Hop | None = None
            failure: FetchFailure | None = None
            try:
                hop = self._request(url, cookies, deadline)
            except FetchFailure as exc:
                failure = exc
            finally:
                self.gate.release(host)
            if hop is not None:
                retryable = hop.status in RETRY_STATUSES and not hop.truncated
            else:
                retryable = isinstance(failure, FetchTimeout)
            wait = self.settings.backoff * (2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
            if hop is not None and hop.status in (429, 503):
                asked = _retry_after(hop.header("Retry-After"), self.now())
                if asked is not None:
                    wait = asked
                    retryable = retryable and asked <= self.settings.max_retry_after
            if (not retryable or attempt > self.settings.retries or self.stopping.is_set()
                    or self.clock() + wait >= deadline):
                if failure is not None:
                    raise failure
                assert hop is not None
                return hop, attempt
            if hop is not None:
                hop.close()
            if self.stopping.wait(wait):  # Ctrl-C must not wait out a long Retry-After
                raise Interrupted(f"{url}: abandoned on interrupt")

    def fetch(self, url: str, *, host_slot_held: bool = False) -> FetchResult:
        """Fetch `url`, following redirects hop by hop. Transport failures are in the result;
        with `host_slot_held`, the caller holds the politeness slot of the URL's host."""
        result = FetchResult(url=url, started_at=self.now())
        start = self.clock()
        deadline = start + self.settings.total_timeout
        cookies = RequestsCookieJar()  # per fetch: a capture must not depend on another
        visits: dict[str, int] = {}
        held_host: str | None = None
        try:
            current = normalize_url(url)
            held_host = host_of(current) if host_slot_held else None
            for _ in range(self.settings.max_redirects + 1):
                # A second visit can be legitimate (a site that sets a cookie and redirects back to
                # itself); a third means a loop.
                visits[current] = visits.get(current, 0) + 1
                if visits[current] > 2:
                    raise TooManyRedirects(url, f"redirect loop at {current}")
                self._check_dns(current, deadline - self.clock())
                held = held_host is not None
                held_host = None  # _attempts releases it from here on
                hop, attempts = self._attempts(current, deadline, held, cookies)
                result.attempts += attempts
                result.hops.append(hop)
                if hop.location is None or hop.truncated:
                    break
                try:
                    # Browsers send spaces in a Location as %20; so do we.
                    current = normalize_url(urljoin(current, hop.location.strip().replace(" ", "%20")))
                except (InvalidURL, ValueError) as exc:
                    # The redirect itself was received and is archived: it is the capture.
                    detail = exc.detail if isinstance(exc, InvalidURL) else str(exc)
                    result.error = f"redirect not followed: Location {hop.location!r}: {detail}"
                    break
            else:
                raise TooManyRedirects(url, f"more than {self.settings.max_redirects} redirects")
        except FetchFailure as exc:
            result.outcome = exc.outcome
            result.error = exc.detail
        except BaseException:
            result.close()
            raise
        finally:
            if held_host is not None:  # no request was sent (bad URL, DNS): no pause is owed
                self.gate.release(held_host, contacted=False)
        result.elapsed = self.clock() - start
        return result


__all__ = ["Fetcher", "FetchResult", "Hop", "classify"]
