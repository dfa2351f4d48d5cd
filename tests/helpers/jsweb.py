"""A simulated JavaScript web: one real HTTPS server on loopback answering for several host names, with the
JS-heavy pages browser capture must handle (issue 14). Plain stdlib plus trustme (a dev dependency).

Every name reaches the server through archiver's resolver override (`JsWeb.resolve`: entries
`name:443:127.0.0.1:<port>`), so URLs carry no port: a capture of `https://social.example/post/1` really
fetches over TLS from 127.0.0.1. The certificate (one, naming every host) is signed by a test CA whose
PEM is `JsWeb.ca_file`: give it to archiver as REQUESTS_CA_BUNDLE (`JsWeb.env()` for a CLI process;
monkeypatch the variable before building a Fetcher in process). A browser that should reach the server
directly (not through archiver) gets `--host-resolver-rules=<JsWeb.host_rules>` and ignores certificate
errors (Chromium has no CA-file flag).

Every request the server sees goes into `JsWeb.log` (method, host, path with query, headers, body,
wall-clock time, status; 0 while unanswered), so a test can check that nothing bypassed archiver's
fetcher: each logged URL has its request/response pair in the WARC. `JsWeb.state` changes what a route
serves between runs (keys below; `delete_post`/`edit_post`/`remove_article`/`edit_article` set them).

Routes (all HTML and JS written here, no frameworks; cdn.example answers with CORS headers):

social.example
  /post/<id>              JS article: a shell ("Loading post...", a stylesheet and a script from
                          cdn.example); post.js fetch()es /api/post/<id>.json and renders author, text
                          (`JsWeb.post(id)["text"]`) and an image (cdn.example/img/post-<id>.png) into
                          #app, then POSTs {"id": ...} to /api/view (a request with a body). A deleted
                          post renders "Sorry, this page isn't available." / "This post was deleted."
                          and no post text. state["post:<id>"]: {"deleted": True} or fields that
                          replace the post's ({"text": "..."}: drift).
  /api/post/<id>.json     the post's JSON (200 even when deleted, as platforms answer).
  /api/view               POST -> 204.
  /feed                   infinite scroll: 10 items per page from /api/feed?page=N (each with an image
                          cdn.example/img/feed-N-K.png); reaching the bottom (IntersectionObserver on a
                          sentinel) appends the next page, forever. window.jswebPages counts pages.
  /api/feed?page=N        {"page": N, "items": [...]}, for every N.
news.example
  /article/<slug>         plain server-rendered article, no script (JsWeb.article_text(slug)); the site
                          stylesheet and an image. state["article:<slug>"]: {"text": "..."} (changed)
                          or {"status": 404} (gone).
  /lazy                   images 9000px below the fold: three <img loading="lazy"> (img/lazy-native-N.png)
                          and three whose src an IntersectionObserver sets from data-src when they scroll
                          into view (img/lazy-io-N.png); one eager image on top (img/lazy-top.png).
  /forever                never stops loading: a long-poll fetch (/api/longpoll, never answered: held
                          until the server closes) and a fetch of /api/tick?n=K every 200 ms, forever.
  /many?n=5000            requests n (default 5,000) distinct URLs: even i an <img> of
                          cdn.example/img/many-<i>.png, odd i a fetch of /api/n/<i>.json; #done counts.
  /download               a link (#dl) to /files/dataset.bin, served as Content-Disposition: attachment
                          (JsWeb.download_bytes, 3 MiB by default).
  /download/auto          the same page, navigating to the file itself on load.
  /popup                  on load: window.open(other.example/popup-target), alert(), confirm(); #answer
                          says "accepted" or "declined".
  /moves                  navigates itself to https://other.example/landed?from=moves after 300 ms.
video.example
  /watch/<id>             a <video src="/media/<id>.webm"> page (yt-dlp's generic extractor finds it).
  /media/<id>.webm        JsWeb.media_bytes (placeholder bytes unless a test sets a real WebM), video/webm,
                          Range requests answered 206.
  /live                   opens a WebSocket to wss://video.example/ws/live; #status says when it failed.
  /ws/live                not a WebSocket server: 400 (logged, with its Upgrade header).
app.example
  /dashboard              NOT a known platform: six 100 KB scripts, tiny text in the HTML; the last
                          script renders a few paragraphs (JsWeb.DASHBOARD_TEXT) into #root.
other.example
  /<anything>             a small static page naming its path (popup and self-navigation targets).
cdn.example
  /static/site.css        @font-face "Vera Web" from /static/font.ttf, body set in it.
  /static/font.ttf        Bitstream Vera Sans, as shipped in reportlab's package (a dev dependency;
                          Bitstream Vera licence: free to use and redistribute unmodified).
  /static/<name>.js       the scripts above.  /static/bundle-<n>.js  the dashboard's bundles.
  /img/<name>.png         a real PNG, its colour derived from the name (distinct payloads).
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import importlib.resources
import json
import random
import re
import shutil
import ssl
import struct
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

HOSTS = ("social.example", "news.example", "video.example", "app.example", "other.example", "cdn.example")
CDN = "https://cdn.example"
LONGPOLL_SECONDS = 120.0  # the never-answered poll ends at the latest when the server closes
IDLE_SECONDS = 10.0  # an idle keep-alive connection is dropped after this (handler threads end)
PLACEHOLDER_MEDIA = b"\x1aE\xdf\xa3" + b"not a real WebM: set JsWeb.media_bytes" * 8


def png(width: int, height: int, rgb: bytes) -> bytes:
    """A valid PNG of one colour."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + rgb * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def image(name: str) -> bytes:
    """The PNG cdn.example serves as img/<name>.png."""
    size = (1, 1) if name.startswith("many-") else (64, 48)
    return png(*size, hashlib.sha256(name.encode()).digest()[:3])


