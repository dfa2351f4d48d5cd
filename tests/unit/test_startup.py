"""`archiver snapshot` and `archiver check` load only what a plain HTTP run uses: no asyncio, no X.509 or
RFC 3161 code, no fsspec, no browser, media or extraction stack (docs-notes/startup.md has the figures).
A fresh process runs the command as typed, then lists every module it loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LOCAL_ENV, REPO, require_module
from server import TestServer

# Each was on the snapshot path before (asyncio and fsspec through warcio, cryptography.x509 and
# rfc3161_client through the evidence module, lxml through media) or belongs to an optional stage.
HEAVY = ("asyncio", "cryptography.x509", "rfc3161_client", "fsspec", "lxml", "playwright", "yt_dlp",
         "trafilatura", "justext", "dask", "distributed", "pywb", "PIL", "datasette", "apscheduler")

PROBE = """
import json, sys
sys.argv = ["archiver", *sys.argv[1:]]
from archiver.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps([code, sorted(sys.modules)]), file=sys.stderr)
"""


def loaded_by(storage: Path, *args: str, codes: tuple[int, ...] = (0,)) -> set[str]:
    env = {**os.environ, **LOCAL_ENV, "ARCHIVER_BACKOFF": "0.05"}
    proc = subprocess.run([sys.executable, "-c", PROBE, "--storage", str(storage), *args], capture_output=True,
                          text=True, timeout=60, cwd=REPO, env=env)
    code, modules = json.loads(proc.stderr.strip().splitlines()[-1])
    assert code in codes, proc.stderr
    return set(modules)


def heavy(modules: set[str]) -> list[str]:
    return sorted(name for name in HEAVY if name in modules)


def test_snapshot_then_check_load_no_heavy_library(tmp_path: Path, server: TestServer) -> None:
    url = server.url("/page/startup")
    snapshot = loaded_by(tmp_path, "snapshot", url, "--quiet")
    assert "archiver.warc.records" in snapshot and "requests" in snapshot  # it did capture
    assert heavy(snapshot) == []
    check = loaded_by(tmp_path, "check", url, "--quiet", codes=(0, 1))  # 1: the test page may be judged
    assert "archiver.check" in check
    # check reads each page's main text (lxml, trafilatura, justext): the rest stays out
    assert heavy(check - {"lxml", "trafilatura", "justext"}) == []


def test_warcio_loads_without_fsspec_and_fsspec_stays_importable() -> None:
    require_module("fsspec", "pip install fsspec (the cluster extra brings it)")
    code = (
        "import sys\n"
        "import archiver.warc\n"
        "import warcio.utils\n"
        "hidden = 'fsspec' not in sys.modules and not warcio.utils.HAS_FSSPEC\n"
        "import fsspec\n"  # visible again for anything else in the process (Dask)
        "print(hidden, sys.modules['fsspec'] is fsspec)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.stdout.split() == ["True", "True"], done.stderr


def test_fsspec_already_loaded_is_left_alone() -> None:
    require_module("fsspec", "pip install fsspec (the cluster extra brings it)")
    code = "import fsspec\nimport archiver.warc\nimport warcio.utils\nprint(warcio.utils.HAS_FSSPEC)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.stdout.strip() == "True", done.stderr


@pytest.mark.parametrize("module", ["archiver.evidence.timestamps", "archiver.media"])
def test_optional_stages_import_cheaply(module: str) -> None:
    code = f"import sys, {module}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_opening_the_database_loads_no_sqlite_utils_plugins(tmp_path: Path) -> None:
    code = (
        "import sqlite_utils.plugins\n"
        "from archiver.db import ArchiveDB\n"
        f"ArchiveDB.open(__import__('pathlib').Path({str(tmp_path / 'archive.sqlite')!r}), readonly=False).close()\n"
        "print(sqlite_utils.plugins._plugins_loaded)\n"  # the entry-point scan sets it
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
