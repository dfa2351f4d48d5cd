"""Property tests (hypothesis) for manifest loading and URL normalisation.

Files are written into a fresh temporary directory inside each example (not tmp_path, which is one
directory for all examples of a test).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from archiver.errors import InvalidURL, ManifestError
from archiver.manifests import Manifest, load_manifest
from archiver.urls import normalize_url

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load_text(name: str, content: str | bytes) -> Manifest:
    """Write `content` to a file called `name` in a fresh directory and load it."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return load_manifest(path)


def load_or_error(name: str, content: str | bytes) -> Manifest | ManifestError:
    """Load, turning a ManifestError into a value; anything else propagates and fails the test."""
    try:
        return load_text(name, content)
    except ManifestError as err:
        assert err.path.endswith(name)
        assert err.line is None or err.line >= 1
        assert str(err).startswith(err.path)
        return err


# --------------------------------------------------------------------------------------------------
# Strategies

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
TLD = st.sampled_from(["com", "org", "example", "am", "co.uk", "xn--p1ai"])
SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%", max_size=12)
QUERY = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789=&+-._%", max_size=15)


@st.composite
def http_urls(draw: st.DrawFn) -> str:
    """Absolute http(s) URLs that archiver must accept, in the forms people write them."""
    scheme = draw(st.sampled_from(["http", "https", "HTTPS"]))
    host = ".".join(draw(st.lists(LABEL, min_size=1, max_size=3))) + "." + draw(TLD)
    if draw(st.booleans()):
        host = host.upper()
    port = draw(st.sampled_from(["", "", ":80", ":443", ":8080"]))
    path = "/" + "/".join(draw(st.lists(SEGMENT, max_size=4)))
    query = draw(st.one_of(st.just(""), QUERY.map(lambda q: "?" + q)))
    fragment = draw(st.sampled_from(["", "#top", "#fn-3"]))
    return f"{scheme}://{host}{port}{path}{query}{fragment}"


URLISH_PREFIXES = ["http://", "https://", "HTTP://", "https://user@", "http://[", "https://[::1]", "ftp://", "//",
                   "www.", "http://xn--", "https://a.example:"]
# Text that often gets past the scheme check, so the later checks are exercised too.
urlish_text = st.one_of(
    st.text(max_size=40),
    st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(URLISH_PREFIXES), st.text(max_size=40)),
    http_urls(),
    st.builds(lambda url, junk: url + junk, http_urls(), st.text(max_size=5)),
)

# Structured YAML: mappings whose keys are mostly the ones the loader knows, with values of any shape.
KEYS = st.sampled_from(["title", "source", "schedule", "citations", "url", "id", "cited_as", "context", "accessed",
                        "memento", "suspect", "candidates", "note", "invalid", "reason", "snapshot", "check", "ulr"])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20), http_urls(),
    st.dates(), st.sampled_from(["7d", "30m", "0s", "* * * * *", "61 * * * *", "2020-10-23", "fn1", "fn1"]),
)
yaml_values = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=20,
)
citation_values = st.one_of(
    http_urls(),
    urlish_text,
    st.fixed_dictionaries(
        {"url": st.one_of(http_urls(), http_urls(), urlish_text, SCALARS)},
        optional={key: st.one_of(SCALARS, yaml_values) for key in
                  ["id", "cited_as", "context", "accessed", "memento", "suspect", "candidates", "note"]},
    ),
    st.fixed_dictionaries({"invalid": st.text(max_size=20)}, optional={"reason": SCALARS}),
    yaml_values,
)
# Mostly the shape of a real manifest, so that validation beyond the first check is reached.
manifest_values = st.one_of(
    st.fixed_dictionaries(
        {"citations": st.lists(citation_values, max_size=6)},
        optional={"title": SCALARS, "source": SCALARS,
                  "schedule": st.one_of(SCALARS, st.dictionaries(st.sampled_from(["snapshot", "check", "snap"]),
                                                                 SCALARS, max_size=2))},
    ),
    st.lists(citation_values, max_size=6),
    yaml_values,
)


