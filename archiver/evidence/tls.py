"""Who answered an HTTPS request: the TLS protocol, cipher and certificates a server presented, read
once per connection, written as a WARC `metadata` record beside each response it carried.

The record's block is JSON (`application/json`), one object:
    {"kind": "tls-peer", "ip": the address connected, "tls_version": "TLSv1.3", "cipher": "TLS_AES_...",
     "chain_source": "sent" (the certificates as the server sent them, leaf first) or "leaf" (only the
     leaf was available), "certificates": [{"sha256", "subject", "issuer", "serial", "not_before",
     "not_after", "pem"}, ...]}
Subject and issuer are RFC 4514 strings; times are the one stored form (stamps.py), to the second.
The PEM is what counts: the other fields are read from it, for people and for the database
(`captures.tls` holds the leaf's fields: `TlsInfo.summary`).

Python 3.11's ssl gives the whole chain only through the private `get_unverified_chain` of the socket's
SSL object (public as `SSLSocket.get_unverified_chain` from Python 3.13); where that is missing, the
leaf from `getpeercert(binary_form=True)` is kept and `chain_source` says "leaf".
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
from typing import Any

from .. import stamps
from ..fetch.results import TlsInfo

KIND = "tls-peer"
CONTENT_TYPE = "application/json"


def peer_chain(sock: Any) -> tuple[tuple[bytes, ...], str]:
    """The DER certificates `sock` was shown, leaf first, and where they came from ("sent", "leaf",
    or "none" when the TLS stack gave none)."""
    sslobj = getattr(sock, "_sslobj", None)
    getter = getattr(sock, "get_unverified_chain", None) or getattr(sslobj, "get_unverified_chain", None)
    if getter is not None:
        try:
            chain = getter()
        except (ValueError, ssl.SSLError, OSError):
            chain = None
        if chain:
            return tuple(_der(cert) for cert in chain), "sent"
    try:
        leaf = sock.getpeercert(binary_form=True)
    except (ValueError, ssl.SSLError, OSError, AttributeError):
        leaf = None
    return ((leaf,), "leaf") if leaf else ((), "none")


def _der(cert: Any) -> bytes:
    if isinstance(cert, bytes):
        return cert
    # PEM is public_bytes' default on every version (the DER constant lives in the private _ssl).
    return ssl.PEM_cert_to_DER_cert(cert.public_bytes())


def describe(der: bytes) -> dict[str, Any]:
    """A certificate's fields as people read them, and its sha256 fingerprint."""
    from cryptography import x509

    fields: dict[str, Any] = {"sha256": hashlib.sha256(der).hexdigest()}
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        fields["error"] = f"unparsable certificate: {exc}"
        return fields
    fields.update(subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
                  serial=format(cert.serial_number, "x"),
                  not_before=stamps.iso(cert.not_valid_before_utc, "seconds"),
                  not_after=stamps.iso(cert.not_valid_after_utc, "seconds"))
    return fields


def read(sock: Any) -> TlsInfo | None:
    """The TLS facts of a connected socket (None for a plain one). Called once per connection."""
    if not hasattr(sock, "getpeercert"):
        return None
    chain, source = peer_chain(sock)
    try:
        version = sock.version()
        cipher_info = sock.cipher()
    except (ValueError, OSError, AttributeError):
        version, cipher_info = None, None
    cipher = cipher_info[0] if cipher_info else None
    ip: str | None = None
    if isinstance(sock, socket.socket):
        try:
            ip = str(sock.getpeername()[0])
        except OSError:
            pass
    certificates = []
    for der in chain:
        fields = describe(der)
        fields["pem"] = ssl.DER_cert_to_PEM_cert(der)
        certificates.append(fields)
    block = {"kind": KIND, "ip": ip, "tls_version": version, "cipher": cipher, "chain_source": source,
             "certificates": certificates}
    leaf = {k: v for k, v in certificates[0].items() if k != "pem"} if certificates else {}
    summary = {"tls_version": version, "cipher": cipher, "chain_source": source, "chain_length": len(chain),
               **leaf}
    return TlsInfo(version=version, cipher=cipher, chain=chain, chain_source=source,
                   record=json.dumps(block, indent=1).encode() + b"\n",
                   summary=json.dumps(summary, sort_keys=True))


def parse_record(block: bytes) -> dict[str, Any]:
    """A tls-peer metadata record's block read back (ValueError when it is not one)."""
    value = json.loads(block)
    if not isinstance(value, dict) or value.get("kind") != KIND:
        raise ValueError("not a tls-peer metadata record")
    return value


__all__ = ["CONTENT_TYPE", "KIND", "describe", "parse_record", "peer_chain", "read"]
