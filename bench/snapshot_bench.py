#!/usr/bin/env python3
"""Throughput / memory bench for `archiver snapshot`.

Serves >=1,000 pages over >=20 loopback host names with ~50 ms latency and
times three clients over the same URL list:
  a. archiver snapshot (concurrent, writes WARC)
  b. wget --warc-file (sequential, writes WARC) -- the peer named in the issue
  c. a bare requests loop at the same concurrency (no WARC) -- the ceiling
a and c run against two kinds of server (one that sets TCP_NODELAY as nginx
does, and one that leaves Nagle's algorithm on as Python's http.server does),
at each --concurrency, --rounds times; each ratio compares a and c of the same
round.  Then (unless --skip-gib) archives one 1 GiB response and reports
archiver's peak RSS.  Stdlib + requests only; needs root (adds names to
/etc/hosts).
See bench/README.md.
"""
import argparse
import compileall
import gzip
import importlib.util
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bare_loop import bare_loop  # noqa: E402  # bench/ is the script's folder, on sys.path

DOMAIN = "bench.archiver.test"
GIB = 1 << 30
MB = 1e6  # throughput is reported in MB (10^6 bytes) of response bodies as sent
WORDS = ("archive citation source snapshot paper journal reference dataset method "
         "result figure table appendix review author editor volume issue page the "
         "of and to in is that for with as on by this we are be from at an which "
         "model analysis data study evidence network protocol crawler record").split()


