"""Closed WARC files kept in an fsspec store (the `warc_store` setting: `s3://bucket/prefix`,
`file:///path`) instead of the storage folder.

Files are written in the storage folder exactly as without a store (append, fsync, rename: the crash
rules of storage.py). Once a file is closed and its row records its size and sha256, `publish` puts
it into the store under the same name (`<store>/warcs/<name>`), reads the object back to check its
size and sha256 against the row (an ETag is no sha256, and not every store computes one), and only
then removes the local copy, or moves it into `<storage>/cache/` when `warc_cache` is on. So a closed
file is always whole in at least one place: a file still in `warcs/` with a closed row is one whose
upload has not been checked yet (a failed upload, a crash), and the next writer puts it (`push_pending`).

Readers (`open_read`) take the local file first (not yet uploaded, or being written), then the cache,
then the store. The database stays in the storage folder: it records names, and the store's URL
(a setting) says where closed files live. Without a store nothing here imports fsspec.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .errors import StorageError, UsageError

CHUNK = 4 * 1024 * 1024
CACHE = "cache"  # <storage>/cache/warcs/<name>: files kept after upload, or fetched for replay


def connect(url: str | None, root: Path, keep: bool = False) -> RemoteWarcs | None:
    """The store named by the `warc_store` setting (None: none, files stay in the storage folder)."""
    return RemoteWarcs(url, root, keep) if url else None


class RemoteWarcs:
    """One fsspec store of closed WARC files; `root` is the storage folder (for the cache)."""

    def __init__(self, url: str, root: Path, keep: bool = False) -> None:
        try:
            import fsspec
        except ImportError:
            raise UsageError(_hint(url)) from None
        self.url = url.rstrip("/")
        self.root = root
        self.keep = keep
        try:
            self.fs, base = fsspec.core.url_to_fs(self.url)
        except ImportError as exc:
            raise UsageError(_hint(url, exc)) from None
        except (ValueError, OSError) as exc:
            raise StorageError(f"warc store {self.url}: {exc}") from exc
        self.base = base.rstrip("/")
        self.local = "file" in _protocols(self.fs)

    def where(self, name: str) -> str:
        return f"{self.url}/{name}"

    def _key(self, name: str) -> str:
        return f"{self.base}/{name}"

    def cached(self, name: str) -> Path:
        return self.root / CACHE / name

    # -- writing ----------------------------------------------------------------------------------

    def publish(self, local: Path, name: str, size: int, sha256: str) -> None:
        """Put the closed file `local` into the store as `name`, check the object's size and sha256,
        then remove (or cache) the local copy. Any failure leaves the local file where it is."""
        key = self._key(name)
        try:
            if self.local:
                self.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(local), key)
            got_size, got_sha = self._digest(name)
        except Exception as exc:  # noqa: BLE001  # fsspec backends raise their own kinds
            raise StorageError(f"{self.where(name)}: cannot upload WARC ({_reason(exc)}); the closed file"
                               f" stays in {local.parent} and is uploaded by the next run") from exc
        if (got_size, got_sha) != (size, sha256):
            raise StorageError(f"{self.where(name)}: the uploaded object is {got_size} bytes, sha256 {got_sha};"
                               f" recorded {size} bytes, sha256 {sha256}: the local file is kept")
        try:
            if self.keep:
                cached = self.cached(name)
                cached.parent.mkdir(parents=True, exist_ok=True)
                os.replace(local, cached)
            else:
                local.unlink()
        except OSError as exc:
            raise StorageError(f"{local}: uploaded, but cannot remove the local copy: {exc.strerror}") from exc

    def _digest(self, name: str) -> tuple[int, str]:
        digest = hashlib.sha256()
        size = 0
        with self.fs.open(self._key(name), "rb", block_size=CHUNK, cache_type="none") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return size, digest.hexdigest()

    def push_pending(self, folder: Path, closed: Callable[[str], tuple[int, str] | None]) -> list[str]:
        """Put the closed files still in `folder` (the storage's warcs/) whose rows `closed` gives
        (size, sha256): uploads that failed or that a crash cut short. Files the database does not
        know, or knows as open, are left alone."""
        pushed = []
        for entry in sorted(os.scandir(folder), key=lambda e: e.name) if folder.is_dir() else []:
            name = f"warcs/{entry.name}"
            if entry.name.endswith(".warc.gz") and (row := closed(name)) is not None:
                self.publish(Path(entry.path), name, *row)
                pushed.append(name)
        return pushed

    def sweep(self, prefix: str, keep: Callable[[str], bool]) -> list[str]:
        """Remove the objects `warcs/<prefix>*` that `keep` does not keep (cluster tasks' files
        whose results were never recorded)."""
        removed = []
        try:
            listed = self.fs.glob(self._key(f"warcs/{prefix}*"))
        except FileNotFoundError:
            return []
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"{self.url}: cannot list WARC files ({_reason(exc)})") from exc
        for key in sorted(listed):
            name = "warcs/" + str(key).rsplit("/", 1)[-1]
            if not keep(name):
                self.fs.rm_file(self._key(name))
                removed.append(name)
        return removed

    # -- reading ----------------------------------------------------------------------------------

    def size(self, name: str) -> int | None:
        """The object's size; None when there is no such object."""
        try:
            return int(self.fs.info(self._key(name))["size"])
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"{self.where(name)}: cannot stat ({_reason(exc)})") from exc

    def open(self, name: str) -> IO[bytes]:
        """The cached copy, else the object, opened for reading (seekable). OSError (FileNotFoundError: none)."""
        cached = self.cached(name)
        if cached.is_file():
            return open(cached, "rb")
        return self.open_object(name)

    def open_object(self, name: str, block_size: int = 1024 * 1024) -> IO[bytes]:
        """The store's object itself, never the cache: what verify checks."""
        try:
            handle: IO[bytes] = self.fs.open(self._key(name), "rb", block_size=block_size)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise OSError(f"{self.where(name)}: {_reason(exc)}") from exc
        return handle

    def fetch(self, name: str) -> Path:
        """A local copy of the object in the cache (downloaded once): for readers that need a file."""
        cached = self.cached(name)
        if not cached.is_file():
            cached.parent.mkdir(parents=True, exist_ok=True)
            part = cached.with_name(cached.name + f".{os.getpid()}.part")
            try:
                self.fs.get_file(self._key(name), str(part))
                os.replace(part, cached)
            except Exception as exc:  # noqa: BLE001
                part.unlink(missing_ok=True)
                raise StorageError(f"{self.where(name)}: cannot download ({_reason(exc)})") from exc
        return cached


def open_read(remote: RemoteWarcs | None, local: Path) -> IO[bytes]:
    """A WARC file for reading: `local` (the path `WarcStore.path_of` gives) when it is there or there
    is no store, else the cache or the store's object of the same name."""
    if remote is None or local.exists():
        return open(local, "rb")
    return remote.open(local.relative_to(remote.root).as_posix())


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _hint(url: str, exc: ImportError | None = None) -> str:
    from .extras import install_hint

    scheme = url.split("://", 1)[0]
    if scheme in ("s3", "s3a", "file") or exc is None:
        return f"warc store {scheme}:// needs fsspec and s3fs: {install_hint('s3')}"
    return f"warc store {scheme}:// needs its fsspec backend, not installed here: {str(exc).splitlines()[0]}"


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


__all__ = ["CACHE", "RemoteWarcs", "connect", "open_read"]
