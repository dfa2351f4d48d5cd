"""What rendering a page produced: the sub-resources it fetched (through archiver's fetcher), what the
reader saw (visible text, the DOM after scripts ran, a screenshot), and notes on what did not go to
plan (a cap reached, a dialog dismissed, a WebSocket skipped). Plain data: the WARC builder and the
checker read it without Playwright."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field

from ..fetch.results import FetchResult
from ..media import MediaCapture


@dataclass
class Resource:
    """One request the page made: fetched (`result`), or refused and why."""

    url: str
    method: str
    kind: str  # the browser's resource type: script, stylesheet, image, font, fetch, xhr, media, ...
    result: FetchResult | None = None
    refused: str | None = None

    def summary(self) -> dict[str, object]:
        final = self.result.final if self.result is not None else None
        out: dict[str, object] = {"url": self.url, "method": self.method, "type": self.kind}
        if final is not None:
            out.update(status=final.status, mime=final.header("Content-Type"), size=final.payload_size,
                       sha256=final.payload_sha256, final_url=final.url)
            if final.truncated:
                out["truncated"] = final.truncated
        elif self.result is not None:
            out.update(outcome=self.result.outcome, error=self.result.error)
        if self.refused:
            out["refused"] = self.refused
        return out


@dataclass
class Rendering:
    url: str  # the page the browser opened (the final URL of the page's own fetch)
    started_at: dt.datetime
    browser: str = ""  # product and version, e.g. "Chromium 156.0.8078.114"
    final_url: str = ""  # where the browser ended
    title: str = ""
    text: str = ""  # the visible text (innerText of the body)
    dom: bytes = b""  # the document serialised after scripts ran, UTF-8
    screenshot: bytes | None = None  # PNG of the full page (height capped)
    resources: list[Resource] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settled: bool = False  # the network went quiet before the time cap
    elapsed: float = 0.0
    failed: str | None = None  # the rendering as a whole failed (browser crash): the HTTP capture stands
    media: MediaCapture | None = None  # video and audio the page carries (yt-dlp, media.py)

    def note(self, line: str) -> None:
        if line not in self.notes:
            self.notes.append(line)

    def fetched(self) -> list[FetchResult]:
        return [r.result for r in self.resources if r.result is not None]

    def metadata(self) -> bytes:
        """The `metadata` record of a browser capture: browser, page, outcome, every sub-resource."""
        return json.dumps({
            "browser": self.browser, "page": self.url, "final_url": self.final_url, "title": self.title,
            "settled": self.settled, "elapsed": round(self.elapsed, 3), "failed": self.failed,
            "notes": self.notes, "resources": [r.summary() for r in self.resources],
            "media": [dataclasses.asdict(m) for m in self.media.media] if self.media is not None else [],
        }, indent=1, ensure_ascii=False).encode()

    def close(self) -> None:
        for result in self.fetched():
            result.close()
        if self.media is not None:
            self.media.close()


__all__ = ["Rendering", "Resource"]
