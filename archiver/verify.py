"""Fixity: re-read every WARC file the database knows and prove that it still holds what was written.

Two independent proofs, each a unit of work for a small thread pool (hashlib and zlib release the GIL):
- whole file: a closed file's size and sha256 against the values recorded when it was closed. Any
  byte changed anywhere (a gzip header field included) is found here; `--quick` does only this.
- records: every record the database lists is read at its offset for its length, must be exactly one
  whole gzip member holding one WARC record with the recorded id, type and URI, and its block and
  payload digests are recomputed (archiver/warc reads and digests it). This names *which* capture is
  damaged, works on `.open` files (up to their last committed record) and on files whose sha256 no
  longer matches, and checks the WARC's stated payload digest against the copy in SQLite, which a
  forger rewriting a record would also have to change.
And the database that lists them: SQLite's own check of the file (PRAGMA quick_check; integrity_check,
which also matches every index against its table, with `full`), read-only and before anything is
written into it. A damaged database is a problem like a damaged record (database_damaged, naming the
file and the check's first finding); nothing is written into it, and the WARC files are still
verified as far as it can be read.

Everything streams in 1 MiB pieces: no record or file is ever held in memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import stamps
from .config import Settings
from .db import ArchiveDB
from .errors import DatabaseDamaged, RecordDamaged, StorageError
from .evidence.ledger import Ledger, check_chain
from .evidence.timestamps import check_timestamps
from .storage import OPEN_SUFFIX, warc_path
from .warc import StoredRecord
from .warcstore import RemoteWarcs

CHUNK = 1024 * 1024
# Record checks are grouped into units of about this many stored bytes: big enough that a unit's
# overhead (open, seek) is nothing, small enough that one large file keeps every thread busy.
BATCH_BYTES = 64 * CHUNK
MAX_WORKERS = 4

# Problem kinds (the contract: `--json` and the audit_problems table use these words).
MISSING, TRUNCATED, ALTERED, RECORD_DAMAGED, UNREADABLE = "missing", "truncated", "altered", "record_damaged", \
    "unreadable"
DATABASE_DAMAGED = "database_damaged"  # `warc` names the database file
LEDGER, TIMESTAMP = "ledger", "timestamp"  # `warc` names the log entry, mirror line or token (evidence/)
UNKNOWN_FILE = "unknown_file"  # a warning: a file the database does not know is not a fixity failure
WARNINGS = frozenset({UNKNOWN_FILE})


@dataclass(frozen=True)
class AuditProblem:
    """One thing an audit found, as printed and as stored in a row of audit_problems: a problem, or
    a warning (unknown_file)."""

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
    found: list[AuditProblem] = field(default_factory=list)
    audit_id: int | None = None
    not_recorded: str | None = None  # why the audit could not be written to the database
    database: str = ""  # the database file, as problems name it
    db_check: str = "quick_check"  # SQLite's check run over it: quick_check or integrity_check
    db_finding: str | None = None  # its first finding (None: it passed)
    db_seconds: float = 0.0

    @property
    def problems(self) -> list[AuditProblem]:
        return sorted((p for p in self.found if not p.warning), key=_order)

    @property
    def warnings(self) -> list[AuditProblem]:
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
                "database": {"file": self.database, "check": self.db_check,
                             "status": "damaged" if self.db_finding is not None else "ok", "finding": self.db_finding,
                             "seconds": round(self.db_seconds, 3)},
                "problems": [p.to_dict() for p in self.problems], "warnings": [p.to_dict() for p in self.warnings]}


def _order(p: AuditProblem) -> tuple[str, int, str]:
    return p.warc, -1 if p.offset is None else p.offset, p.kind


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
    problems: list[AuditProblem] = field(default_factory=list)
    records: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class _InStore:
    """A closed file's object in the WARC store (warcstore.py): what is verified once it is uploaded."""

    remote: RemoteWarcs
    name: str


Source = Path | _InStore


