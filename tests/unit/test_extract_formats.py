"""Readers of each paper format: the text a reader sees, and the link targets the file carries."""

from __future__ import annotations

import datetime as dt
import re
import time
import zipfile
from pathlib import Path

import pytest
from papers import intended, make_docx, make_pdf, make_pdf_pages
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from archiver.errors import UsageError
from archiver.extract.document import Document, Link
from archiver.extract.pdf import read_pdf
from archiver.extract.readers import read_document
from archiver.extract.text import extract_text

# One URL per way a typesetter wraps them: at a hyphen of the URL (kept at the line end), mid-word
# with no hyphen, and after a slash.
FOOTNOTES = [
    (1, "Lucia de la Torre, “Azerbaijani postal stamps”, The Calvert Journal (12 January 2021)",
     "https://www.calvertjournal.com/articles/show/12442/azerbaijan-stamps-nagorno-|karabakh-war"),
    (2, "Ryan Grenoble, “This Daily Mail Cartoon”, HuffPost (17 November 2015)",
     "https://www.huffingtonpost.ca/entry/daily-mail-refugee-cartoon_n_564b526ee4b06037734ae115?ri18n=|true"),
    (3, "UNHCR, “Publication for CIS Conference”",
     "https://www.unhcr.org/publications/|refugeemag/3b5583fd4/unhcr-publi|cation.html"),
]
URLS = [intended(url) for _, _, url in FOOTNOTES]


def pieces(url: str) -> list[str]:
    return url.split("|")


# --- PDF ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def annotated(tmp_path_factory: pytest.TempPathFactory) -> Document:
    path = tmp_path_factory.mktemp("pdf") / "annotated.pdf"
    make_pdf(path, FOOTNOTES, annotate=True)
    return read_document(path)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Document:
    path = tmp_path_factory.mktemp("pdf") / "plain.pdf"
    make_pdf(path, FOOTNOTES, annotate=False)
    return read_document(path)


def test_pdf_annotations_give_the_intended_url_and_the_printed_text(annotated: Document) -> None:
    assert annotated.kind == "pdf"
    # Each wrapped URL has one annotation per printed line; they come out as one link.
    assert [link.url for link in annotated.links] == URLS
    assert [link.text for link in annotated.links] == ["".join(pieces(url)) for _, _, url in FOOTNOTES]
    assert {link.page for link in annotated.links} == {1}
    assert annotated.stripped == 0


def test_pdf_text_keeps_the_printed_line_breaks(plain: Document) -> None:
    assert plain.links == []
    for _, _, url in FOOTNOTES:
        assert "\n".join(pieces(url)) in plain.text
    # pdfium glues a superscript footnote mark to the note; the reader puts it on its own line.
    for number, citation, _ in FOOTNOTES:
        assert f"\n{number}\n{citation}" in plain.text
    assert "\r" not in plain.text and "\ufffe" not in plain.text


def test_pdf_text_through_the_text_extractor(plain: Document) -> None:
    found = extract_text(plain.text, source="plain.pdf").citations
    assert [f.id for f in found] == ["fn1", "fn2", "fn3"]
    hyphen, midword, slash = found
    # A hyphen at a line end may be the URL's or the typesetter's: either form may be chosen.
    assert URLS[0] in [hyphen.url, *hyphen.candidates]
    assert midword.url == URLS[1]
    assert slash.url == URLS[2]
    assert hyphen.accessed == dt.date(2021, 1, 12)
    assert hyphen.context is not None and hyphen.context.startswith("Lucia de la Torre")


def test_pdf_annotated_text_through_the_text_extractor(annotated: Document) -> None:
    found = extract_text(annotated.text, source="annotated.pdf").citations
    assert [f.id for f in found] == ["fn1", "fn2", "fn3"]
    assert all(url in [f.url, *f.candidates] for url, f in zip(URLS, found, strict=True))


