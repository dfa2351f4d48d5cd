"""WARC files on disk: naming, appending whole captures, rotation, closing, crash recovery, and
where a WARC file named by the database may be (`warc_path`: inside the storage folder only).

A file being written is named `*.warc.gz.open` and holds an exclusive lock; only a complete file
(every record whole, sha256 recorded) is renamed to `*.warc.gz`, and its folder is fsynced after.
Durability order: a file's records reach the disk (`sync`, once per committed group of captures)
before the database rows that point at them commit. So the database's records of a file always
describe a prefix of it, and the end of its last committed record is the file's valid length:
`close` cuts what lies past it (records of a group whose commit failed) before the file is
renamed, and after a crash the next run cuts an abandoned file back to it, `.open` or already
renamed. A partial or uncommitted record is never left in a `.warc.gz`, and every database row
points at a whole record.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import itertools
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from . import stamps
from .atomic import fsync_dir
from .db import ArchiveDB
from .errors import StorageError
from .evidence.ledger import Ledger
from .warc import RecordBuilder, RecordInfo
from .warcstore import RemoteWarcs, open_read

OPEN_SUFFIX = ".open"
COPY_CHUNK = 1024 * 1024


def _storage_error(path: Path, action: str, exc: OSError) -> StorageError:
    reason = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else (exc.strerror or str(exc))
    return StorageError(f"{path}: cannot {action}: {reason}")


def _write_all(handle: IO[bytes], data: bytes) -> None:
    """An unbuffered file may take part of a write (a signal, a nearly full disk): loop."""
    view = memoryview(data)
    while view:
        written = handle.write(view)
        view = view[written or 0 :]


# Files of our own are never opened through a symbolic link someone put in their place.
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_datasync = getattr(os, "fdatasync", os.fsync)  # the data and the size: what a reader needs


def warc_path(root: Path, name: str, row: str, suffix: str = "") -> Path:
    """The file a database row names (`name`, relative to the storage folder `root`, plus `suffix`),
    refused with a StorageError naming the row unless it lies inside the storage folder: a tampered
    or foreign database must never make archiver read, cut or rename a file elsewhere. The check is
    on the resolved path, so `warcs/` may be a symbolic link to a bigger disk, but no `..`, absolute
    name or link inside it leads out."""
    relative = PurePosixPath(name)
    outside = (not name or "\x00" in name or relative.is_absolute() or ".." in relative.parts)
    path = root / (name + suffix)
    if not outside:
        try:
            resolved = path.resolve()
            outside = not any(resolved.is_relative_to(base) for base in (root.resolve(), (root / "warcs").resolve()))
        except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a name the OS refuses
            raise StorageError(f"{row} names WARC file {name!r}, which cannot be resolved: {exc}") from exc
    if outside:
        raise StorageError(f"{row} names WARC file {name!r}, outside the storage folder {root}: refused"
                           " (a tampered or foreign database?)")
    return path


class _OpenWarc:
    def __init__(self, name: str, path: Path, handle: IO[bytes]) -> None:
        self.name = name  # relative to the storage root, as stored in the database
        self.path = path  # the .open file
        self.handle = handle
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.synced = 0  # bytes known to be on disk
        self.start = 0  # where the first capture goes: past the warcinfo record
        self.opened = time.monotonic()


class WarcCarry:
    """A WARC file kept open from one run to the next, for the daemon: without it every job run
    would write a WARC file of its own (a daily check of 100 manifests: 36,500 small files a year).
    The file is closed when it is `max_age` seconds old (or full, as always), after a run that did not
    finish cleanly, and by close(). Between runs it stays `.open`, locked by this process, its
    committed records whole: replay serves it, verify reads it, and after a crash recovery closes it."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self.warc: _OpenWarc | None = None

    def expired(self) -> bool:
        return self.warc is not None and time.monotonic() - self.warc.opened >= self.max_age

    def lend(self, store: WarcStore) -> None:
        """Before a run: the store appends to the carried file (closed first if it is too old)."""
        if self.warc is not None and store.current is None:
            expired = self.expired()
            store.current, self.warc = self.warc, None
            if expired:
                store.close()

    def take(self, store: WarcStore, clean: bool) -> None:
        """After a run, before store.close(): keep the store's file for the next run if it may,
        its bytes on disk first (its records are committed: a power cut must not leave rows that
        point at bytes the disk never got)."""
        warc = store.current
        if warc is None or not clean or time.monotonic() - warc.opened >= self.max_age:
            return
        try:
            store.sync()
        except StorageError:
            return  # store.close() reports it
        self.warc, store.current = warc, None

    def close(self, store: WarcStore) -> None:
        self.lend(store)
        store.close()


