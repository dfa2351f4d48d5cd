"""`archiver check` end to end, over the scenario world: snapshot the early web, check the later one,
and assert every status word, drift level, verdict and the politeness of the whole run."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import run
from scenario import World
from warcio.archiveiterator import ArchiveIterator

from archiver.verdict import ALIVE_STATUSES, BLOCKED_STATUSES, FAILED_STATUSES

DELAY = 0.2
FLAGS = ["--per-host-delay", str(DELAY), "--timeout", "1", "--total-timeout", "3"]


@dataclass
class Checked:
    world: World
    storage: Path
    manifest: Path
    snapshot: subprocess.CompletedProcess[str]
    rounds: list[subprocess.CompletedProcess[str]]  # check runs in state later, rounds 0, 1, 2
    hits: list[Any]  # server log of the first check run

    def rows(self, run_index: int) -> dict[str, dict[str, Any]]:
        """Check rows of the n-th check run, by citation id (duplicates resolved through the URL)."""
        with sqlite3.connect(self.storage / "archiver.db") as db:
            db.row_factory = sqlite3.Row
            runs = [r[0] for r in db.execute("SELECT id FROM runs WHERE command = 'check' ORDER BY id")]
            rows = [dict(r) for r in db.execute("SELECT * FROM checks WHERE run_id = ?", [runs[run_index]])]
            cited = {r["citation_id"]: r["fetch_url"] for r in db.execute(
                "SELECT citation_id, fetch_url FROM citations WHERE citation_id IS NOT NULL")}
        by_url = {r["fetch_url"]: r for r in rows}
        out = {fid: by_url[url] for fid, url in cited.items() if url in by_url}
        out.update({r["citation_id"]: r for r in rows if r["status"] == "invalid_url"})
        return out

    def verdicts(self, index: int) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in json.loads(self.rounds[index].stdout)}


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Checked]:
    tmp = tmp_path_factory.mktemp("scenario")
    with World(tmp) as world:
        manifest = world.write_manifest(tmp / "scenario.yaml")
        storage = tmp / "storage"
        env = world.env
        snap = run(storage, "snapshot", str(manifest), *FLAGS, env=env)
        world.state = "later"
        world.clear_hits()
        rounds = [run(storage, "check", str(manifest), "--json", *FLAGS, env=env)]
        hits = world.hits()
        for _ in range(2):
            world.next_round()
            # The last round reads pages in worker processes, as checks of 200+ URLs do.
            pool = {"ARCHIVER_PARSE_POOL_MIN": "1"} if world.round == 2 else {}
            rounds.append(run(storage, "check", str(manifest), "--json", *FLAGS, "--confirm-days", "0",
                              env={**env, **pool}))
        yield Checked(world, storage, manifest, snap, rounds, hits)


def test_every_status_word_as_the_world_defines(checked: Checked) -> None:
    rows = checked.rows(0)
    expected = checked.world.expected("later", round=0)
    wrong = {fid: (rows.get(fid, {}).get("status"), want, rows.get(fid, {}).get("reason"))
             for fid, want in expected.items() if rows.get(fid, {}).get("status") != want}
    assert not wrong, f"{len(wrong)} wrong (got, want, reason):\n" + "\n".join(f"  {k}: {v}" for k, v in wrong.items())
    words = set(expected.values())
    # Every status word but `incomplete`, whose cut-off transfers have routes of their own
    # (tests/e2e/test_cut_transfers.py): the world's servers always finish what they send.
    assert words >= ALIVE_STATUSES | BLOCKED_STATUSES | FAILED_STATUSES - {"incomplete"}


def test_pages_read_in_worker_processes_give_the_same_statuses(checked: Checked) -> None:
    rows = checked.rows(2)
    expected = checked.world.expected("later", round=2)
    assert {fid: rows[fid]["status"] for fid in expected} == expected
    drift = checked.world.expected_drift("later", round=2)
    assert {fid: rows[fid]["drift_level"] for fid, want in drift.items() if want} == \
        {fid: want for fid, want in drift.items() if want}


def test_drift_levels(checked: Checked) -> None:
    rows = checked.rows(0)
    expected = checked.world.expected_drift("later", round=0)
    wrong = {fid: (rows[fid]["drift_level"], want, rows[fid]["drift"]) for fid, want in expected.items()
             if want is not None and rows[fid]["drift_level"] != want}
    assert not wrong, wrong
    assert {"unchanged", "minor", "major"} <= {w for w in expected.values() if w}
    for fid, row in rows.items():
        if row["drift"] is not None:
            assert 0.0 <= row["drift"] <= 1.0
            assert row["baseline_capture"] is not None, fid


def test_flapping_url_follows_its_rounds(checked: Checked) -> None:
    flapping = next(f for f in checked.world.fates if f.later_odd)
    assert checked.rows(0)[flapping.id]["status"] == "server_error"
    assert checked.rows(1)[flapping.id]["status"] == flapping.later_odd
    assert checked.rows(2)[flapping.id]["status"] == "server_error"


def test_verdicts_after_one_check(checked: Checked) -> None:
    assert checked.rounds[0].returncode == 1, checked.rounds[0].stderr  # failing citations fail the run
    verdicts = checked.verdicts(0)
    for fate in checked.world.fates:
        v = verdicts[fate.id]
        status = fate.expected("later", 0)
        assert v["status"] == status, fate.id
        if status in ALIVE_STATUSES:
            want = "drifted" if fate.expected_drift("later", 0) == "major" else "alive"
        elif status in BLOCKED_STATUSES:
            want = "blocked"
        else:
            want = "failing"
        assert v["verdict"] == want, (fate.id, v)
        if want == "failing":
            assert v["failing_since"] == v["checked_at"] and v["dead_since"] is None
        if want in ("alive", "drifted"):
            assert v["last_ok_at"] == v["checked_at"]


def test_dead_after_confirmation_and_success_resets(checked: Checked) -> None:
    """Three failing checks (the policy's span set to 0 days for the test) confirm death; the flapping
    URL's success in round 1 resets its count."""
    verdicts = checked.verdicts(2)
    first = checked.verdicts(0)
    flapping = next(f for f in checked.world.fates if f.later_odd)
    for fate in checked.world.fates:
        status = fate.expected("later", 0)
        if fate is flapping:
            assert verdicts[fate.id]["verdict"] == "failing"
            assert verdicts[fate.id]["last_ok_at"] is not None
        elif status in FAILED_STATUSES:
            assert verdicts[fate.id]["verdict"] == "dead", fate.id
            assert verdicts[fate.id]["failing_since"] == first[fate.id]["checked_at"]
            assert verdicts[fate.id]["dead_since"] == verdicts[fate.id]["checked_at"]
    assert checked.rounds[2].returncode == 1


def test_evidence_is_kept(checked: Checked) -> None:
    """Changed content is a new capture with a response record; unchanged content a revisit."""
    rows = checked.rows(0)
    with sqlite3.connect(checked.storage / "archiver.db") as db:
        kinds = dict(db.execute("SELECT id, record_type FROM captures").fetchall())
        warcs = [r[0] for r in db.execute("SELECT name FROM warc_files")]
    expected = checked.world.expected_drift("later", round=0)
    for fid, level in expected.items():
        if level in ("minor", "major"):
            assert kinds[rows[fid]["capture_id"]] == "response", fid
    byte_identical = [f.id for f in checked.world.fates if "byte-identical" in f.note or "same bytes" in f.note]
    assert byte_identical
    for fid in byte_identical:
        assert kinds[rows[fid]["capture_id"]] == "revisit", fid
    for name in warcs:  # every WARC reads back whole
        path = next(checked.storage.rglob(name))
        with open(path, "rb") as f:
            assert sum(1 for _ in ArchiveIterator(f)) > 0


def test_politeness_from_the_server_log(checked: Checked) -> None:
    by_host: dict[str, list[Any]] = {}
    for hit in checked.hits:
        by_host.setdefault(hit.host, []).append(hit)
    assert len(by_host) >= 8
    for host, hits in by_host.items():
        hits.sort(key=lambda h: h.started)
        for a, b in zip(hits, hits[1:], strict=False):
            if not a.ended:
                continue  # a request the server never answered (the timeout route): the client gave up
            assert b.started >= a.ended, f"{host}: two requests at once ({a.path}, {b.path})"
            # The pause runs from the end of one exchange as the client saw it; allow a little skew.
            assert b.started - a.ended >= DELAY - 0.05, f"{host}: {b.started - a.ended:.3f} s between requests"


def test_table_lists_what_is_not_alive(checked: Checked) -> None:
    out = run(checked.storage, "check", str(checked.manifest), *FLAGS, env=checked.world.env)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert lines and all(len(line) <= 80 for line in lines)
    alive = {f.id for f in checked.world.fates if f.expected("later", checked.world.round) in ALIVE_STATUSES
             and f.expected_drift("later", checked.world.round) != "major"}
    listed = {line.split()[2] for line in lines}
    assert not (listed & {a[:10] for a in alive})
    assert any(line.startswith("failing ") for line in lines)  # default policy: 3 days not yet spanned
    assert "citations:" in out.stderr
