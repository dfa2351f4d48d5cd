"""Pieces of the checker that need no network: the baseline choice and the schema upgrade."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import sqlite_utils

from archiver.check import pick_baseline
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
