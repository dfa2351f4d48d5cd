"""What an HTTP answer means for a cited URL: one availability status word and the reason.

Pure functions over what the fetcher saw; transport failures never reach here. Status codes are a
first guess only: sites answer 200 for missing pages (soft 404), login walls, parked domains and
bot challenges, and 403 for pages that are there. Thresholds are the constants below; the tables of
known hosts and platform wording live in platforms.py, what dead pages say in each language in wording.py.

Wording counts where a page can only be talking about itself: a title segment or first line that says
little else (`_is_message`), a line that is nothing but the message, or anywhere in a short page. An
article that merely mentions "not found" (a missing person, a court ruling), even in its headline,
stays an article. A page emptied to a site search (redirected to one, titled as one, a search that
found nothing, a search box amid navigation) is a soft 404. HTTP 451 and pages that say access is
refused for legal reasons are `legal_block`: the page may well be there, so never a death on its own.
A body cut short in transfer is never read at all (`cut_off`): half a page is no soft 404.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

from . import platforms
from .content import PageText
from .platforms import host_matches
from .wording import (
    ERROR_WORDS,
    FILLER,
    LEGAL,
    MISSING_STRONG,
    MISSING_WEAK,
    NO_RESULTS,
    SEARCH,
    TITLE_SPLIT,
    fold,
    only,
    word_count,
)

SHORT_WORDS = 80  # main text this short is an error page's or a wall's: wording anywhere in it counts
LONG_WORDS = 300  # main text this long is an article: weak wording in its title or first line is the story's
TINY_BODY = 256  # bytes of decoded HTML; less cannot hold a cited page
TINY_TEXT = 40  # characters of main text, for an HTML page without a title
START_CHARS = 160  # the "headline" part of the main text: its first line, at most this long
LEAD_EXTRA = 2  # words besides filler a message's sentence may add after its wording ("... on this server.")
TITLE_WORDS = 6  # a title segment this short with weak wording is an error message on a short page
PROSE_WORDS = 12  # a line this long is running text: a page with one is not just a search box
EMPTY_WORDS = 20  # a page of short lines this small is navigation and nothing else
# Wording is looked for in this much of a short page's text and of a line: a few words that run on for
# megabytes (a blob without spaces) are no message, and the tables' regexes are large.
SHORT_CHARS = 4000
LINE_CHARS = 1000
SIBLING_SIMILARITY = 0.9  # token Jaccard at or above which a page is the site's made-up-URL answer
SIBLING_MIN_TOKENS = 5  # fewer distinct tokens in both pages together tell nothing


@dataclass(frozen=True)
class Seen:
    url: str  # as requested (absolute, normalised)
    final_url: str  # after following redirects
    chain: tuple[tuple[str, int], ...]  # every hop (url, status); the last is the final answer
    status: int  # final HTTP status
    headers: Mapping[str, str]  # final response headers, names lower-case
    page: PageText  # from archiver.content.page_text(final decoded body, content type, url)
    body_size: int  # bytes of the final decoded body


@dataclass(frozen=True)
class Classification:
    status: str  # a status word (DESIGN.md section 2)
    reason: str  # short human explanation


_EXTENSION = re.compile(r"^(.+?)(\.[A-Za-z][A-Za-z0-9]{0,4})$")


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _segments(path: str) -> list[str]:
    return [unquote(s) for s in path.split("/") if s]


def _stem(segment: str) -> str:
    match = _EXTENSION.match(segment)
    return match.group(1) if match else segment


def _is_root(url: str) -> bool:
    """A site's front page: '/', '/index.html', '/en/', '/home'. Only one segment can be root-like."""
    segments = _segments(urlsplit(url).path)
    return not segments or (len(segments) == 1 and bool(platforms.ROOT_STEM.fullmatch(_stem(segments[0]))))


