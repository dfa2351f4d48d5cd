"""url_state (schema v5): the per-URL verdict inputs that triggers on `checks` and `captures` keep, and
that `archiver report` reads under the stored policy instead of each URL's history. Checks go in through
ArchiveDB.add_check into a real SQLite file; the state-derived verdict must equal `verdict.judge`, an
out-of-order check must mark the URL dirty (and the report judge it from history), and the migration's
backfill must give the same state as the triggers."""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.db import MIGRATIONS, ArchiveDB
from archiver.report import from_history, from_state, optional_iso
from archiver.verdict import ALIVE_STATUSES, BLOCKED_STATUSES, FAILED_STATUSES, CheckPoint, Policy, judge

URL = "https://example.org/page"
T0 = dt.datetime(2026, 1, 1, 6, 0, tzinfo=dt.UTC)
STATE = ("last_check_id", "last_checked_at", "last_ok_at", "streak_n", "streak_first_at", "dead_since",
         "good_capture_id", "good_captured_at", "dirty", "offline_n")


def stamp(t: dt.datetime) -> str:
    return t.isoformat(timespec="microseconds").replace("+00:00", "Z")


def check_row(at: dt.datetime, status: str, level: str | None = None, url: str = URL) -> dict[str, Any]:
    return {"checked_at": stamp(at), "url": url, "fetch_url": url, "status": status, "drift_level": level,
            "drift": 0.7 if level == "major" else 0.0, "http_status": 200 if status in ALIVE_STATUSES else 404,
            "final_url": url, "reason": f"reason {status}"}


def capture_row(at: dt.datetime, http: int, kind: str | None, refers_to: int | None = None,
                truncated: str | None = None, url: str = URL) -> dict[str, Any]:
    return {"captured_at": stamp(at), "url": url, "fetch_url": url, "http_status": http, "record_type": kind,
            "truncated": truncated, "refers_to": refers_to, "warc": "a.warc.gz", "warc_offset": 10,
            "warc_length": 20, "payload_sha256": None if kind == "revisit" else "ab" * 32,
            "content_type": "text/html", "final_url": url}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[ArchiveDB]:
    archive = ArchiveDB.open(tmp_path / "archiver.db")
    yield archive
    archive.close()


def state(db: ArchiveDB, url: str = URL) -> dict[str, Any]:
    row = db.db.execute(f"SELECT {', '.join(STATE)} FROM url_state WHERE fetch_url = ?", [url]).fetchone()
    return dict(zip(STATE, row, strict=True)) if row else {}


def both_paths(db: ArchiveDB, urls: list[str], policy: Policy) -> tuple[Any, Any]:
    """(judged, captures) of the url_state path and of the history path; the stamps the state path
    keeps for JSON are checked against the verdict's times and then left out."""
    return _plain(from_state(db, urls, policy)), _plain(from_history(db, urls, policy))


def _plain(found: tuple[dict[str, Any], Any]) -> tuple[dict[str, Any], Any]:
    judged, captures = found
    for verdict, _latest, stamps in judged.values():
        assert stamps is None or stamps == (optional_iso(verdict.checked_at), optional_iso(verdict.failing_since),
                                            optional_iso(verdict.dead_since), optional_iso(verdict.last_ok_at))
    return {url: found[:2] for url, found in judged.items()}, captures


def test_state_follows_checks_in_order(db: ArchiveDB) -> None:
    day = dt.timedelta(days=1)
    db.add_check(check_row(T0, "ok"))
    db.add_check(check_row(T0 + day, "not_found"))
    db.add_check(check_row(T0 + 2 * day, "forbidden"))  # blocked: the streak goes on
    db.add_check(check_row(T0 + 3 * day, "gone"))
    assert state(db)["streak_n"] == 2 and state(db)["dead_since"] is None
    last = db.add_check(check_row(T0 + 4 * day, "timeout"))
    got = state(db)
    assert got["last_check_id"] == last and got["last_ok_at"] == stamp(T0) and got["streak_n"] == 3
    assert got["streak_first_at"] == stamp(T0 + day) and got["dead_since"] == stamp(T0 + 4 * day)
    assert got["dirty"] == 0
    judged, _ = both_paths(db, [URL], Policy())[0]
    assert judged[URL][0].verdict == "dead"
    db.add_check(check_row(T0 + 5 * day, "redirected", "major"))
    got = state(db)
    assert (got["streak_n"], got["streak_first_at"], got["dead_since"]) == (0, None, None)
    state_path, history_path = both_paths(db, [URL], Policy())
    assert state_path == history_path and state_path[0][URL][0].verdict == "drifted"


