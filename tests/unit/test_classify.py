"""Availability classification: pure functions over what the fetcher saw, on pages modelled on real ones."""

from __future__ import annotations

import random
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archiver import platforms, wording
from archiver.classify import Seen, classify, needs_sibling, sibling_key, sibling_url
from archiver.content import PageText, page_text

PAGES = Path(__file__).resolve().parent.parent / "pages"
ARTICLE = PageText(title="Azerbaijan: Cluster Munitions Used | Rights Monitor",
                   text="Azerbaijan has repeatedly used widely banned cluster munitions in residential areas. " * 12,
                   kind="html")


def seen(url: str, final: str | None = None, *, status: int = 200, page: PageText | None = None,
         fixture: str | None = None, headers: dict[str, str] | None = None, body_size: int | None = None,
         hops: tuple[str, ...] = ()) -> Seen:
    final = final or url
    urls = (url, *hops, final) if final != url else (url,)
    chain = tuple((u, 302) for u in urls[:-1]) + ((final, status),)
    if fixture is not None:
        body = (PAGES / fixture).read_bytes()
        page = page_text(body, "text/html; charset=utf-8", final)
        body_size = len(body) if body_size is None else body_size
    page = page or ARTICLE
    return Seen(url=url, final_url=final, chain=chain, status=status, headers=headers or {}, page=page,
                body_size=5000 if body_size is None else body_size)


def status_of(s: Seen, sibling: Seen | None = None) -> str:
    return classify(s, sibling).status


# --- status codes --------------------------------------------------------------------------------

URL = "https://www.hrw.org/news/2020/10/23/azerbaijan-cluster-munitions-used-nagorno-karabakh"


@pytest.mark.parametrize(("code", "expected"), [
    (404, "not_found"), (410, "gone"), (401, "forbidden"), (403, "forbidden"), (429, "rate_limited"),
    (500, "server_error"), (502, "server_error"), (503, "server_error"), (400, "client_error"),
    (405, "client_error"), (451, "legal_block"), (999, "forbidden"),
])
def test_status_codes(code: int, expected: str) -> None:
    result = classify(seen(URL, status=code))
    assert result.status == expected
    assert str(code) in result.reason


def test_ok_page_is_ok() -> None:
    assert classify(seen(URL, fixture="news_article.html")).status == "ok"


@pytest.mark.parametrize("code", [200, 403, 503])
def test_cloudflare_challenge_header_is_forbidden_whatever_the_status(code: int) -> None:
    result = classify(seen(URL, status=code, headers={"cf-mitigated": "challenge"}))
    assert result.status == "forbidden"
    assert "cf-mitigated" in result.reason


@pytest.mark.parametrize(("fixture", "code"), [
    ("cloudflare_challenge.html", 503), ("cloudflare_challenge.html", 403), ("cloudflare_challenge.html", 200),
    ("cloudflare_attention.html", 403), ("ddos_guard.html", 200),
])
def test_challenge_pages_are_forbidden(fixture: str, code: int) -> None:
    assert status_of(seen(URL, status=code, fixture=fixture)) == "forbidden"


def test_vercel_checkpoint_is_forbidden_not_rate_limited() -> None:
    page = PageText(title="Vercel Security Checkpoint", text="We're verifying your browser", kind="html")
    assert status_of(seen(URL, status=429, page=page, headers={"x-vercel-mitigated": "challenge"})) == "forbidden"


def test_cloudflare_server_error_page_stays_server_error() -> None:
    page = PageText(title="hrw.org | 522: Connection timed out",
                    text="Connection timed out Error code 522 Performance & security by Cloudflare", kind="html")
    assert status_of(seen(URL, status=522, page=page)) == "server_error"


def test_platform_404_is_still_not_found() -> None:
    assert status_of(seen("https://www.youtube.com/@no-such-channel-here", status=404)) == "not_found"


def test_401_at_a_sign_in_page_is_a_login_wall() -> None:
    assert status_of(seen(URL, "https://sso.example.org/idp/profile/SAML2/Redirect/SSO", status=401)) == "login_wall"


# --- redirects not followed (3xx final) ----------------------------------------------------------

def test_unfollowed_redirect_to_another_path_is_redirected() -> None:
    result = classify(seen(URL, status=301, headers={"location": "/news/2020/10/23/new-slug"}))
    assert result.status == "redirected"
    assert "not followed" in result.reason


def test_unfollowed_redirect_to_https_is_ok() -> None:
    http = URL.replace("https://", "http://")
    assert status_of(seen(http, status=301, headers={"location": URL})) == "ok"