def font() -> bytes:
    return (importlib.resources.files("reportlab") / "fonts" / "Vera.ttf").read_bytes()


def page(title: str, body: str, head: str = "", *, css: bool = True) -> bytes:
    style = f'<link rel="stylesheet" href="{CDN}/static/site.css">' if css else ""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>{style}{head}'
            f"</head>\n<body>\n{body}\n</body></html>\n").encode()


def script(name: str) -> str:
    return f'<script src="{CDN}/static/{name}.js" defer></script>'


SCRIPTS: dict[str, str] = {
    "post": """
const id = location.pathname.split("/").pop();
const app = document.getElementById("app");
fetch(`/api/post/${id}.json`).then(r => r.json()).then(post => {
  if (post.deleted) {
    document.title = "Page not available";
    app.innerHTML = '<div class="gone"><h1>Sorry, this page isn\\'t available.</h1>' +
      "<p>This post was deleted.</p></div>";
    return;
  }
  document.title = `${post.author}: post ${post.id}`;
  app.innerHTML = "";
  const article = document.createElement("article");
  const author = document.createElement("h1"); author.className = "author"; author.textContent = post.author;
  const text = document.createElement("p"); text.className = "text"; text.textContent = post.text;
  const img = document.createElement("img"); img.className = "photo"; img.src = post.image; img.alt = "photo";
  article.append(author, text, img);
  app.append(article);
  fetch("/api/view", {method: "POST", headers: {"Content-Type": "application/json"},
                      body: JSON.stringify({id: post.id})});
});
""",
    "feed": """
window.jswebPages = 0;
let loading = false;
const list = document.getElementById("items");
const sentinel = document.getElementById("more");
async function more() {
  if (loading) return;
  loading = true;
  const data = await (await fetch(`/api/feed?page=${window.jswebPages}`)).json();
  for (const item of data.items) {
    const li = document.createElement("li");
    li.className = "item";
    li.innerHTML = `<p>${item.text}</p><img src="${item.image}" width="64" height="48" alt="">`;
    li.style.height = "200px";
    list.append(li);
  }
  window.jswebPages += 1;
  loading = false;
  const box = sentinel.getBoundingClientRect();
  if (box.top < innerHeight) more();  // still at the bottom: keep filling
}
new IntersectionObserver(entries => { if (entries.some(e => e.isIntersecting)) more(); }).observe(sentinel);
// An observer only reports changes: a scroll that lands before it saw the sentinel leave the view
// would go unnoticed, so scrolling checks too, as many real feeds do.
addEventListener("scroll", () => { if (sentinel.getBoundingClientRect().top < innerHeight) more(); });
""",
    "lazy": """
const seen = new IntersectionObserver(entries => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    e.target.src = e.target.dataset.src;
    seen.unobserve(e.target);
  }
});
document.querySelectorAll("img[data-src]").forEach(img => seen.observe(img));
""",
    "forever": """
fetch("/api/longpoll").then(r => r.text()).catch(() => {});
let tick = 0;
setInterval(() => { tick += 1; fetch(`/api/tick?n=${tick}`).catch(() => {}); }, 200);
""",
    "many": """
const n = Number(new URLSearchParams(location.search).get("n") || 5000);
window.jswebPlanned = n;
let next = 0, done = 0;
const counter = document.getElementById("done");
// At most 48 in flight, as a gallery or a chat history loads: Chromium refuses thousands of
// outstanding fetches at once (ERR_INSUFFICIENT_RESOURCES), and every URL must really be asked for.
function one() {
  if (next >= n) return;
  const i = next++;
  const finished = () => { done += 1; counter.textContent = String(done); one(); };
  if (i % 2 === 0) {
    const img = new Image(1, 1);
    img.onload = img.onerror = finished;
    img.src = `https://cdn.example/img/many-${i}.png`;
    document.body.append(img);
  } else {
    fetch(`/api/n/${i}.json`).then(r => r.json()).then(finished, finished);
  }
}
for (let k = 0; k < 48; k++) one();
""",
    "popup": """
window.addEventListener("load", () => {
  window.open("https://other.example/popup-target", "_blank");
  alert("Welcome to News Example");
  const ok = confirm("Accept cookies?");
  document.getElementById("answer").textContent = ok ? "accepted" : "declined";
});
""",
    "moves": """
setTimeout(() => { location.href = "https://other.example/landed?from=moves"; }, 300);
""",
    "download": """
window.addEventListener("load", () => { location.href = "/files/dataset.bin"; });
""",
    "live": """
const status = document.getElementById("status");
const ws = new WebSocket("wss://video.example/ws/live");
ws.onopen = () => { status.textContent = "live chat connected"; };
ws.onclose = () => { status.textContent = "live chat unavailable"; };
""",
}

