"""`--cluster`: snapshot and check on real Dask processes, against a local run of the same manifest.

A `dask scheduler` and two `dask worker` processes on loopback; a snapshot of 300 URLs over 60 host
names (the resolver override sends them all to one test server); one worker killed with SIGKILL once
the first tasks are recorded. Every URL must be recorded once, the WARC files whole (warcio, the
linter, `archiver verify` with no warning: the dead task's partial file is swept), and the database
the same as a local run's, URL by URL. Then a check on `local:2` (a LocalCluster), against a local check.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ARCHIVER, LOCAL_ENV, require_module, run
from hostnames import loopback_env, loopback_names
from server import TestServer
from test_crash import rows_point_at_whole_records, visible_warcs_read_cleanly

pytestmark = pytest.mark.timeout(150)

HOSTS = [f"h{i:02d}.cluster.archiver.test" for i in range(60)]
PER_HOST = 5
DASK = str(Path(sys.executable).with_name("dask"))
FETCH = ["--per-host-delay", "0.15", "--timeout", "3", "--total-timeout", "8", "--concurrency", "16",
         "--capture", "http"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestServer, Path, dict[str, str]]]:
    """The test server, a manifest of its URLs under 60 names, and the environment that resolves them."""
    with TestServer() as srv:
        folder = tmp_path_factory.mktemp("manifest")
        manifest = folder / "many-hosts.txt"
        manifest.write_text("".join(f"http://{host}:{srv.port}/page/{host}-{n}\n"
                                    for host in HOSTS for n in range(PER_HOST)))
        env = {**LOCAL_ENV, **loopback_env(loopback_names(HOSTS, [srv.port]))}
        yield srv, manifest, env


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """`dask scheduler` and two `dask worker` processes (no nanny: SIGKILL ends a worker for good).
    For the module: the first test kills a worker, the last one the scheduler."""
    tmp_path = tmp_path_factory.mktemp("dask")
    distributed = require_module("distributed", "pip install 'archiver[cluster]'")
    address = f"tcp://127.0.0.1:{free_port()}"
    logs = open(tmp_path / "dask.log", "wb")  # noqa: SIM115  # closed below, after the processes
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                               "--no-dashboard"], stdout=logs, stderr=logs)]
    workers = [subprocess.Popen([DASK, "worker", address, "--nthreads", "2", "--nworkers", "1", "--no-nanny",
                                 "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}"], stdout=logs, stderr=logs)
               for i in range(2)]
    procs += workers
    try:
        client = distributed.Client(address, timeout=30)
        client.wait_for_workers(2, timeout=30)
        client.close()
        yield address, procs  # the scheduler, then the workers
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        logs.close()


def captures(storage: Path) -> dict[str, list[tuple[Any, ...]]]:
    """URL -> its captures as (run, HTTP status, payload sha256, record type), every row."""
    conn = sqlite3.connect(f"file:{storage / 'archiver.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT fetch_url, run_id, http_status, payload_sha256, record_type FROM captures"
                            " ORDER BY id").fetchall()
    finally:
        conn.close()
    out: dict[str, list[tuple[Any, ...]]] = {}
    for url, *rest in rows:
        out.setdefault(url, []).append(tuple(rest))
    return out


def recorded(storage: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{storage / 'archiver.db'}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM captures").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def content(storage: Path) -> dict[str, tuple[Any, ...]]:
    """URL -> (HTTP status, payload sha256, record type) of its one capture: what a run's database says."""
    rows = captures(storage)
    assert all(len(r) == 1 for r in rows.values()), [u for u, r in rows.items() if len(r) != 1][:5]
    return {url: r[0][1:] for url, r in rows.items()}


def verify_clean(storage: Path, env: dict[str, str]) -> None:
    done = run(storage, "verify", env=env)
    assert done.returncode == 0, done.stderr
    assert "0 problems, 0 warnings" in done.stderr, done.stderr
    visible_warcs_read_cleanly(storage)
    assert rows_point_at_whole_records(storage) > 0
    assert not list((storage / "warcs").glob("*.open"))


