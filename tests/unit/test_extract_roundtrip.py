"""Round trips: a document written in each format around one random valid URL gives back exactly that URL.

URLs have what real citations have and what ends URLs too early or too late: `#` fragments, `_`, `%`
escapes, `~`, balanced `()`, long paths, query strings (with keys such as `not` and `copy`, which are
HTML entity names). Each document is a real file (Markdown, LaTeX, BibTeX, HTML, DOCX by python-docx,
PDF by reportlab with the URL wrapped over lines and annotated, as tests/helpers/papers.py does),
read through `extract_papers` as the CLI reads it. URLs are compared in the scorer's form: archiver's
fetch form (normalize_url) with the fragment kept.

Then the fuzz test: random bytes, and valid files with bytes flipped, cut or spliced in, under every
supported extension, through the installed CLI: exit 0, 1 or 2 within 5 s, one line on stderr, never a
traceback. (test_input_fuzz.py fuzzes the readers in-process; this runs the whole command.)
"""

from __future__ import annotations

import html
import string
import subprocess
import tempfile
from pathlib import Path

from conftest import ARCHIVER
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from papers import make_docx_paragraphs, make_pdf_lines

from archiver.extract import extract_papers
from archiver.urls import normalize_url

ALNUM = string.ascii_lowercase + string.digits
WORD = string.ascii_letters + string.digits

_label = st.builds(lambda a, b: a + ("-" + b if b else ""), st.text(ALNUM, min_size=1, max_size=10),
                   st.text(ALNUM, max_size=6))
_host = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_label, min_size=1, max_size=3),
                  st.sampled_from(["org", "com", "net", "info", "museum", "co.uk", "de", "io"]))
_piece = st.one_of(st.text(WORD + "-_~.", min_size=1, max_size=10),
                   st.sampled_from(["%20", "%2F", "%C3%A9", "%7E", "%40"]),
                   st.text(WORD, min_size=1, max_size=6).map(lambda s: f"({s})"))
_segment = st.lists(_piece, min_size=1, max_size=4).map("".join).filter(lambda s: s.strip(".") != "")
_path = st.builds(lambda segments, slash: "/" + "/".join(segments) + ("/" if slash and segments else ""),
                  st.lists(_segment, max_size=9), st.booleans())
_key = st.one_of(st.sampled_from(["q", "id", "lang", "not", "copy", "x_y", "page", "amp"]), st.text(WORD, min_size=1,
                                                                                                       max_size=5))
_value = st.text(WORD + "-_.~", max_size=10)
_query = st.lists(st.tuples(_key, _value), max_size=3).map(lambda items: "?" + "&".join(f"{k}={v}" for k, v in items)
                                                          if items else "")
_fragment = st.one_of(st.just(""), st.text(WORD + "-_.~/:", min_size=1, max_size=14).map(lambda f: "#" + f))
URLS = st.builds(lambda scheme, host, path, query, fragment: f"{scheme}://{host}{path}{query}{fragment}",
                 st.sampled_from(["http", "https"]), _host, _path, _query, _fragment)

# A URL can end in sentence punctuation only where its syntax says where it ends; printed in a
# sentence, nobody (and no extractor) can tell "…/a." from "…/a" followed by a full stop.
_SENTENCE_END = ".,;:!?'-"
ROUNDTRIP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW_ROUNDTRIP = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def key(url: str) -> str:
    fragment = url.partition("#")[2]
    return normalize_url(url) + (f"#{fragment}" if fragment else "")


def extracted(path: Path) -> list[str]:
    return [key(c.url) for r in extract_papers([path], probe=False) for c in r.citations]


def folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="archiver-roundtrip-"))


def usable(url: str) -> str:
    assume(url[-1] not in _SENTENCE_END)
    return url


@ROUNDTRIP
@given(URLS, st.sampled_from(["inline", "autolink", "definition", "bare", "footnote"]), st.text(WORD + " ",
                                                                                              max_size=20))
def test_markdown(url: str, style: str, label: str) -> None:
    url = usable(url)
    label = label.strip() or "the source"
    body = {"inline": f"See [{label}]({url}) for more.",
            "autolink": f"See <{url}> for more.",
            "definition": f"See [{label}][src] for more.\n\n[src]: {url}",
            "bare": f"See {url} for more.",
            "footnote": f"A claim.[^1]\n\n[^1]: {label}, {url}"}[style]
    path = folder() / "paper.md"
    path.write_text(f"# A paper\n\nSome prose first.\n\n{body}\n", encoding="utf-8")
    assert extracted(path) == [key(url)]


def _latex_url(url: str, underscore: bool) -> str:
    text = url.replace("%", "\\%").replace("#", "\\#")
    return text.replace("_", "\\_") if underscore else text


@ROUNDTRIP
@given(URLS, st.sampled_from(["url", "href", "footnote"]), st.booleans())
def test_latex(url: str, style: str, underscore: bool) -> None:
    written = _latex_url(url, underscore)
    body = {"url": f"See \\url{{{written}}} for more.",
            "href": f"See \\href{{{written.replace('&', chr(92) + '&')}}}{{the source}} for more.",
            "footnote": f"A claim.\\footnote{{The source, \\url{{{written}}}.}}"}[style]
    path = folder() / "paper.tex"
    path.write_text(f"\\documentclass{{article}}\n\\begin{{document}}\nSome prose.\n{body}\n\\end{{document}}\n",
                    encoding="utf-8")
    assert extracted(path) == [key(url)]


