"""`archiver report`: one row per citation with its verdict, since when, and where our copy is.

The verdict is `verdict.judge` over each URL's check history, under the policy asked for; the
database is only read. Under the policy the database keeps `url_state` by (the default), each URL's
verdict inputs are one row of it, kept by triggers as checks are recorded; `report_json` then has
SQLite write the JSON objects themselves. Other policies, and URLs whose state is dirty, read the
history through set-based queries (db.py, "report" section): each URL's newest ok check and the
checks after it (all `judge` needs: a success resets the count, so older checks cannot change the
verdict), and its newest good capture.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, NamedTuple

from .config import Settings
from .db import ArchiveDB
from .errors import InvalidURL, StorageError, UsageError
from .manifests import load_targets
from .urls import normalize_url
from .verdict import ALIVE_STATUSES, BLOCKED_STATUSES, VERDICTS, CheckPoint, Policy, Verdict, judge

FORMATS = ("table", "json", "csv", "md", "html")
SUFFIX_FORMATS = {".json": "json", ".csv": "csv", ".md": "md", ".html": "html", ".htm": "html"}
# Columns of the JSON objects, in order; `capture` is an object (or null), flattened in CSV.
FIELDS = ("manifest", "id", "url", "cited_as", "context", "verdict", "status", "reason", "http_status", "final_url",
          "checked_at", "failing_since", "dead_since", "last_ok_at", "drift", "drift_level", "capture")
CAPTURE_FIELDS = ("warc", "offset", "length", "sha256", "captured_at", "record_type")
CSV_FIELDS = FIELDS[:-1] + tuple(f"capture_{name}" for name in CAPTURE_FIELDS)


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
    # such (url_state keeps only now_iso's form, which `iso` gives back): JSON need not format them again.
    stamps: Stamps | None = None

    def as_json(self) -> dict[str, Any]:
        v, latest = self.verdict, self.latest
        checked_at, failing_since, dead_since, last_ok_at = self.stamps or (
            iso(v.checked_at), iso(v.failing_since), iso(v.dead_since), iso(v.last_ok_at))
        return {"manifest": self.manifest, "id": self.id, "url": self.url, "cited_as": self.cited_as,
                "context": self.context, "verdict": v.verdict, "status": v.status, "reason": latest.reason,
                "http_status": latest.http_status, "final_url": latest.final_url, "checked_at": checked_at,
                "failing_since": failing_since, "dead_since": dead_since,
                "last_ok_at": last_ok_at, "drift": latest.drift, "drift_level": latest.drift_level,
                "capture": self.capture.as_json() if self.capture else None}


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


def count_verdicts(rows: Iterable[ReportRow]) -> dict[str, int]:
    out = dict.fromkeys(VERDICTS, 0)
    for row in rows:
        out[row.verdict.verdict] += 1
    return out


def iso(t: dt.datetime | None) -> str | None:
    """ISO 8601 UTC with Z, microseconds always shown: the form the database stores."""
    return t.isoformat(timespec="microseconds").replace("+00:00", "Z") if t is not None else None


def parse_since(text: str) -> dt.datetime:
    """A date (midnight UTC) or an ISO date-time (UTC unless it says otherwise)."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--since: {text!r} is not an ISO date or date-time") from None
    # UTC: the SQL path compares it as text with the stored stamps, which are UTC with a Z.
    return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)


def format_for(fmt: str | None, output: Path | None) -> str:
    """--format wins; else the suffix of -o (.json .csv .md .html); else the table."""
    if fmt is not None:
        return fmt
    if output is not None:
        return SUFFIX_FORMATS.get(output.suffix.lower(), "table")
    return "table"


# ------------------------------------------------------------------------------------------------
# Building the rows


Cited = tuple[str | None, str | None, str, str, str | None, str | None]  # manifest, id, url, fetch_url, cited_as, ctx


