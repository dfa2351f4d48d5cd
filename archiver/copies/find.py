"""A whole lookup of copies: for each URL the datetime to ask for (its citation's `accessed`, else our
first capture, else now), every configured archive asked once through one Fetcher (its HostGate keeps
each archive host polite; workers run the pairs together), each answer written to the copies table.

An answer is reused for a day (CACHE_FOR) when it was asked for the same datetime: a 'no_copy' or an
'error_page' (the negative answers) and an 'ok'. 'unreachable' is never reused; an archive that failed
to answer (transport failure or timeout) is taken as down for the rest of the lookup, so that one dead
archive costs one timeout, not one per citation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .. import stamps
from ..config import Settings
from ..db.archive_db import ArchiveDB
from ..db.copies import CopyRow, SaveRow
from ..fetch.fetcher import Fetcher
from ..fetch.politeness import HostGate
from .archives import MementoArchive, archives_of
from .lookup import Answer, Lookup, target_of
from .save import Saved, SaveKeys, save_pages

CACHE_FOR = dt.timedelta(days=1)
REUSED = frozenset({"ok", "no_copy", "error_page"})
BODY_LIMIT = 8 * 1024 * 1024  # of a TimeMap or a memento read for judging


@dataclass
class Lookups:
    """What a lookup did: answers asked now, answers reused from the cache, and its wall time."""

    asked: int = 0
    reused: int = 0
    elapsed: float = 0.0
    saved: list[Saved] = dataclasses.field(default_factory=list)  # save requests made (--save)


def _fresh(row: CopyRow | None, target: str, now: dt.datetime) -> bool:
    if row is None or row.status not in REUSED or row.target_datetime != target:
        return False
    try:
        return now - stamps.parse(row.checked_at) < CACHE_FOR
    except ValueError:
        return False


def find_copies(settings: Settings, db: ArchiveDB, accessed: dict[str, dt.date | None], *, refresh: bool = False,
                now: Callable[[], dt.datetime] = stamps.now) -> Lookups:
    """Ask every configured archive for a copy of each URL (`accessed`: fetch URL -> its citation's
    accessed date, or None), nearest the URL's target datetime; write each answer to the copies table."""
    started = time.monotonic()
    archives = archives_of(settings.archives)
    when = now()
    captured = db.copy_targets(accessed)
    cached = {(r.fetch_url, r.archive): r for r in db.newest_copies(accessed)}
    jobs: list[tuple[str, MementoArchive, dt.datetime]] = []
    stats = Lookups()
    for url, day in accessed.items():
        first = captured.get(url, (None, None))[1]
        target = target_of(day.isoformat() if day else None, first, when)
        for archive in archives:
            if not refresh and _fresh(cached.get((url, archive.name)), stamps.iso(target), when):
                stats.reused += 1
                continue
            jobs.append((url, archive, target))
    stats.asked = len(jobs)
    if jobs:
        rows = _ask_all(settings, jobs)
        db.add_copies(rows)
    stats.elapsed = time.monotonic() - started
    return stats


def _ask_all(settings: Settings, jobs: list[tuple[str, MementoArchive, dt.datetime]]) -> list[dict[str, Any]]:
    gate: HostGate[Any] = HostGate(settings.per_host, settings.per_host_delay)
    fetcher = Fetcher(settings, gate)
    lookup = Lookup(fetcher, min(settings.max_size, BODY_LIMIT))
    down: dict[str, str] = {}
    lock = threading.Lock()

    def one(job: tuple[str, MementoArchive, dt.datetime]) -> dict[str, Any]:
        url, archive, target = job
        with lock:
            known = down.get(archive.name)
        if known is not None:
            answer = Answer(archive.name, "unreachable", detail=f"{known} (earlier in this lookup)")
        else:
            answer = lookup.ask(archive, url, target)
            if answer.status == "unreachable" and answer.detail and "HTTP" not in answer.detail:
                with lock:
                    down.setdefault(archive.name, answer.detail)
        return {"fetch_url": url, "archive": archive.name, "memento_url": answer.memento_url,
                "memento_datetime": stamps.iso(answer.memento_datetime) if answer.memento_datetime else None,
                "target_datetime": stamps.iso(target), "checked_at": stamps.now_iso(), "status": answer.status,
                "detail": answer.detail}

    # Each archive's jobs are taken in turn by its own workers (per_host of them: no more could be in
    # flight at its host anyway), so an archive found down is known before its next job starts.
    queues: dict[str, deque[tuple[str, MementoArchive, dt.datetime]]] = {}
    for job in jobs:
        queues.setdefault(job[1].name, deque()).append(job)
    out: list[dict[str, Any]] = []

    def worker(queue: deque[tuple[str, MementoArchive, dt.datetime]]) -> None:
        while True:
            with lock:
                if not queue:
                    return
                job = queue.popleft()
            row = one(job)
            with lock:
                out.append(row)

    try:
        lanes = [q for q in queues.values() for _ in range(min(settings.per_host, len(q)))]
        with ThreadPoolExecutor(max_workers=max(1, len(lanes))) as pool:
            futures = [pool.submit(worker, q) for q in lanes]
            for future in futures:
                future.result()
    finally:
        fetcher.close()
    return out


