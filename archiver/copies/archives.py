"""The web archives asked for copies: each one entry (a name, its Memento TimeMap and/or TimeGate URL
templates, whether it serves Wayback-style raw mementos, `<14 digits>id_/<url>`, its Wayback CDX API
and its Save Page Now endpoint where it has them), the default list, and the list a config's `archives`
setting makes of them."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class Memento:
    """A memento an archive named: its URL and its datetime (UTC)."""

    url: str
    datetime: dt.datetime


@dataclass(frozen=True)
class MementoArchive:
    name: str
    timemap: str | None  # link-format TimeMap, `{url}` for the original URL
    timegate: str | None  # TimeGate, asked with Accept-Datetime, `{url}` for the original URL
    wayback: bool = False  # mementos at .../<14 digits>/<url>, raw bytes at .../<14 digits>id_/<url>
    cdx: str | None = None  # a Wayback CDX API endpoint, asked first (mementos at the TimeGate's <14 digits>/<url>)
    save: str | None = None  # a Save Page Now 2 endpoint (`--save`): POST url=..., then GET .../status/<job id>

    def memento_url(self, stamp: str, url: str) -> str:
        """The Wayback-style memento URL of a capture (14 digits) of `url`, under the TimeGate's prefix."""
        assert self.timegate
        return self.timegate.replace("{url}", f"{stamp}/{url}")

    @property
    def protocol(self) -> str:
        """How the archive is asked, in the words of the archives list: cdx, timemap and/or timegate."""
        return "+".join(name for name, value in (("cdx", self.cdx), ("timemap", self.timemap),
                                                ("timegate", self.timegate)) if value)

    def raw_url(self, memento_url: str) -> str:
        """The memento's raw form (the archived bytes, no banner or rewritten links) where the archive
        has one; else the memento URL itself."""
        if not self.wayback:
            return memento_url
        return _STAMP.sub(lambda m: f"/{m.group(1)}id_/", memento_url, count=1)


_STAMP = re.compile(r"/(\d{14})(?:[a-z]{2}_)?/")

DEFAULT_ARCHIVES = (
    MementoArchive("internet_archive", "https://web.archive.org/web/timemap/link/{url}",
                   "https://web.archive.org/web/{url}", wayback=True, cdx="https://web.archive.org/cdx/search/cdx",
                   save="https://web.archive.org/save"),
    MementoArchive("archive_today", "https://archive.ph/timemap/{url}", "https://archive.ph/timegate/{url}"),
    MementoArchive("arquivo_pt", "https://arquivo.pt/wayback/timemap/link/{url}",
                   "https://arquivo.pt/wayback/{url}", wayback=True),
    MementoArchive("uk_web_archive", "https://www.webarchive.org.uk/wayback/archive/timemap/link/{url}",
                   "https://www.webarchive.org.uk/wayback/archive/{url}", wayback=True),
    MementoArchive("library_of_congress", "https://webarchive.loc.gov/all/timemap/link/{url}",
                   "https://webarchive.loc.gov/all/{url}", wayback=True),
    MementoArchive("perma_cc", None, "https://perma-archives.org/warc/timegate/{url}", wayback=True),
)
BY_NAME = {archive.name: archive for archive in DEFAULT_ARCHIVES}


def archives_of(entries: tuple[tuple[tuple[str, str], ...], ...]) -> tuple[MementoArchive, ...]:
    """The archives a config's `archives` setting names (config.py has checked its form); empty: the
    default list."""
    if not entries:
        return DEFAULT_ARCHIVES
    out: list[MementoArchive] = []
    for entry in entries:
        fields = dict(entry)
        if set(fields) == {"name"}:
            known = BY_NAME.get(fields["name"])
            if known is None:
                raise ConfigError(f"archives: no default archive named {fields['name']!r}"
                                  f" (the defaults: {', '.join(BY_NAME)})")
            out.append(known)
        else:
            out.append(MementoArchive(fields["name"], fields.get("timemap") or None, fields.get("timegate") or None,
                                      fields.get("wayback", "false") in ("true", "1", "yes"),
                                      fields.get("cdx") or None, fields.get("save") or None))
    return tuple(out)


__all__ = ["BY_NAME", "DEFAULT_ARCHIVES", "Memento", "MementoArchive", "archives_of"]
