"""A browser capture's own records read back from its WARC file: the screenshot (`urn:screenshot:`) and
the DOM after scripts ran (`urn:dom:`), located by their `records` rows. What `check` compares a new
rendering with, what `show --screenshot` writes out and what the HTML report shows beside a page."""

from __future__ import annotations

from typing import Any

from .errors import RecordDamaged, StorageError
from .storage import WarcStore
from .warc.reader import BlockStream, StoredRecord


def read_resource(store: WarcStore, row: dict[str, Any], limit: int | None = None) -> bytes:
    """The block of the `resource` record `row` locates (warc, offset, length, uri), whole or its
    first `limit` bytes. A file gone or a record damaged is a StorageError naming both."""
    path = store.path_of(row["warc"], f"record {row['uri']}")
    where = f"{path} at offset {row['offset']}"
    try:
        with store.open_read(row["warc"], f"record {row['uri']}") as handle:
            record = StoredRecord(handle, row["offset"], row["length"])
            try:
                size = int(record.field("content-length") or "")
            except ValueError:
                raise RecordDamaged(f"bad Content-Length {record.field('content-length')!r}") from None
            block = BlockStream(record.member, size if limit is None else min(size, limit))
            out = bytearray()
            while piece := block.read(1024 * 1024):
                out += piece
            return bytes(out)
    except OSError as exc:
        raise StorageError(f"{where}: cannot read {row['uri']}: {exc.strerror or exc}") from exc
    except RecordDamaged as exc:
        raise StorageError(f"{where}: unreadable record {row['uri']}: {exc.message}") from exc


__all__ = ["read_resource"]
