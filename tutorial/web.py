"""The tutorial web: a miniature copy of the pages the sample paper cites, served on loopback.

    python tutorial/web.py start FOLDER    # serve in the background; write FOLDER/archiver.toml, tutorial-ca.pem
    python tutorial/web.py day 2 FOLDER    # "the next day": some pages change, one disappears
    python tutorial/web.py stop FOLDER     # stop the server
    python tutorial/web.py serve FOLDER    # the same server in the foreground (Ctrl-C stops it)

The pages are in tutorial/web.yaml (one data file; every text is made up). Real host names (twitter.com,
www.hrw.org, ...) reach this server through archiver's resolver override: FOLDER/archiver.toml gets one
`resolve` entry per host and port, `allow = ["127.0.0.1/32"]` (archiver refuses loopback otherwise), and
settings that suit a local web. HTTPS needs a certificate archiver trusts: the server makes its own
throw-away CA (with the `openssl` program) and archiver is pointed at it with REQUESTS_CA_BUNDLE, in the
shell that runs the tutorial only. Nothing here needs archiver itself: only Python, PyYAML and openssl.
"""

from __future__ import annotations

import hashlib
import html
import http.server
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

DATA = Path(__file__).with_name("web.yaml")
STATE = ".tutorial-web"  # in FOLDER: pid, day, certificates


def load_web() -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """The sites (host -> name) and the pages (url -> entry) of the data file."""
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    return data["sites"], {page["url"]: page for page in data["pages"]}


def day_of(folder: Path) -> int:
    try:
        return int((folder / STATE / "day").read_text().strip())
    except (OSError, ValueError):
        return 1


def made_up_text(page: dict[str, Any], site: str) -> str:
    """Two paragraphs for a page that gives no text of its own: plausible, invented, stable."""
    title = page["title"]
    pick = int(hashlib.sha256(page["url"].encode()).hexdigest(), 16)
    openers = [
        f"{title}. This report sets out what {site} learned from witnesses, documents and images "
        "gathered in the weeks after the events it describes, and what remains to be established.",
        f"{title}. Our correspondents spoke to residents, officials and researchers about the events, "
        "and reviewed the photographs and videos that circulated at the time.",
        f"{title}. The material below was collected and checked by volunteers, who compared the places, "
        "dates and faces it shows with other published accounts.",
    ]
    closers = [
        "Several of the people interviewed asked not to be named for their safety. Their accounts were "
        "compared with satellite images and with statements made by both governments.",
        "The findings were shared with the authorities concerned before publication; a response, where "
        "one was received, is summarised at the end of this page.",
        "Readers who hold further information are asked to contact the authors. Corrections are listed "
        "at the foot of the page with the date on which they were made.",
    ]
    return f"{openers[pick % 3]}\n\n{closers[(pick // 3) % 3]}"


def render(page: dict[str, Any], site: str) -> bytes:
    paragraphs = (page.get("text") or made_up_text(page, site)).strip().split("\n\n")
    body = "".join(f"<p>{html.escape(' '.join(p.split()))}</p>\n" for p in paragraphs)
    title = html.escape(page["title"])
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title} | {html.escape(site)}</title></head>\n<body>\n"
        f"<header><a href=\"/\">{html.escape(site)}</a> <nav>News · Reports · About</nav></header>\n"
        f"<main><article><h1>{title}</h1>\n{body}</article></main>\n"
        "<footer>A miniature stand-in served by archiver's tutorial web (tutorial/web.py); "
        "the text is made up.</footer>\n</body></html>\n"
    ).encode()


def error_page(status: int, challenge: bool) -> bytes:
    if challenge:
        return (b"<!doctype html><html><head><title>Just a moment...</title></head><body>"
                b"<h1>Checking your browser before accessing the site.</h1>"
                b"<p>This process is automatic. Your browser will redirect to your requested content "
                b"shortly. Please allow up to 5 seconds.</p></body></html>\n")
    words = http.HTTPStatus(status).phrase
    return (f"<!doctype html><html><head><title>{status} {words}</title></head><body>"
            f"<h1>{status} {words}</h1><p>The page you asked for is not here. "
            "Try the search box or the front page.</p></body></html>\n").encode()


def make_handler(folder: Path, scheme: str) -> type[http.server.BaseHTTPRequestHandler]:
    sites, pages = load_web()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "tutorial-web"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            host = (self.headers.get("Host") or "").split(":")[0].lower()
            page = pages.get(f"{scheme}://{host}{self.path}")
            if page is not None and day_of(folder) >= 2 and page.get("day2"):
                page = {**page, **page["day2"]}
            site = sites.get(host, host)
            if page is None:
                self.answer(404, error_page(404, False))
            elif page.get("redirect"):
                self.answer(301, b"", {"Location": page["redirect"]})
            elif page.get("status"):
                headers = {"cf-mitigated": "challenge"} if page.get("challenge") else {}
                if page["status"] == 429:
                    headers["Retry-After"] = "1"
                self.answer(int(page["status"]), error_page(int(page["status"]), bool(page.get("challenge"))),
                            headers)
            else:
                self.answer(200, render(page, site))

        def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


