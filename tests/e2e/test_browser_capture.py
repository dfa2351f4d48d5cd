"""Browser capture from the installed CLI: choosing the mode, and what happens where no browser can run.

What a rendering keeps (sub-resources, screenshot, DOM, nothing fetched behind archiver's back) is in
test_browser_keeps.py, against the simulated JavaScript web.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import FAST, run

NO_CHROMIUM = {"ARCHIVER_CHROMIUM": "/nonexistent/chromium"}


def _modes(storage: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(storage / "archiver.db") as db:
        return db.execute("SELECT fetch_url, mode FROM captures ORDER BY id").fetchall()


def test_browser_mode_without_chromium_is_a_usage_error_before_any_fetch(fresh_server, storage):
    done = run(storage, "snapshot", fresh_server.url("/shell"), "--capture", "browser", *FAST, env=NO_CHROMIUM)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "/nonexistent/chromium" in lines[0] and "apt-get install chromium" in lines[0]
    assert fresh_server.hits == []


def test_auto_without_chromium_keeps_http_and_says_so_once(fresh_server, storage):
    urls = [fresh_server.url("/shell"), fresh_server.url("/shell?second")]
    done = run(storage, "snapshot", *urls, "--capture", "auto", "--json", *FAST, env=NO_CHROMIUM)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert [u["mode"] for u in summary["urls"]] == ["http", "http"]
    assert len(summary["notices"]) == 1 and "captured over HTTP only" in summary["notices"][0]
    assert done.stderr.count("note: pages that need a browser are captured over HTTP only") == 1


def test_http_mode_never_renders(fresh_server, storage):
    done = run(storage, "snapshot", fresh_server.url("/shell"), "--capture", "http", *FAST)
    assert done.returncode == 0, done.stderr
    assert _modes(storage) == [(fresh_server.url("/shell"), "http")]
    assert [h.path for h in fresh_server.hits] == ["/shell"]  # the script was never asked for


def test_auto_renders_a_shell_and_not_an_article(fresh_server, storage):
    shell, article = fresh_server.url("/shell"), fresh_server.url("/page/plain")
    done = run(storage, "snapshot", shell, article, "--json", *FAST)
    assert done.returncode == 0, done.stderr
    assert dict(_modes(storage)) == {shell: "browser", article: "http"}
    with sqlite3.connect(storage / "archiver.db") as db:
        (rendering,) = db.execute("SELECT rendering FROM captures WHERE mode = 'browser'").fetchone()
    assert json.loads(rendering)["title"] == "App"


def test_manifest_capture_key_decides_per_citation(fresh_server, storage, tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(f"citations:\n  - url: {fresh_server.url('/shell')}\n    capture: http\n"
                        f"  - url: {fresh_server.url('/page/x')}\n    capture: browser\n")
    done = run(storage, "snapshot", str(manifest), *FAST)
    assert done.returncode == 0, done.stderr
    assert dict(_modes(storage)) == {fresh_server.url("/shell"): "http", fresh_server.url("/page/x"): "browser"}


def test_manifest_capture_key_must_be_a_mode(fresh_server, storage, tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(f"citations:\n  - url: {fresh_server.url('/page/x')}\n    capture: screenshot\n")
    done = run(storage, "snapshot", str(manifest), *FAST)
    assert done.returncode == 3
    assert f"{manifest}:2" in done.stderr and "capture must be one of http, browser, auto" in done.stderr
