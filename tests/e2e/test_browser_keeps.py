"""What a browser capture keeps, from the installed CLI against the simulated JavaScript web (jsweb):
the JSON a post's script fetched, the stylesheet, font and images, a PNG screenshot, the DOM after
scripts ran, a metadata record; every request the browser made went through archiver's fetcher (each
one the server saw is a request record in the WARC); a second capture stores unchanged sub-resources
as revisits."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from conftest import FAST, require_module, run
from warcio.archiveiterator import ArchiveIterator
from webm import tiny_webm

PNG = b"\x89PNG\r\n\x1a\n"


def _records(storage: Path) -> list[tuple[str, str, str, bytes, str | None]]:
    """(type, target URI, content type, payload, method) of every record, in file order."""
    out = []
    for path in sorted(storage.rglob("*.warc.gz")):
        with open(path, "rb") as handle:
            for record in ArchiveIterator(handle):
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                method = None
                if record.rec_type == "request" and record.http_headers:
                    method = record.http_headers.protocol  # warcio: the request line's first word
                out.append((record.rec_type, uri, record.rec_headers.get_header("Content-Type") or "",
                            record.content_stream().read(), method))
    return out


def _snapshot(storage: Path, jsweb, *urls: str) -> dict:
    done = run(storage, "snapshot", *urls, "--capture", "browser", "--json", *FAST, env=jsweb.env())
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_js_post_keeps_what_the_reader_saw(jsweb, storage):
    url = jsweb.url("social.example", "/post/7")
    summary = _snapshot(storage, jsweb, url)
    assert [u["mode"] for u in summary["urls"]] == ["browser"]
    records = _records(storage)
    responses = {uri for kind, uri, *_ in records if kind == "response"}
    for wanted in ("https://social.example/api/post/7.json", "https://cdn.example/static/site.css",
                   "https://cdn.example/static/font.ttf", "https://cdn.example/img/post-7.png"):
        assert wanted in responses, wanted
    by_uri = {uri: (kind, ctype, payload) for kind, uri, ctype, payload, _ in records if kind != "request"}
    kind, ctype, shot = by_uri[f"urn:screenshot:{url}"]
    assert kind == "resource" and ctype == "image/png" and shot.startswith(PNG)
    kind, ctype, dom = by_uri[f"urn:dom:{url}"]
    assert kind == "resource" and jsweb.post(7)["text"].encode() in dom
    kind, ctype, meta = by_uri[url] if by_uri[url][0] == "metadata" else next(
        (k, c, p) for k, u, c, p, _ in records if k == "metadata")
    listing = json.loads(meta)
    assert listing["browser"].startswith("Chromium ") and listing["settled"] is True
    assert "https://social.example/api/post/7.json" in {r["url"] for r in listing["resources"]}
    # The post's view counter is a POST with a body: recorded as sent.
    posted = [(method, payload) for kind, uri, _, payload, method in records
              if kind == "request" and uri == "https://social.example/api/view"]
    assert posted == [("POST", b'{"id":"7"}')]


def test_nothing_reaches_the_server_behind_the_fetchers_back(jsweb, storage):
    url = jsweb.url("social.example", "/post/3")
    _snapshot(storage, jsweb, url)
    asked = [(r.method, r.url) for r in jsweb.log]
    recorded = [(method, uri) for kind, uri, _, _, method in _records(storage) if kind == "request"]
    assert len(asked) >= 6
    assert sorted(asked) == sorted(recorded)  # one request record per request the server saw, no more


def test_lazy_images_are_scrolled_into_view(jsweb, storage):
    _snapshot(storage, jsweb, jsweb.url("news.example", "/lazy"))
    kept = {uri for kind, uri, *_ in _records(storage) if kind == "response"}
    for n in (1, 2, 3):
        assert f"https://cdn.example/img/lazy-native-{n}.png" in kept
        assert f"https://cdn.example/img/lazy-io-{n}.png" in kept


def test_second_capture_stores_unchanged_sub_resources_as_revisits(jsweb, storage):
    url = jsweb.url("social.example", "/post/5")
    _snapshot(storage, jsweb, url)
    jsweb.edit_post(5, "An edited post, with new words.")
    second = _snapshot(storage, jsweb, url)
    with sqlite3.connect(storage / "archiver.db") as db:
        rows = dict(db.execute("SELECT url, record_type FROM capture_resources WHERE capture_id = ?",
                               (second["urls"][0]["capture_id"],)).fetchall())
    assert rows["https://cdn.example/static/site.css"] == "revisit"
    assert rows["https://social.example/api/post/5.json"] == "response"  # its text changed


def test_video_page_keeps_the_media_file_and_its_info(jsweb, storage):
    require_module("yt_dlp", "pip install 'archiver[media]'")
    jsweb.media_bytes = clip = tiny_webm()
    url = jsweb.url("video.example", "/watch/clip1")
    summary = _snapshot(storage, jsweb, url)
    records = _records(storage)
    bodies = {uri: payload for kind, uri, _, payload, _ in records if kind == "response"}
    assert bodies["https://video.example/media/clip1.webm"] == clip
    # The browser's player and yt-dlp both fetched it: the bytes are stored once, the second is a revisit.
    kinds = [kind for kind, uri, *_ in records if uri == "https://video.example/media/clip1.webm" and kind != "request"]
    # Each HTTPS fetch of it also keeps who answered (a metadata record beside its response or revisit).
    assert sorted(kinds) == ["metadata", "metadata", "response", "revisit"]
    info = next(payload for kind, uri, _, payload, _ in records if uri == f"urn:media-info:{url}")
    assert "https://video.example/media/clip1.webm" in json.loads(info).get("url", "") + json.dumps(json.loads(info))
    with sqlite3.connect(storage / "archiver.db") as db:
        media = db.execute("SELECT payload_sha256 FROM capture_resources WHERE capture_id = ? AND kind = 'media-file'",
                           (summary["urls"][0]["capture_id"],)).fetchall()
    assert media == [(hashlib.sha256(clip).hexdigest(),)]