def build_report(settings: Settings, targets: list[str], policy: Policy | None = None,
                 filters: Filters | None = None) -> Report:
    """The report over TARGETs (manifest files or URLs; none: every manifest the database knows)."""
    policy = policy or Policy()
    filters = filters or Filters()
    loaded = _load_targets(settings, targets)
    with _reading(settings) as db, _gc_paused():
        titles, listed = _cited(db, targets, loaded)
        cited = listed if listed is not None else [
            (m, cid, url, fetch, cited_as, ctx)
            for m, cid, url, fetch, cited_as, ctx, _line in db.report_citations(list(titles))]
        fetch_urls = sorted({c[3] for c in cited})
        if db.report_policy() == (policy.checks, policy.days):
            judged, captures = _from_state(db, fetch_urls, policy)
        else:
            judged, captures = _from_history(db, fetch_urls, policy)
    rows = []
    with _gc_paused():
        for entry in cited:
            row = _row(entry, judged, captures)
            if filters.keep(row):
                rows.append(row)
    return Report(rows, titles, policy)


def report_json(settings: Settings, targets: list[str], policy: Policy | None = None,
                filters: Filters | None = None) -> tuple[str, int]:
    """The JSON report and its exit code (1 when a reported citation is dead), as `to_json(build_report(...))`.

    Under the policy url_state is kept by (the default), SQLite builds every object itself from
    url_state, the newest check and the good capture (db.report_json_rows): no Python object per
    citation, which is what makes 100,000 citations a matter of a second. URLs whose state is dirty go
    through `judge` as in build_report; another policy takes build_report's path whole."""
    policy = policy or Policy()
    filters = filters or Filters()
    loaded = _load_targets(settings, targets)
    with _reading(settings) as db, _gc_paused():
        if db.report_policy() == (policy.checks, policy.days):
            titles, listed = _cited(db, targets, loaded)
            db.report_fill_cited(listed, list(titles))
            texts: list[str | None] = []
            dirty: dict[int, int] = {}  # report_cited rowid -> index in texts
            dead = False
            for rowid, is_dirty, verdict, text in db.report_json_rows(filters.verdicts, iso(filters.since)):
                if is_dirty:
                    dirty[rowid] = len(texts)
                    texts.append(None)
                else:
                    texts.append(text)
                    dead = dead or verdict == "dead"
            if dirty:
                entries = db.report_cited_rows(list(dirty))
                judged, captures = _from_history(db, sorted({e[4] for e in entries}), policy)
                for rowid, *entry in entries:
                    row = _row(tuple(entry), judged, captures)
                    if filters.keep(row):
                        texts[dirty[rowid]] = _compact(row.as_json())
                        dead = dead or row.verdict.verdict == "dead"
            return _json_array([t for t in texts if t is not None]), 1 if dead else 0
    report = build_report(settings, targets, policy, filters)
    return to_json(report), report.exit_code


@contextmanager
def _reading(settings: Settings) -> Iterator[ArchiveDB]:
    """The database alone: a report reads no WARC (and so loads none of the WARC machinery)."""
    db = ArchiveDB(settings.db_path)
    try:
        yield db
    finally:
        db.close()


def _load_targets(settings: Settings, targets: list[str]) -> tuple[list[Any], list[str]]:
    loaded = load_targets(targets)  # bad manifests fail here, before the database is opened
    if not settings.db_path.exists():
        raise StorageError(f"no database at {settings.db_path}: nothing archived or checked yet")
    return loaded


def _cited(db: ArchiveDB, targets: list[str], loaded: tuple[list[Any], list[str]]
           ) -> tuple[dict[str, str | None], list[Cited] | None]:
    """Manifest titles in report order, and the citations as the TARGET files list them (in file
    order, then the bare URLs); with no TARGETs, every manifest the database knows and None: their
    citations are the database's (db.report_citations)."""
    manifests, urls = loaded
    if not targets:
        return {m["path"]: m["title"] for m in db.report_manifests()}, None
    titles: dict[str, str | None] = {}
    cited: list[Cited] = []
    for m in manifests:
        titles[m.path] = m.title
        entries = [(c.line, (m.path, c.id, c.url, _fetch_url(c.url), c.cited_as, c.context)) for c in m.citations]
        entries += [(p.line, (m.path, p.id, p.text, p.text, None, None)) for p in m.problems]
        cited += [entry for _, entry in sorted(entries, key=lambda e: e[0] or 0)]  # as the file lists them
    cited += [(None, None, u, _fetch_url(u), None, None) for u in urls]
    return titles, cited


