"""`archiver verify`: the click layer over archiver/verify.py."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from ..errors import UsageError
from .options import json_option, parse_since, settings_from

if TYPE_CHECKING:
    from ..verify import AuditProblem


@click.command("verify", short_help="Re-read every WARC file and check its fixity.")
@click.option("--since", metavar="DATE",
              help="Only WARC files created on or after DATE (ISO date, midnight UTC, or date-time).")
@click.option("--quick", is_flag=True,
              help="Only each closed file's size and sha256 (whole-file hash), no per-record digests.")
@click.option("--full", is_flag=True,
              help="Check the database with SQLite's integrity_check (every index matched against its table)"
                   " instead of quick_check; slower on a large database.")
@click.option("--timestamps", is_flag=True,
              help="Also check every RFC 3161 timestamp token: the log head it covers, its signature chaining to"
                   " the TSA's CA bundle (the tsa setting), and that the entry is still in the unbroken log.")
@json_option("the audit as one JSON object (counts, status, database check, every problem and warning)")
@click.pass_context
def verify_command(ctx: click.Context, since: str | None, quick: bool, full: bool, timestamps: bool,
                   as_json: bool) -> None:
    """Re-read every WARC file the database knows and check its fixity: the size and sha256 recorded
    when it was closed, and each record (whole gzip member, record id, block and payload digests).
    The database itself first goes through SQLite's own check (quick_check; integrity_check with --full).

    Problems are printed one per line on stderr, by name: missing, truncated, altered,
    record_damaged, unreadable, database_damaged; ledger (the tamper-evident log's first broken link, a
    mirror line that differs, an entry whose WARC file or captures changed); timestamp (a token that
    fails, with --timestamps); files in the storage folder that the database does
    not know are a warning (unknown_file). Each audit is recorded in the database (tables audits,
    audit_problems); a database that cannot be written is still read, and a damaged one is never
    written. Exit status: 0 all intact, 1 some problem (a damaged database included), 2 usage, 4 the
    database is missing or cannot be read, 130 interrupted.
    """
    if quick and full:
        raise UsageError("--quick and --full: choose one (--quick checks less, --full more)")
    settings = settings_from(ctx)

    from ..verify import verify

    def show(problem: AuditProblem) -> None:
        label = "warning: " if problem.warning else ""
        click.echo(f"archiver: {label}{problem.line()}", err=True)

    audit = verify(settings, since=parse_since(since), quick=quick, full=full, timestamps=timestamps,
                   on_problem=show)
    if audit.not_recorded:
        click.echo(f"archiver: warning: audit not recorded in the database: {audit.not_recorded}", err=True)
    if as_json:
        click.echo(json.dumps(audit.to_json(), indent=2))
    problems, warnings = len(audit.problems), len(audit.warnings)
    where = f"audit {audit.audit_id}" if audit.audit_id is not None and not audit.not_recorded else "not recorded"
    click.echo(
        f"{audit.mode} verify: {audit.files} files, {audit.records} records, {audit.bytes / 1e6:.1f} MB"
        f" in {audit.seconds:.2f} s ({audit.mb_per_s:.1f} MB/s): {audit.status}, {problems} problem"
        f"{'' if problems == 1 else 's'}, {warnings} warning{'' if warnings == 1 else 's'} ({where});"
        f" database {audit.db_check}: {'ok' if audit.db_finding is None else 'damaged'}",
        err=True,
    )
    ctx.exit(audit.exit_code)