def make_certificates(state: Path, hosts: list[str]) -> tuple[Path, Path, Path]:
    """A throw-away CA and one certificate for every host, made with openssl; reused once made."""
    ca, ca_key, cert, key = (state / n for n in ("ca.pem", "ca.key", "cert.pem", "cert.key"))
    names = ",".join(f"DNS:{h}" for h in sorted(hosts))
    stamp = state / "cert.hosts"
    if cert.exists() and stamp.exists() and stamp.read_text() == names:
        return ca, cert, key

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
            "-days", "3650", "-subj", "/CN=archiver tutorial web CA (throw-away)",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    csr = state / "cert.csr"
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
            "-subj", "/CN=archiver tutorial web")
    ext = state / "cert.ext"
    ext.write_text(f"subjectAltName={names}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(cert), "-days", "3650", "-extfile", str(ext))
    stamp.write_text(names)
    return ca, cert, key


def config_text(hosts: dict[str, set[str]], https_port: int, http_port: int, refused_port: int) -> str:
    """FOLDER/archiver.toml: every host of the web to this server, settings for a local web."""
    _, pages = load_web()
    refused = {urlsplit(url).hostname for url, page in pages.items() if page.get("refuse")}
    entries = []
    for host in sorted(hosts):
        for scheme in sorted(hosts[host]):
            port = 443 if scheme == "https" else 80
            listen = refused_port if host in refused else (https_port if scheme == "https" else http_port)
            entries.append(f'  "{host}:{port}:127.0.0.1:{listen}",')
    return "\n".join([
        "# Written by tutorial/web.py for the tutorial web on loopback; delete it to archive the real web.",
        "[archiver]",
        "# every host the sample paper cites, sent to the tutorial web (archiver's resolver override)",
        "resolve = [", *entries, "]",
        "# archiver refuses loopback addresses unless told (docs/addresses.md)",
        'allow = ["127.0.0.1/32"]',
        "# no reachability probe of the real internet: the tutorial runs offline",
        "reachability = []",
        "# a local web can take it faster than the real sites, whose default pause is 1 s",
        "per_host_delay = 0.1",
        "backoff = 0.2",
        "# plain HTTP captures (no Chromium needed)",
        'capture = "http"',
        "",
    ])


def serve(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / STATE
    state.mkdir(exist_ok=True)
    _, pages = load_web()
    hosts: dict[str, set[str]] = {}
    for url in pages:
        parts = urlsplit(url)
        hosts.setdefault(parts.hostname or "", set()).add(parts.scheme)
    ca, cert, key = make_certificates(state, list(hosts))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    https = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(folder, "https"))
    https.socket = context.wrap_socket(https.socket, server_side=True)
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(folder, "http"))
    https.daemon_threads = plain.daemon_threads = True
    # A socket bound but never listening: connecting to it is refused, like a site that is gone.
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    (folder / "archiver.toml").write_text(
        config_text(hosts, https.server_address[1], plain.server_address[1], refused.getsockname()[1]))
    (folder / "tutorial-ca.pem").write_bytes(ca.read_bytes())
    if not (state / "day").exists():
        (state / "day").write_text("1\n")
    for server in (https, plain):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    (state / "pid").write_text(f"{os.getpid()}\n")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"tutorial web: https on 127.0.0.1:{https.server_address[1]}, http on 127.0.0.1:"
          f"{plain.server_address[1]}; {len(pages)} pages on {len(hosts)} hosts; day {day_of(folder)}", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        (state / "pid").unlink(missing_ok=True)


def start(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STATE).mkdir(exist_ok=True)
    stop(folder, quiet=True)
    (folder / STATE / "day").write_text("1\n")
    log = open(folder / STATE / "log", "w")  # noqa: SIM115 - the child keeps it
    child = subprocess.Popen([sys.executable, __file__, "serve", str(folder)], stdout=log, stderr=log,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    pid_file = folder / STATE / "pid"
    for _ in range(300):
        if pid_file.exists() and child.poll() is None:
            break
        if child.poll() is not None:
            sys.exit(f"tutorial web did not start:\n{(folder / STATE / 'log').read_text()}")
        time.sleep(0.05)
    print((folder / STATE / "log").read_text().strip())
    print(f"wrote {folder / 'archiver.toml'} and {folder / 'tutorial-ca.pem'}")


def stop(folder: Path, quiet: bool = False) -> None:
    pid_file = folder / STATE / "pid"
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        if not quiet:
            print("tutorial web: not running")
        return
    for _ in range(100):
        if not pid_file.exists():
            break
        time.sleep(0.05)
    if not quiet:
        print("tutorial web: stopped")


def main(argv: list[str]) -> None:
    usage = "usage: python tutorial/web.py start|stop|serve FOLDER | python tutorial/web.py day N FOLDER"
    if len(argv) == 3 and argv[0] == "day" and argv[1].isdigit():
        folder = Path(argv[2])
        (folder / STATE).mkdir(parents=True, exist_ok=True)
        (folder / STATE / "day").write_text(f"{int(argv[1])}\n")
        print(f"tutorial web: day {int(argv[1])}")
    elif len(argv) == 2 and argv[0] in ("start", "stop", "serve"):
        {"start": start, "stop": stop, "serve": serve}[argv[0]](Path(argv[1]))
    else:
        sys.exit(usage)


if __name__ == "__main__":
    main(sys.argv[1:])
