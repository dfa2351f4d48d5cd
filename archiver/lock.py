"""One daemon per storage folder: the flock on `<storage>/daemon.lock`, and who holds it.

The lock file names its holder (pid, host, since when) so a refused second daemon, or `archiver
status`, can say who runs; the flock itself goes with the process, so a killed daemon never leaves a
stale lock behind.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import os
import socket
import stat
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
            handle = _open_lock(self.path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise StorageError(f"{self.path}: cannot open lock file: {_reason(exc)}") from exc
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
        with _open_lock(path, os.O_RDONLY) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return handle.read().strip() or "unknown process"
            return None
    except OSError:
        return None


def _open_lock(path: Path, flags: int) -> IO[str]:
    """The lock file, never through a symbolic link (the holder line is written into it: a link
    planted there would have us overwrite its target), and only if it is a regular file."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return os.fdopen(fd, "r+" if flags & os.O_RDWR else "r")
    except BaseException:
        os.close(fd)
        raise


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "it is a symbolic link (refused: archiver writes only to a lock file of its own)"
    return exc.strerror or str(exc)
