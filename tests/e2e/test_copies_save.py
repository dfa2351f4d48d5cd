"""`archiver copies --save` against a fake Save Page Now 2 + Wayback CDX server on loopback under
web.archive.org (the resolver override): a save that succeeds after a pending poll, an error job, a
quota refusal, a 429, a job that stays pending; keys checked on every request and never kept."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from conftest import run
from server import page

ACCESS, SECRET = "AK7acc3ssK3yZ", "S3cr3tV4lu3Q"
KEYS = {"ARCHIVER_IA_ACCESS_KEY": ACCESS, "ARCHIVER_IA_SECRET_KEY": SECRET}
HELD = "http://gone.invalid/held"  # captured in 2020: the CDX finds it, nothing to save
SAVED = "http://gone.invalid/saved"  # no copy; its save succeeds after one pending poll
QUOTA = "http://gone.invalid/quota"  # SPN refuses: error:too-many-daily-captures
BUSY = "http://gone.invalid/busy"  # SPN answers 429
FAILS = "http://gone.invalid/fails"  # the job ends in error
SLOW = "http://gone.invalid/slow"  # the job stays pending
SAVED_AT = "20240501123000"


@dataclass
class Fake:
    port: int = 0
    log: list[tuple[str, str]] = field(default_factory=list)
    bad_auth: int = 0
    polls: dict[str, int] = field(default_factory=dict)
    saved: set[str] = field(default_factory=set)


def handler(fake: Fake) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def send(self, status: int, body: Any, headers: tuple[tuple[str, str], ...] = ()) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            for k, v in (("Content-Length", str(len(data))), *headers):
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def authorized(self) -> bool:
            if self.headers.get("Authorization") != f"LOW {ACCESS}:{SECRET}":
                fake.bad_auth += 1
                self.send(401, {"status": "error", "message": "You need to be logged in to use Save Page Now."})
                return False
            return True

        def do_POST(self) -> None:
            fake.log.append(("POST", self.path))
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            if self.path != "/save" or not self.authorized():
                return
            url = parse_qs(body)["url"][0]
            assert self.headers.get("Accept") == "application/json"
            if url == QUOTA:
                self.send(200, {"status": "error", "status_ext": "error:too-many-daily-captures",
                                "message": "This URL has been captured 10 times today."})
            elif url == BUSY:
                self.send(429, b"Too Many Requests")
            else:
                self.send(200, {"url": url, "job_id": f"spn2-{url.rsplit('/', 1)[1]}"})

        def do_GET(self) -> None:
            fake.log.append(("GET", self.path))
            parts = urlsplit(self.path)
            if parts.path.startswith("/save/status/"):
                if not self.authorized():
                    return
                job = parts.path.rsplit("/", 1)[1]
                fake.polls[job] = fake.polls.get(job, 0) + 1
                if job == "spn2-fails":
                    self.send(200, {"status": "error", "status_ext": "error:bad-gateway", "job_id": job,
                                    "message": "Couldn't connect to server."})
                elif job == "spn2-saved" and fake.polls[job] > 1:
                    fake.saved.add(SAVED)
                    self.send(200, {"status": "success", "job_id": job, "original_url": SAVED,
                                    "timestamp": SAVED_AT, "duration_sec": 6.2})
                else:
                    self.send(200, {"status": "pending", "job_id": job, "resources": []})
            elif parts.path == "/cdx/search/cdx":
                url = parse_qs(parts.query)["url"][0]
                rows = [["timestamp", "original", "statuscode"]]
                if url == HELD:
                    rows.append(["20200301120000", url, "200"])
                if url in fake.saved:
                    rows.append([SAVED_AT, url, "200"])
                self.send(200, rows if len(rows) > 1 else [])
            elif parts.path.startswith("/web/"):
                stamp, _, url = parts.path[len("/web/"):].partition("/")
                url = unquote(url)
                if (url == HELD and stamp == "20200301120000id_") or (url == SAVED and stamp == f"{SAVED_AT}id_"):
                    self.send(200, page(f"Archived {url}"), (("Content-Type", "text/html; charset=utf-8"),
                                                            ("Memento-Datetime", "Sun, 01 Mar 2020 12:00:00 GMT")))
                else:
                    self.send(404, b"not archived")
            else:
                self.send(404, b"?")

    return Handler


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Fake, Path, Path]]:
    fake = Fake()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(fake))
    fake.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "archiver.toml"
    IA = ('name = "internet_archive", cdx = "http://web.archive.org/cdx/search/cdx", wayback = true,'  # noqa: N806
          ' timegate = "http://web.archive.org/web/{url}", save = "http://web.archive.org/save"')
    config.write_text(f"""
