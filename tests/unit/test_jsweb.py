"""The simulated JavaScript web (tests/helpers/jsweb.py) behaves as its docstring says, in real headless
Chromium. Here the browser talks to the server directly (--host-resolver-rules): this tests the helper,
not archiver's capture, which must see the same behaviour through its own fetcher."""

from __future__ import annotations

import json
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import invoke, require_binary, require_module
from jsweb import HOSTS, JsWeb
from warcio.archiveiterator import ArchiveIterator

from archiver import platforms
from archiver.classify import Seen, classify
from archiver.config import Settings
from archiver.content import page_text

sync_api = require_module("playwright.sync_api", "pip install -e '.[dev]'")


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JsWeb]:
    """One server for the module (the browser's resolver rule names its port); each test resets it."""
    with JsWeb(tmp_path_factory.mktemp("jsweb")) as server:
        yield server


@pytest.fixture(scope="module")
def browser(web: JsWeb) -> Iterator[Any]:
    chromium = require_binary("chromium", "apt-get install chromium",
                              path=os.environ.get("ARCHIVER_CHROMIUM") or "/usr/bin/chromium")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium,
                                              args=[f"--host-resolver-rules={web.host_rules}"])
        yield launched
        launched.close()


@pytest.fixture()
def context(web: JsWeb, browser: Any) -> Iterator[Any]:
    web.reset()
    ctx = browser.new_context(ignore_https_errors=True)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture()
def page(context: Any) -> Any:
    return context.new_page()


def paths(web: JsWeb, host: str) -> list[str]:
    return [r.path for r in web.log if r.host == host]


def classified(url: str, dom: str) -> str:
    """archiver's status word for a rendered DOM served as a 200."""
    body = dom.encode()
    seen = Seen(url, url, ((url, 200),), 200, {"content-type": "text/html; charset=utf-8"},
                page_text(body, "text/html; charset=utf-8", url), len(body))
    return classify(seen).status


# -- 1. the JS article ---------------------------------------------------------------------------


def test_js_article_renders_the_fetched_post_with_css_font_and_image(web: JsWeb, page: Any) -> None:
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    url = web.url("social.example", "/post/7")
    response = page.goto(url)
    post = web.post(7)
    assert post["text"] not in response.text()  # the HTML is only a shell
    assert "Loading post" in response.text()
    page.wait_for_selector("p.text")
    assert page.inner_text("p.text") == post["text"]
    assert page.inner_text("h1.author") == "Field Reporter 7"
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.querySelector('img.photo').naturalWidth") == 64
    assert page.evaluate("[...document.fonts].map(f => f.family + ':' + f.status)") == ["Vera Web:loaded"]
    assert {"/static/site.css", "/static/post.js", "/static/font.ttf", "/img/post-7.png"} <= set(
        paths(web, "cdn.example"))
    view = [r for r in web.log if r.method == "POST"]
    assert [(r.path, json.loads(r.body), r.status) for r in view] == [("/api/view", {"id": "7"}, 204)]
    # The log has every request the browser made (and the font answered with CORS, or it would not load).
    assert set(asked) <= set(web.urls())
    font = next(r for r in web.log if r.path == "/static/font.ttf")
    assert font.status == 200 and font.header("origin") == "https://social.example"


def test_deleted_post_renders_the_platform_message_and_archiver_calls_it_soft_404(web: JsWeb, page: Any) -> None:
    url = web.url("social.example", "/post/8")
    page.goto(url)
    page.wait_for_selector("p.text")
    assert classified(url, page.content()) == "ok"
    text = web.post(8)["text"]

    web.delete_post(8)
    assert web.post(8) == {"id": "8", "deleted": True}
    page.goto(url)
    page.wait_for_selector(".gone")
    shown = page.inner_text("body")
    assert "Sorry, this page isn't available." in shown and "This post was deleted." in shown
    assert text not in shown and "Loading post" not in shown
    assert classified(url, page.content()) == "soft_404"


