"""What deleted posts say once rendered, as check judges a rendering (title and visible text): each
platform's wording, and a generic site's "This post was deleted", is a soft-404; the live post is not."""

from __future__ import annotations

import pytest

from archiver.classify import Seen, classify
from archiver.content import PageText

NAV = "Home\nExplore\nNotifications\nMessages\n"


def _judged(url: str, title: str, text: str) -> str:
    page = PageText(title, NAV + text, "html", NAV + text)
    return classify(Seen(url, url, ((url, 200),), 200, {}, page, 40_000)).status


@pytest.mark.parametrize(("url", "title", "text"), [
    ("https://x.com/someone/status/1", "X", "This post is from an account that no longer exists. Learn more"),
    ("https://x.com/someone/status/1", "X", "Hmm...this page doesn't exist. Try searching for something else."),
    ("https://x.com/someone/status/1", "X", "This post was deleted by the post author. Learn more"),
    ("https://www.instagram.com/p/Cx1/", "Instagram", "Sorry, this page isn't available.\nThe link you followed may"
     " be broken, or the page may have been removed. Go back to Instagram."),
    ("https://t.me/somechannel/42", "Telegram", "Post not found"),
    ("https://www.youtube.com/watch?v=abcdefghijk", "YouTube", "This video isn't available anymore\nGo to home"),
    ("https://www.facebook.com/someone/posts/1", "Facebook", "This content isn't available right now\nWhen this"
     " happens, it's usually because the owner only shared it with a small group of people."),
    ("https://board.example.org/post/7", "Field Notes", "This post was deleted"),
    ("https://board.example.org/post/7", "Field Notes", "Sorry, this page isn't available."),
])
def test_a_rendered_deleted_post_is_a_soft_404(url: str, title: str, text: str) -> None:
    assert _judged(url, title, text) == "soft_404"


@pytest.mark.parametrize("url", ["https://x.com/someone/status/1", "https://board.example.org/post/7"])
def test_a_rendered_live_post_is_ok(url: str) -> None:
    text = ("Three grey herons stood on the weir this morning while the water ran high after the rain; one caught"
            " a fish and flew off towards the old mill.")
    assert _judged(url, "Herons at the weir", text) == "ok"