timeout = 2
total_timeout = 4
retries = 0
per_host_delay = 0
save_poll = 0.05
save_wait = 0.5
resolve = ["web.archive.org:80:127.0.0.1:{fake.port}"]
archives = [
  {{{IA}}},
]
""")
    manifest = tmp_path / "paper.yaml"
    cites = "\n".join(f'  - {{url: "{u}", id: {u.rsplit("/", 1)[1]}, accessed: 2020-03-05}}'
                      for u in (HELD, SAVED, QUOTA, BUSY, FAILS, SLOW))
    manifest.write_text(f"title: paper\ncitations:\n{cites}\n")
    try:
        yield fake, config, manifest
    finally:
        server.shutdown()
        server.server_close()


def every_byte(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_save_records_and_offers_and_keeps_no_key(world: tuple[Fake, Path, Path], tmp_path: Path) -> None:
    fake, config, manifest = world
    storage = tmp_path / "storage"
    env = {"ARCHIVER_CONFIG": str(config), **KEYS}
    result = run(storage, "copies", str(manifest), "--json", "--save", env=env)
    assert result.returncode == 1, result.stderr  # quota, busy, fails, slow: no copy
    by_id = {row["id"]: row for row in json.loads(result.stdout)}
    # held: found by one CDX query (no TimeMap, no TimeGate), never saved
    assert by_id["held"]["copy"]["url"] == f"http://web.archive.org/web/20200301120000/{HELD}"
    assert by_id["held"]["saves"] == []
    assert ("POST", "/save") in fake.log and not any("timemap" in p for _, p in fake.log)
    # saved: polled while pending, then its memento judged and offered as the copy
    assert by_id["saved"]["copy"] == {"archive": "internet_archive",
                                      "url": f"http://web.archive.org/web/{SAVED_AT}/{SAVED}",
                                      "datetime": "2020-03-01T12:00:00.000000Z"}
    (save,) = by_id["saved"]["saves"]
    assert save["status"] == "saved" and save["job_id"] == "spn2-saved" and fake.polls["spn2-saved"] == 2
    assert save["url"] == f"http://web.archive.org/web/{SAVED_AT}/{SAVED}"
    # what SPN said is kept
    assert by_id["quota"]["saves"][0]["status"] == "refused"
    assert "error:too-many-daily-captures" in by_id["quota"]["saves"][0]["detail"]
    assert by_id["busy"]["saves"][0]["status"] == "refused" and "429" in by_id["busy"]["saves"][0]["detail"]
    assert by_id["fails"]["saves"][0]["status"] == "failed"
    assert by_id["fails"]["saves"][0]["detail"].startswith("error:bad-gateway")
    assert by_id["slow"]["saves"][0]["status"] == "pending" and by_id["slow"]["copy"] is None
    assert fake.bad_auth == 0
    # the keys appear nowhere: output, database, WARCs, any file under storage
    kept = (result.stdout + result.stderr).encode() + every_byte(storage)
    for key in (ACCESS, SECRET):
        assert key.encode() not in kept
    # the report's copies list the saved memento
    report = run(storage, "report", str(manifest), "--format", "json", env={"ARCHIVER_CONFIG": str(config)})
    assert f"{SAVED_AT}/{SAVED}".encode() in report.stdout.encode(), report.stderr
    assert ACCESS not in report.stdout and SECRET not in report.stdout


def test_save_needs_keys_and_is_off_by_default(world: tuple[Fake, Path, Path], tmp_path: Path) -> None:
    fake, config, manifest = world
    env = {"ARCHIVER_CONFIG": str(config), "ARCHIVER_IA_ACCESS_KEY": "", "ARCHIVER_IA_SECRET_KEY": ""}
    missing = run(tmp_path / "s1", "copies", str(manifest), "--save", env=env)
    assert missing.returncode == 2
    assert "ARCHIVER_IA_ACCESS_KEY" in missing.stderr and "ARCHIVER_IA_SECRET_KEY" in missing.stderr
    assert fake.log == []  # nothing asked
    check = run(tmp_path / "s2", "check", str(manifest), "--copies", "--save", env=env)
    assert check.returncode == 2 and "ARCHIVER_IA_SECRET_KEY" in check.stderr
    plain = run(tmp_path / "s3", "copies", str(manifest), "--json", env={"ARCHIVER_CONFIG": str(config), **KEYS})
    assert plain.returncode == 1
    assert not any(method == "POST" for method, _ in fake.log)