def test_edited_post_renders_the_new_text(web: JsWeb, page: Any) -> None:
    web.edit_post(9, "Post 9, edited: the market was not shelled.")
    page.goto(web.url("social.example", "/post/9"))
    page.wait_for_selector("p.text")
    assert page.inner_text("p.text") == "Post 9, edited: the market was not shelled."
    assert page.inner_text("h1.author") == "Field Reporter 9"  # the rest of the post is unchanged


# -- 2. lazy images --------------------------------------------------------------------------------


def test_lazy_images_load_only_when_scrolled_into_view(web: JsWeb, page: Any) -> None:
    page.goto(web.url("news.example", "/lazy"))
    page.wait_for_load_state("networkidle")
    assert paths(web, "cdn.example").count("/img/lazy-top.png") == 1
    assert not [p for p in paths(web, "cdn.example") if "lazy-native" in p or "lazy-io" in p]
    assert page.evaluate("[...document.querySelectorAll('img.io')].every(img => !img.src)")

    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_function("[...document.images].every(img => img.complete && img.naturalWidth > 0)")
    lazy = {p for p in paths(web, "cdn.example") if "lazy-native" in p or "lazy-io" in p}
    assert lazy == {f"/img/lazy-{kind}-{n}.png" for kind in ("native", "io") for n in (1, 2, 3)}


# -- 3. the page that never stops loading ----------------------------------------------------------


def test_never_ending_page_never_reaches_network_idle(web: JsWeb, page: Any) -> None:
    page.goto(web.url("news.example", "/forever"))
    with pytest.raises(sync_api.TimeoutError):
        page.wait_for_load_state("networkidle", timeout=2000)
    log = web.log
    assert [r.status for r in log if r.path == "/api/longpoll"] == [0]  # asked, never answered
    ticks = [r.path for r in log if r.path.startswith("/api/tick")]
    assert len(ticks) >= 3 and len(set(ticks)) == len(ticks)  # distinct URLs, still coming


def test_a_held_long_poll_does_not_hold_up_closing(tmp_path: Path) -> None:
    with JsWeb(tmp_path) as server:
        context = ssl.create_default_context(cafile=server.ca_file)
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        conn = context.wrap_socket(raw, server_hostname="news.example")
        conn.sendall(b"GET /api/longpoll HTTP/1.1\r\nHost: news.example\r\n\r\n")
        while not server.log:
            conn.settimeout(0.05)
            with pytest.raises(TimeoutError):
                conn.recv(1)
        conn.settimeout(5)
    assert conn.recv(1) == b""  # closed unanswered when the server closed, well before the poll's own end
    assert [(r.path, r.status) for r in server.log] == [("/api/longpoll", 0)]


# -- 4. infinite scroll ----------------------------------------------------------------------------


def test_infinite_scroll_appends_a_page_per_scroll_to_the_bottom(web: JsWeb, page: Any) -> None:
    page.goto(web.url("social.example", "/feed"))
    page.wait_for_function("window.jswebPages >= 1")
    for pages in range(2, 5):
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_function(f"window.jswebPages >= {pages}")
    loaded = page.evaluate("window.jswebPages")
    assert page.locator("li.item").count() == 10 * loaded
    assert page.inner_text("li.item >> nth=-1") == f"Feed item {loaded - 1}.9"
    asked = [p for p in paths(web, "social.example") if p.startswith("/api/feed")]
    assert asked == [f"/api/feed?page={n}" for n in range(loaded)]


# -- 5. many requests ------------------------------------------------------------------------------


def test_many_request_page_asks_for_every_url(web: JsWeb, page: Any) -> None:
    page.goto(web.url("news.example", "/many?n=400"), wait_until="domcontentloaded")
    page.wait_for_function("document.getElementById('done').textContent === '400'", timeout=30_000)
    images = [r for r in web.log if r.path.startswith("/img/many-")]
    data = [r for r in web.log if r.path.startswith("/api/n/")]
    assert len({r.path for r in images}) == len(images) == 200
    assert len({r.path for r in data}) == len(data) == 200
    assert {r.status for r in images + data} == {200}
    page.goto(web.url("news.example", "/many"), wait_until="domcontentloaded")  # "load" waits for its images
    assert page.evaluate("window.jswebPlanned") == 5000  # the default; a smaller n above keeps the test short


