"""`archiver copies --import`: the chosen memento's raw bytes fetched from a real local pywb (under the
Internet Archive's host name) into our own WARC as a capture of the original URL with its provenance;
read back with warcio, replayed by pywb from our storage, and never taken for our own copy."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ARCHIVER, require_module, run
from mementos import Held, Pywb, free_port
from server import TestServer, page
from warcio.archiveiterator import ArchiveIterator

require_module("pywb", "the replay extra: pip install -e '.[replay]'")

A = "http://gone.invalid/article"
STAMP = "20200301120000"


@dataclass
class World:
    config: Path
    manifest: Path
    live: str  # a URL our own snapshot reaches, whose memento holds the very same bytes


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("import")
    with TestServer("127.0.0.1") as server:
        live = server.url("/page/live")
        ia = Pywb(root / "ia", "web", [Held(A, STAMP, 200, page("Article A as cited")),
                                       Held(live, "20200302000000", 200, page("live"))])
        config = root / "archiver.toml"
        IA = ('name = "internet_archive", timemap = "http://web.archive.org/web/timemap/link/{url}",'  # noqa: N806
              ' timegate = "http://web.archive.org/web/{url}", wayback = true')
        config.write_text(f"""
timeout = 2
total_timeout = 4
retries = 0
per_host_delay = 0
resolve = ["web.archive.org:80:127.0.0.1:{ia.port}"]
archives = [{{{IA}}}]
""")
        manifest = root / "paper.yaml"
        manifest.write_text(f"""title: paper
citations:
  - {{url: "{A}", id: a, accessed: 2020-03-05}}
  - {{url: "{live}", id: live, accessed: 2020-03-05}}
