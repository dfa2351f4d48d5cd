"""Command line: a thin click layer over the library. Exit codes: 0 ok, 1 dead links or failed
captures, 2 usage, 3 bad manifest/config, 4 storage/database, 70 internal error, 130 interrupted."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import __version__
from ..atomic import write_atomically
from ..config import REPLAY_PORT, Settings, load_settings
from ..errors import ArchiverError, NotArchived, StorageError, UsageError

if TYPE_CHECKING:
    from ..snapshot import Outcome


class ArchiverGroup(click.Group):
    """Maps the ArchiverError tree to exit codes with a one-line message, for the console script
    and for CliRunner alike."""

    def invoke(self, ctx: click.Context) -> Any:
        previous = signal.getsignal(signal.SIGTERM)
        if previous in (signal.SIG_DFL, None):
            # SIGTERM (systemd stop, kill) gets the same clean shutdown as Ctrl-C.
            signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            return super().invoke(ctx)
        except ArchiverError as exc:
            click.echo(f"archiver: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("archiver: interrupted", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # the last guard: report, never a bare traceback, exit 70
            click.echo(f"archiver: internal error: {type(exc).__name__}: {exc}", err=True)
            if os.environ.get("ARCHIVER_DEBUG"):
                traceback.print_exc()
            else:
                click.echo("archiver: set ARCHIVER_DEBUG=1 for the traceback, and please report it", err=True)
            ctx.exit(70)
        finally:
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)


@click.group(cls=ArchiverGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archiver")
@click.option("--storage", type=click.Path(file_okay=False, path_type=Path), envvar="ARCHIVER_STORAGE",
              help="Folder of WARC files and the database.  [env ARCHIVER_STORAGE; default ./storage]")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), envvar="ARCHIVER_DB",
              help="Database file.  [env ARCHIVER_DB; default <storage>/archiver.db]")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              envvar="ARCHIVER_CONFIG", help="TOML config file.  [env ARCHIVER_CONFIG; default ./archiver.toml]")
@click.pass_context
def cli(ctx: click.Context, storage: Path | None, db: Path | None, config_file: Path | None) -> None:
    """Keep the sources a paper cites: snapshot cited URLs into WARC files, recorded in SQLite."""
    ctx.obj = {"storage": storage, "db": db, "config_file": config_file}
    # trafilatura warns on every page it finds no article in (tiny and error pages): noise for us.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)


def _settings(ctx: click.Context, **flags: Any) -> Settings:
    obj = ctx.find_root().obj or {}
    return load_settings(obj.get("config_file"), storage=obj.get("storage"), db=obj.get("db"), **flags)


# Options shared by every command that fetches, by parameter name.
_FETCH_OPTIONS: list[tuple[str, Callable[[Any], Any]]] = [
    ("concurrency", click.option("--concurrency", type=click.IntRange(1, 512),
                                 help="Requests in flight.  [default 16]")),
    ("per_host", click.option("--per-host", type=click.IntRange(1, 64),
                              help="Requests in flight per host.  [default 1]")),
    ("per_host_delay", click.option("--per-host-delay", type=click.FloatRange(0), metavar="SECONDS",
                                    help="Pause between requests to one host; 0 turns it off.  [default 1]")),
    ("timeout", click.option("--timeout", type=click.FloatRange(0, min_open=True), metavar="SECONDS",
                             help="Longest silence tolerated from a server.  [default 30]")),
    ("total_timeout", click.option("--total-timeout", type=click.FloatRange(0, min_open=True), metavar="SECONDS",
                                   help="Cap on one URL, redirects and retries included.  [default 120]")),
    ("max_size", click.option("--max-size", type=click.IntRange(1), metavar="BYTES",
                              help="Body size cap; longer bodies are kept truncated.  [default 100 MB]")),
    ("retries", click.option("--retries", type=click.IntRange(0, 10),
                             help="Retries on 408/429/5xx/timeouts.  [default 2]")),
    ("user_agent", click.option("--user-agent", metavar="TEXT",
                                help="User-Agent header.  [default archiver/VERSION ...]")),
    ("as_json", click.option("--json", "as_json", is_flag=True,
                             help="Print a machine-readable summary on stdout.")),
    ("quiet", click.option("--quiet", "-q", is_flag=True, default=None,
                           help="No progress bar or per-URL lines.")),
]


def fetch_options(func: Callable[..., Any], only: tuple[str, ...] | None = None) -> Callable[..., Any]:
    """The shared fetch options (snapshot, check); `only` picks some of them by name."""
    for name, option in reversed(_FETCH_OPTIONS):
        if only is None or name in only:
            func = option(func)
    return func


def probe_options(func: Callable[..., Any]) -> Callable[..., Any]:
    return fetch_options(func, only=("concurrency", "per_host_delay", "timeout", "total_timeout", "retries",
                                     "user_agent", "quiet"))


def daemon_fetch_options(func: Callable[..., Any]) -> Callable[..., Any]:
    return fetch_options(func, only=tuple(name for name, _ in _FETCH_OPTIONS if name != "as_json"))


@cli.command("extract")
@click.argument("papers", nargs=-1, required=True, metavar="PAPER...",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Manifest file to write (e.g. manifests/NAME.yaml); default stdout.")
@click.option("--probe/--offline", default=True, show_default=True,
              help="Fetch repair candidates to keep the one that resolves, or flag them as suspect.")
@click.option("--title", help="Manifest title.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@probe_options
@click.pass_context
def extract_command(ctx: click.Context, /, papers: tuple[Path, ...], output: Path | None, probe: bool,
                    title: str | None, force: bool, **flags: Any) -> None:
    """Find the URLs the PAPERs cite (.txt .md .html .pdf .docx .tex .bib) and write a manifest.

    Exit status: 0 written, 1 no cited URL found, 2 usage (unreadable or unknown input, output
    exists), 4 the output cannot be written, 130 interrupted.
    """
    from ..extract import extract_papers, manifest_yaml, tally

    settings = _settings(ctx, **flags)
    if output is not None and output.exists() and not force:
        raise UsageError(f"{output}: exists; pass --force to overwrite it")
    results = extract_papers(list(papers), probe=probe, settings=settings)
    if not settings.quiet:
        for result in results:
            for found in result.citations:
                if found.suspect:
                    label = found.id or found.url
                    click.echo(f"suspect: {result.source}: {label}: {found.url}"
                               f" ({len(found.candidates)} candidates)", err=True)
            for invalid in result.invalid:
                click.echo(f"invalid: {result.source}: {invalid.id or '-'}: {invalid.printed}: {invalid.reason}",
                           err=True)
    for result in results:
        click.echo(f"{result.source}: {tally(result)}", err=True)
    if not any(r.citations for r in results):
        click.echo("archiver: no cited URL found; no manifest written", err=True)
        ctx.exit(1)
    text = manifest_yaml(results, title=title)
    if output is None:
        click.echo(text, nl=False)
        return
    write_atomically(output, text.encode())
    click.echo(f"wrote {output}", err=True)


@cli.command("snapshot")
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
@fetch_options
@click.pass_context
def snapshot_command(ctx: click.Context, /, targets: tuple[str, ...], as_json: bool, **flags: Any) -> None:
    """Fetch every URL of the TARGETs (manifest files or URLs) once and keep it as WARC.

    Exit status: 0 all captured, 1 some failed (dead, HTTP error, unreachable, invalid URL),
    2 usage, 3 bad manifest or config, 4 storage failure, 130 interrupted.
    """
    from ..snapshot import snapshot  # each command imports what it uses: start-up stays short

    settings = _settings(ctx, **flags)
    quiet = bool(settings.quiet)
    show_bar = not quiet and not as_json and sys.stderr.isatty()
    bar: Any = None
    failures: list[Outcome] = []

    def plan(total: int) -> None:
        nonlocal bar
        if show_bar:
            bar = click.progressbar(length=total, label="snapshot", file=sys.stderr, show_pos=True)
            bar.__enter__()

    def each(outcome: Outcome) -> None:
        if outcome.result == "failed":
            failures.append(outcome)
        if bar is not None:
            bar.update(1)

    try:
        summary = snapshot(settings, list(targets), on_outcome=each, on_plan=plan)
    except (ArchiverError, KeyboardInterrupt) as exc:
        partial = getattr(exc, "summary", None)
        if as_json and partial is not None:
            click.echo(partial.to_json())  # scripts still learn what was saved before the stop
        raise
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if as_json:
        click.echo(summary.to_json())
    if not quiet:
        for problem in summary.problems:
            click.echo(f"warning: {problem}", err=True)
        skipped = {(p.path, p.text) for p in summary.problems}
        for failed in failures:
            if (failed.manifest, failed.url) in skipped:
                continue  # already reported, with its line, as a skipped manifest entry
            what = failed.outcome if failed.outcome != "ok" else f"HTTP {failed.http_status}"
            detail = f" ({failed.error})" if failed.error else ""
            click.echo(f"failed: {failed.url}: {what}{detail}", err=True)
    if not as_json or not quiet:
        c = summary.counts
        click.echo(
            f"{c['captured']} captured, {c['unchanged']} unchanged, {c['failed']} failed"
            f" (run {summary.run_id}, {settings.storage})",
            err=True,
        )
    ctx.exit(summary.exit_code)


def policy_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--confirm-days", type=click.FloatRange(0), default=3, show_default=True, metavar="D",
                        help="...spanning at least D days.")(func)
    return click.option("--confirm-checks", type=click.IntRange(1), default=3, show_default=True, metavar="N",
                        help="Dead after N consecutive failed checks...")(func)


@cli.command("check")
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
@fetch_options
@policy_options
@click.pass_context
def check_command(ctx: click.Context, /, targets: tuple[str, ...], as_json: bool, confirm_checks: int,
                  confirm_days: float, **flags: Any) -> None:
    """Check every URL of the TARGETs: availability, soft-404, drift; record and archive what is seen.

    Prints the citations that are not alive. Exit status: 0 none failing or dead (blocked and
    drifted citations do not fail a run), 1 some failing or dead, 2 usage, 3 bad manifest or
    config, 4 storage failure, 130 interrupted.
    """
    from ..check import check
    from ..verdict import Policy

    settings = _settings(ctx, **flags)
    show_bar = not settings.quiet and not as_json and sys.stderr.isatty()
    bar: Any = None

    def plan(total: int) -> None:
        nonlocal bar
        if show_bar:
            bar = click.progressbar(length=total, label="check", file=sys.stderr, show_pos=True)
            bar.__enter__()

    try:
        result = check(settings, list(targets), policy=Policy(confirm_checks, confirm_days), on_plan=plan,
                       on_outcome=lambda outcome: bar.update(1) if bar is not None else None)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if as_json:
        click.echo(json.dumps([_verdict_json(c) for c in result.citations], indent=2))
    else:
        for line in _verdict_table([c for c in result.citations if c.verdict.verdict != "alive"]):
            click.echo(line)
    counts = ", ".join(f"{n} {word}" for word, n in sorted(result.counts.items()))
    click.echo(f"{len(result.citations)} citations: {counts} (run {result.summary.run_id}, {settings.storage})",
               err=True)
    ctx.exit(result.exit_code)


def _verdict_json(c: Any) -> dict[str, Any]:
    v = c.verdict

    def iso(t: dt.datetime | None) -> str | None:
        return t.isoformat().replace("+00:00", "Z") if t else None

    return {"manifest": c.manifest, "id": c.id, "url": c.url, "verdict": v.verdict, "status": v.status,
            "reason": c.reason, "http_status": c.http_status, "checked_at": iso(v.checked_at),
            "failing_since": iso(v.failing_since), "dead_since": iso(v.dead_since), "last_ok_at": iso(v.last_ok_at),
            "drift": c.drift, "drift_level": c.drift_level}


def _verdict_table(rows: list[Any]) -> list[str]:
    """Fits 80 columns: verdict, status, id, then as much of the URL as is left."""
    lines = []
    for c in rows:
        ident = (c.id or "-")[:10]
        status = c.verdict.status or "-"
        if c.drift_level and c.verdict.verdict == "drifted":
            status = f"drift {c.drift:.2f}"
        url = c.url if len(c.url) <= 40 else c.url[:39] + "…"
        lines.append(f"{c.verdict.verdict:<9} {status:<18} {ident:<10} {url}")
    return lines


@cli.command("daemon")
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
    settings = _settings(ctx, **flags)
    daemon = Daemon(settings, manifests_dir, rescan=rescan, log_format=log_format, warc_roll=roll)
    ctx.exit(daemon.once() if once else daemon.serve())


@cli.command("status")
@click.option("--manifests", "manifests_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("manifests"), show_default=True, help="Folder of manifests the daemon keeps.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@click.pass_context
def status_command(ctx: click.Context, manifests_dir: Path, as_json: bool) -> None:
    """Each manifest's schedule, last and next runs, and counts of alive / failing / dead citations."""
    from ..daemon import holder, status
    from ..manifests import parse_interval

    settings = _settings(ctx)
    rows = status(settings, manifests_dir)
    running = holder(settings.storage)

    def when(value: Any) -> str | None:
        if value is None:
            return None
        return value.isoformat(timespec="seconds").replace("+00:00", "Z") if isinstance(value, dt.datetime) else value

    if as_json:
        click.echo(json.dumps({"daemon": running, "manifests": [{
            "manifest": r.manifest, "schedule": r.schedule, "error": r.error, "verdicts": r.verdicts,
            "last": {k: ({"started_at": v["started_at"], "finished_at": v["finished_at"], "status": v["status"],
                          "run_id": v["id"]} if v else None) for k, v in r.last.items()},
            "next": {k: when(v) for k, v in r.next.items()}} for r in rows]}, indent=2))
        return
    click.echo(f"daemon: {running or 'not running'} ({settings.storage})")
    for r in rows:
        click.echo(f"\n{r.manifest}")
        if r.error:
            click.echo(f"  error: {r.error}")
            continue
        for kind in ("snapshot", "check"):
            last = r.last.get(kind)
            done = f"{last['started_at'][:19]}Z {last['status']}" if last else "never"
            nxt = when(r.next.get(kind)) or "not scheduled"
            spec = r.schedule[kind]
            every = f"every {spec}" if parse_interval(spec) is not None else f"cron {spec}"
            click.echo(f"  {kind:<8} {every:<18} last {done:<29} next {nxt}")
        counts = ", ".join(f"{r.verdicts.get(w, 0)} {w}" for w in ("alive", "drifted", "failing", "dead", "blocked",
                                                                    "unchecked") if r.verdicts.get(w))
        click.echo(f"  citations: {counts or 'none'}")


