"""Building the report: one row per citation with its verdict, since when, and where our copy is.

The verdict is `verdict.judge` over each URL's check history, under the policy asked for; the
database is opened read-only. Under the policy the database keeps `url_state` by (the default), each
URL's verdict inputs are one row of it, kept by triggers as checks are recorded, and only the word is
derived (`verdict.word`); `report_json` then has SQLite write the JSON objects themselves. Other
policies, URLs whose state is dirty, and databases without url_state read the history through
set-based queries (archiver/db/queries.py): each URL's newest ok check and the checks after it (all
`judge` needs: a success resets the count, so older checks cannot change the verdict), and its newest
good capture.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import groupby
from operator import attrgetter

from .. import stamps
from ..config import Settings
from ..db import ArchiveDB
from ..db.rows import CheckRow, Cited, GoodCapture, NumberedCited, StateRow
from ..errors import StorageError
from ..manifests import Citation, Manifest, load_targets
from ..verdict import OFFLINE_SKIPS, STATUS_CLASSES, CheckPoint, Policy, Verdict, judge, word
from .formats import compact, json_array, to_json
from .rows import Capture, Filters, Latest, Report, ReportRow, Stamps, optional_iso

Loaded = tuple[list[Manifest], list[str]]
Judged = dict[str, tuple[Verdict, Latest, Stamps | None]]


def build_report(settings: Settings, targets: list[str], policy: Policy | None = None,
                 filters: Filters | None = None) -> Report:
    """The report over TARGETs (manifest files or URLs; none: every manifest the database knows)."""
    policy = policy or Policy()
    filters = filters or Filters()
    loaded = _load_targets(settings, targets)
    with _reading(settings) as db, _gc_paused():
        titles, listed = _cited(db, targets, loaded)
        cited = listed if listed is not None else db.report_citations(list(titles))
        fetch_urls = sorted({c.fetch_url for c in cited})
        if db.report_policy() == policy:
            judged, captures = from_state(db, fetch_urls, policy)
        else:
            judged, captures = from_history(db, fetch_urls, policy)
        copies = {url: tuple({"archive": c.archive, "url": c.memento_url or "", "datetime": c.memento_datetime or ""}
                             for c in found) for url, found in db.good_copies(fetch_urls).items()}
        down = db.down_archives(fetch_urls)
    rows = []
    with _gc_paused():
        for entry in cited:
            row = _row(entry, judged, captures)
            if filters.keep(row):
                rows.append(dataclasses.replace(row, copies=copies.get(entry.fetch_url, ()),
                                                copies_down=tuple(down.get(entry.fetch_url, ()))))
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
        if db.report_policy() == policy:
            titles, listed = _cited(db, targets, loaded)
            db.report_fill_cited(listed, list(titles))
            texts: list[str | None] = []
            dirty: dict[int, int] = {}  # report_cited rowid -> index in texts
            dead = False
            for found in db.report_json_rows(filters.verdicts, optional_iso(filters.since)):
                if found.dirty:
                    dirty[found.ord] = len(texts)
                    texts.append(None)
                else:
                    texts.append(found.json)
                    dead = dead or found.verdict == "dead"
            if dirty:
                entries = db.report_cited_rows(list(dirty))
                judged, captures = from_history(db, sorted({e.fetch_url for e in entries}), policy)
                elsewhere = db.good_copies(e.fetch_url for e in entries)
                down = db.down_archives(e.fetch_url for e in entries)
                for entry in entries:
                    row = _row(entry, judged, captures)
                    row = dataclasses.replace(row, copies=tuple(
                        {"archive": c.archive, "url": c.memento_url or "", "datetime": c.memento_datetime or ""}
                        for c in elsewhere.get(entry.fetch_url, [])), copies_down=tuple(down.get(entry.fetch_url, ())))
                    if filters.keep(row):
                        texts[dirty[entry.ord]] = compact(row.as_json())
                        dead = dead or row.verdict.verdict == "dead"
            return json_array([t for t in texts if t is not None]), 1 if dead else 0
    report = build_report(settings, targets, policy, filters)
    return to_json(report), report.exit_code


@contextmanager
def _reading(settings: Settings) -> Iterator[ArchiveDB]:
    """The database alone: a report reads no WARC (and so loads none of the WARC machinery)."""
    with ArchiveDB.open(settings.db_path, readonly=True) as db:  # SQLite's errors leave as the archiver's
        yield db


def _load_targets(settings: Settings, targets: list[str]) -> Loaded:
    loaded = load_targets(targets)  # bad manifests fail here, before the database is opened
    if not settings.db_path.exists():
        raise StorageError(f"no database at {settings.db_path}: nothing archived or checked yet")
    return loaded


def _cited(db: ArchiveDB, targets: list[str], loaded: Loaded) -> tuple[dict[str, str | None], list[Cited] | None]:
    """Manifest titles in report order, and the citations as the TARGET files list them (in file
    order, then the bare URLs); with no TARGETs, every manifest the database knows and None: their
    citations are the database's (db.report_citations)."""
    manifests, urls = loaded
    if not targets:
        return {m.path: m.title for m in db.report_manifests()}, None
    titles: dict[str, str | None] = {}
    cited: list[Cited] = []
    for m in manifests:
        titles[m.path] = m.title
        entries = [Cited(m.path, c.id, c.url, c.fetch_url, c.cited_as, c.context, c.line) for c in m.citations]
        # An invalid URL is checked (and recorded) under its text as printed.
        entries += [Cited(m.path, p.id, p.text, p.text, None, None, p.line) for p in m.problems]
        cited += sorted(entries, key=lambda e: e.line or 0)  # as the file lists them
    # A bare URL that does not parse is checked (and recorded) under the text as given: Citation's fallback.
    cited += [Cited(None, None, u, Citation(u, 0).fetch_url, None, None, None) for u in urls]
    return titles, cited


