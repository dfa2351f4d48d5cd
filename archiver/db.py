"""The archive database: the only module that writes SQL. Versioned schema, migrations in order."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import sqlite_utils

from .errors import StorageError


def _v1(db: sqlite_utils.Database) -> None:
    db.table("runs").create(
        {"id": int, "command": str, "started_at": str, "finished_at": str, "targets": str,
         "captured": int, "unchanged": int, "failed": int, "status": str},
        pk="id",
    )
    db.table("manifests").create(
        {"path": str, "name": str, "title": str, "source": str, "schedule": str, "loaded_at": str},
        pk="path",
    )
    db.table("citations").create(
        {"id": int, "manifest": str, "key": str, "citation_id": str, "url": str, "fetch_url": str,
         "cited_as": str, "context": str, "accessed": str, "line": int, "extra": str,
         "first_seen": str, "last_seen": str},
        pk="id",
    )
    db.table("citations").create_index(["manifest", "key"], unique=True)
    db.table("citations").create_index(["fetch_url"])
    db.table("warc_files").create(
        {"name": str, "created_at": str, "closed_at": str, "size": int, "sha256": str, "state": str},
        pk="name",
    )
    db.table("captures").create(
        {"id": int, "run_id": int, "url": str, "fetch_url": str, "manifest": str, "citation_id": str,
         "captured_at": str, "outcome": str, "error": str, "http_status": int, "final_url": str,
         "content_type": str, "payload_size": int, "payload_sha256": str, "payload_sha1": str,
         "record_type": str, "truncated": str, "warc": str, "warc_offset": int, "warc_length": int,
         "record_id": str, "refers_to": int, "redirects": str, "ip": str, "elapsed": float,
         "attempts": int},
        pk="id",
        foreign_keys=[("run_id", "runs", "id"), ("refers_to", "captures", "id")],
    )
    db.table("captures").create_index(["fetch_url", "captured_at"])
    db.table("captures").create_index(["url"])
    db.table("records").create(
        {"id": int, "capture_id": int, "warc": str, "offset": int, "length": int, "rec_type": str,
         "uri": str, "record_id": str, "date": str, "payload_digest": str, "refers_to": str},
        pk="id",
        foreign_keys=[("capture_id", "captures", "id")],
    )
    db.table("records").create_index(["warc", "offset"])
    db.table("records").create_index(["record_id"])


def _v2(db: sqlite_utils.Database) -> None:
    """Checks: one row per URL per check run, with the capture that holds what it saw."""
    db.table("checks").create(
        {"id": int, "run_id": int, "checked_at": str, "url": str, "fetch_url": str, "manifest": str,
         "citation_id": str, "status": str, "reason": str, "http_status": int, "final_url": str,
         "redirects": str, "elapsed": float, "attempts": int, "error": str, "drift": float, "drift_level": str,
         "baseline_capture": int, "capture_id": int, "payload_sha1": str},
        pk="id",
        foreign_keys=[("run_id", "runs", "id"), ("capture_id", "captures", "id"),
                      ("baseline_capture", "captures", "id")],
    )
    db.table("checks").create_index(["fetch_url", "checked_at"])
    db.table("checks").create_index(["capture_id"])
    db.table("runs").add_column("checked", int)


# Status words as verdict.py groups them, spelled out for SQL (a test keeps the two in step).
_ALIVE_SQL = "('ok', 'redirected')"
_BLOCKED_SQL = "('forbidden', 'rate_limited', 'login_wall')"
_FAILED_SQL = ("('soft_404', 'not_found', 'gone', 'server_error', 'client_error', 'parked', 'dns_error',"
               " 'connection_error', 'timeout', 'tls_error', 'too_many_redirects', 'invalid_url')")


def _v3(db: sqlite_utils.Database) -> None:
    """Report: indexes for the report's per-URL seeks, and views for people's own SQL (README)."""
    # last ok check per URL, and the failures after it, are index seeks instead of history scans.
    db.execute("CREATE INDEX idx_checks_url_status ON checks (fetch_url, status, checked_at)")
    # Covering indexes: a URL's recent checks and its newest good capture without reading table rows.
    db.execute("CREATE INDEX idx_checks_url_history ON checks (fetch_url, checked_at, status, drift_level)")
    db.execute("CREATE INDEX idx_captures_url_good ON captures (fetch_url, captured_at, record_type, http_status,"
               " truncated)")
    # Invalid URLs are never citations rows (no fetch_url to key them): found through their checks.
    db.execute("CREATE INDEX idx_checks_invalid ON checks (manifest) WHERE status = 'invalid_url'")
    # The policy the citation_verdicts view applies; `archiver report` takes its policy from flags.
    db.execute("CREATE TABLE verdict_policy (id INTEGER PRIMARY KEY CHECK (id = 1), checks INTEGER NOT NULL,"
               " days REAL NOT NULL)")
    db.execute("INSERT INTO verdict_policy VALUES (1, 3, 3)")
    db.execute("""CREATE VIEW latest_checks AS
        SELECT k.* FROM (SELECT DISTINCT fetch_url FROM checks) u
        JOIN checks k ON k.id = (SELECT id FROM checks WHERE fetch_url = u.fetch_url
                                 ORDER BY checked_at DESC, id DESC LIMIT 1)""")
    db.execute("""CREATE VIEW good_captures AS
        SELECT u.fetch_url, c.id AS capture_id, c.captured_at, c.record_type, c.http_status,
               COALESCE(c.payload_sha256, o.payload_sha256) AS sha256, o.warc, o.warc_offset, o.warc_length,
               o.id AS payload_capture_id, o.captured_at AS payload_captured_at
        FROM (SELECT DISTINCT fetch_url FROM captures) u
        JOIN captures c ON c.id = (SELECT id FROM captures WHERE fetch_url = u.fetch_url
                                   AND record_type IN ('response', 'revisit') AND truncated IS NULL
                                   AND http_status BETWEEN 200 AND 299 ORDER BY captured_at DESC, id DESC LIMIT 1)
        JOIN captures o ON o.id = COALESCE(c.refers_to, c.id)""")
    # verdict.judge in SQL, under the policy in verdict_policy: the last ok check, the failed checks
    # after it (the streak), dead at the first streak check that is the N-th or later and D days on.
    db.execute(f"""CREATE VIEW citation_verdicts AS
        WITH cited AS (
            SELECT c.manifest, c.citation_id, c.key, c.url, c.fetch_url, c.cited_as, c.context, c.line,
                (SELECT MAX(checked_at) FROM checks k WHERE k.fetch_url = c.fetch_url
                 AND k.status IN {_ALIVE_SQL}) AS last_ok_at,
                lower(substr(c.fetch_url, instr(c.fetch_url, '://') + 3,
                      instr(substr(c.fetch_url, instr(c.fetch_url, '://') + 3) || '/', '/') - 1)) AS hostport
            FROM citations c JOIN manifests m ON m.path = c.manifest AND c.last_seen = m.loaded_at),
        streak AS (
            SELECT u.fetch_url, k.checked_at,
                ROW_NUMBER() OVER w AS n, FIRST_VALUE(k.checked_at) OVER w AS first_at
            FROM (SELECT DISTINCT fetch_url, last_ok_at FROM cited) u
            JOIN checks k ON k.fetch_url = u.fetch_url AND k.status IN {_FAILED_SQL}
                AND k.checked_at > COALESCE(u.last_ok_at, '')
            WINDOW w AS (PARTITION BY u.fetch_url ORDER BY k.checked_at, k.id)),
        failing AS (
            SELECT s.fetch_url, MIN(s.first_at) AS failing_since,
                MIN(CASE WHEN s.n >= p.checks AND julianday(s.checked_at) - julianday(s.first_at) >= p.days
                    THEN s.checked_at END) AS dead_since
            FROM streak s, verdict_policy p GROUP BY s.fetch_url)
        SELECT cited.manifest, cited.citation_id, cited.key, cited.url, cited.fetch_url, cited.cited_as,
            cited.context, cited.line,
            CASE WHEN instr(cited.hostport, ':') > 0 AND cited.hostport NOT LIKE '[%'
                 THEN substr(cited.hostport, 1, instr(cited.hostport, ':') - 1) ELSE cited.hostport END AS host,
            CASE WHEN k.id IS NULL THEN 'unchecked'
                 WHEN k.status IN {_ALIVE_SQL} THEN (CASE WHEN k.drift_level = 'major' THEN 'drifted' ELSE 'alive' END)
                 WHEN k.status IN {_BLOCKED_SQL} THEN 'blocked'
                 WHEN f.dead_since IS NOT NULL THEN 'dead' ELSE 'failing' END AS verdict,
            k.status, k.reason, k.http_status, k.final_url, k.checked_at, f.failing_since, f.dead_since,
            cited.last_ok_at, k.drift, k.drift_level, k.id AS check_id
        FROM cited
        LEFT JOIN checks k ON k.id = (SELECT id FROM checks WHERE fetch_url = cited.fetch_url
                                      ORDER BY checked_at DESC, id DESC LIMIT 1)
        LEFT JOIN failing f ON f.fetch_url = cited.fetch_url""")


def _v4(db: sqlite_utils.Database) -> None:
    """Fixity: one row per `archiver verify` run, and one per problem it found (README)."""
    db.table("audits").create(
        {"id": int, "started_at": str, "finished_at": str, "mode": str, "since": str, "files": int,
         "records": int, "bytes": int, "problems": int, "warnings": int, "status": str},
        pk="id",
    )
    db.table("audit_problems").create(
        {"id": int, "audit_id": int, "warc": str, "offset": int, "record_id": str, "uri": str, "kind": str,
         "detail": str},
        pk="id",
        foreign_keys=[("audit_id", "audits", "id")],
    )
    db.table("audit_problems").create_index(["audit_id"])
    db.table("audit_problems").create_index(["warc"])  # "since when has this file been damaged?"


# A stamp as `now_iso` writes it: the url_state triggers compute only over these (others: dirty).
_CANONICAL_GLOB = ("'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
                   ".[0-9][0-9][0-9][0-9][0-9][0-9]Z'")


def _micros(column: str) -> str:
    """SQL for a canonical stamp as integer microseconds since the epoch: exact, as Python's timedelta
    (julianday keeps milliseconds only)."""
    return f"(unixepoch(substr({column}, 1, 19)) * 1000000 + CAST(substr({column}, 21, 6) AS INTEGER))"


def _v5(db: sqlite_utils.Database) -> None:
    """Report: url_state, each URL's verdict inputs kept current by triggers, so that the report under
    the stored policy reads one row per URL instead of seeking through its history.

    The fields are `verdict.judge`'s under verdict_policy: the newest check, the newest ok check, the
    failure streak since it (length, first check, the check that confirmed death), and the newest good
    capture. A check older than (or as old as) the URL's newest, or with a stamp not in now_iso's
    form, sets `dirty`: the report then judges that URL from its history. Changing verdict_policy
    sets every row dirty."""
    db.execute("""CREATE TABLE url_state (fetch_url TEXT PRIMARY KEY, last_check_id INTEGER, last_checked_at TEXT,
        last_ok_at TEXT, streak_n INTEGER NOT NULL DEFAULT 0, streak_first_at TEXT, dead_since TEXT,
        good_capture_id INTEGER, good_captured_at TEXT, dirty INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID""")
    span = "CAST(ROUND((SELECT days FROM verdict_policy) * 86400000000) AS INTEGER)"
    db.execute(f"""CREATE TRIGGER url_state_check AFTER INSERT ON checks WHEN NEW.fetch_url IS NOT NULL BEGIN
        INSERT OR IGNORE INTO url_state (fetch_url) VALUES (NEW.fetch_url);
        UPDATE url_state SET dirty = 1 WHERE fetch_url = NEW.fetch_url AND dirty = 0
            AND (NEW.checked_at <= last_checked_at OR NEW.checked_at IS NULL
                 OR NEW.checked_at NOT GLOB {_CANONICAL_GLOB});
        UPDATE url_state SET last_check_id = NEW.id, last_checked_at = NEW.checked_at,
            last_ok_at = CASE WHEN NEW.status IN {_ALIVE_SQL} THEN NEW.checked_at ELSE last_ok_at END,
            streak_n = CASE WHEN NEW.status IN {_ALIVE_SQL} THEN 0
                            WHEN NEW.status IN {_FAILED_SQL} THEN streak_n + 1 ELSE streak_n END,
            streak_first_at = CASE WHEN NEW.status IN {_ALIVE_SQL} THEN NULL
                                   WHEN NEW.status IN {_FAILED_SQL} THEN COALESCE(streak_first_at, NEW.checked_at)
                                   ELSE streak_first_at END,
            dead_since = CASE WHEN NEW.status IN {_ALIVE_SQL} THEN NULL
                              WHEN NEW.status IN {_FAILED_SQL} AND dead_since IS NULL
                                   AND streak_n + 1 >= (SELECT checks FROM verdict_policy)
                                   AND {_micros('NEW.checked_at')}
                                       - {_micros('COALESCE(streak_first_at, NEW.checked_at)')} >= {span}
                              THEN NEW.checked_at ELSE dead_since END
        WHERE fetch_url = NEW.fetch_url AND dirty = 0;
    END""")
    good = ("NEW.record_type IN ('response', 'revisit') AND NEW.truncated IS NULL"
            " AND NEW.http_status BETWEEN 200 AND 299")
    db.execute(f"""CREATE TRIGGER url_state_capture AFTER INSERT ON captures
        WHEN NEW.fetch_url IS NOT NULL AND {good} BEGIN
        INSERT OR IGNORE INTO url_state (fetch_url) VALUES (NEW.fetch_url);
        UPDATE url_state SET good_capture_id = NEW.id, good_captured_at = NEW.captured_at
        WHERE fetch_url = NEW.fetch_url AND (good_captured_at IS NULL OR NEW.captured_at >= good_captured_at);
    END""")
    db.execute("CREATE TRIGGER url_state_policy AFTER UPDATE ON verdict_policy BEGIN"
               " UPDATE url_state SET dirty = 1; END")
    # Backfill from the existing rows: citation_verdicts' logic (v3), per URL rather than per citation.
    db.execute(f"""INSERT INTO url_state (fetch_url, last_check_id, last_checked_at, last_ok_at, streak_n,
            streak_first_at, dead_since, dirty)
        WITH urls AS MATERIALIZED (
            SELECT fetch_url, MAX(checked_at) AS last_at,
                MAX(CASE WHEN status IN {_ALIVE_SQL} THEN checked_at END) AS last_ok_at,
                MAX(checked_at IS NULL OR checked_at NOT GLOB {_CANONICAL_GLOB}) AS odd
            FROM checks WHERE fetch_url IS NOT NULL GROUP BY fetch_url),
        streak AS (
            SELECT k.fetch_url, k.checked_at, ROW_NUMBER() OVER w AS n, FIRST_VALUE(k.checked_at) OVER w AS first_at
            FROM urls u JOIN checks k ON k.fetch_url = u.fetch_url AND k.status IN {_FAILED_SQL}
                AND k.checked_at > COALESCE(u.last_ok_at, '')
            WINDOW w AS (PARTITION BY k.fetch_url ORDER BY k.checked_at, k.id)),
        failing AS (
            SELECT s.fetch_url, COUNT(*) AS n, MIN(s.first_at) AS first_at,
                MIN(CASE WHEN s.n >= p.checks AND {_micros('s.checked_at')} - {_micros('s.first_at')}
                              >= CAST(ROUND(p.days * 86400000000) AS INTEGER) THEN s.checked_at END) AS dead_since
            FROM streak s, verdict_policy p GROUP BY s.fetch_url)
        SELECT u.fetch_url,
            (SELECT id FROM checks WHERE fetch_url = u.fetch_url ORDER BY checked_at DESC, id DESC LIMIT 1),
            u.last_at, u.last_ok_at, COALESCE(f.n, 0), f.first_at, f.dead_since, u.odd
        FROM urls u LEFT JOIN failing f ON f.fetch_url = u.fetch_url""")
    db.execute("""INSERT INTO url_state (fetch_url, good_capture_id, good_captured_at)
        SELECT fetch_url, id, captured_at FROM (
            SELECT fetch_url, id, captured_at,
                ROW_NUMBER() OVER (PARTITION BY fetch_url ORDER BY captured_at DESC, id DESC) AS rank
            FROM captures WHERE fetch_url IS NOT NULL AND record_type IN ('response', 'revisit')
                AND truncated IS NULL AND http_status BETWEEN 200 AND 299) WHERE rank = 1
        ON CONFLICT (fetch_url) DO UPDATE SET good_capture_id = excluded.good_capture_id,
            good_captured_at = excluded.good_captured_at""")


# Append-only: a released schema step is never edited, only followed by another.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5]
SCHEMA_VERSION = len(MIGRATIONS)


def _verdict_sql(status: str, drift_level: str, dead_since: str) -> str:
    """The verdict word from the newest check and url_state's dead_since (report_json_rows)."""
    return (f"CASE WHEN {status} IS NULL THEN 'unchecked'"
            f" WHEN {status} IN {_ALIVE_SQL} THEN (CASE WHEN {drift_level} = 'major' THEN 'drifted' ELSE 'alive' END)"
            f" WHEN {status} IN {_BLOCKED_SQL} THEN 'blocked'"
            f" WHEN {dead_since} IS NOT NULL THEN 'dead' ELSE 'failing' END")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Previous:
    """What a URL's newest capture with a payload holds: for the revisit decision."""

    fetch_url: str
    payload_sha1: str
    capture_id: int
    record_id: str
    uri: str
    date: str


class ArchiveDB:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self.db = sqlite_utils.Database(conn)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{path}: cannot open database: {exc}") from exc
        except OSError as exc:
            raise StorageError(f"{path}: cannot open database: {exc.strerror or exc}") from exc

    def close(self) -> None:
        self.db.conn.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{self.path}: database schema v{version} is newer than this archiver (v{SCHEMA_VERSION});"
                " upgrade archiver"
            )
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                step(self.db)
                self.db.execute(f"PRAGMA user_version = {number}")

    def transaction(self) -> _Transaction:
        return _Transaction(self.db.conn, self.path)

    # -- runs ---------------------------------------------------------------------------------

    def start_run(self, command: str, targets: list[str]) -> int:
        with self.transaction():
            table = self.db.table("runs")
            table.insert({"command": command, "started_at": now_iso(), "targets": json.dumps(targets),
                          "status": "running"})
            # insert() into a table with an integer primary key always sets last_pk.
            return int(cast(int, table.last_pk))

    def finish_run(self, run_id: int, status: str, counts: dict[str, int]) -> None:
        with self.transaction():
            self.db.table("runs").update(run_id, {"finished_at": now_iso(), "status": status,
                                                  **{k: counts.get(k, 0) for k in ("captured", "unchanged", "failed")},
                                                  **({"checked": counts["checked"]} if "checked" in counts else {})})

    # -- manifests and citations -----------------------------------------------------------------

    def record_manifest(self, path: str, name: str, title: str | None, source: str | None,
                        schedule: dict[str, str], citations: Iterable[dict[str, Any]]) -> None:
        stamp = now_iso()
        with self.transaction():
            self.db.table("manifests").upsert({"path": path, "name": name, "title": title, "source": source,
                                               "schedule": json.dumps(schedule), "loaded_at": stamp}, pk="path")
            for row in citations:
                self.db.execute(
                    """INSERT INTO citations (manifest, key, citation_id, url, fetch_url, cited_as, context,
                           accessed, line, extra, first_seen, last_seen)
                       VALUES (:manifest, :key, :citation_id, :url, :fetch_url, :cited_as, :context,
                           :accessed, :line, :extra, :stamp, :stamp)
                       ON CONFLICT (manifest, key) DO UPDATE SET citation_id=excluded.citation_id,
                           url=excluded.url, fetch_url=excluded.fetch_url, cited_as=excluded.cited_as,
                           context=excluded.context, accessed=excluded.accessed, line=excluded.line,
                           extra=excluded.extra, last_seen=excluded.last_seen""",
                    {"manifest": path, "stamp": stamp, **row},
                )

    # -- WARC files and captures -------------------------------------------------------------------

    def open_warc(self, name: str) -> None:
        with self.transaction():
            self.db.table("warc_files").insert({"name": name, "created_at": now_iso(), "state": "open"}, pk="name",
                                               replace=True)

    def open_warcs(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT name FROM warc_files WHERE state = 'open'").fetchall()]

    def forget_warc(self, name: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM records WHERE warc = ?", [name])
            self.db.execute("DELETE FROM warc_files WHERE name = ?", [name])

    def close_warc(self, name: str, size: int, sha256: str) -> None:
        with self.transaction():
            self.db.table("warc_files").upsert({"name": name, "closed_at": now_iso(), "size": size,
                                                "sha256": sha256, "state": "closed"}, pk="name")

    def committed_end(self, warc: str) -> int:
        """End of the last record the database knows in `warc`: the file's valid length."""
        row = self.db.execute('SELECT MAX("offset" + length) FROM records WHERE warc = ?', [warc]).fetchone()
        return int(row[0] or 0)

    def add_records(self, rows: list[dict[str, Any]]) -> None:
        with self.transaction():
            self._insert_records(rows, None)

    def add_capture(self, capture: dict[str, Any], records: list[dict[str, Any]]) -> int:
        """One capture and its WARC records, atomically. Plain prepared INSERTs: this runs once
        per URL, and sqlite-utils' per-call table introspection cost more than the fetch."""
        with self.transaction():
            columns = ", ".join(f'"{k}"' for k in capture)
            marks = ", ".join(f":{k}" for k in capture)
            cursor = self.db.execute(f"INSERT INTO captures ({columns}) VALUES ({marks})", capture)
            capture_id = int(cursor.lastrowid or 0)
            self._insert_records(records, capture_id)
        return capture_id

    def _insert_records(self, rows: list[dict[str, Any]], capture_id: int | None) -> None:
        self.db.conn.executemany(
            'INSERT INTO records (capture_id, warc, "offset", length, rec_type, uri, record_id, date,'
            " payload_digest, refers_to) VALUES (:capture_id, :warc, :offset, :length, :rec_type, :uri,"
            " :record_id, :date, :payload_digest, :refers_to)",
            [{**row, "capture_id": capture_id} for row in rows],
        )

    def previous_payloads(self, fetch_urls: Iterable[str]) -> dict[str, Previous]:
        """For each URL, its newest capture with a payload, resolved to the full response record."""
        out: dict[str, Previous] = {}
        urls = list(dict.fromkeys(fetch_urls))
        for i in range(0, len(urls), 500):
            chunk = urls[i : i + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"""
                WITH newest AS (
                    SELECT fetch_url, MAX(id) AS id FROM captures
                    WHERE fetch_url IN ({marks}) AND record_type IN ('response', 'revisit') AND truncated IS NULL
                    GROUP BY fetch_url)
                SELECT c.fetch_url, c.payload_sha1, orig.id, orig.record_id, r.uri, r.date
                FROM newest JOIN captures c ON c.id = newest.id
                JOIN captures orig ON orig.id = COALESCE(c.refers_to, c.id)
                JOIN records r ON r.record_id = orig.record_id"""
            for fetch_url, sha1, capture_id, record_id, uri, date in self.db.execute(sql, chunk).fetchall():
                out[fetch_url] = Previous(fetch_url, sha1, capture_id, record_id, uri, date)
        return out

    # -- checks ----------------------------------------------------------------------------------

    def add_check(self, row: dict[str, Any]) -> int:
        with self.transaction():
            columns = ", ".join(f'"{k}"' for k in row)
            marks = ", ".join(f":{k}" for k in row)
            cursor = self.db.execute(f"INSERT INTO checks ({columns}) VALUES ({marks})", row)
            return int(cursor.lastrowid or 0)

    def _by_url(self, sql: str, fetch_urls: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """Rows of `sql` (with `{marks}` for the URL list, a fetch_url column) grouped by URL."""
        out: dict[str, list[dict[str, Any]]] = {}
        urls = list(dict.fromkeys(fetch_urls))
        for i in range(0, len(urls), 500):
            chunk = urls[i : i + 500]
            for row in self.db.query(sql.format(marks=",".join("?" * len(chunk))), chunk):
                out.setdefault(row["fetch_url"], []).append(row)
        return out

    def last_checks(self, fetch_urls: Iterable[str]) -> dict[str, dict[str, Any]]:
        rows = self._by_url(
            """SELECT c.* FROM checks c JOIN (SELECT fetch_url, MAX(id) AS id FROM checks
                   WHERE fetch_url IN ({marks}) GROUP BY fetch_url) newest ON c.id = newest.id""", fetch_urls)
        return {url: found[0] for url, found in rows.items()}

    def good_captures(self, fetch_urls: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """Captures that hold a whole 2xx payload (a revisit resolved to its original), oldest first."""
        return self._by_url(
            """SELECT c.fetch_url, c.id, c.captured_at, c.payload_sha1, COALESCE(c.refers_to, c.id) AS payload_id
               FROM captures c
               WHERE c.fetch_url IN ({marks}) AND c.record_type IN ('response', 'revisit')
                 AND c.truncated IS NULL AND c.http_status BETWEEN 200 AND 299
                 -- a 200 that a check found to be a soft-404, a login wall or a parking page is no baseline
                 AND NOT EXISTS (SELECT 1 FROM checks k WHERE k.capture_id = c.id
                                 AND k.status NOT IN ('ok', 'redirected'))
               ORDER BY c.captured_at, c.id""", fetch_urls)

    def check_history(self, fetch_urls: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        return self._by_url(
            """SELECT fetch_url, checked_at, status, drift_level FROM checks WHERE fetch_url IN ({marks})
               ORDER BY checked_at, id""", fetch_urls)

    # -- report ----------------------------------------------------------------------------------
    # Whole-archive reads for `archiver report`: a few set-based queries over a temporary table of
    # URLs, streamed as tuples, never one query per citation (100,000 citations in about a second).

    def report_manifests(self, paths: Iterable[str] | None = None) -> list[dict[str, Any]]:
        rows = list(self.db.query("SELECT path, name, title, source, loaded_at FROM manifests ORDER BY path"))
        if paths is None:
            return rows
        wanted = set(paths)
        return [r for r in rows if r["path"] in wanted]

    _CITATIONS_SQL = """
        SELECT c.manifest, c.citation_id, c.url, c.fetch_url, c.cited_as, c.context, c.line
        FROM temp.report_manifests t JOIN manifests m ON m.path = t.value
        JOIN citations c ON c.manifest = m.path AND c.last_seen = m.loaded_at
        UNION ALL
        SELECT k.manifest, k.citation_id, k.url, k.fetch_url, NULL, NULL, NULL
        FROM temp.report_manifests t JOIN checks k ON k.manifest = t.value AND k.status = 'invalid_url'
        WHERE k.id = (SELECT MAX(id) FROM checks j WHERE j.manifest = k.manifest AND j.url = k.url
                      AND j.status = 'invalid_url')
          AND NOT EXISTS (SELECT 1 FROM citations c WHERE c.manifest = k.manifest AND c.url = k.url)
        ORDER BY 1, 7, 3"""

    def report_citations(self, manifests: list[str]) -> list[tuple[Any, ...]]:
        """Current citations of the manifests (those seen at the manifest's last load), in manifest
        order: (manifest, citation_id, url, fetch_url, cited_as, context, line). Invalid URLs, which are
        never citations rows, come from their checks (fetch_url = the text as printed)."""
        self._temp_list("report_manifests", manifests)
        return self.db.execute(self._CITATIONS_SQL).fetchall()

    def report_fill_cited(self, cited: Iterable[tuple[Any, ...]] | None, manifests: list[str]) -> None:
        """temp.report_cited, the report's citations in report order (rowid): (manifest, citation_id,
        url, fetch_url, cited_as, context) from `cited`, or when it is None the current citations of
        `manifests` as report_citations lists them, copied inside SQLite."""
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS report_cited (manifest TEXT, citation_id TEXT, url TEXT,"
                        " fetch_url TEXT, cited_as TEXT, context TEXT)")
        self.db.execute("DELETE FROM temp.report_cited")
        if cited is not None:
            self.db.conn.executemany("INSERT INTO temp.report_cited VALUES (?, ?, ?, ?, ?, ?)", cited)
            return
        self._temp_list("report_manifests", manifests)
        self.db.execute("INSERT INTO temp.report_cited SELECT manifest, citation_id, url, fetch_url, cited_as, context"
                        f" FROM ({self._CITATIONS_SQL})")

    def report_json_rows(self, verdicts: Iterable[str], since: str | None) -> Iterator[tuple[Any, ...]]:
        """For each row of temp.report_cited, in order, under the stored policy (url_state):
        (rowid, dirty, verdict, the report's JSON object as compact text), the object built by SQLite
        (report.FIELDS, in order). `verdicts` (none: all) and `since` (an ISO stamp as stored: failing
        or dead since then) filter the rows; dirty rows always come, unbuilt, for the caller to judge."""
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
        return iter(self.db.execute(
            f"""SELECT ord, dirty, verdict, CASE WHEN dirty THEN NULL ELSE json_object(
                    'manifest', manifest, 'id', citation_id, 'url', url, 'cited_as', cited_as, 'context', context,
                    'verdict', verdict, 'status', status, 'reason', reason, 'http_status', http_status,
                    'final_url', final_url, 'checked_at', checked_at, 'failing_since', failing_since,
                    'dead_since', dead_since, 'last_ok_at', last_ok_at, 'drift', drift, 'drift_level', drift_level,
                    'capture', CASE WHEN payload_id IS NOT NULL THEN json_object('warc', warc, 'offset', warc_offset,
                        'length', warc_length, 'sha256', sha256, 'captured_at', captured_at,
                        'record_type', record_type) END) END
                FROM (SELECT t.rowid AS ord, COALESCE(s.dirty, 0) AS dirty, t.manifest, t.citation_id, t.url,
                        t.cited_as, t.context, {_verdict_sql('k.status', 'k.drift_level', 's.dead_since')} AS verdict,
                        k.status, k.reason, k.http_status, k.final_url, k.checked_at,
                        CASE WHEN k.status IS NOT NULL THEN s.streak_first_at END AS failing_since,
                        CASE WHEN k.status IS NOT NULL THEN s.dead_since END AS dead_since,
                        CASE WHEN k.status IS NOT NULL THEN s.last_ok_at END AS last_ok_at,
                        k.drift, k.drift_level, o.id AS payload_id, o.warc, o.warc_offset, o.warc_length,
                        COALESCE(c.payload_sha256, o.payload_sha256) AS sha256, c.captured_at, c.record_type
                      FROM temp.report_cited t
                      LEFT JOIN url_state s ON s.fetch_url = t.fetch_url
                      LEFT JOIN checks k ON k.id = s.last_check_id
                      LEFT JOIN captures c ON c.id = s.good_capture_id
                      LEFT JOIN captures o ON o.id = COALESCE(c.refers_to, c.id))
                {keep} ORDER BY ord""", params))

    def report_cited_rows(self, rowids: list[int]) -> list[tuple[Any, ...]]:
        """Rows of temp.report_cited by rowid: (rowid, manifest, citation_id, url, fetch_url, cited_as, context)."""
        self._temp_list("report_rowids", [str(r) for r in rowids])
        return self.db.execute(
            """SELECT t.rowid, t.manifest, t.citation_id, t.url, t.fetch_url, t.cited_as, t.context
               FROM temp.report_rowids r JOIN temp.report_cited t ON t.rowid = CAST(r.value AS INTEGER)""").fetchall()

    def report_checks(self, fetch_urls: Iterable[str]) -> Iterator[tuple[Any, ...]]:
        """For each URL, its newest ok check and every check after it, ordered by URL then time:
        (fetch_url, checked_at, status, drift_level, drift, http_status, final_url, reason); the last
        four only on the URL's newest check (None on the others). Everything `verdict.judge` reads:
        earlier checks cannot change a verdict (a success resets the count)."""
        self._temp_list("report_urls", fetch_urls)
        # Only the newest check's own row is read from the table (SQLite defers the seek until a
        # column outside the covering index is needed): one page read per URL, not one per check.
        return iter(self.db.execute(
            f"""WITH bounds AS MATERIALIZED (
                    SELECT value AS fetch_url,
                        (SELECT MAX(checked_at) FROM checks o WHERE o.fetch_url = u.value
                         AND o.status IN {_ALIVE_SQL}) AS ok_at,
                        (SELECT id FROM checks n WHERE n.fetch_url = u.value
                         ORDER BY checked_at DESC, id DESC LIMIT 1) AS newest
                    FROM temp.report_urls u)
                SELECT k.fetch_url, k.checked_at, k.status, k.drift_level,
                       CASE WHEN k.id = b.newest THEN k.drift END, CASE WHEN k.id = b.newest THEN k.http_status END,
                       CASE WHEN k.id = b.newest THEN k.final_url END, CASE WHEN k.id = b.newest THEN k.reason END
                FROM bounds b CROSS JOIN checks k INDEXED BY idx_checks_url_history
                    ON k.fetch_url = b.fetch_url AND k.checked_at >= COALESCE(b.ok_at, '')
                ORDER BY k.fetch_url, k.checked_at, k.id"""))

    def report_timelines(self, fetch_urls: Iterable[str]) -> Iterator[tuple[Any, ...]]:
        """Whole check histories, ordered by URL then time: (fetch_url, checked_at, status, drift_level, run_id)."""
        self._temp_list("report_urls", fetch_urls)
        return iter(self.db.execute(
            """SELECT k.fetch_url, k.checked_at, k.status, k.drift_level, k.run_id FROM temp.report_urls u
               JOIN checks k ON k.fetch_url = u.value ORDER BY k.fetch_url, k.checked_at, k.id"""))

    def report_captures(self, fetch_urls: Iterable[str]) -> dict[str, tuple[Any, ...]]:
        """Newest good capture per URL (2xx, whole, response or revisit), the payload's location resolved
        to the original record: (captured_at, record_type, sha256, warc, offset, length, payload capture id,
        content_type, final_url)."""
        self._temp_list("report_urls", fetch_urls)
        # MATERIALIZED: evaluated once per URL (as a join condition SQLite would run it per row). No
        # `id` tie-break: it would cost a sort per URL, and one URL's captures never share a microsecond.
        rows = self.db.execute(
            """WITH newest AS MATERIALIZED (
                   SELECT value AS fetch_url,
                       (SELECT id FROM captures INDEXED BY idx_captures_url_good WHERE fetch_url = u.value
                        AND record_type IN ('response', 'revisit') AND truncated IS NULL
                        AND http_status BETWEEN 200 AND 299 ORDER BY captured_at DESC LIMIT 1) AS id
                   FROM temp.report_urls u)
               SELECT n.fetch_url, c.captured_at, c.record_type, COALESCE(c.payload_sha256, o.payload_sha256),
                      o.warc, o.warc_offset, o.warc_length, o.id, o.content_type, o.final_url
               FROM newest n CROSS JOIN captures c ON c.id = n.id
               CROSS JOIN captures o ON o.id = COALESCE(c.refers_to, c.id)""")
        return {row[0]: row[1:] for row in rows}

    def report_capture_list(self, fetch_urls: Iterable[str], limit: int) -> dict[str, list[tuple[Any, ...]]]:
        """Per URL its `limit` newest captures that replay (responses and revisits), newest first:
        {fetch_url: [(captured_at, record_type, http_status, total captures of the URL), ...]}."""
        self._temp_list("report_urls", fetch_urls)
        out: dict[str, list[tuple[Any, ...]]] = {}
        for url, captured_at, record_type, http_status, total in self.db.execute(
                """SELECT fetch_url, captured_at, record_type, http_status, total FROM (
                       SELECT c.fetch_url, c.captured_at, c.record_type, c.http_status,
                           ROW_NUMBER() OVER (PARTITION BY c.fetch_url ORDER BY c.captured_at DESC, c.id DESC) AS n,
                           COUNT(*) OVER (PARTITION BY c.fetch_url) AS total
                       FROM temp.report_urls u JOIN captures c ON c.fetch_url = u.value
                       WHERE c.record_type IN ('response', 'revisit'))
                   WHERE n <= ? ORDER BY fetch_url, n""", [limit]):
            out.setdefault(url, []).append((captured_at, record_type, http_status, total))
        return out

    def report_policy(self) -> tuple[int, float] | None:
        """(checks, days) of verdict_policy: the policy url_state is kept under."""
        row = self.db.execute("SELECT checks, days FROM verdict_policy").fetchone()
        return (int(row[0]), float(row[1])) if row else None

    def report_state(self, fetch_urls: Iterable[str]) -> Iterator[tuple[Any, ...]]:
        """url_state per URL (v5) with its newest check and its newest good capture, by primary keys:
        (fetch_url, dirty, last_ok_at, streak_first_at, dead_since, checked_at, status, drift_level, drift,
        http_status, final_url, reason, then report_captures' nine capture fields, NULL when none). URLs
        without a url_state row (never checked nor captured) are left out."""
        self._temp_list("report_urls", fetch_urls)
        return iter(self.db.execute(
            """SELECT s.fetch_url, s.dirty, s.last_ok_at, s.streak_first_at, s.dead_since,
                   k.checked_at, k.status, k.drift_level, k.drift, k.http_status, k.final_url, k.reason,
                   c.captured_at, c.record_type, COALESCE(c.payload_sha256, o.payload_sha256),
                   o.warc, o.warc_offset, o.warc_length, o.id, o.content_type, o.final_url
               FROM temp.report_urls u CROSS JOIN url_state s ON s.fetch_url = u.value
               LEFT JOIN checks k ON k.id = s.last_check_id
               LEFT JOIN captures c ON c.id = s.good_capture_id
               LEFT JOIN captures o ON o.id = COALESCE(c.refers_to, c.id)"""))

    def _temp_list(self, name: str, values: Iterable[str]) -> None:
        """A temporary table of values (distinct, in the caller's order): set-based joins instead of IN
        lists or loops. It lives in the connection's temp database: a report never writes the archive."""
        self.db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (value TEXT)")
        self.db.execute(f"DELETE FROM temp.{name}")
        self.db.conn.executemany(f"INSERT INTO temp.{name} VALUES (?)", ((v,) for v in dict.fromkeys(values)))

    # -- export --------------------------------------------------------------------------------
    # Reads for `archiver replay` and `archiver export`: records with what a CDXJ line needs, so an
    # index is one query and no WARC is re-read.

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
        their revisits refer to, each with its capture's fields, in capture order then file order;
        only captures with first <= id < below (a replay index in two parts, see replay_boundary)."""
        columns = """c.id AS capture_id, c.fetch_url, c.captured_at, c.http_status, c.content_type, c.redirects,
                     c.record_type AS capture_type, r.warc, r."offset", r.length, r.rec_type, r.uri, r.record_id,
                     r.date, r.payload_digest"""
        order = 'ORDER BY c.captured_at, c.id, r.warc, r."offset"'
        span = "c.id >= :first AND c.id < :below"
        params = {"first": first, "below": below if below is not None else 2**62}
        if fetch_urls is None:
            return list(self.db.query(
                f"SELECT {columns} FROM captures c JOIN records r ON r.capture_id = c.id WHERE {span} {order}", params))
        self._temp_list("export_urls", fetch_urls)
        return list(self.db.query(
            f"""WITH chosen AS (
                    SELECT c.id FROM temp.export_urls u JOIN captures c ON c.fetch_url = u.value
                    UNION SELECT c.refers_to FROM temp.export_urls u JOIN captures c ON c.fetch_url = u.value
                    WHERE c.refers_to IS NOT NULL)
                SELECT {columns} FROM chosen JOIN captures c ON c.id = chosen.id
                JOIN records r ON r.capture_id = c.id WHERE {span} {order}""", params))

    def replay_boundary(self) -> int:
        """The lowest capture id whose records may still change place: the first capture in a WARC
        file not yet closed (it will be renamed from .open), else the next capture id. Every capture
        below it sits in a closed file for good, so its index lines never change."""
        # warcinfo records belong to no capture (capture_id NULL): they do not count.
        row = self.db.execute(
            """SELECT MIN(r.capture_id) FROM warc_files w JOIN records r ON r.warc = w.name
               WHERE w.state != 'closed' AND r.capture_id IS NOT NULL""").fetchone()
        if row[0] is not None:
            return int(row[0])
        return int(self.db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM captures").fetchone()[0])

    def export_state(self) -> tuple[int, int]:
        """(newest record id, WARC files closed): when it changes, a replay index is stale."""
        row = self.db.execute("SELECT (SELECT MAX(id) FROM records),"
                              " (SELECT COUNT(*) FROM warc_files WHERE state = 'closed')").fetchone()
        return int(row[0] or 0), int(row[1] or 0)

    # -- audits ----------------------------------------------------------------------------------
    # `archiver verify`: what each WARC file should hold, and a record of every audit. An audit also
    # runs on a database it may not write (an evidence copy, a read-only mount): see open_readonly.

    @classmethod
    def open_readonly(cls, path: Path) -> ArchiveDB:
        """The database opened for reading only: no migration, no journal mode change, no writes."""
        self = cls.__new__(cls)
        self.path = path
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("SELECT COUNT(*) FROM warc_files").fetchone()  # unreadable: fail here, not later
        except sqlite3.Error as exc:
            raise StorageError(f"{path}: cannot read database: {exc}") from exc
        self.db = sqlite_utils.Database(conn)
        return self

    def _read(self, sql: str, params: list[Any] | dict[str, Any]) -> list[tuple[Any, ...]]:
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: cannot read database: {exc}") from exc

    def audit_files(self, since: str | None) -> list[dict[str, Any]]:
        """WARC files created on/after `since` (all when None): name, state, created_at, size, sha256."""
        rows = self._read("SELECT name, state, created_at, size, sha256 FROM warc_files"
                          " WHERE :since IS NULL OR created_at >= :since ORDER BY created_at, name", {"since": since})
        return [dict(zip(("name", "state", "created_at", "size", "sha256"), row, strict=True)) for row in rows]

    def warc_names(self) -> set[str]:
        return {row[0] for row in self._read("SELECT name FROM warc_files", [])}

    def audit_records(self, warc: str) -> list[tuple[Any, ...]]:
        """The records of one WARC file in file order: (offset, length, rec_type, uri, record_id,
        payload_digest, the payload_digest recorded for a revisit's original)."""
        return self._read(
            """SELECT r."offset", r.length, r.rec_type, r.uri, r.record_id, r.payload_digest,
                   (SELECT o.payload_digest FROM records o WHERE o.record_id = r.refers_to LIMIT 1)
               FROM records r WHERE r.warc = ? ORDER BY 1""", [warc])

    def start_audit(self, mode: str, since: str | None) -> int:
        with self.transaction():
            cursor = self.db.execute("INSERT INTO audits (started_at, mode, since, status) VALUES (?, ?, ?, 'running')",
                                     [now_iso(), mode, since])
            return int(cursor.lastrowid or 0)

    def finish_audit(self, audit_id: int, row: dict[str, Any], problems: list[dict[str, Any]]) -> None:
        with self.transaction():
            self.db.table("audits").update(audit_id, row)
            self.db.conn.executemany(
                'INSERT INTO audit_problems (audit_id, warc, "offset", record_id, uri, kind, detail)'
                " VALUES (:audit_id, :warc, :offset, :record_id, :uri, :kind, :detail)",
                [{**p, "audit_id": audit_id} for p in problems])

    # -- reading ---------------------------------------------------------------------------------

    def captures_of(self, url: str, fetch_url: str | None) -> list[dict[str, Any]]:
        """Every capture of a URL (as cited or as fetched), newest first."""
        return list(self.db.query(
            "SELECT * FROM captures WHERE url = :url OR fetch_url = :fetch ORDER BY captured_at DESC, id DESC",
            {"url": url, "fetch": fetch_url or url},
        ))

    def last_runs(self, command: str, targets: list[str]) -> dict[str, dict[str, Any]]:
        """The newest run of `command` over exactly one of `targets`, by target (the daemon's jobs)."""
        out: dict[str, dict[str, Any]] = {}
        for target in targets:
            rows = list(self.db.query(
                "SELECT * FROM runs WHERE command = ? AND targets = ? ORDER BY id DESC LIMIT 1",
                [command, json.dumps([target])]))
            if rows:
                out[target] = rows[0]
        return out

    def capture(self, capture_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM captures WHERE id = ?", [capture_id]))
        return rows[0] if rows else None


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, turning SQLite's failures (disk full, locked) into StorageError."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self.depth = 0

    def __enter__(self) -> None:
        if not self.conn.in_transaction:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(f"{self.path}: {exc}") from exc
            self.depth = 1

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if self.depth and kind is None:
            try:
                self.conn.execute("COMMIT")
                return
            except sqlite3.Error as error:
                self._rollback()
                raise StorageError(f"{self.path}: cannot write: {error}") from error
        if self.depth:
            self._rollback()
        # Nested or not, SQLite's own errors leave as StorageError (exit 4), never as a traceback.
        if isinstance(exc, sqlite3.Error):
            raise StorageError(f"{self.path}: cannot write: {exc}") from exc

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled back (it does on some errors, e.g. disk full)