def test_unfollowed_redirect_to_instagram_login_is_a_login_wall() -> None:
    post = "https://www.instagram.com/p/CxYz123AbC/"
    location = "https://www.instagram.com/accounts/login/?next=%2Fp%2FCxYz123AbC%2F"
    assert status_of(seen(post, status=302, headers={"location": location})) == "login_wall"


# --- moves -------------------------------------------------------------------------------------

@pytest.mark.parametrize("final", [
    URL.replace("https://www.", "http://"),  # scheme and www are not material
    URL + "/",  # nor a trailing slash
    URL + "?utm_source=feed",  # nor the query
    URL.replace("www.hrw.org", "www.hrw.org:443"),
])
def test_immaterial_changes_are_ok(final: str) -> None:
    assert status_of(seen(final, URL, fixture="news_article.html")) == "ok"


def test_http_to_https_upgrade_is_ok_not_redirected() -> None:
    assert status_of(seen("http://hrw.org/report/2021/x", "https://www.hrw.org/report/2021/x/")) == "ok"


def test_genuine_move_to_another_path_is_redirected() -> None:
    result = classify(seen(URL, "https://www.hrw.org/news/2020/10/24/azerbaijan-cluster-munitions",
                           fixture="news_article.html"))
    assert result.status == "redirected"
    assert "moved to" in result.reason


def test_change_of_identifying_query_is_a_move() -> None:
    assert status_of(seen("https://news.example.az/article.php?id=77", "https://news.example.az/article.php?id=78")) \
        == "redirected"


def test_move_to_another_host_is_redirected() -> None:
    assert status_of(seen(URL, "https://archive.hrw.org/news/2020/10/23/cluster")) == "redirected"


# --- soft 404 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("final", [
    "https://www.hrw.org/", "https://hrw.org", "https://www.hrw.org/index.php", "https://www.hrw.org/en/",
    "https://www.hrw.org/en-gb",
])
def test_redirect_to_site_root_is_soft_404(final: str) -> None:
    result = classify(seen(URL, final, page=PageText("Human Rights Watch", "Defending human rights " * 50, "html")))
    assert (result.status, result.reason) == ("soft_404", "redirected to the site root")


def test_root_to_root_is_ok() -> None:
    assert status_of(seen("http://hrw.org", "https://www.hrw.org/")) == "ok"


def test_lost_identifying_query_to_root_is_soft_404() -> None:
    assert status_of(seen("https://blog.example.org/?p=1234", "https://blog.example.org/")) == "soft_404"


@pytest.mark.parametrize("final", [
    "https://www.hrw.org/404.html", "https://www.hrw.org/page-not-found/", "https://www.hrw.org/errors/404",
    "https://www.hrw.org/NotFound.aspx?aspxerrorpath=/news/x", "https://www.hrw.org/error?code=404",
    "https://www.hrw.org/content/pagenotfound",
])
def test_redirect_to_an_error_path_is_soft_404(final: str) -> None:
    assert status_of(seen(URL, final)) == "soft_404"


def test_error_correction_slug_is_not_an_error_page() -> None:
    url = "https://physicsweekly.example/news/2024/quantum-error-correction-break-even"
    assert status_of(seen(url, fixture="error_correction_article.html")) == "ok"
    moved = url.replace("/2024/", "/2024/08/")
    assert status_of(seen(url, moved, fixture="error_correction_article.html")) == "redirected"


def test_a_cited_page_about_errors_is_not_an_error_page() -> None:
    url = "https://docs.python.org/3/tutorial/errors.html"
    page = PageText("8. Errors and Exceptions - Python 3 documentation", "Until now error messages ... " * 60, "html")
    assert status_of(seen(url, page=page)) == "ok"


def test_wordpress_not_found_page_is_soft_404() -> None:
    url = "https://policynotes.example/2020/11/ceasefire-analysis/"
    result = classify(seen(url, fixture="wordpress_404.html"))
    assert result.status == "soft_404"
    assert "Page not found" in result.reason


def test_short_notice_anywhere_in_short_text_is_soft_404() -> None:
    assert status_of(seen(URL, fixture="short_gone_notice.html")) == "soft_404"


def test_long_article_mentioning_not_found_stays_ok() -> None:
    url = "https://courier.example/news/2023/03/14/ben-alder-search-scaled-back"
    page = page_text((PAGES / "missing_person_article.html").read_bytes(), "text/html", url)
    assert len(page.text.split()) >= 1000
    assert "not found" in page.text
    assert status_of(seen(url, page=page)) == "ok"


def test_long_article_with_short_weak_title_stays_ok() -> None:
    page = PageText("Hiker not found | Highland Courier", "The search for the missing climber went on. " * 60, "html")
    assert status_of(seen(URL, page=page)) == "ok"


