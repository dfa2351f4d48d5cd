"""The one time form: every instant archiver stores or prints is UTC, ISO 8601, ending in `Z`.

Stored times keep microseconds (rows of one run sort in the order they happened); what people read
is cut to seconds. Parsing accepts what older databases and users write: `Z` or an offset, a date
alone, or a naive time (taken as UTC).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

Precision = Literal["microseconds", "seconds", "minutes"]


def now() -> dt.datetime:
    """The current instant, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def iso(when: dt.datetime, precision: Precision = "microseconds") -> str:
    """`2026-12-05T03:50:13.123456Z`: the form every stored time has (naive times are taken as UTC)."""
    utc = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
    return utc.isoformat(timespec=precision).replace("+00:00", "Z")


def now_iso(precision: Precision = "microseconds") -> str:
    return iso(now(), precision)


def parse(text: str) -> dt.datetime:
    """A stored or user-given time as aware UTC; raises ValueError on anything else."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def parse_optional(text: str | None) -> dt.datetime | None:
    return parse(text) if text else None


def digits14(when: dt.datetime) -> str:
    """`20261205035013`: the 14-digit form of CDX indexes and Wayback URLs."""
    return when.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")