def test_a_worker_killed_mid_run_loses_nothing_and_records_nothing_twice(
        tmp_path: Path, web: tuple[TestServer, Path, dict[str, str]],
        scheduler: tuple[str, list[subprocess.Popen[bytes]]]) -> None:
    srv, manifest, env = web
    address, procs = scheduler
    workers = procs[1:]
    local, remote = tmp_path / "local", tmp_path / "remote"
    done = run(local, "snapshot", str(manifest), *FETCH, "-q", env=env, timeout=90)
    assert done.returncode == 0, done.stderr
    expected = content(local)
    assert len(expected) == len(HOSTS) * PER_HOST

    proc = subprocess.Popen([ARCHIVER, "--storage", str(remote), "snapshot", str(manifest), *FETCH, "--json", "-q",
                             "--cluster", address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ARCHIVER_BACKOFF": "0.05", **env})
    deadline = time.monotonic() + 60
    while recorded(remote) == 0:  # the first task's rows are in: tasks are running on both workers
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    at_kill = recorded(remote)
    workers[0].send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert at_kill < len(expected), "the run was over before the worker was killed: nothing tested"

    assert content(remote) == expected  # every URL once, each as the local run saw it
    assert summary["captured"] == len(expected) and summary["status"] == "done"
    # The summary's URLs come back from the run's log on disk: every one, once, as recorded.
    listed = {u["fetch_url"]: (u["http_status"], u["sha256"]) for u in summary["urls"]}
    assert len(summary["urls"]) == len(listed) == len(expected) and summary["unattempted"] == []
    assert listed == {url: row[:2] for url, row in expected.items()}
    assert set(summary["workers"]) <= {"w0", "w1"} and sum(summary["workers"].values()) == len(expected)
    assert summary["workers"].get("w1", 0) > 0
    # The killed worker was mid-task: its partial file was removed (and its URLs fetched again above).
    assert any("WARC file(s) of cluster tasks that did not complete" in n for n in summary["notices"]), summary
    verify_clean(remote, env)


def test_local_cluster_check_matches_a_local_run(
        tmp_path: Path, web: tuple[TestServer, Path, dict[str, str]]) -> None:
    """A check (a capture that is also judged: soft-404 probes, statuses) on `local:2`, started by the run."""
    require_module("distributed", "pip install 'archiver[cluster]'")
    srv, manifest, env = web
    small = tmp_path / "small.txt"
    small.write_text("".join(manifest.read_text().splitlines(keepends=True)[:100]))
    statuses: dict[str, dict[str, str]] = {}
    for name, extra in (("local", []), ("cluster", ["--cluster", "local:2"])):
        storage = tmp_path / name
        done = run(storage, "check", str(small), *FETCH, "--json", *extra, env=env, timeout=90)
        assert done.returncode in (0, 1), done.stderr
        statuses[name] = {c["url"]: c["status"] for c in json.loads(done.stdout)}
        assert len(statuses[name]) == 100
        verify_clean(storage, env)
    assert statuses["cluster"] == statuses["local"]
    assert content(tmp_path / "cluster") == content(tmp_path / "local")


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGKILL, -signal.SIGKILL)],
                         ids=["ctrl-c", "kill-9"])
