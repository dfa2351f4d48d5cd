"""Browser capture made cheaper without keeping less, with real Chromium: the screenshot is still the
whole page (not the viewport) as a PNG; pages of the same site rendered one after another in one run see
none of each other's cookies or storage; Chromium starts without the browser UI pages it preloads for
every window (the omnibox popup), and archiver's --disable-features keeps Playwright's own list."""

from __future__ import annotations

import asyncio
import os
import re
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST, require_module, run
from hostnames import loopback_env, loopback_names
from warcio.archiveiterator import ArchiveIterator

HOST = "lean.archiver.test"
TALL = 3000
PAGES = {
    # Taller than three viewports, with an endless animation (stopped for the screenshot).
    "/tall": (f"<!doctype html><title>Tall</title><style>@keyframes spin{{to{{transform:rotate(1turn)}}}}"
              f" #s{{animation:spin 1s linear infinite;width:50px;height:50px;background:red}}</style>"
              f"<body style='margin:0'><div id=s></div><div style='height:{TALL}px'>tall</div>"),
    # Says what it found of an earlier page's cookie and storage, then leaves its own.
    "/visit": ("<!doctype html><title>Visit</title><body><p id=out>not run</p><script>"
               "const seen = [document.cookie || 'none', localStorage.getItem('k') || 'none',"
               " sessionStorage.getItem('k') || 'none'].join('|');"
               "document.getElementById('out').textContent = 'seen ' + seen;"
               "document.cookie = 'k=' + location.search + '; max-age=3600; path=/';"
               "localStorage.setItem('k', location.search); sessionStorage.setItem('k', location.search);"
               "</script>"),
}


@pytest.fixture()
def site() -> Iterator[int]:
    require_module("playwright", "pip install 'archiver[browser]'")
    from archiver.browser.chromium import unavailable

    why = unavailable()
    if why is not None:
        if os.environ.get("ARCHIVER_TEST_STRICT") == "1":
            pytest.fail(why)
        pytest.skip(why)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = PAGES.get(self.path.split("?")[0], "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def _resources(storage: Path) -> dict[str, bytes]:
    out = {}
    for path in sorted(storage.rglob("*.warc.gz")):
        with path.open("rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type == "resource":
                    out[record.rec_headers.get_header("WARC-Target-URI")] = record.content_stream().read()
    return out


def _snapshot(storage: Path, port: int, *urls: str) -> dict[str, bytes]:
    env = loopback_env(loopback_names([HOST], [port]))
    manifest = storage.parent / "urls.txt"
    manifest.write_text("\n".join(urls) + "\n")
    done = run(storage, "snapshot", str(manifest), "--capture", "browser", "--browser-pages", "1",
               "--concurrency", "1", *FAST, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return _resources(storage)


def test_the_screenshot_is_the_whole_page_as_a_png(storage: Path, site: int) -> None:
    url = f"http://{HOST}:{site}/tall"
    shot = _snapshot(storage, site, url)[f"urn:screenshot:{url}"]
    assert shot.startswith(b"\x89PNG\r\n\x1a\n") and shot[12:16] == b"IHDR"
    width, height = struct.unpack(">II", shot[16:24])
    assert (width, height) == (1280, TALL + 50)  # the viewport is 1280 × 900: the page, not the screen


def test_pages_of_one_site_see_nothing_an_earlier_page_left(storage: Path, site: int) -> None:
    urls = [f"http://{HOST}:{site}/visit?{n}" for n in range(3)]
    kept = _snapshot(storage, site, *urls)
    for url in urls:
        dom = kept[f"urn:dom:{url}"]
        assert b"seen none|none|none" in dom, (url, re.findall(rb"seen [^<]*", dom))


def test_chromium_opens_no_browser_ui_pages_and_keeps_playwrights_switches() -> None:
    require_module("playwright", "pip install 'archiver[browser]'")
    import playwright
    from playwright.async_api import async_playwright

    from archiver.browser.chromium import DISABLED_FEATURES, launch, unavailable

    if unavailable() is not None:
        pytest.skip(str(unavailable()))
    # Playwright's own --disable-features list, which ours (the last one given: the one Chromium keeps)
    # must repeat.
    bundle = (Path(playwright.__file__).parent / "driver/package/lib/coreBundle.js").read_text()
    block = re.search(r"disabledFeatures = \[(.*?)\]\.filter", bundle, re.S)
    assert block is not None
    theirs = set(re.findall(r'^\s*"(\w+)"', block.group(1), re.M))
    assert theirs and theirs <= set(DISABLED_FEATURES), theirs - set(DISABLED_FEATURES)

    async def targets() -> list[tuple[str, str]]:
        async with async_playwright() as p:
            browser = await launch(p)
            try:
                context = await browser.new_context()
                page = await context.new_page()
                await page.set_content("<p>hello</p>")
                session = await browser.new_browser_cdp_session()
                found = await session.send("Target.getTargets")
                return [(t["type"], t["url"]) for t in found["targetInfos"]]
            finally:
                await browser.close()

    found = asyncio.run(targets())
    assert [kind for kind, _ in found] == ["page"], found
