"""Media a cited page carries (video, audio), kept through archiver's own fetcher.

`wants_media` says which pages to ask about: the video platforms, and any page whose HTML has a
<video> or <audio> element. `grab` runs yt-dlp in-process to find the media and its info dict, with
every request yt-dlp makes sent by the Fetcher (its own request handler is the only one yt-dlp has),
so the address guard, politeness, retries, the size cap and WARC recording apply as to any page;
then it fetches the chosen media files through the same Fetcher (yt-dlp never downloads, never writes
a file). yt-dlp is optional (the `media` extra) and imported only by `grab`: importing this module
stays cheap.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from .config import Settings
from .errors import Interrupted, StorageError
from .extras import install_hint
from .fetch.ask import Ask
from .fetch.results import FetchResult, Hop
from .platforms import host_matches, is_platform_login, platform_for

if TYPE_CHECKING:  # the fetcher loads requests: importing this module stays cheap
    from .fetch.fetcher import Fetcher

log = logging.getLogger(__name__)

# Video platforms that platforms.py has no status wording for (it knows YouTube, X, Instagram,
# Telegram, Facebook and Dropbox).
OTHER_MEDIA_HOSTS = ("vimeo.com", "tiktok.com")
# The formats to keep, best first: one progressive http(s) file with video and audio; else split
# video and audio files (fetched both, kept as two files: there is no ffmpeg to merge them); else audio
# alone; else whatever yt-dlp offers (HLS, DASH fragments), which is then named in a note, not kept.
_PLAIN = "[protocol^=http][protocol!*=dash][protocol!*=m3u8]"
FORMAT = f"b{_PLAIN}/bv*{_PLAIN}+ba{_PLAIN}/ba{_PLAIN}/b*{_PLAIN}/b/bv*+ba/b*"
# yt-dlp's own requests for one page (the extractor's pages and APIs, not the media): an extractor
# that loops must still end. Time: a few fetches' worth of total_timeout.
MAX_REQUESTS = 100
EXTRACT_TIMEOUTS = 3
NOTE_LENGTH = 300
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# yt-dlp warnings that say nothing about what was kept (the info dict names its extractor anyway).
QUIET_WARNINGS = ("[generic] Falling back on generic information extractor",)


@dataclass(frozen=True)
class MediaFile:
    """One media file kept: the final hop of its fetch (the WARC response record that holds it)."""

    url: str
    content_type: str | None
    size: int  # bytes kept (the body as received)
    sha256: str  # hex, over the body as received
    truncated: str | None  # WARC-Truncated reason (length: cut at max_size; time; disconnect)


@dataclass
class MediaCapture:
    """What `grab` kept for a page: every exchange, in order, for the WARC; the media files among them;
    yt-dlp's info dict as JSON (the `urn:media-info:<page url>` resource record); notes, one line each."""

    results: list[FetchResult] = field(default_factory=list)
    media: list[MediaFile] = field(default_factory=list)
    info_json: bytes | None = None
    notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        for result in self.results:
            result.close()


# ----------------------------------------------------------------------------------------------
# Which pages


def wants_media(url: str, html: str | None) -> bool:
    """True for pages on the video platforms (not their sign-in pages), and for any page whose HTML
    (the rendered DOM, after a browser capture) has a <video> or <audio> element."""
    platform = platform_for(url)
    if platform is not None and not is_platform_login(platform, url):
        return True
    if host_matches((urlsplit(url).hostname or "").lower().rstrip("."), OTHER_MEDIA_HOSTS):
        return True
    return bool(html) and _has_media_element(html or "")


def _has_media_element(html: str) -> bool:
    """A <video> or <audio> element (with or without <source> children) anywhere in the document."""
    root = _parse(html)
    return root is not None and next(root.iter("video", "audio"), None) is not None


def element_sources(page_url: str, html: str) -> list[str]:
    """The http(s) URLs of the page's <video> and <audio> elements and their <source> children, in
    order, resolved against the page (or its <base href>). blob: and data: sources have no URL to keep."""
    root = _parse(html)
    if root is None:
        return []
    base = page_url
    out: list[str] = []
    try:
        href = next((b.get("href") for b in root.iter("base") if b.get("href")), None)
        base = urljoin(page_url, href.strip()) if href else page_url
    except ValueError:  # a <base href> no URL parser takes: sources are read against the page
        pass
    for element in root.iter("video", "audio"):
        for node in (element, *element.iter("source")):
            src = (node.get("src") or "").strip()
            try:
                url = urljoin(base, src) if src else ""
            except ValueError:  # "http://[broken": not a URL
                continue
            if urlsplit(url).scheme in ("http", "https") and url not in out:
                out.append(url)
    return out


