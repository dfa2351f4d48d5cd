"""The fetcher against the real test server (tests/helpers/server.py): what is recorded, retries and
Retry-After, the caps, a reset mid-body, and the resolver override over plain HTTP and TLS, down to the
WARC-IP-Address of the records written from the result."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import http.server
import io
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import trustme
from server import CHUNKED_BODY, TestServer, page
from warcio.archiveiterator import ArchiveIterator

from archiver.config import Settings
from archiver.fetch.failures import failure_of
from archiver.fetch.fetcher import DNS_TTL, Fetcher
from archiver.fetch.guard import AddressPolicy, Candidate, numeric
from archiver.fetch.politeness import HostGate
from archiver.fetch.results import FetchResult
from archiver.fetch.wire import RecordingAdapter
from archiver.warc import RecordBuilder

Fetch = Callable[..., FetchResult]


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fetcher reads CA and proxy variables when built: none may leak in from outside."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                 "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture()
def fetch(settings: Settings) -> Iterator[Fetch]:
    """fetch(url, **settings changes): one fetch by a fetcher built for those settings."""
    fetchers: list[Fetcher] = []
    results: list[FetchResult] = []

    def run(url: str, **changes: object) -> FetchResult:
        chosen = settings.replace(**changes)
        fetcher = Fetcher(chosen, HostGate(chosen.per_host, chosen.per_host_delay))
        fetchers.append(fetcher)
        results.append(fetcher.fetch(url))
        return results[-1]

    yield run
    for result in results:
        result.close()
    for fetcher in fetchers:
        fetcher.close()


def recorded(result: FetchResult, index: int = -1) -> bytes:
    hop = result.hops[index]
    hop.response.seek(0)
    data = hop.response.read()
    hop.response.seek(0)
    return data


def warc_records(result: FetchResult) -> list[tuple[str, str | None, str]]:
    """(type, WARC-IP-Address, target) of every record written for `result`, read back by warcio."""
    out = io.BytesIO()
    RecordBuilder().capture(out, result, None)
    out.seek(0)
    return [(r.rec_type, r.rec_headers.get_header("WARC-IP-Address"), r.rec_headers.get_header("WARC-Target-URI"))
            for r in ArchiveIterator(out)]


# ------------------------------------------------------------------------------------------------
# Recording


def test_response_is_recorded_byte_for_byte(fetch: Fetch, server: TestServer) -> None:
    sent = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Bin: \xff\xfe\x01bytes\r\n"
            b"No colon in this header line\r\nContent-Length: 7\r\nConnection: close\r\n\r\ncontent")
    result = fetch(server.url("bad-headers"))
    assert result.outcome == "ok"
    hop = result.hops[0]
    assert recorded(result) == sent
    assert hop.header_length == len(sent) - len(b"content") and hop.response_length == len(sent)
    assert hop.block_sha1 == hashlib.sha1(sent).hexdigest()
    assert (hop.payload_sha1, hop.payload_size) == (hashlib.sha1(b"content").hexdigest(), 7)
    assert hop.payload_sha256 == hashlib.sha256(b"content").hexdigest()
    assert hop.ip == "127.0.0.1" and hop.truncated is None


def test_request_is_recorded_as_sent(fetch: Fetch, fresh_server: TestServer, settings: Settings) -> None:
    result = fetch(fresh_server.url("echo"))
    request = result.hops[0].request
    head, _, body = request.partition(b"\r\n\r\n")
    assert body == b""
    lines = head.decode().split("\r\n")
    assert lines[0] == "GET /echo HTTP/1.1"
    sent = dict(line.split(": ", 1) for line in lines[1:])
    # what the server parsed is exactly what the recording says went out
    assert fresh_server.hits[0].headers == sent
    assert sent["Host"] == f"127.0.0.1:{fresh_server.port}"
    assert sent["User-Agent"] == settings.user_agent and sent["Accept-Encoding"] == "gzip, deflate"


def test_chunked_body_is_stored_dechunked(fetch: Fetch, server: TestServer) -> None:
    result = fetch(server.url("chunked"))
    hop = result.hops[0]
    data = recorded(result)
    head, body = data[:hop.header_length], data[hop.header_length:]
    assert body == CHUNKED_BODY and hop.payload_size == len(CHUNKED_BODY)
    assert b"\r\nX-Archive-Orig-Transfer-Encoding: chunked\r\n" in head
    assert b"\r\nTransfer-Encoding" not in head
    assert hop.block_sha1 == hashlib.sha1(data).hexdigest()


def test_redirects_are_hops(fetch: Fetch, server: TestServer) -> None:
    result = fetch(server.url("redirect/2"))
    assert [hop.status for hop in result.hops] == [302, 302, 200]
    assert result.hops[-1].url == server.url("page/final") and result.final is result.hops[-1]


# ------------------------------------------------------------------------------------------------
# Retries


def test_retries_until_the_server_recovers(fetch: Fetch, fresh_server: TestServer) -> None:
    result = fetch(fresh_server.url("flaky?n=2&key=a"), retries=2)
    assert (result.outcome, result.hops[-1].status, result.attempts) == ("ok", 200, 3)
    assert len(fresh_server.hits) == 3


def test_gives_up_after_the_retries(fetch: Fetch, fresh_server: TestServer) -> None:
    result = fetch(fresh_server.url("flaky?n=5&key=b"), retries=1)
    assert (result.hops[-1].status, result.attempts, len(fresh_server.hits)) == (503, 2, 2)
    assert len(result.hops) == 1  # a retried answer is not kept as a hop


def test_a_404_is_not_retried(fetch: Fetch, fresh_server: TestServer) -> None:
    result = fetch(fresh_server.url("status/404"), retries=3)
    assert (result.hops[-1].status, result.attempts, len(fresh_server.hits)) == (404, 1, 1)


def test_retry_after_seconds_is_waited_for(fetch: Fetch, fresh_server: TestServer) -> None:
    result = fetch(fresh_server.url("flaky?n=1&key=c&code=429&retry_after=1"), backoff=0.01)
    assert (result.hops[-1].status, result.attempts) == (200, 2)
    first, second = fresh_server.hits
    assert second.started - first.ended >= 0.95  # the server's one second, not the 10 ms backoff


def test_retry_after_as_a_date(fetch: Fetch, fresh_server: TestServer) -> None:
    when = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2), usegmt=True)
    result = fetch(fresh_server.url(f"flaky?n=1&key=d&retry_after={quote(when)}"), backoff=0.01)
    assert (result.hops[-1].status, result.attempts) == (200, 2)
    first, second = fresh_server.hits
    assert second.started - first.ended >= 0.5  # whole seconds in the date: between 1 and 2 s


def test_retry_after_beyond_the_cap_is_not_waited_for(fetch: Fetch, fresh_server: TestServer) -> None:
    started = time.monotonic()
    result = fetch(fresh_server.url("flaky?n=1&key=e&retry_after=30"), max_retry_after=5)
    assert (result.hops[-1].status, result.attempts, len(fresh_server.hits)) == (503, 1, 1)
    assert time.monotonic() - started < 2


# ------------------------------------------------------------------------------------------------
# Caps and broken bodies


def test_size_cap_truncates_at_the_limit(fetch: Fetch, server: TestServer) -> None:
    result = fetch(server.url("big?size=300000"), max_size=1000)
    hop = result.hops[0]
    assert (result.outcome, hop.status, hop.truncated, hop.payload_size) == ("ok", 200, "length", 1000)
    assert recorded(result)[hop.header_length:] == (bytes(range(256)) * 4)[:1000]


def test_reset_mid_body_is_a_truncated_capture(fetch: Fetch, server: TestServer) -> None:
    """The headers arrived, so it is a capture, marked cut short. (What arrived of the body within the
    read the reset interrupted is lost with it: today that is all of this small body.)"""
    result = fetch(server.url("reset-mid"), retries=0)
    hop = result.hops[0]
    assert (result.outcome, hop.status, hop.truncated, result.attempts) == ("ok", 200, "disconnect", 1)
    body = recorded(result)[hop.header_length:]
    assert hop.payload_size == len(body) < 100000
    assert page("half", 5000).startswith(body)
    assert hop.header("Content-Length") == "100000"


def test_total_time_cap_cuts_a_drip(fetch: Fetch, server: TestServer) -> None:
    started = time.monotonic()
    result = fetch(server.url("drip?n=1000&interval=0.05"), total_timeout=1)
    assert (result.outcome, result.hops[0].truncated) == ("ok", "time")
    assert time.monotonic() - started < 2.5


# ------------------------------------------------------------------------------------------------
# The resolver override


def test_override_reaches_the_address_under_the_name(fetch: Fetch, fresh_server: TestServer) -> None:
    """Every redirect hop and every retry goes to the address; the server sees the name."""
    name = "site.fetch.test"
    port = fresh_server.port
    url = fresh_server.url(f"redirect-to?code=302&url={quote(f'/flaky?n=1&key={name}')}", host=name)
    result = fetch(url, resolve=(f"{name}:{port}:127.0.0.1",))
    assert result.outcome == "ok", result.error
    assert [(hop.status, hop.ip) for hop in result.hops] == [(302, "127.0.0.1"), (200, "127.0.0.1")]
    assert result.attempts == 3
    assert [hit.host for hit in fresh_server.hits] == [f"{name}:{port}"] * 3


def test_override_can_name_the_port_to_connect_to(fetch: Fetch, fresh_server: TestServer) -> None:
    entry = f"portless.fetch.test:80:127.0.0.1:{fresh_server.port}"
    result = fetch("http://portless.fetch.test/page/x", resolve=(entry,))
    assert (result.outcome, result.hops[0].status) == ("ok", 200), result.error
    assert [hit.host for hit in fresh_server.hits] == ["portless.fetch.test"]


def test_override_is_the_address_actually_connected(fetch: Fetch) -> None:
    """127.0.0.2 is loopback too, but no name's default: WARC-IP-Address says where the bytes came from."""
    with TestServer("127.0.0.2") as other:
        url = other.url("page/elsewhere", host="elsewhere.fetch.test")
        result = fetch(url, resolve=(f"elsewhere.fetch.test:{other.port}:127.0.0.2",))
        assert result.outcome == "ok", result.error
        assert result.hops[0].ip == "127.0.0.2"
        assert warc_records(result) == [("response", "127.0.0.2", url), ("request", "127.0.0.2", url)]


