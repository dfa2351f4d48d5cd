"""The archive as a whole: database plus WARC store, opened together, recovered after crashes."""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from . import stamps
from .config import Settings
from .db import ArchiveDB
from .errors import ArchiverError, InvalidURL, NotArchived, StorageError
from .evidence.timestamps import evidence
from .storage import WarcStore
from .urls import normalize_url
from .warc import RecordBuilder

# Why Archive.choose picked a capture.
NEWEST_GOOD, NEWEST, NEAREST, NO_GOOD = "newest good", "newest", "nearest", "no good"


@dataclass(frozen=True)
class Chosen:
    """The capture chosen for a reader, the rule that chose it, and the newer captures with a payload
    it passed over (not good: an error page, a cut-off body), newest first."""

    capture: dict[str, Any]
    rule: str
    passed: list[dict[str, Any]] = field(default_factory=list)


class Archive:
    """Open with `writing=True` to add captures: that creates the storage folders and recovers WARC
    files a crashed run left open. Readers (history, show, export, replay, status) open the database
    read-only: they change nothing on disk, and an older database is read as it is, not migrated."""

    def __init__(self, settings: Settings, *, writing: bool = True) -> None:
        self.settings = settings
        if not writing and not settings.db_path.exists():
            raise NotArchived(f"nothing archived yet: no database at {settings.db_path}")
        remote = None  # the WARC store (warcstore.py): connected before anything is written
        if settings.warc_store:
            from .warcstore import connect

            remote = connect(settings.warc_store, settings.storage, settings.warc_cache)
        self.db = ArchiveDB.open(settings.db_path, readonly=not writing)
        self.recovered: list[str] = []
        self._closed: dict[str, tuple[int, str]] | None = None
        try:
            self.store = WarcStore(settings.storage, self.db, max_size=settings.warc_max_size,
                                   user_agent=settings.user_agent,
                                   builder=RecordBuilder(gzip_level=settings.gzip_level), create=writing)
            self.store.remote = remote
            self.notices: list[str] = []  # said once, after the run (a TSA that did not answer)
            if writing:
                evidence(settings, self.store, self.notices.append)
                self.recovered = self.store.recover()
                if self.store.remote is not None:
                    self.store.remote.push_pending(self.store.dir, self._closed_row)
        except ArchiverError:
            self.db.close()
            raise

    def _closed_row(self, name: str) -> tuple[int, str] | None:
        """A closed WARC file's recorded (size, sha256); None when the database holds it open or not at all
        (asked only for files left in warcs/ after their upload failed: the rows are read once)."""
        if self._closed is None:
            self._closed = {f["name"]: (int(f["size"]), str(f["sha256"])) for f in self.db.audit_files(None)
                            if f["state"] == "closed" and f["size"] is not None and f["sha256"] is not None}
        return self._closed.get(name)

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self.db.reraise(exc)  # SQLite's errors met in the block leave as the archiver's (exit 4)
        finally:
            self.close()

    def close(self) -> None:
        try:
            self.store.close()
        finally:
            self.db.close()

    # -- reading back ---------------------------------------------------------------------------

    def history(self, url: str) -> list[dict[str, Any]]:
        try:
            fetch_url: str | None = normalize_url(url)
        except InvalidURL:
            fetch_url = None
        return self.db.captures_of(url.strip(), fetch_url)

    def choose(self, url: str, *, at: dt.datetime | None = None, latest: bool = False) -> Chosen | None:
        """The capture of ours a reader of `url` is given (None: none holds a payload). By default the newest
        good one (a whole 2xx payload: the report's capture), not a newer 404 or cut-off body; with
        `latest` the newest whatever it is; with `at` the one nearest that time whatever it is."""
        # A memento imported from another archive is that archive's copy, never the one shown as ours.
        rows = [r for r in self.history(url) if r["record_type"] in ("response", "revisit") and r["ours"]]
        return pick(rows, at, latest) if rows else None

    def payload_record(self, capture: dict[str, Any]) -> dict[str, Any]:
        """The capture row whose WARC record holds the payload (a revisit's original)."""
        if capture["record_type"] == "revisit" and capture["refers_to"]:
            original = self.db.capture(capture["refers_to"])
            if original is None:
                raise StorageError(f"capture {capture['id']} refers to missing capture {capture['refers_to']}")
            return original
        return capture

    def open_payload(self, capture: dict[str, Any]) -> Iterator[bytes]:
        """The archived payload, de-chunked and decoded from its Content-Encoding, streamed."""
        from warcio.archiveiterator import ArchiveIterator  # a reader's import: snapshot only writes
        from warcio.exceptions import ArchiveLoadFailed

        source = self.payload_record(capture)
        path = self.store.path_of(source["warc"], f"capture {source['id']}")
        try:
            handle = self.store.open_read(source["warc"], f"capture {source['id']}")
        except OSError as exc:
            raise StorageError(f"{path}: cannot open WARC: {exc.strerror or exc}") from exc
        with handle:
            handle.seek(source["warc_offset"])
            try:
                record = next(iter(ArchiveIterator(handle)))
                stream = record.content_stream()
                while chunk := stream.read(64 * 1024):
                    yield chunk
            except (ArchiveLoadFailed, StopIteration, zlib.error, EOFError, OSError) as exc:
                raise StorageError(f"{path} at offset {source['warc_offset']}: unreadable record: {exc}") from exc


def pick(rows: list[dict[str, Any]], at: dt.datetime | None, latest: bool) -> Chosen:
    """The choice rule of `Archive.choose` over capture rows (newest first, at least one): nearest `at`,
    the newest with `latest`, else the newest good one."""
    if at is not None:
        target = at.astimezone(dt.UTC)
        return Chosen(min(rows, key=lambda r: abs((stamps.parse(r["captured_at"]) - target).total_seconds())),
                      NEAREST)
    if latest:
        return Chosen(rows[0], NEWEST)
    for i, row in enumerate(rows):
        if row["good"]:
            return Chosen(row, NEWEST_GOOD, rows[:i])
    return Chosen(rows[0], NO_GOOD)
