"""Time `read_pdf` (and `read_pdf` + `extract_text`) on a generated 300-page text-heavy paper, and
`extract_text` on URL-dense plain text of growing size (time must grow linearly with the text).

    . .venv/bin/activate && python bench/extract_bench.py [--pages 300] [--runs 3] [--text-mb 1.2]
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
    parser.add_argument("--text-mb", type=float, default=1.2, help="largest URL-dense text, in MB")
    args = parser.parse_args()
    url_dense_text(args.text_mb, args.runs)
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


def url_dense_text(megabytes: float, runs: int) -> None:
    """Footnote-style lines, bracketed and bare URLs, some wrapped: a quarter, half and all of the size."""
    lines = []
    size = 0
    i = 0
    while size < megabytes * 1e6:
        i += 1
        line = (f"{i} Human Rights Watch, report {i}, online: <https://www.site{i % 300}.org/news/2020/10/{i}/"
                f"article-\nnumber-{i}> accessed 23 October 2020; see also https://h{i}.example/p?q={i}&r=x")
        lines.append(line)
        size += len(line) + 1
    for share in (0.25, 0.5, 1.0):
        text = "\n".join(lines[: int(len(lines) * share)])
        took = median_time(runs, lambda text=text: extract_text(text, source="bench"))
        print(f"extract_text on {len(text) / 1e6:.2f} MB of URL-dense text: {took:.2f} s "
              f"({took / (len(text) / 1e6):.2f} s per MB)")


if __name__ == "__main__":
    main()
