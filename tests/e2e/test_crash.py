"""Crash safety: kill -9, Ctrl-C and a full disk never leave an unreadable WARC or a database row
pointing at an incomplete record."""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ARCHIVER, LOCAL_ENV, run
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