@pytest.mark.parametrize("title", [
    "404 Not Found", "Not Found", "Error 404 - Rights Monitor", "Page Not Found | Rights Monitor",
    "Oops! That page can’t be found. – Blog", "Sorry, this page doesn’t exist", "Content unavailable",
])
def test_error_titles_are_soft_404_even_with_long_boilerplate(title: str) -> None:
    page = PageText(title, "Home News Reports About Contact Subscribe Donate Privacy " * 60, "html")
    assert status_of(seen(URL, page=page)) == "soft_404"


@pytest.mark.parametrize("title", ["Not Found: a memoir of the disappeared", "Gone Girl review", "Missing",
                                   "How to fix a 404 error in WordPress", "Why this page does not exist yet"])
def test_titles_that_only_contain_error_words_stay_ok_on_long_articles(title: str) -> None:
    page = PageText(title, "A long review of the book and its reception among critics. " * 50, "html")
    assert status_of(seen(URL, page=page)) == "ok"


def test_headline_saying_page_gone_is_soft_404() -> None:
    page = PageText("Rights Monitor", "The page you requested is no longer available.\n" + "Related reports " * 200,
                    "html")
    assert status_of(seen(URL, page=page)) == "soft_404"


def test_tiny_body_is_soft_404() -> None:
    page = PageText("", "OK", "html")
    assert classify(seen(URL, page=page, body_size=31)).reason.startswith("tiny page")


def test_untitled_page_with_almost_no_text_is_soft_404() -> None:
    assert status_of(seen(URL, page=PageText("", "Loading", "html"), body_size=4000)) == "soft_404"


def test_empty_body_is_soft_404() -> None:
    assert classify(seen(URL, page=PageText("", "", "other"), body_size=0)).reason == "empty body"


def test_small_non_html_resource_is_ok() -> None:
    url = "https://data.example.org/series/karabakh-casualties.csv"
    assert status_of(seen(url, page=PageText("", "date,killed\n2020-10-01,12", "text"), body_size=28)) == "ok"


# --- login walls ---------------------------------------------------------------------------------

def test_redirect_to_login_page_is_login_wall() -> None:
    url = "https://portal.example.org/reports/2021/annual-review"
    final = "https://portal.example.org/accounts/login/?next=/reports/2021/annual-review"
    result = classify(seen(url, final, fixture="login_page.html"))
    assert result.status == "login_wall"


@pytest.mark.parametrize("final", [
    "https://accounts.google.com/v3/signin/identifier?continue=https%3A%2F%2Fdocs.google.com%2Fdocument%2Fd%2Fabc",
    "https://example.org/users/sign_in", "https://example.org/session/new", "https://login.example.org/",
    "https://www.linkedin.com/authwall?trk=gf&originalReferer=",
    "https://example.org/?return_to=%2Freports%2F2021%2Fannual-review",
])
def test_login_urls_are_login_walls(final: str) -> None:
    assert status_of(seen("https://example.org/reports/2021/annual-review", final)) == "login_wall"


def test_citing_a_login_page_itself_is_ok() -> None:
    url = "https://portal.example.org/accounts/login/"
    assert status_of(seen(url, fixture="login_page.html")) == "ok"


def test_members_only_page_is_login_wall() -> None:
    url = "https://society.example.org/annual-review-2021/"
    assert status_of(seen(url, fixture="members_only.html")) == "login_wall"


# --- parked domains ------------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", ["parked_sedo.html", "parked_godaddy.html"])
def test_parking_pages_are_parked(fixture: str) -> None:
    assert status_of(seen("http://example-conference.org/2019/programme.html", fixture=fixture)) == "parked"


@pytest.mark.parametrize("final", [
    "https://www.hugedomains.com/domain_profile.cfm?d=oldproject.info",
    "https://dan.com/buy-domain/oldproject.info",
    "http://ww25.oldproject.info/programme?subid1=20240101-abcd",
    "https://oldproject.info/lander",
])
def test_redirect_to_parking_is_parked(final: str) -> None:
    assert status_of(seen("http://oldproject.info/programme", final)) == "parked"


def test_article_about_domain_parking_stays_ok() -> None:
    page = PageText("The economics of expired domains", "Domain parking pays registrars well. " * 80, "html")
    assert status_of(seen(URL, page=page)) == "ok"


@pytest.mark.parametrize("text", ["Write to us at office@jordan.com for press enquiries.",
                                  "Bakery Lusine, Yerevan. Open daily 8-20. Website built with GoDaddy.com"])
def test_small_pages_naming_lookalike_hosts_are_not_parked(text: str) -> None:
    assert status_of(seen("https://press.example/contact/us", page=PageText("Contact", text, "html"))) == "ok"


