"""The docs build: `mkdocs build --strict` (every page in the nav, every link and anchor resolving)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO, require_module


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    require_module("mkdocs", "pip install -e '.[dev]'")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "commands" / "check" / "index.html").is_file()
    # every page under docs/ is in the nav (an orphan page is a page nobody finds)
    assert "not included in the \"nav\"" not in proc.stderr, proc.stderr


def test_every_docs_page_is_in_the_nav() -> None:
    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    pages = sorted(p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").rglob("*.md"))
    assert pages, "no docs pages"
    assert [p for p in pages if f": {p}" not in nav] == []