@pytest.mark.slow
def test_many_request_page_asks_for_5000_urls(web: JsWeb, page: Any) -> None:
    page.goto(web.url("news.example", "/many"), wait_until="domcontentloaded")
    page.wait_for_function("document.getElementById('done').textContent === '5000'", timeout=120_000)
    many = {r.path for r in web.log if r.path.startswith(("/img/many-", "/api/n/"))}
    assert len(many) == 5000


# -- 6. downloads ----------------------------------------------------------------------------------


def test_download_link_and_auto_download_give_the_attachment(web: JsWeb, page: Any) -> None:
    page.goto(web.url("news.example", "/download"))
    with page.expect_download() as clicked:
        page.click("#dl")
    download = clicked.value
    assert download.suggested_filename == "dataset.bin"
    assert Path(download.path()).read_bytes() == web.download_bytes
    assert len(web.download_bytes) == 3 * 1024 * 1024

    with page.expect_download() as started:
        page.goto(web.url("news.example", "/download/auto"))
    assert started.value.url == web.url("news.example", "/files/dataset.bin")
    served = [r for r in web.log if r.path == "/files/dataset.bin"]
    assert len(served) == 2 and {r.status for r in served} == {200}


# -- 7. popup and dialogs --------------------------------------------------------------------------


def test_popup_alert_and_confirm_on_load(web: JsWeb, context: Any, page: Any) -> None:
    dialogs: list[tuple[str, str]] = []

    def answer(dialog: Any) -> None:
        dialogs.append((dialog.type, dialog.message))
        dialog.accept()

    page.on("dialog", answer)
    with context.expect_page() as opened:
        page.goto(web.url("news.example", "/popup"))
    popup = opened.value
    popup.wait_for_load_state()
    assert popup.url == web.url("other.example", "/popup-target")
    page.wait_for_function("document.getElementById('answer').textContent !== 'unasked'")
    assert dialogs == [("alert", "Welcome to News Example"), ("confirm", "Accept cookies?")]
    assert page.inner_text("#answer") == "accepted"


# -- 8. self-navigation ----------------------------------------------------------------------------


def test_page_navigates_itself_away(web: JsWeb, page: Any) -> None:
    page.goto(web.url("news.example", "/moves"))
    page.wait_for_url(web.url("other.example", "/landed?from=moves"))
    assert page.inner_text("h1") == "Other site"
    assert [r.url for r in web.log if r.host != "cdn.example" and "favicon" not in r.path] == [
        web.url("news.example", "/moves"), web.url("other.example", "/landed?from=moves")]


# -- 9. video and WebSocket ------------------------------------------------------------------------


def test_video_page_asks_for_its_media_and_ranges_are_served(web: JsWeb, page: Any) -> None:
    page.goto(web.url("video.example", "/watch/clip"))
    page.wait_for_function("document.getElementById('player').networkState !== 0")
    page.wait_for_function("document.getElementById('player').error !== null")  # placeholder bytes
    media = [r for r in web.log if r.path == "/media/clip.webm"]
    assert media and media[0].host == "video.example"

    web.media_bytes = b"0123456789"
    ranges = page.evaluate("""async () => {
        const out = [];
        for (const range of ["bytes=2-5", "bytes=7-", "bytes=-3", "bytes=20-"]) {
            const r = await fetch("/media/clip.webm", {headers: {Range: range}});
            out.push([r.status, r.headers.get("content-range"), await r.text()]);
        }
        return out;
    }""")
    assert ranges == [[206, "bytes 2-5/10", "2345"], [206, "bytes 7-9/10", "789"], [206, "bytes 7-9/10", "789"],
                      [416, "bytes */10", ""]]


