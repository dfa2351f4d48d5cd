"""Time `read_pdf` (and `read_pdf` + `extract_text`) on a generated 300-page text-heavy paper.

    . .venv/bin/activate && python bench/extract_bench.py [--pages 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "helpers"))

from papers import make_pdf_pages  # noqa: E402

from archiver.extract.pdf import read_pdf  # noqa: E402
from archiver.extract.text import extract_text  # noqa: E402


def median_time(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "paper.pdf"
        start = time.perf_counter()
        urls = make_pdf_pages(path, args.pages)
        built = time.perf_counter() - start
        print(f"built {args.pages}-page PDF ({path.stat().st_size / 1e6:.1f} MB) in {built:.1f} s")
        document = read_pdf(path)
        found = extract_text(document.text, source=str(path))
        print(f"text: {len(document.text):,} chars; links: {len(document.links)} (expected {len(urls)}); "
              f"extract_text found {len(found.citations)} URLs")
        read = median_time(args.runs, lambda: read_pdf(path))
        both = median_time(args.runs, lambda: extract_text(read_pdf(path).text, source=str(path)))
        print(f"read_pdf: {read:.2f} s; read_pdf + extract_text: {both:.2f} s (median of {args.runs})")


if __name__ == "__main__":
    main()
