#!/usr/bin/env python3
"""Politeness-bound bench for `archiver copies`.

Three fake Memento archives on loopback, under the real host names of the Internet Archive, Arquivo.pt
and the UK Web Archive (archiver's `resolve` setting sends them to 127.0.0.1: no root, no /etc/hosts).
Each answers as pywb does in the parts archiver reads: a link-format TimeMap at
`/<prefix>/timemap/link/<url>` (404 when it holds nothing), raw mementos at `/<prefix>/<14 digits>id_/<url>`
with `Memento-Datetime` and the archived status and bytes; every response after a --latency sleep. The
archives hold different things: the Internet Archive every URL (some nearest mementos archived 404s or
soft-404 pages, so the judge moves on to the next one), Arquivo.pt two thirds, the UK Web Archive a third.

One `archiver copies MANIFEST --json` over --citations citations (fresh storage each round, so nothing
is cached) is timed with the archiver's default politeness unless --per-host / --per-host-delay say
otherwise. The server logs every request, so the bound counts what archiver really sent: an archive host
that got n requests needs at least (n x latency + (n - 1) x delay) / per_host seconds; the slowest
archive is the lower bound of the run. Target (issue 16): wall time <= 1.3 x that bound.
Stdlib only. See bench/README.md.
"""
import argparse
import datetime as dt
import json
import multiprocessing
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

# name, host, path prefix, which citations it holds (by index)
ARCHIVES = (
    ("internet_archive", "web.archive.org", "/web", lambda i: True),
    ("arquivo_pt", "arquivo.pt", "/wayback", lambda i: i % 3 != 0),
    ("uk_web_archive", "www.webarchive.org.uk", "/wayback/archive", lambda i: i % 3 == 0),
)
SOFT_404 = (b"<!doctype html><html><head><title>Page not found</title></head><body><h1>Page not found</h1>"
            b"<p>Sorry, the page you are looking for does not exist.</p></body></html>\n")
WORDS = ("archive citation source snapshot paper journal reference dataset method result figure table "
         "review author editor volume issue page the of and to in is that for with as on by this we are "
         "model analysis data study evidence network protocol record council budget river station").split()


def cited_url(i):
    return f"http://site{i % 50:02d}.example.org/articles/{i}.html"


def accessed(i):
    return dt.date(2018, 1, 1) + dt.timedelta(days=(i * 37) % 2000)


def stamp(day, seconds=0):
    when = dt.datetime(day.year, day.month, day.day) + dt.timedelta(seconds=seconds)
    return when.strftime("%Y%m%d%H%M%S")


def article(url, when):
    r = random.Random(f"{url}#{when}")
    title = " ".join(r.choices(WORDS, k=6)).capitalize()
    paras = "".join("<p>" + " ".join(r.choices(WORDS, k=r.randint(40, 120))) + ".</p>\n"
                    for _ in range(r.randint(4, 20)))
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>"
            f"<body><main><article><h1>{title}</h1>\n{paras}</article></main></body></html>\n").encode()


