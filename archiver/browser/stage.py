"""The browser's part of a run: which pages it renders (`--capture`, a citation's `capture:`), the
one browser started at the first page that needs it, the WARC records a rendering adds, and the rows
that describe it.

Sub-resources are stored like pages: request/response pairs, or revisits when the same payload is
already kept, by this run (once its rows are committed) or by the newest browser capture of the page.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from ..config import Settings
from ..errors import BrowserUnavailable
from ..extras import install_hint
from ..fetch.ask import Ask
from ..fetch.fetcher import Fetcher
from ..fetch.results import FetchResult
from ..media import grab, wants_media
from ..warc import Original, RecordInfo
from ..warc.digests import sha1_label
from ..warc.records import RecordBuilder, warc_date
from .chromium import browser_hint, unavailable
from .need import is_html, why_render
from .rendering import Rendering, Resource

if TYPE_CHECKING:
    from .service import BrowserService

SCREENSHOT = "urn:screenshot:"
DOM = "urn:dom:"
MEDIA_INFO = "urn:media-info:"


@dataclass
class Kept:
    """What the builder wrote for one rendering, for the capture's rows."""

    page_records: int  # how many of the capture's records are the page's own fetch
    resources: list[tuple[Resource, RecordInfo | None]] = field(default_factory=list)  # and its answer's record
    # payload digest -> (record id, URI, date) of the full responses this capture wrote, for revisits
    written: dict[str, tuple[str, str, str]] = field(default_factory=dict)


