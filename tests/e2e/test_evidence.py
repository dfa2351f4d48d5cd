"""Evidence from the CLI: an HTTPS snapshot keeps who answered (captures.tls, the WARC metadata record),
`export --sign` makes a WACZ that `wacz validate` accepts and `archiver verify PACKAGE.wacz` proves
intact and signed, each tamper case is caught and named, and every export carries its provenance."""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from conftest import FAST, invoke, require_module, run
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from server import TestServer
from warcio.archiveiterator import ArchiveIterator

from archiver.evidence.signing import load_key, sign_digest

require_module("wacz", "the replay extra: pip install -e '.[replay]'")
WACZ = str(Path(sys.executable).with_name("wacz"))


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestServer, str]]:
    ca = trustme.CA()
    ca_file = str(tmp_path_factory.mktemp("ca") / "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with TestServer("127.0.0.1", ssl_context=context) as srv:
        yield srv, ca_file


@pytest.fixture()
def archived(https: tuple[TestServer, str], server: TestServer, storage: Path, tmp_path: Path) -> dict:
    srv, ca_file = https
    urls = {"secure": f"https://127.0.0.1:{srv.port}/page/secure", "plain": server.url("page/plain")}
    manifest = tmp_path / "paper.yaml"
    entries = "".join(f"  - url: {u}\n    id: {k}\n" for k, u in urls.items())
    manifest.write_text("title: A paper\ncitations:\n" + entries)
    result = invoke(storage, "snapshot", str(manifest), *FAST, env={"REQUESTS_CA_BUNDLE": ca_file})
    assert result.exit_code == 0, result.stderr
    return {"manifest": manifest, "urls": urls}


def test_an_https_capture_keeps_who_answered(archived: dict, storage: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(storage / "archiver.db")
    rows = dict(conn.execute("SELECT fetch_url, tls FROM captures").fetchall())
    conn.close()
    secure = json.loads(rows[archived["urls"]["secure"]])
    assert rows[archived["urls"]["plain"]] is None
    assert secure["chain_source"] == "sent" and secure["issuer"] != secure["subject"]
    assert secure["tls_version"].startswith("TLSv1.") and len(secure["sha256"]) == 64
    metadata = []
    for warc in storage.rglob("*.warc.gz"):
        with open(warc, "rb") as handle:
            for record in ArchiveIterator(handle):
                if record.rec_type == "metadata" and record.content_type == "application/json":
                    block = json.loads(record.content_stream().read())
                    metadata.append((record.rec_headers.get_header("WARC-Target-URI"), block))
    assert [url for url, _ in metadata] == [archived["urls"]["secure"]]
    assert metadata[0][1]["certificates"][0]["sha256"] == secure["sha256"]


def export(storage: Path, manifest: Path, out: Path, *extra: str) -> None:
    result = invoke(storage, "export", str(manifest), "-o", str(out), *extra)
    assert result.exit_code == 0, result.stderr


def verify(storage: Path, package: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run(storage, "verify", str(package), *extra, timeout=60)


def rewrite(package: Path, changes: dict[str, bytes | None]) -> None:
    """The package with some members replaced (None: removed), every other byte kept."""
    with zipfile.ZipFile(package) as old:
        members = [(info, old.read(info.filename)) for info in old.infolist()]
    with zipfile.ZipFile(package, "w") as new:
        for info, data in members:
            if info.filename in changes:
                if changes[info.filename] is None:
                    continue
                data = changes[info.filename]  # type: ignore[assignment]
            new.writestr(info, data)


def test_a_signed_wacz_validates_verifies_and_names_each_tampering(archived: dict, storage: Path,
                                                                    tmp_path: Path) -> None:
    out = tmp_path / "paper.wacz"
    result = invoke(storage, "export", str(archived["manifest"]), "-o", str(out), "--sign", "anonymous")
    assert result.exit_code == 0, result.stderr
    fingerprint = result.stderr.split("public key sha256 ")[1].split()[0]
    check = subprocess.run([WACZ, "validate", "-f", str(out)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "Validation succeeded" in check.stdout, check.stdout + check.stderr
    good = verify(storage, out, "--public-key", fingerprint)
    assert good.returncode == 0 and "intact and signed" in good.stderr, good.stderr

    with zipfile.ZipFile(out) as package:
        digest = json.loads(package.read("datapackage-digest.json"))
        datapackage = package.read("datapackage.json")
        pages = package.read("pages/pages.jsonl")
        provenance = package.read("provenance/provenance.md").decode()
    assert set(digest["signedData"]) == {"hash", "created", "software", "version", "signature", "publicKey"}
    assert "127.0.0.1" in provenance and "Certificate issuer" in provenance and "Trusted timestamp: none" in provenance

    edited = tmp_path / "edited.wacz"
    edited.write_bytes(out.read_bytes())
    rewrite(edited, {"pages/pages.jsonl": pages.replace(b"secure", b"secret")})
    broken = verify(storage, edited)
    assert broken.returncode == 1 and "pages/pages.jsonl: sha256" in broken.stderr, broken.stderr

    # Only the signature replaced (another key's), the public key left: the signature fails.
    other = load_key("anonymous")
    forged = sign_digest(datapackage, digest["signedData"]["created"], other)
    swapped = dict(digest, signedData=dict(digest["signedData"], signature=forged["signedData"]["signature"]))
    resigned = tmp_path / "resigned.wacz"
    resigned.write_bytes(out.read_bytes())
    rewrite(resigned, {"datapackage-digest.json": json.dumps(swapped).encode()})
    broken = verify(storage, resigned)
    assert broken.returncode == 1 and "signature does not match" in broken.stderr, broken.stderr
    # Signature and public key both replaced: valid in itself, but not the key that was published.
    rewrite(resigned, {"datapackage-digest.json": json.dumps(forged).encode()})
    assert verify(storage, resigned).returncode == 0
    broken = verify(storage, resigned, "--public-key", fingerprint)
    assert broken.returncode == 1 and f"not the expected {fingerprint}" in broken.stderr, broken.stderr

    unsigned = tmp_path / "unsigned.wacz"
    unsigned.write_bytes(out.read_bytes())
    rewrite(unsigned, {"datapackage-digest.json": json.dumps({k: digest[k] for k in ("path", "hash")}).encode()})
    broken = verify(storage, unsigned)
    assert broken.returncode == 1 and "unsigned" in broken.stderr, broken.stderr


def test_a_key_file_signs_and_openssl_alone_checks_the_signature(archived: dict, storage: Path,
                                                                 tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    out = tmp_path / "paper.wacz"
    export(storage, archived["manifest"], out, "--sign", str(key_file))
    assert verify(storage, out, "--public-key", str(key_file)).returncode == 0
    # What docs-notes/certs.md tells a reader with only the WACZ and OpenSSL to do.
    with zipfile.ZipFile(out) as package:
        signed = json.loads(package.read("datapackage-digest.json"))["signedData"]
    pub = tmp_path / "pub.pem"
    pub.write_text("-----BEGIN PUBLIC KEY-----\n" + signed["publicKey"] + "\n-----END PUBLIC KEY-----\n")
    raw = base64.b64decode(signed["signature"]).hex()
    half = len(raw) // 2
    (tmp_path / "sig.cnf").write_text(f"asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x{raw[:half]}\ns=INTEGER:0x{raw[half:]}\n")
    subprocess.run(["openssl", "asn1parse", "-genconf", str(tmp_path / "sig.cnf"), "-out", str(tmp_path / "sig.der"),
                    "-noout"], check=True, capture_output=True)
    (tmp_path / "hash.txt").write_text(signed["hash"])
    ok = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature", str(tmp_path / "sig.der"),
                         str(tmp_path / "hash.txt")], capture_output=True, text=True)
    assert ok.returncode == 0 and "Verified OK" in ok.stdout, ok.stdout + ok.stderr
    last = signed["hash"][-1]
    (tmp_path / "hash.txt").write_text(signed["hash"][:-1] + ("1" if last == "0" else "0"))  # always one changed
    bad = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature", str(tmp_path / "sig.der"),
                          str(tmp_path / "hash.txt")], capture_output=True, text=True)
    assert bad.returncode == 1


def test_a_warc_export_has_its_provenance_beside_it(archived: dict, storage: Path, tmp_path: Path) -> None:
    out = tmp_path / "paper.warc.gz"
    export(storage, archived["manifest"], out)
    doc = json.loads((tmp_path / "paper.warc.gz.provenance.json").read_text())
    assert doc["export"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert doc["timestamp_authority"] == "none"
    by_url = {c["url"]: c for c in doc["captures"]}
    secure, plain = by_url[archived["urls"]["secure"]], by_url[archived["urls"]["plain"]]
    assert secure["ip"] == "127.0.0.1" and secure["tls"]["not_before"] < secure["tls"]["not_after"]
    assert plain["tls"] is None and plain["payload_sha256"] and plain["machine"]
    assert "# Provenance" in (tmp_path / "paper.warc.gz.provenance.md").read_text()
    signed = invoke(storage, "export", str(archived["manifest"]), "-o", str(out), "--sign", "anonymous")
    assert signed.exit_code == 2 and "WACZ" in signed.stderr


def test_a_bad_key_is_a_usage_error(archived: dict, storage: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "not-a-key.pem"
    key_file.write_text("hello\n")
    out = tmp_path / "x.wacz"
    result = invoke(storage, "export", str(archived["manifest"]), "-o", str(out), "--sign", str(key_file))
    assert result.exit_code == 2 and "not a PEM private key" in result.stderr
    assert not (tmp_path / "x.wacz").exists()


def test_the_html_report_carries_the_provenance_block(archived: dict, storage: Path, tmp_path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(storage / "archiver.db")
    [(tls,)] = conn.execute("SELECT tls FROM captures WHERE tls IS NOT NULL").fetchall()
    conn.close()
    target = tmp_path / "report.html"
    result = invoke(storage, "report", "-o", str(target))
    assert result.exit_code in (0, 1), result.stderr
    page = target.read_text()
    block = page[page.index('<section class="provenance"'):]
    assert "Trusted timestamp authority: none." in block
    assert block.count("<details>") == 2 and "Server IP address" in block
    assert json.loads(tls)["sha256"] in block and "Certificate issuer" in block