# --- the random sibling (Bar-Yossef et al. 2004) -------------------------------------------------

CATCHALL = "https://energy-observer.example/news/2020/10/caspian-gas-deal-signed"
PROBE = "https://energy-observer.example/news/2020/10/qwzrtpk-lmv-vfnkyx"


def test_page_identical_to_made_up_sibling_is_soft_404() -> None:
    this = seen(CATCHALL, fixture="catchall_home.html")
    probe = seen(PROBE, fixture="catchall_home.html")
    result = classify(this, probe)
    assert result.status == "soft_404"
    assert "made-up URL" in result.reason


def test_sibling_that_echoes_its_own_path_still_matches() -> None:
    def echo(url: str) -> PageText:
        slug = urlsplit(url).path.rsplit("/", 1)[-1].replace("-", " ")
        return PageText("Caspian Energy Observer", f"Latest news {slug} pipeline exports markets analysis " * 3, "html")
    this, probe = seen(CATCHALL, page=echo(CATCHALL)), seen(PROBE, page=echo(PROBE))
    assert status_of(this, probe) == "soft_404"


def test_sibling_answering_404_leaves_page_ok() -> None:
    assert status_of(seen(CATCHALL, fixture="news_article.html"), seen(PROBE, status=404)) == "ok"


def test_sibling_with_different_text_leaves_page_ok() -> None:
    this = seen(CATCHALL, fixture="news_article.html")
    assert status_of(this, seen(PROBE, fixture="catchall_home.html")) == "ok"


def test_page_and_sibling_redirected_to_the_same_place_is_soft_404() -> None:
    landing = "https://energy-observer.example/news/"
    this = seen(CATCHALL, landing, fixture="catchall_home.html")
    probe = seen(PROBE, landing, page=PageText("Other", "entirely different words " * 10, "html"))
    assert status_of(this, probe) == "soft_404"


def test_script_only_shells_are_not_judged_by_sibling() -> None:
    shell = PageText("Observer", "You need to enable JavaScript to run this app.", "html")
    assert status_of(seen(CATCHALL, page=shell), seen(PROBE, page=shell)) == "ok"


def test_needs_sibling_only_for_plain_pages_of_plain_sites() -> None:
    assert needs_sibling(seen(CATCHALL, fixture="news_article.html"))
    assert needs_sibling(seen("https://blog.example.org/?p=1234"))
    assert not needs_sibling(seen("https://energy-observer.example/"))
    assert not needs_sibling(seen(CATCHALL, status=404))
    assert not needs_sibling(seen(CATCHALL, fixture="wordpress_404.html"))
    assert not needs_sibling(seen(CATCHALL, fixture="parked_sedo.html"))
    assert not needs_sibling(seen(CATCHALL, "https://energy-observer.example/login?next=/news"))
    assert not needs_sibling(seen("https://www.youtube.com/watch?v=Kq3xZ8vB1aQ", fixture="youtube_video.html"))
    assert not needs_sibling(seen("https://t.me/caucasus_monitor/1234", fixture="telegram_channel.html"))


def test_sibling_url_keeps_directories_and_shape() -> None:
    made = sibling_url("https://www.hrw.org/news/2020/10/23/azerbaijan-cluster-munitions?utm_source=x",
                       random.Random(1))
    parts = urlsplit(made)
    assert (parts.scheme, parts.hostname, parts.query) == ("https", "www.hrw.org", "")
    head, last = parts.path.rsplit("/", 1)
    assert head == "/news/2020/10/23"
    assert last != "azerbaijan-cluster-munitions" and len(last) == len("azerbaijan-cluster-munitions")
    assert [i for i, c in enumerate(last) if c == "-"] == [10, 18]


@pytest.mark.parametrize(("url", "suffix"), [
    ("https://example.org/reports/annual-2021.pdf", ".pdf"), ("https://example.org/a/b/page.html", ".html"),
    ("https://example.org/news/story-title/", "/"),
])
def test_sibling_url_keeps_extension_and_trailing_slash(url: str, suffix: str) -> None:
    made = sibling_url(url, random.Random(7))
    assert made.endswith(suffix) and made != url


def test_sibling_url_randomises_identifying_query_value() -> None:
    made = sibling_url("https://news.example.az/article.php?id=77&lang=en", random.Random(3))
    parts = urlsplit(made)
    query = dict(parse_qsl(parts.query))
    assert parts.path == "/article.php" and query["lang"] == "en"
    assert query["id"].isdigit() and query["id"] != "77" and len(query["id"]) >= 6
    wordpress = urlsplit(sibling_url("https://blog.example.org/?p=1234", random.Random(3)))
    assert wordpress.path == "/" and dict(parse_qsl(wordpress.query))["p"] != "1234"


