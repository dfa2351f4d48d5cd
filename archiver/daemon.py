"""`archiver daemon`: snapshot and check every manifest of a folder on its schedule, for years.

APScheduler 3 keeps the jobs in its SQLAlchemy job store (`<storage>/daemon-jobs.db`, apart from the
archive database), so a restarted daemon knows when each job last ran and what is overdue: missed
runs are coalesced into one catch-up run, never stampeded and never silently dropped. Jobs already
in the store keep their next run time across restarts; only a changed schedule reschedules a job
(re-adding every job with `replace_existing` on start would push every next run into the future).

Jobs run one at a time, and the per-host politeness state (when each host may next be contacted)
carries over from one job to the next: a host cited by ten manifests still gets one request at a
time with the delay between them.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from apscheduler.triggers.interval import IntervalTrigger

from .check import check
from .config import Settings
from .errors import ArchiverError, DaemonBusy, ManifestError, StorageError, UsageError
from .manifests import MANIFEST_SUFFIXES, load_manifest, parse_interval
from .run import Run
from .snapshot import snapshot
from .storage import WarcCarry

DEFAULT_SCHEDULE = {"snapshot": "7d", "check": "1d"}
KINDS = ("snapshot", "check")
LOCK_NAME = "daemon.lock"
JOBS_NAME = "daemon-jobs.db"
MAX_JITTER = 600.0  # seconds; a tenth of the interval up to this
DEFAULT_WARC_ROLL = 86400.0  # a WARC file collects a day of job runs (or fills up) before it is closed

_current: Daemon | None = None  # the daemon whose jobs the job store's references run


def run_job(manifest: str, kind: str) -> None:
    """The job store's reference to a job: a module-level function, so jobs survive restarts."""
    if _current is not None:
        _current.run(manifest, kind)


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
    from apscheduler.triggers.cron import CronTrigger

    seconds = parse_interval(spec)
    if seconds is not None:
        # Like APScheduler's own default, the first run of a new grid is one interval away.
        start = (now or dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=seconds + phase(key, min(seconds / 10,
                                                                                                  MAX_JITTER)))
        return Schedule(spec, GridTrigger(seconds=seconds, start_date=start, timezone=dt.UTC), seconds)
    trigger = CronTrigger.from_crontab(spec, timezone=dt.UTC)
    trigger.jitter = 60  # cron fields are whole minutes: spread within one (cron does not creep)
    return Schedule(spec, trigger, None)


def manifest_files(folder: Path) -> list[Path]:
    """The manifests the daemon keeps: the folder's manifest files, hidden ones (editor swaps) left out."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES and not p.name.startswith("."))


class Lock:
    """One daemon per storage folder: an flock held for the daemon's life, naming its holder."""

    def __init__(self, storage: Path) -> None:
        self.path = storage / LOCK_NAME
        self.handle: IO[str] | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+")
        except OSError as exc:
            raise StorageError(f"{self.path}: cannot open lock file: {exc.strerror}") from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            handle.close()
            raise DaemonBusy(f"{self.path}: another archiver daemon holds this storage folder ({holder})") from None
        handle.seek(0)
        handle.truncate()
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n")
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing drops the flock; the file stays, naming the last holder
            self.handle = None


def holder(storage: Path) -> str | None:
    """Who runs a daemon on `storage` now, or None."""
    path = storage / LOCK_NAME
    try:
        with open(path) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return handle.read().strip() or "unknown process"
            return None
    except OSError:
        return None


