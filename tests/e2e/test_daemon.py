"""`archiver daemon` as a real process with second-scale schedules against the local test server:
jobs fire on time, restarts neither lose nor duplicate runs, edits are picked up, SIGTERM is clean,
one daemon per storage folder, politeness holds across jobs."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ARCHIVER, LOCAL_ENV, run
from server import TestServer
from test_crash import busy_manifest, rows_point_at_whole_records, visible_warcs_read_cleanly

from archiver import stamps

FETCH = ["--per-host-delay", "0", "--timeout", "2", "--total-timeout", "4"]


class Daemon:
    """A daemon subprocess whose JSON log lines are read as they come."""

    def __init__(self, storage: Path, manifests: Path, *extra: str) -> None:
        self.log_path = storage.parent / f"daemon-{time.monotonic_ns()}.log"
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ARCHIVER, "--storage", str(storage), "daemon", "--manifests", str(manifests), "--log-format", "json",
             "--rescan", "0.5", *FETCH, *extra],
            stdout=subprocess.DEVNULL, stderr=self.log_file, text=True,
            env={**os.environ, **LOCAL_ENV, "ARCHIVER_BACKOFF": "0.05"})
        self.started = time.monotonic()

    def events(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def runs(self, kind: str | None = None, manifest: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["event"] == "run" and (kind is None or e["kind"] == kind)
                and (manifest is None or e["manifest"].endswith(manifest))]

    def wait_for(self, predicate: Any, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.proc.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, self.log_path.read_text()
            time.sleep(0.05)

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.log_file.close()
        return code


@pytest.fixture()
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def write(path: Path, server: TestServer, schedule: str, pages: list[str]) -> Path:
    known = set(filter(None, server.state.get("articles", "").split(",")))
    server.state["articles"] = ",".join(sorted(known | set(pages)))
    urls = "\n".join(f"  - url: {server.url('article/' + p)}\n    id: {p}" for p in pages)
    path.write_text(f"schedule: {schedule}\ncitations:\n{urls}\n")
    return path


def times(runs: list[dict[str, Any]]) -> list[float]:
    return [stamps.parse(r["time"]).timestamp() for r in runs]


def test_jobs_fire_on_time(tmp_path: Path, fresh_server: TestServer, daemons: list[Daemon]) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    write(folder / "a.yaml", fresh_server, "{snapshot: 2s, check: 3s}", ["a1", "a2"])
    d = Daemon(tmp_path / "storage", folder)
    daemons.append(d)
    d.wait_for(lambda: len(d.runs("snapshot")) >= 4, timeout=15)
    assert d.stop() == 0
    snaps = times(d.runs("snapshot"))
    gaps = [b - a for a, b in zip(snaps, snaps[1:], strict=False)]
    print(f"snapshot gaps: {[round(g, 2) for g in gaps]}")
    # Log times have a resolution of one second; the schedule's jitter is 0.2 s.
    assert all(1 <= g <= 3 for g in gaps), gaps
    assert 1 <= len(d.runs("check")) <= 4
    runs = d.runs()
    assert all(r["status"] == "done" for r in runs[:-1]) and runs[-1]["status"] in ("done", "interrupted")
    assert d.runs("snapshot")[0]["counts"]["captured"] == 2
    assert [e["event"] for e in d.events()][-1] == "stop"
    assert all(line.startswith("{") for line in d.log_path.read_text().splitlines())  # JSON only
    # Every run of the day appended to one WARC file, closed and hashed on stop.
    storage = tmp_path / "storage"
    assert len(list((storage / "warcs").glob("*.warc.gz"))) == 1 and not list((storage / "warcs").glob("*.open"))
    with sqlite3.connect(storage / "archiver.db") as db:
        assert db.execute("SELECT state, COUNT(*) FROM warc_files GROUP BY state").fetchall() == [("closed", 1)]
    visible_warcs_read_cleanly(storage)
    assert rows_point_at_whole_records(storage) >= 2 * len(snaps)


def test_a_file_per_run_and_a_kill_between_runs(tmp_path: Path, fresh_server: TestServer,
                                                daemons: list[Daemon]) -> None:
    """--warc-roll 0s: each run closes its own file. With the default, a daemon killed (-9) between
    runs leaves its carried file .open with whole records; the next daemon recovers and closes it."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    write(folder / "a.yaml", fresh_server, "{snapshot: 1s, check: 1d}", ["k1", "k2"])
    apart = tmp_path / "apart"
    d = Daemon(apart, folder, "--warc-roll", "0s")
    daemons.append(d)
    d.wait_for(lambda: len(d.runs()) >= 3)
    assert d.stop() == 0
    assert len(list((apart / "warcs").glob("*.warc.gz"))) == len(d.runs())

    storage = tmp_path / "storage"
    d = Daemon(storage, folder)
    daemons.append(d)
    d.wait_for(lambda: len(d.runs()) >= 3)
    time.sleep(0.3)  # between runs (they take a few hundredths of a second)
    d.proc.kill()
    d.proc.wait()
    assert len(list((storage / "warcs").glob("*.open"))) == 1
    before = rows_point_at_whole_records(storage)
    again = Daemon(storage, folder)
    daemons.append(again)
    again.wait_for(lambda: len(again.runs("snapshot")) >= 1)
    assert again.stop() == 0
    assert not list((storage / "warcs").glob("*.open"))
    with sqlite3.connect(storage / "archiver.db") as db:
        assert db.execute("SELECT state, COUNT(*) FROM warc_files GROUP BY state").fetchall() == [("closed", 2)]
    visible_warcs_read_cleanly(storage)
    assert rows_point_at_whole_records(storage) > before