class BrowserStage:
    """Thread-safe: fetch workers render, builders write records, the writer remembers payloads."""

    def __init__(self, settings: Settings, fetcher: Fetcher, notice: Callable[[str], None]) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self.notice = notice
        self.service: BrowserService | None = None
        self.missing: str | None = None  # why pages cannot be rendered here (auto: said once)
        self._lock = threading.Lock()
        self._stopped = False
        self._payloads: dict[str, tuple[str, str, str]] = {}  # payload digest label -> (record id, URI, date)
        self._media: bool | None = None  # yt-dlp importable (the media extra); None: not asked yet

    @staticmethod
    def require(modes: set[str]) -> None:
        """Before any fetch: `browser` asked for where no browser can run is a usage error (exit 2)."""
        if "browser" in modes:
            why = unavailable()
            if why is not None:
                raise BrowserUnavailable(f"--capture browser: {why}")

    # -- fetch workers ------------------------------------------------------------------------------

    def render(self, mode: str, result: FetchResult) -> Rendering | None:
        """The rendering of a fetched page in `mode`, or None when it stays an HTTP capture."""
        if mode == "http" or result.final is None or not is_html(result):
            return None
        if mode == "auto":
            reason = why_render(result)
            if reason is None:
                return None
        service = self._service(mode)
        if service is None:
            return None
        rendering = service.render(result, self._fetch)
        if rendering.failed is None and wants_media(rendering.url, rendering.dom.decode("utf-8", "replace")):
            self._grab_media(rendering)
        return rendering

    def _grab_media(self, rendering: Rendering) -> None:
        """The video and audio of a rendered page, through the same fetcher (media.py); without the
        media extra, said once per run."""
        with self._lock:
            if self._media is None:
                self._media = importlib.util.find_spec("yt_dlp") is not None
                if not self._media:
                    self.notice("media (video, audio) not kept: yt-dlp is not installed"
                                f" ({install_hint('media')})")
        if self._media:
            try:
                rendering.media = grab(rendering.url, self.fetcher, self.settings,
                                       html=rendering.dom.decode("utf-8", "replace"))
            except BaseException:
                rendering.close()
                raise
            for line in rendering.media.notes:
                rendering.note(f"media: {line}")

    def _fetch(self, url: str, ask: Ask, time_cap: float) -> FetchResult:
        return self.fetcher.fetch(url, ask=ask, paced=False, time_cap=time_cap)

    def _service(self, mode: str) -> BrowserService | None:
        with self._lock:
            if self.service is None and self.missing is None and not self._stopped:
                from .service import BrowserService  # asyncio and the page code: only for runs that render

                service = BrowserService(self.settings)
                try:
                    service.start()
                except BrowserUnavailable as exc:
                    if mode == "browser":
                        raise
                    self.missing = str(exc)
                    said = browser_hint()
                    hint = "" if said in exc.message else f" ({said})"
                    self.notice(f"pages that need a browser are captured over HTTP only: {exc.message}{hint}")
                    return None
                self.service = service
            if self.service is None and mode == "browser" and self.missing is not None:
                raise BrowserUnavailable(self.missing)
            return self.service

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            service = self.service
        if service is not None:
            service.stop()

    def close(self) -> None:
        with self._lock:
            self._stopped = True
            service, self.service = self.service, None
        if service is not None:
            service.close()

    # -- builders -----------------------------------------------------------------------------------

    def write(self, builder: RecordBuilder, out: IO[bytes], rendering: Rendering, page: list[RecordInfo]) -> Kept:
        """Append the rendering's records after the page's own: every sub-resource, then the
        screenshot, the DOM and the metadata record. Returns them, the page's count first."""
        kept = Kept(len(page))
        kept.written.update((r.payload_digest, (r.record_id, r.uri, r.date)) for r in page
                            if r.rec_type == "response" and r.payload_digest)
        for resource in rendering.resources:
            kept.resources.append((resource, self._write_result(builder, out, resource.result, page, kept)))
        date = warc_date(rendering.started_at)
        if rendering.media is not None:
            self._write_media(builder, out, rendering, page, kept, date)
        own = page[: kept.page_records]
        anchor = next((r.record_id for r in reversed(own) if r.rec_type in ("response", "revisit")), None)
        url = rendering.url
        if rendering.screenshot:
            page.append(builder.resource(out, SCREENSHOT + url, "image/png", rendering.screenshot, date, anchor))
        if rendering.dom:
            page.append(builder.resource(out, DOM + url, "text/html; charset=utf-8", rendering.dom, date, anchor))
        page.append(builder.resource(out, rendering.url, "application/json", rendering.metadata(), date, anchor,
                                     rec_type="metadata"))
        return kept

    def _write_media(self, builder: RecordBuilder, out: IO[bytes], rendering: Rendering, page: list[RecordInfo],
                     kept: Kept, date: str) -> None:
        """yt-dlp's exchanges and the media files (request/response pairs, as sub-resources of kind
        `media`), then its info JSON as a resource record."""
        media = rendering.media
        assert media is not None
        files = {m.url for m in media.media}
        for result in media.results:
            final = result.final
            kind = "media-file" if final is not None and final.url in files else "media-lookup"
            kept.resources.append((Resource(result.url, "GET", kind, result),
                                   self._write_result(builder, out, result, page, kept)))
        if media.info_json:
            page.append(builder.resource(out, MEDIA_INFO + rendering.url, "application/json", media.info_json,
                                         date, None))

    def _write_result(self, builder: RecordBuilder, out: IO[bytes], result: FetchResult | None,
                      page: list[RecordInfo], kept: Kept) -> RecordInfo | None:
        """A sub-resource's records, appended to the capture's; returns the one holding its answer."""
        if result is None or not result.hops:
            return None
        written = builder.capture(out, result, self._original(result, kept))
        page.extend(written)
        for record in written:
            if record.rec_type == "response" and record.payload_digest:
                kept.written.setdefault(record.payload_digest, (record.record_id, record.uri, record.date))
        return next((r for r in reversed(written) if r.rec_type in ("response", "revisit")), None)

    def _original(self, result: FetchResult, kept: Kept) -> Original | None:
        """The stored payload a sub-resource's answer repeats: one committed before, or one this same
        capture already wrote (the browser and yt-dlp both fetch a video; one copy is enough)."""
        final = result.final
        if final is None or final.truncated:
            return None
        label = sha1_label(final.payload_sha1)
        known = self._payloads.get(label) or kept.written.get(label)
        return Original(final.payload_sha1, *known) if known is not None else None

    # -- the writer ---------------------------------------------------------------------------------

    def remember(self, rows: list[tuple[str, str, str, str]] | list[RecordInfo]) -> None:
        """Payloads now safely stored (committed rows, or the previous captures' records), that
        later sub-resources may refer to."""
        for row in rows:
            if isinstance(row, RecordInfo):
                if row.rec_type == "response" and row.payload_digest and not row.uri.startswith("urn:"):
                    self._payloads.setdefault(row.payload_digest, (row.record_id, row.uri, row.date))
            else:
                digest, record_id, uri, date = row
                self._payloads.setdefault(digest, (record_id, uri, date))


def rendering_row(rendering: Rendering) -> str:
    """The `rendering` column of a browser capture: what the metadata record says, without the list."""
    return json.dumps({"browser": rendering.browser, "title": rendering.title, "final_url": rendering.final_url,
                       "settled": rendering.settled, "elapsed": round(rendering.elapsed, 3),
                       "failed": rendering.failed, "notes": rendering.notes,
                       "resources": len(rendering.resources)}, ensure_ascii=False)


def resource_rows(kept: Kept) -> list[dict[str, Any]]:
    """The capture_resources rows of a rendering's sub-resources."""
    rows = []
    for resource, record in kept.resources:
        result = resource.result
        final = result.final if result is not None else None
        rows.append({
            "url": resource.url, "method": resource.method, "kind": resource.kind,
            "outcome": result.outcome if result is not None else None,
            "error": result.error if result is not None else None, "refused": resource.refused,
            "http_status": final.status if final else None, "final_url": final.url if final else None,
            "content_type": final.header("Content-Type") if final else None,
            "payload_size": final.payload_size if final else None,
            "payload_sha256": final.payload_sha256 if final else None,
            "truncated": final.truncated if final else None,
            "record_type": record.rec_type if record else None, "record_id": record.record_id if record else None,
        })
    return rows


__all__ = ["DOM", "MEDIA_INFO", "SCREENSHOT", "BrowserStage", "Kept", "rendering_row", "resource_rows"]
