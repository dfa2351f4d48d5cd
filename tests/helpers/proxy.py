"""A tiny forward HTTP proxy on loopback, for tests: absolute-form GET and CONNECT tunnels.

Every request is logged as (method, target) in `proxy.log`; relayed responses carry `Via: test-proxy`
so a test can tell from the archived record that the proxy was on the path. Plain stdlib.
"""

from __future__ import annotations

import http.client
import http.server
import select
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

# Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own business, never relayed.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
              "te", "trailer", "transfer-encoding", "upgrade"}


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TestProxy._Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _log(self) -> None:
        with self.server.lock:
            self.server.log.append((self.command, self.path))

    def do_GET(self) -> None:
        self._log()
        if self.server.refuse:
            self._error(403, b"access denied by policy")
            return
        parts = urlsplit(self.path)
        if parts.scheme != "http" or not parts.hostname:
            self._error(400, b"absolute-form http URL expected")
            return
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        origin = http.client.HTTPConnection(self.server.resolve.get(parts.hostname, parts.hostname), parts.port or 80,
                                            timeout=10)
        try:
            origin.request(self.command, path, headers=headers)
            response = origin.getresponse()
            body = response.read()
        except OSError:
            self._error(502, b"origin unreachable")
            return
        finally:
            origin.close()
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Via", "test-proxy")
        self.end_headers()
        self.wfile.write(body)

    def do_CONNECT(self) -> None:
        self._log()
        if self.server.refuse:
            self._error(403, b"access denied by policy")
            return
        host, _, port = self.path.rpartition(":")
        try:
            host = host.strip("[]")
            upstream = socket.create_connection((self.server.resolve.get(host, host), int(port)), timeout=10)
        except (OSError, ValueError):
            self._error(502, b"cannot connect")
            return
        self.send_response_only(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        client = self.connection
        try:
            _pump(client, upstream)
        finally:
            upstream.close()

    def _error(self, status: int, body: bytes) -> None:
        self.send_response_only(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True


def _pump(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    peers = {a: b, b: a}
    while True:
        readable, _, broken = select.select([a, b], [], [a, b], 30)
        if broken or not readable:
            return
        for sock in readable:
            try:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)
            except OSError:
                return


class TestProxy:
    __test__ = False  # not a test class, for pytest's collector

    class _Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        lock: threading.Lock
        log: list[tuple[str, str]]
        resolve: dict[str, str]
        refuse: bool

    def __init__(self, host: str = "127.0.0.1", resolve: dict[str, str] | None = None, *,
                 refuse: bool = False) -> None:
        """`resolve`: names the proxy connects to at these addresses (a proxy's own DNS, without one);
        `refuse`: answer every request and tunnel with 403, as a proxy whose policy denies all does."""
        self.httpd = self._Server((host, 0), ProxyHandler)
        self.httpd.resolve = dict(resolve or {})
        self.httpd.lock = threading.Lock()
        self.httpd.log = []
        self.httpd.refuse = refuse
        self.host = host
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> TestProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def log(self) -> list[tuple[str, str]]:
        with self.httpd.lock:
            return list(self.httpd.log)


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound, then released): connections to it are refused."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
