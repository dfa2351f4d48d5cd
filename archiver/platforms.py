"""What well-known platforms say when cited content is gone or hidden behind a login.

Platforms answer 200 for deleted posts, suspended accounts and login walls, so their status codes
mean little; each entry here lists the wording their pages show instead. Adding a platform is one
`Platform(...)` entry. Patterns are matched against the lower-cased title and main text with
typographic apostrophes and ellipses already folded to ASCII (see `wording.fold`).

Also here: the other tables of known hosts and URL shapes the classifier needs (domain-parking
providers, bot challenge pages, sign-in and site-search URLs) and the English wording of sign-in walls
and parked domains, so that keeping up with the web means editing data, not logic. What dead pages
say, in every language, is in wording.py.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Marker:
    """Wording that decides a page's status on one platform."""

    pattern: str  # regex over fold(title) and fold(text)
    status: str  # a status word: soft_404, login_wall, forbidden, rate_limited, legal_block
    reason: str
    title_only: bool = False  # match the title only (wording the platform puts in <title>)
    paths: str | None = None  # regex the final URL's path must match (e.g. only video pages)
    unless: str | None = None  # regex over fold(text) that cancels the marker (e.g. the channel is there)


@dataclass(frozen=True)
class Platform:
    name: str
    hosts: tuple[str, ...]  # subdomains match too (m.facebook.com, mobile.twitter.com)
    markers: tuple[Marker, ...] = ()
    login_paths: str | None = None  # regex over the final URL's path: where the platform sends visitors to log in
    login_hosts: tuple[str, ...] = ()
    # (host, regex over path, replacement): a short link's long form, so that youtu.be/ID ->
    # youtube.com/watch?v=ID is not counted as a move
    short_links: tuple[tuple[str, str, str], ...] = field(default=())


_YT_VIDEO = r"^/(?:watch|shorts/|embed/|live/|v/|[\w-]{11}$)"

