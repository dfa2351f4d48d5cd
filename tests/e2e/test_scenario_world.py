"""The scenario world serves what its fates claim, in both states (tests/scenario.py).

Checked with plain urllib3 and raw sockets and a small reference classifier written here from the
rules of DESIGN.md section 4, so the world is known good before the checker is judged against it. The
client here resolves names the world's way (live names are loopback, the rest do not exist), so it
shares no code with archiver's resolver override.
"""

from __future__ import annotations

import collections
import json
import re
import secrets
import socket
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import urllib3
from conftest import run
from scenario import ALLOWED, DEAD_HOST, DEFUNCT_HOST, DOMAIN, HANG_SECONDS, STATUS_WORDS, Fate, World, _pdf

from archiver.manifests import load_manifest


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with World(tmp_path_factory.mktemp("scenario")) as w:
        yield w


class NoSuchName(Exception):
    """The world has no live host of this name (in this state)."""


@dataclass
class Answer:
    status_code: int
    headers: urllib3.HTTPHeaderDict
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def get(world: World, url: str, read_timeout: float = 4.0) -> Answer:  # generous: CI machines are loaded
    """One GET on a connection of its own (a pooled one from an earlier state must not answer for this
    one): to loopback, under the URL's name for the Host header, SNI and the certificate check."""
    parts = urlsplit(url)
    name = parts.hostname or ""
    if not world.resolves(name):
        raise NoSuchName(name)
    options = {"timeout": urllib3.Timeout(connect=2, read=read_timeout), "retries": False, "maxsize": 1}
    pool: urllib3.HTTPConnectionPool
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool("127.0.0.1", parts.port or 443, server_hostname=name, assert_hostname=name,
                                           ca_certs=world.ca_file, cert_reqs="CERT_REQUIRED", **options)
    else:
        pool = urllib3.HTTPConnectionPool("127.0.0.1", parts.port or 80, **options)
    with pool:
        response = pool.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                                headers={"Host": parts.netloc}, redirect=False)
        return Answer(response.status, response.headers, response.data)


def title_of(text: str) -> str:
    match = re.search(r"<title>(.*?)</title>", text, re.S | re.I)
    return match.group(1).strip() if match else ""


