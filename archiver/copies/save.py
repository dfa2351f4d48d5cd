"""`--save`: archives asked to save a cited page now, through their Save Page Now 2 API (the Internet
Archive's; an archive entry with a `save` endpoint is one that can be asked).

A save is a POST of `url=<the URL>` to the endpoint with `Authorization: LOW <access>:<secret>` and
`Accept: application/json`; the answer names a job (`job_id`), whose status is asked at
`<endpoint>/status/<job id>` every `save_poll` seconds until it is 'success' (a `timestamp` and the
`original_url`: the memento `<TimeGate prefix><timestamp>/<url>`) or 'error' (`status_ext`, e.g.
`error:too-many-daily-captures`, and a `message`), or `save_wait` has passed ('pending': the job may
still finish; a later lookup finds its memento). At most `save_max` saves a run.

The keys come from the environment only (ARCHIVER_IA_ACCESS_KEY, ARCHIVER_IA_SECRET_KEY): never a
setting, so never in a config file. They live in one header of requests that are never recorded
(copies lookups write no WARC) and are scrubbed from every detail kept or shown.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .. import stamps
from ..config import Settings
from ..db.archive_db import ArchiveDB
from ..errors import UsageError
from ..fetch.ask import Ask
from ..fetch.fetcher import Fetcher
from ..fetch.politeness import HostGate
from ..fetch.results import FetchResult
from .archives import Memento, MementoArchive, archives_of
from .lookup import Lookup

KEY_VARS = ("ARCHIVER_IA_ACCESS_KEY", "ARCHIVER_IA_SECRET_KEY")
SAVE_STATUSES = ("saved", "failed", "refused", "pending", "unreachable")
_JOB = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
_STAMP = re.compile(r"^\d{14}$")
BODY_LIMIT = 1024 * 1024  # of an SPN answer


class SaveKeys:
    """An archive account's keys: only ever turned into the Authorization header, and scrubbed from
    any text that is kept or shown. Its repr names no key."""

    def __init__(self, access: str, secret: str) -> None:
        self._access = access
        self._secret = secret

    def __repr__(self) -> str:
        return "SaveKeys(<hidden>)"

    @property
    def header(self) -> tuple[str, str]:
        return ("Authorization", f"LOW {self._access}:{self._secret}")

    def scrub(self, text: str | None) -> str | None:
        if text is None:
            return None
        for key in sorted((self._access, self._secret), key=len, reverse=True):
            text = text.replace(key, "[key]")
        return text


def keys_from_env(env: Mapping[str, str]) -> SaveKeys:
    """The keys from the environment, or UsageError (exit 2) naming the variables that are missing."""
    missing = [name for name in KEY_VARS if not env.get(name, "").strip()]
    if missing:
        raise UsageError(f"--save needs the Internet Archive's S3-style keys (https://archive.org/account/s3.php)"
                         f" in {' and '.join(KEY_VARS)}; not set: {', '.join(missing)}")
    return SaveKeys(env[KEY_VARS[0]].strip(), env[KEY_VARS[1]].strip())


@dataclass(frozen=True)
class Saved:
    """What one save request came to: `status` one of SAVE_STATUSES, the job's id, and for 'saved' the
    memento; `detail` what the archive said (its status_ext and message, or the HTTP status)."""

    fetch_url: str
    archive: str
    status: str
    job_id: str | None = None
    memento: Memento | None = None
    detail: str | None = None
    requested_at: str = ""
    finished_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"archive": self.archive, "status": self.status, "job_id": self.job_id,
                "url": self.memento.url if self.memento else None,
                "datetime": stamps.iso(self.memento.datetime) if self.memento else None, "detail": self.detail}

    def row(self) -> dict[str, Any]:
        kept = {k: v for k, v in self.to_json().items() if k not in ("url", "datetime")}
        return {"fetch_url": self.fetch_url, **kept,
                "memento_url": self.memento.url if self.memento else None,
                "memento_datetime": stamps.iso(self.memento.datetime) if self.memento else None,
                "requested_at": self.requested_at, "finished_at": self.finished_at}


def _said(payload: dict[str, Any]) -> str:
    """The archive's own words of an error: status_ext and message."""
    parts = [str(payload[k]) for k in ("status_ext", "message") if payload.get(k)]
    return ": ".join(parts) or "error"


