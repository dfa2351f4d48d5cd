"""The library behind `archiver status`: each manifest's schedules, last and next runs, verdict counts.

Read-only, and usable whether or not a daemon runs: next runs come straight from the daemon's job
store (no scheduler is started), last runs and verdicts from the archive database. Before the first
run there is neither: the schedules are shown and every citation counts as unchecked. Without a
folder of manifests (`known_status`), the manifests the database knows, as they were last loaded.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import ManifestError, StorageError, UsageError
from .manifests import load_manifest
from .schedule import DEFAULT_SCHEDULE, KINDS, job_id, jobs_path, manifest_files, specs


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
    path = jobs_path(storage)
    if not path.exists():
        return {}
    try:
        # as_uri() percent-encodes the path: a storage folder with `#` or `?` in its name stays one path.
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT id, next_run_time FROM apscheduler_jobs").fetchall()
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: cannot read the daemon's job store: {exc}") from exc
    # APScheduler stores next run times as POSIX seconds (a float), not as text.
    return {job: dt.datetime.fromtimestamp(when, dt.UTC) for job, when in rows if when is not None}


def status(settings: Settings, manifests: Path, *, given: bool = True) -> list[ManifestStatus]:
    """One entry per manifest of the folder, in name order; a manifest that does not load carries its error.
    A folder that was not `given` (the default ./manifests) and does not exist: the database's manifests."""
    from .archive import Archive
    from .check import citation_verdicts
    from .verdict import Policy

    if not manifests.is_dir():
        if not given and settings.db_path.exists():
            return known_status(settings)
        raise UsageError(f"{manifests}: not a folder of manifests" + ("" if given else
                         f", and no database at {settings.db_path}: nothing archived yet"))
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
        counts: dict[str, int] = {} if archived else {"unchecked": len(manifest.citations)}
        for verdict in citation_verdicts(settings, [target], Policy(), loaded=([manifest], [])) if archived else []:
            counts[verdict.verdict.verdict] = counts.get(verdict.verdict.verdict, 0) + 1
        out.append(ManifestStatus(target, specs(manifest), {k: last[k].get(target) for k in KINDS},
                                  {k: jobs.get(job_id(target, k)) for k in KINDS}, counts))
    return out


def known_status(settings: Settings) -> list[ManifestStatus]:
    """One entry per manifest the database knows, by path as recorded: its schedule and citations as
    last loaded (the files themselves are not read), last runs, next runs and verdict counts."""
    from .archive import Archive
    from .report.build import build_report

    with Archive(settings, writing=False) as archive:
        known = archive.db.manifest_schedules()
        last = {kind: archive.db.last_runs(kind, list(known)) for kind in KINDS}
    counts: dict[str, dict[str, int]] = {path: {} for path in known}
    for row in build_report(settings, []).rows:
        tally = counts.setdefault(row.manifest or "", {})
        tally[row.verdict.verdict] = tally.get(row.verdict.verdict, 0) + 1
    jobs = next_runs(settings.storage)
    return [ManifestStatus(path, {k: schedule.get(k, DEFAULT_SCHEDULE[k]) for k in KINDS},
                           {k: last[k].get(path) for k in KINDS}, {k: jobs.get(job_id(path, k)) for k in KINDS},
                           counts[path]) for path, schedule in known.items()]
