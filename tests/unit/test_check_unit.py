"""Pieces of the checker: the baseline choice, the schema upgrade (no network), and the verdicts read
back a chunk of citations at a time (the loopback test server)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils
from server import TestServer

from archiver.check import pick_baseline
from archiver.config import Settings
from archiver.db import MIGRATIONS, SCHEMA_VERSION, ArchiveDB


def capture(id: int, when: str, payload_id: int | None = None) -> dict[str, object]:
    return {"id": id, "captured_at": when, "payload_id": payload_id or id, "payload_sha1": f"sha{id}"}


def test_baseline_is_nearest_the_access_date_else_the_first() -> None:
    good = [capture(1, "2024-01-05T10:00:00Z"), capture(2, "2025-06-01T10:00:00Z", 1),
            capture(3, "2026-03-01T10:00:00Z")]
    assert pick_baseline([], None) is None
    assert pick_baseline(good, None).capture_id == 1  # type: ignore[union-attr]
    near = pick_baseline(good, dt.date(2025, 5, 20))
    assert near is not None and near.capture_id == 2 and near.payload_id == 1
    assert pick_baseline(good, dt.date(2030, 1, 1)).capture_id == 3  # type: ignore[union-attr]
    assert pick_baseline(good, dt.date(2001, 1, 1)).capture_id == 1  # type: ignore[union-attr]


def test_a_v1_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    db = sqlite_utils.Database(conn)
    MIGRATIONS[0](db)
    conn.execute("PRAGMA user_version = 1")
    db.table("runs").insert({"command": "snapshot", "started_at": "2026-01-01T00:00:00Z", "status": "done"})
    conn.commit()
    conn.close()
    upgraded = ArchiveDB.open(path)
    try:
        assert upgraded.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 2
        assert "checks" in upgraded.db.table_names()
        assert upgraded.db.table("runs").count == 1  # nothing lost
        assert "checked" in upgraded.db.table("runs").columns_dict
    finally:
        upgraded.close()


def test_verdicts_judged_a_chunk_at_a_time_keep_what_the_run_found(server: TestServer, settings: Settings,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The verdicts of a check are read back from the database a chunk of citations at a time (a
    check of a million URLs keeps no list of its check rows): the same verdicts, reasons and
    statuses in chunks of 2 as in one."""
    from archiver import check as check_module
    from archiver.check import check, citation_verdicts
    from archiver.verdict import Policy

    urls = [server.url(f"page/chunk-{i}") for i in range(5)] + [server.url(f"nowhere/chunk-{i}") for i in range(2)]
    result = check(settings, urls)
    monkeypatch.setattr(check_module, "VERDICT_CHUNK", 2)
    again = citation_verdicts(settings, urls, Policy(), run_id=result.summary.run_id)
    assert again == result.citations and len(again) == 7
    assert [c.http_status for c in again] == [200] * 5 + [404] * 2
    assert all(c.reason for c in again[5:])
