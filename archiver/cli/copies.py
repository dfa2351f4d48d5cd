"""`archiver copies`: copies of the cited URLs in other web archives (archiver/copies/), printed per
citation: the copy chosen, or why there is none."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from .options import fetch_options, json_option, settings_from, targets_help

if TYPE_CHECKING:
    from ..config import Settings
    from ..copies.find import CitedCopies, SaveAsk
    from ..copies.importing import Imported
    from ..copies.save import Saved


@click.command("copies", short_help="Find copies of the cited URLs in other web archives.")
@targets_help
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
@click.option("--refresh", is_flag=True, help="Ask the archives again, even for answers less than a day old.")
@click.option("--import", "import_", is_flag=True,
              help="Fetch each chosen copy's raw bytes into our WARCs as a capture of the original URL"
                   " (mode 'memento', with its provenance): it replays and exports, but is never our copy.")
@click.option("--save", is_flag=True,
              help="Then ask the archives that can save (the Internet Archive's Save Page Now) to save each"
                   " URL without a copy; keys from ARCHIVER_IA_ACCESS_KEY and ARCHIVER_IA_SECRET_KEY.")
@click.option("--save-always", is_flag=True, help="With --save: ask to save every URL, with a copy or not.")
@fetch_options
@json_option("a JSON array, one object per citation (its copies found, the one chosen, why none; with --import"
             " what was imported) instead of the table")
@click.pass_context
def copies_command(ctx: click.Context, /, targets: tuple[str, ...], refresh: bool, import_: bool, save: bool,
                   save_always: bool, as_json: bool, **flags: Any) -> None:
    """Find each citation's copy in other web archives (Memento), nearest its accessed date.

    A copy is offered only when its memento answers 200 and is no archived error page. Exit status:
    0 every citation has a copy, 1 some have none, 2 usage, 3 bad manifest or config, 4 storage
    failure, 130 interrupted.
    """
    from ..copies.find import copies_for_targets

    settings = settings_from(ctx, **flags)
    asked = save_ask(save, save_always)
    cited, stats = copies_for_targets(settings, list(targets), refresh=refresh, save=asked)
    if not as_json:
        say_saves(stats.saved)
    imported = import_chosen(settings, cited, list(targets), quiet=as_json) if import_ else {}
    if as_json:
        click.echo(json.dumps([{**c.to_json(), **({"imported": imported[c.fetch_url].to_json()}
                                                  if c.fetch_url in imported else {})} for c in cited], indent=2))
    else:
        for line in copies_table(cited):
            click.echo(line)
    found = sum(c.best is not None for c in cited)
    click.echo(f"{found} of {len(cited)} citations have a copy ({stats.asked} answers asked,"
               f" {stats.reused} reused, {stats.elapsed:.2f} s)", err=True)
    failed = any(i.status == "failed" for i in imported.values())
    ctx.exit(0 if found == len(cited) and not failed else 1)


def copies_table(cited: list[CitedCopies]) -> list[str]:
    """One row per citation under a header: its id (or URL), then the chosen copy's archive, time and
    URL, or why there is none."""
    wide = min(max([8, *(len(c.id or c.url) for c in cited)]), 40)
    lines = [f"{'citation':<{wide}}  {'archive':<16} {'memento time':<20} memento url"] if cited else []
    for c in cited:
        label = c.id or c.url
        if c.best is not None:
            lines.append(f"{label:<{wide}}  {c.best.archive:<16} {c.best.memento_datetime or '-':<20}"
                         f" {c.best.memento_url}")
        else:
            lines.append(f"{label:<{wide}}  no copy: {c.why_none()}")
    return lines


def save_ask(save: bool, always: bool) -> SaveAsk | None:
    """--save / --save-always: the keys from the environment (exit 2 naming the variables without them)."""
    import os

    from ..copies.find import SaveAsk
    from ..copies.save import keys_from_env
    from ..errors import UsageError

    if always and not save:
        raise click.UsageError("--save-always needs --save")
    if not save:
        return None
    try:
        return SaveAsk(keys_from_env(os.environ), always)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc


def say_saves(saved: list[Saved]) -> None:
    """One line per save request on stderr: the job, how it ended, the memento or the archive's words."""
    for s in saved:
        what = s.memento.url if s.memento else (s.detail or "")
        job = f" job {s.job_id}" if s.job_id else ""
        click.echo(f"save: {s.fetch_url}: {s.archive}{job}: {s.status} {what}".rstrip(), err=True)


def import_chosen(settings: Settings, cited: list[CitedCopies], targets: list[str], *,
                  quiet: bool) -> dict[str, Imported]:
    """--import: the chosen copies fetched into our WARCs; one line each on stderr (unless `quiet`)."""
    from ..copies.importing import import_copies

    done = {i.fetch_url: i for i in import_copies(settings, cited, targets)}
    if not quiet:
        for i in done.values():
            said = {"imported": f"imported as capture {i.capture_id}",
                    "already": f"already imported (capture {i.capture_id})"}.get(i.status, f"not imported: {i.detail}")
            click.echo(f"import: {i.fetch_url}: {i.archive} {i.memento_url}: {said}", err=True)
    return done