PLATFORMS: tuple[Platform, ...] = (
    Platform(
        name="YouTube",
        hosts=("youtube.com", "youtu.be", "youtube-nocookie.com"),
        login_hosts=("consent.youtube.com", "accounts.google.com", "consent.google.com"),
        login_paths=r"^/(?:signin|login)\b",
        short_links=(("youtu.be", r"^/[\w-]{11}/?$", "/watch"),),
        markers=(
            # A removed video's page keeps the shell but loses the video title: "- YouTube".
            Marker(r"^(?:undefined)? ?-? ?youtube$", "soft_404", "video page has no video title", title_only=True,
                   paths=_YT_VIDEO),
            Marker(r"\bthis video isn't available any ?more\b", "soft_404",
                   "YouTube: this video isn't available anymore", paths=_YT_VIDEO),
            Marker(r"\bthis video has been removed (?:by the uploader|for violating)", "soft_404",
                   "YouTube: video removed", paths=_YT_VIDEO),
            Marker(r"\bthis video is no longer available (?:because|due to)", "soft_404",
                   "YouTube: video no longer available", paths=_YT_VIDEO),
            Marker(r"\b(?:video unavailable|this video is unavailable)\b", "soft_404", "YouTube: video unavailable",
                   paths=_YT_VIDEO),
            Marker(r"\bthis (?:channel|account) (?:does not|doesn't) exist\b|\bthis account has been terminated\b",
                   "soft_404", "YouTube: channel gone"),
            Marker(r"\bthe playlist does not exist\b", "soft_404", "YouTube: playlist gone"),
            Marker(r"\bsign in to confirm you're not a bot\b", "forbidden", "YouTube: bot check"),
            Marker(r"\bsign in to confirm your age\b", "login_wall", "YouTube: age-restricted, sign-in needed"),
            Marker(r"\b(?:this video is private|private video)\b", "forbidden", "YouTube: video is private",
                   paths=_YT_VIDEO),
        ),
    ),
    Platform(
        name="X",
        hosts=("x.com", "twitter.com"),
        login_paths=r"^/(?:i/flow/login|login|i/flow/signup)\b",
        markers=(
            Marker(r"\bhmm\.\.\. ?this page doesn't exist\b|\bsorry, that page doesn't exist\b", "soft_404",
                   "X: this page doesn't exist"),
            Marker(r"\bthis account doesn't exist\b", "soft_404", "X: this account doesn't exist"),
            # A post whose author deleted the account renders this in place of the post (2024-).
            Marker(r"\bthis (?:post|tweet) is from an account that no longer exists\b", "soft_404",
                   "X: post from an account that no longer exists"),
            Marker(r"\b(?:post|tweet) is from a suspended account\b|\baccount suspended\.? (?:x|twitter) suspends",
                   "soft_404",
                   "X: account suspended"),
            Marker(r"\bthis (?:post|tweet) was deleted\b", "soft_404", "X: post deleted"),
            Marker(r"\bthis (?:post|tweet) is unavailable\b", "soft_404", "X: post unavailable"),
            Marker(r"\b(?:these posts|these tweets|this account's (?:posts|tweets)) are protected\b", "forbidden",
                   "X: protected account"),
            Marker(r"\bhas been withheld in .{1,60}? (?:in response to a legal demand|based on local laws?)\b",
                   "legal_block", "X: withheld in a country for legal reasons"),
        ),
    ),
    Platform(
        name="Instagram",
        hosts=("instagram.com",),
        login_paths=r"^/(?:accounts/login|challenge)\b",
        markers=(
            Marker(r"\bsorry, this page isn't available\b", "soft_404", "Instagram: sorry, this page isn't available"),
            Marker(r"^page not found\b", "soft_404", "Instagram: page not found", title_only=True),
            Marker(r"\bthe link you followed may be broken, or the page may have been removed\b", "soft_404",
                   "Instagram: page may have been removed"),
            Marker(r"^log ?in [^\w\s] instagram$", "login_wall", "Instagram: login page",
                   title_only=True),
            Marker(r"\bthis account is private\b", "forbidden", "Instagram: private account"),
        ),
    ),
    Platform(
        name="Telegram",
        hosts=("t.me", "telegram.me", "telegram.dog"),
        markers=(
            # t.me/NAME for a name nobody holds: only the generic "contact @NAME" blurb, no channel title,
            # no subscriber count (username checkers rely on exactly this).
            Marker(r"\bif you have telegram, you can contact @\w+ right away\b", "soft_404",
                   "Telegram: no such user or channel",
                   unless=r"\b[\d.,]+\s*[km]?\s+(?:subscribers?|members?|monthly users)\b|\bpreview channel\b"),
            Marker(r"\bpost not found\b", "soft_404", "Telegram: post not found"),
            Marker(r"\bthis channel can't be displayed\b|\bthis (?:group|bot) can't be displayed\b", "soft_404",
                   "Telegram: channel blocked"),
        ),
    ),
    Platform(
        name="Facebook",
        hosts=("facebook.com", "fb.com", "fb.watch"),
        login_paths=r"^/(?:login|login\.php|checkpoint|r\.php)\b",
        markers=(
            Marker(r"\bthis content isn't available (?:right now|at the moment)\b", "soft_404",
                   "Facebook: this content isn't available"),
            Marker(r"\bthis page isn't available\b", "soft_404", "Facebook: this page isn't available"),
            Marker(r"\bthe link you followed may be broken, or the page may have been removed\b", "soft_404",
                   "Facebook: page may have been removed"),
            Marker(r"\byou must log in to continue\b", "login_wall", "Facebook: log in to continue"),
            Marker(r"^log (?:in|into) facebook\b|^facebook - log in or sign up$", "login_wall", "Facebook: login page",
                   title_only=True),
            Marker(r"\byou're temporarily blocked\b", "rate_limited", "Facebook: temporarily blocked"),
        ),
    ),
    Platform(
        name="Dropbox",
        hosts=("dropbox.com", "db.tt"),
        login_paths=r"^/login\b",
        markers=(
            Marker(r"\bthat file isn't here any ?more\b", "soft_404", "Dropbox: that file isn't here anymore"),
            Marker(r"\bthis item was deleted\b", "soft_404", "Dropbox: this item was deleted"),
            Marker(r"\bthe file you're looking for has been (?:moved or deleted|deleted or moved)\b", "soft_404",
                   "Dropbox: file moved or deleted"),
            Marker(r"\berror \(404\)", "soft_404", "Dropbox: Error (404)"),
            Marker(r"\berror \(429\)|\blinks are generating too much traffic\b", "rate_limited",
                   "Dropbox: link temporarily disabled for traffic"),
        ),
    ),
)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def host_matches(host: str, domains: tuple[str, ...] | frozenset[str]) -> bool:
    """True when `host` is one of `domains` or a subdomain of one."""
    return any(host == d or host.endswith("." + d) for d in domains)


def platform_for(url: str) -> Platform | None:
    return _platform_of(_host(url))


@functools.lru_cache(maxsize=1024)  # asked of every page a run fetches: many pages, few hosts
def _platform_of(host: str) -> Platform | None:
    return next((p for p in PLATFORMS if host_matches(host, p.hosts) or host in p.login_hosts), None)


