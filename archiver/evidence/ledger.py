"""The tamper-evident log: every closed WARC file, every committed batch of captures and every audit
appends an entry, in the same transaction as the rows it covers, to the `ledger` table and (appended
and fsynced) to its mirror `<storage>/ledger.jsonl`.

An entry's hash is sha256(previous entry's hash + the event's canonical JSON: sorted keys, no spaces,
UTF-8), hex; the first entry's previous hash is 64 zeros. An event holds what it covers: a closed
WARC file's name, size and sha256; a batch's capture ids, URLs, payload sha256s and every record
(WARC file, offset, length, payload digest); an audit's id, mode, counts and status. Editing a WARC
file and its database rows together is then caught (the log still holds the old digests) unless
every entry after it is rewritten too, which the timestamps over the log's head (timestamps.py)
make provable. `check_chain` recomputes it all for `archiver verify`.

Durability: the mirror line is written and fsynced before the transaction commits. A commit that
then fails leaves a line past the database's last entry; the next append cuts it back (as a WARC file
is cut back to its last committed record), so the mirror is the database's log, line for line.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import stamps
from ..db import ArchiveDB
from ..db.evidence import LedgerEntry
from ..errors import StorageError

GENESIS = "0" * 64
MIRROR = "ledger.jsonl"
WARC_CLOSED, CAPTURES, AUDIT = "warc_closed", "captures", "audit"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_TAIL = 64 * 1024


def canonical(value: Any) -> str:
    """The one JSON form that is hashed: sorted keys, no spaces, UTF-8 (not \\u escapes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev: str, event: str) -> str:
    return hashlib.sha256((prev + event).encode("utf-8")).hexdigest()


def mirror_line(entry: LedgerEntry) -> str:
    return canonical({"seq": entry.seq, "at": entry.at, "kind": entry.kind, "event": json.loads(entry.event),
                      "prev": entry.prev, "hash": entry.hash})


def head(db: ArchiveDB) -> tuple[int, str]:
    """The log's head: (seq, hash) of its newest entry; (0, GENESIS) when it is empty."""
    newest = db.ledger_head() if db.has_ledger() else None
    return (newest.seq, newest.hash) if newest is not None else (0, GENESIS)


def covers(entry: LedgerEntry) -> str:
    """What an entry covers, in a few words, for problem lines."""
    event = json.loads(entry.event)
    if entry.kind == WARC_CLOSED:
        return f"closed WARC {event.get('warc')}"
    if entry.kind == CAPTURES:
        ids = [c.get("id") for c in event.get("captures", [])]
        return f"captures {ids[0]}-{ids[-1]}" if len(ids) > 1 else f"capture {ids[0] if ids else '?'}"
    return f"{entry.kind} {event.get('audit_id', '')}".strip()