def _parse(html: str) -> Any:
    """The document's root element, or None (empty or unparseable)."""
    from lxml import etree  # type: ignore[import-untyped, unused-ignore]  # lxml ships no types; loaded when a page is read

    parser = etree.HTMLParser(recover=True, no_network=True, encoding="utf-8")
    try:
        return etree.fromstring(html.encode("utf-8", "replace"), parser)
    except etree.LxmlError:  # recover=True parses nearly anything; what it cannot is no page with a player
        return None


# ----------------------------------------------------------------------------------------------
# Getting them


def grab(page_url: str, fetcher: Fetcher, settings: Settings, *, html: str | None = None) -> MediaCapture:
    """The media of `page_url`: yt-dlp's info dict and the chosen media files, every request sent by
    `fetcher`. A page's problems (no media, an extractor's error, a refused or failed fetch) are notes;
    only Interrupted and StorageError from the fetcher leave. yt-dlp fetches the page itself; `html`, the
    page as captured (a browser's rendered DOM), gives the sources of its <video>/<audio> elements when
    yt-dlp finds no media."""
    capture = MediaCapture()
    try:
        import yt_dlp  # noqa: F401 (optional: the media extra)
    except ImportError:
        capture.notes.append(f"yt-dlp not installed: media not kept ({install_hint('media')})")
        return capture
    session = _Session(fetcher, settings, capture)
    try:
        info = _extract(page_url, settings, session)
        wanted = _chosen(info) if info is not None else []
        if info is not None and not wanted:
            capture.notes.append("no media found: yt-dlp found no media formats on this page")
        if not wanted and html and session.fatal is None:
            # yt-dlp read the page as served; a player that scripts put in (the rendered DOM) is only
            # in `html`: its sources are fetched as they are.
            wanted = [_Wanted(url, urlsplit(url).scheme, {"Referer": page_url}, None)
                      for url in element_sources(page_url, html)]
            if wanted:
                capture.notes.append(f"kept the sources of the page's <video>/<audio> elements ({len(wanted)})")
        if session.fatal is None:
            _keep(wanted, session)
    except BaseException:
        if session.fatal is None:
            capture.close()
        raise
    if session.fatal is not None:
        capture.close()
        raise session.fatal
    return capture


class _Stop(Exception):
    """Ends yt-dlp's extraction from inside its request handler (the reason is the message)."""


class _Session:
    """One grab's state: the fetcher, what it returned, and what ends yt-dlp early (an interrupt or
    a full disk, kept to raise once yt-dlp has returned; the request cap; the time cap)."""

    def __init__(self, fetcher: Fetcher, settings: Settings, capture: MediaCapture) -> None:
        self.fetcher = fetcher
        self.settings = settings
        self.capture = capture
        self.fatal: Interrupted | StorageError | None = None
        self.requests = 0
        self.deadline = time.monotonic() + EXTRACT_TIMEOUTS * settings.total_timeout
        self.cookie_header: Callable[[str], str | None] = lambda url: None
        self.warnings: list[str] = []

    def fetch(self, url: str, ask: Ask) -> FetchResult:
        """One fetch by the fetcher, kept. Raises _Stop instead of Interrupted and StorageError (yt-dlp
        would take them for a handler's bug and try the next handler), remembering them."""
        if self.fatal is not None:
            raise _Stop(str(self.fatal))
        try:
            result = self.fetcher.fetch(url, ask=ask)
        except (Interrupted, StorageError) as exc:
            self.fatal = exc
            raise _Stop(str(exc)) from exc
        self.capture.results.append(result)
        return result

    def fetch_for_ytdlp(self, url: str, ask: Ask) -> FetchResult:
        self.requests += 1
        if self.requests > MAX_REQUESTS:
            raise _Stop(f"yt-dlp asked for more than {MAX_REQUESTS} requests for one page: stopped")
        if time.monotonic() > self.deadline:
            raise _Stop(f"yt-dlp took more than {EXTRACT_TIMEOUTS * self.settings.total_timeout:g} s: stopped")
        return self.fetch(url, ask)


def one_line(text: str) -> str:
    """A message of yt-dlp's as one note line: no colour codes, no ERROR: prefix, no line breaks."""
    text = " ".join(_ANSI.sub("", text).split())
    text = text.removeprefix("ERROR: ").removeprefix("WARNING: ")
    return text if len(text) <= NOTE_LENGTH else text[: NOTE_LENGTH - 3] + "..."


class _Log:
    """yt-dlp's logger: its chatter to ours at debug level, its warnings to the capture's notes."""

    def __init__(self, session: _Session) -> None:
        self.session = session

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        log.info("yt-dlp: %s", msg)
        line = one_line(msg)
        if line not in self.session.warnings and not line.startswith(QUIET_WARNINGS):
            self.session.warnings.append(line)

    def error(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)  # the exception that follows carries it into the notes