def test_out_of_order_check_marks_the_url_dirty_and_the_report_stays_right(db: ArchiveDB) -> None:
    day = dt.timedelta(days=1)
    for n in (0, 1, 2, 4):
        db.add_check(check_row(T0 + n * day, "not_found"))
    other = "https://example.org/other"
    db.add_check(check_row(T0, "ok", url=other))
    assert state(db)["dead_since"] == stamp(T0 + 4 * day) and state(db)["dirty"] == 0
    db.add_check(check_row(T0 + 3 * day, "ok"))  # recorded late: it breaks the streak before the last check
    assert state(db)["dirty"] == 1 and state(db, other)["dirty"] == 0
    (judged, _), (history, _) = both_paths(db, [URL, other], Policy())
    assert judged == history
    verdict = judged[URL][0]
    assert (verdict.verdict, verdict.last_ok_at, verdict.failing_since, verdict.dead_since) == (
        "failing", T0 + 3 * day, T0 + 4 * day, None)
    # a check at the very time of the newest, or a stamp not in now_iso's form, is no order either
    db.add_check(check_row(T0 + day, "ok", url=other))
    db.add_check({**check_row(T0 + 2 * day, "ok", url=other), "checked_at": "2026-01-03 06:00:00"})
    assert state(db, other)["dirty"] == 1
    db.add_check(check_row(T0 + day, "ok", url="https://example.org/tie"))
    db.add_check(check_row(T0 + day, "gone", url="https://example.org/tie"))
    assert state(db, "https://example.org/tie")["dirty"] == 1


def test_changing_the_stored_policy_marks_every_url_dirty(db: ArchiveDB) -> None:
    db.add_check(check_row(T0, "not_found"))
    with db.transaction():
        db.db.execute("UPDATE verdict_policy SET days = 0")
    assert state(db)["dirty"] == 1
    assert both_paths(db, [URL], Policy(3, 0))[0] == both_paths(db, [URL], Policy(3, 0))[1]


def test_newest_good_capture(db: ArchiveDB) -> None:
    hour = dt.timedelta(hours=1)
    first = db.add_capture(capture_row(T0, 200, "response"), [])
    revisit = db.add_capture(capture_row(T0 + hour, 200, "revisit", refers_to=first), [])
    db.add_capture(capture_row(T0 + 2 * hour, 404, "response"), [])  # not good
    db.add_capture(capture_row(T0 + 3 * hour, 200, "response", truncated="length"), [])  # not whole
    db.add_capture(capture_row(T0 + 4 * hour, 200, None), [])  # no record
    db.add_capture(capture_row(T0 - hour, 200, "response"), [])  # older, recorded late
    assert state(db)["good_capture_id"] == revisit and state(db)["good_captured_at"] == stamp(T0 + hour)
    (judged, captures), (_, history) = both_paths(db, [URL], Policy())
    assert judged == {} and captures == history  # captured, never checked: unchecked
    assert captures[URL].payload_capture_id == first and captures[URL].record_type == "revisit"


# -- the property: random check histories, through add_check, against judge -------------------------

STATUS_WORDS = sorted(ALIVE_STATUSES | BLOCKED_STATUSES | FAILED_STATUSES) + ["some_new_word"]
checks_st = st.lists(
    st.tuples(st.integers(0, 12 * 24), st.sampled_from([0, 1, 999_999]), st.sampled_from(STATUS_WORDS),
              st.sampled_from([None, "unchanged", "minor", "major"]), st.sampled_from([False, False, True])),
    max_size=14)


