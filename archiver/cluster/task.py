"""One cluster task, on a Dask worker: a batch of whole hosts through the run engine.

`run_batch` opens the archive read-only (the client is the one writer of the database: the run's
kind reads its baselines and the engine its previous payloads there), runs the jobs with a `Run`
whose captures go to WARC files of the task's own (`LooseWarcs`, unique names: run, worker, uuid)
and come back as plain rows. The files are closed, on disk and renamed into view before the task
returns (and put into the WARC store and checked there, when the settings name one): the client
records rows only for records that are whole. A task that dies leaves an `.open`
file that the client sweeps away; the scheduler runs the task again elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..archive import Archive
from ..config import Settings
from ..run import Job, Run, RunKind, Stored
from ..storage import LooseFile, LooseWarcs


@dataclass
class BatchResult:
    """What a task hands the client: its worker, its closed WARC files, the captures in them."""

    worker: str
    files: list[LooseFile] = field(default_factory=list)
    stored: list[Stored[Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # the task's run's (e.g. no browser for auto)


PREFIX = "cluster-r"  # cluster WARC files: cluster-r<run id>-<worker>-<time>-<serial>-<uuid>-<host>.warc.gz


def file_prefix(run_id: int) -> str:
    """The start of the names of a cluster run's WARC files (what the client sweeps)."""
    return f"{PREFIX}{run_id}-"


def worker_name() -> str:
    """This Dask worker's name ("here" outside a worker)."""
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return "here"


def file_tag(worker: str) -> str:
    """A worker's name as a file name may hold it."""
    return re.sub(r"[^A-Za-z0-9_.]+", "_", worker)[:40] or "worker"


def run_batch(settings: Settings, kind_type: type[RunKind[Any]], jobs: list[Job], run_id: int) -> BatchResult:
    """Fetch and write `jobs` (whole hosts); the captures as rows for the client to record."""
    result = BatchResult(worker_name())
    with Archive(settings, writing=False) as archive:
        warcs = LooseWarcs(settings.storage, f"{file_prefix(run_id)}{file_tag(result.worker)}",
                           max_size=settings.warc_max_size, user_agent=settings.user_agent,
                           builder=archive.store.builder)
        warcs.remote = archive.store.remote  # closed files go into the WARC store, if there is one
        run = Run(settings, archive, kind_type(), warcs=warcs, collect=result.stored)
        try:
            run.run(jobs, [], run_id)
        except BaseException:
            warcs.abandon()
            raise
        warcs.close()
    result.files, result.notices = warcs.done, run.notices
    return result