def test_pdf_links_on_later_pages(tmp_path: Path) -> None:
    notes = [(n, f"Note {n}", f"https://example.org/notes/{n}/|page") for n in range(1, 7)]
    document = read_pdf(_pdf(tmp_path, notes))
    assert [(link.url, link.page) for link in document.links] == [
        (f"https://example.org/notes/{n}/page", 1 if n <= 4 else 2) for n in range(1, 7)]
    found = extract_text(document.text, source="x").citations
    assert [f.id for f in found] == [f"fn{n}" for n in range(1, 7)]


def _pdf(tmp_path: Path, notes: list[tuple[int, str, str]]) -> Path:
    path = tmp_path / "paper.pdf"
    make_pdf(path, notes, annotate=True)
    return path


def test_pdf_duplicate_and_non_uri_annotations(tmp_path: Path) -> None:
    path = tmp_path / "dup.pdf"
    canvas = Canvas(str(path))
    canvas.setFont("Helvetica", 10)
    canvas.drawString(72, 700, "see the report here")

    def span(before: str, text: str) -> tuple[float, float, float, float]:
        x = 72 + stringWidth(before, "Helvetica", 10)
        return (x, 697, x + stringWidth(text, "Helvetica", 10), 710)

    for _ in range(2):  # the same annotation written twice
        canvas.linkURL("https://example.org/report", span("see ", "the report"), relative=0)
    canvas.bookmarkPage("top")
    canvas.linkAbsolute("top", "top", (72, 680, 100, 690))  # an internal jump: not a citation
    canvas.linkURL("https://example.org/other", span("see the report ", "here"), relative=0)
    canvas.save()
    document = read_pdf(path)
    assert document.links == [Link("https://example.org/report", "the report", 1),
                              Link("https://example.org/other", "here", 1)]


def test_pdf_300_pages_is_fast(tmp_path: Path) -> None:
    path = tmp_path / "long.pdf"
    urls = make_pdf_pages(path, 300)
    start = time.perf_counter()
    document = read_pdf(path)
    elapsed = time.perf_counter() - start
    assert [link.url for link in document.links] == urls
    assert [link.page for link in document.links] == list(range(1, 301))
    assert len(document.text) > 300 * 3000
    assert elapsed < 10, elapsed


@pytest.mark.parametrize("data", [b"", b"%PDF-1.4\nnot really", b"\x00" * 100])
def test_corrupt_pdf_is_a_usage_error_naming_the_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "broken paper.pdf"
    path.write_bytes(data)
    with pytest.raises(UsageError, match="broken paper.pdf: not a readable PDF") as info:
        read_document(path)
    assert "\n" not in str(info.value)


def test_truncated_and_encrypted_pdf(tmp_path: Path) -> None:
    whole = _pdf(tmp_path, FOOTNOTES)
    half = tmp_path / "half.pdf"
    half.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(UsageError, match="half.pdf"):
        read_document(half)
    locked = tmp_path / "locked.pdf"
    canvas = Canvas(str(locked), encrypt="secret")
    canvas.drawString(72, 700, "hello")
    canvas.save()
    with pytest.raises(UsageError, match="locked.pdf: not a readable PDF .*password"):
        read_document(locked)


# --- DOCX --------------------------------------------------------------------------------------------

DOCX_BODY = [("the report", "https://example.org/report-2021"),
             ("UN statement", "https://www.un.org/press/en/2020/sgsm20000.doc.htm")]
DOCX_NOTES = [("Lucia de la Torre, “Stamps”, The Calvert Journal (12 January 2021)",
               "www.calvertjournal.com/articles/show/12442", "https://www.calvertjournal.com/articles/show/12442"),
              ("Human Rights Watch, “Report” (accessed 3 March 2021)", "the report on the war",
               "https://www.hrw.org/report/2021/war?lang=en&x=1"),
              ("Ministry, “Statement”", "https://www.nkr.am/en/karabakh-national-liberation-movement",
               "https://www.nkr.am/en/karabakh-national-liberation-movement")]


