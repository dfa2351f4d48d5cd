"""`archiver history` and `archiver show`: what the archive holds for one URL (its captures, and a
capture's payload or a browser capture's screenshot), read from the database and the WARC files."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import stamps
from ..atomic import create_part
from ..config import REPLAY_PORT
from ..errors import NotArchived, StorageError, UsageError
from .options import force_option, json_option, refuse_overwrite, settings_from

if TYPE_CHECKING:
    from ..archive import Chosen


@click.command("history", short_help="List every capture of a URL, newest first.")
@click.argument("url")
@json_option("a JSON array, one object per capture (the captures table's columns, `good`: a whole 2xx"
             " payload, and `replay_url`) instead of the table")
@click.pass_context
def history_command(ctx: click.Context, url: str, as_json: bool) -> None:
    """Every capture of URL, newest first: when, HTTP status (or the failure), record type, payload
    size and sha256, and the WARC file and offset of its record.

    Exit status: 0 listed, 1 never captured, 2 usage, 4 storage failure (a damaged database included).
    """
    from ..archive import Archive
    from ..replay import replay_url

    with Archive(settings_from(ctx), writing=False) as archive:
        rows = archive.history(url)
    if not rows:
        raise NotArchived(f"{url}: never captured in {archive.settings.db_path}")
    if as_json:
        # Each row: the captures table's columns, `good` (a whole 2xx payload: what `show` prefers and the
        # report's capture is), and where `archiver replay` serves it when it has a payload.
        for row in rows:
            row["replay_url"] = replay_url(row) if row["record_type"] in ("response", "revisit") else None
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(HISTORY_HEADER)
    for row in rows:
        click.echo(history_line(row))


HISTORY_HEADER = f"{'captured':<20}  {'status':<16} {'record':<8} {'bytes':>10}  {'sha256':<16}  warc@offset"


def history_line(row: dict[str, Any]) -> str:
    """A capture as `history` lists it: when (to the second), status, record type, size, digest, where; a
    memento imported from another archive says so, with the archive and the memento's URL."""
    when = stamps.iso(stamps.parse(row["captured_at"]), "seconds")
    status = row["outcome"] if row["outcome"] != "ok" else f"{row['http_status']}"
    kind = row["record_type"] or "-"
    where = f"{row['warc']}@{row['warc_offset']}" if row["warc"] else (row["error"] or "")
    size = row["payload_size"] if row["payload_size"] is not None else "-"
    sha = (row["payload_sha256"] or "-")[:16]
    trunc = f" truncated:{row['truncated']}" if row["truncated"] else ""
    memento = row.get("mode") == "memento"
    source = f"  memento from {row.get('source_archive')}: {row.get('source_url')}" if memento else ""
    return f"{when}  {status:<16} {kind:<8} {size:>10}  {sha}  {where}{trunc}{source}"


