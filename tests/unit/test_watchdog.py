"""The fetcher's watchdog lets go of a fetch's recording when the fetch ends, not at its total-time
deadline: before, a run shorter than `total_timeout` (120 s) kept every recording it made (about 2 KB
of client memory per URL). It still cuts a fetch whose time is up."""

from __future__ import annotations

import gc
import time

from server import TestServer

from archiver.config import Settings
from archiver.fetch.fetcher import Fetcher
from archiver.fetch.politeness import HostGate
from archiver.fetch.wire import Recording


def live_recordings() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is Recording)


def test_ended_fetches_keep_no_recording(settings: Settings, server: TestServer) -> None:
    before = live_recordings()
    fetcher = Fetcher(settings.replace(total_timeout=600), HostGate(4, 0))
    try:
        for n in range(150):  # past the point where ended entries are dropped from the heap
            result = fetcher.fetch(server.url(f"/page/watchdog-{n}"))
            assert result.outcome == "ok"
            result.close()
        assert live_recordings() - before <= 1
    finally:
        fetcher.close()


def test_the_watchdog_still_cuts_a_drip_after_many_fetches(settings: Settings, server: TestServer) -> None:
    fetcher = Fetcher(settings.replace(total_timeout=1), HostGate(4, 0))
    try:
        for n in range(100):
            fetcher.fetch(server.url(f"/page/before-drip-{n}")).close()
        started = time.monotonic()
        result = fetcher.fetch(server.url("drip?n=1000&interval=0.05"))
        assert (result.outcome, result.hops[0].truncated) == ("ok", "time")
        assert time.monotonic() - started < 2.5
        result.close()
    finally:
        fetcher.close()
