"""media.py: which pages carry media, and yt-dlp run in-process with every request sent by archiver's
fetcher, against a real local server serving a page with a <video> and a tiny hand-built WebM."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from conftest import require_module
from server import TestServer
from webm import tiny_webm

from archiver.config import Settings, load_settings
from archiver.errors import ConfigError, Interrupted
from archiver.extras import install_hint
from archiver.fetch.fetcher import Fetcher
from archiver.fetch.politeness import HostGate
from archiver.fetch.results import FetchResult
from archiver.media import FORMAT, MediaCapture, element_sources, grab, wants_media

MediaGrab = Callable[..., MediaCapture]


CLIP = tiny_webm()


@pytest.fixture(autouse=True)
def _no_outside_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fetcher reads proxy variables when built: none may leak in from outside."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture()
def media_grab(settings: Settings) -> Iterator[MediaGrab]:
    """media_grab(url, **settings changes): one grab by a fetcher built for those settings."""
    fetchers: list[Fetcher] = []
    captures: list[MediaCapture] = []

    def run(url: str, *, html: str | None = None, fetcher_hook: Callable[[Fetcher], None] | None = None,
            **changes: object) -> MediaCapture:
        chosen = settings.replace(**changes)
        fetcher = Fetcher(chosen, HostGate(chosen.per_host, chosen.per_host_delay))
        fetchers.append(fetcher)
        if fetcher_hook is not None:
            fetcher_hook(fetcher)
        captures.append(grab(url, fetcher, chosen, html=html))
        return captures[-1]

    yield run
    for capture in captures:
        capture.close()
    for fetcher in fetchers:
        fetcher.close()


@pytest.fixture()
def ytdlp() -> object:
    return require_module("yt_dlp", "pip install -e '.[media]'")


def body(result: FetchResult) -> bytes:
    hop = result.final
    assert hop is not None
    return hop.body(10**8)


def page_url(server: TestServer, **query: str) -> str:
    return server.url("/media-page" + ("?" + urlencode(query) if query else ""))


def hop_paths(capture: MediaCapture) -> list[str]:
    out = []
    for result in capture.results:
        for hop in result.hops:
            parts = urlsplit(hop.url)
            out.append(parts.path + ("?" + parts.query if parts.query else ""))
    return out


# ----------------------------------------------------------------------------------------------
# wants_media


@pytest.mark.parametrize("url", [
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://youtu.be/dQw4w9WgXcQ", "https://x.com/someone/status/1",
    "https://mobile.twitter.com/someone/status/1", "https://t.me/channel/123", "https://www.instagram.com/p/abc/",
    "https://www.dropbox.com/s/abc/clip.mp4", "https://www.facebook.com/watch/?v=1", "https://vimeo.com/76979871",
    "https://www.tiktok.com/@someone/video/1",
])
def test_platform_pages_want_media(url: str) -> None:
    assert wants_media(url, None)
    assert wants_media(url, "<html><body>no player in the shell</body></html>")


@pytest.mark.parametrize("url", ["https://accounts.google.com/signin", "https://x.com/i/flow/login",
                                 "https://www.instagram.com/accounts/login/", "https://example.org/article"])
def test_sign_in_pages_and_other_sites_do_not(url: str) -> None:
    assert not wants_media(url, None)
    assert not wants_media(url, "<html><body><p>text</p><img src=a.png></body></html>")


@pytest.mark.parametrize("html", [
    '<html><body><video src="/a.webm"></video></body></html>',
    "<html><body><audio controls><source src=/a.ogg type=audio/ogg></audio></body></html>",
    "<VIDEO><SOURCE SRC=clip.mp4></VIDEO>",
    "<html><body><div><p>unclosed <video poster=x.jpg><source src=b.mp4>",
])
def test_pages_with_a_media_element_want_media(html: str) -> None:
    assert wants_media("https://example.org/post", html)


@pytest.mark.parametrize("html", [
    "", "   ", "\x00\xff garbage \ud800",
    "<html><body><p>a video about <b>video</b> tags: &lt;video&gt;</p></body></html>",
    "<script>document.write('<video src=a.webm></video>')</script>", "<!-- <video src=a.webm> -->",
])
def test_pages_without_one_do_not(html: str) -> None:
    assert not wants_media("https://example.org/post", html)


def test_element_sources() -> None:
    html = """<html><head><base href="https://cdn.example.org/v/"></head><body>
      <video src="a.webm"><source src="b.mp4"><source src="blob:https://example.org/x"></video>
      <audio><source src="/c.ogg"><source src="data:audio/ogg;base64,AAAA"><source src="http://[broken/d"></audio>
      <video src="a.webm"></video><img src="e.png"><source src="not-in-a-player.mp4"></body></html>"""
    assert element_sources("https://example.org/post", html) == [
        "https://cdn.example.org/v/a.webm", "https://cdn.example.org/v/b.mp4", "https://cdn.example.org/c.ogg"]
    assert element_sources("https://example.org/post", "") == []


# ----------------------------------------------------------------------------------------------
# max_media


def test_max_media_setting(tmp_path: Path) -> None:
    assert Settings().max_media == 500 * 1024 * 1024
    assert load_settings(env={"ARCHIVER_MAX_MEDIA": "1000"}).max_media == 1000
    config = tmp_path / "archiver.toml"
    config.write_text("[archiver]\nmax-media = 2048\n")
    assert load_settings(config, env={}).max_media == 2048
    assert load_settings(config, env={"ARCHIVER_MAX_MEDIA": "5"}, max_media=7).max_media == 7
    with pytest.raises(ConfigError, match="max_media must be greater than 0"):
        load_settings(env={"ARCHIVER_MAX_MEDIA": "0"})


# ----------------------------------------------------------------------------------------------
# Which formats: one file when there is one, else split video and audio, else (HLS) a note


VIDEO_ONLY = {"format_id": "v", "url": "https://e.test/v.mp4", "vcodec": "avc1", "acodec": "none", "height": 1080}
AUDIO_ONLY = {"format_id": "a", "url": "https://e.test/a.m4a", "vcodec": "none", "acodec": "mp4a"}
PROGRESSIVE = {"format_id": "p", "url": "https://e.test/p.mp4", "vcodec": "avc1", "acodec": "mp4a", "height": 360}
HLS = {"format_id": "hls", "url": "https://e.test/x.m3u8", "protocol": "m3u8_native", "vcodec": "avc1",
       "acodec": "mp4a", "height": 2160}


@pytest.mark.parametrize(("formats", "chosen"), [
    ([VIDEO_ONLY, AUDIO_ONLY, PROGRESSIVE, HLS], ["p"]),
    ([VIDEO_ONLY, AUDIO_ONLY, HLS], ["v", "a"]),
    ([AUDIO_ONLY], ["a"]),
    ([HLS], ["hls"]),
])
def test_format_choice(ytdlp: object, formats: list[dict[str, object]], chosen: list[str]) -> None:
    from yt_dlp import YoutubeDL

    class Quiet:
        def debug(self, msg: str) -> None:
            pass

        warning = error = info = debug

    with YoutubeDL({"logger": Quiet(), "quiet": True, "simulate": True, "format": FORMAT, "cachedir": False}) as ydl:
        info = ydl.process_ie_result({"id": "x", "title": "t", "extractor": "e", "extractor_key": "E",
                                      "webpage_url": "https://e.test/", "formats": [dict(f) for f in formats]},
                                     download=False)
    assert [f["format_id"] for f in info.get("requested_formats") or [info]] == chosen


# ----------------------------------------------------------------------------------------------
# grab


def test_video_kept_through_the_fetcher(ytdlp: object, fresh_server: TestServer, media_grab: MediaGrab,
                                        capfd: pytest.CaptureFixture[str], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    fresh_server.state["media_clip"] = CLIP.decode("latin-1")
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    url = page_url(fresh_server)
    capture = media_grab(url)
    clip_url = fresh_server.url("/media-clip")
    assert [m.url for m in capture.media] == [clip_url]
    media = capture.media[0]
    assert (media.content_type, media.size, media.truncated) == ("video/webm", len(CLIP), None)
    assert media.sha256 == hashlib.sha256(CLIP).hexdigest()
    kept = [r for r in capture.results if r.final is not None and r.final.url == clip_url]
    assert len(kept) == 1 and body(kept[0]) == CLIP
    assert capture.info_json is not None
    info = json.loads(capture.info_json)
    assert info["webpage_url"] == url
    assert clip_url in json.dumps(info)
    # Nothing bypassed the fetcher: every request the server saw is a recorded exchange, and the
    # other way round.
    assert sorted(hit.path for hit in fresh_server.hits) == sorted(hop_paths(capture))
    assert "/media-clip" in hop_paths(capture)
    assert capture.notes == []
    # yt-dlp printed nothing and wrote nothing (no cache, no download, no info file).
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert os.listdir(workdir) == []


def test_audio_element(ytdlp: object, fresh_server: TestServer, media_grab: MediaGrab) -> None:
    fresh_server.state["media_clip"] = CLIP.decode("latin-1")
    capture = media_grab(page_url(fresh_server, tag="audio"))
    assert [m.sha256 for m in capture.media] == [hashlib.sha256(CLIP).hexdigest()]


def test_private_media_address_refused(ytdlp: object, fresh_server: TestServer, media_grab: MediaGrab) -> None:
    """The page's host is allowed (127.0.0.3); its video points at 127.0.0.1, which the guard refuses."""
    fresh_server.state["media_clip"] = CLIP.decode("latin-1")
    with TestServer("127.0.0.3") as page_server:
        capture = media_grab(page_url(page_server, src=fresh_server.url("/media-clip")), allow_private=False,
                             allow=("127.0.0.3/32",))
        assert [hit.path for hit in page_server.hits] == ["/media-page?" + urlencode({"src": fresh_server.url(
            "/media-clip")})]
    assert capture.media == []
    assert fresh_server.hits == []
    refused = [r for r in capture.results if r.url == fresh_server.url("/media-clip")]
    assert len(refused) == 1 and refused[0].outcome == "blocked_address" and refused[0].hops == []
    assert any(n.startswith(f"media not kept: {fresh_server.url('/media-clip')}") and "loopback" in n
               for n in capture.notes), capture.notes


