"""The evidence tables' reads and writes (archiver/evidence/): the tamper-evident log `ledger`, what its
entries cover as the database holds it now (a closed WARC file's size and sha256, a batch of captures
with their records), and the RFC 3161 tokens in `timestamps`. A base of ArchiveDB; the tables exist
from the migration `_v12` on (`has_ledger` tells, for a database opened read-only as it is)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import sqlite_utils

from .rows import named, scalar


class LedgerEntry(NamedTuple):
    """One entry of the log: `event` is the canonical JSON of what happened, `hash` =
    sha256(prev + event), hex."""

    seq: int
    at: str
    kind: str
    event: str
    prev: str
    hash: str


class TimestampRow(NamedTuple):
    """One RFC 3161 token over the log head `head` (the hash of entry `seq`), from the TSA at `tsa`."""

    id: int
    seq: int
    head: str
    tsa: str
    file: str
    token: bytes
    gen_time: str | None
    stamped_at: str


class EvidenceRows:
    db: sqlite_utils.Database

    def has_ledger(self) -> bool:
        return bool(scalar(self.db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
                                           " AND name = 'ledger'")) == 1)

    def ledger_head(self) -> LedgerEntry | None:
        """The newest entry (None: the log is empty)."""
        rows = list(named(self.db.execute("SELECT seq, at, kind, event, prev, hash FROM ledger ORDER BY seq DESC"
                                          " LIMIT 1"), LedgerEntry))
        return rows[0] if rows else None

    def ledger_entries(self) -> Iterable[LedgerEntry]:
        """Every entry, oldest first, streamed."""
        return named(self.db.execute("SELECT seq, at, kind, event, prev, hash FROM ledger ORDER BY seq"), LedgerEntry)

    def ledger_entry(self, seq: int) -> LedgerEntry | None:
        rows = list(named(self.db.execute("SELECT seq, at, kind, event, prev, hash FROM ledger WHERE seq = ?", [seq]),
                          LedgerEntry))
        return rows[0] if rows else None

    def add_ledger_entry(self, entry: LedgerEntry) -> None:
        """Inside the caller's transaction (the one holding the rows the entry covers)."""
        self.db.conn.execute("INSERT INTO ledger (seq, at, kind, event, prev, hash) VALUES (?, ?, ?, ?, ?, ?)", entry)

    def warc_evidence(self, name: str) -> dict[str, Any] | None:
        """A WARC file as a ledger entry covers it: name, size, sha256 (None: no such closed file)."""
        row = self.db.execute("SELECT name, size, sha256 FROM warc_files WHERE name = ? AND state = 'closed'",
                              [name]).fetchone()
        return {"warc": row[0], "size": row[1], "sha256": row[2]} if row else None

    def capture_evidence(self, capture_ids: list[int]) -> list[dict[str, Any]]:
        """Captures as a ledger entry covers them, in id order: id, URL, payload sha256, and every record
        as [warc, offset, length, payload digest] in file order. A capture no longer in the database is
        left out (the caller compares ids)."""
        out: dict[int, dict[str, Any]] = {}
        for i in range(0, len(capture_ids), 500):
            chunk = capture_ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for cid, url, sha256 in self.db.execute(
                    f"SELECT id, fetch_url, payload_sha256 FROM captures WHERE id IN ({marks})", chunk):
                out[cid] = {"id": cid, "url": url, "payload_sha256": sha256, "records": []}
            for cid, warc, offset, length, digest in self.db.execute(
                    f'SELECT capture_id, warc, "offset", length, payload_digest FROM records'
                    f' WHERE capture_id IN ({marks}) ORDER BY capture_id, warc, "offset"', chunk):
                out[cid]["records"].append([warc, offset, length, digest])
        return [out[cid] for cid in sorted(out)]

    def captures_not_in(self, first: int, covered: set[int]) -> list[int]:
        """Ids of captures from `first` on that are not in `covered`, in order."""
        return [cid for (cid,) in self.db.execute("SELECT id FROM captures WHERE id >= ? ORDER BY id", [first])
                if cid not in covered]

    def closed_warcs_since(self, name: str) -> set[str]:
        """Closed WARC files closed at or after `name` was."""
        return {n for (n,) in self.db.execute(
            "SELECT name FROM warc_files WHERE state = 'closed' AND closed_at >="
            " (SELECT closed_at FROM warc_files WHERE name = ?)", [name])}

    def add_timestamp(self, row: dict[str, Any]) -> None:
        """Inside the caller's transaction."""
        self.db.conn.execute("INSERT INTO timestamps (seq, head, tsa, file, token, gen_time, stamped_at)"
                             " VALUES (:seq, :head, :tsa, :file, :token, :gen_time, :stamped_at)", row)

    def tokens_covering(self, names: list[str]) -> dict[str, list[dict[str, str]]]:
        """WARC file name -> the earliest token of each authority over a log head at or after the entry
        that logged the file's close (the chain links every later head to that entry)."""
        found: dict[str, list[dict[str, str]]] = {}
        for name, tsa, gen_time, file in self.db.execute(
                "SELECT l.name, t.tsa, t.gen_time, t.file FROM (SELECT json_extract(event, '$.warc') AS name,"
                " seq FROM ledger WHERE kind = 'warc_closed') l JOIN timestamps t ON t.seq >= l.seq"
                f" WHERE l.name IN ({', '.join('?' * len(names))})"
                " AND t.id = (SELECT MIN(id) FROM timestamps u WHERE u.tsa = t.tsa AND u.seq >= l.seq)"
                " ORDER BY l.name, t.id", names):
            found.setdefault(name, []).append({"authority": tsa, "time": gen_time or "", "token": file})
        return found

    def timestamp_rows(self) -> list[TimestampRow]:
        return list(named(self.db.execute("SELECT id, seq, head, tsa, file, token, gen_time, stamped_at"
                                          " FROM timestamps ORDER BY id"), TimestampRow))
