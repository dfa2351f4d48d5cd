"""Signal handlers installed for the length of a block and put back after it.

Only the main thread may install handlers; elsewhere (a daemon job, a test's thread) the block runs
with whatever handlers the process already has.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

Handler = Callable[[int, Any], Any] | int | None


@contextlib.contextmanager
def handled(handlers: Mapping[signal.Signals, Handler]) -> Iterator[bool]:
    """Install `handlers` for the block; yields whether they were installed (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    saved = {sig: signal.getsignal(sig) for sig in handlers}
    try:
        for sig, handler in handlers.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        yield True
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
