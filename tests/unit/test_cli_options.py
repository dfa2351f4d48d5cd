"""archiver/cli/options.py through click: what a command's Settings are made of (flag > env > config
file > default, the group's global options reaching every command) and how --since is read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from archiver.cli import cli
from archiver.cli.options import fetch_options, parse_since, settings_from
from archiver.config import Settings
from archiver.errors import UsageError

seen: list[Settings] = []


@click.command("probe")
@fetch_options
@click.pass_context
def probe(ctx: click.Context, /, **flags: Any) -> None:
    """Records the Settings a fetching command would run with."""
    seen.append(settings_from(ctx, **flags))


def settings(*args: str, env: dict[str, str] | None = None) -> Settings:
    """The Settings `archiver ARGS` gives a command: the real group's options, with a probe command."""
    group = click.Group("archiver", params=cli.params, callback=cli.callback, commands={"probe": probe})
    seen.clear()
    result = CliRunner().invoke(group, list(args), env={"ARCHIVER_STORAGE": None, "ARCHIVER_DB": None,
                                                        "ARCHIVER_CONFIG": None, "ARCHIVER_TIMEOUT": None,
                                                        **(env or {})}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen[-1]


@pytest.fixture(autouse=True)
def away_from_any_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./archiver.toml but the test's own


def test_flag_beats_env_beats_config_beats_default(tmp_path: Path) -> None:
    config = tmp_path / "archiver.toml"
    assert settings("probe").timeout == 30.0
    config.write_text("[archiver]\ntimeout = 9\n")
    assert settings("probe").timeout == 9.0
    assert settings("probe", env={"ARCHIVER_TIMEOUT": "7"}).timeout == 7.0
    assert settings("probe", "--timeout", "3", env={"ARCHIVER_TIMEOUT": "7"}).timeout == 3.0


def test_options_not_given_leave_env_and_config_alone(tmp_path: Path) -> None:
    (tmp_path / "archiver.toml").write_text("[archiver]\nconcurrency = 4\nquiet = true\n")
    got = settings("probe", "--per-host", "2", env={"ARCHIVER_TIMEOUT": "7"})
    assert (got.concurrency, got.quiet, got.timeout, got.per_host) == (4, True, 7.0, 2)


def test_global_options_reach_the_command(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text("[archiver]\nretries = 5\n")
    got = settings("--storage", "kept", "--config", str(other), "probe", env={"ARCHIVER_STORAGE": "from-env"})
    assert (got.storage, got.db_path, got.retries) == (Path("kept"), Path("kept/archiver.db"), 5)
    got = settings("--db", "elsewhere.db", "probe", env={"ARCHIVER_STORAGE": "from-env", "ARCHIVER_CONFIG": str(other)})
    assert (got.storage, got.db_path, got.retries) == (Path("from-env"), Path("elsewhere.db"), 5)


def test_a_command_run_outside_the_group_gets_defaults() -> None:
    seen.clear()
    result = CliRunner().invoke(probe, ["--retries", "4"], env={"ARCHIVER_STORAGE": None, "ARCHIVER_RETRIES": None})
    assert result.exit_code == 0, result.output
    assert (seen[-1].storage, seen[-1].retries) == (Path("storage"), 4)


def test_since_is_utc() -> None:
    assert parse_since(None) is None and parse_since("") is None
    assert parse_since("2026-03-01") == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert parse_since("2026-03-01T12:00:00+02:00") == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    assert parse_since("2026-03-01T10:00:00Z") == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)


def test_bad_since_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"--since: 'yesterday' is not an ISO date or date-time") as caught:
        parse_since("yesterday")
    assert caught.value.exit_code == 2
