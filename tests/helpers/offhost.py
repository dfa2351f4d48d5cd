"""A tripwire for the address guard's tests: refuses, at the socket, every connection to an address off
this machine (anything but 127.0.0.0/8 and ::1, IPv4-mapped forms included).

The guard's tests hand archiver addresses like 169.254.169.254 that it must never connect to. Should
the guard ever let one through, the connection must still not leave the machine: the tripwire stops it
(the test then fails on the status recorded) and says so on stderr (`TRIPPED`, which the tests also
look for). An audit hook on `socket.connect` (PEP 578) sees every connect, whoever makes it.

In the test process: `with armed(): ...`. In an archiver process: `child_env(env)` puts offhost_site/
first on PYTHONPATH, whose sitecustomize.py arms it at start-up.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TRIPPED = "offhost tripwire: refused a connection to"
SITE = Path(__file__).with_name("offhost_site")
_state = {"installed": False, "armed": False}


def off_host(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return True  # a name at connect time: not ours to guess
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_loopback


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect" or not _state["armed"]:
        return
    sock, address = args
    if sock.family in (socket.AF_INET, socket.AF_INET6) and off_host(str(address[0])):
        print(f"{TRIPPED} {address[0]}", file=sys.stderr, flush=True)
        raise ConnectionRefusedError(f"{TRIPPED} {address[0]}")


def install(arm: bool = False) -> None:
    """Add the hook once per process (audit hooks cannot be removed: it stays, disarmed)."""
    if not _state["installed"]:
        sys.addaudithook(_hook)
        _state["installed"] = True
    if arm:
        _state["armed"] = True


@contextmanager
def armed() -> Iterator[None]:
    install()
    _state["armed"] = True
    try:
        yield
    finally:
        _state["armed"] = False


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` plus the PYTHONPATH that arms the tripwire in a Python process started with it."""
    paths = [str(SITE), str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
    return {**(env or {}), "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