def test_sibling_url_of_root_and_short_ids() -> None:
    assert urlsplit(sibling_url("https://example.org/", random.Random(0))).path.strip("/")
    short = urlsplit(sibling_url("https://example.org/news/7", random.Random(0))).path.rsplit("/", 1)[-1]
    assert short.isdigit() and len(short) >= 6


host_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
segment = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=0, max_size=12)


@given(scheme=st.sampled_from(["http", "https"]), labels=st.lists(host_label, min_size=1, max_size=3),
       segments=st.lists(segment, max_size=5), query=st.sampled_from(["", "p=12", "id=abc&x=1", "utm=1"]),
       slash=st.booleans(), seed=st.integers(0, 2**32))
def test_sibling_url_keeps_scheme_and_host_and_never_equals_input(
        scheme: str, labels: list[str], segments: list[str], query: str, slash: bool, seed: int) -> None:
    from urllib.parse import quote
    path = "/" + "/".join(quote(s, safe="") for s in segments) + ("/" if slash and segments else "")
    url = f"{scheme}://{'.'.join(labels)}.org{path}" + (f"?{query}" if query else "")
    made = sibling_url(url, random.Random(seed))
    assert made != url
    assert urlsplit(made).scheme == scheme and urlsplit(made).hostname == urlsplit(url).hostname


def test_sibling_key_groups_pages_of_one_route() -> None:
    a = sibling_key("https://www.hrw.org/news/2020/10/23/azerbaijan-cluster-munitions-used")
    assert a == sibling_key("https://www.hrw.org/news/2021/01/02/armenia-prisoners")
    assert a != sibling_key("https://www.hrw.org/news/2021/01/02/12345")
    assert a != sibling_key("https://www.amnesty.org/news/2021/01/02/armenia-prisoners")
    assert a != sibling_key("https://www.hrw.org/report/2021/01/02/armenia-prisoners")
    assert sibling_key("https://x.example/a/report.pdf") != sibling_key("https://x.example/a/report-b.html")
    assert sibling_key("https://blog.example.org/?p=1") == sibling_key("https://blog.example.org/?p=2&utm=x")


# --- platforms -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "fixture", "expected"), [
    ("https://www.youtube.com/watch?v=dQw4w9WgXcZ", "youtube_removed.html", "soft_404"),
    ("https://www.youtube.com/watch?v=Kq3xZ8vB1aQ", "youtube_video.html", "ok"),
    ("https://www.instagram.com/p/CxYz123AbC/", "instagram_missing.html", "soft_404"),
    ("https://x.com/someone/status/1319999999999999999", "x_missing_rendered.html", "soft_404"),
    ("https://twitter.com/someone/status/1319999999999999999", "x_suspended_rendered.html", "soft_404"),
    ("https://t.me/karabakh_news_2020", "telegram_missing.html", "soft_404"),
    ("https://t.me/caucasus_monitor", "telegram_channel.html", "ok"),
    ("https://www.facebook.com/groups/example/posts/123/", "facebook_unavailable.html", "soft_404"),
    ("https://www.dropbox.com/s/abc123def456/report.pdf?dl=0", "dropbox_deleted.html", "soft_404"),
])
def test_platform_pages(url: str, fixture: str, expected: str) -> None:
    assert status_of(seen(url, fixture=fixture)) == expected


@pytest.mark.parametrize(("url", "final"), [
    ("https://www.instagram.com/p/CxYz123AbC/", "https://www.instagram.com/accounts/login/?next=%2Fp%2FCxYz123AbC%2F"),
    ("https://x.com/someone/status/1", "https://x.com/i/flow/login?redirect_after_login=%2Fsomeone%2Fstatus%2F1"),
    ("https://www.youtube.com/watch?v=Kq3xZ8vB1aQ", "https://consent.youtube.com/m?continue=https%3A%2F%2Fwww.youtube"),
    ("https://m.facebook.com/story.php?story_fbid=1&id=2", "https://m.facebook.com/login.php?next=https%3A%2F%2Fm"),
    ("https://www.facebook.com/groups/example/posts/123/", "https://www.facebook.com/checkpoint/?next"),
    ("https://www.dropbox.com/home/reports", "https://www.dropbox.com/login?cont=https%3A%2F%2Fwww.dropbox.com"),
])
def test_platform_login_redirects_are_login_walls(url: str, final: str) -> None:
    assert status_of(seen(url, final)) == "login_wall"


