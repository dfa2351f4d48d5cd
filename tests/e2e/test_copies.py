"""`archiver copies` against real local web archives: two pywb instances under the real host names of
the Internet Archive and Arquivo.pt (the resolver override sends them to loopback), holding different
mementos written here, and an archive.today that accepts connections and never answers."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import run
from mementos import Held, Pywb, Silent
from server import page

from archiver.copies import Copy, best_copies
from archiver.db.archive_db import ArchiveDB

A = "http://gone.invalid/article"  # IA near the accessed date, Arquivo.pt later
B = "http://gone.invalid/only-later"  # Arquivo.pt only
C = "http://gone.invalid/error"  # IA holds only archived error pages (a soft-404 and a 404)
D = "http://gone.invalid/never"  # no archive holds it
ERROR_PAGE = (b"<!doctype html><html><head><title>Page not found</title></head><body><h1>Page not found</h1>"
              b"<p>Sorry, the page you are looking for does not exist.</p></body></html>")


@dataclass
class World:
    config: Path
    manifest: Path
    silent: Silent


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("archives")
    ia = Pywb(root / "ia", "web", [
        Held(A, "20200301120000", 200, page("Article A as cited")),
        Held(C, "20200301120000", 200, ERROR_PAGE),
        Held(C, "20210101000000", 404, ERROR_PAGE),
    ])
    pt = Pywb(root / "pt", "wayback", [
        Held(A, "20230601000000", 200, page("Article A later")),
        Held(B, "20220101000000", 200, page("Article B")),
    ])
    silent = Silent()
    config = root / "archiver.toml"
    IA_GATE = 'timegate = "http://web.archive.org/web/{url}", wayback = true'  # noqa: N806
    config.write_text(f"""
timeout = 1
total_timeout = 2
connect_timeout = 1
retries = 0
per_host_delay = 0
resolve = ["web.archive.org:80:127.0.0.1:{ia.port}", "arquivo.pt:80:127.0.0.1:{pt.port}",
           "archive.ph:80:127.0.0.1:{silent.port}"]
archives = [
  {{name = "internet_archive", timemap = "http://web.archive.org/web/timemap/link/{{url}}", {IA_GATE}}},
  {{name = "arquivo_pt", timemap = "http://arquivo.pt/wayback/timemap/link/{{url}}", wayback = true}},
  {{name = "archive_today", timemap = "http://archive.ph/timemap/{{url}}"}},
]
""")
    manifest = root / "paper.yaml"
    manifest.write_text(f"""title: paper
citations:
  - {{url: "{A}", id: a, accessed: 2020-03-05}}
  - {{url: "{B}", id: b, accessed: 2020-03-05}}
  - {{url: "{C}", id: c, accessed: 2020-03-05}}
  - {{url: "{D}", id: d, accessed: 2020-03-05}}
