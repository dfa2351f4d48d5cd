"""The verdict on a citation, from the history of its checks: the one rule `check` and `report` share.

Death needs confirmation (as IABot learned): N consecutive failed checks spanning at least D days;
any success resets the count. Blocked answers (forbidden, rate_limited, login_wall, legal_block) say nothing about
the page, so they neither confirm nor reset a failure streak. Nor do the failures of a run judged offline
(`runs.offline`, archiver/offline.py): the network was down, not the page; they are counted apart
(`offline_checks`), and a citation whose only failures are such shows `failing (offline)`.

The rule is data here, read twice: by `word` and `judge` in Python, and by archiver/db/rule_sql.py,
which writes it as SQL for the views, the url_state triggers and the report's JSON. Change it here
and both change (tests/unit/test_verdict.py holds them to agreeing on real SQLite files).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

# Status classes: what a check's status word says about the cited page.
SEEN = "seen"  # the page itself answered: the citation is alive, and any failure streak ends
BLOCKED = "blocked"  # we were kept out: no word on the page, so a streak neither ends nor grows
FAILED = "failed"  # the page is not there: one more failure toward death

# Every status word a check records (the README's order) and its class: the one list of them.
STATUS_CLASSES: dict[str, str] = {
    "ok": SEEN, "redirected": SEEN, "soft_404": FAILED, "not_found": FAILED, "gone": FAILED,
    "server_error": FAILED, "client_error": FAILED, "forbidden": BLOCKED, "rate_limited": BLOCKED,
    "login_wall": BLOCKED, "legal_block": BLOCKED, "parked": FAILED, "dns_error": FAILED,
    "connection_error": FAILED, "timeout": FAILED,
    # A body cut short (reset, short of its Content-Length, a broken chunked stream, the time cap):
    # transient as a timeout is, and never read for content (no soft-404 from half a page).
    "incomplete": FAILED,
    "tls_error": FAILED, "too_many_redirects": FAILED, "invalid_url": FAILED,
    "blocked_address": BLOCKED,
}


def statuses(status_class: str) -> tuple[str, ...]:
    """The status words of a class, in STATUS_CLASSES' order."""
    return tuple(word for word, kind in STATUS_CLASSES.items() if kind == status_class)


ALIVE_STATUSES = frozenset(statuses(SEEN))
BLOCKED_STATUSES = frozenset(statuses(BLOCKED))
FAILED_STATUSES = frozenset(statuses(FAILED))
STATUSES = frozenset(STATUS_CLASSES)
VERDICTS = ("alive", "drifted", "failing", "dead", "blocked", "unchecked")
UNCHECKED = "unchecked"  # the word of a citation no check has seen
# The class whose checks do not count when their run was offline: those failures say the network was
# down, not the page. A page that answered during such a run was seen all the same.
OFFLINE_SKIPS = FAILED


@dataclass(frozen=True)
class Case:
    """One line of the word rule: it applies when the newest check's status class is `status_class`
    (None: any word, known or not), its drift level is `drift_level` (None: any), and death is
    `confirmed` or not (None: either)."""

    word: str
    status_class: str | None = None
    drift_level: str | None = None
    confirmed: bool | None = None

    def applies(self, status_class: str | None, drift_level: str | None, confirmed: bool) -> bool:
        return ((self.status_class is None or self.status_class == status_class)
                and (self.drift_level is None or self.drift_level == drift_level)
                and (self.confirmed is None or self.confirmed == confirmed))


# The verdict word of a checked citation: the first case its newest check fits. The status decides
# first: drift measured on a login wall is not drift of the cited page. The last case fits anything.
WORD_RULE: tuple[Case, ...] = (
    Case("drifted", SEEN, drift_level="major"),
    Case("alive", SEEN),
    Case("blocked", BLOCKED),
    Case("dead", confirmed=True),
    Case("failing"),
)


def word(status: str | None, drift_level: str | None, confirmed: bool) -> str:
    """The verdict word from the newest check (its status, None when never checked, and drift level) and
    whether the failure streak has confirmed death."""
    if status is None:
        return UNCHECKED
    status_class = STATUS_CLASSES.get(status)
    return next(case.word for case in WORD_RULE if case.applies(status_class, drift_level, confirmed))


@dataclass(frozen=True)
class Policy:
    checks: int = 3  # consecutive failed checks needed to call a citation dead
    days: float = 3.0  # ...spanning at least this long


@dataclass(frozen=True)
class CheckPoint:
    at: dt.datetime
    status: str
    drift_level: str | None = None
    offline: bool = False  # the check's run was judged offline

    @property
    def skipped(self) -> bool:
        """A failure of an offline run: it neither confirms nor ends a streak."""
        return self.offline and STATUS_CLASSES.get(self.status) == OFFLINE_SKIPS


@dataclass(frozen=True)
class Verdict:
    verdict: str
    status: str | None = None  # of the newest check
    checked_at: dt.datetime | None = None
    failing_since: dt.datetime | None = None
    dead_since: dt.datetime | None = None
    last_ok_at: dt.datetime | None = None
    offline_checks: int = 0  # failures since the newest ok check that did not count: their run was offline
    offline: bool = False  # failing, and every failure since the newest ok check was of an offline run

    @property
    def label(self) -> str:
        """The verdict as people read it: `failing (offline)` for an offline-only failure."""
        return f"{self.verdict} (offline)" if self.offline else self.verdict


def judge(history: Sequence[CheckPoint], policy: Policy = Policy()) -> Verdict:
    """The verdict after the checks in `history` (any order; times are compared)."""
    if not history:
        return Verdict(UNCHECKED)
    checks = sorted(history, key=lambda c: c.at)
    latest = checks[-1]
    last_ok = next((c.at for c in reversed(checks) if c.status in ALIVE_STATUSES), None)
    since_ok = [c for c in checks if last_ok is None or c.at > last_ok]
    streak = [c for c in since_ok if c.status in FAILED_STATUSES and not c.skipped]
    failing_since = streak[0].at if streak else None
    dead_since = None
    span = dt.timedelta(days=policy.days)
    for i, check in enumerate(streak):
        if i + 1 >= policy.checks and check.at - streak[0].at >= span:
            dead_since = check.at
            break
    verdict = word(latest.status, latest.drift_level, dead_since is not None)
    return Verdict(verdict, latest.status, latest.at, failing_since, dead_since, last_ok,
                   sum(1 for c in since_ok if c.skipped), latest.skipped and not streak)


def verdict_timeline(history: Sequence[CheckPoint], policy: Policy = Policy()) -> list[tuple[dt.datetime, str]]:
    """The verdict as it stood after each check: the report's chart over time."""
    checks = sorted(history, key=lambda c: c.at)
    return [(checks[i].at, judge(checks[: i + 1], policy).verdict) for i in range(len(checks))]