# --------------------------------------------------------------------------------------------------
# (1) Nothing but ManifestError, whatever the file holds


@FAST
@given(content=st.binary(max_size=300), name=st.sampled_from(["m.txt", "m.csv"]))
def test_arbitrary_bytes_as_txt_or_csv_never_crash(content: bytes, name: str) -> None:
    load_or_error(name, content)


@FAST
@given(content=st.text(max_size=300), name=st.sampled_from(["m.txt", "m.csv"]))
@example(content='url,id\n"https://a.example/,a\n', name="m.csv")  # unclosed quote
@example(content="url\x00,id\nhttps://a.example/\x00,a\n", name="m.csv")
def test_arbitrary_text_as_txt_or_csv_never_crash(content: str, name: str) -> None:
    load_or_error(name, content)


# PyYAML refuses these characters; see test_yaml_with_control_characters_never_crashes.
YAML_PRINTABLE = st.characters(blacklist_categories=("Cs",), blacklist_characters=[
    chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, *range(0x80, 0x85),
                     *range(0x86, 0xA0), 0xFFFE, 0xFFFF]])


@FAST
@given(content=st.one_of(st.text(YAML_PRINTABLE, max_size=300),
                         st.lists(st.sampled_from(["citations:", "  - ", "url: ", "- https://a.example/", "{", "}",
                                                   "[", "]", ": ", "\n", "  ", "id: x", "&a ", "*a", "!!str ",
                                                   "<<: ", "? ", "---\n", "'", '"', "#", "accessed: 2020-01-01"]))
                         .map("".join)))
def test_arbitrary_printable_text_as_yaml_never_crashes(content: str) -> None:
    load_or_error("m.yaml", content)


@FAST
@given(value=manifest_values, flow=st.booleans())
@example(value={"citations": [{"url": "https://a.example/", "accessed": "2020-10-23"}], "schedule": {"check": "7d"}},
         flow=False)
def test_structured_yaml_never_crashes(value: object, flow: bool) -> None:
    content = yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True)
    result = load_or_error("m.yaml", content)
    if isinstance(result, Manifest):
        assert result.citations or result.problems
        for citation in result.citations:
            normalize_url(citation.url)
            assert citation.accessed is None or type(citation.accessed) is dt.date


@settings(max_examples=50, deadline=None)
@given(content=st.text(max_size=100))
@example(content="citations:\n  - https://a.example/\x00\n")
def test_yaml_with_control_characters_never_crashes(content: str) -> None:
    load_or_error("m.yaml", content)


# --------------------------------------------------------------------------------------------------
# (2) txt manifests never invent URLs

