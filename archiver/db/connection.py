"""SQLite connections to the archive database, made in the two ways ArchiveDB.open offers, and the
write transaction.

Writable: the file is created if missing, put in WAL mode and brought to this archiver's schema
(migrations, then views and triggers) inside one BEGIN IMMEDIATE transaction, so two processes
opening an older file at once upgrade it once. Read-only: SQLite's `mode=ro`, so nothing in the
file can change; the schema is read as it is (queries refuse what an older one cannot answer).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import TracebackType

import sqlite_utils

from ..errors import StorageError
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
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        _upgrade(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StorageError(f"{path}: cannot open database: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def connect_readonly(path: Path) -> tuple[sqlite3.Connection, int]:
    """The database at `path` opened for reading only, and its schema version."""
    try:
        conn = _readonly(path, immutable=False)
        try:
            version = user_version(conn)
        except sqlite3.OperationalError as exc:
            conn.close()
            if exc.sqlite_errorcode != sqlite3.SQLITE_CANTOPEN or _has_log(path):
                raise
            # A WAL database needs its -shm file, which a reader creates when it is missing; in a folder
            # it may not write it cannot. With no write-ahead log there is nothing but the file to read:
            # read it as a file that does not change (a writer would need that folder, and has none).
            conn = _readonly(path, immutable=True)
            version = user_version(conn)
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path}: cannot read database: {exc}") from exc
    try:
        refuse_newer(path, version)
    except StorageError:
        conn.close()
        raise
    return conn, version


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
        db = sqlite_utils.Database(conn)
        for step in MIGRATIONS[version:]:
            step(db)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        sync_derived(db)


class Transaction:
    """BEGIN IMMEDIATE ... COMMIT, turning SQLite's failures (disk full, locked) into StorageError."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self.depth = 0

    def __enter__(self) -> None:
        if not self.conn.in_transaction:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(f"{self.path}: {exc}") from exc
            self.depth = 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.depth and kind is None:
            try:
                self.conn.execute("COMMIT")
                return
            except sqlite3.Error as error:
                self._rollback()
                raise StorageError(f"{self.path}: cannot write: {error}") from error
        if self.depth:
            self._rollback()
        # Nested or not, SQLite's own errors leave as StorageError (exit 4), never as a traceback.
        if isinstance(exc, sqlite3.Error):
            raise StorageError(f"{self.path}: cannot write: {exc}") from exc

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled back (it does on some errors, e.g. disk full)
