"""`archiver report` over the checker's scenario world: snapshot the early web, check the later one
three times (as tests/test_check.py does), then assert every verdict and date in JSON, CSV and the
table against the recorded checks, the filters, the exit codes, the policy flags (which must not
touch the database), and the SQL views and docs/database.md queries."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, run
from scenario import World

from archiver.db import ArchiveDB
from archiver.db.rule_sql import in_list
from archiver.report import CSV_FIELDS, FIELDS
from archiver.verdict import ALIVE_STATUSES, BLOCKED, BLOCKED_STATUSES, FAILED, FAILED_STATUSES, SEEN

FLAGS = ["--per-host-delay", "0.2", "--timeout", "1", "--total-timeout", "3"]
CONFIRM_NOW = ["--confirm-days", "0"]  # the scenario's three rounds are seconds apart


@dataclass
class Reported:
    world: World
    storage: Path
    manifest: Path

    @property
    def db(self) -> Path:
        return self.storage / "archiver.db"

    def report(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(self.storage, "report", *args, env={"NO_COLOR": ""})

    def json(self, *args: str) -> dict[str, dict[str, Any]]:
        out = self.report("--format", "json", *args)
        assert out.returncode in (0, 1), out.stderr
        return {row["id"]: row for row in json.loads(out.stdout)}

    def check_times(self) -> dict[str, list[str]]:
        """checked_at of each citation's check in check runs 0, 1, 2, by citation id."""
        with sqlite3.connect(self.db) as db:
            runs = [r[0] for r in db.execute("SELECT id FROM runs WHERE command = 'check' ORDER BY id")]
            cited = dict(db.execute("SELECT citation_id, fetch_url FROM citations"))
            rows = db.execute("SELECT run_id, fetch_url, citation_id, status, checked_at FROM checks").fetchall()
        by_url: dict[str, list[str]] = {}
        for _run, fetch_url, citation_id, status, at in sorted(rows, key=lambda r: runs.index(r[0])):
            by_url.setdefault(fetch_url, []).append(at)
            if status == "invalid_url":
                cited.setdefault(citation_id, fetch_url)
        return {cid: by_url[url] for cid, url in cited.items()}

    def expected(self, confirm_now: bool) -> dict[str, dict[str, Any]]:
        """What judge must say for each citation after the three rounds (policy 3 checks, 0 or 3 days)."""
        times = self.check_times()
        flapping = next(f for f in self.world.fates if f.later_odd)
        out = {}
        for fate in self.world.fates:
            t = times[fate.id]
            assert len(t) == 3, (fate.id, t)
            status = fate.expected("later", 2)
            want = {"status": status, "checked_at": t[2], "failing_since": None, "dead_since": None,
                    "last_ok_at": None}
            if fate is flapping:
                want |= {"verdict": "failing", "failing_since": t[2], "last_ok_at": t[1]}
            elif status in ALIVE_STATUSES:
                major = fate.expected_drift("later", 2) == "major"
                want |= {"verdict": "drifted" if major else "alive", "last_ok_at": t[2]}
            elif status in BLOCKED_STATUSES:
                want |= {"verdict": "blocked"}
            else:
                assert status in FAILED_STATUSES
                want |= {"verdict": "dead" if confirm_now else "failing", "failing_since": t[0],
                         "dead_since": t[2] if confirm_now else None}
            out[fate.id] = want
        return out


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reported]:
    tmp = tmp_path_factory.mktemp("report")
    with World(tmp) as world:
        manifest = world.write_manifest(tmp / "scenario.yaml")
        storage = tmp / "storage"
        snap = run(storage, "snapshot", str(manifest), *FLAGS, env=world.env)
        assert snap.returncode in (0, 1), snap.stderr
        world.state = "later"
        for n in range(3):
            if n:
                world.next_round()
            out = run(storage, "check", str(manifest), *FLAGS, *CONFIRM_NOW, env=world.env)
            assert out.returncode in (0, 1), out.stderr
        yield Reported(world, storage, manifest)