_NOTHING: tuple[Verdict, Latest, Stamps | None] = (Verdict("unchecked"), Latest(None, None, None, None, None), None)


def _row(entry: Cited, judged: Judged, captures: dict[str, Capture]) -> ReportRow:
    manifest, cid, url, fetch_url, cited_as, context = entry
    verdict, latest, stamps = judged.get(fetch_url, _NOTHING)
    return ReportRow(manifest, cid, url, fetch_url, cited_as, context, verdict, latest, captures.get(fetch_url),
                     stamps)


Judged = dict[str, tuple[Verdict, Latest, Stamps | None]]


def _from_history(db: ArchiveDB, fetch_urls: list[str], policy: Policy) -> tuple[Judged, dict[str, Capture]]:
    """`judge` over each URL's checks since its newest ok one: any policy."""
    judged = dict(_judge_all(db.report_checks(fetch_urls), policy))
    captures = {url: Capture(row[3], row[4], row[5], row[2], row[0], row[1], row[6], row[7], row[8])
                for url, row in db.report_captures(fetch_urls).items()}
    return judged, captures


def _from_state(db: ArchiveDB, fetch_urls: list[str], policy: Policy) -> tuple[Judged, dict[str, Capture]]:
    """The verdicts from url_state (kept by triggers under the stored policy, which is `policy`): one
    row per URL. Its fields are judge's own (newest check, newest ok, the streak since it and the check
    that confirmed death), so only the word is derived here; dirty URLs (a check recorded out of
    order) are judged from their history."""
    parse = dt.datetime.fromisoformat
    judged: Judged = {}
    captures: dict[str, Capture] = {}
    dirty: list[str] = []
    for (url, is_dirty, last_ok, first, dead, checked_at, status, level, drift, http, final, reason,
         cap_at, cap_type, sha256, warc, offset, length, payload_id, ctype, cap_final) in db.report_state(fetch_urls):
        if payload_id is not None:
            captures[url] = Capture(warc, offset, length, sha256, cap_at, cap_type, payload_id, ctype, cap_final)
        if is_dirty:
            dirty.append(url)
            continue
        if status is None:
            continue  # captured, never checked: unchecked
        if status in ALIVE_STATUSES:
            word = "drifted" if level == "major" else "alive"
        elif status in BLOCKED_STATUSES:
            word = "blocked"
        else:
            word = "dead" if dead is not None else "failing"
        verdict = Verdict(word, status, parse(checked_at), parse(first) if first is not None else None,
                          parse(dead) if dead is not None else None, parse(last_ok) if last_ok is not None else None)
        judged[url] = (verdict, Latest(drift, level, http, final, reason), (checked_at, first, dead, last_ok))
    if dirty:  # after the loop: report_checks refills the temporary URL table report_state reads
        judged.update(_judge_all(db.report_checks(dirty), policy))
    return judged, captures


def _judge_all(checks: Iterator[tuple[Any, ...]],
               policy: Policy) -> Iterator[tuple[str, tuple[Verdict, Latest, Stamps | None]]]:
    parse = dt.datetime.fromisoformat
    for url, group in groupby(checks, key=lambda r: r[0]):
        rows = list(group)
        points = [CheckPoint(parse(r[1]), r[2], r[3]) for r in rows]
        last = rows[-1]
        yield url, (judge(points, policy), Latest(last[4], last[3], last[5], last[6], last[7]), None)


def _fetch_url(url: str) -> str:
    try:
        return normalize_url(url)
    except InvalidURL:
        return url  # checked (and recorded) under the text as given, with status invalid_url


# ------------------------------------------------------------------------------------------------
# Formats


def to_json(report: Report) -> str:
    return _json_array([_compact(r.as_json()) for r in report.rows])


def _compact(obj: dict[str, Any]) -> str:
    # The separators SQLite's json_object writes (report_json): one form whichever path built a row.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _json_array(objects: list[str]) -> str:
    """One object per line inside the array: diffable, greppable, and still one JSON document."""
    return "[\n" + ",\n".join(objects) + "\n]\n" if objects else "[]\n"


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while building 100,000s of acyclic rows: each collection would
    only traverse them again (about half the time of a big report)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in report.rows:
        data = row.as_json()
        capture = data.pop("capture") or {}
        writer.writerow([_csv_cell(data[k]) for k in FIELDS[:-1]] + [_csv_cell(capture.get(k)) for k in CAPTURE_FIELDS])
    return out.getvalue()


