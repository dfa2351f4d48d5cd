"""The progress bar of a fetching run (snapshot, check) on stderr: one step per URL outcome.

It is drawn only for a person watching: not with --quiet, not with --json (a script reads stdout),
and not when stderr is not a terminal (logs and pipes would fill with redraws).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from types import TracebackType

import click


class Progress:
    """Use as a context manager around the run; pass `plan` as the run's on_plan and call `advance`
    once per outcome. The bar appears when the run knows its size and is closed on leaving, however
    the run ends."""

    def __init__(self, label: str, *, quiet: bool, as_json: bool) -> None:
        self.label = label
        self.shown = not quiet and not as_json and sys.stderr.isatty()
        self._stack = contextlib.ExitStack()
        self._step: Callable[[int], None] | None = None

    def plan(self, total: int) -> None:
        if self.shown:
            bar = click.progressbar(length=total, label=self.label, file=sys.stderr, show_pos=True)
            self._step = self._stack.enter_context(bar).update

    def advance(self, _outcome: object = None) -> None:
        if self._step is not None:
            self._step(1)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.close()  # the bar's own exit: a final redraw and a newline, never the run's exception
