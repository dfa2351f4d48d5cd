"""House style is checked, not hoped for: mypy --strict and ruff clean (both in the dev extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import require_binary

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    return require_binary(name, "pip install -e '.[dev]'", path=str(BIN / name))


def test_mypy_strict_is_clean() -> None:
    proc = subprocess.run([tool("mypy"), "--strict", "archiver"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_is_clean() -> None:
    proc = subprocess.run([tool("ruff"), "check", "archiver", "tests", "bench"], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
