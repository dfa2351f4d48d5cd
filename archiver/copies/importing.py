"""`--import`: the chosen copy of each citation fetched from its archive (the raw form, `id_`, where the
archive has one: the archived bytes, no banner, no rewritten links) through the Fetcher, and written to
our own WARC as a capture of the ORIGINAL URL with its provenance (records.py `memento`: WARC-Source-URI,
the memento datetime as WARC-Date, a metadata record naming the archive).

Its captures row has `mode` 'memento' and `source_url`/`source_archive`/`imported_at`: it replays and
exports like our captures, but no rule that picks "our copy" ever picks it (schema.good_capture). A
memento already imported (same URL, same memento) is not fetched again.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from typing import Any

from .. import __version__, stamps
from ..archive import Archive
from ..config import Settings
from ..db.schema import MEMENTO
from ..fetch.fetcher import Fetcher
from ..fetch.politeness import HostGate
from ..fetch.results import FetchResult, Hop
from ..storage import record_rows
from .archives import BY_NAME, archives_of
from .find import CitedCopies
from .lookup import http_date


@dataclass(frozen=True)
class Imported:
    """What --import did with one URL's chosen copy: `status` 'imported', 'already' (imported by an
    earlier run) or 'failed' (with `detail`); `capture_id` the captures row holding it."""

    fetch_url: str
    archive: str
    memento_url: str
    status: str
    capture_id: int | None = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"fetch_url": self.fetch_url, "archive": self.archive, "memento_url": self.memento_url,
                "status": self.status, "capture_id": self.capture_id, "detail": self.detail}


def import_copies(settings: Settings, cited: list[CitedCopies], targets: list[str]) -> list[Imported]:
    """Import the best copy of every URL of `cited` that has one (one import per URL, for its first
    citation); a run row (`copies --import`) holds the captures."""
    chosen: dict[str, CitedCopies] = {}
    for c in cited:
        if c.best is not None and c.best.memento_url and c.fetch_url not in chosen:
            chosen[c.fetch_url] = c
    if not chosen:
        return []
    known = {a.name: a for a in archives_of(settings.archives)}
    out: list[Imported] = []
    with Archive(settings, writing=True) as archive:
        done = archive.db.imported_sources(chosen)
        run_id = archive.db.start_run("copies --import", targets)
        fetcher = Fetcher(settings, HostGate(settings.per_host, settings.per_host_delay))
        status = "failed"
        try:
            for c in chosen.values():
                best = c.best
                assert best is not None and best.memento_url
                if (c.fetch_url, best.memento_url) in done:
                    out.append(Imported(c.fetch_url, best.archive, best.memento_url, "already",
                                        done[(c.fetch_url, best.memento_url)]))
                    continue
                entry = known.get(best.archive) or BY_NAME.get(best.archive)
                raw = entry.raw_url(best.memento_url) if entry is not None else best.memento_url
                result = fetcher.fetch(raw)
                try:
                    out.append(_store(archive, run_id, c, raw, result))
                finally:
                    result.close()
            status = "done"
        finally:
            fetcher.close()
            counts = {"captured": sum(i.status == "imported" for i in out),
                      "failed": sum(i.status == "failed" for i in out)}
            archive.db.finish_run(run_id, status, counts)
    return out


def _refused(result: FetchResult) -> str | None:
    final = result.final
    if final is None:
        return f"{result.outcome}: {result.error}" if result.error else result.outcome
    if final.status != 200:
        return f"the memento answers HTTP {final.status}"
    if final.truncated:
        return f"the memento was cut short ({final.truncated})"
    return None


def _store(archive: Archive, run_id: int, c: CitedCopies, raw: str, result: FetchResult) -> Imported:
    best = c.best
    assert best is not None and best.memento_url
    why = _refused(result)
    if why is not None:
        return Imported(c.fetch_url, best.archive, best.memento_url, "failed", detail=why)
    hop = result.final
    assert hop is not None
    when = http_date(hop.header("Memento-Datetime")) or stamps.parse(best.memento_datetime or "")
    fields = [("archive", best.archive), ("memento-url", best.memento_url), ("memento-datetime", stamps.iso(when)),
              ("fetched-url", raw), ("imported-at", stamps.now_iso()), ("software", f"archiver/{__version__}")]
    store = archive.store
    with tempfile.SpooledTemporaryFile(4 * 1024 * 1024, dir=str(store.spool_dir)) as spool:
        records = store.builder.memento(spool, hop, c.fetch_url, when, best.memento_url, fields)
        length = spool.seek(0, 2)
        store.prepare(length)
        with archive.db.transaction():
            warc, base = store.append(spool, length)
            rows = record_rows(warc, records, base)
            capture = _capture_row(run_id, c, hop, when, result, rows[0], records[0].record_id)
            capture_id = archive.db.add_capture(capture, rows)
            store.log_captures([capture_id])
            store.sync()  # the bytes on disk before the row that points at them is committed
    return Imported(c.fetch_url, best.archive, best.memento_url, "imported", capture_id)


def _capture_row(run_id: int, c: CitedCopies, hop: Hop, when: dt.datetime, result: FetchResult,
                 response: dict[str, Any], record_id: str) -> dict[str, Any]:
    best = c.best
    assert best is not None
    return {
        "run_id": run_id, "url": c.url, "fetch_url": c.fetch_url, "manifest": c.manifest, "citation_id": c.id,
        "captured_at": stamps.iso(when), "outcome": "ok", "error": None, "http_status": hop.status,
        "final_url": c.fetch_url, "content_type": hop.header("Content-Type"), "payload_size": hop.payload_size,
        "payload_sha256": hop.payload_sha256, "payload_sha1": hop.payload_sha1, "record_type": "response",
        "truncated": None, "warc": response["warc"], "warc_offset": response["offset"],
        "warc_length": response["length"], "redirects": None, "ip": None, "elapsed": round(result.elapsed, 3),
        "attempts": result.attempts, "mode": MEMENTO, "record_id": record_id, "source_url": best.memento_url,
        "source_archive": best.archive, "imported_at": stamps.now_iso(),
    }


__all__ = ["Imported", "import_copies"]
