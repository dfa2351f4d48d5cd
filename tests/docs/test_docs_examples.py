"""The docs stay true: every runnable example in README.md and docs/ runs, and every option a doc gives
a command exists in that command's --help.

Runnable: a ```sh block right after a `<!-- test -->` line. They run in order (README.md first, then
docs/ by path) in one bash session in a scratch folder laid out like a clone (tests/, tutorial/,
manifests/), so the README's tutorial starts the tutorial web, and docs examples run after it, in the
folder it leaves (tutorial-run, its storage and manifest in place). An `archiver` exit of 0 or 1 is a
finding (a dead citation, a failed capture), not a failure; 2 and above (usage, bad manifest or config,
storage, internal error) and any other command failing are failures. `pip` lines are skipped: the dev
extra the tests run under holds every extra.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from conftest import REPO

from archiver.cli import cli

DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
MARK = "<!-- test -->"
VERDICTS = ("alive", "drifted", "failing", "dead", "blocked")


def runnable_blocks(path: Path) -> list[str]:
    """The ```sh blocks of a Markdown file that follow a `<!-- test -->` line."""
    blocks, lines = [], path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.strip() != MARK:
            continue
        assert i + 1 < len(lines) and lines[i + 1].strip() == "```sh", f"{path.name}:{i + 1}: {MARK} not before ```sh"
        end = lines.index("```", i + 2)
        blocks.append("\n".join(lines[i + 2:end]))
    return blocks


PRELUDE = r"""
archiver() {
    command archiver "$@"; local rc=$?
    if [ "$rc" -ge 2 ]; then echo "exit $rc: archiver $*" >> "$DOCS_FAILURES"; fi
    return 0
}
pip() { echo "(docs test: skipped pip $*)"; }
trap 'echo "exit $?: $BASH_COMMAND" >> "$DOCS_FAILURES"' ERR
"""


def test_runnable_examples_run(tmp_path: Path) -> None:
    readme = runnable_blocks(REPO / "README.md")
    assert readme, "the README's tutorial is not marked runnable"
    script = PRELUDE + "\n".join(block for path in DOCS for block in runnable_blocks(path))
    for name in ("tests", "tutorial", "manifests"):
        (tmp_path / name).symlink_to(REPO / name)
    failures = tmp_path / "failures"
    failures.touch()
    # a user's shell: no ARCHIVER_* settings from the test session; archiver and python from this venv
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVER_") and k != "REQUESTS_CA_BUNDLE"}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", DOCS_FAILURES=str(failures),
               NO_COLOR="1")
    try:
        proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=110)
    finally:
        subprocess.run([sys.executable, str(REPO / "tutorial" / "web.py"), "stop", str(tmp_path / "tutorial-run")],
                       capture_output=True)
    output = proc.stdout + proc.stderr
    assert failures.read_text() == "", failures.read_text() + output[-4000:]
    # the tutorial shows every verdict, and writes what it says it writes
    summary = re.findall(r"^43 citations: .*$", proc.stdout, re.M)
    assert summary, output[-4000:]
    for verdict in VERDICTS:
        assert re.search(rf"\d+ {verdict}\b", summary[-1]), summary[-1]
    run = tmp_path / "tutorial-run"
    for name in ("manifests/artsakh.yaml", "report.html", "hrw.html", "artsakh.wacz",
                 "preserved/report.html", "preserved/2021-artsakh-war-crimes-paper.wacz", "preserved/preserve.json"):
        assert (run / name).is_file(), name
    # preserve's package is one a WACZ tool accepts (py-wacz's validator, from the replay extra)
    wacz = Path(sys.executable).with_name("wacz")
    checked = subprocess.run([str(wacz), "validate", "-f", str(run / "preserved/2021-artsakh-war-crimes-paper.wacz")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


COMMAND = re.compile(r"(?:^|[\s`(])archiver((?:\s+--(?:storage|db|config)(?:=|\s+)\S+)*)\s+([a-z][a-z-]*)(.*)")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def documented_commands() -> list[tuple[str, str, str, list[str]]]:
    """(file, command, line, options) for every `archiver CMD ...` in a code block or code span."""
    found = []
    for path in DOCS:
        text, fence = path.read_text(encoding="utf-8"), False
        for line in text.splitlines():
            if line.startswith("```"):
                fence = not fence
                continue
            pieces = [line] if fence else re.findall(r"`([^`]+)`", line)
            for piece in pieces:
                for match in COMMAND.finditer(piece):
                    rest = re.split(r"\s#|\||&&|;|\s>", match.group(3))[0]
                    found.append((path.name, match.group(2), piece.strip(), OPTION.findall(match.group(1) + rest)))
    return found


def help_text(args: list[str]) -> str:
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_documented_options_exist() -> None:
    commands = set(cli.commands)  # type: ignore[attr-defined]
    found = documented_commands()
    assert len(found) > 50, found
    top = help_text([])
    helps: dict[str, str] = {}
    wrong = []
    for name, command, line, options in found:
        if command not in commands:
            if line.startswith("archiver "):  # a command line, not prose such as `archiver is`
                wrong.append(f"{name}: {line}: no command {command!r}")
            continue
        text = helps.setdefault(command, help_text([command]))
        wrong += [f"{name}: {line}: {command} has no {option}" for option in options
                  if not re.search(rf"(?<![\w-]){option}(?![\w-])", text + top)]
    assert wrong == []
