"""SpillList: a list whose items past the first few live in a temporary SQLite file (a manifest of a
million citations is not held in memory), read back whole and in order."""

from __future__ import annotations

import datetime as dt
import pickle
import subprocess
import sys
import tracemalloc

import pytest

from archiver.manifests import NO_EXTRA, Citation
from archiver.spill import SpillList


@pytest.mark.parametrize("of", [None, Citation], ids=["pickled", "by-fields"])
def test_items_on_disk_come_back_whole_and_in_order(of: type[Citation] | None) -> None:
    citations = [Citation(f"https://example.org/{i}", i + 1, f"c{i}" if i % 2 else None, "Cited as",
                          None, dt.date(2020, 1, 1 + i % 28), {"doi": f"10.1/{i}"} if i % 3 else NO_EXTRA)
                 for i in range(2_500)]
    kept = SpillList(citations[:10], keep=7, of=of)
    kept.extend(citations[10:])
    assert len(kept) == 2_500 and kept == citations and list(kept) == citations
    assert kept[0] == citations[0] and kept[8] == citations[8] and kept[-1] == citations[-1]
    assert kept[1_234].extra == {"doi": "10.1/1234"} and kept[1_233].extra is NO_EXTRA
    assert kept[5:9] == citations[5:9]
    with pytest.raises(IndexError):
        kept[2_500]
    assert [c.fetch_url for c in kept] == [f"https://example.org/{i}" for i in range(2_500)]


def test_appending_after_reading_keeps_the_order() -> None:
    items = SpillList(range(3), keep=2)
    assert list(items) == [0, 1, 2]
    items.extend(range(3, 2_100))
    assert list(items) == list(range(2_100)) and items[2_099] == 2_099 and 2_050 in items


def test_memory_does_not_grow_with_the_items() -> None:
    tracemalloc.start()
    try:
        items = SpillList[str](keep=100)
        before = tracemalloc.get_traced_memory()[0]
        items.extend(f"https://example.org/{i}/" + "x" * 200 for i in range(50_000))  # ~12 MB as a list
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 1_000_000, held
    assert len(items) == 50_000 and sum(1 for _ in items) == 50_000


def test_a_copy_in_another_process_is_a_plain_list() -> None:
    items = SpillList(range(1_500), keep=10)
    copy = pickle.loads(pickle.dumps(items))
    assert type(copy) is list and copy == list(range(1_500))


SPILL_FULL = """
import resource, signal
from archiver.errors import StorageError
from archiver.spill import SpillList
items = SpillList(keep=10)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
try:
    items.extend("x" * 500 for _ in range(20_000))
except StorageError as exc:
    print("StorageError:", exc)
"""


def test_a_full_temporary_folder_is_a_storage_error() -> None:
    proc = subprocess.run([sys.executable, "-c", SPILL_FULL], capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("StorageError: a list kept on disk (in SQLITE_TMPDIR"), proc.stdout + proc.stderr
