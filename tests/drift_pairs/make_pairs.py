"""Regenerate the labelled drift pairs from prose.yaml: `python tests/drift_pairs/make_pairs.py`.

The rendered HTML/PDF files and labels.yaml are committed; tests read those, never this script, so a
change here shows up as a reviewable diff of the pages themselves. Four site templates (a local news
site, a government guidance page, an NGO report page, a personal blog) carry the boilerplate the
extractor has to see through: nav, cookie banners, ads, sidebars, comments, footers. Every page also
carries the markup that differs between two fetches of the same page without a reader seeing it
(`Served`: script nonces, CSRF tokens, asset versions, analytics tags, server comments, ad request ids);
the "unchanged" pairs vary only that, or the serialisation (whitespace, attribute order, entities).
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
PROSE: dict[str, dict[str, Any]] = yaml.safe_load((HERE / "prose.yaml").read_text(encoding="utf-8"))

NEWS_NAV = ["Home", "News", "Politics", "Business", "Environment", "Health", "Sport", "Opinion", "Weather"]
NEWS_NAV_NEW = ["Home", "Local", "Cost of living", "Politics", "Climate", "NHS", "Sport", "Comment", "Puzzles",
                "Newsletters", "Subscribe"]
ADS_A = ["Spring sale: 30% off garden furniture at Hollins & Co. Free delivery this week only.",
         "Remortgaging? Compare fixed rates from 40 lenders in two minutes."]
ADS_B = ["New: the all-electric Kestrel SUV. Book a test drive at your local dealer today.",
         "Hearing aids from £495 a pair. Free hearing check at Brightsound clinics.",
         "Learn Spanish in 3 months with Hablo. First lesson free."]
COOKIE = ("We use cookies to improve your experience, show you personalised advertising and analyse our "
          "traffic. By clicking Accept all you agree to the storing of cookies on your device. You can change "
          "your preferences at any time under Cookie settings.")
NEWS_COMMENTS = [("JohnF", "About time. My parents in Carrow have been sandbagging their house every winter."),
                 ("riverwatcher", "Ninety hectares of washland is not enough. Look at the gauge data from 2020."),
                 ("Sue B", "Will the footpath to the lock stay open? We walk the dog there every morning."),
                 ("K. Allen", "Another consultancy report, another exhibition. Just build it.")]
BUS_COMMENTS = [("Marcus", "My son pays £11.40 a day to get to college. This will make a real difference."),
                ("Pat", "What about pensioners who work? We get nothing before 9.30."),
                ("northern_lass", "The 47 is already full by Kelby. More passengers, same two buses.")]
BLOG_COMMENTS = [("Alan (county bird club)", "Thank you for sending these in, Ruth. The nest box records are "
                  "especially useful for our planning responses."),
                 ("Jo", "We had our first swifts on 9 May in the next village. Lovely post."),
                 ("Ruth", "Thanks Jo! Would you be up for a coordinated count next year?")]


@dataclass(frozen=True)
class Served:
    """What a server varies from one fetch to the next in markup a reader never sees."""

    nonce: str = "mQ3xL0v9cTz2"  # CSP nonce on inline and site scripts
    csrf: str = "a81f3c0e9b7d4425"  # hidden form token
    assets: str = "v=20240301.1"  # cache-busting query on CSS and JS
    analytics: str = ('<script async src="https://stats.example.net/count.js" data-site="site-118"></script>\n'
                      '<noscript><img src="https://stats.example.net/pixel.gif?site=118" alt=""></noscript>')
    comment: str = "<!-- served by web-03 in 0.182 s, cache MISS -->"
    ad_request: str = "correlator=5518200417&amp;slot=sidebar"


SERVED = Served()


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def paras(paragraphs: Iterable[str]) -> str:
    return "\n".join(f"      <p>{esc(p)}</p>" for p in paragraphs)


def links(items: Iterable[str], prefix: str = "/") -> str:
    return "".join(f'<li><a href="{prefix}{esc(i.lower().replace(" ", "-"))}">{esc(i)}</a></li>' for i in items)


def page(title: str, head_extra: str, body: str, served: Served = SERVED) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">\n  <title>{esc(title)}</title>\n'
            f'  <meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'  <link rel="stylesheet" href="/static/site.css?{served.assets}">\n'
            f'  <script nonce="{served.nonce}" src="/static/site.js?{served.assets}" defer></script>\n'
            f'{head_extra}{served.analytics}\n</head>\n'
            f'<body>\n{body}\n<script nonce="{served.nonce}">document.documentElement.classList.add("js");</script>\n'
            f'</body>\n</html>\n{served.comment}\n')


def reindented(markup: str) -> str:
    """The same page from a serializer that breaks lines and indents differently (text untouched)."""
    markup = re.sub(r">(</?(?:div|p|ul|ol|li|section|header|footer|nav|aside|main|article|h[1-6]|form)[\s>])",
                    r">\n\t\1", markup)
    return markup.replace("\n      <p>", "\n\t\t<p>").replace("\n<", "\n  <")


def reserialised(markup: str) -> str:
    """The same page with attributes in another order, single quotes and XHTML-style void elements."""
    swapped = re.sub(r'<(\w+) ([\w-]+)="([^"]*)" ([\w-]+)="([^"]*)"', r"<\1 \4='\5' \2='\3'", markup)
    return re.sub(r"<(meta|link|input|img|br)([^>]*?)>", r"<\1\2 />", swapped)


def as_references(markup: str) -> str:
    """The same page from an ASCII-only serializer: named and numeric character references."""
    named = {"£": "&pound;", "©": "&copy;", "–": "&ndash;"}
    body = markup.replace("&#x27;", "&#39;")
    return "".join(named.get(c, f"&#{ord(c)};") if ord(c) > 127 else c for c in body)


def cookie_banner() -> str:
    return (f'<div id="cookie-consent" class="cookie-banner" role="dialog"><p>{esc(COOKIE)}</p>'
            '<button>Accept all</button> <button>Reject all</button> <a href="/cookies">Cookie settings</a></div>\n')


def comments_block(comments: Sequence[tuple[str, str]], heading: str) -> str:
    if not comments:
        return f'<section id="comments" class="comments"><h3>{heading}</h3><p>Be the first to comment.</p></section>'
    items = "".join(f'<li class="comment"><div class="comment-author">{esc(who)}</div>'
                    f'<div class="comment-body"><p>{esc(what)}</p></div><a href="#reply">Reply</a></li>'
                    for who, what in comments)
    return f'<section id="comments" class="comments"><h3>{heading} ({len(comments)})</h3><ol>{items}</ol></section>'


def news(key: str, *, nav: Sequence[str] = NEWS_NAV, ads: Sequence[str] = ADS_A, cookie: bool = False,
         comments: Sequence[tuple[str, str]] = (), extra: Sequence[str] = (), date: str | None = None,
         restyled: bool = False, replace: dict[str, str] | None = None, body: str | None = None,
         title: str | None = None, served: Served = SERVED) -> str:
    a = PROSE[key]
    paragraphs = [_swap(p, replace) for p in a["paragraphs"]] + list(extra)
    dateline = esc(date or a["date"])
    aside = "".join(f'<div class="ad-slot"><span class="ad-label">Advertisement</span><p>{esc(ad)}</p></div>'
                    for ad in ads)
    aside += (f'<iframe class="ad-frame" src="https://ads.example.net/serve?{served.ad_request}" width="300" '
              'height="250" title="Advertisement"></iframe>')
    most_read = links(["Road closures this weekend", "Mill Street fire: two arrested", "Ledger 10k results"],
                      "/news/")
    if body is None:
        body = (f'      <h1 class="headline">{esc(a["title"])}</h1>\n'
                f'      <p class="byline">{esc(a["byline"])} | {dateline}</p>\n{paras(paragraphs)}\n')
    article = (f'<article class="story"><div class="story-body">\n{body}      </div></article>' if not restyled else
               f'<main id="content"><div class="container"><div class="row"><div class="col-md-8">'
               f'<article class="story story--wide" data-id="88213"><section class="story__body">\n{body}'
               f'      </section></article></div></div></div></main>')
    title = f"{title or a['title']} | The Northern Ledger"
    tracking = (f'<script nonce="{served.nonce}">window.dataLayer=window.dataLayer||[];'
                'dataLayer.push({"section":"news"});</script>\n'
                if not restyled else '<script async src="https://tags.example.net/gtm.js?id=LEDGER-2"></script>\n')
    return page(title, tracking,
                (cookie_banner() if cookie else "")
                + '<header class="masthead"><a href="/" class="logo">The Northern Ledger</a>'
                  '<p class="tagline">News for the Ouse valley since 1871</p>'
                  f'<nav class="primary-nav"><ul>{links(nav)}</ul></nav></header>\n'
                + article + "\n"
                + f'<aside class="sidebar"><h3>Most read</h3><ol>{most_read}</ol>{aside}</aside>\n'
                + comments_block(comments, "Comments") + "\n"
                + '<footer><p>© 2024 Northern Ledger Media Ltd. Registered in England No. 00412211.</p>'
                  f'<ul>{links(["About us", "Contact", "Advertise", "Privacy notice", "Terms"])}</ul></footer>',
                served)


def _swap(text: str, replace: dict[str, str] | None) -> str:
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    return text


def gov(key: str, *, date: str | None = None, extra: Sequence[str] = (), cookie: bool = False,
        footer_v2: bool = False, replace: dict[str, str] | None = None, body: str | None = None,
        title: str | None = None, served: Served = SERVED) -> str:
    a = PROSE[key]
    crumbs = links(["Home", "Environment and countryside", "Animal health and welfare"])
    if body is None:
        paragraphs = [_swap(p, replace) for p in a["paragraphs"]] + list(extra)
        body = (f'<h1 class="govuk-heading-xl">{esc(a["title"])}</h1>\n'
                '<p class="govuk-body-lead">Guidance from the Department for Rural Affairs</p>\n'
                f'<div class="govuk-govspeak">\n{paras(paragraphs)}\n</div>\n'
                f'<p class="metadata">Published 3 March 2021. Last updated {esc(date or a.get("date", ""))}.</p>\n')
    footer = (["Help", "Privacy", "Cookies", "Accessibility statement", "Contact", "Terms and conditions"]
              if not footer_v2 else ["Help", "Privacy", "Cookies", "Accessibility statement", "Contact",
                                     "Rhestr o Wasanaethau Cymraeg", "Government Digital Service"])
    return page(f"{title or a['title']} - Department for Rural Affairs", "",
                (cookie_banner() if cookie else "")
                + '<a href="#main" class="skip-link">Skip to main content</a>\n'
                  '<header class="govuk-header"><a href="/" class="govuk-header__link">Department for Rural Affairs</a>'
                  f'<form action="/search"><input type="hidden" name="csrf_token" value="{served.csrf}">'
                  '<input name="q" aria-label="Search"><button>Search</button></form></header>\n'
                + f'<nav class="breadcrumbs"><ol>{crumbs}</ol></nav>\n'
                + f'<main id="main" class="govuk-main-wrapper">\n{body}</main>\n'
                + '<div class="feedback"><h2>Is this page useful?</h2><a href="/yes">Yes</a> <a href="/no">No</a>'
                  + (' <a href="/problem">Report a problem with this page</a>' if footer_v2 else '') + '</div>\n'
                + f'<footer class="govuk-footer"><ul>{links(footer)}</ul>'
                  '<p>All content is available under the Open Government Licence v3.0, except where otherwise '
                  'stated.</p></footer>', served)


def ngo(key: str, *, related: Sequence[str] | None = None, newsletter: bool = False, extra: Sequence[str] = (),
        date: str | None = None, replace: dict[str, str] | None = None, served: Served = SERVED,
        hidden: str | None = None) -> str:
    a = PROSE[key]
    paragraphs = [_swap(p, replace) for p in a["paragraphs"]] + list(extra)
    related = related if related is not None else [
        "Sand and Sweat: Quarry Workers in the Delta", "Locked Out: Evictions Before the Games",
        "No Room to Breathe: Air Quality in Textile Towns"]
    box = ('<div class="newsletter"><h3>Get our weekly briefing</h3><p>Research, campaigns and ways to act, '
           'straight to your inbox.</p><input type="email" placeholder="Email address"><button>Sign up</button></div>'
           if newsletter else "") + (NGO_HIDDEN if hidden is None else hidden)
    return page(f"{a['title']} | Clearwater Rights Watch", "",
                '<header class="site-header"><a href="/" class="logo">Clearwater Rights Watch</a>'
                f'<nav><ul>{links(["Research", "Countries", "Topics", "Campaigns", "About", "Careers"])}</ul></nav>'
                '<a class="donate" href="/donate">Donate</a></header>\n'
                '<div class="layout"><main class="report">\n'
                f'<p class="report-type">Report</p><h1>{esc(a["title"])}</h1>\n'
                f'<p class="report-date">{esc(date or a["date"])}</p>\n<div class="report-summary">\n'
                f'{paras(paragraphs)}\n</div>\n'
                '<p class="download"><a href="/report.pdf">Download the full report (PDF, 2.3 MB)</a></p>\n'
                '</main>\n'
                f'<aside class="related"><h3>Related reports</h3><ul>{links(related, "/reports/")}</ul>{box}</aside>'
                '</div>\n'
                '<footer><p>Clearwater Rights Watch is a registered charity, No. 1098877.</p>'
                f'<ul>{links(["Privacy", "Press", "Contact", "Jobs"])}</ul></footer>', served)


BLOG_META = ('<meta property="og:image" content="/wp-content/uploads/2023/07/header-1200x630.jpg">\n'
             '<meta property="article:modified_time" content="2023-07-30T18:02:11+00:00">\n'
             '<script type="application/ld+json">{"@type": "BlogPosting", "dateModified": "2023-07-30T18:02:11+00:00"}'
             '</script>\n')


def blog(key: str, *, comments: Sequence[tuple[str, str]] = (), sidebar_v2: bool = False, extra: Sequence[str] = (),
         replace: dict[str, str] | None = None, served: Served = SERVED, meta: str = BLOG_META) -> str:
    a = PROSE[key]
    paragraphs = [_swap(p, replace) for p in a["paragraphs"]] + list(extra)
    archive = ["February 2024", "November 2023", "July 2023", "May 2023", "December 2022"]
    tags = ["birds", "data", "garden", "python", "R", "thesis", "bread", "walking"]
    if sidebar_v2:
        archive = ["April 2024", "March 2024"] + archive
        tags = ["birds", "citizen science", "data", "garden", "python", "R", "reproducibility", "thesis", "bread"]
    sidebar = (f'<aside id="secondary" class="widget-area"><section class="widget"><h2>About</h2><p>Ruth works in '
               f'public health data and writes here about birds, bread and code.</p></section>'
               f'<section class="widget"><h2>Archives</h2><ul>{links(archive, "/archive/")}</ul></section>'
               f'<section class="widget"><h2>Tags</h2><div class="tagcloud">{links(tags, "/tag/")}</div></section>'
               + ('<section class="widget"><h2>Blogroll</h2><ul><li><a href="https://example.org/">Swift Conservation'
                  '</a></li><li><a href="https://example.com/">The Research Software Diaries</a></li></ul></section>'
                  if sidebar_v2 else "") + '</aside>')
    reply = ('<div id="respond"><h3>Leave a Reply</h3><form method="post" action="/wp-comments-post.php"><p>Your '
             'email address will not be published. Required fields are marked *</p><textarea name="comment"></textarea>'
             f'<input type="hidden" name="_wpnonce" value="{served.csrf}"><button>Post Comment</button></form></div>')
    return page(f"{a['title']} – Window Notes", '<meta name="generator" content="WordPress 6.4.2">\n' + meta,
                '<div id="page" class="site"><header id="masthead" class="site-header"><p class="site-title">'
                '<a href="/">Window Notes</a></p><p class="site-description">Birds, bread and code</p>'
                f'<nav id="site-navigation"><ul>{links(["Home", "About", "Bird records", "Contact"])}</ul></nav>'
                '</header>\n<div id="content" class="site-content"><main id="primary">'
                f'<article class="post type-post"><header class="entry-header"><h1 class="entry-title">'
                f'{esc(a["title"])}</h1><div class="entry-meta">{esc(a["byline"])} on {esc(a["date"])}</div></header>\n'
                f'<div class="entry-content">\n{paras(paragraphs)}\n</div>'
                f'<footer class="entry-footer">Posted in Notes</footer></article>\n'
                + comments_block(comments, "Comments") + reply + "</main>\n" + sidebar + "</div>\n"
                '<footer id="colophon"><p>Proudly powered by WordPress | Theme: Twenty Twenty-One</p></footer></div>',
                served)


def spam(key: str) -> str:
    a = PROSE[key]
    return page(a["title"], '<meta name="robots" content="index,follow">\n',
                f'<div class="top"><a href="/">TopBonusGuide</a><ul>{links(["Casinos", "Slots", "Sports", "News"])}'
                f'</ul></div>\n<div class="main"><h1>{esc(a["title"])}</h1>\n{paras(a["paragraphs"])}\n</div>\n'
                '<div class="footer"><p>18+ only. Gambling can be addictive. Please play responsibly.</p></div>')


def pdf(key: str, name: str, *, subject: str = "", replace: dict[str, str] | None = None,
        date: str | None = None) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    a = PROSE[key]
    styles = getSampleStyleSheet()
    story: list[Any] = [Paragraph(esc(a["title"]), styles["Title"])]
    if date or a.get("date"):
        story.append(Paragraph(esc(date or a["date"]), styles["Normal"]))
    for p in a["paragraphs"]:
        story += [Spacer(1, 8), Paragraph(esc(_swap(p, replace)), styles["BodyText"])]
    SimpleDocTemplate(str(HERE / name), pagesize=A4, title=a["title"], author="Research team", subject=subject,
                      invariant=1).build(story)


LEDGER_UPDATE = ("Update, 15 March 2024: The Environment Agency has confirmed that the embankment will be 6.4 "
                 "kilometres long, not 4.6 kilometres as it said in its original announcement.")
HOSPITAL_UPDATE = ("Update: After this article was published, the trust said the evening opening of the surgical hub "
                   "would begin with two theatres in September, subject to the board's approval.")
PLACEHOLDER = ('      <h1 class="headline">This page has been archived</h1>\n      <p>This article is no longer '
               'available. Articles older than twelve months are removed from our website.</p>\n'
               '      <p><a href="/">Return to the home page</a></p>\n')
WITHDRAWN = ('<h1 class="govuk-heading-xl">Bird flu (avian influenza): housing measures for poultry keepers</h1>\n'
             '<p class="withdrawn"><strong>This guidance was withdrawn on 2 May 2024.</strong></p>\n'
             '<p>The housing measures have been lifted. See the latest advice on keeping poultry.</p>\n')
SWIFT_TYPO = {"screaming party": "screamming party"}
NOT_FOUND = ('      <h1 class="headline">Sorry, we can\'t find that page</h1>\n      <p>The page you were looking for '
             'may have been moved or deleted. Try searching our site or browse the latest news.</p>\n')

# (name, baseline file, current file, label, change, why); files are generated below under these names.
# label is what compare() should say; change is where the difference lies: "none" (same bytes), "markup" (only
# what a reader never sees), "boilerplate" (visible, but outside the main text), "main text".
PAIRS: list[tuple[str, str, str, str, str, str]] = [
    ("identical", "news-floods.html", "news-floods-copy.html", "unchanged", "none", "byte-identical refetch"),
    ("refetch-noise", "news-floods.html", "news-floods-refetch.html", "unchanged", "markup",
     "refetch: script nonces, ad request id in an iframe URL and server timing comment differ"),
    ("reindented", "news-buses.html", "news-buses-reindented.html", "unchanged", "markup",
     "same page, line breaks and indentation changed"),
    ("char-references", "news-buses.html", "news-buses-references.html", "unchanged", "markup",
     "ASCII-only serializer: characters as references (&pound;, &copy;, &#39;)"),
    ("attribute-order", "news-hospital.html", "news-hospital-reserialised.html", "unchanged", "markup",
     "attributes reordered and single-quoted, void elements self-closed"),
    ("gov-csrf", "gov-birdflu.html", "gov-birdflu-refetch.html", "unchanged", "markup",
     "CSRF token in the search form's hidden input and script nonces differ"),
    ("gov-asset-versions", "gov-solar.html", "gov-solar-assets.html", "unchanged", "markup",
     "cache-busting query on CSS/JS changed after a deploy; server comment differs"),
    ("ngo-analytics", "ngo-wages.html", "ngo-wages-analytics.html", "unchanged", "markup",
     "analytics script and noscript pixel replaced by another vendor's"),
    ("ngo-hidden", "ngo-water.html", "ngo-water-hidden.html", "unchanged", "markup",
     "template and hidden-attribute elements (signup dialog, offline notice) changed"),
    ("blog-cache", "blog-pinning.html", "blog-pinning-cached.html", "unchanged", "markup",
     "page-cache comment, _wpnonce form token and ?ver= asset strings differ"),
    ("blog-metadata", "blog-swifts.html", "blog-swifts-meta.html", "unchanged", "markup",
     "head metadata only: og:image, article:modified_time, JSON-LD dateModified"),
    ("pdf-regenerated", "heat.pdf", "heat-regenerated.pdf", "unchanged", "markup", "same text, different PDF metadata"),
    ("ads-swapped", "news-floods.html", "news-floods-ads.html", "minor", "boilerplate", "sidebar adverts replaced"),
    ("cookie-banner", "news-floods.html", "news-floods-cookie.html", "minor", "boilerplate",
     "cookie consent banner added"),
    ("nav-changed", "news-buses.html", "news-buses-nav.html", "minor", "boilerplate", "site navigation menu rewritten"),
    ("comments-added", "news-buses.html", "news-buses-comments.html", "minor", "boilerplate",
     "reader comments below article"),
    ("restyled", "news-hospital.html", "news-hospital-restyled.html", "minor", "boilerplate",
     "site redesign: new navigation and ads, wrappers, classes and scripts changed; same article"),
    ("gov-footer-cookie", "gov-birdflu.html", "gov-birdflu-chrome.html", "minor", "boilerplate",
     "cookie banner, feedback widget and footer links changed"),
    ("ngo-sidebar", "ngo-wages.html", "ngo-wages-sidebar.html", "minor", "boilerplate",
     "related-reports sidebar changed, newsletter box added"),
    ("blog-comments", "blog-swifts.html", "blog-swifts-comments.html", "minor", "boilerplate", "blog comments added"),
    ("blog-sidebar", "blog-pinning.html", "blog-pinning-sidebar.html", "minor", "boilerplate",
     "archive list, tag cloud and blogroll changed"),
    ("new-dateline", "news-floods.html", "news-floods-date.html", "minor", "boilerplate",
     "byline date changed to an update time: visible, but outside the main text"),
    ("date-in-text", "news-floods.html", "news-floods-exhibition.html", "minor", "main text",
     "a date in the article changed"),
    ("figures-corrected", "news-hospital.html", "news-hospital-figures.html", "minor", "main text",
     "two figures in the article corrected"),
    ("correction", "news-floods.html", "news-floods-correction.html", "minor", "main text",
     "one-line update/correction appended"),
    ("typo-fix", "news-buses-typos.html", "news-buses.html", "minor", "main text", "three typos fixed"),
    ("update-appended", "news-hospital.html", "news-hospital-update.html", "minor", "main text",
     "'Update:' paragraph appended"),
    ("gov-sentence", "gov-birdflu.html", "gov-birdflu-amended.html", "minor", "main text",
     "last-updated date changed and one sentence added"),
    ("gov-figures", "gov-solar.html", "gov-solar-figures.html", "minor", "main text",
     "grant cap and closing date changed"),
    ("ngo-sentence", "ngo-wages.html", "ngo-wages-amended.html", "minor", "main text",
     "date changed, one sentence added"),
    ("blog-edit-note", "blog-swifts.html", "blog-swifts-edit.html", "minor", "main text",
     "typo fixed and short edit note added"),
    ("blog-edit-paragraph", "blog-pinning.html", "blog-pinning-edit.html", "minor", "main text",
     "one 'Edit:' paragraph added"),
    ("ngo-response", "ngo-water.html", "ngo-water-response.html", "minor", "main text",
     "companies' response paragraph appended"),
    ("pdf-date-sentence", "library.pdf", "library-revised.pdf", "minor", "main text",
     "cover date and one figure changed"),
    ("replaced", "news-floods.html", "news-hospital.html", "major", "main text",
     "another article in the same template"),
    ("archived-placeholder", "news-hospital.html", "news-hospital-archived.html", "major", "main text",
     "emptied to 'This page has been archived' in the same template"),
    ("not-found-in-template", "news-floods.html", "news-floods-notfound.html", "major", "main text",
     "soft-404 page served with the site template"),
    ("gov-withdrawn", "gov-birdflu.html", "gov-birdflu-withdrawn.html", "major", "main text",
     "guidance withdrawn notice only"),
    ("gov-landing", "gov-birdflu.html", "gov-landing.html", "major", "main text",
     "redirected to the section landing page"),
    ("paraphrase-news", "news-buses.html", "news-buses-paraphrase.html", "major", "main text",
     "full paraphrase of the story"),
    ("paraphrase-ngo", "ngo-wages.html", "ngo-wages-paraphrase.html", "major", "main text",
     "report summary fully reworded"),
    ("rewrite-blog", "blog-swifts.html", "blog-swifts-rewrite.html", "major", "main text",
     "about half the paragraphs new"),
    ("rewrite-gov", "gov-solar.html", "gov-solar-rewrite.html", "major", "main text",
     "second-round rules: half the text new"),
    ("domain-spam", "ngo-water.html", "spam-casino.html", "major", "main text",
     "topic changed: lapsed domain now casino ads"),
    ("blog-other-post", "blog-pinning.html", "blog-sourdough.html", "major", "main text",
     "URL now serves a different post"),
    ("pdf-replaced", "heat.pdf", "accounts.pdf", "major", "main text", "different document at the same URL"),
]

# A second fetch of the same page: every server-varied value differs, nothing a reader sees does.
REFETCH = Served(nonce="Zp7Kd1sWq0aE", csrf="0c44e19fd2a8b613", ad_request="correlator=9027716352&amp;slot=sidebar",
                 comment="<!-- served by web-07 in 0.094 s, cache HIT -->")
NGO_HIDDEN = ('<template id="signup-dialog"><div class="dialog"><h3>Before you go</h3><p>Get our research in your '
              'inbox.</p></div></template><div class="toast" hidden>You are offline. Some content may be out of date.'
              '</div>')
NGO_HIDDEN_NEW = ('<template id="signup-dialog"><div class="dialog"><h3>Stay informed</h3><p>Join 40,000 supporters '
                  'who get our weekly briefing.</p><button>Join now</button></div></template>'
                  '<div class="toast" hidden>Connection lost. Trying again in 10 seconds.</div>'
                  '<div id="survey" hidden><p>Help us improve this page: take our two-minute survey.</p></div>')


def main() -> None:
    typos = {"people aged between": "people aged betwen", "two hours. Supporters": "two hours. Suporters",
             "the council has not yet": "the the council has not yet"}
    pages = {
        "news-floods.html": news("news_floods"),
        "news-floods-copy.html": news("news_floods"),
        "news-floods-refetch.html": news("news_floods", served=REFETCH),
        "news-buses-reindented.html": reindented(news("news_buses")),
        "news-buses-references.html": as_references(news("news_buses")),
        "news-hospital-reserialised.html": reserialised(news("news_hospital")),
        "gov-birdflu-refetch.html": gov("gov_birdflu", served=REFETCH),
        "gov-solar-assets.html": gov("gov_solar", served=dataclasses.replace(SERVED, assets="v=20240417.3",
                                                                             comment=REFETCH.comment)),
        "ngo-wages-analytics.html": ngo("report_wages", served=dataclasses.replace(SERVED, analytics=(
            '<script async src="https://www.googletagmanager.com/gtag/js?id=G-7Q2XK4Z1PD"></script>\n'
            f'<script nonce="{SERVED.nonce}">window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push('
            "arguments);}gtag('js',new Date());gtag('config','G-7Q2XK4Z1PD');</script>\n"
            '<noscript><img src="https://www.googletagmanager.com/ns.html?id=GTM-K9RX2L" alt=""></noscript>'))),
        "ngo-water-hidden.html": ngo("report_water", hidden=NGO_HIDDEN_NEW),
        "blog-pinning-cached.html": blog("blog_pinning", served=dataclasses.replace(
            REFETCH, assets="ver=6.4.3",
            comment="<!-- Dynamic page generated in 0.412 seconds. -->\n"
                    "<!-- Cached page generated by WP-Super-Cache on 2024-03-02 10:14:55 -->")),
        "blog-swifts-meta.html": blog("blog_swifts", replace=SWIFT_TYPO, meta=(
            '<meta property="og:image" content="/wp-content/uploads/2024/03/swifts-nestbox-1200x630.jpg">\n'
            '<meta property="article:modified_time" content="2024-03-12T07:45:00+00:00">\n'
            '<script type="application/ld+json">{"@type": "BlogPosting", "dateModified": "2024-03-12T07:45:00+00:00"}'
            '</script>\n')),
        "news-floods-ads.html": news("news_floods", ads=ADS_B),
        "news-floods-cookie.html": news("news_floods", cookie=True),
        "news-floods-date.html": news("news_floods", date="Updated 14 March 2024, 09:12"),
        "news-floods-exhibition.html": news("news_floods", replace={"on 4 April": "on 11 April"}),
        "news-floods-correction.html": news("news_floods", extra=[LEDGER_UPDATE]),
        "news-floods-notfound.html": news("news_floods", body=NOT_FOUND, title="Page not found"),
        "news-buses.html": news("news_buses"),
        "news-buses-typos.html": news("news_buses", replace=typos),
        "news-buses-nav.html": news("news_buses", nav=NEWS_NAV_NEW),
        "news-buses-comments.html": news("news_buses", comments=BUS_COMMENTS),
        "news-buses-paraphrase.html": news("news_buses_paraphrase"),
        "news-hospital.html": news("news_hospital", comments=NEWS_COMMENTS[:0]),
        "news-hospital-restyled.html": news("news_hospital", restyled=True, nav=NEWS_NAV_NEW, ads=ADS_B),
        "news-hospital-figures.html": news("news_hospital", replace={"41,200": "41,800", "just under": "just over"}),
        "news-hospital-update.html": news("news_hospital", extra=[HOSPITAL_UPDATE]),
        "news-hospital-archived.html": news("news_hospital", body=PLACEHOLDER, title="Page archived"),
        "gov-birdflu.html": gov("gov_birdflu"),
        "gov-birdflu-chrome.html": gov("gov_birdflu", cookie=True, footer_v2=True),
        "gov-birdflu-amended.html": gov("gov_birdflu", date="10 November 2023", replace={
            "whatever the size of the flock.": "whatever the size of the flock. Pigeon fanciers may continue to "
                                               "race and exercise their birds if they follow the rules below."}),
        "gov-birdflu-withdrawn.html": gov("gov_birdflu", body=WITHDRAWN),
        "gov-landing.html": gov("gov_landing", body=f'<h1>Animal health and welfare</h1>\n'
                                f'<ul class="topics">{links(PROSE["gov_landing"]["paragraphs"], "/topic/")}</ul>\n'),
        "gov-solar.html": gov("gov_solar"),
        "gov-solar-figures.html": gov("gov_solar", date="1 March 2024", replace={
            "£25,000 per business": "£30,000 per business", "30 June 2024": "31 July 2024"}),
        "gov-solar-rewrite.html": gov("gov_solar_rewrite"),
        "ngo-wages.html": ngo("report_wages"),
        "ngo-wages-sidebar.html": ngo("report_wages", newsletter=True, related=[
            "Heat Stress on Gulf Building Sites", "Recruitment Debt in the Nepal-Gulf Corridor"]),
        "ngo-wages-amended.html": ngo("report_wages", date="19 September 2023 (updated 2 October 2023)", replace={
            "in an annex.": "in an annex. Two further responses received after publication have been added."}),
        "ngo-wages-paraphrase.html": ngo("report_wages_paraphrase"),
        "ngo-water.html": ngo("report_water"),
        "ngo-water-response.html": ngo("report_water", extra=[
            "Response from the companies: In a statement sent after publication, one of the mining companies "
            "said it would share its groundwater monitoring data with the environment agency and fund testing "
            "of household wells in the two villages closest to its tailings facility."]),
        "spam-casino.html": spam("report_water_spam"),
        "blog-swifts.html": blog("blog_swifts"),
        "blog-swifts-comments.html": blog("blog_swifts", comments=BLOG_COMMENTS, replace=SWIFT_TYPO),
        "blog-swifts-edit.html": blog("blog_swifts", extra=[
            "Edit, 2 August: corrected the date of the first arrival, thanks to Jo in the comments."]),
        "blog-swifts-rewrite.html": blog("blog_swifts_rewrite", comments=BLOG_COMMENTS[:1]),
        "blog-pinning.html": blog("blog_pinning"),
        "blog-pinning-sidebar.html": blog("blog_pinning", sidebar_v2=True),
        "blog-pinning-edit.html": blog("blog_pinning", extra=[
            "Edit (March 2024): several people asked which library it was. I would rather not single it out; "
            "the maintainers documented the change clearly, and the mistake was mine for not reading it."]),
        "blog-sourdough.html": blog("blog_sourdough"),
    }
    # The edit-note pair fixes a typo, so the swift baseline (and its comments variant) carries one.
    pages["blog-swifts.html"] = blog("blog_swifts", replace=SWIFT_TYPO)
    for name, markup in pages.items():
        (HERE / name).write_text(markup, encoding="utf-8")
    pdf("pdf_heat", "heat.pdf", subject="Measurement note")
    pdf("pdf_heat", "heat-regenerated.pdf", subject="Measurement note, web edition")
    pdf("pdf_library", "library.pdf")
    pdf("pdf_library", "library-revised.pdf", date="June 2024", replace={"£14 million": "£16 million"})
    pdf("pdf_accounts", "accounts.pdf")
    entries = [{"name": n, "baseline": b, "current": c, "label": lab, "change": change, "why": why}
               for n, b, c, lab, change, why in PAIRS]
    header = ("# Labelled drift pairs, generated by make_pairs.py (label = what drift.compare should say; change =\n"
              "# where the difference lies: none, markup a reader never sees, visible boilerplate, main text).\n")
    (HERE / "labels.yaml").write_text(header + yaml.safe_dump(entries, sort_keys=False, width=120), encoding="utf-8")
    missing = {f for _, b, c, _, _, _ in PAIRS for f in (b, c)} - {p.name for p in HERE.iterdir()}
    assert not missing, missing


if __name__ == "__main__":
    main()