def _identifying_query(url: str) -> list[str]:
    """Names of query parameters that pick the page (?p=123, article.php?id=7), not its presentation."""
    parts = urlsplit(url)
    segments = _segments(parts.path)
    script = bool(segments) and _EXTENSION.match(segments[-1]) is not None and \
        segments[-1].rsplit(".", 1)[-1].lower() in platforms.SCRIPT_EXTS
    bare = script or _is_root(url)
    return [k for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if v and (k.lower() in platforms.ID_KEYS or (bare and v.isdigit()))]


def _same_place(a: str, b: str) -> bool:
    """No material difference: scheme, default port, 'www.', a trailing slash, an index file or a query
    that does not pick the page aside, the same host and path (a platform's hosts and short links count
    as one place)."""
    def key(url: str) -> tuple[str, str, list[tuple[str, str]]]:
        plat = platforms.platform_for(url)
        host = plat.hosts[0] if plat else _host(url).removeprefix("www.")
        path = platforms.long_form_path(plat, url) if plat else urlsplit(url).path
        path = re.sub(r"/(?:index|default)\.(?:html?|php|aspx?|jsp)$", "/", unquote(path))
        ids = _identifying_query(url)
        return host, path.rstrip("/"), sorted((k, v) for k, v in parse_qsl(urlsplit(url).query) if k in ids)
    return key(a) == key(b)


def _is_login_url(url: str) -> bool:
    host = _host(url)
    if host in platforms.LOGIN_HOSTS or host.startswith(platforms.LOGIN_HOST_PREFIXES):
        return True
    segments = [_stem(s).lower() for s in _segments(urlsplit(url).path)]
    pairs = set(zip(segments, segments[1:], strict=False))
    return bool(platforms.LOGIN_SEGMENTS.intersection(segments) or {("session", "new"), ("sessions", "new")} & pairs)


def _returns_to(final_url: str, url: str) -> bool:
    """The final URL's query asks to come back to the requested page afterwards (a wall, not a move)."""
    target = urlsplit(url)
    wanted = target.path.rstrip("/") if target.path.rstrip("/") else target.hostname or ""
    for key, value in parse_qsl(urlsplit(final_url).query):
        if key.lower() in platforms.RETURN_KEYS and wanted and wanted in unquote(value):
            return True
    return False


def _login_url_reason(seen: Seen, target: str, platform: platforms.Platform | None) -> str | None:
    if _is_login_url(seen.url) or (platform and platforms.is_platform_login(platform, seen.url)):
        return None
    if platform and platforms.is_platform_login(platform, target):
        return f"{platform.name}: redirected to its login page"
    if _is_login_url(target):
        return "redirected to a sign-in page"
    if _returns_to(target, seen.url) and urlsplit(target).path.rstrip("/") != urlsplit(seen.url).path.rstrip("/"):
        return "redirected to a page that sends back here afterwards (a sign-in or consent gate)"
    return None


def _parking_host_reason(seen: Seen, urls: list[str]) -> str | None:
    requested = _host(seen.url)
    for url in urls:
        host = _host(url)
        for domain, prefix in platforms.PARKING_HOSTS.items():
            if host_matches(host, (domain,)) and not host_matches(requested, (domain,)) \
                    and (prefix is None or urlsplit(url).path.startswith(prefix)):
                return f"redirected to the domain marketplace {domain}"
        # Bodis/ParkingCrew send parked domains to ww<N>.<domain>/?subid1=...; GoDaddy to /lander.
        if re.match(r"ww\d+\.", host) and "subid1=" in urlsplit(url).query:
            return "redirected to a parking lander"
        if urlsplit(url).path == "/lander" and urlsplit(seen.url).path != "/lander":
            return "redirected to a parking lander"
    return None


def _is_search(url: str, *, strict: bool) -> bool:
    """A site search's URL: a search path segment, or search terms in the query (`strict`: only on a
    front page or script, as WordPress's /?s=slug; otherwise any, so that a cited search is one)."""
    parts = urlsplit(url)
    if platforms.SEARCH_SEGMENTS.intersection(_stem(s).lower() for s in _segments(parts.path)):
        return True
    keys = {k.lower() for k, v in parse_qsl(parts.query, keep_blank_values=True) if v or not strict}
    if not keys & platforms.SEARCH_KEYS:
        return False
    segments = _segments(parts.path)
    return not strict or _is_root(url) or (bool(segments) and _EXTENSION.match(segments[-1]) is not None)


