"""The run engine: snapshot and check are two kinds of run.

A run plans its jobs (each fetch URL once), then moves them through three stages so that
`concurrency` requests really are in flight: fetch workers only fetch (and let the run's kind read
what came back); builder threads turn each fetch into gzip-compressed WARC records in a spool
(zlib and hashlib run outside the GIL); the one writer thread, the caller's, appends spools to the
WARC file and writes the database, bytes first, row second, committing the rows of a batch together.

A `RunKind` is what one kind of run adds through hooks: `inspect` on the fetch worker's thread,
`stored` inside the transaction that stores a capture, `counts` for the run's row.

Each run also judges whether it ran without network (offline.py): the hosts its fetches reached or
not, and a reachability probe started at its first network-level failure. An offline run is flagged in its row, and its
failures stop counting toward death.
"""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar, Generic, TypeVar

from . import signals
from .archive import Archive
from .browser.rendering import Rendering
from .browser.stage import BrowserStage, Kept, rendering_row, resource_rows
from .config import Settings
from .errors import ArchiverError, Interrupted, RunAborted, StorageError, UsageError
from .fetch.fetcher import Fetcher
from .fetch.politeness import HostGate
from .fetch.reachability import Probe
from .fetch.results import FetchResult
from .jobs import Job as Job
from .jobs import cited_jobs
from .jobs import url_target as url_target
from .manifests import Manifest, load_targets
from .offline import HostTally, judge_network, reachability_probe, record_fetch

# Re-exported: what a run produced was defined here before outcomes.py, and is still imported from here.
from .outcomes import Outcome as Outcome
from .outcomes import RunLog
from .outcomes import Summary as Summary
from .outcomes import capture_row as capture_row
from .outcomes import redirects_json as redirects_json
from .storage import WarcAppender, WarcCarry, record_rows
from .urls import host_of
from .warc import Original, RecordInfo

BATCH = 32  # captures whose database rows are committed together, at most
BUILDERS = 2  # threads compressing WARC records; zlib and hashlib run outside the GIL

F = TypeVar("F")  # what a kind of run learns from reading a fetch (the checker's Finding)


@dataclass
class Fetched(Generic[F]):
    """One job on its way through the stages: what was fetched, its WARC records, what went wrong."""

    job: Job
    result: FetchResult | None = None
    spool: IO[bytes] | None = None
    records: list[RecordInfo] = field(default_factory=list)
    error: BaseException | None = None
    finding: F | None = None  # what the run's kind read from the fetch (RunKind.inspect)
    rendering: Rendering | None = None  # the page as the browser showed it (browser capture)
    kept: Kept | None = None  # what the builder wrote for the rendering

    def close(self) -> None:
        if self.result is not None:
            self.result.close()
        if self.rendering is not None:
            self.rendering.close()


@dataclass
class Stored(Generic[F]):
    """A capture whose records are whole in a WARC file, as plain data: its rows, ready to record.
    A cluster task hands these to the client, the one writer of the database."""

    job: Job
    outcome: Outcome
    capture: dict[str, Any]  # the `captures` row
    records: list[dict[str, Any]] = field(default_factory=list)  # its `records` rows
    resources: list[dict[str, Any]] = field(default_factory=list)  # a rendering's sub-resources
    finding: F | None = None


class RunKind(Generic[F]):
    """What a kind of run adds to the engine. The hooks do nothing here: a plain snapshot."""

    command: ClassVar[str]  # the `runs` row's command, and the verb of "nothing to ..."

    def begin(self, run: Run, jobs: list[Job]) -> None:
        """Before any fetch, on the writer thread: read what the hooks will need from the database
        (workers never touch it)."""

    def end(self) -> None:
        """After the last fetch, on the writer thread, however the run ended."""

    def inspect(self, fetched: Fetched[F]) -> F | None:
        """Read what was fetched, on the fetch worker's thread; the answer becomes `fetched.finding`."""
        return None

    def stored(self, stored: Stored[F], run_id: int) -> None:
        """Inside the transaction that stores a capture, on the writer thread (a cluster run's
        client): rows added here commit with it. Also called for a URL that is invalid as given."""

    def counts(self, outcomes: RunLog) -> dict[str, int]:
        """What this kind adds to the run's counts (the `runs` row)."""
        return {}


