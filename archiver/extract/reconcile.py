"""Bring together what a document prints and what its links point at.

Link annotations (PDF) and hyperlinks (DOCX, HTML, TeX) hold the URL the author meant, undamaged by
line breaks and lost hyphens, so they settle the printed URL they sit on. Links whose visible text is
not a URL ("the report") are citations too, found only through the link.
"""

from __future__ import annotations

import re

from ..errors import InvalidURL
from ..urls import normalize_url
from .document import Document, Link
from .dois import spell_out_prefixes
from .text import ExtractResult, Found, Invalid, extract_text
from .urls import split_memento, with_fragment, with_scheme

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:/*", re.IGNORECASE)


def _key(url: str) -> str:
    """A comparison form that forgives the damage of printing: scheme, www., hyphens, case, end slash."""
    text = _SCHEME.sub("", url.strip().lower().split("#", 1)[0])
    text = text.removeprefix("www.")
    return re.sub(r"[-\s]", "", text).rstrip("/")


def _link_url(link: Link) -> tuple[str, dict[str, str] | None]:
    """The link's target as a URL; a scheme-less `www.x.org` (BibTeX fields) is taken as https."""
    target = link.url.strip()
    if re.match(r"^(?:www\.|[\w-]+(?:\.[\w-]+)+/)", target):
        target = with_scheme(target)[0]
    original, memento = split_memento(target)
    return with_fragment(normalize_url(original), original), memento


def _matches(found: Found, link: Link, target: str) -> bool:
    key = _key(target)
    forms = [found.url, *found.candidates, *(x for x in (found.printed_url, found.cited_as) if x)]
    if key in {_key(f) for f in forms}:
        return True
    if found.truncated and found.printed_url and key.startswith(_key(found.printed_url)):
        return True
    # A link whose visible text is the printed URL, pointing somewhere else (a redirector, a fixed URL).
    printed = found.cited_as or found.printed_url or found.url
    return bool(link.text) and _key(link.text) == _key(printed)


# Bibliographies and reference-manager exports: every URL sits in a field of its own.
LIBRARY_KINDS = frozenset({"bib", "csl", "ris"})


def reconcile(document: Document, *, source: str) -> ExtractResult:
    if document.kind in LIBRARY_KINDS:
        return _from_links(document, source)
    result = extract_text(spell_out_prefixes(document.text), source=source, wrapped=document.wrapped)
    result.stripped += document.stripped
    unmatched = list(result.citations)
    for link in document.links:
        if not link.url.strip():
            result.stripped += 1  # a link annotation with an empty target
            continue
        try:
            target, memento = _link_url(link)
        except InvalidURL:
            continue  # mailto:, internal anchors, junk targets: not citations
        match = next((f for f in unmatched if _matches(f, link, target)), None)
        if match is None:
            if not any(f.url == target for f in result.citations):
                result.citations.append(Found(url=target, context=" ".join(link.text.split())[:199] or None,
                                              memento=memento, confirmed="link"))
            continue
        unmatched.remove(match)
        if match.url != target:
            match.cited_as = match.cited_as or match.printed_url or match.url
            match.url = target
            match.memento = memento or match.memento
            match.note = "URL taken from the link target, which differs from the printed text" if (
                _key(target) != _key(match.cited_as)) else match.note
        if match.truncated and match.note and match.note.startswith("truncated"):
            match.note = "printed text truncated; URL from the link target"
        match.candidates = []
        match.suspect = False
        match.confirmed = "link"
    return result


def _from_links(document: Document, source: str) -> ExtractResult:
    """BibTeX, CSL-JSON, RIS: every URL sits in its own field, so the fields are the citations."""
    result = ExtractResult(source=source, stripped=document.stripped)
    seen: set[tuple[str, str | None]] = set()
    for link in document.links:
        try:
            target, memento = _link_url(link)
        except InvalidURL as exc:
            result.invalid.append(Invalid(link.url, exc.detail, link.key, link.context))
            continue
        if (target, link.key) in seen:
            continue
        seen.add((target, link.key))
        result.citations.append(Found(url=target, id=link.key, context=link.context, accessed=link.accessed,
                                      memento=memento, confirmed="link",
                                      cited_as=link.url if _key(link.url) != _key(target) else None))
    _unique_ids(result.citations)
    return result


def _unique_ids(found: list[Found]) -> None:
    """An entry citing two URLs gets key-a, key-b: ids must be unique in a manifest."""
    counts: dict[str, int] = {}
    for f in found:
        if f.id:
            counts[f.id] = counts.get(f.id, 0) + 1
    index: dict[str, int] = {}
    for f in found:
        if f.id and counts[f.id] > 1:
            index[f.id] = index.get(f.id, 0) + 1
            f.id = f"{f.id}-{chr(ord('a') + index[f.id] - 1)}"
