"""Fixity: re-read every WARC file the database knows and prove that it still holds what was written.

Two independent proofs, each a unit of work for a small thread pool (hashlib and zlib release the GIL):
- whole file: a closed file's size and sha256 against the values recorded when it was closed. Any
  byte changed anywhere (a gzip header field included) is found here; `--quick` does only this.
- records: every record the database lists is read at its offset for its length, must be exactly one
  whole gzip member holding one WARC record with the recorded id, type and URI, and its block and
  payload digests are recomputed. This names *which* capture is damaged, works on `.open` files (up
  to their last committed record) and on files whose sha256 no longer matches, and checks the WARC's
  stated payload digest against the copy in SQLite, which a forger rewriting a record would also
  have to change.

Everything streams in 1 MiB pieces: no record or file is ever held in memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from warcio.bufferedreaders import ChunkedDataException

from .config import Settings
from .db import ArchiveDB
from .errors import StorageError
from .stamps import now_iso
from .storage import OPEN_SUFFIX
from .warccheck import CHUNKED, digest_label, record_digests

CHUNK = 1024 * 1024
# Record checks are grouped into units of about this many stored bytes: big enough that a unit's
# overhead (open, seek) is nothing, small enough that one large file keeps every thread busy.
BATCH_BYTES = 64 * CHUNK
# Our fetcher refuses longer response heads; a record claiming more is damaged, and never buffered.
MAX_HEAD = CHUNK
MAX_WORKERS = 4

# Problem kinds (the contract: `--json` and the audit_problems table use these words).
MISSING, TRUNCATED, ALTERED, RECORD_DAMAGED, UNREADABLE = "missing", "truncated", "altered", "record_damaged", \
    "unreadable"
UNKNOWN_FILE = "unknown_file"  # a warning: a file the database does not know is not a fixity failure
WARNINGS = frozenset({UNKNOWN_FILE})


@dataclass(frozen=True)
class Problem:
    kind: str
    warc: str
    detail: str
    offset: int | None = None
    record_id: str | None = None
    uri: str | None = None

    @property
    def warning(self) -> bool:
        return self.kind in WARNINGS

    def line(self) -> str:
        where = self.warc if self.offset is None else f"{self.warc}@{self.offset}"
        record = " ".join(x for x in (self.record_id, self.uri) if x)
        return f"{self.kind}: {where}: {record + ': ' if record else ''}{self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "warc": self.warc, "offset": self.offset, "record_id": self.record_id,
                "uri": self.uri, "detail": self.detail}


@dataclass
class Audit:
    mode: str  # "full" or "quick"
    since: str | None
    started_at: str
    finished_at: str | None = None
    status: str = "running"
    files: int = 0
    records: int = 0
    bytes: int = 0
    seconds: float = 0.0
    found: list[Problem] = field(default_factory=list)
    audit_id: int | None = None
    not_recorded: str | None = None  # why the audit could not be written to the database

    @property
    def problems(self) -> list[Problem]:
        return sorted((p for p in self.found if not p.warning), key=_order)

    @property
    def warnings(self) -> list[Problem]:
        return sorted((p for p in self.found if p.warning), key=_order)

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"audit_id": self.audit_id, "recorded": self.audit_id is not None and self.not_recorded is None,
                "status": self.status, "mode": self.mode, "since": self.since, "started_at": self.started_at,
                "finished_at": self.finished_at, "files": self.files, "records": self.records,
                "bytes": self.bytes, "seconds": round(self.seconds, 3), "mb_per_s": round(self.mb_per_s, 1),
                "problems": [p.to_dict() for p in self.problems], "warnings": [p.to_dict() for p in self.warnings]}


def _order(p: Problem) -> tuple[str, int, str]:
    return p.warc, -1 if p.offset is None else p.offset, p.kind


def iso(when: dt.datetime) -> str:
    """The form the database stores times in, so that they compare as strings."""
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# -- the units of work ------------------------------------------------------------------------------


class _Stopped(Exception):
    """Ctrl-C in the main thread: units in flight give up between two pieces."""


@dataclass(frozen=True)
class _Rec:
    offset: int
    length: int
    rec_type: str
    uri: str | None
    record_id: str
    payload_digest: str | None  # as recorded in SQLite when the record was written
    original_digest: str | None  # a revisit's original's recorded payload digest


@dataclass
class _Outcome:
    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    bytes: int = 0


class _Damage(Exception):
    """What is wrong with one record; becomes a record_damaged problem."""


def _open(paths: list[Path]) -> tuple[Path, io.FileIO]:
    """The first of `paths` that opens: an `.open` file may be renamed to its final name meanwhile."""
    error: OSError | None = None
    for path in paths:
        try:
            return path, io.FileIO(path, "rb")
        except FileNotFoundError as exc:
            error = exc
    assert error is not None
    raise error


def _hash_file(name: str, paths: list[Path], size: int, sha256: str, stop: threading.Event) -> _Outcome:
    out = _Outcome()
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    try:
        path, handle = _open(paths)
        with handle:
            while n := handle.readinto(buf):
                digest.update(view[:n])
                out.bytes += n
                if stop.is_set():
                    raise _Stopped
    except OSError as exc:
        out.problems.append(Problem(UNREADABLE, name, f"cannot read: {exc.strerror or exc}"))
        return out
    if out.bytes != size:  # changed under us since the size check: report what was hashed
        out.problems.append(Problem(ALTERED, name, f"{out.bytes} bytes read, recorded {size}"))
    elif digest.hexdigest() != sha256:
        out.problems.append(Problem(ALTERED, name, f"sha256 {digest.hexdigest()} != recorded {sha256}"))
    return out


def _check_records(name: str, paths: list[Path], records: list[_Rec], stop: threading.Event,
                   count_bytes: bool) -> _Outcome:
    out = _Outcome()
    try:
        _, handle = _open(paths)
    except OSError as exc:
        out.problems.append(Problem(UNREADABLE, name, f"cannot read: {exc.strerror or exc}"))
        return out
    with handle:
        for rec in records:
            if stop.is_set():
                raise _Stopped
            try:
                failures = _check_record(handle, rec)
            except _Damage as exc:
                failures = [str(exc)]
            except OSError as exc:
                failures = [f"read error: {exc.strerror or exc}"]
            out.records += 1
            if count_bytes:
                out.bytes += rec.length
            if failures:
                out.problems.append(Problem(RECORD_DAMAGED, name, "; ".join(failures), rec.offset, rec.record_id,
                                            rec.uri or None))
    return out


class _Member:
    """The decompressed bytes of the gzip member said to fill [offset, offset + length) of a file, read
    as a stream. Raises _Damage as soon as those bytes are not exactly one whole gzip member."""

    def __init__(self, handle: IO[bytes], offset: int, length: int) -> None:
        handle.seek(offset)
        self.handle, self.length, self.left = handle, length, length
        self.z = zlib.decompressobj(31)
        self.buf = b""
        self.pos = 0

    def _fill(self) -> bool:
        """Decompress the next piece into the buffer; False at the member's end."""
        while self.pos >= len(self.buf):
            if self.z.eof:
                if self.z.unused_data or self.left:
                    used = self.length - self.left - len(self.z.unused_data)
                    raise _Damage(f"gzip member ends after {used} of the record's {self.length} bytes")
                return False
            data = self.z.unconsumed_tail
            if not data:
                if not self.left:
                    raise _Damage(f"the gzip member goes on past the record's {self.length} bytes")
                data = self.handle.read(min(CHUNK, self.left))
                if not data:
                    have = self.length - self.left
                    raise _Damage(f"file ends {have} bytes into the record ({self.length} bytes)" if have
                                  else "file ends before the record")
                self.left -= len(data)
            try:
                self.buf, self.pos = self.z.decompress(data, CHUNK), 0
            except zlib.error as exc:
                raise _Damage(f"not a whole gzip member: {exc}") from exc
        return True

    def read(self, n: int = -1) -> bytes:
        if not self._fill():
            return b""
        end = len(self.buf) if n < 0 else min(len(self.buf), self.pos + n)
        piece = self.buf[self.pos:end] if self.pos or end < len(self.buf) else self.buf
        self.pos = end
        return piece

    def read_exactly(self, n: int) -> bytes:
        parts = []
        while n > 0 and (piece := self.read(n)):
            parts.append(piece)
            n -= len(piece)
        return b"".join(parts)

    def read_head(self) -> bytes | None:
        """Bytes up to and including the first blank line (CRLF CRLF), or None if there is none within
        MAX_HEAD bytes; what follows stays unread."""
        head = b""
        while len(head) <= MAX_HEAD:
            piece = self.read(CHUNK)
            if not piece:
                return None
            start = max(0, len(head) - 3)
            head += piece
            at = head.find(b"\r\n\r\n", start)
            if at >= 0:
                self.unread(head[at + 4:])
                return head[: at + 4]
        return None

    def unread(self, data: bytes) -> None:
        if data:
            self.buf, self.pos = data + self.buf[self.pos:], 0


