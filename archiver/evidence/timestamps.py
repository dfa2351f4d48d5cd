"""Trusted timestamps (RFC 3161) over the head of the tamper-evident log (ledger.py).

The message a Time Stamping Authority signs is the head entry's hash as its 64 hex characters
(ASCII); the token's message imprint is the sha256 of that text. A token proves the whole log up to
that entry existed at the TSA's time: rewriting any entry before it changes the head's hash.
Tokens are requested when a WARC file closes (when the `tsa` setting lists authorities) and by
`archiver stamp`, sent through the Fetcher (POST, application/timestamp-query: the address guard
applies), checked against the TSA's CA bundle before they are kept, and stored twice: a `timestamps`
row and the response as `<storage>/timestamps/<seq>-<tsa host>.tsr`, which `openssl ts -verify`
reads on a machine without archiver. The ASN.1 and CMS work is rfc3161-client's (Trail of Bits).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import stamps
from ..atomic import write_atomically
from ..config import Settings
from ..db import ArchiveDB
from ..errors import ArchiverError, StorageError
from ..fetch.ask import Ask
from .ledger import ChainProblem, Ledger, check_chain, head

if TYPE_CHECKING:
    from ..fetch.fetcher import Fetcher
    from ..storage import WarcStore

MAX_REPLY = 1024 * 1024
FOLDER = "timestamps"


@dataclass(frozen=True)
class TokenCheck:
    """What verify_token found: `ok`, or `detail` saying what failed; `imprint` the digest the token
    covers (hex), `gen_time` the TSA's time."""

    ok: bool
    detail: str
    imprint: str = ""
    gen_time: str | None = None


def message(head_hash: str) -> bytes:
    """What a TSA is asked to sign for a log head: its hash as hex text."""
    return head_hash.encode("ascii")


def imprint(head_hash: str) -> bytes:
    return hashlib.sha256(message(head_hash)).digest()


def verify_token(token: bytes, digest: bytes, ca_bundle: Path) -> TokenCheck:
    """Check an RFC 3161 response: it covers `digest` (its sha256 message imprint), and it is signed by a
    time-stamping certificate that chains to a certificate of `ca_bundle` (PEM)."""
    from cryptography import x509  # only when a token is checked: a snapshot's start-up stays short
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    try:
        response = decode_timestamp_response(token)
        info = response.tst_info
        found = info.message_imprint.message
    except (ValueError, VerificationError) as exc:
        return TokenCheck(False, f"not an RFC 3161 timestamp response: {exc}")
    gen_time = stamps.iso(info.gen_time)
    if found != digest:
        return TokenCheck(False, f"it covers digest {found.hex()[:16]}…, not {digest.hex()[:16]}…", found.hex(),
                          gen_time)
    try:
        roots = x509.load_pem_x509_certificates(ca_bundle.read_bytes())
    except (OSError, ValueError) as exc:
        return TokenCheck(False, f"CA bundle {ca_bundle}: cannot read: {exc}", found.hex(), gen_time)
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify(response, digest)
    except (VerificationError, ValueError) as exc:
        return TokenCheck(False, f"not signed by a certificate chaining to {ca_bundle}: {exc}", found.hex(), gen_time)
    return TokenCheck(True, "ok", found.hex(), gen_time)


def tsa_host(url: str) -> str:
    return urlsplit(url).hostname or "tsa"


# -- stamping ------------------------------------------------------------------------------------------


@dataclass
class Stamped:
    """One authority's answer: `file` the token kept (None: failed, `error` says why)."""

    tsa: str
    seq: int
    head: str
    file: str | None = None
    gen_time: str | None = None
    error: str | None = None
    already: bool = False

    def line(self) -> str:
        if self.error is not None:
            return f"{tsa_host(self.tsa)}: cannot stamp ledger entry {self.seq}: {self.error}"
        said = "already stamped" if self.already else "stamped"
        return (f"{tsa_host(self.tsa)}: {said} ledger entry {self.seq} (head {self.head[:16]}…)"
                f" at {self.gen_time}: {self.file}")


@dataclass
class StampResult:
    stamped: list[Stamped] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if not self.stamped or any(s.error for s in self.stamped) else 0

    def to_json(self) -> list[dict[str, Any]]:
        return [vars(s) for s in self.stamped]


def request_token(fetcher: Fetcher, url: str, data: bytes) -> bytes:
    """One TSA's response over sha256(`data`) (StorageError saying why when it gives none): the log's
    head as `message(head_hash)`, or a WACZ's datapackage.json."""
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder  # only when a TSA is asked

    query = TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256) \
        .cert_request(cert_request=True).nonce(nonce=True).build()
    ask = Ask("POST", (("Content-Type", "application/timestamp-query"),), query.as_bytes())
    result = fetcher.fetch(url, ask=ask)
    try:
        final = result.final
        if result.outcome != "ok" or final is None:
            raise StorageError(f"{result.outcome}: {result.error or 'no answer'}")
        if final.status != 200:
            raise StorageError(f"HTTP {final.status} {final.reason}")
        return final.body(MAX_REPLY)
    finally:
        result.close()


