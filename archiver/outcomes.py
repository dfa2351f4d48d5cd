"""What a run produced: one `Outcome` per URL (also the --json shape), the run's `Summary`, the
`RunLog` that keeps a run's jobs and outcomes off the heap, and the `captures` row of an outcome
(`capture_row`).

A run's memory must not grow with its URLs (a law library's manifest has a million): the jobs
planned and every outcome go to a private temporary SQLite database (spill.scratch_database), the
counts are kept as outcomes arrive, and `--json` is written from the database a URL at a time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from . import stamps
from .fetch.results import FetchResult, Hop
from .jobs import Job
from .manifests import Problem
from .offline import NetworkVerdict
from .spill import scratch_database, transaction


@dataclass
class Outcome:
    """One line of a run's result, also the --json shape."""

    url: str
    fetch_url: str
    manifest: str | None
    citation_id: str | None
    result: str  # captured / unchanged / failed
    outcome: str  # ok or the transport failure word
    http_status: int | None = None
    final_url: str | None = None
    error: str | None = None
    warc: str | None = None
    offset: int | None = None
    length: int | None = None
    sha256: str | None = None
    truncated: str | None = None
    capture_id: int | None = None
    mode: str = "http"  # browser: rendered, with its sub-resources, screenshot and DOM


OUTCOME_FIELDS = tuple(f.name for f in fields(Outcome))
RESULTS = ("captured", "unchanged", "failed")
_JOB_COLUMNS = "fetch_url, url, manifest, citation_id, invalid_reason, accessed, capture"


def _job_row(job: Job) -> tuple[Any, ...]:
    accessed = job.accessed.isoformat() if job.accessed is not None else None
    return job.fetch_url, job.url, job.manifest, job.citation_id, job.invalid_reason, accessed, job.capture


def _job(row: tuple[Any, ...]) -> Job:
    fetch_url, url, manifest, citation_id, invalid_reason, accessed, capture = row
    return Job(fetch_url, url, manifest, citation_id, invalid_reason=invalid_reason,
               accessed=dt.date.fromisoformat(accessed) if accessed is not None else None, capture=capture)