class Daemon:
    def __init__(self, settings: Settings, manifests: Path, *, rescan: float = 60.0, log_format: str = "human",
                 out: IO[str] | None = None, clock: Callable[[], dt.datetime] | None = None,
                 warc_roll: float = DEFAULT_WARC_ROLL) -> None:
        if not manifests.is_dir():
            raise UsageError(f"{manifests}: not a folder of manifests")
        self.settings = settings
        self.manifests = manifests
        self.rescan = rescan
        self.log_format = log_format
        self.out = out or sys.stderr
        self.now = clock or (lambda: dt.datetime.now(dt.UTC))
        self.lock = Lock(settings.storage)
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.runner: Run | None = None
        self.politeness: dict[str, float] = {}  # host -> monotonic time it may next be contacted
        self.carry = WarcCarry(warc_roll)  # one WARC file for many runs (closed after warc_roll seconds)
        self.runs = 0
        self.failures = 0
        self._broken: dict[str, str] = {}  # manifest -> last load error, logged once per change
        self._unrun: set[str] = set()  # job ids whose due turn was dropped by a stop
        self.job_lock = threading.Lock()  # held by a job run; the carried WARC is closed only outside one
        self.scheduler: Any = None
        self._check_after = 1.0  # a new manifest's first check waits for its first snapshot

    # -- logging ----------------------------------------------------------------------------------

    def log(self, event: str, message: str, **fields: Any) -> None:
        stamp = self.now().isoformat(timespec="seconds").replace("+00:00", "Z")
        if self.log_format == "json":
            line = json.dumps({"time": stamp, "event": event, **fields}, default=str)
        else:
            line = f"{stamp} {message}"
        print(line, file=self.out, flush=True)

    # -- the job store ------------------------------------------------------------------------------

    def _scheduler(self) -> Any:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        # Its only warning worth a line (a turn skipped) is logged by _skipped, in the daemon's format.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        store = SQLAlchemyJobStore(url=f"sqlite:///{self.settings.storage / JOBS_NAME}")
        return BackgroundScheduler(
            jobstores={"default": store}, executors={"default": ThreadPoolExecutor(1)}, timezone=dt.UTC,
            # A run missed during downtime happens once on start however late (None: no grace limit).
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})

    def manifest_files(self) -> list[Path]:
        return manifest_files(self.manifests)

    def sync(self) -> None:
        """Make the job store match the manifests: add new ones (due now), reschedule edited
        schedules, drop removed files. A manifest that no longer loads keeps its jobs (and logs why):
        a typo must not silently stop the archiving of a paper."""
        wanted: dict[str, tuple[str, str, Schedule]] = {}
        present: set[str] = set()
        now = self.now()
        for path in self.manifest_files():
            present.add(str(path))
            try:
                manifest = load_manifest(path)
            except ManifestError as exc:
                if self._broken.get(str(path)) != str(exc):
                    self._broken[str(path)] = str(exc)
                    self.log("manifest_error", f"error: {exc} (its jobs keep their old schedule)",
                             manifest=str(path), error=str(exc))
                continue
            self._broken.pop(str(path), None)
            for kind in KINDS:
                spec = manifest.schedule.get(kind, DEFAULT_SCHEDULE[kind])
                wanted[f"{path}:{kind}"] = (str(path), kind, make_trigger(spec, f"{path}:{kind}", now))
        existing = {job.id: job for job in self.scheduler.get_jobs()}
        for job_id, (target, kind, schedule) in wanted.items():
            name = f"{kind} {schedule.spec}"
            job = existing.get(job_id)
            if job is None:
                # New manifests are archived at once; their check follows the snapshot.
                first = now + dt.timedelta(seconds=self._check_after if kind == "check" else 0)
                self.scheduler.add_job(run_job, schedule.trigger, args=[target, kind], id=job_id, name=name,
                                       next_run_time=first)
                self.log("job_added", f"scheduled {kind} of {target} every {schedule.spec}, first run now",
                         manifest=target, kind=kind, schedule=schedule.spec)
            elif schedule.interval is not None and not isinstance(job.trigger, GridTrigger) and job.name == name:
                # A job stored by an older archiver, with APScheduler's creeping jitter: same
                # schedule on the grid, its next run time kept.
                self.scheduler.modify_job(job_id, trigger=schedule.trigger)
            elif job.name != name:
                self.scheduler.modify_job(job_id, name=name)
                self.scheduler.reschedule_job(job_id, trigger=schedule.trigger)
                old = job.name.split(" ", 1)[-1]
                self.log("job_rescheduled", f"rescheduled {kind} of {target}: {old} -> {schedule.spec}",
                         manifest=target, kind=kind, schedule=schedule.spec)
        for job_id, job in existing.items():
            if job_id not in wanted and job.args[0] not in present:
                self.scheduler.remove_job(job_id)
                self.log("job_removed", f"removed {job.args[1]} of {job.args[0]} (manifest gone)",
                         manifest=job.args[0], kind=job.args[1])

    def resume_interrupted(self) -> None:
        """A run cut short (SIGTERM, crash, power cut) is run again at start instead of waiting for
        its next turn, a week away for a snapshot: APScheduler has already moved the job's next run
        time on when the run began, so without this the interrupted run would be lost."""
        from .archive import Archive

        jobs = {job.id: job for job in self.scheduler.get_jobs()}
        if not jobs or not self.settings.db_path.exists():
            return
        targets = sorted({job.args[0] for job in jobs.values()})
        with Archive(self.settings, writing=False) as archive:
            last = {kind: archive.db.last_runs(kind, targets) for kind in KINDS}
        now = self.now()
        for job in jobs.values():
            target, kind = job.args
            run = last[kind].get(target)
            if run and run["status"] in ("interrupted", "running") and (job.next_run_time or now) > now:
                self.scheduler.modify_job(job.id, next_run_time=now)
                self.log("job_resumed", f"{kind} of {target}: run {run['id']} was {run['status']} when it stopped,"
                         " running it again now", manifest=target, kind=kind, run_id=run["id"])

    def _skipped(self, event: Any) -> None:
        target, kind = event.job_id.rsplit(":", 1)
        self.log("run_skipped", f"{kind} {target}: turn skipped, its previous run has not finished",
                 manifest=target, kind=kind)

    # -- one job ------------------------------------------------------------------------------------

    def _attach(self, runner: Run) -> None:
        self.runner = runner
        runner.gate.seed(self.politeness)
        if self.stopping.is_set():
            runner.interrupted = True
            runner.gate.close()

    def run(self, manifest: str, kind: str) -> None:
        """One job run: never raises (a failed run is logged and the daemon goes on)."""
        if self.stopping.is_set():
            # A turn that came due while another job ran, queued, and reached only now: APScheduler
            # already moved the job's next run time on, so put it back (see _keep_turns).
            self._unrun.add(f"{manifest}:{kind}")
            return
        with self.job_lock:
            self._run(manifest, kind)

    def _run(self, manifest: str, kind: str) -> None:
        started = time.monotonic()
        fields: dict[str, Any] = {"manifest": manifest, "kind": kind}
        try:
            if kind == "snapshot":
                summary = snapshot(self.settings, [manifest], on_runner=self._attach, carry=self.carry)
                counts = summary.counts
                run_id = summary.run_id
                text = f"{counts['captured']} captured, {counts['unchanged']} unchanged, {counts['failed']} failed"
                network = summary.network
            else:
                result = check(self.settings, [manifest], on_runner=self._attach, carry=self.carry)
                counts = {word: result.counts.get(word, 0)
                          for word in ("alive", "drifted", "failing", "dead", "blocked", "unchecked")}
                run_id = result.summary.run_id
                text = ", ".join(f"{n} {word}" for word, n in counts.items() if n or word in ("alive", "dead"))
                network = result.summary.network
            if network is not None and network.offline:  # why its failures will not count toward death
                text += f"; {network.line()}"
                fields["offline"] = True
            status = "done"
        except ArchiverError as exc:
            status, counts, run_id = "interrupted" if self.stopping.is_set() else "failed", {}, None
            text = f"{type(exc).__name__}: {exc}"
            fields["error"] = str(exc)
        except Exception as exc:  # a bug in one run must not end years of archiving: log it whole
            status, counts, run_id = "failed", {}, None
            text = f"internal error: {type(exc).__name__}: {exc}"
            fields["error"] = text
            fields["traceback"] = traceback.format_exc()
        finally:
            if self.runner is not None:
                self.politeness.update(self.runner.gate.ready_times())
                self.runner = None
        self.runs += 1
        self.failures += status == "failed"
        elapsed = time.monotonic() - started
        self.log("run", f"{kind} {manifest}: {text} in {elapsed:.1f} s ({status}"
                 + (f", run {run_id})" if run_id else ")"),
                 status=status, run_id=run_id, counts=counts, elapsed=round(elapsed, 3), **fields)
        if "traceback" in fields and self.log_format != "json":
            print(fields["traceback"].rstrip(), file=self.out, flush=True)

    # -- life -----------------------------------------------------------------------------------------

    def serve(self) -> int:
        """Run until SIGTERM/SIGINT; rescan every `rescan` seconds and on SIGHUP. Returns the exit code."""
        global _current
        self.lock.acquire()
        self.scheduler = self._scheduler()
        _current = self
        restore = self._catch_signals()
        try:
            self.scheduler.start(paused=True)
            self.scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)
            self.sync()
            self.resume_interrupted()
            self.scheduler.resume()
            self.log("start", f"daemon started: {len(self.manifest_files())} manifests in {self.manifests},"
                     f" storage {self.settings.storage} (pid {os.getpid()})", pid=os.getpid(),
                     manifests=str(self.manifests), storage=str(self.settings.storage))
            next_rescan = time.monotonic() + self.rescan
            while not self.stopping.is_set():
                # Woken by SIGHUP or a stop; at least once a minute for an idle WARC file's age.
                woken = self.wake.wait(max(0.0, min(next_rescan - time.monotonic(), 60.0)))
                self.wake.clear()
                if self.stopping.is_set():
                    break
                if woken or time.monotonic() >= next_rescan:
                    self.rescan_now()
                    next_rescan = time.monotonic() + self.rescan
                self._roll_idle_warc()
        finally:
            self._shutdown()
            restore()
            _current = None
            self.lock.release()
        return 0

    def once(self) -> int:
        """Run every job that is due now (missed runs coalesced), then exit: for cron and timers."""
        global _current
        self.lock.acquire()
        self.scheduler = self._scheduler()
        _current = self
        restore = self._catch_signals()
        self._check_after = 0.0  # jobs run in order here, so the snapshot still goes first
        try:
            self.scheduler.start(paused=True)
            self.sync()
            self.resume_interrupted()
            now = self.now()
            due = sorted((job for job in self.scheduler.get_jobs() if job.next_run_time and job.next_run_time <= now),
                         key=lambda job: job.next_run_time)
            for job in due:
                if self.stopping.is_set():
                    break
                self.run(*job.args)
                after = self.now()
                self.scheduler.modify_job(job.id, next_run_time=job.trigger.get_next_fire_time(None, after))
            self.log("once", f"ran {len(due)} due jobs", jobs=len(due))
        finally:
            self.scheduler.shutdown(wait=False)
            self.close_warc()
            restore()
            _current = None
            self.lock.release()
        return 130 if self.stopping.is_set() else 0

    def close_warc(self) -> None:
        """Close the WARC file carried between runs (on stop: every file is closed and hashed)."""
        if self.carry.warc is None:
            return
        from .archive import Archive

        name = self.carry.warc.name
        try:
            with Archive(self.settings) as archive:
                self.carry.close(archive.store)
        except ArchiverError as exc:  # it stays .open, whole up to its last record: the next start recovers it
            self.log("warc_error", f"error: cannot close {name}: {exc}", warc=name, error=str(exc))

    def _roll_idle_warc(self) -> None:
        """With weekly schedules the carried file could wait days for the run that would close it."""
        if self.carry.expired() and self.job_lock.acquire(blocking=False):
            try:
                self.close_warc()
            finally:
                self.job_lock.release()

    def _keep_turns(self) -> None:
        """After a stop: jobs whose due turn was dropped run at the next start, not a turn later."""
        if not self._unrun:
            return
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        # The job store by itself: a second scheduler, even paused, has a thread that may pick the
        # job up the moment it is due and fail to submit it (its executor is already shut down).
        store = SQLAlchemyJobStore(url=f"sqlite:///{self.settings.storage / JOBS_NAME}")
        store.start(self.scheduler, "default")
        try:
            now = self.now()
            for job_id in sorted(self._unrun):
                job = store.lookup_job(job_id)
                if job is not None and job.next_run_time is not None and job.next_run_time > now:
                    job.next_run_time = now
                    store.update_job(job)
                    target, kind = job_id.rsplit(":", 1)
                    self.log("turn_kept", f"{kind} of {target} came due while stopping: it runs at the next start",
                             manifest=target, kind=kind)
        finally:
            store.shutdown()

    def rescan_now(self) -> None:
        """sync(), surviving a manifests folder that vanished or a job store that failed: the jobs
        keep their schedules and the error is logged once until it changes."""
        try:
            self.sync()
        except Exception as exc:  # noqa: BLE001 - years of archiving must outlive one bad rescan
            message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ArchiverError) else str(exc)
            if self._broken.get("") != message:
                self._broken[""] = message
                self.log("rescan_error", f"error: rescan of {self.manifests} failed: {message} (jobs unchanged)",
                         manifests=str(self.manifests), error=message)
        else:
            self._broken.pop("", None)

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        runner = self.runner
        if runner is not None:
            runner.stop()

    def _shutdown(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()
            self.scheduler.shutdown(wait=True)  # the run in flight was cut short by stop(): short wait
        self.close_warc()
        self._keep_turns()
        self.log("stop", f"daemon stopped after {self.runs} runs ({self.failures} failed)", runs=self.runs,
                 failures=self.failures)

    def _catch_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

        def stop(signum: int, frame: object) -> None:
            self.log("signal", f"{signal.Signals(signum).name}: stopping", signal=signal.Signals(signum).name)
            self.stop()

        def rescan(signum: int, frame: object) -> None:
            self.wake.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGHUP, rescan)

        def restore() -> None:
            for sig, previous in saved.items():
                signal.signal(sig, previous)

        return restore


