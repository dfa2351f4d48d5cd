"""`archiver replay`: serve the archive with pywb on loopback, from a CDXJ index archiver keeps.

Layout, under the storage folder:

    replay/config.yaml                               pywb's config: one entry per collection
    replay/collections/<coll>/indexes/index.cdxj     the index, rebuilt from the database

Each collection's `archive_paths` is the storage folder itself, and CDXJ filenames are the WARC names
the database stores (`warcs/....warc.gz`): pywb reads the WARCs where they are, nothing is copied.
Collection `archive` is every capture; `archiver replay MANIFEST` builds one named after the manifest.

The index comes from the records table (cdx.py), so building it reads no WARC; while the server
runs, the index is rebuilt whenever the database gains records or closes a WARC file, and pywb,
which opens the index file on every lookup, sees the new one at once (it replaces the old by rename).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .archive import Archive
from .cdx import cdxj_lines, entries_from_rows, timestamp14
from .config import Settings
from .errors import ArchiverError, NotArchived, UsageError
from .export import select
from .storage import OPEN_SUFFIX, write_atomically

DEFAULT_PORT = 8080
HOST = "127.0.0.1"
ALL = "archive"  # the collection of every capture
START_TIMEOUT = 60.0


def replay_url(capture: dict[str, Any], port: int = DEFAULT_PORT, coll: str = ALL) -> str:
    """Where pywb replays a capture row: http://127.0.0.1:{port}/{coll}/{14-digit ts}/{url}.
    Without a modifier pywb shows its banner with the capture time (framed mode); add `id_` after
    the timestamp for the bytes exactly as captured."""
    url = capture.get("fetch_url") or capture["url"]
    return f"http://{HOST}:{port}/{coll}/{timestamp14(capture['captured_at'])}/{url}"


def collection_name(manifest_name: str | None) -> str:
    """pywb takes a collection name from one URL path segment: keep it to letters, digits, - and _."""
    if manifest_name is None:
        return ALL
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", manifest_name).strip("-") or "manifest"
    return f"manifest-{name}" if name == ALL else name  # never hide the whole-archive collection


@dataclass(frozen=True)
class Collection:
    name: str
    index: Path
    entries: int


def replay_root(settings: Settings) -> Path:
    return settings.storage / "replay"


def build_collection(archive: Archive, manifest: str | None) -> Collection:
    """(Re)write the CDXJ index of the collection for MANIFEST (None: every capture), and the config."""
    if manifest is None:
        rows = archive.db.export_records(None)
        if not rows:
            raise NotArchived(f"nothing captured yet in {archive.settings.db_path}")
        name = ALL
    else:
        selection = select(archive, manifest)
        rows, name = selection.records, collection_name(selection.name)
    storage = archive.settings.storage
    lines = cdxj_lines(entries_from_rows(rows, rename=_on_disk(storage)))
    root = replay_root(archive.settings)
    index = root / "collections" / name / "indexes" / "index.cdxj"
    write_atomically(index, "".join(lines).encode())
    write_config(root, storage)
    return Collection(name, index, len(lines))


def _on_disk(storage: Path) -> Callable[[str], str]:
    """A WARC still being written is `<name>.open` on disk; its committed records are whole, so
    pywb can serve them from there until the file is closed (and the index rebuilt)."""

    def rename(name: str) -> str:
        if not (storage / name).exists() and (storage / (name + OPEN_SUFFIX)).exists():
            return name + OPEN_SUFFIX
        return name

    return rename


def write_config(root: Path, storage: Path) -> Path:
    """pywb's config.yaml: every collection with an index under replay/collections, each reading
    the WARCs in place; framed replay on, so replayed pages carry the banner with their capture time."""
    collections = {}
    for index in sorted((root / "collections").glob("*/indexes/index.cdxj")):
        coll = index.parent.parent.name
        collections[coll] = {"index": str(index.resolve()), "archive_paths": str(storage.resolve()) + "/"}
    config = {"collections": collections, "framed_replay": True, "enable_memento": True}
    path = root / "config.yaml"
    write_atomically(path, yaml.safe_dump(config, sort_keys=True).encode())
    return path


def wayback_command() -> str:
    """pywb's `wayback` from this environment (the replay extra), else from PATH."""
    local = Path(sys.executable).with_name("wayback")
    found = str(local) if local.exists() else shutil.which("wayback")
    if found is None:
        raise UsageError("replay needs pywb: pip install 'archiver[replay]'")
    return found


class ReplayServer:
    """pywb's `wayback` as a child process bound to loopback, with its index kept fresh."""

    def __init__(self, settings: Settings, manifest: str | None, port: int = DEFAULT_PORT,
                 refresh: float = 10.0) -> None:
        self.settings = settings
        self.manifest = manifest
        self.port = port
        self.refresh = refresh
        self.process: subprocess.Popen[bytes] | None = None
        self.collection: Collection | None = None
        self._state: tuple[int, int] | None = None

    def url(self) -> str:
        assert self.collection is not None
        return f"http://{HOST}:{self.port}/{self.collection.name}/"

    def index(self) -> Collection:
        with Archive(self.settings, writing=False) as archive:
            state = archive.db.export_state()
            self.collection = build_collection(archive, self.manifest)
        self._state = state
        return self.collection

    def stale(self) -> bool:
        with Archive(self.settings, writing=False) as archive:
            return archive.db.export_state() != self._state

    def start(self) -> None:
        command = wayback_command()
        self.index()
        _check_port(self.port)
        root = replay_root(self.settings)
        # Its own config file by path, and the replay folder as its root: pywb finds nothing else.
        env = {**os.environ, "PYWB_CONFIG_FILE": str((root / "config.yaml").resolve())}
        try:
            self.process = subprocess.Popen([command, "--bind", HOST, "--port", str(self.port),
                                             "--directory", str(root.resolve())], cwd=root, env=env)
        except OSError as exc:
            raise UsageError(f"{command}: cannot start pywb: {exc.strerror or exc}") from exc
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise ArchiverError(f"pywb did not start listening on {HOST}:{self.port} in {START_TIMEOUT:.0f} s")

    def _check_alive(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            raise ArchiverError(f"pywb exited with status {code} (its messages are above)")

    def serve(self) -> None:
        """Until interrupted: rebuild the index when the archive changes; fail if pywb dies."""
        next_check = time.monotonic() + self.refresh
        while True:
            self._check_alive()
            time.sleep(0.5)
            if self.refresh and time.monotonic() >= next_check:
                next_check = time.monotonic() + self.refresh
                if self.stale():
                    self.index()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _check_port(port: int) -> None:
    """A clear message for a busy port, rather than pywb's traceback."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as pywb's server does: TIME_WAIT is free
    try:
        probe.bind((HOST, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {HOST} is in use; pick another with --port") from None
        raise UsageError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from None
    finally:
        probe.close()
