"""`archiver report`: the click layer over archiver/report.py (and report_html.py for --format html)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..atomic import write_atomically
from ..config import REPLAY_PORT
from ..report.formats import FORMATS
from ..verdict import Policy
from .options import force_option, parse_since, policy_options, refuse_overwrite, settings_from, targets_help


@click.command("report", short_help="One row per citation: verdict, since when, drift, capture.")
@targets_help
@click.argument("targets", nargs=-1, metavar="[TARGET...]")
@click.option("--dead", "only", flag_value="dead", multiple=True, help="Only dead citations.")
@click.option("--drifted", "only", flag_value="drifted", multiple=True, help="Only drifted citations.")
@click.option("--failing", "only", flag_value="failing", multiple=True,
              help="Only failing citations. Several of these flags: citations with any of the verdicts.")
@click.option("--since", metavar="DATE",
              help="Only citations whose failure began or was confirmed on or after DATE (failing_since or"
                   " dead_since; ISO date, midnight UTC, or date-time).")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="Output format.  [default: from the -o suffix (.json .csv .md .html), else table]")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE, not stdout.")
@click.option("--replay-port", type=click.IntRange(1, 65535), default=REPLAY_PORT, show_default=True,
              help="html: the port of `archiver replay` that the replay links point at.")
@force_option
@policy_options
@click.pass_context
def report_command(ctx: click.Context, /, targets: tuple[str, ...], only: tuple[str, ...], since: str | None,
                   fmt: str | None, output: Path | None, replay_port: int, force: bool, confirm_checks: int,
                   confirm_days: float) -> None:
    """One row per citation of the TARGETs (manifest files or URLs; none: every manifest in the database):
    verdict, status, since when, last time it was fine, drift, and the newest good capture.

    The verdicts are computed now from the recorded checks under --confirm-checks/--confirm-days;
    the database is only read. An existing -o file is replaced only with --force. Exit status: 0 no
    reported citation is dead, 1 some is, 2 usage (an output file that exists included), 3 bad
    manifest or config, 4 storage failure.
    """
    settings = settings_from(ctx)
    refuse_overwrite(output, force)
    from ..report.build import build_report, report_json  # the database layer: only when a report runs
    from ..report.formats import format_for, to_csv, to_markdown, to_table
    from ..report.rows import Filters

    filters = Filters(frozenset(only), parse_since(since))
    policy = Policy(confirm_checks, confirm_days)
    kind = format_for(fmt, output)
    if kind == "json":  # built by SQLite where it can be: 100,000 citations in about a second
        text, code = report_json(settings, list(targets), policy, filters)
        _emit(text, output, kind)
        ctx.exit(code)
    report = build_report(settings, list(targets), policy, filters)
    if kind == "table":
        colour = output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        text = "\n".join(to_table(report, colour=colour)) + "\n"
    elif kind == "csv":
        text = to_csv(report)
    elif kind == "md":
        text = to_markdown(report)
    else:
        from ..report.html import to_html  # reads archived payloads: trafilatura only when asked

        text = to_html(report, settings, replay_port)
    _emit(text, output, kind)
    ctx.exit(report.exit_code)


def _emit(text: str, output: Path | None, kind: str) -> None:
    if output is None:
        click.echo(text, nl=False, color=True if kind == "table" else None)
        return
    write_atomically(output, text.encode("utf-8"))
    click.echo(f"wrote {output}", err=True)
