#!/usr/bin/env python3
"""Throughput / memory bench for browser capture (`archiver snapshot --capture browser`).

Serves --pages local JavaScript articles spread over --hosts host names (archiver's resolver
override, ARCHIVER_RESOLVE: no /etc/hosts, no root). Each page is what a JS news article looks
like to a plain GET: an HTML shell with a stylesheet and a script; the script fetch()es the
article's JSON and writes its text and one or two images into the page. The app script and the
stylesheet are shared by a host's pages (so later pages store revisits), the JSON and images are
per page.

For each --browser-pages N it runs the installed CLI
  archiver --storage DIR snapshot urls.txt --capture browser --browser-pages N
           --per-host-delay 0 --concurrency 16 --quiet
--rounds times, and prints wall time, pages/s and the peak memory of archiver plus every child
(the Playwright node driver and every Chromium process), sampled from /proc every 50 ms: the sum of
RSS (what the issue's target names; it counts pages Chromium's processes share once per process)
and the sum of PSS (shared pages split between their processes: the honest total). Start-up is the
same command on one page. Finally it checks what was stored: browser captures and screenshots in
the database.

`--http` instead times plain HTML articles (no browser needed) in --capture http and in the default
auto, to show what auto's "does this page need a browser?" test costs on pages that need none.
Stdlib only. See bench/README.md.
"""
import argparse
import functools
import json
import multiprocessing
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from struct import pack

DOMAIN = "jsbench.archiver.test"
WORDS = ("archive citation source snapshot paper journal reference dataset method result figure table "
         "appendix review author editor volume issue page the of and to in is that for with as on by "
         "this we are be from at an which model analysis data study evidence network protocol").split()
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


# --- the site: runs in a child process so it never competes with the sampler for the GIL -------------

@functools.lru_cache(maxsize=256)
def png(seed, w=320, h=180):
    """A small real PNG, different per seed (a gradient), so every image is its own payload."""
    rnd = random.Random(seed)
    r, g, b = rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)
    rows = b"".join(b"\x00" + b"".join(bytes(((r + x) % 256, (g + y) % 256, b)) for x in range(w))
                    for y in range(h))

    def chunk(kind, data):
        return pack(">I", len(data)) + kind + data + pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


APP_JS = b"""
(async function () {
  const id = document.getElementById('root').dataset.id;
  const r = await fetch('/api/article/' + id + '.json', {headers: {'Accept': 'application/json'}});
  const a = await r.json();
  const root = document.getElementById('root');
  const h = document.createElement('h1'); h.textContent = a.title; root.appendChild(h);
  for (const p of a.paragraphs) { const e = document.createElement('p'); e.textContent = p; root.appendChild(e); }
  for (const src of a.images) {
    const i = document.createElement('img'); i.src = src; i.width = 320; root.appendChild(i);
  }
})();
"""
CSS = (b"body{font:16px/1.5 serif;max-width:720px;margin:2em auto}h1{font-size:2em}"
       b"img{display:block;margin:1em 0}\n") * 20


def shell(i):
    return (f"<!doctype html><html><head><meta charset=utf-8><title>Article {i}</title>"
            f"<link rel=stylesheet href=/static/site.css><script defer src=/static/app.js></script></head>"
            f"<body><div id=root data-id={i}></div></body></html>").encode()