def test_websocket_page_asks_and_is_refused(web: JsWeb, page: Any) -> None:
    page.goto(web.url("video.example", "/live"))
    page.wait_for_function("document.getElementById('status').textContent === 'live chat unavailable'")
    upgrade = [r for r in web.log if r.path == "/ws/live"]
    assert len(upgrade) == 1 and upgrade[0].status == 400
    assert (upgrade[0].header("upgrade") or "").lower() == "websocket"


# -- 10. the plain article and the heavy non-platform page ------------------------------------------


def test_plain_article_is_all_in_the_html(web: JsWeb, browser: Any) -> None:
    web.reset()
    context = browser.new_context(ignore_https_errors=True, java_script_enabled=False)
    page = context.new_page()
    url = web.url("news.example", "/article/bridges")
    response = page.goto(url)
    assert "<script" not in response.text()
    paragraphs = web.article_text("bridges").split("\n\n")
    assert len(paragraphs) == 8 and len(" ".join(paragraphs).split()) > 250
    assert page.locator("article p").all_inner_texts() == paragraphs
    assert classified(url, response.text()) == "ok"

    web.edit_article("bridges", "The council closed the north bridge.")
    page.goto(url)
    assert page.locator("article p").all_inner_texts() == ["The council closed the north bridge."]
    web.remove_article("bridges")
    assert page.goto(url).status == 404
    context.close()


def test_heavy_script_page_has_tiny_html_text_and_is_no_known_platform(web: JsWeb, page: Any) -> None:
    url = web.url("app.example", "/dashboard")
    response = page.goto(url)
    html = response.text()
    assert page_text(html.encode(), "text/html", url).text.strip() in ("Loading...", "Dashboard\nLoading...")
    page.wait_for_function("window.bundles === 6")
    assert JsWeb.DASHBOARD_TEXT in page.inner_text("#root")
    bundles = [r for r in web.log if r.path.startswith("/static/bundle-")]
    assert len(bundles) == 6
    sizes = page.evaluate("""async urls => Promise.all(urls.map(async u => (await (await fetch(u)).text()).length))""",
                          [r.url for r in bundles])
    assert sum(sizes) > 500_000
    assert platforms.platform_for(url) is None and platforms.platform_for(web.url("social.example")) is None


# -- the fixture's own API --------------------------------------------------------------------------


def test_archiver_reaches_the_hosts_over_tls_by_their_names(jsweb: JsWeb, storage: Path) -> None:
    """What every capture test relies on: the entries and the CA are enough for archiver's own fetcher."""
    url = jsweb.url("social.example", "/post/1")
    result = invoke(storage, "snapshot", url, "--capture", "http", "--per-host-delay", "0", "--json",
                    env=jsweb.env())
    assert result.exit_code == 0, result.output
    assert [(r.method, r.url, r.status) for r in jsweb.log] == [("GET", url, 200)]
    with open(next((storage / "warcs").glob("*.warc.gz")), "rb") as fh:
        bodies = {record.rec_headers.get_header("WARC-Target-URI"): record.content_stream().read()
                  for record in ArchiveIterator(fh) if record.rec_type == "response"}
    assert b"Loading post..." in bodies[url] and jsweb.post(1)["text"].encode() not in bodies[url]


def test_entries_name_every_host_on_443(jsweb: JsWeb) -> None:
    assert jsweb.resolve == tuple(f"{host}:443:127.0.0.1:{jsweb.port}" for host in HOSTS)
    assert jsweb.env()["ARCHIVER_RESOLVE"].split(",") == list(jsweb.resolve)
    assert Path(jsweb.env()["REQUESTS_CA_BUNDLE"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert jsweb.url("cdn.example", "static/site.css") == "https://cdn.example/static/site.css"
    assert jsweb.settings(Settings(resolve=("a.test:80:127.0.0.1",))).resolve == ("a.test:80:127.0.0.1", *jsweb.resolve)
