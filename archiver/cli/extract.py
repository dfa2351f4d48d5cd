"""`archiver extract`: the click layer over archiver/extract/ (papers in, a manifest out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..atomic import write_atomically
from .options import force_option, probe_options, refuse_overwrite, settings_from


@click.command("extract", short_help="Find the URLs and DOIs papers cite; write a manifest.")
@click.argument("papers", nargs=-1, required=True, metavar="PAPER...",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Manifest file to write (e.g. manifests/NAME.yaml); default stdout.")
@click.option("--probe/--offline", default=True, show_default=True,
              help="Fetch repair candidates to keep the one that resolves, or flag them as suspect.")
@click.option("--doi/--no-doi", "dois", default=True, show_default=True,
              help="Write DOIs (doi fields, doi: prints, doi.org links) as `doi:` citations, or leave them out.")
@click.option("--title", help="Manifest title.")
@force_option
@probe_options
@click.pass_context
def extract_command(ctx: click.Context, /, papers: tuple[Path, ...], output: Path | None, probe: bool,
                    dois: bool, title: str | None, force: bool, **flags: Any) -> None:
    """Find the URLs and DOIs the PAPERs cite (.txt .md .html .pdf .docx .tex .bib, and CSL-JSON .json and RIS
    .ris exports of a reference manager) and write a manifest.

    Exit status: 0 written, 1 no cited URL or DOI found, 2 usage (unreadable or unknown input, output
    exists), 4 the output cannot be written, 130 interrupted.
    """
    from ..extract import extract_papers, manifest_yaml, tally

    settings = settings_from(ctx, **flags)
    refuse_overwrite(output, force)
    results = extract_papers(list(papers), probe=probe, dois=dois, settings=settings,
                             on_notice=lambda notice: click.echo(f"archiver: {notice}", err=True))
    if not settings.quiet:
        for result in results:
            for found in result.citations:
                if found.suspect:
                    label = found.id or found.doi or found.url
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