_T = TypeVar("_T")


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    host: str  # from the Host header, without a port
    path: str  # with the query
    headers: dict[str, str]  # names as received (see header() for a case-insensitive look-up)
    time: float  # wall clock (time.time()), when the request line arrived
    body: bytes = b""
    status: int = 0  # 0: never answered (the long poll), or the connection dropped first

    @property
    def url(self) -> str:
        return f"https://{self.host}{self.path}"

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class _Shared:
    lock: threading.Lock = field(default_factory=threading.Lock)
    log: list[Request] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)


class JsWeb:
    """The server; a context manager. See the module docstring for the routes."""

    DASHBOARD_TEXT = ("Quarterly figures for the relief convoys: 412 trucks crossed in March, 388 in April. "
                      "The dashboard renders these paragraphs only after all six bundles ran.")

    def __init__(self, directory: Path | None = None) -> None:
        import trustme  # a dev dependency; imported here so conftest loads without it

        self._own_dir = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="jsweb-")) if directory is None else directory
        self.directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        self.ca_file = str(self.directory / "jsweb-ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(*HOSTS).configure_cert(context)
        context.set_alpn_protocols(["http/1.1"])
        self.media_bytes = PLACEHOLDER_MEDIA
        self.download_bytes = random.Random(14).randbytes(3 * 1024 * 1024)
        self.shared = _Shared()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.web = self
        # The handshake happens in the handler thread (first read), not in accept(): one slow or broken
        # client must not stall the accept loop.
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.port: int = self.httpd.server_address[1]
        self.resolve: tuple[str, ...] = tuple(f"{host}:443:127.0.0.1:{self.port}" for host in HOSTS)
        self.host_rules = f"MAP *.example 127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="jsweb", daemon=True)

    def __enter__(self) -> JsWeb:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.shared.stopping.set()  # releases the long polls
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- what tests use -----------------------------------------------------------------------

    def url(self, host: str, path: str = "/") -> str:
        """`url("social.example", "/post/1")` -> "https://social.example/post/1"."""
        return f"https://{host}/{path.lstrip('/')}"

    def env(self) -> dict[str, str]:
        """What a CLI process needs to reach these hosts and trust their certificate."""
        return {"ARCHIVER_RESOLVE": ",".join(self.resolve), "REQUESTS_CA_BUNDLE": self.ca_file}

    def settings(self, base: _T) -> _T:
        """`base` (an archiver Settings) with these hosts added to its resolver override."""
        return dataclasses.replace(base, resolve=(*base.resolve, *self.resolve))  # type: ignore[type-var,attr-defined]

    @property
    def log(self) -> list[Request]:
        with self.shared.lock:
            return list(self.shared.log)

    def urls(self, host: str | None = None) -> list[str]:
        """The URLs of logged requests, in arrival order (optionally of one host)."""
        return [r.url for r in self.log if host is None or r.host == host]

    @property
    def state(self) -> dict[str, Any]:
        return self.shared.state

    def reset(self) -> None:
        """Forget the log and the state (a module-scoped server shared by tests)."""
        with self.shared.lock:
            self.shared.log.clear()
            self.shared.state.clear()

    def post(self, post_id: str | int) -> dict[str, Any]:
        """The JSON social.example serves for a post now."""
        post_id = str(post_id)
        post: dict[str, Any] = {
            "id": post_id, "author": f"Field Reporter {post_id}",
            "text": f"Post {post_id}: shelling near the grain market began at 06:10, three witnesses say.",
            "image": f"{CDN}/img/post-{post_id}.png", "posted": "2024-03-01T06:10:00Z"}
        change = self.state.get(f"post:{post_id}") or {}
        if change.get("deleted"):
            return {"id": post_id, "deleted": True}
        return {**post, **change}

    def delete_post(self, post_id: str | int) -> None:
        self.state[f"post:{post_id}"] = {"deleted": True}

    def edit_post(self, post_id: str | int, text: str) -> None:
        self.state[f"post:{post_id}"] = {"text": text}

    def article_text(self, slug: str) -> str:
        """The paragraphs of news.example/article/<slug> now (blank-line separated)."""
        change = self.state.get(f"article:{slug}") or {}
        if "text" in change:
            return str(change["text"])
        return "\n\n".join(
            f"Paragraph {n} of the {slug} report. The district council met on Tuesday to review the water supply, "
            f"the state of the two bridges and the schedule of the school buses; residents spoke for an hour."
            for n in range(1, 9))

    def remove_article(self, slug: str, status: int = 404) -> None:
        self.state[f"article:{slug}"] = {"status": status}

    def edit_article(self, slug: str, text: str) -> None:
        self.state[f"article:{slug}"] = {"text": text}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never wait for held connections (the long poll) on close
    allow_reuse_address = True
    request_queue_size = 256
    web: JsWeb

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Browsers drop connections mid-answer all the time (navigation, cancelled lazy images): not news.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (host, re.compile(pattern), name) for host, pattern, name in [
        ("social.example", r"/post/([\w-]+)", "social_post"),
        ("social.example", r"/api/post/([\w-]+)\.json", "social_post_json"),
        ("social.example", r"/api/view", "no_content"),
        ("social.example", r"/feed", "feed"),
        ("social.example", r"/api/feed", "feed_json"),
        ("news.example", r"/article/([\w-]+)", "article"),
        ("news.example", r"/lazy", "lazy"),
        ("news.example", r"/forever", "forever"),
        ("news.example", r"/api/longpoll", "longpoll"),
        ("news.example", r"/api/tick", "small_json"),
        ("news.example", r"/many", "many"),
        ("news.example", r"/api/n/(\d+)\.json", "small_json"),
        ("news.example", r"/download(/auto)?", "download_page"),
        ("news.example", r"/files/dataset\.bin", "download"),
        ("news.example", r"/popup", "popup"),
        ("news.example", r"/moves", "moves"),
        ("video.example", r"/watch/([\w-]+)", "watch"),
        ("video.example", r"/media/([\w-]+)\.webm", "media"),
        ("video.example", r"/live", "live"),
        ("video.example", r"/ws/live", "websocket"),
        ("app.example", r"/dashboard", "dashboard"),
        ("other.example", r"/.*", "other"),
        ("cdn.example", r"/static/site\.css", "css"),
        ("cdn.example", r"/static/font\.ttf", "font"),
        ("cdn.example", r"/static/bundle-(\d)\.js", "bundle"),
        ("cdn.example", r"/static/(\w+)\.js", "script"),
        ("cdn.example", r"/img/([\w-]+)\.png", "image"),
    ]]