def _open(paths: list[Source]) -> tuple[Source, IO[bytes]]:
    """The first of `paths` that opens: an `.open` file may be renamed to its final name meanwhile."""
    error: OSError | None = None
    for path in paths:
        try:
            if isinstance(path, _InStore):
                return path, path.remote.open_object(path.name, CHUNK)
            return path, io.FileIO(path, "rb")
        except FileNotFoundError as exc:
            error = exc
    assert error is not None
    raise error


def _hash_file(name: str, paths: list[Source], size: int, sha256: str, stop: threading.Event) -> _Outcome:
    out = _Outcome()
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    try:
        _, handle = _open(paths)
        with handle:
            while n := handle.readinto(buf):  # type: ignore[attr-defined]  # FileIO and fsspec files have it
                digest.update(view[:n])
                out.bytes += n
                if stop.is_set():
                    raise _Stopped
    except OSError as exc:
        out.problems.append(AuditProblem(UNREADABLE, name, f"cannot read: {exc.strerror or exc}"))
        return out
    if out.bytes != size:  # changed under us since the size check: report what was hashed
        out.problems.append(AuditProblem(ALTERED, name, f"{out.bytes} bytes read, recorded {size}"))
    elif digest.hexdigest() != sha256:
        out.problems.append(AuditProblem(ALTERED, name, f"sha256 {digest.hexdigest()} != recorded {sha256}"))
    return out


def _check_records(name: str, paths: list[Source], records: list[_Rec], stop: threading.Event,
                   count_bytes: bool) -> _Outcome:
    out = _Outcome()
    try:
        _, handle = _open(paths)
    except OSError as exc:
        out.problems.append(AuditProblem(UNREADABLE, name, f"cannot read: {exc.strerror or exc}"))
        return out
    with handle:
        for rec in records:
            if stop.is_set():
                raise _Stopped
            try:
                failures = _check_record(handle, rec)
            except RecordDamaged as exc:
                failures = [str(exc)]
            except OSError as exc:
                failures = [f"read error: {exc.strerror or exc}"]
            out.records += 1
            if count_bytes:
                out.bytes += rec.length
            if failures:
                out.problems.append(AuditProblem(RECORD_DAMAGED, name, "; ".join(failures), rec.offset,
                                                 rec.record_id, rec.uri or None))
    return out


