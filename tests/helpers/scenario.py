"""A world of cited web sites in two states, for the checker's end-to-end tests.

A test snapshots every URL of the manifest while the world is "early" (the web as the author saw
it), switches the world to "later" (years on: sites moved, drifted, died) and checks again. Every
URL carries its `Fate`: the status word and drift level a correct checker must report in each state.

Real servers on 127.0.0.1, one HTTP and one HTTPS (certificate from a trustme CA covering every
scenario host), routing on the Host header. The host names reach loopback through archiver's resolver
override: `world.env` points ARCHIVER_CONFIG at a config file whose `resolve` entries the world
rewrites on each state switch (`world.resolve` holds them for in-process Settings). No hosts file, no root.
Pages are deterministic: a site template (nav, sidebar, footer) around 300-800 words of seeded prose.

    with World(tmp_path) as world:
        manifest = world.write_manifest(tmp_path / "scenario.yaml")
        ... snapshot with env=world.env ...
        world.state = "later"
        ... check, compare with world.expected("later") ...

Flapping: the URL with `later_odd` set answers 503 to every request during even check rounds of
state "later" and 200 during odd ones (`world.round`, which the test advances with `next_round()`).
Per round, not per request, because the fetcher retries a 503 and would otherwise always win.

DNS death: `defunct.scenario.archiver.invalid` resolves in state early and not in state later: its
resolve entry is dropped from the config file. Under .invalid (RFC 6761) the name has no other way to
resolve, and archiver answers such names negatively without asking the network, so a dns_error here
never depends on what the machine's DNS server says (there may be none).

A state switch closes every open client connection: a connection kept alive from "early" would
otherwise carry a client past the new certificate or the closed port of "later".
"""

from __future__ import annotations

import datetime as dt
import html
import http.server
import io
import json
import random
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import trustme
from hostnames import loopback_names

DOMAIN = "scenario.archiver.test"
STATES = ("early", "later")
STATUS_WORDS = (
    "ok", "redirected", "soft_404", "not_found", "gone", "server_error", "client_error", "forbidden",
    "rate_limited", "login_wall", "legal_block", "parked", "dns_error", "connection_error", "timeout", "tls_error",
    "too_many_redirects", "invalid_url", "blocked_address",
)
DRIFT_LEVELS = ("unchanged", "minor", "major")
HANG_SECONDS = 30.0
DEFUNCT_HOST = "defunct.scenario.archiver.invalid"  # RFC 6761: resolves only through the world's entry
DEAD_HOST = "kestrel-valley-archive.invalid"  # RFC 6761: never resolves, anywhere
# The world's config opens exactly 127.0.0.1 to the address guard (`allow`, not allow-private): a
# redirect to another loopback address is refused like one to an intranet, and were it not, it would
# still stay on this machine.
ALLOWED = "127.0.0.1/32"
INTERNAL = "127.0.0.2"
INVALID_URL = "http://exa mple.org/x"


def host(key: str) -> str:
    return DEFUNCT_HOST if key == "defunct" else f"{key}.{DOMAIN}"


# ------------------------------------------------------------------------------------------------
# Prose: seeded, grammatical, varied enough that two articles share few word triples.

_FIRST = ["Anna", "Tomas", "Leila", "Marek", "Sofia", "Daniel", "Ruth", "Karim", "Elena", "Jonas", "Mira", "Pavel",
          "Nadia", "Oscar", "Hanna", "Victor", "Irene", "Samuel", "Lucia", "Arman"]
