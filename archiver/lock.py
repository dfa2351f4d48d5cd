"""One daemon per storage folder: the flock on `<storage>/daemon.lock`, and who holds it.

The lock file names its holder (pid, host, since when) so a refused second daemon, or `archiver
status`, can say who runs; the flock itself goes with the process, so a killed daemon never leaves a
stale lock behind.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import IO

from . import stamps
from .errors import DaemonBusy, StorageError

LOCK_NAME = "daemon.lock"


class Lock:
    """An flock held for the daemon's life, naming its holder."""

    def __init__(self, storage: Path, clock: Callable[[], dt.datetime] = stamps.now) -> None:
        self.path = storage / LOCK_NAME
        self.clock = clock
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
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {stamps.iso(self.clock(), 'seconds')}\n")
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
