"""SQLite connections to the archive database, made in the two ways ArchiveDB.open offers, and the
write transaction.

Writable: the file is created if missing, put in WAL mode and brought to this archiver's schema
(migrations, then views and triggers) inside one BEGIN IMMEDIATE transaction, so two processes
opening an older file at once upgrade it once. Read-only: SQLite's `mode=ro`, so nothing in the
file can change; the schema is read as it is (queries refuse what an older one cannot answer).

A read-only open also works where nothing may be written (an evidence copy made read-only, write-once
media, a read-only mount): a WAL database whose -shm file cannot be made is read as a file that does
not change (`immutable=1`) when its write-ahead log is empty, and from a private copy of the database
and its log in a temporary folder when the log holds committed pages (immutable would not see them).
SQLite's errors on the way in leave as the archiver's (damage.converted): a damaged file is
DatabaseDamaged naming SQLite's own finding.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from types import TracebackType

import sqlite_utils

from ..errors import DatabaseDamaged, StorageError
from .damage import converted
from .rows import scalar
from .schema import MIGRATIONS, SCHEMA_VERSION, stale_derived, sync_derived


def connect_writable(path: Path) -> sqlite3.Connection:
    """The database at `path`, created if missing and upgraded to SCHEMA_VERSION."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path}: cannot open database: {exc}") from exc
    except OSError as exc:
        raise StorageError(f"{path}: cannot open database: {exc.strerror or exc}") from exc
    try:
        _into_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        _upgrade(conn, path)
    except sqlite3.DatabaseError as exc:
        error = converted(exc, path, conn, "open") or StorageError(f"{path}: cannot open database: {exc}")
        conn.close()
        raise error from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _into_wal(conn: sqlite3.Connection, timeout: float = 30.0) -> None:
    """WAL mode. Switching a file into it takes an exclusive lock, and when other processes open the
    file at that moment SQLite answers "database is locked" at once instead of waiting (its busy
    handler is not called where waiting could deadlock): ten archivers started together on a new
    or older database saw one of them fail in up to a quarter of the trials. So the switch is tried
    again, for `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = (exc.sqlite_errorcode & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))  # spread out, so the contenders do not collide again


def connect_readonly(path: Path) -> tuple[sqlite3.Connection, int, Path | None]:
    """The database at `path` opened for reading only, its schema version, and the private folder it is
    read from when it could not be read in place (None: in place; the caller removes it after closing)."""
    _readable(path)
    conn: sqlite3.Connection | None = None
    private: Path | None = None
    try:
        conn = _readonly(path, immutable=False)
        try:
            version = user_version(conn)
        except sqlite3.OperationalError as exc:
            conn.close()
            conn = None
            if (exc.sqlite_errorcode & 0xFF) not in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
                raise
            # A WAL database needs its -shm file, which a reader creates when it is missing; in a folder
            # it may not write it cannot (CANTOPEN), nor rebuild a stale one (READONLY_*). With no
            # write-ahead log there is nothing but the file to read: read it as a file that does not change
            # (a writer would need that folder, and has none). With one, its committed pages count: read a
            # private copy of both, where SQLite may make the -shm file.
            if _has_log(path):
                private = _private_copy(path)
                conn = _readonly(private / path.name, immutable=False)
            else:
                conn = _readonly(path, immutable=True)
            version = user_version(conn)
        refuse_newer(path, version)
    except (sqlite3.DatabaseError, StorageError) as exc:
        error = exc if isinstance(exc, StorageError) else (
            converted(exc, path, conn) or StorageError(f"{path}: cannot read database: {exc}"))
        if conn is not None:
            conn.close()
        remove_private(private)
        if error is exc:
            raise
        raise error from exc
    return conn, version, private


def _readable(path: Path) -> None:
    """A missing or unreadable file fails here with the system's reason (SQLite would say only "unable
    to open database file"), and is never created."""
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise StorageError(f"{path}: cannot read database: {(exc.strerror or str(exc)).lower()}") from exc


def _private_copy(path: Path) -> Path:
    """The database and its write-ahead log copied into a new private temporary folder (mode 0700)."""
    folder: Path | None = None
    try:
        folder = Path(tempfile.mkdtemp(prefix="archiver-readonly-"))
        for name in (path.name, path.name + "-wal"):
            shutil.copyfile(path.with_name(name), folder / name)
    except OSError as exc:
        remove_private(folder)
        raise StorageError(f"{path}: cannot read database: its write-ahead log needs a folder SQLite may write,"
                           f" and copying it to {tempfile.gettempdir()} failed: {exc.strerror or exc}") from exc
    return folder


def remove_private(folder: Path | None) -> None:
    """Remove a private copy made by connect_readonly (after its connection is closed)."""
    if folder is not None:
        # A temporary folder left behind (already removed, or busy on an odd system) harms nothing.
        shutil.rmtree(folder, ignore_errors=True)


def _readonly(path: Path, *, immutable: bool) -> sqlite3.Connection:
    options = "mode=ro&immutable=1" if immutable else "mode=ro"
    return sqlite3.connect(f"{path.resolve().as_uri()}?{options}", uri=True, timeout=30, isolation_level=None,
                           check_same_thread=False)


def _has_log(path: Path) -> bool:
    """Whether a write-ahead log with content sits beside the database (committed pages not yet in it)."""
    try:
        return path.with_name(path.name + "-wal").stat().st_size > 0
    except FileNotFoundError:
        return False


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version: the number of migrations the file has had."""
    # sqlite_master first: a file that is not a database fails here, not at the first real query.
    conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    return int(scalar(conn.execute("PRAGMA user_version")))


def refuse_newer(path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StorageError(f"{path}: database schema v{version} is newer than this archiver (v{SCHEMA_VERSION});"
                           " upgrade archiver")


def _upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Migrations and derived objects brought up to date, all or nothing, under the write lock. The
    check runs first without the lock: an up-to-date database (nearly every open) takes none."""
    version = user_version(conn)
    refuse_newer(path, version)
    if version == SCHEMA_VERSION and not stale_derived(conn):
        return
    with Transaction(conn, path):
        version = user_version(conn)  # again, under the lock: another process may have upgraded it
        refuse_newer(path, version)
        db = sqlite_utils.Database(conn, execute_plugins=False)  # see ArchiveDB: no plugin scan
        for step in MIGRATIONS[version:]:
            step(db)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        sync_derived(db)


class Transaction:
    """BEGIN IMMEDIATE ... COMMIT, turning SQLite's failures (disk full, locked) into StorageError, and
    a damaged file into DatabaseDamaged."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self.depth = 0

    def __enter__(self) -> None:
        if not self.conn.in_transaction:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._error(exc, f"{self.path}: {exc}") from exc
            self.depth = 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.depth and kind is None:
            try:
                self.conn.execute("COMMIT")
                return
            except sqlite3.Error as error:
                self._rollback()
                raise self._error(error, f"{self.path}: cannot write: {error}") from error
        if self.depth:
            self._rollback()
        # Nested or not, SQLite's own errors leave as StorageError (exit 4), never as a traceback.
        if isinstance(exc, sqlite3.Error):
            raise self._error(exc, f"{self.path}: cannot write: {exc}") from exc

    def _error(self, exc: sqlite3.Error, message: str) -> StorageError:
        # A damaged file is named as such; any other failure keeps the message a write has always had.
        found = converted(exc, self.path, self.conn, "write")
        return found if isinstance(found, DatabaseDamaged) else StorageError(message)

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled back (it does on some errors, e.g. disk full)