def parse_at(text: str | None) -> dt.datetime | None:
    """--at DATE of `show`: an ISO date (midnight UTC) or date-time (UTC unless it says otherwise)."""
    if text is None:
        return None
    try:
        return stamps.parse(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO date or date-time", param_hint="--at") from None


@click.command("show", short_help="Print the archived payload or screenshot of a URL.")
@click.argument("url")
@click.option("--at", "at", metavar="DATE", help="The capture nearest this ISO date/time, whatever it holds.")
@click.option("--latest", is_flag=True, help="The newest capture, whatever it holds (an error page, a cut-off body).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE, not stdout.")
@click.option("--max-size", type=click.IntRange(1), default=2 * 1024**3, show_default=True, metavar="BYTES",
              help="Refuse to decode more than this (gzip bombs).")
@click.option("--replay", "as_link", is_flag=True,
              help="Print where `archiver replay` serves this capture instead of the payload.")
@click.option("--port", type=click.IntRange(1, 65535), default=REPLAY_PORT, show_default=True,
              help="The port of `archiver replay`, for the replay link.")
@click.option("--screenshot", "screenshot", is_flag=False, flag_value="", default=None, metavar="[PATH]",
              help="The PNG screenshot of a browser capture instead of the payload, written to PATH ('-':"
                   " stdout; no PATH: -o FILE, else HOST-TIME-CAPTURE.png here); the path is printed.")
@force_option
@click.pass_context
def show_command(ctx: click.Context, url: str, at: str | None, latest: bool, output: Path | None, max_size: int,
                 as_link: bool, port: int, screenshot: str | None, force: bool) -> None:
    """The archived payload of URL, decoded from its Content-Encoding: the newest good capture (a whole
    2xx payload, the copy the report points at), not a newer error page or cut-off body; which one,
    and what newer captures it passed over, is said on stderr (for a browser capture also how many
    sub-resources the page fetched and what the rendering noted).

    With --screenshot (after URL), the full-page screenshot of a browser capture, chosen by the same
    rules among the captures that have one. An existing output file is replaced only with --force.

    Exit status: 0 shown, 1 nothing archived (no capture with a screenshot included), 2 usage (an
    output file that exists included), 4 storage failure (a damaged database or WARC record included)."""
    from ..archive import Archive
    from ..replay import replay_url

    if latest and at is not None:
        raise UsageError("--at and --latest: choose one")
    if screenshot is not None and as_link:
        raise UsageError("--screenshot and --replay: choose one")
    if screenshot and output is not None:
        raise UsageError("--screenshot PATH and -o FILE: give the path once")
    when = parse_at(at)
    refuse_overwrite(output, force)
    if screenshot is not None:
        write_screenshot(ctx, url, when, at, latest, Path(screenshot) if screenshot else output,
                         to_stdout=screenshot == "-", force=force)
        return
    with Archive(settings_from(ctx), writing=False) as archive:
        chosen = archive.choose(url, at=when, latest=latest)
        if chosen is None:
            raise NotArchived(f"{url}: no archived copy in {archive.settings.db_path}")
        capture = chosen.capture
        link = replay_url(capture, port)
        if as_link:
            click.echo(link)
            return
        click.echo(f"{chosen_line(url, chosen, at)}; replay: {link}", err=True)
        write_payload(archive.open_payload(capture), url, output, max_size)


def chosen_line(url: str, chosen: Chosen, at: str | None) -> str:
    """What `show` says on stderr: which capture, by which rule, and the newer ones it passed over."""
    from ..archive import NEAREST, NO_GOOD

    capture = chosen.capture
    what = {NEAREST: f"capture of {url} nearest {at}",
            NO_GOOD: f"no good capture of {url} (none holds a whole 2xx payload); the newest"}.get(
                chosen.rule, f"{chosen.rule} capture of {url}")
    line = (f"{what}: {stamps.iso(stamps.parse(capture['captured_at']))}, {_status(capture)}"
            f" ({capture['record_type']}, capture {capture['id']} in {capture['warc']})")
    line += browser_part(capture)
    if chosen.passed:
        listed = ", ".join(f"{_status(row)} at {stamps.iso(stamps.parse(row['captured_at']), 'seconds')}"
                           for row in chosen.passed[:3])
        more = ", ..." if len(chosen.passed) > 3 else ""
        line += f"; newer captures: {len(chosen.passed)} ({listed}{more}): --latest shows the newest"
    return line


def browser_part(capture: dict[str, Any]) -> str:
    """For a browser capture, what `show` adds to its line: how many sub-resources the page fetched, and
    the rendering's notes (caps reached, WebSockets skipped, a failed rendering); "" for HTTP captures."""
    if capture.get("mode") != "browser":
        return ""
    try:
        rendering = json.loads(capture.get("rendering") or "{}")
    except ValueError:
        rendering = {}
    parts = [f"{rendering.get('resources', '?')} sub-resources"]
    if rendering.get("failed"):
        parts.append(f"rendering failed: {rendering['failed']}")
    notes = [str(n) for n in rendering.get("notes") or []]
    if notes:
        parts.append("notes: " + "; ".join(notes))
    return f"; browser capture: {', '.join(parts)}"


def write_screenshot(ctx: click.Context, url: str, when: dt.datetime | None, at: str | None, latest: bool,
                     path: Path | None, *, to_stdout: bool, force: bool) -> None:
    """`show --screenshot`: the PNG of the browser capture the rules choose among those with one."""
    from ..archive import Archive, pick
    from ..browser.stage import SCREENSHOT
    from ..rendered import read_resource
    from ..urls import host_of

    if not to_stdout:
        refuse_overwrite(path, force)
    with Archive(settings_from(ctx), writing=False) as archive:
        rows = archive.history(url)
        if not rows:
            raise NotArchived(f"{url}: never captured in {archive.settings.db_path}")
        old = archive.db.version < 7  # no browser captures before schema v7
        shots = {} if old else archive.db.resources_of(url.strip(), rows[0]["fetch_url"], SCREENSHOT)
        rows = [r for r in rows if r["id"] in shots]
        if not rows:
            raise NotArchived(f"{url}: no capture with a screenshot (none of its captures was rendered in the"
                              f" browser); `archiver snapshot --capture browser` makes one")
        chosen = pick(rows, when, latest)
        capture = chosen.capture
        png = read_resource(archive.store, shots[capture["id"]])
        click.echo(f"{chosen_line(url, chosen, at)}; screenshot: {len(png)} bytes", err=True)
    if to_stdout:
        path = None
    elif path is None:
        stamp = stamps.digits14(stamps.parse(capture["captured_at"]))
        path = Path(f"{host_of(capture['fetch_url'] or url) or 'page'}-{stamp}-{capture['id']}.png")
        refuse_overwrite(path, force)
    write_payload([png], url, path, len(png))
    if path is not None:
        click.echo(str(path))


def _status(capture: dict[str, Any]) -> str:
    cut = f" cut off ({capture['truncated']})" if capture["truncated"] else ""
    return f"HTTP {capture['http_status']}{cut}"


def write_payload(chunks: Iterable[bytes], url: str, output: Path | None, max_size: int) -> None:
    """The payload to `output` (whole or not at all: written aside, renamed when complete) or stdout."""
    target = output.with_name(output.name + ".part") if output else None
    try:
        sink = create_part(target) if target else sys.stdout.buffer  # never written through a planted link
    except OSError as exc:
        raise StorageError(f"{target}: cannot write: {exc.strerror}") from exc
    written = 0
    complete = False
    try:
        for chunk in chunks:
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