class _Block:
    """The next `length` bytes of a member (a record's block)."""

    def __init__(self, member: _Member, length: int) -> None:
        self.member, self.left = member, length

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        piece = self.member.read(self.left if n < 0 else min(n, self.left))
        if not piece:
            raise _Damage(f"record block ends {self.left} bytes short of its Content-Length")
        self.left -= len(piece)
        return piece


class _Chain:
    """Bytes already read, then the rest of a block: for warccheck's digests of a chunked body."""

    def __init__(self, first: bytes, rest: _Block) -> None:
        self.first, self.rest = first, rest

    def read(self, n: int = -1) -> bytes:
        if self.first:
            piece, self.first = (self.first, b"") if n < 0 else (self.first[:n], self.first[n:])
            return piece
        return self.rest.read(n)


def _fields(head: bytes) -> tuple[str, dict[str, str]]:
    version, *lines = head.decode("utf-8", "replace").split("\r\n")
    fields: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return version, fields


def _check_record(handle: IO[bytes], rec: _Rec) -> list[str]:
    """What is wrong with one record: [] when it is whole and every digest verifies."""
    member = _Member(handle, rec.offset, rec.length)
    head = member.read_head()
    if head is None or not head.startswith(b"WARC/"):
        raise _Damage("no WARC record header at this offset")
    _, fields = _fields(head)
    failures = []
    for header, recorded in (("WARC-Record-ID", rec.record_id), ("WARC-Type", rec.rec_type),
                             ("WARC-Target-URI", rec.uri or None)):
        stated = fields.get(header.lower())
        if recorded is not None and stated != recorded:
            failures.append(f"{header} {stated} != recorded {recorded}")
    try:
        length = int(fields.get("content-length", ""))
    except ValueError:
        raise _Damage(f"bad Content-Length {fields.get('content-length')!r}") from None
    block = _Block(member, length)
    http = fields.get("content-type", "").startswith("application/http")
    computes_payload = http and rec.rec_type != "revisit"  # a revisit holds no payload to digest
    block_label, payload_label = _digest_block(block, computes_payload)
    if member.read_exactly(4) != b"\r\n\r\n":
        failures.append("record does not end with CRLF CRLF after its block")
    elif member.read(1):
        failures.append("gzip member holds more than one record")
    stated_block = fields.get("warc-block-digest")
    if stated_block != block_label:
        failures.append(f"block digest {stated_block} != {block_label}")
    stated_payload = fields.get("warc-payload-digest")
    if payload_label is not None and "warc-payload-digest" in fields and stated_payload != payload_label:
        failures.append(f"payload digest {stated_payload} != {payload_label}")
    # The copy of the payload digest in SQLite: for a revisit, the original's (it holds no payload).
    for recorded, what in ((rec.payload_digest, "recorded"), (rec.original_digest, "original's recorded")):
        if recorded is not None and rec.rec_type in ("response", "revisit") and stated_payload != recorded:
            failures.append(f"payload digest {stated_payload} != {what} {recorded}")
    return failures


