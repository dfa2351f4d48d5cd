"""`archiver show` gives the reader the newest good capture (a whole 2xx payload), not a newer 404 or
cut-off body, and says which it chose and what it passed over; `--latest` the newest whatever it is;
`--at` the nearest whatever it is. `history --json` marks the good captures and the report's capture
is the same one."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import invoke
from server import TestServer, page

from archiver.replay import replay_url

FLAGS = ["--per-host-delay", "0", "--timeout", "2", "--total-timeout", "6"]


def captured(storage: Path, fresh_server: TestServer) -> tuple[str, list[dict[str, object]]]:
    """article/x: a page, then the same page cut off by the size cap, then a 404 (newest first in history)."""
    url = fresh_server.url("article/x")
    fresh_server.state["articles"] = "x"
    assert invoke(storage, "snapshot", url, *FLAGS).exit_code == 0
    assert invoke(storage, "snapshot", url, *FLAGS, "--max-size", "100").exit_code == 0
    fresh_server.state["articles"] = ""
    assert invoke(storage, "snapshot", url, *FLAGS).exit_code == 1  # the 404 is a failed capture
    history = invoke(storage, "history", url, "--json")
    assert history.exit_code == 0
    return url, json.loads(history.stdout)


def test_show_prefers_the_newest_good_capture_and_says_so(storage: Path, fresh_server: TestServer) -> None:
    url, rows = captured(storage, fresh_server)
    assert [(r["http_status"], r["truncated"], r["good"]) for r in rows] == [
        (404, None, False), (200, "length", False), (200, None, True)]
    shown = invoke(storage, "show", url)
    assert shown.exit_code == 0 and shown.stdout_bytes == page("article x")
    good, cut, missing = rows[2], rows[1], rows[0]
    expected = (f"newest good capture of {url}: {good['captured_at']}, HTTP 200 (response, capture {good['id']} in"
                f" {good['warc']}); newer captures: 2 (HTTP 404 at {str(missing['captured_at'])[:19]}Z, HTTP 200 cut"
                f" off (length) at {str(cut['captured_at'])[:19]}Z): --latest shows the newest; replay: ")
    assert shown.stderr.startswith(expected), shown.stderr
    assert shown.stderr.count("\n") == 1
    link = invoke(storage, "show", url, "--replay")
    assert link.exit_code == 0 and link.stdout.strip() == replay_url(good)


def test_latest_and_at_give_what_they_name_whatever_it_holds(storage: Path, fresh_server: TestServer) -> None:
    url, rows = captured(storage, fresh_server)
    latest = invoke(storage, "show", url, "--latest")
    assert latest.exit_code == 0 and b"no such article" in latest.stdout_bytes
    assert latest.stderr.startswith(f"newest capture of {url}: {rows[0]['captured_at']}, HTTP 404 (response,")
    nearest = invoke(storage, "show", url, "--at", str(rows[1]["captured_at"]))
    assert nearest.exit_code == 0 and len(nearest.stdout_bytes) < len(page("article x"))  # the cut-off body
    assert nearest.stderr.startswith(f"capture of {url} nearest {rows[1]['captured_at']}: ")
    assert "HTTP 200 cut off (length)" in nearest.stderr
    both = invoke(storage, "show", url, "--latest", "--at", "2026-01-01")
    assert both.exit_code == 2 and "--at and --latest: choose one" in both.stderr


def test_with_no_good_capture_show_gives_the_newest_and_says_none_is_good(storage: Path,
                                                                           fresh_server: TestServer) -> None:
    url = fresh_server.url("article/never")
    assert invoke(storage, "snapshot", url, *FLAGS).exit_code == 1
    shown = invoke(storage, "show", url)
    assert shown.exit_code == 0 and b"no such article" in shown.stdout_bytes
    assert re.match(rf"no good capture of {re.escape(url)} \(none holds a whole 2xx payload\); the newest: \S+,"
                    r" HTTP 404 \(response,", shown.stderr)


def test_the_report_points_at_the_capture_show_gives(storage: Path, fresh_server: TestServer) -> None:
    url, rows = captured(storage, fresh_server)
    report = invoke(storage, "report", url, "--format", "json")
    assert report.exit_code in (0, 1), report.stderr
    (row,) = json.loads(report.stdout)
    good = rows[2]
    assert (row["capture"]["captured_at"], row["capture"]["warc"]) == (good["captured_at"], good["warc"])
