"""Copies of cited URLs in other web archives (RFC 7089 Memento), judged and kept.

- archives.py: the archives asked (`MementoArchive`, the default list, the config's `archives`)
- lookup.py: one archive asked for one URL through the Fetcher (TimeMap, else TimeGate), the memento
  nearest the target datetime judged on its raw bytes by the checker's classification
- find.py: a whole lookup: targets, the day-long cache of answers, workers, rows written

`best_copies` is the one read other modules need: the best judged copy of each URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from .. import stamps
from ..db.archive_db import ArchiveDB


@dataclass(frozen=True)
class Copy:
    """A judged copy of a cited URL: the archive's name, the memento's URL and its datetime (UTC)."""

    archive: str
    url: str
    datetime: dt.datetime


def best_copies(db: ArchiveDB, fetch_urls: Iterable[str]) -> dict[str, Copy]:
    """The best judged ('ok') copy of each URL that has one: of every archive's newest answer, the
    memento nearest the datetime it was asked for. URLs without one are left out."""
    out: dict[str, Copy] = {}
    for url, rows in db.good_copies(fetch_urls).items():
        best = rows[0]
        if best.memento_url and best.memento_datetime:
            out[url] = Copy(best.archive, best.memento_url, stamps.parse(best.memento_datetime))
    return out


__all__ = ["Copy", "best_copies"]
