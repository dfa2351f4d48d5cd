"""The tamper-evident log from the installed CLI: real snapshot runs append entries (table and
storage/ledger.jsonl), `archiver verify` recomputes the chain; each tamper case (a WARC record and
its database rows forged together so that fixity passes, the log truncated, two entries swapped, an
entry deleted, the JSONL mirror edited alone) exits 1 naming the broken link."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import zlib
from pathlib import Path

import pytest
from conftest import invoke, run, sql
from server import TestServer

from archiver.evidence.ledger import GENESIS, canonical, entry_hash


def ledger_lines(storage: Path) -> list[str]:
    return (storage / "ledger.jsonl").read_text(encoding="utf-8").splitlines()


def problems(stderr: str, kind: str = "ledger") -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"archiver: {kind}: ")]


@pytest.fixture(scope="module")
def pristine(server: TestServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    storage = tmp_path_factory.mktemp("ledger") / "storage"
    for urls in ([server.url("page/a")], [server.url("page/b")]):  # one capture per batch: entries are known
        done = invoke(storage, "snapshot", *urls, "--per-host-delay", "0")
        assert done.exit_code == 0, done.output
    return storage


@pytest.fixture()
def storage(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "storage"))


def test_runs_append_a_chain_that_verify_recomputes(storage: Path) -> None:
    rows = sql(storage, "SELECT seq, kind, event, prev, hash FROM ledger ORDER BY seq")
    assert [r[1] for r in rows] == ["captures", "warc_closed", "captures", "warc_closed"]
    prev = GENESIS
    for seq, _, event, before, digest in rows:
        assert before == prev and digest == hashlib.sha256((prev + event).encode()).hexdigest(), seq
        assert event == canonical(json.loads(event))  # sorted keys, no spaces
        prev = digest
    first = json.loads(rows[0][2])["captures"]
    assert [c["url"].rsplit("/", 1)[1] for c in first] == ["a"]
    assert all(c["payload_sha256"] and c["records"] for c in first)
    warc = json.loads(rows[1][2])
    assert (warc["size"], warc["sha256"]) == tuple(sql(storage, "SELECT size, sha256 FROM warc_files WHERE name = ?",
                                                       warc["warc"])[0])
    assert hashlib.sha256((storage / warc["warc"]).read_bytes()).hexdigest() == warc["sha256"]
    assert [json.loads(line)["hash"] for line in ledger_lines(storage)] == [r[4] for r in rows]
    done = run(storage, "verify")
    assert done.returncode == 0, done.stderr
    assert sql(storage, "SELECT kind FROM ledger ORDER BY seq DESC LIMIT 1") == [("audit",)]  # the audit, logged


def forge_body(storage: Path, suffix: str) -> tuple[str, int]:
    """Change a byte of a page's archived body and make every fixity proof agree again: the record's
    WARC digests, its gzip member, the file's later offsets, the records, captures and warc_files rows.
    Returns (WARC name, capture id)."""
    (warc, offset, length, capture_id), = sql(
        storage, 'SELECT warc, "offset", length, capture_id FROM records WHERE rec_type = \'response\''
        " AND uri LIKE ?", f"%{suffix}")
    path = storage / warc
    data = path.read_bytes()
    raw = zlib.decompress(data[offset:offset + length], 31)
    head, block = raw.split(b"\r\n\r\n", 1)
    block = block[:-4]
    http_head, body = block.split(b"\r\n\r\n", 1)
    forged = body.replace(b"cited source", b"cited SOURCE", 1)
    assert forged != body
    new_block = http_head + b"\r\n\r\n" + forged

    def sha1(b: bytes) -> str:
        return "sha1:" + base64.b32encode(hashlib.sha1(b).digest()).decode()

    head = head.replace(sha1(block).encode(), sha1(new_block).encode()).replace(sha1(body).encode(),
                                                                                 sha1(forged).encode())
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    member = z.compress(head + b"\r\n\r\n" + new_block + b"\r\n\r\n") + z.flush()
    new = data[:offset] + member + data[offset + length:]
    path.write_bytes(new)
    delta = len(member) - length
    sql(storage, 'UPDATE records SET "offset" = "offset" + ? WHERE warc = ? AND "offset" > ?', delta, warc, offset)
    sql(storage, "UPDATE records SET length = ?, payload_digest = ? WHERE warc = ? AND \"offset\" = ?",
        len(member), sha1(forged), warc, offset)
    sql(storage, "UPDATE captures SET payload_sha256 = ?, payload_sha1 = ? WHERE id = ?",
        hashlib.sha256(forged).hexdigest(), sha1(forged).removeprefix("sha1:"), capture_id)
    sql(storage, "UPDATE warc_files SET size = ?, sha256 = ? WHERE name = ?", len(new),
        hashlib.sha256(new).hexdigest(), warc)
    return warc, capture_id


def test_a_warc_and_its_rows_forged_together_pass_fixity_but_not_the_log(storage: Path) -> None:
    warc, capture_id = forge_body(storage, "/page/a")
    done = run(storage, "verify")
    assert done.returncode == 1, done.stderr
    found = problems(done.stderr)
    assert found == [
        line for line in found if "ledger entry" in line], found
    assert not problems(done.stderr, "record_damaged") and not problems(done.stderr, "altered")  # fixity: fooled
    assert any(line.startswith("archiver: ledger: ledger entry 1 (capture 1): capture "
                               f"{capture_id}: payload_sha256, records differ") for line in found), found
    # the forged member is often a few bytes longer or shorter, sometimes as long: size, else sha256
    assert any(re.search(rf"ledger entry 2 \(closed WARC {re.escape(warc)}\): (size|sha256) recorded in the log", line)
               for line in found), found


def test_the_mirror_truncated(storage: Path) -> None:
    kept = ledger_lines(storage)[:2]
    (storage / "ledger.jsonl").write_text("\n".join(kept) + "\n", encoding="utf-8")
    done = run(storage, "verify")
    assert done.returncode == 1
    assert problems(done.stderr) == [
        "archiver: ledger: ledger.jsonl line 3: ends after 2 lines, the database holds 4 entries: truncated"
        " (entry 3, capture 2, is missing)"]


def test_the_log_truncated_in_both_places(storage: Path) -> None:
    """The end of the log removed from the table and the mirror alike: the captures and WARC file it
    covered are then covered by no entry."""
    sql(storage, "DELETE FROM ledger WHERE seq >= 3")
    (storage / "ledger.jsonl").write_text("\n".join(ledger_lines(storage)[:2]) + "\n", encoding="utf-8")
    done = invoke(storage, "verify")
    assert done.exit_code == 1
    found = problems(done.stderr)
    assert "archiver: ledger: ledger: 1 captures are covered by no entry (first: capture 2): the log was cut off" \
           " or its entries deleted" in found
    assert any("is covered by no entry (1 in all)" in line for line in found), found


def test_two_entries_swapped(storage: Path) -> None:
    rows = sql(storage, "SELECT seq, at, kind, event, prev, hash FROM ledger WHERE seq IN (2, 3) ORDER BY seq")
    for (seq, *_), (_, *rest) in zip(rows, reversed(rows), strict=True):
        sql(storage, "UPDATE ledger SET at = ?, kind = ?, event = ?, prev = ?, hash = ? WHERE seq = ?", *rest, seq)
    lines = ledger_lines(storage)
    lines[1:3] = [json.dumps({**json.loads(line), "seq": n}, sort_keys=True, separators=(",", ":"),
                             ensure_ascii=False) for n, line in ((2, lines[2]), (3, lines[1]))]
    (storage / "ledger.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = invoke(storage, "verify")
    assert done.exit_code == 1
    chain = [line for line in problems(done.stderr) if "previous hash" in line]
    assert len(chain) == 1 and chain[0].startswith("archiver: ledger: ledger entry 2 (capture 2): its previous hash")
    assert "entries removed, swapped or rewritten" in chain[0]


def test_an_entry_deleted(storage: Path) -> None:
    sql(storage, "DELETE FROM ledger WHERE seq = 2")
    lines = ledger_lines(storage)
    (storage / "ledger.jsonl").write_text("\n".join(lines[:1] + lines[2:]) + "\n", encoding="utf-8")
    done = invoke(storage, "verify")
    assert done.exit_code == 1
    assert problems(done.stderr)[0] == ("archiver: ledger: ledger entry 3 (capture 2): entry 2 is missing: the log"
                                        " jumps from 1 to 3 (an entry deleted)")


def test_an_entry_rewritten_with_its_own_hash_breaks_the_next_link(storage: Path) -> None:
    """A forger who rewrites an entry and its hash: the next entry's previous hash no longer matches."""
    (event,), = sql(storage, "SELECT event FROM ledger WHERE seq = 2")
    forged = event.replace('"size":', '"size":1', 1)
    (prev,), = sql(storage, "SELECT prev FROM ledger WHERE seq = 2")
    sql(storage, "UPDATE ledger SET event = ?, hash = ? WHERE seq = 2", forged, entry_hash(prev, forged))
    done = invoke(storage, "verify")
    assert done.exit_code == 1
    assert problems(done.stderr)[0].startswith("archiver: ledger: ledger entry 3 (capture 2): its previous hash")


def test_the_mirror_edited_alone(storage: Path) -> None:
    lines = ledger_lines(storage)
    entry = json.loads(lines[1])
    entry["event"]["sha256"] = "0" * 64
    lines[1] = canonical(entry)
    (storage / "ledger.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run(storage, "verify", "--json")
    assert done.returncode == 1
    assert problems(done.stderr) == [f"archiver: ledger: ledger.jsonl line 2: differs from ledger entry 2 (closed"
                                     f" WARC {entry['event']['warc']}) in the database: field event"]
    assert json.loads(done.stdout)["problems"][0]["kind"] == "ledger"


def test_the_log_switched_off_appends_nothing(server: TestServer, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    done = invoke(storage, "snapshot", server.url("page/a"), env={"ARCHIVER_LEDGER": "0"})
    assert done.exit_code == 0, done.output
    assert sql(storage, "SELECT COUNT(*) FROM ledger") == [(0,)] and not (storage / "ledger.jsonl").exists()
