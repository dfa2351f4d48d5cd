"""The copies table's reads and writes (archiver/copies/): each archive's answers for a URL, the best
judged copy of each URL, and what a lookup needs to know of a URL (the datetime to ask for). A base of
ArchiveDB, beside Queries; schema v9 holds the table."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import sqlite_utils

from .connection import Transaction

COPIES_VERSION = 9
IMPORTS_VERSION = 10  # captures.source_url: mementos imported from other archives
SAVES_VERSION = 11  # saves: pages archives were asked to save (--save)
COPY_STATUSES = ("ok", "error_page", "no_copy", "unreachable")


class SaveRow(NamedTuple):
    """An archive's newest save request for a URL."""

    fetch_url: str
    archive: str
    job_id: str | None
    status: str
    memento_url: str | None
    memento_datetime: str | None
    detail: str | None
    requested_at: str
    finished_at: str | None


class CopyRow(NamedTuple):
    """An archive's newest answer for a URL."""

    fetch_url: str
    archive: str
    memento_url: str | None
    memento_datetime: str | None
    target_datetime: str | None
    checked_at: str
    status: str
    detail: str | None


_NEWEST = """SELECT p.fetch_url, p.archive, p.memento_url, p.memento_datetime, p.target_datetime, p.checked_at,
        p.status, p.detail
    FROM temp.copy_urls t JOIN copies p ON p.fetch_url = t.value
    WHERE p.id = (SELECT MAX(id) FROM copies q WHERE q.fetch_url = p.fetch_url AND q.archive = p.archive)"""


def copies_json_sql(fetch_url: str, version: int) -> str:
    """SQL: the JSON array of the URL's judged copies, nearest first ([] before schema v9)."""
    if version < COPIES_VERSION:
        return "json('[]')"
    return f"""json(COALESCE((SELECT json_group_array(json_object('archive', archive, 'url', memento_url,
        'datetime', memento_datetime)) FROM (SELECT p.archive, p.memento_url, p.memento_datetime FROM copies p
            WHERE p.fetch_url = {fetch_url} AND p.status = 'ok'
              AND p.id = (SELECT MAX(id) FROM copies q WHERE q.fetch_url = p.fetch_url AND q.archive = p.archive)
            ORDER BY ABS(julianday(p.memento_datetime) - julianday(p.target_datetime)), p.archive)), '[]'))"""


def copies_down_sql(fetch_url: str, version: int) -> str:
    """SQL: the JSON array of the archives whose newest answer for the URL is 'unreachable' (archive
    down, so "no copy" is not known), by name ([] before schema v9)."""
    if version < COPIES_VERSION:
        return "json('[]')"
    return f"""json(COALESCE((SELECT json_group_array(archive) FROM (SELECT p.archive FROM copies p
            WHERE p.fetch_url = {fetch_url} AND p.status = 'unreachable'
              AND p.id = (SELECT MAX(id) FROM copies q WHERE q.fetch_url = p.fetch_url AND q.archive = p.archive)
            ORDER BY p.archive)), '[]'))"""


