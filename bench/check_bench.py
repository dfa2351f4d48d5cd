#!/usr/bin/env python3
"""Politeness-bound bench for `archiver check`.

Serves --hosts x --per-host small article pages (default 100 x 100 = 10,000 URLs) on loopback host
names cNN.checkbench.archiver.test, snapshots them once (untimed: the baselines), then times one
`archiver check` over the same manifest. With one request in flight per host and --delay seconds
between the end of one request and the start of the next, a host with n requests needs at least
(n - 1) x delay + the sum of its service times; the slowest host is the lower bound of the run.
Target (the issue): check wall time <= 1.2 x that bound. The server logs every request, so the bound
counts what the checker really sent (redirect hops, retries of 500s, soft-404 sibling probes).
Stdlib + requests only; needs root (adds the host names to /etc/hosts). See bench/README.md.
"""
import argparse
import gzip
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

DOMAIN = "checkbench.archiver.test"
WORDS = ("archive citation source snapshot paper journal reference dataset method result figure table "
         "appendix review author editor volume issue page the of and to in is that for with as on by "
         "this we are be from at an which model analysis data study evidence network protocol crawler "
         "record council budget river station museum school climate harbour election report city "
         "survey water energy transport hospital court festival library market farmer").split()
SECTIONS = ("World", "Politics", "Science", "Culture", "Sport", "Opinion", "Local", "Business")
# Outcomes per host (they sum to 100, shuffled per host): ok pages, errors, a moved page, a failing
# server (retried by the fetcher), and pages whose content changes between snapshot and check.
MIX = {"ok": 82, "404": 4, "410": 2, "301": 4, "500": 2, "drift-minor": 3, "drift-major": 3}


# --- pages -----------------------------------------------------------------------------------------
def sentence(r, lo=8, hi=24):
    words = r.choices(WORDS, k=r.randint(lo, hi))
    return " ".join(words).capitalize() + "."


def article(host, path, seed, extra=""):
    """A 3-15 KB news-style article page, deterministic for (host, path, seed)."""
    r = random.Random(f"{host}{path}#{seed}")
    title = " ".join(r.choices(WORDS, k=r.randint(4, 9))).capitalize()
    site = host.split(".")[0].upper()
    nav = "".join(f'<li><a href="/section/{s.lower()}/">{s}</a></li>' for s in SECTIONS)
    head = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title} | {site} News'
            f'</title><link rel="stylesheet" href="/static/site.css?v=3"><script src="/static/app.js" defer>'
            f'</script></head>\n<body><header><a class="logo" href="/">{site} News</a><nav><ul>{nav}</ul>'
            f'</nav></header>\n<main><article><h1>{title}</h1>\n<p class="byline">By {r.choice(WORDS).title()} '
            f'{r.choice(WORDS).title()}, {2015 + r.randrange(10)}-{1 + r.randrange(12):02d}-'
            f'{1 + r.randrange(28):02d}</p>\n')
    related = "".join(f'<li><a href="/articles/{2015 + r.randrange(10)}/{"-".join(r.choices(WORDS, k=4))}'
                      f'-{r.randrange(100)}.html">{sentence(r, 4, 8)}</a></li>' for _ in range(5))
    tail = (f'{extra}</article></main>\n<aside><h2>Related</h2><ul>{related}</ul></aside>\n<footer><p>&copy; '
            f'{site} News. <a href="/about/">About</a> <a href="/privacy/">Privacy</a> <a href="/contact/">'
            f'Contact</a></p></footer>\n</body></html>\n')
    target = r.randint(3 * 1024, 14 * 1024) - len(head) - len(tail)
    paras = []
    size = 0
    while size < target or len(paras) < 3:
        p = "<p>" + " ".join(sentence(r) for _ in range(r.randint(2, 6))) + "</p>\n"
        paras.append(p)
        size += len(p)
    return (head + "".join(paras) + tail).encode()


def error_page(code, reason):
    return (f"<html><head><title>{code} {reason}</title></head><body><center><h1>{code} {reason}</h1>"
            f"</center><hr><center>nginx</center></body></html>\n").encode()


