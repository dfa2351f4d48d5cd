"""Which pages `--capture auto` renders (browser/need.py), read from real fetches of a local server."""

from __future__ import annotations

import pytest
from hostnames import loopback_names
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.browser.chromium import CHROMIUM_ENV, unavailable
from archiver.browser.need import shell_reason, why_render
from archiver.fetch.fetcher import Fetcher
from archiver.fetch.politeness import HostGate

SHELL = b'<html><head><script src="/app.js"></script></head><body><div id="root"></div></body></html>'
ARTICLE = b"<html><body><h1>Title</h1><p>" + b"A long paragraph of real words. " * 20 + b"</p></body></html>"


@pytest.mark.parametrize(("html", "shell"), [
    (SHELL, True),
    (b"<html><body><div id=app>Loading...</div><script>" + b"x=1;" * 600 + b"</script></body></html>", True),
    (b"<html><body><noscript>You need to enable JavaScript to run this app.</noscript>"
     b"<p>Some words</p><script src=/a.js></script></body></html>", True),
    (ARTICLE, False),
    (ARTICLE.replace(b"</body>", b"<script src=/analytics.js></script></body>"), False),  # text is there
    (b"<html><body><p>short page, no scripts</p></body></html>", False),
    (b'<html><body><script type="application/ld+json">' + b"{}" * 2000 + b"</script></body></html>", False),
])
def test_shell_reason(html: bytes, shell: bool) -> None:
    assert (shell_reason(html) is not None) is shell


def test_why_render_reads_the_fetched_answer(server, settings) -> None:
    """The same small page is rendered on a known platform's host, not elsewhere; an error page or a
    body that is no HTML never is."""
    names = loopback_names(["x.com", "www.youtube.com"], {80: server.port})
    fetcher = Fetcher(settings.replace(resolve=names), HostGate(1, 0))
    try:
        plain = fetcher.fetch(server.url("/page/a"))
        on_x = fetcher.fetch("http://x.com/page/a")
        missing = fetcher.fetch("http://www.youtube.com/status/404")
        binary = fetcher.fetch(server.url("/big/1?size=1000"))
    finally:
        fetcher.close()
    assert why_render(plain) is None
    reason = why_render(on_x)
    assert reason is not None and reason.startswith("X ")
    assert why_render(missing) is None  # an error page is what it is: nothing to render
    assert why_render(binary) is None


def test_unavailable_names_the_missing_piece(tmp_path) -> None:
    not_there = tmp_path / "no-chromium"
    why = unavailable({CHROMIUM_ENV: str(not_there)})
    assert why is not None and str(not_there) in why and "apt-get install chromium" in why
    not_executable = tmp_path / "chromium"
    not_executable.write_text("")
    assert unavailable({CHROMIUM_ENV: str(not_executable)}) is not None


def _reference_reason(html: bytes) -> str | None:
    """shell_reason as it was written first (text read before the script test, whitespace by regex):
    the faster one must answer the same on every page."""
    import re

    from archiver.platforms import JS_SHELL

    def visible(markup: bytes) -> str:
        return re.sub(r"\s+", " ", re.sub(rb"<[^>]*>", b" ", markup).decode("utf-8", "replace")).strip()

    scripts = re.findall(rb"<script\b([^>]*)>(.*?)</script\s*>", html, re.S | re.I)
    external = sum(1 for attrs, _ in scripts if b"src" in attrs.lower())
    inline = sum(len(body) for attrs, body in scripts if b"json" not in attrs.lower())
    html = re.sub(rb"<!--.*?-->", b" ", html, flags=re.S)
    text = visible(re.sub(rb"<(script|style|noscript|template|svg)\b[^>]*>.*?</\1\s*>", b" ", html,
                          flags=re.S | re.I))
    if not (external or inline):
        return None
    if len(text) < 1000 and JS_SHELL.search(visible(re.sub(rb"<(script|style)\b[^>]*>.*?</\1\s*>", b" ", html,
                                                               flags=re.S | re.I)).lower()):
        return "the page says it needs JavaScript"
    if len(text) < 200 and (external or inline >= 2000):
        return f"{len(text)} characters of visible text while it loads scripts"
    return None


_PIECES = st.sampled_from([
    "<script src=/a.js></script>", "<script>x=1</script>", "<noscript>", "</noscript>", "enable JavaScript",
    "<p>", "</p>", "<!-- c -->", " ", "\u00a0", "\u2003", "\x1c", "\t\n", "word", "é", "<style>b{}</style>",
    "\u3000", "<", ">",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=40), st.binary(max_size=20))
def test_shell_reason_answers_as_the_first_version(pieces: list[str], noise: bytes) -> None:
    html = "".join(pieces).encode() + noise
    assert shell_reason(html) == _reference_reason(html)