@dataclass(frozen=True)
class CitedCopies:
    """One citation of a lookup's targets, every archive's newest answer for its URL, and its best copy."""

    manifest: str | None
    id: str | None
    url: str
    fetch_url: str
    answers: list[CopyRow]
    best: CopyRow | None
    saves: list[SaveRow] = dataclasses.field(default_factory=list)  # each archive's newest save request

    def to_json(self) -> dict[str, Any]:
        best = self.best
        return {"manifest": self.manifest, "id": self.id, "url": self.url,
                "saves": [{"archive": s.archive, "status": s.status, "job_id": s.job_id, "url": s.memento_url,
                           "datetime": s.memento_datetime, "detail": s.detail, "requested_at": s.requested_at}
                          for s in self.saves],
                "copy": None if best is None else {"archive": best.archive, "url": best.memento_url,
                                                   "datetime": best.memento_datetime},
                "answers": [{"archive": a.archive, "status": a.status, "url": a.memento_url,
                             "datetime": a.memento_datetime, "target": a.target_datetime, "detail": a.detail}
                            for a in self.answers]}

    def why_none(self) -> str:
        """Why no copy is offered: each archive's answer, the unreachable ones named as such."""
        if not self.answers:
            return "no archive asked"
        parts = [f"{a.archive}: {a.status.replace('_', ' ')}" + (f" ({a.detail})" if a.detail else "")
                 for a in self.answers]
        return "; ".join(parts)


@dataclass(frozen=True)
class SaveAsk:
    """`--save`: the keys, and whether to ask for every URL (`always`) or only those without a copy."""

    keys: SaveKeys
    always: bool = False


def copies_for_targets(settings: Settings, targets: list[str], *, refresh: bool = False,
                       only: Callable[[str], bool] | None = None,
                       save: SaveAsk | None = None) -> tuple[list[CitedCopies], Lookups]:
    """`archiver copies`: the copies of every citation of the TARGETs (manifests or URLs); `only`:
    which fetch URLs to look up (check --copies: the failing and dead ones); `save`: then ask the
    archives that can save (save.py) to save the URLs without a copy (or every URL)."""
    from ..archive import Archive
    from ..manifests import load_targets
    from ..run import url_target

    manifests, urls = load_targets(targets)
    cited: list[tuple[str | None, str | None, str, str, dt.date | None]] = []
    for m in manifests:
        cited += [(m.path, c.id, c.url, c.fetch_url, c.accessed) for c in m.citations]
    for u in urls:
        fetch_url, invalid = url_target(u)
        if invalid is None:
            cited.append((None, None, u, fetch_url, None))
    if only is not None:
        cited = [c for c in cited if only(c[3])]
    accessed: dict[str, dt.date | None] = {}
    for *_, fetch_url, day in cited:
        if fetch_url not in accessed or (day is not None and (accessed[fetch_url] or day) >= day):
            accessed[fetch_url] = day
    with Archive(settings, writing=True) as archive:
        stats = find_copies(settings, archive.db, accessed, refresh=refresh)
        if save is not None:
            good = archive.db.good_copies(accessed)
            asked_for = {r.fetch_url: r.target_datetime for r in archive.db.newest_copies(accessed)}
            wanted = {u: asked_for.get(u) or stamps.now_iso() for u in accessed if save.always or u not in good}
            stats.saved = save_pages(settings, archive.db, wanted, save.keys)
        answers = answers_by_url(archive.db, accessed)
        good = archive.db.good_copies(accessed)
        saves: dict[str, list[SaveRow]] = {}
        for row in archive.db.newest_saves(accessed):
            saves.setdefault(row.fetch_url, []).append(row)
    names = [a.name for a in archives_of(settings.archives)]
    out = []
    for manifest, cid, url, fetch_url, _ in cited:
        mine = [a for a in answers.get(fetch_url, []) if a.archive in names]
        best = next((g for g in good.get(fetch_url, []) if g.archive in names), None)
        out.append(CitedCopies(manifest, cid, url, fetch_url, mine, best, saves.get(fetch_url, [])))
    return out, stats


def answers_by_url(db: ArchiveDB, fetch_urls: Iterable[str]) -> dict[str, list[CopyRow]]:
    """Each archive's newest answer per URL, in archive-name order."""
    out: dict[str, list[CopyRow]] = {}
    for row in db.newest_copies(fetch_urls):
        out.setdefault(row.fetch_url, []).append(row)
    return out


__all__ = ["CACHE_FOR", "CitedCopies", "Lookups", "SaveAsk", "answers_by_url", "copies_for_targets", "find_copies"]
