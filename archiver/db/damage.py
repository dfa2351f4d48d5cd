"""Database damage: SQLite's own check of the file (PRAGMA quick_check, or integrity_check) and its first
finding as one line, and SQLite's errors turned into the archiver's: DatabaseDamaged for a corrupt file
or one that is not a database, StorageError for what the disk or the file's state causes (locked, full,
unreadable). Every way into the database (opens, reads, writes) converts through `converted`: one
error path, one message form, never an "internal error" for a damaged input.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..errors import DatabaseDamaged, StorageError

HEADER = b"SQLite format 3\x00"
# SQLite's primary result codes for a damaged file: the low byte of an extended code.
DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def is_damage(exc: sqlite3.Error) -> bool:
    """Whether SQLite said the file is corrupt or not a database."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in DAMAGE_CODES


def converted(exc: sqlite3.Error, path: Path, conn: sqlite3.Connection | None = None,
              doing: str = "read") -> StorageError | None:
    """`exc` as the archiver's error: DatabaseDamaged naming the file and what SQLite's check finds, a
    StorageError (exit 4) for SQLite's operational failures (locked, full, I/O, read-only); None for a
    programming error (a bug, which stays an internal error). `conn`: the connection that met `exc`."""
    if is_damage(exc):
        return DatabaseDamaged(path, diagnose(exc, path, conn))
    if not isinstance(exc, sqlite3.OperationalError):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or (code & 0xFF) != sqlite3.SQLITE_ERROR:
        return StorageError(f"{path}: cannot {doing} database: {exc}")
    # SQLITE_ERROR: "no such table" and its kind, a query this archiver's schema answers refused by the
    # file. Pages lost or taken from another file (a write-ahead log that is not this database's) look
    # so; a file that passes SQLite's check makes it a bug of ours.
    finding = _checked(conn, path) if conn is not None else None
    return DatabaseDamaged(path, finding) if finding is not None else None


def diagnose(exc: sqlite3.Error, path: Path, conn: sqlite3.Connection | None = None) -> str:
    """One line saying what is wrong with a file SQLite called damaged: its own check's first finding
    where the check can run, else SQLite's error, with what the file's header shows (not SQLite at
    all, or shorter than the pages it counts)."""
    if (exc.sqlite_errorcode & 0xFF) == sqlite3.SQLITE_NOTADB:
        return not_sqlite(path) or f"SQLite: {exc}{truncation(path)}"
    own = conn is None
    if own:
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error:
            conn = None
    try:
        finding = _checked(conn, path) if conn is not None else None
    finally:
        if own and conn is not None:
            conn.close()
    return finding or f"SQLite: {exc}{truncation(path)}"


def check(conn: sqlite3.Connection, path: Path, *, full: bool = False) -> str | None:
    """SQLite's own check of the whole database: None when it passes, else its first finding as one line.
    quick_check reads every page and row; integrity_check (`full`) also matches every index against
    its table. Where the check itself stops on a corrupt page, the finding names the table it was in."""
    pragma = "integrity_check" if full else "quick_check"
    try:
        return _first(conn, f"PRAGMA {pragma}(1)", pragma)
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        if (exc.sqlite_errorcode & 0xFF) == sqlite3.SQLITE_NOTADB:
            return diagnose(exc, path)
        return f"PRAGMA {pragma} stops: {exc}{_located(conn, pragma)}{truncation(path)}"


def _checked(conn: sqlite3.Connection, path: Path) -> str | None:
    """check() then, when quick_check passes, integrity_check: an error SQLite raised means something
    is wrong, and an index that disagrees with its table is found only by the full check."""
    try:
        return check(conn, path) or check(conn, path, full=True)
    except sqlite3.Error:
        return None  # the check cannot run at all (locked, closed): the caller says what SQLite said


def _first(conn: sqlite3.Connection, sql: str, pragma: str) -> str | None:
    lines = [line.strip() for (text,) in conn.execute(sql).fetchall() for line in str(text).splitlines()]
    found = [line for line in lines if line and line != "ok" and not line.startswith("*** in database")]
    return f"PRAGMA {pragma}: {found[0]}" if found else None


def _located(conn: sqlite3.Connection, pragma: str) -> str:
    """' in table NAME': the first table whose own check fails (SQLite checks one table by name)."""
    try:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rootpage").fetchall()]
    except sqlite3.DatabaseError:
        return " in the schema table (sqlite_master)"
    for name in tables:
        quoted = '"' + name.replace('"', '""') + '"'
        try:
            if _first(conn, f"PRAGMA {pragma}({quoted})", pragma) is not None:
                return f" in table {name}"
        except sqlite3.DatabaseError:
            return f" in table {name}"
    return ""


def not_sqlite(path: Path) -> str | None:
    """What the file's first bytes say when they are not SQLite's header (None: they are, or unreadable)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(HEADER))
    except OSError:
        return None
    if not head:
        return "empty file (0 bytes)"
    if head != HEADER:
        return "not an SQLite database (its first bytes are not SQLite's header)"
    return None


def truncation(path: Path) -> str:
    """'; the file holds N of the M pages its header counts', when it is shorter than its header says."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
        size = os.stat(path).st_size
    except OSError:
        return ""
    if len(header) < 100 or not header.startswith(HEADER):
        return ""
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The page count is valid only when the change counter and "version-valid-for" agree (SQLite 3.7+).
    if page_size < 512 or header[24:28] != header[92:96] or size >= pages * page_size:
        return ""
    return f"; the file holds {size // page_size} of the {pages} pages its header counts (truncated)"


def probe(path: Path, what: str) -> None:
    """A start-up check of an SQLite file another library opens (the daemon's job store), so that its
    damage is one line naming the file and `what` it is, not that library's traceback. A missing file
    passes: it is created when first used."""
    if not path.exists():
        return
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        finding = check(conn, path)
    except sqlite3.Error as exc:
        error = converted(exc, path, conn, "open")
        if isinstance(error, DatabaseDamaged):
            raise DatabaseDamaged(path, f"{error.finding}; {what}") from exc
        raise StorageError(f"{path}: cannot open database: {exc}; {what}") from exc
    finally:
        if conn is not None:
            conn.close()
    if finding is not None:
        raise DatabaseDamaged(path, f"{finding}; {what}")