class WarcAppender:
    """Appending whole captures to a current WARC file, rotating when full: what the database's
    `WarcStore` and a cluster task's `LooseWarcs` share. Subclasses make and close the files."""

    max_size: int
    current: _OpenWarc | None

    def _new_file(self) -> _OpenWarc:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def prepare(self, length: int) -> _OpenWarc:
        """Make sure a WARC file with room for `length` more bytes is open, rotating if needed (a
        capture larger than a whole file goes alone into a fresh one). Call it outside any database
        transaction: a new file's row must be committed before the file exists, or a crash would
        leave a file that recovery cannot account for."""
        current = self.current
        if current is not None and current.size > current.start and current.size + length > self.max_size:
            self.close()
        if self.current is None:
            self.current = self._new_file()
        return self.current

    def room(self) -> int:
        """Bytes the current file takes before it is full."""
        return self.max_size - self.current.size if self.current is not None else self.max_size

    def sync(self) -> None:
        """Put what was appended to the current file on disk: called before the rows that point at
        it commit (one fdatasync per committed group of captures, not per record)."""
        if self.current is not None:
            _sync(self.current)

    def append(self, spool: IO[bytes], length: int) -> tuple[str, int]:
        """Copy a spool of complete gzip members to the current WARC; return (name, base offset).
        On failure the file is cut back to where it was, so it never ends in a partial record."""
        warc = self.prepare(length)
        base = warc.size
        before = warc.sha256.copy()
        spool.seek(0)
        try:
            while chunk := spool.read(COPY_CHUNK):
                _write_all(warc.handle, chunk)
                warc.sha256.update(chunk)
                warc.size += len(chunk)
        except BaseException as exc:  # disk full, or a second Ctrl-C in the middle of a copy
            self._cut_back(warc, base, before)
            if isinstance(exc, OSError):
                raise _storage_error(warc.path, "write WARC", exc) from exc
            raise
        return warc.name, base

    def _cut_back(self, warc: _OpenWarc, base: int, digest: hashlib._Hash) -> None:
        try:
            os.ftruncate(warc.handle.fileno(), base)
            warc.handle.seek(base)
        except OSError:
            pass  # recovery at the next start cuts the file back to the last committed record
        warc.size = base
        warc.synced = min(warc.synced, base)
        warc.sha256 = digest


