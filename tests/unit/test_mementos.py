"""Memento parts without a network: TimeMap parsing, the nearest memento, raw forms, the archives
setting, and the copies table's reads (best copy, the citation_copies view)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from archiver import stamps
from archiver.config import load_settings
from archiver.copies import best_copies
from archiver.copies.archives import DEFAULT_ARCHIVES, MementoArchive, archives_of
from archiver.copies.lookup import Memento, nearest, parse_timemap, target_of
from archiver.db.archive_db import ArchiveDB
from archiver.errors import ConfigError

IA = "https://web.archive.org/web"
TIMEMAP = f"""<http://a.example/>; rel="original",
<{IA}/timemap/link/http://a.example/>; rel="self"; type="application/link-format";
 from="Wed, 01 Jan 2020 00:00:00 GMT",
<{IA}/http://a.example/>; rel="timegate",
<{IA}/20200101000000/http://a.example/>; rel="first memento"; datetime="Wed, 01 Jan 2020 00:00:00 GMT",
<{IA}/20210615000000/http://a.example/>; rel="memento"; datetime="Tue, 15 Jun 2021 00:00:00 GMT",
</web/20230101000000/http://a.example/>; rel="last memento"; datetime="Sun, 01 Jan 2023 00:00:00 GMT"
"""


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)  # type: ignore[misc]


def test_timemap_lists_mementos_only_with_their_datetimes_and_absolute_urls() -> None:
    found = parse_timemap(TIMEMAP, "https://web.archive.org/web/timemap/link/http://a.example/")
    assert [m.url for m in found] == [
        "https://web.archive.org/web/20200101000000/http://a.example/",
        "https://web.archive.org/web/20210615000000/http://a.example/",
        "https://web.archive.org/web/20230101000000/http://a.example/",
    ]
    assert found[1].datetime == utc(2021, 6, 15)
    assert parse_timemap("", "https://x/") == []
    assert parse_timemap('<http://a.example/>; rel="original"', "https://x/") == []


def test_nearest_memento_first_either_side() -> None:
    ms = [Memento("a", utc(2020, 1, 1)), Memento("b", utc(2021, 6, 15)), Memento("c", utc(2023, 1, 1))]
    assert [m.url for m in nearest(ms, utc(2022, 10, 1))] == ["c", "b", "a"]
    assert [m.url for m in nearest(ms, utc(2020, 2, 1))][0] == "a"
    # equally near: the earlier one
    tied = [Memento("late", utc(2020, 1, 3)), Memento("early", utc(2020, 1, 1))]
    assert nearest(tied, utc(2020, 1, 2))[0].url == "early"


def test_raw_form_of_wayback_style_archives() -> None:
    ia = MementoArchive("ia", "t", None, wayback=True)
    assert ia.raw_url("https://web.archive.org/web/20200101000000/http://a.example/x") == \
        "https://web.archive.org/web/20200101000000id_/http://a.example/x"
    assert ia.raw_url("https://web.archive.org/web/20200101000000if_/http://a.example/") == \
        "https://web.archive.org/web/20200101000000id_/http://a.example/"
    other = MementoArchive("today", "t", None)
    assert other.raw_url("https://archive.ph/abcde") == "https://archive.ph/abcde"


def test_target_is_accessed_else_first_capture_else_now() -> None:
    now = utc(2026, 1, 1)
    assert target_of("2020-03-05", "2024-01-01T00:00:00.000000Z", now) == utc(2020, 3, 5)
    assert target_of(None, "2024-01-01T00:00:00.000000Z", now) == utc(2024, 1, 1)
    assert target_of(None, None, now) == now


def test_archives_setting_names_defaults_and_adds_tables(tmp_path: Path) -> None:
    assert archives_of(()) == DEFAULT_ARCHIVES
    config = tmp_path / "a.toml"
    config.write_text('archives = ["internet_archive", {name = "mine", timemap = "http://m.example/tm/{url}"}]\n')
    chosen = archives_of(load_settings(config, env={}).archives)
    assert [a.name for a in chosen] == ["internet_archive", "mine"]
    assert chosen[1].timemap == "http://m.example/tm/{url}" and chosen[1].timegate is None
    env = load_settings(None, env={"ARCHIVER_ARCHIVES": "arquivo_pt,perma_cc"}).archives
    assert [a.name for a in archives_of(env)] == ["arquivo_pt", "perma_cc"]
    with pytest.raises(ConfigError):
        archives_of(load_settings(None, env={"ARCHIVER_ARCHIVES": "nosuch"}).archives)
    config.write_text('archives = [{name = "bad"}]\n')
    with pytest.raises(ConfigError):
        load_settings(config, env={})


def _row(url: str, archive: str, memento: str | None, status: str,
         checked: str = "2026-01-01T00:00:00.000000Z") -> dict[str, str | None]:
    return {"fetch_url": url, "archive": archive, "memento_url": memento and f"http://{archive}/{memento}",
            "memento_datetime": memento, "target_datetime": "2020-03-05T00:00:00.000000Z", "checked_at": checked,
            "status": status, "detail": None}


def test_best_copy_is_nearest_of_each_archives_newest_ok_answer(tmp_path: Path) -> None:
    with ArchiveDB.open(tmp_path / "a.db") as db:
        db.add_copies([
            _row("http://x/", "far", "2023-01-01T00:00:00.000000Z", "ok"),
            _row("http://x/", "near", "2020-03-01T00:00:00.000000Z", "ok"),
            # an archive's newer answer replaces its older one: its near copy is now an error page
            _row("http://x/", "nearest", "2020-03-05T00:00:00.000000Z", "ok"),
            _row("http://x/", "nearest", "2020-03-05T00:00:00.000000Z", "error_page", "2026-01-02T00:00:00.000000Z"),
            _row("http://y/", "near", None, "no_copy"),
        ])
        best = best_copies(db, ["http://x/", "http://y/", "http://z/"])
        assert set(best) == {"http://x/"}
        assert best["http://x/"].archive == "near"
        assert best["http://x/"].datetime == stamps.parse("2020-03-01T00:00:00Z")
        db.db.execute("INSERT INTO citations (manifest, key, citation_id, url, fetch_url) VALUES"
                      " ('m', 'k', 'c1', 'http://x/', 'http://x/')")
        view = db.db.execute("SELECT citation_id, archive, rank FROM citation_copies ORDER BY rank").fetchall()
        assert view == [("c1", "near", 1), ("c1", "far", 2)]
        with pytest.raises(ValueError):
            db.add_copies([_row("http://x/", "a", None, "maybe")])