def _citation_rows(manifest: Manifest) -> Iterator[dict[str, Any]]:
    """The `citations` rows of a manifest, one at a time (a big manifest's rows would weigh more than
    its citations); their keys are the database's to give (ArchiveDB.record_manifest)."""
    for c in manifest.citations:
        yield {
            "citation_id": c.id, "url": c.url, "fetch_url": c.fetch_url, "cited_as": c.cited_as, "context": c.context,
            "accessed": c.accessed.isoformat() if c.accessed else None, "line": c.line,
            "extra": json.dumps(c.extra, default=str) if c.extra else None,
        }


class Run:
    """One run of a kind over planned jobs: the three stages, batching, interruption."""

    def __init__(self, settings: Settings, archive: Archive, kind: RunKind[Any],
                 on_outcome: Callable[[Outcome], None] | None = None, *,
                 warcs: WarcAppender | None = None, collect: list[Stored[Any]] | None = None) -> None:
        """`warcs` and `collect`: a cluster task's run, whose captures go to WARC files of its own
        and are collected as Stored rows for the client instead of written to the (read-only)
        database."""
        self.settings = settings
        self.archive = archive
        self.warcs: WarcAppender = warcs or archive.store
        self.collect = collect
        self.kind = kind
        self.on_outcome = on_outcome or (lambda outcome: None)
        self.gate: HostGate[Job] = HostGate(settings.per_host, settings.per_host_delay)
        self.fetcher = Fetcher(settings, self.gate, spool_dir=archive.store.spool_dir)
        self.fetched: queue.Queue[Fetched[Any] | None] = queue.Queue(maxsize=max(2 * settings.concurrency, 4))
        self.built: queue.Queue[Fetched[Any] | None] = queue.Queue(maxsize=max(2 * settings.concurrency, 4))
        self.builders = BUILDERS
        self._fetching = 0
        self._fetching_lock = threading.Lock()
        self._abandoned = False
        # Published only once their rows are committed; a run of execute() keeps them in its Summary's log.
        self.outcomes: list[Outcome] | RunLog = []
        self.interrupted = False
        self.tally = HostTally()  # the hosts fetches reached or not: was the network down?
        self.probe: Probe | None = None  # started at the first network-level failure
        self.notices: list[str] = []
        self.workers: dict[str, int] | None = None  # a cluster run's: URLs recorded per worker
        self.browser = BrowserStage(settings, self.fetcher, self.notices.append)

    # -- the stages ---------------------------------------------------------------------------------

    def _fetch_worker(self) -> None:
        try:
            while (picked := self.gate.next_job()) is not None:
                fetched: Fetched[Any] = Fetched(picked[1])
                try:
                    fetched.result = self.fetcher.fetch(fetched.job.fetch_url, host_slot_held=True)
                    fetched.rendering = self.browser.render(fetched.job.capture or self.settings.capture,
                                                            fetched.result)
                    fetched.finding = self.kind.inspect(fetched)
                except BaseException as exc:  # handed on: the writer thread decides what it means
                    fetched.error = exc
                self.fetched.put(fetched)
        finally:
            with self._fetching_lock:
                self._fetching -= 1
                last = self._fetching == 0
            if last:  # no more fetches: tell every builder to finish
                for _ in range(self.builders):
                    self.fetched.put(None)

    def _build_worker(self) -> None:
        try:
            while (fetched := self.fetched.get()) is not None:
                if self._abandoned:  # the writer stores nothing more: only let the fetch workers finish
                    _discard(fetched)
                    continue
                try:
                    if fetched.result is not None and fetched.result.hops:
                        self._build(fetched, fetched.result)
                except OSError as exc:  # the spool's disk is full: a storage failure, exit 4
                    fetched.error = StorageError(f"{self.archive.store.spool_dir}: cannot spool WARC records: {exc}")
                except BaseException as exc:
                    fetched.error = exc
                finally:
                    fetched.close()
                self.built.put(fetched)
        finally:
            self.built.put(None)  # this builder is finished

    def _build(self, fetched: Fetched[Any], result: FetchResult) -> None:
        fetched.spool = tempfile.SpooledTemporaryFile(4 * 1024 * 1024, dir=str(self.archive.store.spool_dir))
        previous = fetched.job.previous
        original = None
        if previous is not None:
            original = Original(previous.payload_sha1, previous.record_id, previous.uri, previous.date)
        fetched.records = self.archive.store.builder.capture(fetched.spool, result, original)
        if fetched.rendering is not None:
            fetched.kept = self.browser.write(self.archive.store.builder, fetched.spool, fetched.rendering,
                                              fetched.records)

    def run(self, jobs: list[Job], invalid: list[Job], run_id: int) -> list[Outcome] | RunLog:
        """Fetch and store every job; returns the outcomes. Stopped by a signal or stop(), it
        returns what was stored with `interrupted` set; a failure propagates after committing the
        captures stored before it."""
        self.kind.begin(self, jobs)
        try:
            self.outcomes.extend(self.record_invalid(job, run_id) for job in invalid)
            previous = self.archive.db.previous_payloads(j.fetch_url for j in jobs)
            rendered = [j.fetch_url for j in jobs if (j.capture or self.settings.capture) != "http"]
            if rendered:
                self.browser.remember(self.archive.db.resource_payloads(rendered))
            for job in jobs:
                job.previous = previous.get(job.fetch_url)
                self.gate.add(host_of(job.fetch_url), job)
            self._stages(min(self.settings.concurrency, len(jobs)), run_id)
        finally:
            self.kind.end()
        return self.outcomes

    def _stages(self, fetchers: int, run_id: int) -> None:
        self._fetching = fetchers
        builders = self.builders if fetchers else 0
        workers = [threading.Thread(target=self._fetch_worker, name=f"archiver-fetch-{i}", daemon=True)
                   for i in range(fetchers)]
        workers += [threading.Thread(target=self._build_worker, name=f"archiver-build-{i}", daemon=True)
                    for i in range(builders)]
        for worker in workers:
            worker.start()
        running = builders
        # Ctrl-C and SIGTERM stop the run between two steps, never in the middle of writing a record
        # or a row: the handler only flags and cuts fetches; the loop below drains.
        with signals.handled({signal.SIGINT: self._on_signal, signal.SIGTERM: self._on_signal}):
            try:
                while running:
                    batch = [self.built.get()]
                    while len(batch) < BATCH:
                        try:
                            batch.append(self.built.get_nowait())
                        except queue.Empty:
                            break
                    running -= sum(1 for fetched in batch if fetched is None)
                    self._store_batch([fetched for fetched in batch if fetched is not None], run_id)
            except BaseException:
                self._abandoned = True
                self._stop()
                self._drain(workers)
                raise
            finally:
                self.browser.close()
                self.fetcher.close()

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal aborts at once
            signal.signal(sig, signal.default_int_handler)

    def _drain(self, workers: list[threading.Thread], limit: float = 30.0) -> None:
        """After a failure: discard what the builders hand on so that no worker stays blocked on a
        full queue (a daemon would leak the threads), until they have all ended. The builders empty
        the first queue themselves: taken from here, the fetch workers' end-of-work marks would
        never reach them."""
        deadline = time.monotonic() + limit
        while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
            while True:
                try:
                    left = self.built.get_nowait()
                except queue.Empty:
                    break
                if left is not None:
                    _discard(left)
            for worker in workers:
                worker.join(0.01)

    def _stop(self) -> None:
        self.gate.close()
        self.fetcher.stop()
        self.browser.stop()

    def stop(self) -> None:
        """Interrupt, from a signal handler or another thread (the daemon's): finish what is being
        written, abandon fetches in flight; run() then returns with `interrupted` set."""
        self.interrupted = True
        self._stop()

    # -- storing (the writer thread) ----------------------------------------------------------------

    def _store_batch(self, batch: list[Fetched[Any]], run_id: int) -> None:
        """Store what workers finished, committing the rows of a batch together: one commit per
        capture cost more than the capture on slow file systems. A batch is one transaction (more
        only when it fills the WARC file: a file is rotated between transactions, never inside
        one); its records are appended, put on disk with one fdatasync, and only then its rows
        committed, so a power cut never leaves a committed row pointing at bytes the disk never
        got. Outcomes are published only once their rows are committed. A failure commits the
        captures stored before it, then propagates."""
        failure: BaseException | None = None
        stored: list[Outcome] = []
        try:
            rest = batch
            while rest and failure is None:
                # Rotation, outside any transaction; no file at all while nothing has records to keep
                # (a run whose every fetch failed leaves no warcinfo-only WARC behind).
                if need := next((n for fetched in rest if (n := _spooled(fetched))), 0):
                    self.warcs.prepare(need)
                group, rest = _fitting(rest, self.warcs.room())
                done: list[Outcome] = []
                with self.archive.db.transaction() if self.collect is None else contextlib.nullcontext():
                    for fetched in group:
                        if failure is None and fetched.error is not None and not isinstance(fetched.error, Interrupted):
                            failure = fetched.error
                        if failure is not None or fetched.error is not None:
                            continue
                        try:
                            done.append(self._store(fetched, run_id))
                        except BaseException as exc:
                            failure = exc
                    self.warcs.sync()  # the bytes on disk before the rows that point at them
                    if self.collect is None:  # a cluster task's captures are logged by the client that records them
                        self.archive.store.log_captures([o.capture_id for o in done if o.capture_id is not None])
                for fetched in group:  # committed: later renderings may refer to these payloads
                    if fetched.kept is not None and fetched.error is None:
                        self.browser.remember(fetched.records)
                stored += done
        finally:
            for fetched in batch:
                if fetched.spool is not None:
                    fetched.spool.close()
            self.outcomes.extend(stored)
            for outcome in stored:
                self.on_outcome(outcome)
        if failure is not None:
            raise failure

    def record_invalid(self, job: Job, run_id: int) -> Outcome:
        """Record a URL that is invalid as given (no fetch), and publish its outcome."""
        outcome = Outcome(job.url, job.fetch_url, job.manifest, job.citation_id, "failed", "invalid_url",
                          error=job.invalid_reason)
        with self.archive.db.transaction():
            self.record(Stored(job, outcome, capture_row(outcome, run_id, None, None)), run_id)
            self.archive.store.log_captures([outcome.capture_id] if outcome.capture_id is not None else [])
        self.on_outcome(outcome)
        return outcome

    def record(self, stored: Stored[Any], run_id: int) -> Outcome:
        """A capture's rows into the database, inside the caller's transaction (its records are
        whole on disk by the time that commits); the outcome gets its capture id."""
        outcome, capture = stored.outcome, stored.capture
        if capture["redirects"] is not None:  # fetched, not invalid as given
            redirects = json.loads(capture["redirects"] or "[]")
            record_fetch(self.tally, self.probe, stored.job.fetch_url, outcome.outcome,
                         redirects[0]["status"] if redirects else None)
        outcome.capture_id = self.archive.db.add_capture(capture, stored.records)
        if stored.resources:
            self.archive.db.add_resources(outcome.capture_id, stored.resources)
        self.kind.stored(stored, run_id)
        return outcome

    def _store(self, fetched: Fetched[Any], run_id: int) -> Outcome:
        stored = self._write(fetched, run_id)
        if self.collect is not None:  # a cluster task: the client records it
            self.collect.append(stored)
            return stored.outcome
        return self.record(stored, run_id)

    def _write(self, fetched: Fetched[Any], run_id: int) -> Stored[Any]:
        """Append a fetch's records to the WARC file and make its rows (the database untouched)."""
        result, job, records = fetched.result, fetched.job, fetched.records
        assert result is not None
        final = result.final
        outcome = Outcome(job.url, job.fetch_url, job.manifest, job.citation_id, "captured", result.outcome,
                          error=result.error)
        rows: list[dict[str, Any]] = []
        # The record holding what the URL finally answered: the page's last response or revisit.
        own = fetched.kept.page_records if fetched.kept is not None else len(records)
        last = next((i for i in range(own - 1, -1, -1)
                     if records[i].rec_type in ("response", "revisit")), None) if final is not None else None
        if fetched.spool is not None and records:
            length = fetched.spool.seek(0, 2)
            warc, base = self.warcs.append(fetched.spool, length)
            rows = record_rows(warc, records, base)
            if last is not None:
                outcome.warc, outcome.offset, outcome.length = warc, rows[last]["offset"], rows[last]["length"]
        record_type = records[last].rec_type if last is not None else None
        if final is not None:
            outcome.http_status, outcome.final_url = final.status, final.url
            outcome.sha256, outcome.truncated = final.payload_sha256, final.truncated
            if record_type == "revisit" and fetched.rendering is None:  # a rendering is new each time
                outcome.result = "unchanged"
        if result.outcome != "ok" or (final is not None and final.status >= 400):
            outcome.result = "failed"
        capture = capture_row(outcome, run_id, result, record_type)
        capture["refers_to"] = job.previous.capture_id if record_type == "revisit" and job.previous else None
        capture["record_id"] = records[last].record_id if last is not None else None
        if fetched.rendering is not None:
            # A rendering that failed as a whole (the browser died) left the HTTP capture: that is what it is.
            outcome.mode = capture["mode"] = "browser" if fetched.rendering.failed is None else "http"
            capture["rendering"] = rendering_row(fetched.rendering)
        resources = resource_rows(fetched.kept) if fetched.kept is not None else []
        return Stored(job, outcome, capture, rows, resources, fetched.finding)


