"""Where a URL ends is decided by each reader from its format's own syntax, before any text-level repair:
Markdown link targets, reference definitions and code spans, LaTeX's escaped `\\#`, BibTeX fields, and
the hyperlinks and annotations that settle the printed text they cover (DOCX, HTML, PDF).

Each case is a real file written here and read through `extract_papers`, as the CLI reads it.
"""

from __future__ import annotations

import time
from pathlib import Path

from papers import make_docx_paragraphs, make_pdf_lines

from archiver.extract import extract_papers


def urls(path: Path) -> list[str]:
    return [c.url for r in extract_papers([path], probe=False) for c in r.citations]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- Markdown ----------------------------------------------------------------------------------------


def test_markdown_link_targets_end_at_their_parenthesis(tmp_path: Path) -> None:
    path = write(tmp_path, "law.md",
                 "Cf. _Malley,_ [_supra,_ ](https://cite.case.law/us/475/335/#p341)[at 340-342]"
                 "(https://cite.case.law/us/475/335/#p341); see [28 CFR § 50.15]"
                 "(https://cite.case.law/citations/?q=28%20C.F.R.%20%C2%A7%2050.15)(c) (1987), and the "
                 "[wiki](https://en.wikipedia.org/wiki/Bracket_(disambiguation)).\n")
    assert urls(path) == ["https://cite.case.law/us/475/335/#p341", "https://cite.case.law/us/475/335/#p341",
                          "https://cite.case.law/citations/?q=28%20C.F.R.%20%C2%A7%2050.15",
                          "https://en.wikipedia.org/wiki/Bracket_(disambiguation)"]


def test_markdown_reference_definitions_end_at_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, "rfc.md",
                 "Like [C#] and [the spec][cm].\n\n"
                 "[C#]: https://example.org/languages#prior-art\n"
                 "[cm]: http://spec.commonmark.org/0.27/#link-reference-definitions \"CommonMark\"\n"
                 "[text]\n"
                 "[other]: <https://example.org/with space>\n")
    assert urls(path) == ["https://example.org/languages#prior-art",
                          "http://spec.commonmark.org/0.27/#link-reference-definitions",
                          "https://example.org/with%20space"]


def test_markdown_code_spans_and_blocks(tmp_path: Path) -> None:
    path = write(tmp_path, "code.md",
                 "Base URL, e.g. `https://doc.rust-lang.org/nightly/`.\n\n"
                 "```\nrustdoc --extern-base-url=\"regex=https://docs.rs/regex/0.2.2/regex/\"\n```\n")
    assert urls(path) == ["https://doc.rust-lang.org/nightly/", "https://docs.rs/regex/0.2.2/regex/"]


def test_markdown_bare_urls_never_run_on_over_a_line(tmp_path: Path) -> None:
    # Typed text: the next line starting with something URL-like is not the rest of the URL.
    path = write(tmp_path, "bare.md", "See https://example.org/a_\nand/or https://example.org/b-\nsection?x=1.\n")
    assert urls(path) == ["https://example.org/a_", "https://example.org/b-"]


def test_markdown_autolinks_html_links_images_and_empty_targets(tmp_path: Path) -> None:
    path = write(tmp_path, "mixed.md",
                 "<https://example.org/auto?q=1&r=2> and <a href=\"https://example.org/html\">h</a>; "
                 "![logo](https://example.org/logo.png) [![badge](https://img.example.org/b.svg)]"
                 "(https://example.org/badge) [none](#) [rel](./other.md) <mailto:a@example.org>\n"
                 "<!-- https://example.org/commented-out -->\n")
    (result,) = extract_papers([path], probe=False)
    assert [c.url for c in result.citations] == ["https://example.org/auto?q=1&r=2", "https://example.org/html",
                                                 "https://example.org/badge"]
    assert result.stripped == 1


# --- LaTeX -------------------------------------------------------------------------------------------


def test_latex_escaped_hash_keeps_the_fragment(tmp_path: Path) -> None:
    path = write(tmp_path, "paper.tex",
                 "\\begin{document}Ommers\\footnote{see \\url{https://example.org/wiki/Gender_neutral\\#Aunt/Uncle}}"
                 " and \\href{https://example.org/92chap1.html\\#106}{p. 106},"
                 " \\href{https://example.org/92chap1.html\\#107}{p. 107}.\\end{document}\n")
    assert urls(path) == ["https://example.org/92chap1.html#106", "https://example.org/92chap1.html#107",
                          "https://example.org/wiki/Gender_neutral#Aunt/Uncle"]


# --- DOCX and HTML: the hyperlink settles the printed text it covers ----------------------------------


def test_docx_hyperlink_split_at_a_space_is_one_url(tmp_path: Path) -> None:
    target = "https://www.nationaalarchief.nl/onderzoeken/archief/2.14.73/invnr/%40H.~H.3~663"
    path = tmp_path / "split.docx"
    # Word stores one hyperlink per run; the printed URL has a space the hyperlink bridges.
    make_docx_paragraphs(path, [["Letters, 1940-1960. "] + [(piece, target) for piece in (
        "https://", "www.nationaalarchief.nl/", "onderzoeken/", "archief/2.14.73/", "invnr/", " ", "%40H.~",
        "H.3~663")] + ["."]])
    assert urls(path) == [target]


