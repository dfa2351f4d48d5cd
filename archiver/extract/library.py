"""Reference-manager exports: CSL-JSON (Zotero, Mendeley, pandoc: `.json`, `.csl.json`) and RIS (`.ris`).

Like a BibTeX file, an export's fields are its citations: every entry's URLs and DOI, with the
entry's key as id, "Authors, Title, Year" as context and the access date the manager recorded.
CSL-JSON: `URL`, `DOI`, `accessed`, `citation-key` or `id`. RIS: every `UR`, `DO`, `Y2` (the access
date; `DA` where the RIS specification names it "Date Accessed"), `ID` or `AN`, `TI` or `T1`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from ..doi import doi_url
from ..errors import UsageError
from .document import Document, Link, distinct_urls, one_line, people_text, read_bytes, work_context

_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.|www\.)?doi\.org/|doi:\s*)", re.IGNORECASE)


def _entry(urls: list[str], doi: str, key: str | None, context: str, accessed: dt.date | None) -> list[Link]:
    found = list(urls)
    doi = _DOI_PREFIX.sub("", doi.strip())
    if doi:
        found.append(doi_url(doi))
    return [Link(url=url, key=key, context=context or None, accessed=accessed) for url in distinct_urls(found)]


def _document(kind: str, links: list[Link]) -> Document:
    lines = [" ".join([f"{link.context}," if link.context else "", f"<{link.url}>"]).strip() for link in links]
    return Document(kind, "\n".join(lines) + ("\n" if lines else ""), links)


def _date(year: Any, month: Any, day: Any) -> dt.date | None:
    try:
        return dt.date(int(year), int(month), int(day))
    except (TypeError, ValueError):
        return None  # a partial or impossible date: no access date rather than a made-up one


# -- CSL-JSON ---------------------------------------------------------------------------------------

def read_csl_json(path: Path) -> Document:
    text = read_bytes(path).decode("utf-8-sig", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    items = _csl_items(data)
    if items is None:
        raise UsageError(f"{path}: not a CSL-JSON export (expected a list of items with `id` and `type`)")
    links: list[Link] = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise UsageError(f"{path}: item {number} of the CSL-JSON list is not an object")
        urls = [url for value in _strings(item.get("URL")) for url in value.split()]
        links += _entry(urls, " ".join(_strings(item.get("DOI"))), _csl_key(item), _csl_context(item),
                        _csl_date(item.get("accessed")))
    return _document("csl", links)


def _csl_items(data: Any) -> list[Any] | None:
    """The items of an export: a list (Zotero, pandoc, Mendeley), an object of items keyed by id
    (citeproc-js), or one item on its own; None when the JSON is something else."""
    if isinstance(data, dict) and ("type" in data or "id" in data):
        data = [data]
    elif isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        data = list(data.values())
    if not isinstance(data, list) or not all(not isinstance(i, dict) or "type" in i or "id" in i for i in data):
        return None
    return data


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _csl_key(item: dict[str, Any]) -> str | None:
    """`citation-key`, else `id`; a Zotero item URI (`http://zotero.org/users/1/items/ABCD2345`) gives
    its item key, the last segment, which is what identifies the item in the library."""
    key = item.get("citation-key") or item.get("id")
    if key is None or isinstance(key, (dict, list)):
        return None
    text = str(key).strip()
    if re.match(r"^[a-z][a-z0-9+.-]*://", text, re.IGNORECASE):
        text = text.rstrip("/").rsplit("/", 1)[-1]
    return text or None


def _csl_context(item: dict[str, Any]) -> str:
    people = []
    for name in item.get("author") or item.get("editor") or []:
        if isinstance(name, dict):
            person = name.get("literal") or " ".join(str(name[p]) for p in ("given", "non-dropping-particle",
                                                                              "family") if name.get(p))
            if person:
                people.append(one_line(str(person)))
    issued = item.get("issued")
    year = ""
    if isinstance(issued, dict):
        parts = issued.get("date-parts")
        if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
            year = str(parts[0][0])
        elif isinstance(issued.get("raw"), str):
            year = (re.findall(r"\b\d{4}\b", issued["raw"]) or [""])[0]
    title = item.get("title")
    return work_context(people_text(people), one_line(title) if isinstance(title, str) else "", year)


def _csl_date(value: Any) -> dt.date | None:
    """A CSL date: `{"date-parts": [[2020, 5, 8]]}` (Zotero writes the year as text), `{"raw": ...}`,
    or an ISO string."""
    if isinstance(value, dict):
        parts = value.get("date-parts")
        if isinstance(parts, list) and parts and isinstance(parts[0], list) and len(parts[0]) >= 3:
            return _date(*parts[0][:3])
        value = value.get("raw") or value.get("literal")
    if isinstance(value, str):
        match = re.match(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})", value)
        return _date(*match.groups()) if match else None
    return None


# -- RIS --------------------------------------------------------------------------------------------

_TAG = re.compile(r"^([A-Z][A-Z0-9]) {1,2}-(?: (.*))?$")  # the specification's two spaces; some write one
# RIS types whose `DA` is the access date (the RIS specification's "Date Accessed"); elsewhere DA is
# the publication date, and Y2 holds the access date.
_DA_ACCESSED = frozenset({"AGGR", "CASE", "DBASE", "EBOOK", "EJOUR", "MULTI"})
_RIS_DATE = re.compile(r"^\s*(\d{4})[/-](\d{1,2})[/-](\d{1,2})")


def read_ris(path: Path) -> Document:
    text = read_bytes(path).decode("utf-8-sig", errors="replace")
    links: list[Link] = []
    for record in _ris_records(path, text):
        accessed = _ris_date(record.get("Y2", []))
        if accessed is None and (record.get("TY") or [""])[0].upper() in _DA_ACCESSED:
            accessed = _ris_date(record.get("DA", []))
        urls = [u for value in record.get("UR", []) for u in value.split()]
        key = (record.get("ID") or record.get("AN") or [""])[0].strip() or None
        links += _entry(urls, " ".join(record.get("DO", [])[:1]), key, _ris_context(record), accessed)
    return _document("ris", links)


def _ris_records(path: Path, text: str) -> list[dict[str, list[str]]]:
    """Records from `TY  - ` to `ER  - `: each tag's values in order. A line without a tag continues
    the value before it (long abstracts and titles wrap)."""
    records: list[dict[str, list[str]]] = []
    record: dict[str, list[str]] | None = None
    last: str | None = None
    opened = 0
    for number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        match = _TAG.match(line.rstrip())
        if match is None:
            if not line.strip():
                continue
            if record is None or last is None:
                raise UsageError(f"{path}:{number}: not a readable RIS file (expected `TY  - ` to start a"
                                 f" record, got {one_line(line)[:40]!r})")
            record[last][-1] = f"{record[last][-1]} {line.strip()}".strip()
            continue
        tag, value = match.group(1), (match.group(2) or "").strip()
        if tag == "TY":
            if record is not None:
                raise UsageError(f"{path}:{number}: not a readable RIS file (a record opened at line {opened}"
                                 " has no `ER  - `)")
            record, last, opened = {"TY": [value]}, "TY", number
        elif record is None:
            raise UsageError(f"{path}:{number}: not a readable RIS file ({tag} outside a record: expected"
                             " `TY  - ` first)")
        elif tag == "ER":
            records.append(record)
            record = last = None
        else:
            record.setdefault(tag, []).append(value)
            last = tag
    if record is not None:
        raise UsageError(f"{path}:{opened}: not a readable RIS file (the record opened here has no `ER  - `)")
    return records


def _ris_date(values: list[str]) -> dt.date | None:
    """`2021/03/15/` as Zotero writes it (`YYYY/MM/DD/other`), or ISO `2021-03-15`."""
    for value in values:
        match = _RIS_DATE.match(value)
        if match:
            return _date(*match.groups())
    return None


def _ris_context(record: dict[str, list[str]]) -> str:
    people = []
    for value in record.get("AU", []) + record.get("A1", []):
        parts = [p.strip() for p in value.split(",")]
        people.append(" ".join([*parts[1:], parts[0]]).strip() if len(parts) > 1 else value.strip())
    title = (record.get("TI") or record.get("T1") or [""])[0]
    year = next((m.group() for v in record.get("PY", []) + record.get("Y1", []) + record.get("DA", [])
                 for m in [re.search(r"\b\d{4}\b", v)] if m), "")
    return work_context(people_text([p for p in people if p]), one_line(title), year)