def is_upgrade(a: str, b: str) -> bool:
    """http -> https of the same host, path and query (the port may change: ephemeral ports here)."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pb.scheme) == ("http", "https") and pa.hostname == pb.hostname and (
        pa.path, pa.query) == (pb.path, pb.query)


def refused(url: str) -> bool:
    """The address guard as the world's config sets it: of the addresses, only ALLOWED is open (every
    name of the world resolves to 127.0.0.1)."""
    try:
        return ip_address(urlsplit(url).hostname or "") not in ip_network(ALLOWED)
    except ValueError:
        return False


def observe(world: World, url: str) -> str:
    """Status word for `url`, by a deliberately simple reading of DESIGN.md section 4."""
    if any(c.isspace() for c in url):
        return "invalid_url"
    chain = [url]
    try:
        for _ in range(10):
            if refused(chain[-1]):
                return "blocked_address"
            response = get(world, chain[-1])
            location = response.headers.get("Location")
            if response.status_code not in (301, 302, 303, 307, 308) or not location:
                break
            chain.append(urljoin(chain[-1], location))
            if chain.count(chain[-1]) > 2:
                return "too_many_redirects"
        else:
            return "too_many_redirects"
    except NoSuchName:
        return "dns_error"
    except urllib3.exceptions.SSLError:
        return "tls_error"
    except urllib3.exceptions.NewConnectionError:  # before TimeoutError: urllib3 makes it a subclass
        return "connection_error"
    except urllib3.exceptions.TimeoutError:
        return "timeout"
    except (urllib3.exceptions.HTTPError, OSError):
        return "connection_error"
    code, body, final = response.status_code, response.text, chain[-1]
    if any(urlsplit(u).path == "/login" for u in chain[1:]):
        return "login_wall"
    if "domain is for sale" in body.lower():
        return "parked"
    if code != 200:
        return {404: "not_found", 410: "gone", 403: "forbidden", 429: "rate_limited", 451: "legal_block"}.get(
            code, "server_error" if code >= 500 else "client_error")
    if len(body) < 512 or "not found" in title_of(body).lower() or "404" in final:
        return "soft_404"
    if urlsplit(final).path == "/" and urlsplit(url).path != "/":
        return "soft_404"
    parts = urlsplit(final)
    sibling = urljoin(final, secrets.token_hex(6))
    probe = get(world, sibling)
    if probe.status_code == 200 and title_of(probe.text) == title_of(body):
        return "soft_404"
    assert parts.path
    if final != url and not (len(chain) == 2 and is_upgrade(url, final)):
        return "redirected"
    return "ok"


def observe_all(world: World) -> dict[str, str]:
    with ThreadPoolExecutor(16) as pool:
        seen = dict(zip([f.id for f in world.fates], pool.map(lambda f: observe(world, f.url), world.fates),
                        strict=True))
    return seen


def main_text(html_text: str) -> str:
    import trafilatura  # the extractor the checker is expected to use

    return trafilatura.extract(html_text) or ""


def shingle_distance(a: str, b: str, k: int = 3) -> float:
    def shingles(text: str) -> set[tuple[str, ...]]:
        words = re.findall(r"\w+", text.lower())
        return {tuple(words[i:i + k]) for i in range(max(len(words) - k + 1, 1))}

    sa, sb = shingles(a), shingles(b)
    return 1 - len(sa & sb) / len(sa | sb) if sa | sb else 0.0


# ------------------------------------------------------------------------------------------------


def test_fates_cover_the_contract(world: World) -> None:
    urls = {f.url for f in world.fates}
    assert len(urls) >= 44
    assert {f.later for f in world.fates} == set(STATUS_WORDS)
    assert len({f.id for f in world.fates}) == len(world.fates)
    hosts = {urlsplit(u).hostname for u in urls if " " not in u}
    assert len({h for h in hosts if h and h.endswith(DOMAIN)}) >= 8
    cited = collections.Counter(f.url for f in world.fates)
    assert sorted(cited.values())[-2:] == [2, 2]
    assert sum(f.accessed is not None for f in world.fates) >= len(world.fates) - 3
    for f in world.fates:
        assert f.early in STATUS_WORDS and f.later in STATUS_WORDS, f
        assert f.drift in (None, "unchanged", "minor", "major"), f
        assert (f.drift is not None) == (f.later in ("ok", "redirected")), f
    assert {f.drift for f in world.fates if f.later == "ok"} == {"unchanged", "minor", "major"}
    assert any(f.url.startswith("https:") and f.drift == "unchanged" for f in world.fates)
    assert world.expected("early")["news-flood-barrier"] == "ok"
    assert world.fate("journal-issue-flapping").expected("later", 1) == "ok"


def test_manifest_loads(world: World, tmp_path: Path) -> None:
    manifest = load_manifest(world.write_manifest(tmp_path / "scenario.yaml"))
    assert manifest.title
    by_id = {c.id: c for c in manifest.citations}
    valid = [f for f in world.fates if " " not in f.url]
    assert set(by_id) == {f.id for f in valid}
    for f in valid:
        assert by_id[f.id].url == f.url and by_id[f.id].accessed == f.accessed and by_id[f.id].context == f.context
    [problem] = manifest.problems
    assert problem.text == world.fate("invalid-url-space").url and "white space" in problem.reason


def test_pages_are_realistic(world: World) -> None:
    world.state = "early"
    fate = world.fate("blog-link-rot")
    text = get(world, fate.url).text
    for part in ("<nav", "<footer", "<aside", "<article", "<title>"):
        assert part in text
    counts = []
    for f in world.fates:
        if f.early == "ok" and f.drift and not f.url.endswith(".pdf"):
            counts.append(len(main_text(get(world, f.url).text).split()))
    assert counts and min(counts) >= 300 and max(counts) <= 900, counts
    pdf = get(world, world.fate("journal-pdf").url)
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    world.state = "later"
    try:
        assert get(world, world.fate("journal-pdf").url).content == pdf.content
    finally:
        world.state = "early"
    assert _pdf("t", ["same bytes every run"]) == _pdf("t", ["same bytes every run"])


def test_world_serves_what_fates_claim(world: World) -> None:
    world.state = "early"
    world.round = 0
    assert observe_all(world) == world.expected("early")
    world.state = "later"
    started = time.monotonic()
    assert observe_all(world) == world.expected("later")
    assert time.monotonic() - started < HANG_SECONDS / 3  # the silent route costs one read timeout
    world.next_round()
    flapping = world.fate("journal-issue-flapping")
    assert observe(world, flapping.url) == "ok" == world.expected("later")[flapping.id]
    world.state = "early"  # and back: the closed port listens again, the dead host resolves again
    world.round = 0
    assert observe(world, world.fate("status-outage-refused").url) == "ok"
    assert observe(world, world.fate("defunct-times-dns").url) == "ok"
    assert observe(world, world.fate("records-wrong-name-tls").url) == "ok"


def test_drift_levels_match_the_main_text(world: World) -> None:
    fates = [f for f in world.fates if f.drift and not f.url.endswith(".pdf")]

    def final_text(f: Fate) -> str:
        url = f.url
        for _ in range(3):
            response = get(world, url)
            if "Location" not in response.headers:
                return response.text
            url = urljoin(url, response.headers["Location"])
        raise AssertionError(f"{f.id}: too many redirects")

    world.state = "early"
    before = {f.id: main_text(final_text(f)) for f in fates}
    world.state = "later"
    try:
        after = {f.id: main_text(final_text(f)) for f in fates}
    finally:
        world.state = "early"
    for f in fates:
        distance = shingle_distance(before[f.id], after[f.id])
        expected = {"unchanged": (0.0, 0.0), "minor": (0.0, 0.3), "major": (0.6, 1.0)}[f.drift or ""]
        assert expected[0] <= distance <= expected[1], (f.id, f.drift, round(distance, 3))


def test_flapping_holds_for_a_whole_round(world: World) -> None:
    world.state = "later"
    url = world.fate("journal-issue-flapping").url
    try:
        for round_, code in ((0, 503), (1, 200), (2, 503), (3, 200)):
            world.round = round_
            # retries within a round must see the same answer, or the fetcher retries it away
            assert [get(world, url).status_code for _ in range(4)] == [code] * 4
    finally:
        world.state, world.round = "early", 0
    assert get(world, url).status_code == 200


def test_hits_record_what_the_server_saw(world: World) -> None:
    world.state = "later"
    world.clear_hits()
    try:
        get(world, world.fate("data-quality-429").url)
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            get(world, world.fate("museum-catalogue-timeout").url, read_timeout=0.3)
    finally:
        world.state = "early"
    rate, hang = world.hits()
    assert (rate.host, rate.path, rate.status, rate.scheme) == (
        f"data.{DOMAIN}", "/api/v1/datasets/water-quality", 429, "http")
    assert rate.ended >= rate.started > 0
    assert hang.status == 0 and hang.path == "/collections/catalogue/item-4471"
    world.clear_hits()
    assert world.hits() == []
    response = get(world, world.fate("data-quality-429").url)
    assert response.status_code == 200


def test_keep_alive_and_raw_failures(world: World) -> None:
    world.state = "early"
    fate = world.fate("gov-budget-statement")
    parts = urlsplit(fate.url)
    request = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", parts.port or 80), timeout=5) as sock:
        for _ in range(2):  # two requests, one connection
            sock.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(65536)
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
            body = head.split(b"\r\n\r\n", 1)[1]
            while len(body) < length:
                body += sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200") and len(body) == length
    world.state = "later"
    try:
        refused = urlsplit(world.fate("status-outage-refused").url)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", refused.port or 80), timeout=2).close()
        reset = urlsplit(world.fate("blog-reading-list-reset").url)
        with socket.create_connection(("127.0.0.1", reset.port or 80), timeout=2) as sock:
            sock.sendall(f"GET {reset.path} HTTP/1.1\r\nHost: {reset.hostname}\r\n\r\n".encode())
            with pytest.raises(ConnectionResetError):
                while sock.recv(1024):
                    pass
        tls = urlsplit(world.fate("records-wrong-name-tls").url)
        context = ssl.create_default_context(cafile=world.ca_file)
        with socket.create_connection(("127.0.0.1", tls.port or 443), timeout=2) as sock:
            with pytest.raises(ssl.SSLCertVerificationError, match="match"):
                context.wrap_socket(sock, server_hostname=tls.hostname)
    finally:
        world.state = "early"


def test_dead_names_are_dns_errors_to_a_cli_run(world: World, tmp_path: Path) -> None:
    """In a process started with world.env, as the checker's tests run archiver: the defunct host
    resolves through the world's config file in state early only, the .invalid dead host never, and
    without an entry no resolver is asked (RFC 6761), so no DNS server's answer or silence matters."""
    defunct, dead = world.fate("defunct-times-dns").url, world.fate("dead-archive-dns").url
    assert DEFUNCT_HOST.endswith(".invalid") and DEAD_HOST.endswith(".invalid")

    def outcomes(storage: Path) -> dict[str, tuple[str, str | None]]:
        proc = run(storage, "snapshot", defunct, dead, "--json", "--per-host-delay", "0", env=world.env, timeout=30)
        return {u["url"]: (u["outcome"], u["error"]) for u in json.loads(proc.stdout)["urls"]}

    def unresolved(name: str) -> tuple[str, str]:
        return "dns_error", f"cannot resolve {name}: .invalid names never resolve (RFC 6761)"

    world.state = "early"
    assert outcomes(tmp_path / "early") == {defunct: ("ok", None), dead: unresolved(DEAD_HOST)}
    world.state = "later"
    try:
        assert outcomes(tmp_path / "later") == {defunct: unresolved(DEFUNCT_HOST), dead: unresolved(DEAD_HOST)}
    finally:
        world.state = "early"


def test_hanging_route_does_not_hold_up_shutdown(tmp_path: Path) -> None:
    with World(tmp_path) as w:
        w.state = "later"
        target = urlsplit(w.fate("museum-catalogue-timeout").url)
        sock = socket.create_connection(("127.0.0.1", target.port or 80), timeout=5)
        sock.sendall(f"GET {target.path} HTTP/1.1\r\nHost: {target.hostname}\r\n\r\n".encode())
        time.sleep(0.2)
        started = time.monotonic()
    assert time.monotonic() - started < 2
    with sock:
        assert sock.recv(1024) == b""  # woken and closed, without an answer
