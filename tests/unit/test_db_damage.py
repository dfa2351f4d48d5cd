"""archiver/db/damage.py and the read-only opens of connection.py, on real SQLite files damaged as
files are (tests/helpers/dbdamage.py): one error path (DatabaseDamaged naming the file and SQLite's
first finding, StorageError for a lock, a bug left a bug), writes that meet damage, and read-only
opens of a folder nobody may write: a checkpointed database, a write-ahead log with its -shm file,
and one without (read from a private copy that is removed on close)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dbdamage
import pytest

from archiver.db import ArchiveDB
from archiver.db.damage import converted, not_sqlite, truncation
from archiver.errors import DatabaseDamaged, StorageError

URL = "https://example.org/a"


def archive(path: Path, captures: int = 120) -> Path:
    """A current archive database with enough captures for several pages per table and index."""
    db = ArchiveDB.open(path)
    try:
        for i in range(captures):
            when = f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000000Z"
            db.add_capture({"url": f"{URL}/{i}", "fetch_url": f"{URL}/{i}", "captured_at": when, "outcome": "ok",
                            "http_status": 200, "record_type": "response",
                            "record_id": f"<urn:uuid:{i:08d}>", "warc": "warcs/a.warc.gz", "warc_offset": i * 1000,
                            "warc_length": 1000, "payload_sha256": f"{i:064x}"},
                           [{"warc": "warcs/a.warc.gz", "offset": i * 1000, "length": 1000, "rec_type": "response",
                             "uri": f"{URL}/{i}", "record_id": f"<urn:uuid:{i:08d}>", "date": "2026-01-01T00:00:00Z",
                             "payload_digest": f"sha1:{i:032d}", "refers_to": None}])
    finally:
        db.close()
    dbdamage.checkpointed(path)
    return path


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return archive(tmp_path_factory.mktemp("pristine") / "archiver.db")


@pytest.fixture()
def db_file(pristine: Path, tmp_path: Path) -> Path:
    path = tmp_path / "archiver.db"
    shutil.copy(pristine, path)
    return path


def reading(path: Path) -> str | None:
    """Open read-only and read every capture: the finding when it fails, None when it reads."""
    try:
        with ArchiveDB.open(path, readonly=True) as db:
            db.db.execute("SELECT * FROM captures").fetchall()
    except DatabaseDamaged as exc:
        assert str(exc) == f"{path}: damaged database: {exc.finding}" and "\n" not in str(exc)
        return exc.finding
    return None


# -- findings ------------------------------------------------------------------------------------


def test_a_truncated_file_is_named_with_how_much_is_missing(db_file: Path) -> None:
    pages = db_file.stat().st_size // 4096
    dbdamage.truncate(db_file, 0.5)
    finding = reading(db_file)
    assert finding is not None and finding.startswith("PRAGMA quick_check stops: database disk image is malformed")
    assert finding.endswith(f"; the file holds {pages // 2} of the {pages} pages its header counts (truncated)")


def test_a_page_of_garbage_is_found_where_it_is_read(db_file: Path) -> None:
    page = dbdamage.garbage_page(db_file, "captures")
    finding = reading(db_file)
    assert finding is not None and finding.startswith("PRAGMA quick_check") and str(page) in finding
    with ArchiveDB.open(db_file, readonly=True) as db:  # the other tables still read
        assert db.db.execute("SELECT COUNT(*) FROM records").fetchone() == (120,)
        assert db.integrity() == finding


def test_a_broken_index_leaves_plain_reads_alone_and_quick_check_finds_it(db_file: Path) -> None:
    page = dbdamage.break_index(db_file, "idx_records_record_id")
    assert reading(db_file) is None
    with ArchiveDB.open(db_file, readonly=True) as db:
        finding = db.integrity()
    assert finding is not None and finding.startswith(f"PRAGMA quick_check: On tree page {page} cell 0: ")
    with pytest.raises(DatabaseDamaged) as met, ArchiveDB.open(db_file, readonly=True) as db:
        db.db.execute("SELECT * FROM records WHERE record_id = ?", ["<urn:uuid:00000000>"]).fetchall()  # the index
    assert met.value.finding == finding


def test_an_index_out_of_order_is_found_only_by_integrity_check(db_file: Path) -> None:
    dbdamage.swap_index_cells(db_file, "idx_records_record_id")
    with ArchiveDB.open(db_file, readonly=True) as db:
        assert db.integrity() is None
        finding = db.integrity(full=True)
    assert finding is not None and finding.startswith("PRAGMA integrity_check: row ")
    assert finding.endswith(" missing from index idx_records_record_id")


def test_not_sqlite_and_empty_files(tmp_path: Path) -> None:
    path = tmp_path / "archiver.db"
    dbdamage.not_sqlite(path)
    assert reading(path) == "not an SQLite database (its first bytes are not SQLite's header)"
    path.write_bytes(b"")
    assert not_sqlite(path) == "empty file (0 bytes)" and reading(path) == "empty file (0 bytes)"
    assert truncation(path) == "" and not_sqlite(tmp_path / "missing") is None


def test_a_write_ahead_log_from_another_moment_is_damage(db_file: Path) -> None:
    dbdamage.mismatched_wal(db_file)
    wal = db_file.with_name("archiver.db-wal").read_bytes()
    with ArchiveDB.open(db_file, readonly=True) as db:
        finding = db.integrity()
        assert finding is not None and finding.startswith("PRAGMA quick_check")
    assert db_file.with_name("archiver.db-wal").read_bytes() == wal  # reading left the log as it was


def test_reading_changes_no_byte_of_a_damaged_file(db_file: Path) -> None:
    dbdamage.garbage_page(db_file, "records")
    before = db_file.read_bytes()
    reading(db_file)
    with ArchiveDB.open(db_file, readonly=True) as db:
        assert db.integrity() is not None
    assert db_file.read_bytes() == before


# -- one error path --------------------------------------------------------------------------------


def test_a_write_that_meets_damage_is_database_damaged(db_file: Path) -> None:
    dbdamage.garbage_page(db_file, "records")  # its last leaf: where the next row goes
    db = ArchiveDB.open(db_file)
    try:
        with pytest.raises(DatabaseDamaged, match=r"archiver\.db: damaged database: PRAGMA quick_check"):
            db.add_records([{"warc": "warcs/b.warc.gz", "offset": 0, "length": 10, "rec_type": "request",
                             "uri": URL, "record_id": "<urn:uuid:new>", "date": "2026-01-02T00:00:00Z",
                             "payload_digest": None, "refers_to": None}])
    finally:
        db.close()


def test_a_lock_is_a_storage_error_and_a_bug_stays_a_bug(db_file: Path) -> None:
    holder = sqlite3.connect(db_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        other = sqlite3.connect(db_file, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError) as locked:
            other.execute("BEGIN IMMEDIATE")
        error = converted(locked.value, db_file, other, "write")
        assert type(error) is StorageError and str(error) == f"{db_file}: cannot write database: database is locked"
        other.close()
    finally:
        holder.close()
    with pytest.raises(sqlite3.OperationalError, match="syntax error"):  # not converted: exit 70, a bug to report
        with ArchiveDB.open(db_file, readonly=True) as db:
            db.db.execute("SELEC 1")
    with pytest.raises(sqlite3.ProgrammingError):
        with ArchiveDB.open(db_file, readonly=True) as db:
            db.db.execute("SELECT ?", [1, 2])


# -- read-only folders ------------------------------------------------------------------------------


@contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """The folder and its files made unwritable (an evidence copy after `chmod -R a-w`): immutable for
    root, who ignores modes; read-only otherwise."""
    paths = [folder, *sorted(folder.iterdir())]
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", *map(str, paths)]).returncode != 0:
            pytest.skip("cannot make files immutable here")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
    else:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            for path in paths:
                path.chmod(0o755 if path.is_dir() else 0o644)


def live(pristine: Path, folder: Path, *, shm: bool) -> int:
    """A copy of the database taken while a writer had one more capture only in its write-ahead log."""
    work = folder.parent / "work"
    work.mkdir()
    shutil.copy(pristine, work / "archiver.db")

    def capture() -> None:
        db = ArchiveDB.open(work / "archiver.db")
        try:
            db.add_capture({"url": URL, "fetch_url": URL, "captured_at": "2026-02-01T00:00:00.000000Z",
                            "outcome": "ok", "http_status": 200, "record_type": "response"}, [])
        finally:
            db.close()

    dbdamage.live_copy(work, folder, capture, shm=shm)
    return 121


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("shm", [True, False])
def test_a_read_only_folder_with_a_live_write_ahead_log_reads_every_commit(pristine: Path, tmp_path: Path,
                                                                           shm: bool) -> None:
    folder = tmp_path / "evidence"
    captures = live(pristine, folder, shm=shm)
    before = listing(folder)
    with unwritable(folder):
        db = ArchiveDB.open(folder / "archiver.db", readonly=True)
        try:
            assert db.db.execute("SELECT COUNT(*) FROM captures").fetchone() == (captures,)  # the log's too
            assert [r["captured_at"] for r in db.captures_of(URL, URL)] == ["2026-02-01T00:00:00.000000Z"]
            private = db.private
            # With its -shm file SQLite reads the log in place; without, only a private copy can.
            assert (private is None) == shm
            if private is not None:
                assert private.parent == Path(tempfile.gettempdir()) and (private / "archiver.db-wal").exists()
        finally:
            db.close()
        assert private is None or not private.exists()
        assert listing(folder) == before


def test_a_read_only_folder_without_a_log_is_read_in_place(pristine: Path, tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    folder.mkdir()
    shutil.copy(pristine, folder / "archiver.db")
    with unwritable(folder):
        with ArchiveDB.open(folder / "archiver.db", readonly=True) as db:
            assert db.private is None and db.db.execute("SELECT COUNT(*) FROM captures").fetchone() == (120,)
            assert db.integrity() is None
        assert sorted(os.listdir(folder)) == ["archiver.db"]


def test_a_private_copy_that_cannot_be_made_is_one_line(pristine: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "evidence"
    live(pristine, folder, shm=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no such folder"))
    with unwritable(folder):
        with pytest.raises(StorageError) as failed:
            ArchiveDB.open(folder / "archiver.db", readonly=True)
    message = str(failed.value)
    assert message.startswith(f"{folder / 'archiver.db'}: cannot read database: its write-ahead log needs a folder")
    assert "no such folder failed: No such file or directory" in message and "\n" not in message
