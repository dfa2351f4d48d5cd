"""The network-down guard end to end, through the installed CLI: a run without network is judged
offline, its failures never count toward death, `check` says so in one line and `report` says why.

"Days" are simulated as tests/e2e/test_check.py does: `--confirm-days 0` lets checks minutes apart
confirm a death, so four checks that counted would make every citation dead. Names reach loopback
servers through the resolver override (ARCHIVER_RESOLVE); the probe's host is a local listener too.
"""

from __future__ import annotations

import csv as csv_module
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ARCHIVER, FAST, LOCAL_ENV, REACHABLE, run
from hostnames import loopback_names
from proxy import TestProxy, closed_port
from server import TestServer

PROBE_HOST = "probe.reachability.test"
CITED = {"j": "journal.example.org", "n": "news.example.com"}
OFFLINE_LINE = "the network looked down during this run"
DAYS = ["--confirm-days", "0"]  # every check counts as days apart


@pytest.fixture()
def world(fresh_server: TestServer, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A manifest of two citations on two hosts that answer, and the environment of a working network:
    the probe's host and the cited hosts all reach loopback listeners."""
    fresh_server.state["articles"] = "cited"
    urls = {cid: f"http://{name}:{fresh_server.port}/article/cited" for cid, name in CITED.items()}
    manifest = tmp_path / "paper.yaml"
    manifest.write_text("title: a paper\ncitations:\n" + "".join(
        f"  - id: {cid}\n    url: {url}\n" for cid, url in urls.items()), encoding="utf-8")
    probe_port = int(REACHABLE.rsplit(":", 1)[1].strip("/"))
    entries = loopback_names(CITED.values(), [fresh_server.port]) + (f"{PROBE_HOST}:80:127.0.0.1:{probe_port}",)
    yield manifest, {"ARCHIVER_RESOLVE": ",".join(entries), "ARCHIVER_REACHABILITY": f"http://{PROBE_HOST}/"}


def no_route(how: str, storage: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI with networking removed: every proxy variable at a closed port on loopback, or a network
    namespace of its own (nothing but a loopback that is down)."""
    if how == "proxy":
        dead = f"http://127.0.0.1:{closed_port()}"
        return run(storage, *args, env={**env, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "NO_PROXY": ""})
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no network namespace here (unshare -n: {probe.stderr.decode().strip()})")
    return subprocess.run(["unshare", "-n", ARCHIVER, "--storage", str(storage), *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "ARCHIVER_BACKOFF": "0.05", **LOCAL_ENV, **env})


def runs(storage: Path) -> list[tuple[str, int | None, str | None]]:
    with sqlite3.connect(storage / "archiver.db") as db:
        return db.execute("SELECT command, offline, network FROM runs ORDER BY id").fetchall()


@pytest.mark.parametrize("how", ["proxy", "netns"])
def test_four_checks_without_network_leave_every_citation_failing_offline(
        world: tuple[Path, dict[str, str]], storage: Path, how: str) -> None:
    manifest, env = world
    up = run(storage, "check", str(manifest), *FAST, env=env)
    assert up.returncode == 0 and OFFLINE_LINE not in up.stderr, up.stderr
    for day in range(4):
        out = no_route(how, storage, ["check", str(manifest), "--json", *FAST, *DAYS], env)
        assert out.returncode == 1, out.stderr  # failing citations still fail the run
        verdicts = json.loads(out.stdout)
        assert [(v["verdict"], v["offline"], v["offline_checks"]) for v in verdicts] == [("failing", True, day + 1)] * 2
        assert {v["status"] for v in verdicts} == {"connection_error"}
        (line,) = [ln for ln in out.stderr.splitlines() if ln.startswith(OFFLINE_LINE)]
        assert "2 of 2 hosts unreachable, probe failed" in line and line.endswith("do not count toward death")
    assert [r[1] for r in runs(storage)] == [0, 1, 1, 1, 1]
    assert "2 of 2 hosts unreachable, probe failed" in str(runs(storage)[-1][2])

    table = run(storage, "report", *DAYS)
    assert table.returncode == 0, table.stderr  # nothing dead
    rows = [ln for ln in table.stdout.splitlines() if ln.startswith("failing")]
    assert len(rows) == 2 and all(r.startswith("failing (offline) connection_error") for r in rows), table.stdout
    assert "dead" not in table.stdout.replace("toward death", "")
    assert ("8 checks skipped as offline: their runs looked offline (network down), so those failures do not"
            " count toward death") in table.stdout
    report = json.loads(run(storage, "report", "--format", "json", *DAYS).stdout)
    assert [(r["verdict"], r["offline"], r["offline_checks"], r["failing_since"]) for r in report] == [
        ("failing", True, 4, None)] * 2
    assert all(r["last_ok_at"] and r["capture"] for r in report)  # the copy from when it was up stays
    rows = list(csv_module.DictReader(run(storage, "report", "--format", "csv").stdout.splitlines()))
    assert [(r["offline"], r["offline_checks"]) for r in rows] == [("True", "4")] * 2

    back = run(storage, "check", str(manifest), "--json", *FAST, *DAYS, env=env)
    assert back.returncode == 0, back.stderr
    assert [(v["verdict"], v["offline"], v["offline_checks"]) for v in json.loads(back.stdout)] == [
        ("alive", False, 0)] * 2


def test_only_the_cited_hosts_down_is_no_offline_run(world: tuple[Path, dict[str, str]], storage: Path) -> None:
    """The probe's host answers, the cited ones do not: real deaths, confirmed as ever."""
    manifest, env = world
    refused = f"http://{CITED['j']}:{closed_port()}/article/cited"
    manifest.write_text("title: a paper\ncitations:\n  - id: j\n    url: " + refused
                        + "\n  - id: n\n    url: http://gone.example.invalid/article/cited\n", encoding="utf-8")
    port = refused.rsplit(":", 1)[1].split("/")[0]
    env = {**env, "ARCHIVER_RESOLVE": env["ARCHIVER_RESOLVE"] + f",{CITED['j']}:{port}:127.0.0.1"}
    for day in range(4):
        out = run(storage, "check", str(manifest), "--json", *FAST, *DAYS, env=env)
        assert OFFLINE_LINE not in out.stderr, out.stderr
        verdicts = json.loads(out.stdout)
        assert {v["status"] for v in verdicts} == {"connection_error", "dns_error"}
        assert {(v["verdict"], v["offline"]) for v in verdicts} == {("dead" if day >= 2 else "failing", False)}
    assert [r[1] for r in runs(storage)] == [0, 0, 0, 0]
    assert run(storage, "report", *DAYS).returncode == 1  # dead citations


def test_a_proxy_that_refuses_everything(world: tuple[Path, dict[str, str]], storage: Path) -> None:
    """A proxy whose policy denies all (403 to every request and tunnel): plain-http citations get the
    proxy's 403, https ones a refused tunnel, the probe's tunnel is refused too: offline."""
    manifest, env = world
    manifest.write_text(manifest.read_text() + f"  - id: s\n    url: https://secure.example.net:{closed_port()}/x\n",
                        encoding="utf-8")
    with TestProxy(refuse=True) as proxy:
        proxied = {**env, "HTTP_PROXY": proxy.url, "HTTPS_PROXY": proxy.url, "NO_PROXY": ""}
        out = run(storage, "snapshot", str(manifest), *FAST, env=proxied)
        assert out.returncode == 1
        assert "the network looked down during this run (3 of 3 hosts unreachable, probe failed:" in out.stderr
        out = run(storage, "check", str(manifest), "--json", *FAST, *DAYS, env=proxied)
        log = proxy.log
    verdicts = {v["id"]: v for v in json.loads(out.stdout)}
    assert {cid: (v["status"], v["verdict"], v["offline"]) for cid, v in verdicts.items()} == {
        "j": ("forbidden", "blocked", False), "n": ("forbidden", "blocked", False),
        "s": ("connection_error", "failing", True)}
    assert OFFLINE_LINE in out.stderr
    assert ("CONNECT", f"{PROBE_HOST}:80") in log  # the probe went the way the fetches go
    assert [r[1] for r in runs(storage)] == [1, 1]