def test_restart_neither_loses_nor_duplicates_runs(tmp_path: Path, fresh_server: TestServer,
                                                   daemons: list[Daemon]) -> None:
    """The downtime is the clock's: a daemon ran an hour ago (by its clock), so ~900 turns of a 4 s
    snapshot were missed; the real daemon started now runs one catch-up, then keeps the rhythm."""
    import io

    from archiver.config import Settings
    from archiver.daemon import Daemon as Scheduler
    from archiver.status import next_runs

    folder = tmp_path / "manifests"
    folder.mkdir()
    path = str(write(folder / "a.yaml", fresh_server, "{snapshot: 4s, check: 1d}", ["r1"]))
    storage = tmp_path / "storage"
    settings = Settings(storage=storage, per_host_delay=0, timeout=2, total_timeout=4, backoff=0.05,
                        allow_private=True)  # the test server is on 127.0.0.1
    hour_ago = stamps.now() - dt.timedelta(hours=1)
    log = io.StringIO()
    assert Scheduler(settings, folder, log_format="json", out=log, clock=lambda: hour_ago).once() == 0
    ran = [json.loads(line) for line in log.getvalue().splitlines()]
    assert sorted(e["kind"] for e in ran if e["event"] == "run") == ["check", "snapshot"]
    # Start the daemon just after a point of the snapshot's grid: the catch-up run comes well before
    # the next point, 4 s on (as a daemon restarted mid-interval would see it).
    slot = next_runs(storage)[f"{path}:snapshot"]
    assert slot < stamps.now() - dt.timedelta(minutes=50)
    slot += dt.timedelta(seconds=4) * ((stamps.now() - slot) // dt.timedelta(seconds=4) + 1)
    time.sleep((slot - stamps.now()).total_seconds() + 0.2)
    second = Daemon(storage, folder)
    daemons.append(second)
    second.wait_for(lambda: len(second.runs("snapshot")) >= 1, timeout=5)
    time.sleep(1.0)
    caught_up = second.runs("snapshot")
    assert len(caught_up) == 1, caught_up  # coalesced: one catch-up run, not one per missed slot
    second.wait_for(lambda: len(second.runs("snapshot")) >= 2, timeout=6)  # then the normal rhythm
    assert second.stop() == 0
    assert second.runs("check") == []  # the daily check kept its next run time: not re-run on restart
    assert not [e for e in second.events() if e["event"] == "job_added"]
    with sqlite3.connect(storage / "archiver.db") as db:
        runs = db.execute("SELECT command, COUNT(*) FROM runs GROUP BY command").fetchall()
    assert dict(runs) == {"check": 1, "snapshot": 1 + len(second.runs("snapshot"))}


def test_edits_are_picked_up_without_restart(tmp_path: Path, fresh_server: TestServer,
                                             daemons: list[Daemon]) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    a = write(folder / "a.yaml", fresh_server, "{snapshot: 1d, check: 1d}", ["e1"])
    d = Daemon(tmp_path / "storage", folder, "--rescan", "3600")  # only SIGHUP rescans here
    daemons.append(d)
    d.wait_for(lambda: len(d.runs("check")) == 1)
    write(a, fresh_server, "{snapshot: 2s, check: 1d}", ["e1", "e2"])
    write(folder / "b.yaml", fresh_server, "{snapshot: 1d, check: 1d}", ["b1"])
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for(lambda: len(d.runs("snapshot", "a.yaml")) >= 3, timeout=10)
    assert d.runs("snapshot", "a.yaml")[-1]["counts"]["captured"] + \
        d.runs("snapshot", "a.yaml")[-1]["counts"]["unchanged"] == 2  # the edited citation list is used
    d.wait_for(lambda: len(d.runs("snapshot", "b.yaml")) == 1)
    (folder / "b.yaml").unlink()
    (folder / "broken.yaml").write_text("citations: [\n")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for(lambda: any(e["event"] == "job_removed" for e in d.events()))
    d.wait_for(lambda: any(e["event"] == "manifest_error" for e in d.events()))
    assert d.stop() == 0
    events = [e["event"] for e in d.events()]
    assert "job_rescheduled" in events
    error = next(e for e in d.events() if e["event"] == "manifest_error")
    assert "broken.yaml" in error["error"]


def test_sigterm_mid_run_leaves_readable_warcs_and_a_consistent_database(
        tmp_path: Path, fresh_server: TestServer, daemons: list[Daemon]) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    busy = busy_manifest(fresh_server, tmp_path, n=40, size=400_000, pause=0.01)
    (folder / "busy.txt").write_text(busy.read_text())
    storage = tmp_path / "storage"
    d = Daemon(storage, folder, "--concurrency", "8", "--per-host", "4")
    daemons.append(d)
    deadline = time.monotonic() + 15
    while not list((storage / "warcs").glob("*.open")) if (storage / "warcs").exists() else True:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    started = time.monotonic()
    assert d.stop() == 0
    assert time.monotonic() - started < 10
    runs = d.runs("snapshot")
    assert runs and runs[0]["status"] == "interrupted"
    visible_warcs_read_cleanly(storage)
    assert rows_point_at_whole_records(storage) > 0
    with sqlite3.connect(storage / "archiver.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
        assert db.execute("SELECT COUNT(*) FROM warc_files WHERE state = 'open'").fetchone()[0] == 0
    # The weekly snapshot that was cut short runs again on restart, not a week later.
    again = Daemon(storage, folder, "--concurrency", "8", "--per-host", "4")
    daemons.append(again)
    again.wait_for(lambda: again.runs("snapshot"), timeout=30)
    assert again.stop() == 0
    assert again.runs("snapshot")[0]["status"] == "done"
    assert [e for e in again.events() if e["event"] == "job_resumed"][0]["kind"] == "snapshot"
    with sqlite3.connect(storage / "archiver.db") as db:
        assert db.execute("SELECT status FROM runs WHERE command = 'snapshot' ORDER BY id").fetchall() == [
            ("interrupted",), ("done",)]


def test_a_turn_that_comes_due_while_the_last_one_runs_is_logged(
        tmp_path: Path, fresh_server: TestServer, daemons: list[Daemon]) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "slow.yaml").write_text("schedule: {snapshot: 1s, check: 1d}\ncitations:\n"
                                      f"  - url: {fresh_server.url('slow?delay=2.5')}\n")
    d = Daemon(tmp_path / "storage", folder, "--timeout", "5", "--total-timeout", "8")
    daemons.append(d)
    d.wait_for(lambda: any(e["event"] == "run_skipped" for e in d.events()), timeout=15)
    assert d.stop() == 0
    skipped = next(e for e in d.events() if e["event"] == "run_skipped")
    assert skipped["kind"] == "snapshot" and skipped["manifest"].endswith("slow.yaml")
    assert all(line.startswith("{") for line in d.log_path.read_text().splitlines())


def test_a_vanished_manifests_folder_does_not_stop_the_daemon(
        tmp_path: Path, fresh_server: TestServer, daemons: list[Daemon]) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    write(folder / "a.yaml", fresh_server, "{snapshot: 2s, check: 1d}", ["v1"])
    d = Daemon(tmp_path / "storage", folder)
    daemons.append(d)
    d.wait_for(lambda: d.runs("check"))
    folder.rename(tmp_path / "elsewhere")  # an unmounted share, a botched deploy
    d.wait_for(lambda: any(e["event"] == "rescan_error" for e in d.events()))
    (tmp_path / "elsewhere").rename(folder)
    seen = len(d.runs("snapshot"))
    d.wait_for(lambda: len(d.runs("snapshot")) >= seen + 2, timeout=10)  # the jobs kept their schedule
    assert d.stop() == 0
    errors = [e for e in d.events() if e["event"] == "rescan_error"]
    assert len(errors) == 1 and "manifests" in errors[0]["error"]
    assert not [e for e in d.events() if e["event"] == "job_removed"]


def test_second_daemon_is_refused(tmp_path: Path, fresh_server: TestServer, daemons: list[Daemon]) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    write(folder / "a.yaml", fresh_server, "{snapshot: 1d, check: 1d}", ["s1"])
    storage = tmp_path / "storage"
    d = Daemon(storage, folder)
    daemons.append(d)
    d.wait_for(lambda: any(e["event"] == "start" for e in d.events()))
    second = run(storage, "daemon", "--manifests", str(folder), timeout=20)
    assert second.returncode == 75
    assert f"pid {d.proc.pid}" in second.stderr and "daemon.lock" in second.stderr
    once = run(storage, "daemon", "--manifests", str(folder), "--once", timeout=20)
    assert once.returncode == 75  # a cron run must not race the daemon either
    status = run(storage, "status", "--manifests", str(folder), "--json")
    assert status.returncode == 0
    assert f"pid {d.proc.pid}" in json.loads(status.stdout)["daemon"]
    assert d.stop() == 0
    assert run(storage, "daemon", "--manifests", str(folder), "--once", timeout=30).returncode == 0


def test_once_runs_what_is_due_and_status_shows_it(tmp_path: Path, fresh_server: TestServer) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    write(folder / "a.yaml", fresh_server, "{snapshot: 1h, check: 2h}", ["o1", "o2"])
    storage = tmp_path / "storage"
    first = run(storage, "daemon", "--manifests", str(folder), "--once", "--log-format", "json", *FETCH, timeout=30)
    assert first.returncode == 0, first.stderr
    ran = [json.loads(line) for line in first.stderr.splitlines() if line.startswith("{")]
    assert sorted(e["kind"] for e in ran if e["event"] == "run") == ["check", "snapshot"]
    again = run(storage, "daemon", "--manifests", str(folder), "--once", "--log-format", "json", timeout=30)
    assert '"jobs": 0' in again.stderr  # nothing is due an hour early
    status = json.loads(run(storage, "status", "--manifests", str(folder), "--json").stdout)
    (entry,) = status["manifests"]
    assert entry["schedule"] == {"snapshot": "1h", "check": "2h"}
    assert entry["verdicts"] == {"alive": 2}
    assert entry["last"]["snapshot"]["status"] == "done"
    assert entry["next"]["check"] > entry["next"]["snapshot"] > entry["last"]["check"]["started_at"]
    assert status["daemon"] is None
    table = run(storage, "status", "--manifests", str(folder))
    assert "every 1h" in table.stdout and "2 alive" in table.stdout



def test_sigterm_stops_once_before_the_next_due_job(tmp_path: Path, fresh_server: TestServer) -> None:
    """`daemon --once` (archiver-once.service) stopped by systemd mid-run: the run in flight is cut
    short, no later due job starts, and it exits 130 as the unit says."""
    folder, storage = tmp_path / "manifests", tmp_path / "storage"
    folder.mkdir()
    for k, name in enumerate("ab", 1):  # every job slow: whichever runs first is the one the signal cuts
        urls = "".join(f"  - url: {fresh_server.url(f'random?size=1500000&seed={k}{i}&pause=0.05')}\n"
                       for i in range(3))
        (folder / f"{name}.yaml").write_text(f"schedule: {{snapshot: 7d, check: 1d}}\ncitations:\n{urls}")
    log = tmp_path / "once.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([ARCHIVER, "--storage", str(storage), "daemon", "--manifests", str(folder), "--once",
                                 "--log-format", "json", "--per-host-delay", "0", "--total-timeout", "20"],
                                stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, **LOCAL_ENV, "ARCHIVER_BACKOFF": "0.05"})
        deadline = time.monotonic() + 20
        while not fresh_server.hits:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 130, log.read_text()
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(e["event"] == "signal" and e["signal"] == "SIGTERM" for e in events)
    runs = [e for e in events if e["event"] == "run"]
    assert len(runs) == 1 and runs[0]["status"] == "interrupted", events
    first = "_ab".index(Path(runs[0]["manifest"]).stem)
    assert {int(hit.path.split("seed=")[1][0]) for hit in fresh_server.hits} == {first}  # no other job fetched
    with sqlite3.connect(storage / "archiver.db") as conn:
        assert conn.execute("SELECT command, status FROM runs").fetchall() == [(runs[0]["kind"], "interrupted")]
    # What did not run is still due: the next --once runs it (and the interrupted run again).
    again = run(storage, "daemon", "--manifests", str(folder), "--once", "--log-format", "json", "--per-host-delay",
                "0", "--total-timeout", "20", timeout=120)
    assert again.returncode == 0, again.stderr
    logged = [json.loads(line) for line in again.stderr.splitlines() if line.startswith("{")]
    ran = sorted((Path(e["manifest"]).stem, e["kind"]) for e in logged if e["event"] == "run")
    assert ran == [("a", "check"), ("a", "snapshot"), ("b", "check"), ("b", "snapshot")]



