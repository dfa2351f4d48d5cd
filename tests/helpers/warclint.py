"""The tests' WARC linter: what `warcio check` does not look at, asserted over WARCs archiver wrote.

Checks, over a set of WARC files read together: WARC/1.1 and warcinfo first; one gzip member per
record; unique record ids; block digests; payload digests over the de-chunked entity body (archiver's
one digester, archiver/warc/digests.py: warcio computes them over chunk framing, its issues #74/#75);
request/response linked both ways with WARC-Concurrent-To; revisit fields pointing at a record that
exists with the same payload. Gzip members are walked by hand and records parsed by warcio, not by
archiver's reader, so that a fault there cannot hide itself.
"""

from __future__ import annotations

import re
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from archiver.errors import RecordDamaged
from archiver.warc import REVISIT_PROFILE, Digests, digest_block

_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


@dataclass(frozen=True)
class LintFinding:
    """One thing wrong at one record (offset) or with a whole file (offset None)."""

    warc: str
    offset: int | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.warc}@{self.offset}" if self.offset is not None else self.warc
        return f"{where}: {self.problem}"


@dataclass
class _Record:
    warc: str
    offset: int
    length: int
    rec_type: str
    headers: dict[str, str]


@dataclass
class LintReport:
    """What check_warcs found over a set of files, and how many records it read."""

    findings: list[LintFinding] = field(default_factory=list)
    records: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


def _members(handle: IO[bytes]) -> Iterator[tuple[int, int, str | None, IO[bytes]]]:
    """Walk the gzip members of a file: (offset, length, problem or None, decompressed bytes).
    Done by hand rather than by warcio, which carries on past a member holding two records and
    reads a truncated last member as a short record without complaint."""
    offset = 0
    leftover = b""
    while True:
        z = zlib.decompressobj(31)
        length = 0
        out: IO[bytes] = tempfile.SpooledTemporaryFile(8 << 20)
        problem = None
        while not z.eof:
            data = leftover or handle.read(1 << 20)
            leftover = b""
            if not data:
                problem = "truncated gzip member (file ends inside a record)" if length else None
                break
            try:
                out.write(z.decompress(data))
            except zlib.error as exc:
                problem = f"corrupt gzip data: {exc}"
                break
            length += len(data) - len(z.unused_data)
            leftover = z.unused_data
        if length == 0 and problem is None:
            out.close()
            return
        out.seek(0)
        yield offset, length, problem, out
        if problem is not None:
            out.close()
            return
        offset += length


def _records_in(member: IO[bytes]) -> Iterator[tuple[dict[str, str], str, Digests]]:
    """(WARC headers, version, recomputed digests) of each record in a decompressed member."""
    for record in ArchiveIterator(member, no_record_parse=True):
        headers = {k: v for k, v in record.rec_headers.headers}
        is_http = headers.get("Content-Type", "").startswith("application/http")
        yield headers, record.rec_headers.protocol, digest_block(record.raw_stream, is_http)


def check_warcs(paths: list[Path]) -> LintReport:
    report = LintReport()
    records: dict[str, _Record] = {}

    def problem(warc: str, offset: int | None, text: str) -> None:
        report.findings.append(LintFinding(warc, offset, text))

    for path in paths:
        name = str(path)
        with open(path, "rb") as handle:
            first = True
            for offset, length, broken, member in _members(handle):
                with member:
                    if broken:
                        problem(name, offset, f"unreadable: {broken}")
                        break
                    try:
                        found = list(_records_in(member))
                    except (ArchiveLoadFailed, RecordDamaged, zlib.error, EOFError, ValueError) as exc:
                        problem(name, offset, f"unreadable record: {exc}")
                        continue
                if len(found) != 1:
                    problem(name, offset, f"gzip member holds {len(found)} records: each record must be its own member")
                for headers, protocol, digests in found:
                    report.records += 1
                    rec_type = headers.get("WARC-Type", "")
                    rid = headers.get("WARC-Record-ID", "")
                    if protocol != "WARC/1.1":
                        problem(name, offset, f"version {protocol}, expected WARC/1.1")
                    if first and rec_type != "warcinfo":
                        problem(name, offset, "first record is not warcinfo")
                    first = False
                    if not rid:
                        problem(name, offset, "no WARC-Record-ID")
                    elif rid in records:
                        problem(name, offset, f"duplicate WARC-Record-ID {rid}")
                    records[rid] = _Record(name, offset, length, rec_type, headers)
                    if not _DATE.match(headers.get("WARC-Date", "")):
                        problem(name, offset, f"bad WARC-Date {headers.get('WARC-Date')!r}")
                    if headers.get("WARC-Block-Digest") != digests.block:
                        problem(name, offset, f"block digest {headers.get('WARC-Block-Digest')} != {digests.block}")
                    stated = headers.get("WARC-Payload-Digest")
                    if rec_type in ("response", "request") and stated != digests.payload:
                        problem(name, offset, f"payload digest {stated} != {digests.payload} (de-chunked body)")
                    if rec_type in ("response", "revisit", "request") and not headers.get("WARC-IP-Address"):
                        problem(name, offset, "no WARC-IP-Address")

    for rid, entry in records.items():
        h = entry.headers
        if entry.rec_type in ("request", "response", "revisit"):
            other_id = h.get("WARC-Concurrent-To")
            other = records.get(other_id or "")
            if other is None:
                problem(entry.warc, entry.offset, f"WARC-Concurrent-To {other_id} not found")
            elif other.headers.get("WARC-Concurrent-To") != rid:
                problem(entry.warc, entry.offset, f"{other_id} does not point back with WARC-Concurrent-To")
            elif other.headers.get("WARC-Date") != h.get("WARC-Date"):
                problem(entry.warc, entry.offset, "request and response dates differ")
        if entry.rec_type == "revisit":
            if h.get("WARC-Profile") != REVISIT_PROFILE:
                problem(entry.warc, entry.offset, f"revisit profile {h.get('WARC-Profile')!r}")
            if h.get("WARC-Truncated") != "length":
                problem(entry.warc, entry.offset, "revisit without WARC-Truncated: length")
            original = records.get(h.get("WARC-Refers-To", ""))
            if original is None:
                problem(entry.warc, entry.offset, f"WARC-Refers-To {h.get('WARC-Refers-To')} not found")
                continue
            oh = original.headers
            for mine, theirs in (("WARC-Refers-To-Target-URI", "WARC-Target-URI"), ("WARC-Refers-To-Date", "WARC-Date"),
                                 ("WARC-Payload-Digest", "WARC-Payload-Digest")):
                if h.get(mine) != oh.get(theirs):
                    problem(entry.warc, entry.offset,
                            f"{mine} {h.get(mine)!r} != original's {theirs} {oh.get(theirs)!r}")
    return report
