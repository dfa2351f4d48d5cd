"""The run engine (run.py) driven by a kind of run of the test's own, against the real test server:
which thread calls each hook, what a batch commits, what a failure and an interruption keep. WARCs
are read back with warcio; the database through a second connection, as another process sees it."""

from __future__ import annotations

import hashlib
import json
import resource
import signal
import sqlite3
import threading
import time
from dataclasses import replace

import pytest
from server import TestServer, page
from warcio.archiveiterator import ArchiveIterator

from archiver.cdx import entries_from_rows
from archiver.check import check
from archiver.config import Settings
from archiver.db import ArchiveDB
from archiver.errors import Interrupted, StorageError
from archiver.outcomes import Outcome, Summary
from archiver.run import Fetched, Job, Run, RunKind, Stored, execute
from archiver.snapshot import snapshot


class Probe(RunKind[str]):
    """Records every hook call: on which thread, inside a transaction or not, what another
    connection to the database sees at that moment."""

    command = "probe"

    def __init__(self, *, slow_first: float = 0.0, fail_at: str | None = None, stop_at: str | None = None) -> None:
        self.slow_first = slow_first  # the first stored() sleeps: the next fetches pile up into one batch
        self.fail_at = fail_at  # inspect() of this URL fails
        self.stop_at = stop_at  # inspect() of this URL interrupts the run
        self.threads: dict[str, set[str]] = {"begin": set(), "inspect": set(), "stored": set(), "end": set()}
        self.stored_urls: list[str] = []
        self.in_transaction: list[bool] = []
        self.seen_in_stored: list[tuple[str, frozenset[str]]] = []  # (URL, captures committed then)
        self.seen_published: list[tuple[str, frozenset[str]]] = []
        self.findings: list[str | None] = []

    def _note(self, hook: str) -> None:
        self.threads[hook].add(threading.current_thread().name)

    def committed(self) -> frozenset[str]:
        return frozenset(r[0] for r in self.reader.execute("SELECT fetch_url FROM captures"))

    def begin(self, run: Run, jobs: list[Job]) -> None:
        self._note("begin")
        self.run = run
        self.reader = sqlite3.connect(run.settings.db_path, check_same_thread=False)

    def end(self) -> None:
        self._note("end")

    def inspect(self, fetched: Fetched[str]) -> str:
        self._note("inspect")
        url = fetched.job.fetch_url
        if url == self.fail_at:
            raise StorageError(f"{url}: cannot read")
        if url == self.stop_at:
            self.run.stop()  # from a fetch worker: another thread than the writer's
        assert fetched.result is not None and fetched.result.final is not None
        return f"HTTP {fetched.result.final.status}"

    def stored(self, stored: Stored[str], run_id: int) -> None:
        outcome = stored.outcome
        self._note("stored")
        self.in_transaction.append(self.run.archive.db.db.conn.in_transaction)
        self.seen_in_stored.append((outcome.fetch_url, self.committed()))
        self.stored_urls.append(outcome.fetch_url)
        self.findings.append(stored.finding)
        if len(self.stored_urls) == 1:
            time.sleep(self.slow_first)

    def published(self, outcome: Outcome) -> None:
        self.seen_published.append((outcome.fetch_url, self.committed()))

    def counts(self, outcomes: list[Outcome]) -> dict[str, int]:
        return {"checked": len(outcomes)}


def one_by_one(run: Run) -> None:
    """One builder after the one fetch worker: captures reach the writer in the order of the URLs."""
    run.builders = 1


def probe_run(kind: Probe, settings: Settings, urls: list[str], concurrency: int) -> Summary:
    return execute(kind, replace(settings, concurrency=concurrency), urls, on_outcome=kind.published,
                   on_runner=one_by_one if concurrency == 1 else None)


def urls_of(server: TestServer, name: str, n: int = 8) -> list[str]:
    return [server.url(f"page/{name}-{i}") for i in range(n)]


def database(settings: Settings) -> sqlite3.Connection:
    conn = sqlite3.connect(settings.db_path)
    conn.row_factory = sqlite3.Row
    return conn