def test_page_on_a_refused_address_is_a_note(ytdlp: object, fresh_server: TestServer, media_grab: MediaGrab) -> None:
    capture = media_grab(page_url(fresh_server), allow_private=False)
    assert fresh_server.hits == []
    assert capture.media == [] and capture.info_json is None
    assert [r.outcome for r in capture.results] == ["blocked_address"]
    assert len(capture.notes) == 1 and capture.notes[0].startswith("yt-dlp: ") and "loopback" in capture.notes[0]


def test_page_cookies_go_with_the_media(ytdlp: object, fresh_server: TestServer, media_grab: MediaGrab) -> None:
    """The fetcher keeps cookies for one fetch; yt-dlp's jar carries the page's session to its media."""
    fresh_server.state["media_clip"] = CLIP.decode("latin-1")
    capture = media_grab(page_url(fresh_server, cookie="1", src="/media-clip?cookie=1"))
    assert [m.size for m in capture.media] == [len(CLIP)], capture.notes
    clip_hits = [hit for hit in fresh_server.hits if hit.path.startswith("/media-clip")]
    assert len(clip_hits) == 1 and clip_hits[0].headers is not None
    assert clip_hits[0].headers.get("Cookie") == "media_session=granted"


def test_max_size_truncation_recorded(ytdlp: object, fresh_server: TestServer, media_grab: MediaGrab) -> None:
    fresh_server.state["media_clip"] = CLIP.decode("latin-1")
    capture = media_grab(page_url(fresh_server), max_size=1000)
    assert [(m.size, m.truncated) for m in capture.media] == [(1000, "length")]
    assert capture.media[0].sha256 == hashlib.sha256(CLIP[:1000]).hexdigest()
    assert f"media truncated at max_size (1000 bytes): {fresh_server.url('/media-clip')}" in capture.notes