""")
    try:
        yield World(config, manifest, silent)
    finally:
        ia.stop()
        pt.stop()
        silent.stop()


def copies(world: World, storage: Path, *args: str) -> tuple[int, list[dict[str, object]], str]:
    result = run(storage, "copies", str(world.manifest), "--json", *args, env={"ARCHIVER_CONFIG": str(world.config)})
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else [], result.stderr


def test_copies_nearest_judged_and_why_none(world: World, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    started = time.monotonic()
    code, out, err = copies(world, storage)
    elapsed = time.monotonic() - started
    assert code == 1, err  # c and d have none
    by_id = {row["id"]: row for row in out}
    # a: the memento nearest its accessed date (IA, 2020), not Arquivo.pt's later one
    assert by_id["a"]["copy"] == {"archive": "internet_archive",
                                  "url": f"http://web.archive.org/web/20200301120000/{A}",
                                  "datetime": "2020-03-01T12:00:00.000000Z"}
    statuses = {a["archive"]: a["status"] for a in by_id["a"]["answers"]}
    assert statuses == {"internet_archive": "ok", "arquivo_pt": "ok", "archive_today": "unreachable"}
    # b: Arquivo.pt's, the only one
    assert by_id["b"]["copy"]["archive"] == "arquivo_pt"
    assert by_id["b"]["copy"]["url"] == f"http://arquivo.pt/wayback/20220101000000/{B}"
    # c: archived error pages are never offered
    assert by_id["c"]["copy"] is None
    c_answers = {a["archive"]: a for a in by_id["c"]["answers"]}
    assert c_answers["internet_archive"]["status"] == "error_page"
    assert "soft_404" in c_answers["internet_archive"]["detail"] or "404" in c_answers["internet_archive"]["detail"]
    assert c_answers["arquivo_pt"]["status"] == "no_copy"
    # d: "no copy" told apart from "archive unreachable"
    d_answers = {a["archive"]: a["status"] for a in by_id["d"]["answers"]}
    assert d_answers == {"internet_archive": "no_copy", "arquivo_pt": "no_copy", "archive_today": "unreachable"}
    # one silent archive costs one timeout, not one per citation
    assert elapsed < 15, elapsed
    # the database: rows, the view, and the public read
    with ArchiveDB.open(storage / "archiver.db", readonly=True) as db:
        best = best_copies(db, [A, B, C, D])
        ranked = db.db.execute("SELECT citation_id, archive, rank FROM citation_copies"
                               " ORDER BY citation_id, rank").fetchall()
    assert set(best) == {A, B}
    assert best[A].archive == "internet_archive" and best[A].datetime.year == 2020
    assert isinstance(best[B], Copy)
    # citations are only in the view once a snapshot or check recorded the manifest: none here
    assert ranked == [] or ranked[0][2] == 1


def test_answers_are_cached_for_a_day_but_unreachable_is_asked_again(world: World, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    copies(world, storage)
    before = world.silent.accepted
    code, out, err = copies(world, storage)
    assert "answers asked" in err
    # only archive_today (unreachable every time: never cached) was asked again, once for the run
    assert "4 answers asked, 8 reused" in err, err
    assert world.silent.accepted == before + 1
    rows = sqlite3.connect(storage / "archiver.db").execute(
        "SELECT status, COUNT(*) FROM copies GROUP BY status ORDER BY status").fetchall()
    assert dict(rows)["unreachable"] == 8


def test_check_copies_then_report_fields(world: World, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    env = {"ARCHIVER_CONFIG": str(world.config)}
    checked = run(storage, "check", str(world.manifest), "--copies", "--confirm-checks", "1", "--confirm-days", "0",
                  env=env)
    assert checked.returncode == 1, checked.stderr  # every citation is dead (.invalid never resolves)
    assert f"copy: a: internet_archive 2020-03-01T12:00:00.000000Z http://web.archive.org/web/20200301120000/{A}" \
        in checked.stderr
    assert "copy: d: no copy: archive_today: unreachable" in checked.stderr
    report = run(storage, "report", str(world.manifest), "--format", "json", "--confirm-checks", "1",
                 "--confirm-days", "0", env=env)
    rows = {row["id"]: row for row in json.loads(report.stdout)}
    assert rows["a"]["verdict"] == "dead"
    assert rows["a"]["copies"] == [
        {"archive": "internet_archive", "url": f"http://web.archive.org/web/20200301120000/{A}",
         "datetime": "2020-03-01T12:00:00.000000Z"},
        {"archive": "arquivo_pt", "url": f"http://arquivo.pt/wayback/20230601000000/{A}",
         "datetime": "2023-06-01T00:00:00.000000Z"},
    ]
    assert [c["archive"] for c in rows["b"]["copies"]] == ["arquivo_pt"]
    assert rows["c"]["copies"] == [] and rows["d"]["copies"] == []
    # the Python path (another policy than the stored one) gives the same copies
    slow = run(storage, "report", str(world.manifest), "--format", "json", "--confirm-checks", "2", env=env)
    assert {r["id"]: r["copies"] for r in json.loads(slow.stdout)} == {k: r["copies"] for k, r in rows.items()}
    md = run(storage, "report", str(world.manifest), "--format", "md", "--confirm-checks", "1",
             "--confirm-days", "0", env=env).stdout
    line_a = next(line for line in md.splitlines() if line.startswith("| a |"))
    assert f"[internet_archive 2020-03-01](<http://web.archive.org/web/20200301120000/{A}>)" in line_a
    line_c = next(line for line in md.splitlines() if line.startswith("| c |"))
    assert line_c.endswith("|  |")
    table = run(storage, "report", str(world.manifest), "--format", "table", "--confirm-checks", "1",
                "--confirm-days", "0", env={**env, "COLUMNS": "200"}).stdout
    assert "copy: arquivo_pt 2022-01-01 http://arquivo.pt/wayback/20220101000000/" in table
    csv_out = run(storage, "report", str(world.manifest), "--format", "csv", "--confirm-checks", "1",
                  "--confirm-days", "0", env=env).stdout
    assert "copy_archive,copy_url,copy_datetime" in csv_out.splitlines()[0]


def test_robustify_links_the_best_public_copy(world: World, tmp_path: Path) -> None:
    """Without --ours, robustify adds each cited link's best judged copy from the archives: here the
    Internet Archive's memento near the accessed date for A, Arquivo.pt's for B, nothing for C and D."""
    storage = tmp_path / "storage"
    copies(world, storage)
    paper = tmp_path / "paper.md"
    text = f"See [the article]({A}), [the later one]({B}), [an error]({C}) and [nothing]({D}).\n"
    paper.write_text(text)
    out = tmp_path / "robust.md"
    done = run(storage, "robustify", str(paper), "-o", str(out), env={"ARCHIVER_CONFIG": str(world.config)})
    assert done.returncode == 0, done.stderr
    written = out.read_text()
    assert f"([archived](http://web.archive.org/web/20200301120000/{A} \"2020-03-01\"))" in written
    assert f"([archived](http://arquivo.pt/wayback/20220101000000/{B} \"2022-01-01\"))" in written
    assert written.count("[archived]") == 2
