"""Settle damaged URLs: online, fetch the printed form and its repairs politely and keep the one that
resolves; offline, keep the printed form and flag it with its candidates. Never invent a URL.

Probing without a network settles nothing: the fetches are judged as a run's are (offline.py: the
hosts that answered or not, and the reachability probe), and when the network looks down the entries
are kept as offline and the caller is told once (NETWORK_UNREACHABLE), not every entry "no repair
resolved"."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..config import Settings
from ..fetch.fetcher import Fetcher
from ..fetch.politeness import HostGate
from ..offline import HostTally, judge_network, reachability_probe, record_fetch
from .text import Found

# A damaged URL rarely has more than a few plausible repairs; more would mean probing a site with
# guesses, which is what politeness forbids.
MAX_PROBES = 6
NETWORK_UNREACHABLE = "network unreachable: kept as printed, flagged suspect"


def needs_settling(found: Found) -> bool:
    """True when the URL rests on a guess (a restored hyphen, a completion) rather than on the print."""
    if found.confirmed:
        return False
    return found.suspect or (found.printed_url is not None and found.url != found.printed_url)


def worth_probing(found: Found) -> bool:
    """Online, a print that the text alone leaves standing is still checked when repairs exist."""
    return needs_settling(found) or (not found.confirmed and bool(found.candidates))


def settle_offline(found: Found, why: str | None = None) -> None:
    """Keep the printed form as the URL; the guesses become candidates for a person to check."""
    if not needs_settling(found):
        return
    guesses = [found.url, *found.candidates]
    if found.printed_url is not None and not found.truncated:
        found.url = found.printed_url
    found.candidates = list(dict.fromkeys(c for c in guesses if c != found.url))
    _drop_needless_cited_as(found)
    found.suspect = True
    if why:
        found.note = f"{found.note}; {why}" if found.note else why


def _drop_needless_cited_as(found: Found) -> None:
    """`cited_as` is only kept when the print differs from the URL by more than the scheme."""
    cited = found.cited_as
    if cited is not None and found.url in (cited, f"https://{cited}", f"http://{cited}"):
        found.cited_as = None


def settle_by_probe(found: list[Found], settings: Settings, on_probe: Callable[[str, bool], None] | None = None,
                    on_notice: Callable[[str], None] | None = None) -> int:
    """Probe the citations whose URL is a guess; returns the number of requests made. When the network
    looks down, the rest are left unprobed and `on_notice` hears NETWORK_UNREACHABLE once."""
    todo = [f for f in found if worth_probing(f)]
    if not todo:
        return 0
    gate: HostGate[Any] = HostGate(settings.per_host, settings.per_host_delay)
    fetcher = Fetcher(settings, gate)
    tally, network_probe = HostTally(), reachability_probe(settings)
    lock = threading.Lock()
    unresolved: list[Found] = []

    def offline_now() -> bool:
        with lock:
            if not tally.unreachable or tally.answered:
                return False  # nothing failed yet, or some host answered: the network works
        return judge_network(tally, network_probe, settings.offline_share).offline

    def resolves(url: str) -> bool:
        result = fetcher.fetch(url)
        try:
            with lock:
                record_fetch(tally, network_probe, url, result.outcome, result.hops[0].status if result.hops else None)
            final = result.final
            return final is not None and 200 <= final.status < 300
        finally:
            result.close()

    def settle(item: Found) -> int:
        order = [item.printed_url] if item.printed_url and not item.truncated else []
        order += [item.url, *item.candidates]
        tried = 0
        for url in list(dict.fromkeys(u for u in order if u))[:MAX_PROBES]:
            if offline_now():
                break  # the guesses cannot be told apart without a network: no more requests
            tried += 1
            ok = resolves(url)
            if on_probe:
                on_probe(url, ok)
            if ok:
                item.cited_as = item.cited_as or item.url
                item.url = url
                _drop_needless_cited_as(item)
                item.candidates = []
                item.suspect = False
                item.confirmed = "probe"
                if item.note and item.note.startswith("truncated"):
                    item.note = f"{item.note}; completed from the document's other URLs, and it resolves"
                return tried
        with lock:
            unresolved.append(item)
        return tried

    try:
        with ThreadPoolExecutor(max_workers=min(settings.concurrency, len(todo))) as pool:
            requests = sum(pool.map(settle, todo))
        offline = judge_network(tally, network_probe, settings.offline_share).offline
    finally:
        gate.close()
        fetcher.close()
    for item in unresolved:
        settle_offline(item, None if offline else "no repair resolved when probed")
    if offline and unresolved and on_notice:
        on_notice(NETWORK_UNREACHABLE)
    return requests