@ROUNDTRIP
@given(URLS, st.sampled_from(["url", "escaped", "howpublished", "note"]))
def test_bibtex(url: str, style: str) -> None:
    field = {"url": f"url = {{{url}}}",
             "escaped": f"url = {{{_latex_url(url, True)}}}",
             "howpublished": f"howpublished = {{\\url{{{_latex_url(url, False)}}}}}",
             "note": f"note = {{Available at {usable(url)}, accessed 2020-01-02}}"}[style]
    path = folder() / "refs.bib"
    path.write_text(f"@misc{{key1,\n  title = {{A Title}},\n  year = {{2020}},\n  {field}\n}}\n", encoding="utf-8")
    assert extracted(path) == [key(url)]


@ROUNDTRIP
@given(URLS, st.sampled_from(["printed", "label", "bare"]))
def test_html(url: str, style: str) -> None:
    escaped = html.escape(url)
    body = {"printed": f"See <a href=\"{escaped}\">{escaped}</a> for more.",
            "label": f"See <a href=\"{escaped}\">the source</a> for more.",
            "bare": f"See {html.escape(usable(url))} for more."}[style]
    path = folder() / "page.html"
    path.write_text(f"<!doctype html><html><body><p>Some prose.</p><p>{body}</p></body></html>", encoding="utf-8")
    assert extracted(path) == [key(url)]


@SLOW_ROUNDTRIP
@given(URLS, st.sampled_from(["printed", "label", "plain"]), st.lists(st.integers(1, 200), max_size=4),
       st.booleans())
def test_docx(url: str, style: str, cuts: list[int], spaced: bool) -> None:
    path = folder() / "paper.docx"
    if style == "plain":
        segments: list[str | tuple[str, str]] = [f"See {usable(url)} for more."]
    elif style == "label":
        segments = ["See ", ("the source", url), " for more."]
    else:
        # Word stores a hyperlink as one element per run; a printed space the hyperlink bridges too.
        points = sorted({c % len(url) for c in cuts} - {0})
        pieces = [url[a:b] for a, b in zip([0, *points], [*points, len(url)], strict=True)]
        if spaced and len(pieces) > 1:
            pieces[1] = " " + pieces[1]
        segments = ["See ", *((piece, url) for piece in pieces), " for more."]
    make_docx_paragraphs(path, [["Some prose."], segments])
    assert extracted(path) == [key(url)]


@SLOW_ROUNDTRIP
@given(URLS, st.lists(st.integers(8, 400), max_size=2))
def test_pdf_annotated_and_wrapped(url: str, cuts: list[int]) -> None:
    """The URL printed over up to three lines, each piece under an annotation to the whole URL."""
    points = sorted({c % len(url) for c in cuts} - {0})
    pieces = [url[a:b] for a, b in zip([0, *points], [*points, len(url)], strict=True)]
    pieces = [p for piece in pieces for p in (piece[i:i + 60] for i in range(0, len(piece), 60))]
    lines: list[list[str | tuple[str, str]]] = [["Some prose about the matter."], ["The source, online: "]]
    lines[-1].append((pieces[0], url))
    lines.extend([(piece, url)] for piece in pieces[1:])
    lines[-1].append(" (accessed 2020).")
    path = folder() / "paper.pdf"
    make_pdf_lines(path, lines)
    assert extracted(path) == [key(url)]


# --- fuzz: the whole command --------------------------------------------------------------------------

VALID = {
    ".txt": b"1\nA report, online: <www.example.org/a/b-\nc?x=1>.\n2\nhttps://example.org/z_(y)#f\n",
    ".md": b"# P\n\nSee [x](https://a.example/x_(y)) and <https://b.example/y>.\n\n[r]: https://c.example/z#f\n",
    ".html": b"<p>See <a href='https://a.example/x'>https://a.example/<wbr>x</a> and https://b.example/y</p>",
    ".htm": b"<html><body><a href='https://a.example/x#y'>the report</a></body></html>",
    ".tex": b"\\begin{document}See\\footnote{\\url{https://a.example/x\\#y}} \\href{https://b.example}{b}"
            b"\\end{document}",
    ".bib": b"@misc{a, title={T}, url={https://a.example/x\\nhttps://b.example/y}, urldate={2020-10-23}}\n",
}


def _binary_samples() -> dict[str, bytes]:
    where = folder()
    make_docx_paragraphs(where / "s.docx", [["See ", ("https://a.example/x", "https://a.example/x"), "."]])
    make_pdf_lines(where / "s.pdf", [["See ", ("https://a.example/x_(y)#z", "https://a.example/x_(y)#z"), "."]])
    return {".docx": (where / "s.docx").read_bytes(), ".pdf": (where / "s.pdf").read_bytes()}


VALID.update(_binary_samples())


def _mutated(suffix: str) -> st.SearchStrategy[bytes]:
    base = VALID[suffix]
    edits = st.lists(st.tuples(st.integers(0, len(base)), st.integers(0, 16), st.binary(max_size=8)),
                     min_size=1, max_size=6)

    def apply(changes: list[tuple[int, int, bytes]]) -> bytes:
        data = base
        for at, cut, insert in changes:
            data = data[:at] + insert + data[at + cut:]
        return data

    return st.one_of(st.binary(max_size=600), edits.map(apply))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(VALID)).flatmap(lambda s: st.tuples(st.just(s), _mutated(s))))
def test_cli_extract_answers_any_bytes_cleanly(case: tuple[str, bytes]) -> None:
    suffix, data = case
    where = folder()
    paper = where / f"paper{suffix}"
    paper.write_bytes(data)
    proc = subprocess.run([ARCHIVER, "--storage", str(where / "s"), "extract", str(paper), "--offline",
                           "-o", str(where / "out.yaml")], capture_output=True, text=True, timeout=5)
    assert proc.returncode in (0, 1, 2), (suffix, proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    if proc.returncode:
        # The problem on one line of its own, the last (after the tally, when the file could be read).
        assert proc.stderr.strip().splitlines()[-1].startswith("archiver: "), proc.stderr
