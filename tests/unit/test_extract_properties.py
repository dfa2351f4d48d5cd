"""extract_text never crashes and never invents: every URL it emits is made of the input's own text."""

from __future__ import annotations

from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.extract import extract_text
from archiver.urls import normalize_url

PIECES = ["www.", "http://", "https://", "http:/", "<", ">", "\n", "-", ".org/", ".com", "/", "%2", "%2C%",
          "20", "web.archive.org/web/20130921072548/", "\\_", "\\%", "(", ")", "[x](#)", "]()", "online: ",
          "a", "Nagorno-Karabakh", "nagorno", "karabakh", "12\n", " ", ".", ",", "t.me/", "wpcontent",
          "2cdca1e608bf-11eb-8719-0df159d14794", "(12 January 2021)", "?dl=0&", "é", "xn--", "_"]
documents = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=5)), max_size=30).map("".join),
)


def _squash(text: str) -> str:
    # The repairs may only remove white space, backslashes and hyphens, add a scheme, or add "/" in "http:/".
    return "".join(ch for ch in text.lower() if not ch.isspace() and ch not in "\\-/")


@settings(max_examples=200, deadline=None)
@given(documents)
def test_never_raises_and_never_invents(text: str) -> None:
    result = extract_text(text, source="h")
    squashed = _squash(text)
    assert result.stripped >= 0
    for found in result.citations:
        for url in [found.url, *found.candidates]:
            parts = urlsplit(url)
            assert parts.scheme in ("http", "https")
            assert parts.hostname
            normalize_url(url)
            assert _squash(parts.hostname) in squashed
            if found.note is None or "truncated" not in found.note:
                rest = url.split("://", 1)[1]
                assert _squash(rest) in squashed, (url, text)
        if found.memento:
            assert found.memento["url"].startswith("https://web.archive.org/web/")
        assert found.context is None or (len(found.context) < 200 and "\n" not in found.context)
