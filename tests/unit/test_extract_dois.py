"""DOIs as citations of their own kind: found in every format (doi fields, `doi:` prints, doi.org links),
written `doi:` in the manifest, read back with their doi.org link to fetch, left out with --no-doi."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import invoke
from papers import make_pdf

from archiver.doi import doi_of_url, doi_url, is_doi
from archiver.errors import ManifestError
from archiver.extract import extract_papers, manifest_yaml
from archiver.manifests import load_manifest


def citations(path: Path, *, dois: bool = True) -> list[tuple[str, str]]:
    """("doi", DOI) or ("url", URL) per citation, in order."""
    (result,) = extract_papers([path], probe=False, dois=dois)
    return [("doi", f.doi) if f.doi else ("url", f.url) for f in result.citations]


def test_doi_syntax_and_its_link() -> None:
    assert is_doi("10.1000/xyz") and is_doi("10.1002/(SICI)1097-4636(199706)35:4<467::AID-JBM6>3.0.CO;2-H")
    assert not is_doi("10.10/x") and not is_doi("doi:10.1000/xyz") and not is_doi("10.1000/") and not is_doi("gddkhn")
    # doi.org reads the DOI from the path: what a URL gives meaning to is escaped, `/` and `;` stay.
    assert doi_url("10.1000/a#b?c%e<f>") == "https://doi.org/10.1000/a%23b%3Fc%25e%3Cf%3E"
    assert doi_of_url(doi_url("10.1000/a#b?c%e<f>")) == "10.1000/a#b?c%e<f>"
    assert doi_of_url("http://dx.doi.org/10.1109/C-M.1977.217672") == "10.1109/C-M.1977.217672"
    assert doi_of_url("https://doi.org/gddkhn") is None  # a shortDOI is a URL, not a DOI name
    assert doi_of_url("https://doi.acm.org/10.1145/1") is None  # a publisher's resolver is a URL


def test_markdown_prefixes_links_and_short_dois(tmp_path: Path) -> None:
    path = tmp_path / "refs.md"
    path.write_text(
        "1. Smith J. A study. Nature. 2018. doi:10.1038/s41467-018-05378-z.\n"
        "2. Jones K. Another. DOI: 10.5281/zenodo.3671998 (software).\n"
        "3. [A paper](https://doi.org/10.1098/rsif.2017.0387), and its [short form](https://doi.org/gddkhn).\n"
        "4. Data at <http://dx.doi.org/10.1109/C-M.1977.217672> and https://example.org/page.\n"
        "5. Not a DOI: https://example.org/doi:10.1000/inside-a-url and 10.1000/bare-number.\n",
        encoding="utf-8")
    assert citations(path) == [
        ("doi", "10.1038/s41467-018-05378-z"), ("doi", "10.5281/zenodo.3671998"),
        ("doi", "10.1098/rsif.2017.0387"), ("url", "https://doi.org/gddkhn"),
        ("doi", "10.1109/C-M.1977.217672"), ("url", "https://example.org/page"),
        ("url", "https://example.org/doi:10.1000/inside-a-url"),
    ]
    assert citations(path, dois=False) == [
        ("url", "https://doi.org/gddkhn"), ("url", "https://example.org/page"),
        ("url", "https://example.org/doi:10.1000/inside-a-url")]


def test_html_doi_printed_and_linked_is_one_citation(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        '<html><body><ol><li>Mardt A. VAMPnets. Nat Commun. 2018. DOI: '
        '<a href="https://doi.org/10.1038/s41467-017-02388-1">10.1038/s41467-017-02388-1</a></li>'
        '<li><a href="https://example.org/tool">a tool</a></li></ol></body></html>', encoding="utf-8")
    assert citations(path) == [("doi", "10.1038/s41467-017-02388-1"), ("url", "https://example.org/tool")]


def test_pdf_wrapped_doi_link_with_its_annotation(tmp_path: Path) -> None:
    path = tmp_path / "paper.pdf"
    make_pdf(path, [(1, "Nielsen AAK, Voigt CA. Deep learning. Nat Commun. 2018.",
                     "https://doi.org/10.1038/s41467-|018-05378-z"),
                    (2, "A report.", "https://www.example.org/reports/|annual-2020.html")], annotate=True)
    assert citations(path) == [("doi", "10.1038/s41467-018-05378-z"),
                               ("url", "https://www.example.org/reports/annual-2020.html")]


def test_bibtex_doi_field_and_url_that_is_the_same_doi(tmp_path: Path) -> None:
    path = tmp_path / "refs.bib"
    path.write_text(
        "@article{a, title = {A}, doi = {10.1000/ABC}, url = {http://dx.doi.org/10.1000/abc}}\n"
        "@article{b, title = {B}, doi = {https://doi.org/10.1000/b\\_1}, url = {https://example.org/b}}\n"
        "@misc{c, title = {C}, url = {https://doi.org/gddkhn}}\n", encoding="utf-8")
    (result,) = extract_papers([path], probe=False)
    assert [(f.id, f.doi, f.url) for f in result.citations] == [
        ("a", "10.1000/abc", "https://doi.org/10.1000/abc"),  # the url field's form, the first seen
        ("b-a", None, "https://example.org/b"),
        ("b-b", "10.1000/b_1", "https://doi.org/10.1000/b_1"),
        ("c", None, "https://doi.org/gddkhn"),
    ]


def test_manifest_round_trip_and_summary(tmp_path: Path) -> None:
    paper = tmp_path / "refs.md"
    paper.write_text("See doi:10.1000/a#b and https://example.org/x (accessed 3 March 2021).\n", encoding="utf-8")
    out = tmp_path / "m.yaml"
    result = invoke(tmp_path / "storage", "extract", str(paper), "--offline", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "found 1 URLs, 1 DOIs;" in result.stderr
    entries = yaml.safe_load(out.read_text())["citations"]
    assert entries[0] == {"doi": "10.1000/a#b", "context": "See"} and entries[1]["url"] == "https://example.org/x"
    manifest = load_manifest(out)
    assert [(c.doi, c.fetch_url) for c in manifest.citations] == [
        ("10.1000/a#b", "https://doi.org/10.1000/a%23b"), (None, "https://example.org/x")]
    assert manifest_yaml(extract_papers([paper], probe=False)).count("doi: 10.1000/a#b") == 1
    none = invoke(tmp_path / "storage", "extract", str(paper), "--offline", "--no-doi")
    assert none.exit_code == 0 and "doi:" not in none.stdout and "found 1 URLs, 0 DOIs;" in none.stderr
    only_doi = tmp_path / "only.md"
    only_doi.write_text("doi:10.1000/only\n", encoding="utf-8")
    assert invoke(tmp_path / "storage", "extract", str(only_doi), "--offline").exit_code == 0
    refused = invoke(tmp_path / "storage", "extract", str(only_doi), "--offline", "--no-doi")
    assert refused.exit_code == 1 and "no cited URL found" in refused.stderr


def test_manifest_doi_entries(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("citations:\n"
                    "  - doi: 10.1000/xyz\n    id: a\n"
                    "  - url: https://publisher.example/article/1\n    doi: 10.1000/one\n"
                    "  - doi: '10.1002/(SICI)1097-4636(199706)35:4<467::AID-JBM6>3.0.CO;2-H'\n", encoding="utf-8")
    a, both, sici = load_manifest(path).citations
    assert (a.id, a.doi, a.url, a.fetch_url) == ("a", "10.1000/xyz", "https://doi.org/10.1000/xyz",
                                                 "https://doi.org/10.1000/xyz")
    assert (both.doi, both.fetch_url) == ("10.1000/one", "https://publisher.example/article/1")  # the url is fetched
    assert sici.fetch_url == "https://doi.org/10.1002/(SICI)1097-4636(199706)35:4%3C467::AID-JBM6%3E3.0.CO;2-H"
    csv = tmp_path / "m.csv"
    csv.write_text("doi,id\n10.1000/xyz,a\n", encoding="utf-8")
    assert [c.fetch_url for c in load_manifest(csv).citations] == ["https://doi.org/10.1000/xyz"]


@pytest.mark.parametrize("value", ["https://doi.org/10.1000/xyz", "doi:10.1000/xyz", "10.1000", "xyz", "10.12/x"])
def test_manifest_bad_doi_is_a_one_line_error_with_its_line(tmp_path: Path, value: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"citations:\n  - url: https://example.org/\n  - doi: '{value}'\n    id: x\n", encoding="utf-8")
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    assert err.value.line == 3 and "is not a DOI (expected 10.NNNN/" in str(err.value) and "\n" not in str(err.value)
