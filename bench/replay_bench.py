"""How long `archiver replay` takes to index a big archive, and to catch up while it runs.

    python bench/replay_bench.py                    # 300,000 captures of 10,000 URLs
    python bench/replay_bench.py --captures 3000000 --urls 100000

The database is generated (the real schema, rows written in bulk with sqlite3: one response record
per capture, a closed WARC file per 5,000 captures; the index reads only the database, never a
WARC). Timed: the first, whole build (index.cdxj + recent.cdxj), then a refresh after 500 new
captures in a WARC still open (recent.cdxj only), against the peer in the same run: the same
lines made one SURT call per record, as the index builder did before (and as indexers that read
each record do).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from archiver.archive import Archive
from archiver.cdx import CdxEntry, entries_from_rows, surt_key
from archiver.config import load_settings
from archiver.db import ArchiveDB
from archiver.replay import build_collection


def generate(db_path: Path, captures: int, urls: int, *, first: int = 1, open_file: bool = False) -> None:
    ArchiveDB.open(db_path).close()
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    files = set()
    rows_c, rows_r = [], []
    for i in range(first, first + captures):
        u = i % urls
        url = f"https://site{u % 5000:04d}.example.org/articles/{u:06d}/a-title-of-some-length"
        warc = "warcs/open.warc.gz" if open_file else f"warcs/archiver-{i // 5000:05d}.warc.gz"
        files.add(warc)
        day = i // urls
        at = f"2026-{1 + day % 12:02d}-{1 + day // 12 % 28:02d}T06:{i % 60:02d}:{i // 60 % 60:02d}.000000Z"
        rows_c.append((i, url, url, at, 200, "text/html; charset=utf-8", "response", warc, i * 4096, 4000))
        rows_r.append((i, warc, i * 4096, 4000, "response", url, at[:19] + "Z", f"sha1:{i:032d}"))
    conn.executemany("INSERT INTO captures (id, url, fetch_url, captured_at, http_status, content_type, record_type,"
                     " warc, warc_offset, warc_length) VALUES (?,?,?,?,?,?,?,?,?,?)", rows_c)
    conn.executemany('INSERT INTO records (capture_id, warc, "offset", length, rec_type, uri, date, payload_digest)'
                     " VALUES (?,?,?,?,?,?,?,?)", rows_r)
    conn.executemany("INSERT OR REPLACE INTO warc_files (name, state) VALUES (?, ?)",
                     [(name, "open" if open_file else "closed") for name in files])
    conn.execute("COMMIT")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captures", type=int, default=300_000)
    parser.add_argument("--urls", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="replay-bench-") as tmp:
        storage = Path(tmp) / "storage"
        storage.mkdir()
        db = storage / "archiver.db"
        generate(db, args.captures, args.urls)
        settings = load_settings(None, env={}, storage=storage)
        with Archive(settings, writing=False) as archive:
            t0 = time.perf_counter()
            whole = build_collection(archive, None)
            t_whole = time.perf_counter() - t0
            rows = archive.db.export_records(None)
            t0 = time.perf_counter()
            peer = sorted(_one_surt_per_record(e) for e in entries_from_rows(rows))
            t_peer = time.perf_counter() - t0
        generate(db, 500, args.urls, first=args.captures + 1, open_file=True)
        with Archive(settings, writing=False) as archive:
            t0 = time.perf_counter()
            recent = build_collection(archive, None, whole)
            t_recent = time.perf_counter() - t0
        size = db.stat().st_size / 1e6
        print(f"replay index: {args.captures:,} captures of {args.urls:,} URLs, database {size:.0f} MB")
        print(f"  whole build {t_whole:.2f} s ({whole.entries:,} lines; {args.captures / t_whole:,.0f} captures/s)")
        print(f"  peer, the lines alone with one SURT per record: {t_peer:.2f} s ({len(peer):,} lines);"
              f" ratio whole build / peer {t_whole / t_peer:.2f}")
        print(f"  refresh after 500 captures in an open WARC: {t_recent:.3f} s (recent.cdxj"
              f" {recent.entries - recent.base_entries} lines); ratio to whole build {t_recent / t_whole:.4f}")


def _one_surt_per_record(entry: CdxEntry) -> str:
    return f"{surt_key(entry.url)} {entry.timestamp} {entry.filename} {entry.offset}"


if __name__ == "__main__":
    main()
