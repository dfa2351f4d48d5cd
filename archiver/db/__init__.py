"""The archive database, the only place that writes SQL. One way to open it: `open(path, readonly=...)`
(= ArchiveDB.open). schema.py holds the migrations, views and triggers; rule_sql.py the verdict rule as
SQL; archive_db.py ArchiveDB, the writes and reads of runs; queries.py the report's, export's and
history's reads; rows.py the named rows they return; connection.py how a connection is made."""

from __future__ import annotations

from pathlib import Path

from .archive_db import ArchiveDB
from .rows import Previous
from .schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "ArchiveDB", "Previous", "open"]


def open(path: Path, *, readonly: bool = False) -> ArchiveDB:
    """ArchiveDB.open: writable (created, migrated) or, for commands that only read, read-only."""
    return ArchiveDB.open(path, readonly=readonly)
