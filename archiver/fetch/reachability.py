"""Is the network up at all? The reachability probe a run starts at its first network-level failure.

For each configured URL (`settings.reachability`), DNS and a TCP connect the way the fetcher would
go: through the proxy the environment names for it (a CONNECT tunnel, which the proxy must open to
the host itself), else at the resolver override's address or the name's own. No HTTP request and no
TLS handshake with the host: a connection opened is the answer. Each URL has a thread of its own and
a short time limit; the network is up as soon as one URL answers, down when none did.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import requests.utils

PROBE_TIMEOUT = 5.0  # seconds per URL, DNS and connect together: a network that is up answers far sooner
DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080, "socks4": 1080, "socks4a": 1080}
# What a proxy answers itself when it cannot or will not reach the site: a refusal of the whole network
# as seen through it (an answer with one of these codes may also be the site's own; see `proxied`).
PROXY_REFUSALS = frozenset({403, 407, 502, 503, 504})


@dataclass(frozen=True)
class ProbeResult:
    """What the probe found: `reached`, the first URL that answered (None: none did), and why the
    others did not (`failures`, "host: why", those finished by then)."""

    reached: str | None
    failures: tuple[str, ...]

    @property
    def up(self) -> bool:
        return self.reached is not None

    def describe(self) -> str:
        """`probe reached www.wikipedia.org`, or `probe failed: www.wikipedia.org: why (+3 more)`."""
        if self.reached is not None:
            return f"probe reached {_host(self.reached)}"
        if not self.failures:
            return "probe failed: no answer in time"
        more = f" (+{len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
        return f"probe failed: {self.failures[0]}{more}"


def environ_proxies(url: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """HTTP(S)_PROXY, ALL_PROXY and NO_PROXY for `url`, as requests reads them: the one reading the
    fetcher and the probe share."""
    env = os.environ if env is None else env
    no_proxy = env.get("NO_PROXY", env.get("no_proxy"))
    return dict(requests.utils.get_environ_proxies(url, no_proxy=no_proxy))


def proxy_for(url: str, env: Mapping[str, str] | None = None) -> str | None:
    """The proxy URL the environment names for `url`; None when it goes direct."""
    proxies = environ_proxies(url, env)
    scheme = urlsplit(url).scheme
    found = proxies.get(scheme) or proxies.get("all")
    return str(found) if found else None


class Probe:
    """The probe of one run: `start()` it, then `result()` waits (at most the time limit) for the
    answer. Threads are daemons: a probe nobody waits for ends with its time limit."""

    def __init__(self, urls: Iterable[str], addresses: Mapping[tuple[str, int], tuple[tuple[str, int], ...]],
                 timeout: float = PROBE_TIMEOUT) -> None:
        self.urls = tuple(urls)
        self.addresses = addresses
        self.timeout = timeout
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._reached: str | None = None
        self._failures: list[str] = []
        self._started = False

    def start(self) -> Probe:
        """Start probing (once: later calls do nothing)."""
        with self._lock:
            if self._started:
                return self
            self._started = True
        for url in self.urls:
            threading.Thread(target=self._probe, args=(url,), name="archiver-probe", daemon=True).start()
        if not self.urls:
            self._done.set()
        return self

    def result(self) -> ProbeResult:
        """The answer (starting the probe if need be): waits until a URL answered, every URL failed,
        or the time limit passed."""
        self.start()
        self._done.wait(self.timeout + 1.0)
        with self._lock:
            return ProbeResult(self._reached, tuple(self._failures))

    def _probe(self, url: str) -> None:
        why = self.reach(url)
        with self._lock:
            if why is None:
                self._reached = self._reached or url
            else:
                self._failures.append(f"{_host(url)}: {why}")
            if self._reached is not None or len(self._failures) == len(self.urls):
                self._done.set()

    def reach(self, url: str) -> str | None:
        """Open a connection to `url`'s host (through its proxy, if any): None when it opened, else why not."""
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 443)
        proxy = proxy_for(url)
        try:
            if proxy is not None:
                return self._through(proxy, host, port)
            targets = self.addresses.get((host.lower(), port), ((host, port),))
            for i, target in enumerate(targets):  # the override's addresses in turn, as DNS answers are
                try:
                    socket.create_connection(target, timeout=self.timeout).close()
                    return None
                except OSError:
                    if i == len(targets) - 1:
                        raise
            return None
        except socket.gaierror as exc:
            return f"cannot resolve: {exc.strerror or exc}"
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except (OSError, ValueError) as exc:
            return f"cannot connect: {getattr(exc, 'strerror', None) or exc}"

    def _through(self, proxy: str, host: str, port: int) -> str | None:
        """A CONNECT tunnel to host:port through an HTTP(S) proxy: the proxy resolves and connects for
        us, so its 2xx says the network beyond it works. Other proxies (SOCKS): a connection to it."""
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        proxy_host = parts.hostname or ""
        proxy_port = parts.port or DEFAULT_PORTS.get(parts.scheme, 1080)
        try:
            sock = socket.create_connection((proxy_host, proxy_port), timeout=self.timeout)
        except OSError as exc:
            return f"proxy {proxy_host}:{proxy_port}: {getattr(exc, 'strerror', None) or exc}"
        try:
            if parts.scheme not in ("http", "https"):
                return None
            if parts.scheme == "https":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=proxy_host)
            target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
            if parts.username:
                secret = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
                request += f"Proxy-Authorization: Basic {base64.b64encode(secret).decode()}\r\n"
            sock.sendall((request + "\r\n").encode())
            line = sock.makefile("rb").readline(1024).decode("latin-1").strip()
            fields = line.split(" ", 2)
            if len(fields) >= 2 and fields[1].isdigit() and 200 <= int(fields[1]) < 300:
                return None
            return f"proxy {proxy_host} answered {line!r}" if line else f"proxy {proxy_host} closed the connection"
        finally:
            sock.close()


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


__all__ = ["DEFAULT_PORTS", "PROBE_TIMEOUT", "PROXY_REFUSALS", "Probe", "ProbeResult", "environ_proxies", "proxy_for"]