""")
        try:
            yield World(config, manifest, live)
        finally:
            ia.stop()


def env(world: World) -> dict[str, str]:
    return {"ARCHIVER_CONFIG": str(world.config)}


def warc_records(storage: Path) -> list[tuple[dict[str, str], bytes]]:
    out = []
    for path in sorted(storage.rglob("*.warc.gz")):
        with path.open("rb") as handle:
            for record in ArchiveIterator(handle):
                headers = dict(record.rec_headers.headers)
                out.append((headers, record.content_stream().read()))
    return out


def test_import_writes_the_memento_under_the_original_url_with_provenance(world: World, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    done = run(storage, "copies", str(world.manifest), "--import", "--json", env=env(world))
    assert done.returncode == 0, done.stderr
    rows = {row["id"]: row for row in json.loads(done.stdout)}
    memento = f"http://web.archive.org/web/{STAMP}/{A}"
    assert rows["a"]["imported"]["status"] == "imported"
    assert rows["a"]["imported"]["memento_url"] == memento
    records = warc_records(storage)
    responses = [(h, body) for h, body in records if h["WARC-Type"] == "response" and h["WARC-Target-URI"] == A]
    assert len(responses) == 1
    headers, body = responses[0]
    assert headers["WARC-Source-URI"] == memento
    assert headers["WARC-Date"] == "2020-03-01T12:00:00.000000Z"  # the memento's datetime: replay's time
    assert "WARC-Creation-Date" in headers
    assert body == page("Article A as cited")  # the archived bytes, not pywb's banner or rewritten page
    assert not [h for h, _ in records if h["WARC-Type"] == "request" and h["WARC-Target-URI"] == A]
    meta = [(h, b) for h, b in records if h["WARC-Type"] == "metadata" and h["WARC-Target-URI"] == A]
    assert len(meta) == 1
    assert meta[0][0]["WARC-Concurrent-To"] == headers["WARC-Record-ID"]
    fields = dict(line.split(": ", 1) for line in meta[0][1].decode().splitlines())
    assert fields["archive"] == "internet_archive"
    assert fields["memento-url"] == memento
    assert fields["memento-datetime"] == "2020-03-01T12:00:00.000000Z"
    assert fields["fetched-url"] == f"http://web.archive.org/web/{STAMP}id_/{A}"
    conn = sqlite3.connect(storage / "archiver.db")
    capture = conn.execute("SELECT mode, source_url, source_archive, captured_at, record_type, http_status"
                           " FROM captures WHERE fetch_url = ?", [A]).fetchall()
    assert capture == [("memento", memento, "internet_archive", "2020-03-01T12:00:00.000000Z", "response", 200)]
    # no url_state row holds a memento as the URL's good capture
    assert conn.execute("SELECT COUNT(*) FROM url_state WHERE good_capture_id IS NOT NULL").fetchone() == (0,)
    # a second --import fetches nothing again
    again = run(storage, "copies", str(world.manifest), "--import", env=env(world))
    assert again.returncode == 0, again.stderr
    assert "already imported" in again.stderr
    assert conn.execute("SELECT COUNT(*) FROM captures WHERE mode = 'memento'").fetchone() == (2,)
    # `archiver verify` finds the imported records sound
    verified = run(storage, "verify", env=env(world))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_memento_is_never_our_copy(world: World, tmp_path: Path) -> None:
    """history lists it as a memento; show never picks it (not even at its own date); a snapshot of the
    same bytes is a whole response, never a revisit of the memento; the report's capture is ours."""
    storage = tmp_path / "storage"
    assert run(storage, "copies", str(world.manifest), "--import", env=env(world)).returncode == 0
    history = run(storage, "history", A, "--json", env=env(world))
    rows = json.loads(history.stdout)
    assert [(r["mode"], r["good"], r["source_archive"]) for r in rows] == [("memento", False, "internet_archive")]
    text = run(storage, "history", A, env=env(world)).stdout
    assert f"memento from internet_archive: http://web.archive.org/web/{STAMP}/{A}" in text
    shown = run(storage, "show", A, env=env(world))
    assert shown.returncode != 0 and page("Article A as cited").decode() not in shown.stdout
    shown_at = run(storage, "show", A, "--at", "2020-03-01", env=env(world))
    assert shown_at.returncode != 0
    snap = run(storage, "snapshot", world.live, "--json", env=env(world))
    assert snap.returncode == 0, snap.stderr
    assert [u["result"] for u in json.loads(snap.stdout)["urls"]] == ["captured"]
    conn = sqlite3.connect(storage / "archiver.db")
    kinds = conn.execute("SELECT mode, record_type, refers_to FROM captures WHERE fetch_url = ? ORDER BY id",
                         [world.live]).fetchall()
    assert kinds == [("memento", "response", None), ("http", "response", None)]
    ours = conn.execute("SELECT id FROM captures WHERE fetch_url = ? AND mode = 'http'", [world.live]).fetchone()
    assert conn.execute("SELECT good_capture_id FROM url_state WHERE fetch_url = ?", [world.live]).fetchone() == ours
    shown = run(storage, "show", world.live, "--at", "2020-03-02", env=env(world))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.encode() == page("live") and f"capture {ours[0]} " in shown.stderr
    report = run(storage, "report", str(world.manifest), "--format", "json", env=env(world))
    by_id = {r["id"]: r for r in json.loads(report.stdout)}
    assert by_id["a"]["capture"] is None
    assert by_id["live"]["capture"] is not None and not by_id["live"]["capture"]["captured_at"].startswith("2020")


def test_pywb_replays_the_imported_memento_from_our_storage(world: World, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    assert run(storage, "copies", str(world.manifest), "--import", env=env(world)).returncode == 0
    port = free_port()
    log = tmp_path / "replay.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([ARCHIVER, "--storage", str(storage), "replay", "--port", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, "NO_PROXY": "*"})
    try:
        deadline = time.monotonic() + 60
        while b"stop with Ctrl-C" not in log.read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"/archive/{STAMP}id_/{A}")
        answer = conn.getresponse()
        body = answer.read()
        if answer.getheader("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        assert answer.status == 200, body[:300]
        assert body == page("Article A as cited")
        # replayed at the memento's own datetime (the stored head also keeps the archive's own header)
        assert answer.getheader("Memento-Datetime", "").startswith("Sun, 01 Mar 2020 12:00:00 GMT")
        conn.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
