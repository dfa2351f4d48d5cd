"""`archiver snapshot`: fetch every cited URL once, keep it as WARC, record each capture.

Workers fetch and build each capture's gzip-compressed WARC records in a spool (so compression
runs in parallel); the calling thread alone appends spools to the WARC file and writes the database,
which keeps a WARC record and its database row in one well-defined order: bytes first, row second.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from .archive import Archive
from .config import Settings
from .db import Previous
from .errors import ArchiverError, Interrupted, InvalidURL, StorageError, UsageError
from .fetch import Fetcher, FetchResult
from .manifests import Manifest, Problem, load_targets
from .politeness import HostGate
from .stamps import now_iso
from .storage import WarcCarry, record_rows
from .urls import host_of, normalize_url
from .warc import Original, RecordInfo

BATCH = 32  # captures whose database rows are committed together, at most
BUILDERS = 2  # threads compressing WARC records; zlib and hashlib run outside the GIL


@dataclass
class Job:
    fetch_url: str
    url: str  # as cited
    manifest: str | None
    citation_id: str | None
    previous: Previous | None = None
    invalid_reason: str | None = None
    accessed: dt.date | None = None  # of the first citation of this URL: the checker's baseline date


@dataclass
class Outcome:
    """One line of a run's result, also the --json shape."""

    url: str
    fetch_url: str
    manifest: str | None
    citation_id: str | None
    result: str  # captured / unchanged / failed
    outcome: str  # ok or the transport failure word
    http_status: int | None = None
    final_url: str | None = None
    error: str | None = None
    warc: str | None = None
    offset: int | None = None
    length: int | None = None
    sha256: str | None = None
    truncated: str | None = None
    capture_id: int | None = None


@dataclass
class Summary:
    run_id: int
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    status: str = "running"  # done, interrupted or failed once the run is over

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)

    @property
    def counts(self) -> dict[str, int]:
        return {k: self.count(k) for k in ("captured", "unchanged", "failed")}

    @property
    def exit_code(self) -> int:
        return 1 if self.count("failed") else 0

    def to_json(self) -> str:
        return json.dumps({"run_id": self.run_id, "status": self.status, **self.counts,
                           "skipped": len(self.problems),
                           "recovered_warcs": self.recovered,
                           "problems": [str(p) for p in self.problems],
                           "urls": [asdict(o) for o in self.outcomes]}, indent=2)


def plan_jobs(manifests: list[Manifest], urls: list[str]) -> tuple[list[Job], list[Job]]:
    """Jobs to fetch (each URL once, first citation wins) and jobs that are invalid as given."""
    jobs: dict[str, Job] = {}
    invalid: list[Job] = []
    entries: list[tuple[str, str | None, str | None, dt.date | None]]
    entries = [(c.url, m.path, c.id, c.accessed) for m in manifests for c in m.citations]
    entries += [(u, None, None, None) for u in urls]
    for url, manifest, citation_id, accessed in entries:
        try:
            fetch_url = normalize_url(url)
        except InvalidURL as exc:
            invalid.append(Job(url, url, manifest, citation_id, invalid_reason=exc.detail))
            continue
        jobs.setdefault(fetch_url, Job(fetch_url, url, manifest, citation_id, accessed=accessed))
    return list(jobs.values()), invalid


def _citation_rows(manifest: Manifest) -> list[dict[str, Any]]:
    rows = []
    seen: dict[str, int] = {}
    for c in manifest.citations:
        # Without an id, a citation is known by its URL and which occurrence of that URL it is:
        # stable when unrelated lines are edited, and two citations of one URL stay two rows.
        seen[c.url] = seen.get(c.url, 0) + 1
        key = c.id or (c.url if seen[c.url] == 1 else f"{c.url} #{seen[c.url]}")
        rows.append({
            "key": key, "citation_id": c.id, "url": c.url, "fetch_url": normalize_url(c.url),
            "cited_as": c.cited_as, "context": c.context,
            "accessed": c.accessed.isoformat() if c.accessed else None, "line": c.line,
            "extra": json.dumps(c.extra, default=str) if c.extra else None,
        })
    return rows


@dataclass
class _Done:
    job: Job
    result: FetchResult | None = None
    spool: IO[bytes] | None = None
    records: list[RecordInfo] = field(default_factory=list)
    error: BaseException | None = None
    extra: Any = None  # what a subclass learned about the fetch (the checker's findings)


