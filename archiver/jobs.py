"""What a run fetches: a `Job` per URL, and the jobs the targets ask for, in the order they are cited
(`cited_jobs`). A run keeps each fetch URL once, the first citation winning (outcomes.RunLog)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import InvalidURL
from .urls import normalize_url

if TYPE_CHECKING:
    from .db import Previous
    from .manifests import Manifest


@dataclass(slots=True)
class Job:
    fetch_url: str
    url: str  # as cited
    manifest: str | None
    citation_id: str | None
    previous: Previous | None = None
    invalid_reason: str | None = None
    accessed: dt.date | None = None  # of the first citation of this URL: the checker's baseline date
    capture: str | None = None  # the citation's `capture:` (http, browser, auto); None: the run's


def url_target(url: str) -> tuple[str, str | None]:
    """A URL given as a target: (its fetch URL, None), or when invalid (the text as given, why)."""
    try:
        return normalize_url(url), None
    except InvalidURL as exc:
        return url, exc.detail


def cited_jobs(manifests: list[Manifest], urls: list[str]) -> Iterator[Job]:
    """Every job the targets ask for, duplicates included, in order: the manifests' citations, then
    the target URLs (valid or not), then the manifests' skipped entries, recorded under their text."""
    for m in manifests:
        for c in m.citations:
            yield Job(c.fetch_url, c.url, m.path, c.id, accessed=c.accessed, capture=c.capture)
    invalid: list[Job] = []
    for url in urls:
        fetch_url, reason = url_target(url)
        if reason is not None:
            invalid.append(Job(url, url, None, None, invalid_reason=reason))
        else:
            yield Job(fetch_url, url, None, None)
    yield from invalid
    for m in manifests:
        for p in m.problems:
            yield Job(p.text, p.text, p.path, p.id, invalid_reason=f"line {p.line}: {p.reason}")