def holdings(n):
    """archive name -> {url: [(14-digit stamp, status, body)]}, deterministic for n."""
    held = {name: {} for name, *_ in ARCHIVES}
    for i in range(n):
        url, day = cited_url(i), accessed(i)
        for k, (name, _, _, holds) in enumerate(ARCHIVES):
            if not holds(i):
                continue
            shifts = [3 + k * 40, 400 + 90 * k] if name != "internet_archive" else [2, 200, 900]
            mementos = []
            for j, days in enumerate(shifts):
                when = stamp(day + dt.timedelta(days=days), seconds=3600 * (i % 24))
                status, body = 200, None
                if name == "internet_archive" and j == 0 and i % 20 == 0:
                    status = 404  # the nearest memento is an archived 404
                elif name == "internet_archive" and j == 0 and i % 25 == 0:
                    body = SOFT_404  # ... or an archived soft-404 page
                mementos.append((when, status, body))
            held[name][url] = mementos
    return held


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    latency = 0.0
    held = {}  # host -> (prefix, {url: mementos})
    log = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        start = time.monotonic()
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        prefix, held = self.held.get(host, ("", {}))
        path = self.path
        time.sleep(self.latency)
        if path.startswith("/cdx/search/cdx?"):
            self.cdx(parse_qs(urlsplit(path).query), held)
        elif path.startswith(prefix + "/timemap/link/"):
            url = path[len(prefix + "/timemap/link/"):]
            self.timemap(host, prefix, url, held.get(url))
        elif path.startswith(prefix + "/") and path[len(prefix) + 15:len(prefix) + 19] == "id_/":
            when, url = path[len(prefix) + 1:len(prefix) + 15], path[len(prefix) + 19:]
            self.memento(url, when, held.get(url, []))
        else:
            self.send(404, b"not found\n", "text/plain")
        self.log.append((host, start, time.monotonic()))

    def timemap(self, host, prefix, url, mementos):
        if not mementos:
            return self.send(404, b"", "text/plain")
        base = f"http://{host}{prefix}"
        lines = [f'<{url}>; rel="original"', f'<{base}/timemap/link/{url}>; rel="self"; type="application/link-format"',
                 f'<{base}/{url}>; rel="timegate"']
        for when, _, _ in mementos:
            http_date = dt.datetime.strptime(when, "%Y%m%d%H%M%S").strftime("%a, %d %b %Y %H:%M:%S GMT")
            lines.append(f'<{base}/{when}/{url}>; rel="memento"; datetime="{http_date}"')
        self.send(200, (",\n".join(lines) + "\n").encode(), "application/link-format")

    def cdx(self, q, held):
        """The Internet Archive's CDX API as archiver asks it: 200 captures, nearest `closest` first."""
        url, closest, limit = q["url"][0], q.get("closest", [""])[0], int(q.get("limit", ["0"])[0] or 0)
        target = dt.datetime.strptime(closest, "%Y%m%d%H%M%S") if closest else dt.datetime.now()
        rows = [m for m in held.get(url, []) if m[1] == 200]
        rows.sort(key=lambda m: abs((dt.datetime.strptime(m[0], "%Y%m%d%H%M%S") - target).total_seconds()))
        rows = rows[:limit] if limit else rows
        body = [["timestamp", "original", "statuscode"]] + [[m[0], url, "200"] for m in rows] if rows else []
        self.send(200, json.dumps(body).encode(), "application/json")

    def memento(self, url, when, mementos):
        found = next((m for m in mementos if m[0] == when), None)
        if found is None:
            return self.send(404, b"no such memento\n", "text/plain")
        _, status, body = found
        http_date = dt.datetime.strptime(when, "%Y%m%d%H%M%S").strftime("%a, %d %b %Y %H:%M:%S GMT")
        body = body or (article(url, when) if status == 200 else SOFT_404)
        self.send(status, body, "text/html; charset=utf-8", {"Memento-Datetime": http_date,
                                                             "Link": f'<{url}>; rel="original"'})

    def send(self, status, body, ctype, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


def serve(conn, n, latency):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    held = holdings(n)
    Handler.held = {host: (prefix, held[name]) for name, host, prefix, _ in ARCHIVES}
    Handler.latency = latency
    ThreadingHTTPServer.daemon_threads = True
    ports = {}
    for _, host, _, _ in ARCHIVES:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        ports[host] = httpd.server_address[1]
    conn.send(ports)
    while True:
        cmd = conn.recv()
        if cmd == "clear":
            Handler.log.clear()
            conn.send(None)
        elif cmd == "log":
            conn.send(list(Handler.log))
        else:
            return


def write_inputs(root, n, ports, protocol="timemap"):
    manifest = root / "paper.yaml"
    lines = ["title: copies bench", "citations:"]
    lines += [f'  - {{url: "{cited_url(i)}", id: c{i}, accessed: {accessed(i).isoformat()}}}' for i in range(n)]
    manifest.write_text("\n".join(lines) + "\n")
    resolve = ", ".join(f'"{host}:80:127.0.0.1:{ports[host]}"' for _, host, _, _ in ARCHIVES)
    def entry(name, host, prefix):
        if name == "internet_archive" and protocol == "cdx":  # the default list's: CDX first
            return (f'  {{name = "{name}", cdx = "http://{host}/cdx/search/cdx", timemap = "http://{host}{prefix}'
                    f'/timemap/link/{{url}}", timegate = "http://{host}{prefix}/{{url}}", wayback = true}},')
        return f'  {{name = "{name}", timemap = "http://{host}{prefix}/timemap/link/{{url}}", wayback = true}},'
    archives = "\n".join(entry(name, host, prefix) for name, host, prefix, _ in ARCHIVES)
    config = root / "archiver.toml"
    config.write_text(f"resolve = [{resolve}]\nreachability = []\narchives = [\n{archives}\n]\n")
    return manifest, config


def expected_copies(n):
    """Every citation has a copy (the Internet Archive holds all, each with a good memento)."""
    return n


def one_round(args, conn, root, manifest, config):
    storage = root / "storage"
    shutil.rmtree(storage, ignore_errors=True)
    conn.send("clear")
    conn.recv()
    cmd = [args.archiver, "--storage", str(storage), "copies", str(manifest), "--json"]
    if args.per_host is not None:
        cmd += ["--per-host", str(args.per_host)]
    if args.per_host_delay is not None:
        cmd += ["--per-host-delay", str(args.per_host_delay)]
    env = {**os.environ, "ARCHIVER_CONFIG": str(config), "ARCHIVER_ALLOW_PRIVATE": "1"}
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate(timeout=args.timeout)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    conn.send("log")
    log = conn.recv()
    if proc.returncode not in (0, 1):
        print(err.decode(errors="replace"), file=sys.stderr)
        raise SystemExit(f"archiver exited {proc.returncode}")
    rows = json.loads(out)
    found = sum(1 for r in rows if r["copy"])
    per_host = Counter(host for host, _, _ in log)
    # where the time over the bound goes: start-up (process start to first request), the gaps between
    # one response and the next request to the busiest host (fetcher, judging, GIL), and the tail
    # (last response to exit: the SQLite writes, the JSON)
    busiest = max(per_host, key=per_host.get)
    mine = sorted((s, e) for host, s, e in log if host == busiest)
    gaps = [b[0] - a[1] for a, b in zip(mine, mine[1:], strict=False)]
    split = {"startup": min(s for _, s, _ in log) - started, "tail": started + wall - max(e for _, _, e in log),
             "gap_ms": 1000 * statistics.mean(gaps) if gaps else 0.0}
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"wall": wall, "load": load, "cpu": cpu, "split": split, "found": found, "requests": dict(per_host),
            "stderr": err.decode(errors="replace").strip().splitlines()[-1:]}