def _csv_cell(value: Any) -> Any:
    return "" if value is None else value


def to_markdown(report: Report) -> str:
    """A GitHub-flavoured table per manifest, to paste into an issue tracker."""
    lines: list[str] = []
    for manifest, rows in _by_manifest(report):
        title = report.manifests.get(manifest) if manifest else None
        lines.append(f"### {_md(manifest or 'URLs')}" + (f" — {_md(title)}" if title else ""))
        lines.append("")
        lines.append("| citation | verdict | since | status | last ok | URL | archived copy |")
        lines.append("|---|---|---|---|---|---|---|")
        for r in rows:
            v = r.verdict
            since = _day(v.dead_since if v.verdict == "dead" else v.failing_since)
            copy = (f"{_day_text(r.capture.captured_at)} `{_code(r.capture.warc)}`@{r.capture.offset}"
                    if r.capture else "none")
            status = v.status or "-"
            if v.verdict == "drifted" and r.latest.drift is not None:
                status += f" (drift {r.latest.drift:.2f})"
            lines.append(f"| {_md(r.id or '-')} | **{v.verdict}** | {since} | {status} | {_day(v.last_ok_at)} |"
                         f" `{_code(r.url)}` | {copy} |")
        lines.append("")
        lines.append(_counts_line(count_verdicts(rows)))
        lines.append("")
    return "\n".join(lines) if lines else "No citations.\n"


def _md(text: str) -> str:
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def _code(text: str) -> str:
    # Inside a code span nothing is markup, except the backtick (and a pipe ends a table cell).
    return " ".join(text.split()).replace("`", "%60").replace("|", "%7C")


VERDICT_COLOURS: dict[str, dict[str, Any]] = {
    "alive": {"fg": "green"}, "drifted": {"fg": "cyan"}, "failing": {"fg": "yellow"},
    "dead": {"fg": "red", "bold": True}, "blocked": {"fg": "magenta"}, "unchecked": {"dim": True},
}


def to_table(report: Report, *, colour: bool = False, width: int = 80) -> list[str]:
    """Fits `width` columns: a heading per manifest, then verdict, status, since (the failure's first
    or confirming check), id and as much of the URL as is left; the counts per verdict last."""
    import click

    lines: list[str] = []
    for manifest, rows in _by_manifest(report):
        title = report.manifests.get(manifest) if manifest else None
        heading = f"{manifest or 'URLs'}" + (f": {title}" if title else "") + f" ({len(rows)})"
        lines.append(_cut(heading, width))
        lines.append(_cut(f"{'verdict':<9} {'status':<18} {'since':<10} {'id':<10} url", width))
        for r in rows:
            v = r.verdict
            status = v.status or "-"
            since = _day(v.dead_since if v.verdict == "dead" else v.failing_since)
            ident = r.id or "-"
            ident = ident if len(ident) <= 10 else ident[:9] + "…"
            word = f"{v.verdict:<9}"
            rest = _cut(f" {status[:18]:<18} {since:<10} {ident:<10} {' '.join(r.url.split())}", width - len(word))
            lines.append((click.style(word, **VERDICT_COLOURS[v.verdict]) if colour else word) + rest)
        lines.append("")
    lines.append(_cut(_counts_line(report.counts), width))
    return lines


def _counts_line(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    parts = ", ".join(f"{n} {word}" for word, n in counts.items() if n)
    return f"{total} citations: {parts}" if total else "0 citations"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _day(t: dt.datetime | None) -> str:
    return t.strftime("%Y-%m-%d") if t is not None else "-"


def _day_text(text: str) -> str:
    return text[:10]


def _by_manifest(report: Report) -> list[tuple[str | None, list[ReportRow]]]:
    groups: dict[str | None, list[ReportRow]] = {}
    for row in report.rows:
        groups.setdefault(row.manifest, []).append(row)
    return list(groups.items())
