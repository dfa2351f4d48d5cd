"""ArchiveDB: the archive's SQLite database, opened one way (`ArchiveDB.open`), with the writes and the
reads that runs make: runs, manifests and citations, WARC files, captures and their records, checks,
and verify's audits. The report's and export's reads are its base, Queries (queries.py)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import sqlite_utils

from .. import stamps
from ..errors import DatabaseDamaged, StorageError
from .connection import Transaction, connect_readonly, connect_writable, remove_private
from .copies import CopyRows
from .damage import check, converted, not_sqlite
from .evidence import EvidenceRows
from .queries import Queries
from .rows import AuditRecord, Previous, R, WarcFile, named, scalar
from .rule_sql import run_offline
from .schema import ALIVE_SQL, SCHEMA_VERSION, fill_url_state, good_capture, ours

RECORD_ROWS_PER_INSERT = 3000  # x 10 parameters: under SQLite's 32,766


class ArchiveDB(Queries, CopyRows, EvidenceRows):
    """Made by `ArchiveDB.open`; `version` is the file's schema version (SCHEMA_VERSION once a
    writable open has upgraded it), `readonly` how it was opened. As a context manager it closes
    itself and turns SQLite's errors raised in its block into the archiver's (`reraise`)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, version: int, *, readonly: bool,
                 private: Path | None = None) -> None:
        # No sqlite-utils plugins: loading them scans every installed distribution's entry points (~20 ms
        # per process, a tenth of a snapshot's start-up), and archiver's SQL uses no function they add.
        self.db = sqlite_utils.Database(conn, execute_plugins=False)
        self.path = path
        self.version = version
        self.readonly = readonly
        self.private = private  # the temporary folder of a private copy it reads (connection.py)

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> ArchiveDB:
        """The database at `path`. Writable: created if missing and upgraded to this archiver's schema.
        Read-only (every command that only reads): opened with SQLite's mode=ro, so never migrated nor
        written; an older schema is read as it is, and a read it cannot answer fails with one line
        saying its version and what upgrades it (StorageError, exit 4)."""
        if not readonly:
            return cls(connect_writable(path), path, SCHEMA_VERSION, readonly=False)
        conn, version, private = connect_readonly(path)
        db = cls(conn, path, version, readonly=True, private=private)
        if version == 0:  # no archive tables to read: an empty or damaged file, or another program's database
            try:
                finding = not_sqlite(path) or check(db.db.conn, path)
            except sqlite3.Error as exc:
                error = converted(exc, path, db.db.conn) or StorageError(f"{path}: cannot read database: {exc}")
                db.close()
                raise error from exc
            db.close()
            if finding is not None:
                raise DatabaseDamaged(path, finding)
            raise StorageError(f"{path}: not an archiver database: it holds no archive tables (schema v0)")
        return db

    def close(self) -> None:
        self.db.conn.close()
        remove_private(self.private)

    def __enter__(self) -> ArchiveDB:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self.reraise(exc)
        finally:
            self.close()

    def reraise(self, exc: BaseException | None) -> None:
        """An SQLite error met while using this database raised again as the archiver's (damage.converted):
        DatabaseDamaged when the file is damaged, StorageError when the disk or a lock failed. Called
        by the with-blocks that use it; other exceptions (a bug's included) are left as they are."""
        if isinstance(exc, sqlite3.Error):
            error = converted(exc, self.path, self.db.conn)
            if error is not None:
                raise error from exc

    def integrity(self, *, full: bool = False) -> str | None:
        """SQLite's own check of the file (quick_check; integrity_check when `full`): None when it
        passes, else its first finding."""
        try:
            return check(self.db.conn, self.path, full=full)
        except sqlite3.Error as exc:
            error = converted(exc, self.path, self.db.conn)
            if error is None:
                raise
            raise error from exc

    def transaction(self) -> Transaction:
        return Transaction(self.db.conn, self.path)

    # -- runs ---------------------------------------------------------------------------------

    def start_run(self, command: str, targets: list[str]) -> int:
        with self.transaction():
            table = self.db.table("runs")
            table.insert({"command": command, "started_at": stamps.now_iso(), "targets": json.dumps(targets),
                          "status": "running"})
            # insert() into a table with an integer primary key always sets last_pk.
            return int(cast(int, table.last_pk))

    def finish_run(self, run_id: int, status: str, counts: dict[str, int], *, offline: bool | None = None,
                   network: str | None = None) -> None:
        """Close a run's row: its status and counts, and whether it was judged offline (None: not
        judged) with the line saying why. An offline run's failures stop counting toward death at once:
        the state of the URLs it checked is computed again under the rule that leaves them out."""
        with self.transaction():
            self.db.table("runs").update(run_id, {"finished_at": stamps.now_iso(), "status": status,
                                                  **{k: counts.get(k, 0) for k in ("captured", "unchanged", "failed")},
                                                  **({"checked": counts["checked"]} if "checked" in counts else {}),
                                                  "offline": None if offline is None else int(offline),
                                                  "network": network})
            if offline:
                fill_url_state(self.db, run_id)

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

    # -- manifests and citations -----------------------------------------------------------------

    def manifest_schedules(self) -> dict[str, dict[str, str]]:
        """Every manifest the database knows (path as recorded) -> its `schedule:` as last loaded."""
        return {row["path"]: json.loads(row["schedule"] or "{}")
                for row in self.db.query("SELECT path, schedule FROM manifests ORDER BY path")}

    def record_manifest(self, path: str, name: str, title: str | None, source: str | None,
                        schedule: dict[str, str], citations: Iterable[dict[str, Any]]) -> None:
        """A manifest and its citations, in order. A row without a `key` is known by its id, or else
        by its URL and which occurrence of that URL it is ("url", "url #2", ...): stable when
        unrelated lines are edited, and two citations of one URL stay two rows. The occurrences are
        counted by SQLite, on disk: a million URLs are not a dict here."""
        stamp = stamps.now_iso()
        columns = ("key", "citation_id", "url", "fetch_url", "cited_as", "context", "accessed", "line", "extra")
        names = ", ".join(columns)
        with self.transaction():
            self.db.table("manifests").upsert({"path": path, "name": name, "title": title, "source": source,
                                               "schedule": json.dumps(schedule), "loaded_at": stamp}, pk="path")
            self.db.execute(f"CREATE TEMP TABLE IF NOT EXISTS incoming (seq INTEGER PRIMARY KEY, {names})")
            self.db.execute("DELETE FROM temp.incoming")
            self.db.conn.executemany(f"INSERT INTO temp.incoming ({names}) VALUES ({', '.join('?' * len(columns))})",
                                     ([row.get(c) for c in columns] for row in citations))
            self.db.execute(
                """INSERT INTO citations (manifest, key, citation_id, url, fetch_url, cited_as, context,
                       accessed, line, extra, first_seen, last_seen)
                   SELECT :manifest, COALESCE(key, citation_id, CASE n WHEN 1 THEN url ELSE url || ' #' || n END),
                       citation_id, url, fetch_url, cited_as, context, accessed, line, extra, :stamp, :stamp
                   FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY url ORDER BY seq) AS n FROM temp.incoming)
                   WHERE true ORDER BY seq
                   ON CONFLICT (manifest, key) DO UPDATE SET citation_id=excluded.citation_id,
                       url=excluded.url, fetch_url=excluded.fetch_url, cited_as=excluded.cited_as,
                       context=excluded.context, accessed=excluded.accessed, line=excluded.line,
                       extra=excluded.extra, last_seen=excluded.last_seen""",
                {"manifest": path, "stamp": stamp},
            )
            self.db.execute("DELETE FROM temp.incoming")

    # -- WARC files and captures -------------------------------------------------------------------

    def open_warc(self, name: str) -> None:
        with self.transaction():
            self.db.table("warc_files").insert({"name": name, "created_at": stamps.now_iso(), "state": "open"},
                                               pk="name", replace=True)

    def open_warcs(self) -> list[str]:
        return [name for (name,) in self.db.execute("SELECT name FROM warc_files WHERE state = 'open'").fetchall()]

    def forget_warc(self, name: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM records WHERE warc = ?", [name])
            self.db.execute("DELETE FROM warc_files WHERE name = ?", [name])

    def close_warc(self, name: str, size: int, sha256: str) -> None:
        with self.transaction():
            self.db.table("warc_files").upsert({"name": name, "closed_at": stamps.now_iso(), "size": size,
                                                "sha256": sha256, "state": "closed"}, pk="name")

    def committed_end(self, warc: str) -> int:
        """End of the last record the database knows in `warc`: the file's valid length."""
        return int(scalar(self.db.execute('SELECT MAX("offset" + length) FROM records WHERE warc = ?', [warc])) or 0)

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
        """One INSERT of all the rows: executemany steps SQLite once per row, and each step hands the
        GIL over; with many fetch threads waiting for it, those hand-overs held up the writer more
        than the inserts cost. (A capture has two or three records per hop; a browser capture with a
        thousand HTTPS sub-resources would pass SQLite's limit of 32,766 parameters, hence the slices.)"""
        for start in range(0, len(rows), RECORD_ROWS_PER_INSERT):
            part = rows[start:start + RECORD_ROWS_PER_INSERT]
            values = [(capture_id, row["warc"], row["offset"], row["length"], row["rec_type"], row["uri"],
                       row["record_id"], row["date"], row["payload_digest"], row["refers_to"]) for row in part]
            self.db.conn.execute(
                'INSERT INTO records (capture_id, warc, "offset", length, rec_type, uri, record_id, date,'
                " payload_digest, refers_to) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(part)),
                [value for row in values for value in row],
            )

    def add_resources(self, capture_id: int, rows: list[dict[str, Any]]) -> None:
        """A browser capture's sub-resources (capture_resources), in the capture's transaction."""
        if rows:
            columns = list(rows[0])
            self.db.conn.executemany(
                f"INSERT INTO capture_resources (capture_id, {', '.join(columns)})"
                f" VALUES (:capture_id, {', '.join(':' + c for c in columns)})",
                [{**row, "capture_id": capture_id} for row in rows],
            )

    def resource_payloads(self, fetch_urls: Iterable[str]) -> list[tuple[str, str, str, str]]:
        """(payload digest, record id, URI, date) of every full response kept by the newest browser
        capture of each page: what a new rendering of those pages can refer to instead of storing again."""
        out: list[tuple[str, str, str, str]] = []
        urls = list(dict.fromkeys(fetch_urls))
        for i in range(0, len(urls), 500):
            chunk = urls[i : i + 500]
            sql = f"""
                WITH newest AS (SELECT MAX(id) AS id FROM captures
                                WHERE fetch_url IN ({",".join("?" * len(chunk))}) AND mode = 'browser'
                                GROUP BY fetch_url)
                SELECT r.payload_digest, r.record_id, r.uri, r.date
                FROM newest JOIN records r ON r.capture_id = newest.id
                WHERE r.rec_type = 'response' AND r.payload_digest IS NOT NULL"""
            out += [tuple(row) for row in self.db.execute(sql, chunk).fetchall()]
        return out

    def previous_payloads(self, fetch_urls: Iterable[str]) -> dict[str, Previous]:
        """For each URL, its newest capture of ours with a payload, resolved to the full response record."""
        out: dict[str, Previous] = {}
        urls = list(dict.fromkeys(fetch_urls))
        for i in range(0, len(urls), 500):
            chunk = urls[i : i + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"""
                WITH newest AS (
                    SELECT fetch_url, MAX(id) AS id FROM captures
                    WHERE fetch_url IN ({marks}) AND record_type IN ('response', 'revisit') AND truncated IS NULL
                      AND {ours()} -- an imported memento is never the original a capture of ours refers to
                    GROUP BY fetch_url)
                SELECT c.fetch_url, c.payload_sha1, orig.id AS capture_id, orig.record_id, r.uri, r.date
                FROM newest JOIN captures c ON c.id = newest.id
                JOIN captures orig ON orig.id = COALESCE(c.refers_to, c.id)
                JOIN records r ON r.record_id = orig.record_id"""
            out.update((p.fetch_url, p) for p in named(self.db.execute(sql, chunk), Previous))
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
        self.needs(2)
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

    def run_checks(self, run_id: int, fetch_urls: Iterable[str]) -> dict[str, dict[str, Any]]:
        """What run `run_id` found of each URL (its newest check there): reason, HTTP status, drift."""
        rows = self._by_url(
            f"""SELECT c.fetch_url, c.reason, c.http_status, c.drift, c.drift_level FROM checks c
                JOIN (SELECT fetch_url, MAX(id) AS id FROM checks WHERE run_id = {int(run_id)}
                      AND fetch_url IN ({{marks}}) GROUP BY fetch_url) newest ON c.id = newest.id""", fetch_urls)
        return {url: found[0] for url, found in rows.items()}

    def good_captures(self, fetch_urls: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """Captures that hold a whole 2xx payload (a revisit resolved to its original), oldest first."""
        return self._by_url(
            f"""SELECT c.fetch_url, c.id, c.captured_at, c.payload_sha1, COALESCE(c.refers_to, c.id) AS payload_id
               FROM captures c
               WHERE c.fetch_url IN ({{marks}}) AND {good_capture('c.', self.version)}
                 -- a 200 that a check found to be a soft-404, a login wall or a parking page is no baseline
                 AND NOT EXISTS (SELECT 1 FROM checks k WHERE k.capture_id = c.id
                                 AND k.status NOT IN {ALIVE_SQL})
               ORDER BY c.captured_at, c.id""", fetch_urls)

    def check_history(self, fetch_urls: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """Every check of the URLs, oldest first, with whether its run was offline (`offline`, 0 or 1)."""
        offline = run_offline("run_id") if self.version >= 6 else "0"
        return self._by_url(
            f"""SELECT fetch_url, checked_at, status, drift_level, {offline} AS offline FROM checks
               WHERE fetch_url IN ({{marks}}) ORDER BY checked_at, id""", fetch_urls)

    # -- audits ----------------------------------------------------------------------------------
    # `archiver verify`: what each WARC file should hold, and a record of every audit. An audit also
    # runs on a database it may not write (an evidence copy, a read-only mount), opened read-only.

    def _read(self, sql: str, params: list[Any] | dict[str, Any], row_type: type[R]) -> list[R]:
        try:
            return list(named(self.db.execute(sql, params), row_type))
        except sqlite3.Error as exc:
            raise (converted(exc, self.path, self.db.conn)
                   or StorageError(f"{self.path}: cannot read database: {exc}")) from exc

    def audit_files(self, since: str | None) -> list[dict[str, Any]]:
        """WARC files created on/after `since` (all when None): name, state, created_at, size, sha256."""
        return [row._asdict() for row in self._read(
            "SELECT name, state, created_at, size, sha256 FROM warc_files"
            " WHERE :since IS NULL OR created_at >= :since ORDER BY created_at, name", {"since": since}, WarcFile)]

    def warc_names(self) -> set[str]:
        return {row.name for row in self._read("SELECT name, state, created_at, size, sha256 FROM warc_files", [],
                                               WarcFile)}

    def audit_records(self, warc: str) -> list[AuditRecord]:
        """The records of one WARC file in file order."""
        return self._read(
            """SELECT r."offset", r.length, r.rec_type, r.uri, r.record_id, r.payload_digest,
                   (SELECT o.payload_digest FROM records o WHERE o.record_id = r.refers_to LIMIT 1)
                       AS original_digest
               FROM records r WHERE r.warc = ? ORDER BY 1""", [warc], AuditRecord)

    def start_audit(self, mode: str, since: str | None) -> int:
        with self.transaction():
            cursor = self.db.execute("INSERT INTO audits (started_at, mode, since, status) VALUES (?, ?, ?, 'running')",
                                     [stamps.now_iso(), mode, since])
            return int(cursor.lastrowid or 0)

    def finish_audit(self, audit_id: int, row: dict[str, Any], problems: list[dict[str, Any]]) -> None:
        with self.transaction():
            self.db.table("audits").update(audit_id, row)
            self.db.conn.executemany(
                'INSERT INTO audit_problems (audit_id, warc, "offset", record_id, uri, kind, detail)'
                " VALUES (:audit_id, :warc, :offset, :record_id, :uri, :kind, :detail)",
                [{**p, "audit_id": audit_id} for p in problems])
