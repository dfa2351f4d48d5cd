"""archiver/cli/ loads what a command uses only when it runs: `archiver --help` (and a mistyped
command) must not pay for the fetch, WARC and extraction stacks (start-up 0.4 s -> 0.2 s)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("requests", "urllib3", "warcio", "trafilatura", "lxml", "pypdfium2", "apscheduler", "pywb")

PROBE = """
import json, sys
sys.argv = ["archiver", *sys.argv[1:]]
from archiver.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["report", "--help"], ["no-such-command"]])
def test_help_loads_no_heavy_library(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60)
    loaded = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    assert "click" in loaded  # the probe did run the CLI
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_a_finished_command_leaves_its_objects_to_the_process_end() -> None:
    """main() freezes the collector's objects once the command is over, so that shutting the
    interpreter down does not walk them all again (bench/README.md has the exit times)."""
    code = ("import gc, sys; sys.argv = ['archiver', '--version']; from archiver.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    print(gc.get_freeze_count(), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert int(proc.stderr.strip().splitlines()[-1]) > 1000, proc.stderr
