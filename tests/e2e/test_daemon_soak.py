"""Soak test for `archiver daemon`: ten minutes of 5-second schedules over ~200 URLs on ten host names,
against a server that flaps (200 / 503 / 404 / connection reset over time) and whose content changes
now and then, so new captures keep being written.

Not in the default run (marked slow); run it with

    python -m pytest -m slow tests/test_daemon_soak.py -s

SOAK_SECONDS sets the duration (default 600). It prints the run counts, failures, RSS at the start
(after a warm-up round) and at the end, and the size of what was written, and asserts that the
daemon's RSS grew by at most 20 %, that no run failed, and that the database and WARC files are whole.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ARCHIVER, LOCAL_ENV
from hostnames import loopback_env, loopback_names
from server import page
from test_crash import rows_point_at_whole_records, visible_warcs_read_cleanly

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))

# pyproject's 120 s timeout is for ordinary tests: this one runs for SECONDS plus warm-up and checks.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(SECONDS + 900)]
HOSTS = [f"s{i:02d}.soak.archiver.test" for i in range(10)]
MANIFESTS = 4
PER_MANIFEST = 50
INTERVAL = 5.0  # both schedules
WARM_UP = 30.0  # seconds after the first full round before the first RSS sample
FLAP_PERIOD = 7.0  # seconds a flapping URL keeps one behaviour
CHANGE_PERIOD = 45.0  # seconds a changing URL keeps one content
FETCH = ["--per-host-delay", "0.05", "--timeout", "2", "--total-timeout", "5"]


# -- a server that flaps ---------------------------------------------------------------------------


def kind_of(i: int) -> str:
    """Of every 20 URLs: 3 flap, 3 change content now and then, 14 are stable."""
    return "flap" if i % 20 in (1, 8, 15) else "change" if i % 20 in (4, 11, 17) else "stable"


class SoakHandler(http.server.BaseHTTPRequestHandler):
    """Same content for every Host; known names only (the checker's random-sibling probe gets a 404).
    Keeps counters, not a request log: the server must not grow for ten minutes either."""

    protocol_version = "HTTP/1.1"
    server: SoakServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        now = time.monotonic() - self.server.started
        answer = "404"
        try:
            if len(parts) == 2 and parts[1] in self.server.names.get(parts[0], ()):
                kind, name = parts
                seed = zlib.crc32(name.encode())
                if kind == "stable":
                    answer = "200"
                    self.send(200, page(name))
                elif kind == "change":
                    answer = "200"
                    version = int((now + seed % 40) // CHANGE_PERIOD)
                    self.send(200, page(f"{name} version {version}"))
                else:  # flap: a cycle of answers, each held for FLAP_PERIOD, shifted per URL
                    phase = int(now / FLAP_PERIOD + seed) % 6
                    answer = ("200", "200", "503", "404", "200", "reset")[phase]
                    if answer == "reset":
                        self.connection.close()
                        self.close_connection = True
                    elif answer == "404":
                        self.send(404, b"<html><title>Not Found</title>gone for now</html>")
                    elif answer == "503":
                        self.send(503, b"<html><title>503</title>try later</html>")
                    else:
                        self.send(200, page(name))
            else:
                self.send(404, b"<html><title>Not Found</title>nothing here</html>")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        with self.server.lock:
            self.server.answers[answer] += 1


class SoakServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, names: dict[str, set[str]]) -> None:
        super().__init__(("127.0.0.1", 0), SoakHandler)
        self.names = names
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.answers: Counter[str] = Counter()


@pytest.fixture()
def soak_server() -> Iterator[tuple[SoakServer, list[str]]]:
    names: dict[str, set[str]] = {"stable": set(), "change": set(), "flap": set()}
    paths = []
    for i in range(MANIFESTS * PER_MANIFEST):
        kind = kind_of(i)
        names[kind].add(f"u{i:03d}")
        paths.append(f"{kind}/u{i:03d}")
    srv = SoakServer(names)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    port = srv.server_address[1]
    urls = [f"http://{HOSTS[i % len(HOSTS)]}:{port}/{path}" for i, path in enumerate(paths)]
    try:
        yield srv, urls
    finally:
        srv.shutdown()
        srv.server_close()


# -- the daemon --------------------------------------------------------------------------------------


def proc_status(pid: int, field: str) -> int:
    """A number from /proc/PID/status: VmRSS (KiB), Threads."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for pid {pid}")


