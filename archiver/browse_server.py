"""`archiver browse`'s server: the database in Datasette, read-only, with browse.py's metadata and a
plugin that adds a replay link beside each URL cell.

The file is never written nor migrated. It is checked as every read-only command checks it
(ArchiveDB.open readonly: damage, a newer schema), then handed to Datasette: with SQLite's mode=ro
(Datasette's "mutable" database, read-only connections: new checks of a running daemon show up) when
its folder may be written, as an immutable file when it may not (a read-only evidence copy with an empty
write-ahead log), and from the private copy ArchiveDB made when such a copy's log holds committed pages.
Datasette is imported only here, and only when the command runs.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .browse import PLUGIN, Shape, metadata, read_shape, replay_link
from .db import ArchiveDB
from .errors import UsageError
from .extras import install_hint

# The citation_verdicts view judges every citation per page: more than Datasette's 1 s default on a
# large archive. Facets get the same room.
SETTINGS = {"sql_time_limit_ms": 20_000, "facet_time_limit_ms": 5_000, "default_page_size": 100}


def require_datasette() -> Any:
    """Datasette's app module, or UsageError (exit 2) with the one-line install hint."""
    try:
        import datasette.app as app
    except ImportError:
        raise UsageError(f"archiver browse needs Datasette: {install_hint('browse')}") from None
    return app


@dataclass(frozen=True)
class Opened:
    """What Datasette is given: the file (in place, or a private copy), whether immutable, and the shape."""

    path: Path
    immutable: bool
    shape: Shape
    private: Path | None  # a temporary folder to remove when done (ArchiveDB's private copy)


def open_for_browsing(path: Path) -> Opened:
    """The database checked read-only (StorageError, exit 4, if missing, damaged or newer) and how Datasette
    reads it without writing anything."""
    db = ArchiveDB.open(path, readonly=True)
    private = db.private
    db.private = None  # kept for Datasette: removed by `close_opened`
    db.close()
    if private is not None:
        where = private / path.name
        return Opened(where, False, read_shape(where), private)
    immutable = not os.access(path.parent, os.W_OK)
    return Opened(path, immutable, read_shape(path), None)


def close_opened(opened: Opened) -> None:
    from .db.connection import remove_private

    remove_private(opened.private)


def datasette_for(opened: Opened, db_name: str, replay_url: str | None = None) -> Any:
    """A Datasette instance serving `opened` read-only with the metadata (and replay links when
    `replay_url` is given). Its `.client` is Datasette's own test client."""
    app = require_datasette()
    register_plugin()
    files = [] if opened.immutable else [str(opened.path)]
    immutables = [str(opened.path)] if opened.immutable else []
    ds = app.Datasette(files=files, immutables=immutables, metadata=metadata(opened.shape, db_name, replay_url),
                       settings=dict(SETTINGS))
    asyncio.run(ds.invoke_startup())
    return ds


def db_name(path: Path) -> str:
    """The name Datasette gives a database file (its URL path segment): the file name without suffix."""
    return path.stem


def serve(path: Path, host: str, port: int, replay_url: str | None = None) -> None:
    """Serve the database at `path` until Ctrl-C or SIGTERM (uvicorn's own handlers stop it cleanly)."""
    require_datasette()
    import uvicorn

    opened = open_for_browsing(path)
    try:
        ds = datasette_for(opened, db_name(path), replay_url)
        uvicorn.run(ds.app(), host=host, port=port, log_level="warning", lifespan="on", workers=1)
    finally:
        close_opened(opened)


# -- the plugin ----------------------------------------------------------------------------------------

_registered = False


def register_plugin() -> None:
    """This module's render_cell hook in Datasette's plugin manager, once per process."""
    global _registered
    if _registered:
        return
    from datasette import hookimpl
    from datasette.plugins import pm

    hookimpl(render_cell)  # marks the function as an implementation of the hook of that name
    pm.register(sys.modules[__name__], name=PLUGIN)
    _registered = True


def render_cell(row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any) -> Any:
    """A URL cell as a link to the page and, when `replay_url` is configured, one to its archived copy."""
    from markupsafe import Markup, escape  # Jinja's, so Datasette's: installed with it

    config = datasette.plugin_config(PLUGIN, database=database) or {}
    prefix = config.get("replay_url")
    if not prefix or not isinstance(value, str):
        return None
    try:
        cells = dict(zip(row.keys(), tuple(row), strict=True))
    except (AttributeError, TypeError):
        return None
    href = replay_link(prefix, cells, column)
    if href is None:
        return None
    return Markup(f'<a href="{escape(value)}" rel="noreferrer noopener">{escape(value)}</a>'
                  f' <a class="replay" href="{escape(href)}" rel="noreferrer noopener">[replay]</a>')
