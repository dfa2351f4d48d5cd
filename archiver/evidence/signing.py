"""Signed WACZ packages (the WACZ Signing and Verification recommendation, specs.webrecorder.net/wacz-auth,
"anonymous signature"), and checking a package: its signature and every file's hash.

`datapackage-digest.json` holds `{"path": "datapackage.json", "hash": "sha256:<hex>", "signedData": {...}}`;
signedData is `{"hash", "created", "software", "version", "signature", "publicKey"}` and nothing else:
`hash` the same sha256 label of datapackage.json (which lists the sha256 of every other file, so one
signature covers them all), `created` datapackage.json's own `created` (py-wacz's validator requires
the two equal), `signature` ECDSA with SHA-256 over the ASCII `hash` string, base64 of the raw r||s
pair (IEEE P1363: what WebCrypto makes and ReplayWeb.page checks), `publicKey` base64 of the key's DER
SubjectPublicKeyInfo. `--sign anonymous` makes a fresh P-384 key (the curve ArchiveWeb.page signs
with and ReplayWeb.page imports anonymous keys as); a key file may be P-256 or P-384 (PEM, unencrypted).

An anonymous signature proves the package is unchanged since someone holding the key signed it; who
that was needs the key's fingerprint published elsewhere (`verify --public-key` compares it).
All cryptography is the `cryptography` package's. A package may also carry RFC 3161 tokens over
datapackage.json's sha256 (a `timestamps` field of datapackage-digest.json, outside signedData):
package_stamp.py makes them at export and checks them for check_package.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import UsageError
from .package_stamp import TokenFinding, check_tokens

DIGEST_FILE = "datapackage-digest.json"
PACKAGE_FILE = "datapackage.json"
SIGNATURE_VERSION = "0.1.0"  # the recommendation's version the signedData follows
ANONYMOUS = "anonymous"
_CURVES = {"secp256r1": 32, "secp384r1": 48}  # the curves accepted, and their scalar size in bytes


@dataclass(frozen=True)
class SigningKey:
    """A private key to sign with, and whether it was made for this one package."""

    private: Any  # cryptography's EllipticCurvePrivateKey
    anonymous: bool

    @property
    def public_der(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        der: bytes = self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        return der

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.public_der)


def key_fingerprint(public_der: bytes) -> str:
    """The sha256 of a public key's DER SubjectPublicKeyInfo, hex: what people compare."""
    return hashlib.sha256(public_der).hexdigest()


