"""`archiver verify`: the click layer over archiver/verify.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import UsageError
from .options import json_option, parse_since, settings_from

if TYPE_CHECKING:
    from ..verify import AuditProblem


@click.command("verify", short_help="Check the fixity of every WARC file, or of a WACZ package.")
@click.argument("package", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--public-key", metavar="KEY",
              help="With PACKAGE: the key the signature must come from (a PEM public or private key file, or"
                   " its sha256 fingerprint as export --sign prints it).")
@click.option("--tsa-ca", "tsa_ca", multiple=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="With PACKAGE: a CA bundle (PEM) its timestamp tokens must chain to; repeatable.  [default: the"
                   " ca_bundle of each entry of the tsa setting]")
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
def verify_command(ctx: click.Context, package: Path | None, public_key: str | None, tsa_ca: tuple[Path, ...],
                   since: str | None, quick: bool, full: bool, timestamps: bool, as_json: bool) -> None:
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

    With PACKAGE (a .wacz file, e.g. from `export --sign`), check that package alone, no database:
    every file's sha256 and size against datapackage.json, datapackage.json's sha256 against
    datapackage-digest.json, the signature, and each RFC 3161 timestamp token export put in
    datapackage-digest.json (it covers the sha256 of datapackage.json and chains to a --tsa-ca bundle;
    with no CA bundle at all it is a warning, "not checked"); exit 0 intact and signed, 1 naming what
    broke (unsigned included).
    """
    if package is not None:
        bundles = list(tsa_ca) or [Path(ca) for _url, ca in settings_from(ctx).tsa]
        ctx.exit(_verify_package(package, public_key, bundles, as_json))
    if public_key is not None or tsa_ca:
        raise UsageError("--public-key and --tsa-ca go with PACKAGE (a .wacz file to check)")
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


def _verify_package(package: Path, public_key: str | None, ca_bundles: list[Path], as_json: bool) -> int:
    """`archiver verify PACKAGE.wacz`: archiver/evidence/signing.py's check, printed; the exit status."""
    from ..evidence.signing import check_package

    if not package.is_file():
        raise UsageError(f"{package}: no such file")
    for bundle in ca_bundles:
        if not bundle.is_file():
            raise UsageError(f"--tsa-ca {bundle}: no such file")
    check = check_package(package, public_key, ca_bundles)
    for problem in check.problems:
        click.echo(f"archiver: {package.name}: {problem}", err=True)
    for warning in check.warnings:
        click.echo(f"archiver: warning: {package.name}: {warning}", err=True)
    if as_json:
        tokens = [{"tsa": t.tsa, "gen_time": t.gen_time, "ok": not t.problem and not t.warning,
                   "problem": t.problem, "warning": t.warning} for t in check.tokens]
        click.echo(json.dumps({"package": str(package), "ok": check.ok, "signed": check.signed, "files": check.files,
                               "public_key_sha256": check.fingerprint, "created": check.created,
                               "software": check.software, "timestamps": tokens, "problems": check.problems,
                               "warnings": check.warnings}, indent=2))
    count = len(check.problems)
    state = "intact and signed" if check.ok else f"{count} problem{'' if count == 1 else 's'}"
    signer = f"; signed {check.created} by public key sha256 {check.fingerprint}" if check.fingerprint else ""
    timed = [t for t in check.tokens if not t.problem and not t.warning]
    times = "".join(f"; timestamped {t.gen_time} by {t.tsa}" for t in timed)
    click.echo(f"package verify: {package.name}: {check.files} files checked: {state}{signer}{times}", err=True)
    return 0 if check.ok else 1
