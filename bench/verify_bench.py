#!/usr/bin/env python3
"""Fixity bench: `archiver verify` and `archiver verify --quick` against `sha256sum` of the same files.

Builds about --gb GB of WARCs with archiver's own record builder and WARC store (the code `snapshot`
runs after a fetch: records into a spool, appended whole, rows committed, files rotated at --file-mb
and closed so their sha256 is recorded): mostly large incompressible bodies (application/octet-stream,
compressed at archiver's default level like any such download) plus small compressible HTML pages,
so there are many records too. Then, with the files in the page cache (each tool is run once untimed
first), runs each command --rounds times, interleaved, and prints the median wall time, MB/s (10^6
bytes of WARC file per second) and the ratios to sha256sum. See bench/README.md.
"""
import argparse
import datetime as dt
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from archiver.config import Settings
from archiver.db import ArchiveDB
from archiver.fetch.results import FetchResult, Hop
from archiver.storage import WarcStore, record_rows
from archiver.warc import RecordBuilder

ARCHIVER = str(Path(sys.executable).with_name("archiver"))


def hop(url: str, body: bytes, ctype: str, when: dt.datetime) -> Hop:
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"Server: bench\r\n\r\n").encode()
    response = head + body
    request = f"GET {url} HTTP/1.1\r\nHost: bench.archiver.test\r\nAccept-Encoding: gzip, deflate\r\n\r\n".encode()
    return Hop(url=url, started_at=when, request=request, response=io.BytesIO(response),
               response_length=len(response), header_length=len(head), status=200, reason="OK",
               headers=[("Content-Type", ctype), ("Content-Length", str(len(body)))], ip="127.0.0.1",
               block_sha1=hashlib.sha1(response).hexdigest(), payload_sha1=hashlib.sha1(body).hexdigest(),
               payload_sha256=hashlib.sha256(body).hexdigest(), payload_size=len(body))


def html(rng: random.Random, n: int) -> bytes:
    words = "archive citation source snapshot paper journal reference dataset the of and to in".split()
    text = " ".join(rng.choices(words, k=n // 6))
    return f"<!doctype html><html><body><h1>Page</h1><p>{text}</p></body></html>\n".encode()


def build(root: Path, gb: float, file_mb: int, seed: int) -> tuple[int, int]:
    """WARCs of about `gb` GB under root; returns (captures, bytes of WARC files)."""
    settings = Settings(storage=root)
    db = ArchiveDB.open(settings.db_path)
    store = WarcStore(root, db, max_size=file_mb * 1_000_000, user_agent="verify-bench")
    builder = RecordBuilder()
    rng = random.Random(seed)
    target, written, captures = gb * 1e9, 0, 0
    try:
        while written < target:
            captures += 1
            if captures % 20:  # most captures are small pages, most bytes are large downloads
                url, ctype = f"http://bench.archiver.test/page/{captures}", "text/html"
                body = html(rng, rng.randint(5_000, 80_000))
            else:
                url, ctype = f"http://bench.archiver.test/file/{captures}.bin", "application/octet-stream"
                body = rng.randbytes(rng.randint(2_000_000, 16_000_000))
            when = dt.datetime.now(dt.UTC)
            result = FetchResult(url=url, started_at=when, hops=[hop(url, body, ctype, when)])
            with tempfile.TemporaryFile(dir=store.spool_dir) as spool:
                records = builder.capture(spool, result, None)
                length = spool.tell()
                warc, base = store.append(spool, length)
            rows = record_rows(warc, records, base)
            final = result.hops[-1]
            db.add_capture({"url": url, "fetch_url": url, "captured_at": when.isoformat(), "outcome": "ok",
                            "http_status": 200, "content_type": ctype, "payload_size": final.payload_size,
                            "payload_sha256": final.payload_sha256, "payload_sha1": final.payload_sha1,
                            "record_type": "response", "warc": warc, "warc_offset": rows[0]["offset"],
                            "warc_length": rows[0]["length"], "record_id": rows[0]["record_id"]}, rows)
            written = sum(p.stat().st_size for p in (root / "warcs").iterdir() if ".warc.gz" in p.name)
    finally:
        store.close()
        db.close()
    return captures, written


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=1.0, help="GB (10^9 bytes) of WARC files to build")
    parser.add_argument("--file-mb", type=int, default=256, help="WARC file rotation size, MB")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each command (median reported)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="build into (or reuse) this folder and keep it")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="verify-bench-")) / "storage"
    try:
        if not (root / "archiver.db").exists():
            start = time.perf_counter()
            captures, size = build(root, args.gb, args.file_mb, args.seed)
            print(f"built {captures} captures, {size / 1e6:.0f} MB of WARC in {time.perf_counter() - start:.1f} s")
        files = sorted(str(p) for p in (root / "warcs").glob("*.warc.gz"))
        size = sum(os.path.getsize(f) for f in files)
        n_records = 0
        print(f"{len(files)} WARC files, {size / 1e6:.0f} MB, {os.cpu_count()} CPUs, sha256sum:"
              f" {subprocess.run(['sha256sum', '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
        runs = {
            "archiver verify": [ARCHIVER, "--storage", str(root), "verify", "--json"],
            "archiver verify --quick": [ARCHIVER, "--storage", str(root), "verify", "--quick", "--json"],
            "sha256sum": ["sha256sum", *files],
            "sha256sum, 2 in parallel": ["sh", "-c", 'printf "%s\\n" "$@" | xargs -P 2 -n 1 sha256sum', "sh", *files],
        }
        if shutil.which("openssl"):  # the SHA-256 code hashlib uses (coreutils has its own)
            runs["openssl dgst -sha256"] = ["openssl", "dgst", "-sha256", *files]
        times: dict[str, list[float]] = {name: [] for name in runs}
        inside: dict[str, list[float]] = {name: [] for name in runs}
        for name, cmd in runs.items():  # warm-up: the page cache, and a check that each command works
            _, proc = timed(cmd)
            if proc.returncode != 0:
                sys.exit(f"{name} failed ({proc.returncode}): {proc.stderr[-2000:]}")
            if name == "archiver verify":
                n_records = json.loads(proc.stdout)["records"]
        for _ in range(args.rounds):
            for name, cmd in runs.items():
                seconds, proc = timed(cmd)
                assert proc.returncode == 0, proc.stderr
                times[name].append(seconds)
                if name.startswith("archiver"):
                    inside[name].append(json.loads(proc.stdout)["seconds"])
        print(f"records checked by a full verify: {n_records}\n")
        base = statistics.median(times["sha256sum"])
        print("| command | wall s (median) | MB/s | time / sha256sum time | audit s (no start-up) | audit MB/s |")
        print("|---|---:|---:|---:|---:|---:|")
        for name in runs:
            wall = statistics.median(times[name])
            own = f"{statistics.median(inside[name]):.2f} | {size / 1e6 / statistics.median(inside[name]):.0f}" \
                if inside[name] else "– | –"
            print(f"| {name} | {wall:.2f} | {size / 1e6 / wall:.0f} | {wall / base:.2f} | {own} |")
        print(f"\nall runs (s): {json.dumps({k: [round(t, 2) for t in v] for k, v in times.items()})}")
    finally:
        if args.keep is None:
            shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
