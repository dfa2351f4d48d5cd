"""`archiver browse`: what Datasette is told about the database. Titles and descriptions of every table
and view, facets, the canned queries, and the replay links of URL cells.

The metadata is built from the database at hand (its tables, views and columns, read through
sqlite-utils), so a table a later schema adds is listed with what is known of it and a facet is only
offered on a column that exists; tests/unit/test_browse.py fails when a table or view of the current
schema has no description here. Nothing in this module imports Datasette: `browse_server.py` serves
what it builds, and `--metadata-only` writes it for people who run Datasette themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import stamps
from .cdx import timestamp14
from .db import ArchiveDB

PLUGIN = "archiver-browse"  # the plugin_config key of the replay link settings

# name -> (title, description). Tables first, then views, in the README's words.
NOTES: dict[str, tuple[str, str]] = {
    "runs": ("Runs", "One row per snapshot or check run: command, targets, start and finish, counts"
             " (captured, unchanged, failed, checked), status (done, interrupted, failed; empty while"
             " running or after a crash), offline (1: judged to have run without network) and network (why)."),
    "manifests": ("Manifests", "One row per manifest loaded: its path (the key the other tables use), name,"
                  " title of the paper, source file, schedule, and when it was last loaded."),
    "citations": ("Citations", "One row per citation of a manifest: manifest, citation_id, the URL as cited"
                  " and its fetch_url (normalised), cited_as, context, accessed, line; first_seen/last_seen:"
                  " the loads of the manifest that listed it (current citations have last_seen = the"
                  " manifest's loaded_at)."),
    "warc_files": ("WARC files", "One row per WARC file: name (under the storage folder), created, closed,"
                   " size and sha256 once closed, state."),
    "captures": ("Captures", "One row per fetch of a URL: url as cited, fetch_url, manifest, citation_id,"
                 " captured_at, outcome, error, http_status, final_url, content_type, payload size and"
                 " digests, record_type (response or revisit), truncated, warc/warc_offset/warc_length of the"
                 " final record, refers_to (a revisit's original capture), redirects (JSON chain), ip, elapsed,"
                 " attempts, mode (http, browser, or memento: a copy imported from another web archive, with"
                 " source_url, source_archive and imported_at)."),
    "records": ("WARC records", "One row per WARC record written: warc, offset, length, rec_type, uri,"
                " record_id, date, payload_digest, refers_to; capture_id the capture it belongs to."),
    "checks": ("Checks", "One row per check of a URL: checked_at, url, fetch_url, manifest, citation_id,"
               " status (the status word), reason (why, in words), http_status, final_url, redirects,"
               " elapsed, attempts, error, drift (0-1) and drift_level (minor, major), baseline_capture (the"
               " capture compared with), capture_id (the capture holding what the check saw), mode (http or"
               " browser)."),
    "verdict_policy": ("Verdict policy", "One row: when the citation_verdicts view calls a failing citation"
                       " dead (`checks` consecutive failed checks spanning at least `days` days). `archiver"
                       " report` takes its policy from its flags, the same by default."),
    "audits": ("Fixity audits", "One row per `archiver verify` run: mode, since, files, records, bytes,"
               " problems, warnings, status."),
    "audit_problems": ("Fixity problems", "One row per problem an audit found: warc, offset, record_id, uri,"
                       " kind, detail."),
    "url_state": ("URL state (cache)", "One row per fetched URL: the verdict inputs under verdict_policy,"
                  " kept current by triggers so the report reads one row per URL (last check, last ok,"
                  " failure streak, dead_since, newest good capture; dirty: judged from history instead)."),
    "capture_resources": ("Sub-resources of browser captures", "One row per sub-resource a rendered page"
                          " fetched or was refused: url, method, kind, outcome, refused, http_status,"
                          " content_type, payload size and sha256, record_type, record_id."),
    "copies": ("Copies in other web archives", "One row per answer an archive gave for a URL: archive,"
               " memento_url, memento_datetime, target_datetime, checked_at, status (ok, error_page, no_copy,"
               " unreachable), detail."),
    "saves": ("Save requests", "One row per page an archive was asked to save now (copies --save): its job_id,"
              " status (saved, failed, refused, pending, unreachable), the memento a saved job made"
              " (memento_url, memento_datetime) and the archive's own words (detail). No key is kept."),
    "ledger": ("Tamper-evident log", "One entry per event (kind: warc_closed, captures, audit): its canonical JSON"
               " (event), the hash of the entry before (prev) and its own (hash = sha256 of prev + event)."
               " Mirrored in storage/ledger.jsonl; archiver verify recomputes the chain."),
    "timestamps": ("Trusted timestamps", "RFC 3161 tokens a Time Stamping Authority (tsa) signed over the log's"
                   " head (seq, head), with the authority's time (gen_time); also storage/timestamps/*.tsr."),
    "citation_copies": ("Copies of citations elsewhere (view)", "Each citation's judged copies in other web"
                        " archives (each archive's newest ok answer), nearest to the datetime asked for"
                        " first: rank 1 is the best copy."),
    "latest_checks": ("Latest checks (view)", "One row per URL: its newest check, every checks column."),
    "good_captures": ("Good captures (view)", "One row per URL: its newest good capture (2xx, whole, response"
                      " or revisit, ours): capture_id, captured_at, record_type, sha256, and the warc,"
                      " warc_offset, warc_length of the record holding the bytes (a revisit's original)."),
    "citation_verdicts": ("Citation verdicts (view)", "One row per current citation of a manifest: its"
                          " verdict (alive, drifted, failing, dead, blocked, unchecked) under verdict_policy,"
                          " with host, the newest check's status, reason, http_status, final_url, checked_at,"
                          " failing_since, dead_since, last_ok_at, drift and drift_level. The same verdicts as"
                          " `archiver report` under the same policy; invalid URLs are only in the report."),
}

# column -> description, wherever the column appears.
COLUMNS: dict[str, str] = {
    "verdict": "alive, drifted (major drift from the baseline), failing (failed, not yet confirmed), dead"
               " (confirmed under verdict_policy), blocked (the site refused us), unchecked (no check yet)",
    "status": "the status word of the newest check (checks) or the run's end (runs)",
    "reason": "why the status, in words",
    "host": "the host of the fetch URL, lower case, no port",
    "fetch_url": "the URL as fetched (normalised form of the cited URL)",
    "manifest": "the manifest's path, as in the manifests table",
    "citation_id": "the citation's id within its manifest",
    "failing_since": "the first failed check of the current failure streak",
    "dead_since": "the check that confirmed death under verdict_policy",
    "last_ok_at": "the newest check that found the page alive",
    "drift": "how much the main text changed from the baseline capture (0 same, 1 all new)",
    "drift_level": "minor or major; only major drift makes a citation drifted",
    "captured_at": "when the capture was made (UTC)",
    "checked_at": "when the check was made (UTC)",
    "outcome": "ok, or why the fetch failed",
    "record_type": "response (bytes stored), revisit (same payload as an earlier capture)",
}

FACETS = ("verdict", "status", "host", "outcome")  # offered on every table or view that has the column


@dataclass(frozen=True)
class Canned:
    """A canned query: its name in the URL, title, description and SQL (named parameters: :name)."""

    name: str
    title: str
    description: str
    sql: str
    needs: tuple[str, ...]  # the tables/views it reads: left out when the database lacks one


CANNED: tuple[Canned, ...] = (
    Canned("dead_citations_by_paper", "Dead citations by paper",
           "Citations whose verdict is dead, paper by paper: since when it failed, when death was confirmed,"
           " the status word and reason of the newest check.",
           """SELECT v.manifest, m.title AS paper, v.citation_id, v.url, v.host, v.status, v.reason,
    v.http_status, v.failing_since, v.dead_since, v.last_ok_at
