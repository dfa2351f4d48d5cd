"""A real HTTP(S) server on loopback with routes that misbehave the way the web does.

Every request is logged with its start and end time and Host, so tests can check politeness from the
server's side. Plain stdlib, so the fixture has no dependency beyond what CI installs.
"""

from __future__ import annotations

import gzip
import http.server
import json
import random
import socket
import ssl
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit


def page(name: str, size: int = 2000) -> bytes:
    """Deterministic HTML for a page name, about `size` bytes."""
    head = f"<!doctype html><html><head><title>{name}</title></head><body><h1>{name}</h1>\n"
    para = f"<p>Text of {name}: the cited source as it was when the paper was written.</p>\n"
    body = head + para * max(1, (size - len(head)) // len(para)) + "</body></html>\n"
    return body.encode()


CHUNKS = [b"<html><body>", b"first chunk ", b"second chunk, a bit longer ", b"x" * 5000, b"</body></html>"]
CHUNKED_BODY = b"".join(CHUNKS)


@dataclass
class Hit:
    path: str
    host: str
    started: float
    ended: float = 0.0
    headers: dict[str, str] | None = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TestServer._Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- helpers ------------------------------------------------------------------------------

    def send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8",
             headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def raw(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def reset(self) -> None:
        """Close with RST, not FIN: what a crashing server or middlebox does."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def counter(self, key: str) -> int:
        with self.server.lock:
            self.server.counters[key] = self.server.counters.get(key, 0) + 1
            return self.server.counters[key]

    # -- routing ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        hit = Hit(self.path, self.headers.get("Host", ""), time.monotonic(),
                  headers={k: v for k, v in self.headers.items()})
        with self.server.lock:
            self.server.hits.append(hit)
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        route = parts.path.strip("/").split("/")
        try:
            handler = getattr(self, "route_" + route[0].replace("-", "_"), None)
            if handler is None:
                self.send(404, b"<html><title>Not Found</title>nothing here</html>")
            else:
                handler(route[1:], query)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            hit.ended = time.monotonic()

    def do_POST(self) -> None:
        """POST: /asked answers what it received; /see-other answers 303 to /asked (a form's redirect)."""
        length = int(self.headers.get("Content-Length") or 0)
        self.posted = self.rfile.read(length)
        self.do_GET()

    def route_asked(self, rest: list[str], q: dict[str, str]) -> None:
        body = getattr(self, "posted", b"") if self.command == "POST" else b""
        self.send(200, json.dumps({"method": self.command, "body": body.decode("latin-1"),
                                   "headers": {k.lower(): v for k, v in self.headers.items()}}).encode(),
                  "application/json")

    def route_see_other(self, rest: list[str], q: dict[str, str]) -> None:
        self.send(303, b"", headers={"Location": "/asked"})

    def route_shell(self, rest: list[str], q: dict[str, str]) -> None:
        """A single-page app's shell: no text until its script ran (what `--capture auto` renders)."""
        self.send(200, b'<html><head><title>App</title><script src="/shell-js"></script></head>'
                       b'<body><div id="root"></div></body></html>')

    def route_shell_js(self, rest: list[str], q: dict[str, str]) -> None:
        self.send(200, b"document.addEventListener('DOMContentLoaded', () =>"
                       b" { document.getElementById('root').textContent = 'rendered by script'; });",
                  "text/javascript")

    def route_page(self, rest: list[str], q: dict[str, str]) -> None:
        name = "/".join(rest) or "index"
        self.send(200, page(name, int(q.get("size", 2000))))

    def route_article(self, rest: list[str], q: dict[str, str]) -> None:
        """A site that knows its pages: the names listed in server.state["articles"], 404 otherwise
        (so the checker's random-sibling probe sees a real 404, unlike /page/ which answers anything)."""
        name = "/".join(rest)
        if name in self.server.state.get("articles", "").split(","):
            self.send(200, page(f"article {name}"))
        else:
            self.send(404, b"<html><title>Not Found</title>no such article</html>")

    def route_state(self, rest: list[str], q: dict[str, str]) -> None:
        """Content the test changes between snapshots: server.state[name]."""
        name = "/".join(rest)
        value = self.server.state.get(name, "initial")
        self.send(200, page(f"{name} {value}"))

    def route_status(self, rest: list[str], q: dict[str, str]) -> None:
        code = int(rest[0])
        self.send(code, f"<html><title>{code}</title>status {code}</html>".encode())

    def route_redirect(self, rest: list[str], q: dict[str, str]) -> None:
        n = int(rest[0])
        code = int(q.get("code", 302))
        target = f"/redirect/{n - 1}?code={code}" if n > 1 else "/page/final"
        self.send(code, b"moved", headers={"Location": target})

    def route_redirect_to(self, rest: list[str], q: dict[str, str]) -> None:
        self.send(int(q.get("code", 301)), b"moved", headers={"Location": q["url"]})

    def route_loop(self, rest: list[str], q: dict[str, str]) -> None:
        other = "b" if rest and rest[0] == "a" else "a"
        self.send(302, b"loop", headers={"Location": f"/loop/{other}"})

    def route_cookie_gate(self, rest: list[str], q: dict[str, str]) -> None:
        """Redirects to itself until a cookie is sent back: loops forever for clients without cookies."""
        if "seen=1" in (self.headers.get("Cookie") or ""):
            self.send(200, page("cookie gate passed"))
        else:
            self.send(302, b"set cookie", headers={"Location": "/cookie-gate", "Set-Cookie": "seen=1; Path=/"})

    def route_chunked(self, rest: list[str], q: dict[str, str]) -> None:
        encoding = q.get("encoding")
        body_chunks = CHUNKS
        if encoding == "gzip":
            body_chunks = [gzip.compress(CHUNKED_BODY, mtime=0)]
            body_chunks = [body_chunks[0][:40], body_chunks[0][40:]]
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Transfer-Encoding", "chunked")
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()
        for chunk in body_chunks:
            self.raw(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.raw(b"0\r\n\r\n")

    def route_gzip(self, rest: list[str], q: dict[str, str]) -> None:
        self.send(200, gzip.compress(page("gzipped", 20000), mtime=0), headers={"Content-Encoding": "gzip"})

    def route_deflate(self, rest: list[str], q: dict[str, str]) -> None:
        self.send(200, zlib.compress(page("deflated", 5000)), headers={"Content-Encoding": "deflate"})

    def route_gzip_bomb(self, rest: list[str], q: dict[str, str]) -> None:
        self.send(200, self.server.bomb, headers={"Content-Encoding": "gzip"})

    def route_big(self, rest: list[str], q: dict[str, str]) -> None:
        size = int(q.get("size", 1_000_000))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        block = bytes(range(256)) * 256
        left = size
        while left > 0:
            n = min(left, len(block))
            self.wfile.write(block[:n])
            left -= n

    def route_random(self, rest: list[str], q: dict[str, str]) -> None:
        """Incompressible bytes, slowly if asked: fills disks and keeps a writer busy. `type`: the
        Content-Type to give them (default application/octet-stream)."""
        size, seed = int(q.get("size", 1_000_000)), int(q.get("seed", 0))
        pause = float(q.get("pause", 0))
        self.send_response(200)
        self.send_header("Content-Type", q.get("type", "application/octet-stream"))
        self.send_header("Content-Length", str(size))
        self.end_headers()
        rng = random.Random(seed)
        left = size
        while left > 0:
            n = min(left, 65536)
            self.wfile.write(rng.randbytes(n))
            left -= n
            if pause:
                time.sleep(pause)

    def route_drip(self, rest: list[str], q: dict[str, str]) -> None:
        """Headers, then one byte every `interval` seconds for `n` bytes: never silent, never done."""
        n, interval = int(q.get("n", 1000)), float(q.get("interval", 0.1))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        for _ in range(n):
            self.raw(b"x")
            time.sleep(interval)

    def route_drip_headers(self, rest: list[str], q: dict[str, str]) -> None:
        interval = float(q.get("interval", 0.1))
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 2000:
            self.raw(bytes([byte]))
            time.sleep(interval)

    def route_slow(self, rest: list[str], q: dict[str, str]) -> None:
        time.sleep(float(q.get("delay", 2)))
        self.send(200, page("slow"))

    def route_reset(self, rest: list[str], q: dict[str, str]) -> None:
        self.reset()

    def route_reset_mid(self, rest: list[str], q: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.raw(page("half", 5000))
        time.sleep(0.05)
        self.reset()

    def route_short_body(self, rest: list[str], q: dict[str, str]) -> None:
        self.raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\nonly this much")
        self.close_connection = True

    def route_headers_only(self, rest: list[str], q: dict[str, str]) -> None:
        """Headers promising a body, then the connection closes: nothing of the body comes."""
        self.raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4000\r\n\r\n")
        self.close_connection = True

    def route_chunked_cut(self, rest: list[str], q: dict[str, str]) -> None:
        """A chunked body broken off: a chunk promising 4000 bytes sends 30, then the connection
        closes (`?garbage=1`: a chunk-size line that is no hex number instead)."""
        self.raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"11\r\n<html><body>first\r\n")
        self.raw(b"zz-not-a-size\r\nmore\r\n" if q.get("garbage") else b"fa0\r\n<p>a chunk cut after thirty b")
        self.close_connection = True

    def route_cut_error(self, rest: list[str], q: dict[str, str]) -> None:
        """An error answer (`/cut-error/404`) whose body is cut short of its Content-Length."""
        code = int(rest[0])
        self.raw(b"HTTP/1.1 %d Error\r\nContent-Type: text/html\r\nContent-Length: 3000\r\n\r\n<html><title>%d"
                 % (code, code))
        self.close_connection = True

    def route_sometimes_cut(self, rest: list[str], q: dict[str, str]) -> None:
        """A page served whole, or cut short of its Content-Length while server.state[name] is "cut"; a
        name not in server.state is not found (so the checker's sibling probe sees a real 404)."""
        name = "/".join(rest)
        body = page(f"sometimes cut {name}")
        if name not in self.server.state:
            self.send(404, b"<html><title>Not Found</title>no such page</html>")
            return
        if self.server.state[name] != "cut":
            self.send(200, body)
            return
        self.raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(body), body[: len(body) // 3]))
        self.close_connection = True

    def route_long_body(self, rest: list[str], q: dict[str, str]) -> None:
        self.raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
                 b"hello, and a lot more than promised")
        self.close_connection = True

    def route_bad_headers(self, rest: list[str], q: dict[str, str]) -> None:
        self.raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Bin: \xff\xfe\x01bytes\r\n"
                 b"No colon in this header line\r\nContent-Length: 7\r\nConnection: close\r\n\r\ncontent")
        self.close_connection = True

    def route_garbage(self, rest: list[str], q: dict[str, str]) -> None:
        self.raw(b"SSH-2.0-OpenSSH_9.2\r\nthis is not http\r\n\r\n")
        self.close_connection = True

    def route_empty(self, rest: list[str], q: dict[str, str]) -> None:
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def route_flaky(self, rest: list[str], q: dict[str, str]) -> None:
        """Fails with `code` for the first `n` requests of a key, then answers."""
        count = self.counter("flaky:" + q.get("key", ""))
        if count <= int(q.get("n", 2)):
            headers = {"Retry-After": q["retry_after"]} if "retry_after" in q else {}
            self.send(int(q.get("code", 503)), b"try later", headers=headers)
        else:
            self.send(200, page(f"recovered after {count - 1}"))

    def route_echo(self, rest: list[str], q: dict[str, str]) -> None:
        self.send(200, json.dumps(dict(self.headers.items())).encode(), "application/json")

    def route_media_page(self, rest: list[str], q: dict[str, str]) -> None:
        """A page with a media element: <`tag` src=`src`> (default <video src="/media-clip">), and a
        second one when `src2` is given; with `cookie`, a session cookie is set."""
        tag = q.get("tag", "video")
        sources = (q.get("src", "/media-clip"), q.get("src2"))
        players = "".join(f'<{tag} src="{src}" controls></{tag}>\n' for src in sources if src)
        cookie = {"Set-Cookie": "media_session=granted; Path=/"} if q.get("cookie") else {}
        self.send(200, f"<!doctype html><html><head><title>clip</title></head><body><h1>A clip</h1>\n{players}"
                       "</body></html>".encode(), headers=cookie)

    def route_media_clip(self, rest: list[str], q: dict[str, str]) -> None:
        """The bytes the test put in state["media_clip"] (latin-1 text: state holds str), as video/webm;
        with `cookie`, only to a client sending the media page's cookie."""
        if q.get("cookie") and "media_session=granted" not in (self.headers.get("Cookie") or ""):
            self.send(403, b"no session")
            return
        self.send(200, self.server.state.get("media_clip", "").encode("latin-1"), "video/webm")

    def route_media_hls(self, rest: list[str], q: dict[str, str]) -> None:
        """An HLS media playlist of one segment (/media-clip): streaming, not one file."""
        playlist = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\n/media-clip\n#EXT-X-ENDLIST\n"
        self.send(200, playlist, "application/vnd.apple.mpegurl")


class TestServer:
    __test__ = False  # not a test class, despite the name
    class _Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128
        lock: threading.Lock
        hits: list[Hit]
        counters: dict[str, int]
        state: dict[str, str]
        bomb: bytes

    def __init__(self, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None, port: int = 0) -> None:
        """`port` 0: any free one (a test that needs two servers on one port, as DNS answers for one name
        would point at, gives the first one's port to the second)."""
        self.httpd = self._Server((host, port), Handler)
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.lock = threading.Lock()
        self.httpd.hits = []
        self.httpd.counters = {}
        self.httpd.state = {}
        self.httpd.bomb = _bomb()
        self.scheme = "https" if ssl_context else "http"
        self.host = host
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> TestServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}/{path.lstrip('/')}"

    @property
    def hits(self) -> list[Hit]:
        with self.httpd.lock:
            return list(self.httpd.hits)

    @property
    def state(self) -> dict[str, str]:
        return self.httpd.state


_BOMB: bytes | None = None


def _bomb() -> bytes:
    """100 MB of zeros, gzipped to about 100 KB."""
    global _BOMB
    if _BOMB is None:
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = bytes(1024 * 1024)
        _BOMB = b"".join(z.compress(block) for _ in range(100)) + z.flush()
    return _BOMB
