"""Fuzzing every reader of user files: manifests (YAML, text, CSV), the config file, and each paper
reader. Whatever the bytes, the answer is a result or one of archiver's own errors (which the CLI
turns into a one-line message and a documented exit code), never another exception.

Inputs are random bytes and mutations of valid files, so both the parsers' error paths and the
validation behind them are reached. Each example has a deadline: a hang is a failure too.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from conftest import ARCHIVER
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.config import Settings, load_settings
from archiver.errors import ArchiverError
from archiver.extract.readers import read_document
from archiver.extract.text import extract_text
from archiver.manifests import load_manifest

FUZZ = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

VALID = {
    ".yaml": b"title: T\nschedule: {snapshot: 7d}\ncitations:\n  - url: https://a.example/x\n    id: fn1\n"
             b"    accessed: 2020-10-23\n  - https://b.example/y?q=1\n",
    ".txt": b"https://a.example/x\n# comment\nwww.b.example/y\n",
    ".csv": b"url,id,accessed\nhttps://a.example/x,fn1,2020-10-23\n\"https://b.example/y,z\",fn2,\n",
    ".toml": b"[archiver]\nconcurrency = 4\nper_host_delay = 0.5\nuser_agent = \"x\"\n",
    ".html": b"<html><body><p>See <a href='https://a.example/x'>x</a> and https://b.example/y</p></body></html>",
    ".tex": b"\\begin{document}See\\footnote{\\url{https://a.example/x}} \\href{https://b.example}{b}\\end{document}",
    ".bib": b"@misc{a, title={T}, url={https://a.example/x}, urldate={2020-10-23}}\n",
    ".md": b"# Paper\n\nSee [x](https://a.example/x) and <https://b.example/y>.\n\n[r]: https://c.example/z\n",
}


def mutated(suffix: str) -> st.SearchStrategy[bytes]:
    """Random bytes, or a valid file with bytes flipped, cut, or spliced in."""
    base = VALID[suffix]
    edits = st.lists(st.tuples(st.integers(0, len(base)), st.integers(0, 8), st.binary(max_size=8)), max_size=6)

    def apply(changes: list[tuple[int, int, bytes]]) -> bytes:
        data = base
        for at, cut, insert in changes:
            data = data[:at] + insert + data[at + cut:]
        return data

    return st.one_of(st.binary(max_size=400), edits.map(apply))


def write(data: bytes, suffix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="archiver-fuzz-"))
    path = folder / f"input{suffix}"
    path.write_bytes(data)
    return path


def only_our_errors(call: object) -> None:
    try:
        call()  # type: ignore[operator]
    except ArchiverError:
        pass


@FUZZ
@given(st.sampled_from([".yaml", ".txt", ".csv"]).flatmap(lambda s: st.tuples(st.just(s), mutated(s))))
def test_manifest_loading_never_fails_outside_the_error_tree(case: tuple[str, bytes]) -> None:
    suffix, data = case
    only_our_errors(lambda: load_manifest(write(data, suffix)))


@FUZZ
@given(mutated(".toml"))
def test_config_loading_never_fails_outside_the_error_tree(data: bytes) -> None:
    path = write(data, ".toml")

    def load() -> None:
        assert isinstance(load_settings(config_file=path, env={}), Settings)

    only_our_errors(load)


@FUZZ
@given(st.sampled_from([".html", ".tex", ".bib", ".md"]).flatmap(lambda s: st.tuples(st.just(s), mutated(s))))
def test_paper_readers_never_fail_outside_the_error_tree(case: tuple[str, bytes]) -> None:
    suffix, data = case
    path = write(data, suffix)

    def read() -> None:
        document = read_document(path)
        extract_text(document.text, source=str(path))

    only_our_errors(read)


@FUZZ
@given(st.binary(max_size=600))
def test_binary_formats_refuse_garbage_cleanly(data: bytes) -> None:
    for suffix in (".pdf", ".docx"):
        only_our_errors(lambda suffix=suffix: read_document(write(data, suffix)))


def test_cli_answers_garbage_with_a_documented_exit_code_and_no_traceback(tmp_path: Path) -> None:
    """The same, end to end: one line on stderr, exit 2 (usage) or 3 (manifest), never 70."""
    cases = [("m.yaml", b"citations: [\x00\xff"), ("m.csv", b"\xef\xbb\xbfid,name\n1,\"unterminated"),
             ("m.txt", b"\x00\x01\x02"), ("archiver.toml", b"[archiver]\ntimeout = nan\n")]
    for name, data in cases:
        path = tmp_path / name
        path.write_bytes(data)
        args = ["--config", str(path), "report"] if name.endswith(".toml") else ["snapshot", str(path)]
        proc = subprocess.run([ARCHIVER, "--storage", str(tmp_path / "s"), *args], capture_output=True, text=True,
                              timeout=30)
        assert proc.returncode in (2, 3), (name, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0, (name, proc.stderr)
