"""Hostile manifests are refused fast and small: alias bombs, self-referring aliases, huge files.

The bomb is run through the installed CLI under an address-space limit, so a regression that expands
it fails with an error here instead of taking the machine's memory.
"""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import pytest
from conftest import ARCHIVER

from archiver import manifests
from archiver.errors import ManifestError
from archiver.manifests import load_manifest


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_alias_bomb_is_refused_with_its_line(tmp_path: Path) -> None:
    bomb = "\n".join([
        'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
        *(f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)),
        "citations: *i",
    ]) + "\n"
    with pytest.raises(ManifestError, match="alias bomb") as caught:
        load_manifest(write(tmp_path, bomb))
    assert caught.value.line is not None and 1 < caught.value.line <= 9


def test_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="refers to the value that contains it") as caught:
        load_manifest(write(tmp_path, "title: &t [x, *t]\ncitations: [https://example.org/]\n"))
    assert caught.value.line == 1


def test_ordinary_aliases_still_load(tmp_path: Path) -> None:
    text = ("citations:\n"
            "  - {url: 'https://a.example/1', context: &ctx 'Report of the Ombudsman, 2020'}\n"
            "  - {url: 'https://a.example/2', context: *ctx}\n")
    loaded = load_manifest(write(tmp_path, text))
    assert [c.context for c in loaded.citations] == ["Report of the Ombudsman, 2020"] * 2


def test_expansion_just_under_the_cap_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifests, "MAX_ALIAS_EXPANSION", 100)
    many = "citations:\n  - {url: 'https://a.example/1', context: &c [a, b, c, d]}\n" + "".join(
        f"  - {{url: 'https://a.example/{i}', context: *c}}\n" for i in range(2, 20))
    assert len(load_manifest(write(tmp_path, many)).citations) == 19
    more = many + "".join(f"  - {{url: 'https://a.example/{i}', context: *c}}\n" for i in range(20, 60))
    with pytest.raises(ManifestError, match="alias"):
        load_manifest(write(tmp_path, more, "more.yaml"))


def test_file_larger_than_a_manifest_can_be_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifests, "MAX_MANIFEST_BYTES", 1000)
    path = write(tmp_path, "https://example.org/\n" * 100, "big.txt")
    with pytest.raises(ManifestError, match="not a manifest"):
        load_manifest(path)


def _limit_memory() -> None:
    cap = 1024 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


@pytest.mark.parametrize("command", ["snapshot", "check", "report"])
def test_cli_refuses_the_bomb_with_exit_3(tmp_path: Path, command: str) -> None:
    bomb = "\n".join([
        'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
        *(f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)),
        "citations: *i",
    ]) + "\n"
    path = write(tmp_path, bomb)
    proc = subprocess.run([ARCHIVER, "--storage", str(tmp_path / "s"), command, str(path)], capture_output=True,
                          text=True, timeout=30, preexec_fn=_limit_memory)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("\n") == 1 and "alias bomb" in proc.stderr
