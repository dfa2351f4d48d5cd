#!/usr/bin/env python3
"""The bare requests loop the snapshot bench compares archiver with: the ceiling for a Python client.

Imported by snapshot_bench.py (the loop in the bench's own process, requests already imported) and run
as a program (`python bench/bare_loop.py URLS_FILE CONCURRENCY`: the same loop as a process of its own,
paying the interpreter's start-up and `import requests` as archiver pays its own). Imports only what
the loop needs, so that the process's start-up is a plain requests program's.
"""

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests


def bare_loop(urls, concurrency):
    """Same concurrency, one Session per thread, raw bodies -> nowhere; (seconds, [(status, bytes)])."""
    local = threading.local()

    def fetch(url):
        if not hasattr(local, "session"):
            local.session = requests.Session()
        with local.session.get(url, stream=True, timeout=60) as r:
            n = sum(len(c) for c in r.raw.stream(65536, decode_content=False))
            return r.status_code, n

    t0 = time.perf_counter()
    ex = ThreadPoolExecutor(concurrency)
    try:
        res = list(ex.map(fetch, urls))
    finally:  # on Ctrl-C, don't drain the remaining queue first
        ex.shutdown(cancel_futures=True)
    return time.perf_counter() - t0, res


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        urls = f.read().split()
    seconds, res = bare_loop(urls, int(sys.argv[2]))
    print(json.dumps({"seconds": seconds, "non_200": sum(1 for code, _ in res if code != 200),
                      "bytes": sum(n for _, n in res)}))