FROM citation_verdicts v LEFT JOIN manifests m ON m.path = v.manifest
WHERE v.verdict = 'dead'
ORDER BY v.manifest, v.citation_id""", ("citation_verdicts", "manifests")),
    Canned("drifted_since", "Drifted since a date",
           "Citations whose verdict is drifted and whose page was found drifted (major drift) on or after"
           " :since (an ISO date such as 2025-01-31, or a date-time; empty: any time). drifted_at: the first"
           " such check on or after :since.",
           """SELECT v.manifest, v.citation_id, v.url, v.host, v.drift, v.checked_at,
    (SELECT MIN(k.checked_at) FROM checks k WHERE k.fetch_url = v.fetch_url AND k.drift_level = 'major'
     AND k.checked_at >= :since) AS drifted_at
FROM citation_verdicts v
WHERE v.verdict = 'drifted' AND EXISTS (SELECT 1 FROM checks k WHERE k.fetch_url = v.fetch_url
    AND k.drift_level = 'major' AND k.checked_at >= :since)
ORDER BY drifted_at DESC, v.manifest, v.citation_id""", ("citation_verdicts", "checks")),
    Canned("captures_of_url", "Captures of a URL",
           "Every capture of :url (as cited or as fetched), oldest first: outcome, HTTP status, how it was"
           " made, its payload and the WARC record holding it.",
           """SELECT id, captured_at, url, fetch_url, outcome, error, http_status, final_url, record_type,
    content_type, payload_size, payload_sha256, refers_to, warc, warc_offset, warc_length, manifest, citation_id
