"""archiver/evidence/ledger.py and timestamps.py on a real SQLite file: the hashed form, the head, the
mirror cut back after a commit that failed, recovery's close logged, the `tsa` setting."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from archiver.archive import Archive
from archiver.config import Settings, load_settings
from archiver.db import ArchiveDB
from archiver.errors import ConfigError
from archiver.evidence.ledger import GENESIS, MIRROR, Ledger, canonical, check_chain, entry_hash, head
from archiver.evidence.timestamps import imprint, verify_token


def test_the_hashed_form_is_sorted_compact_utf8() -> None:
    event = {"warc": "warcs/é.warc.gz", "size": 10, "a": [1, None]}
    assert canonical(event) == '{"a":[1,null],"size":10,"warc":"warcs/é.warc.gz"}'
    assert entry_hash(GENESIS, canonical(event)) == hashlib.sha256(
        ("0" * 64 + '{"a":[1,null],"size":10,"warc":"warcs/é.warc.gz"}').encode("utf-8")).hexdigest()


def test_head_of_an_empty_then_a_growing_log(tmp_path: Path) -> None:
    with ArchiveDB.open(tmp_path / "a.db") as db:
        assert head(db) == (0, GENESIS)
        ledger = Ledger(tmp_path)
        with db.transaction():
            first = ledger.append(db, "audit", {"audit_id": 1})
        with db.transaction():
            second = ledger.append(db, "audit", {"audit_id": 2})
        assert head(db) == (2, second.hash) and second.prev == first.hash
        assert check_chain(db, tmp_path) == []


def test_a_failed_commit_leaves_no_line_behind_once_the_next_entry_is_appended(tmp_path: Path) -> None:
    """The mirror line is fsynced before the commit; a transaction that rolls back leaves it past the
    database's last entry, and the next append cuts it off: the mirror is the database's log again."""
    with ArchiveDB.open(tmp_path / "a.db") as db:
        ledger = Ledger(tmp_path)
        with db.transaction():
            ledger.append(db, "audit", {"audit_id": 1})
        with pytest.raises(RuntimeError), db.transaction():
            ledger.append(db, "audit", {"audit_id": 2})
            raise RuntimeError("the commit fails")
        lines = (tmp_path / MIRROR).read_text().splitlines()
        assert [json.loads(line)["event"]["audit_id"] for line in lines] == [1, 2]
        assert [p.where for p in check_chain(db, tmp_path)] == [f"{MIRROR} line 2"]
        with db.transaction():
            ledger.append(db, "audit", {"audit_id": 3})
        lines = (tmp_path / MIRROR).read_text().splitlines()
        assert [json.loads(line)["event"]["audit_id"] for line in lines] == [1, 3]
        assert check_chain(db, tmp_path) == []


def test_a_foreign_last_line_is_never_cut(tmp_path: Path) -> None:
    with ArchiveDB.open(tmp_path / "a.db") as db:
        (tmp_path / MIRROR).write_text("not ours\n")
        with db.transaction():
            Ledger(tmp_path).append(db, "audit", {"audit_id": 1})
        assert (tmp_path / MIRROR).read_text().splitlines()[0] == "not ours"
        assert check_chain(db, tmp_path)[0].detail.startswith("differs from ledger entry 1")


def test_recovery_logs_the_close_of_an_abandoned_file(tmp_path: Path) -> None:
    settings = Settings(storage=tmp_path / "storage")
    with Archive(settings) as archive:
        warc = archive.store.prepare(10)  # a file opened, its warcinfo committed, never closed
        warc.handle.close()  # as a crash leaves it: unlocked, still .open
        archive.store.current = None
    with Archive(settings) as archive:
        assert archive.recovered == [warc.name]
        kinds = [(e.kind, json.loads(e.event)["warc"]) for e in archive.db.ledger_entries()]
        assert kinds == [("warc_closed", warc.name)]
        assert check_chain(archive.db, settings.storage) == []


def test_tsa_setting_from_file_and_env(tmp_path: Path) -> None:
    config = tmp_path / "archiver.toml"
    config.write_text('[archiver]\ntsa = [{url = "https://tsa.example/tsr", ca_bundle = "ca.pem"}]\n')
    assert load_settings(config, env={}).tsa == (("https://tsa.example/tsr", "ca.pem"),)
    env = {"ARCHIVER_TSA": "http://a.example/|a.pem,http://b.example/|b.pem"}
    assert load_settings(env=env).tsa == (("http://a.example/", "a.pem"), ("http://b.example/", "b.pem"))
    assert Settings().tsa == () and Settings().ledger


@pytest.mark.parametrize("value", ['["https://tsa.example/"]', '[{url = "ftp://x/", ca_bundle = "c"}]',
                                   '[{url = "https://x/"}]'])
def test_bad_tsa_entries_name_the_file(tmp_path: Path, value: str) -> None:
    config = tmp_path / "archiver.toml"
    config.write_text(f"[archiver]\ntsa = {value}\n")
    with pytest.raises(ConfigError, match=f"{config}: tsa"):
        load_settings(config, env={})


def test_garbage_is_no_token(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("")
    check = verify_token(b"\x30\x03\x02\x01\x00", imprint("ab" * 32), tmp_path / "ca.pem")
    assert not check.ok and check.detail.startswith("not an RFC 3161 timestamp response")
