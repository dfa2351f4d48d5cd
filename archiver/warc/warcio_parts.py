"""The parts of warcio the WARC writer uses, imported without fsspec.

warcio's `utils` tries `import fsspec` on import, for its own command-line tools that open remote
paths by name (`open_or_default`). Archiver hands warcio open files only, never names, yet with fsspec
installed (Dask brings it: the cluster and dev extras) that import costs every `snapshot` and `check`
40-60 ms of start-up and pulls in asyncio. So fsspec is hidden while warcio loads (warcio then opens
names with the builtin `open`) and visible again at once, for anything else that wants it. When fsspec
is already loaded, nothing is hidden. Tests: tests/unit/test_startup.py.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any


def _load() -> tuple[Any, ...]:
    hide = "fsspec" not in sys.modules
    if hide:
        sys.modules["fsspec"] = None  # type: ignore[assignment]  # None in sys.modules: ImportError on import
    try:
        readers = importlib.import_module("warcio.bufferedreaders")
        loader = importlib.import_module("warcio.recordloader")
        headers = importlib.import_module("warcio.statusandheaders")
        writer = importlib.import_module("warcio.warcwriter")
    finally:
        if hide and sys.modules.get("fsspec", 0) is None:
            del sys.modules["fsspec"]
    return (readers.ChunkedDataException, readers.ChunkedDataReader, loader.ArcWarcRecord,
            headers.StatusAndHeaders, writer.WARCWriter)


ChunkedDataException, ChunkedDataReader, ArcWarcRecord, StatusAndHeaders, WARCWriter = _load()
