"""The fetcher: one GET of a URL (or the request a browser or yt-dlp asks for, `Ask`) with its
redirects followed hop by hop, retries with backoff and Retry-After, a total time cap enforced by a
watchdog, a DNS pre-check with a time limit whose answer the address guard judges (and the connection
then dials: a name is resolved once), and the body read into the recording under the size cap. The
only module that sends requests (wire.py records them).

One requests session and connection pool serve every worker of a run; cookies live for one fetch.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import heapq
import http.client
import math
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar

from ..config import Settings, resolve_map
from ..errors import (
    BlockedAddress,
    DNSFailure,
    FetchFailure,
    FetchTimeout,
    Interrupted,
    InvalidURL,
    StorageError,
    TooManyRedirects,
)
from ..urls import host_of, normalize_url
from . import guard
from .ask import Ask
from .failures import failure_of
from .guard import AddressPolicy, Candidate
from .politeness import HostGate
from .reachability import environ_proxies
from .results import FetchResult, Hop
from .wire import Recording, RecordingAdapter, use_candidates, use_recording

CHUNK = 256 * 1024  # most pages arrive in one read
RETRY_STATUSES = {408, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524}
# Only encodings every replay tool can decode; a stored body keeps its Content-Encoding as sent.
ACCEPT_ENCODING = "gzip, deflate"
REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Encoding": ACCEPT_ENCODING,
    "Accept-Language": "en;q=0.9, *;q=0.5",
}
# How long a name's addresses are dialled without asking again (a failed lookup holds for the run).
DNS_TTL = 300.0


# ----------------------------------------------------------------------------------------------
# Deadlines


@dataclass(order=True)
class _Watch:
    """One fetch the watchdog times: `recording` None once the fetch is over."""

    deadline: float
    seq: int
    recording: Recording | None = field(compare=False)


class _Watchdog:
    """Cuts the socket of a fetch whose total time is up: read timeouts alone never end a server
    that drips one byte a second. A fetch that ends lets go of its recording at once: kept until its
    deadline, every recording of a run shorter than the total timeout stayed in memory (request bytes,
    spool, socket: about 2 KB per URL, 100 MB at 50,000 URLs)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._heap: list[_Watch] = []
        self._over = 0  # entries in the heap whose fetch is over
        self._cond = threading.Condition()
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, deadline: float, recording: Recording) -> _Watch:
        with self._cond:
            self._seq += 1
            earliest = not self._heap or deadline < self._heap[0].deadline
            watch = _Watch(deadline, self._seq, recording)
            heapq.heappush(self._heap, watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="archiver-watchdog", daemon=True)
                self._thread.start()
            if earliest:  # the watchdog sleeps until the earliest deadline; only a new one wakes it
                self._cond.notify()
            return watch

    def over(self, watch: _Watch) -> None:
        """The fetch has ended: forget its recording; drop the ended entries once they are half the heap."""
        with self._cond:
            if watch.recording is None:
                return
            watch.recording = None
            self._over += 1
            if self._over > 64 and 2 * self._over > len(self._heap):
                self._heap = [w for w in self._heap if w.recording is not None]
                heapq.heapify(self._heap)  # the earliest deadline stays first: no need to wake the thread
                self._over = 0

    def close(self) -> None:
        """End the thread: a daemon builds a Fetcher per job run, and must not keep one per run."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._over = 0
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0].deadline - self.clock()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                watch = heapq.heappop(self._heap)
                if watch.recording is None:
                    self._over -= 1
                else:
                    watch.recording.abort()


# ----------------------------------------------------------------------------------------------
# Fetcher


def _ca_bundle(env: Mapping[str, str]) -> str | bool:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        if env.get(name):
            return env[name]
    if env.get("SSL_CERT_DIR"):
        return env["SSL_CERT_DIR"]
    return True


def _canonical(host: str) -> bool:
    """Whether `host` is an IP address written the usual way (not 127.1 or 2130706433)."""
    try:
        ip_address(host)
    except ValueError:
        return False
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
        resolver: Callable[[str, int], list[Candidate]] = guard.resolve,
    ) -> None:
        self.settings = settings
        self.resolver = resolver  # the system's getaddrinfo; tests hand in the answers of a DNS of theirs
        self.gate = gate
        self.spool_dir = spool_dir
        self.clock = clock
        self.now = now
        self.verify = _ca_bundle(os.environ)
        self.addresses = resolve_map(settings.resolve)
        self.policy = AddressPolicy.of(settings.allow_private, settings.allow)
        self._session = self._new_session()
        self._watchdog = _Watchdog(clock)
        self._dns_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="archiver-dns")
        # (host, port) -> the failure, or the addresses and when they were resolved
        self._dns_cache: dict[tuple[str, int], FetchFailure | tuple[list[Candidate], float]] = {}
        self._dns_lock = threading.Lock()
        self._proxy_cache: dict[tuple[str, str], dict[str, str]] = {}
        self.stopping = threading.Event()
        self._active: set[Recording] = set()
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
        adapter = RecordingAdapter(addresses=self.addresses, policy=self.policy, pool_connections=256,
                                   pool_maxsize=self.settings.per_host, max_retries=0)
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

    def _check_dns(self, url: str, remaining: float) -> list[Candidate] | None:
        """Resolve the host with a time limit (getaddrinfo itself has none, and a dead resolver would
        otherwise hang the run) and judge its addresses by the address guard: BlockedAddress when it
        has no allowed one. Returns the addresses for the connection to dial, so that a name is
        resolved once; None when the connection has its own (a literal address, the resolver
        override's entries) or a proxy resolves for us (then only a literal address or a localhost
        name can be judged here: the proxy connects, to what its own DNS says)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        given = guard.literal(host, port)  # 127.1 and 2130706433 too: what a proxy would read them as
        if given is not None:
            _, refused = guard.sort(given, self.policy)
            if refused:
                raise BlockedAddress(url, refused[0] if _canonical(host) else f"{host}: {refused[0]}")
            return None
        reason = self.policy.check_name(host)
        if reason is not None:
            raise BlockedAddress(url, reason)
        if self._proxies(url):
            return None
        key = (host, port)
        listed = self.addresses.get((host.rstrip("."), port)) if self.addresses else None
        if listed:
            allowed, refused = guard.sort([c for address, at in listed for c in guard.numeric(address, at)],
                                          self.policy)
            if not allowed:  # an override entry is the user's choice of address, still judged
                raise BlockedAddress(url, f"{host} (resolve override): {guard.refusal(refused)}")
            return None
        if host.rstrip(".").rpartition(".")[2] == "invalid":
            # RFC 6761: resolvers should answer names under .invalid negatively at once; asking the
            # network would only add its delay (or, behind a hijacking resolver, an answer).
            raise DNSFailure(url, f"cannot resolve {host}: .invalid names never resolve (RFC 6761)")
        with self._dns_lock:
            known = self._dns_cache.get(key)
        if isinstance(known, FetchFailure):
            raise DNSFailure(url, known.detail)
        if known is not None and self.clock() - known[1] < DNS_TTL:
            candidates = known[0]
        else:
            candidates = self._resolve(url, host, port, remaining)
        allowed, refused = guard.sort(candidates, self.policy)
        if not allowed:
            raise BlockedAddress(url, f"{host}: {guard.refusal(refused)}")
        return candidates

    def _resolve(self, url: str, host: str, port: int, remaining: float) -> list[Candidate]:
        key = (host, port)
        future = self._dns_pool.submit(self.resolver, host, port)
        failure = None
        candidates: list[Candidate] = []
        try:
            candidates = future.result(timeout=max(min(self.settings.connect_timeout, remaining), 0.1))
        except FutureTimeout:
            failure = DNSFailure(url, f"resolving {host} timed out")
        except (OSError, UnicodeError) as exc:
            failure = DNSFailure(url, f"cannot resolve {host}: {exc}")
        if future.done():  # an error holds for the run, addresses for DNS_TTL; a slow resolver may recover
            with self._dns_lock:
                self._dns_cache[key] = failure if failure is not None else (candidates, self.clock())
        if failure is not None:
            raise failure
        return candidates

    # -- one request ----------------------------------------------------------------------------

    def _request(self, url: str, cookies: RequestsCookieJar, deadline: float, ask: Ask) -> Hop:
        """One request of `url`, body streamed into the spool. Raises FetchFailure when no response."""
        recording = Recording(self.spool_dir)
        started_at = self.now()
        use_recording(recording)
        watch = self._watchdog.watch(deadline, recording)
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
                response = self._send(url, cookies, timeout, ask)
            except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError,
                    http.client.HTTPException, ValueError) as exc:
                self._raise_if_ours(recording, url, exc)
                if recording.aborted:
                    raise FetchTimeout(url, f"no response within the {self.settings.total_timeout:g} s cap") from exc
                raise failure_of(url, exc) from exc
            if recording.aborted:
                # http.client takes EOF for the end of the headers, so a cut mid-header looks whole.
                response.raw.close()
                raise FetchTimeout(url, f"headers not complete within the {self.settings.total_timeout:g} s cap")
            sha1, sha256, size, truncated = self._read_body(response, recording, deadline)
            if "set-cookie" in response.raw.headers or "set-cookie2" in response.raw.headers:  # most answers set none
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
                tls=recording.tls,
            )
        except BaseException:
            recording.close()
            if response is not None:
                response.raw.close()
            raise
        finally:
            use_recording(None)
            recording.finish()
            self._watchdog.over(watch)
            with self._active_lock:
                self._active.discard(recording)

    def _send(self, url: str, cookies: RequestsCookieJar, timeout: tuple[float, float], ask: Ask) -> requests.Response:
        """Send one request through the adapter directly: Session.send would read (and decode) the
        body of a redirect before we could record it."""
        headers = ask.request_headers(REQUEST_HEADERS | {"User-Agent": self.settings.user_agent})
        # Prepared here rather than by Session.prepare_request: the session adds nothing (no headers,
        # params, auth or hooks; its cookie jar refuses every cookie), and its merging of those empty
        # settings cost as much CPU as the rest of the request's preparation.
        request = requests.PreparedRequest()
        request.prepare(method=ask.method.upper(), url=url, headers=headers, data=ask.body, cookies=cookies)
        adapter = self._session.get_adapter(url)
        return adapter.send(request, stream=True, timeout=timeout, verify=self.verify, proxies=self._proxies(url))

    def _proxies(self, url: str) -> dict[str, str]:
        """HTTP(S)_PROXY / NO_PROXY as requests reads them, looked up once per scheme and host."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        proxies = self._proxy_cache.get(key)
        if proxies is None:
            proxies = self._proxy_cache[key] = environ_proxies(url)
        return proxies

    def _raise_if_ours(self, recording: Recording, url: str, exc: BaseException) -> None:
        """A full disk and Ctrl-C surface as I/O errors inside the HTTP stack too: they are not
        the server's doing, so they leave as what they are, never as a fetch outcome."""
        if recording.disk_error is not None:
            raise StorageError(f"cannot spool {url}: {recording.disk_error}") from exc
        if self.stopping.is_set():
            raise Interrupted(f"{url}: abandoned on interrupt") from exc

    def _read_body(
        self, response: requests.Response, recording: Recording, deadline: float
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

    def _attempts(
        self, url: str, deadline: float, held: bool, cookies: RequestsCookieJar, ask: Ask, paced: bool = True
    ) -> tuple[Hop, int]:
        """GET with retries on 408/429/5xx and timeouts, honouring Retry-After within the caps.
        `held`: the caller already holds this host's politeness slot for the first attempt."""
        host = host_of(url)
        attempt = 0
        while True:
            attempt += 1
            if not held and not self.gate.acquire(host, timeout=max(deadline - self.clock(), 0), paced=paced):
                if self.gate.closed:
                    raise Interrupted(f"{url}: abandoned on interrupt")
                raise FetchTimeout(url, f"waited past the {self.settings.total_timeout:g} s cap for a turn at {host}")
            held = False
            hop: Hop | None = None
            failure: FetchFailure | None = None
            try:
                hop = self._request(url, cookies, deadline, ask)
            except FetchFailure as exc:
                failure = exc
            finally:
                self.gate.release(host)
            if not ask.idempotent:
                retryable = False  # a POST sent twice may do twice what it does
            elif hop is not None:
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

    def fetch(
        self, url: str, *, host_slot_held: bool = False, ask: Ask | None = None, paced: bool = True,
        time_cap: float | None = None,
    ) -> FetchResult:
        """Fetch `url`, following redirects hop by hop. Transport failures are in the result;
        with `host_slot_held`, the caller holds the politeness slot of the URL's host. `ask`: the
        method, headers and body of a request other than a citation's GET (a browser's, yt-dlp's).
        Unpaced (a rendered page's sub-resources): no pause awaited between them (politeness.py).
        `time_cap`: a shorter cap than total_timeout (what is left of a page's rendering time)."""
        ask = ask or Ask()
        result = FetchResult(url=url, started_at=self.now())
        start = self.clock()
        deadline = start + min(self.settings.total_timeout, time_cap if time_cap is not None else math.inf)
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
                candidates = self._check_dns(current, deadline - self.clock())
                parts = urlsplit(current)
                use_candidates(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80),
                               candidates)
                held = held_host is not None
                held_host = None  # _attempts releases it from here on
                hop, attempts = self._attempts(current, deadline, held, cookies, ask, paced)
                result.attempts += attempts
                result.hops.append(hop)
                if hop.location is None or hop.truncated or not ask.follow:
                    break
                try:
                    # Browsers send spaces in a Location as %20; so do we.
                    current = normalize_url(urljoin(current, hop.location.strip().replace(" ", "%20")))
                    ask = ask.redirected(hop.status)
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
            if isinstance(exc, BlockedAddress) and result.hops:  # say where the redirects led
                result.error = f"redirected to {exc.url}: {exc.detail}"
        except BaseException:
            result.close()
            raise
        finally:
            use_candidates("", 0, None)
            if held_host is not None:  # no request was sent (bad URL, DNS): no pause is owed
                self.gate.release(held_host, contacted=False)
        result.elapsed = self.clock() - start
        return result


__all__ = ["Fetcher"]
