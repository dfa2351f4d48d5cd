"""`archiver robustify`: the click layer over archiver/robustify/ (a paper in, the paper with archived links out)."""

from __future__ import annotations

from pathlib import Path

import click

from ..atomic import write_atomically
from ..errors import UsageError
from .options import force_option, refuse_overwrite, settings_from


@click.command("robustify", short_help="Copy a paper with an archived link beside each link.")
@click.argument("paper", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the robustified copy (same format as PAPER).")
@click.option("--ours", "prefix", metavar="URL-PREFIX",
              help="Link our own copies: the replay of each URL's newest good capture, served at URL-PREFIX"
                   " (e.g. https://archive.example.org/paper: links read URL-PREFIX/<14-digit time>/<url>).")
@force_option
@click.pass_context
def robustify_command(ctx: click.Context, /, paper: Path, output: Path, prefix: str | None, force: bool) -> None:
    """Write a copy of PAPER (.md .html .tex .bib .docx, or a .yaml manifest) with an archived link beside
    every cited link that has one: Robust Links attributes in HTML, " ([archived](URL "DATE"))" in
    Markdown, " (archived: \\url{URL}, DATE)" in LaTeX, urldate/note/eprint fields in BibTeX, an archived
    hyperlink after each DOCX hyperlink, `memento:` in a manifest. Nothing else in the file changes.

    Exit status: 0 written, 1 no link has an archived copy (nothing written), 2 usage, 4 storage.
    """
    from ..db.archive_db import ArchiveDB
    from ..robustify import public_finder, robustify

    settings = settings_from(ctx)
    refuse_overwrite(output, force)
    if output.resolve() == paper.resolve():
        raise UsageError(f"{output}: is the paper itself; write the robust copy elsewhere")
    with ArchiveDB.open(settings.db_path, readonly=True) as db:
        if prefix is not None:
            from ..robustify import ours_finder

            finder = ours_finder(db, prefix)
        else:
            from ..copies import best_copies

            finder = public_finder(db, best_copies)
        result = robustify(paper, finder)
    click.echo(f"{paper}: {result.robust} of {result.links} links given an archived copy", err=True)
    if result.exit_code:
        click.echo("archiver: no link has an archived copy; nothing written", err=True)
        ctx.exit(result.exit_code)
    write_atomically(output, result.data)
    click.echo(f"wrote {output}", err=True)
