"""The verdict rule: death needs N consecutive failures spanning D days; any success resets."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from archiver.verdict import (
    ALIVE_STATUSES,
    BLOCKED_STATUSES,
    FAILED_STATUSES,
    STATUSES,
    CheckPoint,
    Policy,
    judge,
    verdict_timeline,
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
    assert len(STATUSES) == 17
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
