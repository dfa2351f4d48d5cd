"""Who answered (archiver/evidence/tls.py): an HTTPS fetch from a real local server whose certificate a
test CA's intermediate issued keeps the chain the server sent, read once per connection, in a WARC
`metadata` record concurrent to each response; the chain read back with warcio parses with
`cryptography` and is the server's; plain HTTP writes no such record."""

from __future__ import annotations

import hashlib
import io
import json
import ssl
from collections.abc import Callable, Iterator

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from server import TestServer
from warcio.archiveiterator import ArchiveIterator

from archiver.config import Settings
from archiver.evidence import tls
from archiver.fetch.fetcher import Fetcher
from archiver.fetch.politeness import HostGate
from archiver.fetch.results import FetchResult
from archiver.warc import RecordBuilder

Fetch = Callable[[str], FetchResult]


@pytest.fixture(scope="module")
def chain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestServer, str, trustme.LeafCert]]:
    """An HTTPS server on 127.0.0.1 whose leaf an intermediate CA issued (it sends leaf + intermediate)."""
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("127.0.0.1", "localhost")
    ca_file = str(tmp_path_factory.mktemp("ca") / "ca.pem")
    root.cert_pem.write_to_path(ca_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    with TestServer("127.0.0.1", ssl_context=context) as srv:
        yield srv, ca_file, leaf


@pytest.fixture()
def fetch(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FetchResult]]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "CURL_CA_BUNDLE", "SSL_CERT_FILE",
                 "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    fetchers: list[Fetcher] = []
    results: list[FetchResult] = []

    def run(url: str, ca_file: str | None = None) -> FetchResult:
        if ca_file is not None:
            monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
        fetcher = Fetcher(settings, HostGate(settings.per_host, settings.per_host_delay))
        fetchers.append(fetcher)
        results.append(fetcher.fetch(url))
        return results[-1]

    yield run
    for result in results:
        result.close()
    for fetcher in fetchers:
        fetcher.close()


def written(result: FetchResult) -> list[tuple[str, dict[str, str], bytes]]:
    out = io.BytesIO()
    RecordBuilder().capture(out, result, None)
    out.seek(0)
    return [(r.rec_type, dict(r.rec_headers.headers), r.content_stream().read()) for r in ArchiveIterator(out)]


def test_an_https_fetch_keeps_the_chain_the_server_sent_beside_each_response(
        fetch: Callable[..., FetchResult], chain_server: tuple[TestServer, str, trustme.LeafCert]) -> None:
    srv, ca_file, leaf = chain_server
    result = fetch(f"https://127.0.0.1:{srv.port}/redirect/1", ca_file)
    assert result.outcome == "ok", result.error
    assert len(result.hops) == 2
    # One connection carried both hops: its facts were read once and are shared.
    assert result.hops[0].tls is not None and result.hops[0].tls is result.hops[1].tls
    records = written(result)
    responses = {h["WARC-Record-ID"]: h["WARC-Target-URI"] for t, h, _ in records if t == "response"}
    metadata = [(h, block) for t, h, block in records if t == "metadata"]
    assert len(metadata) == 2
    for headers, block in metadata:
        assert headers["Content-Type"] == "application/json"
        assert responses[headers["WARC-Concurrent-To"]] == headers["WARC-Target-URI"]
        peer = tls.parse_record(block)
        assert peer["ip"] == "127.0.0.1" and peer["chain_source"] == "sent"
        assert peer["tls_version"].startswith("TLSv1.") and peer["cipher"]
        certs = [x509.load_pem_x509_certificate(c["pem"].encode()) for c in peer["certificates"]]
        sent = [x509.load_pem_x509_certificate(blob.bytes()) for blob in leaf.cert_chain_pems]
        assert certs == sent and len(certs) == 2  # the leaf, then the intermediate (not the root)
        assert certs[0].issuer == certs[1].subject
        der = certs[0].public_bytes(Encoding.DER)
        assert peer["certificates"][0]["sha256"] == hashlib.sha256(der).hexdigest()
        assert "127.0.0.1" not in peer["certificates"][0]["issuer"]
    summary = json.loads(result.hops[-1].tls.summary)  # type: ignore[union-attr]
    assert summary["chain_length"] == 2 and summary["sha256"] == peer["certificates"][0]["sha256"]
    assert summary["not_before"] < summary["not_after"]


def test_plain_http_has_no_tls_record(fetch: Callable[..., FetchResult], server: TestServer) -> None:
    result = fetch(f"http://127.0.0.1:{server.port}/page/plain")
    assert result.outcome == "ok", result.error
    assert result.hops[-1].tls is None
    types = [t for t, _, _ in written(result)]
    assert types == ["response", "request"]