def is_platform_login(platform: Platform, url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in platform.login_hosts:
        return True
    return bool(platform.login_paths and host_matches(host, platform.hosts)
                and re.search(platform.login_paths, parts.path, re.I))


def long_form_path(platform: Platform, url: str) -> str:
    """The path of `url`, with the platform's short links expanded."""
    parts = urlsplit(url)
    for host, pattern, replacement in platform.short_links:
        if (parts.hostname or "").lower() == host and re.search(pattern, parts.path):
            return replacement
    return parts.path


def page_marker(platform: Platform, final_url: str, title: str, text: str) -> Marker | None:
    """The first marker of `platform` the page shows; `title` and `text` already folded."""
    path = urlsplit(final_url).path or "/"
    for marker in platform.markers:
        if marker.paths and not re.search(marker.paths, path):
            continue
        found = re.search(marker.pattern, title) or (not marker.title_only and re.search(marker.pattern, text))
        if found and not (marker.unless and re.search(marker.unless, text)):
            return marker
    return None


# Domain-parking and for-sale marketplaces: a redirect through one of these hosts means the domain
# was given up. The value, when set, is a path prefix the redirect must reach (registrars that also
# host ordinary pages).
PARKING_HOSTS: dict[str, str | None] = {
    "sedoparking.com": None, "sedo.com": None, "parkingcrew.net": None, "bodis.com": None, "dan.com": None,
    "afternic.com": None, "hugedomains.com": None, "above.com": None, "uniregistry.com": None, "sav.com": None,
    "parklogic.com": None, "domainmarket.com": None, "buydomains.com": None, "undeveloped.com": None,
    "godaddy.com": "/forsale",
}

# Bot challenges and WAF blocks: the page is not the site's answer, only the gatekeeper's.
CHALLENGE_HEADERS: tuple[tuple[str, str], ...] = (
    ("cf-mitigated", "challenge"),  # Cloudflare managed challenge (any status, usually 403)
    ("x-vercel-mitigated", "challenge"),  # Vercel Security Checkpoint (429)
    ("x-amzn-waf-action", "challenge"),
    ("x-amzn-waf-action", "captcha"),
)
CHALLENGE_TITLES = (
    r"^just a moment(?:\.\.\.)?$", r"^attention required! \| cloudflare$", r"^please wait\.*? \| cloudflare$",
    r"^one more step$", r"^ddos-guard$", r"^checking your browser\b", r"^pardon our interruption\b",
    r"^are you a robot\??$", r"^vercel security checkpoint$",
    r"^access denied \| .* used cloudflare to restrict access$",
    r"^human verification$", r"^security check(?:point)?$",
)
CHALLENGE_TEXT = (
    r"\bchecking (?:your browser|if the site connection is secure)\b",
    r"\bneeds to review the security of your connection before proceeding\b",
    r"\benable javascript and cookies to continue\b", r"\bverify(?:ing)? you are (?:a )?human\b",
    r"\bplease complete the security check to access\b", r"\bddos protection by ddos-guard\b",
    r"\bincapsula incident id\b", r"\bpress & hold to confirm you are a human\b",
    r"\byou don't have permission to access .{1,300} on this server\. reference #\d",  # Akamai edge block
)
CHALLENGE_URLS = (r"/cdn-cgi/challenge-platform/", r"/\.well-known/sgcaptcha/", r"^https?://validate\.perfdrive\.com/")


# --- generic wording (any site) -------------------------------------------------------------------

LOGIN_TEXT = re.compile(
    r"\b(?:log|sign) ?in (?:to|in order to) (?:continue|view|see|access|read)\b|\bplease (?:log|sign) ?in\b"
    r"|\byou (?:must|need to|have to) (?:be )?(?:logged|signed) in\b|\byou (?:must|need to) (?:log|sign) ?in\b"
    r"|\b(?:login|log-?in|sign-?in) required\b|\bauthentication required\b|\bmembers only\b"
)
LOGIN_TITLE = re.compile(r"^(?:log ?in|login|sign ?in|sign ?on|log ?on)(?: page| required)?$"
                         r"|^(?:log ?in|login|sign ?in) (?:to|into|with)\b")
# A sign-in form seen as text: the password field's label next to its usual companions.
PASSWORD_FORM = re.compile(r"\bpassword\b.{0,200}\b(?:forgot|remember me|username|e-?mail)\b"
                           r"|\b(?:forgot|username|e-?mail)\b.{0,200}\bpassword\b")
JS_SHELL = re.compile(r"\b(?:enable|requires?|turn on) javascript\b|\bjavascript (?:is )?(?:required|disabled)\b")

PARKED_TEXT = re.compile(
    r"\bthis domain (?:name )?(?:is|may be) for sale\b|\bbuy this domain\b|\bget this domain\b"
    r"|\bthe domain (?:name )?\S+ (?:is|may be) for sale\b|\b[a-z0-9-]+\.[a-z.]{2,} (?:is|may be) for sale\b"
    r"|\bdomain parking\b|\bparked free,? courtesy of godaddy\b|\bthis (?:web ?)?page is parked\b"
    r"|\bthis domain (?:name )?(?:is parked|has been registered|is registered at|was recently registered)\b"
    r"|\b(?:make|submit) an offer (?:on|for) this domain\b|\binquire about this domain\b"
)
# Parking providers named on the page itself (small print, "powered by"); registrars that also build
# ordinary sites (GoDaddy) are left out: their name on a small page proves nothing.
_PARKING_NAMES = ("sedoparking.com", "parkingcrew.net", "bodis.com", "dan.com", "afternic.com", "hugedomains.com",
                  "above.com", "uniregistry.com", "sav.com", "parklogic.com")
PARKING_NAMES = re.compile(r"(?<![\w.-])(?:" + "|".join(re.escape(h) for h in _PARKING_NAMES) + r")\b")

# --- generic URL shapes --------------------------------------------------------------------------

LOGIN_SEGMENTS = frozenset({"login", "log-in", "log_in", "signin", "sign-in", "sign_in", "logon", "signon", "sso",
                            "auth", "oauth", "oauth2", "authorize", "authwall", "wp-login"})
LOGIN_HOSTS = frozenset({"accounts.google.com", "consent.google.com", "consent.youtube.com", "login.live.com",
                         "login.microsoftonline.com", "signin.aws.amazon.com"})
LOGIN_HOST_PREFIXES = ("login.", "signin.", "sso.", "auth.", "idp.", "consent.")
# Query keys a gate uses to send the visitor back to the page asked for.
RETURN_KEYS = frozenset({"next", "return_to", "returnto", "return", "returnurl", "return_url", "redirect",
                         "redirect_to", "redirect_url", "redirecturl", "redirect_uri", "redirect_after_login",
                         "continue", "goto", "destination", "came_from", "service", "backurl", "back_url", "target"})
# A whole path segment (extension removed) naming an error page; "error-correction" is not one.
ERROR_STEM = re.compile(r"(?:err(?:or)?[-_]?)?40[34](?:[-_]?(?:error|page|not[-_]?found))?|(?:page|file)?[-_]?"
                        r"not[-_]?found(?:[-_]?page)?|error(?:[-_]?page)?|missing(?:[-_]?page)?|nicht[-_]?gefunden",
                        re.I)
# A lone language segment (/en/, /de-at) is a front page too: sites send unknown paths there.
_LANGUAGES = ("en|de|fr|es|it|pt|nl|ru|ja|zh|ko|ar|pl|tr|sv|da|fi|no|nb|uk|cs|he|hu|ro|el|id|th|vi|hi|fa|hy|az|ka|"
              "bg|hr|sr|sk|sl|lt|lv|et|ca|ms")
ROOT_STEM = re.compile(rf"(?:index|default|home)?|(?:{_LANGUAGES})(?:[-_][a-z]{{2}})?", re.I)
# Where a site search lives: a path segment (extension removed, lower case) and the query keys of its
# terms. A dead article is often answered with a search for its slug (WordPress: /?s=the+slug).
SEARCH_SEGMENTS = frozenset({"search", "searchresults", "search-results", "search_results", "sitesearch",
                             "site-search", "suche", "recherche", "buscar", "busqueda", "busca", "pesquisa", "cerca",
                             "ricerca", "zoeken", "szukaj", "wyszukiwanie", "arama", "poisk", "поиск", "axtaris",
                             "axtarış", "kensaku", "sousuo", "搜索", "検索", "검색", "جستجو", "بحث"})
SEARCH_KEYS = frozenset({"s", "q", "query", "search", "searchword", "search_query", "searchtext", "search_text",
                         "keyword", "keywords", "kw", "wd", "term", "terms", "text", "k"})
# Query keys that pick the page rather than its presentation (?p=123 on WordPress, ?title= on MediaWiki).
ID_KEYS = frozenset({"p", "id", "page_id", "pid", "aid", "nid", "cid", "sid", "tid", "post", "article", "articleid",
                     "article_id", "story", "storyid", "story_id", "item", "itemid", "doc", "docid", "newsid",
                     "news_id", "title"})
SCRIPT_EXTS = frozenset({"php", "asp", "aspx", "jsp", "cfm", "cgi", "pl", "do", "shtml"})
