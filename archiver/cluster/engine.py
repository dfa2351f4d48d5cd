"""The client side of a cluster run: connect, split the jobs by host, record what tasks return.

Tasks are submitted a window at a time, each with a batch of whole hosts read from the run's log
(outcomes.RunLog, on disk) when it is submitted: client memory and the scheduler's queue stay flat in
the number of URLs. Their results are recorded as they complete, each in one transaction: the task's
WARC files (closed and on disk before it returned), then its captures. A worker that dies mid-task
has recorded nothing: the scheduler runs the task again elsewhere, and what the dead task left on
disk (an `.open` file no database knows) is swept at the end of the run. The scheduler gone: the run
stops with a StorageError (exit 4), every capture recorded so far kept.
"""

from __future__ import annotations

import asyncio
import fcntl
import importlib
import logging
import math
import os
import signal
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .. import signals
from ..errors import ArchiverError, StorageError
from ..outcomes import RunLog
from ..run import Job, Run
from ..urls import host_of
from .task import PREFIX, BatchResult, run_batch

MAX_BATCH = 500  # URLs in one task, about: a task is recorded whole, and run again whole when its worker dies
TASKS_PER_SLOT = 4  # tasks per worker thread over the run: room to balance, and little lost to a death
WINDOW = 2  # tasks in flight per worker thread
CONNECT_TIMEOUT = 20  # seconds

# Dask's own annotations are partial: it is used as an untyped library here.
distributed: Any = importlib.import_module("distributed")
dask_config: Any = importlib.import_module("dask.config")
# Dask keeps its last `low-level-log-length` (1,000) messages to the scheduler for its developers,
# each task's pickled batch among them: ~0.2 KB a URL of client memory until 1,000 tasks. A few do.
CLIENT_LOG_LENGTH = 8


def assign_batches(sizes: Iterable[tuple[str, int]], hosts: int, most: int = MAX_BATCH,
                   least: int = 1) -> Iterator[tuple[str, int]]:
    """(host, batch number) for hosts of (host, URLs) given the biggest first (so that a long host
    starts early): hosts gathered into batches of `hosts` hosts, fewer once a batch holds `most` URLs
    but not fewer than `least` until it holds 4 x `most`; every host whole, in exactly one batch. A
    task fetches one host at a time per host slot: it needs `least` hosts to have as many fetches in
    flight as its share of the concurrency allows (with 200 URLs a host, batches cut at 500 URLs had 3
    hosts: a third of the run's concurrency). The hard cap bounds what a result brings the client."""
    batch = count = urls = 0
    for host, n in sizes:
        yield host, batch
        count += 1
        urls += n
        if count >= hosts or (urls >= most and count >= least) or urls >= 4 * most:
            batch, count, urls = batch + 1, 0, 0


def host_batches(log: RunLog, hosts: int, most: int = MAX_BATCH, least: int = 1) -> Iterator[list[Job]]:
    """The jobs of the run's log in batches of whole hosts (assign_batches), each read from the log
    when it is wanted: the client holds the batches in flight, never the run's every job."""
    for number in range(log.group(assign_batches(log.host_sizes(host_of), hosts, most, least))):
        yield log.batch(number)


