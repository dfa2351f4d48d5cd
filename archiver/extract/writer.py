"""The manifest an extraction produces: deterministic YAML that `load_manifest` reads back unchanged."""

from __future__ import annotations

from typing import Any

import yaml

from .text import ExtractResult, Found, Invalid


class _Dumper(yaml.SafeDumper):
    """No anchors: the entries of one library record share their access date, and a person reading
    the manifest should see the date, not `&id001` / `*id001`."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def citation_entry(found: Found) -> dict[str, Any]:
    # A DOI citation is written as its DOI: the manifest loader gives it its doi.org link to fetch.
    entry: dict[str, Any] = {"doi": found.doi} if found.doi else {"url": found.url}
    if found.id:
        entry["id"] = found.id
    if found.cited_as:
        entry["cited_as"] = found.cited_as
    if found.context:
        entry["context"] = found.context
    if found.accessed:
        entry["accessed"] = found.accessed
    if found.memento:
        entry["memento"] = dict(found.memento)
    if found.suspect:
        entry["suspect"] = True
        if found.candidates:
            entry["candidates"] = list(found.candidates)
    if found.note:
        entry["note"] = found.note
    return entry


def invalid_entry(invalid: Invalid) -> dict[str, Any]:
    entry: dict[str, Any] = {"invalid": invalid.printed, "reason": invalid.reason}
    if invalid.id:
        entry["id"] = invalid.id
    if invalid.context:
        entry["context"] = invalid.context
    return entry


def manifest_yaml(results: list[ExtractResult], *, title: str | None = None) -> str:
    """One manifest for all papers: their citations in document order, then the invalid entries.
    No timestamps or absolute paths, so extracting the same papers twice gives the same bytes."""
    header = [f"# Extracted by `archiver extract` from {', '.join(r.source for r in results)}."]
    for r in results:
        repaired = sum(1 for f in r.citations if f.cited_as)
        suspect = sum(1 for f in r.citations if f.suspect)
        dois = sum(1 for f in r.citations if f.doi)
        header.append(f"# {r.source}: {len(r.citations) - dois} URLs, {dois} DOIs, {repaired} repaired"
                      f" (cited_as is the printed text), {suspect} suspect, {len(r.invalid)} invalid,"
                      f" {r.stripped} links with empty targets.")
    header.append("# suspect: the printed URL may be damaged; `candidates` lists the repairs the text supports.")
    document: dict[str, Any] = {}
    if title:
        document["title"] = title
    if len(results) == 1:
        document["source"] = results[0].source
    document["citations"] = [citation_entry(f) for r in results for f in r.citations] + [
        invalid_entry(i) for r in results for i in r.invalid]
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100_000,
                     default_flow_style=False, indent=2)
    return "\n".join(header) + "\n" + body
