from __future__ import annotations

import importlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).parent / "helpers"))

from jsweb import JsWeb  # noqa: E402
from server import TestServer  # noqa: E402

from archiver.cli import cli  # noqa: E402
from archiver.config import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# .ci/run sets this: there a missing browser, openssl or optional package is a failure, not a skip,
# so a green CI cannot hide tests that never ran.
STRICT = os.environ.get("ARCHIVER_TEST_STRICT") == "1"


def _missing(what: str, hint: str) -> None:
    message = f"{what} is not available ({hint})"
    if STRICT:
        pytest.fail(f"{message}; ARCHIVER_TEST_STRICT=1 turns this skip into a failure", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require_binary(name: str, hint: str, *, path: str | None = None) -> str:
    """The path of an external program the test needs, or a skip naming how to install it."""
    found = path if path and os.access(path, os.X_OK) else shutil.which(name)
    if not found:
        _missing(name, hint)
    return str(found)


def require_module(name: str, hint: str) -> Any:
    """An optional package the test needs (an extra), or a skip naming how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        _missing(f"Python package {name}", hint)
ARCHIVER = str(Path(sys.executable).with_name("archiver"))
# Every test server listens on 127.0.0.1, which archiver's address guard refuses by default: tests
# that fetch from them opt in, visibly, here (the `settings` fixture, `invoke` and `run`) or by adding
# LOCAL_ENV to a process's environment. Tests of the guard itself turn it off (allow_private=False, or
# {"ARCHIVER_ALLOW_PRIVATE": ""} in env).
LOCAL_ENV = {"ARCHIVER_ALLOW_PRIVATE": "1"}


def _reachable() -> str:
    """A loopback listener that accepts and closes every connection, for the life of the session."""
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            conn.close()

    threading.Thread(target=accept, name="reachable", daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/"


# The reachability probe (archiver/offline.py) finds the network up in tests, which have no internet,
# through a loopback listener standing in for the well-known sites: then a failure is the cited host's
# own, as it was before runs could be judged offline. Tests of the guard set their own (test_offline*).
REACHABLE = _reachable()
os.environ.setdefault("ARCHIVER_REACHABILITY", REACHABLE)


@pytest.fixture(scope="session")
def server() -> Iterator[TestServer]:
    with TestServer("127.0.0.1") as srv:
        yield srv


@pytest.fixture()
def fresh_server() -> Iterator[TestServer]:
    """A server of the test's own, for request-log and state assertions."""
    with TestServer("127.0.0.1") as srv:
        yield srv


@pytest.fixture()
def jsweb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JsWeb]:
    """The simulated JavaScript web (tests/helpers/jsweb.py): one HTTPS server answering for social.example,
    news.example, video.example, app.example, other.example and cdn.example through resolver entries
    (`jsweb.resolve`, `jsweb.env()`, `jsweb.settings(settings)`), with a request log and a mutable state."""
    with JsWeb(tmp_path_factory.mktemp("jsweb")) as web:
        yield web


@pytest.fixture()
def storage(tmp_path: Path) -> Path:
    return tmp_path / "storage"


# Fast but still real: no politeness pause unless a test asks for one, short retry backoff.
FAST = ["--per-host-delay", "0", "--timeout", "2", "--total-timeout", "6"]


@pytest.fixture()
def settings(storage: Path) -> Settings:
    """Fast settings for in-process runs against the loopback test servers (allow_private: see LOCAL_ENV;
    reachability: see REACHABLE)."""
    return Settings(storage=storage, per_host_delay=0, timeout=2, total_timeout=6, backoff=0.05, allow_private=True,
                    reachability=(REACHABLE,))


def invoke(storage: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run the CLI in-process through click, as a user would type it (private addresses allowed unless
    `env` says otherwise: LOCAL_ENV)."""
    runner = CliRunner()
    return runner.invoke(cli, ["--storage", str(storage), *args],
                         env={"ARCHIVER_BACKOFF": "0.05", **LOCAL_ENV, **(env or {})}, catch_exceptions=False)


def run(storage: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60,
        **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run the installed console script as a real process (private addresses allowed unless `env` says
    otherwise: LOCAL_ENV)."""
    full_env = {**os.environ, "ARCHIVER_BACKOFF": "0.05", **LOCAL_ENV, **(env or {})}
    return subprocess.run([ARCHIVER, "--storage", str(storage), *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, **kwargs)


def sql(storage: Path, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement on the storage folder's database (committed) and return its rows."""
    conn = sqlite3.connect(storage / "archiver.db")
    try:
        with conn:
            return conn.execute(query, params).fetchall()
    finally:
        conn.close()
