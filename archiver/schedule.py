"""When the daemon's jobs run: a folder's manifests and their schedules, triggers, next-run maths,
retries of failed runs; where the job store is, and whether it is safe to load.

A manifest's `schedule:` gives each kind of job (snapshot, check) an interval ('12h', '7d') or a
5-field cron string; absent kinds take the defaults. An interval becomes a GridTrigger: runs on the
fixed grid start + k * interval, the grid shifted by a stable per-job phase so that many manifests
spread out. Missed turns are coalesced: a job runs once however many turns it missed, then takes the
next point of its grid. The job store (APScheduler's, `<storage>/daemon-jobs.db`) keeps each job's
next run time across restarts; its jobs are pickled, so it must be writable by the daemon's user
alone (`guard_job_store`). A run that failed is retried after 1, 5 and 30 minutes, each retry only
if it comes before the job's next turn.

Every function that needs the time takes it (`now`) or a `Clock`, so the maths runs without waiting.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import stat
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

from . import stamps
from .cron import cron_trigger
from .errors import StorageError
from .manifests import MANIFEST_SUFFIXES, Manifest, parse_interval

Clock = Callable[[], dt.datetime]  # the current instant, timezone-aware (stamps.now, or a test's)

KINDS = ("snapshot", "check")
DEFAULT_SCHEDULE = {"snapshot": "7d", "check": "1d"}
MAX_JITTER = 600.0  # seconds; a tenth of the interval up to this
CRON_JITTER = 60  # seconds: cron fields are whole minutes, so runs spread within one (cron does not creep)
JOBS_NAME = "daemon-jobs.db"
# A run that failed (a locked database, a full disk) is tried again after these many seconds, each
# before the job's next turn: a weekly snapshot does not wait a week for a lock held for a minute.
RETRY_DELAYS = (60.0, 300.0, 1800.0)


@dataclass(frozen=True)
class Schedule:
    spec: str
    trigger: Any
    interval: float | None  # seconds, for intervals


class GridTrigger(IntervalTrigger):  # type: ignore[misc]
    """Every `interval` on the fixed grid start_date + k * interval.

    APScheduler's own jitter adds a random 0..jitter delay to each run and counts the next interval
    from that late start, so a daily job with 10 minutes of jitter drifts about five minutes later
    every day. Here the spread is a fixed phase per job instead (where the grid starts), and each run
    is the next grid point after the previous one: no creep, however long the daemon runs."""

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
        after = previous_fire_time or now
        if after < self.start_date:
            candidate = self.start_date
        else:
            candidate = self.start_date + self.interval * ((after - self.start_date) // self.interval)
            if previous_fire_time is not None or candidate < now:
                candidate += self.interval
        return candidate if self.end_date is None or candidate <= self.end_date else None


def phase(key: str, spread: float) -> float:
    """A stable offset in [0, spread) seconds for a job: jobs of many manifests spread out, and each
    keeps its own phase across restarts."""
    return zlib.crc32(key.encode()) / 2**32 * spread


def make_trigger(spec: str, key: str = "", now: dt.datetime | None = None) -> Schedule:
    """An APScheduler trigger for '30s' / '12h' / '7d' or a 5-field cron string. An interval's runs
    fall `phase(key)` (up to a tenth of the interval, at most MAX_JITTER) after multiples of the
    interval counted from `now`, the first one interval away; cron runs start within their minute."""
    seconds = parse_interval(spec)
    if seconds is not None:
        # Like APScheduler's own default, the first run of a new grid is one interval away.
        offset = seconds + phase(key, min(seconds / 10, MAX_JITTER))
        start = (now or stamps.now()) + dt.timedelta(seconds=offset)
        return Schedule(spec, GridTrigger(seconds=seconds, start_date=start, timezone=dt.UTC), seconds)
    trigger = cron_trigger(spec)
    trigger.jitter = CRON_JITTER
    return Schedule(spec, trigger, None)


def due(jobs: Iterable[Any], now: dt.datetime) -> list[Any]:
    """The jobs whose next run time has come, the longest waiting first. Each runs once, however many
    turns it missed while no daemon ran (coalesced: never a stampede of catch-up runs)."""
    return sorted((job for job in jobs if job.next_run_time is not None and job.next_run_time <= now),
                  key=lambda job: job.next_run_time)


def next_turn(trigger: Any, now: dt.datetime) -> dt.datetime | None:
    """A job's next run after one that ended at `now`: its trigger's next point strictly after now
    (for an interval, the grid's, not now + interval), so a turn is never run twice."""
    return trigger.get_next_fire_time(now, now)  # type: ignore[no-any-return]


def retry_time(trigger: Any, retries: int, now: dt.datetime) -> dt.datetime | None:
    """When a job whose run failed at `now` (after `retries` failed retries) runs again: the next
    delay of RETRY_DELAYS after now, if that comes before the job's next turn; None when the retries
    are spent or its next turn comes first (a failed run of a 5-minute job simply waits for it)."""
    if retries >= len(RETRY_DELAYS):
        return None
    at = now + dt.timedelta(seconds=RETRY_DELAYS[retries])
    turn = next_turn(trigger, now)
    return at if turn is None or at < turn else None


def specs(manifest: Manifest) -> dict[str, str]:
    """Kind -> schedule spec of a manifest, the defaults filled in."""
    return {kind: manifest.schedule.get(kind, DEFAULT_SCHEDULE[kind]) for kind in KINDS}


def job_id(target: str, kind: str) -> str:
    """The job store's id of a manifest's job (also the key of its phase)."""
    return f"{target}:{kind}"


def job_parts(job: str) -> tuple[str, str]:
    """(manifest, kind) of a job id."""
    target, kind = job.rsplit(":", 1)
    return target, kind


def jobs_path(storage: Path) -> Path:
    """The daemon's job store, apart from the archive database."""
    return storage / JOBS_NAME


def jobs_url(storage: Path) -> Any:
    """The job store's SQLAlchemy URL, built from its parts: a storage path with `#` or `?` (or `%`)
    in it must name that file, not cut the URL short there."""
    from sqlalchemy.engine import URL

    return URL.create("sqlite", database=str(jobs_path(storage).absolute()))


def guard_job_store(storage: Path) -> Path:
    """The job store, made safe to load. APScheduler pickles jobs into it and loading a pickle runs
    code, so whoever may write the file may run code as the daemon: it is created 0600, and one
    that is a symbolic link, not a file, owned by another user or writable by group or others is
    refused (StorageError, exit 4) before anything is read from it."""
    path = jobs_path(storage)
    flags = os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
        try:
            info = os.fstat(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        reason = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        raise StorageError(f"{path}: cannot open the daemon's job store: {reason}") from exc
    why = ("it is not a regular file" if not stat.S_ISREG(info.st_mode)
           else f"it is owned by uid {info.st_uid}, not by this user (uid {os.geteuid()})"
           if info.st_uid != os.geteuid()
           else f"it is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})"
           if info.st_mode & 0o022 else None)
    if why is not None:
        raise StorageError(f"{path}: refusing the daemon's job store: {why}; its jobs are pickled, so writing"
                           " it means running code as the daemon (check it, then chown it to this user and"
                           " chmod 600 it, or remove it: the daemon makes a new one)")
    return path


def manifest_files(folder: Path) -> list[Path]:
    """The manifests the daemon keeps: the folder's manifest files, hidden ones (editor swaps) left out."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES and not p.name.startswith("."))
