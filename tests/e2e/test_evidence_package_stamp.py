"""Timestamped WACZ packages against a real local TSA (tests/helpers/tsa.py, OpenSSL's `openssl ts -reply`),
from the installed CLI: `export` puts a token over sha256(datapackage.json) into datapackage-digest.json,
`wacz validate` still accepts the package, `verify PACKAGE.wacz` checks the token and prints the TSA's
time, plain `openssl ts -verify` accepts it as docs-notes/wacztoken.md says; a token for another digest,
a token from an untrusted CA and a package edited after stamping are each named; a TSA that is down
leaves the package written."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_module, run
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder
from server import TestServer
from tsa import LocalTSA

from archiver.evidence.signing import load_key, sign_digest

require_module("wacz", "the replay extra: pip install -e '.[replay]'")
WACZ = str(Path(sys.executable).with_name("wacz"))


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTSA]:
    with LocalTSA(tmp_path_factory.mktemp("tsa")) as local:
        yield local


@pytest.fixture(scope="module")
def rogue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTSA]:
    """Another authority, with a CA of its own the user does not trust."""
    with LocalTSA(tmp_path_factory.mktemp("rogue"), common="someone else's TSA CA") as local:
        yield local


@pytest.fixture(scope="module")
def archived(server: TestServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("archived")
    storage, manifest = folder / "storage", folder / "paper.yaml"
    manifest.write_text(f"title: A paper\ncitations:\n  - url: {server.url('page/stamped')}\n    id: a\n")
    done = run(storage, "snapshot", str(manifest), "--per-host-delay", "0")
    assert done.returncode == 0, done.stderr
    return storage, manifest


@pytest.fixture(scope="module")
def package(archived: tuple[Path, Path], tsa: LocalTSA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    storage, manifest = archived
    out = tmp_path_factory.mktemp("package") / "paper.wacz"
    done = run(storage, "export", str(manifest), "-o", str(out), "--sign", "anonymous", env=tsa.env)
    assert done.returncode == 0, done.stderr
    assert f"by {tsa.url} at " in done.stderr
    return out


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zipped:
        return {name: zipped.read(name) for name in zipped.namelist()}


def rewrite(source: Path, target: Path, changes: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(source) as old:
        kept = [(info, changes.get(info.filename, old.read(info.filename))) for info in old.infolist()]
    with zipfile.ZipFile(target, "w") as new:
        for info, data in kept:
            new.writestr(info, data)
    return target


def with_tokens(source: Path, target: Path, tokens: list[bytes]) -> Path:
    """The package with its timestamps' tokens replaced, everything else (the signature too) kept."""
    digest = json.loads(members(source)["datapackage-digest.json"])
    digest["timestamps"] = [dict(digest["timestamps"][0], token=base64.b64encode(t).decode()) for t in tokens]
    return rewrite(source, target, {"datapackage-digest.json": json.dumps(digest).encode()})


def token_over(tsa: LocalTSA, data: bytes) -> bytes:
    query = TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256).build()
    return tsa.reply(query.as_bytes())


