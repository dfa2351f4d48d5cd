"""Named rows: the types the database's queries return, and `named`, which turns a cursor into them
by column name (each query's SELECT names its columns as the type's fields; a mismatch is an error,
never a silently shifted field)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import starmap
from typing import Any, NamedTuple, TypeVar

R = TypeVar("R")


def named(cursor: sqlite3.Cursor, row_type: type[R]) -> Iterator[R]:
    """The cursor's rows as `row_type` (a NamedTuple or a dataclass), whose fields must be the
    cursor's column names in order."""
    fields = field_names(row_type)
    columns = tuple(column[0] for column in cursor.description or ())
    if columns != fields:
        raise TypeError(f"query columns {columns} are not the fields of {row_type.__name__} {fields}")
    return starmap(row_type, cursor)


def field_names(row_type: type) -> tuple[str, ...]:
    found: tuple[str, ...] | None = getattr(row_type, "_fields", None)  # a NamedTuple
    if found is not None:
        return found
    if not dataclasses.is_dataclass(row_type):
        raise TypeError(f"{row_type.__name__} is neither a NamedTuple nor a dataclass")
    return tuple(field.name for field in dataclasses.fields(row_type))


def scalar(cursor: sqlite3.Cursor) -> Any:
    """The one value of a one-row, one-column query (None when it gives no row)."""
    row = cursor.fetchone()
    if row is None:
        return None
    (value,) = row
    return value


@dataclass(frozen=True)
class Previous:
    """What a URL's newest capture with a payload holds: for the revisit decision."""

    fetch_url: str
    payload_sha1: str
    capture_id: int
    record_id: str
    uri: str
    date: str


class Cited(NamedTuple):
    """A citation as the report lists it: a manifest's (line set) or a bare URL's. An invalid URL,
    never a citations row, has its text as printed for fetch_url (the key its checks have)."""

    manifest: str | None
    citation_id: str | None
    url: str
    fetch_url: str
    cited_as: str | None
    context: str | None
    line: int | None


class NumberedCited(NamedTuple):
    """A row of the report's temporary citation list: its place (`ord`) and the citation."""

    ord: int
    manifest: str | None
    citation_id: str | None
    url: str
    fetch_url: str
    cited_as: str | None
    context: str | None
    line: int | None


class ManifestRow(NamedTuple):
    path: str
    name: str | None
    title: str | None
    source: str | None
    loaded_at: str | None


class JsonRow(NamedTuple):
    """A report row built by SQLite under the stored policy; `json` is None when the URL's state is
    dirty (the caller judges it from its history)."""

    ord: int
    dirty: int
    verdict: str
    json: str | None


class CheckRow(NamedTuple):
    """A check as the report judges it; drift, http_status, final_url and reason only on a URL's
    newest check (None on the others)."""

    fetch_url: str
    checked_at: str
    status: str
    drift_level: str | None
    drift: float | None
    http_status: int | None
    final_url: str | None
    reason: str | None
    offline: int  # 1: the check's run was judged offline


class TimelineRow(NamedTuple):
    fetch_url: str
    checked_at: str
    status: str
    drift_level: str | None
    run_id: int  # every check is part of a run
    offline: int  # 1: that run was judged offline


class GoodCapture(NamedTuple):
    """A URL's newest good capture (2xx, whole, response or revisit), its payload located in the
    original record: for a revisit, captured_at is the revisit's time, the rest the original's."""

    captured_at: str
    record_type: str
    sha256: str | None
    warc: str
    offset: int
    length: int
    payload_capture_id: int  # the capture row whose record holds the payload
    content_type: str | None
    final_url: str | None
    fetch_url: str


class ListedCapture(NamedTuple):
    """One of a URL's newest captures that replay, and how many the URL has in all."""

    captured_at: str
    record_type: str
    http_status: int | None
    total: int
    fetch_url: str


class StateRow(NamedTuple):
    """url_state of a URL (schema v5) with its newest check and its newest good capture (the capture
    fields None when it has none)."""

    fetch_url: str
    dirty: int
    last_ok_at: str | None
    streak_first_at: str | None
    dead_since: str | None
    streak_n: int  # failures since the newest ok check that count toward death
    offline_n: int  # ...and those that do not: their run was offline
    checked_at: str | None
    status: str | None
    drift_level: str | None
    drift: float | None
    http_status: int | None
    final_url: str | None
    reason: str | None
    captured_at: str | None
    record_type: str | None
    sha256: str | None
    warc: str | None
    offset: int | None
    length: int | None
    payload_capture_id: int | None
    content_type: str | None
    capture_final_url: str | None
    last_offline: int  # 1: the newest check's run was judged offline


class AuditRecord(NamedTuple):
    """A record of a WARC file as the database lists it, for `archiver verify`."""

    offset: int
    length: int
    rec_type: str
    uri: str | None
    record_id: str
    payload_digest: str | None
    original_digest: str | None  # the payload_digest recorded for a revisit's original


class WarcFile(NamedTuple):
    """A WARC file as the database lists it: sha256 and size once closed."""

    name: str
    state: str
    created_at: str | None
    size: int | None
    sha256: str | None


class ExportState(NamedTuple):
    """When either changes, a replay index is stale."""

    newest_record: int
    closed_files: int
