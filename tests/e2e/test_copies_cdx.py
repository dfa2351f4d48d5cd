"""The Wayback CDX route against a real pywb (its CDX API at `/<collection>/cdx`) under web.archive.org:
the nearest capture that answered 200 is chosen from one CDX answer, an archived 404 is never
listed, an archived soft-404 page is still judged and refused, and a URL the archive does not hold is
'no copy' without a TimeMap or TimeGate request."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mementos import Held, Pywb
from server import page

from archiver.config import Settings
from archiver.copies.archives import MementoArchive
from archiver.copies.lookup import Lookup
from archiver.fetch.fetcher import Fetcher
from archiver.fetch.politeness import HostGate

URL = "http://gone.invalid/article"
SOFT = "http://gone.invalid/soft"
ERROR_PAGE = (b"<!doctype html><html><head><title>Page not found</title></head><body><h1>Page not found</h1>"
              b"<p>Sorry, the page you are looking for does not exist.</p></body></html>")


def test_cdx_nearest_200_capture_judged(tmp_path: Path) -> None:
    ia = Pywb(tmp_path / "ia", "web", [
        Held(URL, "20190101000000", 200, page("early")),
        Held(URL, "20200301000000", 404, ERROR_PAGE),  # nearest of all, but a 404: not listed by the CDX
        Held(URL, "20200601000000", 200, page("as cited")),
        Held(SOFT, "20200301000000", 200, ERROR_PAGE),
    ])
    try:
        settings = Settings(storage=tmp_path / "s", per_host_delay=0, timeout=2, total_timeout=6, retries=0,
                            allow_private=True, resolve=(f"web.archive.org:80:127.0.0.1:{ia.port}",))
        archive = MementoArchive("internet_archive", None, "http://web.archive.org/web/{url}", wayback=True,
                                 cdx="http://web.archive.org/web/cdx")
        fetcher = Fetcher(settings, HostGate(1, 0))
        try:
            lookup = Lookup(fetcher, 1 << 20)
            target = dt.datetime(2020, 3, 5, tzinfo=dt.UTC)
            found = lookup.ask(archive, URL, target)
            soft = lookup.ask(archive, SOFT, target)
            none = lookup.ask(archive, "http://gone.invalid/never", target)
        finally:
            fetcher.close()
    finally:
        ia.stop()
    assert found.status == "ok", found
    assert found.memento_url == f"http://web.archive.org/web/20200601000000/{URL}"
    assert soft.status == "error_page" and soft.detail and "soft_404" in soft.detail
    assert none.status == "no_copy" and none.detail and none.detail.startswith("CDX")
