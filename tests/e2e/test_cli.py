"""The command line: documented exit codes, one-line errors, configuration order, --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FAST, invoke, run
from server import TestServer

from archiver.config import load_settings
from archiver.errors import ConfigError


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("archiver: error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_success_exits_0_and_prints_a_summary(server: TestServer, storage: Path) -> None:
    result = invoke(storage, "snapshot", server.url("page/cli"), *FAST)
    assert result.exit_code == 0
    assert "1 captured, 0 unchanged, 0 failed" in result.stderr


def test_failed_capture_exits_1(server: TestServer, storage: Path) -> None:
    result = invoke(storage, "snapshot", server.url("status/500"), *FAST, "--retries", "0")
    assert result.exit_code == 1
    assert f"failed: {server.url('status/500')}: HTTP 500" in result.stderr


@pytest.mark.parametrize("args", [[], ["no-such-file.yaml"], ["ftp-ish-thing"]])
def test_usage_errors_exit_2(storage: Path, args: list[str]) -> None:
    result = invoke(storage, "snapshot", *args)
    assert result.exit_code == 2


def test_bad_manifest_exits_3_naming_file_and_line(storage: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\ncitations:\n  - url: https://example.org/\n    acessed: 2020-01-01\n")
    result = invoke(storage, "snapshot", str(bad))
    assert result.exit_code == 3
    assert f"{bad}:4: unknown citation key 'acessed'" in one_error_line(result.stderr)
    assert not (storage / "archiver.db").exists()  # nothing was started


def test_bad_config_file_exits_3(storage: Path, tmp_path: Path, server: TestServer) -> None:
    config = tmp_path / "archiver.toml"
    config.write_text("[archiver]\nconcurrency = 'lots'\n")
    result = invoke(storage, "--config", str(config), "snapshot", server.url("page/x"))
    assert result.exit_code == 3
    assert "concurrency must be a number" in one_error_line(result.stderr)


def test_unusable_database_exits_4(storage: Path, tmp_path: Path, server: TestServer) -> None:
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_bytes(b"these are my notes, not a database\n" * 200)
    result = invoke(storage, "--db", str(not_a_db), "snapshot", server.url("page/x"), *FAST)
    assert result.exit_code == 4
    assert "notes.db: damaged database: not an SQLite database" in one_error_line(result.stderr)
    assert not_a_db.read_bytes().startswith(b"these are my notes")  # and it was left alone


def test_database_from_a_newer_archiver_is_refused(storage: Path, server: TestServer) -> None:
    import sqlite3

    storage.mkdir(parents=True)
    conn = sqlite3.connect(storage / "archiver.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    result = invoke(storage, "snapshot", server.url("page/x"), *FAST)
    assert result.exit_code == 4
    assert "newer than this archiver" in one_error_line(result.stderr)


def test_history_and_show_of_an_unknown_url_exit_1(storage: Path, server: TestServer) -> None:
    empty = invoke(storage, "history", "https://never.example/")
    assert empty.exit_code == 1 and "nothing archived yet" in one_error_line(empty.stderr)
    assert not storage.exists()  # reading creates nothing
    invoke(storage, "snapshot", server.url("page/known"), *FAST)
    assert invoke(storage, "history", "https://never.example/").exit_code == 1
    assert invoke(storage, "history", "https://never.example/", "--json").exit_code == 1
    shown = invoke(storage, "show", "https://never.example/")
    assert shown.exit_code == 1
    assert "no archived copy" in one_error_line(shown.stderr)


def test_show_writes_a_file_and_rejects_bad_dates(server: TestServer, storage: Path, tmp_path: Path) -> None:
    url = server.url("page/tofile")
    invoke(storage, "snapshot", url, *FAST)
    out = tmp_path / "copy.html"
    assert invoke(storage, "show", url, "-o", str(out)).exit_code == 0
    assert b"<title>tofile</title>" in out.read_bytes()
    assert not list(tmp_path.glob("*.part"))
    assert invoke(storage, "show", url, "--at", "last tuesday").exit_code == 2


def test_show_refuses_a_gzip_bomb_past_its_cap(server: TestServer, storage: Path, tmp_path: Path) -> None:
    url = server.url("gzip-bomb")
    invoke(storage, "snapshot", url, *FAST)
    out = tmp_path / "bomb.bin"
    result = invoke(storage, "show", url, "-o", str(out), "--max-size", "1000000")
    assert result.exit_code == 4
    assert "exceeds --max-size" in one_error_line(result.stderr)
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_history_lists_newest_first(fresh_server: TestServer, storage: Path) -> None:
    url = fresh_server.url("state/h")
    invoke(storage, "snapshot", url, *FAST)
    fresh_server.state["h"] = "two"
    invoke(storage, "snapshot", url, *FAST)
    rows = json.loads(invoke(storage, "history", url, "--json").stdout)
    assert len(rows) == 2 and rows[0]["captured_at"] > rows[1]["captured_at"]
    stamp = rows[1]["captured_at"][:19].replace("-", "").replace(":", "").replace("T", "")
    assert rows[1]["replay_url"] == f"http://127.0.0.1:8080/archive/{stamp}/{url}"
    text = invoke(storage, "history", url).stdout.splitlines()
    assert len(text) == 3 and text[0].startswith("captured") and " 200 " in text[1] and "response" in text[1]


def test_settings_order_defaults_file_env_flags(tmp_path: Path) -> None:
    config = tmp_path / "a.toml"
    config.write_text("[archiver]\nconcurrency = 4\nper_host_delay = 2.5\ntimeout = 9\n")
    settings = load_settings(config, env={"ARCHIVER_PER_HOST_DELAY": "0.5", "ARCHIVER_TIMEOUT": "7"}, timeout=3)
    assert (settings.concurrency, settings.per_host_delay, settings.timeout) == (4, 0.5, 3)
    assert settings.max_size == 100 * 1024 * 1024
    with pytest.raises(ConfigError, match="unknown setting 'concurency'"):
        load_settings(None, env={}, concurency=1)


def test_environment_storage_is_used(server: TestServer, tmp_path: Path) -> None:
    where = tmp_path / "elsewhere"
    proc = run(tmp_path / "ignored", "snapshot", server.url("page/env"), *FAST)
    assert proc.returncode == 0
    import os
    import subprocess

    from conftest import ARCHIVER, LOCAL_ENV
    proc = subprocess.run([ARCHIVER, "snapshot", server.url("page/env"), *FAST], capture_output=True, text=True,
                          env={**os.environ, **LOCAL_ENV, "ARCHIVER_STORAGE": str(where)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (where / "archiver.db").exists() and list((where / "warcs").glob("*.warc.gz"))


def test_json_summary_is_machine_readable(server: TestServer, storage: Path) -> None:
    result = invoke(storage, "snapshot", server.url("page/j"), server.url("status/404"), *FAST, "--json", "--quiet")
    summary = json.loads(result.stdout)
    assert summary["captured"] == 1 and summary["failed"] == 1
    row = next(u for u in summary["urls"] if u["http_status"] == 200)
    assert set(row) >= {"url", "result", "outcome", "http_status", "final_url", "warc", "offset", "length", "sha256"}
    assert result.stderr == ""  # --quiet --json: nothing but the JSON


@pytest.mark.parametrize("command", ["snapshot", "history", "show"])
def test_every_command_has_help(command: str, storage: Path) -> None:
    result = invoke(storage, command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.stdout


def test_progress_bar_on_a_terminal_only(server: TestServer, storage: Path) -> None:
    import os
    import pty
    import subprocess

    from conftest import ARCHIVER, LOCAL_ENV
    urls = [server.url(f"page/bar{i}") for i in range(3)]
    primary, secondary = pty.openpty()
    proc = subprocess.run([ARCHIVER, "--storage", str(storage), "snapshot", *urls, *FAST],
                          stdout=subprocess.PIPE, stderr=secondary, timeout=60, env={**os.environ, **LOCAL_ENV})
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    assert proc.returncode == 0
    assert b"snapshot" in shown and b"3/3" in shown  # the bar, with its count
    quiet = run(storage, "snapshot", *urls, *FAST)  # stderr is a pipe here: no bar
    assert "3/3" not in quiet.stderr and "0 captured, 3 unchanged, 0 failed" in quiet.stderr