def _spooled(fetched: Fetched[Any]) -> int:
    """Bytes of WARC records waiting in a fetch's spool (none when it has no records to append)."""
    return fetched.spool.seek(0, 2) if fetched.spool is not None and fetched.records else 0


def _fitting(batch: list[Fetched[Any]], room: int) -> tuple[list[Fetched[Any]], list[Fetched[Any]]]:
    """The longest head of `batch` whose records fit in `room` bytes (at least one fetch: the
    store has made room for it), and the rest."""
    total = 0
    for i, fetched in enumerate(batch):
        total += _spooled(fetched)
        if i and total > room:
            return batch[:i], batch[i:]
    return batch, []


def _discard(fetched: Fetched[Any]) -> None:
    fetched.close()
    if fetched.spool is not None:
        fetched.spool.close()


def execute(
    kind: RunKind[Any],
    settings: Settings,
    targets: list[str],
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_runner: Callable[[Run], None] | None = None,
    loaded: tuple[list[Manifest], list[str]] | None = None,
    carry: WarcCarry | None = None,
    engine: Callable[[Run, RunLog, list[Job], int], object] | None = None,
) -> Summary:
    """One run of `kind` over TARGETs: plan, record the manifests, fetch, store. Raises
    ManifestError/UsageError before any fetch; Interrupted when stopped; an error that ends the run
    carries the Summary of what was saved as `summary`.
    `loaded`: the targets already parsed by `load_targets` (big manifests cost seconds to parse);
    `carry`: the WARC file to append to, kept open for the next run (the daemon's);
    `engine`: what runs the planned jobs (in the run's log) instead of `Run.run` (a cluster's:
    archiver/cluster/), which reads them from the log a batch at a time."""
    manifests, urls = loaded or load_targets(targets)
    log = RunLog()  # the jobs, each fetch URL once, and then every outcome: on disk, not in memory
    log.plan(cited_jobs(manifests, urls))
    invalid = log.invalid()
    problems = [p for m in manifests for p in m.problems]
    if not log.planned():
        log.close()
        raise UsageError(f"nothing to {kind.command}")
    BrowserStage.require({mode or settings.capture for mode in log.captures()})
    with Archive(settings) as archive:
        if carry is not None:
            carry.lend(archive.store)
        _record_manifests(archive, manifests)
        # The run needs only its log from here: a snapshot's citations (~230 bytes each) are let go.
        # (A check keeps its own, `loaded`, for the verdicts.)
        del manifests, loaded
        run_id = archive.db.start_run(kind.command, targets)
        summary = Summary(run_id, log, problems=problems, recovered=archive.recovered)
        if on_plan:
            on_plan(log.planned())
        run = Run(settings, archive, kind, on_outcome)
        run.probe = reachability_probe(settings)
        if on_runner:
            on_runner(run)
        run.outcomes = log
        summary.notices = run.notices
        try:
            if engine is None:
                run.run(log.jobs(), invalid, run_id)
            else:
                engine(run, log, invalid, run_id)
            summary.status = "interrupted" if run.interrupted else "done"
        except KeyboardInterrupt as exc:  # a second signal: stopped at once, still with what was saved
            summary.status = "interrupted"
            raise RunAborted(summary) from exc
        except ArchiverError as exc:
            summary.status = "interrupted" if isinstance(exc, Interrupted) else "failed"
            exc.summary = summary  # what was saved, for --json
            raise
        except BaseException:
            summary.status = "failed"
            raise
        finally:
            summary.network = judge_network(run.tally, run.probe, settings.offline_share)
            summary.workers = run.workers
            _finish(archive, kind, summary, carry)
    if summary.status == "interrupted":
        stopped = Interrupted("interrupted: captures finished so far are saved")
        stopped.summary = summary
        raise stopped
    return summary


def _record_manifests(archive: Archive, manifests: list[Manifest]) -> None:
    for m in manifests:
        archive.db.record_manifest(m.path, m.name, m.title, m.source, m.schedule, _citation_rows(m))


def _finish(archive: Archive, kind: RunKind[Any], summary: Summary, carry: WarcCarry | None) -> None:
    """Close the run's WARC file (or hand it on) and its `runs` row. When the run already failed,
    its own error is the one to report."""
    try:
        if carry is not None:
            carry.take(archive.store, summary.status == "done")
        archive.store.close()
        summary.notices.extend(archive.notices)  # e.g. a Time Stamping Authority that did not answer
    finally:
        try:
            network = summary.network
            archive.db.finish_run(summary.run_id, summary.status, {**summary.counts, **kind.counts(summary.outcomes)},
                                  offline=network.offline if network else None,
                                  network=network.detail() if network else None)
        except ArchiverError:
            if summary.status == "done":
                raise
