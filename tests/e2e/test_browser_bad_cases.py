"""Browser capture's bad cases, through the installed CLI with real Chromium and a real local site: a
page that never settles, one that asks for thousands of resources, an infinite scroll, downloads,
popups and dialogs, a page that navigates away, a browser killed mid-run, a WebSocket. Each ends
within its caps with the capture stored and a note saying what happened (the `--json` summary, the
`captures`/`capture_resources` rows, the WARC's metadata record)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import ARCHIVER, LOCAL_ENV, require_module, run
from hostnames import loopback_env, loopback_names
from warcio.archiveiterator import ArchiveIterator

SITE = "site.bad.archiver.test"
ELSEWHERE = "elsewhere.bad.archiver.test"
WS_HOST = "ws.bad.archiver.test"
# Small caps so every bad page ends in seconds: 5 s per rendering, a short fetch timeout.
FAST_BROWSER = ["--capture", "browser", "--per-host-delay", "0", "--timeout", "2", "--total-timeout", "4"]


def shell(title: str, script: str, body: str = "") -> bytes:
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title></head>"
            f"<body><div id=root>{body}</div><script>{script}</script></body></html>").encode()


PAGES = {
    # Never settles: a fetch every 100 ms and a long poll the server holds.
    "/never": shell("Never", "document.getElementById('root').textContent='ticking';"
                             "setInterval(() => fetch('/tick?' + Math.random()), 100);"
                             "fetch('/poll');"),
    "/many": shell("Many", "document.getElementById('root').textContent='five thousand';"
                           "for (let i = 0; i < 5000; i++) fetch('/r/' + i).catch(() => null);"),
    # Infinite scroll: every scroll event adds two more screens at once (no fetch needed).
    "/scroll": shell("Scroll", "const add = () => { for (let i = 0; i < 2; i++) {"
                               " const d = document.createElement('div'); d.style.height = '900px';"
                               " d.textContent = 'more ' + document.body.children.length;"
                               " document.body.appendChild(d); } };"
                               "add(); add(); window.addEventListener('scroll', add);"),
    "/download-link": shell("Download link", "const a = document.createElement('a'); a.href = '/file.bin';"
                                             " a.download = 'file.bin'; a.textContent = 'get it';"
                                             " document.getElementById('root').appendChild(a);"
                                             " setTimeout(() => a.click(), 50);"),
    "/to-attachment": shell("To attachment", "document.getElementById('root').textContent='leaving';"
                                             "setTimeout(() => { location.href = '/report.pdf'; }, 50);"),
    "/popup": shell("Popup", "document.getElementById('root').textContent='with popups';"
                             "window.open('/popped', 'pop', 'width=200,height=200');"
                             "alert('hello from the page'); const ok = confirm('really?');"
                             "document.getElementById('root').textContent='confirm said ' + ok;"),
    "/popped": shell("Popped", "", "a popup window"),
    "/elsewhere": shell("Elsewhere", "", "not the cited page"),
    "/away": shell("Cited", "document.getElementById('root').textContent='the cited text';"
                            "setTimeout(() => { location.href = 'http://" + ELSEWHERE + ":{port}/elsewhere'; }, 100);"),
    "/ws": shell("Socket", "document.getElementById('root').textContent='socket page';"
                           "window.sock = new WebSocket('ws://" + WS_HOST + ":{ws}/live');"
                           "window.sock2 = new WebSocket('ws://127.0.0.1:{ws}/direct');"),
    # A page whose data is held by the server until the test lets it go (the crash test kills the
    # browser while it waits).
    "/slow": shell("Slow", "fetch('/hold').then(r => r.text()).then(t => {"
                           " document.getElementById('root').textContent = t; });"),
    "/next": shell("Next page", "fetch('/data.json').then(r => r.json()).then(d => {"
                                " document.getElementById('root').textContent = d.text; });"),
}


@dataclass
class Site:
    port: int
    ws_port: int
    log: list[str] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)  # /hold answers once set
    holding: threading.Event = field(default_factory=threading.Event)  # set when /hold was asked
    ws_connections: list[bytes] = field(default_factory=list)

    def url(self, path: str, host: str = SITE) -> str:
        return f"http://{host}:{self.port}{path}"

    def env(self) -> dict[str, str]:
        names = loopback_names([SITE, ELSEWHERE, WS_HOST], [self.port, self.ws_port])
        return {**loopback_env(names), "ARCHIVER_BROWSER_TIMEOUT": "5"}


def handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            site.log.append(path)
            headers = {"Content-Type": "text/html; charset=utf-8"}
            if path in PAGES:
                body = PAGES[path].replace(b"{ws}", str(site.ws_port).encode())
                body = body.replace(b"{port}", str(site.port).encode())
            elif path == "/tick" or path.startswith("/r/"):
                body, headers = b"{}", {"Content-Type": "application/json"}
            elif path == "/poll":
                time.sleep(20)  # a long poll: the fetcher's timeout ends it first
                body = b"{}"
            elif path == "/hold":
                site.holding.set()
                site.hold.wait(15)
                body, headers = b"held data", {"Content-Type": "text/plain"}
            elif path == "/data.json":
                body, headers = b'{"text": "rendered by the restarted browser"}', {"Content-Type": "application/json"}
            elif path in ("/file.bin", "/report.pdf"):
                body = b"%PDF-1.4 not really\n" * 50
                headers = {"Content-Type": "application/pdf",
                           "Content-Disposition": f"attachment; filename={path[1:]}"}
            elif path == "/attachment-page":
                body = shell("Attachment", "", "an HTML page served as a download")
                headers["Content-Disposition"] = "attachment; filename=page.html"
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (a long poll, a killed browser): nothing to answer

    return Handler


@pytest.fixture()
def site() -> Iterator[Site]:
    require_module("playwright", "pip install 'archiver[browser]'")
    from archiver.browser.chromium import unavailable

    why = unavailable()
    if why is not None:
        if os.environ.get("ARCHIVER_TEST_STRICT") == "1":
            pytest.fail(why)
        pytest.skip(why)
    ws = socket.socket()
    ws.bind(("127.0.0.1", 0))
    ws.listen(8)
    ws.settimeout(0.2)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    s = Site(port=httpd.server_address[1], ws_port=ws.getsockname()[1])
    httpd.RequestHandlerClass = handler(s)
    httpd.daemon_threads = True
    stop = threading.Event()

    def accept() -> None:  # the WebSocket server: records whatever reaches it
        while not stop.is_set():
            try:
                conn, _ = ws.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(1)
            try:
                s.ws_connections.append(conn.recv(4096) or b"(connected)")
            except OSError:
                s.ws_connections.append(b"(connected)")
            conn.close()

    threads = [threading.Thread(target=httpd.serve_forever, daemon=True), threading.Thread(target=accept, daemon=True)]
    for t in threads:
        t.start()
    yield s
    s.hold.set()
    stop.set()
    httpd.shutdown()
    httpd.server_close()
    ws.close()


@dataclass
class Captured:
    code: int
    summary: dict[str, Any]
    stderr: str
    captures: list[dict[str, Any]]  # rows of `captures`, `rendering` parsed
    resources: list[dict[str, Any]]  # rows of `capture_resources`
    metadata: dict[str, dict[str, Any]]  # the WARC's metadata records by target URI, parsed
    resource_uris: list[str]  # the WARC's resource records' target URIs
    responses: list[str]  # the WARC's response records' target URIs
    elapsed: float

    def capture(self, url: str) -> dict[str, Any]:
        return next(c for c in self.captures if c["fetch_url"] == url)

    def notes(self, url: str) -> list[str]:
        notes: list[str] = self.capture(url)["rendering"]["notes"]
        assert notes == self.metadata[url]["notes"]  # the row and the WARC say the same
        return notes


def snapshot(storage: Path, site: Site, *urls: str, args: tuple[str, ...] = (), env: dict[str, str] | None = None,
             timeout: float = 90) -> Captured:
    manifest = storage.parent / "urls.txt"
    manifest.write_text("\n".join(urls) + "\n")
    started = time.monotonic()
    proc = run(storage, "snapshot", str(manifest), *FAST_BROWSER, *args, "--json", env={**site.env(), **(env or {})},
               timeout=timeout)
    elapsed = time.monotonic() - started
    summary = json.loads(proc.stdout) if proc.stdout.strip() else {}
    with sqlite3.connect(storage / "archiver.db") as db:
        db.row_factory = sqlite3.Row
        captures = [dict(r) for r in db.execute("SELECT * FROM captures ORDER BY id")]
        resources = [dict(r) for r in db.execute("SELECT * FROM capture_resources ORDER BY id")]
    for c in captures:
        c["rendering"] = json.loads(c["rendering"]) if c["rendering"] else None
    metadata: dict[str, dict[str, Any]] = {}
    resource_uris: list[str] = []
    responses: list[str] = []
    for path in sorted(storage.rglob("*.warc.gz")):
        with path.open("rb") as f:
            for record in ArchiveIterator(f):
                uri = record.rec_headers.get_header("WARC-Target-URI")
                if record.rec_type == "metadata":
                    metadata[uri] = json.loads(record.content_stream().read())
                elif record.rec_type == "resource":
                    resource_uris.append(uri)
                elif record.rec_type == "response":
                    responses.append(uri)
    return Captured(proc.returncode, summary, proc.stderr, captures, resources, metadata, resource_uris, responses,
                    elapsed)


def has_screenshot(done: Captured, url: str) -> bool:
    return "urn:screenshot:" + url in done.resource_uris


def test_a_page_that_never_settles_ends_at_its_cap_with_a_screenshot(storage: Path, site: Site) -> None:
    url = site.url("/never")
    done = snapshot(storage, site, url)
    assert done.code == 0, done.stderr
    assert done.elapsed < 5 + 20  # the 5 s cap, plus start-up and reading the page
    capture = done.capture(url)
    assert capture["mode"] == "browser"
    assert capture["rendering"]["settled"] is False
    assert any("never went quiet" in n or "still loading" in n for n in done.notes(url)), done.notes(url)
    assert has_screenshot(done, url)
    assert any(r["url"].startswith(site.url("/tick")) for r in done.resources)


def test_five_thousand_requests_stop_at_the_request_cap(storage: Path, site: Site) -> None:
    url = site.url("/many")
    done = snapshot(storage, site, url, env={"ARCHIVER_BROWSER_MAX_REQUESTS": "40"})
    assert done.code == 0, done.stderr
    assert "more than 40 requests: the rest refused" in done.notes(url)
    fetched = [r for r in done.resources if r["refused"] is None]
    refused = [r for r in done.resources if r["refused"] == "request cap"]
    assert len(fetched) == 40
    assert 0 < len(refused) <= 100  # the first refusals listed; thousands are noted, not itemised
    assert sum(p.startswith("/r/") for p in site.log) <= 40  # nothing past the cap reached the server
    assert has_screenshot(done, url)
    assert "urn:dom:" + url in done.resource_uris


def test_an_infinite_scroll_stops_after_the_scroll_cap(storage: Path, site: Site) -> None:
    url = site.url("/scroll")
    done = snapshot(storage, site, url)
    assert done.code == 0, done.stderr
    notes = done.notes(url)
    assert any(n.startswith("still growing after") for n in notes), notes
    assert has_screenshot(done, url)


def test_a_download_link_is_not_followed_and_the_page_is_kept(storage: Path, site: Site) -> None:
    url = site.url("/download-link")
    done = snapshot(storage, site, url)
    assert done.code == 0, done.stderr
    notes = done.notes(url)
    assert any("/file.bin" in n for n in notes), notes
    capture = done.capture(url)
    assert capture["rendering"]["final_url"] == url
    assert capture["rendering"]["title"] == "Download link"
    assert has_screenshot(done, url)


def test_a_navigation_to_an_attachment_keeps_the_cited_page(storage: Path, site: Site) -> None:
    url = site.url("/to-attachment")
    done = snapshot(storage, site, url)
    assert done.code == 0, done.stderr
    notes = done.notes(url)
    assert any(site.url("/report.pdf") in n for n in notes), notes
    assert done.capture(url)["rendering"]["final_url"] == url
    assert has_screenshot(done, url)


def test_a_cited_page_served_as_an_attachment_is_still_rendered(storage: Path, site: Site) -> None:
    url = site.url("/attachment-page")
    done = snapshot(storage, site, url)
    assert done.code == 0, done.stderr
    assert url in done.responses  # the HTTP capture, whatever the browser made of it
    capture = done.capture(url)
    assert capture["mode"] == "browser"
    assert capture["rendering"]["failed"] is None or "browser" in capture["rendering"]["failed"]
    assert done.metadata[url]["page"] == url


def test_popups_and_dialogs_are_closed_and_noted(storage: Path, site: Site) -> None:
    url = site.url("/popup")
    done = snapshot(storage, site, url)
    assert done.code == 0, done.stderr
    notes = done.notes(url)
    assert "alert dialog dismissed: 'hello from the page'" in notes, notes
    assert "confirm dialog dismissed: 'really?'" in notes, notes
    assert any(n.startswith("popup ") and n.endswith(" closed") for n in notes), notes
    capture = done.capture(url)
    assert capture["rendering"]["title"] == "Popup"
    assert has_screenshot(done, url)
    assert "urn:screenshot:" + site.url("/popped") not in done.resource_uris


def test_a_page_that_navigates_away_keeps_the_cited_page(storage: Path, site: Site) -> None:
    url = site.url("/away")
    done = snapshot(storage, site, url)
    assert done.code == 0, done.stderr
    notes = done.notes(url)
    assert f"the page navigated to {site.url('/elsewhere', ELSEWHERE)}: not followed" in notes, notes
    capture = done.capture(url)
    assert capture["rendering"]["final_url"] == url
    assert capture["rendering"]["title"] == "Cited"
    assert "/elsewhere" not in site.log
    assert has_screenshot(done, url)


def chromium_pids(root: int) -> list[int]:
    """Every process under `root` whose command is Chromium's."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(b")") + 2:].split()[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        try:
            if b"chrom" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]:
                found.append(pid)
        except OSError:
            continue
    return found


