"""Whole-archive reads, as named rows: the report's (a few set-based queries over a temporary table of
URLs, streamed, never one query per citation: 100,000 citations in about a second), the replay index
and export's, and a URL's history. A base of ArchiveDB: it reads through the connection ArchiveDB
opened, read-only or not, and refuses (one line, exit 4) a read an older schema cannot answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlite_utils

from ..errors import StorageError
from ..verdict import Policy
from .copies import copies_down_sql, copies_json_sql
from .rows import (
    CheckRow,
    Cited,
    ExportState,
    GoodCapture,
    JsonRow,
    ListedCapture,
    ManifestRow,
    NumberedCited,
    StateRow,
    TimelineRow,
    named,
    scalar,
)
from .rule_sql import run_offline, skipped_failure, word_sql
from .schema import ALIVE_SQL, good_capture, ours, url_state_current

# Current citations of the manifests in temp.report_manifests (those seen at the manifest's last
# load), in manifest order; invalid URLs, never citations rows, come from their newest check.
_CITATIONS_SQL = """
    SELECT c.manifest AS manifest, c.citation_id AS citation_id, c.url AS url, c.fetch_url AS fetch_url,
           c.cited_as AS cited_as, c.context AS context, c.line AS line
    FROM temp.report_manifests t JOIN manifests m ON m.path = t.value
    JOIN citations c ON c.manifest = m.path AND c.last_seen = m.loaded_at
    UNION ALL
    SELECT k.manifest, k.citation_id, k.url, k.fetch_url, NULL, NULL, NULL
    FROM temp.report_manifests t JOIN checks k ON k.manifest = t.value AND k.status = 'invalid_url'
    WHERE k.id = (SELECT MAX(id) FROM checks j WHERE j.manifest = k.manifest AND j.url = k.url
                  AND j.status = 'invalid_url')
      AND NOT EXISTS (SELECT 1 FROM citations c WHERE c.manifest = k.manifest AND c.url = k.url)
    ORDER BY manifest, line, url"""


class Queries:
    """The reads; ArchiveDB sets `db`, `path` and `version` (the schema version of the file)."""

    db: sqlite_utils.Database
    path: Path
    version: int

    def needs(self, version: int) -> None:
        """Refuse a read that needs schema objects this database (an older one, opened read-only, so not
        migrated) does not have yet."""
        if self.version < version:
            raise StorageError(f"{self.path}: database schema v{self.version} is older than this command reads"
                               f" (v{version}); `archiver verify` (or any snapshot or check) upgrades it in place")

    def temp_list(self, name: str, values: Iterable[str]) -> None:
        """A temporary table of values (distinct, in the caller's order): set-based joins instead of IN
        lists or loops. It lives in the connection's temp database: a read-only open can have it too."""
        self.db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (value TEXT)")
        self.db.execute(f"DELETE FROM temp.{name}")
        self.db.conn.executemany(f"INSERT INTO temp.{name} VALUES (?)", ((v,) for v in dict.fromkeys(values)))

    # -- report ----------------------------------------------------------------------------------

    def report_manifests(self) -> list[ManifestRow]:
        return list(named(self.db.execute(
            "SELECT path, name, title, source, loaded_at FROM manifests ORDER BY path"), ManifestRow))

    def report_citations(self, manifests: list[str]) -> list[Cited]:
        """Current citations of the manifests, in manifest order (see _CITATIONS_SQL)."""
        self.needs(2)
        self.temp_list("report_manifests", manifests)
        return list(named(self.db.execute(_CITATIONS_SQL), Cited))

    def report_fill_cited(self, cited: Iterable[Cited] | None, manifests: list[str]) -> None:
        """temp.report_cited, the report's citations in report order (rowid): `cited`, or when it is
        None the current citations of `manifests` as report_citations lists them, copied inside SQLite."""
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS report_cited (manifest TEXT, citation_id TEXT, url TEXT,"
                        " fetch_url TEXT, cited_as TEXT, context TEXT, line INTEGER)")
        self.db.execute("DELETE FROM temp.report_cited")
        if cited is not None:
            self.db.conn.executemany("INSERT INTO temp.report_cited VALUES (?, ?, ?, ?, ?, ?, ?)", cited)
            return
        self.needs(2)
        self.temp_list("report_manifests", manifests)
        self.db.execute(f"INSERT INTO temp.report_cited SELECT * FROM ({_CITATIONS_SQL})")

    def report_json_rows(self, verdicts: Iterable[str], since: str | None) -> Iterator[JsonRow]:
        """For each row of temp.report_cited, in order, under the stored policy (url_state): its verdict
        and the report's JSON object as compact text, built by SQLite (report FIELDS, in order).
        `verdicts` (none: all) and `since` (a stamp as stored: failing or dead since then) filter the
        rows; dirty rows always come, unbuilt, for the caller to judge."""
        self.needs(5)
        wanted = sorted(verdicts)
        where = []
        params: list[Any] = []
        if wanted:
            where.append(f"verdict IN ({', '.join('?' * len(wanted))})")
            params += wanted
        if since is not None:
            where.append("(failing_since >= ? OR dead_since >= ?)")
            params += [since, since]
        keep = f"WHERE dirty OR ({' AND '.join(where)})" if where else ""
        return named(self.db.execute(
            f"""SELECT ord, dirty, verdict, CASE WHEN dirty THEN NULL ELSE json_object(
                    'manifest', manifest, 'id', citation_id, 'url', url, 'cited_as', cited_as, 'context', context,
                    'verdict', verdict, 'status', status, 'reason', reason, 'http_status', http_status,
                    'final_url', final_url, 'checked_at', checked_at, 'failing_since', failing_since,
                    'dead_since', dead_since, 'last_ok_at', last_ok_at, 'drift', drift, 'drift_level', drift_level,
                    'capture', CASE WHEN payload_id IS NOT NULL THEN json_object('warc', warc, 'offset', warc_offset,
                        'length', warc_length, 'sha256', sha256, 'captured_at', captured_at,
                        'record_type', record_type) END,
                    'offline', json(CASE WHEN offline THEN 'true' ELSE 'false' END),
                    'offline_checks', offline_checks, 'copies', {copies_json_sql('fetch_url', self.version)},
                    'copies_down', {copies_down_sql('fetch_url', self.version)})
                    END AS json
                FROM (SELECT t.rowid AS ord, COALESCE(s.dirty, 0) AS dirty, t.manifest, t.citation_id, t.url,
                        t.fetch_url,
                        t.cited_as, t.context, {word_sql('k.status', 'k.drift_level', 's.dead_since')} AS verdict,
                        k.status, k.reason, k.http_status, k.final_url, k.checked_at,
                        CASE WHEN k.status IS NOT NULL THEN s.streak_first_at END AS failing_since,
                        CASE WHEN k.status IS NOT NULL THEN s.dead_since END AS dead_since,
                        CASE WHEN k.status IS NOT NULL THEN s.last_ok_at END AS last_ok_at,
                        k.drift, k.drift_level, o.id AS payload_id, o.warc, o.warc_offset, o.warc_length,
                        COALESCE(c.payload_sha256, o.payload_sha256) AS sha256, c.captured_at, c.record_type,
                        -- verdict.judge's `offline`: the newest check is a failure of an offline run, and
                        -- no failure since the newest ok one counted
                        {skipped_failure('k.status', 'k.run_id')} AND s.streak_n = 0 AS offline,
                        COALESCE(s.offline_n, 0) AS offline_checks
                      FROM temp.report_cited t
                      LEFT JOIN url_state s ON s.fetch_url = t.fetch_url
                      LEFT JOIN checks k ON k.id = s.last_check_id
                      LEFT JOIN captures c ON c.id = s.good_capture_id
                      LEFT JOIN captures o ON o.id = COALESCE(c.refers_to, c.id))
                {keep} ORDER BY ord""", params), JsonRow)

    def report_cited_rows(self, rowids: list[int]) -> list[NumberedCited]:
        """Rows of temp.report_cited by rowid."""
        self.temp_list("report_rowids", [str(r) for r in rowids])
        return list(named(self.db.execute(
            """SELECT t.rowid AS ord, t.manifest, t.citation_id, t.url, t.fetch_url, t.cited_as, t.context, t.line
               FROM temp.report_rowids r JOIN temp.report_cited t ON t.rowid = CAST(r.value AS INTEGER)"""),
            NumberedCited))

    def report_checks(self, fetch_urls: Iterable[str]) -> Iterator[CheckRow]:
        """For each URL, its newest ok check and every check after it, ordered by URL then time: all
        `verdict.judge` reads (a success resets the count: earlier checks cannot change a verdict)."""
        self.needs(3)
        self.temp_list("report_urls", fetch_urls)
        # Only the newest check's own row is read from the table (SQLite defers the seek until a
        # column outside the covering index is needed): one page read per URL, not one per check.
        # Whether its run was offline is a primary-key lookup in the small runs table (schema v6).
        index, offline = (("idx_checks_url_history_run", run_offline("k.run_id")) if self.version >= 6
                          else ("idx_checks_url_history", "0"))
        return named(self.db.execute(
            f"""WITH bounds AS MATERIALIZED (
                    SELECT value AS fetch_url,
                        (SELECT MAX(checked_at) FROM checks o WHERE o.fetch_url = u.value
                         AND o.status IN {ALIVE_SQL}) AS ok_at,
                        (SELECT id FROM checks n WHERE n.fetch_url = u.value
                         ORDER BY checked_at DESC, id DESC LIMIT 1) AS newest
                    FROM temp.report_urls u)
                SELECT k.fetch_url, k.checked_at, k.status, k.drift_level,
                       CASE WHEN k.id = b.newest THEN k.drift END AS drift,
                       CASE WHEN k.id = b.newest THEN k.http_status END AS http_status,
                       CASE WHEN k.id = b.newest THEN k.final_url END AS final_url,
                       CASE WHEN k.id = b.newest THEN k.reason END AS reason, {offline} AS offline
                FROM bounds b CROSS JOIN checks k INDEXED BY {index}
                    ON k.fetch_url = b.fetch_url AND k.checked_at >= COALESCE(b.ok_at, '')
                ORDER BY k.fetch_url, k.checked_at, k.id"""), CheckRow)

    def report_timelines(self, fetch_urls: Iterable[str]) -> Iterator[TimelineRow]:
        """Whole check histories, ordered by URL then time."""
        self.needs(2)
        self.temp_list("report_urls", fetch_urls)
        offline = run_offline("k.run_id") if self.version >= 6 else "0"
        return named(self.db.execute(
            f"""SELECT k.fetch_url, k.checked_at, k.status, k.drift_level, k.run_id, {offline} AS offline
                FROM temp.report_urls u JOIN checks k ON k.fetch_url = u.value
                ORDER BY k.fetch_url, k.checked_at, k.id"""), TimelineRow)

    def report_captures(self, fetch_urls: Iterable[str]) -> dict[str, GoodCapture]:
        """Newest good capture per URL, the payload's location resolved to the original record."""
        self.needs(3)
        self.temp_list("report_urls", fetch_urls)
        # MATERIALIZED: evaluated once per URL (as a join condition SQLite would run it per row). No
        # `id` tie-break: it would cost a sort per URL, and one URL's captures never share a microsecond.
        rows = named(self.db.execute(
            f"""WITH newest AS MATERIALIZED (
                   SELECT value AS fetch_url,
                       (SELECT id FROM captures INDEXED BY idx_captures_url_good WHERE fetch_url = u.value
                        AND {good_capture('', self.version)} ORDER BY captured_at DESC LIMIT 1) AS id
                   FROM temp.report_urls u)
               SELECT c.captured_at, c.record_type, COALESCE(c.payload_sha256, o.payload_sha256) AS sha256,
                      o.warc, o.warc_offset AS "offset", o.warc_length AS length, o.id AS payload_capture_id,
                      o.content_type, o.final_url, n.fetch_url
               FROM newest n CROSS JOIN captures c ON c.id = n.id
               CROSS JOIN captures o ON o.id = COALESCE(c.refers_to, c.id)"""), GoodCapture)
        return {row.fetch_url: row for row in rows}

    def report_capture_list(self, fetch_urls: Iterable[str], limit: int) -> dict[str, list[ListedCapture]]:
        """Per URL its `limit` newest captures of ours that replay (responses and revisits), newest
        first: imported mementos are the other archives' copies, not in this list."""
        self.temp_list("report_urls", fetch_urls)
        out: dict[str, list[ListedCapture]] = {}
        for row in named(self.db.execute(
                f"""SELECT captured_at, record_type, http_status, total, fetch_url FROM (
                       SELECT c.fetch_url, c.captured_at, c.record_type, c.http_status,
                           ROW_NUMBER() OVER (PARTITION BY c.fetch_url ORDER BY c.captured_at DESC, c.id DESC) AS n,
                           COUNT(*) OVER (PARTITION BY c.fetch_url) AS total
                       FROM temp.report_urls u JOIN captures c ON c.fetch_url = u.value
                       WHERE c.record_type IN ('response', 'revisit') AND {ours('c.', self.version)})
                   WHERE n <= ? ORDER BY fetch_url, n""", [limit]), ListedCapture):
            out.setdefault(row.fetch_url, []).append(row)
        return out

    def report_policy(self) -> Policy | None:
        """The policy url_state is kept under; None when there is no url_state to read (an older schema,
        or one whose triggers keep another rule than this archiver's: read-only, so never synced)."""
        if self.version < 5 or not url_state_current(self.db.conn):
            return None
        row = self.db.execute("SELECT checks, days FROM verdict_policy").fetchone()
        if row is None:
            return None
        checks, days = row
        return Policy(int(checks), float(days))

    def report_state(self, fetch_urls: Iterable[str]) -> Iterator[StateRow]:
        """url_state per URL with its newest check and its newest good capture, by primary keys. URLs
        without a url_state row (never checked nor captured) are left out."""
        self.needs(5)
        self.temp_list("report_urls", fetch_urls)
        return named(self.db.execute(
            f"""SELECT s.fetch_url, s.dirty, s.last_ok_at, s.streak_first_at, s.dead_since, s.streak_n, s.offline_n,
                   k.checked_at, k.status, k.drift_level, k.drift, k.http_status, k.final_url, k.reason,
                   c.captured_at, c.record_type, COALESCE(c.payload_sha256, o.payload_sha256) AS sha256,
                   o.warc, o.warc_offset AS "offset", o.warc_length AS length, o.id AS payload_capture_id,
                   o.content_type, o.final_url AS capture_final_url, {run_offline('k.run_id')} AS last_offline
               FROM temp.report_urls u CROSS JOIN url_state s ON s.fetch_url = u.value
               LEFT JOIN checks k ON k.id = s.last_check_id
               LEFT JOIN captures c ON c.id = s.good_capture_id
               LEFT JOIN captures o ON o.id = COALESCE(c.refers_to, c.id)"""), StateRow)

    # -- export and replay ---------------------------------------------------------------------------
    # Records with what a CDXJ line needs, so an index is one query and no WARC is re-read.

    def export_manifests(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT path, name, title FROM manifests ORDER BY path"))

    def export_citations(self, manifest: str) -> list[dict[str, Any]]:
        """The manifest's current citations (those seen at its last load), in manifest order."""
        return list(self.db.query(
            """SELECT c.citation_id, c.url, c.fetch_url FROM manifests m
               JOIN citations c ON c.manifest = m.path AND c.last_seen = m.loaded_at
               WHERE m.path = ? ORDER BY c.line, c.id""", [manifest]))

    def export_records(self, fetch_urls: Iterable[str] | None = None, *, first: int = 0,
                       below: int | None = None) -> list[dict[str, Any]]:
        """Every record of the captures of `fetch_urls` (None: of every capture) plus the captures
        their revisits refer to (the page's, and a browser capture's sub-resources', which may be
        another page's), each with its capture's fields, in capture order then file order; only
        captures with first <= id < below (a replay index in two parts, see replay_boundary).
        A browser capture's sub-resource record carries its status and Content-Type from
        capture_resources (resource_status, resource_type; NULL for other records)."""
        columns = """c.id AS capture_id, c.fetch_url, c.captured_at, c.http_status, c.content_type, c.redirects,
                     c.record_type AS capture_type, c.mode, c.rendering, r.warc, r."offset", r.length, r.rec_type,
                     r.uri, r.record_id, r.date, r.payload_digest,
                     cr.http_status AS resource_status, cr.content_type AS resource_type"""
        # A record is one capture's: the capture_id in the join keeps the lookup on its index.
        resources = ("LEFT JOIN capture_resources cr ON cr.capture_id = r.capture_id AND cr.record_id = r.record_id"
                     if self.version >= 7 else "LEFT JOIN (SELECT NULL AS http_status, NULL AS content_type) cr ON 0")
        if self.version < 7:
            columns = columns.replace("c.mode, c.rendering", "NULL AS mode, NULL AS rendering")
        order = 'ORDER BY c.captured_at, c.id, r.warc, r."offset"'
        span = "c.id >= :first AND c.id < :below"
        params = {"first": first, "below": below if below is not None else 2**62}
        if fetch_urls is None:
            return list(self.db.query(
                f"SELECT {columns} FROM captures c JOIN records r ON r.capture_id = c.id {resources}"
                f" WHERE {span} {order}", params))
        self.temp_list("export_urls", fetch_urls)
        return list(self.db.query(
            f"""WITH cited AS (
                    SELECT c.id, c.refers_to FROM temp.export_urls u JOIN captures c ON c.fetch_url = u.value),
                chosen AS (
                    SELECT id FROM cited
                    UNION SELECT refers_to FROM cited WHERE refers_to IS NOT NULL
                    UNION SELECT o.capture_id FROM cited JOIN records v ON v.capture_id = cited.id
                        JOIN records o ON o.record_id = v.refers_to
                        WHERE v.rec_type = 'revisit' AND v.refers_to IS NOT NULL AND o.capture_id IS NOT NULL)
                SELECT {columns} FROM chosen JOIN captures c ON c.id = chosen.id
                JOIN records r ON r.capture_id = c.id {resources} WHERE {span} {order}""", params))

    def replay_boundary(self) -> int:
        """The lowest capture id whose records may still change place: the first capture in a WARC
        file not yet closed (it will be renamed from .open), else the next capture id. Every capture
        below it sits in a closed file for good, so its index lines never change."""
        # warcinfo records belong to no capture (capture_id NULL): they do not count.
        first_open = scalar(self.db.execute(
            """SELECT MIN(r.capture_id) FROM warc_files w JOIN records r ON r.warc = w.name
               WHERE w.state != 'closed' AND r.capture_id IS NOT NULL"""))
        if first_open is not None:
            return int(first_open)
        return int(scalar(self.db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM captures")))

    def export_state(self) -> ExportState:
        """(newest record id, WARC files closed): when it changes, a replay index is stale."""
        return next(named(self.db.execute(
            "SELECT COALESCE((SELECT MAX(id) FROM records), 0) AS newest_record,"
            " (SELECT COUNT(*) FROM warc_files WHERE state = 'closed') AS closed_files"), ExportState))

    # -- browser captures ------------------------------------------------------------------------

    def rendered_baselines(self, fetch_urls: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """Per URL its browser captures that can be a rendered page's baseline, oldest first: a whole
        2xx page, not found by a check to be a soft-404, a wall or a parking page, with the DOM the
        browser kept (its `urn:dom:` record: `dom_digest`, `warc`, `offset`, `length`)."""
        self.needs(7)
        self.temp_list("rendered_urls", fetch_urls)
        out: dict[str, list[dict[str, Any]]] = {}
        for row in self.db.query(
                f"""SELECT c.fetch_url, c.id, c.captured_at, r.payload_digest AS dom_digest, r.uri, r.warc,
                           r."offset", r.length
                    FROM temp.rendered_urls u JOIN captures c ON c.fetch_url = u.value
                    JOIN records r ON r.capture_id = c.id AND r.rec_type = 'resource'
                                      AND substr(r.uri, 1, 8) = 'urn:dom:'
                    WHERE c.mode = 'browser' AND {good_capture('c.', self.version)}
                      AND NOT EXISTS (SELECT 1 FROM checks k WHERE k.capture_id = c.id
                                      AND k.status NOT IN {ALIVE_SQL})
                    ORDER BY c.fetch_url, c.captured_at, c.id"""):
            out.setdefault(row["fetch_url"], []).append(row)
        return out

    def capture_modes(self, fetch_urls: Iterable[str]) -> dict[str, str]:
        """How each URL's newest capture that holds a page was made: 'http' or 'browser' (older rows,
        without a mode, were all http). URLs never captured are left out."""
        if self.version < 7:
            return {}
        self.temp_list("rendered_urls", fetch_urls)
        return {row[0]: row[1] or "http" for row in self.db.execute(
            f"""SELECT u.value, (SELECT mode FROM captures WHERE fetch_url = u.value AND {ours('', self.version)}
                                AND record_type IN ('response', 'revisit') ORDER BY captured_at DESC, id DESC LIMIT 1)
               FROM temp.rendered_urls u
               WHERE EXISTS (SELECT 1 FROM captures WHERE fetch_url = u.value AND {ours('', self.version)}
                             AND record_type IN ('response', 'revisit'))""")}

    def report_resources(self, capture_ids: Iterable[int], prefix: str) -> dict[int, dict[str, Any]]:
        """Of the given captures, those with a `resource` record whose URI starts with `prefix`
        (`urn:screenshot:`): capture id -> that record (uri, warc, offset, length, payload_digest). One
        pass over the records, whatever the number of captures; {} before schema v7 (no browser captures)."""
        if self.version < 7:
            return {}
        self.temp_list("report_capture_ids", (str(i) for i in capture_ids))
        return {row["capture_id"]: row for row in self.db.query(
            """SELECT r.capture_id, r.uri, r.warc, r."offset", r.length, r.payload_digest
               FROM records r JOIN temp.report_capture_ids t ON r.capture_id = CAST(t.value AS INTEGER)
               WHERE r.rec_type = 'resource' AND substr(r.uri, 1, ?) = ?""", [len(prefix), prefix])}

    def resources_of(self, url: str, fetch_url: str | None, prefix: str) -> dict[int, dict[str, Any]]:
        """The captures of a URL (as cited or as fetched) that hold a `resource` record whose URI starts
        with `prefix` (`urn:screenshot:`): capture id -> that record (as capture_resource gives it)."""
        return {row["capture_id"]: row for row in self.db.query(
            """SELECT r.capture_id, r.uri, r.warc, r."offset", r.length, r.payload_digest, r.date
               FROM captures c JOIN records r ON r.capture_id = c.id
               WHERE (c.url = :url OR c.fetch_url = :fetch) AND r.rec_type = 'resource'
                 AND substr(r.uri, 1, :n) = :prefix""",
            {"url": url, "fetch": fetch_url or url, "n": len(prefix), "prefix": prefix})}

    # -- one URL ---------------------------------------------------------------------------------

    def captures_of(self, url: str, fetch_url: str | None) -> list[dict[str, Any]]:
        """Every capture of a URL (as cited or as fetched), newest first: `archiver history`. `good`: it
        holds a whole 2xx payload and is ours, the rule the report's capture and export's pages follow;
        `ours`: not a memento imported from another archive."""
        return [{**row, "good": bool(row["good"]), "ours": bool(row["ours"])} for row in self.db.query(
            f"SELECT *, ({good_capture('', self.version)}) AS good, ({ours('', self.version)}) AS ours FROM captures"
            " WHERE url = :url OR fetch_url = :fetch"
            " ORDER BY captured_at DESC, id DESC",
            {"url": url, "fetch": fetch_url or url},
        )]

    def provenance_rows(self, capture_ids: Iterable[int]) -> list[dict[str, Any]]:
        """The captures `capture_ids` with what a provenance summary shows (archiver/evidence/provenance.py):
        every captures column (`tls` where the schema has it), the run's command and start, and the WARC
        file's sha256 and state (its sha256 is set when the file is closed)."""
        ids = sorted(set(capture_ids))
        if not ids:
            return []
        self.temp_list("provenance_ids", [str(i) for i in ids])
        return list(self.db.query(
            """SELECT c.*, ru.command AS run_command, ru.started_at AS run_started_at,
                      w.sha256 AS warc_sha256, w.state AS warc_state
               FROM temp.provenance_ids p JOIN captures c ON c.id = CAST(p.value AS INTEGER)
               LEFT JOIN runs ru ON ru.id = c.run_id LEFT JOIN warc_files w ON w.name = c.warc
               ORDER BY c.captured_at, c.id"""))

    def capture(self, capture_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM captures WHERE id = ?", [capture_id]))
        return rows[0] if rows else None
