"""The verdict on a citation, from the history of its checks: the one rule `check` and `report` share.

Death needs confirmation (as IABot learned): N consecutive failed checks spanning at least D days;
any success resets the count. Blocked answers (forbidden, rate_limited, login_wall) say nothing about
the page, so they neither confirm nor reset a failure streak.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

ALIVE_STATUSES = frozenset({"ok", "redirected"})
BLOCKED_STATUSES = frozenset({"forbidden", "rate_limited", "login_wall"})
FAILED_STATUSES = frozenset({
    "soft_404", "not_found", "gone", "server_error", "client_error", "parked", "dns_error",
    "connection_error", "timeout", "tls_error", "too_many_redirects", "invalid_url",
})
STATUSES = ALIVE_STATUSES | BLOCKED_STATUSES | FAILED_STATUSES
VERDICTS = ("alive", "drifted", "failing", "dead", "blocked", "unchecked")


@dataclass(frozen=True)
class Policy:
    checks: int = 3  # consecutive failed checks needed to call a citation dead
    days: float = 3.0  # ...spanning at least this long


@dataclass(frozen=True)
class CheckPoint:
    at: dt.datetime
    status: str
    drift_level: str | None = None


@dataclass(frozen=True)
class Verdict:
    verdict: str
    status: str | None = None  # of the newest check
    checked_at: dt.datetime | None = None
    failing_since: dt.datetime | None = None
    dead_since: dt.datetime | None = None
    last_ok_at: dt.datetime | None = None


def judge(history: Sequence[CheckPoint], policy: Policy = Policy()) -> Verdict:
    """The verdict after the checks in `history` (any order; times are compared)."""
    if not history:
        return Verdict("unchecked")
    checks = sorted(history, key=lambda c: c.at)
    latest = checks[-1]
    last_ok = next((c.at for c in reversed(checks) if c.status in ALIVE_STATUSES), None)
    streak = [c for c in checks if c.status in FAILED_STATUSES and (last_ok is None or c.at > last_ok)]
    failing_since = streak[0].at if streak else None
    dead_since = None
    span = dt.timedelta(days=policy.days)
    for i, check in enumerate(streak):
        if i + 1 >= policy.checks and check.at - streak[0].at >= span:
            dead_since = check.at
            break
    if latest.status in ALIVE_STATUSES:
        word = "drifted" if latest.drift_level == "major" else "alive"
    elif latest.status in BLOCKED_STATUSES:
        word = "blocked"
    else:
        word = "dead" if dead_since is not None else "failing"
    return Verdict(word, latest.status, latest.at, failing_since, dead_since, last_ok)


def verdict_timeline(history: Sequence[CheckPoint], policy: Policy = Policy()) -> list[tuple[dt.datetime, str]]:
    """The verdict as it stood after each check: the report's chart over time."""
    checks = sorted(history, key=lambda c: c.at)
    return [(checks[i].at, judge(checks[: i + 1], policy).verdict) for i in range(len(checks))]
