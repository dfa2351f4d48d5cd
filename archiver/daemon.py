"""`archiver daemon`: snapshot and check every manifest of a folder on its schedule, for years.

APScheduler 3 keeps the jobs in its SQLAlchemy job store (`<storage>/daemon-jobs.db`, apart from the
archive database), so a restarted daemon knows when each job last ran and what is overdue: missed
runs are coalesced into one catch-up run, never stampeded and never silently dropped. Jobs already
in the store keep their next run time across restarts; only a changed schedule reschedules a job
(re-adding every job with `replace_existing` on start would push every next run into the future).
When jobs run is schedule.py's; here is the daemon's life: the job store kept in step with the
manifests folder (rescans, SIGHUP), runs cut short and resumed, failed runs retried before their
next turn, the WARC file carried across runs, one log line per event. Jobs run on a thread of their
own, also under `--once`, so the main thread keeps the daemon's signal handlers: SIGTERM stops the
daemon, not only the run in flight.

Jobs run one at a time, and the per-host politeness state (when each host may next be contacted)
carries over from one job to the next: a host cited by ten manifests still gets one request at a
time with the delay between them.

The daemon reads the time from its clock (`stamps.now` unless given): schedules, due jobs and log
lines follow it, so `once()` can be driven through days of schedule without waiting.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES

from . import signals, stamps
from .check import check
from .config import Settings
from .errors import ArchiverError, DatabaseDamaged, ManifestError, UsageError
from .lock import Lock
from .manifests import load_manifest
from .run import Run
from .schedule import (
    KINDS,
    RETRY_DELAYS,
    Clock,
    GridTrigger,  # also the name job stores written before schedule.py was split out unpickle
    Schedule,
    due,
    guard_job_store,
    job_id,
    job_parts,
    jobs_path,
    jobs_url,
    make_trigger,
    manifest_files,
    next_turn,
    retry_time,
    specs,
)
from .snapshot import snapshot
from .storage import WarcCarry

DEFAULT_WARC_ROLL = 86400.0  # a WARC file collects a day of job runs (or fills up) before it is closed

_current: Daemon | None = None  # the daemon whose jobs the job store's references run


def run_job(manifest: str, kind: str, retries: int = 0) -> None:
    """The job store's reference to a job (`archiver.daemon:run_job`): a module-level function, so
    jobs survive restarts; it must keep this name and place. `retries`: how many retries of a
    failed run came before this one (kept in the job store, so that a restart keeps counting)."""
    if _current is not None:
        status = _current.run(manifest, kind)
        if status != "skipped":
            # Settled by the main thread: a job thread must not wait for the scheduler's lock, which
            # its shutdown holds while it waits for the job thread.
            _current.ended.put((job_id(manifest, kind), status))
            _current.wake.set()


class Daemon:
    """The scheduler over one manifests folder and one storage folder; `serve()` for years, `once()` for cron."""

    def __init__(self, settings: Settings, manifests: Path, *, rescan: float = 60.0, log_format: str = "human",
                 out: IO[str] | None = None, clock: Clock = stamps.now,
                 warc_roll: float = DEFAULT_WARC_ROLL) -> None:
        if not manifests.is_dir():
            raise UsageError(f"{manifests}: not a folder of manifests")
        self.settings = settings
        self.manifests = manifests
        self.rescan = rescan
        self.log_format = log_format
        self.out = out or sys.stderr
        self.now = clock
        self.lock = Lock(settings.storage, clock)
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.rescan_asked = threading.Event()  # SIGHUP
        self.ended: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()  # (job id, status) of runs under serve()
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
        stamp = stamps.iso(self.now(), "seconds")
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
        store = SQLAlchemyJobStore(url=jobs_url(self.settings.storage))  # guarded by _preflight
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
        now = self.now()
        wanted, present = self._wanted(now)
        existing = {job.id: job for job in self.scheduler.get_jobs()}
        for key, (target, kind, schedule) in wanted.items():
            self._keep(key, target, kind, schedule, existing.get(key), now)
        for key, job in existing.items():
            if key not in wanted and job.args[0] not in present:
                self.scheduler.remove_job(key)
                self.log("job_removed", f"removed {job.args[1]} of {job.args[0]} (manifest gone)",
                         manifest=job.args[0], kind=job.args[1])

    def _wanted(self, now: dt.datetime) -> tuple[dict[str, tuple[str, str, Schedule]], set[str]]:
        """Job id -> (manifest, kind, schedule) for every manifest that loads; and every manifest file."""
        wanted: dict[str, tuple[str, str, Schedule]] = {}
        present: set[str] = set()
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
            for kind, spec in specs(manifest).items():
                key = job_id(str(path), kind)
                wanted[key] = (str(path), kind, make_trigger(spec, key, now))
        return wanted, present

    def _keep(self, key: str, target: str, kind: str, schedule: Schedule, job: Any, now: dt.datetime) -> None:
        """Add the job, or bring the stored one in step with its manifest's schedule."""
        name = f"{kind} {schedule.spec}"
        if job is None:
            # New manifests are archived at once; their check follows the snapshot.
            first = now + dt.timedelta(seconds=self._check_after if kind == "check" else 0)
            self.scheduler.add_job(run_job, schedule.trigger, args=[target, kind], id=key, name=name,
                                   next_run_time=first)
            self.log("job_added", f"scheduled {kind} of {target} every {schedule.spec}, first run now",
                     manifest=target, kind=kind, schedule=schedule.spec)
        elif schedule.interval is not None and not isinstance(job.trigger, GridTrigger) and job.name == name:
            # A job stored by an older archiver, with APScheduler's creeping jitter: same
            # schedule on the grid, its next run time kept.
            self.scheduler.modify_job(key, trigger=schedule.trigger)
        elif schedule.interval is None and job.name == name and str(job.trigger) != str(schedule.trigger):
            # A cron job stored by an older archiver, which read weekday numbers APScheduler's way
            # (Monday = 0): the same crontab string, now read as crontab reads it.
            self.scheduler.modify_job(key, trigger=schedule.trigger,
                                      next_run_time=schedule.trigger.get_next_fire_time(None, now))
            self.log("job_rescheduled", f"rescheduled {kind} of {target}: {schedule.spec} read as crontab",
                     manifest=target, kind=kind, schedule=schedule.spec, reason="crontab weekdays")
        elif job.name != name:
            # Not reschedule_job: it counts from APScheduler's wall clock, not the daemon's.
            self.scheduler.modify_job(key, name=name, trigger=schedule.trigger,
                                      next_run_time=schedule.trigger.get_next_fire_time(None, now))
            old = job.name.split(" ", 1)[-1]
            self.log("job_rescheduled", f"rescheduled {kind} of {target}: {old} -> {schedule.spec}",
                     manifest=target, kind=kind, schedule=schedule.spec)

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
        target, kind = job_parts(event.job_id)
        self.log("run_skipped", f"{kind} {target}: turn skipped, its previous run has not finished",
                 manifest=target, kind=kind)

    # -- one job ------------------------------------------------------------------------------------

    def _attach(self, runner: Run) -> None:
        self.runner = runner
        runner.gate.seed(self.politeness)
        if self.stopping.is_set():
            runner.interrupted = True
            runner.gate.close()

    def run(self, manifest: str, kind: str) -> str:
        """One job run: never raises (a failed run is logged and the daemon goes on). Returns how
        it ended: done, failed, interrupted, or skipped (the daemon was stopping)."""
        if self.stopping.is_set():
            # A turn that came due while another job ran, queued, and reached only now: APScheduler
            # already moved the job's next run time on, so put it back (see _keep_turns).
            self._unrun.add(job_id(manifest, kind))
            return "skipped"
        with self.job_lock:
            return self._run(manifest, kind)

    def after_run(self, key: str, status: str, *, turn: bool = False) -> None:
        """After a run of job `key` (on the main thread): see `_retry`. With `turn` (once()), the
        job's next run time is set here; under serve() APScheduler set it when the run began."""
        job = self.scheduler.get_job(key)
        if job is None:  # its manifest went away meanwhile
            return
        changes = self._retry(job, status, {"next_run_time": next_turn(job.trigger, self.now())} if turn else {})
        if changes:
            self.scheduler.modify_job(key, **changes)

    def _settle_ended(self) -> None:
        while not self.ended.empty():
            self.after_run(*self.ended.get())

    def _retry(self, job: Any, status: str, changes: dict[str, Any]) -> dict[str, Any]:
        """The changes to a job after its run: a failed run is tried again after a backoff
        (RETRY_DELAYS) if that comes before the job's next turn; any other ends the count. The count
        lives in the job store (the job's `retries` argument), so a restart or the next `--once`
        keeps it. Logs each retry, and when the retries are spent."""
        retries = int(job.kwargs.get("retries", 0))
        now = self.now()
        target, kind = job_parts(job.id)
        at = retry_time(job.trigger, retries, now) if status == "failed" else None
        if at is not None:
            changes.update(next_run_time=at, kwargs={"retries": retries + 1})
            self.log("run_retry", f"{kind} of {target} failed: retry {retries + 1} of {len(RETRY_DELAYS)}"
                     f" at {stamps.iso(at, 'seconds')}", manifest=target, kind=kind, retry=retries + 1,
                     at=stamps.iso(at, "seconds"))
        elif retries:
            changes["kwargs"] = {}
            if status == "failed":
                turn_at = changes.get("next_run_time", job.next_run_time)
                turn = stamps.iso(turn_at, "seconds") if turn_at is not None else None
                self.log("retries_spent", f"{kind} of {target} failed after {retries} retries: next try at its"
                         f" next turn, {turn or 'never'}", manifest=target, kind=kind, retries=retries, next=turn)
        return changes

    def _run(self, manifest: str, kind: str) -> str:
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
        return status

    # -- life -----------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _in_charge(self) -> Iterator[None]:
        """Hold the storage folder's lock, a scheduler over the job store, and the signal handlers
        (SIGTERM/SIGINT stop, SIGHUP rescans) for the block."""
        global _current
        self.lock.acquire()
        self._preflight()
        try:
            self.scheduler = self._scheduler()
            _current = self
            with signals.handled({signal.SIGINT: self._stop_signal, signal.SIGTERM: self._stop_signal,
                                  signal.SIGHUP: self._rescan_signal}):
                yield
        finally:
            _current = None
            self.lock.release()

    def _preflight(self) -> None:
        """Start-up errors as one line (exit 4), before a scheduler thread exists to print tracebacks of
        its own: the archive database passes SQLite's quick_check (a damaged one is never written into)
        and opens as every run will open it (created or upgraded), and the job store is ours alone
        (schedule.guard_job_store) and reads. The lock taken just before is given back when this fails."""
        from .db import ArchiveDB
        from .db.damage import probe

        try:
            if self.settings.db_path.exists():
                with ArchiveDB.open(self.settings.db_path, readonly=True) as db:
                    finding = db.integrity()
                if finding is not None:
                    raise DatabaseDamaged(self.settings.db_path, finding)
            ArchiveDB.open(self.settings.db_path).close()
            guard_job_store(self.settings.storage)  # before anything reads it: its jobs are pickles
            probe(jobs_path(self.settings.storage),
                  "the daemon's job store: remove it and every manifest is scheduled anew, due now")
        except BaseException:
            self.lock.release()
            raise

    def _stop_signal(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        self.log("signal", f"{name}: stopping", signal=name)
        self.stop()

    def _rescan_signal(self, signum: int, frame: object) -> None:
        self.rescan_asked.set()
        self.wake.set()

    def serve(self) -> int:
        """Run until SIGTERM/SIGINT; rescan every `rescan` seconds and on SIGHUP. Returns the exit code."""
        with self._in_charge():
            try:
                self.scheduler.start(paused=True)
                self.scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)
                self.sync()
                self.resume_interrupted()
                self.scheduler.resume()
                self.log("start", f"daemon started: {len(self.manifest_files())} manifests in {self.manifests},"
                         f" storage {self.settings.storage} (pid {os.getpid()})", pid=os.getpid(),
                         manifests=str(self.manifests), storage=str(self.settings.storage))
                self._wait_and_rescan()
            finally:
                self._shutdown()
        return 0

    def _wait_and_rescan(self) -> None:
        next_rescan = time.monotonic() + self.rescan
        while not self.stopping.is_set():
            # Woken by SIGHUP or a stop; at least once a minute for an idle WARC file's age.
            self.wake.wait(max(0.0, min(next_rescan - time.monotonic(), 60.0)))
            self.wake.clear()
            if self.stopping.is_set():
                break
            self._settle_ended()
            if self.rescan_asked.is_set() or time.monotonic() >= next_rescan:
                self.rescan_asked.clear()
                self.rescan_now()
                next_rescan = time.monotonic() + self.rescan
            self._roll_idle_warc()

    def once(self) -> int:
        """Run every job that is due now (missed runs coalesced), then exit: for cron and timers."""
        self._check_after = 0.0  # jobs run in order here, so the snapshot still goes first
        with self._in_charge():
            try:
                self.scheduler.start(paused=True)
                self.sync()
                self.resume_interrupted()
                jobs = due(self.scheduler.get_jobs(), self.now())
                for job in jobs:
                    if self.stopping.is_set():
                        break
                    status = self._run_apart(*job.args)
                    if status == "skipped":
                        break
                    self.after_run(job.id, status, turn=True)
                self.log("once", f"ran {len(jobs)} due jobs", jobs=len(jobs))
            finally:
                self._close_scheduler(wait=False)
                self.close_warc()
        return 130 if self.stopping.is_set() else 0

    def _run_apart(self, manifest: str, kind: str) -> str:
        """A job run on a thread of its own, as under serve(): the main thread keeps the daemon's
        signal handlers (a run on the main thread would put its own in their place), so SIGTERM
        stops the daemon, not only the run in flight, and no later job starts."""
        ended: list[str] = []
        worker = threading.Thread(target=lambda: ended.append(self.run(manifest, kind)), name="archiver-job")
        worker.start()
        while worker.is_alive():
            worker.join(0.5)  # signal handlers run between the waits
        return ended[0] if ended else "failed"

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
        """After a stop: jobs whose due turn was dropped run at the next start, not a turn later; runs
        that failed as the daemon stopped keep their retry."""
        ended = []
        while not self.ended.empty():
            ended.append(self.ended.get())
        if not self._unrun and not any(status == "failed" for _, status in ended):
            return
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        # The job store by itself: a second scheduler, even paused, has a thread that may pick the
        # job up the moment it is due and fail to submit it (its executor is already shut down).
        store = SQLAlchemyJobStore(url=jobs_url(self.settings.storage))
        store.start(self.scheduler, "default")
        try:
            now = self.now()
            for unrun in sorted(self._unrun):
                job = store.lookup_job(unrun)
                if job is not None and job.next_run_time is not None and job.next_run_time > now:
                    job.next_run_time = now
                    store.update_job(job)
                    target, kind = job_parts(unrun)
                    self.log("turn_kept", f"{kind} of {target} came due while stopping: it runs at the next start",
                             manifest=target, kind=kind)
            for key, status in ended:
                if (job := store.lookup_job(key)) is not None and (changes := self._retry(job, status, {})):
                    for name, value in changes.items():
                        setattr(job, name, value)
                    store.update_job(job)
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

    def _close_scheduler(self, wait: bool) -> None:
        """Shut the scheduler down without letting it near the job store again. APScheduler's thread
        runs one more round when woken for its shutdown, with the executor already gone: every job
        due then would have its next run time moved on without running (a lost turn, and a
        traceback on stderr), such as the jobs a stopped `once()` did not reach."""
        self.scheduler.pause()
        self.scheduler.remove_jobstore("default")
        self.scheduler.shutdown(wait=wait)

    def _shutdown(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self._close_scheduler(wait=True)  # the run in flight was cut short by stop(): short wait
        self.close_warc()
        self._keep_turns()
        self.log("stop", f"daemon stopped after {self.runs} runs ({self.failures} failed)", runs=self.runs,
                 failures=self.failures)
