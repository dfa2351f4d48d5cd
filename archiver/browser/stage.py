"""The browser's part of a run: which pages it renders (`--capture`, a citation's `capture:`), the
one browser started at the first page that needs it, the WARC records a rendering adds, and the rows
that describe it.

Sub-resources are stored like pages: request/response pairs, or revisits when the same payload is
already kept, by this run (once its rows are committed) or by the newest browser capture of the page.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from ..config import Settings
from ..errors import BrowserUnavailable
from ..fetch.ask import Ask
from ..fetch.fetcher import Fetcher
from ..fetch.results import FetchResult
from ..warc import Original, RecordInfo
from ..warc.digests import sha1_label
from ..warc.records import RecordBuilder, warc_date
from .chromium import INSTALL_HINT, unavailable
from .need import is_html, why_render
from .rendering import Rendering, Resource

if TYPE_CHECKING:
    from .service import BrowserService

SCREENSHOT = "urn:screenshot:"
DOM = "urn:dom:"


@dataclass
class Kept:
    """What the builder wrote for one rendering, for the capture's rows."""

    page_records: int  # how many of the capture's records are the page's own fetch
    resources: list[tuple[Resource, RecordInfo | None]] = field(default_factory=list)  # and its answer's record


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
        return service.render(result, self._fetch)

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
                    hint = "" if INSTALL_HINT in exc.message else f" ({INSTALL_HINT})"
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
        for resource in rendering.resources:
            answer: RecordInfo | None = None
            if resource.result is not None and resource.result.hops:
                written = builder.capture(out, resource.result, self._original(resource.result))
                page.extend(written)
                answer = next((r for r in reversed(written) if r.rec_type in ("response", "revisit")), None)
            kept.resources.append((resource, answer))
        date = warc_date(rendering.started_at)
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

    def _original(self, result: FetchResult) -> Original | None:
        final = result.final
        if final is None or final.truncated:
            return None
        known = self._payloads.get(sha1_label(final.payload_sha1))
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


__all__ = ["DOM", "SCREENSHOT", "BrowserStage", "Kept", "rendering_row", "resource_rows"]
