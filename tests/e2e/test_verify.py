"""`archiver verify` against real WARCs written by real `archiver snapshot` runs, then damaged on disk:
a byte flipped in a record body or a gzip header, a file cut inside its last record, a file removed, a
stray file added, an `.open` file left by a killed writer, a database that cannot be written."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ARCHIVER, LOCAL_ENV, invoke, run, sql
from server import TestServer

# The random body is served as an image: already-compressed types are written in stored deflate blocks,
# so its bytes sit in the WARC as sent and one can be edited in place (test_changed_body_...).
ROUTES = ["page/a", "chunked", "redirect/2", "state/verify", "random?size=300000&type=image/png&seed=7"]


def files(storage: Path) -> list[tuple[str, str, int]]:
    """(name, created_at, size) of each WARC file, oldest first."""
    return [tuple(r) for r in sql(storage, "SELECT name, created_at, size FROM warc_files ORDER BY created_at")]


def record(storage: Path, rec_type: str, uri_suffix: str) -> dict[str, Any]:
    rows = [r for r in sql(storage, 'SELECT warc, "offset", length, record_id, uri FROM records WHERE rec_type = ?',
                           rec_type) if (r[4] or "").endswith(uri_suffix)]
    assert len(rows) == 1, rows
    return dict(zip(("warc", "offset", "length", "record_id", "uri"), rows[0], strict=True))


def last_record(storage: Path, warc: str) -> dict[str, Any]:
    row = sql(storage, 'SELECT "offset", length, record_id, uri FROM records WHERE warc = ? ORDER BY "offset" DESC'
              " LIMIT 1", warc)[0]
    return {"warc": warc, "offset": row[0], "length": row[1], "record_id": row[2], "uri": row[3]}


def flip(path: Path, at: int, mask: int = 0x01) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)[0]
        f.seek(at)
        f.write(bytes([byte ^ mask]))


def lines(text: str, kind: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"archiver: {kind}: ")]


def verify(storage: Path, *args: str) -> tuple[int, str, str]:
    result = invoke(storage, "verify", *args)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def pristine(server: TestServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two snapshot runs (two WARC files; the second holds a revisit), left untouched."""
    storage = tmp_path_factory.mktemp("verify") / "storage"
    first = invoke(storage, "snapshot", *(server.url(r) for r in ROUTES), "--per-host-delay", "0")
    assert first.exit_code == 0, first.output
    time.sleep(0.01)  # distinct created_at for --since
    again = invoke(storage, "snapshot", server.url("state/verify"), "--per-host-delay", "0")
    assert again.exit_code == 0, again.output
    assert len(files(storage)) == 2
    assert sql(storage, "SELECT COUNT(*) FROM records WHERE rec_type = 'revisit'") == [(1,)]
    return storage


