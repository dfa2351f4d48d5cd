"""Files written whole or not at all: reports, manifests, packages, replay indexes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import StorageError


@contextlib.contextmanager
def atomic_output(output: Path) -> Iterator[IO[bytes]]:
    """Write next to the target and rename: a failure never leaves a half-written file under the
    asked name (a package, a report, a manifest, an index)."""
    part = output.with_name(output.name + ".part")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        handle = open(part, "wb")
    except OSError as exc:
        raise StorageError(f"{output}: cannot write: {exc.strerror or exc}") from exc
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(part, output)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise StorageError(f"{output}: cannot write: {exc.strerror or exc}") from exc
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: bytes) -> None:
    with atomic_output(path) as handle:
        handle.write(data)