def test_instagram_and_facebook_login_pages_are_login_walls() -> None:
    post = "https://www.instagram.com/p/CxYz123AbC/"
    assert status_of(seen(post, "https://www.instagram.com/p/CxYz123AbC/", fixture="instagram_login.html")) == \
        "login_wall"
    group = "https://www.facebook.com/groups/example/posts/123/"
    assert status_of(seen(group, group, fixture="facebook_login.html")) == "login_wall"


@pytest.mark.parametrize(("url", "text", "expected"), [
    ("https://www.youtube.com/watch?v=abcdefghijk", "This video isn’t available anymore", "soft_404"),
    ("https://www.youtube.com/watch?v=abcdefghijk", "This video isn't available anymore", "soft_404"),
    ("https://youtu.be/abcdefghijk", "Video unavailable This video has been removed by the uploader", "soft_404"),
    ("https://www.youtube.com/watch?v=abcdefghijk", "Sign in to confirm your age", "login_wall"),
    ("https://www.youtube.com/watch?v=abcdefghijk", "Sign in to confirm you’re not a bot", "forbidden"),
    ("https://www.youtube.com/watch?v=abcdefghijk", "Private video Sign in if you've been granted access", "forbidden"),
    ("https://x.com/nobody_at_all_2020", "This account doesn’t exist Try searching for another.", "soft_404"),
    ("https://x.com/someone/status/1", "Hmm...this page doesn't exist.", "soft_404"),
    ("https://x.com/someone/status/1", "Account suspended X suspends accounts which violate the X Rules", "soft_404"),
    ("https://x.com/someone/status/1", "This Post was deleted by the Post author. Learn more", "soft_404"),
    ("https://x.com/someone", "These posts are protected Only approved followers can see", "forbidden"),
    ("https://www.instagram.com/p/CxYz123AbC/", "Sorry, this page isn’t available.", "soft_404"),
    ("https://www.instagram.com/someone/", "This account is private Follow to see their photos", "forbidden"),
    ("https://t.me/some_channel/55", "Post not found", "soft_404"),
    ("https://t.me/blocked_channel", "This channel can’t be displayed because it violated local laws.", "soft_404"),
    ("https://www.facebook.com/somepage", "This page isn't available The link you followed may be broken", "soft_404"),
    ("https://www.facebook.com/somepage", "You’re Temporarily Blocked It looks like you were misusing", "rate_limited"),
    ("https://www.dropbox.com/s/abc/x.pdf", "This item was deleted", "soft_404"),
    ("https://www.dropbox.com/s/abc/x.pdf", "Error (404) We can't find the page you're looking for.", "soft_404"),
    ("https://www.dropbox.com/s/abc/x.pdf", "This account's links are generating too much traffic", "rate_limited"),
])
def test_platform_markers(url: str, text: str, expected: str) -> None:
    assert status_of(seen(url, page=PageText("", text, "html"), body_size=300_000)) == expected


def test_post_mentioning_a_suspension_is_not_a_suspended_account() -> None:
    page = PageText("Someone on X", "Day three of my friend’s account suspended for nothing. Support!", "html")
    assert status_of(seen("https://x.com/someone/status/1", page=page)) == "ok"


def test_platform_titles_are_user_content() -> None:
    page = PageText("404 Not Found (Official Music Video) - YouTube", "Official video. " * 5, "html")
    assert status_of(seen("https://www.youtube.com/watch?v=abcdefghijk", page=page)) == "ok"


@pytest.mark.parametrize(("url", "final"), [
    ("https://youtu.be/Kq3xZ8vB1aQ", "https://www.youtube.com/watch?v=Kq3xZ8vB1aQ&feature=youtu.be"),
    ("https://twitter.com/someone/status/1319", "https://x.com/someone/status/1319"),
    ("https://mobile.twitter.com/someone/status/1319", "https://x.com/someone/status/1319"),
    ("https://telegram.me/caucasus_monitor", "https://t.me/caucasus_monitor"),
    ("https://m.facebook.com/somepage/posts/1", "https://www.facebook.com/somepage/posts/1"),
])
def test_platform_aliases_are_not_moves(url: str, final: str) -> None:
    assert status_of(seen(url, final)) == "ok"


def test_platform_table_entries_are_well_formed() -> None:
    words = {"ok", "redirected", "soft_404", "not_found", "gone", "server_error", "client_error", "forbidden",
             "rate_limited", "login_wall", "parked", "legal_block"}
    for platform in platforms.PLATFORMS:
        assert platform.hosts
        for marker in platform.markers:
            assert marker.status in words
            assert marker.pattern == marker.pattern.lower() and "’" not in marker.pattern


# --- deaths in any language ----------------------------------------------------------------------