@pytest.fixture()
def storage(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the archive for a test to damage."""
    return Path(shutil.copytree(pristine, tmp_path / "storage"))


def test_clean_archive_exits_0_and_records_the_audit(storage: Path) -> None:
    code, out, err = verify(storage)
    assert code == 0, err
    assert "intact, 0 problems" in err and not lines(err, "record_damaged")
    total = sum(size for _, _, size in files(storage))
    n_records = sql(storage, "SELECT COUNT(*) FROM records")[0][0]
    audits = sql(storage, "SELECT mode, files, records, bytes, problems, warnings, status, finished_at FROM audits")
    assert audits[0][:7] == ("full", 2, n_records, total, 0, 0, "intact") and audits[0][7]
    assert sql(storage, "SELECT COUNT(*) FROM audit_problems") == [(0,)]
    code, _, err = verify(storage, "--quick")
    assert code == 0, err
    assert sql(storage, "SELECT mode, files, records, bytes, status FROM audits WHERE id = 2") == [
        ("quick", 2, 0, total, "intact")]


def test_flipped_byte_in_a_record_body_names_the_file_and_the_record(storage: Path) -> None:
    rec = record(storage, "response", "seed=7")
    flip(storage / rec["warc"], rec["offset"] + rec["length"] // 2)
    code, _, err = verify(storage)
    assert code == 1
    recorded = sql(storage, "SELECT sha256 FROM warc_files WHERE name = ?", rec["warc"])[0][0]
    actual = hashlib.sha256((storage / rec["warc"]).read_bytes()).hexdigest()
    assert lines(err, "altered") == [f"archiver: altered: {rec['warc']}: sha256 {actual} != recorded {recorded}"]
    damaged = lines(err, "record_damaged")
    assert len(damaged) == 1, err
    assert damaged[0].startswith(f"archiver: record_damaged: {rec['warc']}@{rec['offset']}: {rec['record_id']} "
                                 f"{rec['uri']}: ")
    assert "incorrect data check" in damaged[0]  # the gzip CRC: the body's bytes are stored as they came
    # --quick finds the file, not the record
    code, _, err = verify(storage, "--quick")
    assert code == 1 and len(lines(err, "altered")) == 1 and not lines(err, "record_damaged")


def test_flipped_byte_in_a_gzip_header(storage: Path) -> None:
    """The magic bytes: the record is no gzip member any more. The mtime field: no content changed, so
    only the whole-file sha256 can tell, and does."""
    rec = record(storage, "response", "/page/a")
    other = record(storage, "response", "/chunked")
    flip(storage / rec["warc"], rec["offset"] + 1)  # 0x8b of the gzip magic
    flip(storage / other["warc"], other["offset"] + 5)  # a byte of MTIME
    code, _, err = verify(storage)
    assert code == 1
    assert len(lines(err, "altered")) == 1 and f"altered: {rec['warc']}: sha256 " in err
    damaged = lines(err, "record_damaged")
    assert len(damaged) == 1, err
    assert damaged[0].startswith(f"archiver: record_damaged: {rec['warc']}@{rec['offset']}: {rec['record_id']} ")
    assert "not a whole gzip member" in damaged[0] and "incorrect header check" in damaged[0]


def test_changed_body_with_a_repaired_gzip_crc_is_caught_by_the_digests(storage: Path) -> None:
    """A deliberate edit: one body byte changed and the gzip CRC fixed to match, so the member inflates
    cleanly; the block and payload digests (and the file's sha256) still tell."""
    rec = record(storage, "response", "seed=7")
    path = storage / rec["warc"]
    data = bytearray(path.read_bytes())
    member = bytes(data[rec["offset"]: rec["offset"] + rec["length"]])
    rng = random.Random(7)  # the body as the server sent it
    body = b"".join(rng.randbytes(min(65536, 300000 - n)) for n in range(0, 300000, 65536))
    sample = body[200000:200064]  # far from the compressible headers, in a stored deflate block
    at = member.find(sample)
    assert at > 0, "an image's bytes are stored, not compressed"
    member = bytearray(member)
    member[at + 10] ^= 0x20
    raw = zlib.decompressobj(-15).decompress(bytes(member[10:-8]))
    member[-8:-4] = struct.pack("<I", zlib.crc32(raw))
    data[rec["offset"]: rec["offset"] + rec["length"]] = member
    path.write_bytes(bytes(data))
    code, _, err = verify(storage)
    assert code == 1
    damaged = lines(err, "record_damaged")
    assert len(damaged) == 1 and damaged[0].startswith(f"archiver: record_damaged: {rec['warc']}@{rec['offset']}: ")
    assert "block digest" in damaged[0] and "payload digest" in damaged[0]
    assert "gzip" not in damaged[0]


@pytest.mark.parametrize("keep", [0.5, 5], ids=["inside-the-body", "inside-the-gzip-header"])
def test_cut_inside_the_last_record_is_truncated_naming_the_record(storage: Path, keep: float) -> None:
    name, _, size = files(storage)[0]
    rec = last_record(storage, name)
    cut = rec["offset"] + (int(rec["length"] * keep) if keep < 1 else int(keep))
    os.truncate(storage / name, cut)
    code, _, err = verify(storage)
    assert code == 1
    assert lines(err, "truncated") == [f"archiver: truncated: {name}: {cut} bytes, recorded {size}"
                                       f" ({size - cut} bytes missing)"]
    damaged = lines(err, "record_damaged")
    assert len(damaged) == 1, err
    assert damaged[0].startswith(f"archiver: record_damaged: {name}@{rec['offset']}: {rec['record_id']}")
    assert damaged[0].endswith(f"file ends {cut - rec['offset']} bytes into the record ({rec['length']} bytes)")
    assert not lines(err, "altered")


def gzip1(raw: bytes) -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    return z.compress(raw) + z.flush()


def test_records_must_each_be_one_whole_gzip_member(storage: Path) -> None:
    """The last record of a file split into two members; the two before it merged into one. Every
    other record keeps its offset."""
    name = files(storage)[0][0]
    rows = sql(storage, 'SELECT "offset", length, record_id FROM records WHERE warc = ? ORDER BY "offset"', name)
    (o1, l1, id1), (o2, l2, id2), (o3, l3, id3) = rows[-3:]
    path = storage / name
    data = path.read_bytes()
    raw = [zlib.decompress(data[o: o + n], 31) for o, n in ((o1, l1), (o2, l2), (o3, l3))]
    merged = gzip1(raw[0] + raw[1])
    filler = b"\0" * (l1 + l2 - len(merged))  # keeps the last record at its offset
    assert len(merged) < l1 + l2
    path.write_bytes(data[:o1] + merged + filler + gzip1(raw[2][:100]) + gzip1(raw[2][100:]))
    code, _, err = verify(storage)
    assert code == 1
    damaged = {line.split(": ")[2]: line for line in lines(err, "record_damaged")}
    assert set(damaged) == {f"{name}@{o1}", f"{name}@{o2}", f"{name}@{o3}"}, err
    assert damaged[f"{name}@{o1}"].endswith(("gzip member holds more than one record",
                                             f"the gzip member goes on past the record's {l1} bytes"))
    assert "not a whole gzip member" in damaged[f"{name}@{o2}"]  # its offset is inside the merged member
    first_part = len(gzip1(raw[2][:100]))
    assert damaged[f"{name}@{o3}"].endswith(f"gzip member ends after {first_part} of the record's {l3} bytes")


def test_removed_file_is_missing_by_name(storage: Path) -> None:
    name = files(storage)[1][0]
    (storage / name).unlink()
    code, _, err = verify(storage)
    assert code == 1
    assert lines(err, "missing") == [f"archiver: missing: {name}: no such file"]
    assert lines(err, "record_damaged") == [] and lines(err, "altered") == []
    assert sql(storage, "SELECT kind, warc, offset FROM audit_problems") == [("missing", name, None)]


def test_unknown_files_are_a_warning_only(storage: Path) -> None:
    known = storage / files(storage)[0][0]
    shutil.copy(known, storage / "warcs" / "stray.warc.gz")
    shutil.copy(known, storage / "warcs" / "other.warc.gz.open")
    (storage / "warcs" / "notes.txt").write_text("not a WARC")
    code, _, err = verify(storage)
    assert code == 0, err
    assert lines(err, "warning") == [
        "archiver: warning: unknown_file: warcs/other.warc.gz.open: not in the database: not verified",
        "archiver: warning: unknown_file: warcs/stray.warc.gz: not in the database: not verified"]
    assert sql(storage, "SELECT status, problems, warnings FROM audits") == [("intact", 0, 2)]
    assert sorted(sql(storage, "SELECT kind, warc FROM audit_problems")) == [
        ("unknown_file", "warcs/other.warc.gz.open"), ("unknown_file", "warcs/stray.warc.gz")]


def test_since_limits_the_files(storage: Path) -> None:
    (first, _, _), (second, second_created, _) = files(storage)
    flip(storage / first, 100)  # damage the older file only
    code, _, err = verify(storage, "--since", second_created)
    assert code == 0, err
    assert sql(storage, "SELECT files, since FROM audits") == [(1, second_created)]
    code, _, err = verify(storage)
    assert code == 1 and f"altered: {first}" in err
    code, _, err = verify(storage, "--since", "2999-01-01")
    assert code == 0 and " 0 files" in err
    assert invoke(storage, "verify", "--since", "yesterday").exit_code == 2


def test_json_output(storage: Path) -> None:
    rec = record(storage, "response", "seed=7")
    flip(storage / rec["warc"], rec["offset"] + rec["length"] // 2)
    (storage / "warcs" / "stray.warc.gz").write_bytes(b"")
    code, out, _ = verify(storage, "--json")
    assert code == 1
    doc = json.loads(out)
    assert set(doc) == {"audit_id", "recorded", "status", "mode", "since", "started_at", "finished_at", "files",
                        "records", "bytes", "seconds", "mb_per_s", "database", "problems", "warnings"}
    assert {k: v for k, v in doc["database"].items() if k != "seconds"} == {
        "file": "archiver.db", "check": "quick_check", "status": "ok", "finding": None}
    assert (doc["status"], doc["mode"], doc["files"], doc["recorded"]) == ("damaged", "full", 2, True)
    assert doc["audit_id"] == sql(storage, "SELECT MAX(id) FROM audits")[0][0]
    assert [(p["kind"], p["warc"], p["offset"], p["record_id"], p["uri"]) for p in doc["problems"]] == [
        ("altered", rec["warc"], None, None, None),
        ("record_damaged", rec["warc"], rec["offset"], rec["record_id"], rec["uri"])]
    assert [(w["kind"], w["warc"]) for w in doc["warnings"]] == [("unknown_file", "warcs/stray.warc.gz")]
    assert all(set(p) == {"kind", "warc", "offset", "record_id", "uri", "detail"} for p in doc["problems"])


def test_audit_tables_hold_every_problem(storage: Path) -> None:
    (first, _, _), (second, _, _) = files(storage)
    rec = record(storage, "response", "/page/a")
    flip(storage / rec["warc"], rec["offset"] + 1)
    (storage / second).unlink()
    assert verify(storage)[0] == 1
    assert sql(storage, "SELECT id, status, files, problems, warnings FROM audits") == [(1, "damaged", 2, 3, 0)]
    assert sorted(sql(storage, "SELECT audit_id, kind, warc, offset, record_id, uri FROM audit_problems")) == [
        (1, "altered", first, None, None, None),
        (1, "missing", second, None, None, None),
        (1, "record_damaged", first, rec["offset"], rec["record_id"], rec["uri"])]


def test_payload_digest_is_checked_against_sqlite_for_responses_and_revisits(storage: Path) -> None:
    """Someone who rewrites a record and its WARC digests must also rewrite the database."""
    original = record(storage, "response", "/state/verify")
    revisit = record(storage, "revisit", "/state/verify")
    sql_write(storage, "UPDATE records SET payload_digest = 'sha1:AAAA' WHERE record_id = ?", original["record_id"])
    code, _, err = verify(storage)
    assert code == 1
    damaged = sorted(lines(err, "record_damaged"))
    assert len(damaged) == 2, err
    assert any(f"@{original['offset']}: " in d and d.endswith("!= recorded sha1:AAAA") for d in damaged)
    assert any(f"@{revisit['offset']}: " in d and d.endswith("!= original's recorded sha1:AAAA") for d in damaged)


def sql_write(storage: Path, query: str, *params: Any) -> None:
    conn = sqlite3.connect(storage / "archiver.db")
    try:
        with conn:
            conn.execute(query, params)
    finally:
        conn.close()


# -- a file still being written, and databases that cannot be written or read --------------------


def test_open_file_left_by_a_killed_writer_is_checked_up_to_its_last_committed_record(
    fresh_server: TestServer, tmp_path: Path
) -> None:
    storage = tmp_path / "storage"
    manifest = tmp_path / "busy.txt"
    manifest.write_text("\n".join(fresh_server.url(f"random?size=200000&seed={i}&pause=0.01") for i in range(30)))
    proc = subprocess.Popen([ARCHIVER, "--storage", str(storage), "snapshot", str(manifest), "--per-host-delay", "0",
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **LOCAL_ENV})
    try:
        deadline = time.monotonic() + 20
        while not (storage / "archiver.db").exists() or _committed(storage) < 6:
            assert time.monotonic() < deadline, "no capture committed"
            time.sleep(0.02)
    finally:
        proc.kill()  # -9: the file stays `.open`, perhaps ending in a record the database never heard of
        proc.wait(timeout=10)
    opened = list((storage / "warcs").glob("*.warc.gz.open"))
    assert len(opened) == 1 and sql(storage, "SELECT state FROM warc_files") == [("open",)]
    with open(opened[0], "ab") as f:
        f.write(b"\x1f\x8b half a record that was never committed")
    before = opened[0].read_bytes()
    n_records = sql(storage, "SELECT COUNT(*) FROM records")[0][0]
    code, _, err = verify(storage)
    assert code == 0, err
    assert sql(storage, "SELECT files, records, status FROM audits") == [(1, n_records, "intact")]
    assert opened[0].read_bytes() == before  # verify never recovers, cuts or renames
    name = sql(storage, "SELECT name FROM warc_files")[0][0]
    offset, length = sql(storage, 'SELECT "offset", length FROM records WHERE rec_type = \'response\' LIMIT 1')[0]
    rec = {"offset": offset, "length": length}
    flip(opened[0], rec["offset"] + rec["length"] // 2)
    code, _, err = verify(storage)
    assert code == 1 and not lines(err, "altered")  # no sha256 is recorded for an open file
    assert [line.split(": ")[2] for line in lines(err, "record_damaged")] == [f"{name}@{rec['offset']}"]


def _committed(storage: Path) -> int:
    try:
        return int(sql(storage, "SELECT COUNT(*) FROM records")[0][0])
    except sqlite3.Error:
        return 0


@pytest.fixture(params=["current", "older-schema"])
def frozen_db(storage: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """The database file made unwritable: immutable for root (who ignores modes), read-only otherwise.
    An older schema (an evidence copy made by an earlier archiver) cannot even be migrated: it is read
    as it is."""
    db = storage / "archiver.db"
    if request.param == "older-schema":
        sql_write(storage, "DROP TABLE audit_problems")
        sql_write(storage, "DROP TABLE audits")
        sql_write(storage, "PRAGMA user_version = 3")
    for extra in (storage / "archiver.db-wal", storage / "archiver.db-shm"):
        assert not extra.exists()  # checkpointed when the last writer closed
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(db)]).returncode != 0:
            pytest.skip("cannot make a file immutable here")
        try:
            yield db
        finally:
            subprocess.run(["chattr", "-i", str(db)], check=True)
    else:
        db.chmod(0o444)
        yield db


def test_unwritable_database_still_verifies_and_warns(storage: Path, frozen_db: Path) -> None:
    before = frozen_db.read_bytes()
    code, _, err = verify(storage)
    assert code == 0, err
    assert "archiver: warning: audit not recorded in the database: " in err and "(not recorded)" in err
    rec = record(storage, "response", "/page/a")
    flip(storage / rec["warc"], rec["offset"] + 1)
    proc = run(storage, "verify", "--json")  # the real console script, exit code and all
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["recorded"] is False
    assert len(lines(proc.stderr, "record_damaged")) == 1
    assert frozen_db.read_bytes() == before


def test_a_database_that_is_not_sqlite_is_damage_and_a_missing_one_exits_4(storage: Path, tmp_path: Path) -> None:
    (storage / "archiver.db").write_bytes(b"this is not an SQLite database" * 100)
    code, _, err = verify(storage)  # found damaged, like a WARC file: exit 1, a problem line naming it
    assert code == 1 and lines(err, "database_damaged") == [
        "archiver: database_damaged: archiver.db: not an SQLite database (its first bytes are not SQLite's header)"]
    code, _, err = verify(tmp_path / "nowhere")
    assert code == 4 and "no such file" in err
    assert not (tmp_path / "nowhere").exists()  # verify creates nothing
