"""Replay and WACZ export of browser captures: a JS article captured by real Chromium (`--capture
browser`, the installed CLI), replayed by the real pywb `archiver replay` starts, loaded in real
headless Chromium with the site gone: the text only its JSON carried renders, and every request the
replaying browser makes goes to pywb. The WACZ of it carries the screenshot and the rendered title."""

from __future__ import annotations

import base64
import http.server
import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_binary, require_module, run
from test_replay import free_port, get, replaying
from warcio.archiveiterator import ArchiveIterator

from archiver.replay import replay_url, screenshot_url

require_module("pywb", "the replay extra: pip install -e '.[replay]'")
require_module("playwright", "the browser extra: pip install -e '.[browser]'")
CHROMIUM = require_binary("chromium", "Debian's chromium: apt-get install chromium",
                          path=os.environ.get("ARCHIVER_CHROMIUM"))
WACZ = str(Path(sys.executable).with_name("wacz"))

SENTENCE = "Only the JSON carried this sentence 4711."
TITLE = "The Rendered Title"
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
                       "hKmMIQAAAABJRU5ErkJggg==")  # one pixel
SHELL = (b'<!doctype html><html><head><title>Loading</title><link rel="stylesheet" href="/style.css"></head>'
         b'<body><div id="root">loading</div><img id="pic" src="/pic.png"><script src="/app.js"></script>'
         b"</body></html>")


