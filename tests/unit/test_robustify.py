"""Robust links in every format: the archived links land where each format's syntax says, and the output
is the input byte for byte once the inserted text is removed (removed here by pattern, not by the
module's own list of insertions)."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import bibtexparser
import docx
import lxml.html
import pytest
from bibtexparser.bparser import BibTexParser
from papers import make_docx

from archiver.extract.readers import read_document
from archiver.manifests import load_manifest
from archiver.robustify import ArchivedLink, Robustified, robustify
from archiver.urls import normalize_url

WHEN = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
DEAD = "https://example.org/never-archived"


def copy_of(url: str) -> str:
    return f"https://archive.example.org/paper/20240501123000/{url}"


def finder(urls: Iterable[str]) -> dict[str, ArchivedLink]:
    return {url: ArchivedLink(copy_of(url), WHEN, "ours") for url in urls if url != normalize_url(DEAD)}


def run(tmp_path: Path, name: str, content: str | bytes) -> tuple[bytes, Robustified]:
    path = tmp_path / name
    raw = content.encode() if isinstance(content, str) else content
    path.write_bytes(raw)
    return raw, robustify(path, finder)


MARKDOWN = """# A paper\r
\r
See [the report](https://example.org/report "Its title") and <https://example.org/auto>.\r
A bare https://example.org/bare. in prose; `https://example.org/code` in code; ![a figure](https://example.org/fig.png).\r
[![badge](https://example.org/b.png)](https://example.org/outer), [a ref][r1], and [gone](https://example.org/never-archived).\r
Caf\xe9 bytes that are not UTF-8 stay.\r
```\r
[fenced](https://example.org/fenced)\r
```\r
<!-- [hidden](https://example.org/hidden) -->\r
[r1]: https://example.org/defined\r
"""
MD_ADDED = re.compile(r' \(\[archived\]\((\S+) "(\d{4}-\d\d-\d\d)"\)\)')


def test_markdown(tmp_path: Path) -> None:
    raw, result = run(tmp_path, "paper.md", MARKDOWN.encode("latin-1"))
    out = result.data
    added = MD_ADDED.findall(out.decode("latin-1"))
    assert [url for url, _ in added] == [copy_of(u) for u in (
        "https://example.org/report", "https://example.org/auto", "https://example.org/bare",
        "https://example.org/outer", "https://example.org/defined")]
    assert {day for _, day in added} == {"2024-05-01"}
    assert b'"Its title") ([archived](' in out and b"bare ([archived](" in out and b"fig.png)." in out
    assert MD_ADDED.sub("", out.decode("latin-1")).encode("latin-1") == raw
    assert (result.links, result.robust) == (6, 5)
    again = tmp_path / "again.md"
    again.write_bytes(out)
    assert robustify(again, finder).robust == 0  # already robust: nothing added twice


HTML = """<!DOCTYPE html><html><body>
<p>See <a href="https://example.org/a?x=1&amp;y=2">A</a>, <a class=x href=https://example.org/b>B</a>,
<A HREF='https://example.org/c' >C</A> and <a href="https://example.org/never-archived">gone</a>.</p>
<!-- <a href="https://example.org/comment">no</a> --><script>var s = '<a href="https://example.org/js">';</script>
<a name="anchor">here</a><a href="#top">top</a></body></html>
"""
HTML_ADDED = re.compile(r' data-originalurl="[^"]*" data-versionurl="[^"]*" data-versiondate="[^"]*"')


def test_html(tmp_path: Path) -> None:
    raw, result = run(tmp_path, "paper.html", HTML)
    out = result.data.decode()
    assert len(HTML_ADDED.findall(out)) == 3
    tree = lxml.html.fromstring(result.data)  # HTML's own parser reads the attributes back
    robust = {a.get("href"): (a.get("data-versionurl"), a.get("data-versiondate"), a.get("data-originalurl"))
              for a in tree.iter("a") if a.get("data-versionurl")}
    assert robust == {url: (copy_of(normalize_url(url)), "2024-05-01T12:30:00Z", url) for url in (
        "https://example.org/a?x=1&y=2", "https://example.org/b", "https://example.org/c")}
    assert HTML_ADDED.sub("", out).encode() == raw


LATEX = r"""\documentclass{article}
\begin{document}
See \url{https://example.org/a_b} and \href{https://example.org/h?q=1\%202}{the page}. % \url{https://example.org/comment}
A note.\footnote{\url{https://example.org/f}} Also \href {https://example.org/never-archived} {gone}.
\begin{verbatim}\url{https://example.org/verbatim}\end{verbatim}
\end{document}
"""
TEX_ADDED = re.compile(r" \(archived: \\url\{(?:[^{}\\]|\\.)*\}, \d{4}-\d\d-\d\d\)")


def test_latex(tmp_path: Path) -> None:
    raw, result = run(tmp_path, "paper.tex", LATEX)
    out = result.data.decode()
    assert TEX_ADDED.findall(out) == [
        rf" (archived: \url{{{copy_of('https://example.org/a_b')}}}, 2024-05-01)",
        rf" (archived: \url{{{copy_of('https://example.org/h?q=1')}\%202}}, 2024-05-01)",
        rf" (archived: \url{{{copy_of('https://example.org/f')}}}, 2024-05-01)"]
    assert r"{the page} (archived: " in out and r"/f} (archived: " in out
    assert TEX_ADDED.sub("", out).encode() == raw


BIB = """@misc{plain,
  title = {A page},
  url = {https://example.org/a},
}

@online{oneline, title="B", url="https://example.org/b", note = {Seen online.}}
@string{site = "Example"}
@comment{ url = {https://example.org/commented} }
@article{pub,
\tauthor = {C and D},
\thowpublished = {\\url{https://example.org/c}},
\turldate = {2020-01-01},
\teprint = {1234}
}
@misc{gone, url = {https://example.org/never-archived}}
"""
ADDED_FIELD = (r"(?:urldate = \{2024-05-01\}|note = \{Archived at \\url\{[^{}]*\}, 2024-05-01\}"
               r"|eprinttype = \{Archived\}|eprint = \{https://archive\.example\.org[^{}]*\})")
# Added fields end with a comma when the entry's last field had one, else each begins with one.
BIB_ADDED = re.compile(rf"\n[ \t]*{ADDED_FIELD},|,\n[ \t]*{ADDED_FIELD}"
                       r"|(?<=Seen online\.) Archived at \\url\{[^{}]*\}, 2024-05-01")


def test_bibtex(tmp_path: Path) -> None:
    raw, result = run(tmp_path, "refs.bib", BIB)
    out = result.data.decode()
    parser = BibTexParser(common_strings=True, ignore_nonstandard_types=False)  # @online is biblatex's
    entries = {entry["ID"]: entry for entry in bibtexparser.loads(out, parser).entries}
    assert entries["plain"]["urldate"] == "2024-05-01"
    assert entries["plain"]["note"] == rf"Archived at \url{{{copy_of('https://example.org/a')}}}, 2024-05-01"
    assert (entries["plain"]["eprinttype"], entries["plain"]["eprint"]) == ("Archived", copy_of("https://example.org/a"))
    assert entries["oneline"]["note"].startswith("Seen online. Archived at \\url{")
    assert entries["pub"]["urldate"] == "2020-01-01" and entries["pub"]["eprint"] == "1234"  # kept, not doubled
    assert "eprinttype" not in entries["pub"] and "Archived at" in entries["pub"]["note"]
    assert set(entries["gone"]) == {"ID", "ENTRYTYPE", "url"}
    assert BIB_ADDED.sub("", BIB_ADDED.sub("", out)).encode() == raw
    assert (result.links, result.robust) == (4, 3)


MANIFEST = """title: T\r
citations:\r
  - https://example.org/plain   # a comment\r
  - id: one\r
    url: https://example.org/one\r
    note: |\r
      two lines\r
      of note\r
  - {url: "https://example.org/flow", id: two}\r
  - doi: 10.1234/abc\r
  - url: https://example.org/never-archived\r
  - url: https://example.org/has\r
    memento: {url: "https://other.example/x", datetime: "2020-01-01T00:00:00Z"}\r
"""


def test_manifest(tmp_path: Path) -> None:
    raw, result = run(tmp_path, "paper.yaml", MANIFEST)
    out = result.data.decode()
    (tmp_path / "out.yaml").write_bytes(result.data)
    loaded = load_manifest(tmp_path / "out.yaml")
    mementos = {c.fetch_url: c.extra.get("memento") for c in loaded.citations}
    for url in ("https://example.org/plain", "https://example.org/one", "https://example.org/flow",
                "https://doi.org/10.1234/abc"):
        assert mementos[url] == {"url": copy_of(url), "datetime": "2024-05-01T12:30:00Z"}
    assert mementos["https://example.org/has"]["url"] == "https://other.example/x"  # kept as it was
    assert mementos[DEAD] is None
    assert [c.extra.get("note") for c in loaded.citations if c.id == "one"] == ["two lines\nof note\n"]
    ours = r'memento: \{url: "https://archive\.example\.org[^"]*", datetime: "[^"]*"\}'
    stripped = re.sub(rf"\r\n {{4}}{ours}|, {ours}", "", out).replace("- url: https://example.org/plain", "- https://example.org/plain")
    assert stripped.encode() == raw


def test_docx(tmp_path: Path) -> None:
    path = tmp_path / "paper.docx"
    make_docx(path, [("the report", "https://example.org/report"), ("gone", DEAD),
                     ("Another", "https://example.org/other?a=1&b=2")], [])
    result = robustify(path, finder)
    assert (result.links, result.robust) == (3, 2)
    out = tmp_path / "out.docx"
    out.write_bytes(result.data)
    before, after = zipfile.ZipFile(path), zipfile.ZipFile(io.BytesIO(result.data))
    assert [m.filename for m in before.infolist()] == [m.filename for m in after.infolist()]
    changed = {"word/document.xml", "word/_rels/document.xml.rels"}
    for member in before.infolist():
        twin = after.getinfo(member.filename)
        assert (twin.date_time, twin.compress_type) == (member.date_time, member.compress_type)
        if member.filename not in changed:
            assert after.read(member.filename) == before.read(member), member.filename
    runs = re.compile(r'<w:r><w:t xml:space="preserve"> \(archived: </w:t></w:r><w:hyperlink r:id="rIdArchived\d+"'
                      r'.*?</w:hyperlink><w:r><w:t xml:space="preserve">, \d{4}-\d\d-\d\d\)</w:t></w:r>')
    document = after.read("word/document.xml").decode()
    assert len(runs.findall(document)) == 2
    assert runs.sub("", document).encode() == before.read("word/document.xml")
    rels = after.read("word/_rels/document.xml.rels").decode()
    assert re.sub(r'<Relationship Id="rIdArchived\d+"[^>]*/>', "", rels).encode() == \
        before.read("word/_rels/document.xml.rels")
    opened = docx.Document(str(out))  # python-docx opens it; the archived links are real hyperlinks
    targets = {rel.target_ref for rel in opened.part.rels.values() if rel.is_external}
    assert {copy_of("https://example.org/report"), copy_of("https://example.org/other?a=1&b=2")} <= targets
    assert f"(archived: {copy_of('https://example.org/report')}, 2024-05-01)" in \
        "\n".join(p.text for p in opened.paragraphs) or copy_of("https://example.org/report") in \
        {link.url for link in read_document(out).links}


@pytest.mark.parametrize("name", ["paper.pdf", "paper.txt", "list.csv"])
def test_formats_without_robust_links_are_refused(tmp_path: Path, name: str) -> None:
    from archiver.errors import UsageError

    path = tmp_path / name
    path.write_text("https://example.org/a\n")
    with pytest.raises(UsageError):
        robustify(path, finder)


@pytest.mark.parametrize("name", ["paper.md", "paper.html", "paper.tex", "refs.bib", "paper.yaml", "paper.docx"])
def test_a_robust_paper_gains_nothing_more(tmp_path: Path, name: str) -> None:
    sources = {"paper.md": MARKDOWN, "paper.html": HTML, "paper.tex": LATEX, "refs.bib": BIB, "paper.yaml": MANIFEST}
    path = tmp_path / name
    if name.endswith(".docx"):
        make_docx(path, [("the report", "https://example.org/report")], [])
    else:
        path.write_text(sources[name])

    def everything(urls: Iterable[str]) -> dict[str, ArchivedLink]:  # the archived copies have copies too
        return {url: ArchivedLink(copy_of(url), WHEN) for url in urls}

    once = robustify(path, everything)
    assert once.robust > 0
    path.write_bytes(once.data)
    again = robustify(path, everything)
    assert (again.robust, again.data) == (0, once.data)
