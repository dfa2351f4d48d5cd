"""Robustified papers open in their own tools: pandoc reads the .md, .html, .tex and .docx that the
installed CLI wrote (`--ours`) without error, and its reading holds the archived link beside the original
one (a Link to each, or for HTML the Robust Links attributes on the original Link); bibtexparser reads
the .bib with its `urldate`, `note` and `eprint` fields."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bibtexparser
import pytest
from bibtexparser.bparser import BibTexParser
from conftest import FAST, invoke, require_binary, run
from papers import make_docx
from server import TestServer

from archiver.cdx import timestamp14

PREFIX = "https://archive.example.org/paper"


def pandoc(path: Path, reader: str, writer: str) -> str:
    binary = require_binary("pandoc", "apt-get install -y pandoc; .ci/run does this")
    done = subprocess.run([binary, "-f", reader, "-t", writer, str(path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr.upper(), done.stderr
    return done.stdout


def links(node: Any) -> Iterator[tuple[str, dict[str, str], str]]:
    """Every Link of a pandoc JSON AST: its target, its key-value attributes and its title."""
    if isinstance(node, dict):
        if node.get("t") == "Link":
            (_, _, attrs), _, (target, title) = node["c"]
            yield target, dict(attrs), title
        for value in node.values():
            yield from links(value)
    elif isinstance(node, list):
        for item in node:
            yield from links(item)


def robustified(storage: Path, server: TestServer, tmp_path: Path, name: str) -> tuple[Path, str, str, str]:
    """A snapshot of one page, a paper citing it and a page never captured, robustified by the CLI:
    (the output, the cited URL, its archived copy, the capture's date)."""
    kept, never = server.url("page/tools"), server.url("page/never-captured")
    assert invoke(storage, "snapshot", kept, *FAST).exit_code == 0
    with sqlite3.connect(storage / "archiver.db") as db:
        newest = db.execute("SELECT MAX(captured_at) FROM captures WHERE fetch_url = ?", (kept,)).fetchone()[0]
    paper = tmp_path / name
    if name.endswith(".md"):
        paper.write_text(f"# Paper\n\nSee [the page]({kept}) and [another]({never}).\n")
    elif name.endswith(".html"):
        paper.write_text(f'<!DOCTYPE html><html><head><title>Paper</title></head><body>\n<p>See <a href="{kept}">'
                         f'the page</a> and <a href="{never}">another</a>.</p>\n</body></html>\n')
    elif name.endswith(".tex"):
        paper.write_text("\\documentclass{article}\n\\usepackage{hyperref}\n\\begin{document}\n"
                         f"See \\url{{{kept}}} and \\href{{{never}}}{{another}}.\n\\end{{document}}\n")
    elif name.endswith(".bib"):
        paper.write_text(f"@misc{{page,\n  title = {{The page}},\n  url = {{{kept}}}\n}}\n\n"
                         f"@misc{{other,\n  title = {{Another}},\n  url = {{{never}}}\n}}\n")
    else:
        make_docx(paper, [("the page", kept), ("another", never)], [])
    out = tmp_path / f"robust-{name}"
    done = run(storage, "robustify", str(paper), "-o", str(out), "--ours", PREFIX + "/")
    assert done.returncode == 0, done.stderr
    assert "1 of 2 links given an archived copy" in done.stderr
    return out, kept, f"{PREFIX}/{timestamp14(newest)}/{kept}", newest[:10]


@pytest.mark.parametrize(("name", "reader"), [("paper.md", "markdown"), ("paper.tex", "latex"),
                                              ("paper.docx", "docx")])
def test_pandoc_reads_the_archived_link_beside_the_original(storage: Path, server: TestServer, tmp_path: Path,
                                                            name: str, reader: str) -> None:
    out, kept, copy, day = robustified(storage, server, tmp_path, name)
    found = list(links(json.loads(pandoc(out, reader, "json"))))
    targets = [target for target, _, _ in found]
    assert kept in targets and copy in targets
    assert targets.index(copy) == targets.index(kept) + 1  # the archived link right after the original
    assert targets.count(copy) == 1
    text = pandoc(out, reader, "plain")
    assert "archived" in text
    # the capture's date: the archived link's title in Markdown, text after it elsewhere
    assert found[targets.index(copy)][2] == day if reader == "markdown" else day in text


def test_pandoc_reads_robust_links_attributes_in_html(storage: Path, server: TestServer, tmp_path: Path) -> None:
    out, kept, copy, day = robustified(storage, server, tmp_path, "paper.html")
    found = {target: attrs for target, attrs, _ in links(json.loads(pandoc(out, "html", "json")))}
    # pandoc keeps data-* attributes without their prefix
    assert found[kept] == {"originalurl": kept, "versionurl": copy, "versiondate": found[kept]["versiondate"]}
    assert found[kept]["versiondate"].startswith(day)
    assert copy not in found  # the copy is an attribute of the original link, not a link of its own
    assert len([attrs for attrs in found.values() if "versionurl" in attrs]) == 1
    assert "the page" in pandoc(out, "html", "plain")


def test_bibtexparser_reads_the_archived_fields(storage: Path, server: TestServer, tmp_path: Path) -> None:
    out, kept, copy, day = robustified(storage, server, tmp_path, "refs.bib")
    parser = BibTexParser(common_strings=True)
    entries = {entry["ID"]: entry for entry in bibtexparser.loads(out.read_text(), parser).entries}
    assert entries["page"]["url"] == kept
    assert entries["page"]["urldate"] == day
    assert entries["page"]["note"] == rf"Archived at \url{{{copy}}}, {day}"
    assert (entries["page"]["eprinttype"], entries["page"]["eprint"]) == ("Archived", copy)
    assert set(entries["other"]) == {"ID", "ENTRYTYPE", "title", "url"}