def test_a_job_store_others_may_write_is_refused_in_one_line(tmp_path: Path, fresh_server: TestServer) -> None:
    """The job store holds pickled jobs: one that group or others may write is refused (exit 4)."""
    folder, storage = tmp_path / "manifests", tmp_path / "storage"
    folder.mkdir()
    write(folder / "a.yaml", fresh_server, "{snapshot: 7d, check: 1d}", ["j1"])
    assert run(storage, "daemon", "--manifests", str(folder), "--once", *FETCH, timeout=30).returncode == 0
    store = storage / "daemon-jobs.db"
    assert store.stat().st_mode & 0o777 == 0o600
    store.chmod(0o666)
    for once in (["--once"], []):
        done = run(storage, "daemon", "--manifests", str(folder), *once, *FETCH, timeout=30)
        assert done.returncode == 4, done.stderr
        assert done.stderr.splitlines() == [
            f"archiver: error: {store}: refusing the daemon's job store: it is writable by group or others"
            " (mode 0666); its jobs are pickled, so writing it means running code as the daemon (check it, then"
            " chown it to this user and chmod 600 it, or remove it: the daemon makes a new one)"]



def test_a_failed_run_is_retried_a_minute_later_and_a_stop_keeps_the_retry(
        tmp_path: Path, fresh_server: TestServer, daemons: list[Daemon]) -> None:
    """Under serve(): a run that fails (here its WARC folder is a file) gets its retry in the job
    store, and the daemon still stops at once on SIGTERM."""
    from archiver.status import next_runs

    folder, storage = tmp_path / "manifests", tmp_path / "storage"
    folder.mkdir()
    storage.mkdir()
    (storage / "warcs").write_text("")
    write(folder / "a.yaml", fresh_server, "{snapshot: 7d, check: 1d}", ["r1"])
    d = Daemon(storage, folder)
    daemons.append(d)
    d.wait_for(lambda: len([e for e in d.events() if e["event"] == "run_retry"]) == 2)
    assert d.stop() == 0
    retries = {e["kind"]: e for e in d.events() if e["event"] == "run_retry"}
    assert {e["status"] for e in d.runs()} == {"failed"}
    for kind, event in retries.items():
        failed = next(e for e in d.runs(kind))
        assert event["retry"] == 1
        delay = stamps.parse(event["at"]) - stamps.parse(failed["time"])  # both to the second
        assert dt.timedelta(seconds=60) <= delay <= dt.timedelta(seconds=62)
    stored = next_runs(storage)
    assert {key.rsplit(":", 1)[1]: stamps.iso(when, "seconds") for key, when in stored.items()} == {
        kind: event["at"] for kind, event in retries.items()}


