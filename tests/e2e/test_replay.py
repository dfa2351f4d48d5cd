"""`archiver replay`: a real pywb process on loopback serves what a real snapshot kept."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ARCHIVER, FAST, invoke, require_module
from server import TestServer, page

from archiver.cdx import timestamp14
from archiver.replay import replay_url

require_module("pywb", "the replay extra: pip install -e '.[replay]'")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def next_second() -> None:
    """CDXJ timestamps have one-second resolution: keep the original and its revisit apart."""
    time.sleep(1.02 - time.time() % 1)


@contextmanager
def replaying(storage: Path, port: int, *args: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`archiver replay` as a real process, ready when it says so; stopped with SIGTERM as a service
    manager would, and then it must have exited 0 and let go of the port (pywb stopped too)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([ARCHIVER, "--storage", str(storage), "replay", "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "NO_PROXY": "*"})
    try:
        deadline = time.monotonic() + 60
        while b"stop with Ctrl-C" not in log.read_bytes():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield proc
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: pywb goes with it
            proc.wait()


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    """One GET, no redirect following and no proxy: what pywb itself answered."""
    rest = url.removeprefix("http://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", "/" + path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def captures(storage: Path) -> list[dict]:
    conn = sqlite3.connect(storage / "archiver.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM captures ORDER BY id")]
    finally:
        conn.close()


def raw(url: str) -> str:
    """The id_ form of a replay URL: the bytes as captured, no banner, no rewriting."""
    head, _, original = url.partition("/http")
    return f"{head}id_/http{original}"


def test_pywb_replays_page_revisit_and_redirect_chain_byte_for_byte(fresh_server: TestServer, storage: Path,
                                                                     tmp_path: Path) -> None:
    page_url, chain_url = fresh_server.url("page/kept"), fresh_server.url("redirect/2")
    assert invoke(storage, "snapshot", page_url, chain_url, *FAST).exit_code == 0
    next_second()
    assert invoke(storage, "snapshot", page_url, *FAST).exit_code == 0
    rows = {(r["url"], r["record_type"]): r for r in captures(storage)}
    original, revisit = rows[(page_url, "response")], rows[(page_url, "revisit")]
    chain = rows[(chain_url, "response")]
    port = free_port()
    with replaying(storage, port, log=tmp_path / "replay.log"):
        # the page, at its own capture time
        status, headers, body = get(raw(replay_url(original, port, "archive")))
        assert (status, body) == (200, page("kept"))
        # the revisit: its record holds headers only; pywb serves the original's payload, dated the revisit
        status, headers, body = get(raw(replay_url(revisit, port, "archive")))
        assert (status, body) == (200, page("kept"))
        assert headers["memento-datetime"].startswith(time.strftime(
            "%a, %d %b %Y %H:%M:%S", time.strptime(revisit["captured_at"][:19], "%Y-%m-%dT%H:%M:%S")))
        # the redirect chain: each hop replayed as captured, Location and all, then the target page
        base = raw(replay_url(chain, port, "archive")).removesuffix(chain_url)
        hops = [(chain_url, "/redirect/1?code=302"), (fresh_server.url("redirect/1?code=302"), "/page/final")]
        for hop, location in hops:
            status, headers, body = get(base + hop)
            assert (status, body, headers["location"]) == (302, b"moved", location)
        status, headers, body = get(base + fresh_server.url("page/final"))
        assert (status, body) == (200, page("final"))
        # framed mode (no id_): pywb's banner page, which states the capture time
        status, _, body = get(replay_url(revisit, port, "archive"))
        ts = replay_url(revisit, port, "archive").split("/")[4]
        assert status == 200 and f'timestamp: "{ts}"'.encode() in body


def test_manifest_collection_holds_only_its_captures_and_follows_new_ones(fresh_server: TestServer, storage: Path,
                                                                          tmp_path: Path) -> None:
    cited, other = fresh_server.url("state/doc"), fresh_server.url("page/elsewhere")
    manifest = tmp_path / "my-paper.txt"
    manifest.write_text(cited + "\n")
    assert invoke(storage, "snapshot", str(manifest), other, *FAST).exit_code == 0
    port = free_port()
    indexes = storage / "replay" / "collections" / "my-paper" / "indexes"
    with replaying(storage, port, "my-paper", "--refresh", "0.2", log=tmp_path / "replay.log"):
        base = (indexes / "index.cdxj").read_text()
        assert base.count("\n") == 1 and (indexes / "recent.cdxj").read_text() == ""
        first, elsewhere = sorted(captures(storage), key=lambda r: r["url"] != cited)
        status, _, body = get(raw(replay_url(first, port, "my-paper")))
        assert (status, body) == (200, page("doc initial"))
        assert get(raw(replay_url(elsewhere, port, "my-paper")))[0] == 404  # not cited: not in the collection
        # a new capture while the server runs is served once the index catches up
        fresh_server.state["doc"] = "rewritten"
        next_second()
        assert invoke(storage, "snapshot", str(manifest), *FAST).exit_code == 0
        newest = captures(storage)[-1]
        deadline = time.monotonic() + 15
        while (got := get(raw(replay_url(newest, port, "my-paper"))))[2] != page("doc rewritten"):
            assert time.monotonic() < deadline, got
            time.sleep(0.2)
        # only recent.cdxj was rebuilt; the first capture still replays from index.cdxj
        assert (indexes / "index.cdxj").read_text() == base
        assert timestamp14(newest["captured_at"]) in (indexes / "recent.cdxj").read_text()
        assert get(raw(replay_url(first, port, "my-paper")))[2] == page("doc initial")
    assert "collection 'my-paper'" in (tmp_path / "replay.log").read_text()


def test_busy_port_and_unknown_manifest_are_usage_errors(fresh_server: TestServer, storage: Path) -> None:
    assert invoke(storage, "snapshot", fresh_server.url("page/x"), *FAST).exit_code == 0
    assert invoke(storage, "replay", "no-such-manifest", "--port", str(free_port())).exit_code == 2
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = invoke(storage, "replay", "--port", str(busy.getsockname()[1]))
    assert result.exit_code == 2 and "in use" in result.stderr


def test_report_and_show_point_at_each_capture_by_time(fresh_server: TestServer, storage: Path,
                                                        tmp_path: Path) -> None:
    """The HTML report's replay links and `show --replay --at` open, in pywb, the capture they name:
    the newest good copy, and an older one picked by its time."""
    import re

    url = fresh_server.url("state/cited")
    assert invoke(storage, "snapshot", url, *FAST).exit_code == 0
    fresh_server.state["cited"] = "rewritten"  # new bytes: a second response, not a revisit
    next_second()
    assert invoke(storage, "snapshot", url, *FAST).exit_code == 0
    older, newer = [r for r in captures(storage) if r["record_type"] == "response"]
    port = free_port()
    out = tmp_path / "report.html"
    assert invoke(storage, "report", url, "-o", str(out), "--replay-port", str(port)).exit_code == 0
    html = out.read_text()
    newest_link = re.search(r'<a class="replay" href="([^"]+)"', html).group(1)
    listed = re.findall(r'<details class="captures"><summary>captures \((\d+)\)</summary><ul>(.*?)</ul>', html)
    assert listed[0][0] == "2"
    listed_links = re.findall(r'<li><a href="([^"]+)"', listed[0][1])
    assert listed_links == [replay_url(newer, port), replay_url(older, port)]  # newest first
    shown = invoke(storage, "show", url, "--at", older["captured_at"], "--replay", "--port", str(port))
    assert shown.exit_code == 0 and shown.output.strip() == replay_url(older, port)
    with replaying(storage, port, log=tmp_path / "replay.log"):
        bodies = {}
        for name, link in (("newest", newest_link), ("newer", listed_links[0]), ("older", listed_links[1])):
            status, _, body = get(raw(link.replace("&amp;", "&")))
            assert status == 200, (name, link)
            bodies[name] = body
    assert bodies == {"newest": page("cited rewritten"), "newer": page("cited rewritten"),
                      "older": page("cited initial")}


def test_replay_boundary_is_the_first_capture_in_a_file_still_open(tmp_path: Path) -> None:
    """index.cdxj may only hold captures whose file is closed for good: its lines never change."""
    from archiver.db import ArchiveDB

    db = ArchiveDB.open(tmp_path / "archiver.db")
    try:
        conn = db.db.conn
        with conn:
            conn.execute("INSERT INTO warc_files (name, state) VALUES ('warcs/a.warc.gz', 'closed'),"
                         " ('warcs/b.warc.gz', 'open')")
            for warc in ("a", "b"):  # each file opens with a warcinfo record, which is no capture's
                conn.execute('INSERT INTO records (capture_id, warc, "offset", length, rec_type) VALUES (NULL, ?, 0,'
                             " 1, 'warcinfo')", [f"warcs/{warc}.warc.gz"])
            for capture, warc, offset in ((1, "a", 10), (2, "a", 100), (3, "b", 10), (4, "b", 50), (5, "a", 200)):
                conn.execute("INSERT INTO captures (id, url, fetch_url, captured_at) VALUES (?, 'u', 'u', 't')",
                             [capture])
                conn.execute('INSERT INTO records (capture_id, warc, "offset", length, rec_type) VALUES (?, ?, ?, 1,'
                             " 'response')", [capture, f"warcs/{warc}.warc.gz", offset])
        assert db.replay_boundary() == 3
        with conn:
            conn.execute("UPDATE warc_files SET state = 'closed'")
        assert db.replay_boundary() == 6
        assert [r["capture_id"] for r in db.export_records(None, first=3, below=5)] == [3, 4]
    finally:
        db.close()


def test_a_manifest_collection_follows_an_edited_citation_list(fresh_server: TestServer, storage: Path,
                                                                tmp_path: Path) -> None:
    """A URL newly cited by the manifest brings its older captures into the collection, though they
    lie below the boundary of the last whole build."""
    from archiver.archive import Archive
    from archiver.config import load_settings
    from archiver.replay import build_collection

    first, second = fresh_server.url("page/first"), fresh_server.url("page/second")
    manifest = tmp_path / "paper.txt"
    manifest.write_text(first + "\n")
    assert invoke(storage, "snapshot", str(manifest), second, *FAST).exit_code == 0
    settings = load_settings(None, env={}, storage=storage)
    with Archive(settings, writing=False) as archive:
        base = build_collection(archive, str(manifest))
        manifest.write_text(first + "\n" + second + "\n")
        again = build_collection(archive, str(manifest), base)
    index = (again.index).read_text() + (again.index.parent / "recent.cdxj").read_text()
    assert base.entries == 1 and again.entries == 2 and "page/second" in index
