"""Snapshot and check on a Dask cluster (`--cluster`, env ARCHIVER_CLUSTER, config `cluster`).

The run is split by host: each task (task.py, on a worker) fetches a batch of whole hosts with the
run engine, so per-host politeness needs no coordination, writes WARC files of its own into the
shared storage folder, and returns the rows; the client (engine.py) is the one writer of the
database and records a task's rows once its WARC files are whole on disk. Importing this package
imports no Dask: only `engine_for` with a cluster set does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UsageError
from ..extras import install_hint

if TYPE_CHECKING:
    from ..config import Settings
    from .engine import ClusterEngine

def engine_for(settings: Settings) -> ClusterEngine | None:
    """The engine that runs a run's jobs on the settings' cluster; None: run them here."""
    if not settings.cluster:
        return None
    try:
        import distributed  # noqa: F401  # only to say how to install it when it is missing
    except ImportError:
        raise UsageError(f"--cluster needs Dask: {install_hint('cluster')}") from None
    from .engine import ClusterEngine

    return ClusterEngine(settings.cluster)
