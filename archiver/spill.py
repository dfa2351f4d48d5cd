"""Lists a run may not hold in memory: a law library's manifest has a million citations. A
`SpillList` keeps its first items as a list and the rest, pickled, in a private temporary SQLite
database (`scratch_database`: a file SQLite removes itself, even after a kill, whose pages beyond a
small cache go to disk). Small manifests never touch the disk; past the first 5,000, a citation costs
~6 µs to keep and ~4-8 µs to read back (measured on 100,000)."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import pickle
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar, overload

from .errors import StorageError

T = TypeVar("T")

KEEP = 5_000  # items held in memory before the rest go to disk (a citation is ~230 bytes)
_CHUNK = 1_000  # items written, and read back, at a time


def scratch_database() -> sqlite3.Connection:
    """A private temporary SQLite database in autocommit mode, for one thread at a time."""
    db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
    return db


@contextlib.contextmanager
def transaction(db: sqlite3.Connection, what: str) -> Iterator[None]:
    """BEGIN ... COMMIT around many statements of a scratch database: one commit per batch, not per
    row. Its folder full or unwritable is a StorageError naming `what`."""
    try:
        db.execute("BEGIN")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        raise StorageError(f"{what} (in SQLITE_TMPDIR, TMPDIR or /var/tmp): {exc}") from exc


class SpillList(Sequence[T]):
    """An append-only list whose items past the first `keep` live on disk. Read it by iterating (a
    chunk at a time); indexing an item on disk reads that one row. `of`: the dataclass every item is,
    stored as the tuple of its fields (pickling a slotted dataclass whole costs 19 µs, its fields 2)."""

    def __init__(self, items: Iterable[T] = (), keep: int = KEEP, of: type[T] | None = None) -> None:
        self._head: list[T] = []
        self._keep = keep
        self._of = of
        self._fields = tuple(f.name for f in dataclasses.fields(of)) if of is not None else ()  # type: ignore[arg-type]
        self._pending: list[bytes] = []
        self._stored = 0
        self._db: sqlite3.Connection | None = None
        self.extend(items)

    def append(self, item: T) -> None:
        if len(self._head) < self._keep:
            self._head.append(item)
            return
        value: Any = tuple(getattr(item, name) for name in self._fields) if self._of is not None else item
        self._pending.append(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        if len(self._pending) >= _CHUNK:
            self._flush()

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.append(item)

    def _flush(self) -> None:
        if not self._pending:
            return
        if self._db is None:
            self._db = scratch_database()
            self._db.execute("CREATE TABLE items (seq INTEGER PRIMARY KEY, item BLOB NOT NULL)")
        with transaction(self._db, "a list kept on disk"):
            self._db.executemany("INSERT INTO items (seq, item) VALUES (?, ?)",
                                 zip(itertools.count(self._stored), self._pending))
        self._stored += len(self._pending)
        self._pending = []

    def __len__(self) -> int:
        return len(self._head) + self._stored + len(self._pending)

    def __iter__(self) -> Iterator[T]:
        yield from self._head
        self._flush()
        for start in range(0, self._stored, _CHUNK):  # a chunk per query: appends may follow a read
            assert self._db is not None
            rows = self._db.execute("SELECT item FROM items WHERE seq >= ? AND seq < ? ORDER BY seq",
                                    [start, start + _CHUNK]).fetchall()
            for (blob,) in rows:
                yield self._load(blob)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("SpillList index out of range")
        if index < len(self._head):
            return self._head[index]
        self._flush()
        assert self._db is not None
        (blob,) = self._db.execute("SELECT item FROM items WHERE seq = ?", [index - len(self._head)]).fetchone()
        return self._load(blob)

    def _load(self, blob: bytes) -> T:
        value = pickle.loads(blob)
        return self._of(*value) if self._of is not None else value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, SpillList)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SpillList({len(self)} items, {self._stored + len(self._pending)} on disk)"

    def __reduce__(self) -> tuple[Any, ...]:
        return list, (list(self),)  # a copy elsewhere (another process) is a plain list

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._head, self._pending, self._stored = [], [], 0
