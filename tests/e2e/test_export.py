"""`archiver export`: WACZ packages and WARC files of one manifest's captures, after real snapshots."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import FAST, invoke, require_module
from server import TestServer
from warcio.archiveiterator import ArchiveIterator
from warclint import check_warcs

require_module("wacz", "the replay extra: pip install -e '.[replay]'")
WACZ = str(Path(sys.executable).with_name("wacz"))


def next_second() -> None:
    """WARC dates and CDXJ timestamps have one-second resolution: keep two captures apart."""
    time.sleep(1.02 - time.time() % 1)


@pytest.fixture()
def archived(fresh_server: TestServer, storage: Path, tmp_path: Path) -> dict:
    """A manifest with a page (captured twice: a response, then a revisit), a redirect chain and a 404,
    and a page outside the manifest, snapshotted for real."""
    urls = {"page": fresh_server.url("page/cited"), "chain": fresh_server.url("redirect/2"),
            "gone": fresh_server.url("status/404")}
    manifest = tmp_path / "paper.yaml"
    entries = "".join(f"  - url: {u}\n    id: {k}\n" for k, u in urls.items())
    manifest.write_text("title: A paper\ncitations:\n" + entries)
    assert invoke(storage, "snapshot", str(manifest), *FAST).exit_code == 1  # the 404 fails the run
    next_second()
    assert invoke(storage, "snapshot", str(manifest), *FAST).exit_code == 1
    other = fresh_server.url("page/not-cited")
    assert invoke(storage, "snapshot", other, *FAST).exit_code == 0
    return {"manifest": manifest, "urls": urls, "other": other}


def db(storage: Path, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(storage / "archiver.db")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def expected_records(storage: Path, urls: list[str]) -> dict[str, sqlite3.Row]:
    """Record ids an export of these URLs must hold: every record of their captures and of the
    captures their revisits refer to (worked out here independently of export's own query)."""
    marks = ",".join("?" * len(urls))
    captures = {r["id"] for r in db(storage, f"SELECT id FROM captures WHERE fetch_url IN ({marks})", tuple(urls))}
    captures |= {r["refers_to"] for r in db(storage, f"SELECT refers_to FROM captures WHERE fetch_url IN ({marks})"
                                            " AND refers_to IS NOT NULL", tuple(urls))}
    rows = db(storage, f"SELECT * FROM records WHERE capture_id IN ({','.join('?' * len(captures))})",
              tuple(captures))
    return {r["record_id"]: r for r in rows}


def read_records(data: bytes) -> list[tuple[str, dict[str, str], int, bytes]]:
    out = []
    it = ArchiveIterator(io.BytesIO(data))
    for rec in it:
        body = rec.content_stream().read()
        out.append((rec.rec_type, dict(rec.rec_headers.headers), it.get_record_offset(), body))
    return out


def test_wacz_validates_hashes_match_and_holds_exactly_the_manifest(archived: dict, storage: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "paper.wacz"
    result = invoke(storage, "export", str(archived["manifest"]), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert "wrote" in result.stderr and not out.with_name("paper.wacz.part").exists()

    check = subprocess.run([WACZ, "validate", "-f", str(out)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "Validation succeeded" in check.stdout, check.stdout + check.stderr

    with zipfile.ZipFile(out) as package:
        names = package.namelist()
        package_json = package.read("datapackage.json")
        datapackage = json.loads(package_json)
        assert datapackage["profile"] == "data-package" and datapackage["wacz_version"] == "1.1.1"
        assert json.loads(package.read("datapackage-digest.json"))["hash"] == (
            "sha256:" + hashlib.sha256(package_json).hexdigest())
        listed = {r["path"]: r for r in datapackage["resources"]}
        assert set(listed) == set(names) - {"datapackage.json", "datapackage-digest.json"}
        for path, resource in listed.items():
            data = package.read(path)
            assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest(), path
            assert resource["bytes"] == len(data), path
        [warc_name] = [n for n in names if n.startswith("archive/")]
        assert package.getinfo(warc_name).compress_type == zipfile.ZIP_STORED  # readers seek into it
        warc = package.read(warc_name)
        index = package.read("indexes/index.cdxj").decode().splitlines()
        pages = [json.loads(line) for line in package.read("pages/pages.jsonl").decode().splitlines()]

    # The WARC: a warcinfo, then exactly the manifest's records, byte for byte as stored.
    records = read_records(warc)
    assert records[0][0] == "warcinfo"
    want = expected_records(storage, list(archived["urls"].values()))
    got = {h["WARC-Record-ID"]: (t, h, offset) for t, h, offset, _ in records[1:]}
    assert set(got) == set(want)
    assert archived["other"] not in {h.get("WARC-Target-URI") for _, h, _ in got.values()}
    assert {t for t, _, _ in got.values()} == {"request", "response", "revisit"}
    for record_id, (_, _, offset) in got.items():
        source = want[record_id]
        with open(storage / source["warc"], "rb") as f:
            f.seek(source["offset"])
            assert warc[offset:offset + source["length"]] == f.read(source["length"])
    revisits = [h for t, h, _ in got.values() if t == "revisit"]
    assert revisits and all(h["WARC-Refers-To"] in got for h in revisits)

    # The index: every response and revisit, sorted, each offset landing on its record.
    assert index == sorted(index)
    entries = [json.loads(line.split(" ", 2)[2]) for line in index]
    assert len(entries) == sum(1 for t, _, _ in got.values() if t in ("response", "revisit"))
    by_offset = {offset: (t, h) for t, h, offset in got.values()}
    for entry in entries:
        rec_type, headers = by_offset[int(entry["offset"])]
        assert headers["WARC-Target-URI"] == entry["url"]
        assert entry["filename"] == Path(warc_name).name
        assert (entry["mime"] == "warc/revisit") == (rec_type == "revisit")
    statuses = {e["url"]: e["status"] for e in entries}
    assert statuses[archived["urls"]["chain"]] == "302" and statuses[archived["urls"]["gone"]] == "404"

    # Pages: a header, then the cited URLs with a successful capture (not the 404), with titles.
    assert pages[0]["format"] == "json-pages-1.0"
    assert {p["url"]: p.get("title") for p in pages[1:]} == {archived["urls"]["page"]: "cited",
                                                             archived["urls"]["chain"]: "final"}
    assert all(p["ts"].endswith("Z") and len(p["ts"]) == 20 for p in pages[1:])


def test_warc_format_is_one_valid_warc_of_the_manifest(archived: dict, storage: Path, tmp_path: Path) -> None:
    out = tmp_path / "paper.warc.gz"
    # By the manifest's name, as the database knows it.
    result = invoke(storage, "export", "paper", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    records = read_records(out.read_bytes())
    assert records[0][0] == "warcinfo"
    want = expected_records(storage, list(archived["urls"].values()))
    assert {h["WARC-Record-ID"] for _, h, _, _ in records[1:]} == set(want)
    report = check_warcs([out])
    assert report.ok, [str(f) for f in report.findings]
    warcio = subprocess.run([sys.executable, "-m", "warcio.cli", "check", str(out)], capture_output=True, text=True)
    assert warcio.returncode == 0, warcio.stdout + warcio.stderr


def test_export_errors_map_to_exit_codes(archived: dict, storage: Path, tmp_path: Path) -> None:
    unknown = invoke(storage, "export", "no-such-manifest", "-o", str(tmp_path / "x.wacz"))
    assert unknown.exit_code == 2 and "no-such-manifest" in unknown.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("citations: [unclosed\n")
    assert invoke(storage, "export", str(bad), "-o", str(tmp_path / "x.wacz")).exit_code == 3
    never = tmp_path / "never.txt"
    never.write_text("http://127.0.0.1:9/never-captured\n")
    assert invoke(storage, "export", str(never), "-o", str(tmp_path / "x.wacz")).exit_code == 1
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = invoke(storage, "export", str(archived["manifest"]), "-o", str(blocker / "x.wacz"))
    assert unwritable.exit_code == 4 and "cannot write" in unwritable.stderr
    assert not list(tmp_path.glob("*.wacz*"))
