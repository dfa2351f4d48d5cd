"""`archiver extract` end to end: the sample papers into manifests, offline and probing a local copy of
the cited web (HTTPS and HTTP servers on loopback, reached by the papers' real host names and ports
through archiver's resolver override)."""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trustme
import yaml
from conftest import REPO, invoke
from hostnames import loopback_env, loopback_names
from proxy import closed_port

from archiver.manifests import load_manifest
from archiver.urls import normalize_url

PAPERS = Path(__file__).resolve().parent.parent / "data" / "papers"
ARTSAKH = PAPERS / "2021-artsakh-war-crimes-paper.txt"
ALERT = PAPERS / "2020-genocide-watch-alert.md"
TRUTH = yaml.safe_load((REPO / "manifests" / "2021-artsakh-war-crimes.yaml").read_text())["citations"]
INTENDED = [t["url"] for t in TRUTH]


@dataclass
class CitedWeb:
    """Serves exactly the URLs the author intended; every damaged form is a 404."""

    ca_file: str
    hits: list[tuple[str, str, float, float, int]] = field(default_factory=list)  # host, url, start, end, status
    env: dict[str, str] = field(default_factory=dict)  # CA bundle and resolve entries for a CLI run
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(web: CitedWeb, scheme: str, served: set[str]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            start = time.monotonic()
            host = (self.headers.get("Host") or "").split(":")[0]
            url = normalize_url(f"{scheme}://{host}{self.path}")
            status = 200 if url in served else 404
            body = f"<html><title>{status}</title><body>{url}</body></html>".encode()
            time.sleep(0.005)  # long enough for overlapping requests to show in the log
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with web.lock:
                web.hits.append((host, url, start, time.monotonic(), status))

    return Handler


@pytest.fixture(scope="module")
def cited_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CitedWeb]:
    hosts = sorted({urlsplit(u).hostname or "" for u in INTENDED})
    ca = trustme.CA()
    ca_file = str(tmp_path_factory.mktemp("ca") / "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hosts).configure_cert(context)
    web = CitedWeb(ca_file)
    served = {normalize_url(u) for u in INTENDED}
    servers = []
    for scheme in ("https", "http"):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(web, scheme, served))
        server.daemon_threads = True
        if scheme == "https":
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    listening = {443: servers[0].server_address[1], 80: servers[1].server_address[1]}
    web.env = {"REQUESTS_CA_BUNDLE": ca_file, **loopback_env(loopback_names(hosts, listening))}
    yield web
    for server in servers:
        server.shutdown()
        server.server_close()