def _url_verdict(seen: Seen, target: str, platform: platforms.Platform | None) -> Classification | None:
    """What the URLs alone tell: walls, parking, and 'not found' redirects."""
    reason = _login_url_reason(seen, target, platform)
    if reason:
        return Classification("login_wall", reason)
    hops = [u for u, _ in seen.chain[1:]] + [target]
    reason = _parking_host_reason(seen, hops)
    if reason:
        return Classification("parked", reason)
    if _is_search(target, strict=True) and not _is_search(seen.url, strict=False):
        return Classification("soft_404", "redirected to a site search")
    if _is_root(target) and not _is_root(seen.url):
        return Classification("soft_404", "redirected to the site root")
    if _is_root(target) and _identifying_query(seen.url) and not _identifying_query(target):
        return Classification("soft_404", "redirected to the site root")
    asked = {_stem(s).lower() for s in _segments(urlsplit(seen.url).path)}
    for segment in _segments(urlsplit(target).path):
        if platforms.ERROR_STEM.fullmatch(_stem(segment)) and _stem(segment).lower() not in asked:
            return Classification("soft_404", f"redirected to an error page ({segment})")
    return None


# --- pages ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    title: str  # folded
    text: str  # folded
    first: str  # folded first line of the main text
    words: int  # word_count of the main text (exact up to LONG_WORDS)
    shown: str  # the title as the page gives it, for reasons
    lines: tuple[str, ...]  # folded lines of the main text; only for pages shorter than an article

    @classmethod
    def of(cls, page: PageText) -> _Page:
        raw = [line for line in page.text.split("\n") if line.strip()]
        head = page.text[:LONG_WORDS * 40]  # enough to tell an article: the count matters only up to there
        words = word_count(head)
        words = words if words > LONG_WORDS or len(head) == len(page.text) else word_count(page.text)
        lines = tuple(fold(line[:LINE_CHARS]) for line in raw) if words < LONG_WORDS else ()
        return cls(fold(page.title), fold(page.text), fold(raw[0][:LINE_CHARS]) if raw else "", words,
                   " ".join(page.title.split()), lines)

    @property
    def start(self) -> str:
        """The "headline" part of the main text."""
        return self.first[:START_CHARS]

    @property
    def head(self) -> str:
        """The part of the text a short page's wording is looked for in."""
        return self.text[:SHORT_CHARS]

    @property
    def segments(self) -> list[str]:
        """The title's parts: "Page not found | Site" is two."""
        return [s.strip() for s in TITLE_SPLIT.split(self.title) if s.strip()]


def _challenge(seen: Seen, page: _Page) -> str | None:
    for name, value in platforms.CHALLENGE_HEADERS:
        if seen.headers.get(name, "").strip().lower() == value:
            return f"bot challenge ({name}: {value})"
    for pattern in platforms.CHALLENGE_URLS:
        if any(re.search(pattern, u) for u in [seen.final_url, *(u for u, _ in seen.chain)]):
            return "redirected to a bot challenge"
    if any(re.search(p, page.title) for p in platforms.CHALLENGE_TITLES):
        return f"bot challenge page (title '{page.shown}')"
    if page.words <= SHORT_WORDS and any(re.search(p, page.head) for p in platforms.CHALLENGE_TEXT):
        return "bot challenge page"
    return None