FROM captures WHERE url = :url OR fetch_url = :url
ORDER BY captured_at, id""", ("captures",)),
    Canned("failed_runs", "Runs that failed",
           "Runs that did not finish as done (failed, interrupted, or no end recorded: still running or"
           " crashed), and runs that finished with failed URLs; newest first.",
           """SELECT id, command, started_at, finished_at, status, captured, unchanged, failed, checked,
    offline, network, targets,
    CASE WHEN status IS NULL THEN 'no end recorded (running, or crashed)'
         WHEN status != 'done' THEN status ELSE 'failed URLs' END AS why
FROM runs WHERE status IS NULL OR status != 'done' OR failed > 0
ORDER BY id DESC""", ("runs",)),
)


@dataclass(frozen=True)
class Shape:
    """The database's tables and views with their columns, as read from the file."""

    tables: dict[str, list[str]]
    views: dict[str, list[str]]

    def columns(self, name: str) -> list[str]:
        return self.tables.get(name) or self.views.get(name) or []


def read_shape(path: Path) -> Shape:
    """The tables and views of the database at `path`, opened read-only (never created, migrated or written)."""
    with ArchiveDB.open(path, readonly=True) as db:
        tables = {name: list(db.db.table(name).columns_dict) for name in db.db.table_names()
                  if not name.startswith("sqlite_")}
        views = {name: list(db.db.view(name).columns_dict) for name in db.db.view_names()}
    return Shape(tables, views)


def replay_prefix(url: str | None) -> str | None:
    """--replay-url as a prefix ending in one slash (http://127.0.0.1:8080/archive/), or None."""
    if not url:
        return None
    return url.rstrip("/") + "/"


def metadata(shape: Shape, db_name: str, replay_url: str | None = None) -> dict[str, Any]:
    """Datasette's metadata for the database named `db_name`: a title and description for each table and
    view (a name without notes, from a newer schema, is described as such), column descriptions, facets,
    and the canned queries whose tables exist. `replay_url`: where `archiver replay` serves (the plugin
    config browse_server reads for its links)."""
    described: dict[str, Any] = {}
    for name in [*shape.tables, *shape.views]:
        title, text = NOTES.get(name, (name, "Not described by this archiver (a newer schema's table)."))
        columns = shape.columns(name)
        entry: dict[str, Any] = {"title": title, "description": text}
        notes = {c: COLUMNS[c] for c in columns if c in COLUMNS}
        if notes:
            entry["columns"] = notes
        facets = [c for c in FACETS if c in columns]
        if facets:
            entry["facets"] = facets
        described[name] = entry
    queries = {q.name: {"title": q.title, "description": q.description, "sql": q.sql}
               for q in CANNED if all(shape.columns(n) for n in q.needs)}
    meta: dict[str, Any] = {
        "title": "archiver: the sources papers cite",
        "description": "The archive database, read-only: citations and their verdicts, checks, captures and"
                       " the WARC records holding them. Start with citation_verdicts or a canned query.",
        "databases": {db_name: {"title": "archiver database", "tables": described, "queries": queries}},
    }
    prefix = replay_prefix(replay_url)
    if prefix:
        meta["plugins"] = {PLUGIN: {"replay_url": prefix}}
    return meta


def write_metadata(path: Path, meta: dict[str, Any]) -> None:
    """The metadata as JSON (`datasette DB -m FILE`)."""
    from .atomic import write_atomically

    write_atomically(path, (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


TIME_COLUMNS = ("captured_at", "checked_at")  # the row's time: pywb replays the capture nearest to it
URL_COLUMNS = ("url", "fetch_url", "final_url")


def replay_link(prefix: str, row: dict[str, Any], column: str) -> str | None:
    """Where `archiver replay` (pywb) shows the URL in `row[column]`: at the row's capture or check time
    (pywb's nearest capture, with its banner), or its newest capture when the row has no time. None for a
    cell that is no http(s) URL."""
    value = row.get(column)
    if column not in URL_COLUMNS or not isinstance(value, str) or not value.startswith(("http://", "https://")):
        return None
    target = row.get("fetch_url") if column == "url" and isinstance(row.get("fetch_url"), str) else value
    for name in TIME_COLUMNS:
        when = row.get(name)
        if isinstance(when, str):
            try:
                stamps.parse(when)
            except ValueError:
                continue
            return f"{prefix}{timestamp14(when)}/{target}"
    return f"{prefix}{target}"
