"""Trusted timestamps against a real local TSA (OpenSSL's `openssl ts -reply` behind an HTTP handler,
tests/helpers/tsa.py): snapshot's WARC close and `archiver stamp` keep tokens over the log head,
`verify --timestamps` passes, plain `openssl ts -verify` accepts a token as docs-notes/ledger.md says;
a token for another digest, a token from an untrusted CA and an edited covered entry are each named;
a TSA that is down is a warning for snapshot and a failure naming it for stamp."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import invoke, run, sql
from server import TestServer
from tsa import LocalTSA

from archiver.evidence.ledger import entry_hash
from archiver.evidence.timestamps import imprint, verify_token


def problems(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("archiver: timestamp: ")]


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTSA]:
    with LocalTSA(tmp_path_factory.mktemp("tsa")) as local:
        yield local


@pytest.fixture(scope="module")
def pristine(server: TestServer, tsa: LocalTSA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot (its WARC close stamped) and then `archiver stamp` from the installed CLI."""
    storage = tmp_path_factory.mktemp("stamped") / "storage"
    done = run(storage, "snapshot", server.url("page/a"), "--per-host-delay", "0", env=tsa.env)
    assert done.returncode == 0, done.stderr
    assert sql(storage, "SELECT seq FROM timestamps") == [(2,)]  # the close of the WARC: entry 2
    stamped = run(storage, "stamp", env=tsa.env)
    assert stamped.returncode == 0, stamped.stderr
    assert "127.0.0.1: already stamped ledger entry 2" in stamped.stderr
    done = run(storage, "verify", env=tsa.env)  # an audit entry: the head moves on
    assert done.returncode == 0, done.stderr
    stamped = run(storage, "stamp", env=tsa.env)
    assert stamped.returncode == 0, stamped.stderr
    assert "127.0.0.1: stamped ledger entry 3 (head " in stamped.stderr
    return storage


@pytest.fixture()
def storage(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "storage"))


def test_tokens_kept_and_verified(storage: Path, tsa: LocalTSA) -> None:
    rows = sql(storage, "SELECT seq, head, file, token FROM timestamps ORDER BY seq")
    assert [(r[0], r[2]) for r in rows] == [(2, "timestamps/2-127.0.0.1.tsr"), (3, "timestamps/3-127.0.0.1.tsr")]
    for seq, head, file, token in rows:
        assert (storage / file).read_bytes() == token
        assert sql(storage, "SELECT hash FROM ledger WHERE seq = ?", seq) == [(head,)]
        assert verify_token(token, imprint(head), tsa.ca_bundle).ok
    done = run(storage, "verify", "--timestamps", env=tsa.env)
    assert done.returncode == 0, done.stderr
    assert not problems(done.stderr)


def test_plain_openssl_verifies_a_token(storage: Path, tsa: LocalTSA, tmp_path: Path) -> None:
    """The commands of docs-notes/ledger.md: the head hash as text is the data; only OpenSSL is needed."""
    (head,), = sql(storage, "SELECT head FROM timestamps WHERE seq = 3")
    (tmp_path / "head.txt").write_text(head, encoding="ascii")
    done = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "head.txt"), "-in",
                           str(storage / "timestamps/3-127.0.0.1.tsr"), "-CAfile", str(tsa.ca_bundle)],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr
    (tmp_path / "head.txt").write_text(head[::-1], encoding="ascii")  # another head: refused
    done = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "head.txt"), "-in",
                           str(storage / "timestamps/3-127.0.0.1.tsr"), "-CAfile", str(tsa.ca_bundle)],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode != 0


def test_a_token_for_another_digest(storage: Path, tsa: LocalTSA) -> None:
    """The token of entry 2 put in the place of entry 3's (file and row): it covers another head."""
    token = (storage / "timestamps/2-127.0.0.1.tsr").read_bytes()
    (storage / "timestamps/3-127.0.0.1.tsr").write_bytes(token)
    sql(storage, "UPDATE timestamps SET token = ? WHERE seq = 3", token)
    done = invoke(storage, "verify", "--timestamps", env=tsa.env)
    assert done.exit_code == 1
    found = problems(done.stderr)
    assert len(found) == 1 and found[0].startswith(
        "archiver: timestamp: timestamps/3-127.0.0.1.tsr (127.0.0.1, ledger entry 3): it covers digest "), found