def _params(settings: Settings, session: _Session) -> dict[str, Any]:
    """yt-dlp quiet, reading and writing nothing of its own: no config files (only its CLI reads them),
    no browser cookies, no cache, no downloads, no retries (the fetcher's apply)."""
    return {
        "logger": _Log(session),
        "quiet": True,
        "noprogress": True,
        "simulate": True,
        "skip_download": True,
        "cachedir": False,
        "cookiefile": None,
        "cookiesfrombrowser": None,
        "usenetrc": False,
        "noplaylist": True,
        "extract_flat": "in_playlist",  # a channel's or playlist's entries are listed, not fetched
        "ignore_no_formats_error": True,  # a post without video still has its info dict
        "format": FORMAT,
        "check_formats": False,
        "extractor_retries": 0,  # the fetcher retries
        "http_headers": {
            "User-Agent": settings.user_agent,
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "Accept-Language": "en;q=0.9, *;q=0.5",
        },
    }


def _extract(page_url: str, settings: Settings, session: _Session) -> dict[str, Any] | None:
    """yt-dlp's info dict for the page (formats chosen), or None with a note saying why not."""
    from yt_dlp.utils import DownloadError, UnsupportedError, YoutubeDLError

    notes = session.capture.notes
    _plugins_off()
    ydl = _youtube_dl(session, _params(settings, session))
    try:
        with ydl:
            session.cookie_header = ydl.cookiejar.get_cookie_header
            info = ydl.extract_info(page_url, download=False)
            if session.fatal is not None:
                return None
            if isinstance(info, dict):
                session.capture.info_json = json.dumps(ydl.sanitize_info(info), ensure_ascii=False,
                                                       sort_keys=True).encode("utf-8")
                return info
            notes.append("no media found: yt-dlp returned nothing for this page")
            return None
    except DownloadError as exc:
        cause = exc.exc_info[1] if exc.exc_info else None
        if session.fatal is None:
            if isinstance(cause, UnsupportedError):
                notes.append("no media found: yt-dlp knows no media on this page")
            else:
                notes.append("yt-dlp: " + one_line(str(exc.msg or exc)))
        return None
    except Exception as exc:
        # An extractor's own bug escapes extract_info as itself: it is this page's problem, not the
        # run's (an interrupt or a full disk never arrives here: the handler keeps them in session.fatal).
        if session.fatal is None:
            if not isinstance(exc, YoutubeDLError):
                log.warning("yt-dlp failed on %s", page_url, exc_info=True)
            notes.append("yt-dlp: " + one_line(str(exc) if isinstance(exc, YoutubeDLError)
                                               else f"{type(exc).__name__}: {exc}"))
        return None
    finally:
        notes.extend(f"yt-dlp warning: {line}" for line in session.warnings)


def _plugins_off() -> None:
    """yt-dlp loads plugins from the user's config folders on first use: code archiver did not ask
    for. Its CLI's --no-plugin-dirs is this switch (process-wide; archiver is the process)."""
    from yt_dlp.globals import plugin_dirs

    plugin_dirs.value = []


class _Pairs:
    """Headers as yt-dlp's Response reads them (`items()`), repeated names kept (Set-Cookie)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return self.pairs


class _CookieResponse:
    """A hop as http.cookiejar reads a response: its headers through `info()`."""

    def __init__(self, hop: Hop) -> None:
        self.message = Message()
        for name, value in hop.headers:
            self.message[name] = value

    def info(self) -> Message:
        return self.message


# Headers that describe the body as sent; yt-dlp gets it decoded, at its decoded length.
_DECODED = {"content-encoding", "content-length", "transfer-encoding"}


def _youtube_dl(session: _Session, params: dict[str, Any]) -> Any:
    """A YoutubeDL whose only request handler sends through the session's fetcher."""
    import functools
    import urllib.request

    from yt_dlp import YoutubeDL
    from yt_dlp.networking.common import RequestHandler, Response
    from yt_dlp.networking.exceptions import HTTPError, TransportError

    class ArchiverRH(RequestHandler):  # type: ignore[misc]  # yt-dlp ships no types
        _SUPPORTED_URL_SCHEMES = ("http", "https")
        _SUPPORTED_PROXY_SCHEMES = None  # the fetcher reads the proxy environment itself
        _SUPPORTED_FEATURES = None

        def _check_extensions(self, extensions: dict[str, Any]) -> None:
            super()._check_extensions(extensions)
            # The fetcher's timeouts and TLS rules apply; cookies are sent from the jar below. Anything
            # else (impersonate) stays and makes the request unsupported: an error note.
            for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing"):
                extensions.pop(name, None)

        def _send(self, request: Any) -> Any:
            headers = self._get_headers(request)
            jar = self._get_cookiejar(request)
            cookie = jar.get_cookie_header(request.url)
            if cookie:
                headers["Cookie"] = cookie
            ask = Ask.of(request.method, headers, _body(request.data), follow=True)
            try:
                result = session.fetch_for_ytdlp(request.url, ask)
            except _Stop as exc:
                raise TransportError(str(exc)) from exc
            for hop in result.hops:
                jar.extract_cookies(_CookieResponse(hop), urllib.request.Request(hop.url))
            final = result.final
            if final is None:
                raise TransportError(f"{result.url}: {result.error or result.outcome}")
            body = final.body(session.settings.max_size)
            headers_out = [(k, v) for k, v in final.headers if k.lower() not in _DECODED]
            response = Response(io.BytesIO(body), final.url, _Pairs(headers_out), status=final.status,
                                reason=final.reason or None)
            if not 200 <= final.status < 300:
                raise HTTPError(response)
            return response

    class ArchiverYDL(YoutubeDL):  # type: ignore[misc]
        @functools.cached_property
        def _request_director(self) -> Any:
            # yt-dlp's own handlers (urllib, requests, websockets, curl_cffi) are never built: nothing
            # it fetches can bypass archiver's fetcher.
            return self.build_request_director([ArchiverRH])

    return ArchiverYDL(params)