@cli.command("history")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="JSON array instead of a table.")
@click.pass_context
def history_command(ctx: click.Context, url: str, as_json: bool) -> None:
    """Every capture of URL, newest first."""
    from ..archive import Archive
    from ..replay import replay_url

    with Archive(_settings(ctx), writing=False) as archive:
        rows = archive.history(url)
    if not rows:
        raise NotArchived(f"{url}: never captured in {archive.settings.db_path}")
    if as_json:
        for row in rows:  # where `archiver replay` serves each capture that has a payload
            row["replay_url"] = replay_url(row) if row["record_type"] in ("response", "revisit") else None
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        status = row["outcome"] if row["outcome"] != "ok" else f"{row['http_status']}"
        kind = row["record_type"] or "-"
        where = f"{row['warc']}@{row['warc_offset']}" if row["warc"] else (row["error"] or "")
        size = row["payload_size"] if row["payload_size"] is not None else "-"
        sha = (row["payload_sha256"] or "-")[:16]
        trunc = f" truncated:{row['truncated']}" if row["truncated"] else ""
        click.echo(f"{row['captured_at'][:19]}Z  {status:<16} {kind:<8} {size:>10}  {sha}  {where}{trunc}")


def _parse_at(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO date or date-time", param_hint="--at") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@cli.command("show")
@click.argument("url")
@click.option("--at", "at", metavar="DATE", help="Capture nearest this ISO date/time (default: newest).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE, not stdout.")
@click.option("--max-size", type=click.IntRange(1), default=2 * 1024**3, show_default=True, metavar="BYTES",
              help="Refuse to decode more than this (gzip bombs).")
@click.option("--replay", "as_link", is_flag=True,
              help="Print where `archiver replay` serves this capture instead of the payload.")
@click.option("--port", type=click.IntRange(1, 65535), default=REPLAY_PORT, show_default=True,
              help="The port of `archiver replay`, for the replay link.")
@click.pass_context
def show_command(ctx: click.Context, url: str, at: str | None, output: Path | None, max_size: int, as_link: bool,
                 port: int) -> None:
    """The archived payload of URL as captured, decoded from its Content-Encoding."""
    from ..archive import Archive
    from ..replay import replay_url

    when = _parse_at(at)
    with Archive(_settings(ctx), writing=False) as archive:
        capture = archive.capture_at(url, when)
        if capture is None:
            raise NotArchived(f"{url}: no archived copy in {archive.settings.db_path}")
        link = replay_url(capture, port)
        if as_link:
            click.echo(link)
            return
        click.echo(f"capture {capture['id']} of {capture['captured_at']} (HTTP {capture['http_status']},"
                   f" {capture['record_type']}) from {capture['warc']}; replay: {link}", err=True)
        target = output.with_name(output.name + ".part") if output else None
        try:
            sink = open(target, "wb") if target else sys.stdout.buffer
        except OSError as exc:
            raise StorageError(f"{target}: cannot write: {exc.strerror}") from exc
        written = 0
        complete = False
        try:
            for chunk in archive.open_payload(capture):
                written += len(chunk)
                if written > max_size:
                    raise StorageError(f"{url}: decoded payload exceeds --max-size {max_size} bytes")
                sink.write(chunk)
            sink.flush()
            complete = True
        except OSError as exc:
            raise StorageError(f"{output or 'stdout'}: cannot write: {exc.strerror}") from exc
        finally:
            if target and output:
                sink.close()
                if complete:
                    os.replace(target, output)  # never leave a half-written file under the asked name
                else:
                    target.unlink(missing_ok=True)


from .replay import export_command, replay_command  # noqa: E402
from .report import report_command  # noqa: E402  (it imports helpers from this module)
from .verify import verify_command  # noqa: E402

cli.add_command(report_command)
cli.add_command(verify_command)
cli.add_command(replay_command)
cli.add_command(export_command)


def main() -> None:
    cli(prog_name="archiver")