def _v4_database(path: Path) -> None:
    """A database as schema v4 left it: the migrations before url_state."""
    conn = sqlite3.connect(path, isolation_level=None)
    legacy = sqlite_utils.Database(conn)
    for step in MIGRATIONS[:4]:
        step(legacy)
    conn.execute("PRAGMA user_version = 4")
    conn.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(checks_st, st.sampled_from([1, 2, 3, 4]), st.sampled_from([0.0, 0.5, 1.0, 3.0]), st.booleans(),
       st.booleans(), st.randoms(use_true_random=False))
def test_state_verdict_equals_judge(items: list[tuple[int, int, str, str | None, bool]], n: int, days: float,
                                    in_order: bool, judged_late: bool, rnd: random.Random) -> None:
    """Checks of two runs, one judged offline: before its checks are recorded (the triggers skip its
    failures) or, as a run is, once they are all in (its URLs' state is computed again)."""
    policy = Policy(n, days)
    points = [CheckPoint(T0 + dt.timedelta(hours=h, microseconds=us), status, level, off)
              for h, us, status, level, off in items]
    order = sorted(points, key=lambda p: p.at) if in_order else rnd.sample(points, len(points))
    with tempfile.TemporaryDirectory() as tmp:
        db = ArchiveDB.open(Path(tmp) / "archiver.db")
        with db.transaction():
            db.db.execute("UPDATE verdict_policy SET checks = ?, days = ?", [n, days])
        online, offline = db.start_run("check", []), db.start_run("check", [])
        if not judged_late:
            db.finish_run(offline, "done", {}, offline=True)
        for p in order:
            db.add_check({**check_row(p.at, p.status, p.drift_level), "run_id": offline if p.offline else online})
        if judged_late:
            db.finish_run(offline, "done", {}, offline=True)
        judged, _ = _plain(from_state(db, [URL], policy))
        want = judge(order, policy)  # ties: the database breaks them by id, i.e. insertion order
        assert judged.get(URL, (judge([]),))[0] == want
        times = [p.at for p in order]
        if times == sorted(set(times)):  # strictly in time order: the state itself answered, not the fallback
            assert not points or state(db)["dirty"] == 0
        triggered = state(db)
        db.close()
        # The migration's backfill, over the same rows recorded by a v4 archiver, gives the same state.
        legacy = Path(tmp) / "legacy.db"
        _v4_database(legacy)
        with sqlite3.connect(legacy) as conn:
            conn.execute("UPDATE verdict_policy SET checks = ?, days = ?", [n, days])
            conn.executemany("INSERT INTO runs (id, command, status) VALUES (?, 'check', 'done')", [(1,), (2,)])
            conn.executemany(
                "INSERT INTO checks (checked_at, url, fetch_url, status, drift_level, run_id) VALUES (?,?,?,?,?,?)",
                [(stamp(p.at), URL, URL, p.status, p.drift_level, 2 if p.offline else 1) for p in order])
        migrated = ArchiveDB.open(legacy)
        migrated.finish_run(2, "done", {}, offline=True)  # v6 knows offline runs; these runs were judged now
        backfilled = state(migrated)
        assert _plain(from_state(migrated, [URL], policy))[0].get(URL, (judge([]),))[0] == want
        migrated.close()
        if triggered and not triggered["dirty"]:
            assert backfilled == triggered


def test_json_one_object_per_line_whatever_the_strings_hold() -> None:
    from archiver.report import Latest, Report, ReportRow, to_json
    from archiver.verdict import Verdict

    tricky = ['}, {"manifest": "x"}', '"}, {"manifest": ', "é\n\u2028\\", "plain"]
    rows = [ReportRow(f"m{i}", text, "https://e.org/", "https://e.org/", text, text, Verdict("unchecked"),
                      Latest(None, None, None, None, None), None) for i, text in enumerate(tricky)]
    text = to_json(Report(rows))
    lines = text[:-1].split("\n")  # U+2028 stays raw (ensure_ascii=False): not a line break here
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == len(rows) + 2
    assert json.loads(text) == [r.as_json() for r in rows]
    assert [json.loads(line.rstrip(",")) for line in lines[1:-1]] == [r.as_json() for r in rows]