# --- server: runs in a child process so it never competes for the client's GIL
def build_pages(n):
    """Deterministic HTML-ish pages, 10-200 KB each.  Every third page is
    chunked, every third gzip (pre-compressed here, once), the rest plain."""
    rng = random.Random(1234)
    corpus = "".join(  # shared ~2 MB corpus; pages are slices of it
        "<p>" + " ".join(rng.choices(WORDS, k=rng.randint(20, 90))) + "</p>\n"
        for _ in range(7_000)).encode()
    pages = []
    for i in range(n):
        r = random.Random(i)
        size = r.randint(10 * 1024, 200 * 1024)
        head = f"<!doctype html><html><head><title>Page {i}</title></head><body>\n".encode()
        off = r.randrange(len(corpus) - size)
        body = (head + corpus[off:off + size])[:size - 15] + b"</body></html>\n"
        mode = ("chunked", "gzip", "plain")[i % 3]
        if mode == "gzip":
            body = gzip.compress(body, compresslevel=6, mtime=0)
        pages.append((mode, body))
    return pages


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response is length-framed
    timeout = 60                   # drop idle keep-alive connections eventually
    # The "nodelay" server sets TCP_NODELAY, as production servers do on keep-alive connections
    # (nginx: tcp_nodelay on); the "nagle" server leaves it off, as Python's http.server and many
    # small sites do. There the headers and the body go out as two writes, and Nagle's algorithm
    # holds the body until the client ACKs the headers: a client that delays that ACK stalls.
    disable_nagle_algorithm = True
    pages, latency, big_block = [], 0.05, b""
    log = []  # (start, end, connection's request number) per request, for the stats

    def log_message(self, *args):  # silence per-request logging
        pass

    def handle(self):
        self.served = 0
        super().handle()

    def do_GET(self):
        start = time.monotonic()   # CLOCK_MONOTONIC: the same clock as the parent's
        self.served += 1
        try:
            self.respond()
        finally:
            self.log.append((start, time.monotonic(), self.served))

    def respond(self):
        time.sleep(self.latency)   # simulated network latency, before headers
        m = re.fullmatch(r"/(page|big)/(\d+)", self.path)
        if m and m[1] == "page" and int(m[2]) < len(self.pages):
            return self.send_page(*self.pages[int(m[2])])
        if m and m[1] == "big":
            return self.send_big(int(m[2]))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def send_page(self, mode, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 16384):
                part = body[i:i + 16384]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        # gzip pages are sent gzipped regardless of Accept-Encoding, so every
        # client moves (and must store) exactly the same bytes.
        if mode == "gzip":
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_big(self, n):
        """Stream n generated bytes: a 1 MiB random block repeated (random so
        the archiver can't shrink it by compressing), never all in memory."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        view, left = memoryview(self.big_block), n
        while left:
            k = min(left, len(view))
            self.wfile.write(view[:k])
            left -= k


def serve(conn, pages, latency, nodelay=True):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    Handler.pages = build_pages(pages)
    Handler.latency = latency
    Handler.disable_nagle_algorithm = nodelay
    Handler.big_block = random.Random(7).randbytes(1 << 20)
    ThreadingHTTPServer.request_queue_size = 256  # 16+ clients connect at once
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    wire = sum(len(b) for _, b in Handler.pages)
    conn.send((httpd.server_address[1], wire))
    threading.Thread(target=answer_stats, args=(conn,), daemon=True).start()
    httpd.serve_forever()


def answer_stats(conn):
    """Each message from the parent asks for the requests logged since the last one."""
    while True:
        conn.recv()
        taken, Handler.log[:] = list(Handler.log), []
        conn.send(taken)


def load_stats(log, latency, launched=None, ended=None):
    """What the server saw: requests, how many started per `latency` window on average while any
    was in flight (the client's effective concurrency), and how many came on a reused connection;
    given the client's launch and exit (time.monotonic), its start-up (launch to first request) and
    tail (last response to exit). Returns (that text, first request to last response in s)."""
    if not log:
        return "", None
    first, last = min(s for s, _, _ in log), max(e for _, e, _ in log)
    busy = sum(e - s for s, e, _ in log)
    reused = sum(1 for *_, k in log if k > 1)
    edges = f", start-up {first - launched:.2f} s, tail {ended - last:.2f} s" if launched and ended else ""
    return (f"server: {len(log)} requests, {len(log) * latency / (last - first):.1f} started per "
            f"{latency * 1000:.0f} ms, {busy / (last - first):.1f} in flight on average, "
            f"{reused / len(log):.0%} on a reused connection{edges}"), last - first


# --- client side
def ensure_hosts(names):
    """Make hNN.bench.archiver.test resolve to 127.0.0.1 via /etc/hosts."""
    text = Path("/etc/hosts").read_text()
    known = {w for line in text.splitlines() for w in line.split("#")[0].split()[1:]}
    missing = [n for n in names if n not in known]
    if not missing:
        return
    try:
        with open("/etc/hosts", "a") as f:
            f.write(("" if text.endswith("\n") else "\n") + "# archiver bench\n"
                    + "".join(f"127.0.0.1 {n}\n" for n in missing))
    except OSError as e:
        sys.exit(f"snapshot_bench: cannot add bench host names to /etc/hosts ({e}); run as root")


def run_timed(cmd, cwd, timeout, env=None):
    """Run cmd, return (rc, wall_s, peak_rss_mb, cpu_s, stderr).  os.wait4 gives the
    rusage of exactly this child (RUSAGE_CHILDREN would fold in earlier runs)."""
    err = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, env=env)
    except OSError as e:
        return 127, 0.0, 0.0, 0.0, str(e)
    timer = threading.Timer(timeout, os.kill, (proc.pid, signal.SIGKILL))
    timer.daemon = True
    timer.start()
    try:
        _, status, ru = os.wait4(proc.pid, 0)
    except BaseException:  # Ctrl-C / SIGTERM: don't leave the child behind
        proc.kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
    wall = time.perf_counter() - t0
    proc.returncode = rc = os.waitstatus_to_exitcode(status)  # we reaped it
    err.seek(0)
    stderr = err.read().decode(errors="replace")
    if rc == -signal.SIGKILL and wall >= timeout:
        stderr += f"\n[killed after {timeout:.0f} s timeout]"
    return rc, wall, ru.ru_maxrss / 1024, ru.ru_utime + ru.ru_stime, stderr


def warc_stats(d):
    """(bytes of WARC files, number of response records) under d, as a sanity
    check that a run really archived everything it was timed for."""
    size = count = 0
    for p in Path(d).rglob("*.warc*"):
        if not p.is_file() or p.suffix in (".cdx", ".sqlite", ".db"):
            continue
        size += p.stat().st_size
        try:
            with (gzip.open(p) if p.name.endswith(".gz") else open(p, "rb")) as f:
                count += sum(1 for line in f if line.startswith(b"WARC-Type: response"))
        except (OSError, EOFError):
            pass
    return size, count


def tail(s, n=25):
    return "\n".join("    " + line for line in s.strip().splitlines()[-n:])


def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def concurrencies(text):
    return [int(c) for c in text.split(",") if c.strip()]


def start_server(a, nodelay):
    parent, child = multiprocessing.get_context("fork").Pipe()
    server = multiprocessing.get_context("fork").Process(
        target=serve, args=(child, a.pages, a.latency, nodelay), daemon=True)
    server.start()
    if not parent.poll(120):
        sys.exit("snapshot_bench: server did not start")
    port, wire = parent.recv()
    return server, parent, port, wire


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds per response")
    ap.add_argument("--concurrency", type=concurrencies, default=[16, 32],
                    help="comma-separated, each run in turn (default 16,32)")
    ap.add_argument("--per-host", type=int, help="archiver's --per-host (default: the concurrency)")
    ap.add_argument("--server", choices=("both", "nodelay", "nagle"), default="both",
                    help="nodelay: sets TCP_NODELAY like nginx; nagle: Python http.server's default")
    ap.add_argument("--rounds", type=int, default=3, help="archiver and bare loop pairs per setting")
    ap.add_argument("--timeout", type=float, default=900, help="per run, seconds")
    ap.add_argument("--archiver", help="archiver executable (default: next to python)")
    ap.add_argument("--baseline", metavar="DIR",
                    help="also run the archiver package of checkout DIR (PYTHONPATH=DIR, same executable) "
                         "in every round, for a before/after under the same load")
    ap.add_argument("--skip-gib", action="store_true", help="skip the 1 GiB RSS run")
    ap.add_argument("--skip-wget", action="store_true", help="skip wget (it takes ~90 s)")
    ap.add_argument("--gib-only", action="store_true", help="only the 1 GiB RSS run")
    a = ap.parse_args()

    width = max(2, len(str(a.hosts)))
    hosts = [f"h{k:0{width}d}.{DOMAIN}" for k in range(1, a.hosts + 1)]
    ensure_hosts(hosts)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still run finally:

    kinds = ["nodelay", "nagle"] if a.server == "both" else [a.server]
    servers = {}  # kind -> (process, stats pipe, port)
    work = Path(tempfile.mkdtemp(prefix="archiver-bench-"))
    try:
        for kind in kinds:
            process, pipe, port, wire = start_server(a, kind == "nodelay")
            servers[kind] = (process, pipe, port)
            urls = [f"http://{hosts[i % a.hosts]}:{port}/page/{i}" for i in range(a.pages)]
            (work / f"urls-{kind}.txt").write_text("\n".join(urls) + "\n")
            print(f"{kind} server pid {process.pid} on port {port}")
        venv_exe = Path(sys.executable).parent / "archiver"  # the venv's console script
        archiver = a.archiver or (str(venv_exe) if venv_exe.exists() else shutil.which("archiver"))
        print(f"{a.pages} pages over {a.hosts} hosts, {wire / MB:.1f} MB on the wire, "
              f"{a.latency * 1000:.0f} ms latency; work dir {work}; {os.cpu_count()} CPUs")
        if not a.gib_only:
            bench_pages(a, work, servers, wire, archiver)
        if not a.skip_gib:
            bench_gib(a, work, servers[kinds[0]][2], hosts[0], archiver)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        for process, _, _ in servers.values():
            process.terminate()
            process.join(5)
            if process.is_alive():
                process.kill()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return None if not xs else (xs[len(xs) // 2] + xs[(len(xs) - 1) // 2]) / 2


def bench_pages(a, work, servers, wire, archiver):
    n = a.pages
    def report(name, t, rss, note):
        if t is not None:
            print(f"  {name}: {t:.2f} s, {n / t:.1f} pages/s, {wire / MB / t:.1f} MB/s"
                  + (f", peak RSS {rss:.0f} MB" if rss else "") + (f"  ({note})" if note else ""))

    def warc_run(name, cmd, d, env=None):
        d.mkdir()
        rc, t, rss, cpu, err = run_timed(cmd, d, a.timeout, env)
        size, recs = warc_stats(d)
        shutil.rmtree(d, ignore_errors=True)
        if rc != 0:
            print(f"  {name} exit {rc} after {t:.1f} s; stderr tail:\n{tail(err)}")
        # A partial run (archiver exit 1 / wget exit 8: some URLs failed) is
        # still timed, but flagged in the notes; nothing archived = no figure.
        report(name, t if recs else None, rss, f"{recs}/{n} response records, "
               f"{size / MB:.1f} MB WARC, CPU {cpu:.2f} s ({cpu / t:.0%} of wall)" + (f", exit {rc}" if rc else ""))
        return t if recs else None

    def bare_process(urls_file, c):
        """The bare loop as a program of its own: wall time from exec to exit, as archiver's is."""
        rc, t, _, _, err = run_timed([sys.executable, str(Path(__file__).with_name("bare_loop.py")),
                                      str(urls_file), str(c)], work, a.timeout)
        if rc != 0:
            print(f"  bare loop process exit {rc}; stderr tail:\n{tail(err)}")
            return None
        return t

    def server_stats(kind, launched=None, ended=None):
        pipe = servers[kind][1]
        pipe.send("take")
        return load_stats(pipe.recv(), a.latency, launched, ended)

    # Rounds interleave every setting, so that a burst of load from other jobs on the machine
    # hits all settings alike; a ratio compares archiver and the bare loop of the same round.
    ratios = {}  # (kind, concurrency) -> [(archiver s, bare s, archiver window, bare window, bare process s), ...]
    builds = [("", None)]  # (label, environment): this checkout, and the --baseline one
    # An installed package has its modules byte-compiled (pip compiles them; a first run writes
    # __pycache__). Under PYTHONDONTWRITEBYTECODE nothing is ever written, and every timed run would
    # compile archiver's sources again: tens of milliseconds no user pays.
    spec = importlib.util.find_spec("archiver")
    trees = [Path(spec.origin).parent] if spec and spec.origin else []
    if a.baseline:
        trees.append(Path(a.baseline).resolve() / "archiver")
    for tree in trees:
        compileall.compile_dir(str(tree), quiet=1)
    if a.baseline:
        base = str(Path(a.baseline).resolve())
        builds.append((" (baseline)", {**os.environ, "PYTHONPATH": base}))
    for r in range(1, a.rounds + 1):
        for kind in servers:
            urls = (work / f"urls-{kind}.txt").read_text().split()
            for c in a.concurrency:
                per_host = a.per_host or c
                label = (f"{kind} server, concurrency {c}, per-host {per_host}, round {r}/{a.rounds}, "
                         f"load average {os.getloadavg()[0]:.1f}")  # other jobs on the machine
                print(f"[a] archiver snapshot, {label}")
                server_stats(kind)  # forget earlier requests
                timed = {}  # build label -> (archiver s, fetch window s)
                for build, env in builds:
                    ta = wa = None
                    if archiver is None:
                        print("  archiver console script not found next to the interpreter or on PATH")
                    else:
                        d = work / "archiver"
                        launched = time.monotonic()  # the server logs on the same clock
                        ta = warc_run(f"archiver{build} {kind} c{c}", [
                            archiver, "--storage", str(d), "snapshot", str(work / f"urls-{kind}.txt"),
                            "--concurrency", str(c), "--per-host", str(per_host), "--per-host-delay", "0",
                            "--quiet", "--allow-private"], d, env)  # the bench servers are on loopback
                        text, wa = server_stats(kind, launched, launched + (ta or 0))
                        print(f"  {text}")
                    timed[build] = (ta, wa)
                print(f"[c] bare requests loop, {c} threads, no WARC, {label}")
                tb, res = bare_loop(urls, c)
                bad = sum(1 for code, _ in res if code != 200)
                got = sum(b for _, b in res)
                report(f"bare loop {kind} c{c}", tb, None,
                       f"{bad} non-200, {got}/{wire} bytes" if bad or got != wire else "")
                text, wb = server_stats(kind)
                print(f"  {text}")
                tp = bare_process(work / f"urls-{kind}.txt", c)
                report(f"bare loop as a process {kind} c{c}", tp, None, "")
                server_stats(kind)
                for build, (ta, wa) in timed.items():
                    ratios.setdefault((kind, c, build), []).append((ta, tb, wa, wb, tp))
                    if ta:
                        print(f"  bare_loop_time / archiver{build}_time = {tb / ta:.2f}"
                              + (f"; as processes {tp / ta:.2f}" if tp else ""))

    tw = None
    print("[b] wget --warc-file (sequential)")
    if a.skip_wget:
        print("  skipped (--skip-wget)")
    elif shutil.which("wget") is None:
        print("  wget not installed, skipped")
    else:
        kind = next(iter(servers))
        d = work / "wget"
        tw = warc_run(f"wget {kind}", ["wget", f"--warc-file={d}/wget", "-i", str(work / f"urls-{kind}.txt"),
                                       "-O", "/dev/null", "--no-verbose"], d)

    print(f"\n{n} pages, {a.hosts} hosts, {wire / MB:.1f} MB, {a.latency * 1000:.0f} ms latency, "
          f"{a.rounds} rounds, {os.cpu_count()} CPUs; medians; ratio = bare loop time / archiver time "
          "of the same round (target >= 0.85), the loop in this process (requests already imported); "
          "ratio of processes = the same loop run as a program of its own (interpreter start-up and "
          "imports paid, as archiver's); fetch-window ratio = the same from each client's first "
          "request to its last response, as the server logged them (archiver's start-up and exit left out)\n")
    print("| server | concurrency | per-host | archiver s | bare loop s | ratio | ratios, round by round "
          "| fetch-window ratio | bare loop process s | ratio of processes |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    first_archiver = None
    for (kind, c, build), pairs in sorted(ratios.items(), key=lambda item: item[0][2] != ""):
        each = [tb / ta if ta and tb else None for ta, tb, _, _, _ in pairs]
        window = median(wb / wa if wa and wb else None for _, _, wa, wb, _ in pairs)
        process = median(tp / ta if ta and tp else None for ta, _, _, _, tp in pairs)
        ta = median(p[0] for p in pairs)
        first_archiver = first_archiver or ta
        tb = median(p[1] for p in pairs)
        print(f"| {kind}{build} | {c} | {a.per_host or c} | {fmt(ta, '.2f')} | {fmt(tb, '.2f')} | "
              f"**{fmt(median(each), '.2f')}** | {', '.join(fmt(x, '.2f') for x in each)} | {fmt(window, '.2f')} | "
              f"{fmt(median(p[4] for p in pairs), '.2f')} | **{fmt(process, '.2f')}** |")
    if tw is not None and first_archiver:
        print(f"\nwget {tw:.2f} s: wget_time / archiver_time = {tw / first_archiver:.1f}  (target >= 10; "
              f"archiver at concurrency {a.concurrency[0]} against the {next(iter(servers))} server)")


def bench_gib(a, work, port, host, archiver):
    print("[gib] archiver snapshot of one 1 GiB response")
    if archiver is None:
        print("  archiver console script not found, skipped")
        return
    d = work / "gib"
    d.mkdir()
    url = f"http://{host}:{port}/big/{GIB}"
    # --max-size / --total-timeout: archiver's defaults (100 MB, 120 s) would
    # truncate or abort the body, and then the RSS figure would mean nothing.
    rc, t, rss, _, err = run_timed(
        [archiver, "--storage", str(d), "snapshot", url, "--quiet", "--max-size",
         str(2 * GIB), "--total-timeout", str(a.timeout), "--allow-private"], work, a.timeout)
    size, recs = warc_stats(d)
    shutil.rmtree(d, ignore_errors=True)
    if rc != 0:
        print(f"  archiver FAILED (exit {rc}) after {t:.1f} s; stderr:\n{tail(err)}")
        return
    print(f"  {t:.2f} s, {GIB / MB / t:.1f} MB/s, peak RSS {rss:.0f} MB (target < 150), "
          f"{recs} response record(s), {size / MB:.1f} MB WARC"
          + ("  WARNING: WARC smaller than the body, truncated?" if size < GIB else ""))
    print("\n| 1 GiB response | wall s | MB/s | peak RSS MB |\n|---|---:|---:|---:|\n"
          f"| archiver | {t:.2f} | {GIB / MB / t:.1f} | {rss:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