class CopyRows:
    """ArchiveDB sets `db`, `path` and `version`."""

    db: sqlite_utils.Database
    path: Path
    version: int

    def transaction(self) -> Transaction:
        raise NotImplementedError

    def _copy_urls(self, fetch_urls: Iterable[str]) -> None:
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS copy_urls (value TEXT)")
        self.db.execute("DELETE FROM temp.copy_urls")
        self.db.conn.executemany("INSERT INTO temp.copy_urls VALUES (?)", ((u,) for u in dict.fromkeys(fetch_urls)))

    def add_copies(self, rows: Iterable[dict[str, Any]]) -> None:
        """Record archives' answers (one row each: the columns of the copies table but id)."""
        with self.transaction():
            for row in rows:
                if row["status"] not in COPY_STATUSES:
                    raise ValueError(f"copy status {row['status']!r}")
                self.db.execute(
                    """INSERT INTO copies (fetch_url, archive, memento_url, memento_datetime, target_datetime,
                           checked_at, status, detail)
                       VALUES (:fetch_url, :archive, :memento_url, :memento_datetime, :target_datetime,
                           :checked_at, :status, :detail)""", row)

    def add_saves(self, rows: Iterable[dict[str, Any]]) -> None:
        """Record save requests (one row each: the columns of the saves table but id)."""
        with self.transaction():
            for row in rows:
                self.db.execute(
                    """INSERT INTO saves (fetch_url, archive, job_id, status, memento_url, memento_datetime, detail,
                           requested_at, finished_at)
                       VALUES (:fetch_url, :archive, :job_id, :status, :memento_url, :memento_datetime, :detail,
                           :requested_at, :finished_at)""", row)

    def newest_saves(self, fetch_urls: Iterable[str]) -> list[SaveRow]:
        """Each archive's newest save request for each URL (none before schema v11)."""
        if self.version < SAVES_VERSION:
            return []
        self._copy_urls(fetch_urls)
        return [SaveRow(*row) for row in self.db.execute(
            """SELECT s.fetch_url, s.archive, s.job_id, s.status, s.memento_url, s.memento_datetime, s.detail,
                   s.requested_at, s.finished_at
               FROM temp.copy_urls t JOIN saves s ON s.fetch_url = t.value
               WHERE s.id = (SELECT MAX(id) FROM saves q WHERE q.fetch_url = s.fetch_url AND q.archive = s.archive)
               ORDER BY s.fetch_url, s.archive""")]

    def newest_copies(self, fetch_urls: Iterable[str]) -> list[CopyRow]:
        """Each archive's newest answer for each URL (none on a database older than v9)."""
        if self.version < COPIES_VERSION:
            return []
        self._copy_urls(fetch_urls)
        return [CopyRow(*row) for row in self.db.execute(_NEWEST + " ORDER BY p.fetch_url, p.archive")]

    def down_archives(self, fetch_urls: Iterable[str]) -> dict[str, list[str]]:
        """Per URL the archives whose newest answer is 'unreachable', by name (URLs without one left out)."""
        out: dict[str, list[str]] = {}
        for row in self.newest_copies(fetch_urls):
            if row.status == "unreachable":
                out.setdefault(row.fetch_url, []).append(row.archive)
        return out

    def good_copies(self, fetch_urls: Iterable[str]) -> dict[str, list[CopyRow]]:
        """The judged ('ok') copies of each URL, nearest to the datetime asked for first."""
        if self.version < COPIES_VERSION:
            return {}
        self._copy_urls(fetch_urls)
        out: dict[str, list[CopyRow]] = {}
        sql = (_NEWEST + " AND p.status = 'ok' ORDER BY p.fetch_url,"
               " ABS(julianday(p.memento_datetime) - julianday(p.target_datetime)), p.archive")
        for row in self.db.execute(sql):
            found = CopyRow(*row)
            out.setdefault(found.fetch_url, []).append(found)
        return out

    def imported_sources(self, fetch_urls: Iterable[str]) -> dict[tuple[str, str], int]:
        """The mementos already imported (`--import`): (fetch URL, memento URL) -> the capture holding it."""
        if self.version < IMPORTS_VERSION:
            return {}
        self._copy_urls(fetch_urls)
        return {(url, source): int(capture_id) for url, source, capture_id in self.db.execute(
            """SELECT k.fetch_url, k.source_url, MAX(k.id) FROM temp.copy_urls t
               JOIN captures k ON k.fetch_url = t.value AND k.source_url IS NOT NULL
               GROUP BY k.fetch_url, k.source_url""")}

    def copy_targets(self, fetch_urls: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
        """Per URL: the earliest `accessed` of its citations, and the time of its first good capture."""
        self._copy_urls(fetch_urls)
        try:
            rows = self.db.execute(
                """SELECT t.value,
                       (SELECT MIN(accessed) FROM citations c WHERE c.fetch_url = t.value AND accessed <> ''),
                       (SELECT MIN(captured_at) FROM captures k WHERE k.fetch_url = t.value AND k.outcome = 'ok'
                            AND k.http_status BETWEEN 200 AND 299 AND COALESCE(k.mode, '') <> 'memento')
                   FROM temp.copy_urls t""").fetchall()
        except sqlite3.OperationalError:  # an empty database: no tables yet
            return {}
        return {url: (accessed, captured) for url, accessed, captured in rows}


__all__ = ["COPY_STATUSES", "CopyRow", "CopyRows", "SaveRow", "copies_down_sql", "copies_json_sql"]