def _is_message(page: _Page, line: str, found: re.Match[str]) -> bool:
    """Wording `found` in a title segment or the first line is the page's own message: anywhere on a
    short page; else as the whole of its sentence, filler and a couple of words aside ("Oops! Page not
    found", "The page you asked for is not available on this site."), or, below an article's length,
    at the end of the line ("Rights Monitor: page not found"). A headline or a story says more
    ("Страница реестра удалена с сайта министерства", "Documents not available to the public show
    that...", "How to fix a 404 error")."""
    if page.words <= SHORT_WORDS:
        return True
    rest = FILLER.sub(" ", re.split(r"[.!?]", line[found.end():], maxsplit=1)[0])
    if not FILLER.sub(" ", line[:found.start()]).strip() and word_count(rest) <= LEAD_EXTRA:
        return True
    return page.words < LONG_WORDS and not FILLER.sub(" ", line[found.end():]).strip()


def _opens_with(page: _Page, pattern: re.Pattern[str]) -> re.Match[str] | None:
    """`pattern` in the page's first line, as the message the page opens with."""
    found = pattern.search(page.start)
    return found if found and _is_message(page, page.first, found) else None


def _title_says_missing(page: _Page) -> bool:
    for segment in page.segments:
        found = MISSING_STRONG.search(segment)
        if found and _is_message(page, segment, found):
            return True
        weak = MISSING_WEAK.search(segment)
        if only(segment, MISSING_WEAK) and (weak or (page.words < LONG_WORDS and ERROR_WORDS.search(segment))):
            return True  # the segment is only an error message: "Not Found", "Oops!", "Error 404"
        if weak and word_count(segment) <= TITLE_WORDS and page.words <= SHORT_WORDS:
            return True
    return False


def _heading(page: _Page) -> str | None:
    """A line of a page shorter than an article that is nothing but the message ("Страница не найдена"):
    an error page's heading amid its navigation. A lone "404" may be a table's number."""
    for line in page.lines:
        if MISSING_STRONG.search(line) and only(line, MISSING_STRONG, MISSING_WEAK) and re.search(r"[^\W\d_]", line):
            return line
    return None


def _soft_404_wording(page: _Page) -> str | None:
    if page.title and _title_says_missing(page):
        return f"title says '{page.shown}'"
    # Weak wording opens a headline as often as a notice ("Missing hiker not found, search goes on"):
    # only a first line that is nothing but the message counts ("Nothing found.").
    weak = page.words < LONG_WORDS and MISSING_WEAK.search(page.first) and only(page.first, MISSING_WEAK)
    if _opens_with(page, MISSING_STRONG) or weak:
        return f"page starts '{page.start[:60]}'"
    if page.words <= SHORT_WORDS:
        found = MISSING_WEAK.search(page.head) or MISSING_STRONG.search(page.head)
        if found:
            return f"short page says '{found.group(0)}'"
    heading = _heading(page)
    return f"a heading says '{heading[:60]}'" if heading else None


def _says(page: _Page, pattern: re.Pattern[str]) -> str | None:
    """`pattern` where a page speaks for itself (see `_is_message`): a title segment, the first line, or
    anywhere in a short page."""
    for segment in page.segments:
        found = pattern.search(segment)
        if found and _is_message(page, segment, found):
            return f"title says '{page.shown}'"
    if _opens_with(page, pattern):
        return f"page starts '{page.start[:60]}'"
    found = pattern.search(page.head) if page.words <= SHORT_WORDS else None
    return f"short page says '{found.group(0)}'" if found else None


def _search_wording(page: _Page) -> str | None:
    """A page emptied to a site search: titled as one, a search that found nothing (said by a title or
    a line that says nothing else, or anywhere in a short page: "no results" also opens news stories),
    or a short page of short lines showing a search box ("Search", "Поиск", "検索") and nothing more."""
    for segment in page.segments:
        if SEARCH.search(segment) and only(segment, SEARCH):
            return f"a site search (title '{page.shown}')"
        if NO_RESULTS.search(segment) and only(segment, NO_RESULTS, SEARCH):
            return f"a site search that found nothing (title '{page.shown}')"
    for line in page.lines:
        if NO_RESULTS.search(line) and only(line, NO_RESULTS, SEARCH):
            return f"a site search that found nothing ('{line[:60]}')"
    if page.words > SHORT_WORDS:
        return None
    found = NO_RESULTS.search(page.head)
    if found and (SEARCH.search(page.head) or SEARCH.search(page.title)):  # "talks brought no results" is news
        return f"a site search that found nothing (short page says '{found.group(0)}')"
    if any(word_count(line) > PROSE_WORDS for line in page.lines):
        return None
    # A search box as the content (first line), or amid nothing but navigation (a page of a few links).
    boxes = [line for line in page.lines[:1] if SEARCH.search(line) and only(line, SEARCH)]
    if not boxes and page.words <= EMPTY_WORDS:
        boxes = [line for line in page.lines if SEARCH.search(line) and only(line, SEARCH)]
    return f"a search box and no content ('{boxes[0][:60]}')" if boxes else None


