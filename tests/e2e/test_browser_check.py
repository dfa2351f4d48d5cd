"""`archiver check` judging the page as the browser rendered it, from the installed CLI, against a small
JavaScript site of this file's own: every post's HTML is the same shell (byte for byte, whatever the
post says), and a script fetches /api/post/<id>.json and writes it into the page. Only a rendering can
tell a live post from a deleted one, or see that its text changed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import ARCHIVER, FAST, LOCAL_ENV, require_binary, run

# Enough static text that auto's own test (a shell with little text, browser/need.py) does not render
# it, few enough words that the deleted notice is a short page's message.
SHELL = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>Field Notes</title><script src="/app.js" defer></script></head>
<body><nav><a href="/">Home</a> <a href="/about">About</a></nav>
<p class="about">Field Notes is a small community board where volunteers post what they saw on their
walks along the river: birds, water levels, broken fences and anything worth telling the others.</p>
<div id="root"></div></body></html>
"""
SCRIPT = b"""
const id = location.pathname.split('/').pop();
fetch('/api/post/' + id + '.json').then(r => r.json()).then(post => {
  const root = document.getElementById('root');
  if (post.deleted) {
    document.title = 'Field Notes';
    root.innerHTML = '<div class="notice">This post was deleted</div>';
    return;
  }
  document.title = post.title + ' - Field Notes';
  const article = document.createElement('article');
  const h1 = document.createElement('h1');
  h1.textContent = post.title;
  const p = document.createElement('p');
  p.textContent = post.body;
  article.append(h1, p);
  root.append(article);
});
"""
POSTS = {
    "live": {"title": "Herons at the weir", "body": "Three grey herons stood on the weir this morning while the "
             "water ran high after the rain; one caught a fish and flew off towards the old mill."},
    "changed": {"title": "Council meeting moved", "body": "The council meeting about the footbridge repairs "
                "moves to Thursday evening in the library hall, and the agenda now includes the parking plan."},
    "deleted": {"deleted": True},
}


class JsSite:
    """A loopback site of JavaScript posts; `state[id]` is what /api/post/<id>.json says (a POSTS key)."""

    def __init__(self) -> None:
        self.state: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?")[0]
                if path == "/app.js":
                    self._send(200, "application/javascript", SCRIPT)
                elif path.startswith("/post/") and path.removeprefix("/post/") in site.state:
                    self._send(200, "text/html; charset=utf-8", SHELL)
                elif path.startswith("/api/post/") and path.endswith(".json"):
                    post = site.state.get(path.removeprefix("/api/post/").removesuffix(".json"))
                    if post is None:
                        self._send(404, "application/json", b"{}")
                    else:
                        self._send(200, "application/json", json.dumps(POSTS[post]).encode())
                else:  # an unknown post is a real 404: a made-up sibling URL tells nothing here
                    self._send(404, "text/html", b"<html><title>Not found</title><p>No such page</p></html>")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, post: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/post/{post}"


@pytest.fixture()
def site() -> Iterator[JsSite]:
    require_binary("chromium", "apt-get install chromium", path="/usr/bin/chromium")
    js = JsSite()
    try:
        yield js
    finally:
        js.httpd.shutdown()
        js.httpd.server_close()


BROWSER = ["--capture", "browser", "--browser-pages", "1"]
ENV = {"ARCHIVER_BROWSER_TIMEOUT": "8"}


def _archiver(storage: Path, *args: str) -> None:
    done = run(storage, *args, *FAST, env=ENV, timeout=90)
    assert done.returncode in (0, 1), done.stderr


def _check(storage: Path, *args: str) -> dict[str, Any]:
    """Check and return the newest check row of the one URL checked."""
    _archiver(storage, "check", *args)
    with sqlite3.connect(storage / "archiver.db") as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("SELECT * FROM checks ORDER BY id DESC LIMIT 1").fetchone())


def test_check_judges_the_rendered_post_not_its_shell(site, storage):
    site.state["7"] = "live"
    url = site.url("7")
    _archiver(storage, "snapshot", url, *BROWSER)

    live = _check(storage, url, *BROWSER)
    assert (live["status"], live["mode"], live["drift_level"]) == ("ok", "browser", "unchanged")

    site.state["7"] = "deleted"  # the post's data says so; its HTML shell is the same bytes
    gone = _check(storage, url, *BROWSER)
    assert (gone["status"], gone["mode"]) == ("soft_404", "browser")
    assert "deleted" in gone["reason"]
    assert gone["payload_sha1"] == live["payload_sha1"]  # byte-identical shell: only the rendering tells

    plain = _check(storage, url, "--capture", "http")  # without the browser the shell looks as alive as before
    assert (plain["status"], plain["mode"]) == ("ok", "http")