def test_max_media_caps_a_page(ytdlp: object, fresh_server: TestServer, media_grab: MediaGrab) -> None:
    """Two videos, a cap smaller than both: the first is kept, the second not started."""
    fresh_server.state["media_clip"] = CLIP.decode("latin-1")
    capture = media_grab(page_url(fresh_server, src="/media-clip?n=1", src2="/media-clip?n=2"), max_media=100)
    assert [m.url for m in capture.media] == [fresh_server.url("/media-clip?n=1")]
    assert [hit.path for hit in fresh_server.hits if hit.path.startswith("/media-clip")] == ["/media-clip?n=1"]
    assert (f"media cap reached (100 bytes per page, max_media): {fresh_server.url('/media-clip?n=2')} not kept"
            in capture.notes)


def test_page_without_media_is_a_note(ytdlp: object, fresh_server: TestServer, media_grab: MediaGrab) -> None:
    capture = media_grab(fresh_server.url("/page/plain"))
    assert capture.media == [] and capture.info_json is None
    assert capture.notes == ["no media found: yt-dlp knows no media on this page"]
    assert [hit.path for hit in fresh_server.hits] == ["/page/plain"] == hop_paths(capture)


def test_scripted_player_from_the_rendered_html(ytdlp: object, fresh_server: TestServer,
                                                 media_grab: MediaGrab) -> None:
    """A player that scripts put in is only in the rendered DOM: yt-dlp, reading the page as served,
    finds nothing, and the DOM's <video> source is kept instead, through the fetcher too."""
    fresh_server.state["media_clip"] = CLIP.decode("latin-1")
    url = fresh_server.url("/page/scripted")
    capture = media_grab(url, html='<html><body><div id=player><video src="/media-clip"></video></div></body></html>')
    assert [(m.url, m.sha256) for m in capture.media] == [(fresh_server.url("/media-clip"),
                                                           hashlib.sha256(CLIP).hexdigest())]
    assert capture.notes == ["no media found: yt-dlp knows no media on this page",
                             "kept the sources of the page's <video>/<audio> elements (1)"]
    assert sorted(hit.path for hit in fresh_server.hits) == sorted(hop_paths(capture))
    assert sorted(hop_paths(capture)) == ["/media-clip", "/page/scripted"]
    assert fresh_server.hits[-1].headers is not None and fresh_server.hits[-1].headers.get("Referer") == url