def test_docx_printed_fragment_the_hyperlink_lacks_is_kept(tmp_path: Path) -> None:
    page = "https://docs.nvidia.com/deeplearning/sdk/cudnn-developer-guide/index.html"
    path = tmp_path / "fragment.docx"
    make_docx_paragraphs(path, [["Available: ", (page + "#reproducibility", page), "."],
                                ["The ", ("guide", page + "#intro"), " and ",
                                 ("https://example.org/a#b", "https://example.org/a#c")]])
    assert urls(path) == [page + "#reproducibility", "https://example.org/a#c", page + "#intro"]


def test_html_link_text_that_is_the_url_gives_one_citation(tmp_path: Path) -> None:
    path = write(tmp_path, "page.html",
                 "<p>Available: <a href='https://docs.example.org/guide/index.html'>https://docs.example.org/"
                 "<wbr>guide/ index.html#reproducibility</a>. See <a href='https://example.org/r'>the report</a>"
                 " and <a href='https://example.org/x_(y)'>https://example.org/x_(y)</a>.</p>")
    (result,) = extract_papers([path], probe=False)
    assert [c.url for c in result.citations] == ["https://docs.example.org/guide/index.html#reproducibility",
                                                 "https://example.org/x_(y)", "https://example.org/r"]
    assert result.citations[0].confirmed == "link"


# --- PDF: an annotation settles the printed text it covers -------------------------------------------


def test_pdf_annotation_settles_its_line_broken_print(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    video = "https://www.youtube.com/watch?v=jLR-Xy_Z9"
    record = "https://zenodo.org/records/8325360"
    make_pdf_lines(path, [["The code is archived at ", (record[:27], record)],
                          [(record[27:], record), ". The talk is at ", (video[:36], video)],
                          [(video[36:], video), " (2019), and the report ", ("here", "https://example.org/r"), "."]])
    assert urls(path) == [record, video, "https://example.org/r"]


def test_pdf_annotation_covering_part_of_a_printed_url_covers_the_url(tmp_path: Path) -> None:
    path = tmp_path / "loose.pdf"
    target = "https://digital.staatsbibliothek-berlin.de/"
    make_pdf_lines(path, [["Editions: (https://www.delpher.nl/, ", (target[:34], target), target[34:] + "))"]])
    assert urls(path) == ["https://www.delpher.nl/", target]


def test_pdf_printed_fragment_the_annotation_lacks_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "fragment.pdf"
    make_pdf_lines(path, [["See ", ("https://example.org/manual.html#sec_2.1", "https://example.org/manual.html"),
                           " and ", ("https://example.org/b#x", "https://example.org/b#y"), "."]])
    assert urls(path) == ["https://example.org/manual.html#sec_2.1", "https://example.org/b#y"]


# --- BibTeX ------------------------------------------------------------------------------------------


def test_bibtex_url_fields_end_by_their_own_syntax(tmp_path: Path) -> None:
    path = write(tmp_path, "refs.bib",
                 "@misc{two, title={Two}, url={http://www.example.org/one.html\\nhttps://example.org/two?x=1}}\n"
                 "@misc{frag, title={Frag}, url={https://example.org/wiki/Page_\\#Section_2}}\n"
                 "@misc{raw, title={Raw}, url={https://example.org/wiki/Other_#Section_3}}\n"
                 "@misc{how, title={How}, howpublished={\\url{https://example.org/a_b\\#c_d}}}\n"
                 "@misc{note, title={Note}, note={Online at https://example.org/n_\\#x\\_y\\n"
                 "https://example.org/m, accessed 2020-01-02}}\n"
                 "@misc{tilde, title={Tilde}, url={https://example.org/\\textasciitilde{}user/p\\%20q}}\n")
    assert urls(path) == ["http://www.example.org/one.html", "https://example.org/two?x=1",
                          "https://example.org/wiki/Page_#Section_2", "https://example.org/wiki/Other_#Section_3",
                          "https://example.org/a_b#c_d", "https://example.org/n_#x_y", "https://example.org/m",
                          "https://example.org/~user/p%20q"]


def test_markdown_with_unclosed_markup_is_read_in_linear_time(tmp_path: Path) -> None:
    """Each "[" or "(" looking for its closer to the end of the text would take hours on these."""
    for unit in ("[", "[a](", "[a](b(", "[a](<b>", "`a``"):
        path = write(tmp_path, "hostile.md", unit * (200_000 // len(unit)))
        started = time.monotonic()
        assert urls(path) == []
        assert time.monotonic() - started < 10, unit
    path = write(tmp_path, "hostile.txt", "a" * 100_000 + "\n")  # one long word, in wrapped text too
    started = time.monotonic()
    assert urls(path) == []
    assert time.monotonic() - started < 10
