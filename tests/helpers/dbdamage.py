"""Damage done to a real archive database the ways it happens to files: cut short (a copy that ran out
of space), a page overwritten in the middle, an index page's bytes flipped (SQLite's quick_check finds
it, plain reads of the table still work), two index cells swapped (only integrity_check finds it), a
file that is not SQLite at all, and a write-ahead log that does not match the database beside it.
Pages are found with SQLite's own dbstat table, read-only; the damage itself is plain byte writes."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path


def _ro(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)


def page_size(db: Path) -> int:
    conn = _ro(db)
    try:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()


def pages_of(db: Path, name: str, kind: str | None = None) -> list[int]:
    """The page numbers of a table's or an index's b-tree (`kind`: only 'leaf' or 'internal' pages)."""
    conn = _ro(db)
    try:
        rows = conn.execute("SELECT pageno, pagetype FROM dbstat WHERE name = ? ORDER BY pageno", [name]).fetchall()
    finally:
        conn.close()
    return [page for page, pagetype in rows if kind is None or pagetype == kind]


def checkpointed(db: Path) -> None:
    """Every committed page moved into the file itself (no -wal left), as after the last writer closed."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)


def truncate(db: Path, fraction: float = 0.5) -> None:
    """Cut the file to `fraction` of its length, on a page boundary (a copy that ran out of space)."""
    size = page_size(db)
    os.truncate(db, max(size, int(db.stat().st_size * fraction) // size * size))


def garbage_page(db: Path, table: str, seed: int = 7) -> int:
    """Overwrite a leaf page of `table`'s b-tree with random bytes; returns its number."""
    size = page_size(db)
    page = pages_of(db, table, "leaf")[-1]
    with open(db, "r+b") as handle:
        handle.seek((page - 1) * size)
        handle.write(random.Random(seed).randbytes(size))
    return page


def _cells(data: bytes) -> list[int]:
    """Offsets of the cells of a b-tree leaf page (8-byte header, then the cell pointer array)."""
    count = int.from_bytes(data[3:5], "big")
    return [int.from_bytes(data[8 + 2 * i: 10 + 2 * i], "big") for i in range(count)]


def break_index(db: Path, index: str) -> int:
    """Flip the payload size of the first cell of an index leaf page to a huge value: the cell then
    extends off the end of its page, which quick_check finds; reads of the table that do not use this
    index never see it. Returns the page number."""
    size = page_size(db)
    page = pages_of(db, index, "leaf")[0]
    with open(db, "r+b") as handle:
        handle.seek((page - 1) * size)
        data = bytearray(handle.read(size))
        first = _cells(bytes(data))[0]
        data[first: first + 3] = b"\xbf\xff\x7f"  # a 3-byte varint: a payload of about a million bytes
        handle.seek((page - 1) * size)
        handle.write(data)
    return page


def swap_index_cells(db: Path, index: str) -> int:
    """Swap the first and last cell pointers of an index leaf page: every page is still well formed
    (quick_check passes), but the keys are out of order, so rows go missing from the index, which only
    integrity_check finds. Returns the page number."""
    size = page_size(db)
    page = max(pages_of(db, index, "leaf"), key=lambda p: _count(db, p, size))
    with open(db, "r+b") as handle:
        handle.seek((page - 1) * size)
        data = bytearray(handle.read(size))
        count = int.from_bytes(data[3:5], "big")
        assert count >= 2, f"{index}: page {page} has {count} cells"
        first, last = slice(8, 10), slice(8 + 2 * (count - 1), 10 + 2 * (count - 1))
        data[first], data[last] = data[last], data[first]
        handle.seek((page - 1) * size)
        handle.write(data)
    return page


def _count(db: Path, page: int, size: int) -> int:
    with open(db, "rb") as handle:
        handle.seek((page - 1) * size)
        return int.from_bytes(handle.read(8)[3:5], "big")


def not_sqlite(db: Path) -> None:
    """Replace the database with a file that is not SQLite at all (a restore from the wrong file)."""
    db.write_bytes(b"PK\x03\x04 this is a zip archive, not a database\n" * 300)


def mismatched_wal(db: Path) -> None:
    """Leave beside `db` a write-ahead log written after the file was copied: a backup that took the
    database at one moment and its -wal at another, after a checkpoint restarted the log. The log's
    pages rest on pages the copy does not have. The writes are the archiver's own: two manifests of
    60 citations recorded, a checkpoint between them."""
    from archiver.db import ArchiveDB

    checkpointed(db)
    old = db.read_bytes()
    writer = ArchiveDB.open(db)
    try:
        writer.db.execute("PRAGMA wal_autocheckpoint = 0")
        for turn in ("first", "second"):
            citations = [{"key": f"c{i}", "citation_id": f"c{i}", "url": f"https://{turn}.example/{i}",
                          "fetch_url": f"https://{turn}.example/{i}", "cited_as": None,
                          "context": f"{turn} citation {i} " + "words " * 100, "accessed": None, "line": i,
                          "extra": None} for i in range(60)]
            writer.record_manifest(f"/papers/{turn}.txt", turn, None, None, {}, citations)
            if turn == "first":
                writer.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the log restarts; the file moves on
        wal = db.with_name(db.name + "-wal").read_bytes()
    finally:
        writer.close()  # checkpoints and removes the log: the copy above is all that is left of it
    db.write_bytes(old)
    db.with_name(db.name + "-wal").write_bytes(wal)
    db.with_name(db.name + "-shm").unlink(missing_ok=True)


def live_copy(storage: Path, copy: Path, work: Callable[[], object], *, shm: bool = True) -> None:
    """Copy a storage folder as `cp -a` finds it while a daemon is running: `work` (an archiver run)
    commits while another connection holds the database open, so its last transactions are still only
    in the write-ahead log (the closing run is not the last connection: it does not checkpoint).
    `shm=False` leaves the -shm file out of the copy, as some backup tools do."""
    holder = sqlite3.connect(storage / "archiver.db")
    try:
        holder.execute("SELECT COUNT(*) FROM runs").fetchone()
        work()
        assert (storage / "archiver.db-wal").stat().st_size > 0
        shutil.copytree(storage, copy)
    finally:
        holder.close()
    assert (copy / "archiver.db-wal").stat().st_size > 0
    if not shm:
        (copy / "archiver.db-shm").unlink()