def _digest_block(block: _Block, computes_payload: bool) -> tuple[str, str | None]:
    """(block digest, payload digest or None), in one pass over the block."""
    block_sha = hashlib.sha1()
    if not computes_payload:
        while piece := block.read(CHUNK):
            block_sha.update(piece)
        return digest_label(block_sha), None
    head = b""
    while b"\r\n\r\n" not in head and len(head) <= MAX_HEAD and (piece := block.read(CHUNK)):
        head += piece
    if b"\r\n\r\n" not in head and block.left:
        raise _Damage(f"no end of HTTP headers in the first {MAX_HEAD} bytes of the block")
    http_head, sep, body = head.partition(b"\r\n\r\n")
    if CHUNKED.search(http_head + sep):
        try:  # warccheck's definition: the payload digest is over the de-chunked body
            return record_digests(cast(IO[bytes], _Chain(head, block)), True)  # it only calls read()
        except ChunkedDataException as exc:
            raise _Damage(f"chunked framing broken: {exc}") from exc
    payload_sha = hashlib.sha1()
    block_sha.update(head)
    payload_sha.update(body)
    while piece := block.read(CHUNK):
        block_sha.update(piece)
        payload_sha.update(piece)
    return digest_label(block_sha), digest_label(payload_sha)


# -- the audit ---------------------------------------------------------------------------------------


