"""Crash safety: kill -9, Ctrl-C and a full disk never leave an unreadable WARC or a database row
pointing at an incomplete record."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ARCHIVER, LOCAL_ENV, require_binary, run
from server import TestServer
from warcio.archiveiterator import ArchiveIterator
from warclint import check_warcs


def start(storage: Path, manifest: Path, *extra: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [ARCHIVER, "--storage", str(storage), "snapshot", str(manifest), "--per-host-delay", "0",
         "--per-host", "4", "--concurrency", "8", "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **LOCAL_ENV},
        **kwargs,  # type: ignore[call-overload]
    )


def busy_manifest(server: TestServer, tmp_path: Path, n: int = 40, size: int = 400_000, pause: float = 0.005) -> Path:
    """Many incompressible bodies, sent in slow pieces, so a kill lands mid-fetch and mid-write."""
    manifest = tmp_path / "busy.txt"
    manifest.write_text("\n".join(server.url(f"random?size={size}&seed={i}&pause={pause}") for i in range(n)))
    return manifest


def visible_warcs_read_cleanly(storage: Path) -> None:
    for path in (storage / "warcs").glob("*.warc.gz"):
        with open(path, "rb") as f:
            for record in ArchiveIterator(f):
                record.content_stream().read()
    closed = sorted((storage / "warcs").glob("*.warc.gz"))
    if closed:
        report = check_warcs(closed)
        assert report.ok, [str(f) for f in report.findings]


def rows_point_at_whole_records(storage: Path) -> int:
    """Every records row reads back as one whole WARC record of the stated URI."""
    conn = sqlite3.connect(storage / "archiver.db")
    try:
        rows = conn.execute('SELECT warc, "offset", length, record_id FROM records').fetchall()
    finally:
        conn.close()
    for warc, offset, length, record_id in rows:
        path = storage / warc
        if not path.exists():
            path = storage / (warc + ".open")
        assert offset + length <= path.stat().st_size
        with open(path, "rb") as f:
            f.seek(offset)
            record = next(iter(ArchiveIterator(f)))
            assert record.rec_headers.get_header("WARC-Record-ID") == record_id
            record.content_stream().read()
    return len(rows)


def wait_for_open_warc(storage: Path) -> None:
    deadline = time.monotonic() + 15
    while not list((storage / "warcs").glob("*.open")):
        assert time.monotonic() < deadline, "archiver never started writing"
        time.sleep(0.02)


def start_busy_run(server: TestServer, tmp_path: Path, after: float = 0.3,
                   *extra: str) -> tuple[Path, subprocess.Popen[str]]:
    """A snapshot that has been writing for `after` seconds."""
    storage = tmp_path / "storage"
    proc = start(storage, busy_manifest(server, tmp_path), *extra)
    wait_for_open_warc(storage)
    time.sleep(after)
    return storage, proc


@pytest.mark.parametrize("delay", [0.0, 0.3, 0.8])
def test_kill_9_mid_write_leaves_readable_warcs_and_a_consistent_database(
    fresh_server: TestServer, tmp_path: Path, delay: float
) -> None:
    storage, proc = start_busy_run(fresh_server, tmp_path, delay)
    proc.kill()  # SIGKILL: no handler, no cleanup
    proc.wait(timeout=10)
    visible_warcs_read_cleanly(storage)
    committed = rows_point_at_whole_records(storage)  # may be 0: killed before the first commit

    # Reading commands change nothing on disk ...
    history = run(storage, "history", fresh_server.url("random?size=400000&seed=0&pause=0.005"))
    assert history.returncode in (0, 1), history.stderr
    assert rows_point_at_whole_records(storage) == committed
    # ... the next writing command recovers the abandoned file: cut to its last committed record,
    # closed, named.
    small = run(storage, "snapshot", fresh_server.url("page/after-crash"), "--per-host-delay", "0")
    assert small.returncode == 0, small.stderr
    assert not list((storage / "warcs").glob("*.open"))
    visible_warcs_read_cleanly(storage)
    assert rows_point_at_whole_records(storage) >= committed + 3  # plus warcinfo, request, response

    # Re-running appends and completes the job.
    again = start(storage, busy_manifest(fresh_server, tmp_path))
    assert again.wait(timeout=120) == 0, again.stderr.read()  # type: ignore[union-attr]
    visible_warcs_read_cleanly(storage)
    rows_point_at_whole_records(storage)


def test_ctrl_c_finishes_cleanly_with_exit_130(fresh_server: TestServer, tmp_path: Path) -> None:
    storage, proc = start_busy_run(fresh_server, tmp_path, 0.3, "--json")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 130
    stderr = proc.stderr.read()  # type: ignore[union-attr]
    assert "interrupted" in stderr and "Traceback" not in stderr
    partial = json.loads(proc.stdout.read())  # type: ignore[union-attr]
    assert partial["status"] == "interrupted"
    saved = sqlite3.connect(storage / "archiver.db").execute("SELECT count(*) FROM captures").fetchone()[0]
    assert partial["captured"] + partial["unchanged"] + partial["failed"] == saved
    assert not list((storage / "warcs").glob("*.open"))  # closed and renamed on the way out
    visible_warcs_read_cleanly(storage)
    rows_point_at_whole_records(storage)
    conn = sqlite3.connect(storage / "archiver.db")
    assert conn.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
    conn.close()


def test_sigterm_is_a_clean_stop_too(fresh_server: TestServer, tmp_path: Path) -> None:
    storage, proc = start_busy_run(fresh_server, tmp_path)
    proc.terminate()
    assert proc.wait(timeout=20) == 130
    assert not list((storage / "warcs").glob("*.open"))
    visible_warcs_read_cleanly(storage)


def _limit_file_size(limit: int):  # noqa: ANN202 - a preexec_fn
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_full_disk_is_a_clear_error_exit_4_and_loses_nothing(fresh_server: TestServer, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    # Warm the database up first so only WARC writing hits the limit.
    first = run(storage, "snapshot", fresh_server.url("page/before"), "--per-host-delay", "0")
    assert first.returncode == 0
    manifest = tmp_path / "many.txt"
    manifest.write_text("\n".join(fresh_server.url(f"random?size=600000&seed={i}") for i in range(12)))
    proc = subprocess.run(
        [ARCHIVER, "--storage", str(storage), "snapshot", str(manifest), "--per-host-delay", "0",
         "--concurrency", "2"],
        capture_output=True, text=True, timeout=60, preexec_fn=_limit_file_size(3_000_000),
        env={**os.environ, **LOCAL_ENV},
    )
    assert proc.returncode == 4, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("archiver: error:")]
    assert len(errors) == 1 and ("disk full" in errors[0] or "File too large" in errors[0]), proc.stderr
    assert "Traceback" not in proc.stderr
    run(storage, "snapshot", fresh_server.url("page/after"), "--per-host-delay", "0")  # recovers what is left open
    visible_warcs_read_cleanly(storage)
    rows_point_at_whole_records(storage)
    shown = run(storage, "show", fresh_server.url("page/before"))
    assert shown.returncode == 0 and "<title>before</title>" in shown.stdout
    # every WARC on disk is under the limit: the failed append was cut back
    assert all(p.stat().st_size <= 3_000_000 for p in (storage / "warcs").iterdir())



def warcs_hold_only_committed_records(storage: Path, db: Path) -> int:
    """Each WARC file the database lists is closed and holds exactly the records the database has
    rows for, in order, and nothing after them; returns how many records that is."""
    conn = sqlite3.connect(db)
    try:
        files = conn.execute("SELECT name, state, size FROM warc_files").fetchall()
        total = 0
        for name, state, size in files:
            rows = conn.execute('SELECT "offset", length, record_id FROM records WHERE warc = ? ORDER BY 1',
                                [name]).fetchall()
            with open(storage / name, "rb") as f:
                records = ArchiveIterator(f)
                found = [(records.get_record_offset(), records.get_record_length(),
                          r.rec_headers.get_header("WARC-Record-ID")) for r in records]
            assert state == "closed" and size == (storage / name).stat().st_size
            assert found == [tuple(r) for r in rows], name
            total += len(rows)
    finally:
        conn.close()
    assert not list((storage / "warcs").glob("*.open"))
    return total


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs of the test's own: a disk that fills up for real. Mounting needs root; the
    same fault is tested without root in tests/unit/test_run.py (a file size limit)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (tests/unit/test_run.py covers a failed commit without)")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        with contextlib.suppress(OSError):  # ENOSPC: full
            while True:
                f.write(b"\0" * 4096)
    return filler


def test_a_failed_commit_on_a_full_database_disk_keeps_no_uncommitted_record(
        fresh_server: TestServer, tmp_path: Path, small_disk: Path) -> None:
    """The database's disk fills up mid-run (the WARC files' disk does not): a commit fails after its
    records were appended. Neither the run's own close nor the next run's recovery may keep them."""
    storage, db = tmp_path / "storage", small_disk / "archiver.db"
    manifest = tmp_path / "slow.txt"
    manifest.write_text("\n".join(fresh_server.url(f"random?size=200000&seed={i}&pause=0.1") for i in range(40)))
    proc = subprocess.Popen(
        [ARCHIVER, "--storage", str(storage), "--db", str(db), "snapshot", str(manifest), "--per-host-delay", "0",
         "--per-host", "4", "--concurrency", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **LOCAL_ENV})
    deadline = time.monotonic() + 30
    while True:  # some captures committed, many to come
        assert time.monotonic() < deadline and proc.poll() is None, "the run ended before the disk filled"
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                if conn.execute("SELECT COUNT(*) FROM captures").fetchone()[0] >= 3:
                    break
        except sqlite3.OperationalError:
            pass  # not created yet
        time.sleep(0.05)
    filler = fill(small_disk)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 4, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("archiver: error:")]
    assert len(errors) == 1 and "full" in errors[0] and "Traceback" not in stderr, stderr
    filler.unlink()

    after = run(storage, "--db", str(db), "snapshot", fresh_server.url("page/after"), "--per-host-delay", "0")
    assert after.returncode == 0, after.stderr
    committed = sqlite3.connect(db).execute("SELECT COUNT(*) FROM captures").fetchone()[0]
    assert 3 <= committed < 41
    assert warcs_hold_only_committed_records(storage, db) >= 1 + 2 * committed
    visible_warcs_read_cleanly(storage)


def traced(tmp_path: Path, command: list[str]) -> list[str]:
    """The file syscalls of a real process (strace), in the order they were made."""
    strace = require_binary("strace", "apt-get install strace")
    log = tmp_path / "strace.log"
    done = subprocess.run([strace, "-f", "-qq", "-y", "-s", "0", "-o", str(log), "-e",
                           "trace=write,pwrite64,writev,pwritev,fsync,fdatasync,rename,renameat,renameat2",
                           *command], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **LOCAL_ENV, "ARCHIVER_BACKOFF": "0.05"})
    assert done.returncode == 0, done.stderr
    return log.read_text().splitlines()


def syscall_on(line: str, calls: str, path: str) -> bool:
    return re.search(rf"\b(?:{calls})\(\d+<[^>]*{path}>", line) is not None


def test_warc_bytes_reach_the_disk_before_the_rows_that_point_at_them_commit(
        fresh_server: TestServer, tmp_path: Path) -> None:
    """Read from the syscalls of a real snapshot: after WARC bytes are written, the file is
    fdatasynced before the database's write-ahead log takes a commit; a renamed WARC file's folder is
    fsynced before the commit that records it closed. Group commits: a sync per batch, not per record."""
    storage = tmp_path / "storage"
    manifest = tmp_path / "many.txt"
    manifest.write_text("\n".join(fresh_server.url(f"page/p{i}") for i in range(30)))
    lines = traced(tmp_path, [ARCHIVER, "--storage", str(storage), "snapshot", str(manifest), "--per-host-delay",
                              "0", "--quiet"])
    writes = "write|pwrite64|writev|pwritev"
    unsynced = renamed = False
    commits = warc_syncs = dir_syncs = 0
    for line in lines:
        if syscall_on(line, writes, r"\.warc\.gz\.open"):
            unsynced = True
        elif syscall_on(line, "fsync|fdatasync", r"\.warc\.gz\.open"):
            unsynced, warc_syncs = False, warc_syncs + 1
        elif re.search(r"\brename(?:at2?)?\(.*\.warc\.gz\.open", line):
            renamed = True
        elif syscall_on(line, "fsync", "/warcs"):
            renamed, dir_syncs = False, dir_syncs + 1
        elif syscall_on(line, writes, r"archiver\.db-wal"):
            assert not unsynced, f"a commit while WARC bytes were not yet synced: {line}"
            assert not renamed, f"a commit after a rename whose folder was not synced: {line}"
            commits += 1
    assert warc_syncs >= 2 and dir_syncs >= 2 and commits > warc_syncs  # the file's creation and its close
    records = sqlite3.connect(storage / "archiver.db").execute("SELECT COUNT(*) FROM records").fetchone()[0]
    assert records == 1 + 2 * 30
    assert warc_syncs <= 1 + 30 + 1  # its warcinfo, at most one per batch, its close: never one per record



def test_warc_names_leading_out_of_the_storage_folder_are_refused(fresh_server: TestServer, tmp_path: Path) -> None:
    """A tampered database points its rows at a WARC file outside the storage folder: show, export,
    verify and replay refuse to read it, and recovery neither cuts nor renames it (exit 4, one line
    naming the row)."""
    from archiver.archive import Archive
    from archiver.config import Settings
    from archiver.errors import StorageError
    from archiver.replay import build_collection

    storage, url = tmp_path / "storage", fresh_server.url("page/cited")
    manifest = tmp_path / "paper.txt"
    manifest.write_text(url + "\n")
    assert run(storage, "snapshot", str(manifest), "--per-host-delay", "0").returncode == 0
    conn = sqlite3.connect(storage / "archiver.db")
    [(name,)] = conn.execute("SELECT name FROM warc_files").fetchall()
    victim = tmp_path / "victim.warc.gz"
    shutil.copy(storage / name, victim)  # a good WARC file, but not ours to read
    outside = "warcs/../../victim.warc.gz"
    with conn:
        for table, column in (("captures", "warc"), ("records", "warc"), ("warc_files", "name")):
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", [outside, name])
    conn.close()
    for args in (["show", url], ["export", str(manifest), "-o", str(tmp_path / "out.warc.gz")], ["verify"]):
        done = run(storage, *args)
        assert done.returncode == 4, (args, done.stdout, done.stderr)
        assert f"names WARC file '{outside}', outside the storage folder" in done.stderr, done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("archiver: error:")]
        assert "Traceback" not in done.stderr and len(errors) == 1, done.stderr
        assert "capture 1 names" in errors[0] or args[0] != "show"
    with Archive(Settings(storage=storage), writing=False) as archive, \
            pytest.raises(StorageError, match="outside the storage folder"):
        build_collection(archive, None)

    # Recovery of a file the tampered database says is still open: refused, nothing touched.
    shutil.copy(victim, tmp_path / "victim.warc.gz.open")
    with sqlite3.connect(storage / "archiver.db") as conn:
        conn.execute("UPDATE warc_files SET state = 'open'")
    before = {p.name: p.read_bytes() for p in tmp_path.glob("victim.*")}
    done = run(storage, "snapshot", fresh_server.url("page/next"), "--per-host-delay", "0")
    assert done.returncode == 4, done.stderr
    assert f"warc_files row names WARC file '{outside}', outside the storage folder" in done.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.glob("victim.*")} == before


def test_a_second_writer_does_not_touch_a_live_open_file(fresh_server: TestServer, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    proc = start(storage, busy_manifest(fresh_server, tmp_path, n=30, pause=0.05))
    try:
        wait_for_open_warc(storage)
        live = list((storage / "warcs").glob("*.open"))
        assert live
        size_before = live[0].stat().st_size
        # another archiver on the same storage must not "recover" the file being written
        other = run(storage, "snapshot", fresh_server.url("page/other"), "--per-host-delay", "0")
        assert other.returncode == 0
        assert live[0].exists() and live[0].stat().st_size >= size_before
    finally:
        assert proc.wait(timeout=120) == 0
    visible_warcs_read_cleanly(storage)
    rows_point_at_whole_records(storage)
    os.sync()


def test_interrupted_append_is_cut_back(tmp_path: Path) -> None:
    """A second Ctrl-C in the middle of copying a capture must not leave half a record."""
    import io

    from archiver.db import ArchiveDB
    from archiver.storage import WarcStore

    class Exploding(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            if self.tell() > 0:
                raise KeyboardInterrupt
            return super().read(1000)

    db = ArchiveDB.open(tmp_path / "a.db")
    store = WarcStore(tmp_path, db, max_size=10**9, user_agent="t")
    store.append(io.BytesIO(b""), 0)  # opens the file and writes its warcinfo
    assert store.current is not None
    size = store.current.path.stat().st_size
    with pytest.raises(KeyboardInterrupt):
        store.append(Exploding(b"x" * 5000), 5000)
    assert store.current.path.stat().st_size == size
    store.close()
    db.close()
    visible_warcs_read_cleanly(tmp_path)


def test_another_database_never_touches_a_crashed_runs_file(fresh_server: TestServer, tmp_path: Path) -> None:
    storage, proc = start_busy_run(fresh_server, tmp_path)
    proc.kill()
    proc.wait(timeout=10)
    left = list((storage / "warcs").glob("*.open"))
    assert left
    sizes = {p: p.stat().st_size for p in left}
    other = run(storage, "--db", str(tmp_path / "other.db"), "snapshot", fresh_server.url("page/o"),
                "--per-host-delay", "0")
    assert other.returncode == 0, other.stderr
    assert {p: p.stat().st_size for p in left if p.exists()} == sizes  # untouched
    own = run(storage, "snapshot", fresh_server.url("page/own"), "--per-host-delay", "0")
    assert own.returncode == 0
    assert not list((storage / "warcs").glob("*.open"))


def test_ctrl_c_does_not_wait_out_a_long_retry_after(fresh_server: TestServer, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    proc = subprocess.Popen(
        [ARCHIVER, "--storage", str(storage), "snapshot", fresh_server.url("flaky?key=w&n=5&code=503&retry_after=50")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **LOCAL_ENV},
    )
    deadline = time.monotonic() + 10
    while not fresh_server.hits and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 130
    assert time.monotonic() - started < 5
