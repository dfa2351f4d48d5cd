"""What a report is made of: one ReportRow per citation (its verdict, what the newest check saw, the
newest good capture), the Report around them, the filters that select rows, and the JSON object of a
row (FIELDS, the contract every format follows)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .. import stamps
from ..verdict import VERDICTS, Policy, Verdict

# Columns of the JSON objects, in order; `capture` is an object (or null), flattened in CSV. `offline`:
# every failure since the newest ok check was of a run without network (the verdict reads "failing
# (offline)"); `offline_checks`: how many failures since then did not count for that reason.
FIELDS = ("manifest", "id", "url", "cited_as", "context", "verdict", "status", "reason", "http_status", "final_url",
          "checked_at", "failing_since", "dead_since", "last_ok_at", "drift", "drift_level", "capture", "offline",
          "offline_checks", "copies", "copies_down")
CAPTURE_FIELDS = ("warc", "offset", "length", "sha256", "captured_at", "record_type")


@dataclass(frozen=True)
class Filters:
    """--dead/--drifted/--failing select verdicts (several: any of them); --since keeps citations whose
    failure began or was confirmed on or after the moment (failing_since or dead_since >= since)."""

    verdicts: frozenset[str] = frozenset()
    since: dt.datetime | None = None

    def keep(self, row: ReportRow) -> bool:
        if self.verdicts and row.verdict.verdict not in self.verdicts:
            return False
        if self.since is not None:
            v = row.verdict
            return any(t is not None and t >= self.since for t in (v.failing_since, v.dead_since))
        return True


@dataclass(frozen=True)
class Capture:
    """The newest good capture. For a revisit, `captured_at` is the revisit's time (the evidence
    that these bytes were still served then) while warc/offset/length locate the original record,
    which holds the bytes; `record_type` says which case it is."""

    warc: str
    offset: int
    length: int
    sha256: str | None
    captured_at: str
    record_type: str
    payload_capture_id: int  # the capture row whose record holds the payload
    content_type: str | None
    final_url: str | None

    def as_json(self) -> dict[str, Any]:
        return {"warc": self.warc, "offset": self.offset, "length": self.length, "sha256": self.sha256,
                "captured_at": self.captured_at, "record_type": self.record_type}


class Latest(NamedTuple):
    """What the newest check saw, beyond its status word (which the verdict carries)."""

    drift: float | None
    drift_level: str | None
    http_status: int | None
    final_url: str | None
    reason: str | None


Stamps = tuple[str, str | None, str | None, str | None]


@dataclass(frozen=True)
class ReportRow:
    manifest: str | None
    id: str | None
    url: str
    fetch_url: str
    cited_as: str | None
    context: str | None
    verdict: Verdict
    latest: Latest
    capture: Capture | None
    # The verdict's checked_at, failing_since, dead_since, last_ok_at as stored, when they were read as
    # such (url_state keeps only stamps.iso's form, which optional_iso gives back): JSON need not format
    # them again.
    stamps: Stamps | None = None
    # Judged copies in other web archives (archiver/copies/), nearest first: {archive, url, datetime}.
    copies: tuple[dict[str, str], ...] = ()
    # The archives that did not answer when last asked for a copy: with no copy, "archive down" rather
    # than "no copy".
    copies_down: tuple[str, ...] = ()

    @property
    def best_copy(self) -> dict[str, str] | None:
        """The copy elsewhere a report shows: of a dead or drifted citation, the nearest one."""
        if self.copies and self.verdict.verdict in ("dead", "drifted", "failing"):
            return self.copies[0]
        return None

    def as_json(self) -> dict[str, Any]:
        v, latest = self.verdict, self.latest
        checked_at, failing_since, dead_since, last_ok_at = self.stamps or (
            optional_iso(v.checked_at), optional_iso(v.failing_since), optional_iso(v.dead_since),
            optional_iso(v.last_ok_at))
        return {"manifest": self.manifest, "id": self.id, "url": self.url, "cited_as": self.cited_as,
                "context": self.context, "verdict": v.verdict, "status": v.status, "reason": latest.reason,
                "http_status": latest.http_status, "final_url": latest.final_url, "checked_at": checked_at,
                "failing_since": failing_since, "dead_since": dead_since,
                "last_ok_at": last_ok_at, "drift": latest.drift, "drift_level": latest.drift_level,
                "capture": self.capture.as_json() if self.capture else None, "offline": v.offline,
                "offline_checks": v.offline_checks, "copies": list(self.copies),
                "copies_down": list(self.copies_down)}


@dataclass
class Report:
    rows: list[ReportRow]
    manifests: dict[str, str | None] = field(default_factory=dict)  # path -> title, in report order
    policy: Policy = Policy()

    @property
    def counts(self) -> dict[str, int]:
        return count_verdicts(self.rows)

    @property
    def exit_code(self) -> int:
        """1 when a reported citation is dead (a paper's CI fails on it), else 0."""
        return 1 if any(r.verdict.verdict == "dead" for r in self.rows) else 0


def offline_checks(rows: Iterable[ReportRow]) -> int:
    """Failures of the rows' citations, since each one's newest ok check, that did not count toward
    death: their runs were judged offline."""
    return sum(row.verdict.offline_checks for row in rows)


def count_verdicts(rows: Iterable[ReportRow]) -> dict[str, int]:
    out = dict.fromkeys(VERDICTS, 0)
    for row in rows:
        out[row.verdict.verdict] += 1
    return out


def optional_iso(t: dt.datetime | None) -> str | None:
    """The stored form of a time (stamps.iso: UTC, microseconds, Z), None for None."""
    return stamps.iso(t) if t is not None else None


def by_manifest(report: Report) -> list[tuple[str | None, list[ReportRow]]]:
    """The rows grouped by manifest, in report order (bare URLs: manifest None)."""
    groups: dict[str | None, list[ReportRow]] = {}
    for row in report.rows:
        groups.setdefault(row.manifest, []).append(row)
    return list(groups.items())
