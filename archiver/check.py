"""`archiver check`: is each cited URL still there, and does it still say what was cited?

A check is a run (run.py) that also reads what it fetched: the same fetcher, politeness and WARC writing
(content that changed becomes a new capture, unchanged content a revisit), plus a status word from
the answer (classify.py), a random-sibling probe for soft-404s, and drift against the baseline capture
(drift.py). Each check is one row in `checks`, committed with the capture that holds what it saw.

A page the browser rendered (`--capture browser`, auto's choice, a citation's `capture: browser`) is
judged as the browser showed it, not by its HTML shell: the status from the title and text after scripts
ran (the DOM, read like any page), drift against the DOM of the baseline browser capture. A page once
captured in the browser is rendered again under auto, so that a deleted post whose shell has not changed
is still seen. The check row says which it judged (`mode`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import multiprocessing
import os
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from . import stamps
from .archive import Archive
from .browser.chromium import unavailable
from .browser.rendering import Rendering
from .classify import CUT_OFF, Seen, by_code, classify, cut_off, sibling_applies, sibling_key, sibling_url
from .cluster import engine_for
from .config import Settings
from .content import PageText, page_text
from .drift import Drift, compare
from .errors import Interrupted
from .fetch.fetcher import Fetcher
from .fetch.results import FetchResult, Hop
from .manifests import Manifest, load_targets
from .outcomes import Outcome, RunLog, Summary
from .rendered import read_resource
from .run import Fetched, Job, Run, RunKind, Stored, execute, url_target
from .spill import SpillList
from .storage import WarcCarry
from .verdict import ALIVE_STATUSES, CheckPoint, Policy, Verdict, judge
from .warc.digests import sha1_label

# Enough of a page to read it; the whole body is archived regardless.
READ_LIMIT = 8 * 1024 * 1024


@dataclass(frozen=True)
class Finding:
    status: str
    reason: str | None = None
    drift: float | None = None
    drift_level: str | None = None
    baseline: int | None = None  # capture id of the baseline
    mode: str = "http"  # what was judged: the HTTP answer, or the page as the browser rendered it


@dataclass(frozen=True)
class Baseline:
    capture_id: int  # the capture chosen (may be a revisit)
    payload_id: int  # the capture whose record holds the payload
    payload_sha1: str


def pick_baseline(good: list[dict[str, Any]], accessed: dt.date | None) -> Baseline | None:
    """The capture nearest the date the author saw the page, else the first good one."""
    row = _nearest(good, accessed)
    return Baseline(row["id"], row["payload_id"], row["payload_sha1"]) if row is not None else None


def _nearest(rows: list[dict[str, Any]], accessed: dt.date | None) -> dict[str, Any] | None:
    if not rows:
        return None
    row = rows[0]
    if accessed is not None:
        seen = dt.datetime.combine(accessed, dt.time(12), dt.UTC)
        row = min(rows, key=lambda r: abs((stamps.parse(r["captured_at"]) - seen).total_seconds()))
    return row


def upgrade_modes(jobs: list[Job], default: str, modes: dict[str, str]) -> list[Job]:
    """Jobs left to auto whose page was last captured in the browser, switched to browser (and
    returned): the HTML shell of a JavaScript page says nothing of its post, and auto's own test (a
    shell with little text) misses shells that carry some. Needs a browser here: without one, auto
    stays auto (an HTTP check, with run.py's notice) rather than failing the page."""
    picked = [job for job in jobs if (job.capture or default) == "auto" and modes.get(job.fetch_url) == "browser"]
    if picked and unavailable() is None:
        for job in picked:
            job.capture = "browser"
        return picked
    return []


# Below this many URLs, starting worker processes costs more than parsing in this one.
POOL_MIN_URLS = 200


class CheckKind(RunKind[Finding]):
    """The hooks of a check: choose baselines before fetching, read each fetch (fetch worker
    threads), add its check row with the capture (writer thread)."""

    command = "check"
    fetcher: Fetcher  # the run's, from begin(): sibling probes go through its politeness
    archive: Archive

    def __init__(self) -> None:
        self.last: dict[str, dict[str, Any]] = {}
        self.baselines: dict[str, Baseline] = {}
        self.rendered: dict[str, dict[str, Any]] = {}  # URL -> its baseline browser capture, with its DOM record
        self._baseline_doms: dict[int, Future[PageText]] = {}
        self._payload_rows: dict[int, dict[str, Any]] = {}
        self._baseline_pages: dict[int, Future[PageText]] = {}
        self._siblings: dict[str, Future[Seen | None]] = {}
        self._lock = threading.Lock()
        self.rng = random.Random()
        self._pool: ProcessPoolExecutor | None = None

    def begin(self, run: Run, jobs: list[Job]) -> None:
        self.fetcher, self.archive = run.fetcher, run.archive
        urls = [job.fetch_url for job in jobs]
        db = self.archive.db
        self.last = db.last_checks(urls)
        good = db.good_captures(urls)
        upgrade_modes(jobs, run.settings.capture, db.capture_modes(urls))
        rendered = [job for job in jobs if (job.capture or run.settings.capture) != "http"]
        doms = db.rendered_baselines(job.fetch_url for job in rendered)
        for job in rendered:
            row = _nearest(doms.get(job.fetch_url, []), job.accessed)
            if row is not None:
                self.rendered[job.fetch_url] = row
        for job in jobs:
            baseline = pick_baseline(good.get(job.fetch_url, []), job.accessed)
            if baseline is not None:
                self.baselines[job.fetch_url] = baseline
                # Read now, on this thread: workers never touch the database.
                row = db.capture(baseline.payload_id)
                if row is not None:
                    self._payload_rows[baseline.payload_id] = row
        cpus = os.cpu_count() or 1
        # (Not in a daemonic process, as a Dask worker may be: it may start none.)
        if (len(jobs) >= int(os.environ.get("ARCHIVER_PARSE_POOL_MIN", POOL_MIN_URLS)) and cpus > 1
                and not multiprocessing.current_process().daemon):
            # Reading a page (trafilatura) is pure-Python CPU work: under the GIL it would cap a big
            # check at one core, far below what politeness allows. Worker processes use the others.
            self._pool = ProcessPoolExecutor(cpus, mp_context=multiprocessing.get_context("forkserver"))

    def end(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def counts(self, outcomes: RunLog) -> dict[str, int]:
        return {"checked": len(outcomes)}

    def _page_text(self, body: bytes, content_type: str | None, url: str | None) -> PageText:
        pool = self._pool
        if pool is not None:
            try:
                return pool.submit(page_text, body, content_type, url).result()
            except BrokenProcessPool:
                self._pool = None  # a worker died (out of memory?): read pages here from now on
        return page_text(body, content_type, url)

    def _seen(self, url: str, result: FetchResult, final: Hop) -> Seen:
        body = final.body(READ_LIMIT)
        return Seen(url=url, final_url=final.url, chain=tuple((h.url, h.status) for h in result.hops),
                    status=final.status, headers={k.lower(): v for k, v in final.headers},
                    page=self._page_text(body, final.header("Content-Type"), final.url), body_size=len(body))

    # -- reading what was fetched (fetch worker threads) -------------------------------------------

    def inspect(self, fetched: Fetched[Finding]) -> Finding:
        try:
            return self._inspect(fetched)
        except Interrupted:
            raise
        except Exception as exc:  # a page we cannot read must not cost the capture: record why
            final = fetched.result.final if fetched.result else None
            status = final.status if final else 0
            cut = cut_off(status, final.truncated, final.payload_size, None) if final else None
            return Finding((cut or by_code(status)).status,
                           f"page not read ({type(exc).__name__}: {exc}); status from HTTP {status}")

    def _inspect(self, fetched: Fetched[Finding]) -> Finding:
        result = fetched.result
        assert result is not None
        final = result.final
        if final is None:
            return Finding(result.outcome, result.error)
        cut = cut_off(final.status, final.truncated, final.payload_size, final.header("Content-Length"))
        if cut is not None:  # half a page says nothing: no content reading, no sibling, no drift
            return Finding(cut.status, cut.reason)
        rendering = fetched.rendering
        if rendering is not None and not rendering.failed and rendering.dom:
            return self._inspect_rendering(fetched, result, final, rendering)
        baseline = self.baselines.get(fetched.job.fetch_url)
        previous = self.last.get(fetched.job.fetch_url)
        # The shortcut holds for what was judged the same way: a shell's bytes say nothing of what a
        # rendering of it showed last time.
        if (previous is not None and (previous.get("mode") or "http") == "http"
                and previous["payload_sha1"] == final.payload_sha1
                and previous["final_url"] == final.url and previous["http_status"] == final.status
                and previous["baseline_capture"] == (baseline.capture_id if baseline else None)):
            # The same bytes from the same place as last time read the same: no parsing.
            return Finding(previous["status"], previous["reason"], previous["drift"], previous["drift_level"],
                           previous["baseline_capture"])
        seen = self._seen(fetched.job.fetch_url, result, final)
        verdict = classify(seen)
        if verdict.status in ALIVE_STATUSES and sibling_applies(seen):
            verdict = classify(seen, self._sibling(seen))
        drift: Drift | None = None
        if verdict.status in ALIVE_STATUSES and baseline is not None and not final.truncated:
            if baseline.payload_sha1 == final.payload_sha1:
                drift = Drift(0.0, "unchanged")
            else:
                drift = compare(self._baseline_page(baseline), seen.page)
        return Finding(verdict.status, verdict.reason, drift.score if drift else None,
                       drift.level if drift else None, baseline.capture_id if baseline else None)

    def _inspect_rendering(self, fetched: Fetched[Finding], result: FetchResult, final: Hop,
                           rendering: Rendering) -> Finding:
        """The status and drift of the page as the browser rendered it. The HTTP status still counts
        (a 404 stays a 404); the text is the DOM's, read like any page, with the title the page set.
        No made-up sibling here: an HTTP sibling is a shell, and compares with no rendering."""
        url = fetched.job.fetch_url
        landed = rendering.final_url or final.url
        chain = tuple((h.url, h.status) for h in result.hops)
        if landed != final.url:  # a script moved the page (location.href): a login or error page counts
            chain += ((landed, final.status),)
        # Judged on everything the reader sees: a platform's notice ("This post was deleted") sits in
        # a box that main-text extraction drops as boilerplate.
        shown = PageText(" ".join(rendering.title.split()), rendering.text, "html", rendering.text)
        seen = Seen(url=url, final_url=landed, chain=chain, status=final.status,
                    headers={k.lower(): v for k, v in final.headers}, page=shown, body_size=len(rendering.dom))
        verdict = classify(seen)
        baseline = self.rendered.get(url)
        drift: Drift | None = None
        if verdict.status in ALIVE_STATUSES and baseline is not None:
            if baseline["dom_digest"] == sha1_label(hashlib.sha1(rendering.dom).hexdigest()):
                drift = Drift(0.0, "unchanged")
            else:  # both DOMs read the one way (content.py): drift is of the main text, as for HTTP pages
                page = self._page_text(rendering.dom, "text/html; charset=utf-8", None)
                drift = compare(self._baseline_dom(baseline), page)
        return Finding(verdict.status, verdict.reason, drift.score if drift else None,
                       drift.level if drift else None, baseline["id"] if baseline else None, mode="browser")

    def _baseline_dom(self, baseline: dict[str, Any]) -> PageText:
        """The baseline browser capture's DOM, read once per run however many checks compare with it."""
        with self._lock:
            future = self._baseline_doms.get(baseline["id"])
            owner = future is None
            if future is None:
                future = self._baseline_doms[baseline["id"]] = Future()
        if owner:
            try:
                dom = read_resource(self.archive.store, baseline, READ_LIMIT)
                future.set_result(self._page_text(dom, "text/html; charset=utf-8", None))
            except BaseException as exc:
                future.set_exception(exc)
                raise
        return future.result()

    def _sibling(self, seen: Seen) -> Seen | None:
        """One probe per host and path pattern per run: what the site answers for a page that
        cannot exist."""
        key = sibling_key(seen.url)
        with self._lock:
            future = self._siblings.get(key)
            owner = future is None
            if future is None:
                future = self._siblings[key] = Future()
        if owner:
            try:
                future.set_result(self._probe(sibling_url(seen.url, self.rng)))
            except BaseException as exc:
                future.set_exception(exc)
                raise
        return future.result()

    def _probe(self, url: str) -> Seen | None:
        result = self.fetcher.fetch(url)
        try:
            final = result.final
            if final is None or final.truncated in CUT_OFF:  # half a sibling compares with nothing
                return None
            return self._seen(url, result, final)
        finally:
            result.close()

    def _baseline_page(self, baseline: Baseline) -> PageText:
        with self._lock:
            future = self._baseline_pages.get(baseline.payload_id)
            owner = future is None
            if future is None:
                future = self._baseline_pages[baseline.payload_id] = Future()
        if owner:
            try:
                future.set_result(self._read_baseline(baseline))
            except BaseException as exc:
                future.set_exception(exc)
                raise
        return future.result()

    def _read_baseline(self, baseline: Baseline) -> PageText:
        row = self._payload_rows.get(baseline.payload_id)
        if row is None:
            return PageText("", "", "other")
        body = bytearray()
        for chunk in self.archive.open_payload(row):
            body += chunk[: READ_LIMIT - len(body)]
            if len(body) >= READ_LIMIT:
                break
        return self._page_text(bytes(body), row["content_type"], row["final_url"])

    # -- recording (writer thread, inside the capture's transaction) --------------------------------

    def stored(self, stored: Stored[Finding], run_id: int) -> None:
        job, outcome, capture = stored.job, stored.outcome, stored.capture
        finding = stored.finding or Finding(outcome.outcome, outcome.error)
        row = {
            "run_id": run_id,
            "checked_at": capture["captured_at"],
            "url": job.url, "fetch_url": job.fetch_url, "manifest": job.manifest, "citation_id": job.citation_id,
            "status": finding.status, "reason": finding.reason, "http_status": outcome.http_status,
            "final_url": outcome.final_url, "redirects": capture["redirects"],
            "elapsed": capture["elapsed"], "attempts": capture["attempts"],
            "error": outcome.error, "drift": None if finding.drift is None else round(finding.drift, 4),
            "drift_level": finding.drift_level, "baseline_capture": finding.baseline,
            "capture_id": outcome.capture_id, "payload_sha1": capture["payload_sha1"],
            "mode": finding.mode,
        }
        self.archive.db.add_check(row)  # kept there only: the verdicts read it back (a run may hold a million)


# ------------------------------------------------------------------------------------------------
# The run and its verdicts


@dataclass(frozen=True)
class CitationVerdict:
    manifest: str | None
    id: str | None
    url: str
    verdict: Verdict
    reason: str | None = None
    http_status: int | None = None
    drift: float | None = None
    drift_level: str | None = None


@dataclass
class CheckSummary:
    summary: Summary
    citations: Sequence[CitationVerdict] = field(default_factory=list)  # a SpillList: read it by iterating

    @functools.cached_property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.citations:
            out[c.verdict.verdict] = out.get(c.verdict.verdict, 0) + 1
        return out

    @property
    def exit_code(self) -> int:
        return 1 if self.counts.get("failing") or self.counts.get("dead") else 0


def check(
    settings: Settings,
    targets: list[str],
    *,
    policy: Policy | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_runner: Callable[[Run], None] | None = None,
    carry: WarcCarry | None = None,
) -> CheckSummary:
    """Check manifests and/or URLs; every check is recorded. Verdicts cover every citation of the targets."""
    kind = CheckKind()
    loaded = load_targets(targets)
    summary = execute(kind, settings, targets, on_outcome=on_outcome, on_plan=on_plan, on_runner=on_runner,
                      loaded=loaded, carry=carry, engine=engine_for(settings))
    result = CheckSummary(summary)
    result.citations = citation_verdicts(settings, targets, policy or Policy(), loaded=loaded, run_id=summary.run_id)
    return result


VERDICT_CHUNK = 1000  # citations judged together: their history is read at once, then let go


def citation_verdicts(settings: Settings, targets: list[str], policy: Policy,
                      loaded: tuple[list[Manifest], list[str]] | None = None,
                      run_id: int | None = None) -> SpillList[CitationVerdict]:
    """The verdict of every citation of the targets, from its check history; with `run_id`, its
    reason, HTTP status and drift from that run's checks. A chunk of citations at a time: the history
    of a million URLs is never all in memory."""
    manifests, urls = loaded or load_targets(targets)
    out: SpillList[CitationVerdict] = SpillList(of=CitationVerdict)
    with Archive(settings, writing=False) as archive:
        cited = _cited(manifests, urls)
        for chunk in iter(lambda: list(itertools.islice(cited, VERDICT_CHUNK)), []):
            fetch_urls = [f for *_, f in chunk]
            history = archive.db.check_history(fetch_urls)
            found = archive.db.run_checks(run_id, fetch_urls) if run_id is not None else {}
            for manifest, cid, url, fetch_url in chunk:
                points = [CheckPoint(stamps.parse(r["checked_at"]), r["status"], r["drift_level"], bool(r["offline"]))
                          for r in history.get(fetch_url, [])]
                row = found.get(fetch_url, {})
                out.append(CitationVerdict(manifest, cid, url, judge(points, policy), row.get("reason"),
                                           row.get("http_status"), row.get("drift"), row.get("drift_level")))
    return out


def _cited(manifests: list[Manifest], urls: list[str]) -> Iterator[tuple[str | None, str | None, str, str]]:
    """(manifest, id, URL as cited, fetch URL) of every citation of the targets, in order."""
    for m in manifests:
        for c in m.citations:
            yield m.path, c.id, c.url, c.fetch_url
        # Skipped entries are checked (and recorded) as invalid_url under their text as given.
        for p in m.problems:
            yield m.path, p.id, p.text, p.text
    for u in urls:
        yield None, None, u, url_target(u)[0]
