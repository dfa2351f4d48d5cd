"""HTTPS and proxies, end to end: the installed `archiver` script as a real process, a real TLS server
with a test CA made by trustme, and a real forward proxy (tests/proxy.py).

The environment is what decides here (CA bundle and proxy variables), so every test passes all of
them explicitly: the outer environment may carry its own (a CI image with REQUESTS_CA_BUNDLE set, a
developer behind a corporate proxy), and an empty value is how a variable is switched off for both
archiver and requests/urllib.
"""

from __future__ import annotations

import json
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from conftest import require_binary, run
from proxy import TestProxy, closed_port
from server import TestServer, page
from warcio.archiveiterator import ArchiveIterator

CA_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
FAST = ["--per-host-delay", "0", "--timeout", "2", "--total-timeout", "5", "--json"]


def environment(**values: str) -> dict[str, str]:
    """Every CA and proxy variable set, in both cases, empty unless given: nothing leaks in."""
    env = {"ARCHIVER_CONNECT_TIMEOUT": "2", "ARCHIVER_RETRIES": "0"}
    for name in CA_VARS:
        env[name] = values.pop(name, "")
    for name in PROXY_VARS:
        value = values.pop(name, "")
        env[name] = env[name.lower()] = value
    assert not values, f"unknown variables {values}"
    return env


def snapshot(
    storage: Path, url: str, env: dict[str, str], cwd: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    proc = run(storage, "snapshot", url, *FAST, env=env, cwd=cwd, timeout=30)
    assert "Traceback" not in proc.stderr, proc.stderr
    try:
        summary = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"no JSON summary (exit {proc.returncode}): {proc.stdout!r} {proc.stderr!r}")
    assert len(summary["urls"]) == 1, summary
    return proc, summary["urls"][0]


def records(storage: Path) -> list[tuple[Any, bytes]]:
    """(WARC headers, block as stored) of every record in the storage, in file order."""
    out = []
    for path in sorted((storage / "warcs").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh, no_record_parse=True):
                out.append((record.rec_headers, record.raw_stream.read()))
    return out


def exchange(storage: Path, url: str) -> tuple[Any, bytes, Any, bytes]:
    """The one response record of `url` and its request record."""
    found = [(h, b) for h, b in records(storage) if h.get_header("WARC-Target-URI") == url]
    responses = [(h, b) for h, b in found if h.get_header("WARC-Type") == "response"]
    requests_ = [(h, b) for h, b in found if h.get_header("WARC-Type") == "request"]
    assert len(responses) == 1 and len(requests_) == 1, [h.get_header("WARC-Type") for h, _ in found]
    (resp_h, resp), (req_h, req) = responses[0], requests_[0]
    assert req_h.get_header("WARC-Concurrent-To") == resp_h.get_header("WARC-Record-ID")
    return resp_h, resp, req_h, req


def failed_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("failed:")]


# ------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def tls_server(ca: trustme.CA, *names: str) -> TestServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*names).configure_cert(context)
    return TestServer("127.0.0.1", ssl_context=context)


@pytest.fixture(scope="module")
def https_server(ca: trustme.CA) -> Iterator[TestServer]:
    with tls_server(ca, "127.0.0.1", "localhost") as srv:
        yield srv


@pytest.fixture(scope="module")
def wrong_name_server(ca: trustme.CA) -> Iterator[TestServer]:
    with tls_server(ca, "example.test") as srv:
        yield srv


@pytest.fixture()
def proxy() -> Iterator[TestProxy]:
    with TestProxy() as p:
        yield p


def hits(srv: TestServer, path: str) -> int:
    return sum(1 for hit in srv.hits if hit.path == path)