class RunLog:
    """A run's jobs and outcomes, in a private temporary SQLite database: what the run will fetch
    (each fetch URL once, the first citation winning; then the URLs invalid as given), and one
    outcome per URL, in the order they were published. Holds only counts in memory; iterating gives
    the outcomes back. Written and read by one thread at a time (the run's writer, then its caller)."""

    def __init__(self) -> None:
        self._db = scratch_database()
        self._db.executescript("""
            CREATE TABLE jobs (seq INTEGER PRIMARY KEY, fetch_url TEXT NOT NULL, url TEXT NOT NULL, manifest TEXT,
                citation_id TEXT, invalid_reason TEXT, accessed TEXT, capture TEXT, host TEXT);
            CREATE UNIQUE INDEX jobs_once ON jobs (fetch_url) WHERE invalid_reason IS NULL;
            CREATE TABLE outcomes (seq INTEGER PRIMARY KEY, fetch_url TEXT NOT NULL, result TEXT NOT NULL,
                fields TEXT NOT NULL);
            CREATE INDEX outcomes_url ON outcomes (fetch_url);
            CREATE TABLE host_batches (host TEXT PRIMARY KEY, batch INTEGER NOT NULL, rank INTEGER NOT NULL);
            CREATE INDEX host_batches_batch ON host_batches (batch);
        """)
        self._counts = dict.fromkeys(RESULTS, 0)
        self._published = 0
        self._hosts_known = False

    def close(self) -> None:
        self._db.close()

    # -- the plan -----------------------------------------------------------------------------------

    def plan(self, jobs: Iterable[Job]) -> None:
        """Keep `jobs` (cluster.jobs.cited_jobs' order): a fetch URL already planned is skipped, and a
        job invalid as given is kept however often it comes."""
        with self._transaction():
            self._db.executemany(f"INSERT OR IGNORE INTO jobs ({_JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 map(_job_row, jobs))

    def planned(self) -> int:
        """Jobs planned, invalid ones included."""
        return int(self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])

    def jobs(self) -> list[Job]:
        """The jobs to fetch, in order (a local run holds them all: its host queues need them)."""
        return [_job(row) for row in self._db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE invalid_reason IS NULL ORDER BY seq")]

    def invalid(self) -> list[Job]:
        """The jobs invalid as given, in order."""
        return [_job(row) for row in self._db.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE invalid_reason IS NOT NULL ORDER BY seq")]

    def captures(self) -> set[str | None]:
        """The citations' own `capture:` modes (None: the run's)."""
        return {mode for (mode,) in self._db.execute(
            "SELECT DISTINCT capture FROM jobs WHERE invalid_reason IS NULL")}

    def host_count(self, host_of: Callable[[str], str]) -> int:
        """The hosts of the jobs to fetch."""
        self._know_hosts(host_of)
        return int(self._db.execute("SELECT COUNT(DISTINCT host) FROM jobs WHERE invalid_reason IS NULL").fetchone()[0])

    def host_sizes(self, host_of: Callable[[str], str]) -> Iterator[tuple[str, int]]:
        """(host, jobs) of the jobs to fetch, the biggest host first (ties: the first cited first)."""
        self._know_hosts(host_of)
        return self._db.execute("""SELECT host, COUNT(*) FROM jobs WHERE invalid_reason IS NULL
                                   GROUP BY host ORDER BY COUNT(*) DESC, MIN(seq)""")

    def _know_hosts(self, host_of: Callable[[str], str]) -> None:
        """Each job's host, once (only a cluster run splits its jobs by host)."""
        if self._hosts_known:
            return
        self._db.create_function("host_of", 1, host_of, deterministic=True)
        with self._transaction():
            self._db.execute("UPDATE jobs SET host = host_of(fetch_url) WHERE invalid_reason IS NULL")
        self._db.execute("CREATE INDEX jobs_host ON jobs (host)")
        self._hosts_known = True

    def group(self, batches: Iterable[tuple[str, int]]) -> int:
        """Put each host in a batch ((host, batch number) pairs, hosts in the order they are to be
        fetched); the number of batches."""
        with self._transaction():
            self._db.execute("DELETE FROM host_batches")
            self._db.executemany("INSERT INTO host_batches (host, batch, rank) VALUES (?, ?, ?)",
                                 ((host, batch, rank) for rank, (host, batch) in enumerate(batches)))
        return int(self._db.execute("SELECT COALESCE(MAX(batch) + 1, 0) FROM host_batches").fetchone()[0])

    def batch(self, number: int) -> list[Job]:
        """The jobs of one batch: its hosts whole, in their order, each host's jobs in cited order."""
        return [_job(row) for row in self._db.execute(
            f"""SELECT {", ".join(f"j.{c.strip()}" for c in _JOB_COLUMNS.split(","))} FROM host_batches b
                JOIN jobs j ON j.host = b.host AND j.invalid_reason IS NULL
                WHERE b.batch = ? ORDER BY b.rank, j.seq""", [number])]

    # -- the outcomes ---------------------------------------------------------------------------------

    def append(self, outcome: Outcome) -> None:
        self.extend([outcome])

    def extend(self, outcomes: Iterable[Outcome]) -> None:
        """Keep outcomes, in the order they were published."""
        rows = []
        for o in outcomes:
            rows.append((o.fetch_url, o.result, json.dumps([o.__dict__[name] for name in OUTCOME_FIELDS])))
            self._counts[o.result] = self._counts.get(o.result, 0) + 1
        if rows:
            with self._transaction():
                self._db.executemany("INSERT INTO outcomes (fetch_url, result, fields) VALUES (?, ?, ?)", rows)
            self._published += len(rows)

    def __len__(self) -> int:
        return self._published

    def __iter__(self) -> Iterator[Outcome]:
        return self._outcomes("SELECT fields FROM outcomes ORDER BY seq")

    def failed(self) -> Iterator[Outcome]:
        return self._outcomes("SELECT fields FROM outcomes WHERE result = 'failed' ORDER BY seq")

    def _outcomes(self, sql: str) -> Iterator[Outcome]:
        for (values,) in self._db.execute(sql):
            yield Outcome(**dict(zip(OUTCOME_FIELDS, json.loads(values), strict=True)))

    def json_values(self) -> Iterator[dict[str, Any]]:
        """Each outcome as --json lists it (dataclasses.asdict's shape), without building Outcomes."""
        for (values,) in self._db.execute("SELECT fields FROM outcomes ORDER BY seq"):
            yield dict(zip(OUTCOME_FIELDS, json.loads(values), strict=True))

    def count(self, result: str) -> int:
        return self._counts.get(result, 0)

    def unattempted(self) -> Iterator[str]:
        """The cited URLs planned with no outcome, in planned order."""
        for (url,) in self._db.execute("""SELECT url FROM jobs j WHERE NOT EXISTS
                                              (SELECT 1 FROM outcomes o WHERE o.fetch_url = j.fetch_url)
                                          ORDER BY seq"""):
            yield url

    def _transaction(self) -> contextlib.AbstractContextManager[None]:
        return transaction(self._db, "the run's temporary log")


@dataclass
class Summary:
    run_id: int
    outcomes: RunLog = field(default_factory=RunLog)  # also the run's plan: what `unattempted` is taken from
    problems: list[Problem] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    status: str = "running"  # done, interrupted or failed once the run is over
    network: NetworkVerdict | None = None  # whether the run was offline, once it is over
    notices: list[str] = field(default_factory=list)  # said once per run (e.g. no browser for auto)
    workers: dict[str, int] | None = None  # a cluster run: URLs recorded per worker

    @property
    def unattempted(self) -> list[str]:
        """The cited URLs with no outcome: never fetched, or cut off in flight, when a run was stopped."""
        return list(self.outcomes.unattempted())

    @property
    def offline(self) -> bool:
        return self.network is not None and self.network.offline

    def count(self, result: str) -> int:
        return self.outcomes.count(result)

    @property
    def counts(self) -> dict[str, int]:
        return {k: self.count(k) for k in RESULTS}

    @property
    def exit_code(self) -> int:
        return 1 if self.count("failed") else 0

    def to_json(self) -> str:
        return "".join(self.json_chunks())

    def json_chunks(self) -> Iterator[str]:
        """The run as one JSON object (json.dumps(..., indent=2) to the byte), in pieces: the URLs
        and the unattempted ones stream from the run's log, never all in memory."""
        plain = {"run_id": self.run_id, "status": self.status, **self.counts, "skipped": len(self.problems),
                 "offline": self.offline, "network": self.network.as_json() if self.network else None,
                 "recovered_warcs": self.recovered, "notices": self.notices,
                 "problems": [str(p) for p in self.problems]}
        members: list[tuple[str, Any]] = [*plain.items(), ("unattempted", _Stream(self.outcomes.unattempted()))]
        if self.workers is not None:
            members.append(("workers", self.workers))
        members.append(("urls", _Stream(self.outcomes.json_values())))
        return _chunked(_object_text(members))


@dataclass
class _Stream:
    """A JSON array member written an item at a time."""

    items: Iterator[Any]


def _object_text(members: list[tuple[str, Any]]) -> Iterator[str]:
    """A JSON object as json.dumps(indent=2) writes it, with _Stream members written item by item."""
    yield "{"
    for i, (key, value) in enumerate(members):
        yield f"{',' if i else ''}\n  {json.dumps(key)}: "
        if not isinstance(value, _Stream):
            yield json.dumps(value, indent=2).replace("\n", "\n  ")
            continue
        yield from _array_text(value.items, "  ")
    yield "\n}"


def _array_text(items: Iterable[Any], margin: str = "") -> Iterator[str]:
    """A JSON array as json.dumps(indent=2) writes it at `margin`, an item at a time."""
    empty = True
    inner = margin + "  "
    for item in items:
        yield ("[\n" if empty else ",\n") + inner + json.dumps(item, indent=2).replace("\n", "\n" + inner)
        empty = False
    yield "[]" if empty else f"\n{margin}]"


def json_array_chunks(items: Iterable[Any]) -> Iterator[str]:
    """json.dumps(list(items), indent=2) to the byte, in chunks: the items are never all in memory."""
    return _chunked(_array_text(items))


def _chunked(pieces: Iterator[str], size: int = 1 << 16) -> Iterator[str]:
    """Pieces joined into chunks of about `size` characters: one write per chunk, not per URL."""
    buffer: list[str] = []
    held = 0
    for piece in pieces:
        buffer.append(piece)
        held += len(piece)
        if held >= size:
            yield "".join(buffer)
            buffer, held = [], 0
    if buffer:
        yield "".join(buffer)

def redirects_json(hops: list[Hop]) -> str:
    """The `redirects` column of captures and checks: every hop, `[{"url": ..., "status": ...}]`.
    Checks in older databases hold `[[url, status]]` pairs: readers take both shapes."""
    return json.dumps([{"url": h.url, "status": h.status} for h in hops])


def capture_row(outcome: Outcome, run_id: int, result: FetchResult | None, record_type: str | None) -> dict[str, Any]:
    """The `captures` row of an outcome (without refers_to and record_id, which need the records)."""
    final = result.final if result is not None else None
    return {
        "run_id": run_id, "url": outcome.url, "fetch_url": outcome.fetch_url, "manifest": outcome.manifest,
        "citation_id": outcome.citation_id,
        "captured_at": stamps.iso(result.started_at) if result else stamps.now_iso(),
        "outcome": outcome.outcome, "error": outcome.error, "http_status": outcome.http_status,
        "final_url": outcome.final_url, "content_type": final.header("Content-Type") if final else None,
        "payload_size": final.payload_size if final else None, "payload_sha256": outcome.sha256,
        "payload_sha1": final.payload_sha1 if final else None, "record_type": record_type,
        "truncated": outcome.truncated, "warc": outcome.warc, "warc_offset": outcome.offset,
        "warc_length": outcome.length, "redirects": redirects_json(result.hops) if result else None,
        "ip": final.ip if final else None, "elapsed": round(result.elapsed, 3) if result else None,
        "attempts": result.attempts if result else 0, "mode": outcome.mode,
        "tls": final.tls.summary if final is not None and final.tls is not None else None,
    }