def extract(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[Any, Path]:
    out = tmp_path / "out.yaml"
    result = invoke(tmp_path / "storage", "extract", *args, "-o", str(out), env=env)
    return result, out


def exact(out: Path) -> int:
    urls = {c["url"] for c in yaml.safe_load(out.read_text())["citations"] if "url" in c}
    return sum(1 for u in INTENDED if u in urls)


def test_probe_keeps_the_repair_that_resolves(cited_web: CitedWeb, tmp_path: Path) -> None:
    result, out = extract(tmp_path, str(ARTSAKH), "--probe", "--per-host-delay", "0.2", "--timeout", "5",
                          env=cited_web.env)
    assert result.exit_code == 0, result.output
    found = yaml.safe_load(out.read_text())["citations"]
    print(f"artsakh --probe: {len(found)} found, {exact(out)}/{len(INTENDED)} exactly as intended,"
          f" {len(cited_web.hits)} probe requests")
    assert len(found) == 43
    assert exact(out) == 43
    assert "found 43 URLs, 0 DOIs; repaired 19, suspect 0" in result.stderr
    by_url = {c["url"]: c for c in found}
    # The printed (damaged) form is kept beside the repair.
    assert by_url[INTENDED[0]]["cited_as"].startswith("www.calvertjournal.com/")
    assert "nagornokarabakh" in by_url[INTENDED[0]]["cited_as"]


def test_probe_is_polite(cited_web: CitedWeb, tmp_path: Path) -> None:
    cited_web.hits.clear()
    result, _ = extract(tmp_path, str(ARTSAKH), "--per-host-delay", "0.2",
                        env=cited_web.env)
    assert result.exit_code == 0, result.output
    by_host: dict[str, list[tuple[float, float]]] = {}
    for host, _url, start, end, _status in cited_web.hits:
        by_host.setdefault(host, []).append((start, end))
    assert by_host
    for host, spans in by_host.items():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end + 0.15, f"{host}: requests {start - end:.3f} s apart"
    # Only citations whose URL is a guess are probed, each with a handful of requests at most.
    assert len(cited_web.hits) <= 3 * 20


def test_probes_go_through_the_address_guard(cited_web: CitedWeb, tmp_path: Path) -> None:
    """The cited web is on loopback here: with allow-private off, no probe reaches it (the guesses stay
    flagged, as offline); `--allow-private` opens it."""
    cited_web.hits.clear()
    guarded = {**cited_web.env, "ARCHIVER_ALLOW_PRIVATE": ""}
    result, out = extract(tmp_path, str(ARTSAKH), "--per-host-delay", "0", "--retries", "0", env=guarded)
    assert result.exit_code == 0, result.output
    assert cited_web.hits == [] and "suspect 0" not in result.stderr
    result, out = extract(tmp_path / "open", str(ARTSAKH), "--per-host-delay", "0", "--allow-private", env=guarded)
    assert result.exit_code == 0, result.output
    assert cited_web.hits and "repaired 19, suspect 0" in result.stderr


def test_probe_without_a_network_says_so_once(tmp_path: Path) -> None:
    """Every request and the reachability probe go to a proxy that refuses connections: the network is
    judged down as a run's is (offline.py), said once, and the entries are kept as --offline keeps them."""
    dead = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    result, out = extract(tmp_path, str(ARTSAKH), "--probe", "--retries", "0", "--per-host-delay", "0",
                          env={"HTTP_PROXY": dead, "HTTPS_PROXY": dead, "NO_PROXY": ""})
    assert result.exit_code == 0, result.output
    assert result.stderr.count("network unreachable: kept as printed, flagged suspect") == 1
    assert "no repair resolved" not in out.read_text()
    offline, _ = extract(tmp_path / "offline", str(ARTSAKH), "--offline")
    assert out.read_text() == (tmp_path / "offline" / "out.yaml").read_text()  # as if run --offline
    assert time.monotonic() - started < 30


def test_offline_keeps_the_print_and_flags_it(tmp_path: Path) -> None:
    result, out = extract(tmp_path, str(ARTSAKH), "--offline")
    assert result.exit_code == 0, result.output
    found = yaml.safe_load(out.read_text())["citations"]
    print(f"artsakh --offline: {len(found)} found, {exact(out)}/{len(INTENDED)} exactly as intended,"
          f" {sum(1 for c in found if c.get('suspect'))} suspect")
    assert len(found) == 43
    offered = {u for c in found for u in [c["url"], *c.get("candidates", [])]}
    assert sum(1 for u in INTENDED if u in offered) >= 42
    for c in found:
        if c.get("cited_as") and not c.get("suspect"):
            # Offline, a URL differs from its print only by certain repairs, never by a guess.
            assert c["url"] in INTENDED, c
        if c["url"] not in INTENDED:
            # Either flagged with the repairs to try, or the print exactly as it stands (fn120a).
            assert (c.get("suspect") and c.get("candidates")) or "cited_as" not in c, c
    assert "suspect" in result.stderr


def test_output_round_trips_and_is_deterministic(tmp_path: Path) -> None:
    first, out = extract(tmp_path, str(ARTSAKH), "--offline")
    text = out.read_text()
    second = invoke(tmp_path / "storage", "extract", str(ARTSAKH), "--offline", "-o", str(out), "--force")
    assert first.exit_code == second.exit_code == 0
    assert out.read_text() == text
    entries = yaml.safe_load(text)["citations"]
    manifest = load_manifest(out)
    assert [c.url for c in manifest.citations] == [e["url"] for e in entries]
    for citation, entry in zip(manifest.citations, entries, strict=True):
        assert citation.id == entry.get("id")
        assert citation.cited_as == entry.get("cited_as")
        assert citation.context == entry.get("context")
        assert citation.accessed == entry.get("accessed")
        assert citation.extra == {k: v for k, v in entry.items()
                                  if k not in ("url", "id", "cited_as", "context", "accessed")}
    assert not manifest.problems


def test_memento_and_truncated_entries(tmp_path: Path) -> None:
    _, out = extract(tmp_path, str(ARTSAKH), "--offline")
    by_id = {c.get("id"): c for c in yaml.safe_load(out.read_text())["citations"]}
    memento = by_id["fn104"]["memento"]
    assert memento["datetime"] == "2013-09-21T07:25:48Z"
    assert memento["url"].startswith("https://web.archive.org/web/20130921072548/http://hudoc.fcnm.coe.int/")
    assert by_id["fn132"]["suspect"] and "truncated" in by_id["fn132"]["note"]


def test_stripped_links_are_reported(tmp_path: Path) -> None:
    result, out = extract(tmp_path, str(ALERT), "--offline")
    assert result.exit_code == 0, result.output
    assert "12 links with empty targets" in result.stderr
    assert [c["url"] for c in yaml.safe_load(out.read_text())["citations"]] == ["https://www.against-genocide.org/"]


def test_truncated_url_without_completion_is_listed_invalid(tmp_path: Path) -> None:
    paper = tmp_path / "paper.txt"
    paper.write_text("1\nSee the report, online: <www.example.org/reports/2020/annual.pdf>.\n"
                     "2\nAnd the annex, online: <www.example.org/annex/part-one?id=12%2")
    result, out = extract(tmp_path, str(paper), "--offline")
    assert result.exit_code == 0, result.output
    entries = yaml.safe_load(out.read_text())["citations"]
    assert entries[0]["url"] == "https://www.example.org/reports/2020/annual.pdf"
    invalid = [e for e in entries if "invalid" in e]
    assert len(invalid) == 1 and "truncated" in invalid[0]["reason"] and invalid[0]["id"] == "fn2"
    assert "dropped 1 (1 invalid" in result.stderr
    assert len(load_manifest(out).problems) == 1


def test_usage_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("No links here at all.\n")
    result, out = extract(tmp_path, str(empty), "--offline")
    assert result.exit_code == 1 and not out.exists()
    assert "no cited URL found" in result.stderr
    odd = tmp_path / "paper.xyz"
    odd.write_text("x")
    result, _ = extract(tmp_path, str(odd), "--offline")
    assert result.exit_code == 2 and "paper.xyz" in result.stderr
    out.write_text("keep me")
    result, _ = extract(tmp_path, str(ALERT), "--offline")
    assert result.exit_code == 2 and "--force" in result.stderr
    assert out.read_text() == "keep me"


def test_stdout_when_no_output_file(tmp_path: Path) -> None:
    result = invoke(tmp_path / "storage", "extract", str(ALERT), "--offline")
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout)["citations"][0]["url"] == "https://www.against-genocide.org/"