def rss_kib(pid: int) -> int:
    return proc_status(pid, "VmRSS")


def events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_daemon_soak(tmp_path: Path, soak_server: tuple[SoakServer, list[str]]) -> None:
    srv, urls = soak_server
    folder = tmp_path / "manifests"
    folder.mkdir()
    for m in range(MANIFESTS):
        chunk = urls[m * PER_MANIFEST:(m + 1) * PER_MANIFEST]
        lines = "".join(f"  - url: {url}\n    id: c{m}-{n}\n" for n, url in enumerate(chunk))
        (folder / f"paper{m}.yaml").write_text(f"schedule: {{snapshot: {INTERVAL:g}s, check: {INTERVAL:g}s}}\n"
                                               f"citations:\n{lines}")
    storage = tmp_path / "storage"
    log = tmp_path / "daemon.log"
    with open(log, "w") as log_file:
        proc = subprocess.Popen(
            [ARCHIVER, "--storage", str(storage), "daemon", "--manifests", str(folder), "--log-format", "json",
             *FETCH],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file, text=True,
            env={**os.environ, **LOCAL_ENV, "ARCHIVER_BACKOFF": "0.05",
                 **loopback_env(loopback_names(HOSTS, [srv.server_address[1]]))})
    try:
        began = time.monotonic()
        jobs = {(str(folder / f"paper{m}.yaml"), kind) for m in range(MANIFESTS) for kind in ("snapshot", "check")}

        # Warm-up: every job has run once, then WARM_UP seconds more (imports, caches, first captures).
        while {(e["manifest"], e["kind"]) for e in events(log) if e["event"] == "run"} != jobs:
            assert proc.poll() is None, log.read_text()[-5000:]
            assert time.monotonic() - began < 120, "the first round took over two minutes"
            time.sleep(0.5)
        first_round = time.monotonic() - began
        time.sleep(WARM_UP)
        measured_from = time.monotonic()
        rss_start = rss_kib(proc.pid)
        # Threads come and go with each run (fetch workers): a leak shows as a rising floor, so the
        # count is sampled every second and the lowest of the first and of the last minute compared.
        threads: list[tuple[float, int]] = []
        runs_at_start = sum(1 for e in events(log) if e["event"] == "run")
        samples = [(0, rss_start)]
        print(f"\nsoak: first round in {first_round:.1f} s; RSS after warm-up {rss_start / 1024:.1f} MiB")

        end = measured_from + SECONDS
        next_sample = measured_from + 60
        while time.monotonic() < end:
            assert proc.poll() is None, log.read_text()[-5000:]
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
            threads.append((time.monotonic() - measured_from, proc_status(proc.pid, "Threads")))
            if time.monotonic() >= next_sample:
                samples.append((round(next_sample - measured_from), rss_kib(proc.pid)))
                print(f"soak: +{samples[-1][0]:4d} s RSS {samples[-1][1] / 1024:.1f} MiB, "
                      f"{sum(1 for e in events(log) if e['event'] == 'run')} runs", flush=True)
                next_sample += 60
        rss_end = rss_kib(proc.pid)
        threads_start = min(n for t, n in threads if t <= 60)
        threads_end = min(n for t, n in threads if t >= SECONDS - 60)
        samples.append((round(time.monotonic() - measured_from), rss_end))
        runs_at_end = sum(1 for e in events(log) if e["event"] == "run")

        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        stop_seconds = time.monotonic() - stopping
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert code == 0, text[-5000:]

    # -- the log -------------------------------------------------------------------------------------
    log_events = events(log)
    runs = [e for e in log_events if e["event"] == "run"]
    per_kind = Counter(e["kind"] for e in runs)
    # Only the run in flight at SIGTERM may end "interrupted"; any other status is a failure.
    failed = [e for e in runs if e["status"] != "done" and not (e is runs[-1] and e["status"] == "interrupted")]
    counts: dict[str, Counter[str]] = {"snapshot": Counter(), "check": Counter()}
    for e in runs:
        counts[e["kind"]].update(e["counts"])
    elapsed = [e["elapsed"] for e in runs]
    # Jobs run one at a time, so they fall behind 5-second schedules: a job that comes due while its
    # previous turn still waits or runs skips that turn (a run_skipped event). Every line is JSON.
    skipped = sum(1 for e in log_events if e["event"] == "run_skipped")
    other = [line for line in text.splitlines() if line and not line.startswith("{")]
    measured = runs_at_end - runs_at_start
    scheduled = int(SECONDS / INTERVAL) * len(jobs)
    total = time.monotonic() - began

    # -- what was written ----------------------------------------------------------------------------
    warcs = sorted((storage / "warcs").glob("*.warc.gz"))
    warc_bytes = sum(p.stat().st_size for p in warcs)
    db_path = storage / "archiver.db"
    db_bytes = db_path.stat().st_size + sum(p.stat().st_size for p in storage.glob("archiver.db-*"))
    jobs_bytes = (storage / "daemon-jobs.db").stat().st_size
    with sqlite3.connect(db_path) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        files = db.execute("SELECT name, state, size FROM warc_files ORDER BY created_at, name").fetchall()
        db_runs = dict(db.execute("SELECT command, COUNT(*) FROM runs GROUP BY command").fetchall())
        run_states = dict(db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall())
        captures = db.execute("SELECT COUNT(*) FROM captures").fetchone()[0]

    print(f"soak: RSS samples (s, MiB): {[(t, round(kib / 1024, 1)) for t, kib in samples]}")
    print(f"soak: server answers {dict(srv.answers)}")
    print(f"soak: snapshot counts {dict(counts['snapshot'])}; check counts {dict(counts['check'])}")
    print(f"soak: job run time mean {sum(elapsed) / max(1, len(elapsed)):.2f} s, max {max(elapsed, default=0):.2f} s;"
          f" stopped {stop_seconds:.1f} s after SIGTERM; database runs {db_runs} {run_states}")
    print(f"SOAK SUMMARY: measured {SECONDS:.0f} s (total {total:.0f} s); runs {len(runs)} "
          f"(snapshot {per_kind['snapshot']}, check {per_kind['check']}); in the measured window {measured} of "
          f"{scheduled} scheduled ({measured / scheduled:.0%}); turns skipped {skipped}; failed runs {len(failed)}; "
          f"RSS start {rss_start / 1024:.1f} MiB, end {rss_end / 1024:.1f} MiB, ratio {rss_end / rss_start:.3f}; "
          f"threads (lowest in the first / last minute) {threads_start}, {threads_end}; "
          f"WARCs {len(warcs)} files, {warc_bytes / 1e6:.1f} MB, {captures} captures; "
          f"archiver.db {db_bytes / 1e6:.1f} MB; daemon-jobs.db {jobs_bytes / 1e3:.0f} kB")

    assert not failed, failed[:5]
    assert "internal error" not in text and not other, other[:20]
    assert [e["event"] for e in log_events][-1] == "stop"
    # Jobs run one at a time, so they may fall behind a 5-second rhythm; they must still keep going.
    assert measured >= 0.5 * scheduled, f"{measured} runs of {scheduled} scheduled"
    assert per_kind["snapshot"] and per_kind["check"]
    assert counts["snapshot"]["captured"] > 4 * PER_MANIFEST  # changing pages keep being captured
    assert rss_end <= 1.2 * rss_start, f"RSS grew from {rss_start} KiB to {rss_end} KiB: {samples}"
    assert threads_end <= threads_start + 2, f"the threads' floor rose from {threads_start} to {threads_end}"

    assert integrity == "ok"
    assert db_runs == {"snapshot": per_kind["snapshot"], "check": per_kind["check"]}
    assert run_states.get("done", 0) >= len(runs) - 1 and set(run_states) <= {"done", "interrupted"}
    open_files = [name for name, state, _ in files if state != "closed"]
    assert not open_files or open_files == [files[-1][0]], files  # at most the newest is still open
    for name, state, size in files:
        if state == "closed":
            assert (storage / name).stat().st_size == size, name
    assert len(warcs) == sum(1 for _, state, _ in files if state == "closed")
    visible_warcs_read_cleanly(storage)  # every record of every WARC reads, and warclint passes
    assert rows_point_at_whole_records(storage) > 0