def verify(storage: Path, package: Path, *extra: str,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run(storage, "verify", str(package), *extra, env=env, timeout=60)


def test_the_token_is_kept_validated_and_verified(package: Path, archived: tuple[Path, Path], tsa: LocalTSA) -> None:
    storage = archived[0]
    files = members(package)
    digest = json.loads(files["datapackage-digest.json"])
    label = "sha256:" + hashlib.sha256(files["datapackage.json"]).hexdigest()
    assert digest["hash"] == label
    assert set(digest["signedData"]) == {"hash", "created", "software", "version", "signature", "publicKey"}
    [entry] = digest["timestamps"]
    assert entry["hash"] == label and entry["tsa"] == tsa.url and entry["genTime"]
    checked = subprocess.run([WACZ, "validate", "-f", str(package)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0 and "Validation succeeded" in checked.stdout, checked.stdout + checked.stderr

    by_setting = verify(storage, package, env=tsa.env)
    by_option = verify(storage, package, "--tsa-ca", str(tsa.ca_bundle))
    for done in (by_setting, by_option):
        assert done.returncode == 0, done.stderr
        assert "intact and signed; signed " in done.stderr, done.stderr
        assert f"; timestamped {entry['genTime']} by {tsa.url}" in done.stderr, done.stderr
        assert "warning" not in done.stderr
    unchecked = verify(storage, package)  # no CA bundle anywhere: said, not passed silently
    assert unchecked.returncode == 0, unchecked.stderr
    assert (f"archiver: warning: paper.wacz: timestamp 1 (127.0.0.1): time {entry['genTime']}: not checked:"
            " no CA bundle") in unchecked.stderr
    assert "timestamped" not in unchecked.stderr


def test_plain_openssl_verifies_the_package_time(package: Path, tsa: LocalTSA, rogue: LocalTSA, tmp_path: Path) -> None:
    """The commands of docs-notes/wacztoken.md, with only the WACZ, the TSA's CA certificate and OpenSSL."""
    subprocess.run(["unzip", "-q", str(package), "datapackage.json", "datapackage-digest.json", "-d", str(tmp_path)],
                   check=True, timeout=20)
    digest = json.loads((tmp_path / "datapackage-digest.json").read_text())
    sha = subprocess.run(["openssl", "dgst", "-sha256", "-r", str(tmp_path / "datapackage.json")], check=True,
                         capture_output=True, text=True).stdout.split()[0]
    assert digest["hash"] == f"sha256:{sha}"
    (tmp_path / "token.tsr").write_bytes(base64.b64decode(digest["timestamps"][0]["token"]))

    def ts_verify(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["openssl", "ts", "-verify", *args, "-in", str(tmp_path / "token.tsr")],
                              capture_output=True, text=True, timeout=20)

    ok = ts_verify("-digest", sha, "-CAfile", str(tsa.ca_bundle))
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stdout + ok.stderr
    ok = ts_verify("-data", str(tmp_path / "datapackage.json"), "-CAfile", str(tsa.ca_bundle))
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stdout + ok.stderr
    shown = subprocess.run(["openssl", "ts", "-reply", "-in", str(tmp_path / "token.tsr"), "-text"],
                           capture_output=True, text=True, timeout=20)
    assert "Time stamp: " in shown.stdout and sha.upper()[:8] in shown.stdout.replace(" ", "").upper()
    assert ts_verify("-digest", "00" * 32, "-CAfile", str(tsa.ca_bundle)).returncode != 0
    assert ts_verify("-digest", sha, "-CAfile", str(rogue.ca_bundle)).returncode != 0


def test_each_tampering_is_named(package: Path, archived: tuple[Path, Path], tsa: LocalTSA, rogue: LocalTSA,
                                 tmp_path: Path) -> None:
    storage, trust = archived[0], ("--tsa-ca", str(tsa.ca_bundle))
    files = members(package)
    sha = hashlib.sha256(files["datapackage.json"]).hexdigest()

    other = with_tokens(package, tmp_path / "other.wacz", [token_over(tsa, b"another package")])
    done = verify(storage, other, *trust)
    other_sha = hashlib.sha256(b"another package").hexdigest()
    assert done.returncode == 1, done.stderr
    assert (f"archiver: other.wacz: timestamp 1 (127.0.0.1): it covers digest {other_sha[:16]}…, not the package's"
            f" {sha[:16]}…") in done.stderr, done.stderr
    assert "timestamped" not in done.stderr

    untrusted = with_tokens(package, tmp_path / "untrusted.wacz", [token_over(rogue, files["datapackage.json"])])
    done = verify(storage, untrusted, *trust)
    assert done.returncode == 1, done.stderr
    assert "timestamp 1 (127.0.0.1): not signed by a certificate chaining to" in done.stderr, done.stderr
    assert verify(storage, untrusted, "--tsa-ca", str(rogue.ca_bundle)).returncode == 0  # trusting it: passes

    pages = files["pages/pages.jsonl"].replace(b"stamped", b"edited!")
    edited = rewrite(package, tmp_path / "edited.wacz", {"pages/pages.jsonl": pages})
    done = verify(storage, edited, *trust)
    assert done.returncode == 1 and "pages/pages.jsonl: sha256" in done.stderr, done.stderr
    # Edited and every hash redone, even signed again: only the token still dates the old content.
    datapackage = json.loads(files["datapackage.json"])
    for resource in datapackage["resources"]:
        if resource["path"] == "pages/pages.jsonl":
            resource.update(hash="sha256:" + hashlib.sha256(pages).hexdigest(), bytes=len(pages))
    raw = json.dumps(datapackage, indent=2).encode()
    digest = json.loads(files["datapackage-digest.json"])
    redone = dict(sign_digest(raw, datapackage["created"], load_key("anonymous")), timestamps=digest["timestamps"])
    rehashed = rewrite(package, tmp_path / "rehashed.wacz", {"pages/pages.jsonl": pages, "datapackage.json": raw,
                                                            "datapackage-digest.json": json.dumps(redone).encode()})
    done = verify(storage, rehashed, *trust)
    assert done.returncode == 1, done.stderr
    new_sha = hashlib.sha256(raw).hexdigest()
    assert (f"timestamp 1 (127.0.0.1): it covers digest {sha[:16]}…, not the package's {new_sha[:16]}…"
            in done.stderr), done.stderr
    assert done.stderr.count("archiver: rehashed.wacz:") == 1  # the hashes and the signature hold


def test_a_tsa_down_still_writes_the_package(archived: tuple[Path, Path], tmp_path: Path) -> None:
    storage, manifest = archived
    with LocalTSA(tmp_path / "down") as down:
        down.up = False
        out = tmp_path / "down.wacz"
        done = run(storage, "export", str(manifest), "-o", str(out), "--sign", "anonymous", env=down.env)
        assert down.requests >= 1
    assert done.returncode == 1, done.stderr
    assert "archiver: timestamp: 127.0.0.1: cannot stamp the package: " in done.stderr
    assert "503" in done.stderr and "down.wacz was written without its token" in done.stderr, done.stderr
    assert "timestamps" not in json.loads(members(out)["datapackage-digest.json"])
    checked = verify(storage, out)
    assert checked.returncode == 0 and "intact and signed" in checked.stderr, checked.stderr


def test_stamp_options(archived: tuple[Path, Path], tsa: LocalTSA, tmp_path: Path) -> None:
    storage, manifest = archived
    before = tsa.requests
    out = tmp_path / "plain.wacz"
    done = run(storage, "export", str(manifest), "-o", str(out), "--no-stamp", env=tsa.env)
    assert done.returncode == 0, done.stderr
    assert "timestamps" not in json.loads(members(out)["datapackage-digest.json"]) and tsa.requests == before
    done = run(storage, "export", str(manifest), "-o", str(tmp_path / "x.wacz"), "--stamp")
    assert done.returncode == 2 and "--stamp needs a timestamp authority" in done.stderr, done.stderr
    assert not (tmp_path / "x.wacz").exists()
    done = run(storage, "verify", "--tsa-ca", str(tsa.ca_bundle))
    assert done.returncode == 2 and "go with PACKAGE" in done.stderr, done.stderr
