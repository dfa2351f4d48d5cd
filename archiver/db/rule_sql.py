"""The verdict rule of archiver/verdict.py written as SQL: its status classes as IN lists, its word
rule as a CASE expression, and which checks an offline run leaves out of a streak, generated from
verdict.py's tables so that both always say the same."""

from __future__ import annotations

from .. import verdict
from ..verdict import Case


def quote(text: str) -> str:
    """An SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def in_list(status_class: str) -> str:
    """`('ok', 'redirected')`: the status words of a class, for `status IN ...`."""
    words = verdict.statuses(status_class)
    if not words:
        known = sorted(set(verdict.STATUS_CLASSES.values()))
        raise ValueError(f"no status word is of class {status_class!r} (classes: {known})")
    return "(" + ", ".join(quote(w) for w in words) + ")"


def word_sql(status: str, drift_level: str, dead_since: str) -> str:
    """verdict.word as an SQL expression over three columns: the newest check's status (NULL: never
    checked) and drift level, and the time death was confirmed (NULL: not confirmed)."""
    parts = [f"CASE WHEN {status} IS NULL THEN {quote(verdict.UNCHECKED)}"]
    for case in verdict.WORD_RULE:  # read at each call: the SQL is always the rule as it stands
        condition = _condition(case, status, drift_level, dead_since)
        if not condition:  # fits anything: the cases after it can never apply
            parts.append(f"ELSE {quote(case.word)}")
            break
        parts.append(f"WHEN {condition} THEN {quote(case.word)}")
    return " ".join(parts) + " END"


def _condition(case: Case, status: str, drift_level: str, dead_since: str) -> str:
    terms = []
    if case.status_class is not None:
        terms.append(f"{status} IN {in_list(case.status_class)}")
    if case.drift_level is not None:
        # IS: a NULL drift level is no level, as None in Python (`=` would make the whole case unknown).
        terms.append(f"{drift_level} IS {quote(case.drift_level)}")
    if case.confirmed is not None:
        terms.append(f"{dead_since} IS {'NOT NULL' if case.confirmed else 'NULL'}")
    return " AND ".join(terms)


def run_offline(run_id: str) -> str:
    """SQL: 1 when the run of a check (`run_id`: the column holding its id) was judged offline, else 0
    (also for a run never judged: older databases, checks recorded outside a run)."""
    return f"COALESCE((SELECT r.offline FROM runs r WHERE r.id = {run_id}), 0)"


def skipped_failure(status: str, run_id: str) -> str:
    """SQL for CheckPoint.skipped: a failure of an offline run, which neither confirms nor ends a streak."""
    return f"({status} IN {in_list(verdict.OFFLINE_SKIPS)} AND {run_offline(run_id)})"


def counted_failure(status: str, run_id: str) -> str:
    """SQL: a failed check that counts toward death (its run was not offline)."""
    return f"({status} IN {in_list(verdict.FAILED)} AND NOT {skipped_failure(status, run_id)})"