def _fingerprint(db: Path) -> tuple[str, dict[str, int]]:
    with sqlite3.connect(db) as conn:
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in ("runs", "citations", "captures", "records", "checks", "manifests")}
    return hashlib.sha256(db.read_bytes()).hexdigest(), counts


def _compare(got: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    wrong = {fid: {k: (got[fid][k], v) for k, v in want.items() if got[fid][k] != v}
             for fid, want in expected.items()}
    wrong = {fid: w for fid, w in wrong.items() if w}
    assert not wrong, "citation: {field: (got, want)}\n" + "\n".join(f"  {k}: {v}" for k, v in wrong.items())


# -- JSON ------------------------------------------------------------------------------------------


def test_json_every_verdict_and_date(reported: Reported) -> None:
    got = reported.json(str(reported.manifest), *CONFIRM_NOW)
    expected = reported.expected(confirm_now=True)
    assert set(got) == set(expected)
    _compare(got, expected)
    assert {r["verdict"] for r in got.values()} == {"alive", "drifted", "failing", "dead", "blocked"}
    for row in got.values():
        assert tuple(row) == FIELDS
        assert row["manifest"] == str(reported.manifest)
        for key in ("checked_at", "failing_since", "dead_since", "last_ok_at"):
            assert row[key] is None or re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", row[key]), row


def test_json_fields_match_the_newest_check(reported: Reported) -> None:
    got = reported.json(str(reported.manifest), *CONFIRM_NOW)
    with sqlite3.connect(reported.db) as db:
        db.row_factory = sqlite3.Row
        newest = {r["checked_at"]: dict(r) for r in db.execute("SELECT * FROM checks")}
    fates = {f.id: f for f in reported.world.fates}
    for fid, row in got.items():
        check = newest[row["checked_at"]]
        assert (row["http_status"], row["final_url"], row["drift"], row["drift_level"], row["reason"]) == (
            check["http_status"], check["final_url"], check["drift"], check["drift_level"], check["reason"]), fid
        assert row["url"] == fates[fid].url
        # An invalid entry is kept as printed, with its id: the manifest parser keeps nothing else of it.
        assert row["context"] == (None if row["status"] == "invalid_url" else fates[fid].context or None), fid


def test_capture_is_the_newest_good_one(reported: Reported) -> None:
    """Newest 2xx whole response/revisit; a revisit's bytes located at its original record."""
    got = reported.json(str(reported.manifest))
    with sqlite3.connect(reported.db) as db:
        db.row_factory = sqlite3.Row
        captures = [dict(r) for r in db.execute("SELECT * FROM captures ORDER BY captured_at, id")]
        cited = dict(db.execute("SELECT citation_id, fetch_url FROM citations"))
    by_id = {c["id"]: c for c in captures}
    revisits = 0
    for fid, row in got.items():
        good = [c for c in captures if c["fetch_url"] == cited.get(fid) and c["record_type"] in ("response", "revisit")
                and not c["truncated"] and 200 <= (c["http_status"] or 0) < 300]
        if not good:
            assert row["capture"] is None, fid
            continue
        newest = good[-1]
        original = by_id[newest["refers_to"]] if newest["record_type"] == "revisit" else newest
        revisits += newest["record_type"] == "revisit"
        assert row["capture"] == {"warc": original["warc"], "offset": original["warc_offset"],
                                  "length": original["warc_length"], "sha256": newest["payload_sha256"],
                                  "captured_at": newest["captured_at"], "record_type": newest["record_type"]}, fid
    assert revisits, "the scenario's byte-identical pages should be revisits"


def test_targets_or_every_manifest_in_the_database(reported: Reported) -> None:
    assert reported.json() == reported.json(str(reported.manifest))


# -- policy ----------------------------------------------------------------------------------------


def test_policy_flags_change_verdicts_not_the_database(reported: Reported) -> None:
    before = _fingerprint(reported.db)
    default = reported.report("--format", "json", str(reported.manifest))
    assert default.returncode == 0, default.stderr  # 3 days not spanned: failing, not dead
    _compare({r["id"]: r for r in json.loads(default.stdout)}, reported.expected(confirm_now=False))
    strict = reported.report("--format", "json", "--confirm-checks", "4", *CONFIRM_NOW)
    assert strict.returncode == 0
    assert "dead" not in {r["verdict"] for r in json.loads(strict.stdout)}
    now = reported.report("--format", "json", *CONFIRM_NOW)
    assert now.returncode == 1
    lenient = reported.json("--confirm-checks", "1", *CONFIRM_NOW)
    flapping = next(f for f in reported.world.fates if f.later_odd)
    assert lenient[flapping.id]["verdict"] == "dead"  # one failure after its last success suffices
    assert _fingerprint(reported.db) == before


# -- CSV and table ------------------------------------------------------------------------------------


def test_csv_has_the_json_columns(reported: Reported) -> None:
    out = reported.report("--format", "csv", *CONFIRM_NOW)
    assert out.returncode == 1
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert tuple(rows[0]) == CSV_FIELDS
    expected = reported.expected(confirm_now=True)
    got = {r["id"]: r for r in rows}
    _compare(got, {fid: {k: "" if v is None else v for k, v in want.items()} for fid, want in expected.items()})
    as_json = reported.json(*CONFIRM_NOW)
    for fid, row in got.items():
        capture = as_json[fid]["capture"] or {}
        assert row["capture_warc"] == (capture.get("warc") or "")
        assert row["capture_offset"] == str(capture.get("offset") or "")


def test_table_fits_80_columns_with_every_verdict_and_since(reported: Reported) -> None:
    out = reported.report(str(reported.manifest), *CONFIRM_NOW)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert "\x1b[" not in out.stdout  # not a terminal: no colour
    assert lines[0].startswith(str(reported.manifest)[:60]) or lines[0].startswith(str(reported.manifest)[:20])
    body = [line for line in lines[2:] if line.strip() and "citations:" not in line]
    fates = reported.world.fates
    assert len(body) == len(fates)
    expected = reported.expected(confirm_now=True)
    for fate, line in zip(fates, body, strict=True):  # rows in manifest order
        verdict, status, since, ident = line.split()[:4]
        want = expected[fate.id]
        assert (verdict, status) == (want["verdict"], want["status"]), line
        date = want["dead_since"] if verdict == "dead" else want["failing_since"]
        assert since == (date[:10] if date else "-"), line
        assert fate.id.startswith(ident.rstrip("…")), line
    counts: dict[str, int] = {}
    for want in expected.values():
        counts[want["verdict"]] = counts.get(want["verdict"], 0) + 1
    summary = lines[-1]
    assert summary.startswith(f"{len(fates)} citations: ")
    for word, n in counts.items():
        assert f"{n} {word}" in summary


def test_markdown_is_a_pasteable_table(reported: Reported) -> None:
    out = reported.report("--format", "md", *CONFIRM_NOW)
    lines = out.stdout.splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert table[0].startswith("| citation | verdict |") and set(table[1]) <= set("|-")
    assert len(table) == 2 + len(reported.world.fates)
    assert all(line.count("|") - line.count("\\|") == 9 for line in table)
    assert any("**dead**" in line for line in table)


# -- filters and exit codes -------------------------------------------------------------------------


def test_verdict_filters_are_a_union(reported: Reported) -> None:
    expected = reported.expected(confirm_now=True)
    for flags, verdicts in ((["--dead"], {"dead"}), (["--drifted"], {"drifted"}), (["--failing"], {"failing"}),
                            (["--dead", "--failing"], {"dead", "failing"})):
        got = reported.json(*flags, *CONFIRM_NOW)
        assert set(got) == {fid for fid, w in expected.items() if w["verdict"] in verdicts}, flags
    drifted = reported.report("--drifted", *CONFIRM_NOW)
    assert drifted.returncode == 0  # nothing dead among what is reported


def test_since(reported: Reported) -> None:
    with sqlite3.connect(reported.db) as db:
        starts = [r[0] for r in db.execute("SELECT started_at FROM runs WHERE command = 'check' ORDER BY id")]
    expected = reported.expected(confirm_now=True)
    got = reported.json("--since", starts[2], *CONFIRM_NOW)
    assert set(got) == {fid for fid, w in expected.items()
                        if (w["failing_since"] or "") >= starts[2] or (w["dead_since"] or "") >= starts[2]}
    assert {w["verdict"] for fid, w in expected.items() if fid in got} == {"dead", "failing"}
    assert reported.json("--since", "2999-01-01") == {}
    assert set(reported.json("--since", starts[0][:10])) == {fid for fid, w in expected.items() if w["failing_since"]}
    bad = reported.report("--since", "last tuesday")
    assert bad.returncode == 2 and "--since" in bad.stderr
    # The same moment with an offset: under the default policy the filter runs in SQL, on UTC text.
    moment = dt.datetime.fromisoformat(starts[2].replace("Z", "+00:00"))
    east = moment.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    west = moment.astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat()
    in_utc = reported.json("--since", starts[2])
    assert in_utc and reported.json("--since", east) == in_utc == reported.json("--since", west)


def test_exit_codes(reported: Reported, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("citations:\n  - url: [unclosed\n")
    out = reported.report(str(broken))
    assert out.returncode == 3 and "broken.yaml" in out.stderr
    assert reported.report("--format", "pdf").returncode == 2
    nothing = run(tmp_path / "empty", "report")
    assert nothing.returncode == 4 and "no database" in nothing.stderr
    garbage = tmp_path / "garbage" / "archiver.db"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not a database" * 100)
    assert run(garbage.parent, "report").returncode == 4


def test_output_file_format_from_its_suffix(reported: Reported, tmp_path: Path) -> None:
    for suffix, check in ((".json", json.loads), (".csv", lambda t: next(csv.reader(io.StringIO(t))))):
        target = tmp_path / f"out{suffix}"
        out = reported.report("-o", str(target), *CONFIRM_NOW)
        assert out.returncode == 1 and out.stdout == ""
        assert check(target.read_text())


# -- SQL views and the queries of docs/database.md ---------------------------------------------------------------


def test_status_groups_in_sql_match_verdict_py() -> None:
    def words(sql: str) -> set[str]:
        return set(re.findall(r"'(\w+)'", sql))

    assert words(in_list(SEEN)) == ALIVE_STATUSES
    assert words(in_list(BLOCKED)) == BLOCKED_STATUSES
    assert words(in_list(FAILED)) == FAILED_STATUSES


def _policy_copy(reported: Reported, tmp_path: Path, days: float) -> Path:
    copy = tmp_path / "copy.db"
    with sqlite3.connect(reported.db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
        dst.execute("UPDATE verdict_policy SET days = ?", [days])
    return copy


@pytest.mark.parametrize("days", [0, 3])
def test_citation_verdicts_view_agrees_with_judge(reported: Reported, tmp_path: Path, days: int) -> None:
    copy = _policy_copy(reported, tmp_path, days)
    with sqlite3.connect(copy) as db:
        db.row_factory = sqlite3.Row
        view = {r["citation_id"]: dict(r) for r in db.execute("SELECT * FROM citation_verdicts")}
    got = reported.json("--confirm-days", str(days))
    invalid = {fid for fid, r in got.items() if r["status"] == "invalid_url"}  # never citations rows
    assert set(view) == set(got) - invalid
    for fid, row in view.items():
        want = got[fid]
        assert {k: row[k] for k in ("verdict", "status", "checked_at", "failing_since", "dead_since", "last_ok_at",
                                    "drift_level")} == {k: want[k] for k in ("verdict", "status", "checked_at",
                                                                             "failing_since", "dead_since",
                                                                             "last_ok_at", "drift_level")}, fid


def _readme_queries() -> dict[str, str]:
    text = (REPO / "docs" / "database.md").read_text()
    found = re.findall(r"# ([^\n]+)\nsqlite-utils query storage/archiver.db \"(.*?)\"", text, re.S)
    return {title.strip(): sql for title, sql in found}


def test_readme_queries(reported: Reported, tmp_path: Path) -> None:
    queries = _readme_queries()
    assert set(queries) == {"dead since last month", "domains that died most", "citations whose page drifted"}
    copy = _policy_copy(reported, tmp_path, 0)
    tool = str(Path(sys.executable).with_name("sqlite-utils"))
    if not Path(tool).exists():
        tool = shutil.which("sqlite-utils") or "sqlite-utils"

    def query(name: str) -> list[dict[str, Any]]:
        out = subprocess.run([tool, "query", str(copy), queries[name]], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return list(json.loads(out.stdout))

    got = reported.json(*CONFIRM_NOW)
    dead = {fid for fid, r in got.items() if r["verdict"] == "dead" and r["status"] != "invalid_url"}
    assert {r["citation_id"] for r in query("dead since last month")} == dead
    hosts: dict[str, int] = {}
    for fid in dead:
        host = re.sub(r":\d+$", "", got[fid]["url"].split("/")[2].lower())
        hosts[host] = hosts.get(host, 0) + 1
    domains = query("domains that died most")
    assert {r["host"]: r["dead"] for r in domains} == hosts
    assert [r["dead"] for r in domains] == sorted(hosts.values(), reverse=True)
    drifted = {fid for fid, r in got.items() if r["verdict"] == "drifted"}
    assert drifted and {r["citation_id"] for r in query("citations whose page drifted")} == drifted


# -- url_state (schema v5): the report's fast path ----------------------------------------------------


# What schema v6 added (offline runs), taken out again: with these a copy is a v5 database (whose view,
# derived, a writable open makes again).
UNDO_V6 = ("DROP TABLE timestamps", "DROP TABLE ledger", "DROP TABLE saves",  # v12, v11
           # then v10's imported mementos (their index holds v7's mode), and v13's tls after the view
           "DROP VIEW good_captures", "ALTER TABLE captures DROP COLUMN tls",
           "DROP INDEX idx_captures_source", "DROP INDEX idx_captures_url_good",
           "CREATE INDEX idx_captures_url_good ON captures (fetch_url, captured_at, record_type, http_status,"
           " truncated)", "ALTER TABLE captures DROP COLUMN source_url",
           "ALTER TABLE captures DROP COLUMN source_archive",
           "ALTER TABLE captures DROP COLUMN imported_at",
           "DROP VIEW citation_verdicts", "DROP INDEX idx_checks_url_history_run", "DROP INDEX idx_checks_run",
           "CREATE INDEX idx_checks_url_history ON checks (fetch_url, checked_at, status, drift_level)",
           "ALTER TABLE runs DROP COLUMN offline", "ALTER TABLE runs DROP COLUMN network",
           # and what v7 (browser capture) and v8 (a check's mode) added, so that migrating again replays them
           "ALTER TABLE captures DROP COLUMN mode", "ALTER TABLE captures DROP COLUMN rendering",
           "DROP TABLE capture_resources", "ALTER TABLE checks DROP COLUMN mode",
           # and v9's copies in other web archives
           "DROP VIEW citation_copies", "DROP TABLE copies")


def _storage_copy(reported: Reported, tmp_path: Path, *sql: str, rebuild_state: bool = False) -> Path:
    """A copy of the scenario's storage (database only) with `sql` run on it; rebuild_state: url_state
    dropped and rebuilt by the v5 migration's backfill (under the copy's verdict_policy), and v6's
    steps after it."""
    storage = tmp_path / "storage"
    storage.mkdir()
    with sqlite3.connect(reported.db) as src, sqlite3.connect(storage / "archiver.db") as dst:
        src.backup(dst)
        if rebuild_state:
            for trigger in ("url_state_check", "url_state_capture", "url_state_policy"):
                dst.execute(f"DROP TRIGGER {trigger}")
            dst.execute("DROP TABLE url_state")
            for statement in UNDO_V6:
                dst.execute(statement)
        for statement in sql:
            dst.execute(statement)
        if rebuild_state:
            dst.execute("PRAGMA user_version = 4")
    if rebuild_state:  # a report only reads: a writable open migrates
        ArchiveDB.open(storage / "archiver.db").close()
    return storage


def _json_text(storage: Path, *args: str) -> str:
    out = run(storage, "report", "--format", "json", *args, env={"NO_COLOR": ""})
    assert out.returncode in (0, 1), out.stderr
    return out.stdout


def test_url_state_is_kept_by_the_checks(reported: Reported) -> None:
    with sqlite3.connect(reported.db) as db:
        assert db.execute("SELECT COUNT(*), SUM(dirty) FROM url_state").fetchone() == (
            db.execute("SELECT COUNT(DISTINCT fetch_url) FROM checks").fetchone()[0], 0)


@pytest.mark.parametrize(("targets", "filters"), [([], []), (["manifest"], []), ([], ["--dead", "--drifted"]),
                                                 (["manifest"], ["--failing", "--since", "2026-01-01"])])
def test_state_and_history_paths_give_identical_rows(reported: Reported, tmp_path: Path, targets: list[str],
                                                     filters: list[str]) -> None:
    """The JSON that SQLite builds from url_state (db.report_json_rows) is byte for byte the JSON of
    the rows judged in Python from each URL's history, filters included; half dirty: both at once."""
    args = ([str(reported.manifest)] if targets else []) + filters
    # Default policy = the stored one: url_state. Every URL dirty: each judged from its history.
    fast = _json_text(reported.storage, *args)
    slow = _json_text(_storage_copy(reported, tmp_path, "UPDATE url_state SET dirty = 1"), *args)
    assert fast == slow and json.loads(fast)
    if not filters:
        assert len(json.loads(fast)) == len(reported.world.fates)
    (tmp_path / "mixed").mkdir()
    mixed = _storage_copy(reported, tmp_path / "mixed",
                          "UPDATE url_state SET dirty = 1 WHERE length(fetch_url) % 2 = 0")
    assert _json_text(mixed, *args) == fast


def test_state_path_with_dead_citations_matches_history(reported: Reported, tmp_path: Path) -> None:
    # Stored policy 0 days, url_state backfilled under it: --confirm-days 0 reads url_state on the copy
    # and the history on the original (whose stored policy is 3 days).
    copy = _storage_copy(reported, tmp_path, "UPDATE verdict_policy SET days = 0", rebuild_state=True)
    fast = _json_text(copy, str(reported.manifest), *CONFIRM_NOW)
    with sqlite3.connect(copy / "archiver.db") as db:
        assert db.execute("SELECT COUNT(*) FROM url_state WHERE dirty = 0 AND dead_since IS NOT NULL").fetchone()[0]
    assert fast == _json_text(reported.storage, str(reported.manifest), *CONFIRM_NOW)
    got = {row["id"]: row for row in json.loads(fast)}
    _compare(got, reported.expected(confirm_now=True))


def test_an_older_database_is_read_as_it_is_never_migrated(reported: Reported, tmp_path: Path) -> None:
    """The report only reads: a v4 copy (before url_state) is judged from its history, with the same
    rows, and left byte for byte as it was; a copy too old to answer fails in one line naming its
    version and what upgrades it."""
    older = _storage_copy(reported, tmp_path, "DROP TRIGGER url_state_check", "DROP TRIGGER url_state_capture",
                          "DROP TRIGGER url_state_policy", "DROP TABLE url_state", *UNDO_V6,
                          "PRAGMA user_version = 4")
    before = (older / "archiver.db").read_bytes()
    assert _json_text(older) == _json_text(reported.storage)
    assert (older / "archiver.db").read_bytes() == before
    with sqlite3.connect(older / "archiver.db") as db:
        assert db.execute("PRAGMA user_version").fetchone() == (4,)
        db.execute("PRAGMA user_version = 2")
    out = run(older, "report")
    assert out.returncode == 4 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "schema v2" in out.stderr and "archiver verify" in out.stderr
