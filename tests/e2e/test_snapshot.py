"""`archiver snapshot` against a real misbehaving server: outcomes, WARC records, database rows."""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAST, invoke, run
from server import CHUNKED_BODY, TestServer, page
from warcio.archiveiterator import ArchiveIterator
from warclint import check_warcs

from archiver.snapshot import snapshot


def warcs(storage: Path) -> list[Path]:
    return sorted((storage / "warcs").glob("*.warc.gz"))


def records(storage: Path) -> list[tuple[str, dict[str, str], bytes, int]]:
    """(type, warc headers, raw block, offset) of every record in every WARC, via warcio."""
    out = []
    for path in warcs(storage):
        with open(path, "rb") as f:
            it = ArchiveIterator(f, no_record_parse=True)
            for rec in it:
                block = rec.raw_stream.read()
                out.append((rec.rec_type, dict(rec.rec_headers.headers), block, it.get_record_offset()))
    return out


def assert_warcs_valid(storage: Path) -> None:
    files = warcs(storage)
    assert files, "no WARC written"
    check = subprocess.run([sys.executable, "-m", "warcio.cli", "check", *map(str, files)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    report = check_warcs(files)
    assert report.ok, [str(f) for f in report.findings]


def db_rows(storage: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(storage / "archiver.db")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def snap(storage: Path, *urls: str, extra: tuple[str, ...] = ()) -> tuple[int, dict]:
    result = invoke(storage, "snapshot", *urls, *FAST, "--json", *extra)
    return result.exit_code, json.loads(result.stdout)


def by_url(summary: dict) -> dict[str, dict]:
    return {u["url"]: u for u in summary["urls"]}


# -- what each kind of server behaviour becomes ------------------------------------------------

CASES = [
    # path, result, outcome, http status, truncated
    ("page/a", "captured", "ok", 200, None),
    ("status/404", "failed", "ok", 404, None),
    ("status/410", "failed", "ok", 410, None),
    ("redirect/3", "captured", "ok", 200, None),
    ("loop/a", "failed", "too_many_redirects", None, None),
    ("cookie-gate", "captured", "ok", 200, None),
    ("reset", "failed", "connection_error", None, None),
    ("empty", "failed", "connection_error", None, None),
    ("garbage", "failed", "connection_error", None, None),
    ("reset-mid", "captured", "ok", 200, "disconnect"),
    ("short-body", "captured", "ok", 200, "disconnect"),
    ("long-body", "captured", "ok", 200, None),
    ("bad-headers", "captured", "ok", 200, None),
    ("chunked", "captured", "ok", 200, None),
    ("gzip-bomb", "captured", "ok", 200, None),
    ("flaky?key=snap&n=2", "captured", "ok", 200, None),
]


def test_every_server_behaviour_ends_as_a_recorded_outcome(server: TestServer, storage: Path) -> None:
    urls = [server.url(p) for p, *_ in CASES] + ["http://no-such-host.invalid/x"]
    code, summary = snap(storage, *urls)
    assert code == 1
    got = by_url(summary)
    for path, result, outcome, status, truncated in CASES:
        row = got[server.url(path)]
        assert (row["result"], row["outcome"], row["http_status"], row["truncated"]) == (
            result, outcome, status, truncated), path
    assert got["http://no-such-host.invalid/x"]["outcome"] == "dns_error"
    assert_warcs_valid(storage)
    # every capture row with a record points at a whole record of the right URL
    rows = db_rows(storage, "SELECT * FROM captures WHERE warc IS NOT NULL")
    assert len(rows) == sum(1 for _, r, o, *_ in CASES if o == "ok")
    for row in rows:
        with open(storage / row["warc"], "rb") as f:
            f.seek(row["warc_offset"])
            rec = next(iter(ArchiveIterator(f)))
            assert rec.rec_headers.get_header("WARC-Target-URI") == row["final_url"]
            assert rec.rec_headers.get_header("WARC-Record-ID") == row["record_id"]
            body = rec.raw_stream.read()
        assert len(body) >= 0 and row["warc_length"] > 0
    assert db_rows(storage, "SELECT count(*) AS n FROM captures")[0]["n"] == len(urls)


def test_redirect_hops_are_each_a_request_response_pair(server: TestServer, storage: Path) -> None:
    code, summary = snap(storage, server.url("redirect/3"))
    assert code == 0
    recs = [(t, h) for t, h, _, _ in records(storage) if t in ("request", "response")]
    uris = [h["WARC-Target-URI"] for t, h in recs if t == "response"]
    assert uris == [server.url("redirect/3"), server.url("redirect/2?code=302"),
                    server.url("redirect/1?code=302"), server.url("page/final")]
    assert len([1 for t, _ in recs if t == "request"]) == 4
    capture = db_rows(storage, "SELECT * FROM captures")[0]
    assert capture["final_url"] == server.url("page/final")
    assert [h["status"] for h in json.loads(capture["redirects"])] == [302, 302, 302, 200]
    assert_warcs_valid(storage)


def test_chunked_payload_digest_is_over_the_dechunked_body(server: TestServer, storage: Path) -> None:
    snap(storage, server.url("chunked"), server.url("chunked?encoding=gzip"))
    responses = {h["WARC-Target-URI"]: (h, block) for t, h, block, _ in records(storage) if t == "response"}
    plain_h, plain_block = responses[server.url("chunked")]
    head, _, body = plain_block.partition(b"\r\n\r\n")
    assert body == CHUNKED_BODY  # stored de-chunked ...
    assert b"X-Archive-Orig-Transfer-Encoding: chunked" in head  # ... and says so
    assert b"\nTransfer-Encoding" not in head
    import base64
    expected = "sha1:" + base64.b32encode(hashlib.sha1(CHUNKED_BODY).digest()).decode()
    assert plain_h["WARC-Payload-Digest"] == expected
    # gzip + chunked: the payload keeps its Content-Encoding
    gz_h, gz_block = responses[server.url("chunked?encoding=gzip")]
    gz_body = gz_block.partition(b"\r\n\r\n")[2]
    assert gzip.decompress(gz_body) == CHUNKED_BODY
    assert gz_h["WARC-Payload-Digest"] == "sha1:" + base64.b32encode(hashlib.sha1(gz_body).digest()).decode()
    assert_warcs_valid(storage)


def test_content_encoding_is_stored_as_sent_and_show_decodes_it(server: TestServer, storage: Path) -> None:
    snap(storage, server.url("gzip"))
    block = next(b for t, h, b, _ in records(storage) if t == "response")
    head, _, body = block.partition(b"\r\n\r\n")
    assert b"Content-Encoding: gzip" in head
    assert body[:2] == b"\x1f\x8b"
    shown = invoke(storage, "show", server.url("gzip"))
    assert shown.exit_code == 0
    assert shown.stdout_bytes == page("gzipped", 20000)
    sha = db_rows(storage, "SELECT payload_sha256 FROM captures")[0][0]
    assert sha == hashlib.sha256(body).hexdigest()


def test_unchanged_payload_becomes_a_revisit_and_changed_one_a_response(
    fresh_server: TestServer, storage: Path
) -> None:
    url = fresh_server.url("state/doc")
    assert snap(storage, url)[0] == 0
    code, second = snap(storage, url)
    assert code == 0 and second["unchanged"] == 1 and second["captured"] == 0
    fresh_server.state["doc"] = "rewritten"
    code, third = snap(storage, url)
    assert third["captured"] == 1
    kinds = [(t, h) for t, h, _, _ in records(storage) if t in ("response", "revisit")]
    assert [t for t, _ in kinds] == ["response", "revisit", "response"]
    original, revisit = kinds[0][1], kinds[1][1]
    assert revisit["WARC-Refers-To"] == original["WARC-Record-ID"]
    assert revisit["WARC-Refers-To-Target-URI"] == original["WARC-Target-URI"]
    assert revisit["WARC-Refers-To-Date"] == original["WARC-Date"]
    assert revisit["WARC-Profile"].endswith("/revisit/identical-payload-digest")
    assert revisit["WARC-Truncated"] == "length"
    assert len(warcs(storage)) == 3  # re-running appends: a new file per run, none overwritten
    assert_warcs_valid(storage)
    # history: newest first; show of the revisit gives the original bytes
    history = json.loads(invoke(storage, "history", url, "--json").stdout)
    assert [h["record_type"] for h in history] == ["response", "revisit", "response"]
    first_time = history[2]["captured_at"]
    old = invoke(storage, "show", url, "--at", first_time)
    assert old.stdout_bytes == page("doc initial")
    assert invoke(storage, "show", url).stdout_bytes == page("doc rewritten")


def test_size_cap_truncates_and_says_so(server: TestServer, storage: Path) -> None:
    code, summary = snap(storage, server.url("big?size=3000000"), extra=("--max-size", "100000"))
    row = summary["urls"][0]
    assert row["truncated"] == "length"
    response = next(h for t, h, _, _ in records(storage) if t == "response")
    assert response["WARC-Truncated"] == "length"
    size = db_rows(storage, "SELECT payload_size FROM captures")[0][0]
    assert size == 100000
    assert_warcs_valid(storage)


def test_slow_drip_is_cut_at_the_total_time_cap(server: TestServer, storage: Path) -> None:
    started = time.monotonic()
    result = invoke(storage, "snapshot", server.url("drip?n=1000&interval=0.05"),
                    server.url("drip-headers?interval=0.05"), "--per-host-delay", "0", "--per-host", "2",
                    "--total-timeout", "2", "--json")
    elapsed = time.monotonic() - started
    assert elapsed < 8
    got = by_url(json.loads(result.stdout))
    assert got[server.url("drip?n=1000&interval=0.05")]["truncated"] == "time"
    assert got[server.url("drip-headers?interval=0.05")]["outcome"] == "timeout"
    assert_warcs_valid(storage)


def test_slow_server_times_out_and_is_retried(fresh_server: TestServer, storage: Path) -> None:
    result = invoke(storage, "snapshot", fresh_server.url("slow?delay=3"), "--per-host-delay", "0",
                    "--timeout", "0.5", "--total-timeout", "10", "--retries", "2", "--json")
    row = json.loads(result.stdout)["urls"][0]
    assert row["outcome"] == "timeout"
    assert len([h for h in fresh_server.hits if h.path.startswith("/slow")]) == 3


def test_retry_after_is_honoured(fresh_server: TestServer, storage: Path) -> None:
    url = fresh_server.url("flaky?key=ra&n=1&code=429&retry_after=1")
    started = time.monotonic()
    code, summary = snap(storage, url)
    assert code == 0 and summary["urls"][0]["http_status"] == 200
    hits = [h for h in fresh_server.hits if h.path.startswith("/flaky")]
    assert len(hits) == 2
    assert hits[1].started - hits[0].ended >= 0.95
    assert time.monotonic() - started < 5


def test_retry_after_longer_than_the_cap_is_not_waited_for(fresh_server: TestServer, storage: Path) -> None:
    url = fresh_server.url("flaky?key=long&n=5&code=503&retry_after=3600")
    code, summary = snap(storage, url)
    assert code == 1 and summary["urls"][0]["http_status"] == 503
    assert len(fresh_server.hits) == 1


def test_duplicate_urls_are_fetched_once(fresh_server: TestServer, storage: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    a = fresh_server.url("page/dup")
    shouted = a.upper().replace("/PAGE/DUP", "/page/dup")
    manifest.write_text(f"citations:\n  - url: {a}\n    id: one\n  - url: {shouted}\n"
                        f"    id: two\n  - url: {a}#section\n    id: three\n")
    code, summary = snap(storage, str(manifest))
    assert code == 0
    assert len(fresh_server.hits) == 1
    ids = {r["citation_id"] for r in db_rows(storage, "SELECT citation_id FROM citations")}
    assert ids == {"one", "two", "three"}


def test_bad_url_in_manifest_is_reported_and_skipped(server: TestServer, storage: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "refs.txt"
    manifest.write_text(f"{server.url('page/ok')}\nwww.no-scheme.org/x\n")
    result = invoke(storage, "snapshot", str(manifest), *FAST)
    assert result.exit_code == 1
    assert f"{manifest}:2: skipped 'www.no-scheme.org/x'" in result.stderr
    assert "1 captured, 0 unchanged, 1 failed" in result.stderr
    outcomes = {r["outcome"] for r in db_rows(storage, "SELECT outcome FROM captures")}
    assert outcomes == {"ok", "invalid_url"}


def test_user_agent_names_archiver_and_encodings_are_pinned(fresh_server: TestServer, storage: Path) -> None:
    snap(storage, fresh_server.url("echo"))
    headers = fresh_server.hits[0].headers or {}
    from archiver import __version__
    assert headers["User-Agent"].startswith(f"archiver/{__version__}")
    assert headers["Accept-Encoding"] == "gzip, deflate"


def test_warc_structure_request_response_linked_and_warcinfo_first(server: TestServer, storage: Path) -> None:
    snap(storage, server.url("page/x"), server.url("page/y"))
    recs = records(storage)
    assert recs[0][0] == "warcinfo"
    assert b"archiver/" in recs[0][2] and b"WARC File Format 1.1" in recs[0][2]
    by_id = {h["WARC-Record-ID"]: (t, h) for t, h, _, _ in recs}
    for t, h, _, _ in recs:
        if t == "request":
            partner_type, partner = by_id[h["WARC-Concurrent-To"]]
            assert partner_type == "response"
            assert partner["WARC-Concurrent-To"] == h["WARC-Record-ID"]
            assert partner["WARC-Date"] == h["WARC-Date"]
            assert h["WARC-IP-Address"] == "127.0.0.1"


def test_library_api_returns_the_summary(server: TestServer, settings) -> None:
    summary = snapshot(settings, [server.url("page/lib")])
    assert summary.exit_code == 0
    assert summary.counts == {"captured": 1, "unchanged": 0, "failed": 0}
    outcome = next(iter(summary.outcomes))
    assert outcome.sha256 == hashlib.sha256(page("lib")).hexdigest()


def test_offline_example_manifest_finishes_fast_with_every_url_classified(storage: Path) -> None:
    started = time.monotonic()
    proc = run(storage, "snapshot", "manifests/example.yaml", "--json", cwd=Path(__file__).resolve().parents[2],
               env={"HTTP_PROXY": "", "HTTPS_PROXY": "", "http_proxy": "", "https_proxy": ""}, timeout=120)
    assert time.monotonic() - started < 60
    summary = json.loads(proc.stdout)
    assert len(summary["urls"]) == 5
    assert all(u["result"] in ("captured", "failed") for u in summary["urls"])
    assert proc.returncode in (0, 1)
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("route", ["big?size=5000000"])
def test_large_body_streams_without_loss(server: TestServer, storage: Path, route: str) -> None:
    code, summary = snap(storage, server.url(route))
    assert code == 0
    size = db_rows(storage, "SELECT payload_size FROM captures")[0][0]
    assert size == 5000000
    assert_warcs_valid(storage)


@pytest.mark.parametrize("location", ["mailto:someone@example.org", "http://[bad"])
def test_unfollowable_redirect_keeps_the_redirect_as_the_capture(server: TestServer, storage: Path,
                                                                  location: str) -> None:
    from urllib.parse import quote

    url = server.url(f"redirect-to?code=302&url={quote(location)}")
    code, summary = snap(storage, url)
    row = summary["urls"][0]
    assert (row["outcome"], row["http_status"], row["result"]) == ("ok", 302, "captured")
    assert "redirect not followed" in row["error"]
    assert_warcs_valid(storage)


def test_redirect_location_with_a_space_is_followed(server: TestServer, storage: Path) -> None:
    from urllib.parse import quote

    code, summary = snap(storage, server.url(f"redirect-to?code=302&url={quote('/page/with space')}"))
    row = summary["urls"][0]
    assert (row["outcome"], row["http_status"]) == ("ok", 200)
    assert row["final_url"].endswith("/page/with%20space")


def test_two_citations_of_one_url_stay_two_citations(server: TestServer, storage: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "twice.yaml"
    url = server.url("page/twice")
    manifest.write_text(f"citations:\n  - url: {url}\n    context: first\n  - url: {url}\n    context: second\n")
    snap(storage, str(manifest))
    contexts = sorted(r["context"] for r in db_rows(storage, "SELECT context FROM citations"))
    assert contexts == ["first", "second"]
