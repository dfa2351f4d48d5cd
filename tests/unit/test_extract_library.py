"""Reference-manager exports as inputs: a small library exported as Zotero writes CSL-JSON (tab-indented,
item URIs as ids, the year as text in date-parts) and RIS (CRLF lines, `Y2  - YYYY/MM/DD/...`, `ER  - `),
round-tripped through `archiver extract` into a manifest and back through the manifest loader."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import invoke

from archiver.errors import UsageError
from archiver.extract.readers import read_document
from archiver.manifests import load_manifest

# The library: a web page (URL, access date), an article (DOI and a publisher URL), an article whose URL
# is its DOI's link, a report with two URLs, a book with neither (nothing to cite).
LIBRARY = [
    {"key": "hrw2020", "type": "webpage", "title": "Azerbaijan: Cluster Munitions Used in Nagorno-Karabakh",
     "author": [{"literal": "Human Rights Watch"}], "year": "2020",
     "urls": ["https://www.hrw.org/news/2020/10/23/azerbaijan-cluster-munitions-used-nagorno-karabakh"],
     "doi": None, "accessed": dt.date(2021, 3, 15)},
    {"key": "nielsen2018", "type": "article-journal", "title": "Deep learning to predict the lab-of-origin of "
     "engineered DNA", "author": [{"family": "Nielsen", "given": "Alec A. K."},
                                 {"family": "Voigt", "given": "Christopher A."}], "year": "2018",
     "urls": ["https://www.nature.com/articles/s41467-018-05378-z"], "doi": "10.1038/s41467-018-05378-z",
     "accessed": dt.date(2022, 1, 2)},
    {"key": "mardt2018", "type": "article-journal", "title": "VAMPnets", "author": [
        {"family": "Mardt", "given": "Andreas"}, {"family": "Pasquali", "given": "Luca"},
        {"family": "Wu", "given": "Hao"}], "year": "2018",
     "urls": ["https://doi.org/10.1038/s41467-017-02388-1"], "doi": "10.1038/s41467-017-02388-1", "accessed": None},
    {"key": "un2020", "type": "report", "title": "Appeal for a global ceasefire", "author": [
        {"literal": "United Nations"}], "year": "2020",
     "urls": ["https://www.un.org/en/globalceasefire?a=1&b=2", "https://web.example.org/ceasefire/page-2"],
     "doi": None, "accessed": dt.date(2020, 12, 31)},
    {"key": "book1999", "type": "book", "title": "No link", "author": [], "year": "1999", "urls": [], "doi": None,
     "accessed": None},
]
# What the manifest should hold, in order: (kind, value, id, accessed).
EXPECTED = [
    ("url", LIBRARY[0]["urls"][0], "hrw2020", dt.date(2021, 3, 15)),
    ("url", "https://www.nature.com/articles/s41467-018-05378-z", "nielsen2018-a", dt.date(2022, 1, 2)),
    ("doi", "10.1038/s41467-018-05378-z", "nielsen2018-b", dt.date(2022, 1, 2)),
    ("doi", "10.1038/s41467-017-02388-1", "mardt2018", None),
    ("url", "https://www.un.org/en/globalceasefire?a=1&b=2", "un2020-a", dt.date(2020, 12, 31)),
    ("url", "https://web.example.org/ceasefire/page-2", "un2020-b", dt.date(2020, 12, 31)),
]


def zotero_csl_json(*, keys: bool) -> str:
    """As Zotero's "CSL JSON" export writes it: ids are item URIs unless the item has a citation key."""
    items = []
    for n, entry in enumerate(LIBRARY):
        item: dict[str, object] = {
            "id": entry["key"] if keys else f"http://zotero.org/users/96641/items/{entry['key']}",
            "type": entry["type"], "title": entry["title"], "author": entry["author"],
            "issued": {"date-parts": [[entry["year"], 1 + n]]}}
        urls = list(entry["urls"])  # type: ignore[call-overload]
        if urls:
            item["URL"] = urls[0] if len(urls) == 1 else " ".join(urls)
        if entry["doi"]:
            item["DOI"] = entry["doi"]
        accessed = entry["accessed"]
        if isinstance(accessed, dt.date):
            item["accessed"] = {"date-parts": [[str(accessed.year), accessed.month, accessed.day]]}
        items.append(item)
    return json.dumps(items, indent="\t", ensure_ascii=False)


def zotero_ris() -> str:
    """As Zotero's RIS export writes it: `TAG  - value` lines ending in CRLF, one UR per URL, Y2 as
    `YYYY/MM/DD/time`, DA the publication date, a blank line after each `ER  - `."""
    types = {"webpage": "ELEC", "article-journal": "JOUR", "report": "RPRT", "book": "BOOK"}
    lines: list[str] = []
    for entry in LIBRARY:
        lines.append(f"TY  - {types[str(entry['type'])]}")
        lines.append(f"TI  - {entry['title']}")
        for name in entry["author"]:  # type: ignore[attr-defined]
            lines.append(f"AU  - {name['literal']}" if "literal" in name
                         else f"AU  - {name['family']}, {name['given']}")
        lines.append(f"DA  - {entry['year']}/06/01/")
        lines.append(f"PY  - {entry['year']}")
        if entry["doi"]:
            lines.append(f"DO  - {entry['doi']}")
        lines += [f"UR  - {url}" for url in entry["urls"]]  # type: ignore[attr-defined]
        accessed = entry["accessed"]
        if isinstance(accessed, dt.date):
            lines.append(f"Y2  - {accessed:%Y/%m/%d}/10:02:03")
        lines.append(f"ID  - {entry['key']}")
        lines += ["ER  - ", ""]
    return "\r\n".join(lines) + "\r\n"


