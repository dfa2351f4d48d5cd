"""One archive asked for one URL (RFC 7089), through the Fetcher like any other request (politeness per
archive host, retries, caps, the address guard): its Wayback CDX API when it has one (cdx.py: the
nearest captures that answered 200, one small answer), else its link-format TimeMap (every memento,
so the nearest to the target datetime is chosen here), else its TimeGate with Accept-Datetime (the
archive's redirects followed to the memento it chooses). A memento is only offered once judged: its raw
form (`id_` for Wayback-style archives) must answer 200 and not be an error or soft-404 page by the
checker's own classification (classify.py).

"No copy" (the archive answered: 404/410, an empty TimeMap) is told apart from "unreachable" (no
answer, a timeout, 5xx/429, any other status).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from dataclasses import dataclass
from urllib.parse import urljoin

from .. import stamps
from ..classify import Seen, classify
from ..content import page_text
from ..fetch.ask import Ask
from ..fetch.fetcher import Fetcher
from ..fetch.results import FetchResult
from ..verdict import ALIVE_STATUSES
from .archives import Memento, MementoArchive
from .cdx import cdx_query, parse_cdx

JUDGED = 3  # mementos judged per archive, nearest first, before the archive counts as holding no copy
_LINK = re.compile(r'<([^>]*)>((?:\s*;\s*[A-Za-z_-]+\s*=\s*(?:"[^"]*"|[^;,<]*))*)')
_PARAM = re.compile(r';\s*([A-Za-z_-]+)\s*=\s*(?:"([^"]*)"|([^;,<]*))')


@dataclass(frozen=True)
class Answer:
    """What one archive said of one URL: a status of the copies table and, for 'ok' and 'error_page',
    the memento judged."""

    archive: str
    status: str
    memento_url: str | None = None
    memento_datetime: dt.datetime | None = None
    detail: str | None = None


def http_date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def parse_timemap(text: str, base: str) -> list[Memento]:
    """The mementos of a link-format TimeMap (RFC 7089 section 5): links whose rel has `memento`."""
    out: list[Memento] = []
    for found in _LINK.finditer(text):
        params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3).strip()
                  for m in _PARAM.finditer(found.group(2))}
        if "memento" not in params.get("rel", "").split():
            continue
        when = http_date(params.get("datetime"))
        if when is not None:
            out.append(Memento(urljoin(base, found.group(1).strip()), when))
    return out


def nearest(mementos: list[Memento], target: dt.datetime) -> list[Memento]:
    """Nearest to `target` first (the earlier of two equally near)."""
    return sorted(mementos, key=lambda m: (abs((m.datetime - target).total_seconds()), m.datetime))


def _unreachable(result: FetchResult) -> str | None:
    """Why an archive's answer is no answer: a transport failure, or a status that says nothing of the URL."""
    final = result.final
    if final is None:
        return f"{result.outcome}: {result.error}" if result.error else result.outcome
    if final.status >= 500 or final.status == 429:
        return f"HTTP {final.status}"
    return None