def test_politeness_holds_across_jobs(tmp_path: Path, fresh_server: TestServer, daemons: list[Daemon]) -> None:
    """Two manifests citing one host: its requests never overlap and keep the delay, whichever job
    sends them."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    for name in ("a", "b", "c"):
        write(folder / f"{name}.yaml", fresh_server, "{snapshot: 2s, check: 1d}", [f"{name}{i}" for i in range(3)])
    d = Daemon(tmp_path / "storage", folder, "--per-host-delay", "0.4")
    daemons.append(d)
    d.wait_for(lambda: len(d.runs("snapshot")) >= 6, timeout=30)
    assert d.stop() == 0
    hits = sorted((h for h in fresh_server.hits if h.path.startswith("/article/")), key=lambda h: h.started)
    assert len(hits) >= 18
    gaps = [b.started - a.ended for a, b in zip(hits, hits[1:], strict=False)]
    assert min(gaps) >= 0.35, sorted(gaps)[:5]


def test_status_before_the_first_run_shows_schedules_by_kind(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "a.yaml").write_text("schedule: {snapshot: '0 3 * * 1', check: 12h}\n"
                                   "citations:\n  - url: https://example.org/a\n")
    (folder / "b.txt").write_text("https://example.org/b\n")
    out = run(tmp_path / "storage", "status", "--manifests", str(folder))
    assert out.returncode == 0, out.stderr
    assert "daemon: not running" in out.stdout
    lines = out.stdout.splitlines()
    assert any("snapshot" in line and "cron 0 3 * * 1" in line and " never " in line for line in lines)
    assert any("check" in line and "every 12h" in line and "not scheduled" in line for line in lines)
    assert any("snapshot" in line and "every 7d" in line for line in lines)  # the defaults for .txt
    assert lines.count("  citations: 1 unchecked") == 2
    assert all(len(line) <= 100 for line in lines)


def test_turns_queued_at_a_stop_run_at_the_next_start(tmp_path: Path, fresh_server: TestServer,
                                                      daemons: list[Daemon]) -> None:
    """Jobs run one at a time: at SIGTERM one snapshot runs (cut short) and the other waits in the
    queue, its next run already moved a day on by APScheduler. Both run at once on restart."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / f"{name}.yaml").write_text("schedule: {snapshot: 1d, check: 1d}\ncitations:\n"
                                             f"  - url: {fresh_server.url(f'slow/{name}?delay=3')}\n")
    storage = tmp_path / "storage"
    first = Daemon(storage, folder, "--timeout", "10", "--total-timeout", "15")
    daemons.append(first)
    first.wait_for(lambda: any(h.path.startswith("/slow/") for h in fresh_server.hits))
    time.sleep(0.5)
    assert first.stop() == 0
    events = first.events()
    assert [e["status"] for e in first.runs("snapshot")] == ["interrupted"]
    assert any(e["event"] == "turn_kept" and e["kind"] == "snapshot" for e in events)
    again = Daemon(storage, folder, "--timeout", "10", "--total-timeout", "15")
    daemons.append(again)
    again.wait_for(lambda: len([r for r in again.runs("snapshot") if r["status"] == "done"]) == 2, timeout=30)
    assert again.stop() == 0
    assert sorted(Path(r["manifest"]).name for r in again.runs("snapshot")) == ["a.yaml", "b.yaml"]


