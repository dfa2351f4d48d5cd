#!/usr/bin/env python3
"""What evidence costs a snapshot over HTTPS: the TLS peer records and the tamper-evident log.

Serves N pages over H loopback host names with ~50 ms latency, over HTTPS (a throw-away CA made
with trustme), and times in each round, against the same URL list:
  a. archiver snapshot as it is (certificate records, the log on)
  b. the same with the log off (ARCHIVER_LEDGER=0)
  c. archiver of other trees (--tree NAME=DIR, repeatable: e.g. a checkout from before the evidence
     work, and one right after it), if given
  d. a bare requests loop at the same concurrency over HTTPS (no WARC): the peer
Each archiver figure is reported as a ratio to the bare loop of the same round; rounds interleave
the variants so that load from other jobs hits all of them alike. Needs root (adds the host names
to /etc/hosts), like snapshot_bench.py, whose server and loop it reuses. See bench/README.md.
"""
import argparse
import multiprocessing
import os
import shutil
import signal
import ssl
import statistics
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import trustme

sys.path.insert(0, str(Path(__file__).resolve().parent))
from snapshot_bench import DOMAIN, Handler, bare_loop, build_pages, ensure_hosts, run_timed, warc_stats  # noqa: E402


def serve(conn, pages, latency, cert_dir):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    Handler.pages = build_pages(pages)
    Handler.latency = latency
    Handler.disable_nagle_algorithm = True
    ThreadingHTTPServer.request_queue_size = 256
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert_dir / "server.pem"))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    conn.send(httpd.server_address[1])
    httpd.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=600)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--per-host", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tree", action="append", default=[], metavar="NAME=DIR",
                    help="another source tree of archiver to time in every round (repeatable)")
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    archiver = shutil.which("archiver", path=str(Path(sys.executable).parent)) or shutil.which("archiver")
    hosts = [f"h{i:02d}.{DOMAIN}" for i in range(a.hosts)]
    ensure_hosts(hosts)
    work = Path(tempfile.mkdtemp(prefix="evidence-bench-"))
    ca = trustme.CA()
    ca.issue_cert(*hosts).private_key_and_cert_chain_pem.write_to_path(str(work / "server.pem"))
    ca.cert_pem.write_to_path(str(work / "ca.pem"))
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(child, a.pages, a.latency, work), daemon=True)
    server.start()
    port = parent.recv()
    urls = [f"https://{hosts[i % a.hosts]}:{port}/page/{i}" for i in range(a.pages)]
    (work / "urls.txt").write_text("\n".join(urls) + "\n")
    os.environ["REQUESTS_CA_BUNDLE"] = str(work / "ca.pem")  # the bare loop and every archiver trust the CA
    base = [archiver, "--storage", "storage", "snapshot", str(work / "urls.txt"), "--concurrency",
            str(a.concurrency), "--per-host", str(a.per_host), "--per-host-delay", "0", "--allow-private",
            "--capture", "http", "--quiet"]
    variants = {"evidence on": {}, "log off": {"ARCHIVER_LEDGER": "0"}}
    for tree in a.tree:
        name, _, folder = tree.partition("=")
        variants[name] = {"PYTHONPATH": str(Path(folder).resolve())}
    ratios = {name: [] for name in variants}
    times = {name: {} for name in variants}  # name -> round -> seconds, for the paired comparison
    print(f"{a.pages} pages over {a.hosts} HTTPS hosts, {a.latency * 1000:.0f} ms, concurrency {a.concurrency},"
          f" per-host {a.per_host}; {os.cpu_count()} CPUs")
    try:
        for r in range(1, a.rounds + 1):
            bare, results = bare_loop(urls, a.concurrency)
            assert all(status == 200 for status, _ in results), "the bare loop did not get every page"
            print(f"round {r}/{a.rounds} (load average {os.getloadavg()[0]:.1f}): bare requests loop {bare:.2f} s")
            for name, env in variants.items():
                d = work / "run"
                d.mkdir()
                saved = {k: os.environ.get(k) for k in env}
                os.environ.update(env)
                try:
                    rc, t, rss, cpu, err = run_timed(base, d, a.timeout)
                finally:
                    for k, v in saved.items():
                        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
                _, records = warc_stats(d)
                shutil.rmtree(d, ignore_errors=True)
                if rc != 0 or records != a.pages:
                    print(f"  {name}: exit {rc}, {records}/{a.pages} responses\n{err[-2000:]}")
                    continue
                ratios[name].append(bare / t)
                times[name][r] = t
                print(f"  {name}: {t:.2f} s, ratio {bare / t:.3f}, CPU {cpu:.2f} s, peak RSS {rss:.0f} MB")
    finally:
        server.kill()
        shutil.rmtree(work, ignore_errors=True)
    print("median ratio to the bare loop:")
    for name, values in ratios.items():
        if values:
            print(f"  {name}: {statistics.median(values):.3f}  ({', '.join(f'{v:.3f}' for v in values)})")
    # Rounds drift with the machine's load; the same round's times compare under the same load.
    print("median over rounds of (other's time / evidence on's time), 1.000 = as fast:")
    for name in list(variants)[1:]:
        paired = [times[name][r] / times["evidence on"][r] for r in times[name] if r in times["evidence on"]]
        if paired:
            print(f"  {name}: {statistics.median(paired):.3f}")


if __name__ == "__main__":
    threading.excepthook = lambda args: None  # a reset connection in the server's threads is not news
    main()