class Lookup:
    """Asks archives for copies with one Fetcher (the caller's: closing it is theirs)."""

    def __init__(self, fetcher: Fetcher, body_limit: int) -> None:
        self.fetcher = fetcher
        self.body_limit = body_limit

    def ask(self, archive: MementoArchive, url: str, target: dt.datetime) -> Answer:
        listed: list[Memento] | Answer | None = self._cdx(archive, url, target) if archive.cdx else None
        if isinstance(listed, Answer):
            return listed
        if listed is not None:
            candidates = listed
        elif archive.timemap:
            listed = self._timemap(archive, url)
            if isinstance(listed, Answer):
                return listed
            candidates = nearest(listed, target)[:JUDGED]
        else:
            found = self._timegate(archive, url, target)
            if isinstance(found, Answer):
                return found
            candidates = [found]
        last: Answer | None = None
        for memento in candidates:
            last = self.judge(archive, url, memento)
            if last.status != "error_page":
                return last
        assert last is not None
        return last

    def _cdx(self, archive: MementoArchive, url: str, target: dt.datetime) -> list[Memento] | Answer | None:
        """The nearest 200 captures by one CDX query; None (ask the TimeMap or TimeGate instead) when
        the CDX endpoint answers anything but 200 or 404 (no CDX API there, or not for this URL)."""
        result = self.fetcher.fetch(cdx_query(archive, url, target, JUDGED))
        try:
            final = result.final
            if final is None:  # the host did not answer: asking it again another way would cost a timeout
                return Answer(archive.name, "unreachable", detail=f"CDX: {_unreachable(result)}")
            if final.status == 404:
                return Answer(archive.name, "no_copy", detail="CDX: HTTP 404")
            if final.status >= 500 or final.status == 429:
                return Answer(archive.name, "unreachable", detail=f"CDX: HTTP {final.status}")
            if final.status != 200:
                return None
            mementos = parse_cdx(final.body(self.body_limit).decode("utf-8", "replace"), archive, url)
            if not mementos:
                return Answer(archive.name, "no_copy", detail="CDX lists no capture that answered 200")
            return nearest(mementos, target)[:JUDGED]
        finally:
            result.close()

    def _timemap(self, archive: MementoArchive, url: str) -> list[Memento] | Answer:
        assert archive.timemap
        result = self.fetcher.fetch(archive.timemap.replace("{url}", url))
        try:
            why = _unreachable(result)
            if why is not None:
                return Answer(archive.name, "unreachable", detail=f"TimeMap: {why}")
            final = result.final
            assert final is not None
            if final.status in (404, 410):
                return Answer(archive.name, "no_copy", detail=f"TimeMap: HTTP {final.status}")
            if final.status != 200:
                return Answer(archive.name, "unreachable", detail=f"TimeMap: HTTP {final.status}")
            text = final.body(self.body_limit).decode("utf-8", "replace")
            mementos = parse_timemap(text, final.url)
            if not mementos:
                return Answer(archive.name, "no_copy", detail="TimeMap lists no memento")
            return mementos
        finally:
            result.close()

    def _timegate(self, archive: MementoArchive, url: str, target: dt.datetime) -> Memento | Answer:
        assert archive.timegate
        ask = Ask(headers=(("Accept-Datetime", email.utils.format_datetime(target.astimezone(dt.UTC), usegmt=True)),))
        result = self.fetcher.fetch(archive.timegate.replace("{url}", url), ask=ask)
        try:
            why = _unreachable(result)
            if why is not None:
                return Answer(archive.name, "unreachable", detail=f"TimeGate: {why}")
            final = result.final
            assert final is not None
            if final.status in (404, 410):
                return Answer(archive.name, "no_copy", detail=f"TimeGate: HTTP {final.status}")
            when = http_date(final.header("Memento-Datetime"))
            if when is None:
                return Answer(archive.name, "no_copy" if final.status == 200 else "unreachable",
                              detail=f"TimeGate: HTTP {final.status} without Memento-Datetime")
            location = final.header("Content-Location")
            return Memento(urljoin(final.url, location) if location else final.url, when)
        finally:
            result.close()

    def judge(self, archive: MementoArchive, url: str, memento: Memento) -> Answer:
        """The memento's raw bytes fetched (the archive's redirects followed) and read as the checker
        reads a page: 'ok' only for a 200 that is no error or soft-404 page."""
        result = self.fetcher.fetch(archive.raw_url(memento.url))
        try:
            why = _unreachable(result)
            if why is not None:
                return Answer(archive.name, "unreachable", memento.url, memento.datetime, f"memento: {why}")
            final = result.final
            assert final is not None
            when = http_date(final.header("Memento-Datetime")) or memento.datetime
            moved = archive.wayback and final.url != archive.raw_url(memento.url)
            landed = final.url.replace("id_/", "/", 1) if moved else memento.url
            if final.status != 200:
                return Answer(archive.name, "error_page", landed, when, f"memento answers HTTP {final.status}")
            if final.truncated:
                return Answer(archive.name, "unreachable", landed, when, f"memento cut short ({final.truncated})")
            body = final.body(self.body_limit)
            headers = {k.lower(): v for k, v in final.headers}
            seen = Seen(url=url, final_url=url, chain=((url, 200),), status=200, headers=headers,
                        page=page_text(body, final.header("Content-Type"), url), body_size=len(body))
            verdict = classify(seen)
            if verdict.status not in ALIVE_STATUSES:
                return Answer(archive.name, "error_page", landed, when, f"{verdict.status}: {verdict.reason}")
            return Answer(archive.name, "ok", landed, when, None)
        finally:
            result.close()


def target_of(accessed: str | None, first_capture: str | None, now: dt.datetime) -> dt.datetime:
    """The datetime a copy should be nearest to: the citation's `accessed`, else our first capture, else now."""
    for text in (accessed, first_capture):
        if text:
            try:
                return stamps.parse(text)
            except ValueError:
                continue
    return now


__all__ = ["JUDGED", "Answer", "Lookup", "Memento", "http_date", "nearest", "parse_timemap", "target_of"]
