"""The archive database: the only module that writes SQL. Versioned schema, migrations in order."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable
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
    db.table("runs").add_column("checked", int)


# Append-only: a released schema step is never edited, only followed by another.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)


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
                                                  **{k: counts.get(k, 0) for k in ("captured", "unchanged", "failed",
                                                                                   "checked")}})

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
               ORDER BY c.captured_at, c.id""", fetch_urls)

    def check_history(self, fetch_urls: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        return self._by_url(
            """SELECT fetch_url, checked_at, status, drift_level FROM checks WHERE fetch_url IN ({marks})
               ORDER BY checked_at, id""", fetch_urls)

    # -- reading ---------------------------------------------------------------------------------

    def captures_of(self, url: str, fetch_url: str | None) -> list[dict[str, Any]]:
        """Every capture of a URL (as cited or as fetched), newest first."""
        return list(self.db.query(
            "SELECT * FROM captures WHERE url = :url OR fetch_url = :fetch ORDER BY captured_at DESC, id DESC",
            {"url": url, "fetch": fetch_url or url},
        ))

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
