"""Behaviour of manifest loading (archiver/manifests.py) and URL normalisation (archiver/urls.py).

Every test writes a real file into tmp_path and loads it the way the CLI does. Errors must name the
file and the 1-based line a person would look at in an editor; a bad URL in an otherwise good
manifest is a Problem (skipped, with its line and reason), not an error.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import REPO, invoke

from archiver.errors import InvalidURL, ManifestError
from archiver.manifests import Citation, Problem, load_manifest
from archiver.urls import normalize_url

EXAMPLE = REPO / "manifests" / "example.yaml"
ARTSAKH = REPO / "manifests" / "2021-artsakh-war-crimes.yaml"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def load_error(path: Path) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    return info.value


def assert_error_at(path: Path, line: int | None, *words: str) -> ManifestError:
    """The manifest fails with an error naming `path` and `line`, whose text contains `words`."""
    err = load_error(path)
    assert err.path == str(path)
    assert err.line == line, f"expected line {line}, got {err.line}: {err}"
    expected_prefix = f"{path}:{line}: " if line else f"{path}: "
    assert str(err).startswith(expected_prefix), str(err)
    for word in words:
        assert word in err.problem, f"{word!r} not in {err.problem!r}"
    return err


# --------------------------------------------------------------------------------------------------
# The error type itself


def test_manifest_error_format_and_exit_code() -> None:
    err = ManifestError("m/bad.yaml", 7, "unknown key 'x'")
    assert str(err) == "m/bad.yaml:7: unknown key 'x'"
    assert (err.path, err.line, err.problem) == ("m/bad.yaml", 7, "unknown key 'x'")
    assert err.exit_code == 3
    assert str(ManifestError("m/bad.yaml", None, "manifest is empty")) == "m/bad.yaml: manifest is empty"


# --------------------------------------------------------------------------------------------------
# Malformed files: ManifestError with file and line


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", (
        "title: x\n"
        "citations:\n"
        "  - url: https://a.example/\n"
        "  - url: https://b.example/: oops\n"
    ))
    assert_error_at(path, 4, "YAML syntax")


def test_yaml_bad_indentation_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", (
        "title: x\n"
        "citations:\n"
        "  - url: https://a.example/\n"
        "    id: a\n"
        "   context: indented one space too little\n"
    ))
    assert_error_at(path, 5, "YAML syntax")


def test_yaml_tab_indentation_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", "title: x\ncitations:\n\t- https://a.example/\n")
    assert_error_at(path, 3, "YAML syntax")


def test_yaml_with_two_documents_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", "citations:\n  - https://a.example/\n---\ntitle: b\n")
    assert_error_at(path, 3, "YAML syntax")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", (
        "title: x\n"
        "sorce: papers/p.pdf\n"
        "citations:\n"
        "  - https://a.example/\n"
    ))
    assert_error_at(path, 2, "unknown key", "sorce")


def test_unknown_citation_key_typo_names_the_key_line(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", (
        "citations:\n"
        "  - url: https://a.example/\n"
        "    id: a\n"
        "  - id: b\n"
        "    context: second citation\n"
        "    ulr: https://b.example/\n"
    ))
    assert_error_at(path, 6, "unknown citation key", "ulr")


def test_citation_mapping_without_url(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", (
        "citations:\n"
        "  - url: https://a.example/\n"
        "  - id: b\n"
        "    context: no url here\n"
    ))
    assert_error_at(path, 3, "no 'url'")


def test_duplicate_id_names_the_duplicate_and_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", (
        "citations:\n"
        "  - id: fn1\n"
        "    url: https://a.example/\n"
        "  - id: fn2\n"
        "    url: https://b.example/\n"
        "  - id: fn1\n"
        "    url: https://c.example/\n"
    ))
    assert_error_at(path, 6, "duplicate id", "fn1", "first at line 2")


def test_duplicate_id_in_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", "url,id\nhttps://a.example/,x\nhttps://b.example/,y\nhttps://c.example/,x\n")
    assert_error_at(path, 4, "duplicate id", "first at line 2")


def test_bad_id_characters(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", (
        "citations:\n"
        "  - url: https://a.example/\n"
        "  - id: has space\n"
        "    url: https://b.example/\n"
    ))
    assert_error_at(path, 3, "has space")


def test_duplicate_key_in_a_citation(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", (
        "citations:\n"
        "  - url: https://a.example/\n"
        "    id: a\n"
        "    url: https://b.example/\n"
    ))
    assert_error_at(path, 4, "duplicate key", "url")


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", (
        "title: one\n"
        "citations:\n"
        "  - https://a.example/\n"
        "title: two\n"
    ))
    assert_error_at(path, 4, "duplicate key", "title")


@pytest.mark.parametrize("value", ["yesterday", "23/10/2020", "2020-10", "'2020-10-23 and more'"])
def test_bad_accessed_date(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, "m.yaml", (
        "citations:\n"
        "  - url: https://a.example/\n"
        f"  - accessed: {value}\n"
        "    url: https://b.example/\n"
    ))
    assert_error_at(path, 3, "accessed", "not a date")


def test_bad_accessed_date_in_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", "url,accessed\nhttps://a.example/,2020-10-23\nhttps://b.example/,2020-02-30\n")
    assert_error_at(path, 3, "accessed", "not a date")


@pytest.mark.parametrize("value", ["2020-02-30", "2020-13-01"])
def test_impossible_accessed_date_is_a_manifest_error(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, "m.yaml", (
        "citations:\n"
        "  - url: https://a.example/\n"
        f"  - accessed: {value}\n"
        "    url: https://b.example/\n"
    ))
    assert_error_at(path, 3, "accessed")


@pytest.mark.parametrize("body, line", [
    ("citations: https://a.example/\n", 1),
    ("citations:\n  url: https://a.example/\n", 2),
    ("title: x\ncitations: 42\n", 2),
    ("title: x\n", 1),  # no citations key at all
    ("title: x\ncitations:\n", 2),
])
def test_citations_must_be_a_list(tmp_path: Path, body: str, line: int) -> None:
    assert_error_at(write(tmp_path, "m.yaml", body), line, "'citations' must be a list")


def test_top_level_scalar_is_an_error(tmp_path: Path) -> None:
    assert_error_at(write(tmp_path, "m.yaml", "# a comment\nhttps://a.example/\n"), 2, "mapping")


@pytest.mark.parametrize("item", ["42", "[https://b.example/]", "null"])
def test_citation_that_is_neither_url_nor_mapping(tmp_path: Path, item: str) -> None:
    path = write(tmp_path, "m.yaml", f"citations:\n  - https://a.example/\n  - {item}\n")
    assert_error_at(path, 3, "each citation")


def test_url_that_is_not_text(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", "citations:\n  - https://a.example/\n  - url: [https://b.example/]\n")
    assert_error_at(path, 3, "url must be text")


@pytest.mark.parametrize("schedule, words", [
    ("{snapshot: 7x}", ["schedule.snapshot", "7x"]),
    ("{check: 0d}", ["schedule.check"]),
    ("{check: -1d}", ["schedule.check"]),
    ("{snapshot: 30}", ["schedule.snapshot"]),
    ("{snapshot: every day}", ["schedule.snapshot"]),
    ("{snapshot: '61 * * * *'}", ["bad cron string"]),
    ("{check: '* * * * * *'}", ["schedule.check"]),  # six fields
    ("{check: 'a b c d e'}", ["bad cron string"]),
    ("{snap: 7d}", ["unknown schedule key", "snap"]),
    ("7d", ["schedule must be a mapping"]),
])
def test_bad_schedule(tmp_path: Path, schedule: str, words: list[str]) -> None:
    path = write(tmp_path, "m.yaml", f"title: x\nschedule: {schedule}\ncitations:\n  - https://a.example/\n")
    assert_error_at(path, 2, *words)


def test_bad_schedule_in_block_style_names_the_entry_line(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", (
        "title: x\n"
        "schedule:\n"
        "  snapshot: 7d\n"
        "  check: 7x\n"
        "citations:\n"
        "  - https://a.example/\n"
    ))
    assert_error_at(path, 4, "schedule.check")


def test_duplicate_key_in_schedule(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", (
        "title: x\n"
        "schedule:\n"
        "  snapshot: 7d\n"
        "  snapshot: 1d\n"
        "citations:\n"
        "  - https://a.example/\n"
    ))
    assert_error_at(path, 4, "duplicate key", "snapshot")


@pytest.mark.parametrize("key", ["3", "on"])
def test_unknown_non_string_top_level_key_names_its_line(tmp_path: Path, key: str) -> None:
    path = write(tmp_path, "m.yaml", f"title: x\ncitations:\n  - https://a.example/\n{key}: oops\n")
    assert_error_at(path, 4, "unknown key")


def test_csv_without_url_column(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", "link,id\nhttps://a.example/,a\n")
    assert_error_at(path, 1, "'url' column")


def test_csv_row_with_too_many_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", "url,id\nhttps://a.example/,a\nhttps://b.example/,b,extra\n")
    assert_error_at(path, 3, "more fields")


@pytest.mark.parametrize("name, raw", [  # the byte 0xFF never occurs in UTF-8
    ("m.yaml", b"citations:\n  - https://a.example/caf\xc3\xa9\n  - https://b.example/caf\xff\n"),
    ("m.txt", b"https://a.example/\n# comment\nhttps://b.example/caf\xff\n"),
    ("m.csv", b"url,id\nhttps://a.example/,a\nhttps://b.example/caf\xff,b\n"),
])
def test_invalid_utf8_names_its_line(tmp_path: Path, name: str, raw: bytes) -> None:
    assert_error_at(write(tmp_path, name, raw), 3, "UTF-8")


def test_invalid_utf8_after_bom_names_its_line(tmp_path: Path) -> None:
    raw = b"\xef\xbb\xbfhttps://a.example/\n\xff\n"
    assert_error_at(write(tmp_path, "m.txt", raw), 2, "UTF-8")


def test_control_character_in_yaml_is_a_manifest_error(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", "citations:\n  - https://a.example/\n  - \x07https://b.example/\n")
    assert_error_at(path, 3)


def test_deeply_nested_yaml_is_a_manifest_error(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", "citations: " + "[" * 3000 + "]" * 3000 + "\n")
    load_error(path)


@pytest.mark.parametrize("name", ["m.json", "manifest"])
def test_unknown_extension(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, "https://a.example/\n")
    assert_error_at(path, None, "unknown manifest type")


def test_missing_file(tmp_path: Path) -> None:
    assert_error_at(tmp_path / "nowhere.yaml", None, "cannot read manifest")


def test_directory_is_not_a_manifest(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    assert_error_at(tmp_path / "dir.yaml", None, "cannot read manifest")


@pytest.mark.parametrize("name, content, words", [
    ("m.yaml", "", ["empty"]),
    ("m.yaml", "# nothing but a comment\n\n", ["empty"]),
    ("m.yaml", "citations: []\n", ["no citations"]),
    ("m.txt", "", ["no citations"]),
    ("m.txt", "# comments only\n\n   \n", ["no citations"]),
    ("m.csv", "", ["'url' column"]),
    ("m.csv", "url,id\n", ["no citations"]),
    ("m.csv", "url,id\n,\n", ["no citations"]),
])
def test_empty_manifest(tmp_path: Path, name: str, content: str, words: list[str]) -> None:
    err = load_error(write(tmp_path, name, content))
    assert err.path == str(tmp_path / name)
    assert str(err).startswith(str(tmp_path / name))
    for word in words:
        assert word in err.problem


# --------------------------------------------------------------------------------------------------
# Bad URLs in good manifests are Problems, the rest still loads


def test_yaml_bad_urls_become_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", (
        "title: Paper\n"                                   # 1
        "citations:\n"                                     # 2
        "  - url: https://a.example/one\n"                 # 3
        "    id: a\n"                                      # 4
        "  - url: www.example.org/no-scheme\n"             # 5
        "    id: b\n"                                      # 6
        "  - ftp://files.example/x\n"                      # 7
        "  - invalid: www.example.com/truncat\n"           # 8
        "    reason: truncated by the page break\n"        # 9
        "  - https://c.example/three\n"                    # 10
    ))
    manifest = load_manifest(path)
    assert [(c.url, c.line, c.id) for c in manifest.citations] == [
        ("https://a.example/one", 3, "a"),
        ("https://c.example/three", 10, None),
    ]
    assert [(p.line, p.text) for p in manifest.problems] == [
        (5, "www.example.org/no-scheme"),
        (7, "ftp://files.example/x"),
        (8, "www.example.com/truncat"),
    ]
    no_scheme, ftp, invalid = manifest.problems
    assert "no scheme" in no_scheme.reason
    assert "ftp" in ftp.reason
    assert invalid.reason == "truncated by the page break"
    assert all(p.path == str(path) for p in manifest.problems)
    assert str(no_scheme) == f"{path}:5: skipped 'www.example.org/no-scheme': {no_scheme.reason}"


def test_txt_manifest(tmp_path: Path) -> None:
    path = write(tmp_path, "m.txt", (
        "# Cited in chapter 1\n"                                  # 1
        "https://a.example/one\n"                                 # 2
        "\n"                                                      # 3
        "   https://b.example/two   # footnote 4\n"               # 4
        "https://c.example/page#section\n"                        # 5: '#' without space is a fragment
        "not a url\n"                                             # 6
        "mailto:someone@example.org\n"                            # 7
        "\t# indented comment\n"                                  # 8
        "https://d.example/four\n"                                # 9
    ))
    manifest = load_manifest(path)
    assert [(c.url, c.line) for c in manifest.citations] == [
        ("https://a.example/one", 2),
        ("https://b.example/two", 4),
        ("https://c.example/page#section", 5),
        ("https://d.example/four", 9),
    ]
    assert [(p.line, p.text) for p in manifest.problems] == [(6, "not a url"), (7, "mailto:someone@example.org")]
    assert "white space" in manifest.problems[0].reason
    assert "mailto" in manifest.problems[1].reason
    assert manifest.title is None and manifest.schedule == {}
    assert manifest.name == "m"


def test_txt_crlf_line_endings(tmp_path: Path) -> None:
    path = write(tmp_path, "m.txt", "https://a.example/\r\n# c\r\nbad\r\nhttps://b.example/\r\n")
    manifest = load_manifest(path)
    assert [(c.url, c.line) for c in manifest.citations] == [("https://a.example/", 1), ("https://b.example/", 4)]
    assert [p.line for p in manifest.problems] == [3]


@pytest.mark.parametrize("odd", ["\x0c", "\u2028", "\x85"])
def test_txt_line_numbers_count_newlines_only(tmp_path: Path, odd: str) -> None:
    path = write(tmp_path, "m.txt", f"# section 1{odd}continued\nhttps://a.example/\nnot-a-url\n")
    manifest = load_manifest(path)
    assert [(c.url, c.line) for c in manifest.citations] == [("https://a.example/", 2)]
    assert [(p.line, p.text) for p in manifest.problems] == [(3, "not-a-url")]


def test_csv_manifest(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", (
        "URL , Id,Cited_As,context,accessed,ignored\n"                      # 1: header, any case
        "https://a.example/one,fn1,a.example/one,\"Smith, J.\",2020-10-23,x\n"  # 2
        "\n"                                                                # 3: blank row
        "www.example.org/no-scheme,fn2,,,,\n"                               # 4
        "  https://b.example/two  ,,,,,\n"                                  # 5
    ))
    manifest = load_manifest(path)
    assert manifest.citations == [
        Citation("https://a.example/one", 2, "fn1", "a.example/one", "Smith, J.", dt.date(2020, 10, 23)),
        Citation("https://b.example/two", 5),
    ]
    assert manifest.citations[0].extra == {}  # unknown columns are ignored
    assert manifest.problems == [Problem(str(path), 4, "www.example.org/no-scheme", manifest.problems[0].reason, "fn2")]
    assert "no scheme" in manifest.problems[0].reason


def test_csv_multiline_row_reports_its_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", (
        "url,context\n"
        "https://a.example/,one line\n"
        "not a url,\"a context\n"
        "over two lines\"\n"
    ))
    manifest = load_manifest(path)
    assert [(p.line, p.text) for p in manifest.problems] == [(3, "not a url")]


# --------------------------------------------------------------------------------------------------
# Values: dates, schedules, extras, BOM, shapes


def test_yaml_fields_and_dates(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", (
        "title: The Paper\n"
        "source: papers/p.pdf\n"
        "citations:\n"
        "  - url: https://a.example/\n"
        "    id: fn1\n"
        "    cited_as: a.example\n"
        "    context: Smith (2020)\n"
        "    accessed: 2020-10-23\n"
        "  - url: https://b.example/\n"
        "    accessed: '2019-01-02'\n"
        "  - url: https://c.example/\n"
        "    accessed: 2018-03-04T05:06:07Z\n"
        "    memento: https://web.archive.org/web/2018/https://c.example/\n"
        "    suspect: true\n"
        "    candidates: [https://c.example/old]\n"
        "    note: checked by hand\n"
        "  - url: https://d.example/\n"
        "    id: 42\n"
        "    context: 1999\n"
    ))
    manifest = load_manifest(path)
    assert manifest.title == "The Paper" and manifest.source == "papers/p.pdf"
    a, b, c, d = manifest.citations
    assert (a.id, a.cited_as, a.context, a.accessed) == ("fn1", "a.example", "Smith (2020)", dt.date(2020, 10, 23))
    for citation in (a, b, c):
        assert type(citation.accessed) is dt.date
    assert b.accessed == dt.date(2019, 1, 2)
    assert c.accessed == dt.date(2018, 3, 4)
    assert c.extra == {
        "memento": "https://web.archive.org/web/2018/https://c.example/",
        "suspect": True,
        "candidates": ["https://c.example/old"],
        "note": "checked by hand",
    }
    assert (d.id, d.context, d.accessed) == ("42", "1999", None)  # numbers read as text


@pytest.mark.parametrize("interval", ["30s", "15m", "12h", "7d", "2w", " 7d "])
def test_schedule_intervals(tmp_path: Path, interval: str) -> None:
    path = write(tmp_path, "m.yaml", (
        f"schedule:\n  snapshot: '{interval}'\n  check: 1d\n"
        "citations: [https://a.example/]\n"
    ))
    assert load_manifest(path).schedule == {"snapshot": interval.strip(), "check": "1d"}


@pytest.mark.parametrize("cron", ["0 3 * * 1", "*/15 * * * *", "30 2 1 * *", "0 0 * * mon-fri"])
def test_schedule_cron(tmp_path: Path, cron: str) -> None:
    path = write(tmp_path, "m.yaml", f"schedule: {{check: '{cron}'}}\ncitations: [https://a.example/]\n")
    assert load_manifest(path).schedule == {"check": cron}


@pytest.mark.parametrize("name, content", [
    ("m.yaml", "citations:\n  - https://a.example/\n  - bad\n"),
    ("m.txt", "https://a.example/\nbad\n"),
    ("m.csv", "url\nhttps://a.example/\nbad\n"),
])
def test_bom_is_accepted(tmp_path: Path, name: str, content: str) -> None:
    manifest = load_manifest(write(tmp_path, name, "\ufeff" + content))
    assert [c.url for c in manifest.citations] == ["https://a.example/"]
    assert [p.text for p in manifest.problems] == ["bad"]
    assert manifest.problems[0].line == manifest.citations[0].line + 1


def test_bare_top_level_list(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yml", (
        "# a bare list\n"
        "- https://a.example/\n"
        "- url: https://b.example/\n"
        "  id: b\n"
        "- no-scheme.example/\n"
    ))
    manifest = load_manifest(path)
    assert [(c.url, c.line, c.id) for c in manifest.citations] == [
        ("https://a.example/", 2, None), ("https://b.example/", 3, "b")]
    assert [p.line for p in manifest.problems] == [5]


def test_manifest_of_only_bad_urls_loads_with_problems(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, "m.txt", "www.a.example\nftp://b.example/\n"))
    assert manifest.citations == []
    assert [p.line for p in manifest.problems] == [1, 2]


# --------------------------------------------------------------------------------------------------
# The shipped manifests


def test_example_manifest_loads() -> None:
    manifest = load_manifest(EXAMPLE)
    assert manifest.problems == []
    assert len(manifest.citations) == 5
    assert manifest.schedule == {"snapshot": "7d", "check": "1d"}
    for citation in manifest.citations:
        normalize_url(citation.url)


def test_artsakh_manifest_loads() -> None:
    manifest = load_manifest(ARTSAKH)
    assert manifest.problems == []
    assert len(manifest.citations) == 43
    ids = [c.id for c in manifest.citations]
    assert None not in ids
    assert len(set(ids)) == 43
    lines = [c.line for c in manifest.citations]
    assert lines == sorted(set(lines))
    for citation in manifest.citations:
        assert normalize_url(citation.url).split("://")[0] in ("http", "https")
        assert citation.accessed is None or type(citation.accessed) is dt.date


# --------------------------------------------------------------------------------------------------
# normalize_url


@pytest.mark.parametrize("url, expected", [
    ("HTTP://Example.COM/Path", "http://example.com/Path"),           # scheme and host lower-cased, path kept
    ("https://example.com", "https://example.com/"),                  # empty path becomes /
    ("https://example.com:443/a", "https://example.com/a"),           # default port dropped
    ("http://example.com:80/a", "http://example.com/a"),
    ("http://example.com:443/a", "http://example.com:443/a"),         # ... only the scheme's own default
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    ("https://example.com/a?q=1#section", "https://example.com/a?q=1"),  # fragment dropped
    ("https://bücher.example/straße", "https://xn--bcher-kva.example/stra%C3%9Fe"),  # IDN to punycode
    ("https://MÜNCHEN.example/", "https://xn--mnchen-3ya.example/"),
    ("https://example.com/a%20b?q=%2F&r=%zz", "https://example.com/a%20b?q=%2F&r=%zz"),  # escapes kept
    ("http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x"),   # IPv6 literal
    ("http://[::1]:80/", "http://[::1]/"),
    ("https://example.com./x", "https://example.com/x"),              # trailing dot of the host
    ("  https://example.com/x  ", "https://example.com/x"),           # surrounding white space
    ("https://sub_domain.example.com/", "https://sub_domain.example.com/"),
])
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected
    assert normalize_url(expected) == expected


@pytest.mark.parametrize("url, reason", [
    ("", "empty"),
    ("   ", "empty"),
    ("https://example.com/a b", "white space"),
    ("https://example.com/a\tb", "white space"),
    ("ftp://example.com/file", "unsupported scheme 'ftp'"),
    ("mailto:a@example.com", "unsupported scheme"),
    ("javascript:alert(1)", "unsupported scheme"),
    ("www.example.com/page", "no scheme"),
    ("//example.com/page", "no scheme"),
    ("https://user:secret@example.com/", "credentials"),
    ("https://user@example.com/", "credentials"),
    ("https://", "no host"),
    ("https:///path", "no host"),
    ("http://[::1/", "IPv6"),
    ("http://example.com:99999/", "Port"),
    ("http://-bad-.example/", "bad host name"),
    ("http://a..b.example/", "bad host name"),
    ("http://exa%20mple.com/", "bad host name"),
])
def test_normalize_url_rejects(url: str, reason: str) -> None:
    with pytest.raises(InvalidURL) as info:
        normalize_url(url)
    assert reason in info.value.detail
    assert info.value.outcome == "invalid_url"


def test_normalize_url_keeps_or_rejects_ipvfuture_literal() -> None:
    try:
        result = normalize_url("http://[v1.abc]/")
    except InvalidURL:
        return
    assert result == "http://[v1.abc]/"


# --------------------------------------------------------------------------------------------------
# The CLI: exit 3, one line naming file and line


def test_cli_snapshot_of_bad_manifest_exits_3(tmp_path: Path, storage: Path) -> None:
    path = write(tmp_path, "bad.yaml", (
        "title: x\n"
        "citations:\n"
        "  - url: https://a.example/\n"
        "  - ulr: https://b.example/\n"
    ))
    result = invoke(storage, "snapshot", str(path))
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "bad.yaml:4:" in lines[0] and "ulr" in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_snapshot_of_missing_manifest_is_a_usage_error(tmp_path: Path, storage: Path) -> None:
    # A target that does not exist is a mistyped argument (exit 2), not a malformed manifest (exit 3).
    result = invoke(storage, "snapshot", str(tmp_path / "gone.yaml"))
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "gone.yaml: no such manifest file" in result.stderr


def test_cli_snapshot_with_impossible_date_exits_3(tmp_path: Path, storage: Path) -> None:
    path = write(tmp_path, "bad.yaml", "citations:\n  - url: https://a.example/\n    accessed: 2020-02-30\n")
    result = invoke(storage, "snapshot", str(path))
    assert result.exit_code == 3, result.stderr
    assert "bad.yaml:2:" in result.stderr


@pytest.mark.parametrize("name", ["paper.md", "paper.pdf", "paper.docx", "paper.tex", "paper.bib", "paper.html"])
def test_a_paper_given_as_manifest_points_at_extract(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, "https://a.example/\n")
    assert_error_at(path, None, "looks like a paper", f"archiver extract {path}")


def test_a_paper_saved_as_txt_is_refused_at_its_first_prose_line(tmp_path: Path) -> None:
    text = ("# sources\nThe 2020 war in Nagorno-Karabakh and its aftermath\n"
            "was documented by many observers, online: <https://www.hrw.org/x>\n"
            "https://a.example/one\nSee also the reports of the Ombudsman of Armenia.\n")
    assert_error_at(write(tmp_path, "paper.txt", text), 2, "looks like a paper", "archiver extract")


def test_a_url_list_with_a_few_commented_lines_is_a_manifest(tmp_path: Path) -> None:
    text = "https://a.example/one  # the report\nhttps://b.example/two\nwww.c.example/three\nnot a url at all\n"
    loaded = load_manifest(write(tmp_path, "list.txt", text))
    assert len(loaded.citations) == 2 and len(loaded.problems) == 2


def test_a_big_manifest_keeps_every_citation_in_order(tmp_path: Path) -> None:
    """Past a few thousand citations the rest are kept on disk (spill.SpillList): all come back, in
    the order written, with their lines; bad lines are still problems."""
    lines = [f"https://example.org/paper/{i}" if i % 1000 != 999 else "not a url" for i in range(12_000)]
    path = tmp_path / "big.txt"
    path.write_text("# cited URLs\n" + "\n".join(lines) + "\n")
    manifest = load_manifest(path)
    good = [(i + 2, url) for i, url in enumerate(lines) if url != "not a url"]
    assert len(manifest.citations) == len(good) == 11_988
    assert [(c.line, c.url) for c in manifest.citations] == good
    assert manifest.citations[-1].fetch_url == normalize_url(good[-1][1])
    assert [p.line for p in manifest.problems] == [i + 2 for i in range(999, 12_000, 1000)]


@pytest.mark.parametrize(("data", "line", "message"), [
    (b"https://a.example/\n" * 5 + b"https://b.example/\xff\n" + b"https://c.example/\0\n", 7, "binary data"),
    (b"\xef\xbb\xbfhttps://a.example/\n" + b"https://a.example/x\n" * 70_000 + "https://b.example/é\n".encode()[:-2]
     + b"\nhttps://c.example/\n", 70_002, "not valid UTF-8"),
    (b"https://a.example/\n" * 70_000 + "https://b.example/€".encode()[:-1], 70_001, "not valid UTF-8"),
])
def test_bytes_that_are_not_text_are_reported_at_their_line(tmp_path: Path, data: bytes, line: int,
                                                           message: str) -> None:
    """The file is read in pieces (a big manifest is never held): a NUL byte anywhere wins over bad
    UTF-8 earlier; a character cut at the file's end, or at a piece's end, is found on its line."""
    path = tmp_path / "urls.txt"
    path.write_bytes(data)
    with pytest.raises(ManifestError) as raised:
        load_manifest(path)
    assert raised.value.line == line and message in str(raised.value), str(raised.value)
