"""`archiver preserve`: the click layer over archiver/preserve.py (papers in, a folder with the report,
the WACZ and the robust copies out), and its one progress line across the stages."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..config import REPLAY_PORT
from .options import fetch_options, json_option, policy_options, settings_from

if TYPE_CHECKING:
    from ..preserve import Preserved


class StageLine:
    """One line on stderr, redrawn in place: `preserve [3/7] check 12/40`. Drawn only for a person
    watching (as Progress: not with --quiet or --json, not when stderr is no terminal)."""

    def __init__(self, stages: tuple[str, ...], *, shown: bool) -> None:
        self.stages = stages
        self.shown = shown
        self.name = ""
        self.total = 0
        self.done = 0

    def stage(self, name: str) -> None:
        self.name, self.total, self.done = name, 0, 0
        self._draw()

    def plan(self, total: int) -> None:
        self.total, self.done = total, 0
        self._draw()

    def step(self, _item: object = None) -> None:
        self.done += 1
        self._draw()

    def notice(self, text: str) -> None:
        self._clear()
        click.echo(f"note: {text}", err=True)
        self._draw()

    def close(self) -> None:
        self._clear()

    def _draw(self) -> None:
        if not self.shown or not self.name:
            return
        where = f"[{self.stages.index(self.name) + 1}/{len(self.stages)}]"
        count = f" {self.done}/{self.total}" if self.total else ""
        click.echo(f"\r\033[Kpreserve {where} {self.name}{count}", err=True, nl=False)

    def _clear(self) -> None:
        if self.shown and self.name:
            click.echo("\r\033[K", err=True, nl=False)


@click.command("preserve", short_help="Extract, snapshot, check and package a paper's citations.")
@click.argument("papers", nargs=-1, required=True, metavar="PAPER...",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("preserved"),
              show_default=True, help="Folder to write the report, the WACZ files and the robust copies into.")
@click.option("--probe/--offline", default=True, show_default=True,
              help="extract: fetch repair candidates to keep the one that resolves, or flag them as suspect.")
@click.option("--doi/--no-doi", "dois", default=True, show_default=True,
              help="extract: keep DOIs as `doi:` citations, or leave them out.")
@click.option("--ours", metavar="URL-PREFIX",
              help="Robust links to our own copies, replayed at URL-PREFIX/<14-digit time>/<url>, not to"
                   " copies in other web archives.")
@click.option("--replay-port", type=click.IntRange(1, 65535), default=REPLAY_PORT, show_default=True,
              help="The port of `archiver replay` that the report's replay links point at.")
@click.option("--force", is_flag=True,
              help="Replace a manifest that differs from a fresh extract, and overwrite files of the same"
                   " names in a folder preserve did not write.")
@policy_options
@fetch_options
@json_option("one object: the papers and their manifests, the runs, counts per verdict, copies, the files"
             " written and what was skipped (also written to FOLDER/preserve.json)")
@click.pass_context
def preserve_command(ctx: click.Context, /, papers: tuple[Path, ...], out: Path, probe: bool, dois: bool,
                     ours: str | None, replay_port: int, force: bool, confirm_checks: int, confirm_days: float,
                     as_json: bool, **flags: Any) -> None:
    """Preserve what the PAPERs cite, in one go: extract (manifests/<paper>.yaml), snapshot, check,
    copies in other web archives of failing and dead citations, then write into the folder
    report.html, <paper>.wacz and <paper>.robust.<ext> (.md .html .tex .bib .docx papers).

    Run it again later to check again and update the folder. Exit status: 0 no citation is dead,
    1 some is (or no paper cites anything), 2 usage, 3 bad manifest or config, 4 storage failure,
    130 interrupted.
    """
    from ..preserve import STAGES, Options, Watch, preserve
    from ..verdict import Policy

    settings = settings_from(ctx, **flags)
    quiet = bool(settings.quiet)
    line = StageLine(STAGES, shown=not quiet and not as_json and sys.stderr.isatty())
    options = Options(out, Policy(confirm_checks, confirm_days), probe=probe, dois=dois, force=force, ours=ours,
                      replay_port=replay_port)
    try:
        done = preserve(settings, list(papers), options,
                        Watch(stage=line.stage, plan=line.plan, step=line.step, notice=line.notice))
    finally:
        line.close()
    if as_json:
        click.echo(json.dumps(done.to_json(), indent=2))
    if not quiet:
        print_done(done)
    ctx.exit(done.exit_code)


def print_done(done: Preserved) -> None:
    """What a person reads at the end (stderr): manifests, suspect repairs, verdicts, files."""
    for paper in done.papers:
        click.echo(f"{paper.path}: {paper.citations} citations, {paper.invalid} invalid; manifest"
                   f" {paper.manifest} {paper.manifest_state}", err=True)
        for s in paper.suspects:
            click.echo(f"suspect: {paper.path}: {s.id or '-'}: {s.url} ({s.candidates} candidates)", err=True)
    counts = ", ".join(f"{n} {word}" for word, n in sorted(done.verdicts.items()))
    click.echo(f"{sum(done.verdicts.values())} citations: {counts} (check run {done.check_run})", err=True)
    if done.copies is not None:
        click.echo(f"copies: {done.copies['found']} of {done.copies['looked_up']} failing or dead citations"
                   " have one elsewhere", err=True)
    for path in done.written:
        click.echo(f"wrote {path}", err=True)
