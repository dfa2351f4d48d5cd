"""archiver.preserve called as a library: the stages in order through one Watch, what is refused before
any fetch, and the papers that get no robust copy (with the reason in the summary)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke
from server import TestServer

from archiver.config import Settings
from archiver.errors import NotArchived, UsageError
from archiver.preserve import STAGES, Options, Watch, preserve


def test_stages_run_in_order_and_a_txt_paper_gets_no_robust_copy(settings: Settings, server: TestServer,
                                                                   tmp_path: Path) -> None:
    paper = tmp_path / "notes.txt"
    paper.write_text(f"As shown at {server.url('/page/preserve-lib')} and nowhere else.\n")
    seen: list[str] = []
    steps: list[object] = []
    done = preserve(settings, [paper], Options(tmp_path / "out", manifests=tmp_path / "manifests"),
                    Watch(stage=seen.append, step=steps.append))
    assert seen == list(STAGES)
    assert len(steps) == 3  # extract one paper, snapshot and check one URL
    assert (tmp_path / "manifests" / "notes.yaml").exists() and done.papers[0].manifest_state == "written"
    assert {s["what"]: s["why"] for s in done.skipped}["notes.robust.txt"] == "robustify does not rewrite .txt files"
    assert {p.name for p in done.written} == {"report.html", "notes.wacz", "preserve.json"}
    assert sum(done.verdicts.values()) == 1


def test_papers_of_one_name_are_refused_before_anything(settings: Settings, tmp_path: Path) -> None:
    for folder, suffix in (("a", ".md"), ("b", ".html")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"paper{suffix}").write_text("[x](http://example.org/)")
    with pytest.raises(UsageError, match="both would be preserved as"):
        preserve(settings, [tmp_path / "a" / "paper.md", tmp_path / "b" / "paper.html"],
                 Options(tmp_path / "out", manifests=tmp_path / "manifests"))
    assert not (tmp_path / "manifests").exists() and not settings.db_path.exists()


def test_a_paper_citing_nothing_exits_1(settings: Settings, storage: Path, tmp_path: Path) -> None:
    paper = tmp_path / "empty.md"
    paper.write_text("# Nothing cited here\n")
    with pytest.raises(NotArchived):
        preserve(settings, [paper], Options(tmp_path / "out", manifests=tmp_path / "manifests"))
    result = invoke(storage, "preserve", str(paper), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1 and "no cited URL" in result.stderr
    assert not (tmp_path / "out").exists()
