"""The network-down guard's parts: the reachability probe against real loopback listeners, closed
ports and proxies; the host tally; the rule that judges a run offline; its config keys."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from proxy import TestProxy, closed_port

from archiver.config import DEFAULT_REACHABILITY, load_settings
from archiver.errors import ConfigError
from archiver.fetch.reachability import Probe, proxy_for
from archiver.offline import SHARE_ALONE_MIN_HOSTS, HostTally, judge_network


@pytest.fixture()
def listener() -> Iterator[int]:
    """A loopback port that accepts (and closes) connections: a site that is up."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    yield int(server.getsockname()[1])
    stop.set()
    server.close()


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def tally(*hosts: tuple[str, str, int | None]) -> HostTally:
    out = HostTally()
    for host, outcome, status in hosts:
        out.add(host, outcome, status, False)
    return out


# -- the probe -------------------------------------------------------------------------------------

def test_probe_reaches_a_name_through_the_resolver_override(listener: int) -> None:
    # two addresses for the name, the first refusing: tried in turn, as the fetcher does
    addresses = {("www.wikipedia.org", 443): (("127.0.0.1", closed_port()), ("127.0.0.1", listener))}
    probe = Probe(["https://www.wikipedia.org/"], addresses, 2).start()
    found = probe.result()
    assert found.up and found.describe() == "probe reached www.wikipedia.org"


def test_probe_is_up_when_any_url_answers_down_when_none(listener: int) -> None:
    dead = closed_port()
    found = Probe([f"http://127.0.0.1:{dead}/", f"http://127.0.0.1:{listener}/"], {}, 2).start().result()
    assert found.up
    found = Probe([f"http://127.0.0.1:{dead}/", "http://nowhere.invalid/"], {}, 2).start().result()
    assert not found.up and len(found.failures) == 2
    assert found.describe().startswith("probe failed: ") and found.describe().endswith("(+1 more)")
    assert any("cannot resolve" in f for f in found.failures) and any("refused" in f for f in found.failures)


def test_probe_tunnels_through_the_proxy_the_fetches_use(listener: int, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{listener}/"
    with TestProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        assert proxy_for(url) == proxy.url
        assert Probe([url], {}, 2).start().result().up
        assert ("CONNECT", f"127.0.0.1:{listener}") in proxy.log
    with TestProxy(refuse=True) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        found = Probe([url], {}, 2).start().result()
        assert not found.up and "answered 'HTTP/1.1 403" in found.failures[0]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    found = Probe([url], {}, 2).start().result()
    assert not found.up and "proxy 127.0.0.1:" in found.failures[0]
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert proxy_for(url) is None and Probe([url], {}, 2).start().result().up


# -- the tally and the rule ----------------------------------------------------------------------------

def test_a_host_that_answered_once_is_reachable() -> None:
    t = tally(("a", "connection_error", None), ("a", "ok", 404), ("b", "timeout", None), ("c", "incomplete", 200),
              ("d", "tls_error", None), ("e", "too_many_redirects", 301))
    assert (t.unreachable, t.hosts) == (2, 5)  # b and d; a cut-off transfer and a redirect loop were answers
    t.add("f", "ok", 502, True)  # a 502 through a proxy may be the proxy's own refusal
    t.add("g", "ok", 502, False)  # without one, it is the site's answer
    assert (t.unreachable, t.hosts) == (3, 7)


def test_probe_down_and_most_hosts_unreachable_is_offline() -> None:
    down = Probe([f"http://127.0.0.1:{closed_port()}/"], {}, 2).start()
    verdict = judge_network(tally(("a", "dns_error", None)), down, 0.5)  # a run of one URL: the probe decides
    assert verdict.offline and verdict.detail().startswith("1 of 1 host unreachable, probe failed: 127.0.0.1: ")
    assert verdict.line().startswith("the network looked down during this run (1 of 1 host unreachable")
    # hosts that answered show the network worked: only the probe's URL was filtered
    verdict = judge_network(tally(("a", "dns_error", None), ("b", "ok", 200), ("c", "ok", 404)), down, 0.5)
    assert not verdict.offline and verdict.unreachable == 1
    assert judge_network(tally(("a", "dns_error", None), ("b", "ok", 200)), down, 0.5).offline  # half is enough
    assert not judge_network(tally(("a", "dns_error", None), ("b", "ok", 200)), down, 0.75).offline


def test_probe_up_means_the_failures_are_real(listener: int) -> None:
    up = Probe([f"http://127.0.0.1:{listener}/"], {}, 2).start()
    t = tally(*[(f"h{i}", "connection_error", None) for i in range(20)])
    verdict = judge_network(t, up, 0.5)
    assert not verdict.offline and verdict.detail() == "20 of 20 hosts unreachable, probe reached 127.0.0.1"


def test_without_a_probe_only_many_hosts_say_the_network_was_down() -> None:
    few = tally(*[(f"h{i}", "dns_error", None) for i in range(SHARE_ALONE_MIN_HOSTS - 1)])
    assert not judge_network(few, None, 0.5).offline
    many = tally(*[(f"h{i}", "dns_error", None) for i in range(SHARE_ALONE_MIN_HOSTS)], ("x", "ok", 200))
    verdict = judge_network(many, None, 0.5)
    assert verdict.offline and "no reachability probe configured" in verdict.detail()


def test_a_healthy_run_never_waits_for_the_probe() -> None:
    """No unreachable host: the probe's answer is not asked for (a blackholed probe would take seconds)."""
    never = Probe(["http://10.255.255.1:9/"], {}, 30)  # not even started: result() would wait 31 s
    verdict = judge_network(tally(("a", "ok", 200), ("b", "ok", 404)), never, 0.5)
    assert not verdict.offline and verdict.probe is None


# -- config ----------------------------------------------------------------------------------------------

def test_config_keys() -> None:
    """The default probe set is what the config says (this test reads it; there is no internet here)."""
    settings = load_settings(env={})
    assert settings.reachability == DEFAULT_REACHABILITY and settings.offline_share == 0.5
    assert all(url.startswith("https://") for url in DEFAULT_REACHABILITY)
    assert len({url.split("/")[2] for url in DEFAULT_REACHABILITY}) >= 3
    assert load_settings(env={"ARCHIVER_REACHABILITY": ""}).reachability == ()
    assert load_settings(env={"ARCHIVER_REACHABILITY": "http://a.test/, https://b.test:8443/"}).reachability == (
        "http://a.test/", "https://b.test:8443/")
    assert load_settings(env={"ARCHIVER_OFFLINE_SHARE": "0.8"}).offline_share == 0.8
    for env, says in [({"ARCHIVER_REACHABILITY": "ftp://a.test/"}, r"not an http\(s\) URL"),
                      ({"ARCHIVER_REACHABILITY": "http://a.test:99999/"}, "reachability URL"),
                      ({"ARCHIVER_OFFLINE_SHARE": "0"}, "offline_share must be a share"),
                      ({"ARCHIVER_OFFLINE_SHARE": "1.5"}, "offline_share must be a share")]:
        with pytest.raises(ConfigError, match=says):
            load_settings(env=env)
