"""`archiver replay`: serve the archive with pywb on loopback, from a CDXJ index archiver keeps.

Layout, under the storage folder:

    replay/config.yaml                               pywb's config: one entry per collection
    replay/collections/<coll>/indexes/index.cdxj     the index of captures in closed WARC files
    replay/collections/<coll>/indexes/recent.cdxj    the index of the captures since (see below)

Each collection's `archive_paths` is the storage folder itself, and CDXJ filenames are the WARC names
the database stores (`warcs/....warc.gz`): pywb reads the WARCs where they are, nothing is copied.
Collection `archive` is every capture; `archiver replay MANIFEST` builds one named after the manifest.

The index comes from the records table (cdx.py), so building it reads no WARC. It is in two files
that pywb merges: index.cdxj holds every capture below a boundary (db.replay_boundary: all of them in
closed WARC files, so their lines never change) and recent.cdxj the captures from there on. While
the server runs, a database that gained records or closed a WARC file only has recent.cdxj rebuilt;
index.cdxj is rebuilt when recent.cdxj outgrows a tenth of it (at least REBUILD_AT lines). pywb
opens the index files on every lookup and sees new ones at once (each is replaced by rename).
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
from .atomic import write_atomically
from .browser.stage import SCREENSHOT
from .cdx import cdxj_lines, entries_from_rows, timestamp14
from .config import REPLAY_HOST, REPLAY_PORT, Settings
from .errors import ArchiverError, NotArchived, UsageError
from .export import not_captured, resolve_manifest
from .extras import install_hint
from .storage import OPEN_SUFFIX, warc_path
from .warcstore import RemoteWarcs

ALL = "archive"  # the collection of every capture
START_TIMEOUT = 60.0
REBUILD_AT = 20_000  # recent.cdxj lines before index.cdxj is rebuilt (and a tenth of index.cdxj)
INDEX_FILES = ("index.cdxj", "recent.cdxj")


def replay_url(capture: dict[str, Any], port: int = REPLAY_PORT, coll: str = ALL) -> str:
    """Where pywb replays a capture row: http://127.0.0.1:{port}/{coll}/{14-digit ts}/{url}.
    Without a modifier pywb shows its banner with the capture time (framed mode); add `id_` after
    the timestamp for the bytes exactly as captured."""
    url = capture.get("fetch_url") or capture["url"]
    return f"http://{REPLAY_HOST}:{port}/{coll}/{timestamp14(capture['captured_at'])}/{url}"


def screenshot_url(capture: dict[str, Any], port: int = REPLAY_PORT, coll: str = ALL) -> str:
    """Where pywb serves a browser capture's full-page screenshot, the `resource` record
    urn:screenshot:<page> (the page's final URL, as the browser opened it): framed like a page; add
    `id_` after the timestamp for the PNG itself. Its record is dated when rendering began, moments
    after the capture's time, and pywb serves the one nearest the time asked for: this capture's.
    urn:dom:<page> in its place gives the DOM after scripts ran."""
    url = capture.get("final_url") or capture.get("fetch_url") or capture["url"]
    return f"http://{REPLAY_HOST}:{port}/{coll}/{timestamp14(capture['captured_at'])}/{SCREENSHOT}{url}"


def collection_name(manifest_name: str | None) -> str:
    """pywb takes a collection name from one URL path segment: keep it to letters, digits, - and _."""
    if manifest_name is None:
        return ALL
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", manifest_name).strip("-") or "manifest"
    return f"manifest-{name}" if name == ALL else name  # never hide the whole-archive collection


@dataclass(frozen=True)
class Collection:
    name: str
    index: Path  # index.cdxj; recent.cdxj is next to it
    entries: int  # lines in both
    boundary: int  # index.cdxj holds the captures below this id, recent.cdxj the others
    base_entries: int
    urls: frozenset[str] | None = None  # a manifest collection's cited URLs (None: every capture)


def replay_root(settings: Settings) -> Path:
    return settings.storage / "replay"


def build_collection(archive: Archive, manifest: str | None, base: Collection | None = None) -> Collection:
    """(Re)write the CDXJ index of the collection for MANIFEST (None: every capture), and the config.
    With `base` (the collection as last built) only recent.cdxj is rebuilt, from base's boundary on,
    unless the manifest's citations changed (older captures of a newly cited URL belong in it too)."""
    db = archive.db
    selection = resolve_manifest(db, manifest) if manifest is not None else None
    name = collection_name(selection.name) if selection else ALL
    urls = frozenset(selection.urls) if selection else None
    if base is not None and base.urls != urls:
        base = None
    if base is None:
        boundary = db.replay_boundary()
        parts = [(0, boundary), (boundary, None)]
    else:
        boundary = base.boundary
        parts = [(boundary, None)]
    storage = archive.settings.storage
    rename = _on_disk(storage, archive.store.remote)
    folder = replay_root(archive.settings) / "collections" / name / "indexes"
    built = [(INDEX_FILES[below is None], cdxj_lines(entries_from_rows(
        db.export_records(urls, first=first, below=below), rename=rename))) for first, below in parts]
    base_entries = len(built[0][1]) if base is None else base.base_entries
    entries = base_entries + len(built[-1][1])
    if entries == 0:  # checked before anything is written
        if selection is not None and manifest is not None:
            raise not_captured(manifest, selection, archive)
        raise NotArchived(f"nothing captured yet in {archive.settings.db_path}")
    for file_name, lines in built:
        write_atomically(folder / file_name, "".join(lines).encode())
    write_config(replay_root(archive.settings), storage)
    return Collection(name, folder / INDEX_FILES[0], entries, boundary, base_entries, urls)


def _on_disk(storage: Path, remote: RemoteWarcs | None = None) -> Callable[[str], str]:
    """A WARC still being written is `<name>.open` on disk; its committed records are whole, so
    pywb can serve them from there until the file is closed (and the index rebuilt). A file in the
    WARC store (warcstore.py) is downloaded once into <storage>/cache/, and served from there."""

    seen: dict[str, str] = {}  # one look per file, not per record

    def rename(name: str) -> str:
        if name not in seen:
            # pywb reads what the index names: a name leading out of the storage folder is refused.
            row = "a records row"
            final = warc_path(storage, name, row)
            is_open = not final.exists() and warc_path(storage, name, row, OPEN_SUFFIX).exists()
            seen[name] = name + OPEN_SUFFIX if is_open else name
            if remote is not None and not is_open and not final.exists():
                seen[name] = remote.fetch(name).relative_to(storage).as_posix()
        return seen[name]

    return rename


def write_config(root: Path, storage: Path) -> Path:
    """pywb's config.yaml: every collection with an index under replay/collections, each reading
    the WARCs in place; framed replay on, so replayed pages carry the banner with their capture time."""
    collections = {}
    for index in sorted((root / "collections").glob("*/indexes/index.cdxj")):
        coll = index.parent.parent.name
        if not (index.parent / INDEX_FILES[1]).exists():  # from an older archiver: one file
            write_atomically(index.parent / INDEX_FILES[1], b"")
        # index_group: pywb merges the sorted lines of both files on every lookup.
        collections[coll] = {"index_group": {part.split(".")[0]: str((index.parent / part).resolve())
                                             for part in INDEX_FILES},
                             "archive_paths": str(storage.resolve()) + "/"}
    config = {"collections": collections, "framed_replay": True, "enable_memento": True}
    path = root / "config.yaml"
    write_atomically(path, yaml.safe_dump(config, sort_keys=True).encode())
    return path


def wayback_command() -> str:
    """pywb's `wayback` from this environment (the replay extra), else from PATH."""
    local = Path(sys.executable).with_name("wayback")
    found = str(local) if local.exists() else shutil.which("wayback")
    if found is None:
        raise UsageError(f"replay needs pywb: {install_hint('replay')}")
    return found


class ReplayServer:
    """pywb's `wayback` as a child process bound to loopback, with its index kept fresh."""

    def __init__(self, settings: Settings, manifest: str | None, port: int = REPLAY_PORT,
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
        return f"http://{REPLAY_HOST}:{self.port}/{self.collection.name}/"

    def index(self) -> Collection:
        """Build the index: whole the first time and when recent.cdxj has grown big, else only
        recent.cdxj (the captures since the last whole build)."""
        last = self.collection
        if last is not None and last.entries - last.base_entries > max(REBUILD_AT, last.base_entries // 10):
            last = None
        with Archive(self.settings, writing=False) as archive:
            state = archive.db.export_state()
            self.collection = build_collection(archive, self.manifest, last)
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
            self.process = subprocess.Popen([command, "--bind", REPLAY_HOST, "--port", str(self.port),
                                             "--directory", str(root.resolve())], cwd=root, env=env)
        except OSError as exc:
            raise UsageError(f"{command}: cannot start pywb: {exc.strerror or exc}") from exc
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with socket.create_connection((REPLAY_HOST, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise ArchiverError(f"pywb did not start listening on {REPLAY_HOST}:{self.port} in {START_TIMEOUT:.0f} s")

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
        probe.bind((REPLAY_HOST, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {REPLAY_HOST} is in use; pick another with --port") from None
        raise UsageError(f"cannot listen on {REPLAY_HOST}:{port}: {exc.strerror or exc}") from None
    finally:
        probe.close()
