"""archiver/db on real SQLite files: the one way to open (writable migrates, read-only never writes and
reads an older schema as it is), the views and triggers kept equal to the generated SQL, named rows."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from archiver import db as archive_db
from archiver.db import MIGRATIONS, SCHEMA_VERSION, ArchiveDB
from archiver.db.rows import GoodCapture, ManifestRow, StateRow, named
from archiver.db.schema import TRIGGERS, VIEWS
from archiver.errors import DatabaseDamaged, StorageError
from archiver.verdict import Policy

URL = "https://example.org/page"


def capture_row(at: str, http: int = 200, kind: str = "response") -> dict[str, Any]:
    return {"captured_at": at, "url": URL, "fetch_url": URL, "outcome": "ok", "http_status": http,
            "record_type": kind, "warc": "warcs/a.warc.gz", "warc_offset": 10, "warc_length": 20,
            "payload_sha256": "ab" * 32, "content_type": "text/html", "final_url": URL, "record_id": f"<urn:{at}>"}


def record_row(at: str) -> dict[str, Any]:
    return {"warc": "warcs/a.warc.gz", "offset": 10, "length": 20, "rec_type": "response", "uri": URL,
            "record_id": f"<urn:{at}>", "date": at, "payload_digest": "sha1:X", "refers_to": None}


def oldest(path: Path) -> Path:
    """A database as the first archiver left it: schema v1 (no checks), with a run, a capture and its
    record, in SQLite's default rollback-journal mode."""
    conn = sqlite3.connect(path)
    legacy = sqlite_utils.Database(conn)
    MIGRATIONS[0](legacy)
    conn.execute("PRAGMA user_version = 1")
    legacy.table("runs").insert({"command": "snapshot", "started_at": "2026-01-01T00:00:00.000000Z", "status": "done"})
    legacy.table("captures").insert({**capture_row("2026-01-01T00:00:01.000000Z"), "run_id": 1})
    legacy.table("records").insert({**record_row("2026-01-01T00:00:01.000000Z"), "capture_id": 1})
    conn.commit()
    conn.close()
    return path


def current(path: Path) -> Path:
    """A database as this archiver writes it (WAL mode), closed: checkpointed, no -wal or -shm left."""
    db = ArchiveDB.open(path)
    db.add_capture(capture_row("2026-01-01T00:00:01.000000Z"), [record_row("2026-01-01T00:00:01.000000Z")])
    db.add_check({"checked_at": "2026-01-02T00:00:00.000000Z", "url": URL, "fetch_url": URL, "status": "not_found"})
    db.close()
    return path


def snapshot(folder: Path, path: Path) -> tuple[bytes, int, list[str]]:
    """What reading must not change: the file's bytes and mtime, and the folder's listing."""
    return path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(folder))


