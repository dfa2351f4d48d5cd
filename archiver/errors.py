"""The one exception tree. The CLI maps each class to a documented exit code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class RunSummary(Protocol):
    """What a run saved before an error or an interruption ended it (run.Summary)."""

    def to_json(self) -> str: ...

    def json_chunks(self) -> Iterator[str]:
        """to_json's text in pieces (a run of a million URLs is not one string)."""
        ...


class ArchiverError(Exception):
    """Base of every error archiver raises on purpose."""

    exit_code = 70
    summary: RunSummary | None = None  # set when the error ended a run: the --json it still prints

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(ArchiverError):
    exit_code = 2


class BrowserUnavailable(UsageError):
    """`--capture browser` where pages cannot be rendered (no Chromium, no Playwright, it will not start)."""


class ManifestError(ArchiverError):
    """A manifest that cannot be read; names the file and, when known, the line."""

    exit_code = 3

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.line = line
        self.problem = problem


class NotArchived(ArchiverError):
    """The archive holds nothing for what was asked (history/show of an unknown URL)."""

    exit_code = 1


class ConfigError(ArchiverError):
    exit_code = 3


class StorageError(ArchiverError):
    """The WARC files or the database could not be read or written (full disk, permissions...)."""

    exit_code = 4


class DatabaseDamaged(StorageError):
    """The database file is damaged: SQLite's own check (PRAGMA quick_check or integrity_check) or its
    reading found it corrupt, or it is not an SQLite database at all. `finding` is the first thing found."""

    def __init__(self, path: Path | str, finding: str) -> None:
        super().__init__(f"{path}: damaged database: {finding}")
        self.path = str(path)
        self.finding = finding


class RecordDamaged(ArchiverError):
    """A WARC record's bytes are not a whole record (verify reports it as record_damaged)."""


class DaemonBusy(ArchiverError):
    """Another daemon holds the storage folder's lock (exit 75, EX_TEMPFAIL: try again later)."""

    exit_code = 75


class Interrupted(ArchiverError):
    """Ctrl-C or SIGTERM: work in flight was finished or abandoned cleanly."""

    exit_code = 130


class RunAborted(KeyboardInterrupt):
    """A second Ctrl-C or SIGTERM cut a run short at once. Outside the tree on purpose: it is still
    a KeyboardInterrupt to whoever catches one, carrying what the run saved as `summary`."""

    def __init__(self, summary: RunSummary) -> None:
        super().__init__()
        self.summary = summary


class FetchFailure(ArchiverError):
    """A fetch that produced no HTTP response. `outcome` is the recorded status word."""

    outcome = "connection_error"

    def __init__(self, url: str, detail: str) -> None:
        # Server-supplied text can hold anything: keep messages to one printable line.
        detail = " ".join(detail.split())[:300] or type(self).__name__
        super().__init__(f"{url}: {self.outcome}: {detail}")
        self.url = url
        self.detail = detail


class DNSFailure(FetchFailure):
    outcome = "dns_error"


class ConnectionFailure(FetchFailure):
    outcome = "connection_error"


class FetchTimeout(FetchFailure):
    outcome = "timeout"


class TLSFailure(FetchFailure):
    outcome = "tls_error"


class TooManyRedirects(FetchFailure):
    outcome = "too_many_redirects"


class InvalidURL(FetchFailure):
    outcome = "invalid_url"


class BlockedAddress(FetchFailure):
    """The address guard (fetch/guard.py) refused every address the URL's host has: nothing was sent."""

    outcome = "blocked_address"
