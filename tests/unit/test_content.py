"""Title and main text of responses: charsets, HTML boilerplate, tiny error pages, PDF, hostile bodies."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.content import PageText, body_kind, decode_body, page_text

PAIRS = Path(__file__).resolve().parent.parent / "drift_pairs"
FRENCH = "Le café déjà fermé: « crème brûlée » à l’été"


def html_page(title: str, body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head>{head}<title>{title}</title></head><body>{body}</body></html>"


# -- charsets ------------------------------------------------------------------------------------------

def test_latin1_page_with_charset_in_header() -> None:
    body = html_page(FRENCH.replace("’", "'"), f"<p>{FRENCH.replace('’', chr(39))}</p>").encode("latin-1")
    page = page_text(body, "text/html; charset=ISO-8859-1")
    assert page.title == "Le café déjà fermé: « crème brûlée » à l'été"
    assert "crème brûlée" in page.text and "\ufffd" not in page.text


@pytest.mark.parametrize("meta", ['<meta charset="iso-8859-1">',
                                  "<meta http-equiv='Content-Type' content='text/html; charset=latin1'>",
                                  '<META HTTP-EQUIV="content-type" CONTENT="text/html;charset=windows-1252">'])
def test_latin1_page_with_charset_in_meta(meta: str) -> None:
    body = html_page("Crème", "<p>Un été à Orléans, déjà.</p>", head=meta).encode("cp1252")
    page = page_text(body, "text/html")
    assert page.title == "Crème" and page.text == "Un été à Orléans, déjà."


def test_latin1_label_decodes_as_windows_1252_like_browsers() -> None:
    body = html_page("q", "<p>\x93quoted\x94 \x96 dash</p>").encode("latin-1")
    assert page_text(body, "text/html; charset=iso-8859-1").text == "“quoted” – dash"


def test_header_charset_beats_meta_and_bom_beats_both() -> None:
    body = html_page("Ünïcode", "<p>Größe</p>", head='<meta charset="iso-8859-1">').encode("utf-8")
    assert page_text(body, "text/html; charset=utf-8").title == "Ünïcode"
    assert page_text(b"\xef\xbb\xbf" + body, "text/html; charset=iso-8859-1").text == "Größe"
    assert decode_body(b"\xff\xfe" + "Größe".encode("utf-16-le"), "text/plain; charset=ascii", html=False) == "Größe"


def test_no_charset_means_utf8_with_replacement() -> None:
    body = html_page("Café", "<p>bad byte \xff here, café</p>").encode("utf-8").replace(b"\xc3\xbf", b"\xff")
    page = page_text(body, "text/html")
    assert page.title == "Café" and page.text == "bad byte \ufffd here, café"


@pytest.mark.parametrize("label", ["x-unknown-charset", "base64", "rot13", "", "utf-8\x00"])
def test_unknown_or_non_text_charset_labels_fall_back_to_utf8(label: str) -> None:
    body = html_page("Größe", "<p>ok</p>").encode("utf-8")
    assert page_text(body, f"text/html; charset={label}").title == "Größe"


# -- HTML ----------------------------------------------------------------------------------------------

def test_main_text_leaves_out_boilerplate() -> None:
    page = page_text((PAIRS / "news-buses-comments.html").read_bytes(), "text/html; charset=utf-8")
    assert page.kind == "html"
    assert page.title == "Council votes to cap bus fares at £2 for under-25s | The Northern Ledger"
    assert "Young people across the district will pay no more than £2" in page.text
    for boilerplate in ("Advertisement", "Most read", "Registered in England", "£11.40", "Politics"):
        assert boilerplate not in page.text
    assert "\n" in page.text and "  " not in page.text


def test_visible_text_keeps_boilerplate_but_not_markup() -> None:
    page = page_text((PAIRS / "news-buses-comments.html").read_bytes(), "text/html; charset=utf-8")
    for paragraph in page.text.split("\n"):
        assert paragraph in page.visible
    for boilerplate in ("Advertisement", "Most read", "Registered in England", "£11.40", "Politics"):
        assert boilerplate in page.visible
    for unseen in ("dataLayer", "site.css", "nonce", "served by", "correlator", "The Northern Ledger</title>"):
        assert unseen not in page.visible
    assert "  " not in page.visible and "\n\n" not in page.visible


def test_visible_text_leaves_out_what_a_reader_never_sees() -> None:
    body = html_page("T", '<!-- build 4411 --><div hidden>offline notice</div><template><p>dialog</p></template>'
                     '<form><input type="hidden" name="csrf" value="tok3n"><input name="q" placeholder="Search">'
                     '<button>Go</button></form><noscript>enable JS</noscript><p>Shown   to&nbsp; everyone</p>'
                     '<script nonce="n0nce">var x = "script text";</script><style>p{color:red}</style>',
                     head='<meta name="description" content="meta text"><script src="/a.js?v=2"></script>')
    page = page_text(body.encode(), "text/html")
    assert page.visible == "Go\nShown to everyone"


def test_tiny_error_page_keeps_title_and_text() -> None:
    body = (b"<html><head><title>404   Not\n Found</title><style>h1{color:red}</style></head><body>"
            b"<h1>Not Found</h1><p>The requested URL was not found on this server.</p>"
            b"<script>track('404')</script></body></html>")
    page = page_text(body, "text/html; charset=iso-8859-1")
    assert page.title == "404 Not Found"
    assert page.text == page.visible == "Not Found\nThe requested URL was not found on this server."


def test_one_line_page_without_markup_structure() -> None:
    page = page_text(b"<title>Gone</title>Page not found", None)
    assert page == PageText(title="Gone", text="Page not found", kind="html", visible="Page not found")


def test_xhtml_with_xml_declaration() -> None:
    body = ('<?xml version="1.0" encoding="iso-8859-1"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head>'
            '<title>Résumé</title></head><body><p>Voilà.</p></body></html>').encode("latin-1")
    page = page_text(body, "application/xhtml+xml")
    assert page.title == "Résumé" and page.text == "Voilà."


# -- PDF, plain text, other ----------------------------------------------------------------------------

def test_pdf_text_and_title() -> None:
    page = page_text((PAIRS / "heat.pdf").read_bytes(), "application/pdf")
    assert page.kind == "pdf"
    assert page.title == "Urban heat islands in mid-sized cities - a measurement note"
    assert "Forty low-cost sensors" in page.text and "5.4 degrees" in page.text
    assert page.visible == page.text


def test_pdf_is_recognised_whatever_the_type_says() -> None:
    body = (PAIRS / "accounts.pdf").read_bytes()
    for content_type in (None, "application/octet-stream", "text/html"):
        assert page_text(body, content_type).kind == "pdf"
        assert "unrestricted reserves" in page_text(body, content_type).text


def test_plain_text_is_kept_as_is() -> None:
    page = page_text("Not found.\r\nTry again, café.\n".encode("cp1252"), "text/plain; charset=windows-1252")
    assert page == PageText(title="", text="Not found.\nTry again, café.", kind="text",
                            visible="Not found.\nTry again, café.")


@pytest.mark.parametrize(("body", "content_type", "kind"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png", "other"),
    (b'{"error": "not found"}', "application/json", "other"),
    (b"<html><body>hi</body></html>", "application/octet-stream", "html"),
    (b"just words", None, "text"),
    (b"<!DOCTYPE html><title>Not found</title>", "application/pdf", "html"),
    (b"not a pdf at all", "application/pdf", "pdf"),
    (b"\x00\x01\x02binary", None, "other"),
])
def test_kinds(body: bytes, content_type: str | None, kind: str) -> None:
    assert body_kind(body, content_type) == kind
    if kind == "other":
        assert page_text(body, content_type) == PageText(title="", text="", kind="other")


# -- hostile bodies ------------------------------------------------------------------------------------

HOSTILE = [
    b"", b" \n\t ", b"\x00" * 100, b"<", b"<html", b"<html></html>", b"<!-- only a comment -->",
    b"<html><body>" + b"<div>" * 50_000 + b"deep" + b"</div>" * 50_000 + b"</body></html>",
    b"<html><body><p>nul\x00 and \x1b escape \xed\xa0\x80 surrogate</p></body></html>",
    b"<title>" + b"t" * 200_000, b'<meta charset="utf-16"><p>lie</p>', b"%PDF-1.7\n" + b"garbage" * 100,
    b"%PDF-", b"\xff\xfe\x00<\x00h", (PAIRS / "heat.pdf").read_bytes()[:900],
]


@pytest.mark.parametrize("body", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("content_type", ["text/html", "application/pdf", None, "text/plain; charset=bogus"])
def test_hostile_bodies_do_not_raise(body: bytes, content_type: str | None) -> None:
    page = page_text(body, content_type)
    assert isinstance(page.title, str) and isinstance(page.text, str) and isinstance(page.visible, str)
    assert page.kind in {"html", "pdf", "text", "other"}


def test_broken_pdf_gives_empty_text() -> None:
    assert page_text(b"%PDF-1.4\nnot really", "application/pdf") == PageText(title="", text="", kind="pdf")


@given(st.binary(max_size=3000), st.sampled_from(["text/html", "text/html; charset=shift_jis", None,
                                                  "application/pdf", "text/plain"]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_bytes_do_not_raise(body: bytes, content_type: str | None) -> None:
    page_text(body, content_type)


tags = st.sampled_from(["<p>", "</p>", "<div>", "</div>", "<script>", "</script>", "<title>", "<style>",
                        "<article>", "<!--", "-->", "<br>", "<table><tr><td>", "&amp;", "&#0;", "&#xD800;"])


@given(st.lists(st.one_of(tags, st.text(max_size=20)), max_size=60).map("".join))
@settings(max_examples=150, deadline=None)
def test_random_markup_does_not_raise(markup: str) -> None:
    page = page_text(markup.encode("utf-8", "surrogatepass"), "text/html")
    assert page.kind == "html"


def test_pdf_is_parsed_in_another_process_and_a_dead_parser_costs_one_page() -> None:
    """pdfium runs in a worker process: killing it mid-parse (as a pdfium crash would) leaves this
    process running, gives that PDF empty text, and the next PDF gets a new worker."""
    import os
    import signal
    import threading

    from archiver import content

    body = (PAIRS / "heat.pdf").read_bytes()
    assert "Forty low-cost sensors" in page_text(body, "application/pdf").text
    (worker,) = content.pdf_reader_pids()
    assert worker != os.getpid()

    # A PDF big enough to keep the worker busy while it is killed: the same pages many times over.
    import io

    from reportlab.pdfgen.canvas import Canvas
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    for page in range(500):
        for line in range(66):
            canvas.drawString(40, 800 - 12 * line, f"page {page} line {line} " + "words " * 12)
        canvas.showPage()
    canvas.save()
    threading.Timer(0.1, os.kill, (worker, signal.SIGKILL)).start()
    killed = page_text(buffer.getvalue(), "application/pdf")
    assert killed.kind == "pdf" and killed.text == ""
    assert "Forty low-cost sensors" in page_text(body, "application/pdf").text
    assert content.pdf_reader_pids() and content.pdf_reader_pids() != [worker]