def _check_record(handle: IO[bytes], rec: _Rec) -> list[str]:
    """What is wrong with one record: [] when it is whole and every digest verifies."""
    record = StoredRecord(handle, rec.offset, rec.length)
    failures = []
    for header, recorded in (("WARC-Record-ID", rec.record_id), ("WARC-Type", rec.rec_type),
                             ("WARC-Target-URI", rec.uri or None)):
        stated = record.field(header)
        if recorded is not None and stated != recorded:
            failures.append(f"{header} {stated} != recorded {recorded}")
    # The type the database recorded decides: a revisit holds no payload to digest.
    digests = record.digests(payload=record.is_http and rec.rec_type != "revisit")
    failures += record.end_problems()
    stated_block = record.field("WARC-Block-Digest")
    if stated_block != digests.block:
        failures.append(f"block digest {stated_block} != {digests.block}")
    stated_payload = record.field("WARC-Payload-Digest")
    if digests.payload is not None and stated_payload is not None and stated_payload != digests.payload:
        failures.append(f"payload digest {stated_payload} != {digests.payload}")
    # The copy of the payload digest in SQLite: for a revisit, the original's (it holds no payload).
    for recorded, what in ((rec.payload_digest, "recorded"), (rec.original_digest, "original's recorded")):
        if recorded is not None and rec.rec_type in ("response", "revisit") and stated_payload != recorded:
            failures.append(f"payload digest {stated_payload} != {what} {recorded}")
    return failures


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
                 full: bool = False, workers: int | None = None, timestamps: bool = False,
                 on_problem: Callable[[AuditProblem], None] | None = None) -> None:
        self.settings = settings
        self.timestamps = timestamps
        self.full = full
        self.root = settings.storage
        self.since = stamps.iso(since) if since is not None else None
        self.since_time = since.timestamp() if since is not None else None
        self.quick = quick
        self.workers = max(1, min(MAX_WORKERS, workers or os.cpu_count() or 1))
        self.on_problem = on_problem
        self.stop = threading.Event()
        self.not_writable: str | None = None
        self.remote: RemoteWarcs | None = None
        if settings.warc_store:
            from .warcstore import connect

            self.remote = connect(settings.warc_store, settings.storage, settings.warc_cache)

    def run(self) -> Audit:
        path = self.settings.db_path
        if not path.is_file():
            raise StorageError(f"{path}: cannot read database: no such file")
        audit = Audit("quick" if self.quick else "full", self.since, stamps.now_iso(), database=self._name(path),
                      db_check="integrity_check" if self.full else "quick_check")
        reader = self._check_database(path, audit)
        if audit.db_finding is not None:
            # Never written into: a write to a damaged file can spread the damage.
            self.not_writable = "the database is damaged: the audit is not written into it"
            self._found(audit, AuditProblem(DATABASE_DAMAGED, audit.database, audit.db_finding))
            if reader is None:  # not readable at all: no list of WARC files to verify
                audit.status = "damaged"
                audit.not_recorded = self.not_writable
                audit.finished_at = stamps.now_iso()
                return audit
            db = reader
        else:
            assert reader is not None
            reader.close()
            db, self.not_writable = _open_db(path)
        try:
            return self._run(db, audit)
        finally:
            db.close()

    def _check_database(self, path: Path, audit: Audit) -> ArchiveDB | None:
        """SQLite's check of the database, opened read-only; its first finding goes in `audit`. The
        reader is returned open (None: the file cannot be opened at all)."""
        started = time.perf_counter()
        try:
            reader = ArchiveDB.open(path, readonly=True)
        except DatabaseDamaged as exc:
            audit.db_finding = exc.finding
            return None
        try:
            audit.db_finding = reader.integrity(full=self.full)
        except DatabaseDamaged as exc:
            audit.db_finding = exc.finding
        except BaseException:
            reader.close()
            raise
        finally:
            audit.db_seconds = time.perf_counter() - started
        return reader

    def _name(self, path: Path) -> str:
        """The database as problems name it: relative to the storage folder when it is inside it."""
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)

    def _run(self, db: ArchiveDB, audit: Audit) -> Audit:
        started = time.perf_counter()
        try:
            files = [_File(**row) for row in db.audit_files(self.since)]
            known = db.warc_names()
            if self.not_writable is None:
                try:
                    audit.audit_id = db.start_audit(audit.mode, audit.since)
                except StorageError as exc:
                    audit.not_recorded = str(exc)
            else:
                audit.not_recorded = self.not_writable
            for problem in self._unknown_files(known):
                self._found(audit, problem)
            audit.files = len(files)
            self._verify(db, files, audit)
            self._check_evidence(db, audit)
        except DatabaseDamaged as exc:
            # Damage SQLite's check did not see (or saw: reading the list of WARC files failed): a problem
            # like the others, and nothing more is written into the file.
            detail = "reading it stopped the audit: WARC files not all verified"
            if audit.db_finding is None:
                audit.db_finding = exc.finding
                detail += f": {exc.finding}"
            self._found(audit, AuditProblem(DATABASE_DAMAGED, audit.database, detail))
            audit.not_recorded = audit.not_recorded or "the database is damaged: the audit is not written into it"
            audit.audit_id = None
        except BaseException:
            audit.status = "interrupted"
            self._finish(db, audit, started)
            raise
        audit.status = "damaged" if audit.problems else "intact"
        self._finish(db, audit, started)
        return audit

    def _finish(self, db: ArchiveDB, audit: Audit, started: float) -> None:
        audit.seconds = time.perf_counter() - started
        audit.finished_at = stamps.now_iso()
        if audit.audit_id is None:
            return
        row = {"finished_at": audit.finished_at, "files": audit.files, "records": audit.records,
               "bytes": audit.bytes, "problems": len(audit.problems), "warnings": len(audit.warnings),
               "status": audit.status}
        try:
            with db.transaction():  # the audit's row and its ledger entry together
                db.finish_audit(audit.audit_id, row, [p.to_dict() for p in audit.found])
                if self.settings.ledger and db.has_ledger():
                    Ledger(self.root).audit(db, audit.audit_id, {"mode": audit.mode, **row})
        except StorageError as exc:
            audit.not_recorded = str(exc)

    def _check_evidence(self, db: ArchiveDB, audit: Audit) -> None:
        """The tamper-evident log recomputed (and with `timestamps`, every token over it): evidence/."""
        chain = check_chain(db, self.root)
        for link in chain:
            self._found(audit, AuditProblem(LEDGER, link.where, link.detail))
        if self.timestamps:
            for token in check_timestamps(self.settings, db, chain):
                self._found(audit, AuditProblem(TIMESTAMP, token.where, token.detail))

    def _found(self, audit: Audit, problem: AuditProblem) -> None:
        audit.found.append(problem)
        if self.on_problem is not None:
            self.on_problem(problem)

    def _unknown_files(self, known: set[str]) -> Iterator[AuditProblem]:
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
            yield AuditProblem(UNKNOWN_FILE, f"warcs/{entry.name}", "not in the database: not verified")

    def _units(self, db: ArchiveDB, files: list[_File], audit: Audit) -> Iterator[Callable[[], _Outcome]]:
        """The work, file by file; the database is read here, in the calling thread only."""
        for f in files:
            row = f"{db.path}: warc_files row"
            final = warc_path(self.root, f.name, row)  # a name leading out of the storage folder is refused
            closed = f.state == "closed" and f.sha256 is not None and f.size is not None
            paths: list[Source] = [final] if closed else [warc_path(self.root, f.name, row, OPEN_SUFFIX), final]
            if closed and self.remote is not None and not final.exists():  # uploaded: the store's copy
                paths = [_InStore(self.remote, f.name)]
            actual = _size_of(paths)
            if actual is None:
                self._found(audit, AuditProblem(MISSING, f.name, "no such file" if closed else
                                           f"neither {Path(f.name).name}{OPEN_SUFFIX} nor the closed file exists"))
                continue
            hashing = False
            if closed:
                assert f.size is not None and f.sha256 is not None
                if actual < f.size:
                    self._found(audit, AuditProblem(TRUNCATED, f.name, f"{actual} bytes, recorded {f.size}"
                                               f" ({f.size - actual} bytes missing)"))
                elif actual > f.size:
                    self._found(audit, AuditProblem(ALTERED, f.name, f"{actual} bytes, recorded {f.size}"))
                else:
                    hashing = True
                    yield _bind(_hash_file, f.name, paths, f.size, f.sha256, self.stop)
            if self.quick:
                if not closed and actual < (end := db.committed_end(f.name)):
                    self._found(audit, AuditProblem(TRUNCATED, f.name, f"{actual} bytes, but its committed records"
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


def _size_of(paths: list[Source]) -> int | None:
    for path in paths:
        if isinstance(path, _InStore):
            return path.remote.size(path.name)
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


def verify(settings: Settings, *, since: dt.datetime | None = None, quick: bool = False, full: bool = False,
           workers: int | None = None, timestamps: bool = False,
           on_problem: Callable[[AuditProblem], None] | None = None) -> Audit:
    """Check the database (SQLite's quick_check; integrity_check when `full`) and audit every WARC file
    it knows (created on/after `since`), the tamper-evident log (and every timestamp token with
    `timestamps`); record the audit in it when possible."""
    return Verifier(settings, since=since, quick=quick, full=full, workers=workers, timestamps=timestamps,
                    on_problem=on_problem).run()
