"""The verdict rule: death needs N consecutive failures spanning D days; any success resets."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver import stamps, verdict
from archiver.db import ArchiveDB
from archiver.db.rule_sql import in_list, word_sql
from archiver.verdict import (
    ALIVE_STATUSES,
    BLOCKED_STATUSES,
    FAILED_STATUSES,
    STATUSES,
    VERDICTS,
    CheckPoint,
    Policy,
    judge,
    verdict_timeline,
    word,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(days: float) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


def history(*items: tuple[float, str] | tuple[float, str, str]) -> list[CheckPoint]:
    return [CheckPoint(at(i[0]), i[1], i[2] if len(i) > 2 else None) for i in items]  # type: ignore[misc]


def test_no_checks_is_unchecked() -> None:
    assert judge([]).verdict == "unchecked"


def test_dead_needs_three_failures_over_three_days() -> None:
    assert judge(history((0, "not_found"), (1, "not_found"), (2, "not_found"))).verdict == "failing"
    v = judge(history((0, "not_found"), (1, "not_found"), (3, "not_found")))
    assert v.verdict == "dead"
    assert v.failing_since == at(0) and v.dead_since == at(3)
    # Many failures within one day are not enough.
    assert judge(history(*[(i / 10, "timeout") for i in range(10)])).verdict == "failing"


def test_success_resets_the_count() -> None:
    v = judge(history((0, "not_found"), (1, "not_found"), (2, "ok"), (3, "not_found"), (4, "gone")))
    assert v.verdict == "failing"
    assert v.failing_since == at(3) and v.last_ok_at == at(2)
    v = judge(history((0, "gone"), (2, "gone"), (3, "gone"), (4, "ok")))
    assert v.verdict == "alive" and v.dead_since is None and v.failing_since is None  # back from the dead


def test_blocked_neither_confirms_nor_resets() -> None:
    v = judge(history((0, "dns_error"), (1, "forbidden"), (2, "dns_error"), (4, "dns_error")))
    assert v.verdict == "dead" and v.failing_since == at(0)
    assert judge(history((0, "ok"), (1, "login_wall"))).verdict == "blocked"
    assert judge(history((0, "rate_limited"), (1, "rate_limited"), (5, "forbidden"))).verdict == "blocked"


def offline(days: float, status: str) -> CheckPoint:
    """A check of a run judged offline."""
    return CheckPoint(at(days), status, None, offline=True)


def test_failures_of_offline_runs_neither_confirm_nor_reset() -> None:
    h = [offline(0, "dns_error"), offline(1, "connection_error"), offline(2, "timeout"), offline(4, "tls_error")]
    v = judge(h)
    assert (v.verdict, v.label, v.offline, v.offline_checks) == ("failing", "failing (offline)", True, 4)
    assert v.failing_since is None and v.dead_since is None
    # real failures around them still confirm death, the offline ones count apart
    v = judge([*history((0, "not_found"), (1, "not_found")), offline(2, "dns_error"), *history((3, "not_found"))])
    assert (v.verdict, v.offline, v.offline_checks, v.failing_since) == ("dead", False, 1, at(0))
    # a dead citation stays dead through an offline run, not "failing (offline)"
    v = judge([*history((0, "gone"), (1, "gone"), (3, "gone")), offline(4, "dns_error")])
    assert (v.verdict, v.label, v.offline_checks) == ("dead", "dead", 1)
    # a real failure, then offline ones: failing, not only offline
    v = judge([*history((0, "not_found")), offline(1, "dns_error")])
    assert (v.verdict, v.offline, v.failing_since) == ("failing", False, at(0))


def test_a_page_seen_during_an_offline_run_was_seen() -> None:
    """A run judged offline may still reach some pages: those answers reset the streak as ever."""
    v = judge([*history((0, "gone"), (1, "gone")), offline(2, "ok"), *history((3, "gone"))])
    assert (v.verdict, v.last_ok_at, v.failing_since, v.offline_checks) == ("failing", at(2), at(3), 0)
    v = judge([offline(0, "dns_error"), *history((1, "ok")), offline(2, "timeout")])
    assert (v.label, v.offline_checks, v.last_ok_at) == ("failing (offline)", 1, at(1))
    assert judge([offline(0, "forbidden")]).verdict == "blocked"  # only failures are skipped


def test_major_drift_is_drifted_minor_is_alive() -> None:
    assert judge(history((0, "ok", "unchanged"), (1, "ok", "major"))).verdict == "drifted"
    assert judge(history((0, "ok", "major"), (1, "redirected", "minor"))).verdict == "alive"


def test_policy_is_configurable() -> None:
    h = history((0, "gone"), (0.5, "gone"))
    assert judge(h).verdict == "failing"
    assert judge(h, Policy(checks=2, days=0.5)).verdict == "dead"
    assert judge(h, Policy(checks=1, days=0)).dead_since == at(0)


def test_status_sets_partition_the_words() -> None:
    assert ALIVE_STATUSES | BLOCKED_STATUSES | FAILED_STATUSES == STATUSES
    assert len(STATUSES) == 20 and {"legal_block", "blocked_address"} <= BLOCKED_STATUSES
    assert "incomplete" in FAILED_STATUSES
    assert not (ALIVE_STATUSES & BLOCKED_STATUSES or ALIVE_STATUSES & FAILED_STATUSES
                or BLOCKED_STATUSES & FAILED_STATUSES)


@given(st.lists(st.tuples(st.integers(0, 30 * 1440).map(lambda m: m / 1440), st.sampled_from(sorted(STATUSES))),
                max_size=30, unique_by=lambda item: item[0]),
       st.integers(1, 5), st.floats(0, 10))
def test_properties(items: list[tuple[float, str]], n: int, d: float) -> None:
    h = history(*items)
    v = judge(h, Policy(n, d))
    if not h:
        assert v.verdict == "unchecked"
        return
    latest = max(h, key=lambda c: c.at)
    assert v.checked_at == latest.at
    if v.verdict == "dead":
        assert v.dead_since is not None and v.failing_since is not None
        assert v.dead_since - v.failing_since >= dt.timedelta(days=d)
    if latest.status in ALIVE_STATUSES:
        assert v.verdict in ("alive", "drifted")
    # Order of the input does not matter; the timeline ends in the same verdict.
    assert judge(list(reversed(h)), Policy(n, d)) == v
    assert verdict_timeline(h, Policy(n, d))[-1][1] == v.verdict


# -- the rule as SQL: generated from the same tables, it must say what the Python rule says -------------

WORD_STATUSES = [None, *sorted(STATUSES), "some_new_word"]
LEVELS = [None, "unchanged", "minor", "major"]


def test_word_sql_is_word_for_every_input(tmp_path: Path) -> None:
    """Every (status, drift level, confirmed) there is, through SQLite on a real file."""
    dead_or_not = (None, "2026-01-04T06:00:00.000000Z")
    inputs = [(s, level, dead) for s in WORD_STATUSES for level in LEVELS for dead in dead_or_not]
    with sqlite3.connect(tmp_path / "words.db") as conn:
        conn.execute("CREATE TABLE k (status TEXT, drift_level TEXT, dead_since TEXT)")
        conn.executemany("INSERT INTO k VALUES (?, ?, ?)", inputs)
        got = conn.execute(f"SELECT {word_sql('status', 'drift_level', 'dead_since')} FROM k ORDER BY rowid").fetchall()
    assert [w for (w,) in got] == [word(s, level, dead is not None) for s, level, dead in inputs]
    assert {w for (w,) in got} == set(VERDICTS)


def test_word_sql_follows_the_rule_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """A change in verdict.py changes the SQL: the SQL is read from the tables, not written beside them."""
    before = word_sql("s", "d", "x")
    monkeypatch.setitem(verdict.STATUS_CLASSES, "paywalled", verdict.BLOCKED)
    assert "'paywalled'" in word_sql("s", "d", "x") and "'paywalled'" not in before
    monkeypatch.setattr(verdict, "WORD_RULE", verdict.WORD_RULE[1:])  # no more "drifted"
    assert "drifted" not in word_sql("s", "d", "x")
    assert in_list(verdict.BLOCKED) == (
        "('forbidden', 'rate_limited', 'login_wall', 'legal_block', 'blocked_address', 'paywalled')")


URLS = [f"https://example.org/{n}" for n in range(4)]
history_st = st.lists(
    st.tuples(st.sampled_from(URLS), st.integers(0, 12 * 24), st.sampled_from([0, 1, 999_999]),
              st.sampled_from(WORD_STATUSES[1:]), st.sampled_from(LEVELS), st.sampled_from([0, 0, 1])),
    max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history_st, st.sampled_from([1, 2, 3, 4]), st.sampled_from([0.0, 0.5, 1.0, 3.0]))
def test_sql_verdicts_agree_with_judge(items: list[tuple[str, int, int, str, str | None, int]], n: int,
                                       days: float) -> None:
    """Check histories of a few citations go into a real archive database through ArchiveDB (its
    triggers keep url_state); the citation_verdicts view and the report's SQL-built JSON must give
    judge's verdict and times, under the stored policy. Checks belong to two runs, one judged offline."""
    policy = Policy(n, days)
    with tempfile.TemporaryDirectory() as tmp:
        db = ArchiveDB.open(Path(tmp) / "archiver.db")
        try:
            with db.transaction():
                db.db.execute("UPDATE verdict_policy SET checks = ?, days = ?", [n, days])
            db.db.execute("UPDATE url_state SET dirty = 0")  # none yet: the policy is set before any check
            db.record_manifest("m.yaml", "m", None, None, {}, [
                {"key": url, "citation_id": f"c{i}", "url": url, "fetch_url": url, "cited_as": None, "context": None,
                 "accessed": None, "line": i + 1, "extra": None} for i, url in enumerate(URLS)])
            histories: dict[str, list[CheckPoint]] = {url: [] for url in URLS}
            online, offline_run = db.start_run("check", []), db.start_run("check", [])
            db.finish_run(online, "done", {}, offline=False)
            db.finish_run(offline_run, "done", {}, offline=True)
            for url, hours, micros, status, level, off in items:
                point = CheckPoint(T0 + dt.timedelta(hours=hours, microseconds=micros), status, level, bool(off))
                histories[url].append(point)  # ties in time: both sides take the later insertion as newer
                db.add_check({"checked_at": stamps.iso(point.at), "url": url, "fetch_url": url, "status": status,
                              "drift_level": level, "manifest": "m.yaml", "run_id": offline_run if off else online})
            want = {url: judge(points, policy) for url, points in histories.items()}
            view = {row["url"]: row for row in db.db.query("SELECT * FROM citation_verdicts")}
            db.report_fill_cited(None, ["m.yaml"])
            built = {json.loads(r.json)["url"]: json.loads(r.json) for r in db.report_json_rows([], None) if r.json}
        finally:
            db.close()
    for url, v in want.items():
        times = [stamps.iso(t) if t else None for t in (v.checked_at, v.failing_since, v.dead_since, v.last_ok_at)]
        got = view[url]
        assert [got["verdict"], got["checked_at"], got["failing_since"], got["dead_since"], got["last_ok_at"],
                got["offline"], got["offline_checks"]] == [v.verdict, *times, int(v.offline), v.offline_checks], url
        if url in built:  # not dirty (checks recorded in time order): SQLite built it from url_state
            row = built[url]
            assert [row["verdict"], row["checked_at"], row["failing_since"], row["dead_since"], row["last_ok_at"],
                    row["offline"], row["offline_checks"]] == [v.verdict, *times, v.offline, v.offline_checks], url
    in_order = all([p.at for p in h] == sorted({p.at for p in h}) for h in histories.values())
    assert not in_order or set(built) == set(URLS)  # the SQL path answered, not the Python fallback
