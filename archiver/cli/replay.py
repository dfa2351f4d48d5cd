"""`archiver replay` and `archiver export`: the click layer over archiver/replay.py and archiver/export.py."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import REPLAY_HOST, REPLAY_PORT
from ..errors import UsageError
from .options import force_option, refuse_overwrite, settings_from


@click.command("replay", short_help="Serve the archive with pywb on 127.0.0.1.")
@click.argument("manifest", required=False, metavar="[MANIFEST]")
@click.option("--port", type=click.IntRange(1, 65535), default=REPLAY_PORT, show_default=True,
              help=f"Port to serve on ({REPLAY_HOST} only).")
@click.option("--refresh", type=click.FloatRange(0), default=10, show_default=True, metavar="SECONDS",
              help="How often to look for new captures and rebuild the index; 0 never.")
@click.pass_context
def replay_command(ctx: click.Context, manifest: str | None, port: int, refresh: float) -> None:
    """Serve the archive (or only MANIFEST's captures: a manifest file, or a manifest's path or name
    as the database knows it) with pywb on 127.0.0.1, until Ctrl-C or SIGTERM.

    Open http://127.0.0.1:PORT/COLL/TIMESTAMP/URL for a page with a banner saying when it was
    captured, or .../TIMESTAMPid_/URL for the bytes exactly as captured. A browser capture replays
    with the stylesheets, images, scripts and data its page fetched, each from the archive; its
    screenshot is at .../TIMESTAMPid_/urn:screenshot:URL and the DOM its scripts built at
    .../TIMESTAMPid_/urn:dom:URL. Needs the replay extra (without it,
    archiver says how to install it). Exit status: 0 stopped, 1 nothing captured, 2 usage (unknown
    manifest, port in use, pywb missing), 3 bad manifest, 4 storage failure.
    """
    from ..replay import ReplayServer

    server = ReplayServer(settings_from(ctx), manifest, port=port, refresh=refresh)
    try:
        server.start()
        assert server.collection is not None
        coll = server.collection.name
        click.echo(f"replaying {server.collection.entries} records as collection {coll!r}: {server.url()}", err=True)
        click.echo(f"pages:  http://{REPLAY_HOST}:{port}/{coll}/<timestamp>/<url>", err=True)
        click.echo(f"bytes:  http://{REPLAY_HOST}:{port}/{coll}/<timestamp>id_/<url>", err=True)
        click.echo(f"screenshots (browser captures):  http://{REPLAY_HOST}:{port}/{coll}/<timestamp>id_/"
                   "urn:screenshot:<url>  (urn:dom:<url>: the page's DOM after its scripts ran)", err=True)
        click.echo("stop with Ctrl-C", err=True)
        server.serve()
    except KeyboardInterrupt:
        click.echo("archiver: replay stopped", err=True)  # the normal way to stop a server: exit 0
    finally:
        server.stop()


@click.command("export", short_help="Package a manifest's captures as WACZ or WARC.")
@click.argument("manifest", metavar="MANIFEST")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write (FILE.wacz, or FILE.warc.gz with --format warc).")
@click.option("--format", "fmt", type=click.Choice(["wacz", "warc"]),
              help="Package format.  [default: warc when -o ends in .warc.gz, else wacz]")
@force_option
@click.option("--sign", metavar="KEY",
              help="Sign the WACZ (WACZ signing recommendation): a PEM file with an ECDSA P-256/P-384 private"
                   " key, or 'anonymous' for a fresh key whose public half the package carries.")
@click.option("--stamp/--no-stamp", "timestamp", default=None,
              help="Put an RFC 3161 timestamp token over the package's digest (sha256 of datapackage.json) from"
                   " each TSA of the tsa setting into datapackage-digest.json.  [default: --stamp when TSAs are"
                   " configured]")
@click.pass_context
def export_command(ctx: click.Context, manifest: str, output: Path, fmt: str | None, force: bool,
                   sign: str | None, timestamp: bool | None) -> None:
    """Package MANIFEST's captures (a manifest file, or a manifest's path or name as the database
    knows it): a WACZ 1.1.1 file (WARC, CDXJ index, pages, datapackage with sha256 of each file) for
    ReplayWeb.page and pywb, or one WARC file. Records are copied byte for byte, with the originals
    of revisits. A provenance summary (tool, capture times, machine, run, IP, certificate, hashes,
    timestamps) goes inside the WACZ (provenance/) or beside the WARC (FILE.provenance.json/.md).
    --sign signs the WACZ; --stamp (the default when the tsa setting lists authorities) asks each
    TSA for a timestamp token over the package's digest and keeps it in datapackage-digest.json;
    `archiver verify FILE.wacz` checks both. An existing output file is replaced only with --force.
    Needs the replay extra.

    Exit status: 0 written, 1 nothing of MANIFEST captured, or a TSA gave no token (the package is
    written all the same, without that token, as `archiver stamp` exits 1 when a TSA fails), 2 usage
    (unknown manifest, the output exists, --stamp without a TSA), 3 bad manifest, 4 the output or the
    archive cannot be written or read.
    """
    from ..export import export_wacz, export_warc

    settings = settings_from(ctx)
    kind = fmt or ("warc" if output.name.lower().endswith(".warc.gz") else "wacz")
    if sign is not None and kind != "wacz":
        raise UsageError("--sign signs a WACZ package; a WARC export gets its provenance files only")
    if timestamp and kind != "wacz":
        raise UsageError("--stamp timestamps a WACZ package; for a WARC export, `archiver stamp` stamps the log")
    refuse_overwrite(output, force)
    done = (export_warc(settings, manifest, output) if kind == "warc"
            else export_wacz(settings, manifest, output, sign, timestamp))
    pages = f", {done.pages} pages" if kind == "wacz" else ""
    click.echo(f"wrote {output}: {done.captures} captures, {done.records} records{pages}, {done.size} bytes",
               err=True)
    for path in done.provenance:
        click.echo(f"wrote {path}", err=True)
    if done.signed_by:
        click.echo(f"signed: public key sha256 {done.signed_by} (publish it: `archiver verify --public-key` checks it)",
                   err=True)
    for entry in done.timestamps:
        click.echo(f"timestamped: {entry['hash']} by {entry['tsa']} at {entry['genTime']}", err=True)
    for error in done.stamp_errors:
        click.echo(f"archiver: timestamp: {error}; {output.name} was written without its token", err=True)
    if done.stamp_errors:
        ctx.exit(1)