class WarcStore(WarcAppender):
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
        now: Callable[[], dt.datetime] = stamps.now,
        prefix: str = "archiver",
        create: bool = True,
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
        # The tamper-evident log (evidence/ledger.py; None: off), and who hears of each closed file.
        self.ledger: Ledger | None = None
        self.on_closed: Callable[[str], None] | None = None
        self.remote: RemoteWarcs | None = None  # where closed files go (warcstore.py); None: they stay here
        if not create:
            return
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            (root / "tmp").mkdir(exist_ok=True)
        except OSError as exc:
            raise _storage_error(self.dir, "create storage folder", exc) from exc

    @property
    def spool_dir(self) -> Path:
        return self.root / "tmp"

    def path_of(self, name: str, row: str = "a database row") -> Path:
        """Where a WARC named in the database is now: closed, or still being written; `row` names
        the row it came from, for the error when the name leads outside the storage folder."""
        path = warc_path(self.root, name, row)
        if not path.exists() and (opened := warc_path(self.root, name, row, OPEN_SUFFIX)).exists():
            return opened
        return path

    def open_read(self, name: str, row: str = "a database row") -> IO[bytes]:
        """A WARC named in the database, opened for reading wherever it is: here (being written, or not
        yet uploaded), in the cache, or in the WARC store. OSError when it is nowhere."""
        return open_read(self.remote, self.path_of(name, row))

    # -- writing --------------------------------------------------------------------------------

    def _new_file(self) -> _OpenWarc:
        when = self.now()
        name = _warc_name(self.prefix, when, next(self._serial), str(os.getpid()))
        path = self.root / (name + OPEN_SUFFIX)
        with self._directory_lock():
            # The database learns of the file before it exists, and the file is locked before the
            # directory lock is let go: recovery (which takes that lock too) never sees a file it
            # cannot account for, nor takes one that is being born.
            self.db.open_warc(name)
            handle = _create_locked(path)
        warc = _OpenWarc(name, path, handle)
        try:
            info = self.builder.warcinfo(_HashingWriter(warc), Path(name).name, when, self.user_agent)
            try:
                fsync_dir(path.parent)  # the file's name on disk, then its warcinfo, before the row
            except OSError as exc:
                raise _storage_error(path, "create WARC file", exc) from exc
            warc.start = warc.size
            _sync(warc)
            self.db.add_records([_record_row(name, info, 0)])
        except BaseException:
            handle.close()  # the file stays `.open`: recovery removes it (no record of it committed)
            raise
        return warc

    def close(self) -> None:
        """Cut what the database does not know (the records of a group whose commit failed),
        fsync, rename the file into view, fsync its folder, and record its size and sha256."""
        warc, self.current = self.current, None
        if warc is None:
            return
        digest = _into_view(warc, self.root / warc.name, lambda: self._committed_end(warc.name))
        self._closed(warc.name, warc.size, digest)

    def _closed(self, name: str, size: int, digest: str) -> None:
        """The file's row closed and its ledger entry appended together; then `on_closed` hears of it."""
        with self.db.transaction():
            self.db.close_warc(name, size, digest)
            if self.ledger is not None:
                self.ledger.warc_closed(self.db, name, size, digest)
        if self.remote is not None:  # recorded first: a failed upload leaves a closed file here, pushed later
            self.remote.publish(self.root / name, name, size, digest)
        if self.on_closed is not None:
            self.on_closed(name)

    def log_captures(self, capture_ids: list[int]) -> None:
        """Inside the transaction that stores captures: their ledger entry (evidence/ledger.py)."""
        if self.ledger is not None:
            self.ledger.captures(self.db, capture_ids)

    def _committed_end(self, name: str) -> int:
        try:
            return self.db.committed_end(name)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.db.path}: cannot read database: {exc}") from exc

    def adopt(self, loose: LooseFile) -> None:
        """Record a WARC file a cluster task closed (its captures follow in the same transaction)."""
        self.db.open_warc(loose.name)
        self.db.add_records([loose.warcinfo])
        self.db.close_warc(loose.name, loose.size, loose.sha256)
        if self.ledger is not None:
            self.ledger.warc_closed(self.db, loose.name, loose.size, loose.sha256)

    def sweep(self, prefix: str, spare: Callable[[str], bool] = lambda name: False) -> list[str]:
        """Remove the files named `warcs/<prefix>*` that the database holds no record of, no process
        holds and `spare` does not keep: what cluster tasks left when their worker died (a partial
        `.open` file), or whose result never reached the client. Nothing points at them."""
        removed: list[str] = []
        with self._directory_lock():
            for entry in sorted(os.scandir(self.dir), key=lambda e: e.name):
                name = "warcs/" + entry.name.removesuffix(OPEN_SUFFIX)
                if not entry.name.startswith(prefix) or spare(entry.name) or self._committed_end(name):
                    continue
                try:
                    fd = os.open(entry.path, os.O_RDONLY | NOFOLLOW)
                except OSError:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    os.unlink(entry.path)
                    removed.append(entry.name)
                except OSError:
                    continue  # a live task still writes it
                finally:
                    os.close(fd)
        if self.remote is not None:  # what tasks put into the store before their results were lost
            removed += self.remote.sweep(prefix, lambda name: spare(name[6:]) or bool(self._committed_end(name)))
        return removed

    # -- recovery -------------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Close the WARC files this database lists as still open and no live process holds: cut
        each back to the end of its last committed record (never past its real size) and close it.
        Records past that end were appended by a run whose rows never committed (a crash, a failed
        commit): nothing in the database points at them, and they are not kept. Files the database
        does not know are left alone: they may belong to another database."""
        recovered: list[str] = []
        with self._directory_lock():
            for name in self.db.open_warcs():
                self._recover_one(name, recovered)
        return recovered

    def _recover_one(self, name: str, recovered: list[str]) -> None:
        row = f"{self.db.path}: warc_files row"
        path, final = warc_path(self.root, name, row, OPEN_SUFFIX), warc_path(self.root, name, row)
        renamed = not os.path.lexists(path)
        if renamed and not os.path.lexists(final):  # the crash came between the database row and the file
            self.db.forget_warc(name)
            return
        target = final if renamed else path  # renamed: the crash came before the database heard of it
        try:
            fd = os.open(target, os.O_RDWR | NOFOLLOW)
        except OSError as exc:
            raise _storage_error(target, "open WARC for recovery", exc) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # a running archiver is writing it
            size = os.fstat(fd).st_size
            end = min(self._committed_end(name), size)
            if end == 0:
                if not renamed:
                    path.unlink()  # not even its warcinfo record was committed
                # (renamed, a file the database holds no record of is left as it is: verify names it)
                self.db.forget_warc(name)
                return
            if end < size:
                os.ftruncate(fd, end)
            os.fsync(fd)
            digest = _sha256_of(target)
            if not renamed:
                os.replace(path, final)
            fsync_dir(final.parent)
            self._closed(name, end, digest)
            recovered.append(name)
        except OSError as exc:
            raise _storage_error(target, "recover WARC", exc) from exc
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _directory_lock(self) -> Iterator[None]:
        """Serialises creating WARC files with recovering them, across processes."""
        path = self.dir / ".lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o644)
        except OSError as exc:
            raise _storage_error(path, "open lock file", exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


@dataclass(frozen=True)
class LooseFile:
    """A WARC file a cluster task wrote and closed, whole on disk, that no database knows yet: what
    the client records (`WarcStore.adopt`) with the captures in it."""

    name: str  # relative to the storage root
    size: int
    sha256: str
    warcinfo: dict[str, Any]  # its warcinfo record's row


class LooseWarcs(WarcAppender):
    """The WARC files of one cluster task, written without a database (the client is the only
    writer of it). Named `<tag>-<time>-<serial>-<uuid>-<host>.warc.gz`, unique across workers;
    `.open` and locked while written; `close` puts a file on disk and renames it into view. A task
    that dies leaves an `.open` file no database knows: `sweep` removes it once nothing holds it."""

    def __init__(self, root: Path, tag: str, *, max_size: int, user_agent: str, builder: RecordBuilder,
                 now: Callable[[], dt.datetime] = stamps.now) -> None:
        self.root, self.tag, self.max_size = root, tag, max_size
        self.user_agent, self.builder, self.now = user_agent, builder, now
        self.current = None
        self.remote: RemoteWarcs | None = None  # the WARC store each closed file is put into
        self.done: list[LooseFile] = []
        self._serial = itertools.count(1)
        self._info: dict[str, Any] = {}

    def _new_file(self) -> _OpenWarc:
        when = self.now()
        name = _warc_name(self.tag, when, next(self._serial), uuid.uuid4().hex[:12])
        path = self.root / (name + OPEN_SUFFIX)
        handle = _create_locked(path)
        warc = _OpenWarc(name, path, handle)
        try:
            info = self.builder.warcinfo(_HashingWriter(warc), Path(name).name, when, self.user_agent)
        except BaseException:
            handle.close()
            raise
        warc.start = warc.size
        self._info[name] = _record_row(name, info, 0)
        return warc

    def abandon(self) -> None:
        """A failed task: let go of the current file, left `.open` for the client's sweep."""
        warc, self.current = self.current, None
        if warc is not None:
            warc.handle.close()

    def close(self) -> None:
        """The current file on disk (fsync), renamed into view, its folder fsynced: whole before
        any row points at it."""
        warc, self.current = self.current, None
        if warc is None:
            return
        final = self.root / warc.name
        loose = LooseFile(warc.name, warc.size, _into_view(warc, final), self._info.pop(warc.name))
        if self.remote is not None:
            self.remote.publish(final, loose.name, loose.size, loose.sha256)
        self.done.append(loose)


