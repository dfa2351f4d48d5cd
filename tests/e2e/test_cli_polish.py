"""The CLI's polish (issue 17): whole descriptions in --help, true --json and TARGET help, header rows,
--force before any file is replaced, the install hint for this installation, status from the database
alone, shell completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ARCHIVER, FAST, invoke, run
from server import TestServer

from archiver.cli import cli
from archiver.extras import install_hint

COMMANDS = ["check", "copies", "daemon", "export", "extract", "history", "replay", "report", "robustify", "show",
            "snapshot", "status", "verify", "preserve", "browse", "stamp"]


def test_top_level_help_lists_every_command_whole() -> None:
    out = CliRunner().invoke(cli, ["--help"], terminal_width=80, env={"COLUMNS": "80"}).output
    listed = out.split("Commands:", 1)[1]
    assert "..." not in listed
    names = [line.split()[0] for line in listed.splitlines() if line.startswith("  ") and line.split()]
    assert set(COMMANDS) <= set(names)
    for line in listed.splitlines():
        if line.strip():
            assert line.rstrip().endswith("."), line  # a whole sentence on one line, never cut


@pytest.mark.parametrize("command", ["snapshot", "check", "copies", "report"])
def test_commands_taking_targets_say_what_a_target_is(command: str) -> None:
    text = " ".join(CliRunner().invoke(cli, [command, "--help"]).output.split())
    for kind in (".yaml/.yml", ".txt", ".csv", "http(s) URL"):
        assert kind in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_states_its_exit_codes(command: str) -> None:
    assert "Exit status: 0" in " ".join(CliRunner().invoke(cli, [command, "--help"]).output.split())


def test_json_help_says_what_is_printed() -> None:
    def json_help(command: str) -> str:
        text = " ".join(CliRunner().invoke(cli, [command, "--help"]).output.split())
        return text.split("--json", 1)[1].split(" --", 1)[0]

    assert "array, one object per citation" in json_help("check")
    assert "a stopped check (exit 130) prints its run summary" in json_help("check")  # only then a summary
    assert "one JSON object" in json_help("snapshot") and "unattempted" in json_help("snapshot")
    assert "one object per capture" in json_help("history")
    assert "array, one object per citation" in json_help("copies")
    assert "one JSON object" in json_help("status") and "one JSON object" in json_help("verify")


def test_history_and_check_tables_have_header_rows(server: TestServer, storage: Path) -> None:
    url = server.url("page/headed")
    assert invoke(storage, "snapshot", url, *FAST).exit_code == 0
    lines = invoke(storage, "history", url).stdout.splitlines()
    assert lines[0].split() == ["captured", "status", "record", "bytes", "sha256", "warc@offset"]
    assert len(lines) == 2 and " 200 " in lines[1]
    checked = invoke(storage, "check", server.url("status/404"), *FAST, "--retries", "0")
    head, row = checked.stdout.splitlines()
    assert head.split() == ["verdict", "status", "id", "url"] and row.startswith("failing")


def test_writing_commands_never_replace_a_file_without_force(server: TestServer, storage: Path,
                                                            tmp_path: Path) -> None:
    url = server.url("page/forced")
    manifest = tmp_path / "m.txt"
    manifest.write_text(url + "\n")
    assert invoke(storage, "snapshot", str(manifest), *FAST).exit_code == 0
    paper = tmp_path / "paper.md"
    paper.write_text(f"See <{url}>.\n")
    cases = {"export": ["export", str(manifest), "-o"], "report": ["report", str(manifest), "-o"],
             "show": ["show", url, "-o"], "extract": ["extract", str(paper), "--offline", "-o"]}
    for name, args in cases.items():
        target = tmp_path / f"out-{name}{'.json' if name == 'report' else '.yaml' if name == 'extract' else ''}"
        target.write_bytes(b"keep me")
        refused = invoke(storage, *args, str(target))
        assert refused.exit_code == 2, (name, refused.output)
        assert "exists; pass --force to overwrite it" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        assert target.read_bytes() == b"keep me"  # nothing written
        forced = invoke(storage, *args, str(target), "--force")
        assert forced.exit_code == 0, (name, forced.output)
        assert target.read_bytes() != b"keep me"


def test_install_hint_follows_the_installation(tmp_path: Path) -> None:
    """An editable install (direct_url.json dir_info.editable) gets `pip install -e PATH[X]`, '.' in
    the clone itself; one from a package index gets `pip install 'archiver[X]'`."""
    here = Path(__file__).resolve().parents[2]

    def hint(direct: dict[str, object] | None, cwd: Path) -> str:
        site = tmp_path / f"site-{len(list(tmp_path.iterdir()))}"
        info = site / "archiver-0.1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: archiver\nVersion: 0.1.0\n")
        if direct is not None:
            (info / "direct_url.json").write_text(json.dumps(direct))
        code = "from archiver.extras import install_hint; print(install_hint('replay'))"
        env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{here}"}
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd,
                              check=True).stdout.strip()

    clone = tmp_path / "clone"
    clone.mkdir()
    editable = {"url": clone.as_uri(), "dir_info": {"editable": True}}
    assert hint(editable, clone) == "pip install -e '.[replay]'"
    assert hint(editable, tmp_path) == f"pip install -e '{clone}[replay]'"
    # no record of how it was installed (an index install; or the clone's own archiver.egg-info, found
    # first from the clone's folder): the code's place decides; here it runs from this source tree
    assert hint(None, tmp_path) == f"pip install -e '{here}[replay]'"
    assert hint({"url": "https://files.example/archiver.whl", "archive_info": {}}, tmp_path) == \
        "pip install 'archiver[replay]'"


def test_extra_messages_use_the_one_hint() -> None:
    """Every "needs extra X" message goes through install_hint: no hard-coded pip line is left."""
    root = Path(__file__).resolve().parents[2] / "archiver"
    offenders = [str(p) for p in root.rglob("*.py")
                 if "pip install" in p.read_text() and p.name != "extras.py"]
    assert offenders == []
    assert install_hint("media").startswith("pip install") and "[media]" in install_hint("media")


def test_status_outside_a_manifests_folder_uses_the_database(server: TestServer, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    manifest = tmp_path / "paper.yaml"
    manifest.write_text(f"schedule: {{check: 12h}}\ncitations:\n  - id: a\n    url: {server.url('page/st')}\n")
    checked = run(storage, "check", str(manifest), *FAST, "--json", cwd=tmp_path)
    assert checked.returncode in (0, 1), checked.stderr
    (verdict,) = [c["verdict"] for c in json.loads(checked.stdout)]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # no manifests/ folder here
    shown = run(storage, "status", "--json", cwd=elsewhere)
    assert shown.returncode == 0, shown.stderr
    (entry,) = json.loads(shown.stdout)["manifests"]
    assert entry["manifest"] == str(manifest) and entry["verdicts"] == {verdict: 1}
    assert entry["schedule"] == {"snapshot": "7d", "check": "12h"}
    assert entry["last"]["check"]["status"] == "done"
    table = run(storage, "status", cwd=elsewhere)
    assert table.returncode == 0 and f"1 {verdict}" in table.stdout
    assert ["run", "schedule", "last", "run", "next", "run"] in [line.split() for line in table.stdout.splitlines()]
    # A folder asked for by name must exist; and with no database there is nothing to show.
    assert run(storage, "status", "--manifests", str(elsewhere / "nope"), cwd=elsewhere).returncode == 2
    assert run(tmp_path / "empty", "status", cwd=elsewhere).returncode == 2


def test_bash_completion_script_is_produced() -> None:
    done = subprocess.run([ARCHIVER], capture_output=True, text=True,
                          env={**os.environ, "_ARCHIVER_COMPLETE": "bash_source"})
    assert done.returncode == 0
    assert "_archiver_completion()" in done.stdout and "complete -o nosort -F _archiver_completion archiver" \
        in done.stdout
    words = subprocess.run([ARCHIVER], capture_output=True, text=True,
                           env={**os.environ, "_ARCHIVER_COMPLETE": "bash_complete", "COMP_WORDS": "archiver sn",
                                "COMP_CWORD": "1"}).stdout
    assert "plain,snapshot" in words.splitlines()