def manifest_of(tmp_path: Path, export: Path) -> list[tuple[str, str, str | None, dt.date | None]]:
    out = tmp_path / "m.yaml"
    result = invoke(tmp_path / "storage", "extract", str(export), "--offline", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "found 4 URLs, 2 DOIs;" in result.stderr
    manifest = load_manifest(out)
    assert not manifest.problems
    return [("doi", c.doi, c.id, c.accessed) if c.doi else ("url", c.url, c.id, c.accessed)
            for c in manifest.citations]


@pytest.mark.parametrize("name", ["library.json", "library.csl.json"])
def test_csl_json_round_trips_urls_dois_and_access_dates(tmp_path: Path, name: str) -> None:
    export = tmp_path / name
    export.write_text(zotero_csl_json(keys=True), encoding="utf-8")
    assert manifest_of(tmp_path, export) == EXPECTED
    document = read_document(export)
    assert document.kind == "csl"
    contexts = {link.key: link.context for link in document.links}
    assert contexts["nielsen2018"] == ("Alec A. K. Nielsen and Christopher A. Voigt, Deep learning to predict the"
                                       " lab-of-origin of engineered DNA, 2018")
    assert contexts["mardt2018"] == "Andreas Mardt et al., VAMPnets, 2018"


def test_csl_json_zotero_item_uris_give_the_item_key(tmp_path: Path) -> None:
    export = tmp_path / "library.json"
    export.write_text(zotero_csl_json(keys=False), encoding="utf-8")
    assert manifest_of(tmp_path, export) == EXPECTED


def test_ris_round_trips_urls_dois_and_access_dates(tmp_path: Path) -> None:
    export = tmp_path / "library.ris"
    export.write_bytes(b"\xef\xbb\xbf" + zotero_ris().encode())  # Zotero's UTF-8 export starts with a BOM
    assert manifest_of(tmp_path, export) == EXPECTED
    contexts = {link.key: link.context for link in read_document(export).links}
    assert contexts["hrw2020"] == "Human Rights Watch, Azerbaijan: Cluster Munitions Used in Nagorno-Karabakh, 2020"


def test_ris_date_accessed_only_where_the_type_says_so(tmp_path: Path) -> None:
    export = tmp_path / "two.ris"
    export.write_text("TY  - EJOUR\nTI  - Online journal\nUR  - https://a.example/1\nDA  - 2019/02/03\nER  - \n\n"
                      "TY  - JOUR\nTI  - Print journal\nUR  - https://a.example/2\nDA  - 2019/02/03\nAN  - acc-2\n"
                      "ER  -\n", encoding="utf-8")
    assert [(link.url, link.key, link.accessed) for link in read_document(export).links] == [
        ("https://a.example/1", None, dt.date(2019, 2, 3)), ("https://a.example/2", "acc-2", None)]


@pytest.mark.parametrize(("text", "line", "words"), [
    ("TY  - JOUR\nTI  - A\nUR  - https://a.example/\n", 1, "has no `ER  - `"),
    ("TY  - JOUR\nUR  - https://a.example/\nTY  - JOUR\nER  - \n", 3, "has no `ER  - `"),
    ("UR  - https://a.example/\nER  - \n", 1, "outside a record"),
    ("%PDF-1.4 binary\n", 1, "expected `TY  - `"),
    ("\n\nhello world\n", 3, "expected `TY  - `"),
])
def test_malformed_ris_names_the_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    export = tmp_path / "bad.ris"
    export.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as err:
        read_document(export)
    assert str(err.value).startswith(f"{export}:{line}: not a readable RIS file") and words in str(err.value)
    result = invoke(tmp_path / "storage", "extract", str(export), "--offline")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and f"{export}:{line}:" in result.stderr


@pytest.mark.parametrize(("text", "where", "words"), [
    ('[{"id": "a", "URL": "https://a.example/"},\n  {"id": ]', ":2:", "not valid JSON"),
    ('{"name": "my-package", "version": "1.0.0"}', ": ", "not a CSL-JSON export"),
    ('"just a string"', ": ", "not a CSL-JSON export"),
    ('[{"id": "a"}, 3]', ": ", "item 2 of the CSL-JSON list is not an object"),
])
def test_malformed_csl_json_names_the_file(tmp_path: Path, text: str, where: str, words: str) -> None:
    export = tmp_path / "bad.json"
    export.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as err:
        read_document(export)
    assert str(err.value).startswith(f"{export}{where}") and words in str(err.value)
    result = invoke(tmp_path / "storage", "extract", str(export), "--offline")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1


def test_an_export_without_links_finds_nothing(tmp_path: Path) -> None:
    export = tmp_path / "empty.json"
    export.write_text('[{"id": "k", "type": "book", "title": "No link"}]', encoding="utf-8")
    result = invoke(tmp_path / "storage", "extract", str(export), "--offline")
    assert result.exit_code == 1 and "no cited URL found" in result.stderr