LANGUAGE_PAGES = PAGES / "languages"
LABELS = {"dead": "soft_404", "search": "soft_404", "live": "ok", "legal": "legal_block"}


def labelled(path: Path) -> tuple[str, str]:
    """(language, expected status) of tests/pages/languages/<language>.<label>.<what>.html."""
    language, label = path.name.split(".")[:2]
    return language, LABELS[label]


def test_labelled_pages_cover_every_language() -> None:
    pages = sorted(LANGUAGE_PAGES.glob("*.html"))
    languages = {language.code for language in wording.LANGUAGES}
    assert {labelled(p)[0] for p in pages} == languages
    for code in languages:
        assert {"soft_404", "ok"} <= {labelled(p)[1] for p in pages if labelled(p)[0] == code}, code


def test_labelled_pages_are_classified_right_in_every_language(capsys: pytest.CaptureFixture[str]) -> None:
    right: dict[str, list[bool]] = {}
    wrong = []
    for path in sorted(LANGUAGE_PAGES.glob("*.html")):
        language, expected = labelled(path)
        result = classify(seen(f"https://{language}.news.example/2020/10/23/cited-article",
                               fixture=f"languages/{path.name}"))
        right.setdefault(language, []).append(result.status == expected)
        if result.status != expected:
            wrong.append(f"{path.name}: {result.status} ({result.reason}), labelled {expected}")
    with capsys.disabled():
        print("\nlabelled pages classified right, per language: "
              + ", ".join(f"{language} {sum(r)}/{len(r)}" for language, r in sorted(right.items())))
    assert not wrong


@pytest.mark.parametrize(("title", "text"), [
    ("Страница не найдена", "Главная Новости Контакты"),
    ("Səhifə tapılmadı", "Ana səhifə"), ("SAYFA BULUNAMADI", "Ana sayfa"),  # Turkish dotless i, upper case
    ("Էջը չի գտնվել", "Գլխավոր"), ("404 | Ошибка", "Главная"),
    ("页面不存在_新浪网", "返回首页"), ("頁面不存在", "返回首頁"), ("ページが見つかりません｜北海タイムス", "トップ"),
    ("페이지를 찾을 수 없습니다", "홈"), ("صفحه مورد نظر يافت نشد", "خانه"),  # Arabic yeh for the Persian one
    ("الصفحة غير موجودة", "الرئيسية"), ("Không tìm thấy trang", "Trang chủ"),
    ("Khong tim thay trang", "Trang chu"),  # Vietnamese without its accents
    ("Página não encontrada", "Início"), ("Pagina non trovata", "Home"), ("Seite nicht gefunden", "Start"),
])
def test_error_titles_in_any_script_and_case_are_soft_404(title: str, text: str) -> None:
    assert status_of(seen(URL, page=PageText(title, text, "html"))) == "soft_404"


def test_a_long_chinese_article_counts_as_long() -> None:
    # Chinese has no spaces: a 1500-character article is one "word" to str.split().
    article = "调查显示，大量学术论文引用的网页已经无法打开，研究人员逐条核对了四千余篇论文。" * 40
    page = PageText("学者调查：论文引用的页面不存在了_丝路财经网", "页面不存在的问题日益严重。" + article, "html")
    assert status_of(seen(URL, page=page)) == "ok"
    assert status_of(seen(URL, page=PageText("页面不存在_丝路财经网", "返回首页", "html"))) == "soft_404"


# English rules: running text that opens an article is not an error message.
BODY = " The flood swept through the valley overnight and rescue teams were still searching on Sunday." * 30
MID = " Related: ministry announces a new budget for schools and hospitals in the region." * 12  # ~150 words


@pytest.mark.parametrize(("title", "text"), [
    ("Flood toll rises | Courier", "404 people were killed in the floods, officials said on Sunday.\n" + BODY),
    ("Flood toll rises | Courier", "404 people were killed in the floods, officials said. Rescuers still search."),
    ("Flood toll rises | Courier", "Documents not available to the public until now show the ministry knew.\n" + BODY),
    ("Statue removed | Courier", "The statue has been removed from the square, the mayor said after protests.\n" + MID),
    ("Courier", "Files not found in the archive: what the inquiry missed\n" + BODY),
    ("Courier", "Missing hiker not found, search goes on\n" + MID),
    ("The truth does not exist | Courier", "An essay on certainty. " * 40),
    ("Registry page removed from the ministry's website | Courier", "Officials said the page moved." + MID),
    ("No results yet in port fire inquiry | Courier", "No results yet in the port fire inquiry, six months on\n" + MID),
    ("Search and rescue teams return | Courier", "Search and rescue teams returned on Sunday.\n" + MID),
    ("Courier", "Home\nNews\nStatus\nNot found\n404\n" + MID),  # table cells, not headings
])
def test_stories_opening_with_error_words_stay_ok(title: str, text: str) -> None:
    assert status_of(seen(URL, page=PageText(title, text, "html"))) == "ok"


