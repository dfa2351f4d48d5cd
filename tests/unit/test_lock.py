"""One daemon per storage folder: the lock names its holder (with the time from the daemon's clock),
refuses a second holder, and is free again once released; `holder` reads it without taking it."""

from __future__ import annotations

import datetime as dt
import os
import socket
from pathlib import Path

import pytest

from archiver.errors import DaemonBusy, StorageError
from archiver.lock import Lock, holder


def test_the_lock_names_its_holder_and_refuses_a_second(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    assert holder(storage) is None  # no lock file yet
    at = dt.datetime(2026, 3, 2, 5, 6, 7, 891011, tzinfo=dt.UTC)
    lock = Lock(storage, clock=lambda: at)
    lock.acquire()
    try:
        expected = f"pid {os.getpid()} on {socket.gethostname()} since 2026-03-02T05:06:07Z"
        assert holder(storage) == expected
        with pytest.raises(DaemonBusy, match=f"another archiver daemon holds this storage folder \\({expected}\\)"):
            Lock(storage).acquire()
    finally:
        lock.release()
    assert holder(storage) is None  # the file stays, naming the last holder, but nobody holds it
    assert (storage / "daemon.lock").read_text().startswith(f"pid {os.getpid()} ")
    again = Lock(storage)
    again.acquire()  # free to take again
    again.release()


def test_a_lock_file_that_is_a_link_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    """The holder line is written into the lock file: a link planted there must not make the daemon
    overwrite what it points at."""
    storage = tmp_path / "storage"
    storage.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (storage / "daemon.lock").symlink_to(victim)
    with pytest.raises(StorageError, match=r"daemon.lock: cannot open lock file: it is a symbolic link"):
        Lock(storage).acquire()
    assert victim.read_text() == "precious\n"
    assert holder(storage) is None
    (storage / "daemon.lock").unlink()
    os.mkfifo(storage / "daemon.lock")  # nor anything else that is not a file (a FIFO would block)
    with pytest.raises(StorageError, match="not a regular file"):
        Lock(storage).acquire()
