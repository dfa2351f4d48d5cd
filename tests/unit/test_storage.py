"""archiver.storage.WarcStore on real files and a real SQLite database: appending whole captures,
rotating by size, closing with a recorded sha256, and recovering `.open` files a crash left behind."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import random
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from archiver.db import ArchiveDB
from archiver.errors import StorageError
from archiver.fetch.results import FetchResult, Hop
from archiver.storage import OPEN_SUFFIX, WarcStore, record_rows
from archiver.warc import RecordBuilder

WHEN = dt.datetime(2026, 12, 5, 3, 50, 13, 123456, tzinfo=dt.UTC)


def hop(url: str, body: bytes) -> Hop:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    response = head + body
    return Hop(url=url, started_at=WHEN, request=f"GET {url} HTTP/1.1\r\nHost: t\r\n\r\n".encode(),
               response=io.BytesIO(response), response_length=len(response), header_length=len(head), status=200,
               reason="OK", headers=[("Content-Type", "text/plain")], ip="127.0.0.1",
               block_sha1=hashlib.sha1(response).hexdigest(), payload_sha1=hashlib.sha1(body).hexdigest(),
               payload_sha256=hashlib.sha256(body).hexdigest(), payload_size=len(body))


class Archive:
    """A storage folder, its database and a store, as snapshot uses them."""

    def __init__(self, root: Path, max_size: int = 10**9) -> None:
        self.root = root
        self.db = ArchiveDB.open(root / "archiver.db")
        self.store = WarcStore(root, self.db, max_size=max_size, user_agent="test", now=lambda: WHEN)
        self.builder = RecordBuilder()
        self.rng = random.Random(1)

    def spool(self, n: int, size: int) -> tuple[Any, list[Any]]:
        """Capture n as a spool of records (incompressible: its size is about `size`)."""
        url = f"http://t.test/{n}"
        result = FetchResult(url=url, started_at=WHEN, hops=[hop(url, self.rng.randbytes(size))])
        spool = tempfile.TemporaryFile(dir=self.store.spool_dir)
        return spool, self.builder.capture(spool, result, None)

    def add(self, n: int, size: int = 2000, commit: bool = True) -> list[dict[str, Any]]:
        spool, records = self.spool(n, size)
        with spool:
            warc, base = self.store.append(spool, spool.tell())
        rows = record_rows(warc, records, base)
        if commit:
            self.db.add_records(rows)
        return rows

    def abandon(self) -> None:
        """What a killed process leaves: the file still `.open`, its lock gone with the descriptor."""
        assert self.store.current is not None
        self.store.current.handle.close()
        self.store.current = None
        self.db.close()


def warc_files(root: Path) -> dict[str, dict[str, Any]]:
    conn = sqlite3.connect(root / "archiver.db")
    conn.row_factory = sqlite3.Row
    try:
        return {r["name"]: dict(r) for r in conn.execute("SELECT * FROM warc_files")}
    finally:
        conn.close()


def record_rows_of(root: Path, name: str) -> list[tuple[int, int, str]]:
    conn = sqlite3.connect(root / "archiver.db")
    try:
        return conn.execute('SELECT "offset", length, record_id FROM records WHERE warc = ? ORDER BY 1',
                            [name]).fetchall()
    finally:
        conn.close()


def read_back(path: Path) -> list[tuple[int, int, str]]:
    """(offset, length, record id) of every record, as warcio reads the file."""
    out = []
    with open(path, "rb") as f:
        records = ArchiveIterator(f)
        for record in records:
            record.content_stream().read()
            out.append((records.get_record_offset(), records.get_record_length(),
                        record.rec_headers.get_header("WARC-Record-ID")))
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def archive(tmp_path: Path) -> Iterator[Archive]:
    a = Archive(tmp_path / "storage")
    yield a
    a.db.close()


def test_appended_captures_are_whole_records_where_the_rows_say(archive: Archive) -> None:
    rows = archive.add(1) + archive.add(2)
    current = archive.store.current
    assert current is not None and current.path.name.endswith(".warc.gz" + OPEN_SUFFIX)
    name = current.name
    assert {r["warc"] for r in rows} == {name}
    assert read_back(current.path) == record_rows_of(archive.root, name)  # warcinfo first, then 2 x 2 records
    assert len(read_back(current.path)) == 5
    archive.store.close()
    final = archive.root / name
    assert final.is_file() and not current.path.exists()
    row = warc_files(archive.root)[name]
    assert (row["state"], row["size"], row["sha256"]) == ("closed", final.stat().st_size, sha256(final))
    assert name == "warcs/" + final.name and final.name.startswith("archiver-20261205035013123456-")


def test_rotates_before_a_capture_would_pass_max_size(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "storage", max_size=25_000)
    names = [archive.add(n, size=7000)[0]["warc"] for n in range(7)]
    archive.store.close()
    files = warc_files(archive.root)
    assert len(files) == len(set(names)) >= 3
    assert names == sorted(names)  # a file is never reopened
    for name, row in files.items():
        path = archive.root / name
        assert row["state"] == "closed" and row["size"] == path.stat().st_size <= 25_000
        assert row["sha256"] == sha256(path)
        records = read_back(path)
        assert records == record_rows_of(archive.root, name)
        assert len(records) >= 3  # its own warcinfo and at least one whole capture
    archive.db.close()


def test_recovery_cuts_an_open_file_back_to_its_last_committed_record(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    crashed = Archive(root)
    committed = crashed.add(1) + crashed.add(2)
    uncommitted = crashed.add(3, size=50_000, commit=False)  # the crash came before its rows
    assert crashed.store.current is not None
    path, name = crashed.store.current.path, crashed.store.current.name
    end = committed[-1]["offset"] + committed[-1]["length"]
    cut = uncommitted[0]["offset"] + uncommitted[0]["length"] // 2
    os.truncate(path, cut)  # and the file ends inside that capture's response record
    crashed.abandon()

    after = Archive(root)
    assert after.store.recover() == [name]
    final = root / name
    assert not path.exists() and final.stat().st_size == end
    row = warc_files(root)[name]
    assert (row["state"], row["size"], row["sha256"]) == ("closed", end, sha256(final))
    assert read_back(final) == record_rows_of(root, name)
    assert after.store.recover() == []  # nothing left to do
    after.db.close()


def test_recovery_leaves_a_file_a_live_writer_holds(archive: Archive) -> None:
    archive.add(1)
    current = archive.store.current
    assert current is not None
    size = current.path.stat().st_size
    other = Archive(archive.root)  # another process's view: same folder and database
    assert other.store.recover() == []
    assert current.path.stat().st_size == size and warc_files(archive.root)[current.name]["state"] == "open"
    other.db.close()
    archive.store.close()


def test_recovery_forgets_a_file_whose_warcinfo_was_never_committed(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    archive = Archive(root)
    name = "warcs/archiver-crashed.warc.gz"
    archive.db.open_warc(name)  # the row is written before the file exists
    (root / (name + OPEN_SUFFIX)).write_bytes(b"\x1f\x8b\x08")  # and the crash came mid-warcinfo
    assert archive.store.recover() == []
    assert not (root / (name + OPEN_SUFFIX)).exists() and name not in warc_files(root)
    archive.db.close()


def test_recovery_closes_a_file_renamed_before_the_database_heard(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    crashed = Archive(root)
    crashed.add(1)
    assert crashed.store.current is not None
    path, name = crashed.store.current.path, crashed.store.current.name
    os.replace(path, root / name)  # close() got as far as the rename
    crashed.abandon()
    after = Archive(root)
    assert after.store.recover() == [name]
    row = warc_files(root)[name]
    assert (row["state"], row["size"], row["sha256"]) == ("closed", (root / name).stat().st_size,
                                                          sha256(root / name))
    after.db.close()


def test_recovery_cuts_a_renamed_file_back_to_its_last_committed_record(tmp_path: Path) -> None:
    """A run whose last commit failed, then crashed while closing (renamed, the database not told):
    recovery must not accept the records the database never committed."""
    root = tmp_path / "storage"
    crashed = Archive(root)
    committed = crashed.add(1) + crashed.add(2)
    crashed.add(3, commit=False)  # appended, its rows never committed
    assert crashed.store.current is not None
    path, name = crashed.store.current.path, crashed.store.current.name
    os.replace(path, root / name)
    crashed.abandon()
    end = committed[-1]["offset"] + committed[-1]["length"]
    assert (root / name).stat().st_size > end

    after = Archive(root)
    assert after.store.recover() == [name]
    assert (root / name).stat().st_size == end
    assert read_back(root / name) == record_rows_of(root, name)
    row = warc_files(root)[name]
    assert (row["state"], row["size"], row["sha256"]) == ("closed", end, sha256(root / name))
    after.db.close()


def test_close_cuts_the_records_of_a_group_whose_rows_did_not_commit(archive: Archive) -> None:
    """close() keeps only what the database points at: the file a failed commit leaves behind is
    renamed without the failed group's records, its sha256 that of what is kept."""
    kept = archive.add(1)
    archive.add(2, commit=False)
    assert archive.store.current is not None
    name = archive.store.current.name
    archive.store.close()
    end = kept[-1]["offset"] + kept[-1]["length"]
    final = archive.root / name
    assert final.stat().st_size == end
    assert read_back(final) == record_rows_of(archive.root, name)
    row = warc_files(archive.root)[name]
    assert (row["size"], row["sha256"]) == (end, sha256(final))


