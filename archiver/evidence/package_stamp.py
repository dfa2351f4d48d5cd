"""RFC 3161 timestamps of a WACZ package: a token over the package's own digest, kept inside it.

The message imprint is the sha256 of the exact bytes of `datapackage.json` as stored in the zip, the
same digest `datapackage-digest.json` holds as `"hash": "sha256:<hex>"`. datapackage.json lists the
sha256 and size of every other file, so one token dates them all: `openssl ts -verify -digest <hex>`
(or `-data datapackage.json`) checks it with nothing but OpenSSL.

The tokens go into datapackage-digest.json as an extra top-level field, outside `signedData` (whose
keys the signing recommendation fixes) and outside every hashed file (a file not listed in
datapackage.json makes `wacz validate` fail; an extra field in the digest file does not):

    "timestamps": [{"hash": "sha256:<hex>", "tsa": "<url>", "genTime": "<ISO time>", "token": "<base64>"}]

`token` is the DER TimeStampResp exactly as the TSA answered (what a `.tsr` file holds); `hash`,
`tsa` and `genTime` are conveniences for a reader: `archiver verify` trusts only the token itself
(its imprint against the recomputed digest, its signature against a CA bundle the user gives).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfc3161_client import VerificationError, decode_timestamp_response

from .. import stamps
from ..config import Settings
from ..errors import ArchiverError
from .timestamps import request_token, tsa_host, verify_token

if TYPE_CHECKING:
    from ..fetch.fetcher import Fetcher

FIELD = "timestamps"


@dataclass
class PackageStamps:
    """What the TSAs answered for one package: the entries kept, and one line per TSA that failed."""

    entries: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def stamp_package(settings: Settings, datapackage: bytes, fetcher: Fetcher | None = None) -> PackageStamps:
    """Ask every configured TSA for a token over `datapackage`'s sha256; keep each token that verifies
    against that TSA's CA bundle. A TSA that fails is an error line, never an exception."""
    digest = hashlib.sha256(datapackage).digest()
    out = PackageStamps()
    own = fetcher is None
    if fetcher is None:
        from ..fetch.fetcher import Fetcher  # requests is loaded only when a TSA is asked
        from ..fetch.politeness import HostGate

        fetcher = Fetcher(settings, HostGate(settings.per_host, settings.per_host_delay))
    try:
        for url, ca_bundle in settings.tsa:
            try:
                token = request_token(fetcher, url, datapackage)
            except ArchiverError as exc:
                out.errors.append(f"{tsa_host(url)}: cannot stamp the package: {exc}")
                continue
            check = verify_token(token, digest, Path(ca_bundle))
            if not check.ok:
                out.errors.append(f"{tsa_host(url)}: its answer is no valid token: {check.detail}")
                continue
            out.entries.append({"hash": "sha256:" + digest.hex(), "tsa": url, "genTime": check.gen_time or "",
                                "token": base64.b64encode(token).decode("ascii")})
    finally:
        if own:
            fetcher.close()
    return out


@dataclass(frozen=True)
class TokenFinding:
    """One token of a package as `verify` found it: `problem` (it fails), `warning` (not checked), or
    neither (it verifies); `tsa` as the package names it, `gen_time` the TSA's time."""

    index: int
    tsa: str
    gen_time: str | None
    problem: str | None = None
    warning: str | None = None

    def line(self) -> str:
        where = f"timestamp {self.index + 1} ({tsa_host(self.tsa) if self.tsa else 'unnamed TSA'})"
        if self.problem:
            return f"{where}: {self.problem}"
        if self.warning:
            return f"{where}: {self.warning}"
        return f"{where}: ok, time {self.gen_time}"


def check_tokens(digest_doc: dict[str, Any], raw_package: bytes, ca_bundles: Sequence[Path]) -> list[TokenFinding]:
    """Every token of datapackage-digest.json's `timestamps`: it covers sha256(`raw_package`) and it
    chains to one of `ca_bundles` (none given: a warning, "not checked")."""
    entries = digest_doc.get(FIELD)
    if entries is None:
        return []
    if not isinstance(entries, list):
        return [TokenFinding(0, "", None, problem=f"{FIELD} in datapackage-digest.json is not a list")]
    digest = hashlib.sha256(raw_package).digest()
    found: list[TokenFinding] = []
    for index, entry in enumerate(entries):
        tsa = str(entry.get("tsa", "")) if isinstance(entry, dict) else ""
        try:
            token = base64.b64decode(entry["token"], validate=True)
        except (KeyError, TypeError, ValueError) as exc:
            found.append(TokenFinding(index, tsa, None, problem=f"no readable base64 token ({exc})"))
            continue
        found.append(_check_one(index, tsa, token, digest, ca_bundles))
    return found


def _check_one(index: int, tsa: str, token: bytes, digest: bytes, ca_bundles: Sequence[Path]) -> TokenFinding:
    if not ca_bundles:
        try:
            info = decode_timestamp_response(token).tst_info
            covered, stamped_at = info.message_imprint.message, stamps.iso(info.gen_time)
        except (ValueError, VerificationError) as exc:
            return TokenFinding(index, tsa, None, problem=f"not an RFC 3161 timestamp response: {exc}")
        if covered != digest:
            return TokenFinding(index, tsa, stamped_at, problem=f"it covers digest {covered.hex()[:16]}…, not the"
                                                              f" package's {digest.hex()[:16]}…")
        return TokenFinding(index, tsa, stamped_at,
                            warning=f"time {stamped_at}: not checked: no CA bundle (give --tsa-ca FILE)")
    failures = []
    gen_time: str | None = None
    for bundle in ca_bundles:
        check = verify_token(token, digest, bundle)
        gen_time = check.gen_time
        if check.ok:
            return TokenFinding(index, tsa, gen_time)
        if check.imprint != digest.hex():
            return TokenFinding(index, tsa, gen_time, problem=check.detail.replace(", not ", ", not the package's "))
        failures.append(check.detail)
    return TokenFinding(index, tsa, gen_time, problem="; ".join(failures))


__all__ = ["FIELD", "PackageStamps", "TokenFinding", "check_tokens", "stamp_package"]
