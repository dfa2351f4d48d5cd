"""`archiver robustify` from the installed CLI: a real snapshot, then a paper whose links point at our replay."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conftest import FAST, invoke, run
from server import TestServer

from archiver.cdx import timestamp14

PREFIX = "https://archive.example.org/paper"


def test_robustify_links_our_newest_good_capture(storage: Path, server: TestServer, tmp_path: Path) -> None:
    kept, failing = server.url("page/robust"), server.url("status/404/robust")
    assert invoke(storage, "snapshot", kept, *FAST).exit_code == 0
    assert invoke(storage, "snapshot", kept, *FAST).exit_code == 0  # the newer capture is the one linked
    invoke(storage, "snapshot", failing, *FAST)  # a 404 is captured, but it is no good copy
    with sqlite3.connect(storage / "archiver.db") as db:
        newest = db.execute("SELECT MAX(captured_at) FROM captures WHERE fetch_url = ?", (kept,)).fetchone()[0]
    paper = tmp_path / "paper.md"
    source = f"# Paper\n\nSee [the page]({kept}) and [a dead one]({failing}).\n"
    paper.write_text(source)
    out = tmp_path / "robust.md"
    done = run(storage, "robustify", str(paper), "-o", str(out), "--ours", PREFIX + "/")
    assert done.returncode == 0, done.stderr
    assert "1 of 2 links given an archived copy" in done.stderr
    copy = f"{PREFIX}/{timestamp14(newest)}/{kept}"
    assert out.read_text() == source.replace(f"({kept})", f'({kept}) ([archived]({copy} "{newest[:10]}"))')

    again = run(storage, "robustify", str(paper), "-o", str(out), "--ours", PREFIX)
    assert again.returncode == 2 and "exists" in again.stderr  # no overwriting without --force


def test_robustify_without_a_copy_writes_nothing(storage: Path, server: TestServer, tmp_path: Path) -> None:
    assert invoke(storage, "snapshot", server.url("page/other"), *FAST).exit_code == 0
    paper = tmp_path / "paper.tex"
    paper.write_text(r"See \url{" + server.url("page/never-captured") + "}.\n")
    out = tmp_path / "robust.tex"
    done = run(storage, "robustify", str(paper), "-o", str(out), "--ours", PREFIX)
    assert done.returncode == 1 and "nothing written" in done.stderr
    assert not out.exists()
    public = run(storage, "robustify", str(paper), "-o", str(out))  # no copy in other archives either
    assert public.returncode == 1 and "nothing written" in public.stderr
    assert not out.exists()