def article(i):
    rnd = random.Random(i)
    paragraphs = [" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(60, 140))) for _ in range(rnd.randint(4, 10))]
    images = [f"/img/{i}-{k}.png" for k in range(1 + i % 2)]
    return json.dumps({"title": f"Article {i}", "paragraphs": paragraphs, "images": images}).encode()


def plain(i):
    """A plain server-rendered article (the --http run): text in the HTML, a little inline script."""
    rnd = random.Random(i)
    body = "".join(f"<p>{' '.join(rnd.choice(WORDS) for _ in range(rnd.randint(60, 140)))}</p>"
                   for _ in range(rnd.randint(10, 60)))
    return (f"<!doctype html><html><head><title>Plain {i}</title><link rel=stylesheet href=/static/site.css>"
            f"<script>window.dataLayer=[];</script><script src=/static/analytics.js async></script></head>"
            f"<body><article><h1>Plain {i}</h1>{body}</article></body></html>").encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    latency = 0.0

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        try:
            if parts[0] == "p":
                body, ctype = shell(int(parts[1])), "text/html; charset=utf-8"
            elif parts[0] == "plain":
                body, ctype = plain(int(parts[1])), "text/html; charset=utf-8"
            elif path == "/static/app.js" or path == "/static/analytics.js":
                body, ctype = APP_JS, "application/javascript"
            elif path == "/static/site.css":
                body, ctype = CSS, "text/css"
            elif parts[:2] == ["api", "article"]:
                body, ctype = article(int(parts[2].split(".")[0])), "application/json"
            elif parts[0] == "img":
                body, ctype = png(parts[1]), "image/png"
            else:
                body, ctype = b"not found", "text/plain"
                self.send_response(404)
                self._send(body, ctype)
                return
        except (ValueError, IndexError):
            self.send_response(400)
            self._send(b"bad", "text/plain")
            return
        if self.latency:
            time.sleep(self.latency)
        self.send_response(200)
        self._send(body, ctype)

    def _send(self, body, ctype):
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600")
        self.end_headers()
        self.wfile.write(body)


def serve(conn, latency):
    Handler.latency = latency
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    conn.send(server.server_address[1])
    server.serve_forever()


# --- memory of a process tree, from /proc ---------------------------------------------------------------

def processes():
    """{parent pid: [child pids]} and {pid: CPU seconds so far} of every process, from /proc/*/stat."""
    kids, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        kids.setdefault(int(fields[1]), []).append(int(entry))
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    return kids, cpu


def kind_of(pid, root):
    """archiver, driver (Playwright's node), browser (Chromium's main process), or Chromium's --type=
    (renderer, zygote, gpu-process, utility: the network and storage services), crashpad."""
    if pid == root:
        return "archiver"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().rstrip(b"\0").split(b"\0")
    except OSError:
        return "gone"
    if argv == [b""]:  # a zombie: what it was is known from before
        return "gone"
    if len(argv) == 1:  # a process that renamed itself writes its arguments as one string
        argv = argv[0].split(b" ")
    exe = os.path.basename(argv[0].decode(errors="replace"))
    if "node" in exe:
        return "driver"
    if "crashpad" in exe:
        return "crashpad"
    for arg in argv:
        if arg.startswith(b"--type="):
            kind = arg[7:].decode(errors="replace")
            if kind == "utility":
                for a in argv:
                    if a.startswith(b"--utility-sub-type="):
                        return "utility:" + a.decode().rsplit(".", 1)[-1]
            return kind
    return "browser" if "chrom" in exe else exe


def tree(root, kids):
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


def rss(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class Sampler(threading.Thread):
    """Peak RSS sum (every 50 ms) and peak PSS sum (every 10th sample: smaps_rollup costs more) of a
    process and all its descendants, the most processes seen at once, and their CPU time as last seen
    (a cross-check of os.wait4's, which misses processes nobody in the tree waited for)."""

    def __init__(self, pid, every=0.05):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_rss = self.peak_pss = self.most = 0
        self.cpu = {}  # pid -> CPU seconds last seen: the tree's CPU, whoever reaps whom
        self.kind = {}  # pid -> what the process is (archiver, driver, a Chromium process type)
        self.done = threading.Event()

    def run(self):
        n = 0
        while not self.done.is_set():
            kids, cpu = processes()
            pids = tree(self.pid, kids)
            self.cpu.update((p, cpu[p]) for p in pids if p in cpu)
            for p in pids:  # every time: a forked process renames itself (setproctitle) after a moment
                kind = kind_of(p, self.pid)
                if kind != "gone":
                    self.kind[p] = kind
            self.most = max(self.most, len(pids))
            self.peak_rss = max(self.peak_rss, sum(rss(p) for p in pids))
            if n % 10 == 0:
                self.peak_pss = max(self.peak_pss, sum(pss(p) for p in pids))
            n += 1
            self.done.wait(self.every)


def timed(cmd, env, timeout):
    """(rc, wall s, CPU s, peak RSS bytes, peak PSS bytes, most processes, stderr, {kind: CPU s}) of one
    run."""
    err = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
    sampler = Sampler(proc.pid)
    sampler.start()
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    # os.wait4: the CPU time of archiver and every descendant it (or they) reaped: the driver, Chromium
    _, status, usage = os.wait4(proc.pid, 0)
    timer.cancel()
    proc.returncode = rc = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    sampler.done.set()
    sampler.join()
    err.seek(0)
    cpu = usage.ru_utime + usage.ru_stime
    seen = sum(sampler.cpu.values())
    if seen > cpu * 1.05:
        print(f"  note: CPU seen in /proc {seen:.1f} s > os.wait4's {cpu:.1f} s: using /proc's", flush=True)
        cpu = seen
    by_kind = {}
    for p, seconds in sampler.cpu.items():
        by_kind[sampler.kind.get(p, "?")] = by_kind.get(sampler.kind.get(p, "?"), 0.0) + seconds
    by_kind["processes"] = len(sampler.cpu)
    return (rc, wall, cpu, sampler.peak_rss, sampler.peak_pss, sampler.most, err.read().decode(errors="replace"),
            by_kind)


def stored(storage):
    """(browser captures, http captures, screenshots, sub-resources) in the run's database."""
    dbs = list(Path(storage).rglob("*.sqlite")) + list(Path(storage).rglob("*.db"))
    if not dbs:
        return None
    db = sqlite3.connect(dbs[0])
    try:
        modes = dict(db.execute("SELECT coalesce(mode, 'http'), count(*) FROM captures GROUP BY 1").fetchall())
        shots = db.execute("SELECT count(*) FROM records WHERE uri LIKE 'urn:screenshot:%'").fetchone()[0]
        subs = db.execute("SELECT count(*) FROM capture_resources").fetchone()[0]
    finally:
        db.close()
    return modes.get("browser", 0), modes.get("http", 0), shots, subs


def median_range(xs):
    return statistics.median(xs), min(xs), max(xs)


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--browser-pages", default="1,2,4", help="comma-separated list of N")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds the server waits per response")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=900, help="per run, seconds")
    ap.add_argument("--archiver", help="archiver executable (default: next to python)")
    ap.add_argument("--http", action="store_true", help="time --capture http against auto on plain pages instead")
    ap.add_argument("--before", help="with --http: also time the code at this folder (PYTHONPATH), default options")
    ap.add_argument("--extra", default="", help="more arguments for every snapshot run (space-separated)")
    a = ap.parse_args()

    archiver = a.archiver or shutil.which("archiver", path=str(Path(sys.executable).parent)) or "archiver"
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(child, a.latency), daemon=True)
    server.start()
    port = parent.recv()
    hosts = [f"h{k + 1:02d}.{DOMAIN}" for k in range(a.hosts)]
    env = {**os.environ, "ARCHIVER_ALLOW_PRIVATE": "1",
           "ARCHIVER_RESOLVE": ",".join(f"{h}:{port}:127.0.0.1" for h in hosts)}
    kind = "plain" if a.http else "p"
    urls = [f"http://{hosts[i % a.hosts]}:{port}/{kind}/{i}" for i in range(a.pages)]
    work = Path(tempfile.mkdtemp(prefix="browser-bench-"))
    manifest = work / "urls.txt"
    manifest.write_text("\n".join(urls) + "\n")
    one = work / "one.txt"
    one.write_text(urls[0] + "\n")
    print(f"# {a.pages} pages on {a.hosts} hosts, {os.cpu_count()} CPUs, archiver {archiver}", flush=True)
    rows = []

    def snapshot(urlfile, extra, code=None):
        d = Path(tempfile.mkdtemp(dir=work))
        cmd = [archiver, "--storage", str(d), "snapshot", str(urlfile), "--per-host-delay", "0",
               "--concurrency", str(a.concurrency), "--quiet", *extra, *a.extra.split()]
        before = load()
        run_env = {**env, "PYTHONPATH": code} if code else env
        rc, wall, cpu, peak, peak_pss, most, err, by_kind = timed(cmd, run_env, a.timeout)
        facts = stored(d)
        shutil.rmtree(d, ignore_errors=True)
        if rc != 0:
            print(f"  exit {rc}: {err.strip()[-2000:]}", flush=True)
        return wall, cpu, peak, peak_pss, most, facts, before, by_kind

    try:
        if a.http:
            settings = [("http", ["--capture", "http"], None), ("auto", [], None)]
            if a.before:
                settings.append((f"before ({a.before})", [], a.before))
        else:
            settings = [(f"N={n}", ["--capture", "browser", "--browser-pages", n], None)
                        for n in a.browser_pages.split(",")]
        runs = {name: [] for name, _, _ in settings}
        for r in range(a.rounds):  # settings interleaved round by round: the machine's load drifts
            for name, extra, code in settings:
                s_wall, s_cpu, *_ = snapshot(one, extra, code)
                wall, cpu, peak, peak_pss, most, facts, before, by_kind = snapshot(manifest, extra, code)
                runs[name].append((wall, cpu, peak, peak_pss, s_wall, s_cpu))
                print(f"{name} round {r + 1}: {wall:.2f} s, {a.pages / wall:.2f} pages/s, CPU {cpu:.1f} s;"
                      f" one page {s_wall:.2f} s (CPU {s_cpu:.1f} s); peak RSS {peak / 2**20:.0f} MiB,"
                      f" PSS {peak_pss / 2**20:.0f} MiB, {most} processes; stored (browser, http, screenshots,"
                      f" sub-resources) {facts}; load before {before}", flush=True)
                print("  CPU ms per page by process: " + ", ".join(
                    f"{k} {v * 1000 / a.pages:.0f}" if k != "processes" else f"({v} processes in all)"
                    for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])), flush=True)
        for name, _, _ in settings:
            walls, cpus, peaks, psses, starts, start_cpus = zip(*runs[name], strict=True)
            w, w_lo, w_hi = median_range(walls)
            s, s_lo, s_hi = median_range(starts)
            # CPU per page past start-up: what the pages cost whatever else runs on the machine
            per_page = statistics.median((c - sc) / (a.pages - 1) for c, sc in zip(cpus, start_cpus, strict=True))
            rows.append((name, a.pages / w, a.pages / w_hi, a.pages / w_lo, w, s, s_lo, s_hi,
                         max(peaks) / 2**20, max(psses) / 2**20, per_page))
    finally:
        server.kill()
        shutil.rmtree(work, ignore_errors=True)

    cores = os.cpu_count() or 1
    print("\n| run | pages/s median (range) | wall s median | one-page run s median (range) "
          f"| CPU per page | pages/s CPU-bound on {cores} idle cores | peak RSS sum MiB | peak PSS sum MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for name, pps, lo, hi, w, s, s_lo, s_hi, peak, peak_pss, per_page in rows:
        print(f"| {name} | {pps:.2f} ({lo:.2f}–{hi:.2f}) | {w:.1f} | {s:.2f} ({s_lo:.2f}–{s_hi:.2f}) "
              f"| {per_page * 1000:.1f} ms | {cores / per_page if per_page > 0 else 0:.1f} | {peak:.0f}"
              f" | {peak_pss:.0f} |")
    if a.http:
        for row in rows[1:]:
            print(f"\n{row[0]} / http medians: wall time {row[4] / rows[0][4]:.3f},"
                  f" CPU per page {row[10] / rows[0][10]:.3f}")
    print(f"load average at the end: {load()}")


if __name__ == "__main__":
    main()