class Ledger:
    """Appends to the log of the archive in `root`; call its methods inside the database transaction
    that writes the rows an entry covers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mirror = root / MIRROR

    def append(self, db: ArchiveDB, kind: str, event: dict[str, Any]) -> LedgerEntry:
        newest = db.ledger_head()
        seq, prev = (newest.seq + 1, newest.hash) if newest is not None else (1, GENESIS)
        text = canonical(event)
        entry = LedgerEntry(seq, stamps.now_iso(), kind, text, prev, entry_hash(prev, text))
        db.add_ledger_entry(entry)
        self._mirror(entry)
        return entry

    def warc_closed(self, db: ArchiveDB, name: str, size: int, sha256: str) -> LedgerEntry:
        return self.append(db, WARC_CLOSED, {"warc": name, "size": size, "sha256": sha256})

    def captures(self, db: ArchiveDB, capture_ids: list[int]) -> LedgerEntry | None:
        """A batch of captures as the database now holds them (read back inside the transaction)."""
        if not capture_ids:
            return None
        return self.append(db, CAPTURES, {"captures": db.capture_evidence(sorted(capture_ids))})

    def audit(self, db: ArchiveDB, audit_id: int, row: dict[str, Any]) -> LedgerEntry:
        return self.append(db, AUDIT, {"audit_id": audit_id, **row})

    def _mirror(self, entry: LedgerEntry) -> None:
        line = (mirror_line(entry) + "\n").encode("utf-8")
        try:
            fd = os.open(self.mirror, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
        except OSError as exc:
            raise StorageError(f"{self.mirror}: cannot write: {exc.strerror or exc}") from exc
        try:
            end = _cut_back(fd, entry.seq)
            os.lseek(fd, end, os.SEEK_SET)
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            raise StorageError(f"{self.mirror}: cannot write: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)


def _cut_back(fd: int, seq: int) -> int:
    """Where entry `seq` goes in the mirror: its end, less any lines of entries numbered `seq` or later
    (left by a transaction whose commit failed), which are cut off."""
    end = os.lseek(fd, 0, os.SEEK_END)
    while end > 0:
        start = max(0, end - _TAIL)
        os.lseek(fd, start, os.SEEK_SET)
        tail = os.read(fd, end - start)
        cut = tail.rstrip(b"\n").rfind(b"\n")
        if cut < 0 and start > 0:
            return end  # a line longer than the tail read: not one of ours to cut
        last = tail[cut + 1 :]
        try:
            last_seq = int(json.loads(last)["seq"])
        except (ValueError, KeyError, TypeError):
            return end  # not a line we wrote: verify names it, an append never destroys it
        if last_seq < seq:
            return end
        end = start + cut + 1
        os.ftruncate(fd, end)
    return end


# -- checking the chain (archiver verify) ---------------------------------------------------------------


@dataclass(frozen=True)
class ChainProblem:
    """A broken link: `where` the entry (or the mirror file), `detail` what differs."""

    where: str
    detail: str
    seq: int | None = None


def check_chain(db: ArchiveDB, root: Path) -> list[ChainProblem]:
    """The log recomputed: the first broken link of the database's chain (a missing, reordered or edited
    entry), the first line where the mirror differs from the database, every entry whose covered WARC
    file or captures no longer match, and every capture or closed WARC file newer than the log's start
    that no entry covers (the log cut off at its end)."""
    if not db.has_ledger():
        return []
    entries = list(db.ledger_entries())
    problems = _chain_links(entries)
    problems += _mirror_differences(entries, root / MIRROR)
    broken = problems[0].seq if problems and problems[0].seq is not None else None
    for entry in entries:
        if broken is not None and entry.seq >= broken:
            break
        problems += _coverage(db, entry)
    problems += _uncovered(db, entries)
    return problems


def _chain_links(entries: list[LedgerEntry]) -> list[ChainProblem]:
    prev, expected = GENESIS, 1
    for entry in entries:
        where = f"ledger entry {entry.seq} ({covers(entry)})"
        if entry.seq != expected:
            return [ChainProblem(where, f"entry {expected} is missing: the log jumps from {expected - 1} to"
                                        f" {entry.seq} (an entry deleted)", expected)]
        if entry.prev != prev:
            return [ChainProblem(where, f"its previous hash {entry.prev[:16]}… is not entry {entry.seq - 1}'s hash"
                                        f" {prev[:16]}… (entries removed, swapped or rewritten)", entry.seq)]
        if entry_hash(entry.prev, entry.event) != entry.hash:
            return [ChainProblem(where, f"its hash {entry.hash[:16]}… does not match its content (recomputed"
                                        f" {entry_hash(entry.prev, entry.event)[:16]}…): the entry was edited",
                                 entry.seq)]
        prev, expected = entry.hash, expected + 1
    return []


def _mirror_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            yield number, line.rstrip(b"\n")


def _mirror_differences(entries: list[LedgerEntry], path: Path) -> list[ChainProblem]:
    if not path.exists():
        return [ChainProblem(MIRROR, f"missing: the database holds {len(entries)} entries")] if entries else []
    count = 0
    try:
        for number, line in _mirror_lines(path):
            count = number
            if number > len(entries):
                return [ChainProblem(f"{MIRROR} line {number}", f"more lines than the database's {len(entries)}"
                                                                 " entries: a line added", number)]
            entry = entries[number - 1]
            if line.decode("utf-8", "replace") != mirror_line(entry):
                return [ChainProblem(f"{MIRROR} line {number}", f"differs from ledger entry {entry.seq}"
                                     f" ({covers(entry)}) in the database: {_differing(line, entry)}", entry.seq)]
    except OSError as exc:
        return [ChainProblem(MIRROR, f"cannot read: {exc.strerror or exc}")]
    if count < len(entries):
        missing = entries[count]
        return [ChainProblem(f"{MIRROR} line {count + 1}", f"ends after {count} lines, the database holds"
                             f" {len(entries)} entries: truncated (entry {missing.seq}, {covers(missing)},"
                             " is missing)", missing.seq)]
    return []


def _differing(line: bytes, entry: LedgerEntry) -> str:
    try:
        found = json.loads(line)
    except ValueError:
        return "not JSON"
    if not isinstance(found, dict):
        return "not a JSON object"
    ours = json.loads(mirror_line(entry))
    fields = [k for k in sorted(set(found) | set(ours)) if found.get(k) != ours.get(k)]
    return f"field {', '.join(fields)}" if fields else "its bytes (not the canonical form)"


def _coverage(db: ArchiveDB, entry: LedgerEntry) -> list[ChainProblem]:
    event = json.loads(entry.event)
    where = f"ledger entry {entry.seq} ({covers(entry)})"
    if entry.kind == WARC_CLOSED:
        now = db.warc_evidence(event["warc"])
        if now is None:
            return [ChainProblem(where, "the WARC file is no longer in the database as closed", entry.seq)]
        return [ChainProblem(where, f"{key} recorded in the log {event[key]}, the database now says {now[key]}"
                                    " (the WARC file and its row changed since)", entry.seq)
                for key in ("size", "sha256") if now[key] != event[key]][:1]
    if entry.kind == CAPTURES:
        logged = {c["id"]: c for c in event["captures"]}
        now_rows = {c["id"]: c for c in db.capture_evidence(sorted(logged))}
        out = []
        for cid, was in logged.items():
            now = now_rows.get(cid)
            if now is None:
                out.append(ChainProblem(where, f"capture {cid} is no longer in the database", entry.seq))
            elif now != was:
                fields = [k for k in sorted(was) if was.get(k) != now.get(k)]
                out.append(ChainProblem(where, f"capture {cid}: {', '.join(fields)} differ from the log"
                                               f" (log {_short(was, fields)}, now {_short(now, fields)})", entry.seq))
        return out
    return []


def _short(capture: dict[str, Any], fields: list[str]) -> str:
    text = canonical({k: capture.get(k) for k in fields})
    return text if len(text) <= 160 else text[:157] + "..."


def _uncovered(db: ArchiveDB, entries: list[LedgerEntry]) -> list[ChainProblem]:
    """Captures and closed WARC files the log should cover but does not: those after the first it covers."""
    ids: set[int] = set()
    warcs: set[str] = set()
    for entry in entries:
        event = json.loads(entry.event)
        if entry.kind == CAPTURES:
            ids.update(c["id"] for c in event["captures"])
        elif entry.kind == WARC_CLOSED:
            warcs.add(event["warc"])
    out = []
    if ids:
        missing = db.captures_not_in(min(ids), ids)
        if missing:
            out.append(ChainProblem("ledger", f"{len(missing)} captures are covered by no entry (first: capture"
                                              f" {missing[0]}): the log was cut off or its entries deleted"))
    if warcs:
        first = next(json.loads(e.event)["warc"] for e in entries if e.kind == WARC_CLOSED)
        missing_warcs = sorted(db.closed_warcs_since(first) - warcs)
        if missing_warcs:
            out.append(ChainProblem("ledger", f"closed WARC {missing_warcs[0]} is covered by no entry"
                                              f" ({len(missing_warcs)} in all): the log was cut off"))
    return out