class SnapshotRun:
    def __init__(self, settings: Settings, archive: Archive,
                 on_outcome: Callable[[Outcome], None] | None = None) -> None:
        self.settings = settings
        self.archive = archive
        self.on_outcome = on_outcome or (lambda outcome: None)
        self.gate: HostGate[Job] = HostGate(settings.per_host, settings.per_host_delay)
        self.fetcher = Fetcher(settings, self.gate, spool_dir=archive.store.spool_dir)
        self.fetched: queue.Queue[_Done | None] = queue.Queue(maxsize=max(2 * settings.concurrency, 4))
        self.done: queue.Queue[_Done | None] = queue.Queue(maxsize=max(2 * settings.concurrency, 4))
        self.builders = BUILDERS
        self._fetching = 0
        self._fetching_lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self.interrupted = False

    # Three stages, so that `concurrency` requests really are in flight: fetch workers only fetch;
    # builder threads turn fetched responses into compressed WARC records; the calling thread
    # appends records and writes the database.

    def _fetch_worker(self) -> None:
        try:
            while (picked := self.gate.next_job()) is not None:
                done = _Done(picked[1])
                try:
                    done.result = self.fetcher.fetch(done.job.fetch_url, host_slot_held=True)
                    self.inspect(done)
                except BaseException as exc:  # handed on: the writer thread decides what it means
                    done.error = exc
                self.fetched.put(done)
        finally:
            with self._fetching_lock:
                self._fetching -= 1
                last = self._fetching == 0
            if last:  # no more fetches: tell every builder to finish
                for _ in range(self.builders):
                    self.fetched.put(None)

    def inspect(self, done: _Done) -> None:
        """Hook for runs that read what was fetched (the checker), on the fetch worker's thread."""

    def stored(self, done: _Done, outcome: Outcome, run_id: int) -> None:
        """Hook called inside the transaction that stores a capture: rows added here commit with it."""

    def _build_worker(self) -> None:
        try:
            while (done := self.fetched.get()) is not None:
                try:
                    if done.result is not None and done.result.hops:
                        spool_dir = str(self.archive.store.spool_dir)
                        done.spool = tempfile.SpooledTemporaryFile(4 * 1024 * 1024, dir=spool_dir)
                        previous = done.job.previous
                        original = None
                        if previous is not None:
                            original = Original(previous.payload_sha1, previous.record_id, previous.uri,
                                                previous.date)
                        done.records = self.archive.store.builder.capture(done.spool, done.result, original)
                except OSError as exc:  # the spool's disk is full: a storage failure, exit 4
                    done.error = StorageError(f"{self.archive.store.spool_dir}: cannot spool WARC records: {exc}")
                except BaseException as exc:
                    done.error = exc
                finally:
                    if done.result is not None:
                        done.result.close()
                self.done.put(done)
        finally:
            self.done.put(None)  # this builder is finished

    def run(self, jobs: list[Job], invalid: list[Job], run_id: int) -> list[Outcome]:
        outcomes = self.outcomes
        outcomes.extend(self._record_invalid(job, run_id) for job in invalid)
        previous = self.archive.db.previous_payloads(j.fetch_url for j in jobs)
        for job in jobs:
            job.previous = previous.get(job.fetch_url)
            self.gate.add(host_of(job.fetch_url), job)
        fetchers = min(self.settings.concurrency, len(jobs))
        self._fetching = fetchers
        workers = [threading.Thread(target=self._fetch_worker, name=f"archiver-fetch-{i}", daemon=True)
                   for i in range(fetchers)]
        workers += [threading.Thread(target=self._build_worker, name=f"archiver-build-{i}", daemon=True)
                    for i in range(self.builders if fetchers else 0)]
        for worker in workers:
            worker.start()
        running = self.builders if fetchers else 0
        restore = self._catch_signals()
        try:
            while running:
                batch = [self.done.get()]
                while len(batch) < BATCH:
                    try:
                        batch.append(self.done.get_nowait())
                    except queue.Empty:
                        break
                running -= sum(1 for done in batch if done is None)
                self._store_batch([done for done in batch if done is not None], run_id)
        except BaseException:
            self._stop()
            self._drain(workers)
            raise
        finally:
            restore()
            self.fetcher.close()
        if self.interrupted:
            raise Interrupted("interrupted: captures finished so far are saved")
        return outcomes

    def _catch_signals(self) -> Callable[[], None]:
        """Ctrl-C and SIGTERM stop the run between two steps, never in the middle of writing a
        record or a row: the handler only flags and cuts fetches; the loop above drains."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, frame: object) -> None:
            self.interrupted = True
            self._stop()
            for sig in saved:  # a second signal aborts at once
                signal.signal(sig, signal.default_int_handler)

        for sig in saved:
            signal.signal(sig, handler)

        def restore() -> None:
            for sig, previous in saved.items():
                signal.signal(sig, previous)

        return restore

    def _store_batch(self, batch: list[_Done], run_id: int) -> None:
        """Store what workers finished, committing the rows of a batch together: one commit per
        capture cost more than the capture on slow file systems. Outcomes are published only once
        their rows are committed. A failure commits the captures stored before it, then propagates."""
        failure: BaseException | None = None
        stored: list[Outcome] = []
        try:
            self.archive.store.prepare(sum(d.spool.seek(0, 2) for d in batch if d.spool is not None))
            with self.archive.db.transaction():
                for done in batch:
                    if failure is None and done.error is not None and not isinstance(done.error, Interrupted):
                        failure = done.error
                    if failure is not None or done.error is not None:
                        continue
                    try:
                        stored.append(self._store(done, run_id))
                    except BaseException as exc:
                        failure = exc
        finally:
            for done in batch:
                if done.spool is not None:
                    done.spool.close()
        self.outcomes.extend(stored)
        for outcome in stored:
            self.on_outcome(outcome)
        if failure is not None:
            raise failure

    def _drain(self, workers: list[threading.Thread], limit: float = 30.0) -> None:
        """After a failure: discard what the stages still hold so that no worker stays blocked
        on a full queue (a daemon would leak the threads), until they have all ended."""
        deadline = time.monotonic() + limit
        while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
            for stage in (self.fetched, self.done):
                while True:
                    try:
                        left = stage.get_nowait()
                    except queue.Empty:
                        break
                    if left is not None:
                        if left.result is not None:
                            left.result.close()
                        if left.spool is not None:
                            left.spool.close()
            for worker in workers:
                worker.join(0.01)

    def _stop(self) -> None:
        self.gate.close()
        self.fetcher.stop()

    def stop(self) -> None:
        """Interrupt from another thread (the daemon's signal handler): finish what is being
        written, abandon fetches in flight; run() then raises Interrupted."""
        self.interrupted = True
        self._stop()

    def _record_invalid(self, job: Job, run_id: int) -> Outcome:
        outcome = Outcome(job.url, job.fetch_url, job.manifest, job.citation_id, "failed", "invalid_url",
                          error=job.invalid_reason)
        with self.archive.db.transaction():
            outcome.capture_id = self.archive.db.add_capture(self._capture_row(outcome, run_id, None, None), [])
            self.stored(_Done(job), outcome, run_id)
        self.on_outcome(outcome)
        return outcome

    def _store(self, done: _Done, run_id: int) -> Outcome:
        result, job = done.result, done.job
        assert result is not None
        final = result.final
        outcome = Outcome(job.url, job.fetch_url, job.manifest, job.citation_id, "captured", result.outcome,
                          error=result.error)
        rows: list[dict[str, Any]] = []
        # The record holding what the URL finally answered: the last response or revisit.
        last = next((i for i in range(len(done.records) - 1, -1, -1)
                     if done.records[i].rec_type in ("response", "revisit")), None) if final is not None else None
        if done.spool is not None and done.records:
            length = done.spool.seek(0, 2)
            warc, base = self.archive.store.append(done.spool, length)
            rows = record_rows(warc, done.records, base)
            if last is not None:
                outcome.warc, outcome.offset, outcome.length = warc, rows[last]["offset"], rows[last]["length"]
        record_type = done.records[last].rec_type if last is not None else None
        if final is not None:
            outcome.http_status, outcome.final_url = final.status, final.url
            outcome.sha256, outcome.truncated = final.payload_sha256, final.truncated
            if record_type == "revisit":
                outcome.result = "unchanged"
        if result.outcome != "ok" or (final is not None and final.status >= 400):
            outcome.result = "failed"
        capture = self._capture_row(outcome, run_id, result, record_type)
        capture["refers_to"] = job.previous.capture_id if record_type == "revisit" and job.previous else None
        capture["record_id"] = done.records[last].record_id if last is not None else None
        outcome.capture_id = self.archive.db.add_capture(capture, rows)
        self.stored(done, outcome, run_id)
        return outcome

    @staticmethod
    def _capture_row(
        outcome: Outcome, run_id: int, result: FetchResult | None, record_type: str | None
    ) -> dict[str, Any]:
        final = result.final if result is not None else None
        return {
            "run_id": run_id, "url": outcome.url, "fetch_url": outcome.fetch_url, "manifest": outcome.manifest,
            "citation_id": outcome.citation_id,
            "captured_at": result.started_at.isoformat(timespec="microseconds").replace("+00:00", "Z")
            if result else now_iso(),
            "outcome": outcome.outcome, "error": outcome.error, "http_status": outcome.http_status,
            "final_url": outcome.final_url, "content_type": final.header("Content-Type") if final else None,
            "payload_size": final.payload_size if final else None, "payload_sha256": outcome.sha256,
            "payload_sha1": final.payload_sha1 if final else None, "record_type": record_type,
            "truncated": outcome.truncated, "warc": outcome.warc, "warc_offset": outcome.offset,
            "warc_length": outcome.length,
            "redirects": json.dumps([{"url": h.url, "status": h.status} for h in result.hops]) if result else None,
            "ip": final.ip if final else None, "elapsed": round(result.elapsed, 3) if result else None,
            "attempts": result.attempts if result else 0,
        }


def snapshot(
    settings: Settings,
    targets: list[str],
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> Summary:
    """Snapshot manifests and/or URLs. Raises ManifestError/UsageError before any fetch; returns a
    Summary whose exit_code is 1 when any capture failed."""
    return execute("snapshot", SnapshotRun, settings, targets, on_outcome=on_outcome, on_plan=on_plan)


def execute(
    command: str,
    runner_class: Callable[[Settings, Archive, Callable[[Outcome], None] | None], SnapshotRun],
    settings: Settings,
    targets: list[str],
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_runner: Callable[[SnapshotRun], None] | None = None,
    loaded: tuple[list[Manifest], list[str]] | None = None,
    carry: WarcCarry | None = None,
) -> Summary:
    """One fetching run over TARGETs (snapshot or check): plan, record the manifests, fetch, store.
    `loaded`: the targets already parsed by `load_targets` (big manifests cost seconds to parse);
    `carry`: the WARC file to append to, kept open for the next run (the daemon's)."""
    manifests, urls = loaded or load_targets(targets)
    jobs, invalid = plan_jobs(manifests, urls)
    problems = [p for m in manifests for p in m.problems]
    invalid += [Job(p.text, p.text, p.path, p.id, invalid_reason=f"line {p.line}: {p.reason}") for p in problems]
    if not jobs and not invalid and not problems:
        raise UsageError(f"nothing to {command}")
    with Archive(settings) as archive:
        if carry is not None:
            carry.lend(archive.store)
        for m in manifests:
            archive.db.record_manifest(m.path, m.name, m.title, m.source, m.schedule, _citation_rows(m))
        run_id = archive.db.start_run(command, targets)
        summary = Summary(run_id, problems=problems, recovered=archive.recovered)
        if on_plan:
            on_plan(len(jobs) + len(invalid))
        status = "failed"
        runner = runner_class(settings, archive, on_outcome)
        if on_runner:
            on_runner(runner)
        summary.outcomes = runner.outcomes
        try:
            runner.run(jobs, invalid, run_id)
            status = "done"
        except (Interrupted, KeyboardInterrupt) as exc:
            status = "interrupted"
            exc.summary = summary  # type: ignore[union-attr]  # what was saved, for --json
            raise
        except ArchiverError as exc:
            exc.summary = summary  # type: ignore[attr-defined]
            raise
        finally:
            summary.status = status
            try:
                if carry is not None:
                    carry.take(archive.store, status == "done")
                archive.store.close()
            finally:
                try:
                    counts = summary.counts
                    if command == "check":
                        counts = {**counts, "checked": len(summary.outcomes)}
                    archive.db.finish_run(run_id, status, counts)
                except ArchiverError:
                    if status == "done":
                        raise
    return summary
