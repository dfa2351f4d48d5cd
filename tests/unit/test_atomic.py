"""archiver.atomic on real files: a file is whole or absent under its name, its `.part` is never
written through a link someone put there, and a rename is followed by an fsync of its folder (read
from the syscalls of a real process)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_binary

from archiver.atomic import atomic_output, write_atomically
from archiver.cli.records import write_payload
from archiver.errors import StorageError


def test_a_planted_part_link_is_removed_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    output = tmp_path / "out" / "report.html"
    output.parent.mkdir()
    (output.parent / "report.html.part").symlink_to(victim)
    write_atomically(output, b"<html>report</html>")
    assert victim.read_text() == "precious"
    assert output.read_bytes() == b"<html>report</html>"
    assert not (output.parent / "report.html.part").exists()


def test_show_output_never_writes_through_a_planted_part_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    output = tmp_path / "page.html"
    (tmp_path / "page.html.part").symlink_to(victim)
    write_payload(iter([b"<html>", b"payload</html>"]), "http://t.test/", output, 10**6)
    assert victim.read_text() == "precious"
    assert output.read_bytes() == b"<html>payload</html>"
    assert not os.path.lexists(tmp_path / "page.html.part")


def test_a_failed_write_leaves_the_old_file_and_no_part(tmp_path: Path) -> None:
    output = tmp_path / "index.cdxj"
    output.write_bytes(b"old\n")
    with pytest.raises(RuntimeError), atomic_output(output) as handle:
        handle.write(b"half of the ne")
        raise RuntimeError("stopped")
    assert output.read_bytes() == b"old\n" and not (tmp_path / "index.cdxj.part").exists()
    (tmp_path / "folder.part").mkdir()  # something under the .part name that cannot be removed
    with pytest.raises(StorageError, match="folder: cannot write"):
        write_atomically(tmp_path / "folder", b"x")


def test_a_rename_is_followed_by_an_fsync_of_its_folder(tmp_path: Path) -> None:
    strace = require_binary("strace", "apt-get install strace")
    output = tmp_path / "out" / "index.cdxj"
    log = tmp_path / "strace.log"
    code = ("from pathlib import Path; from archiver.atomic import write_atomically;"
            f" write_atomically(Path({str(output)!r}), b'x')")
    subprocess.run([strace, "-f", "-qq", "-y", "-o", str(log), "-e", "trace=fsync,rename,renameat,renameat2",
                    sys.executable, "-c", code], check=True, capture_output=True)
    calls = [line for line in log.read_text().splitlines() if str(output.parent) in line]
    renamed = next(i for i, line in enumerate(calls) if re.search(r"rename(at2?)?\(.*index\.cdxj\.part", line))
    assert re.search(r"fsync\(\d+<.*index\.cdxj\.part>", " ".join(calls[:renamed]))  # the file, before
    assert any(re.search(rf"fsync\(\d+<{re.escape(str(output.parent))}>", line) for line in calls[renamed + 1:])
