"""`archiver daemon` and `archiver status`: the click layer over archiver/daemon.py (keep every
manifest of a folder on its schedule; what it did and will do next)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import stamps
from .options import daemon_fetch_options, json_option, settings_from

if TYPE_CHECKING:
    import datetime as dt

    from ..status import ManifestStatus


@click.command("daemon", short_help="Snapshot and check a folder of manifests on schedule.")
@click.option("--manifests", "manifests_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("manifests"), show_default=True, help="Folder of manifests to keep archiving.")
@click.option("--once", is_flag=True, help="Run whatever is due now, then exit (for cron and systemd timers).")
@click.option("--rescan", type=click.FloatRange(0.1), default=60, show_default=True, metavar="SECONDS",
              help="How often to look for added, edited and removed manifests (also on SIGHUP).")
@click.option("--log-format", type=click.Choice(["human", "json"]), default="human", show_default=True,
              help="One line per job run on stderr, as text or JSON.")
@click.option("--warc-roll", default="1d", show_default=True, metavar="DURATION",
              help="Job runs append to one WARC file until it is this old (30m, 12h, 1d, ...; 0s: a file per run)"
                   " or full; it is closed on stop.")
@daemon_fetch_options
@click.pass_context
def daemon_command(ctx: click.Context, /, manifests_dir: Path, once: bool, rescan: float, log_format: str,
                   warc_roll: str, **flags: Any) -> None:
    """Snapshot and check every manifest in a folder on its `schedule:` (default: check daily,
    snapshot weekly), for as long as it runs.

    Exit status: 0 stopped by SIGTERM/SIGINT (runs in flight cut short, files closed), 2 usage,
    3 bad config, 4 storage failure, 75 another daemon holds the storage folder; with --once,
    130 when interrupted.
    """
    from ..daemon import Daemon
    from ..manifests import parse_interval

    roll = parse_interval(warc_roll)
    if roll is None:
        raise click.BadParameter(f"{warc_roll!r} is not a duration like 30m, 12h or 1d", param_hint="--warc-roll")
    settings = settings_from(ctx, **flags)
    daemon = Daemon(settings, manifests_dir, rescan=rescan, log_format=log_format, warc_roll=roll)
    ctx.exit(daemon.once() if once else daemon.serve())


@click.command("status", short_help="Each manifest's schedule, last and next runs, verdicts.")
@click.option("--manifests", "manifests_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of manifests the daemon keeps.  [default: ./manifests, else the database's manifests]")
@json_option("one JSON object (daemon, and per manifest: schedule, last and next runs, verdict counts)"
             " instead of the table")
@click.pass_context
def status_command(ctx: click.Context, manifests_dir: Path | None, as_json: bool) -> None:
    """Each manifest's schedule, last and next runs, and counts of alive / failing / dead citations.

    Without --manifests and without a ./manifests folder, the manifests the database knows (as they
    were last snapshot or checked). Exit status: 0 shown, 2 usage (no such folder, no database),
    3 bad config, 4 storage failure.
    """
    from ..lock import holder
    from ..status import status

    settings = settings_from(ctx)
    rows = status(settings, manifests_dir or Path("manifests"), given=manifests_dir is not None)
    running = holder(settings.storage)
    if as_json:
        click.echo(json.dumps(status_json(running, rows), indent=2))
        return
    click.echo(f"daemon: {running or 'not running'} ({settings.storage})")
    for r in rows:
        for line in status_lines(r):
            click.echo(line)


def next_run(when: dt.datetime | None) -> str | None:
    """A next run time as status prints it: to the second, like every time people read (stamps.py)."""
    return stamps.iso(when, "seconds") if when is not None else None


def status_json(running: str | None, rows: list[ManifestStatus]) -> dict[str, Any]:
    return {"daemon": running, "manifests": [{
        "manifest": r.manifest, "schedule": r.schedule, "error": r.error, "verdicts": r.verdicts,
        "last": {k: ({"started_at": v["started_at"], "finished_at": v["finished_at"], "status": v["status"],
                      "run_id": v["id"]} if v else None) for k, v in r.last.items()},
        "next": {k: next_run(v) for k, v in r.next.items()}} for r in rows]}


def status_lines(r: ManifestStatus) -> list[str]:
    """One manifest's block of `archiver status`: a blank line, its path, then its runs and verdicts."""
    from ..manifests import parse_interval

    lines = ["", r.manifest]
    if r.error:
        return [*lines, f"  error: {r.error}"]
    lines.append(f"  {'run':<8} {'schedule':<18} {'last run':<32} next run")
    for kind in ("snapshot", "check"):
        last = r.last.get(kind)
        done = f"{stamps.iso(stamps.parse(last['started_at']), 'seconds')} {last['status']}" if last else "never"
        nxt = next_run(r.next.get(kind)) or "not scheduled"
        spec = r.schedule[kind]
        every = f"every {spec}" if parse_interval(spec) is not None else f"cron {spec}"
        lines.append(f"  {kind:<8} {every:<18} {done:<32} {nxt}")
    counts = ", ".join(f"{r.verdicts.get(w, 0)} {w}" for w in ("alive", "drifted", "failing", "dead", "blocked",
                                                                "unchecked") if r.verdicts.get(w))
    return [*lines, f"  citations: {counts or 'none'}"]