def test_a_killed_browser_keeps_the_page_and_restarts_for_the_next(storage: Path, site: Site) -> None:
    slow, after = site.url("/slow"), site.url("/next")
    manifest = storage.parent / "urls.txt"
    manifest.write_text(f"{slow}\n{after}\n")
    proc = subprocess.Popen(
        [ARCHIVER, "--storage", str(storage), "snapshot", str(manifest), *FAST_BROWSER, "--concurrency", "1",
         "--browser-pages", "1", "--json"],
        env={**os.environ, "ARCHIVER_BACKOFF": "0.05", **LOCAL_ENV, **site.env(), "ARCHIVER_BROWSER_TIMEOUT": "10"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert site.holding.wait(30), "the slow page's data was never asked for"
        killed = chromium_pids(proc.pid)
        assert killed
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        site.hold.set()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    summary = json.loads(out)
    with sqlite3.connect(storage / "archiver.db") as db:
        db.row_factory = sqlite3.Row
        rows = {r["fetch_url"]: dict(r) for r in db.execute("SELECT * FROM captures")}
        shots = {r[0] for r in db.execute("SELECT uri FROM records WHERE uri LIKE 'urn:screenshot:%'")}
    assert set(rows) == {slow, after}, (summary, err)
    crashed = json.loads(rows[slow]["rendering"])
    assert crashed["failed"] and "browser" in crashed["failed"], crashed
    assert rows[slow]["record_id"]  # the page's own HTTP capture is kept
    assert (rows[slow]["mode"], rows[after]["mode"]) == ("http", "browser")  # and is what the row says
    restarted = json.loads(rows[after]["rendering"])
    assert restarted["failed"] is None
    assert "urn:screenshot:" + after in shots
    with sqlite3.connect(storage / "archiver.db") as db:
        texts = [r[0] for r in db.execute("SELECT uri FROM records WHERE uri = ?", ("urn:dom:" + after,))]
    assert texts


def test_a_websocket_is_noted_and_nothing_reaches_its_server(storage: Path, site: Site) -> None:
    url = site.url("/ws")
    done = snapshot(storage, site, url)
    assert done.code == 0, done.stderr
    notes = done.notes(url)
    assert f"WebSocket ws://{WS_HOST}:{site.ws_port}/live: skipped" in notes, notes
    time.sleep(0.5)
    assert site.ws_connections == []
    assert has_screenshot(done, url)
