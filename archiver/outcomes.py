"""What a run produced: one `Outcome` per URL (also the --json shape), the run's `Summary`, and the
`captures` row of an outcome (`capture_row`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from . import stamps
from .fetch.results import FetchResult, Hop
from .manifests import Problem
from .offline import NetworkVerdict


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


class Planned(Protocol):
    """A job as the summary needs it (run.Job)."""

    @property
    def url(self) -> str: ...

    @property
    def fetch_url(self) -> str: ...


@dataclass
class Summary:
    run_id: int
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    status: str = "running"  # done, interrupted or failed once the run is over
    network: NetworkVerdict | None = None  # whether the run was offline, once it is over
    notices: list[str] = field(default_factory=list)  # said once per run (e.g. no browser for auto)
    workers: dict[str, int] | None = None  # a cluster run: URLs recorded per worker
    planned: Sequence[Planned] = ()  # every job of the run, invalid URLs included

    @property
    def unattempted(self) -> list[str]:
        """The cited URLs with no outcome: never fetched, or cut off in flight, when a run was stopped."""
        done = {o.fetch_url for o in self.outcomes}
        return [job.url for job in self.planned if job.fetch_url not in done]

    @property
    def offline(self) -> bool:
        return self.network is not None and self.network.offline

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)

    @property
    def counts(self) -> dict[str, int]:
        return {k: self.count(k) for k in ("captured", "unchanged", "failed")}

    @property
    def exit_code(self) -> int:
        return 1 if self.count("failed") else 0

    def to_json(self) -> str:
        return json.dumps({"run_id": self.run_id, "status": self.status, **self.counts,
                           "skipped": len(self.problems), "offline": self.offline,
                           "network": self.network.as_json() if self.network else None,
                           "recovered_warcs": self.recovered, "notices": self.notices,
                           "problems": [str(p) for p in self.problems], "unattempted": self.unattempted,
                           **({"workers": self.workers} if self.workers is not None else {}),
                           "urls": [asdict(o) for o in self.outcomes]}, indent=2)


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
