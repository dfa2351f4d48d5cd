"""Files written whole or not at all: reports, manifests, packages, replay indexes; and the folder
fsync that makes a rename last.

A file is written to `<output>.part` beside its target, fsynced, renamed over the target, and the
folder fsynced, so after a crash or a power cut the target is the old file or the new one, never a
mix. The `.part` file is always created afresh: a symbolic link (or anything else) found under that
name is removed, never written through.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import StorageError

# O_EXCL: never open what is already there (a link someone planted under our name is not followed).
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def fsync_dir(folder: Path) -> None:
    """Make a rename (or a new name) in `folder` last across a power cut. File systems that cannot
    sync a folder (some network and FUSE mounts answer EINVAL) are let be: they give no such
    guarantee to anyone."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def create_part(part: Path) -> IO[bytes]:
    """`part` created anew for writing. What is found under that name (a write that crashed, or a
    symbolic link pointing elsewhere) is removed first, the link itself and never its target."""
    try:
        fd = os.open(part, _CREATE, 0o666)
    except FileExistsError:
        part.unlink()
        fd = os.open(part, _CREATE, 0o666)
    return os.fdopen(fd, "wb")


@contextlib.contextmanager
def atomic_output(output: Path) -> Iterator[IO[bytes]]:
    """Write next to the target and rename: a failure never leaves a half-written file under the
    asked name (a package, a report, a manifest, an index)."""
    part = output.with_name(output.name + ".part")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        handle = create_part(part)
    except OSError as exc:
        raise StorageError(f"{output}: cannot write: {exc.strerror or exc}") from exc
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(part, output)
        fsync_dir(output.parent)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise StorageError(f"{output}: cannot write: {exc.strerror or exc}") from exc
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: bytes) -> None:
    with atomic_output(path) as handle:
        handle.write(data)
