"""The provenance summary: for each capture in an export or a report, what a person attaching it to a
filing needs, in one place and readable without archiver: which tool made it, when and from which
machine and run, the address that answered, that server's certificate, the hashes, and the trusted
timestamps that cover it.

`summary()` builds it as plain data (JSON: `provenance/provenance.json` in a WACZ, `<file>.provenance.json`
beside a WARC export); `markdown()` writes it for people (`provenance/provenance.md`, `<file>.provenance.md`);
report/html.py shows the same fields. Fields of a capture:
  url, final_url, http_status, captured_at, run (id, command, started_at), machine (the hostname in the
  warcinfo record of the WARC file the capture was written to), ip, tls (version, cipher, chain source
  and length, and the leaf certificate's subject, issuer, not_before, not_after, sha256; null for plain
  HTTP and for captures from before certificates were kept), payload_sha256, record_type, warc (file
  name, its sha256 once closed), timestamps (the first RFC 3161 token of each authority over a log
  head that covers the capture's WARC file).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from typing import Any

from .. import __version__, stamps
from ..archive import Archive

NONE = "none"


def summary(archive: Archive, capture_ids: Iterable[int], *, subject: str,
            export: dict[str, Any] | None = None) -> dict[str, Any]:
    """The provenance of the captures `capture_ids` (`subject`: what they are, e.g. the manifest;
    `export`: the exported WARC file's name, sha256 and bytes)."""
    rows = archive.db.provenance_rows(capture_ids)
    names = sorted({r["warc"] for r in rows if r.get("warc")})
    machines = {name: _machine(archive, name) for name in names}
    stamped = archive.db.tokens_covering(names) if names and archive.db.has_ledger() else {}
    captures = [_capture(row, machines, stamped) for row in rows]
    return {
        "subject": subject,
        "tool": f"archiver {__version__}",
        "generated_at": stamps.now_iso("seconds"),
        "generated_on": socket.gethostname(),
        "export": export,
        "timestamp_authority": sorted({t["authority"] for ts in stamped.values() for t in ts}) or NONE,
        "captures": captures,
    }


def _capture(row: dict[str, Any], machines: dict[str, str | None], stamped: dict[str, list[dict[str, str]]]
             ) -> dict[str, Any]:
    tls = None
    if row.get("tls"):
        try:
            tls = json.loads(row["tls"])
        except ValueError:
            tls = {"error": "unreadable tls column"}
    warc = row.get("warc")
    return {
        "url": row["url"], "final_url": row.get("final_url"), "http_status": row.get("http_status"),
        "captured_at": row["captured_at"],
        "run": {"id": row.get("run_id"), "command": row.get("run_command"), "started_at": row.get("run_started_at")},
        "machine": machines.get(warc) if warc else None,
        "ip": row.get("ip"), "tls": tls,
        "payload_sha256": row.get("payload_sha256"), "record_type": row.get("record_type"),
        "source_archive": row.get("source_archive"),
        "warc": {"name": warc, "sha256": row.get("warc_sha256"), "state": row.get("warc_state")} if warc else None,
        "timestamps": stamped.get(warc, []) if warc else [],
    }


def _machine(archive: Archive, name: str) -> str | None:
    """The hostname the warcinfo record of WARC file `name` names (the machine that wrote it)."""
    from warcio.archiveiterator import ArchiveIterator

    try:
        with archive.store.open_read(name, "its warcinfo record") as handle:
            for record in ArchiveIterator(handle):
                if record.rec_type != "warcinfo":
                    return None
                for line in record.content_stream().read().decode("utf-8", "replace").splitlines():
                    key, _, value = line.partition(":")
                    if key.strip() == "hostname":
                        return value.strip() or None
                return None
    except Exception:  # a missing or damaged file: provenance says "unknown", verify says why
        return None
    return None


def markdown(doc: dict[str, Any]) -> str:
    """The summary for people: one section per capture."""
    authority = doc["timestamp_authority"]
    exported = doc.get("export")
    lines = [
        f"# Provenance: {doc['subject']}", "",
        f"- Tool: {doc['tool']}",
        *([f"- Exported WARC: {exported['warc']} (SHA-256 {exported['sha256']}, {exported['bytes']} bytes)"]
          if exported else []),
        f"- Summary generated: {doc['generated_at']} on {doc['generated_on']}",
        f"- Trusted timestamp authority: {', '.join(authority) if isinstance(authority, list) else authority}",
        f"- Captures: {len(doc['captures'])}", "",
        "Hashes are SHA-256, hex. A WARC file's hash is set when archiver closes the file; \"open\" means it",
        "was still being written to when this summary was made (the export's own WARC hash is in",
        "datapackage.json). The certificate is the leaf the server presented; the whole chain it sent is in",
        "the WARC `metadata` record beside each HTTPS response.", "",
    ]
    for capture in doc["captures"]:
        lines += [f"## {capture['url']}", ""]
        lines += [f"- {label}: {value}" for label, value in fields(capture)]
        lines.append("")
    return "\n".join(lines)


def fields(capture: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs of a capture, in the order people read them (the HTML report uses them too)."""
    run = capture["run"]
    tls = capture.get("tls")
    warc = capture.get("warc") or {}
    out = [
        ("Captured at (UTC)", capture["captured_at"]),
        ("Final URL", f"{capture.get('final_url') or ''} (HTTP {capture.get('http_status')})"),
        ("Run", f"{run.get('id')} ({run.get('command')}, started {run.get('started_at')})"),
        ("Machine", capture.get("machine") or "unknown"),
        ("Server IP address", capture.get("ip") or "unknown"),
    ]
    if tls and "subject" in tls:
        out += [("TLS", f"{tls.get('tls_version')} {tls.get('cipher')}"),
                ("Certificate subject", tls["subject"]),
                ("Certificate issuer", tls.get("issuer", "")),
                ("Certificate valid", f"{tls.get('not_before')} to {tls.get('not_after')}"),
                ("Certificate SHA-256", tls.get("sha256", "")),
                ("Chain kept", f"{tls.get('chain_length')} certificate(s), {tls.get('chain_source')}")]
    else:
        out.append(("TLS", "none (plain HTTP, or captured before certificates were kept)"))
    if capture.get("source_archive"):
        out.append(("Imported from", capture["source_archive"]))
    out += [("Payload SHA-256", capture.get("payload_sha256") or "none"),
            ("Record", capture.get("record_type") or "none"),
            ("WARC file", warc.get("name") or "none"),
            ("WARC file SHA-256", warc.get("sha256") or (warc.get("state") or "none"))]
    stamps_ = capture.get("timestamps") or []
    out.append(("Trusted timestamp", "; ".join(f"{t['authority']} at {t['time']}" for t in stamps_) or NONE))
    return out


__all__ = ["NONE", "fields", "markdown", "summary"]