def read_back(settings: Settings) -> dict[str, bytes]:
    """fetch URL -> the payload of the response record each committed capture points at."""
    out = {}
    with database(settings) as conn:
        rows = conn.execute("SELECT fetch_url, warc, warc_offset FROM captures WHERE warc IS NOT NULL").fetchall()
    for row in rows:
        with open(settings.storage / row["warc"], "rb") as handle:
            handle.seek(row["warc_offset"])
            record = next(iter(ArchiveIterator(handle)))
            assert record.rec_type == "response"
            assert record.rec_headers.get_header("WARC-Target-URI") == row["fetch_url"]
            out[row["fetch_url"]] = record.content_stream().read()
    return out


def run_row(settings: Settings) -> sqlite3.Row:
    with database(settings) as conn:
        row: sqlite3.Row = conn.execute("SELECT * FROM runs ORDER BY id DESC").fetchone()
    return row


def test_each_hook_runs_on_its_thread(server: TestServer, settings: Settings) -> None:
    kind = Probe()
    urls = urls_of(server, "threads")
    summary = probe_run(kind, settings, urls, concurrency=4)
    writer = threading.current_thread().name
    assert kind.threads["begin"] == kind.threads["stored"] == kind.threads["end"] == {writer}
    assert kind.threads["inspect"] and all(t.startswith("archiver-fetch-") for t in kind.threads["inspect"])
    assert all(kind.in_transaction)
    assert kind.findings == ["HTTP 200"] * len(urls)  # what inspect() returned, handed to stored()
    assert sorted(kind.stored_urls) == sorted(urls) == sorted(o.fetch_url for o in summary.outcomes)
    assert summary.status == "done"
    row = run_row(settings)
    assert (row["command"], row["status"], row["captured"], row["checked"]) == ("probe", "done", 8, 8)
    assert read_back(settings) == {url: page(url.rsplit("/", 1)[1]) for url in urls}


def test_the_rows_of_a_batch_commit_together(server: TestServer, settings: Settings) -> None:
    kind = Probe(slow_first=0.6)
    urls = urls_of(server, "batch")
    probe_run(kind, settings, urls, concurrency=1)
    assert kind.stored_urls == urls
    for url, committed in kind.seen_in_stored:
        assert url not in committed  # stored() runs before its capture commits ...
    for url, committed in kind.seen_published:
        assert url in committed  # ... an outcome is published after
    batches: dict[frozenset[str], list[str]] = {}
    for url, committed in kind.seen_in_stored:
        batches.setdefault(committed, []).append(url)
    assert max(len(b) for b in batches.values()) >= 2  # the first capture's slow store let the others pile up
    for members in batches.values():
        first = next(committed for url, committed in kind.seen_published if url in members)
        assert set(members) <= first  # the whole batch was committed when its first outcome was published
    assert len(read_back(settings)) == len(urls)


def test_a_failure_commits_what_was_stored_before_it(server: TestServer, settings: Settings) -> None:
    urls = urls_of(server, "failure")
    kind = Probe(slow_first=0.6, fail_at=urls[3])
    started = time.monotonic()
    with pytest.raises(StorageError, match="cannot read") as raised:
        probe_run(kind, settings, urls, concurrency=1)
    # Every stage ended, promptly: none left blocked on a queue.
    assert time.monotonic() - started < 10
    assert not [t.name for t in threading.enumerate() if t.name.startswith(("archiver-fetch", "archiver-build"))]
    assert kind.stored_urls == urls[:3]
    # Rows commit in order, batch by batch: a capture never sees a later one committed. (Which batch
    # met the failure depends on the machine's load: the rows stored before it are committed anyway.)
    assert all(committed <= set(urls[:i]) for i, (_, committed) in enumerate(kind.seen_in_stored))
    assert set(read_back(settings)) == set(urls[:3])
    saved = raised.value.summary
    assert isinstance(saved, Summary) and saved.status == "failed"
    assert [o.fetch_url for o in saved.outcomes] == urls[:3]
    assert kind.threads["end"]  # the kind is told the run is over, however it ended
    row = run_row(settings)
    assert (row["status"], row["captured"], row["checked"]) == ("failed", 3, 3)
    assert not list((settings.storage / "warcs").glob("*.open"))


