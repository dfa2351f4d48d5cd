"""`archiver browse` over a database made by real runs against the test server (alive, dead, failing,
drifted, blocked), through Datasette's own client and once in headless Chromium: the canned queries
give the citations and verdicts `archiver report --format json` gives, the facet counts are the HTML
report's counts, every canned query runs, and the database file is byte-identical afterwards."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
import socket
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ARCHIVER, FAST, LOCAL_ENV, require_binary, require_module, run
from server import TestServer

from archiver.browse import CANNED, NOTES

require_module("datasette", "the browse extra: pip install -e '.[browse]'")

POLICY = ["--confirm-checks", "2", "--confirm-days", "0"]  # the view's policy is set to match (verdict_policy)
REPLAY = "http://127.0.0.1:8080/archive/"


@dataclass
class World:
    storage: Path
    manifest: Path
    urls: dict[str, str]  # citation id -> URL
    report: dict[str, dict[str, Any]]  # citation id -> `report --format json` row

    @property
    def db(self) -> Path:
        return self.storage / "archiver.db"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("browse")
    with TestServer("127.0.0.1") as srv:
        srv.state["articles"] = "kept,dies,goes"
        srv.state["topic"] = "initial"
        urls = {"kept": srv.url("/article/kept"), "dies": srv.url("/article/dies"), "goes": srv.url("/article/goes"),
                "topic": srv.url("/state/topic"), "walled": srv.url("/status/403")}
        manifest = tmp / "paper.yaml"
        manifest.write_text("title: A paper on sources\ncitations:\n" + "".join(
            f"  - url: {url}\n    id: {cid}\n" for cid, url in urls.items()))
        storage = tmp / "storage"
        assert run(storage, "snapshot", str(manifest), *FAST).returncode == 1  # /status/403 fails
        with sqlite3.connect(storage / "archiver.db") as db:  # the view judges as `report` does with POLICY
            db.execute("UPDATE verdict_policy SET checks = 2, days = 0")
        srv.state["articles"] = "kept,goes"
        srv.state["topic"] = ("now about something else entirely: the article was replaced by a shop selling"
                              " garden furniture, lamps and kitchen chairs at low prices")
        for n in range(2):
            if n:
                srv.state["articles"] = "kept"
            out = run(storage, "check", str(manifest), *FAST, *POLICY)
            assert out.returncode in (0, 1), out.stderr
    out = run(storage, "report", "--format", "json", *POLICY)
    assert out.returncode == 1, out.stderr
    report = {row["id"]: row for row in json.loads(out.stdout)}
    assert {cid: r["verdict"] for cid, r in report.items()} == {
        "kept": "alive", "dies": "dead", "goes": "failing", "topic": "drifted", "walled": "blocked"}
    yield World(storage, manifest, urls, report)


def ask(world: World, *paths: str, replay_url: str | None = REPLAY) -> list[Any]:
    """GET each path from a Datasette serving the world's database the way `archiver browse` does; the
    JSON bodies (text for HTML pages)."""
    from archiver.browse_server import close_opened, datasette_for, open_for_browsing

    opened = open_for_browsing(world.db)
    try:
        ds = datasette_for(opened, "archiver", replay_url)

        async def fetch() -> list[Any]:
            out = []
            for path in paths:
                response = await ds.client.get(path)
                assert response.status_code == 200, (path, response.text[:500])
                out.append(response.json() if ".json" in path else response.text)
            return out

        return asyncio.run(fetch())
    finally:
        close_opened(opened)


def test_canned_queries_match_the_json_report(world: World) -> None:
    before = digest(world.db)
    dead, drifted, drifted_later, captures, runs = ask(
        world, "/archiver/dead_citations_by_paper.json?_shape=array",
        "/archiver/drifted_since.json?_shape=array&since=2000-01-01",
        "/archiver/drifted_since.json?_shape=array&since=2999-01-01",
        f"/archiver/captures_of_url.json?_shape=array&url={world.urls['dies']}",
        "/archiver/failed_runs.json?_shape=array")
    by_verdict = {v: sorted(cid for cid, r in world.report.items() if r["verdict"] == v) for v in ("dead", "drifted")}
    assert [(r["citation_id"], r["url"], r["dead_since"], r["failing_since"]) for r in dead] == [
        (cid, world.report[cid]["url"], world.report[cid]["dead_since"], world.report[cid]["failing_since"])
        for cid in by_verdict["dead"]]
    assert all(r["paper"] == "A paper on sources" and r["manifest"] == world.report[r["citation_id"]]["manifest"]
               for r in dead)
    assert [(r["citation_id"], r["drift"]) for r in drifted] == [
        (cid, world.report[cid]["drift"]) for cid in by_verdict["drifted"]]
    assert drifted_later == []  # nothing drifted after 2999
    # the snapshot's capture and one per check; all of the dead URL
    assert {r["url"] for r in captures} == {world.urls["dies"]} and len(captures) == 3
    assert [r["http_status"] for r in captures][-2:] == [404, 404]
    with sqlite3.connect(world.db) as db:
        want = [r[0] for r in db.execute("SELECT id FROM runs WHERE failed > 0 OR status != 'done' ORDER BY id DESC")]
    assert want and [r["id"] for r in runs] == want
    assert digest(world.db) == before


def test_facet_counts_are_the_html_reports(world: World, tmp_path: Path) -> None:
    """Item 4: the HTML report's counts per verdict are Datasette's facet counts for the same database."""
    page = tmp_path / "report.html"
    assert run(world.storage, "report", "-o", str(page), *POLICY).returncode == 1
    html = page.read_text()
    shown = {v: int(n) for v, n in re.findall(r'<span class="v v-(\w+)">\w+</span> (\d+)</span>', html)}
    (facets,) = ask(world, "/archiver/citation_verdicts.json?_facet=verdict&_facet=host&_shape=objects")
    counted = {item["value"]: item["count"] for item in facets["facet_results"]["verdict"]["results"]}
    assert shown == counted == dict(Counter(r["verdict"] for r in world.report.values()))
    hosts = {item["value"]: item["count"] for item in facets["facet_results"]["host"]["results"]}
    assert hosts == {"127.0.0.1": len(world.report)}


def test_every_table_and_view_is_described_and_every_query_runs(world: World) -> None:
    (home,) = ask(world, "/archiver.json")
    names = {t["name"] for t in home["tables"]} | {v["name"] for v in home["views"]}
    assert names and names <= set(NOTES)
    pages = ask(world, *[f"/archiver/{name}" for name in sorted(names)])
    for name, text in zip(sorted(names), pages, strict=True):
        assert NOTES[name][0] in text, name  # the title shows on the table's page
    params = {"drifted_since": "since=2000-01-01", "captures_of_url": f"url={world.urls['kept']}"}
    answers = ask(world, *[f"/archiver/{q.name}.json?_shape=objects&{params.get(q.name, '')}" for q in CANNED])
    for query, answer in zip(CANNED, answers, strict=True):
        assert answer["ok"] and not answer.get("error") and answer["rows"], query.name


def test_url_cells_link_to_replay(world: World) -> None:
    (captures,) = ask(world, "/archiver/captures?fetch_url=" + world.urls["kept"])
    links = re.findall(r'<a class="replay" href="([^"]+)"', captures)
    assert links and all(re.fullmatch(re.escape(REPLAY) + r"\d{14}/" + re.escape(world.urls["kept"]), h)
                         for h in links)
    (plain,) = ask(world, "/archiver/captures", replay_url=None)
    assert 'class="replay"' not in plain


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"archiver browse did not listen on {port}")


def test_browse_in_headless_chromium(world: World, tmp_path: Path) -> None:
    """`archiver browse` as a process, its dead-citations page loaded in Debian's chromium through
    Playwright: the DOM shows the canned query's rows, the screenshot is a real rendering of the page
    (its size, and more than one colour), and the database file is unchanged after."""
    require_module("playwright", "the browser extra: pip install -e '.[browse,browser]'")
    chromium = require_binary("chromium", "Debian's chromium: apt-get install chromium",
                              path=os.environ.get("ARCHIVER_CHROMIUM"))
    from PIL import Image
    from playwright.sync_api import sync_playwright

    before = digest(world.db)
    port = free_port()
    proc = subprocess.Popen([ARCHIVER, "--storage", str(world.storage), "browse", "--port", str(port),
                             "--replay-url", REPLAY], env={**os.environ, **LOCAL_ENV}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_listening(port, proc)
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium, args=[
                "--proxy-server=http://127.0.0.1:9", f"--proxy-bypass-list=127.0.0.1:{port}"])
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 800})
                page.goto(f"http://127.0.0.1:{port}/archiver/dead_citations_by_paper")
                rows = page.locator("table.rows-and-columns tbody tr")
                assert rows.count() == 1
                cells = rows.first.inner_text()
                assert "dies" in cells and world.urls["dies"] in cells and "A paper on sources" in cells
                assert page.locator("a.replay").count() == 1
                box = rows.first.bounding_box()
                assert box is not None
                shot = page.screenshot(full_page=True)
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    assert image.size[0] == 1200 and image.size[1] >= 800
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 10  # text, links and table rules: not a blank page
    # where the DOM put the row, the picture has text (anti-aliased glyphs: many shades), not background
    row = image.crop((int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"])))
    assert row.size[0] > 100 and len(row.getcolors(maxcolors=1 << 20) or []) > 10
    (tmp_path / "dead.png").write_bytes(shot)
    assert digest(world.db) == before