def derived(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type IN ('view', 'trigger')").fetchall())


@contextmanager
def read_only_folder(folder: Path) -> Iterator[None]:
    """The folder made unwritable: immutable for root (who ignores modes), read-only otherwise."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
            pytest.skip("cannot make a folder immutable here")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)


def test_oldest_schema_is_migrated_by_a_writable_open(tmp_path: Path) -> None:
    path = oldest(tmp_path / "old.db")
    db = ArchiveDB.open(path)
    try:
        assert db.version == SCHEMA_VERSION and not db.readonly
        assert db.db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert {"checks", "audits", "audit_problems", "url_state", "verdict_policy"} <= set(db.db.table_names())
        assert db.db.table("runs").count == 1 and db.capture(1) is not None  # nothing lost
        # url_state was filled from the rows already there: the capture is the URL's good one.
        assert db.db.execute("SELECT good_capture_id FROM url_state WHERE fetch_url = ?", [URL]).fetchone() == (1,)
        assert db.report_policy() == Policy()
    finally:
        db.close()
    assert derived(path) == {**VIEWS, **TRIGGERS}


def test_read_only_open_reads_an_older_schema_and_changes_nothing(tmp_path: Path) -> None:
    path = oldest(tmp_path / "old.db")
    before = snapshot(tmp_path, path)
    db = archive_db.open(path, readonly=True)
    try:
        assert db.version == 1 and db.readonly
        assert [row["id"] for row in db.captures_of(URL, URL)] == [1]  # history reads v1 as it is
        assert [row["record_id"] for row in db.export_records()] == ["<urn:2026-01-01T00:00:01.000000Z>"]
        assert db.report_policy() is None  # no url_state: the report judges from history
        with pytest.raises(StorageError) as refused:
            db.check_history([URL])  # checks came with v2
        message = str(refused.value)
        assert "\n" not in message and "schema v1" in message and "(v2)" in message and "archiver verify" in message
        with pytest.raises(StorageError, match="readonly"):
            db.start_run("snapshot", [URL])
    finally:
        db.close()
    assert snapshot(tmp_path, path) == before


def test_read_only_open_of_a_current_database_changes_nothing(tmp_path: Path) -> None:
    path = current(tmp_path / "archiver.db")
    data, mtime, _ = snapshot(tmp_path, path)
    db = ArchiveDB.open(path, readonly=True)
    try:
        assert db.report_policy() == Policy() and [r.fetch_url for r in db.report_state([URL])] == [URL]
    finally:
        db.close()
    assert (path.read_bytes(), path.stat().st_mtime_ns) == (data, mtime)


def test_read_only_open_in_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    folder.mkdir()
    path = current(folder / "archiver.db")
    before = snapshot(folder, path)
    with read_only_folder(folder):
        with pytest.raises(OSError):
            (folder / "probe").touch()  # the folder really is read-only, for this user too
        db = ArchiveDB.open(path, readonly=True)
        try:
            assert db.version == SCHEMA_VERSION
            assert [r.status for r in db.report_state([URL])] == ["not_found"]
        finally:
            db.close()
        assert snapshot(folder, path) == before


def test_newer_schema_is_refused_either_way(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    for readonly in (False, True):
        with pytest.raises(StorageError, match=r"schema v99 is newer than this archiver \(v\d+\); upgrade archiver"):
            ArchiveDB.open(path, readonly=readonly)


def test_not_a_database_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    for readonly in (True, False):  # either way: damaged, by SQLite's header (exit 4, one line)
        with pytest.raises(DatabaseDamaged, match=r"notes\.db: damaged database: not an SQLite database \(its first"
                                                  r" bytes are not SQLite's header\)$"):
            ArchiveDB.open(path, readonly=readonly)
    assert path.read_bytes().startswith(b"these are my notes")
    with pytest.raises(StorageError, match="missing.db: cannot read database: no such file or directory$"):
        ArchiveDB.open(tmp_path / "missing.db", readonly=True)
    assert not (tmp_path / "missing.db").exists()
    (tmp_path / "empty.db").touch()  # SQLite's empty database, or a file truncated to nothing
    with pytest.raises(DatabaseDamaged, match=r"empty\.db: damaged database: empty file \(0 bytes\)$"):
        ArchiveDB.open(tmp_path / "empty.db", readonly=True)
    assert (tmp_path / "empty.db").read_bytes() == b""
    with sqlite3.connect(tmp_path / "other.db") as conn:  # another program's database: not damaged, not ours
        conn.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(StorageError, match=r"other\.db: not an archiver database: it holds no archive tables"):
        ArchiveDB.open(tmp_path / "other.db", readonly=True)


def test_concurrent_writable_opens_upgrade_once(tmp_path: Path) -> None:
    """Processes (here threads, each with its own connection) that open an old file at the same moment:
    one upgrades it under the write lock, the others find it done."""
    path = oldest(tmp_path / "old.db")
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def opener() -> None:
        start.wait()
        try:
            ArchiveDB.open(path).close()
        except BaseException as exc:  # collected, asserted on below
            failures.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)



def _open_when_all_are_ready(path: Path, ready: Any, error: Path) -> None:
    """A process of its own opening `path` writable at the same moment as its siblings."""
    ready.wait()
    try:
        ArchiveDB.open(path).close()
    except StorageError as exc:
        error.write_text(str(exc))
        os._exit(4)
    os._exit(0)


@pytest.mark.parametrize("start", ["missing", "v0", "v1"])
def test_ten_processes_opening_an_old_database_at_once_all_succeed(tmp_path: Path, start: str) -> None:
    """Ten archivers started together on a database that is missing, empty (v0) or of the first
    schema: the migration runs once under BEGIN IMMEDIATE, the others wait for it and re-read the
    version; none fails (before, one of ten exited 4 in most trials)."""
    fork = multiprocessing.get_context("fork")
    for trial in range(4):
        path = tmp_path / f"{start}-{trial}.db"
        if start == "v0":
            path.touch()
        elif start == "v1":
            oldest(path)
        ready = fork.Barrier(10)
        errors = [tmp_path / f"{start}-{trial}-{i}.err" for i in range(10)]
        procs = [fork.Process(target=_open_when_all_are_ready, args=(path, ready, error)) for error in errors]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        failed = [error.read_text() for error in errors if error.exists()]
        assert [proc.exitcode for proc in procs] == [0] * 10, failed
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
            assert conn.execute("SELECT COUNT(*) FROM captures").fetchone() == ((1,) if start == "v1" else (0,))


def test_stale_views_and_triggers_are_regenerated_by_a_writable_open(tmp_path: Path) -> None:
    """A database whose triggers keep another rule (an older or newer archiver's): read-only, its url_state
    is not used; a writable open puts this archiver's SQL back and computes url_state again."""
    path = current(tmp_path / "archiver.db")
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER url_state_check")
        conn.execute("CREATE TRIGGER url_state_check AFTER INSERT ON checks BEGIN SELECT 1; END")
        conn.execute("DROP VIEW citation_verdicts")
        conn.execute("UPDATE url_state SET streak_n = 99, streak_first_at = NULL")
    reader = ArchiveDB.open(path, readonly=True)
    try:
        assert reader.report_policy() is None
    finally:
        reader.close()
    ArchiveDB.open(path).close()
    assert derived(path) == {**VIEWS, **TRIGGERS}
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT streak_n, streak_first_at, good_capture_id FROM url_state").fetchall() == [
            (1, "2026-01-02T00:00:00.000000Z", 1)]


def test_rows_are_named(tmp_path: Path) -> None:
    db = ArchiveDB.open(current(tmp_path / "archiver.db"))
    try:
        db.record_manifest("m.yaml", "m", "A title", None, {}, [])
        (manifest,) = db.report_manifests()
        assert manifest == ManifestRow("m.yaml", "m", "A title", None, manifest.loaded_at) and manifest.loaded_at
        good = db.report_captures([URL])[URL]
        assert isinstance(good, GoodCapture)
        assert (good.warc, good.offset, good.length, good.payload_capture_id, good.fetch_url) == (
            "warcs/a.warc.gz", 10, 20, 1, URL)
        (state,) = db.report_state([URL])
        assert isinstance(state, StateRow) and (state.status, state.payload_capture_id) == ("not_found", 1)
        (check,) = db.report_checks([URL])
        assert (check.status, check.checked_at) == ("not_found", "2026-01-02T00:00:00.000000Z")
        (record,) = db.audit_records("warcs/a.warc.gz")
        assert (record.offset, record.record_id, record.original_digest) == (
            10, "<urn:2026-01-01T00:00:01.000000Z>", None)
        with pytest.raises(TypeError, match="not the fields of GoodCapture"):
            list(named(db.db.execute("SELECT captured_at, warc FROM captures"), GoodCapture))
    finally:
        db.close()


def test_a_manifests_citations_are_keyed_by_id_or_by_which_occurrence_of_their_url(tmp_path: Path) -> None:
    """Without an id, a citation is known by its URL and its occurrence of that URL (counted by
    SQLite, in cited order), so recording the same manifest again updates the same rows."""
    def rows(n: int) -> list[dict[str, Any]]:
        urls = ["https://a.example/", "https://b.example/", "https://a.example/", "https://a.example/"]
        ids = [None, None, "smith2020", None]
        return [{"citation_id": ids[i % 4], "url": urls[i % 4], "fetch_url": urls[i % 4], "line": i + 1,
                 "context": f"turn {n}"} for i in range(4)]

    db = ArchiveDB.open(current(tmp_path / "archiver.db"))
    try:
        for turn in (1, 2):
            db.record_manifest("m.txt", "m", None, None, {}, rows(turn))
        got = db.db.execute("SELECT key, citation_id, line, context FROM citations WHERE manifest = 'm.txt'"
                            " ORDER BY line").fetchall()
        assert got == [("https://a.example/", None, 1, "turn 2"), ("https://b.example/", None, 2, "turn 2"),
                       ("smith2020", "smith2020", 3, "turn 2"), ("https://a.example/ #3", None, 4, "turn 2")]
        db.record_manifest("other.txt", "other", None, None, {}, [{"key": "given", "url": "https://c.example/",
                                                                  "fetch_url": "https://c.example/", "line": 1}])
        assert db.db.execute("SELECT key FROM citations WHERE manifest = 'other.txt'").fetchall() == [("given",)]
    finally:
        db.close()