class Article(http.server.BaseHTTPRequestHandler):
    """A JS article: the HTML is a shell, a script fetch()es the text as JSON. Each load of the script
    asks for the JSON under a new query (?v=N), so a second capture's JSON is a revisit of a record
    with another URI (WARC-Refers-To-Target-URI != WARC-Target-URI)."""

    protocol_version = "HTTP/1.1"
    loads = 0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path
        if path == "/article":
            body, ctype = SHELL, "text/html; charset=utf-8"
        elif path == "/app.js":
            type(self).loads += 1
            body, ctype = (f"fetch('/api/article.json?v={type(self).loads}').then(r => r.json()).then(d => {{"
                           " document.getElementById('root').textContent = d.body; document.title = d.title; });"
                           ).encode(), "application/javascript"
        elif path.startswith("/api/article.json"):
            body, ctype = json.dumps({"title": TITLE, "body": SENTENCE}).encode(), "application/json"
        elif path == "/style.css":
            body, ctype = b"#root { color: rgb(1, 2, 3); }", "text/css"
        elif path == "/pic.png":
            body, ctype = PNG, "image/png"
        else:
            body, ctype = b"no such page", "text/plain"
        self.send_response(200 if ctype != "text/plain" else 404)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def site() -> Iterator[tuple[str, http.server.ThreadingHTTPServer]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("Site", (Article,), {"loads": 0}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/article", server
    finally:
        server.shutdown()
        server.server_close()


def snapshot(storage: Path, *args: str) -> None:
    done = run(storage, "snapshot", "--capture", "browser", "--per-host-delay", "0", *args,
               env={"ARCHIVER_BROWSER_TIMEOUT": "8"}, timeout=120)
    assert done.returncode == 0, done.stderr


def next_second() -> None:
    time.sleep(1.02 - time.time() % 1)


def captures(storage: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(storage / "archiver.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM captures ORDER BY id")]
    finally:
        conn.close()


def rendered(urls: list[str], port: int) -> list[tuple[str, str, list[str]]]:
    """Load replay URLs in headless Chromium, each in a fresh context: per URL the article's text,
    its stylesheet's colour, and every request that went anywhere but pywb (each refused)."""
    from playwright.sync_api import sync_playwright

    pywb = f"http://127.0.0.1:{port}/"
    out = []
    with sync_playwright() as driver:
        # A proxy that does not exist: nothing can leave loopback unnoticed, even past the route below.
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=[
            "--proxy-server=http://127.0.0.1:9", f"--proxy-bypass-list=127.0.0.1:{port}"])
        try:
            for url in urls:
                elsewhere: list[str] = []
                context = browser.new_context(service_workers="block")

                def gate(route: Any, elsewhere: list[str] = elsewhere) -> None:
                    if route.request.url.startswith(pywb):
                        route.continue_()
                    else:
                        elsewhere.append(route.request.url)
                        route.abort()

                context.route("**/*", gate)
                page = context.new_page()
                page.goto(url, wait_until="domcontentloaded", timeout=30_000)
                frame = page.frame_locator("iframe").first  # framed replay: pywb's banner, the page inside
                root = frame.locator("#root")
                try:
                    root.filter(has_text=SENTENCE).wait_for(timeout=15_000)
                except Exception as exc:  # say what the replayed page showed instead
                    raise AssertionError(f"{url}: #root shows {root.inner_text(timeout=1000)!r}") from exc
                colour = root.evaluate("e => getComputedStyle(e).color")
                width = frame.locator("#pic").evaluate("e => e.complete ? e.naturalWidth : -1")
                assert width == 1, f"{url}: the image was not replayed"
                out.append((root.inner_text(), colour, elsewhere))
                context.close()
        finally:
            browser.close()
    return out


def test_browser_capture_replays_from_the_archive_alone(site: tuple[str, Any], storage: Path,
                                                        tmp_path: Path) -> None:
    url, server = site
    snapshot(storage, url)
    next_second()
    snapshot(storage, url)  # the second capture's page, stylesheet, image and JSON are revisits
    first, second = captures(storage)
    assert (first["mode"], second["mode"], second["record_type"]) == ("browser", "browser", "revisit")
    server.shutdown()
    server.server_close()  # the site is gone: whatever renders now comes from the WARCs

    port = free_port()
    log = tmp_path / "replay.log"
    with replaying(storage, port, log=log):
        for text, colour, elsewhere in rendered([replay_url(first, port), replay_url(second, port)], port):
            assert text == SENTENCE and colour == "rgb(1, 2, 3)" and elsewhere == []
        # the screenshot and the DOM, each at its urn: URL
        shot = screenshot_url(second, port)
        ts = shot.split("/")[4]
        status, headers, body = get(shot.replace(f"/{ts}/", f"/{ts}id_/"))
        assert (status, headers["content-type"], body[:8]) == (200, "image/png", b"\x89PNG\r\n\x1a\n")
        status, headers, body = get(shot.replace(f"/{ts}/", f"/{ts}id_/").replace("urn:screenshot:", "urn:dom:"))
        assert status == 200 and SENTENCE.encode() in body
        assert get(shot)[0] == 200  # framed, as the banner shows it
    assert "id_/urn:screenshot:<url>" in log.read_text()


def test_wacz_of_a_browser_capture_has_its_screenshot_and_rendered_title(site: tuple[str, Any], storage: Path,
                                                                         tmp_path: Path) -> None:
    url, _ = site
    manifest = tmp_path / "paper.txt"
    manifest.write_text(url + "\n")
    snapshot(storage, str(manifest))
    out = tmp_path / "paper.wacz"
    done = run(storage, "export", str(manifest), "-o", str(out))
    assert done.returncode == 0, done.stderr
    check = subprocess.run([WACZ, "validate", "-f", str(out)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "Validation succeeded" in check.stdout, check.stdout + check.stderr
    with zipfile.ZipFile(out) as package:
        index = [json.loads(line.split(" ", 2)[2]) for line in package.read("indexes/index.cdxj").decode().splitlines()]
        pages = [json.loads(line) for line in package.read("pages/pages.jsonl").decode().splitlines()]
        [warc_name] = [n for n in package.namelist() if n.startswith("archive/")]
        warc = package.read(warc_name)
    by_url = {e["url"]: e for e in index}
    shot = by_url[f"urn:screenshot:{url}"]
    assert shot["mime"] == "image/png"
    record = warc[int(shot["offset"]):int(shot["offset"]) + int(shot["length"])]
    read = next(ArchiveIterator(io.BytesIO(record)))
    assert read.rec_type == "resource" and read.content_stream().read()[:4] == b"\x89PNG"
    base = url.removesuffix("/article")
    assert {by_url[base + p]["mime"] for p in ("/style.css", "/pic.png", "/app.js")} == {
        "text/css", "image/png", "application/javascript"}
    assert by_url[base + "/api/article.json?v=1"]["status"] == "200"
    assert by_url[url]["mime"] == "text/html"  # the page's own line, not its metadata record's
    assert [(p["url"], p.get("title")) for p in pages[1:]] == [(url, TITLE)]