class Saver:
    """Asks archives to save URLs with one Fetcher (the caller's). `clock` and `sleep` are injectable
    so tests need not wait out a poll interval."""

    def __init__(self, fetcher: Fetcher, keys: SaveKeys, settings: Settings, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.fetcher = fetcher
        self.keys = keys
        self.poll = settings.save_poll
        self.wait = settings.save_wait
        self.clock = clock
        self.sleep = sleep

    def _ask(self, url: str, body: bytes | None = None) -> tuple[FetchResult, dict[str, Any] | None]:
        headers = (self.keys.header, ("Accept", "application/json"))
        ask = (Ask("POST", (*headers, ("Content-Type", "application/x-www-form-urlencoded")), body, follow=False)
               if body is not None else Ask("GET", headers, None, follow=False))
        result = self.fetcher.fetch(url, ask=ask)
        final = result.final
        payload: dict[str, Any] | None = None
        if final is not None:
            try:
                parsed = json.loads(final.body(BODY_LIMIT).decode("utf-8", "replace"))
                payload = parsed if isinstance(parsed, dict) else None
            except ValueError:
                payload = None
        return result, payload

    def save(self, archive: MementoArchive, url: str) -> Saved:
        """Ask `archive` to save `url` and wait for its job."""
        assert archive.save
        started = stamps.now_iso()

        def done(status: str, job: str | None = None, memento: Memento | None = None,
                 detail: str | None = None) -> Saved:
            return Saved(url, archive.name, status, job, memento, self.keys.scrub(detail), started, stamps.now_iso())

        result, payload = self._ask(archive.save, urlencode([("url", url)]).encode())
        try:
            final = result.final
            if final is None:
                why = f"{result.outcome}: {result.error}" if result.error else result.outcome
                return done("unreachable", detail=why)
            if final.status == 429 or (payload and payload.get("status") == "error") or final.status >= 400:
                said = _said(payload) if payload else f"HTTP {final.status}"
                kind = "unreachable" if final.status >= 500 else "refused"
                return done(kind, detail=f"HTTP {final.status}: {said}" if payload else said)
            job = str(payload.get("job_id", "")) if payload else ""
            if not _JOB.match(job):
                return done("refused", detail=f"HTTP {final.status} without a job id")
        finally:
            result.close()
        return self._await(archive, url, job, done)

    def _await(self, archive: MementoArchive, url: str, job: str, done: Callable[..., Saved]) -> Saved:
        assert archive.save
        status_url = f"{archive.save.rstrip('/')}/status/{job}"
        began = self.clock()
        while True:
            self.sleep(self.poll)
            result, payload = self._ask(status_url)
            try:
                final = result.final
                state = payload.get("status") if payload else None
                if final is not None and final.status == 200 and state == "success" and payload:
                    return done("saved", job, self._memento(archive, url, payload))
                if final is not None and final.status == 200 and state == "error" and payload:
                    return done("failed", job, detail=_said(payload))
                if final is not None and final.status != 200 and final.status not in (429, 502, 503, 504):
                    return done("unreachable", job, detail=f"status: HTTP {final.status}")
            finally:
                result.close()
            if self.clock() - began >= self.wait:
                return done("pending", job, detail=f"still pending after {self.wait:g} s")

    @staticmethod
    def _memento(archive: MementoArchive, url: str, payload: dict[str, Any]) -> Memento | None:
        stamp = str(payload.get("timestamp", ""))
        original = str(payload.get("original_url") or url)
        if not _STAMP.match(stamp):
            return None
        when = dt.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
        if archive.timegate and archive.wayback:
            return Memento(archive.memento_url(stamp, original), when)
        assert archive.save
        base = archive.save.rsplit("/save", 1)[0]
        return Memento(f"{base}/web/{stamp}/{original}", when)


def save_pages(settings: Settings, db: ArchiveDB, wanted: dict[str, str], keys: SaveKeys, *,
               clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> list[Saved]:
    """Ask every configured archive that can save (a `save` endpoint) to save each URL of `wanted`
    (fetch URL -> the datetime its copies were asked for), at most `save_max` requests in all. Each
    request is kept in the saves table; a saved memento is judged like any copy and its answer added
    to the copies table, so a saved copy is offered (and reported) like one found."""
    archives = [a for a in archives_of(settings.archives) if a.save]
    if not archives or not wanted:
        return []
    fetcher = Fetcher(settings, HostGate(settings.per_host, settings.per_host_delay))
    saver = Saver(fetcher, keys, settings, clock=clock, sleep=sleep)
    lookup = Lookup(fetcher, min(settings.max_size, 8 * 1024 * 1024))
    out: list[Saved] = []
    copies: list[dict[str, Any]] = []
    try:
        for url, target in wanted.items():
            for archive in archives:
                if len(out) >= settings.save_max:
                    break
                saved = saver.save(archive, url)
                out.append(saved)
                if saved.status == "saved" and saved.memento is not None:
                    answer = lookup.judge(archive, url, saved.memento)
                    when = answer.memento_datetime or saved.memento.datetime
                    copies.append({"fetch_url": url, "archive": archive.name,
                                   "memento_url": answer.memento_url or saved.memento.url,
                                   "memento_datetime": stamps.iso(when), "target_datetime": target,
                                   "checked_at": stamps.now_iso(), "status": answer.status,
                                   "detail": keys.scrub(answer.detail) or f"saved now (job {saved.job_id})"})
    finally:
        fetcher.close()
    db.add_saves(s.row() for s in out)
    db.add_copies(copies)
    return out


__all__ = ["KEY_VARS", "SAVE_STATUSES", "SaveKeys", "Saved", "Saver", "keys_from_env", "save_pages"]