def _run_of(name: str) -> int | None:
    """The run id in a cluster WARC file's name (`cluster-r<id>-...`)."""
    head = name[len(PREFIX):].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _client_lock(folder: Path, run_id: int) -> int:
    """Held by a cluster run's client for the length of the run: its flock goes with the process, so
    a client killed mid-run leaves its run's files to the next run's sweep."""
    fd = os.open(folder / f".{PREFIX}{run_id}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _client_alive(folder: Path, run_id: int) -> bool:
    try:
        fd = os.open(folder / f".{PREFIX}{run_id}.lock", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _lost(exc: BaseException, client: Any) -> bool:
    """Whether an error met waiting for results means the scheduler is gone (not a task's own)."""
    module = type(exc).__module__
    return (isinstance(exc, (OSError, TimeoutError, asyncio.CancelledError))
            or module.startswith(("distributed", "tornado", "concurrent"))
            or client.status not in ("running", "connecting"))


class ClusterEngine:
    """Runs a run's planned jobs on a Dask cluster (`execute(..., engine=...)`)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.lost: str | None = None

    def _connect(self) -> tuple[Any, Any]:
        cluster = None
        try:
            for name in ["distributed", *logging.root.manager.loggerDict]:  # its errors are ours to say, once
                if name.startswith("distributed"):
                    logging.getLogger(name).setLevel(logging.CRITICAL)
            if self.address.startswith("local:"):
                cluster = distributed.LocalCluster(n_workers=int(self.address[6:]), threads_per_worker=1,
                                                   processes=True, dashboard_address=None,
                                                   silence_logs=logging.CRITICAL)
                return distributed.Client(cluster, timeout=CONNECT_TIMEOUT), cluster
            return distributed.Client(self.address, timeout=CONNECT_TIMEOUT), None
        except (OSError, TimeoutError) as exc:
            if cluster is not None:
                cluster.close()
            raise StorageError(f"cluster {self.address}: cannot connect: {exc}") from exc

    def __call__(self, run: Run, log: RunLog, invalid: list[Job], run_id: int) -> None:
        run.kind.begin(run, [])  # the client's side of the hooks: only `stored`, on this thread
        run.workers = {}
        try:
            run.outcomes.extend(run.record_invalid(job, run_id) for job in invalid)
            if log.planned() > len(invalid):
                self._run(run, log, run_id)
        finally:
            run.kind.end()
            run.fetcher.close()

    def _run(self, run: Run, log: RunLog, run_id: int) -> None:
        folder = run.archive.store.dir
        lock = _client_lock(folder, run_id)
        try:
            with dask_config.set({"distributed.admin.low-level-log-length": CLIENT_LOG_LENGTH}):
                self._run_locked(run, log, run_id)
        finally:
            (folder / f".{PREFIX}{run_id}.lock").unlink(missing_ok=True)
            os.close(lock)

    def _run_locked(self, run: Run, log: RunLog, run_id: int) -> None:
        self._sweep(run, run_id)
        client, cluster = self._connect()
        try:
            slots = max(sum(client.nthreads().values()), 1)
            # The run's concurrency is shared among the tasks running at once; each task gets enough
            # hosts to use its share under per-host politeness, and the run at least a few tasks per slot.
            share = max(1, math.ceil(run.settings.concurrency / slots))
            settings = run.settings.replace(concurrency=share, cluster="")
            hosts = log.host_count(host_of)
            needed = math.ceil(share / run.settings.per_host)  # hosts a task needs to use its share
            per_task = max(needed, math.ceil(hosts / (TASKS_PER_SLOT * slots)))
            batches = host_batches(log, per_task, least=needed)

            def on_signal(signum: int, frame: object) -> None:
                run.stop()  # the loop stops at the next task's result; a second signal aborts at once
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, signal.default_int_handler)

            with signals.handled({signal.SIGINT: on_signal, signal.SIGTERM: on_signal}):
                self._submit_all(client, run, batches, settings, run_id, WINDOW * slots)
        finally:
            try:
                client.close(timeout=5)
                if cluster is not None:
                    cluster.close(timeout=10)
            except Exception:  # noqa: BLE001  # a scheduler already gone: nothing to close
                pass
            if removed := self._sweep(run, run_id):
                run.notices.append(f"removed {len(removed)} WARC file(s) of cluster tasks that did not complete"
                                   " (a worker died, or the run stopped): nothing recorded points into them")

    def _sweep(self, run: Run, run_id: int) -> list[str]:
        """Remove the task files nothing records of this run and of cluster runs whose client is gone:
        a dead task's partial file, and what tasks left that went on after their client had stopped
        (interrupted, killed, or its scheduler gone). Files of runs whose client lives are spared."""
        folder = run.archive.store.dir
        live: dict[int | None, bool] = {run_id: False}

        def spare(name: str) -> bool:
            other = _run_of(name)
            if other not in live:
                live[other] = other is not None and _client_alive(folder, other)
            return live[other]

        return run.archive.store.sweep(PREFIX, spare)

    def _submit_all(self, client: Any, run: Run, batches: Iterator[list[Job]], settings: Any, run_id: int,
                    window: int) -> None:
        kind_type = type(run.kind)
        live: set[Any] = set()  # submitted, not yet recorded: cancelled when the run stops early

        def submit() -> Any:
            batch = next(batches, None)
            if batch is None:
                return None
            future = client.submit(run_batch, settings, kind_type, batch, run_id, pure=False)
            live.add(future)
            return future

        try:
            flow = distributed.as_completed([f for f in (submit() for _ in range(window)) if f is not None])
            for future in flow:
                if run.interrupted:
                    break
                result = future.result()
                self._record(run, result, run_id)
                live.discard(future)
                future.release()
                if (following := submit()) is not None:
                    flow.add(following)
        except ArchiverError:
            raise  # a task's own failure (a storage error on a worker), or recording's: as in a local run
        except Exception as exc:
            if type(exc).__name__ == "KilledWorker":
                raise StorageError(f"cluster {self.address}: every worker that ran one task died ({exc});"
                                   " the captures recorded so far are kept") from exc
            if _lost(exc, client):
                raise StorageError(f"cluster {self.address}: the scheduler is gone; the captures recorded"
                                   " so far are kept") from exc
            raise
        finally:
            for future in live:
                future.cancel()

    def _record(self, run: Run, result: BatchResult, run_id: int) -> None:
        """A task's WARC files and captures, in one transaction; then its outcomes are published."""
        archive = run.archive
        with archive.db.transaction():
            for loose in result.files:
                archive.store.adopt(loose)
            done = [run.record(stored, run_id) for stored in result.stored]
            archive.store.log_captures([o.capture_id for o in done if o.capture_id is not None])
        if result.files and archive.store.on_closed is not None:  # one timestamp covers the task's files
            archive.store.on_closed(result.files[-1].name)
        run.outcomes.extend(done)
        workers = run.workers if run.workers is not None else {}
        run.workers = workers
        workers[result.worker] = workers.get(result.worker, 0) + len(done)
        run.notices.extend(n for n in dict.fromkeys(result.notices) if n not in run.notices)
        for outcome in done:
            run.on_outcome(outcome)
