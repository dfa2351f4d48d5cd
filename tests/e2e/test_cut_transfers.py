"""Cut-off transfers, end to end through the installed CLI: a body cut short is `incomplete` (transient,
like a timeout), never a soft-404 and never a drift baseline; a body stopped by the size cap was seen.

Each hostile route of tests/helpers/server.py cuts a transfer its own way; `check --json` is read back."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import FAST, run
from server import TestServer

# route -> how it cuts the body (all are 200 answers whose body never completes)
CUT = {
    "reset-mid": "RST mid-body",
    "short-body": "closed short of its Content-Length",
    "headers-only": "closed right after the headers",
    "chunked-cut": "chunked stream broken off mid-chunk",
    "chunked-cut?garbage=1": "chunked stream with a bad chunk-size line",
    "drip?n=1000&interval=0.05": "slow drip stopped by the total time cap",
}


def manifest(tmp_path: Path, urls: dict[str, str]) -> Path:
    path = tmp_path / "cut.yaml"
    path.write_text("title: cut transfers\ncitations:\n" + "".join(
        f"  - id: {cid}\n    url: {json.dumps(url)}\n" for cid, url in urls.items()), encoding="utf-8")
    return path


def test_every_cut_transfer_is_incomplete_never_soft_404(fresh_server: TestServer, storage: Path,
                                                         tmp_path: Path) -> None:
    urls = {f"cut{i}": fresh_server.url(route) for i, route in enumerate(CUT)}
    fresh_server.state["articles"] = "whole"  # a site that 404s pages it lacks: the sibling probe finds none
    urls["whole"] = fresh_server.url("article/whole")
    out = run(storage, "check", str(manifest(tmp_path, urls)), "--json", *FAST[:2], "--timeout", "2",
              "--total-timeout", "2", "--retries", "0")
    assert out.returncode == 1, out.stderr  # incomplete is failing, as a timeout is
    verdicts = {v["id"]: v for v in json.loads(out.stdout)}
    for i, how in enumerate(CUT.values()):
        v = verdicts[f"cut{i}"]
        assert (v["status"], v["verdict"]) == ("incomplete", "failing"), (how, v)
        assert "cut short" in v["reason"] and v["http_status"] == 200, (how, v)
        assert v["drift"] is None and not v["offline"], (how, v)
    assert verdicts["whole"]["status"] == "ok"
    assert "soft_404" not in {v["status"] for v in verdicts.values()}
    with sqlite3.connect(storage / "archiver.db") as db:
        truncated = dict(db.execute("SELECT url, truncated FROM captures"))
    assert {truncated[url] for cid, url in urls.items() if cid != "whole"} == {"disconnect", "time"}
    assert truncated[urls["whole"]] is None


def test_a_cut_page_is_no_baseline_and_a_whole_one_compares_with_the_first(fresh_server: TestServer,
                                                                          storage: Path, tmp_path: Path) -> None:
    """The cited page is captured whole, then served cut off (incomplete, no drift, not a baseline, no
    capture a report would show), then whole again: drift is measured against the first whole copy."""
    path = manifest(tmp_path, {"c": fresh_server.url("sometimes-cut/cited")})
    fresh_server.state["cited"] = "whole"
    assert run(storage, "snapshot", str(path), *FAST).returncode == 0
    fresh_server.state["cited"] = "cut"
    out = run(storage, "check", str(path), "--json", *FAST, "--retries", "0")
    (v,) = json.loads(out.stdout)
    assert (v["status"], v["drift"], v["drift_level"]) == ("incomplete", None, None), v
    with sqlite3.connect(storage / "archiver.db") as db:
        first, cut = db.execute("SELECT MIN(id), MAX(id) FROM captures").fetchone()
        assert db.execute("SELECT baseline_capture FROM checks").fetchone() == (None,)  # compared with nothing
    report = json.loads(run(storage, "report", "--format", "json").stdout)
    assert report[0]["capture"]["captured_at"] < report[0]["checked_at"]  # the whole copy, not the cut one
    fresh_server.state["cited"] = "whole"
    out = run(storage, "check", str(path), "--json", *FAST)
    (v,) = json.loads(out.stdout)
    assert (v["status"], v["drift_level"]) == ("ok", "unchanged"), v
    with sqlite3.connect(storage / "archiver.db") as db:
        (baseline,) = db.execute("SELECT baseline_capture FROM checks ORDER BY id DESC LIMIT 1").fetchone()
    assert baseline == first != cut


@pytest.mark.parametrize("route", ["status/404", "status/503"])
def test_an_error_answer_cut_short_keeps_its_code(fresh_server: TestServer, storage: Path, tmp_path: Path,
                                                  route: str) -> None:
    """The status line arrived whole: a cut-off 404 is not_found (the code speaks, the body is not read)."""
    path = manifest(tmp_path, {"e": fresh_server.url(f"cut-error/{route.split('/')[1]}")})
    out = run(storage, "check", str(path), "--json", *FAST, "--retries", "0")
    (v,) = json.loads(out.stdout)
    assert v["status"] == {"status/404": "not_found", "status/503": "server_error"}[route], v
    assert "cut short" in v["reason"]


def test_the_size_cap_is_no_transfer_failure(fresh_server: TestServer, storage: Path, tmp_path: Path) -> None:
    """A body over --max-size was seen: its first bytes are read as the page (ok), WARC-Truncated: length."""
    out = run(storage, "check", str(manifest(tmp_path, {"big": fresh_server.url("big?size=60000")})),
              "--json", *FAST, "--max-size", "20000")
    (v,) = json.loads(out.stdout)
    assert v["status"] == "ok", v
    with sqlite3.connect(storage / "archiver.db") as db:
        assert db.execute("SELECT truncated FROM captures").fetchone() == ("length",)
