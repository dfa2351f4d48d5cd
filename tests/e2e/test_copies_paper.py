"""The issue's must-show, from the installed CLI: the sample paper's manifest (43 citations, most with an
accessed date) in a local world where every cited host is dead (resolver entries to a closed port), two
real pywb archives hold mementos for a subset (before and after each accessed date; one archived error
page), one of them a TimeGate-only archive (no TimeMap: Accept-Datetime and pywb's redirect), and a third
archive never answers. Every dead citation with a copy gets the nearest one; error pages are never
offered; the report tells "no copy" from "archive down"."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import REPO, require_module, run
from mementos import Held, Pywb, Silent, free_port
from server import page

from archiver.manifests import load_manifest

require_module("pywb", "the replay extra: pip install -e '.[replay]'")

ERROR_PAGE = (b"<!doctype html><html><head><title>Page not found</title></head><body><h1>Page not found</h1>"
              b"<p>Sorry, the page you are looking for does not exist.</p></body></html>")


def stamp(day: dt.date, shift: int) -> str:
    return (day + dt.timedelta(days=shift)).strftime("%Y%m%d") + "120000"


@dataclass
class World:
    root: Path
    manifest: Path
    expected: dict[str, tuple[str, str]]  # id -> (archive, 14-digit stamp) of the copy to be chosen
    error_id: str
    resolve: list[str]
    ia: int
    pt: int
    silent: int


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("paper")
    manifest = root / "paper.yaml"
    shutil.copy(REPO / "manifests" / "2021-artsakh-war-crimes.yaml", manifest)
    cited = [c for c in load_manifest(manifest).citations if c.accessed is not None]
    assert len(cited) >= 20
    ia_held: list[Held] = []
    pt_held: list[Held] = []
    expected: dict[str, tuple[str, str]] = {}
    for i, c in enumerate(cited[:12]):
        assert c.accessed is not None and c.id
        before, after, near = stamp(c.accessed, -40), stamp(c.accessed, 300), stamp(c.accessed, 3)
        ia_held += [Held(c.fetch_url, before, 200, page(f"{c.id} before")),
                     Held(c.fetch_url, after, 200, page(f"{c.id} after"))]
        expected[c.id] = ("internet_archive", before)
        if i % 3 == 0:  # the TimeGate-only archive holds a nearer one
            pt_held.append(Held(c.fetch_url, near, 200, page(f"{c.id} near")))
            expected[c.id] = ("arquivo_pt", near)
    error = cited[12]
    assert error.accessed is not None and error.id
    ia_held.append(Held(error.fetch_url, stamp(error.accessed, 1), 200, ERROR_PAGE))
    dead = free_port()  # nothing listens: every cited host refuses
    hosts = {urlsplit(c.fetch_url).hostname for c in load_manifest(manifest).citations}
    resolve = [f"{h}:{port}:127.0.0.1:{dead}" for h in sorted(h for h in hosts if h) for port in (80, 443)]
    ia = Pywb(root / "ia", "web", ia_held)
    pt = Pywb(root / "pt", "wayback", pt_held)
    silent = Silent()
    try:
        yield World(root, manifest, expected, error.id, resolve, ia.port, pt.port, silent.port)
    finally:
        ia.stop()
        pt.stop()
        silent.stop()


def config(world: World, *, with_silent: bool) -> Path:
    resolve = [*world.resolve, f"web.archive.org:80:127.0.0.1:{world.ia}", f"arquivo.pt:80:127.0.0.1:{world.pt}",
               f"archive.ph:80:127.0.0.1:{world.silent}"]
    archives = ['{name = "internet_archive", timemap = "http://web.archive.org/web/timemap/link/{url}",'
                ' wayback = true}',
                '{name = "arquivo_pt", timegate = "http://arquivo.pt/wayback/{url}", wayback = true}']
    if with_silent:
        archives.append('{name = "archive_today", timemap = "http://archive.ph/timemap/{url}"}')
    path = world.root / f"archiver-{with_silent}.toml"
    path.write_text(f"timeout = 1\ntotal_timeout = 2\nconnect_timeout = 1\nretries = 0\nper_host_delay = 0\n"
                    f"per_host = 4\nresolve = {json.dumps(resolve)}\narchives = [{', '.join(archives)}]\n")
    return path


@pytest.mark.parametrize("with_silent", [True, False])
def test_sample_paper_dead_citations_get_the_nearest_copy(world: World, tmp_path: Path, with_silent: bool) -> None:
    storage = tmp_path / "storage"
    env = {"ARCHIVER_CONFIG": str(config(world, with_silent=with_silent))}
    policy = ["--confirm-checks", "1", "--confirm-days", "0"]
    checked = run(storage, "check", str(world.manifest), "--copies", *policy, env=env, timeout=120)
    assert checked.returncode == 1, checked.stderr
    report = run(storage, "report", str(world.manifest), "--format", "json", *policy, env=env)
    rows = json.loads(report.stdout)
    assert len(rows) == 43
    for row in rows:
        assert row["verdict"] == "dead", row
        want = world.expected.get(row["id"])
        if want is None:
            assert row["copies"] == [], row  # nothing held, or only an archived error page
            # "no copy" (every archive answered) told apart from "archive down"
            assert row["copies_down"] == (["archive_today"] if with_silent else []), row
            continue
        archive, when = want
        best = row["copies"][0]
        assert best["archive"] == archive, row
        assert best["datetime"].replace("-", "").replace("T", "").replace(":", "")[:14] == when, row
        assert when in best["url"]
    error = next(r for r in rows if r["id"] == world.error_id)
    assert error["copies"] == []
    answers = json.loads(run(storage, "copies", str(world.manifest), "--json", env=env).stdout)
    held = {a["archive"]: a["status"] for r in answers if r["id"] == world.error_id for a in r["answers"]}
    assert held["internet_archive"] == "error_page"  # found, judged, and not offered
    # the TimeGate-only archive's copies were found by Accept-Datetime
    assert any(r["copies"] and r["copies"][0]["archive"] == "arquivo_pt" for r in rows)
