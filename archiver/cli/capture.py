"""`archiver snapshot` and `archiver check`: the commands that fetch a manifest's URLs now, over
archiver/snapshot.py and archiver/check.py, and how their outcomes and verdicts are printed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .. import stamps
from ..errors import ArchiverError, RunSummary
from .options import fetch_options, json_option, policy_options, settings_from, targets_help
from .progress import Progress

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Iterator, Sequence

    from ..check import CitationVerdict
    from ..config import Settings
    from ..copies.find import SaveAsk
    from ..snapshot import Outcome, Summary


@click.command("snapshot", short_help="Fetch every cited URL once and keep it as WARC.")
@targets_help
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
@fetch_options
@json_option("the run as one JSON object (run_id, status, counts, network, problems, one entry per URL in"
             " `urls`, and in `unattempted` the URLs a stopped run never finished)")
@click.pass_context
def snapshot_command(ctx: click.Context, /, targets: tuple[str, ...], as_json: bool, **flags: Any) -> None:
    """Fetch every URL of the TARGETs (manifest files or URLs) once and keep it as WARC.

    Exit status: 0 all captured, 1 some failed (dead, HTTP error, unreachable, invalid URL),
    2 usage, 3 bad manifest or config, 4 storage failure, 130 interrupted.
    """
    from ..snapshot import snapshot  # each command imports what it uses: start-up stays short

    settings = settings_from(ctx, **flags)
    quiet = bool(settings.quiet)
    with Progress("snapshot", quiet=quiet, as_json=as_json) as progress:

        def each(outcome: Outcome) -> None:
            progress.advance()

        try:
            summary = snapshot(settings, list(targets), on_outcome=each, on_plan=progress.plan)
        except (ArchiverError, KeyboardInterrupt) as exc:
            partial = getattr(exc, "summary", None)
            if as_json and partial is not None:
                echo_json(partial)  # scripts still learn what was saved before the stop
            raise
    if as_json:
        echo_json(summary)
    if not quiet:
        print_problems(summary)
    if not as_json or not quiet:
        c = summary.counts
        click.echo(
            f"{c['captured']} captured, {c['unchanged']} unchanged, {c['failed']} failed"
            f" (run {summary.run_id}, {settings.storage})",
            err=True,
        )
    print_network(summary)
    ctx.exit(summary.exit_code)


def echo_json(summary: RunSummary) -> None:
    """A run's --json summary, written in pieces as it is read from the run's log (one string would
    hold every URL of the run)."""
    for chunk in summary.json_chunks():
        click.echo(chunk, nl=False)
    click.echo()


def print_network(summary: Summary) -> None:
    """The run's notices (e.g. no browser for pages that needed one), and the one line that says a run
    was judged offline (on stderr, also with --json and --quiet: they explain what was kept and why
    failures did not count)."""
    for notice in summary.notices:
        click.echo(f"note: {notice}", err=True)
    if summary.network is not None and summary.network.offline:
        click.echo(summary.network.line(), err=True)


def print_problems(summary: Summary) -> None:
    """The run's warnings, then one line per failed URL (on stderr), read back from the run's log."""
    for problem in summary.problems:
        click.echo(f"warning: {problem}", err=True)
    skipped = {(p.path, p.text) for p in summary.problems}
    for failed in summary.outcomes.failed():
        if (failed.manifest, failed.url) in skipped:
            continue  # already reported, with its line, as a skipped manifest entry
        what = failed.outcome if failed.outcome != "ok" else f"HTTP {failed.http_status}"
        detail = f" ({failed.error})" if failed.error else ""
        click.echo(f"failed: {failed.url}: {what}{detail}", err=True)


@click.command("check", short_help="Check cited URLs: availability, soft-404, drift, verdicts.")
@targets_help
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
@fetch_options
@json_option("a JSON array, one object per citation (manifest, id, url, verdict, status, reason, times, drift)"
             " instead of the table; a stopped check (exit 130) prints its run summary instead, with the"
             " URLs it never attempted")
@policy_options
@click.option("--copies", "find_copies", is_flag=True,
              help="Then look up copies in other web archives of the citations failing or dead.")
@click.option("--import", "import_", is_flag=True,
              help="With --copies: fetch each chosen copy into our WARCs (mode 'memento'; see archiver copies).")
@click.option("--save", is_flag=True, help="With --copies: ask archives to save the URLs without a copy (see"
                                           " archiver copies --save).")
@click.pass_context
def check_command(ctx: click.Context, /, targets: tuple[str, ...], as_json: bool, confirm_checks: int,
                  confirm_days: float, find_copies: bool, import_: bool, save: bool, **flags: Any) -> None:
    """Check every URL of the TARGETs: availability, soft-404, drift; record and archive what is seen.

    Prints the citations that are not alive. Exit status: 0 none failing or dead (blocked and
    drifted citations do not fail a run), 1 some failing or dead, 2 usage, 3 bad manifest or
    config, 4 storage failure, 130 interrupted.
    """
    from ..check import check
    from ..outcomes import json_array_chunks
    from ..verdict import Policy
    from .copies import save_ask

    if import_ and not find_copies:
        raise click.UsageError("--import needs --copies")
    if save and not find_copies:
        raise click.UsageError("--save needs --copies")
    asked = save_ask(save, False)  # before the check: missing keys are a usage error, not a late surprise
    settings = settings_from(ctx, **flags)
    with Progress("check", quiet=bool(settings.quiet), as_json=as_json) as progress:
        try:
            result = check(settings, list(targets), policy=Policy(confirm_checks, confirm_days),
                           on_plan=progress.plan, on_outcome=progress.advance)
        except (ArchiverError, KeyboardInterrupt) as exc:
            # Verdicts need the whole run; a stopped one prints its run summary instead (as snapshot
            # --json does), so scripts learn what was checked and which URLs were never attempted.
            partial = getattr(exc, "summary", None)
            if as_json and partial is not None:
                echo_json(partial)
            raise
    if as_json:
        for chunk in json_array_chunks(verdict_json(c) for c in result.citations):
            click.echo(chunk, nl=False)
        click.echo()
    else:
        for line in verdict_table(result.citations):
            click.echo(line)
    if find_copies:
        look_up_copies(settings, list(targets), result.citations, quiet=as_json, import_=import_, save=asked)
    counts = ", ".join(f"{n} {word}" for word, n in sorted(result.counts.items()))
    click.echo(f"{len(result.citations)} citations: {counts} (run {result.summary.run_id}, {settings.storage})",
               err=True)
    print_network(result.summary)
    ctx.exit(result.exit_code)


def look_up_copies(settings: Settings, targets: list[str], citations: Iterable[CitationVerdict], *, quiet: bool,
                   import_: bool = False, save: SaveAsk | None = None) -> None:
    """check --copies: copies elsewhere of the citations a check found failing or dead (kept in the
    database for the report; one line each on stderr)."""
    from ..copies.find import copies_for_targets
    from ..run import url_target

    wanted = {url_target(c.url)[0] for c in citations if c.verdict.verdict in ("failing", "dead")}
    if not wanted:
        return
    cited, stats = copies_for_targets(settings, targets, only=wanted.__contains__, save=save)
    if not quiet:
        from .copies import say_saves

        say_saves(stats.saved)
    if import_:
        from .copies import import_chosen

        import_chosen(settings, cited, targets, quiet=quiet)
    if quiet:
        return
    for c in cited:
        found = (f"{c.best.archive} {c.best.memento_datetime} {c.best.memento_url}" if c.best is not None
                 else f"no copy: {c.why_none()}")
        click.echo(f"copy: {c.id or c.url}: {found}", err=True)


def verdict_json(c: CitationVerdict) -> dict[str, Any]:
    """One citation's verdict as `check --json` prints it (times as stored: microseconds, Z)."""
    v = c.verdict

    def iso(t: dt.datetime | None) -> str | None:
        return stamps.iso(t) if t else None

    return {"manifest": c.manifest, "id": c.id, "url": c.url, "verdict": v.verdict, "status": v.status,
            "reason": c.reason, "http_status": c.http_status, "checked_at": iso(v.checked_at),
            "failing_since": iso(v.failing_since), "dead_since": iso(v.dead_since), "last_ok_at": iso(v.last_ok_at),
            "drift": c.drift, "drift_level": c.drift_level, "offline": v.offline, "offline_checks": v.offline_checks}


def verdict_table(citations: Sequence[CitationVerdict]) -> Iterator[str]:
    """The citations not alive, in 80 columns: verdict, status, id, then as much of the URL as is
    left, under a header row. Read twice (widths, then lines), never copied: a check may have a million."""
    def shown() -> Iterator[CitationVerdict]:
        return (c for c in citations if c.verdict.verdict != "alive")

    wide = 0
    for c in shown():
        wide = max(wide, 9, len(c.verdict.label))  # `failing (offline)` widens the column
    if wide:
        yield f"{'verdict':<{wide}} {'status':<18} {'id':<10} url"
    for c in shown():
        ident = (c.id or "-")[:10]
        status = c.verdict.status or "-"
        if c.drift_level and c.verdict.verdict == "drifted":
            status = f"drift {c.drift:.2f}"
        head = f"{c.verdict.label:<{wide}} {status:<18} {ident:<10} "
        room = max(80 - len(head), 20)
        url = c.url if len(c.url) <= room else c.url[: room - 1] + "…"
        yield head + url