def test_recovery_keeps_every_committed_group_of_a_file_many_runs_appended(tmp_path: Path) -> None:
    """The daemon appends many runs to one file, each committing in groups: the database's records of
    a file describe a prefix of it, so the valid length is where its last committed record ends."""
    root = tmp_path / "storage"
    crashed = Archive(root)
    kept: list[dict[str, Any]] = []
    for n in range(6):  # six groups, as six batches of one or more runs
        kept += crashed.add(n, size=500 + 300 * n)
    crashed.add(99, commit=False)
    assert crashed.store.current is not None
    name = crashed.store.current.name
    crashed.abandon()
    after = Archive(root)
    assert after.store.recover() == [name]
    assert read_back(root / name) == record_rows_of(root, name)
    assert len(read_back(root / name)) == 1 + 2 * 6  # warcinfo, then request + response per capture
    after.db.close()


@pytest.mark.parametrize("name", ["../outside.warc.gz", "warcs/../../outside.warc.gz", "/ABS/outside.warc.gz",
                                  "warcs/link/outside.warc.gz"])
def test_recovery_refuses_a_warc_name_outside_the_storage_folder(tmp_path: Path, name: str) -> None:
    """A tampered database names a file elsewhere: recovery neither cuts nor renames it."""
    root = tmp_path / "storage"
    archive = Archive(root)
    (root / "warcs" / "link").symlink_to(tmp_path, target_is_directory=True)
    name = name.replace("/ABS", str(tmp_path))
    victim = tmp_path / ("outside.warc.gz" + OPEN_SUFFIX)
    victim.write_bytes(b"not yours" * 100)
    archive.db.open_warc(name)
    with pytest.raises(StorageError, match=r"warc_files row names WARC file .*outside the storage folder"):
        archive.store.recover()
    assert victim.read_bytes() == b"not yours" * 100
    assert not (tmp_path / "outside.warc.gz").exists()
    with pytest.raises(StorageError, match="capture 7 names WARC file .*outside the storage folder"):
        archive.store.path_of(name, "capture 7")
    archive.db.close()


def test_warcs_may_be_a_link_to_another_disk(tmp_path: Path) -> None:
    """The confinement is on resolved paths: `warcs/` itself may live elsewhere."""
    root = tmp_path / "storage"
    (tmp_path / "big-disk").mkdir()
    root.mkdir()
    (root / "warcs").symlink_to(tmp_path / "big-disk", target_is_directory=True)
    archive = Archive(root)
    rows = archive.add(1)
    archive.store.close()
    name = rows[0]["warc"]
    assert archive.store.path_of(name) == root / name
    assert read_back(archive.store.path_of(name)) == record_rows_of(root, name)
    archive.db.close()


def test_a_capture_larger_than_a_file_goes_alone_into_a_fresh_one(tmp_path: Path) -> None:
    """A fresh file (its warcinfo only) is never closed for a big capture: no empty files."""
    archive = Archive(tmp_path / "storage", max_size=5_000)
    names = [archive.add(n, size=9_000)[0]["warc"] for n in range(3)]
    archive.store.close()
    assert len(set(names)) == 3
    assert set(warc_files(archive.root)) == set(names)
    archive.db.close()