class SixServer(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


class SixHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"served to {self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_override_to_an_ipv6_address(fetch: Fetch) -> None:
    try:
        server = SixServer(("::1", 0), SixHandler)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://six.fetch.test:{port}/page/six"
        result = fetch(url, resolve=(f"six.fetch.test:{port}:[::1]",))
        assert (result.outcome, result.hops[0].status, result.hops[0].ip) == ("ok", 200, "::1"), result.error
        assert recorded(result).endswith(f"served to six.fetch.test:{port}".encode())
        assert warc_records(result)[0] == ("response", "::1", url)
    finally:
        server.shutdown()
        server.server_close()


def test_override_skips_the_dns_precheck(fetch: Fetch, server: TestServer) -> None:
    """A .invalid name fails at once without an entry (RFC 6761), and is fetched with one: the entry,
    not the network, answers for the name."""
    url = server.url("page/reserved", host="reserved.fetch.invalid")
    started = time.monotonic()
    gone = fetch(url)
    assert (gone.outcome, gone.hops) == ("dns_error", [])
    assert "RFC 6761" in (gone.error or "") and time.monotonic() - started < 0.5
    found = fetch(url, resolve=(f"reserved.fetch.invalid:{server.port}:127.0.0.1",))
    assert (found.outcome, found.hops[0].status) == ("ok", 200), found.error


def test_override_to_a_closed_port_is_a_connection_error(fetch: Fetch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        result = fetch(f"http://closed.fetch.test:{port}/", resolve=(f"closed.fetch.test:{port}:127.0.0.1",),
                       retries=0)
    assert (result.outcome, result.hops) == ("connection_error", [])


@pytest.fixture(scope="module")
def tls_names(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestServer, str, list[str]]]:
    """An HTTPS server on 127.0.0.1 whose certificate names only secure.fetch.test, the CA file that
    trusts it, and the server names (SNI) clients asked for."""
    ca = trustme.CA()
    ca_file = str(tmp_path_factory.mktemp("ca") / "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("secure.fetch.test").configure_cert(context)
    asked: list[str] = []
    context.sni_callback = lambda sock, name, ctx: asked.append(name or "")
    with TestServer("127.0.0.1", ssl_context=context) as srv:
        yield srv, ca_file, asked


def test_override_with_tls_keeps_the_name_for_sni_and_the_certificate(
        fetch: Fetch, tls_names: tuple[TestServer, str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    srv, ca_file, asked = tls_names
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    url = f"https://secure.fetch.test:{srv.port}/redirect/1"
    result = fetch(url, resolve=(f"secure.fetch.test:{srv.port}:127.0.0.1",))
    assert result.outcome == "ok", result.error
    assert [(hop.status, hop.ip) for hop in result.hops] == [(302, "127.0.0.1"), (200, "127.0.0.1")]
    assert "secure.fetch.test" in asked
    assert [h for h in srv.hits if h.path == "/redirect/1"][-1].host == f"secure.fetch.test:{srv.port}"
    assert {ip for _, ip, _ in warc_records(result)} == {"127.0.0.1"}


def test_override_with_tls_still_checks_the_certificate_against_the_name(
        fetch: Fetch, tls_names: tuple[TestServer, str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    srv, ca_file, _ = tls_names
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    entry = f"impostor.fetch.test:{srv.port}:127.0.0.1"
    result = fetch(f"https://impostor.fetch.test:{srv.port}/page/x", resolve=(entry,), retries=0)
    assert result.outcome == "tls_error" and "impostor.fetch.test" in (result.error or ""), result.error


def test_a_fetcher_reads_a_bad_entry_as_a_config_error(settings: Settings, tmp_path: Path) -> None:
    from archiver.errors import ConfigError

    with pytest.raises(ConfigError, match="'nowhere:80'"):
        Fetcher(settings.replace(resolve=("nowhere:80",)), HostGate(1, 0))


# ------------------------------------------------------------------------------------------------
# The address guard (fetch/guard.py) in the fetcher, each layer on its own


def test_the_connection_itself_refuses_what_the_policy_refuses(fresh_server: TestServer) -> None:
    """Below the fetcher's pre-check: the adapter alone dials through the guard, refusing by default."""
    url = fresh_server.url("page/x")
    for policy, outcome in ((None, "blocked_address"), (AddressPolicy.of(False, ["127.0.0.1/32"]), "ok")):
        session = requests.Session()
        session.mount("http://", RecordingAdapter(policy=policy, max_retries=0))
        try:
            session.get(url, timeout=2).close()
            got, detail = "ok", None
        except requests.exceptions.ConnectionError as exc:
            failure = failure_of(url, exc)
            got, detail = failure.outcome, failure.detail
        finally:
            session.close()
        assert got == outcome
        if outcome != "ok":
            assert detail == "127.0.0.1 is loopback"
            assert fresh_server.hits == []
    assert [hit.path for hit in fresh_server.hits] == ["/page/x"]


class Answers:
    """A DNS of the test's own: each lookup returns the next of `answers` (the last one repeats)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[Candidate]:
        self.asked.append(host)
        addresses = self.answers[min(len(self.asked), len(self.answers)) - 1]
        return [candidate for address in addresses for candidate in numeric(address, port)]


@pytest.fixture()
def two_hosts() -> Iterator[tuple[TestServer, TestServer]]:
    """Servers on 127.0.0.3 and 127.0.0.2 on one port: where two DNS answers for one name would lead."""
    with TestServer("127.0.0.3") as allowed, TestServer("127.0.0.2", port=allowed.port) as refused:
        yield allowed, refused


def test_a_dns_answer_is_judged_once_and_only_its_allowed_addresses_dialled(
        settings: Settings, two_hosts: tuple[TestServer, TestServer]) -> None:
    allowed, refused = two_hosts
    answers = Answers(["127.0.0.2", "127.0.0.3"])
    fetcher = Fetcher(settings.replace(allow_private=False, allow=("127.0.0.3/32",)), HostGate(1, 0),
                      resolver=answers)
    url = f"http://multi.guard.test:{allowed.port}/redirect/2"
    try:
        results = [fetcher.fetch(url), fetcher.fetch(url)]
        for result in results:
            assert result.outcome == "ok", result.error
            assert [hop.ip for hop in result.hops] == ["127.0.0.3"] * 3
            result.close()
    finally:
        fetcher.close()
    # Six requests on one lookup: the connection dialled the pre-check's answer (the name is unknown to
    # the system resolver, so a second lookup could not have succeeded).
    assert answers.asked == ["multi.guard.test"]
    assert len(allowed.hits) == 6 and refused.hits == []


def test_a_name_that_rebinds_is_judged_again_and_never_dialled_unjudged(
        settings: Settings, two_hosts: tuple[TestServer, TestServer]) -> None:
    """The answer held DNS_TTL seconds is the one dialled; the next lookup, now private, is refused."""
    allowed, refused = two_hosts
    answers = Answers(["127.0.0.3"], ["127.0.0.2"])
    now = [0.0]
    fetcher = Fetcher(settings.replace(allow_private=False, allow=("127.0.0.3/32",)), HostGate(1, 0),
                      clock=lambda: now[0], resolver=answers)
    url = f"http://rebind.guard.test:{allowed.port}/page/r"
    try:
        first = fetcher.fetch(url)
        now[0] = DNS_TTL / 2
        second = fetcher.fetch(url)
        now[0] = DNS_TTL + 1
        third = fetcher.fetch(url)
    finally:
        fetcher.close()
    assert (first.outcome, second.outcome) == ("ok", "ok") and answers.asked == ["rebind.guard.test"] * 2
    assert (third.outcome, third.error, third.hops) == (
        "blocked_address", "rebind.guard.test: 127.0.0.2 is loopback", [])
    assert len(allowed.hits) == 2 and refused.hits == []
    first.close()
    second.close()


def test_an_override_entry_is_judged_like_any_address(fetch: Fetch, server: TestServer) -> None:
    url = server.url("page/o", host="named.fetch.test")
    entry = f"named.fetch.test:{server.port}:127.0.0.1"
    blocked = fetch(url, resolve=(entry,), allow_private=False)
    assert (blocked.outcome, blocked.error) == ("blocked_address",
                                                "named.fetch.test (resolve override): 127.0.0.1 is loopback")
    opened = fetch(url, resolve=(entry,), allow_private=False, allow=("127.0.0.1/32",))
    assert opened.outcome == "ok", opened.error


def test_a_fetcher_reads_a_bad_allow_entry_as_a_config_error(settings: Settings) -> None:
    from archiver.errors import ConfigError

    with pytest.raises(ConfigError, match="allow entry 'intranet'"):
        Fetcher(settings.replace(allow=("intranet",)), HostGate(1, 0))