def test_hls_only_is_a_note(ytdlp: object, fresh_server: TestServer, media_grab: MediaGrab) -> None:
    capture = media_grab(page_url(fresh_server, src="/media-hls/index.m3u8"))
    assert capture.media == []
    assert capture.notes == [f"only HLS offered: not kept ({fresh_server.url('/media-hls/index.m3u8')})"]
    assert "/media-clip" not in hop_paths(capture)  # no segment fetched
    assert sorted(hit.path for hit in fresh_server.hits) == sorted(hop_paths(capture))


def test_missing_video_is_a_note(ytdlp: object, fresh_server: TestServer, media_grab: MediaGrab) -> None:
    capture = media_grab(page_url(fresh_server, src="/media-missing.webm"))
    assert capture.media == []
    assert f"media not kept: {fresh_server.url('/media-missing.webm')} answered 404 Not Found" in capture.notes
    assert capture.info_json is not None  # what yt-dlp said the page offered is still kept
    missing = [r for r in capture.results if r.url.endswith("/media-missing.webm")]
    assert len(missing) == 1 and missing[0].final is not None and missing[0].final.status == 404


def test_page_answering_404_is_a_note(ytdlp: object, fresh_server: TestServer, media_grab: MediaGrab) -> None:
    capture = media_grab(fresh_server.url("/no-such-page"))
    assert capture.media == [] and capture.info_json is None
    assert len(capture.notes) == 1 and capture.notes[0].startswith("yt-dlp: ") and "404" in capture.notes[0]
    assert len(capture.results) == 1  # the 404 is an exchange, kept for the WARC


def test_interrupt_propagates(ytdlp: object, fresh_server: TestServer, media_grab: MediaGrab) -> None:
    """yt-dlp takes a request handler's unexpected exceptions for its bugs and carries on: an interrupt
    must still leave grab as Interrupted."""
    with pytest.raises(Interrupted):
        media_grab(page_url(fresh_server), fetcher_hook=lambda fetcher: fetcher.stop())
    assert fresh_server.hits == []


def test_without_yt_dlp(fresh_server: TestServer, media_grab: MediaGrab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yt_dlp", None)  # import yt_dlp raises ImportError
    capture = media_grab(page_url(fresh_server))
    assert capture.notes == [f"yt-dlp not installed: media not kept ({install_hint('media')})"]
    assert capture.results == [] and fresh_server.hits == []