class _HashingWriter:
    """Lets the record builder write straight into an open WARC while its sha256 follows."""

    def __init__(self, warc: _OpenWarc) -> None:
        self.warc = warc

    def write(self, data: bytes) -> None:
        try:
            _write_all(self.warc.handle, data)
        except OSError as exc:
            raise _storage_error(self.warc.path, "write WARC", exc) from exc
        self.warc.sha256.update(data)
        self.warc.size += len(data)

    def tell(self) -> int:
        return self.warc.size

    def flush(self) -> None:
        pass


def _warc_name(prefix: str, when: dt.datetime, serial: int, unique: str) -> str:
    """`warcs/<prefix>-<time to the microsecond>-<serial>-<unique>-<host>.warc.gz`: names sort by creation."""
    host = socket.gethostname().split(".")[0] or "host"
    return f"warcs/{prefix}-{stamps.digits14(when)}{when.microsecond:06d}-{serial:05d}-{unique}-{host}.warc.gz"


def _create_locked(path: Path) -> IO[bytes]:
    """A new WARC file, created exclusively and locked (recovery and sweeps skip a file a process holds)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Unbuffered: a failed write must leave no bytes behind in a buffer that a later flush or
        # close would put back past the cut.
        return os.fdopen(fd, "wb", buffering=0)
    except OSError as exc:
        raise _storage_error(path, "create WARC file", exc) from exc


def _into_view(warc: _OpenWarc, final: Path, known_end: Callable[[], int] | None = None) -> str:
    """Close a WARC file for good: cut what `known_end()` says no row points past (the records of a
    group whose commit failed), fsync, rename it to `final`, fsync its folder; the handle is closed
    whatever happens. Returns the file's sha256."""
    try:
        digest = warc.sha256.hexdigest()
        if known_end is not None and (end := known_end()) < warc.size:
            os.ftruncate(warc.handle.fileno(), end)
            warc.size = end
            digest = _sha256_of(warc.path)
        os.fsync(warc.handle.fileno())
        os.replace(warc.path, final)
        fsync_dir(final.parent)
    except OSError as exc:
        raise _storage_error(warc.path, "close WARC", exc) from exc
    finally:
        warc.handle.close()
    return digest


def _sync(warc: _OpenWarc) -> None:
    if warc.synced == warc.size:
        return
    try:
        _datasync(warc.handle.fileno())
    except OSError as exc:
        raise _storage_error(warc.path, "sync WARC", exc) from exc
    warc.synced = warc.size


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
