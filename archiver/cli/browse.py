"""`archiver browse`: the click layer over archiver/browse.py (metadata) and browse_server.py (Datasette)."""

from __future__ import annotations

from pathlib import Path

import click

from .options import settings_from


@click.command("browse", short_help="Browse the database in Datasette, read-only.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True, help="Port to serve on.")
@click.option("--replay-url", metavar="URL",
              help="Where `archiver replay` serves a collection, e.g. http://127.0.0.1:8080/archive/: every URL"
                   " cell gets a [replay] link to its archived copy there.")
@click.option("--metadata-only", "metadata_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write Datasette's metadata (titles, descriptions, facets, canned queries) to FILE as JSON and"
                   " exit, for `datasette -i DB -m FILE`.")
@click.option("--force", is_flag=True, help="With --metadata-only: overwrite FILE if it exists.")
@click.pass_context
def browse_command(ctx: click.Context, host: str, port: int, replay_url: str | None, metadata_file: Path | None,
                   force: bool) -> None:
    """Browse the database in Datasette, read-only: every table and view described, facets on verdict,
    status and host, canned queries (dead citations by paper, drifted since a date, captures of a URL,
    runs that failed). The file is never written or migrated. Serves until Ctrl-C.

    Needs the browse extra (Datasette). Exit status: 0 stopped or written,
    2 usage (Datasette missing, FILE exists), 4 the database cannot be read.
    """
    from ..browse import metadata, read_shape, write_metadata
    from ..errors import UsageError

    settings = settings_from(ctx)
    path = settings.db_path
    if metadata_file is not None:
        if metadata_file.exists() and not force:
            raise UsageError(f"{metadata_file} exists: add --force to overwrite it")
        from ..browse_server import db_name

        write_metadata(metadata_file, metadata(read_shape(path), db_name(path), replay_url))
        click.echo(f"wrote {metadata_file}; serve with: datasette -i {path} -m {metadata_file}", err=True)
        return
    from ..browse_server import require_datasette, serve

    require_datasette()
    click.echo(f"browsing {path} (read-only) at http://{host}:{port}/  stop with Ctrl-C", err=True)
    serve(path, host, port, replay_url)