def load_key(spec: str) -> SigningKey:
    """`anonymous` (a fresh P-384 key) or a PEM file holding an unencrypted ECDSA P-256/P-384 private
    key. Anything else: UsageError (exit 2)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if spec == ANONYMOUS:
        return SigningKey(ec.generate_private_key(ec.SECP384R1()), anonymous=True)
    path = Path(spec)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--sign {spec}: cannot read the key file: {exc.strerror or exc}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise UsageError(f"--sign {spec}: the key is encrypted; give an unencrypted PEM key") from exc
    except ValueError as exc:
        raise UsageError(f"--sign {spec}: not a PEM private key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CURVES:
        raise UsageError(f"--sign {spec}: not an ECDSA P-256 or P-384 key"
                         " (make one with: openssl ecparam -name prime256v1 -genkey -noout -out key.pem)")
    return SigningKey(key, anonymous=False)


def sign_digest(datapackage: bytes, created: str, key: SigningKey) -> dict[str, Any]:
    """The datapackage-digest.json object for `datapackage`, signed with `key`."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    label = "sha256:" + hashlib.sha256(datapackage).hexdigest()
    r, s = decode_dss_signature(key.private.sign(label.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    size = _CURVES[key.private.curve.name]
    signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return {"path": PACKAGE_FILE, "hash": label, "signedData": {
        "hash": label, "created": created, "software": f"archiver {__version__}", "version": SIGNATURE_VERSION,
        "signature": base64.b64encode(signature).decode("ascii"),
        "publicKey": base64.b64encode(key.public_der).decode("ascii"),
    }}


def signature_valid(label: str, signature_b64: str, public_key_b64: str) -> str | None:
    """None when `signature_b64` is a valid signature of `label` by `public_key_b64`; else what is wrong.
    The signature may be raw r||s (the recommendation's anonymous form) or DER (authsign's)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    try:
        public = serialization.load_der_public_key(base64.b64decode(public_key_b64, validate=True))
        signature = base64.b64decode(signature_b64, validate=True)
    except ValueError as exc:
        return f"publicKey or signature is not valid base64 DER ({exc})"
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name not in _CURVES:
        return "publicKey is not an ECDSA P-256 or P-384 key"
    size = _CURVES[public.curve.name]
    if len(signature) == 2 * size:
        signature = encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                         int.from_bytes(signature[size:], "big"))
    try:
        public.verify(signature, label.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "the signature does not match the hash and the public key in datapackage-digest.json"
    return None


@dataclass
class PackageCheck:
    """What `verify PACKAGE.wacz` found: the problems (empty: intact), and facts to show."""

    path: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tokens: list[TokenFinding] = field(default_factory=list)  # the RFC 3161 tokens (package_stamp.py)
    files: int = 0
    signed: bool = False
    fingerprint: str | None = None
    created: str | None = None
    software: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.signed


def check_package(path: Path, expected_key: str | None = None, ca_bundles: Sequence[Path] = ()) -> PackageCheck:
    """Every file hash datapackage.json lists, datapackage.json's hash in datapackage-digest.json, the
    signature (`expected_key`: a public key's sha256 fingerprint, or a PEM file of it, the signature
    must come from), and each timestamp token (against `ca_bundles`; none: each is a warning)."""
    check = PackageCheck(path)
    try:
        package = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        check.problems.append(f"{path}: not a readable zip file ({exc})")
        return check
    with package:
        names = set(package.namelist())
        for needed in (PACKAGE_FILE, DIGEST_FILE):
            if needed not in names:
                check.problems.append(f"{needed} is missing")
        if PACKAGE_FILE not in names:
            return check
        raw = package.read(PACKAGE_FILE)
        try:
            datapackage = json.loads(raw)
            resources = list(datapackage["resources"])
        except (ValueError, KeyError, TypeError) as exc:
            check.problems.append(f"{PACKAGE_FILE} is not a WACZ datapackage ({exc})")
            return check
        listed = set()
        for resource in resources:
            name = str(resource.get("path", ""))
            listed.add(name)
            if name not in names:
                check.problems.append(f"{name}: listed in {PACKAGE_FILE} but missing from the package")
                continue
            sha256, size = _hash_member(package, name)
            check.files += 1
            if f"sha256:{sha256}" != resource.get("hash"):
                check.problems.append(f"{name}: sha256 {sha256} does not match {resource.get('hash')}"
                                      f" in {PACKAGE_FILE}")
            elif resource.get("bytes") is not None and resource["bytes"] != size:
                check.problems.append(f"{name}: {size} bytes, {PACKAGE_FILE} says {resource['bytes']}")
        for extra in sorted(names - listed - {PACKAGE_FILE, DIGEST_FILE}):
            if not extra.endswith("/"):
                check.problems.append(f"{extra}: in the package but not listed in {PACKAGE_FILE}")
        if DIGEST_FILE in names:
            _check_digest(check, package.read(DIGEST_FILE), raw, datapackage, expected_key, ca_bundles)
    return check


def _hash_member(package: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with package.open(name) as member:
        while chunk := member.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _check_digest(check: PackageCheck, raw_digest: bytes, raw_package: bytes, datapackage: dict[str, Any],
                  expected_key: str | None, ca_bundles: Sequence[Path] = ()) -> None:
    label = "sha256:" + hashlib.sha256(raw_package).hexdigest()
    try:
        digest = json.loads(raw_digest)
        stated = digest["hash"]
    except (ValueError, KeyError, TypeError) as exc:
        check.problems.append(f"{DIGEST_FILE} is not readable ({exc})")
        return
    if stated != label:
        check.problems.append(f"{PACKAGE_FILE}: {label} does not match {stated} in {DIGEST_FILE}")
    check.tokens = check_tokens(digest, raw_package, ca_bundles) if isinstance(digest, dict) else []
    check.problems.extend(t.line() for t in check.tokens if t.problem)
    check.warnings.extend(t.line() for t in check.tokens if t.warning)
    signed = digest.get("signedData")
    if not signed:
        check.problems.append(f"unsigned: {DIGEST_FILE} has no signedData")
        return
    check.signed = True
    check.created, check.software = signed.get("created"), signed.get("software")
    if signed.get("hash") != stated:
        check.problems.append(f"signedData.hash {signed.get('hash')} is not the hash of {PACKAGE_FILE} ({stated})")
    if signed.get("created") != datapackage.get("created"):
        check.problems.append(f"signedData.created {signed.get('created')} differs from {PACKAGE_FILE}'s created"
                              f" {datapackage.get('created')}")
    public, signature = signed.get("publicKey"), signed.get("signature")
    if not isinstance(public, str) or not isinstance(signature, str):
        check.problems.append("signedData has no publicKey and signature (a domain-certificate signature,"
                              " which archiver does not check)")
        return
    wrong = signature_valid(str(signed.get("hash")), signature, public)
    if wrong:
        check.problems.append(wrong)
    try:
        check.fingerprint = key_fingerprint(base64.b64decode(public))
    except ValueError:
        return
    if expected_key is not None:
        wanted = expected_fingerprint(expected_key)
        if wanted != check.fingerprint:
            check.problems.append(f"signed with public key {check.fingerprint}, not the expected {wanted}")


def expected_fingerprint(spec: str) -> str:
    """`--public-key`: a sha256 fingerprint (hex) as given, or a PEM public (or private) key file's."""
    text = spec.strip().lower().replace(":", "")
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return text
    from cryptography.hazmat.primitives import serialization

    try:
        data = Path(spec).read_bytes()
    except OSError as exc:
        raise UsageError(f"--public-key {spec}: neither a sha256 fingerprint nor a readable file") from exc
    try:
        public = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            public = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise UsageError(f"--public-key {spec}: not a PEM public key") from exc
    return key_fingerprint(public.public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo))


__all__ = ["ANONYMOUS", "DIGEST_FILE", "PACKAGE_FILE", "PackageCheck", "SigningKey", "check_package",
           "expected_fingerprint", "key_fingerprint", "load_key", "sign_digest", "signature_valid"]