_LAST = ["Weller", "Okafor", "Haddad", "Novak", "Lindqvist", "Moreau", "Petrosyan", "Castillo", "Brennan", "Sato",
         "Kovacs", "Albrecht", "Mensah", "Duarte", "Ivanova", "Farrell", "Nakamura", "Osei", "Rahman", "Virtanen"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
_ADJ = ["fragile", "uneven", "worrying", "overdue", "patchy", "encouraging", "costly", "urgent", "contested",
        "surprising", "stubborn", "familiar"]
_TREND = ["risen", "fallen", "grown", "dropped", "climbed", "slipped"]
_ACTION = ["commissioned an independent review", "doubled its maintenance budget", "published its internal audit",
           "hired a dozen new inspectors", "opened a consultation", "promised quarterly progress reports",
           "paused the programme pending legal advice", "set up a hotline for complaints"]
_RECOMMEND = ["publish its inspection records in full", "set aside an emergency fund for the worst-hit areas",
              "consult residents before any further changes", "appoint an independent monitor",
              "share its raw data with researchers", "review every contract signed since the last election"]

TOPICS: dict[str, dict[str, list[str]]] = {
    "flooding": {
        "place": ["the lower river delta", "Marrow Bend", "the eastern floodplain", "Kestrel Quay",
                  "the old mill district", "Saltmarsh Road"],
        "org": ["the regional water authority", "the River Trust", "the county emergency office",
                "the Delta Farmers' Union"],
        "thing": ["the flood barrier", "river dredging", "the drainage network", "the early warning system"],
        "things": ["flood defences", "pumping stations", "sandbag depots", "levee repairs"],
        "role": ["senior hydrologist", "head of operations", "flood warden", "civil engineer"],
        "unit": ["households", "farms", "streets", "pumping stations"],
    },
    "water": {
        "place": ["Dunmore county", "the northern hill villages", "Ashford", "the Tamsin valley", "Lower Brenn",
                  "the refugee settlement near Orla"],
        "org": ["Clearwater Alliance", "the district health office", "the Village Wells Cooperative",
                "the national water regulator"],
        "thing": ["access to clean water", "the borehole programme", "water testing", "the new pipeline"],
        "things": ["hand pumps", "water points", "storage tanks", "latrines"],
        "role": ["programme manager", "field coordinator", "public health nurse", "water engineer"],
        "unit": ["villages", "schools", "clinics", "water points"],
    },
    "budget": {
        "place": ["the capital", "the western provinces", "Port Halden", "the border districts", "Greyford",
                  "the coastal municipalities"],
        "org": ["the Ministry of Public Works", "the finance committee", "the national audit office",
                "the Union of Municipalities"],
        "thing": ["the infrastructure budget", "road maintenance spending", "the capital works plan",
                  "public procurement"],
        "things": ["bridge repairs", "road contracts", "school renovations", "rail upgrades"],
        "role": ["deputy minister", "budget analyst", "committee chair", "procurement officer"],
        "unit": ["projects", "contracts", "municipalities", "bridges"],
    },
    "archiving": {
        "place": ["university libraries", "small newsrooms", "the national library", "community archives",
                  "research departments", "public broadcasters"],
        "org": ["the Web Preservation Group", "the Digital Heritage Fund", "the library consortium",
                "the Open Citations Project"],
        "thing": ["link rot", "web archiving", "citation decay", "content drift"],
        "things": ["broken links", "archived snapshots", "cited web pages", "dead references"],
        "role": ["digital archivist", "research librarian", "software developer", "records manager"],
        "unit": ["papers", "citations", "web pages", "collections"],
    },
    "opendata": {
        "place": ["the statistics office", "city hall", "the regional councils", "Port Halden", "Greyford",
                  "the planning department"],
        "org": ["the Open Data Board", "the Ministry of Public Works", "the Data Users' Forum",
                "the national statistics office"],
        "thing": ["the open data policy", "the data portal", "machine-readable publication", "data licensing"],
        "things": ["datasets", "spending records", "transport timetables", "planning files"],
        "role": ["chief data officer", "policy adviser", "statistician", "civic technologist"],
        "unit": ["datasets", "agencies", "downloads", "requests"],
    },
    "elections": {
        "place": ["the northern constituencies", "Varno", "the capital's outer wards", "Lisset", "the river towns",
                  "the mountain districts"],
        "org": ["the electoral commission", "the Citizens' Observer Network", "the Reform Party",
                "the constitutional court"],
        "thing": ["voter registration", "the postal ballot", "the recount", "turnout"],
        "things": ["polling stations", "ballot papers", "observer reports", "campaign finances"],
        "role": ["returning officer", "party spokesperson", "election observer", "political scientist"],
        "unit": ["polling stations", "wards", "ballots", "complaints"],
    },
    "archaeology": {
        "place": ["the Tell Arvan site", "the upper terraces", "the valley floor", "the old quarry", "Hollow Hill",
                  "the riverside necropolis"],
        "org": ["the Museum of the Valley", "the antiquities service", "the university field school",
                "the Heritage Watch volunteers"],
        "thing": ["the excavation", "the bronze hoard", "radiocarbon dating", "the conservation work"],
        "things": ["pottery fragments", "grave goods", "mud-brick walls", "bronze tools"],
        "role": ["site director", "conservator", "field archaeologist", "curator"],
        "unit": ["trenches", "graves", "objects", "seasons"],
    },
    "climate": {
        "place": ["the Arvan glacier", "the high plateau", "the coastal wetlands", "the northern forests",
                  "the lake basin", "the alpine meadows"],
        "org": ["the Climate Dynamics Lab", "the national weather service", "the Glacier Monitoring Network",
                "the Alpine Research Station"],
        "thing": ["glacier retreat", "the snowpack", "soil moisture", "the summer melt"],
        "things": ["temperature records", "ice cores", "weather stations", "satellite images"],
        "role": ["glaciologist", "postdoctoral researcher", "field technician", "climate modeller"],
        "unit": ["stations", "measurements", "glaciers", "winters"],
    },
    "coffee": {
        "place": ["the Sierra cooperatives", "the highland farms", "the port warehouses", "Ovanda", "the roastery",
                  "the eastern growing region"],
        "org": ["Commons Co-operative Store", "the Growers' Federation", "the fair trade certifier",
                "the Coffee Quality Board"],
        "thing": ["the coffee harvest", "fair trade pricing", "the supply contract", "bean quality"],
        "things": ["green beans", "shipping containers", "drying beds", "price premiums"],
        "role": ["head buyer", "cooperative president", "quality grader", "logistics manager"],
        "unit": ["farms", "sacks", "tonnes", "growers"],
    },
    "press": {
        "place": ["the capital", "the provincial newsrooms", "Lisset", "the border towns", "Varno",
                  "the state broadcaster"],
        "org": ["the Free Press Coalition", "the journalists' union", "the media regulator",
                "Clearwater Alliance"],
        "thing": ["press freedom", "the new media law", "source protection", "the licensing regime"],
        "things": ["court cases", "blocked websites", "press accreditations", "defamation suits"],
        "role": ["investigative reporter", "media lawyer", "editor", "press freedom researcher"],
        "unit": ["journalists", "outlets", "cases", "websites"],
    },
    "transport": {
        "place": ["the harbour", "Kestrel Quay", "the ring road", "the northern suburbs", "the ferry terminal",
                  "the old tram depot"],
        "org": ["the Harbour Board", "the city transport office", "the Ferry Passengers' Association",
                "the port authority"],
        "thing": ["the ferry timetable", "the lighthouse restoration", "harbour dredging", "the tram extension"],
        "things": ["ferry crossings", "mooring fees", "bus routes", "harbour cranes"],
        "role": ["harbour master", "transport planner", "ferry captain", "port engineer"],
        "unit": ["crossings", "passengers", "routes", "berths"],
    },
}

_SENTENCES = [
    "In {place}, {org} said on {weekday} that spending on {thing} had {trend} by {pct} percent since {year}.",
    "{person}, {role} at {org}, said the {adj} state of {thing} was \"the result of decisions made years ago, "
    "not last month.\"",
    "Residents of {place} described the {things} as {adj}, and several said nobody had asked for their views.",
    "The figures, published in a {pages}-page report, cover {count} {unit} across {place} and {place2}.",
    "Critics argue that {org} moved too slowly, pointing to {things} that were first flagged in {year}.",
    "According to {org}, about {big} people in {place} depend on {thing} in some form.",
    "\"We knew this was coming,\" said {person}, who has worked on {things} in {place} for {small} years.",
    "Officials in {place2} declined to comment on the findings but promised a fuller response by {month}.",
    "The debate over {thing} is not new: a similar dispute divided {place} in {year}.",
    "{org_cap} has since {action}, a step that {person} called overdue but welcome.",
    "Local groups say the real test will come in {month}, when the {things} are reviewed again.",
    "Data collected by {org} suggest that {things} in {place} are unevenly spread, with the poorest districts "
    "faring worst.",
    "Some of the {unit} visited for this report had not been inspected since {year}.",
    "{person}, who works as {role} in {place2}, warned that {thing} could suffer if funding is cut.",
    "Asked whether the plan would work, {person} paused before answering: \"It depends on who is paying.\"",
    "{org_cap} puts the total cost at {money}, roughly {small} times the original estimate.",
    "By {month}, {count} {unit} had reported problems linked to {thing}.",
    "Much of the evidence comes from interviews with {count} people in {place} and {place2}.",
    "In a statement, {org2} said it \"fully supports\" an independent review of the {things}.",
    "Others were more sceptical, noting that {org} had made similar promises in {year}.",
    "Maps shared by {org2} show how {thing} has shifted towards {place2} over the past decade.",
    "For many families in {place}, the changes to {thing} arrived without warning.",
    "A spokesperson for {org} said the figures would be updated every {small} months.",
    "The report recommends that {org2} {recommend}.",
    "That recommendation drew support from {person}, who described it as \"modest and long overdue.\"",
    "Nobody interviewed for this article disputed that {thing} matters; the argument is about who pays for it.",
    "Records from {year} show {count} {unit} in {place}; today the number is closer to {count2}.",
    "{person} keeps a notebook of every complaint about {things} received since {month} {year}.",
]


def _fill(rng: random.Random, topic: dict[str, list[str]]) -> dict[str, str]:
    place, place2 = rng.sample(topic["place"], 2)
    org, org2 = rng.sample(topic["org"], 2)
    return {
        "place": place, "place2": place2, "org": org, "org2": org2, "org_cap": org[0].upper() + org[1:],
        "thing": rng.choice(topic["thing"]), "things": rng.choice(topic["things"]),
        "role": rng.choice(topic["role"]), "unit": rng.choice(topic["unit"]),
        "person": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}", "weekday": rng.choice(_WEEKDAYS),
        "month": rng.choice(_MONTHS), "year": str(rng.randint(2004, 2018)), "adj": rng.choice(_ADJ),
        "trend": rng.choice(_TREND), "pct": str(rng.randint(3, 61)), "pages": str(rng.randint(18, 240)),
        "count": str(rng.randint(12, 480)), "count2": str(rng.randint(12, 480)),
        "big": f"{rng.randint(2, 95) * 1000:,}", "small": rng.choice(["two", "three", "four", "six", "nine"]),
        "money": f"{rng.randint(2, 40)}.{rng.randint(1, 9)} million euros", "action": rng.choice(_ACTION),
        "recommend": rng.choice(_RECOMMEND),
    }


def prose(topic: str, seed: int, words: int = 520) -> list[str]:
    """Paragraphs of about `words` words on `topic`, the same for the same arguments."""
    rng = random.Random(f"{topic}/{seed}")
    vocab = TOPICS[topic]
    paragraphs: list[str] = []
    total = 0
    order = list(range(len(_SENTENCES)))
    rng.shuffle(order)
    i = 0
    while total < words:
        sentences = []
        for _ in range(rng.randint(3, 5)):
            if i == len(order):
                rng.shuffle(order)
                i = 0
            sentences.append(_SENTENCES[order[i]].format(**_fill(rng, vocab)))
            i += 1
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        total += len(paragraph.split())
    return paragraphs


# ------------------------------------------------------------------------------------------------
# Site templates


@dataclass(frozen=True)
class Site:
    key: str
    name: str
    tagline: str
    nav: tuple[str, ...]
    sidebar: tuple[str, ...]  # "most read" headlines
    footer: str

    @property
    def host(self) -> str:
        return host(self.key)


