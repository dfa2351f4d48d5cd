"""The options several commands share and the Settings they lead to.

The group's global options (--storage, --db, --config) are kept on the root context as
`GlobalOptions`; `settings_from` builds a command's Settings from them and the command's own flags
(defaults, then the config file, then ARCHIVER_* env, then flags: config.load_settings). Also here:
the fetch options of snapshot and check (and the subsets extract and the daemon take), the verdict
policy options of check and report, --since, --json and --force (the one overwrite rule), and what a
TARGET may be.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .. import stamps
from ..config import Settings, load_settings
from ..errors import UsageError

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

# What TARGET may be, for the help of every command that takes TARGETs (manifests.load_targets).
TARGETS_HELP = ("A TARGET is an http(s) URL or a manifest file: .yaml/.yml (as `archiver extract` writes),"
                " .txt (one URL per line, # comments) or .csv (a url or doi column).")


@dataclass(frozen=True)
class GlobalOptions:
    """What the group was given before the command name; None: not given (env and config decide)."""

    storage: Path | None = None
    db: Path | None = None
    config_file: Path | None = None
    warc_store: str | None = None


def global_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--storage, --warc-store, --db and --config, for the group."""
    func = click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                        envvar="ARCHIVER_CONFIG",
                        help="TOML config file.  [env ARCHIVER_CONFIG; default ./archiver.toml]")(func)
    func = click.option("--warc-store", metavar="URL", envvar="ARCHIVER_WARC_STORE",
                        help="Where closed WARC files go: s3://bucket/prefix or file:///path (the s3 extra)."
                             "  [env ARCHIVER_WARC_STORE; default: the storage folder]")(func)
    func = click.option("--db", type=click.Path(dir_okay=False, path_type=Path), envvar="ARCHIVER_DB",
                        help="Database file.  [env ARCHIVER_DB; default <storage>/archiver.db]")(func)
    return click.option("--storage", type=click.Path(file_okay=False, path_type=Path), envvar="ARCHIVER_STORAGE",
                        help="Folder of WARC files and the database.  [env ARCHIVER_STORAGE; default ./storage]")(func)


def settings_from(ctx: click.Context, **flags: Any) -> Settings:
    """The command's Settings: the global options on the root context, then its own `flags` (None: not given)."""
    given = ctx.find_root().obj
    if not isinstance(given, GlobalOptions):
        given = GlobalOptions()  # a command invoked on its own, outside the group
    return load_settings(given.config_file, storage=given.storage, db=given.db,
                         warc_store=given.warc_store, **flags)


