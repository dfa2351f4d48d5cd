"""The Wayback CDX API (the Internet Archive's, and pywb's at `/<collection>/cdx`): one query for the
captures of a URL that answered 200, nearest the target datetime first, instead of a TimeMap that lists
every memento (errors and redirects too, thousands for a popular page) or a TimeGate's redirects.

Both answers of `output=json` are read: the Internet Archive's JSON array (a header row, then one row per
capture) and pywb's NDJSON (one object per line). Only the timestamp is needed: the memento URL is the
archive's Wayback form, `<TimeGate prefix><14 digits>/<url>`; the memento is still judged on its raw
bytes like any other (lookup.py).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import urlencode

from .archives import Memento, MementoArchive

_STAMP = re.compile(r"^\d{14}$")


def cdx_query(archive: MementoArchive, url: str, target: dt.datetime, limit: int) -> str:
    """The CDX query URL: 200 captures of exactly `url`, the `limit` nearest `target`."""
    assert archive.cdx
    stamp = target.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")
    query = urlencode([("url", url), ("output", "json"), ("fl", "timestamp,original,statuscode"),
                       ("filter", "statuscode:200"), ("closest", stamp), ("sort", "closest"), ("limit", str(limit))])
    return f"{archive.cdx}?{query}"


def parse_cdx(text: str, archive: MementoArchive, url: str) -> list[Memento]:
    """The captures a CDX answer lists, as mementos under the archive's Wayback prefix. Rows that are
    not captures (a header row, a malformed line, a timestamp that is not 14 digits) are skipped."""
    stamps: list[str] = []
    text = text.strip()
    if text.startswith("["):  # the Internet Archive: [["timestamp", ...], ["20200301120000", ...], ...]
        try:
            rows = json.loads(text)
        except ValueError:
            rows = []
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, list) and row and isinstance(row[0], str):
                stamps.append(row[0])
    else:  # pywb: {"timestamp": "20200301120000", ...} per line
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("timestamp"), str):
                stamps.append(row["timestamp"])
    out: list[Memento] = []
    for stamp in dict.fromkeys(s for s in stamps if _STAMP.match(s)):
        when = dt.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
        out.append(Memento(archive.memento_url(stamp, url), when))
    return out


__all__ = ["cdx_query", "parse_cdx"]