# ------------------------------------------------------------------------------------------------
# archiver status


@dataclass(frozen=True)
class ManifestStatus:
    manifest: str
    schedule: dict[str, str]
    last: dict[str, dict[str, Any] | None]  # kind -> newest run row (started_at, finished_at, status)
    next: dict[str, dt.datetime | None]  # kind -> next run from the job store
    verdicts: dict[str, int]
    error: str | None = None


def next_runs(storage: Path) -> dict[str, dt.datetime]:
    """Job id -> next run time, read straight from the job store (no scheduler is started)."""
    import sqlite3

    path = storage / JOBS_NAME
    if not path.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT id, next_run_time FROM apscheduler_jobs").fetchall()
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: cannot read the daemon's job store: {exc}") from exc
    return {job_id: dt.datetime.fromtimestamp(when, dt.UTC) for job_id, when in rows if when is not None}


def status(settings: Settings, manifests: Path) -> list[ManifestStatus]:
    from .archive import Archive
    from .check import citation_verdicts
    from .verdict import Policy

    if not manifests.is_dir():
        raise UsageError(f"{manifests}: not a folder of manifests")
    files = [str(p) for p in manifest_files(manifests)]
    jobs = next_runs(settings.storage)
    archived = settings.db_path.exists()  # before the first run: schedules only, nothing ran yet
    last: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
    if archived:
        with Archive(settings, writing=False) as archive:
            last = {kind: archive.db.last_runs(kind, files) for kind in KINDS}
    out = []
    for target in files:
        try:
            manifest = load_manifest(target)
        except ManifestError as exc:
            out.append(ManifestStatus(target, {}, {}, {}, {}, str(exc)))
            continue
        schedule = {kind: manifest.schedule.get(kind, DEFAULT_SCHEDULE[kind]) for kind in KINDS}
        counts: dict[str, int] = {} if archived else {"unchecked": len(manifest.citations)}
        for verdict in citation_verdicts(settings, [target], Policy(), []) if archived else []:
            counts[verdict.verdict.verdict] = counts.get(verdict.verdict.verdict, 0) + 1
        out.append(ManifestStatus(target, schedule, {k: last[k].get(target) for k in KINDS},
                                  {k: jobs.get(f"{target}:{k}") for k in KINDS}, counts))
    return out