def test_a_token_from_an_untrusted_ca(storage: Path, tsa: LocalTSA, tmp_path: Path) -> None:
    with LocalTSA(tmp_path / "rogue", "rogue CA") as rogue:
        (head,), = sql(storage, "SELECT head FROM timestamps WHERE seq = 3")
        from archiver.config import Settings
        from archiver.evidence.timestamps import message, request_token
        from archiver.fetch.fetcher import Fetcher
        from archiver.fetch.politeness import HostGate

        settings = Settings(storage=storage, allow_private=True, per_host_delay=0)
        fetcher = Fetcher(settings, HostGate(1, 0))
        try:
            token = request_token(fetcher, rogue.url, message(head))
        finally:
            fetcher.close()
        assert verify_token(token, imprint(head), rogue.ca_bundle).ok  # a good token, by another CA
    (storage / "timestamps/3-127.0.0.1.tsr").write_bytes(token)
    sql(storage, "UPDATE timestamps SET token = ? WHERE seq = 3", token)
    done = invoke(storage, "verify", "--timestamps", env=tsa.env)
    assert done.exit_code == 1
    found = problems(done.stderr)
    assert len(found) == 1 and f"not signed by a certificate chaining to {tsa.ca_bundle}" in found[0], found


def test_the_covered_entry_edited(storage: Path, tsa: LocalTSA) -> None:
    """Entry 2 rewritten with a hash that matches its new content: the token over it no longer does."""
    (event, prev), = sql(storage, "SELECT event, prev FROM ledger WHERE seq = 2")
    forged = event.replace('"size":', '"size":9', 1)
    sql(storage, "UPDATE ledger SET event = ?, hash = ? WHERE seq = 2", forged, entry_hash(prev, forged))
    done = invoke(storage, "verify", "--timestamps", env=tsa.env)
    assert done.exit_code == 1
    found = problems(done.stderr)
    assert any(line.startswith("archiver: timestamp: timestamps/2-127.0.0.1.tsr (127.0.0.1, ledger entry 2):"
                               " ledger entry 2's hash is now ") and "the entry was rewritten" in line
               for line in found), found
    assert any("ledger entry 3): the chain is broken at entry 2, before the entry it covers" in line
               for line in found), found


def test_a_tsa_that_is_down(server: TestServer, tsa: LocalTSA, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    tsa.up = False
    try:
        done = run(storage, "snapshot", server.url("page/b"), "--per-host-delay", "0", env=tsa.env)
        assert done.returncode == 0, done.stderr  # the WARC file still closes, its entry logged
        warned = [line for line in done.stderr.splitlines() if "timestamp of warcs/" in line]
        assert len(warned) == 1 and "127.0.0.1: cannot stamp ledger entry 2: HTTP 503" in warned[0], done.stderr
        assert sql(storage, "SELECT kind FROM ledger ORDER BY seq") == [("captures",), ("warc_closed",)]
        stamped = run(storage, "stamp", env=tsa.env)
        assert stamped.returncode == 1
        assert "archiver: error: 127.0.0.1: cannot stamp ledger entry 2: HTTP 503" in stamped.stderr
    finally:
        tsa.up = True
    assert run(storage, "stamp", env=tsa.env).returncode == 0


def test_stamp_without_a_tsa_is_a_usage_error(tmp_path: Path) -> None:
    done = invoke(tmp_path / "storage", "stamp")
    assert done.exit_code == 2 and "no Time Stamping Authority configured" in done.stderr


def test_provenance_names_the_authority_and_time_of_the_first_covering_token(storage: Path) -> None:
    from archiver.archive import Archive
    from archiver.config import Settings
    from archiver.evidence.provenance import summary

    ids = [i for (i,) in sql(storage, "SELECT id FROM captures")]
    with Archive(Settings(storage=storage), writing=False) as archive:
        held = summary(archive, ids, subject="test")
    tsa, gen_time = sql(storage, "SELECT tsa, gen_time FROM timestamps WHERE seq = 2")[0]
    assert held["timestamp_authority"] == [tsa] and gen_time
    assert held["captures"]
    for capture in held["captures"]:  # entry 2 closed their file; the later token (entry 3) covers it too
        assert capture["timestamps"] == [{"authority": tsa, "time": gen_time, "token": "timestamps/2-127.0.0.1.tsr"}]
