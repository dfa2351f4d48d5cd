"""Per-host politeness shared by every worker of a run: at most `per_host` requests in flight to a
host, and at least `delay` seconds from the end of one request to the start of the next.

A rendered page's sub-resources are not paced against each other (a browser loads them together):
they wait only for a free slot, and the pause before the host's next page counts from the last of
them."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Host(Generic[T]):
    pending: deque[T] = field(default_factory=deque)
    active: int = 0
    waiting: int = 0  # redirects and retries waiting in acquire(): they go before new jobs
    ready_at: float = 0.0


class HostGate(Generic[T]):
    """Hands out jobs whose host may be contacted now, and guards every later request to a host.

    Choosing the job by host readiness (rather than first-come) keeps all workers busy when many
    citations share a host: a worker never sleeps on a host while another host is idle.
    """

    def __init__(self, per_host: int, delay: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_host = per_host
        self.delay = delay
        self.clock = clock
        self._hosts: dict[str, _Host[T]] = {}
        self._cond = threading.Condition()
        self._pending = 0
        self.closed = False

    def _host(self, name: str) -> _Host[T]:
        state = self._hosts.get(name)
        if state is None:
            state = self._hosts[name] = _Host()
        return state

    def add(self, host: str, job: T) -> None:
        with self._cond:
            self._host(host).pending.append(job)
            self._pending += 1
            self._cond.notify()

    def close(self) -> None:
        """Stop handing out jobs (Ctrl-C): workers finish what they hold and exit."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def _free(self, state: _Host[T], now: float, paced: bool = True) -> bool:
        return state.active < self.per_host and (now >= state.ready_at or not paced)

    def next_job(self) -> tuple[str, T] | None:
        """Block until a job's host is free; return it with that host's slot already held."""
        with self._cond:
            while not self.closed and self._pending:
                now = self.clock()
                soonest = None
                best: tuple[int, int] | None = None
                chosen = None
                for name, state in self._hosts.items():
                    if not state.pending:
                        continue
                    if self._free(state, now) and not state.waiting:
                        # Spread work over hosts (fewest requests in flight first), and among
                        # those favour the host with most left: under a per-host delay the
                        # biggest host bounds the run, so it must never wait for a worker.
                        rank = (state.active, -len(state.pending))
                        if best is None or rank < best:
                            best, chosen = rank, name
                    elif state.active < self.per_host:
                        soonest = state.ready_at if soonest is None else min(soonest, state.ready_at)
                if chosen is not None:
                    state = self._hosts[chosen]
                    state.active += 1
                    self._pending -= 1
                    return chosen, state.pending.popleft()
                self._cond.wait(None if soonest is None else max(soonest - now, 0.001))
            return None

    def acquire(self, host: str, timeout: float | None = None, paced: bool = True) -> bool:
        """Take a slot for one more request to `host`; False if `timeout` passed or the gate was
        closed first. Unpaced (a page's sub-resource): a free slot is enough, the pause is not awaited."""
        with self._cond:
            limit = None if timeout is None else self.clock() + timeout
            state = self._host(host)
            state.waiting += 1
            try:
                while not self.closed:
                    now = self.clock()
                    if self._free(state, now, paced):
                        state.active += 1
                        return True
                    if limit is not None and now >= limit:
                        return False
                    waits = [limit - now] if limit is not None else []
                    if state.active < self.per_host and paced:
                        waits.append(state.ready_at - now)
                    self._cond.wait(max(min(waits), 0.001) if waits else None)
                return False
            finally:
                state.waiting -= 1

    def seed(self, ready_at: dict[str, float]) -> None:
        """Start from when each host may next be contacted, as an earlier run left it (the daemon)."""
        with self._cond:
            for name, when in ready_at.items():
                state = self._host(name)
                state.ready_at = max(state.ready_at, when)

    def ready_times(self) -> dict[str, float]:
        with self._cond:
            return {name: state.ready_at for name, state in self._hosts.items() if state.ready_at}

    def release(self, host: str, contacted: bool = True) -> None:
        """Give a slot back; the pause before the host's next request starts now, unless no
        request was sent (a name that did not resolve costs the host nothing)."""
        with self._cond:
            state = self._host(host)
            state.active -= 1
            if contacted:
                state.ready_at = max(state.ready_at, self.clock() + self.delay)
            self._cond.notify_all()