def test_stop_keeps_what_was_stored(fresh_server: TestServer, settings: Settings) -> None:
    urls = urls_of(fresh_server, "stop")
    kind = Probe(stop_at=urls[3])
    with pytest.raises(Interrupted) as raised:
        probe_run(kind, settings, urls, concurrency=1)
    assert {hit.path for hit in fresh_server.hits} == {f"/page/stop-{i}" for i in range(4)}  # none after the stop
    assert kind.stored_urls == urls[:4]  # the fetch that asked to stop was finished, and kept
    saved = raised.value.summary
    assert isinstance(saved, Summary) and saved.status == "interrupted"
    assert json.loads(saved.to_json())["captured"] == 4
    assert read_back(settings) == {url: page(url.rsplit("/", 1)[1]) for url in urls[:4]}
    assert run_row(settings)["status"] == "interrupted"
    assert not list((settings.storage / "warcs").glob("*.open"))



class CommitFails(Probe):
    """Once the `at`-th capture is stored (its records appended, its rows inserted, the transaction
    still open), files may no longer grow: SQLite's write-ahead log cannot take the commit, which
    fails for real, with EFBIG as on a full disk. end() lets files grow again, before the WARC file
    is closed."""

    def __init__(self, at: int) -> None:
        super().__init__(slow_first=0.4)
        self.at = at
        self.limit = resource.getrlimit(resource.RLIMIT_FSIZE)

    def stored(self, stored: Stored[str], run_id: int) -> None:
        super().stored(stored, run_id)
        if len(self.stored_urls) == self.at:
            resource.setrlimit(resource.RLIMIT_FSIZE, (1, self.limit[1]))

    def end(self) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, self.limit)
        super().end()


def test_a_failed_commit_leaves_no_record_in_the_warc_that_the_database_lacks(
        server: TestServer, settings: Settings) -> None:
    urls = urls_of(server, "commit")
    kind = CommitFails(at=3)
    saved_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead
    try:
        with pytest.raises(StorageError, match="cannot write") as raised:
            probe_run(kind, settings, urls, concurrency=1)
    finally:
        signal.signal(signal.SIGXFSZ, saved_handler)
    committed = set(read_back(settings))
    assert committed and urls[2] not in committed  # some batches committed; not the one that failed
    assert kind.stored_urls[:3] == urls[:3]
    summary = raised.value.summary
    assert isinstance(summary, Summary) and {o.fetch_url for o in summary.outcomes} == committed
    with database(settings) as conn:
        files = conn.execute("SELECT name, state, size, sha256 FROM warc_files").fetchall()
        for name, state, size, sha256 in files:
            rows = conn.execute('SELECT "offset", length, record_id FROM records WHERE warc = ? ORDER BY 1',
                                [name]).fetchall()
            path = settings.storage / name
            assert state == "closed" and path.stat().st_size == size == rows[-1][0] + rows[-1][1]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256
            with open(path, "rb") as handle:  # every record of the file is one the database knows
                records = ArchiveIterator(handle)
                found = [(records.get_record_offset(), records.get_record_length(),
                          r.rec_headers.get_header("WARC-Record-ID")) for r in records]
            assert found == [tuple(r) for r in rows]
    assert files and not list((settings.storage / "warcs").glob("*.open"))


# -- the redirects column: one shape written, both read ----------------------------------------------


def test_captures_and_checks_write_one_redirects_shape(server: TestServer, settings: Settings) -> None:
    url = server.url("redirect/2")
    snapshot(settings, [url])
    check(settings, [url])
    with database(settings) as conn:
        written = [r[0] for r in conn.execute("SELECT redirects FROM captures UNION ALL SELECT redirects FROM checks")]
    assert len(written) == 3
    for text in written:
        assert [hop["status"] for hop in json.loads(text)] == [302, 302, 200]
        assert json.loads(text)[0]["url"] == url


def test_an_old_shape_redirects_row_is_still_read(server: TestServer, settings: Settings) -> None:
    snapshot(settings, [server.url("redirect/3")])
    db = ArchiveDB.open(settings.db_path)
    try:
        new = [entry.status for entry in entries_from_rows(db.export_records())]
        [(capture_id, text)] = db.db.execute("SELECT id, redirects FROM captures").fetchall()
        pairs = [[hop["url"], hop["status"]] for hop in json.loads(text)]  # as older databases hold them
        with db.transaction():
            db.db.execute("UPDATE captures SET redirects = ? WHERE id = ?", [json.dumps(pairs), capture_id])
        old = [entry.status for entry in entries_from_rows(db.export_records())]
    finally:
        db.close()
    assert new == old == [302, 302, 302, 200]
