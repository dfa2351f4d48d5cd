"""WARC files on disk: naming, appending whole captures, rotation, closing, crash recovery.

A file being written is named `*.warc.gz.open` and holds an exclusive lock; only a complete file
(every record whole, sha256 recorded) is renamed to `*.warc.gz`. After a crash, the next run cuts an
abandoned `.open` file back to the end of the last record the database knows and closes it, so a
partial record is never visible in a `.warc.gz` and every database row points at a whole record.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import hashlib
import itertools
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .db import ArchiveDB
from .errors import StorageError
from .warc import RecordBuilder, RecordInfo

OPEN_SUFFIX = ".open"
COPY_CHUNK = 1024 * 1024


def _storage_error(path: Path, action: str, exc: OSError) -> StorageError:
    reason = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else (exc.strerror or str(exc))
    return StorageError(f"{path}: cannot {action}: {reason}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _OpenWarc:
    def __init__(self, name: str, path: Path, handle: IO[bytes]) -> None:
        self.name = name  # relative to the storage root, as stored in the database
        self.path = path  # the .open file
        self.handle = handle
        self.sha256 = hashlib.sha256()
        self.size = 0


class WarcStore:
    """Appends captures to the current WARC file of this process; one writer thread."""

    _serial = itertools.count(1)

    def __init__(
        self,
        root: Path,
        db: ArchiveDB,
        *,
        max_size: int,
        user_agent: str,
        builder: RecordBuilder | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        prefix: str = "archiver",
    ) -> None:
        self.root = root
        self.dir = root / "warcs"
        self.db = db
        self.max_size = max_size
        self.user_agent = user_agent
        self.builder = builder or RecordBuilder()
        self.now = now
        self.prefix = prefix
        self.current: _OpenWarc | None = None
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            (root / "tmp").mkdir(exist_ok=True)
        except OSError as exc:
            raise _storage_error(self.dir, "create storage folder", exc) from exc

    @property
    def spool_dir(self) -> Path:
        return self.root / "tmp"

    def path_of(self, name: str) -> Path:
        """Where a WARC named in the database is now: closed, or still being written."""
        path = self.root / name
        if not path.exists() and (self.root / (name + OPEN_SUFFIX)).exists():
            return self.root / (name + OPEN_SUFFIX)
        return path

    # -- writing --------------------------------------------------------------------------------

    def _new_file(self) -> _OpenWarc:
        when = self.now()
        stamp = when.strftime("%Y%m%d%H%M%S%f")
        host = socket.gethostname().split(".")[0] or "host"
        name = f"warcs/{self.prefix}-{stamp}-{next(self._serial):05d}-{os.getpid()}-{host}.warc.gz"
        path = self.root / (name + OPEN_SUFFIX)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            handle = os.fdopen(fd, "wb")
        except OSError as exc:
            raise _storage_error(path, "create WARC file", exc) from exc
        warc = _OpenWarc(name, path, handle)
        self.db.open_warc(name)
        info = self.builder.warcinfo(_HashingWriter(warc), Path(name).name, when, self.user_agent)
        self._flush(warc)
        self.db.add_records([_record_row(name, info, 0)])
        return warc

    def _flush(self, warc: _OpenWarc) -> None:
        try:
            warc.handle.flush()
        except OSError as exc:
            raise _storage_error(warc.path, "write WARC", exc) from exc

    def append(self, spool: IO[bytes], length: int) -> tuple[str, int]:
        """Copy a spool of complete gzip members to the current WARC; return (name, base offset).
        On failure the file is cut back to where it was, so it never ends in a partial record."""
        if self.current is not None and self.current.size + length > self.max_size and self.current.size > 0:
            self.close()
        if self.current is None:
            self.current = self._new_file()
        warc = self.current
        base = warc.size
        before = warc.sha256.copy()
        spool.seek(0)
        try:
            while chunk := spool.read(COPY_CHUNK):
                warc.handle.write(chunk)
                warc.sha256.update(chunk)
                warc.size += len(chunk)
            warc.handle.flush()
        except OSError as exc:
            self._cut_back(warc, base, before)
            raise _storage_error(warc.path, "write WARC", exc) from exc
        return warc.name, base

    def _cut_back(self, warc: _OpenWarc, base: int, digest: hashlib._Hash) -> None:
        try:
            warc.handle.flush()
        except OSError:
            pass  # the buffered tail is what we are discarding anyway
        try:
            os.truncate(warc.path, base)
            warc.handle.seek(base)
        except OSError:
            pass  # recovery at the next start cuts the file back to the last committed record
        warc.size = base
        warc.sha256 = digest

    def close(self) -> None:
        """fsync, record the file's sha256, and rename it into view."""
        warc, self.current = self.current, None
        if warc is None:
            return
        final = self.root / warc.name
        try:
            warc.handle.flush()
            os.fsync(warc.handle.fileno())
            os.replace(warc.path, final)
            _fsync_dir(final.parent)
        except OSError as exc:
            raise _storage_error(warc.path, "close WARC", exc) from exc
        finally:
            warc.handle.close()
        self.db.close_warc(warc.name, warc.size, warc.sha256.hexdigest())

    # -- recovery -------------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Close `.open` files left by a crashed run (those no live process holds locked)."""
        recovered = []
        for path in sorted(self.dir.glob("*.warc.gz" + OPEN_SUFFIX)):
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise _storage_error(path, "open WARC for recovery", exc) from exc
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a running archiver is writing it
                name = str(path.relative_to(self.root))[: -len(OPEN_SUFFIX)]
                end = self.db.committed_end(name)
                if end == 0:
                    path.unlink()  # not even its warcinfo record was committed
                    continue
                os.ftruncate(fd, end)
                os.fsync(fd)
                digest = _sha256_of(path)
                os.replace(path, self.root / name)
                self.db.close_warc(name, end, digest)
                recovered.append(name)
            except OSError as exc:
                raise _storage_error(path, "recover WARC", exc) from exc
            finally:
                os.close(fd)
        return recovered


class _HashingWriter:
    """Lets the record builder write straight into an open WARC while its sha256 follows."""

    def __init__(self, warc: _OpenWarc) -> None:
        self.warc = warc

    def write(self, data: bytes) -> None:
        try:
            self.warc.handle.write(data)
        except OSError as exc:
            raise _storage_error(self.warc.path, "write WARC", exc) from exc
        self.warc.sha256.update(data)
        self.warc.size += len(data)

    def tell(self) -> int:
        return self.warc.size

    def flush(self) -> None:
        pass


def _record_row(warc: str, info: RecordInfo, base: int) -> dict[str, Any]:
    return {
        "warc": warc, "offset": base + info.offset, "length": info.length, "rec_type": info.rec_type,
        "uri": info.uri, "record_id": info.record_id, "date": info.date,
        "payload_digest": info.payload_digest, "refers_to": info.refers_to,
    }


def record_rows(warc: str, records: list[RecordInfo], base: int) -> list[dict[str, Any]]:
    return [_record_row(warc, info, base) for info in records]


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