# ------------------------------------------------------------------------------------------------
# TLS


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"])
def test_https_capture_with_ca_variable(variable: str, https_server: TestServer, ca_file: str,
                                        storage: Path, tmp_path: Path) -> None:
    url = https_server.url(f"page/tls-{variable}")
    proc, out = snapshot(storage, url, environment(**{variable: ca_file}), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (out["result"], out["outcome"], out["http_status"]) == ("captured", "ok", 200), out
    assert out["final_url"] == url
    resp_h, resp, req_h, req = exchange(storage, url)
    assert url.startswith("https://127.0.0.1:")
    assert resp_h.get_header("WARC-IP-Address") == "127.0.0.1"
    assert req_h.get_header("WARC-IP-Address") == "127.0.0.1"
    head, _, body = resp.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == page(f"tls-{variable}")
    assert req.startswith(f"GET /page/tls-{variable} HTTP/1.1\r\n".encode())
    assert hits(https_server, f"/page/tls-{variable}") == 1


def test_https_capture_with_ssl_cert_dir(https_server: TestServer, ca: trustme.CA, storage: Path,
                                         tmp_path: Path) -> None:
    """SSL_CERT_DIR is a hashed directory (c_rehash layout: <subject hash>.0)."""
    folder = tmp_path / "certs"
    folder.mkdir()
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    openssl = require_binary("openssl", "apt-get install -y openssl; .ci/run does this")
    subject_hash = subprocess.run([openssl, "x509", "-hash", "-noout", "-in", str(pem)], capture_output=True,
                                  text=True, check=False).stdout.strip()
    assert subject_hash, "openssl could not hash the test CA's subject"
    ca.cert_pem.write_to_path(str(folder / f"{subject_hash}.0"))
    url = https_server.url("page/tls-dir")
    proc, out = snapshot(storage, url, environment(SSL_CERT_DIR=str(folder)), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (out["result"], out["outcome"]) == ("captured", "ok"), out


def test_requests_ca_bundle_wins_over_ssl_cert_file(https_server: TestServer, ca_file: str, storage: Path,
                                                    tmp_path: Path) -> None:
    """The documented order: REQUESTS_CA_BUNDLE first, so a bundle without the test CA fails even
    though SSL_CERT_FILE has it."""
    other = trustme.CA()
    other_file = tmp_path / "other-ca.pem"
    other.cert_pem.write_to_path(str(other_file))
    url = https_server.url("page/tls-order")
    proc, out = snapshot(storage, url, environment(REQUESTS_CA_BUNDLE=str(other_file), SSL_CERT_FILE=ca_file),
                         tmp_path)
    assert proc.returncode == 1
    assert out["outcome"] == "tls_error", out


def test_self_signed_without_ca_variable_is_tls_error(https_server: TestServer, storage: Path,
                                                      tmp_path: Path) -> None:
    url = https_server.url("page/untrusted")
    proc, out = snapshot(storage, url, environment(), tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert (out["result"], out["outcome"]) == ("failed", "tls_error"), out
    lines = failed_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"failed: {url}: tls_error"), lines
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert hits(https_server, "/page/untrusted") == 0  # no HTTP request went over a rejected handshake


def test_wrong_host_name_is_tls_error(wrong_name_server: TestServer, ca_file: str, storage: Path,
                                      tmp_path: Path) -> None:
    """The CA is trusted but the certificate names example.test, not 127.0.0.1."""
    url = wrong_name_server.url("page/wrong-name")
    proc, out = snapshot(storage, url, environment(REQUESTS_CA_BUNDLE=ca_file), tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert (out["result"], out["outcome"]) == ("failed", "tls_error"), out
    lines = failed_lines(proc.stderr)
    assert len(lines) == 1 and "tls_error" in lines[0], proc.stderr
    assert hits(wrong_name_server, "/page/wrong-name") == 0


# ------------------------------------------------------------------------------------------------
# Proxies


def test_http_through_proxy(server: TestServer, proxy: TestProxy, storage: Path, tmp_path: Path) -> None:
    url = server.url("page/via-proxy")
    proc, out = snapshot(storage, url, environment(HTTP_PROXY=proxy.url), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (out["result"], out["http_status"]) == ("captured", 200), out
    assert proxy.log == [("GET", url)]
    assert hits(server, "/page/via-proxy") == 1
    resp_h, resp, req_h, req = exchange(storage, url)
    head, _, body = resp.partition(b"\r\n\r\n")
    assert b"\r\nVia: test-proxy" in head, head
    assert body == page("via-proxy")
    # The record holds the request as sent: absolute form, to the proxy.
    first_line = req.split(b"\r\n", 1)[0].decode()
    method, target = proxy.log[0]
    assert first_line == f"{method} {target} HTTP/1.1"


def test_https_through_proxy_connect(https_server: TestServer, proxy: TestProxy, ca_file: str, storage: Path,
                                     tmp_path: Path) -> None:
    url = https_server.url("page/tunnelled")
    proc, out = snapshot(storage, url, environment(HTTPS_PROXY=proxy.url, REQUESTS_CA_BUNDLE=ca_file), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (out["result"], out["http_status"]) == ("captured", 200), out
    assert proxy.log == [("CONNECT", f"127.0.0.1:{https_server.port}")]
    assert hits(https_server, "/page/tunnelled") == 1
    resp_h, resp, req_h, req = exchange(storage, url)
    # Neither half of the CONNECT exchange belongs to the archived request/response.
    assert req.startswith(b"GET /page/tunnelled HTTP/1.1\r\n"), req[:200]
    assert b"CONNECT" not in req
    assert resp.startswith(b"HTTP/1.1 200 OK\r\n"), resp[:200]
    assert b"Connection established" not in resp
    assert b"Via: test-proxy" not in resp  # a tunnel cannot add headers
    assert resp.partition(b"\r\n\r\n")[2] == page("tunnelled")


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_no_proxy_bypasses_proxy(scheme: str, server: TestServer, https_server: TestServer, proxy: TestProxy,
                                 ca_file: str, storage: Path, tmp_path: Path) -> None:
    origin = server if scheme == "http" else https_server
    url = origin.url(f"page/direct-{scheme}")
    env = environment(HTTP_PROXY=proxy.url, HTTPS_PROXY=proxy.url, NO_PROXY="127.0.0.1",
                      REQUESTS_CA_BUNDLE=ca_file)
    proc, out = snapshot(storage, url, env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out["result"] == "captured", out
    assert proxy.log == []
    assert hits(origin, f"/page/direct-{scheme}") == 1
    resp_h, resp, _, req = exchange(storage, url)
    assert b"Via: test-proxy" not in resp
    assert req.startswith(f"GET /page/direct-{scheme} HTTP/1.1\r\n".encode())


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_refusing_proxy_is_connection_error(scheme: str, server: TestServer, https_server: TestServer,
                                            ca_file: str, storage: Path, tmp_path: Path) -> None:
    origin = server if scheme == "http" else https_server
    url = origin.url(f"page/dead-proxy-{scheme}")
    dead = f"http://127.0.0.1:{closed_port()}"
    proc, out = snapshot(storage, url, environment(HTTP_PROXY=dead, HTTPS_PROXY=dead, REQUESTS_CA_BUNDLE=ca_file),
                         tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert (out["result"], out["outcome"]) == ("failed", "connection_error"), out
    lines = failed_lines(proc.stderr)
    assert len(lines) == 1 and "connection_error" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert hits(origin, f"/page/dead-proxy-{scheme}") == 0


def test_refused_origin_without_proxy_is_connection_error(storage: Path, tmp_path: Path) -> None:
    """The same classification without a proxy: nothing listens on the origin's port."""
    url = f"http://127.0.0.1:{closed_port()}/page/refused"
    proc, out = snapshot(storage, url, environment(), tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Connection refused" in (out["error"] or ""), out
    assert (out["result"], out["outcome"]) == ("failed", "connection_error"), out
