"""A real RFC 3161 Time Stamping Authority on loopback: OpenSSL's own responder (`openssl ts -reply`)
behind a tiny HTTP handler, with a test CA and a TSA certificate (extendedKeyUsage critical
timeStamping) made here with `cryptography`. Its replies carry the TSA's certificate only (no `certs`):
OpenSSL writes a SET of several certificates in the order given, not DER's sorted order, and
rfc3161-client's strict DER parser refuses such a token. `up = False` makes it answer 503, as a TSA that is down."""

from __future__ import annotations

import datetime as dt
import http.server
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CONFIG = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca(folder: Path, common: str = "archiver test TSA CA") -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def make_tsa_cert(folder: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("archiver test TSA")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .sign(ca_key, hashes.SHA256()))
    (folder / "tsa.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "tsa.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))


class LocalTSA:
    """`with LocalTSA(folder) as tsa:` serves http://127.0.0.1:<port>/ ; `tsa.ca_bundle` is its CA (PEM)."""

    def __init__(self, folder: Path, common: str = "archiver test TSA CA") -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        ca_key, ca = make_ca(folder, common)
        make_tsa_cert(folder, ca_key, ca)
        (folder / "serial").write_text("01\n")
        (folder / "openssl.cnf").write_text(CONFIG.format(dir=folder))
        self.ca_bundle = folder / "ca.pem"
        self.up = True
        self.requests = 0
        self.openssl = shutil.which("openssl") or "openssl"
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tsa"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def env(self) -> dict[str, str]:
        """The environment that makes archiver ask this authority (the `tsa` setting)."""
        return {"ARCHIVER_TSA": f"{self.url}|{self.ca_bundle}"}

    def reply(self, query: bytes) -> bytes:
        """OpenSSL's answer to a timestamp query."""
        with tempfile.TemporaryDirectory(dir=self.folder) as work:
            (Path(work) / "q.tsq").write_bytes(query)
            subprocess.run([self.openssl, "ts", "-reply", "-config", str(self.folder / "openssl.cnf"),
                            "-queryfile", f"{work}/q.tsq", "-out", f"{work}/r.tsr"],
                           check=True, capture_output=True, timeout=20)
            return (Path(work) / "r.tsr").read_bytes()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        tsa = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                tsa.requests += 1
                if not tsa.up or self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_response(503 if not tsa.up else 415)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answer = tsa.reply(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> LocalTSA:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