def _login_wording(page: _Page) -> str | None:
    if any(platforms.LOGIN_TITLE.search(s) for s in page.segments):
        return f"title says '{page.shown}'"
    if page.words <= SHORT_WORDS:
        found = platforms.LOGIN_TEXT.search(page.head) or platforms.PASSWORD_FORM.search(page.head)
        if found:
            return "short page is a sign-in form" if "password" in found.group(0) else f"page says '{found.group(0)}'"
    return None


def _parked_wording(page: _Page) -> str | None:
    if page.words > LONG_WORDS:
        return None
    found = (platforms.PARKED_TEXT.search(page.title) or platforms.PARKED_TEXT.search(page.text)
             or platforms.PARKING_NAMES.search(page.text))
    return f"page says '{found.group(0)}'" if found else None


def _tokens(page: PageText, *urls: str) -> set[str]:
    path_words: set[str] = set()
    for url in urls:
        parts = urlsplit(url)
        path_words.update(re.findall(r"[^\W_]+", fold(unquote(parts.path + " " + parts.query))))
    # Tokens with digits are request ids, dates and counters: they differ between two copies of one page.
    words = re.findall(r"[^\W_]+", fold(page.title + " " + page.text))
    return {w for w in words if w not in path_words and not any(c.isdigit() for c in w)}


