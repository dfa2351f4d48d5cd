"""cdx.py: the query sent and both answer forms read (the Internet Archive's JSON array, pywb's NDJSON)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

from archiver.copies.archives import BY_NAME
from archiver.copies.cdx import cdx_query, parse_cdx

IA = BY_NAME["internet_archive"]
URL = "http://example.org/a?b=1&c=2"


def test_query_asks_nearest_200_captures() -> None:
    q = parse_qs(urlsplit(cdx_query(IA, URL, dt.datetime(2020, 3, 5, 1, 2, 3, tzinfo=dt.UTC), 3)).query)
    assert q["url"] == [URL] and q["closest"] == ["20200305010203"] and q["sort"] == ["closest"]
    assert q["filter"] == ["statuscode:200"] and q["limit"] == ["3"] and q["output"] == ["json"]


def test_both_answer_forms() -> None:
    ia = '[["timestamp","original","statuscode"],["20200301120000","http://example.org/a","200"],["bad","x","200"]]'
    pywb = '{"timestamp": "20200301120000"}\nnot json\n{"timestamp": "20210101000000"}\n'
    assert [m.url for m in parse_cdx(ia, IA, URL)] == [f"https://web.archive.org/web/20200301120000/{URL}"]
    got = parse_cdx(pywb, IA, URL)
    assert [m.datetime.year for m in got] == [2020, 2021]
    assert parse_cdx("[]", IA, URL) == [] and parse_cdx("", IA, URL) == []
    assert IA.protocol == "cdx+timemap+timegate" and IA.save == "https://web.archive.org/save"
