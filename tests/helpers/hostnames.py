"""Real host names for tests, without a hosts file or root: entries for archiver's resolver override.

Tests that need real names (TLS certificates, per-host politeness, platform rules keyed on the host)
hand archiver `resolve` entries that send each name to loopback: `Settings(resolve=...)` in process,
`loopback_env(...)` (ARCHIVER_RESOLVE) for a CLI run, or a config file's `resolve` key. A name with no
entry is asked of the system resolver like any other; tests only leave names unmapped under .invalid,
which archiver never resolves (RFC 6761), so no test depends on what a real DNS server says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

LOOPBACK = "127.0.0.1"


def loopback_names(names: Iterable[str], ports: Iterable[int] | Mapping[int, int]) -> tuple[str, ...]:
    """Entries that send every name, on each port, to 127.0.0.1. `ports` may map the port URLs name to
    the port a server listens on (443 -> 40123): only root may listen below 1024."""
    pairs = list(ports.items()) if isinstance(ports, Mapping) else [(port, port) for port in ports]
    return tuple(f"{name}:{port}:{LOOPBACK}" + (f":{listen}" if listen != port else "")
                 for name in names for port, listen in pairs)


def loopback_env(entries: Iterable[str]) -> dict[str, str]:
    """The environment that gives a CLI process these entries."""
    return {"ARCHIVER_RESOLVE": ",".join(entries)}
