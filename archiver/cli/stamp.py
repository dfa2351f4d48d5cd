"""`archiver stamp`: the click layer over archiver/evidence/timestamps.py."""

from __future__ import annotations

import json

import click

from ..errors import UsageError
from .options import json_option, settings_from


@click.command("stamp", short_help="Send the log's head to the timestamp authorities (RFC 3161).")
@json_option("an array, one object per authority: its answer (stamped, already stamped or failed), the entry and file")
@click.pass_context
def stamp_command(ctx: click.Context, as_json: bool) -> None:
    """Send the head of the tamper-evident log (its newest entry's hash) to every Time Stamping
    Authority in the `tsa` setting and keep each signed RFC 3161 token (table timestamps, and
    storage/timestamps/<seq>-<tsa host>.tsr). One line per authority on stderr. Exit status: 0 every
    authority stamped the head, 1 one did not (named) or the log is empty, 2 no authority configured,
    4 the database cannot be written."""
    settings = settings_from(ctx)
    if not settings.tsa:
        raise UsageError("no Time Stamping Authority configured: add tsa = [{url = \"...\", ca_bundle = \"...\"}]"
                         " to archiver.toml")

    from ..evidence.timestamps import stamp

    result = stamp(settings)
    if not result.stamped:
        click.echo("archiver: the ledger is empty: nothing to stamp", err=True)
    for stamped in result.stamped:
        click.echo(f"archiver: {'error: ' if stamped.error else ''}{stamped.line()}", err=True)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    ctx.exit(result.exit_code)
