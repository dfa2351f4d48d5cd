"""Command line: a thin click layer over the library. Exit codes: 0 ok, 1 dead links or failed
captures, 2 usage, 3 bad manifest/config, 4 storage/database, 70 internal error, 130 interrupted.

This module owns the group (`cli`, its global options, how errors become exit codes) and the
console script's `main`; each command family lives in a module of its own and is registered here.
Commands import the library modules they use only when they run: `archiver --help` stays short.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import traceback
from pathlib import Path
from typing import Any

import click

from .. import __version__, signals
from ..errors import ArchiverError
from .browse import browse_command
from .capture import check_command, snapshot_command
from .copies import copies_command
from .daemon import daemon_command, status_command
from .extract import extract_command
from .options import GlobalOptions, global_options
from .preserve import preserve_command
from .records import history_command, show_command
from .replay import export_command, replay_command
from .report import report_command
from .robustify import robustify_command
from .stamp import stamp_command
from .verify import verify_command


class ArchiverGroup(click.Group):
    """Maps the ArchiverError tree to exit codes with a one-line message, for the console script
    and for CliRunner alike; lists its commands with their whole one-line descriptions."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click cuts each description to fit one line, ending it with "..."; ours are written short
        # (`short_help`), and a longer one (a command without) wraps rather than being cut.
        rows = [(name, command.get_short_help_str(limit=1000)) for name in self.list_commands(ctx)
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        # SIGTERM (systemd stop, kill) gets the same clean shutdown as Ctrl-C, unless the embedding
        # program (or a test) has a handler of its own.
        own = signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)
        with signals.handled({} if own else {signal.SIGTERM: signal.default_int_handler}):
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
                internal_error(exc)
                ctx.exit(70)


def internal_error(exc: Exception) -> None:
    click.echo(f"archiver: internal error: {type(exc).__name__}: {exc}", err=True)
    if os.environ.get("ARCHIVER_DEBUG"):
        traceback.print_exc()
    else:
        click.echo("archiver: set ARCHIVER_DEBUG=1 for the traceback, and please report it", err=True)


@click.group(cls=ArchiverGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archiver")
@global_options
@click.pass_context
def cli(ctx: click.Context, storage: Path | None, db: Path | None, config_file: Path | None,
        warc_store: str | None) -> None:
    """Keep the sources a paper cites: snapshot cited URLs into WARC files, recorded in SQLite."""
    ctx.obj = GlobalOptions(storage, db, config_file, warc_store)
    # trafilatura warns on every page it finds no article in (tiny and error pages): noise for us.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)


for command in (extract_command, snapshot_command, check_command, daemon_command, status_command,
                history_command, show_command, report_command, verify_command, replay_command, export_command,
                copies_command, robustify_command, stamp_command):
    cli.add_command(command)
cli.add_command(preserve_command)
cli.add_command(browse_command)  # archiver/cli/browse.py (the browse extra: Datasette)


def main() -> None:
    try:
        cli(prog_name="archiver")
    finally:
        # The command has closed all it wrote. Shutting the interpreter down would still run the
        # cyclic collector over everything loaded: 40-140 ms measured, more than a short command
        # takes. Frozen, those objects are left to the process's end (finalizers of objects in
        # cycles are not promised at exit anyway; atexit and weakref.finalize still run).
        gc.freeze()
