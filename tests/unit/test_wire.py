"""The fetcher asks Linux for quick ACKs after every request it sends. On a keep-alive connection reused
at once (archiver's shared pool), the kernel otherwise switches to interactive delayed ACK and holds
the ACK of a response's first segment up to 40 ms; a server with Nagle's algorithm on (Python's
http.server, many small sites) writes headers and body separately and waits for that ACK before the
body. Judged from the kernel's own state of archiver's socket while its request is in flight, not from
timings."""

from __future__ import annotations

import http.server
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from archiver.config import Settings
from archiver.fetch.fetcher import Fetcher
from archiver.fetch.politeness import HostGate

pytestmark = pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux only")


def quick_ack_state(local: tuple[str, int]) -> int | None:
    """TCP_QUICKACK as the kernel reports it (1: quick-ACK mode, 0: interactive delayed-ACK mode) for
    this process's socket bound to `local`, read through a duplicate of its descriptor."""
    for name in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            sock = socket.fromfd(int(name), socket.AF_INET, socket.SOCK_STREAM)
        except OSError:  # the descriptor closed meanwhile
            continue
        with sock:
            try:
                if sock.getsockname() != local:
                    continue
            except OSError:  # not an IPv4 socket
                continue
            return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK)
    return None


class Probe(http.server.BaseHTTPRequestHandler):
    """Answers with the quick-ACK state of the client's socket (the client runs in this process), as
    it is once the client has sent the request: a request is in flight, so it is still the state
    the response will be received in. Nagle's algorithm stays on, as in http.server."""

    protocol_version = "HTTP/1.1"
    ports: list[int] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.ports.append(self.client_address[1])
        deadline = time.monotonic() + 2  # the client asks right after its send() returns
        state = quick_ack_state(self.client_address)
        while state == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
            state = quick_ack_state(self.client_address)
        body = b"<html><body>probe</body></html>"
        self.send_response(200)
        self.send_header("X-Client-Quick-Ack", str(state))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def probe() -> Iterator[str]:
    Probe.ports = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Probe)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_every_request_on_a_reused_connection_is_answered_in_quick_ack_mode(probe: str, settings: Settings) -> None:
    fetcher = Fetcher(settings.replace(per_host=1), HostGate(1, 0))
    try:
        for n in range(4):
            result = fetcher.fetch(f"{probe}/page/{n}")
            assert result.final is not None and result.final.status == 200, result.error
            # Without the quick-ACK request the kernel reports 0: each request follows the previous
            # response at once, which it takes for an interactive exchange.
            assert result.final.header("X-Client-Quick-Ack") == "1", f"request {n + 1}"
            result.close()
    finally:
        fetcher.close()
    assert len(Probe.ports) == 4 and len(set(Probe.ports)) == 1, "one keep-alive connection, reused"
