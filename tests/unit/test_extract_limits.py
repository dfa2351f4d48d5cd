"""Hostile papers are refused or read in bounded time and memory: zip bombs, deep nesting, huge PDFs.

Each CLI case runs the installed console script under an address-space limit, so a regression fails
here with an error instead of exhausting the machine.
"""

from __future__ import annotations

import resource
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import ARCHIVER
from papers import make_docx

from archiver.errors import UsageError
from archiver.extract.readers import read_document

MEMORY_CAP = 1024 * 1024 * 1024


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def extract_cli(paper: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARCHIVER, "extract", str(paper), "-o", str(out), "--offline"], capture_output=True,
                          text=True, timeout=60, preexec_fn=_limit_memory)


def docx_with_extra_part(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / "paper.docx"
    make_docx(path, [("the report", "https://example.org/report")], [])
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as package:
        with package.open(name, "w", force_zip64=True) as part:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(size // len(chunk)):
                part.write(chunk)
    return path


def test_docx_zip_bomb_is_refused_from_the_directory(tmp_path: Path) -> None:
    bomb = docx_with_extra_part(tmp_path, "word/media/image1.png", 300 * 1024 * 1024)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(UsageError, match="zip bomb"):
        read_document(bomb)
    proc = extract_cli(bomb, tmp_path / "m.yaml")
    assert proc.returncode == 2, proc.stderr
    assert "word/media/image1.png" in proc.stderr and "zip bomb" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_docx_with_ordinary_media_is_read(tmp_path: Path) -> None:
    import os

    path = tmp_path / "paper.docx"
    make_docx(path, [("the report", "https://example.org/report")], [])
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("word/media/photo.jpg", os.urandom(2 * 1024 * 1024))  # stores at ~1:1, as photos do
    assert [link.url for link in read_document(path).links] == ["https://example.org/report"]