@pytest.fixture(scope="module")
def word(tmp_path_factory: pytest.TempPathFactory) -> Document:
    path = tmp_path_factory.mktemp("docx") / "paper.docx"
    make_docx(path, DOCX_BODY, DOCX_NOTES, fields=[("the field link", "https://example.org/field")],
              empty_links=1)
    import docx
    assert len(docx.Document(str(path)).paragraphs) > 3  # a package python-docx itself opens
    with zipfile.ZipFile(path) as package:
        assert "word/footnotes.xml" in package.namelist()
        assert "footnotes+xml" in package.read("[Content_Types].xml").decode()
    return read_document(path)


def test_docx_hyperlinks_in_body_fields_and_footnotes(word: Document) -> None:
    assert word.kind == "docx"
    assert word.links == [
        Link("https://example.org/report-2021", "the report"),
        Link("https://www.un.org/press/en/2020/sgsm20000.doc.htm", "UN statement"),
        Link("https://example.org/field", "the field link"),
        *(Link(url, text) for _, text, url in DOCX_NOTES),
    ]
    assert word.stripped == 1


def test_docx_footnotes_come_numbered_like_a_pdf(word: Document) -> None:
    for number, (citation, text, _) in enumerate(DOCX_NOTES, 1):
        # A hyperlink's printed URL is delimited where the hyperlink ends; prose link text stays prose.
        shown = f"<{text}>" if "." in text else text
        assert f"\n{number}\n{citation}, online: {shown}." in word.text
    assert "See the report.1" in word.text  # the reference mark, superscript in print
    assert "1\t2\n3\t4" in word.text  # table cells share a line: no stray footnote numbers


def test_docx_text_through_the_text_extractor(word: Document) -> None:
    found = {f.url: f for f in extract_text(word.text, source="paper.docx").citations}
    calvert = found["https://www.calvertjournal.com/articles/show/12442"]
    assert calvert.id == "fn1" and calvert.accessed == dt.date(2021, 1, 12)
    assert found["https://www.nkr.am/en/karabakh-national-liberation-movement"].id == "fn3"
    assert len(found) == 2  # the other links show text, not URLs: reconciliation adds them


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04garbage", b"not a zip at all"])
def test_corrupt_docx_is_a_usage_error_naming_the_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(data)
    with pytest.raises(UsageError, match="broken.docx: not a readable DOCX"):
        read_document(path)


def test_zip_that_is_not_a_docx(tmp_path: Path) -> None:
    path = tmp_path / "other.docx"
    with zipfile.ZipFile(path, "w") as package:
        package.writestr("hello.txt", "hello")
    with pytest.raises(UsageError, match="other.docx: not a readable DOCX"):
        read_document(path)


