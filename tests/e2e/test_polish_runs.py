"""Runs leave no empty WARC file behind, and an interrupted `snapshot --json` names the URLs it never
attempted (issue 17, CLI polish)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ARCHIVER, FAST, LOCAL_ENV, run
from server import TestServer


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_offline_run_leaves_no_warc_file(tmp_path: Path) -> None:
    port = closed_port()
    urls = tmp_path / "urls.txt"
    urls.write_text(f"http://127.0.0.1:{port}/a\nhttp://127.0.0.1:{port}/b\n")
    storage = tmp_path / "storage"
    done = run(storage, "snapshot", str(urls), *FAST, "--retries", "0", "--quiet")
    assert done.returncode == 1, done.stderr
    assert "0 captured" in done.stderr
    assert not list(storage.rglob("*.warc.gz*"))  # neither closed nor left open
    conn = sqlite3.connect(storage / "archiver.db")
    assert conn.execute("SELECT count(*) FROM warc_files").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM captures").fetchone()[0] == 2  # the failures are still recorded
    conn.close()
    assert run(storage, "verify").returncode == 0


def test_a_run_that_captures_writes_its_warc_file(server: TestServer, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    port = closed_port()
    done = run(storage, "snapshot", server.url("page/kept"), f"http://127.0.0.1:{port}/gone", *FAST,
               "--retries", "0", "--quiet")
    assert done.returncode == 1, done.stderr
    warcs = list((storage / "warcs").glob("*.warc.gz"))
    assert len(warcs) == 1
    conn = sqlite3.connect(storage / "archiver.db")
    assert conn.execute("SELECT count(*) FROM warc_files WHERE state = 'closed'").fetchone()[0] == 1
    conn.close()
    assert run(storage, "verify").returncode == 0


@pytest.mark.parametrize("command", ["snapshot", "check"])
def test_an_interrupted_run_json_lists_the_urls_it_never_attempted(fresh_server: TestServer, tmp_path: Path,
                                                                   command: str) -> None:
    """snapshot --json, and check --json (its verdicts need the whole run: a stopped check prints the
    run's summary instead of the array of citations)."""
    # One host, one request at a time, each a slow drip: when SIGINT comes, most were never attempted.
    urls = [fresh_server.url(f"drip?n=200&interval=0.02&i={i}") for i in range(6)]
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(urls) + "\n")
    storage = tmp_path / "storage"
    proc = subprocess.Popen(
        [ARCHIVER, "--storage", str(storage), command, str(listing), "--per-host", "1", "--per-host-delay", "0",
         "--json", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **LOCAL_ENV})
    deadline = time.monotonic() + 10
    while not fresh_server.hits and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    partial = json.loads(out)
    assert partial["status"] == "interrupted"
    attempted = {o["url"] for o in partial["urls"]}
    assert len(partial["unattempted"]) >= 4
    assert set(partial["unattempted"]) | attempted == set(urls)
    assert not set(partial["unattempted"]) & attempted
    assert urls[-1] in partial["unattempted"]


def test_a_finished_snapshot_json_has_nothing_unattempted(server: TestServer, tmp_path: Path) -> None:
    done = run(tmp_path / "storage", "snapshot", server.url("page/all"), *FAST, "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["unattempted"] == []