_NOTHING: tuple[Verdict, Latest, Stamps | None] = (Verdict("unchecked"), Latest(None, None, None, None, None), None)


def _row(entry: Cited | NumberedCited, judged: Judged, captures: dict[str, Capture]) -> ReportRow:
    verdict, latest, stored = judged.get(entry.fetch_url, _NOTHING)
    return ReportRow(entry.manifest, entry.citation_id, entry.url, entry.fetch_url, entry.cited_as, entry.context,
                     verdict, latest, captures.get(entry.fetch_url), stored)


def from_history(db: ArchiveDB, fetch_urls: list[str], policy: Policy) -> tuple[Judged, dict[str, Capture]]:
    """`judge` over each URL's checks since its newest ok one: any policy."""
    judged = dict(_judge_all(db.report_checks(fetch_urls), policy))
    captures = {url: _capture(good) for url, good in db.report_captures(fetch_urls).items()}
    return judged, captures


def from_state(db: ArchiveDB, fetch_urls: list[str], policy: Policy) -> tuple[Judged, dict[str, Capture]]:
    """The verdicts from url_state (kept by triggers under the stored policy, which is `policy`): one
    row per URL. Its fields are judge's own (newest check, newest ok, the streak since it and the check
    that confirmed death), so only the word is derived here; dirty URLs (a check recorded out of
    order) are judged from their history."""
    judged: Judged = {}
    captures: dict[str, Capture] = {}
    dirty: list[str] = []
    for state in db.report_state(fetch_urls):
        capture = _state_capture(state)
        if capture is not None:
            captures[state.fetch_url] = capture
        if state.dirty:
            dirty.append(state.fetch_url)
            continue
        if state.status is None or state.checked_at is None:
            continue  # captured, never checked: unchecked
        # judge's `offline`: the newest check is a failure of an offline run, and none since the newest
        # ok one counted.
        offline = (STATUS_CLASSES.get(state.status) == OFFLINE_SKIPS and bool(state.last_offline)
                   and state.streak_n == 0)
        verdict = Verdict(word(state.status, state.drift_level, state.dead_since is not None), state.status,
                          stamps.parse(state.checked_at), stamps.parse_optional(state.streak_first_at),
                          stamps.parse_optional(state.dead_since), stamps.parse_optional(state.last_ok_at),
                          state.offline_n, offline)
        latest = Latest(state.drift, state.drift_level, state.http_status, state.final_url, state.reason)
        judged[state.fetch_url] = (verdict, latest, (state.checked_at, state.streak_first_at, state.dead_since,
                                                     state.last_ok_at))
    if dirty:  # after the loop: report_checks refills the temporary URL table report_state reads
        judged.update(_judge_all(db.report_checks(dirty), policy))
    return judged, captures


def _judge_all(checks: Iterator[CheckRow],
               policy: Policy) -> Iterator[tuple[str, tuple[Verdict, Latest, Stamps | None]]]:
    for url, group in groupby(checks, key=attrgetter("fetch_url")):
        rows = list(group)
        points = [CheckPoint(stamps.parse(r.checked_at), r.status, r.drift_level, bool(r.offline)) for r in rows]
        last = rows[-1]
        yield url, (judge(points, policy), Latest(last.drift, last.drift_level, last.http_status, last.final_url,
                                                  last.reason), None)


def _capture(good: GoodCapture) -> Capture:
    return Capture(good.warc, good.offset, good.length, good.sha256, good.captured_at, good.record_type,
                   good.payload_capture_id, good.content_type, good.final_url)


def _state_capture(s: StateRow) -> Capture | None:
    """The newest good capture of a url_state row (None: the URL has none)."""
    if (s.payload_capture_id is None or s.warc is None or s.offset is None or s.length is None
            or s.captured_at is None or s.record_type is None):
        return None
    return Capture(s.warc, s.offset, s.length, s.sha256, s.captured_at, s.record_type, s.payload_capture_id,
                   s.content_type, s.capture_final_url)


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
