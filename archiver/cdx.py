"""CDXJ index lines for replay (pywb) and WACZ packages, built from the database, not from the WARCs.

The records table already knows every record's file, offset, length, URI, date and payload digest,
and the capture row knows each hop's HTTP status and the final Content-Type: so an index of a
terabyte of WARCs is one query, with no file read. Only response and revisit records are indexed
(what a replay engine looks up); a revisit is marked `warc/revisit` with the same digest as its
original, which is how pywb and ReplayWeb.page find the original's bytes.

Keys are SURTs from the `surt` package, the same function pywb applies to the URLs it looks up:
a key made any other way would simply never be found.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from . import stamps
from .errors import UsageError

INDEXED_TYPES = ("response", "revisit")
REVISIT_MIME = "warc/revisit"
UNKNOWN_MIME = "unk"  # what pywb's own indexer writes when a record has no Content-Type


@dataclass(frozen=True)
class CdxEntry:
    url: str
    timestamp: str  # 14 digits, UTC
    mime: str
    status: int | None
    digest: str | None  # Base32 SHA-1, without the "sha1:" label (as cdxj-indexer writes it)
    length: int
    offset: int
    filename: str
    rec_type: str


def timestamp14(iso: str) -> str:
    """'2024-05-01T12:34:56.789Z' -> '20240501123456' (the form replay URLs and CDXJ use)."""
    if iso.endswith("Z"):  # stamps.iso's stored form, already UTC: read by position, once per record
        digits = iso[0:4] + iso[5:7] + iso[8:10] + iso[11:13] + iso[14:16] + iso[17:19]
        if len(digits) == 14 and digits.isdigit():
            return digits
    try:
        return stamps.digits14(stamps.parse(iso))
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time: {iso!r}") from None


def _hop_statuses(redirects: str | None, final_status: int | None) -> list[int | None]:
    """Each hop's HTTP status, from the capture's redirects column (snapshot writes objects,
    older rows may hold [url, status] pairs)."""
    if not redirects:
        return [final_status]
    out: list[int | None] = []
    for hop in json.loads(redirects):
        status = hop.get("status") if isinstance(hop, dict) else hop[1]
        out.append(int(status) if status is not None else None)
    return out


def entries_from_rows(rows: Iterable[dict[str, Any]], rename: Callable[[str], str] = str,
                      placed: dict[tuple[str, int], int] | None = None) -> Iterator[CdxEntry]:
    """CDX entries for the response/revisit records of `rows` (records joined with their capture,
    as db.export_records returns them, ordered by capture then offset). `rename` gives the filename
    a WARC is served under (replay: the file as it is on disk now); `placed` maps (warc, offset) to
    the record's offset in a packaged WARC (export)."""
    for _capture, group in groupby(rows, key=lambda r: r["capture_id"]):
        records = list(group)
        # A capture's response records are its hops in order (builder.capture writes them so).
        hops = [r for r in records if r["rec_type"] in INDEXED_TYPES]
        statuses = _hop_statuses(records[0]["redirects"], records[0]["http_status"])
        for index, row in enumerate(hops):
            last = index == len(hops) - 1
            if row["rec_type"] == "revisit":
                mime = REVISIT_MIME
            elif last and row["content_type"]:
                mime = row["content_type"].split(";")[0].strip().lower() or UNKNOWN_MIME
            else:
                mime = UNKNOWN_MIME  # a redirect hop's Content-Type is in its record only
            status = statuses[index] if index < len(statuses) else (row["http_status"] if last else None)
            digest = row["payload_digest"]
            warc, offset = row["warc"], row["offset"]
            if placed is not None:
                offset = placed[(warc, offset)]
            filename = rename(warc)
            yield CdxEntry(row["uri"], timestamp14(row["date"]), mime, status,
                           digest.removeprefix("sha1:") if digest else None, row["length"], offset, filename,
                           row["rec_type"])


def surt_key(url: str) -> str:
    try:
        import surt
    except ImportError:  # an optional extra: say how to get it instead of a traceback
        raise UsageError("replay and export need the replay extra: pip install 'archiver[replay]'") from None
    return str(surt.surt(url))


def _fields(entry: CdxEntry) -> dict[str, str]:
    fields: dict[str, str] = {"url": entry.url, "mime": entry.mime}
    if entry.status is not None:
        fields["status"] = str(entry.status)
    if entry.digest:
        fields["digest"] = entry.digest
    fields.update({"length": str(entry.length), "offset": str(entry.offset), "filename": entry.filename})
    return fields


def cdxj_lines(entries: Iterable[CdxEntry]) -> list[str]:
    """Sorted as plain text, the order pywb's binary search and `sort` agree on. Within one key and
    second, an original ("text/...") sorts before its revisit ("warc/revisit"), which is the order
    pywb's revisit resolution reads them in."""
    keys: dict[str, str] = {}  # a URL captured 30 times is SURT-ed once: surt() is most of the cost
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    out = []
    for entry in entries:
        key = keys.get(entry.url)
        if key is None:
            key = keys[entry.url] = surt_key(entry.url)
        out.append(f"{key} {entry.timestamp} {dumps(_fields(entry))}\n")
    out.sort()
    return out