# Line separators other than \n and \r are excluded here: see test_txt_line_numbers_count_newlines_only.
LINE_CHARS = st.characters(blacklist_categories=("Cs",),
                           blacklist_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
txt_lines = st.lists(
    st.one_of(
        st.text(LINE_CHARS, max_size=30),
        http_urls(),
        st.builds(lambda url, comment: f"{url} # {comment}", http_urls(), st.text(LINE_CHARS, max_size=10)),
        st.builds(lambda url: f"  {url}\t", http_urls()),
        st.just("# a comment"),
        st.just(""),
    ),
    min_size=1, max_size=12,
)


@FAST
@given(lines=txt_lines)
def test_txt_citations_come_verbatim_from_their_line(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    result = load_or_error("m.txt", text)
    if isinstance(result, ManifestError):
        # Refused whole: nothing listed, binary data, or mostly prose (a paper, not a list of URLs).
        assert ("no citations" in result.problem or ("\0" in text and "NUL" in result.problem)
                or "looks like a paper" in result.problem), result.problem
        return
    for citation in result.citations:
        assert citation.url in text
        assert citation.url in lines[citation.line - 1]
        normalize_url(citation.url)
    for problem in result.problems:
        assert problem.text in lines[problem.line - 1]
        with pytest.raises(InvalidURL):
            normalize_url(problem.text)
    # Every line that is not blank or a comment is accounted for exactly once, in order.
    expected = [n for n, line in enumerate(lines, start=1) if line.strip() and not line.strip().startswith("#")]
    assert [c.line for c in result.citations] == sorted(c.line for c in result.citations)
    assert sorted([c.line for c in result.citations] + [p.line for p in result.problems]) == expected


# --------------------------------------------------------------------------------------------------
# (3) normalize_url: rejects, or returns an absolute http(s) URL that is its own normal form


@FAST
@given(url=urlish_text)
@example(url="HTTP://Bücher.Example:80/a b")
@example(url="https://[2001:DB8::1]:443/x?y#z")
def test_normalize_url_is_valid_and_idempotent(url: str) -> None:
    try:
        normal = normalize_url(url)
    except InvalidURL as exc:
        assert exc.detail
        return
    parts = urlsplit(normal)
    assert parts.scheme in ("http", "https")
    assert parts.hostname
    assert parts.fragment == ""
    assert not any(ch.isspace() for ch in normal)
    assert normal.isascii()
    assert normalize_url(normal) == normal


@FAST
@given(url=http_urls())
def test_generated_http_urls_are_accepted(url: str) -> None:
    normal = normalize_url(url)
    assert normal == normal.strip()
    assert urlsplit(normal).hostname == urlsplit(url).hostname  # already ASCII: only lower-cased
    assert urlsplit(normal).path == (urlsplit(url).path or "/")


# --------------------------------------------------------------------------------------------------
# (4) YAML manifests built from valid URL lists round-trip with the right line numbers


@st.composite
def yaml_manifests(draw: st.DrawFn) -> tuple[str, list[tuple[str, int, str | None]]]:
    """A YAML manifest text and the (url, line, id) of each citation it holds, in order."""
    urls = draw(st.lists(http_urls(), min_size=1, max_size=10))
    lines = []
    if draw(st.booleans()):
        lines.append("# generated manifest")
    if draw(st.booleans()):
        lines.append("title: 'Generated'")
    lines.append("citations:")
    expected = []
    for number, url in enumerate(urls):
        if draw(st.booleans()):
            lines.append("  # a comment between citations")
        written = draw(st.sampled_from([url, json.dumps(url), "'" + url + "'"]))  # plain, double, single quoted
        form = draw(st.sampled_from(["bare", "mapping", "mapping-id-first"]))
        cid = f"c{number}" if form != "bare" and draw(st.booleans()) else None
        if form == "mapping-id-first" and cid:
            lines.append(f"  - id: {cid}")
            start = len(lines)
            lines.append(f"    url: {written}")
        else:
            lines.append(f"  - url: {written}" if form != "bare" else f"  - {written}")
            start = len(lines)
            if cid:
                lines.append(f"    id: {cid}")
        if form != "bare" and draw(st.booleans()):
            lines.append("    context: 'Somebody, \"A page\" (2020)'")
        expected.append((url, start, cid))
    if draw(st.booleans()):
        lines.append("schedule: {snapshot: 7d}")
    return "\n".join(lines) + "\n", expected


@FAST
@given(manifest=yaml_manifests())
def test_yaml_manifest_round_trips(manifest: tuple[str, list[tuple[str, int, str | None]]]) -> None:
    text, expected = manifest
    loaded = load_text("m.yaml", text)
    assert loaded.problems == []
    assert [(c.url, c.line, c.id) for c in loaded.citations] == expected
    text_lines = text.split("\n")
    for citation in loaded.citations:  # the url is on the citation's first line or (id first) the next
        assert citation.url in "".join(text_lines[citation.line - 1:citation.line + 1])