def build_site(hosts, per_host):
    """(routes, urls): routes[(host, path)] = (kind, payload) per epoch-independent answer; drift
    pages hold (epoch 0 body, epoch 1 body). urls: the manifest's URLs as (host, path)."""
    routes, urls = {}, []
    for host in hosts:
        r = random.Random(host)
        kinds = [k for k, n in MIX.items() for _ in range(n)]
        kinds = kinds * (per_host // len(kinds) + 1)
        r.shuffle(kinds)
        kinds = kinds[:per_host]
        for k, kind in enumerate(kinds):
            slug = "-".join(r.choices(WORDS, k=r.randint(3, 5)))
            path = f"/articles/{2015 + k % 10}/{slug}-{k}.html"
            urls.append((host, path))
            if kind == "ok":
                routes[host, path] = ("ok", article(host, path, 0))
            elif kind == "301":
                moved = f"/articles/moved/{slug}-{k}.html"
                routes[host, path] = ("301", moved)
                routes[host, moved] = ("ok", article(host, moved, 0))
            elif kind == "drift-minor":  # an update paragraph appended: minor drift
                extra = f"<p><strong>Update:</strong> {sentence(r)} {sentence(r)}</p>\n"
                routes[host, path] = ("drift", (article(host, path, 0), article(host, path, 0, extra)))
            elif kind == "drift-major":  # the article replaced: major drift
                routes[host, path] = ("drift", (article(host, path, 0), article(host, path, 1)))
            else:
                routes[host, path] = (kind, None)
    return routes, urls


# --- server: a child process, so it never competes for the client's GIL ----------------------------
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response is length-framed
    timeout = 120
    disable_nagle_algorithm = True  # TCP_NODELAY, as production servers set (see snapshot_bench.py)
    routes, gz, log, latency, epoch = {}, {}, [], 0.0, [0]

    def log_message(self, *args):
        pass

    def do_GET(self):
        start = time.monotonic()
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        kind, payload = self.routes.get((host, self.path), ("404", None))
        if self.latency:
            time.sleep(self.latency)  # simulated server think time + network
        status = {"ok": 200, "drift": 200, "404": 404, "410": 410, "301": 301, "500": 500}[kind]
        if kind in ("ok", "drift"):
            body = payload if kind == "ok" else payload[min(self.epoch[0], 1)]
            self.send_body(200, body, True)
        elif kind == "301":
            self.send_response(301)
            self.send_header("Location", payload)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            reason = {404: "Not Found", 410: "Gone", 500: "Internal Server Error"}[status]
            self.send_body(status, error_page(status, reason), False)
        self.log.append((host, self.path, status, start, time.monotonic()))

    def send_body(self, status, body, may_gzip):
        gzipped = may_gzip and "gzip" in (self.headers.get("Accept-Encoding") or "")
        if gzipped:
            key = hash(body)  # pages are compressed once, on first use
            if key not in self.gz:
                self.gz[key] = gzip.compress(body, 6, mtime=0)
            body = self.gz[key]
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "max-age=300")
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(conn, hosts, per_host, latency):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    Handler.routes, urls = build_site(hosts, per_host)
    Handler.latency = latency
    for kind, payload in Handler.routes.values():  # compress up front, not during the timed run
        for body in ([payload] if kind == "ok" else payload if kind == "drift" else []):
            Handler.gz[hash(body)] = gzip.compress(body, 6, mtime=0)
    ThreadingHTTPServer.request_queue_size = 512
    ThreadingHTTPServer.daemon_threads = True
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    conn.send((httpd.server_address[1], urls))
    while True:  # control channel: ("clear"|"log"|"epoch", arg)
        try:
            cmd, arg = conn.recv()
        except EOFError:
            return
        if cmd == "clear":
            Handler.log.clear()
            conn.send(len(Handler.log))
        elif cmd == "log":
            conn.send(list(Handler.log))
        elif cmd == "epoch":
            Handler.epoch[0] = arg
            conn.send(arg)
        elif cmd == "cpu":
            t = os.times()
            conn.send(t.user + t.system)


# --- client side -----------------------------------------------------------------------------------
def ensure_hosts(names):
    text = Path("/etc/hosts").read_text()
    known = {w for line in text.splitlines() for w in line.split("#")[0].split()[1:]}
    missing = [n for n in names if n not in known]
    if not missing:
        return
    try:
        with open("/etc/hosts", "a") as f:
            f.write(("" if text.endswith("\n") else "\n") + "# archiver check bench\n"
                    + "".join(f"127.0.0.1 {n}\n" for n in missing))
    except OSError as e:
        sys.exit(f"check_bench: cannot add bench host names to /etc/hosts ({e}); run as root")


def write_manifest(path, urls):
    lines = ["title: check bench", "citations:"]
    for i, url in enumerate(urls):
        lines += [f"  - id: c{i:05d}", f'    url: "{url}"']
    path.write_text("\n".join(lines) + "\n")


def run_timed(cmd, timeout, env=None):
    """(rc, wall s, monotonic start, monotonic end, peak RSS MB, CPU s, stderr) of one child."""
    err = tempfile.TemporaryFile()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
    timer = threading.Timer(timeout, os.kill, (proc.pid, signal.SIGKILL))
    timer.daemon = True
    timer.start()
    try:
        _, status, ru = os.wait4(proc.pid, 0)  # this child's own rusage
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
    t1 = time.monotonic()
    proc.returncode = rc = os.waitstatus_to_exitcode(status)
    err.seek(0)
    return rc, t1 - t0, t0, t1, ru.ru_maxrss / 1024, ru.ru_utime + ru.ru_stime, err.read().decode(errors="replace")