def _body(data: Any) -> bytes | None:
    """yt-dlp's request data (bytes, an iterable of bytes, or a file) as bytes."""
    if data is None or isinstance(data, bytes):
        return data
    if hasattr(data, "read"):
        read: bytes = data.read()
        return read
    return b"".join(data)


# ----------------------------------------------------------------------------------------------
# The media files


def _videos(info: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The video dicts of an info dict: itself, or a playlist's resolved entries (a post with
    several videos); entries left as links (a channel's videos) are not media of this page."""
    kind = info.get("_type", "video")
    if kind in ("playlist", "multi_video"):
        for entry in info.get("entries") or ():
            if isinstance(entry, dict):
                yield from _videos(entry)
    elif kind == "video":
        yield info


@dataclass(frozen=True)
class _Wanted:
    """A media file to fetch: a format yt-dlp chose, or a media element's source."""

    url: str
    protocol: str  # yt-dlp's: http, https, m3u8_native, http_dash_segments, ...
    headers: dict[str, str]
    size: float | None  # as yt-dlp estimates it, when it does


def _chosen(info: dict[str, Any]) -> list[_Wanted]:
    return [_Wanted(str(fmt.get("url") or fmt.get("format_id") or ""), str(fmt.get("protocol") or ""),
                    {str(k): str(v) for k, v in (fmt.get("http_headers") or {}).items()},
                    fmt.get("filesize") or fmt.get("filesize_approx"))
            for video in _videos(info)
            for fmt in (video.get("requested_formats") or ([video] if video.get("url") else []))]


def _offered(protocol: str) -> str:
    if protocol.startswith("m3u8"):
        return "HLS"
    if "dash" in protocol:
        return "DASH fragments"
    return protocol or "no URL"


def _keep(wanted: list[_Wanted], session: _Session) -> None:
    """Fetch the media files, one at a time, within max_media; what is not kept is a note."""
    capture, settings = session.capture, session.settings
    seen: set[str] = set()
    total = 0
    for item in wanted:
        url = item.url
        if item.protocol not in ("http", "https"):
            capture.notes.append(f"only {_offered(item.protocol)} offered: not kept ({url})")
            continue
        if url in seen:
            continue
        seen.add(url)
        # A file is not started once the page's media reach the cap, nor when its known size would
        # pass it; a file of unknown size may pass it (by at most max_size, where the fetcher cuts it).
        if total >= settings.max_media or (item.size is not None and total + item.size > settings.max_media):
            capture.notes.append(f"media cap reached ({settings.max_media} bytes per page, max_media): {url} not kept")
            continue
        headers = dict(item.headers)
        cookie = session.cookie_header(url)
        if cookie:
            headers["Cookie"] = cookie
        try:
            result = session.fetch(url, Ask.of("GET", headers))
        except _Stop:
            return  # session.fatal: grab raises it
        final = result.final
        if final is None:
            capture.notes.append(f"media not kept: {url}: {result.error or result.outcome}")
            continue
        if not 200 <= final.status < 300:
            capture.notes.append(f"media not kept: {final.url} answered {final.status} {final.reason}".rstrip())
            continue
        total += final.payload_size
        capture.media.append(MediaFile(final.url, final.header("Content-Type"), final.payload_size,
                                       final.payload_sha256, final.truncated))
        if final.truncated:
            reason = {"length": f"at max_size ({settings.max_size} bytes)"}.get(final.truncated, f"({final.truncated})")
            capture.notes.append(f"media truncated {reason}: {final.url}")


__all__ = ["FORMAT", "OTHER_MEDIA_HOSTS", "MediaCapture", "MediaFile", "element_sources", "grab", "one_line",
           "wants_media"]
