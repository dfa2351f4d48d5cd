"""Benchmark `archiver report --format json -o out.json` over a generated archive database.

    python bench/report_bench.py                       # 100,000 citations x 30 checks (target < 2 s)
    python bench/report_bench.py --citations 1000 --keep DIR

The database is made by `generate` below: the real schema (ArchiveDB runs the migrations), then rows
written in bulk with sqlite3, shaped like what `archiver check` records (one check and one capture
per URL per daily run, revisits when unchanged), run after run in time order, so the schema's
url_state triggers keep each URL's state as they do for `archiver check`. Only the bench (and
tests of the SQL views and of url_state) writes rows this way; the report tests build their history
through the real CLI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from archiver.db import ArchiveDB

FAILED = ["not_found", "gone", "server_error", "dns_error", "connection_error", "timeout", "soft_404", "parked"]
BLOCKED = ["forbidden", "rate_limited", "login_wall"]
START = dt.datetime(2026, 1, 1, 6, 0, tzinfo=dt.UTC)


def stamp(t: dt.datetime) -> str:
    return t.isoformat(timespec="microseconds").replace("+00:00", "Z")


def fate_statuses(rng: random.Random, checks: int) -> tuple[list[str], list[str | None]]:
    """Status and drift level of each check of one URL: most stay alive, some drift, die, flap or block."""
    roll = rng.random()
    ok = ["ok"] * checks
    drift: list[str | None] = ["unchanged"] * checks
    if roll < 0.70:
        if rng.random() < 0.3:
            k = rng.randrange(checks)
            drift[k:] = ["minor"] * (checks - k)
        return ok, drift
    k = rng.randrange(1, checks)
    if roll < 0.78:  # article replaced
        drift[k:] = ["major"] * (checks - k)
        return ok, drift
    if roll < 0.88:  # died at check k (dead if k is early enough, else still failing)
        word = rng.choice(FAILED)
        return ok[:k] + [word] * (checks - k), drift[:k] + [None] * (checks - k)
    if roll < 0.93:  # flapping
        statuses = [rng.choice(["ok", "server_error", "timeout"]) for _ in range(checks)]
        return statuses, [("unchanged" if s == "ok" else None) for s in statuses]
    if roll < 0.98:  # blocked from check k on
        word = rng.choice(BLOCKED)
        return ok[:k] + [word] * (checks - k), drift[:k] + [None] * (checks - k)
    return ok[:-1] + ["not_found"], drift[:-1] + [None]  # failing since the last run


def generate(path: Path, citations: int, checks: int, *, per_manifest: int = 100, seed: int = 1) -> None:
    """An archive database with `citations` citations (in manifests of `per_manifest`), each URL
    checked `checks` times, one run a day."""
    ArchiveDB.open(path).close()  # the real schema, every migration
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    # Run-major order inserts into every (fetch_url, ...) index at random places: with SQLite's default
    # 2 MB page cache the one big transaction spills and rereads pages endlessly (hours at 100,000 URLs).
    conn.execute("PRAGMA cache_size=-6000000")  # 6 GB, only as much as is touched
    conn.execute("BEGIN")
    loaded = stamp(START)
    runs = [(i + 1, "check", stamp(START + dt.timedelta(days=i)), stamp(START + dt.timedelta(days=i, hours=1)),
             "[]", 0, 0, 0, "finished", citations) for i in range(checks)]
    conn.executemany("INSERT INTO runs (id, command, started_at, finished_at, targets, captured, unchanged, failed,"
                     " status, checked) VALUES (?,?,?,?,?,?,?,?,?,?)", runs)
    manifests = (citations + per_manifest - 1) // per_manifest
    conn.executemany("INSERT INTO manifests (path, name, title, source, schedule, loaded_at) VALUES (?,?,?,?,?,?)",
                     [(f"manifests/paper{m:05d}.yaml", f"paper{m:05d}", f"Paper {m}", None, "{}", loaded)
                      for m in range(manifests)])
    cite_rows = []
    for i in range(citations):
        m = i // per_manifest
        url = f"https://site{i % 5000:04d}.example.org/articles/{i:06d}/a-title-of-some-length"
        cite_rows.append((f"manifests/paper{m:05d}.yaml", f"fn{i % per_manifest + 1}", f"fn{i % per_manifest + 1}",
                          url, url, f"Author, \"Title {i}\" (2020)", i % per_manifest + 1, loaded, loaded))
    conn.executemany("INSERT INTO citations (manifest, key, citation_id, url, fetch_url, context, line, first_seen,"
                     " last_seen) VALUES (?,?,?,?,?,?,?,?,?)", cite_rows)
    # Run by run, as `archiver check` records them (and as the url_state triggers of schema v5 expect:
    # a URL's checks in time order; an older one would mark it dirty). The newest run is then the
    # table's last rows.
    fates = [fate_statuses(rng, checks) for _ in cite_rows]
    originals: list[int | None] = [None] * len(cite_rows)
    capture_id = 0
    captures: list[tuple[object, ...]] = []
    check_rows: list[tuple[object, ...]] = []
    for n in range(checks):
        for i, (manifest, cid, _key, url, _f, _ctx, _line, _a, _b) in enumerate(cite_rows):
            status, level = fates[i][0][n], fates[i][1][n]
            original = originals[i]
            at = stamp(START + dt.timedelta(days=n, seconds=i % 3000, microseconds=rng.randrange(10**6)))
            http = {"ok": 200, "not_found": 404, "gone": 410, "server_error": 503, "forbidden": 403,
                    "rate_limited": 429, "login_wall": 200, "soft_404": 200, "parked": 200}.get(status)
            capture_id += 1
            changed = original is None or level in ("minor", "major") and rng.random() < 0.2
            kind = None if http is None else "response" if changed or status != "ok" else "revisit"
            captures.append((capture_id, n + 1, url, url, manifest, cid, at, "ok" if http else status, http, url,
                             "text/html", 20000, f"{capture_id:064x}", f"SHA1{capture_id:028d}", kind,
                             f"archiver-2026-{n:03d}.warc.gz" if http else None, capture_id * 4096 if http else None,
                             4000 if http else None, None if kind != "revisit" else original))
            if kind == "response" and status == "ok":
                originals[i] = capture_id
            drift = {"unchanged": 0.0, "minor": 0.12, "major": 0.71}.get(level or "")
            check_rows.append((n + 1, at, url, url, manifest, cid, status, None, http, url if http else None,
                               drift, level, capture_id))
            if len(check_rows) >= 200_000:
                _flush(conn, captures, check_rows)
    _flush(conn, captures, check_rows)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def _flush(conn: sqlite3.Connection, captures: list[tuple[object, ...]], checks: list[tuple[object, ...]]) -> None:
    conn.executemany("INSERT INTO captures (id, run_id, url, fetch_url, manifest, citation_id, captured_at, outcome,"
                     " http_status, final_url, content_type, payload_size, payload_sha256, payload_sha1, record_type,"
                     " warc, warc_offset, warc_length, refers_to) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     captures)
    conn.executemany("INSERT INTO checks (run_id, checked_at, url, fetch_url, manifest, citation_id, status, reason,"
                     " http_status, final_url, drift, drift_level, capture_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     checks)
    captures.clear()
    checks.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--citations", type=int, default=100_000)
    parser.add_argument("--checks", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3, help="timed report runs (the best and all are printed)")
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder and keep it")
    parser.add_argument("--archiver", default=str(Path(sys.executable).with_name("archiver")))
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="report-bench-"))
    storage = folder / "storage"
    db = storage / "archiver.db"
    if not db.exists():
        storage.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        generate(db, args.citations, args.checks)
        print(f"generated {args.citations:,} citations x {args.checks} checks in {time.perf_counter() - t0:.1f} s")
    size = db.stat().st_size
    print(f"database: {db} {size / 1e6:.0f} MB")
    times = []
    out = folder / "out.json"
    for _ in range(args.runs):
        t0 = time.perf_counter()
        proc = subprocess.run([args.archiver, "--storage", str(storage), "report", "--format", "json", "-o", str(out)],
                              capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
        times.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 1):
            sys.exit(f"archiver report failed ({proc.returncode}): {proc.stderr}")
    rows = json.loads(out.read_text())
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
    startup = min(_timed([args.archiver, "--version"]) for _ in range(3))
    print(f"report --format json: best {min(times):.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)}),"
          f" {len(rows):,} rows, {out.stat().st_size / 1e6:.0f} MB of JSON; target < 2 s")
    print(f"  of which process start-up (archiver --version): {startup:.2f} s")
    print(f"  verdicts: {json.dumps(counts)}")
    if not args.keep:
        for path in sorted(folder.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        folder.rmdir()


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