def analyse(log, delay):
    """Per-host bound and the idle time beyond the politeness delay, from the server's log."""
    by_host = defaultdict(list)
    for host, _path, _status, start, end in log:
        by_host[host].append((start, end))
    bound, worst, gaps, excess = 0.0, None, [], {}
    for host, reqs in by_host.items():
        reqs.sort()
        b = (len(reqs) - 1) * delay + sum(e - s for s, e in reqs)
        if b > bound:
            bound, worst = b, host
        g = [s2 - e1 for (_, e1), (s2, _) in zip(reqs, reqs[1:], strict=False)]
        gaps += g
        excess[host] = sum(x - delay for x in g)
    return bound, worst, by_host, gaps, excess


def pct(values, q):
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def report_run(name, log, delay, wall, t0, t1, keep=None):
    if keep is not None:  # host, path, status, start, end (time.monotonic of the server)
        keep.write_text("".join("\t".join(map(str, row)) + "\n" for row in log))
    bound, worst, by_host, gaps, excess = analyse(log, delay)
    first = min(s for *_, s, _ in log)
    last = max(e for *_, e in log)
    print(f"  {name}: elapsed {wall:.2f} s, bound {bound:.2f} s (host {worst.split('.')[0]}, "
          f"{len(by_host[worst])} requests), ratio {wall / bound:.3f}, {len(log)} requests")
    print(f"    startup (process start -> first request) {first - t0:.2f} s; requests span "
          f"{last - first:.2f} s; tail (last response -> exit) {t1 - last:.2f} s")
    print(f"    gaps between a host's requests: median {statistics.median(gaps):.3f} s, p90 "
          f"{pct(gaps, .9):.3f}, p99 {pct(gaps, .99):.3f}, max {max(gaps):.3f} (delay {delay:g}); "
          f"idle beyond the delay per host: mean {statistics.mean(excess.values()):.2f} s, max "
          f"{max(excess.values()):.2f} s")
    service = [e - s for *_, s, e in log]
    print(f"    service time per request: median {statistics.median(service) * 1000:.1f} ms, "
          f"p99 {pct(service, .99) * 1000:.1f} ms; {len(log) / (last - first):.0f} requests/s achieved, "
          f"the delay allows {len(by_host) / (delay + statistics.mean(service)):.0f}/s")
    return bound


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--per-host", type=int, default=100, help="URLs per host")
    ap.add_argument("--delay", type=float, default=0.5, help="--per-host-delay, seconds")
    ap.add_argument("--concurrency", type=int, default=128, help=">= hosts: one request in flight per host")
    ap.add_argument("--latency", type=float, default=0.02, help="server think time per response, seconds")
    ap.add_argument("--timeout", type=float, default=1800, help="per archiver run, seconds")
    ap.add_argument("--archiver", help="archiver executable (default: next to python)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (storage, manifest, server logs *_log.tsv)")
    a = ap.parse_args()

    width = max(2, len(str(a.hosts)))
    hosts = [f"c{k:0{width}d}.{DOMAIN}" for k in range(1, a.hosts + 1)]
    ensure_hosts(hosts)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    venv_exe = Path(sys.executable).parent / "archiver"
    archiver = a.archiver or (str(venv_exe) if venv_exe.exists() else shutil.which("archiver"))
    if archiver is None:
        sys.exit("check_bench: archiver console script not found")

    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve, args=(child, hosts, a.per_host, a.latency), daemon=True)
    server.start()
    work = Path(tempfile.mkdtemp(prefix="archiver-checkbench-"))

    def ask(cmd, arg=None):
        parent.send((cmd, arg))
        return parent.recv()

    try:
        if not parent.poll(300):
            sys.exit("check_bench: server did not start")
        port, site = parent.recv()
        # Interleave hosts, as a paper's references would.
        order = sorted(range(len(site)), key=lambda i: (i % a.per_host, i // a.per_host))
        urls = [f"http://{site[i][0]}:{port}{site[i][1]}" for i in order]
        manifest = work / "manifest.yaml"
        write_manifest(manifest, urls)
        storage = work / "storage"
        r = requests.get(urls[0], timeout=10)  # smoke test: names resolve, server answers
        print(f"server pid {server.pid} port {port}: {len(urls)} URLs on {a.hosts} hosts, mix "
              f"{', '.join(f'{k} {v}%' for k, v in MIX.items())}, latency {a.latency * 1000:.0f} ms; "
              f"first URL -> {r.status_code}; work dir {work}; {os.cpu_count()} CPUs")
        # The bench servers are on loopback, which the address guard refuses unless opened.
        common = ["--per-host-delay", str(a.delay), "--concurrency", str(a.concurrency), "--quiet", "--allow-private"]
        env = dict(os.environ, PYTHONUNBUFFERED="1")

        print(f"[1] archiver snapshot (baselines), delay {a.delay:g} s, concurrency {a.concurrency}")
        ask("clear")
        rc, wall, t0, t1, rss, cpu, err = run_timed(
            [archiver, "--storage", str(storage), "snapshot", str(manifest), *common], a.timeout, env)
        if rc not in (0, 1):
            sys.exit(f"snapshot failed (exit {rc}):\n{err[-3000:]}")
        snap_log = ask("log")
        keep = work / "snapshot_log.tsv" if a.keep else None
        snap = (wall, report_run("snapshot", snap_log, a.delay, wall, t0, t1, keep), len(snap_log), rss)
        print(f"    exit {rc}, peak RSS {rss:.0f} MB, CPU {cpu:.1f} s")

        ask("epoch", 1)  # the drift pages change now
        ask("clear")
        server_cpu = ask("cpu")
        print(f"[2] archiver check (TIMED), delay {a.delay:g} s, concurrency {a.concurrency}")
        rc, wall, t0, t1, rss, cpu, err = run_timed(
            [archiver, "--storage", str(storage), "check", str(manifest), *common], a.timeout, env)
        server_cpu = ask("cpu") - server_cpu
        log = ask("log")
        if rc not in (0, 1) or not log:
            sys.exit(f"check failed (exit {rc}):\n{err[-3000:]}")
        bound = report_run("check", log, a.delay, wall, t0, t1, work / "check_log.tsv" if a.keep else None)
        print(f"    exit {rc}, peak RSS {rss:.0f} MB, CPU {cpu:.1f} s ({cpu / wall:.2f} cores; the "
              f"server used {server_cpu:.1f} s)")

        db = storage / "archiver.db"
        db_size = sum(p.stat().st_size for p in storage.glob("archiver.db*"))
        with sqlite3.connect(db) as conn:
            run = conn.execute("SELECT MAX(run_id) FROM checks").fetchone()[0]
            statuses = Counter(dict(conn.execute(
                "SELECT status, COUNT(*) FROM checks WHERE run_id = ? GROUP BY status", (run,))))
            drift = Counter(dict(conn.execute(
                "SELECT COALESCE(drift_level, '-'), COUNT(*) FROM checks WHERE run_id = ? GROUP BY 1", (run,))))
        warc = sum(p.stat().st_size for p in storage.rglob("*.warc*") if p.is_file())
        known = {path for _, path in site}
        probes = sum(1 for _, path, *_ in log if path not in known and "/moved/" not in path)
        kinds = Counter(status for *_, status, _s, _e in log)
        print(f"    check rows: {sum(statuses.values())} ({', '.join(f'{k} {v}' for k, v in statuses.most_common())});"
              f" drift: {', '.join(f'{k} {v}' for k, v in drift.most_common())}")
        print(f"    requests by status: {', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}; "
              f"sibling probes {probes}")

        ratio = wall / bound
        print(f"\nURLs {len(urls)}, hosts {a.hosts}, delay {a.delay:g} s, concurrency {a.concurrency}, "
              f"{os.cpu_count()} CPUs")
        print(f"check: elapsed {wall:.2f} s, bound {bound:.2f} s, ratio {ratio:.3f} (target <= 1.2: "
              f"{'met' if ratio <= 1.2 else 'MISSED'}), {len(log)} requests, peak RSS {rss:.0f} MB, "
              f"database {db_size / 1e6:.1f} MB, WARC {warc / 1e6:.1f} MB")
        print(f"snapshot (informative): elapsed {snap[0]:.2f} s, bound {snap[1]:.2f} s, ratio "
              f"{snap[0] / snap[1]:.3f}, {snap[2]} requests")
        print("\n| run | URLs | hosts | delay s | elapsed s | bound s | ratio | requests | peak RSS MB | DB MB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, (w, b, n, m) in (("snapshot", snap), ("check", (wall, bound, len(log), rss))):
            print(f"| {name} | {len(urls)} | {a.hosts} | {a.delay:g} | {w:.1f} | {b:.1f} | {w / b:.3f} | "
                  f"{n} | {m:.0f} | {db_size / 1e6:.1f} |")
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        parent.close()
        server.terminate()
        server.join(5)
        if server.is_alive():
            server.kill()
        if a.keep:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
