"""The HTML report, opened in real headless Chromium (Debian's `chromium`; .ci/run installs it).

History from the real CLI against a local server: a page that stays, one that dies, and entries
that must never become live links (a `javascript:` URL, markup in a citation's context). Chromium
runs with every host name unresolvable and a proxy that is a listener recording connections: the
page must render (table, chart, JavaScript ran) without a single connection.
"""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import FAST, require_binary, run
from server import TestServer

POLICY = ["--confirm-checks", "2", "--confirm-days", "0"]


@dataclass
class Page:
    path: Path
    html: str
    citations: int


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    tmp = tmp_path_factory.mktemp("html")
    with TestServer("127.0.0.1") as srv:
        srv.state["articles"] = "kept,dies"
        manifest = tmp / "paper.yaml"
        manifest.write_text(
            "title: A paper <em>with</em> \"markup\"\ncitations:\n"
            f"  - url: {srv.url('/article/kept')}\n    id: fn1\n    context: Kept page <script>alert(1)</script>\n"
            f"  - url: {srv.url('/article/dies')}\n    id: fn2\n    context: A page that dies\n"
            "  - url: \"javascript:alert(document.cookie)\"\n    id: fn3\n    context: not a web page\n")
        storage = tmp / "storage"
        assert run(storage, "snapshot", str(manifest), *FAST).returncode == 1  # the javascript: entry fails
        for n in range(2):
            if n:
                srv.state["articles"] = "kept"
            out = run(storage, "check", str(manifest), *FAST, *POLICY)
            assert out.returncode in (0, 1), out.stderr
        target = tmp / "report.html"
        out = run(storage, "report", "-o", str(target), *POLICY)
        assert out.returncode == 1, out.stderr  # fn2 (and the invalid fn3) are dead
    yield Page(target, target.read_text(), 3)


def test_page_is_self_contained_and_escaped(page: Page) -> None:
    html = page.html
    assert not re.search(r"<(script|link|img|iframe|object|embed|source|video|audio)\b[^>]*\b(src|href)=", html, re.I)
    assert not re.search(r"url\(", html)  # no CSS fetches either
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;em&gt;with&lt;/em&gt;" in html
    assert not re.search(r"href=\"\s*javascript:", html, re.I)
    assert "javascript:alert(document.cookie)" in html  # shown, as text
    links = re.findall(r"<a ([^>]*)>", html)
    assert links and all(re.search(r'href="https?://', a) and 'rel="noreferrer noopener"' in a for a in links)
    assert html.count("<script>") == 1


def _chromium() -> str:
    return require_binary("chromium", "apt-get install -y chromium; .ci/run does this")


class Listener:
    """A TCP listener standing in for a proxy: records every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def _browse(page: Page, tmp_path: Path, *args: str, fragment: str = "") -> tuple[subprocess.CompletedProcess[str], int]:
    listener = Listener()
    try:
        proc = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--user-data-dir={tmp_path / 'profile'}", f"--proxy-server=127.0.0.1:{listener.port}",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
             "--disable-domain-reliability", "--metrics-recording-only", "--virtual-time-budget=3000",
             *args, page.path.as_uri() + fragment],
            capture_output=True, text=True, timeout=90)
    finally:
        listener.close()
    return proc, listener.connections


def test_chromium_renders_table_and_chart_without_network(page: Page, tmp_path: Path) -> None:
    proc, connections = _browse(page, tmp_path, "--dump-dom")
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'data-ready="yes"' in dom, "the page's JavaScript did not run to its end"
    assert len(re.findall(r"<tr data-verdict=", dom)) == page.citations
    assert re.search(r"<svg class=\"chart\"", dom) and len(re.findall(r"<rect class=\"bar-", dom)) >= 2
    assert 'data-verdict="dead"' in dom and 'data-verdict="alive"' in dom
    assert connections == 0, f"the page (or Chromium for it) opened {connections} connection(s)"


def test_chromium_filters_and_sorts_from_the_address(page: Page, tmp_path: Path) -> None:
    proc, _ = _browse(page, tmp_path, "--dump-dom", fragment="#show=dead&sort=0")
    rows = re.findall(r"<tr data-verdict=\"(\w+)\"( hidden=\"\")?>\s*<td data-sort=\"([^\"]*)\"", proc.stdout)
    assert len(rows) == page.citations and "dead" in {v for v, _, _ in rows}
    assert all(bool(hidden) == (verdict != "dead") for verdict, hidden, _ in rows), rows
    ids = [i for _, _, i in rows]
    assert ids == sorted(ids)  # column 0 (citation) sorted by the click the fragment asked for


def _png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed (still filtered) scanlines of a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_chromium_screenshot_is_not_blank(page: Page, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    proc, connections = _browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000",
                                "--hide-scrollbars")
    assert shot.exists(), proc.stderr[-2000:]
    width, height, raw = _png_pixels(shot)
    assert (width, height) == (1280, 2000)
    stride = len(raw) // height
    rows = {raw[i * stride + 1:(i + 1) * stride] for i in range(height)}
    # A blank page is one row repeated; text, a table and coloured bars give many distinct rows and bytes.
    assert len(rows) > 50 and len(set(raw)) > 30
    assert connections == 0
