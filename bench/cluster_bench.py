#!/usr/bin/env python3
"""Throughput of `archiver snapshot` in one process, on `--cluster local:2`, and on a `dask scheduler`
with 2 `dask worker` processes, at the same total concurrency, in one run; and the client's peak RSS
for N, 10 N (and 100 N) URLs on the scheduler.

A server in a child process answers every request after --latency seconds (50 ms) under --hosts host
names (archiver's resolver override, ARCHIVER_RESOLVE: no /etc/hosts, no root). Two variants:
  latency-bound: small pages (2 KB): the run waits on the network;
  CPU-bound: big, compressible pages (~150 KB): gzip and hashing of the WARC records dominate.
Each mode runs in a fresh storage folder; the time is the command's wall time, start-up of the
LocalCluster included (the scheduler and workers of the third mode are started before, as a user's
would be). Stdlib only, plus the `dask` command of archiver[cluster].

  python bench/cluster_bench.py --urls 2000 --hosts 100     # the issue asks 10000 / 500
  python bench/cluster_bench.py --variants "" --latency 0.005 --rss-urls 1000,10000,100000   # RSS only
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import Process
from pathlib import Path

ARCHIVER = str(Path(sys.executable).with_name("archiver"))
DASK = str(Path(sys.executable).with_name("dask"))
WORDS = ("archive citation source snapshot paper journal reference dataset method result figure table "
         "appendix review author editor volume issue page the of and to in is that for with").split()


def serve(port: int, latency: float, size: int) -> None:
    rng = random.Random(7)
    corpus = " ".join(rng.choices(WORDS, k=size // 3)).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            time.sleep(latency)
            n = sum(self.path.encode()) % 997
            body = (f"<html><head><title>{self.path}</title></head><body><p>{n}</p>".encode()
                    + corpus[n:n + size] + b"</body></html>")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 256
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int, dict[str, object]]:
    """Wall seconds, peak RSS (KiB) and the --json summary of one archiver command."""
    began = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - began
        out.seek(0)
        err.seek(0)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{cmd[3:6]} failed ({proc.returncode}): {err.read().decode()[-2000:]}")
        text = out.read()
        return wall, usage.ru_maxrss, json.loads(text) if text.startswith((b"{", b"[")) else {}  # check: a table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--urls", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rss-urls", default="500",
                        help="N of the client RSS comparison (N vs 10 N), or a list of sizes: 1000,10000,100000")
    parser.add_argument("--rss-command", default="snapshot", choices=("snapshot", "check"),
                        help="the command of the RSS runs (check: pages read and judged, verdicts after)")
    parser.add_argument("--rss-json", action="store_true",
                        help="the RSS runs with --json (the summary lists every URL)")
    parser.add_argument("--variants", default="latency,cpu")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    hosts = [f"h{i:04d}.bench.archiver.test" for i in range(args.hosts)]
    sched_port = free_port()
    address = f"tcp://127.0.0.1:{sched_port}"
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(sched_port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    time.sleep(3)
    procs += [subprocess.Popen([DASK, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                                "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
              for _ in range(2)]
    servers: list[Process] = []
    results = []
    try:
        time.sleep(6)
        for variant in [v for v in args.variants.split(",") if v]:
            port = free_port()
            server = Process(target=serve, args=(port, args.latency, 150_000 if variant == "cpu" else 2_000),
                             daemon=True)
            server.start()
            servers.append(server)
            env = {**os.environ, "ARCHIVER_ALLOW_PRIVATE": "1", "ARCHIVER_REACHABILITY": "",
                   "ARCHIVER_RESOLVE": ",".join(f"{h}:{port}:127.0.0.1" for h in hosts)}

            def manifest(n: int, name: str, port: int = port) -> Path:
                path = work / f"{name}.txt"
                path.write_text("".join(f"http://{hosts[i % len(hosts)]}:{port}/p/{i}\n" for i in range(n)))
                return path

            urls = manifest(args.urls, f"{variant}-urls")
            rates = {}
            for mode, extra in (("one process", []), ("local:2", ["--cluster", "local:2"]),
                                ("scheduler+2 workers", ["--cluster", address])):
                storage = work / f"{variant}-{mode.replace(' ', '_')}"
                wall, rss, summary = timed([ARCHIVER, "--storage", str(storage), "snapshot", str(urls), "--capture",
                                            "http", "--per-host-delay", "0", "--concurrency", str(args.concurrency),
                                            "--json", "-q", *extra], env)
                assert summary["captured"] == args.urls, summary
                rates[mode] = args.urls / wall
                print(f"{variant:8} {mode:20} {args.urls} URLs / {args.hosts} hosts: {wall:6.1f} s"
                      f" {rates[mode]:7.1f} URLs/s  client RSS {rss / 1024:.0f} MiB", flush=True)
                shutil.rmtree(storage)
            for mode in ("local:2", "scheduler+2 workers"):
                ratio = rates[mode] / rates["one process"]
                print(f"{variant:8} {mode:20} x{ratio:.2f} of one process", flush=True)
                results.append((variant, mode, ratio))
        # Client RSS flat in the number of URLs: N against 10 N on the scheduler (latency-bound pages).
        port = free_port()
        server = Process(target=serve, args=(port, args.latency, 2_000), daemon=True)
        server.start()
        servers.append(server)
        env = {**os.environ, "ARCHIVER_ALLOW_PRIVATE": "1", "ARCHIVER_REACHABILITY": "",
               "ARCHIVER_RESOLVE": ",".join(f"{h}:{port}:127.0.0.1" for h in hosts)}
        sizes = [int(n) for n in args.rss_urls.split(",") if n]
        for n in sizes if len(sizes) > 1 else [sizes[0], 10 * sizes[0]]:
            path = work / f"rss-{n}.txt"
            path.write_text("".join(f"http://{hosts[i % len(hosts)]}:{port}/r/{i}\n" for i in range(n)))
            storage = work / f"rss-{n}"
            wall, rss, summary = timed([ARCHIVER, "--storage", str(storage), args.rss_command, str(path),
                                        "--capture", "http", "--per-host-delay", "0",
                                        "--concurrency", str(args.concurrency), "-q",
                                        *(["--json"] if args.rss_json else []), "--cluster", address], env)
            if args.rss_json and args.rss_command == "snapshot":
                assert summary["captured"] == n and len(summary["urls"]) == n, (summary["captured"], summary["failed"])
            print(f"rss      scheduler+2 workers  {args.rss_command} {n} URLs{' --json' if args.rss_json else ''}:"
                  f" client peak RSS {rss / 1024:.0f} MiB ({wall:.1f} s)", flush=True)
            shutil.rmtree(storage)
    finally:
        for server in servers:
            server.terminate()
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