# Options shared by every command that fetches, by parameter name (the name of the Settings field
# they set, apart from quiet, an output switch).
FETCH_OPTIONS: list[tuple[str, Decorator]] = [
    ("concurrency", click.option("--concurrency", type=click.IntRange(1, 512),
                                 help="Requests in flight.  [default 16]")),
    ("per_host", click.option("--per-host", type=click.IntRange(1, 64),
                              help="Requests in flight per host.  [default 1]")),
    ("per_host_delay", click.option("--per-host-delay", type=click.FloatRange(0), metavar="SECONDS",
                                    help="Pause between requests to one host; 0 turns it off.  [default 1]")),
    ("timeout", click.option("--timeout", type=click.FloatRange(0, min_open=True), metavar="SECONDS",
                             help="Longest silence tolerated from a server.  [default 30]")),
    ("total_timeout", click.option("--total-timeout", type=click.FloatRange(0, min_open=True), metavar="SECONDS",
                                   help="Cap on one URL, redirects and retries included.  [default 120]")),
    ("max_size", click.option("--max-size", type=click.IntRange(1), metavar="BYTES",
                              help="Body size cap; longer bodies are kept truncated.  [default 100 MB]")),
    ("max_media", click.option("--max-media", type=click.IntRange(1), metavar="BYTES",
                               help="Cap on the media files (yt-dlp) kept for one page.  [default 500 MiB]")),
    ("retries", click.option("--retries", type=click.IntRange(0, 10),
                             help="Retries on 408/429/5xx/timeouts.  [default 2]")),
    ("user_agent", click.option("--user-agent", metavar="TEXT",
                                help="User-Agent header.  [default archiver/VERSION ...]")),
    ("allow_private", click.option("--allow-private", is_flag=True, default=None,
                                   help="Also connect to private addresses: loopback, RFC 1918, ULA, link-local,"
                                        " CGNAT (never cloud metadata).  [env ARCHIVER_ALLOW_PRIVATE=1]")),
    ("allow", click.option("--allow", multiple=True, metavar="CIDR", callback=lambda ctx, param, value: value or None,
                           help="Also connect to this network (repeatable; replaces the config's `allow`)."
                                "  [env ARCHIVER_ALLOW=CIDR,CIDR]")),
    ("capture", click.option("--capture", type=click.Choice(["http", "browser", "auto"]),
                             help="http: what a plain GET returns; browser: render in Chromium, keeping every"
                                  " sub-resource, a screenshot and the DOM; auto: the browser for pages that"
                                  " need it.  [default auto; env ARCHIVER_CAPTURE]")),
    ("browser_pages", click.option("--browser-pages", type=click.IntRange(1, 64),
                                   help="Pages rendered in the browser at once.  [default 4]")),
    ("cluster", click.option("--cluster", metavar="ADDRESS",
                             help="Run on a Dask cluster: local:N worker processes, or a scheduler's"
                                  " tcp://host:port (the cluster extra: Dask).  [env ARCHIVER_CLUSTER]")),
    ("quiet", click.option("--quiet", "-q", is_flag=True, default=None,
                           help="No progress bar or per-URL lines.")),
]


def targets_help(func: Callable[..., Any]) -> Callable[..., Any]:
    """Adds TARGETS_HELP to a command's help, as its second paragraph (put it under @click.command)."""
    first, _, rest = inspect.cleandoc(func.__doc__ or "").partition("\n\n")
    func.__doc__ = "\n\n".join(part for part in (first, TARGETS_HELP, rest) if part)
    return func


def json_option(what: str) -> Decorator:
    """--json, saying what exactly the command prints on stdout with it."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print on stdout {what}.")


def force_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """--force, for every command that writes a file: without it an existing file is never replaced."""
    return click.option("--force", is_flag=True, help="Overwrite an existing output file.")(func)


def refuse_overwrite(path: Path | None, force: bool) -> None:
    """The one rule of commands that write a file: an existing one is replaced only with --force (exit 2)."""
    if path is not None and not force and (path.exists() or path.is_symlink()):
        raise UsageError(f"{path}: exists; pass --force to overwrite it")


def fetch_options(func: Callable[..., Any], only: tuple[str, ...] | None = None) -> Callable[..., Any]:
    """The shared fetch options (snapshot, check, copies, the daemon); `only` picks some of them by name."""
    for name, option in reversed(FETCH_OPTIONS):
        if only is None or name in only:
            func = option(func)
    return func


def probe_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The fetch options of `extract --probe`: no body cap."""
    return fetch_options(func, only=("concurrency", "per_host_delay", "timeout", "total_timeout", "retries",
                                     "user_agent", "allow_private", "allow", "quiet"))


def daemon_fetch_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The fetch options of the daemon (it logs each job run instead of --json)."""
    return fetch_options(func)


def policy_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--confirm-checks and --confirm-days: when a failing citation is called dead (verdict.Policy)."""
    func = click.option("--confirm-days", type=click.FloatRange(0), default=3, show_default=True, metavar="D",
                        help="...spanning at least D days.")(func)
    return click.option("--confirm-checks", type=click.IntRange(1), default=3, show_default=True, metavar="N",
                        help="Dead after N consecutive failed checks...")(func)


def parse_since(text: str | None) -> dt.datetime | None:
    """--since DATE: a date (midnight UTC) or an ISO date-time (UTC unless it says otherwise); None if not given."""
    if not text:
        return None
    try:
        return stamps.parse(text)
    except ValueError:
        raise UsageError(f"--since: {text!r} is not an ISO date or date-time") from None
