"""The archive as a whole: database plus WARC store, opened together, recovered after crashes."""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from .config import Settings
from .db import ArchiveDB
from .errors import ArchiverError, InvalidURL, NotArchived, StorageError
from .storage import WarcStore
from .urls import normalize_url
from .warc import RecordBuilder


class Archive:
    """Open with `writing=True` to add captures: that creates the storage folders and recovers WARC
    files a crashed run left open. Readers (history, show, export, replay, status) open the database
    read-only: they change nothing on disk, and an older database is read as it is, not migrated."""

    def __init__(self, settings: Settings, *, writing: bool = True) -> None:
        self.settings = settings
        if not writing and not settings.db_path.exists():
            raise NotArchived(f"nothing archived yet: no database at {settings.db_path}")
        self.db = ArchiveDB.open(settings.db_path, readonly=not writing)
        self.recovered: list[str] = []
        try:
            self.store = WarcStore(settings.storage, self.db, max_size=settings.warc_max_size,
                                   user_agent=settings.user_agent,
                                   builder=RecordBuilder(gzip_level=settings.gzip_level), create=writing)
            if writing:
                self.recovered = self.store.recover()
        except ArchiverError:
            self.db.close()
            raise

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

    def capture_at(self, url: str, at: dt.datetime | None) -> dict[str, Any] | None:
        """The capture with a payload nearest `at` (the newest when `at` is None)."""
        rows = [r for r in self.history(url) if r["record_type"] in ("response", "revisit")]
        if not rows:
            return None
        if at is None:
            return rows[0]
        target = at.astimezone(dt.UTC)
        return min(rows, key=lambda r: abs((_parse_time(r["captured_at"]) - target).total_seconds()))

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
        source = self.payload_record(capture)
        path = self.store.path_of(source["warc"])
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise StorageError(f"{path}: cannot open WARC: {exc.strerror}") from exc
        with handle:
            handle.seek(source["warc_offset"])
            try:
                record = next(iter(ArchiveIterator(handle)))
                stream = record.content_stream()
                while chunk := stream.read(64 * 1024):
                    yield chunk
            except (ArchiveLoadFailed, StopIteration, zlib.error, EOFError, OSError) as exc:
                raise StorageError(f"{path} at offset {source['warc_offset']}: unreadable record: {exc}") from exc


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))