def test_an_idle_daemon_closes_its_warc_file_when_it_is_old(tmp_path: Path, fresh_server: TestServer,
                                                           daemons: list[Daemon]) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    write(folder / "a.yaml", fresh_server, "{snapshot: 1d, check: 1d}", ["i1"])
    storage = tmp_path / "storage"
    d = Daemon(storage, folder, "--warc-roll", "2s")
    daemons.append(d)
    d.wait_for(lambda: d.runs("check"))
    assert list((storage / "warcs").glob("*.open"))  # carried after the runs, for the next ones
    d.wait_for(lambda: not list((storage / "warcs").glob("*.open")), timeout=10)  # no run needed
    assert d.proc.poll() is None
    assert d.stop() == 0
    with sqlite3.connect(storage / "archiver.db") as db:
        assert db.execute("SELECT state, COUNT(*) FROM warc_files GROUP BY state").fetchall() == [("closed", 1)]


def test_jobs_stored_by_an_older_archiver_move_to_the_grid(tmp_path: Path, fresh_server: TestServer) -> None:
    """A job store written with APScheduler's jittered IntervalTrigger (before the grid) is moved to
    the grid trigger on start, keeping each job's next run time."""

    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    from archiver.daemon import run_job
    from archiver.schedule import GridTrigger

    folder = tmp_path / "manifests"
    folder.mkdir()
    path = str(write(folder / "a.yaml", fresh_server, "{snapshot: 2h, check: 1d}", ["u1"]))
    storage = tmp_path / "storage"
    storage.mkdir()

    def job_store() -> BackgroundScheduler:
        scheduler = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(
            url=f"sqlite:///{storage / 'daemon-jobs.db'}")}, timezone=dt.UTC)
        scheduler.start(paused=True)
        return scheduler

    old = job_store()
    when = (stamps.now() + dt.timedelta(hours=1)).replace(microsecond=0)
    for kind, spec, seconds in (("snapshot", "2h", 7200), ("check", "1d", 86400)):
        old.add_job(run_job, IntervalTrigger(seconds=seconds, jitter=seconds / 10), args=[path, kind],
                    id=f"{path}:{kind}", name=f"{kind} {spec}", next_run_time=when)
    old.shutdown(wait=False)
    once = run(storage, "daemon", "--manifests", str(folder), "--once", "--log-format", "json", timeout=30)
    assert once.returncode == 0 and '"jobs": 0' in once.stderr  # nothing due: nothing ran
    new = job_store()
    try:
        jobs = new.get_jobs()
    finally:
        new.shutdown(wait=False)
    assert len(jobs) == 2 and {type(job.trigger) for job in jobs} == {GridTrigger}
    assert {job.next_run_time for job in jobs} == {when}
