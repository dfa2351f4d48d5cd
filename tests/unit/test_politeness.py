"""Politeness, judged from the server's own request log: one request at a time per host, a pause
between them, and every host served at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from conftest import invoke
from server import TestServer

from archiver.fetch.politeness import HostGate


def by_host(server: TestServer) -> dict[str, list]:
    hosts: dict[str, list] = {}
    for hit in server.hits:
        hosts.setdefault(hit.host.split(":")[0], []).append(hit)
    return hosts


def test_one_request_at_a_time_per_host_with_the_delay_between(fresh_server: TestServer, storage: Path) -> None:
    urls = [fresh_server.url(f"slow?delay=0.1&n={i}", host=host) for host in ("127.0.0.1", "localhost")
            for i in range(5)]
    result = invoke(storage, "snapshot", *urls, "--per-host-delay", "0.3", "--concurrency", "8")
    assert result.exit_code == 0, result.stderr
    hosts = by_host(fresh_server)
    assert set(hosts) == {"127.0.0.1", "localhost"}
    for hits in hosts.values():
        hits.sort(key=lambda h: h.started)
        assert len(hits) == 5
        for before, after in zip(hits, hits[1:], strict=False):
            assert after.started >= before.ended + 0.29, "requests to one host overlapped or came too soon"
    # the two hosts were served side by side, not one after the other
    first, second = (sorted(h.started for h in hits) for hits in hosts.values())
    assert abs(first[0] - second[0]) < 0.3


def test_per_host_limit_above_one_allows_that_many_in_flight(fresh_server: TestServer, storage: Path) -> None:
    urls = [fresh_server.url(f"slow?delay=0.4&n={i}") for i in range(6)]
    started = time.monotonic()
    result = invoke(storage, "snapshot", *urls, "--per-host", "3", "--per-host-delay", "0", "--concurrency", "8")
    assert result.exit_code == 0
    hits = sorted(fresh_server.hits, key=lambda h: h.started)
    in_flight = max(sum(1 for o in hits if o.started <= h.started < o.ended) for h in hits)
    assert in_flight == 3
    assert time.monotonic() - started < 2.4  # 2 rounds of 0.4 s, not 6


def test_redirect_to_another_host_waits_its_turn_there(fresh_server: TestServer, storage: Path) -> None:
    target = fresh_server.url("slow?delay=0.2&n=target", host="localhost")
    urls = [fresh_server.url(f"redirect-to?url={target}&code=302&n={i}") for i in range(3)]
    urls += [fresh_server.url(f"slow?delay=0.2&n={i}", host="localhost") for i in range(2)]
    result = invoke(storage, "snapshot", *urls, "--per-host-delay", "0.2", "--concurrency", "8")
    assert result.exit_code == 0, result.stderr
    local = sorted(by_host(fresh_server)["localhost"], key=lambda h: h.started)
    assert len(local) == 5
    for before, after in zip(local, local[1:], strict=False):
        assert after.started >= before.ended + 0.19


def test_gate_hands_out_ready_hosts_first() -> None:
    now = [0.0]
    gate: HostGate[str] = HostGate(per_host=1, delay=10, clock=lambda: now[0])
    for job in ("a1", "a2"):
        gate.add("a", job)
    gate.add("b", "b1")
    first = gate.next_job()
    assert first == ("a", "a1")
    assert gate.next_job() == ("b", "b1")  # a is busy: b goes ahead instead of waiting
    gate.release("a")
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(gate.next_job()))
    waiter.start()
    waiter.join(0.2)
    assert not got  # a's pause (10 s on the injected clock) has not passed
    now[0] = 10.0
    gate.release("b")  # any release re-checks readiness
    waiter.join(2)
    assert got == [("a", "a2")]


def test_closed_gate_stops_handing_out_jobs() -> None:
    gate: HostGate[str] = HostGate(per_host=1, delay=0)
    gate.add("a", "a1")
    gate.close()
    assert gate.next_job() is None