@dataclass(frozen=True)
class Article:
    headline: str
    author: str
    date: str
    paragraphs: tuple[str, ...]


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def render(site: Site, title: str, main: str, *, nav: tuple[str, ...] | None = None, banner: str = "",
           sidebar: tuple[str, ...] | None = None, year: int = 2020, head: str = "") -> bytes:
    """A whole page in the site's template around `main` (HTML)."""
    links = "".join(f'<li><a href="/section/{_slug(n)}">{html.escape(n)}</a></li>' for n in (nav or site.nav))
    most_read = "".join(f'<li><a href="/most-read/{_slug(h)}">{html.escape(h)}</a></li>'
                        for h in (sidebar or site.sidebar))
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/site.css">
{head}</head>
<body>
{banner}<header class="site-header">
<a class="logo" href="/">{html.escape(site.name)}</a>
<p class="tagline">{html.escape(site.tagline)}</p>
<nav class="main-nav"><ul>{links}</ul></nav>
</header>
<div class="layout">
<main id="content">
{main}
</main>
<aside class="sidebar">
<h2>Most read</h2>
<ul>{most_read}</ul>
<h2>Newsletter</h2>
<p>Get the week's stories from {html.escape(site.name)} in your inbox every Friday.</p>
</aside>
</div>
<footer class="site-footer">
<p>{html.escape(site.footer)}</p>
<p>&copy; {year} {html.escape(site.name)}. All rights reserved. <a href="/privacy">Privacy</a> ·
<a href="/terms">Terms</a> · <a href="/contact">Contact</a></p>
</footer>
</body>
</html>
"""
    return page.encode()


def article_main(article: Article, *, before: tuple[str, ...] = (), after: tuple[str, ...] = (),
                 inserts: dict[int, str] | None = None, comments: tuple[tuple[str, str], ...] = ()) -> str:
    """The <article> element: paragraphs, with extra HTML blocks before/after/between them."""
    parts = [f"<article>\n<h1>{html.escape(article.headline)}</h1>",
             f'<p class="byline">By {html.escape(article.author)} · <time>{article.date}</time></p>']
    parts += before
    for i, paragraph in enumerate(article.paragraphs):
        if inserts and i in inserts:
            parts.append(inserts[i])
        parts.append(f"<p>{html.escape(paragraph)}</p>")
    parts += after
    parts.append("</article>")
    if comments:
        parts.append('<section id="comments" class="comments">\n<h2>Comments</h2>')
        for who, text in comments:
            parts.append(f'<div class="comment"><p class="comment-author">{html.escape(who)}</p>'
                         f"<p>{html.escape(text)}</p></div>")
        parts.append("</section>")
    return "\n".join(parts)


def _pdf(title: str, paragraphs: list[str]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    buf = io.BytesIO()
    # invariant: no creation date or random document id, so the bytes are the same every run
    doc = SimpleDocTemplate(buf, pagesize=A4, title=title, author="Journal of Coastal Studies", invariant=1)
    styles = getSampleStyleSheet()
    story: list[Any] = [Paragraph(html.escape(title), styles["Title"]), Spacer(1, 12)]
    for p in paragraphs:
        story += [Paragraph(html.escape(p), styles["BodyText"]), Spacer(1, 6)]
    doc.build(story)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# Fates, hits, requests


@dataclass(frozen=True)
class Fate:
    """What happens to one cited URL. `drift` is the level expected in state later; None when there
    is no content to compare or the content is not the cited page (error pages, soft 404s)."""

    id: str
    url: str
    early: str
    later: str
    drift: str | None
    note: str
    accessed: dt.date | None = None
    context: str = ""
    later_odd: str | None = None  # flapping: status in odd rounds of state later
    drift_odd: str | None = None

    def expected(self, state: str, round: int = 0) -> str:
        if state == "later" and self.later_odd is not None and round % 2:
            return self.later_odd
        return self.early if state == "early" else self.later

    def expected_drift(self, state: str, round: int = 0) -> str | None:
        if state == "early":
            return "unchanged" if self.early == "ok" else None
        if self.later_odd is not None and round % 2:
            return self.drift_odd
        return self.drift

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


@dataclass
class Hit:
    host: str  # Host header without the port
    path: str  # path and query as requested
    started: float  # time.monotonic()
    ended: float = 0.0
    status: int = 0  # 0: nothing sent (hang, reset)
    scheme: str = "http"


@dataclass
class Request:
    scheme: str
    host: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    state: str
    round: int


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    ctype: str = "text/html; charset=utf-8"
    action: str | None = None  # "hang": send nothing until shutdown; "reset": close with RST


Route = Callable[[Request], Reply | None]


def redirect(location: str, status: int = 301) -> Reply:
    body = f'<html><head><title>Moved</title></head><body><a href="{html.escape(location)}">moved</a></body></html>'
    return Reply(status, body.encode(), {"Location": location})


# ------------------------------------------------------------------------------------------------
# Servers


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: keep-alive requests must not wait on Nagle + delayed ACK
    timeout = 120  # an idle keep-alive connection frees its thread eventually
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.world._lock:
            self.server.connections.add(self.connection)
        if isinstance(self.connection, ssl.SSLSocket):
            # In this thread, not in accept(): a client that never finishes a handshake must not
            # stall the whole server. Failures (a client refusing our certificate) end up in
            # handle_error, which is silent.
            self.connection.settimeout(10)
            self.connection.do_handshake()
            self.connection.settimeout(self.timeout)

    def finish(self) -> None:
        with self.server.world._lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass  # the peer (or a state switch) already closed it

    def send_response(self, code: int, message: str | None = None) -> None:
        self._sent_status = code
        super().send_response(code, message)

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        world = self.server.world
        hostname = (self.headers.get("Host") or "").lower()
        if not hostname.startswith("["):
            hostname = hostname.rsplit(":", 1)[0]
        self._sent_status = 0
        hit = Hit(hostname, self.path, time.monotonic(), scheme=self.server.scheme)
        world._log(hit)
        try:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            state, round_ = world.state, world.round
            reply = world._dispatch(Request(self.server.scheme, hostname, parts.path or "/", query,
                                            dict(self.headers.items()), state, round_))
            if reply.action == "hang":
                world._stopping.wait(HANG_SECONDS)
                self.close_connection = True
            elif reply.action == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
            else:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.ctype)
                self.send_header("Content-Length", str(len(reply.body)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if body:
                    self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        finally:
            hit.status = self._sent_status
            hit.ended = time.monotonic()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, world: World, scheme: str, context: ssl.SSLContext | None, port: int = 0) -> None:
        self.world = world
        self.scheme = scheme
        self.context = context
        self.connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", port), _Handler)
        # A short poll interval: shutdown() waits for it, and a state switch stops a server.
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                       name=f"scenario-{scheme}", daemon=True)

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        if self.context is not None:
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # refused handshakes, clients that hang up: the web's normal noise, not test failures

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def drop_connections(self) -> None:
        """Close every client connection, idle keep-alive ones included. Caller holds the world lock."""
        for conn in list(self.connections):
            try:
                # the plain socket's shutdown: SSLSocket.shutdown would unwrap TLS under a reading thread
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


# ------------------------------------------------------------------------------------------------
# The world


class World:
    """The scenario's servers, pages and fates. Use as a context manager."""

    def __init__(self, tmp_path: Path | str) -> None:
        self.dir = Path(tmp_path)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._state = "early"
        self._round = 0
        self._stopping = threading.Event()
        self._hits: list[Hit] = []
        self.routes: dict[tuple[str, str], Route] = {}
        self.fallbacks: dict[str, Route] = {}
        self.sites: dict[str, Site] = {}
        self.fates: list[Fate] = []

        self.ca = trustme.CA()
        self.ca_file = str(self.dir / "scenario-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self._define_sites()
        names = sorted({s.host for s in self.sites.values()} | {host("parking"), host("status")})
        https_names = [n for n in names if n != DEFUNCT_HOST]
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert(*https_names).configure_cert(self.context)
        self.context.sni_callback = self._sni
        self._wrong_name = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("elsewhere.example.test").configure_cert(self._wrong_name)
        self._other_ca = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        trustme.CA().issue_cert(host("library")).configure_cert(self._other_ca)

        self.http = _Server(self, "http", None)
        self.https = _Server(self, "https", self.context)
        # A server of its own, so that "later" can stop listening: connection refused on a live host.
        self.mortal: _Server | None = _Server(self, "http", None)
        self.mortal_port = self.mortal.port
        self.names = tuple(names)
        self.config = self.dir / "scenario-archiver.toml"
        self._write_config()
        self._define_fates()

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> World:
        self.http.start()
        self.https.start()
        if self.mortal is not None:
            self.mortal.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stopping.set()  # wakes hanging routes
        for server in (self.http, self.https, self.mortal):
            if server is not None:
                server.stop()
        self.mortal = None

    # -- state --------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        if value not in STATES:
            raise ValueError(f"state must be one of {STATES}, not {value!r}")
        with self._lock:
            if value == self._state:
                return
            # A connection kept alive from the other state would skip the new TLS handshake or the
            # refused connect: the web after years has no open connections from back then.
            for server in (self.http, self.https):
                server.drop_connections()
            if value == "later" and self.mortal is not None:
                self.mortal.stop()
                self.mortal = None
            elif value == "early" and self.mortal is None:
                self.mortal = _Server(self, "http", None, port=self.mortal_port)
                self.mortal.start()
            self._state = value
            self._write_config()

    @property
    def round(self) -> int:
        return self._round

    @round.setter
    def round(self, value: int) -> None:
        with self._lock:
            self._round = value

    def next_round(self) -> int:
        with self._lock:
            self._round += 1
            return self._round

    # -- what tests read ----------------------------------------------------------------------

    @property
    def resolve(self) -> tuple[str, ...]:
        """The resolver override entries of the current state: every live name to loopback, on every port."""
        names = [n for n in self.names if self.resolves(n)]
        return loopback_names(names, (self.http.port, self.https.port, self.mortal_port))

    def resolves(self, name: str | None) -> bool:
        return name in self.names and not (name == DEFUNCT_HOST and self._state == "later")

    def _write_config(self) -> None:
        """The file world.env names: a process started later reads the entries of the state then."""
        entries = ", ".join(f'"{entry}"' for entry in self.resolve)
        self.config.write_text(f'[archiver]\nresolve = [{entries}]\nallow = ["{ALLOWED}"]\n')

    @property
    def env(self) -> dict[str, str]:
        """The world's config file (its resolve entries and the one address it opens), the CA bundle set,
        every other CA and proxy variable empty (= off) so nothing leaks in, and allow-private off: the
        config's `allow` is what opens 127.0.0.1 here."""
        env = {"ARCHIVER_CONFIG": str(self.config), "REQUESTS_CA_BUNDLE": self.ca_file, "CURL_CA_BUNDLE": "",
               "SSL_CERT_FILE": "", "SSL_CERT_DIR": "", "ARCHIVER_ALLOW_PRIVATE": ""}
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
            env[name] = env[name.lower()] = ""
        return env

    def fate(self, id: str) -> Fate:
        for f in self.fates:
            if f.id == id:
                return f
        raise KeyError(id)

    def expected(self, state: str, round: int | None = None) -> dict[str, str]:
        r = self.round if round is None else round
        return {f.id: f.expected(state, r) for f in self.fates}

    def expected_drift(self, state: str, round: int | None = None) -> dict[str, str | None]:
        r = self.round if round is None else round
        return {f.id: f.expected_drift(state, r) for f in self.fates}

    def table(self) -> str:
        """The fates as a text table, for failure messages and reports."""
        rows = [(f.id, f.path, f"{f.early} -> {f.later}" + (f" / {f.later_odd} (odd rounds)" if f.later_odd else ""),
                 f.drift or "-", f.note) for f in self.fates]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
                         for r in rows)

    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def clear_hits(self) -> None:
        with self._lock:
            self._hits.clear()

    def url(self, scheme: str, key_or_host: str, path: str) -> str:
        name = key_or_host if "." in key_or_host else host(key_or_host)
        port = self.http.port if scheme == "http" else self.https.port
        return f"{scheme}://{name}:{port}{path}"

    def write_manifest(self, path: Path | str) -> Path:
        """The citations as a YAML manifest (DESIGN.md section 2), one entry per fate, in order."""
        path = Path(path)
        lines = ["title: Scenario world - citations of a paper on delta communities, 2015-2021",
                 "source: papers/scenario.pdf", "citations:"]
        for f in self.fates:
            lines.append(f"  - url: {json.dumps(f.url)}")
            lines.append(f"    id: {f.id}")
            if f.context:
                lines.append(f"    context: {json.dumps(f.context)}")
            if f.accessed:
                lines.append(f"    accessed: {f.accessed.isoformat()}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    # -- serving ------------------------------------------------------------------------------

    def _log(self, hit: Hit) -> None:
        with self._lock:
            self._hits.append(hit)

    def _sni(self, sslobj: ssl.SSLObject | ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext) -> None:
        if self._state == "later" and name == host("records"):
            sslobj.context = self._wrong_name
        elif self._state == "later" and name == host("library"):
            sslobj.context = self._other_ca

    def _dispatch(self, req: Request) -> Reply:
        site = self.sites.get(req.host.removesuffix("."))
        if site is None and req.host not in (host("parking"), host("status")):
            return Reply(421, b"<html><title>Misdirected Request</title>unknown host</html>")
        for route in (self.routes.get((req.host, req.path)), self.fallbacks.get(req.host)):
            if route is not None:
                reply = route(req)
                if reply is not None:
                    return reply
        if req.path == "/" and site is not None:
            return Reply(200, self._home(site))
        return self._not_found(site)

    def _not_found(self, site: Site | None) -> Reply:
        if site is None:
            return Reply(404, b"<html><head><title>404 Not Found</title></head><body>Not Found</body></html>")
        main = ("<h1>Page not found</h1>\n<p>Sorry, the page you are looking for does not exist. "
                'It may have been moved or deleted. Try the <a href="/">home page</a>.</p>')
        return Reply(404, render(site, f"Page not found | {site.name}", main))

    def _home(self, site: Site) -> bytes:
        cards = "".join(f'<li><a href="/section/{_slug(n)}">{html.escape(n)}</a>: the latest from '
                        f"{html.escape(site.name)}</li>" for n in site.nav)
        main = (f"<h1>{html.escape(site.name)}</h1>\n<p>{html.escape(site.tagline)}</p>\n"
                f'<ul class="sections">{cards}</ul>')
        return render(site, f"{site.name} | Home", main)

    # -- definitions --------------------------------------------------------------------------

    def _site(self, key: str, name: str, tagline: str, nav: tuple[str, ...], footer: str) -> Site:
        rng = random.Random(key)
        sidebar = tuple(f"{rng.choice(_ADJ).capitalize()} questions over {rng.choice(t['thing'])}"
                        for t in rng.sample(list(TOPICS.values()), 4))
        site = Site(key, name, tagline, nav, sidebar, footer)
        self.sites[site.host] = site
        return site

    def _define_sites(self) -> None:
        s = self._site
        s("news", "The Riverside Chronicle", "Independent news from the delta since 1921",
          ("News", "Politics", "Environment", "Business", "Culture", "Opinion"), "The Riverside Chronicle, 4 Quay "
          "Street, Kestrel Quay. Corrections: corrections@chronicle.example")
        s("ngo", "Clearwater Alliance", "Safe water and a free press for every community",
          ("Our work", "Reports", "Campaigns", "News", "Donate"), "Clearwater Alliance is a registered charity.")
        s("oldngo", "Clearwater Alliance (old site)", "Safe water for every community",
          ("Home", "Reports", "Contact"), "This site is no longer maintained.")
        s("gov", "Ministry of Public Works", "Official website of the Ministry of Public Works",
          ("Ministry", "Press", "Policy", "Tenders", "Open data"), "Ministry of Public Works, Government Plaza 1.")
        s("blog", "Field Notes", "A researcher's notebook on the preservation of the web",
          ("Posts", "Talks", "About"), "Field Notes is written by Mira Lindqvist. Text CC BY 4.0.")
        s("shop", "Commons Co-operative Store", "Fair trade groceries, owned by our members",
          ("Shop", "Our growers", "Journal", "Membership"), "Commons Co-operative Store Ltd, member-owned since 1978.")
        s("catchall", "The Harbour Gazette", "Harbour news, tides and ferries",
          ("News", "Ferries", "Tides", "Letters"), "The Harbour Gazette, Lighthouse Lane 2.")
        s("journal", "Journal of Coastal Studies", "Open access research on coasts and deltas",
          ("Current issue", "Archive", "Submit", "About"), "Journal of Coastal Studies. ISSN 0000-0000.")
        s("forum", "Delta Residents Forum", "Talk about life on the delta",
          ("Threads", "Members", "Rules"), "Delta Residents Forum. Be kind.")
        s("museum", "Museum of the Valley", "Archaeology and history of the Arvan valley",
          ("Visit", "Collections", "Excavations", "Learn"), "Museum of the Valley, Castle Hill.")
        s("univ", "Climate Dynamics Lab", "Department of Earth Sciences",
          ("Research", "People", "Publications", "Data"), "Climate Dynamics Lab, Department of Earth Sciences.")
        s("wire", "Delta Wire Service", "News agency for the delta region",
          ("Wire", "Photos", "Subscribe"), "Delta Wire Service. Republication needs a licence.")
        s("data", "Open Data Portal", "Public data from the ministries", ("Datasets", "API", "Licences"),
          "Open Data Portal. Data under open licences unless stated.")
        s("oldproject", "Delta Mapping Project", "Community maps of the delta", ("Maps", "About"),
          "The Delta Mapping Project, 2012-2019.")
        s("festival", "River Festival 2019", "Three days of music on the river", ("Programme", "Tickets"),
          "River Festival 2019.")
        s("defunct", "Kestrel Valley Times", "The valley's weekly paper", ("News", "Sport", "Notices"),
          "Kestrel Valley Times, published every Thursday.")
        s("records", "Public Records Office", "Records of the delta municipalities", ("Search", "Guides"),
          "Public Records Office.")
        s("library", "Delta Digital Library", "Digitised books and newspapers", ("Collections", "Search"),
          "Delta Digital Library.")


    # Every fate: its route(s) and its expected outcome, side by side.

    def _article(self, headline: str, topic: str, seed: int, words: int = 520, date: str = "2019-05-14") -> Article:
        rng = random.Random(seed)
        author = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        return Article(headline, author, date, tuple(prose(topic, seed, words)))

    def _page(self, site: Site, art: Article, **kw: Any) -> bytes:
        render_kw = {k: kw.pop(k) for k in ("nav", "banner", "sidebar", "year") if k in kw}
        return render(site, f"{art.headline} | {site.name}", article_main(art, **kw), **render_kw)

    def _add(self, id: str, url: str, early: str, later: str, drift: str | None, note: str,
             accessed: str | None, art: Article | None = None, site: Site | None = None, **extra: Any) -> Fate:
        context = ""
        if art is not None and site is not None:
            context = f'{art.author}, "{art.headline}", {site.name} ({art.date})'
        fate = Fate(id, url, early, later, drift, note, dt.date.fromisoformat(accessed) if accessed else None,
                    extra.pop("context", context), **extra)
        self.fates.append(fate)
        return fate

    def _route(self, key: str, path: str, route: Route) -> str:
        """Register `route` for `path` on site `key`; the URL path."""
        self.routes[(host(key), path)] = route
        return path

    def _define_fates(self) -> None:
        S = {s.key: s for s in self.sites.values()}
        U = self.url

        # Routes are built by these functions, never by lambdas over the loop-like locals below
        # (site, art, page are reassigned fate after fate; a closure would see the last one).
        def by_state(early: Reply | None, later: Reply | None) -> Route:
            return lambda req: early if req.state == "early" else later

        def const(reply: Reply) -> Route:
            return lambda req: reply

        def flapping(page: Reply, down: Reply) -> Route:
            return lambda req: down if req.state == "later" and req.round % 2 == 0 else page

        def upgrade(page: Reply, https_url: str) -> Route:
            return lambda req: redirect(https_url) if req.state == "later" and req.scheme == "http" else page

        def html_reply(body: bytes, status: int = 200, **headers: str) -> Reply:
            return Reply(status, body, dict(headers))

        def error_page(site: Site, status: int, title: str, text: str, **headers: str) -> Reply:
            main = f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(text)}</p>"
            return Reply(status, render(site, f"{title} | {site.name}", main), dict(headers))

        def simple(id: str, scheme: str, key: str, path: str, topic: str, seed: int, headline: str,
                   later: str, drift: str | None, note: str, accessed: str | None, later_reply: Reply | None,
                   words: int = 520, date: str = "2019-05-14") -> Article:
            """A page that is fine early and answers `later_reply` later (None: the page is unchanged)."""
            site = S[key]
            art = self._article(headline, topic, seed, words, date)
            page = Reply(200, self._page(site, art))
            self._route(key, path, by_state(page, later_reply or page))
            self._add(id, U(scheme, key, path), "ok", later, drift, note, accessed, art, site)
            return art

        # -- ok, unchanged ---------------------------------------------------------------------
        simple("news-flood-barrier", "https", "news", "/2021/03/14/flood-barrier-delayed-again", "flooding", 101,
               "Flood barrier delayed again as costs climb", "ok", "unchanged",
               "HTTPS news article, byte-identical in both states", "2021-03-15", None, 640, "2021-03-14")
        simple("ngo-water-report", "https", "ngo", "/reports/2020/water-access-dunmore", "water", 102,
               "Water access in Dunmore county: 2020 field report", "ok", "unchanged",
               "HTTPS NGO report, byte-identical", "2020-11-02", None, 720, "2020-10-30")
        simple("gov-budget-statement", "http", "gov", "/press/2019/infrastructure-budget-statement", "budget", 103,
               "Statement on the 2020 infrastructure budget", "ok", "unchanged",
               "HTTP government press release, byte-identical", "2019-12-01", None, 450, "2019-11-28")
        simple("blog-link-rot", "http", "blog", "/posts/2018/why-links-rot", "archiving", 104,
               "Why links rot, and what a footnote can do about it", "ok", "unchanged",
               "HTTP blog post, byte-identical", "2018-08-20", None, 780, "2018-08-19")
        simple("univ-glacier-data", "https", "univ", "/research/glacier-retreat-2017", "climate", 105,
               "Glacier retreat on the Arvan, 2007-2017", "ok", "unchanged",
               "HTTPS research page, byte-identical", "2018-02-11", None, 560, "2017-12-05")

        pdf_text = prose("flooding", 106, 600)
        pdf = Reply(200, _pdf("Sediment budgets of a managed delta, 1990-2015", pdf_text), ctype="application/pdf")
        path = self._route("journal", "/articles/1187/fulltext.pdf", const(pdf))
        self._add("journal-pdf", U("https", "journal", path), "ok", "ok", "unchanged",
                  "PDF made with reportlab (invariant: same bytes every run), unchanged", "2019-03-03",
                  context='Okafor and Weller, "Sediment budgets of a managed delta, 1990-2015", Journal of '
                          "Coastal Studies 14(2) (2019)")

        site, art = S["gov"], self._article("Open data policy of the Ministry", "opendata", 107, 500, "2017-06-01")
        page = Reply(200, self._page(site, art))
        path = "/policy/open-data"
        self._route("gov", path, upgrade(page, U("https", "gov", path)))
        self._add("gov-open-data-upgrade", U("http", "gov", path), "ok", "ok", "unchanged",
                  "later: 301 http -> https, same host and path (the port differs too: ephemeral ports), "
                  "same page; an upgrade is not a move", "2017-06-02", art, site)

        site, art = S["museum"], self._article("The Tell Arvan bronze hoard", "archaeology", 108, 600, "2018-09-09")
        early_page = Reply(200, self._page(site, art))
        later_page = Reply(200, self._page(site, art, year=2024, sidebar=tuple(reversed(site.sidebar[1:]))
                                           + ("Visit us: new opening hours from April",)))
        path = self._route("museum", "/excavations/tell-arvan/bronze-hoard", by_state(early_page, later_page))
        self._add("museum-bronze-hoard", U("http", "museum", path), "ok", "ok", "minor",
                  "later: sidebar and footer year changed, article identical: main-text drift 0, yet the page a"
                  " reader sees changed (minor)",
                  "2018-09-10", art, site)

        # -- ok, minor drift -------------------------------------------------------------------
        site = S["news"]
        art = self._article("Turnout falls in the northern constituencies", "elections", 110, 560, "2020-11-02")
        update = prose("elections", 910, 50)[0]
        later_page = Reply(200, self._page(
            site, art,
            before=('<p class="updated">Updated 12 May 2023, 09:40: final turnout figures added.</p>',),
            after=(f"<p><strong>Update, 12 May 2023:</strong> {html.escape(update)}</p>",)))
        path = self._route("news", "/2020/11/02/turnout-in-northern-constituencies",
                           by_state(Reply(200, self._page(site, art)), later_page))
        self._add("news-turnout-updated", U("https", "news", path), "ok", "ok", "minor",
                  "later: 'Updated ...' date line and one update paragraph added to the article", "2020-11-03",
                  art, site)

        site = S["shop"]
        art = self._article("Coffee harvest report: a hard year in the highlands", "coffee", 111, 560, "2019-10-01")

        def ad(text: str) -> str:
            return f'<p class="sponsored"><em>Advertisement.</em> {html.escape(text)}</p>'

        early_ads = {2: ad("Members save ten percent on every bag of Sierra roast this month. Shop the range."),
                     5: ad("Try our new oat drink, made from grain grown on partner farms. Now in store.")}
        later_ads = {2: ad("Free delivery on orders over forty euros for all new members. Join today online."),
                     5: ad("Winter spice tea is back, blended by hand at the store every Saturday morning.")}
        path = self._route("shop", "/journal/2019/coffee-harvest-report",
                           by_state(Reply(200, self._page(site, art, inserts=early_ads)),
                                    Reply(200, self._page(site, art, inserts=later_ads))))
        self._add("shop-harvest-ads", U("http", "shop", path), "ok", "ok", "minor",
                  "later: the two in-article advertisement paragraphs swapped for others", "2019-10-04", art, site)

        site = S["blog"]
        art = self._article("Citation decay in law reviews", "archiving", 112, 600, "2019-04-22")
        comments = (("Ruth Brennan", "We measured the same thing in our history journals and found almost "
                     "exactly the same half-life for cited pages. Thanks for writing this up so clearly."),
                    ("Karim Osei", "Did you count links that redirect to a home page as dead? In my sample they "
                     "were the largest group, larger than plain errors."),
                    ("Mira Lindqvist", "Karim: yes, those count as dead here, since the cited text is gone. "
                     "I will add a note about it to the method section."),
                    ("Pavel Novak", "Our library now archives every link at submission time. It costs almost "
                     "nothing and the authors like it."))
        # The postscript keeps the drift minor for an extractor that drops comment sections too.
        postscript = ("<p><em>Postscript: thanks to everyone who wrote in. Several readers asked whether redirects "
                      "to a home page count as dead links; in this study they do, and the method section now "
                      "says so.</em></p>")
        path = self._route("blog", "/posts/2019/citation-decay-in-law-reviews",
                           by_state(Reply(200, self._page(site, art)),
                                    Reply(200, self._page(site, art, after=(postscript,), comments=comments))))
        self._add("blog-decay-comments", U("http", "blog", path), "ok", "ok", "minor",
                  "later: four reader comments (id=comments) below the post, and a short postscript in it",
                  "2019-04-25", art, site)

        site = S["ngo"]
        art = self._article("Press freedom index: the region slips again", "press", 113, 520, "2020-04-21")
        banner = ('<div id="cookie-banner" class="cookie-consent" role="dialog"><p>We use cookies to understand '
                  "how our site is used and to improve your experience. You can accept all cookies or manage "
                  'your preferences.</p><button>Accept all</button> <button>Manage preferences</button></div>\n')
        correction = ("<p><em>Correction, 3 March 2021: an earlier version of this article misstated the number "
                      "of journalists detained in 2019. It was fourteen, not forty-one. We have also clarified that "
                      "the index ranks countries on laws and practice together, and that the regional average "
                      "fell for the third year running, not the fifth. We regret the errors.</em></p>")
        path = self._route("ngo", "/news/2020/press-freedom-index",
                           by_state(Reply(200, self._page(site, art)),
                                    Reply(200, self._page(site, art, banner=banner, after=(correction,)))))
        self._add("ngo-press-cookie", U("https", "ngo", path), "ok", "ok", "minor",
                  "later: cookie consent banner added, and a one-line correction at the end of the article",
                  "2020-04-22", art, site)

        site = S["univ"]
        art = self._article("Snowpack at a record low on the high plateau", "climate", 114, 540, "2019-03-30")
        edited = Article(art.headline.replace("record low", "record low, again"), art.author, art.date,
                         tuple(p.replace(" percent", " per cent") for p in art.paragraphs[:-1])
                         + (art.paragraphs[-1] + " The station data for the season are now online, and the lab "
                            "will publish its own analysis of the melt in the autumn. Readers can request the raw "
                            "measurements from the data page.",))
        later_page = Reply(200, self._page(site, edited, nav=("Home", "Research", "Team", "Publications",
                                                             "Open data", "Jobs")))
        path = self._route("univ", "/news/2019/snowpack-record-low",
                           by_state(Reply(200, self._page(site, art)), later_page))
        self._add("univ-snowpack-edited", U("https", "univ", path), "ok", "ok", "minor",
                  "later: navigation redesigned, headline extended, 'percent' -> 'per cent', one sentence added",
                  "2019-04-01", art, site)

        # -- ok, major drift -------------------------------------------------------------------
        site = S["news"]
        art = self._article("Harbour dredging contract awarded", "transport", 120, 520, "2019-06-20")
        other = self._article("Recount ordered in two river towns", "elections", 121, 540, "2023-01-09")
        path = self._route("news", "/2019/06/20/harbour-dredging-contract",
                           by_state(Reply(200, self._page(site, art)), Reply(200, self._page(site, other))))
        self._add("news-dredging-replaced", U("http", "news", path), "ok", "ok", "major",
                  "later: a different article (another story, author, topic) at the same URL, same template",
                  "2019-06-21", art, site)

        site = S["museum"]
        art = self._article("Field school 2019: a season at Hollow Hill", "archaeology", 122, 480, "2019-09-01")
        placeholder = Article(art.headline, art.author, art.date, ("This page has been archived.",))
        path = self._route("museum", "/learn/field-school-2019",
                           by_state(Reply(200, self._page(site, art)), Reply(200, self._page(site, placeholder))))
        self._add("museum-field-school-emptied", U("http", "museum", path), "ok", "ok", "major",
                  "later: the article emptied to 'This page has been archived.' inside the same template",
                  "2019-09-03", art, site)

        site = S["ngo"]
        intro = ("Every year the members of Clearwater Alliance choose one campaign to carry. "
                 "This page always shows the campaign we are running now.")
        art = self._article("Our current campaign", "water", 123, 500, "2018-05-01")
        art = Article(art.headline, art.author, art.date, (intro,) + art.paragraphs)
        new = self._article("Our current campaign", "press", 124, 500, "2022-05-01")
        new = Article(new.headline, art.author, new.date, (intro,) + new.paragraphs)
        path = self._route("ngo", "/campaigns/current",
                           by_state(Reply(200, self._page(site, art)), Reply(200, self._page(site, new))))
        self._add("ngo-campaign-topic", U("https", "ngo", path), "ok", "ok", "major",
                  "later: same headline and intro, but the campaign is now press freedom, not water",
                  "2018-05-02", art, site)

        # -- redirected ------------------------------------------------------------------------
        site = S["gov"]
        art = self._article("Bridge repairs to start in spring", "budget", 130, 460, "2018-02-14")
        page = Reply(200, self._page(site, art))
        old, new_path = "/press/2018/bridge-repairs", "/newsroom/2018/bridge-repairs"
        self._route("gov", old, by_state(page, redirect(new_path, 301)))
        self._route("gov", new_path, by_state(None, page))
        self._add("gov-bridges-moved", U("http", "gov", old), "ok", "redirected", "unchanged",
                  f"later: 301 to {new_path} on the same host, same page", "2018-02-15", art, site)

        site = S["ngo"]
        art = self._article("Latrine survey in the hill villages", "water", 131, 520, "2017-07-07")
        path = "/reports/2017/latrines-survey"
        self._route("oldngo", path, by_state(Reply(200, self._page(S["oldngo"], art)), redirect(U("https", "ngo",
                                                                                                   path), 301)))
        self._route("ngo", path, const(Reply(200, self._page(S["oldngo"], art))))
        self._add("oldngo-latrines-migrated", U("http", "oldngo", path), "ok", "redirected", "unchanged",
                  "later: 301 to the NGO's new host over https (domain migration), same page bytes",
                  "2017-07-09", art, site)

        site = S["journal"]
        art = self._article("Saltmarsh accretion after managed realignment", "flooding", 132, 420, "2020-01-15")
        page = Reply(200, self._page(site, art))
        self._route("journal", "/view/1200", by_state(page, redirect("/articles/1200", 308)))
        self._route("journal", "/articles/1200", const(page))
        self._add("journal-view-308", U("https", "journal", "/view/1200"), "ok", "redirected", "unchanged",
                  "later: 308 to /articles/1200 (new URL scheme of the journal), same page", "2020-01-20",
                  art, site)

        # -- soft 404 --------------------------------------------------------------------------
        site = S["gov"]
        simple("gov-tender-not-found-title", "http", "gov", "/tenders/2019/ferry-terminal-works", "budget", 140,
               "Tender: ferry terminal works", "soft_404", None,
               "later: 200 with <title>Page Not Found</title> and 'could not be found' text in the template",
               "2019-05-20", Reply(200, render(site, "Page Not Found", (
                   "<h1>Page Not Found</h1>\n<p>The page you requested could not be found. It may have been "
                   'removed. Please use the search or return to the <a href="/">home page</a>.</p>'))))
        simple("news-interview-to-root", "http", "news", "/2018/04/11/interview-with-the-harbour-master", "transport",
               141, "Interview: the harbour master on ten years at Kestrel Quay", "soft_404", None,
               "later: 302 to the site root /, which answers 200 (the home page)", "2018-04-12",
               redirect("/", 302), 600, "2018-04-11")
        site = S["shop"]
        self._route("shop", "/404.html", const(Reply(200, render(site, f"Oops | {site.name}", (
            "<h1>Oops!</h1>\n<p>We looked everywhere but that page is not on the shelf. Browse the shop "
            "instead.</p>")))))
        simple("shop-growers-to-404-html", "http", "shop", "/growers/ovanda-visit-2018", "coffee", 142,
               "A visit to the Ovanda growers", "soft_404", None,
               "later: 302 to /404.html, which answers 200", "2018-11-30", redirect("/404.html", 302), 500,
               "2018-11-28")
        simple("blog-slides-tiny", "http", "blog", "/talks/2017/ipres-slides", "archiving", 143,
               "Slides and notes from my iPRES talk", "soft_404", None,
               "later: 200 with a 41-byte empty HTML body", "2017-10-02",
               Reply(200, b"<!doctype html><html><body></body></html>"), 420, "2017-09-28")

        site = S["catchall"]
        art = self._article("Lighthouse restoration finally under way", "transport", 144, 540, "2019-08-08")
        sorry = render(site, site.name, (
            "<h1>Sorry, we couldn't find that</h1>\n<p>The story you are looking for may have moved. "
            'Browse our latest news, ferry times and tide tables from the <a href="/">front page</a>.</p>'))
        path = self._route("catchall", "/features/2019/lighthouse-restoration",
                           by_state(Reply(200, self._page(site, art)), None))
        self.fallbacks[site.host] = lambda req: Reply(200, sorry) if req.state == "later" and req.path != "/" else None
        self._add("catchall-lighthouse", U("http", "catchall", path), "ok", "soft_404", None,
                  "later: the whole host answers every path except / with the same 200 'sorry, we couldn't find "
                  "that' page, titled with just the site name: only a random-sibling probe tells", "2019-08-09",
                  art, site)

        # -- plain HTTP failures ---------------------------------------------------------------
        def failing(id: str, scheme: str, key: str, path: str, topic: str, seed: int, headline: str, later: str,
                    note: str, accessed: str | None, reply: Reply | None, date: str = "2019-05-14") -> None:
            simple(id, scheme, key, path, topic, seed, headline, later, None, note, accessed, reply, 480, date)

        site = S["news"]
        failing("news-ferry-fares-404", "http", "news", "/2017/09/05/ferry-fares-rise", "transport", 150,
                "Ferry fares to rise by a fifth", "not_found", "later: 404 with the site's not-found page",
                "2017-09-06", self._not_found(site), "2017-09-05")
        failing("univ-person-404", "https", "univ", "/people/jonas-sato", "climate", 151,
                "Jonas Sato, field technician", "not_found", "later: 404 (staff page removed)", "2019-01-10",
                self._not_found(S["univ"]))
        failing("museum-exhibition-410", "http", "museum", "/exhibitions/2016/river-gods", "archaeology", 152,
                "River gods: an exhibition", "gone", "later: 410 Gone", "2016-05-05",
                error_page(S["museum"], 410, "Gone", "This exhibition has ended and its pages have been removed."),
                "2016-04-01")
        failing("data-road-contracts-500", "http", "data", "/datasets/road-contracts-2018", "opendata", 153,
                "Dataset: road contracts 2018", "server_error", "later: 500 on every request (retries too)",
                "2019-02-02", error_page(S["data"], 500, "Internal Server Error",
                                         "The server encountered an internal error."))
        data_json = json.dumps({"year": 2018, "contracts": [{"id": i, "value_eur": 10_000 * i} for i in range(1, 40)]},
                               indent=1).encode()
        self._route("data", "/api/v1/contracts", by_state(Reply(200, data_json, ctype="application/json"),
                                                          Reply(400, b'{"error": "parameter year is no longer '
                                                                b'supported"}', ctype="application/json")))
        self._add("data-api-400", U("http", "data", "/api/v1/contracts?year=2018"), "ok", "client_error", None,
                  "JSON API; later: 400 (query parameter no longer supported)", "2019-02-03",
                  context="Open Data Portal, contracts API, year=2018")
        failing("news-court-451", "https", "news", "/2020/02/18/court-hears-defamation-case", "press", 154,
                "Court hears defamation case against the Chronicle", "legal_block",
                "later: 451 Unavailable For Legal Reasons", "2020-02-19",
                error_page(S["news"], 451, "Unavailable For Legal Reasons",
                           "This article has been removed following a court order."), "2020-02-18")
        failing("gov-memo-403", "http", "gov", "/documents/2019/memo-procurement", "budget", 155,
                "Memo on procurement rules", "forbidden", "later: 403 Access denied", "2019-07-01",
                error_page(S["gov"], 403, "Access denied", "You do not have permission to view this document."))
        challenge = (b"<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head><body>"
                     b"<noscript>Enable JavaScript and cookies to continue</noscript>"
                     b"<div id=\"challenge-running\">Checking if the site connection is secure</div></body></html>")
        failing("wire-strike-cloudflare", "https", "wire", "/wire/2020/ferry-strike", "transport", 156,
                "Ferry crews strike over rosters", "forbidden",
                "later: Cloudflare-style 403 'Just a moment...' with cf-mitigated: challenge", "2020-06-15",
                Reply(403, challenge, {"cf-mitigated": "challenge", "Server": "cloudflare",
                                       "cf-ray": "8a1b2c3d4e5f6789-AMS", "Cache-Control": "no-store"}))
        failing("data-quality-429", "http", "data", "/api/v1/datasets/water-quality", "water", 157,
                "Dataset: water quality samples", "rate_limited",
                "later: 429 with Retry-After: 3600 (beyond the fetcher's max_retry_after, so no retry)",
                "2020-03-03", error_page(S["data"], 429, "Too Many Requests", "Rate limit exceeded.",
                                         **{"Retry-After": "3600"}))

        # -- login wall ------------------------------------------------------------------------
        site = S["forum"]
        art = self._article("The night of the flood, 2019: share your stories", "flooding", 160, 620, "2019-11-12")
        path = self._route("forum", "/threads/4471-flood-night-2019", by_state(Reply(200, self._page(site, art)),
                                                                                None))
        login_form = render(site, f"Log in | {site.name}", (
            "<h1>Log in</h1>\n<p>You need to be a member to read this thread.</p>\n"
            '<form action="/login" method="post"><label>Username <input name="username"></label>'
            '<label>Password <input type="password" name="password"></label>'
            '<button type="submit">Log in</button></form>\n<p><a href="/register">Create an account</a></p>'))
        self._route("forum", "/login", lambda req: Reply(200, login_form))

        def forum_wall(req: Request) -> Reply | None:
            # every thread, including a random sibling, sits behind the wall: as on real forums
            if req.state == "later" and req.path.startswith("/threads/"):
                return redirect("/login?next=" + quote(req.path, safe=""), 302)
            return None

        self.fallbacks[site.host] = forum_wall
        self._add("forum-flood-login", U("https", "forum", path), "ok", "login_wall", None,
                  "later: every /threads/ path 302s to /login?next=..., which answers 200 with a login form",
                  "2019-11-13", art, site)

        # -- whole sites gone ------------------------------------------------------------------
        parking_url = f"http://{host('parking')}:{self.http.port}/lander"

        def parking_page(domain: str) -> bytes:
            return f"""<!doctype html><html><head><title>{domain}</title></head><body>
<div class="parked"><h1>{domain}</h1>
<p>This domain is for sale! Buy this domain today.</p>
<p>The owner of {domain} is offering it for sale for an asking price of 1,499 USD. <a href="/buy">Buy now</a></p>
<h2>Related searches</h2><ul><li><a href="/rs/flood-maps">Flood Maps</a></li><li><a href="/rs/delta-tours">Delta
Tours</a></li><li><a href="/rs/cheap-flights">Cheap Flights</a></li></ul>
<p class="disclaimer">This page is provided by the domain owner. Privacy policy.</p></div></body></html>
""".encode()

        self.routes[(host("parking"), "/lander")] = lambda req: Reply(200, parking_page(req.query.get("domain", "")))
        site = S["oldproject"]
        art = self._article("Flood extent maps, 2015", "flooding", 170, 480, "2015-12-20")
        path = self._route("oldproject", "/maps/flood-extent-2015", by_state(Reply(200, self._page(site, art)), None))
        self.fallbacks[site.host] = lambda req: (
            redirect(f"{parking_url}?domain={host('oldproject')}", 302) if req.state == "later" else None)
        self._add("oldproject-maps-parked", U("http", "oldproject", path), "ok", "parked", None,
                  "later: the whole host 302s to a parking host whose page says 'This domain is for sale! Buy "
                  "this domain' (a random sibling gets the same: parked must win over soft_404)", "2016-01-04",
                  art, site)
        site = S["festival"]
        art = self._article("Programme, day two", "transport", 171, 400, "2019-06-01")
        path = self._route("festival", "/programme/day-two", by_state(Reply(200, self._page(site, art)), None))
        self.fallbacks[site.host] = lambda req: (
            Reply(200, parking_page(host("festival"))) if req.state == "later" else None)
        self._add("festival-programme-parked", U("http", "festival", path), "ok", "parked", None,
                  "later: every path of the host answers 200 with the for-sale parking page itself", "2019-06-02",
                  art, site)

        site = S["defunct"]
        art = self._article("Flood victims remembered, ten years on", "flooding", 172, 520, "2016-07-14")
        path = self._route("defunct", "/2016/07/flood-victims-remembered", const(Reply(200, self._page(site, art))))
        self._add("defunct-times-dns", U("http", "defunct", path), "ok", "dns_error", None,
                  "later: the host no longer resolves (its resolve entry is gone; a .invalid name: fails at once)",
                  "2016-07-15", art, site)
        self._add("dead-archive-dns", f"http://{DEAD_HOST}/notices/1999-flood-appeal", "dns_error", "dns_error", None,
                  "a .invalid host: dead before the paper was written (dns_error in both states)", None,
                  context="Kestrel Valley Archive, flood appeal notice (1999)")

        status_site = Site("status", "Delta Services Status", "Service status", ("Status", "History"), (),
                           "Status page.")
        art = self._article("Incident report: the March 2020 outage", "opendata", 173, 420, "2020-03-20")
        status_page = Reply(200, self._page(status_site, art))
        self.routes[(host("status"), "/incidents/2020-03-outage")] = const(status_page)
        self._add("status-outage-refused", f"http://{host('status')}:{self.mortal_port}/incidents/2020-03-outage",
                  "ok", "connection_error", None,
                  "a server of its own port; later it stops listening: connection refused", "2020-03-21",
                  art, status_site)
        failing("blog-reading-list-reset", "http", "blog", "/reading-list", "archiving", 174,
                "Reading list on web preservation", "connection_error",
                "later: the server resets the connection (RST) instead of answering", "2018-01-15",
                Reply(action="reset"))
        failing("museum-catalogue-timeout", "http", "museum", "/collections/catalogue/item-4471", "archaeology",
                175, "Catalogue item 4471: bronze axe head", "timeout",
                f"later: headers never come ({HANG_SECONDS:g} s of silence; the route wakes on shutdown)",
                "2018-10-10", Reply(action="hang"))
        failing("records-wrong-name-tls", "https", "records", "/guides/land-registry-1950s", "budget", 176,
                "Guide: the land registry of the 1950s", "tls_error",
                "later: the certificate presented (SNI switch) is for elsewhere.example.test", "2019-09-19", None)
        failing("library-other-ca-tls", "https", "library", "/newspapers/kestrel-times/1962-05-03", "flooding", 177,
                "Kestrel Valley Times, 3 May 1962 (scan)", "tls_error",
                "later: the certificate presented (SNI switch) is signed by another, untrusted CA", "2020-08-08",
                None)

        site = S["shop"]
        art = self._article("Membership terms", "coffee", 178, 400, "2018-03-01")
        page = Reply(200, self._page(site, art))
        self._route("shop", "/membership/terms", by_state(page, redirect("/membership/terms-2021", 302)))
        self._route("shop", "/membership/terms-2021", by_state(None, redirect("/membership/terms", 302)))
        self._add("shop-terms-loop", U("http", "shop", "/membership/terms"), "ok", "too_many_redirects", None,
                  "later: /membership/terms and /membership/terms-2021 302 to each other", "2018-03-02", art, site)

        site = S["blog"]
        art = self._article("Volunteer handbook for the river clean-up", "water", 179, 420, "2019-04-04")
        internal = f"http://{INTERNAL}:{self.http.port}/admin/handbook"
        self._route("blog", "/volunteers/handbook",
                    by_state(Reply(200, self._page(site, art)), redirect(internal, 302)))
        self._add("blog-handbook-internal", U("http", "blog", "/volunteers/handbook"), "ok", "blocked_address", None,
                  f"later: 302 to {internal}, an internal (loopback) address the world's config does not open: "
                  "the address guard refuses it", "2019-04-05", art, site)

        self._add("invalid-url-space", INVALID_URL, "invalid_url", "invalid_url", None,
                  "URL with a space: load_manifest skips it into Manifest.problems (reason 'URL contains white "
                  "space'), not into citations", "2020-01-01", context="exa mple.org, as printed (broken)")

        # -- flapping --------------------------------------------------------------------------
        site = S["journal"]
        art = self._article("Issue 2019/3: editorial", "flooding", 180, 460, "2019-09-30")
        page = Reply(200, self._page(site, art))
        down = error_page(site, 503, "Service Unavailable", "The journal is down for maintenance.")
        path = self._route("journal", "/issues/2019/3",
                           flapping(page, down))
        self._add("journal-issue-flapping", U("https", "journal", path), "ok", "server_error", None,
                  "later: 503 to every request in even rounds (world.round), 200 unchanged in odd ones",
                  "2019-10-01", art, site, later_odd="ok", drift_odd="unchanged")

        # -- the same URL cited twice ----------------------------------------------------------
        for first, again, accessed in (("news-flood-barrier", "news-flood-barrier-again", "2021-04-02"),
                                       ("news-ferry-fares-404", "news-ferry-fares-404-again", None)):
            f = self.fate(first)
            self._add(again, f.url, f.early, f.later, f.drift, f"the URL of {first}, cited a second time",
                      accessed, context=f.context + " (cited again)")