CSS = """@font-face { font-family: "Vera Web"; src: url("font.ttf") format("truetype"); }
body { font-family: "Vera Web", sans-serif; max-width: 40em; margin: 1em auto; }
.gone { color: #666; } img.photo { display: block; width: 64px; height: 48px; }
"""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS
    # Headers and body go out in separate writes: with Nagle on, each small answer waits for the client's
    # delayed ACK (40 ms), which made the 5,000-request page take four times longer.
    disable_nagle_algorithm = True
    server: _Server
    entry: Request

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.dispatch(b"")

    def do_HEAD(self) -> None:
        self.dispatch(b"")

    def do_POST(self) -> None:
        self.dispatch(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def dispatch(self, body: bytes) -> None:
        host = re.sub(r":\d+$", "", (self.headers.get("Host") or "").lower())
        shared = self.server.web.shared
        self.entry = Request(self.command, host, self.path, dict(self.headers.items()), time.time(), body)
        with shared.lock:
            shared.log.append(self.entry)
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        for route_host, pattern, name in ROUTES:
            match = pattern.fullmatch(parts.path)
            if route_host == host and match:
                getattr(self, "route_" + name)(match, query)
                return
        self.send(404, page("Not found", f"<h1>Not found</h1><p>{host}{parts.path} is not a page.</p>", css=False))

    def send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8",
             headers: dict[str, str] | None = None) -> None:
        self.entry.status = status
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if self.entry.host == "cdn.example":
            self.send_header("Access-Control-Allow-Origin", "*")  # fonts and fetches from the other hosts
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, data: Any, status: int = 200) -> None:
        self.send(status, json.dumps(data).encode(), "application/json")

    # -- social.example -----------------------------------------------------------------------

    def route_social_post(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(200, page("Social Example", '<div id="app">Loading post...</div>\n'
                            "<noscript>You need to enable JavaScript to run this app.</noscript>",
                            head=script("post")))

    def route_social_post_json(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send_json(self.server.web.post(m[1]))

    def route_no_content(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(204, b"")

    def route_feed(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(200, page("Feed", '<h1>Feed</h1><ul id="items"></ul><div id="more">Loading more...</div>'
                            + script("feed")))

    def route_feed_json(self, m: re.Match[str], q: dict[str, str]) -> None:
        n = int(q.get("page", "0"))
        self.send_json({"page": n, "items": [
            {"id": f"{n}-{k}", "text": f"Feed item {n}.{k}", "image": f"{CDN}/img/feed-{n}-{k}.png"}
            for k in range(10)]})

    # -- news.example -------------------------------------------------------------------------

    def route_article(self, m: re.Match[str], q: dict[str, str]) -> None:
        web = self.server.web
        status = int((web.state.get(f"article:{m[1]}") or {}).get("status", 200))
        if status != 200:
            self.send(status, page("Page not found", "<h1>Page not found</h1><p>No such article.</p>"))
            return
        paragraphs = "".join(f"<p>{p}</p>\n" for p in web.article_text(m[1]).split("\n\n"))
        self.send(200, page(f"The {m[1]} report", f"<article><h1>The {m[1]} report</h1>\n{paragraphs}"
                            f'<img src="{CDN}/img/article-{m[1]}.png" alt="map"></article>'))

    def route_lazy(self, m: re.Match[str], q: dict[str, str]) -> None:
        native = "".join(f'<img loading="lazy" src="{CDN}/img/lazy-native-{n}.png" width="64" height="48">'
                         for n in range(1, 4))
        observed = "".join(f'<img class="io" data-src="{CDN}/img/lazy-io-{n}.png" width="64" height="48">'
                           for n in range(1, 4))
        self.send(200, page("Lazy images", f'<h1>Lazy images</h1><img src="{CDN}/img/lazy-top.png">'
                            f'<div style="height: 9000px">Scroll down.</div>{native}'
                            f'<div style="height: 1000px"></div>{observed}<p id="end">The end.</p>{script("lazy")}'))

    def route_forever(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(200, page("Live ticker", "<h1>Live ticker</h1><p>This page polls the server forever.</p>"
                            + script("forever")))

    def route_longpoll(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.server.web.shared.stopping.wait(LONGPOLL_SECONDS)
        self.close_connection = True  # never answered

    def route_small_json(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send_json({"path": self.path, "ok": True})

    def route_many(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(200, page("Many requests", '<h1>Many requests</h1><p>Done: <span id="done">0</span></p>'
                            + script("many")))

    def route_download_page(self, m: re.Match[str], q: dict[str, str]) -> None:
        size = len(self.server.web.download_bytes)
        self.send(200, page("Dataset download", "<h1>Dataset</h1><p>The survey data behind the report.</p>"
                            f'<p><a id="dl" href="/files/dataset.bin">dataset.bin ({size} bytes)</a></p>'
                            + (script("download") if m[1] else "")))

    def route_download(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(200, self.server.web.download_bytes, "application/octet-stream",
                  {"Content-Disposition": 'attachment; filename="dataset.bin"'})

    def route_popup(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(200, page("Cookie wall", '<h1>News with a popup</h1><p>Cookies: <span id="answer">unasked</span>'
                            "</p>" + script("popup")))

    def route_moves(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(200, page("Moving", "<h1>This page moves itself</h1>" + script("moves")))

    # -- video.example ------------------------------------------------------------------------

    def route_watch(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(200, page(f"Video {m[1]}", f"<h1>Video {m[1]}</h1>\n"
                            f'<video id="player" src="/media/{m[1]}.webm" controls preload="auto" width="320" '
                            f'height="180"></video>\n<p>Footage of the convoy, filmed by a resident.</p>'))

    def route_media(self, m: re.Match[str], q: dict[str, str]) -> None:
        data = self.server.web.media_bytes
        found = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range") or "")
        if not found or not (found[1] or found[2]):
            self.send(200, data, "video/webm", {"Accept-Ranges": "bytes"})
            return
        if found[1]:
            start, end = int(found[1]), min(int(found[2] or len(data) - 1), len(data) - 1)
        else:  # a suffix range: the last N bytes
            start, end = max(0, len(data) - int(found[2])), len(data) - 1
        if start >= len(data) or start > end:
            self.send(416, b"", "video/webm", {"Content-Range": f"bytes */{len(data)}"})
            return
        self.send(206, data[start:end + 1], "video/webm",
                  {"Accept-Ranges": "bytes", "Content-Range": f"bytes {start}-{end}/{len(data)}"})

    def route_live(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(200, page("Live", '<h1>Live stream</h1><p id="status">connecting</p>' + script("live")))

    def route_websocket(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(400, b"this server does not speak WebSocket", "text/plain", {"Connection": "close"})
        self.close_connection = True

    # -- app.example, other.example, cdn.example ----------------------------------------------

    def route_dashboard(self, m: re.Match[str], q: dict[str, str]) -> None:
        bundles = "".join(f'<script src="{CDN}/static/bundle-{n}.js" defer></script>' for n in range(6))
        self.send(200, page("Dashboard", '<div id="root">Loading...</div>', head=bundles))

    def route_other(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(200, page(f"Other: {self.path}", f"<h1>Other site</h1><p>You are at {self.path}.</p>"))

    def route_css(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(200, CSS.encode(), "text/css; charset=utf-8")

    def route_font(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(200, font(), "font/ttf")

    def route_bundle(self, m: re.Match[str], q: dict[str, str]) -> None:
        n = int(m[1])
        filler = "".join(f"const table{n}_{i} = {list(range(i % 7, i % 7 + 20))};\n" for i in range(1200))
        code = f"window.bundles = (window.bundles || 0) + 1;\n{filler}"
        if n == 5:
            code += ("document.getElementById('root').innerHTML = "
                     f"'<h1>Relief dashboard</h1><p>{JsWeb.DASHBOARD_TEXT}</p>';\n")
        self.send(200, code.encode(), "text/javascript")

    def route_script(self, m: re.Match[str], q: dict[str, str]) -> None:
        if m[1] not in SCRIPTS:
            self.send(404, b"// no such script", "text/javascript")
            return
        self.send(200, SCRIPTS[m[1]].encode(), "text/javascript")

    def route_image(self, m: re.Match[str], q: dict[str, str]) -> None:
        self.send(200, image(m[1]), "image/png", {"Cache-Control": "max-age=3600"})