def bound(requests, latency, delay, per_host):
    return max((n * latency + max(n - 1, 0) * delay) / per_host for n in requests.values())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--citations", type=int, default=1000)
    p.add_argument("--latency", type=float, default=0.05)
    p.add_argument("--per-host", type=int, default=None, help="default: archiver's (1)")
    p.add_argument("--per-host-delay", type=float, default=None, help="default: archiver's (1.0 s)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ia-protocol", choices=("cdx", "timemap"), default="cdx",
                   help="how the Internet Archive is asked: its CDX API first (the default list's), or its TimeMap")
    p.add_argument("--timeout", type=float, default=7200)
    p.add_argument("--archiver", default=shutil.which("archiver") or "archiver")
    args = p.parse_args()
    per_host = args.per_host if args.per_host is not None else 1
    delay = args.per_host_delay if args.per_host_delay is not None else 1.0
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(child, args.citations, args.latency), daemon=True)
    server.start()
    ports = parent.recv()
    results = []
    with tempfile.TemporaryDirectory(prefix="copies-bench-") as tmp:
        root = Path(tmp)
        manifest, config = write_inputs(root, args.citations, ports, args.ia_protocol)
        for k in range(args.rounds):
            r = one_round(args, parent, root, manifest, config)
            r["bound"] = bound(r["requests"], args.latency, delay, per_host)
            r["ratio"] = r["wall"] / r["bound"]
            results.append(r)
            print(f"round {k + 1}: wall {r['wall']:.1f} s, bound {r['bound']:.1f} s, ratio {r['ratio']:.3f}, "
                  f"load {r['load']:.2f}, CPU {r['cpu']:.1f} s, copies {r['found']}/{args.citations}, "
                  f"requests {r['requests']}, start-up {r['split']['startup']:.2f} s, mean gap"
                  f" {r['split']['gap_ms']:.1f} ms, tail {r['split']['tail']:.2f} s, "
                  f"{' '.join(r['stderr'])}", flush=True)
            if r["found"] != expected_copies(args.citations):
                print(f"  WARNING: {r['found']} copies found, {expected_copies(args.citations)} expected")
    parent.send("stop")
    server.join(5)
    ratios = [r["ratio"] for r in results]
    walls = [r["wall"] for r in results]
    print(f"\n| citations | latency | per_host | delay | wall s (median, range) | bound s | ratio median | ratio range"
          f" | load |\n|---:|---:|---:|---:|---|---:|---:|---|---|\n| {args.citations} | {args.latency * 1000:.0f} ms"
          f" | {per_host} | {delay:g} s | {statistics.median(walls):.1f} ({min(walls):.1f}-{max(walls):.1f})"
          f" | {statistics.median(r['bound'] for r in results):.1f} | **{statistics.median(ratios):.3f}**"
          f" | {min(ratios):.3f}-{max(ratios):.3f} | {min(r['load'] for r in results):.1f}-"
          f"{max(r['load'] for r in results):.1f} |")


if __name__ == "__main__":
    main()