def stamp_head(settings: Settings, db: ArchiveDB, fetcher: Fetcher | None = None) -> StampResult:
    """Send the log's head to every configured TSA; keep each token that verifies."""
    seq, head_hash = head(db)
    result = StampResult()
    if seq == 0:
        return result
    done = {(row.seq, row.tsa) for row in db.timestamp_rows()}
    own = fetcher is None
    if fetcher is None:
        from ..fetch.fetcher import Fetcher  # requests is loaded only when a TSA is asked
        from ..fetch.politeness import HostGate

        fetcher = Fetcher(settings, HostGate(settings.per_host, settings.per_host_delay))
    try:
        for url, ca_bundle in settings.tsa:
            stamped = Stamped(url, seq, head_hash)
            result.stamped.append(stamped)
            if (seq, url) in done:
                stamped.already = True
                stamped.file = f"{FOLDER}/{seq}-{tsa_host(url)}.tsr"
                continue
            try:
                _keep(settings.storage, db, stamped, request_token(fetcher, url, message(head_hash)), Path(ca_bundle))
            except ArchiverError as exc:
                stamped.error = str(exc)
    finally:
        if own:
            fetcher.close()
    return result


def _keep(root: Path, db: ArchiveDB, stamped: Stamped, token: bytes, ca_bundle: Path) -> None:
    check = verify_token(token, imprint(stamped.head), ca_bundle)
    if not check.ok:
        raise StorageError(f"its answer is no valid token: {check.detail}")
    name = f"{FOLDER}/{stamped.seq}-{tsa_host(stamped.tsa)}.tsr"
    try:
        (root / FOLDER).mkdir(exist_ok=True)
        write_atomically(root / name, token)
    except OSError as exc:
        raise StorageError(f"{root / name}: cannot write: {exc.strerror or exc}") from exc
    with db.transaction():
        db.add_timestamp({"seq": stamped.seq, "head": stamped.head, "tsa": stamped.tsa, "file": name, "token": token,
                          "gen_time": check.gen_time, "stamped_at": stamps.now_iso()})
    stamped.file, stamped.gen_time = name, check.gen_time


def stamp(settings: Settings) -> StampResult:
    """`archiver stamp`: the head of the archive's log, stamped by every configured TSA."""
    with ArchiveDB.open(settings.db_path) as db:
        return stamp_head(settings, db)


def evidence(settings: Settings, store: WarcStore, notice: Callable[[str], None]) -> None:
    """Turn on, for an archive opened for writing, the log (unless `ledger` is off) and the stamping of
    its head as each WARC file closes (when TSAs are configured). A TSA that fails is a notice: the
    WARC file is closed and its entry logged all the same."""
    if settings.ledger:
        store.ledger = Ledger(settings.storage)
    if settings.ledger and settings.tsa:
        store.on_closed = _stamper(settings, store.db, notice)


def _stamper(settings: Settings, db: ArchiveDB, notice: Callable[[str], None]) -> Callable[[str], None]:
    def on_closed(name: str) -> None:
        for stamped in stamp_head(settings, db).stamped:
            if stamped.error is not None:
                notice(f"timestamp of {name}: {stamped.line()}")
    return on_closed


# -- checking (archiver verify --timestamps) ---------------------------------------------------------------


def check_timestamps(settings: Settings, db: ArchiveDB, broken: list[ChainProblem] | None = None) -> list[ChainProblem]:
    """Every kept token: its file is the one recorded, it covers the log head it claims, it chains to its
    TSA's CA bundle, and the entry it covers is still in the unbroken chain with that hash."""
    if not db.has_ledger():
        return []
    chain = broken if broken is not None else check_chain(db, settings.storage)
    first_broken = min((p.seq for p in chain if p.seq is not None), default=None)
    bundles = dict(settings.tsa)
    out: list[ChainProblem] = []
    for row in db.timestamp_rows():
        where = f"{row.file} ({tsa_host(row.tsa)}, ledger entry {row.seq})"
        try:
            token = (settings.storage / row.file).read_bytes()
        except OSError as exc:
            out.append(ChainProblem(where, f"cannot read the token: {exc.strerror or exc}", row.seq))
            continue
        if token != row.token:
            out.append(ChainProblem(where, "the file differs from the token recorded in the database", row.seq))
        if row.tsa not in bundles:
            out.append(ChainProblem(where, f"no CA bundle: {row.tsa} is not in the tsa setting", row.seq))
            continue
        check = verify_token(token, imprint(row.head), Path(bundles[row.tsa]))
        if not check.ok:
            out.append(ChainProblem(where, check.detail, row.seq))
            continue
        entry = db.ledger_entry(row.seq)
        if entry is None:
            out.append(ChainProblem(where, f"ledger entry {row.seq} is no longer in the log (cut off or deleted)",
                                    row.seq))
        elif entry.hash != row.head:
            out.append(ChainProblem(where, f"ledger entry {row.seq}'s hash is now {entry.hash[:16]}…, the token"
                                           f" covers {row.head[:16]}… (the entry was rewritten)", row.seq))
        elif first_broken is not None and first_broken <= row.seq:
            out.append(ChainProblem(where, f"the chain is broken at entry {first_broken}, before the entry"
                                           " it covers", row.seq))
    return out
