"""Was the network down during a run? The hosts a run reached or not, and the rule that judges a run
offline (README, "Offline runs").

A host is unreachable in a run when none of its fetches got an answer and at least one failed at the
network level (NETWORK_FAILURES, or a proxy's own refusal). A run is offline when some host was
unreachable and:
- the reachability probe (fetch/reachability.py, `reachability` URLs) reached none of its URLs, and
  at least `offline_share` of the run's hosts were unreachable: hosts that answered show the network
  worked (only the probe's URLs were filtered), and then the failures are the cited hosts' own;
- or, with no probe configured (`reachability = []`), at least SHARE_ALONE_MIN_HOSTS hosts were
  unreachable, at least `offline_share` of them: too few hosts say nothing about the network.
A probe that reached a URL means the network was up: the failures are real, however many. So a run of
one to three URLs is judged by the probe, and a run where only the cited hosts are down is not
offline. The probe starts at a run's first network-level failure, beside the fetches still to come:
a healthy run neither contacts the probe's hosts nor waits for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import Settings, resolve_map
from .fetch.reachability import PROBE_TIMEOUT, PROXY_REFUSALS, Probe, ProbeResult, proxy_for
from .urls import host_of

# Failures that say nothing was reached; a cut-off transfer (`incomplete`) and HTTP errors were answers.
NETWORK_FAILURES = frozenset({"dns_error", "connection_error", "tls_error", "timeout"})
SHARE_ALONE_MIN_HOSTS = 5


@dataclass
class HostTally:
    """Per host of a run: whether any fetch was answered, whether any failed at the network level."""

    answered: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)

    def add(self, host: str, outcome: str, status: int | None, proxied: bool) -> bool:
        """One fetch of `host`: its outcome word and the HTTP status of its first answer (None: no
        answer). Through a proxy, a refusal status may be the proxy's own: no answer from the host.
        True when the fetch failed at the network level."""
        self.seen.add(host)
        if status is not None and not (proxied and status in PROXY_REFUSALS):
            self.answered.add(host)
            return False
        if outcome in NETWORK_FAILURES or status is not None:
            self.failed.add(host)
            return True
        return False

    @property
    def unreachable(self) -> int:
        return len(self.failed - self.answered)

    @property
    def hosts(self) -> int:
        return len(self.seen)


@dataclass(frozen=True)
class NetworkVerdict:
    """The judgement of one run: offline or not, from how many of its hosts were unreachable and what
    the probe found (None: not configured, or not awaited because every host answered)."""

    offline: bool
    unreachable: int
    hosts: int
    probe: ProbeResult | None = None
    probed: bool = True  # False: no reachability URLs configured

    def detail(self) -> str:
        """`3 of 3 hosts unreachable, probe failed (...)`: what the run's row keeps."""
        text = f"{self.unreachable} of {self.hosts} host{'s' if self.hosts != 1 else ''} unreachable"
        if self.probe is not None:
            text += f", {self.probe.describe()}"
        elif not self.probed and self.unreachable:
            text += ", no reachability probe configured"
        return text

    def line(self) -> str:
        """The one line the CLI prints at the end of an offline run."""
        return (f"the network looked down during this run ({self.detail()}): its failures do not count"
                " toward death")

    def as_json(self) -> dict[str, Any]:
        return {"offline": self.offline, "unreachable_hosts": self.unreachable, "hosts": self.hosts,
                "probe": None if self.probe is None else ("up" if self.probe.up else "down"),
                "detail": self.detail()}


def reachability_probe(settings: Settings) -> Probe | None:
    """The run's reachability probe, not started (None: no reachability URLs configured): the run
    starts it at its first network-level failure, and awaits it only if some host was unreachable."""
    if not settings.reachability:
        return None
    return Probe(settings.reachability, resolve_map(settings.resolve), min(settings.connect_timeout, PROBE_TIMEOUT))


def record_fetch(tally: HostTally, probe: Probe | None, url: str, outcome: str, answer: int | None) -> None:
    """One fetch of `url` into the tally (`answer`: the status of its first hop, None: no answer); the
    probe starts at the first network-level failure, beside the fetches still to come."""
    # A refusal through a proxy may be the proxy's own: only then is the proxy looked up.
    if tally.add(host_of(url), outcome, answer, answer in PROXY_REFUSALS and proxy_for(url) is not None) \
            and probe is not None:
        probe.start()


def judge_network(tally: HostTally, probe: Probe | None, share: float) -> NetworkVerdict:
    """The rule of the module docstring. Waits for the probe only when some host was unreachable."""
    unreachable, hosts = tally.unreachable, tally.hosts
    if not unreachable:
        return NetworkVerdict(False, 0, hosts, None, probe is not None)
    enough = unreachable >= share * hosts
    if probe is None:
        return NetworkVerdict(enough and unreachable >= SHARE_ALONE_MIN_HOSTS, unreachable, hosts, None, False)
    found = probe.result()
    return NetworkVerdict(enough and not found.up, unreachable, hosts, found)


__all__ = ["NETWORK_FAILURES", "SHARE_ALONE_MIN_HOSTS", "HostTally", "NetworkVerdict", "judge_network",
           "reachability_probe", "record_fetch"]