def test_stopped_then_run_again_records_every_url_once(
        tmp_path: Path, web: tuple[TestServer, Path, dict[str, str]],
        scheduler: tuple[str, list[subprocess.Popen[bytes]]], stop: signal.Signals, code: int) -> None:
    """Ctrl-C stops at the next task's result; kill -9 at once. Either way the rows kept point at whole
    records, and the next run records the rest and removes what the stopped run's tasks left."""
    srv, manifest, env = web
    address, _ = scheduler
    storage = tmp_path / "stopped"
    command = [ARCHIVER, "--storage", str(storage), "snapshot", str(manifest), *FETCH, "-q", "--json",
               "--cluster", address]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ARCHIVER_BACKOFF": "0.05", **env})
    deadline = time.monotonic() + 60
    while recorded(storage) == 0:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(stop)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    first = captures(storage)
    assert 0 < len(first) < len(HOSTS) * PER_HOST and all(len(r) == 1 for r in first.values())
    if stop == signal.SIGINT:  # the --json of a stopped run: what was recorded, and every URL it never finished
        summary = json.loads(out)
        done_urls = [u["fetch_url"] for u in summary["urls"]]
        assert summary["status"] == "interrupted" and set(done_urls) == set(first)
        assert sorted(done_urls + summary["unattempted"]) == sorted(manifest.read_text().split())
    assert rows_point_at_whole_records(storage) > 0

    done = run(storage, "snapshot", str(manifest), *FETCH, "-q", "--cluster", address, env=env, timeout=90)
    assert done.returncode == 0, done.stderr
    again = captures(storage)
    assert len(again) == len(HOSTS) * PER_HOST
    assert all(len(rows) == (2 if url in first else 1) for url, rows in again.items())
    verify_clean(storage, env)  # what the stopped run's last tasks wrote after it had gone is removed


CLIENT_PEAK = """
import sys, tracemalloc
tracemalloc.start()
from archiver.cli import main
sys.argv[0] = "archiver"
try:
    main()
finally:
    print("client peak", tracemalloc.get_traced_memory()[1], file=sys.stderr)
"""


def test_the_client_holds_no_more_for_twice_the_urls(
        scheduler: tuple[str, list[subprocess.Popen[bytes]]], tmp_path: Path) -> None:
    """A cluster run's client (planning, Dask's messages, recording, --json) takes no more Python heap
    for 16,000 URLs than for 8,000 (both with tasks of the most URLs a task takes): before, a
    manifest's citations (~230 bytes each) and the pickled batch of each task, which Dask kept in its
    log of sent messages (~200 bytes a URL), grew with the run. The URLs fail at once (nothing listens
    on their port): the run costs little but the client's work."""
    address, _ = scheduler
    closed = free_port()
    hosts = [f"m{i:03d}.memory.archiver.test" for i in range(600)]
    env = {**LOCAL_ENV, **loopback_env(loopback_names(hosts, [closed]))}
    peaks = {}
    for n in (8_000, 16_000):
        manifest = tmp_path / f"urls-{n}.txt"
        manifest.write_text("".join(f"http://{hosts[i % len(hosts)]}:{closed}/p/{i}\n" for i in range(n)))
        proc = subprocess.run([sys.executable, "-c", CLIENT_PEAK, "--storage", str(tmp_path / f"s{n}"), "snapshot",
                               str(manifest), "--cluster", address, "--retries", "0", "--per-host-delay", "0",
                               "--capture", "http", "--json", "-q"],
                              env=env, capture_output=True, text=True, timeout=120)
        summary = json.loads(proc.stdout)
        assert summary["failed"] == n and len(summary["urls"]) == n, proc.stderr[-2000:]
        peaks[n] = int(proc.stderr.rsplit("client peak ", 1)[1].split()[0])
    assert peaks[16_000] - peaks[8_000] < 800_000, peaks  # 8,000 URLs more: < 100 bytes each


def test_scheduler_gone_stops_with_one_line_and_exit_4(
        tmp_path: Path, web: tuple[TestServer, Path, dict[str, str]],
        scheduler: tuple[str, list[subprocess.Popen[bytes]]]) -> None:
    srv, manifest, env = web
    address, procs = scheduler
    storage = tmp_path / "gone"
    proc = subprocess.Popen([ARCHIVER, "--storage", str(storage), "snapshot", str(manifest), *FETCH,
                             "--per-host-delay", "0.5", "-q", "--cluster", address],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ARCHIVER_BACKOFF": "0.05", **env})
    deadline = time.monotonic() + 60
    while recorded(storage) == 0:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    procs[0].send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "scheduler is gone" in lines[0], err
    kept = recorded(storage)
    assert 0 < kept < len(HOSTS) * PER_HOST
    assert rows_point_at_whole_records(storage) > 0