def test_changed_text_of_a_rendered_post_is_drift(site, storage):
    site.state["8"] = "live"
    url = site.url("8")
    _archiver(storage, "snapshot", url, *BROWSER)
    site.state["8"] = "changed"
    changed = _check(storage, url, *BROWSER)
    assert (changed["status"], changed["mode"], changed["drift_level"]) == ("ok", "browser", "major")
    assert changed["drift"] >= 0.4
    with sqlite3.connect(storage / "archiver.db") as db:
        (first,) = db.execute("SELECT MIN(id) FROM captures").fetchone()
    assert changed["baseline_capture"] == first  # compared with the snapshot's rendering


def test_auto_renders_again_a_page_captured_in_the_browser(site, storage):
    site.state.update({"1": "live", "2": "live"})
    rendered, plain = site.url("1"), site.url("2")
    _archiver(storage, "snapshot", rendered, *BROWSER)
    _archiver(storage, "snapshot", plain, "--capture", "http")
    site.state.update({"1": "deleted", "2": "deleted"})

    _archiver(storage, "check", rendered, plain, "--capture", "auto")
    with sqlite3.connect(storage / "archiver.db") as db:
        rows = dict((url, (status, mode)) for url, status, mode in db.execute(
            "SELECT fetch_url, status, mode FROM checks"))
    assert rows[rendered] == ("soft_404", "browser")  # rendered because it was captured so before
    assert rows[plain] == ("ok", "http")  # auto alone keeps this shell (it has text) an HTTP page


def _screenshot_in_warc(storage: Path, url: str) -> bytes:
    """The screenshot record of `url` as warcio reads it back from the WARC files."""
    from warcio.archiveiterator import ArchiveIterator

    for warc in sorted(storage.rglob("*.warc.gz")):
        with open(warc, "rb") as handle:
            for record in ArchiveIterator(handle):
                if record.rec_headers.get_header("WARC-Target-URI") == f"urn:screenshot:{url}":
                    return bytes(record.content_stream().read())
    raise AssertionError(f"no screenshot of {url}")


def test_show_writes_the_screenshot_and_says_what_the_rendering_kept(site, storage, tmp_path):
    site.state.update({"3": "live", "4": "live"})
    rendered, plain = site.url("3"), site.url("4")
    _archiver(storage, "snapshot", rendered, *BROWSER)
    _archiver(storage, "snapshot", plain, "--capture", "http")
    png = _screenshot_in_warc(storage, rendered)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")

    target = tmp_path / "shot.png"
    done = run(storage, "show", rendered, "--screenshot", str(target))
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == png and done.stdout.strip() == str(target)
    assert done.stderr.count("\n") == 1 and "browser capture: " in done.stderr

    here = tmp_path / "cwd"
    here.mkdir()
    default = run(storage, "show", rendered, "--screenshot", cwd=here)  # no PATH: a file named for it, here
    assert default.returncode == 0, default.stderr
    (written,) = list(here.iterdir())
    assert written.name.startswith("127.0.0.1-") and written.suffix == ".png" and written.read_bytes() == png
    assert default.stdout.strip() == written.name

    piped = subprocess.run([ARCHIVER, "--storage", str(storage), "show", rendered, "--screenshot", "-"],
                           capture_output=True, env={**os.environ, **LOCAL_ENV}, timeout=60)
    assert piped.returncode == 0 and piped.stdout == png

    payload = run(storage, "show", rendered)  # the page's own payload: the shell, with what was rendered said
    assert payload.returncode == 0 and payload.stdout.encode() == SHELL
    assert re.search(r"; browser capture: [1-9]\d* sub-resources", payload.stderr), payload.stderr

    none = run(storage, "show", plain, "--screenshot", str(tmp_path / "none.png"))
    assert none.returncode == 1 and not (tmp_path / "none.png").exists()
    assert none.stderr.strip().count("\n") == 0 and "no capture with a screenshot" in none.stderr

    report = tmp_path / "report.html"
    done = run(storage, "report", rendered, plain, "--format", "html", "-o", str(report))
    assert done.returncode in (0, 1), done.stderr
    page = report.read_text()
    thumbs = re.findall(r'<img class="shot" alt="[^"]*" src="data:image/(?:jpeg|png);base64,([^"]+)"', page)
    assert len(thumbs) == 1  # the browser capture's row only
    assert base64.b64decode(thumbs[0])[:3] in (b"\xff\xd8\xff", b"\x89PN")
    assert f"archiver show {rendered} --at " in page