def similarity(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _sibling_verdict(seen: Seen, sibling: Seen) -> Classification | None:
    if not 200 <= sibling.status < 300:
        return None
    if seen.final_url != seen.url and _same_place(seen.final_url, sibling.final_url):
        return Classification("soft_404", "a made-up URL on this site lands on the same page")
    mine, theirs = _tokens(seen.page, seen.url, sibling.url), _tokens(sibling.page, seen.url, sibling.url)
    if len(mine | theirs) < SIBLING_MIN_TOKENS or platforms.JS_SHELL.search(fold(seen.page.text)):
        return None  # blank or script-only shells look alike whether or not the page exists
    score = similarity(mine, theirs)
    if score >= SIBLING_SIMILARITY:
        return Classification("soft_404", f"same text as a made-up URL on this site (similarity {score:.2f})")
    return None


def _classify_success(seen: Seen, page: _Page, sibling: Seen | None) -> Classification:
    platform = platforms.platform_for(seen.final_url) or platforms.platform_for(seen.url)
    if platform:
        marker = platforms.page_marker(platform, seen.final_url, page.title, page.text)
        if marker and not (marker.status == "login_wall" and platforms.is_platform_login(platform, seen.url)):
            return Classification(marker.status, marker.reason)
    verdict = _url_verdict(seen, seen.final_url, platform)
    if verdict:
        return verdict
    # A platform's pages are user content ("404 Not Found - YouTube" is a song): its table decides.
    legal = None if platform else _says(page, LEGAL)
    if legal:
        return Classification("legal_block", f"access refused for legal reasons: {legal}")
    login = None if _is_login_url(seen.url) else _login_wording(page)
    if login:
        return Classification("login_wall", login)
    parked = _parked_wording(page)
    if parked:
        return Classification("parked", parked)
    missing = None if platform else _soft_404_wording(page)
    if missing:
        return Classification("soft_404", missing)
    # A cited search (or a front page, whose search box is its content) is what it is.
    front = _is_root(seen.url) and not _identifying_query(seen.url)
    search = None if platform or front or _is_search(seen.url, strict=False) else _search_wording(page)
    if search:
        return Classification("soft_404", search)
    if seen.body_size == 0:
        return Classification("soft_404", "empty body")
    if seen.page.kind == "html" and (seen.body_size < TINY_BODY or (not page.title and len(page.text) < TINY_TEXT)):
        return Classification("soft_404", f"tiny page ({seen.body_size} bytes)")
    if sibling is not None:
        verdict = _sibling_verdict(seen, sibling)
        if verdict:
            return verdict
    return _moved_or_ok(seen.url, seen.final_url)


def _moved_or_ok(url: str, final_url: str) -> Classification:
    if _same_place(url, final_url):
        return Classification("ok", "")
    return Classification("redirected", f"moved to {final_url}")


def classify(seen: Seen, sibling: Seen | None = None) -> Classification:
    """The availability status of `seen`; `sibling` is the answer for a made-up URL beside it (see
    `needs_sibling`), which unmasks sites that answer 200 for everything."""
    page = _Page.of(seen.page)
    challenge = _challenge(seen, page)
    if challenge:
        return Classification("forbidden", challenge)
    code = seen.status
    platform = platforms.platform_for(seen.final_url) or platforms.platform_for(seen.url)
    if 200 <= code < 300:
        return _classify_success(seen, page, sibling)
    if 300 <= code < 400:
        location = seen.headers.get("location")
        target = urljoin(seen.final_url, location) if location else seen.final_url
        verdict = _url_verdict(seen, target, platform)
        if verdict:
            return verdict
        moved = _moved_or_ok(seen.url, target)
        return Classification(moved.status, f"{moved.reason} (HTTP {code}, not followed)" if moved.reason else "")
    if code in (401, 403):
        login = _login_url_reason(seen, seen.final_url, platform)
        if login:
            return Classification("login_wall", login)
    legal = _says(page, LEGAL) if code == 403 and not platform else None
    if legal:  # an ISP's or a court's block page sent as 403
        return Classification("legal_block", f"access refused for legal reasons: {legal} (HTTP 403)")
    return by_code(code)


def by_code(code: int) -> Classification:
    """The status an HTTP code alone gives: for an error answer, or when the page cannot be read."""
    if 200 <= code < 400:
        return Classification("ok", f"HTTP {code}")
    if code == 404:
        return Classification("not_found", "HTTP 404")
    if code == 410:
        return Classification("gone", "HTTP 410")
    if code == 451:  # RFC 7725: the page exists, a legal demand keeps it from us (blocked, never dead alone)
        return Classification("legal_block", "HTTP 451 (unavailable for legal reasons)")
    if code in (401, 403):
        return Classification("forbidden", f"HTTP {code}")
    if code == 429:
        return Classification("rate_limited", "HTTP 429")
    if code == 999:  # LinkedIn and a few others answer crawlers with this instead of 403
        return Classification("forbidden", "HTTP 999 (bot block)")
    if 400 <= code < 500:
        return Classification("client_error", f"HTTP {code}")
    return Classification("server_error", f"HTTP {code}")


# WARC-Truncated reasons of a failed transfer. Not `length`: a body over --max-size was seen, its first
# bytes are read as the page.
CUT_OFF = {"disconnect": "the connection closed before the body was complete",
           "time": "the time cap stopped the transfer"}


def cut_off(code: int, truncated: str | None, received: int, expected: str | None) -> Classification | None:
    """The status of an answer whose body was cut short (`truncated` in CUT_OFF), never read for content:
    `incomplete` (transient, like a timeout) for a 1xx-3xx answer, the code's word for an error answer
    (its status line came whole); None for a whole body or the size cap. `received`: body bytes that
    came; `expected`: the Content-Length promised, if any."""
    why = CUT_OFF.get(truncated or "")
    if why is None:
        return None
    of = f" of {expected}" if expected and expected.strip().isdigit() else ""
    cut = f"body cut short after {received}{of} bytes: {why}"
    if code >= 400:
        return Classification(by_code(code).status, f"{by_code(code).reason}; {cut}")
    return Classification("incomplete", f"HTTP {code}, {cut}")


def needs_sibling(seen: Seen) -> bool:
    """Whether a made-up sibling URL is worth fetching: only for ordinary 2xx pages of ordinary sites,
    where a 200 could still be the site's answer for anything."""
    return sibling_applies(seen) and classify(seen).status in ("ok", "redirected")


def sibling_applies(seen: Seen) -> bool:
    """The part of `needs_sibling` that does not classify: callers holding the classification
    already (the checker) need not compute it twice."""
    if not 200 <= seen.status < 300 or (_is_root(seen.url) and not _identifying_query(seen.url)):
        return False
    return not (platforms.platform_for(seen.url) or platforms.platform_for(seen.final_url))


# --- the made-up sibling -------------------------------------------------------------------------

_MIN_RANDOM = 6  # shorter random parts (a 1-digit id) could name a page that exists


def _random_like(text: str, rng: random.Random) -> str:
    """Random text of the same shape: letters for letters (case kept), digits for digits, the rest kept."""
    def one() -> str:
        out = []
        for ch in text:
            if ch.isdigit():
                out.append(rng.choice(string.digits))
            elif ch.isalpha():
                out.append(rng.choice(string.ascii_uppercase if ch.isupper() else string.ascii_lowercase))
            else:
                out.append(ch)
        alnum = [c for c in out if c.isalnum()]
        pool = string.digits if alnum and all(c.isdigit() for c in alnum) else string.ascii_lowercase
        out.extend(rng.choice(pool) for _ in range(_MIN_RANDOM - len(alnum)))
        return "".join(out)
    for _ in range(20):
        made = one()
        if made != text:
            return made
    return made + rng.choice(string.ascii_lowercase) + rng.choice(string.ascii_lowercase)


def sibling_url(url: str, rng: random.Random) -> str:
    """A URL beside `url` that almost surely names no page: same scheme, host and directories, the
    identifying part (last path segment, or the id in ?p=123) replaced by random text of its shape."""
    parts = urlsplit(url)
    ids = _identifying_query(url)
    if ids:
        query = urlencode([(k, _random_like(v, rng) if k in ids else v)
                           for k, v in parse_qsl(parts.query, keep_blank_values=True)])
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    raw = [s for s in parts.path.split("/") if s]
    trailing = "/" if parts.path.endswith("/") and raw else ""
    last = unquote(raw[-1]) if raw else ""
    match = _EXTENSION.match(last)
    stem, ext = (match.group(1), match.group(2)) if match else (last, "")
    made = quote(_random_like(stem, rng) + ext, safe="-._~!$&'()*+,;=:@")
    path = "/" + "/".join([*raw[:-1], made]) + trailing
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _shape(segment: str) -> str:
    stem = _stem(segment)
    ext = segment[len(stem):].lower()
    if stem.isdigit():
        kind = "{num}"
    elif re.fullmatch(r"[^\W\d_]+", stem):
        kind = "{word}"
    elif re.search(r"[^\W_][-_+ ][^\W_]", stem):
        kind = "{slug}"
    else:
        kind = "{id}"
    return kind + ext


def sibling_key(url: str) -> str:
    """Host and path pattern: pages that one made-up sibling speaks for (one probe per pattern)."""
    parts = urlsplit(url)
    segments = _segments(parts.path)
    dirs = [re.sub(r"\d+", "#", s.lower()) for s in segments[:-1]]
    last = _shape(segments[-1]) if segments else ""
    if _identifying_query(url):
        last = (segments[-1].lower() if segments else "") + "?" + "&".join(sorted(f"{k}=" for k in
                                                                                  _identifying_query(url)))
    return (parts.hostname or "").lower() + "/" + "/".join([*dirs, last])