# --- HTML --------------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Not body text</title><base href="https://example.org/papers/">
<style>p { color: red }</style></head>
<body><h1>War crimes — a report</h1><!-- a comment -->after the comment
<p>See <a href="report.pdf">the   annual
report</a> and <a href="https://www.un.org/x?a=1&amp;b=2">UN</a>.<sup><a href="#fn1">1</a></sup>
<script>var u = "https://tracker.example.com/x";</script></p>
<p>Empty: <a href="#">x</a> <a href="">y</a> <a href=" javascript:void(0) ">z</a> <a href="mailto:a@b.c">mail</a>
<a name="anchor">named</a><br>next line</p>
<table><tr><td>1</td><td>2</td></tr></table>
<section class="footnotes"><ol><li id="fn1"><p>Author, “Title” (accessed 2 May 2020), online:
<a href="https://example.com/a-b">https://example.com/a-b</a> <a href="#fnref1">↩</a></p></li></ol></section>
</body></html>
"""


def test_html_links_base_and_stripped(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(PAGE, encoding="utf-8")
    document = read_document(path)
    assert document.kind == "html"
    assert document.links == [Link("https://example.org/papers/report.pdf", "the annual report"),
                               Link("https://www.un.org/x?a=1&b=2", "UN"),
                               Link("https://example.com/a-b", "https://example.com/a-b")]
    assert document.stripped == 3
    assert "War crimes — a report\nafter the comment" in document.text
    assert "tracker" not in document.text and "Not body text" not in document.text and "color" not in document.text
    assert "named\nnext line" in document.text
    assert re.search(r"\n1\n+Author, “Title”", document.text)  # a footnote list item, its number on a line
    found = extract_text(document.text, source="page.html").citations
    assert [(f.url, f.id, f.accessed) for f in found] == [("https://example.com/a-b", "fn1", dt.date(2020, 5, 2))]


def test_html_without_base_skips_relative_links(tmp_path: Path) -> None:
    path = tmp_path / "page.htm"
    path.write_bytes('<p>Caf\xe9 <a href="local.html">here</a> <a href="//cdn.example.org/x">cdn</a></p>'
                     .encode("cp1252"))
    document = read_document(path)
    assert document.links == [Link("https://cdn.example.org/x", "cdn")]
    assert document.text.startswith("Café here cdn")


# --- TeX ---------------------------------------------------------------------------------------------

TEX = r"""\documentclass{article}
\usepackage{hyperref}
\begin{document}
Azerbaijan celebrates\footnote{Lucia de la Torre, \emph{Stamps}, The Calvert Journal (12~January 2021), online:
\url{https://www.calvertjournal.com/a_b%20c/x?y=1&z=2}.} its campaign. % not this: http://commented.example.org
See \href{https://example.org/report\#sec\_2}{the {annual} report} and 50\% of it.
Long \url{https://example.org/very/long/
  path\_with\_escapes\~{}user}. Also \doi{10.1000/xyz123} \cite[p.~3]{smith2020}.
A wrapped comment line%
continues here.\footnote[7]{Numbered \href{http://example.net/a%2Fb}{link text}.}
Same \href{https://example.org/same}{\url{https://example.org/same}}.
\end{document}
"""


def test_tex_urls_hrefs_escapes_comments(tmp_path: Path) -> None:
    path = tmp_path / "paper.tex"
    path.write_text(TEX, encoding="utf-8")
    document = read_document(path)
    assert document.kind == "tex"
    assert document.links == [
        Link("https://www.calvertjournal.com/a_b%20c/x?y=1&z=2"),
        Link("https://example.org/report#sec_2", "the annual report"),
        Link("https://example.org/very/long/path_with_escapes~user"),
        Link("https://doi.org/10.1000/xyz123", "10.1000/xyz123"),
        Link("http://example.net/a%2Fb", "link text"),
        Link("https://example.org/same", "https://example.org/same"),
    ]
    text = document.text
    assert "commented" not in text and "usepackage" not in text
    assert "the annual report <https://example.org/report#sec_2> and 50% of it." in text
    assert "line continues here.7" in text.replace("linecontinues", "line continues")
    assert "\n1\nLucia de la Torre, Stamps, The Calvert Journal (12 January 2021), online: <https://" in text
    assert "\n7\nNumbered link text <http://example.net/a%2Fb>." in text
    found = {f.url: f for f in extract_text(text, source="paper.tex").citations}
    assert set(found) == {link.url for link in document.links}
    assert found["https://www.calvertjournal.com/a_b%20c/x?y=1&z=2"].id == "fn1"
    assert found["http://example.net/a%2Fb"].id == "fn7"


# --- BibTeX ------------------------------------------------------------------------------------------

BIB = r"""@string{cj = "The Calvert Journal"}
@online{torre2021,
  author = {de la Torre, Lucia},
  title = {Azerbaijani postal stamps accused of spreading {anti-Armenian} propaganda},
  journal = cj, year = 2021,
  url = {https://www.calvertjournal.com/articles/show/12442/azerbaijan-stamps-nagorno-karabakh-war},
  urldate = {2021-01-12},
}
@misc{un2020,
  author = {{United Nations}},
  title = {Secretary-General's \emph{appeal} for a global ceasefire},
  howpublished = {\url{https://www.un.org/en/globalceasefire?a=1\&b=2}},
  note = {Accessed 3 March 2021}, year = {2020}
}
@article{muller2019,
  author = {M{\"u}ller, J{\"o}rg and Smith, Ann and others},
  title = {A study}, journal = {J}, year = {2019},
  doi = {https://doi.org/10.1000/xyz123}, url = {https://publisher.example/a/1},
}
@misc{note2018,
  title = {Note only},
  note = {Available at https://example.org/report.pdf, last visited on January 5, 2018.}, year = 2018,
}
@book{nourl, author = {A B}, title = {No URL}, year = 2000}
"""


def test_bibtex_urls_dois_dates(tmp_path: Path) -> None:
    path = tmp_path / "refs.bib"
    path.write_text(BIB, encoding="utf-8")
    document = read_document(path)
    assert document.kind == "bib"
    assert [(link.key, link.url, link.accessed) for link in document.links] == [
        ("torre2021", "https://www.calvertjournal.com/articles/show/12442/azerbaijan-stamps-nagorno-karabakh-war",
         dt.date(2021, 1, 12)),
        ("un2020", "https://www.un.org/en/globalceasefire?a=1&b=2", dt.date(2021, 3, 3)),
        ("muller2019", "https://publisher.example/a/1", None),
        ("muller2019", "https://doi.org/10.1000/xyz123", None),
        ("note2018", "https://example.org/report.pdf", dt.date(2018, 1, 5)),
    ]
    contexts = {link.key: link.context for link in document.links}
    assert contexts["torre2021"] == ("Lucia de la Torre, Azerbaijani postal stamps accused of spreading "
                                     "anti-Armenian propaganda, 2021")
    assert contexts["un2020"] == "United Nations, Secretary-General's appeal for a global ceasefire, 2020"
    assert contexts["muller2019"] == "Jörg Müller et al., A study, 2019"
    found = extract_text(document.text, source="refs.bib").citations
    assert [f.url for f in found] == [link.url for link in document.links]
    assert len(document.text.splitlines()) == 4  # one line per entry that has a URL


def test_bibtex_long_context_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "long.bib"
    path.write_text("@misc{k, title = {" + "word " * 100 + "}, url = {https://example.org/}}", encoding="utf-8")
    (link,) = read_document(path).links
    assert link.context is not None and len(link.context) <= 200 and link.context.endswith("…")


# --- dispatch ----------------------------------------------------------------------------------------


def test_plain_text_and_markdown(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"See [here](#) and <https://example.org/a>.\r\nBad byte \xff.\n")
    document = read_document(path)
    assert document == Document("text", "See [here](#) and <https://example.org/a>.\nBad byte \ufffd.\n", [],
                                wrapped=True)
    assert extract_text(document.text, source="notes.txt").stripped == 1  # counted by the text extractor
    markdown = read_document(path.rename(tmp_path / "notes.md"))
    # The Markdown reader resolves the links itself: the empty one is counted there, not left in the text.
    assert markdown == Document("md", "See here and <https://example.org/a>.\nBad byte \ufffd.\n",
                                [Link(url="https://example.org/a", text="https://example.org/a")], 1)


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"paper\.odt: unsupported file type '\.odt'"):
        read_document(tmp_path / "paper.odt")
    with pytest.raises(UsageError, match="missing.txt: cannot read"):
        read_document(tmp_path / "missing.txt")


def test_pdf_same_url_in_consecutive_footnotes_stays_two_links(tmp_path: Path) -> None:
    url = "https://example.org/reports/|annual"
    document = read_pdf(_pdf(tmp_path, [(1, "First", url), (2, "Ibid", url)]))
    assert [(link.url, link.text) for link in document.links] == [(intended(url), intended(url))] * 2
