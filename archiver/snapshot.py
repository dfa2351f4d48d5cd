"""`archiver snapshot`: fetch every cited URL once, keep it as WARC, record each capture.

A snapshot is the plain run of the engine (run.py): it reads nothing of what it fetched.
"""

from __future__ import annotations

from collections.abc import Callable

from .cluster import engine_for
from .config import Settings
from .outcomes import Outcome, Summary
from .run import Run, RunKind, execute
from .storage import WarcCarry

__all__ = ["Outcome", "SnapshotKind", "Summary", "snapshot"]


class SnapshotKind(RunKind[None]):
    command = "snapshot"


def snapshot(
    settings: Settings,
    targets: list[str],
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_runner: Callable[[Run], None] | None = None,
    carry: WarcCarry | None = None,
) -> Summary:
    """Snapshot manifests and/or URLs. Raises ManifestError/UsageError before any fetch; returns a
    Summary whose exit_code is 1 when any capture failed. `on_runner` and `carry` as for run.execute."""
    return execute(SnapshotKind(), settings, targets, on_outcome=on_outcome, on_plan=on_plan, on_runner=on_runner,
                   carry=carry, engine=engine_for(settings))