@dataclass
class _File:
    name: str
    state: str
    created_at: str | None
    size: int | None
    sha256: str | None


def _batches(records: list[_Rec]) -> Iterator[list[_Rec]]:
    batch: list[_Rec] = []
    size = 0
    for rec in records:
        batch.append(rec)
        size += rec.length
        if size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class Verifier:
    """One audit of one archive. `on_problem` hears of each problem as it is found (from the calling
    thread), `workers` threads read files."""

    def __init__(self, settings: Settings, *, since: dt.datetime | None = None, quick: bool = False,
                 workers: int | None = None, on_problem: Callable[[Problem], None] | None = None) -> None:
        self.settings = settings
        self.root = settings.storage
        self.since = iso(since) if since is not None else None
        self.since_time = since.timestamp() if since is not None else None
        self.quick = quick
        self.workers = max(1, min(MAX_WORKERS, workers or os.cpu_count() or 1))
        self.on_problem = on_problem
        self.stop = threading.Event()
        self.not_writable: str | None = None

    def run(self) -> Audit:
        path = self.settings.db_path
        if not path.is_file():
            raise StorageError(f"{path}: cannot read database: no such file")
        db, self.not_writable = _open_db(path)
        try:
            return self._run(db)
        finally:
            db.close()

    def _run(self, db: ArchiveDB) -> Audit:
        audit = Audit("quick" if self.quick else "full", self.since, now_iso())
        files = [_File(**row) for row in db.audit_files(self.since)]
        known = db.warc_names()
        if self.not_writable is None:
            try:
                audit.audit_id = db.start_audit(audit.mode, audit.since)
            except StorageError as exc:
                audit.not_recorded = str(exc)
        else:
            audit.not_recorded = self.not_writable
        started = time.perf_counter()
        try:
            for problem in self._unknown_files(known):
                self._found(audit, problem)
            audit.files = len(files)
            self._verify(db, files, audit)
        except BaseException:
            audit.status = "interrupted"
            self._finish(db, audit, started)
            raise
        audit.status = "damaged" if audit.problems else "intact"
        self._finish(db, audit, started)
        return audit

    def _finish(self, db: ArchiveDB, audit: Audit, started: float) -> None:
        audit.seconds = time.perf_counter() - started
        audit.finished_at = now_iso()
        if audit.audit_id is None:
            return
        try:
            db.finish_audit(audit.audit_id, {
                "finished_at": audit.finished_at, "files": audit.files, "records": audit.records,
                "bytes": audit.bytes, "problems": len(audit.problems), "warnings": len(audit.warnings),
                "status": audit.status}, [p.to_dict() for p in audit.found])
        except StorageError as exc:
            audit.not_recorded = str(exc)

    def _found(self, audit: Audit, problem: Problem) -> None:
        audit.found.append(problem)
        if self.on_problem is not None:
            self.on_problem(problem)

    def _unknown_files(self, known: set[str]) -> Iterator[Problem]:
        folder = self.root / "warcs"
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"{folder}: cannot list: {exc.strerror or exc}") from exc
        for entry in entries:
            base = entry.name.removesuffix(OPEN_SUFFIX)
            if not base.endswith((".warc.gz", ".warc")) or f"warcs/{base}" in known:
                continue
            try:
                if self.since_time is not None and entry.stat().st_mtime < self.since_time:
                    continue
            except FileNotFoundError:
                continue  # gone since the listing
            yield Problem(UNKNOWN_FILE, f"warcs/{entry.name}", "not in the database: not verified")

    def _units(self, db: ArchiveDB, files: list[_File], audit: Audit) -> Iterator[Callable[[], _Outcome]]:
        """The work, file by file; the database is read here, in the calling thread only."""
        for f in files:
            final = self.root / f.name
            closed = f.state == "closed" and f.sha256 is not None and f.size is not None
            paths = [final] if closed else [self.root / (f.name + OPEN_SUFFIX), final]
            actual = _size_of(paths)
            if actual is None:
                self._found(audit, Problem(MISSING, f.name, "no such file" if closed else
                                           f"neither {Path(f.name).name}{OPEN_SUFFIX} nor the closed file exists"))
                continue
            hashing = False
            if closed:
                assert f.size is not None and f.sha256 is not None
                if actual < f.size:
                    self._found(audit, Problem(TRUNCATED, f.name, f"{actual} bytes, recorded {f.size}"
                                               f" ({f.size - actual} bytes missing)"))
                elif actual > f.size:
                    self._found(audit, Problem(ALTERED, f.name, f"{actual} bytes, recorded {f.size}"))
                else:
                    hashing = True
                    yield _bind(_hash_file, f.name, paths, f.size, f.sha256, self.stop)
            if self.quick:
                if not closed and actual < (end := db.committed_end(f.name)):
                    self._found(audit, Problem(TRUNCATED, f.name, f"{actual} bytes, but its committed records"
                                               f" end at {end}"))
                continue
            records = [_Rec(*row) for row in db.audit_records(f.name)]
            for batch in _batches(records):
                yield _bind(_check_records, f.name, paths, batch, self.stop, not hashing)

    def _verify(self, db: ArchiveDB, files: list[_File], audit: Audit) -> None:
        def collect(done: set[Future[_Outcome]]) -> None:
            for future in done:
                outcome = future.result()
                audit.records += outcome.records
                audit.bytes += outcome.bytes
                for problem in outcome.problems:
                    self._found(audit, problem)

        pending: set[Future[_Outcome]] = set()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="verify") as pool:
            try:
                for unit in self._units(db, files, audit):
                    # A bounded queue: the records of a huge archive are never all in memory at once.
                    while len(pending) >= 2 * self.workers:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        collect(done)
                    pending.add(pool.submit(unit))
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    collect(done)
            except BaseException:
                self.stop.set()
                for future in pending:
                    future.cancel()
                raise


def _size_of(paths: list[Path]) -> int | None:
    for path in paths:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StorageError(f"{path}: cannot stat: {exc.strerror or exc}") from exc
    return None


def _bind(func: Callable[..., _Outcome], *args: Any) -> Callable[[], _Outcome]:
    return lambda: func(*args)


def _open_db(path: Path) -> tuple[ArchiveDB, str | None]:
    """The database, and why an audit cannot be recorded in it (None: it can). A database this process
    cannot write (read-only file or mount, an evidence copy) is still read: fixity is checked anyway."""
    try:
        return ArchiveDB.open(path), None
    except StorageError as first:
        try:
            return ArchiveDB.open(path, readonly=True), str(first)
        except StorageError:
            raise first from None


def verify(settings: Settings, *, since: dt.datetime | None = None, quick: bool = False, workers: int | None = None,
           on_problem: Callable[[Problem], None] | None = None) -> Audit:
    """Audit every WARC file the database knows (created on/after `since`); record it when possible."""
    return Verifier(settings, since=since, quick=quick, workers=workers, on_problem=on_problem).run()