@pytest.mark.parametrize(("title", "text"), [
    ("Rights Monitor: page not found", MID),
    ("Rights Monitor", "The page you requested was not found on this server.\n" + MID),
    ("Rights Monitor", "Sorry, the page you are looking for is no longer available.\n" + BODY),
    ("Rights Monitor", "Nothing found.\n" + MID),
    ("Rights Monitor", "Home\nNews\nPage not found\n" + MID),
    ("Южный вестник", "Главная\nНовости\nТакой страницы не существует\n" + MID),
])
def test_error_messages_amid_navigation_are_soft_404(title: str, text: str) -> None:
    assert status_of(seen(URL, page=PageText(title, text, "html"))) == "soft_404"


# --- emptied to a site search --------------------------------------------------------------------

@pytest.mark.parametrize("final", [
    "https://policynotes.example/?s=ceasefire+analysis", "https://policynotes.example/search?q=ceasefire",
    "https://policynotes.example/suche/", "https://policynotes.example/index.php?searchword=ceasefire",
])
def test_redirect_to_a_site_search_is_soft_404(final: str) -> None:
    result = classify(seen("https://policynotes.example/2020/11/ceasefire-analysis/", final))
    assert (result.status, result.reason) == ("soft_404", "redirected to a site search")


@pytest.mark.parametrize("final", ["https://policynotes.example/news?page=2",
                                   "https://policynotes.example/2020/11/ceasefire-analysis/?q=1"])
def test_queries_that_are_not_a_search_are_not_a_site_search(final: str) -> None:
    assert status_of(seen("https://policynotes.example/2020/11/ceasefire-analysis/", final)) != "soft_404"


@pytest.mark.parametrize("url", ["https://policynotes.example/search?q=ceasefire", "https://policynotes.example/",
                                 "https://catalogue.example/records?query=karabakh"])
def test_a_cited_search_or_front_page_is_not_judged_as_emptied(url: str) -> None:
    for page in (PageText("Search | Caucasus Policy Notes", "Search\nAnalysis\nReports", "html"),
                 PageText("Caucasus Policy Notes", "Search\nNo results found.", "html")):
        assert status_of(seen(url, page=page)) == "ok"


def test_no_results_in_a_short_story_is_not_a_search() -> None:
    text = "Talks on the border commission ended on Friday with no results, the ministry said."
    assert status_of(seen(URL, page=PageText("Border talks end | Courier", text, "html"))) == "ok"
    search = "Search\nWe looked everywhere for “border commission talks” but there are no results. Try again."
    assert status_of(seen(URL, page=PageText("Courier", search, "html"))) == "soft_404"


def test_a_short_page_with_prose_and_a_search_link_stays_ok() -> None:
    text = "Search\nHome\nThe board approved the 2021 accounts and elected a new chair at its annual meeting."
    assert status_of(seen(URL, page=PageText("Annual meeting | Society", text, "html"))) == "ok"


# --- refused for legal reasons -------------------------------------------------------------------

def test_451_is_a_legal_block_whatever_the_page_says() -> None:
    page = PageText("Unavailable For Legal Reasons", "This article has been removed following a court order.", "html")
    result = classify(seen(URL, status=451, page=page))
    assert (result.status, result.reason) == ("legal_block", "HTTP 451 (unavailable for legal reasons)")


def test_a_403_block_page_citing_a_court_is_a_legal_block() -> None:
    page = PageText("Доступ ограничен", "Доступ к ресурсу ограничен на основании решения суда.", "html")
    assert status_of(seen(URL, status=403, page=page)) == "legal_block"
    assert status_of(seen(URL, status=403, page=PageText("Access denied", "Forbidden.", "html"))) == "forbidden"


def test_x_withheld_post_is_a_legal_block() -> None:
    text = "This Post from @someone has been withheld in Russia based on local laws. Learn more"
    assert status_of(seen("https://x.com/someone/status/1", page=PageText("", text, "html"))) == "legal_block"


def test_a_blob_without_spaces_is_classified_quickly() -> None:
    # Few "words" make a short page, whose whole text the wording tables would search.
    blob = PageText("Title", "страницанеудалена" * 60_000 + "\n" + ("x" * 5000 + "\n") * 60, "html")
    started = time.monotonic()
    assert status_of(seen(URL, page=blob)) == "ok"
    assert time.monotonic() - started < 3
