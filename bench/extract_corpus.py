"""Score `archiver extract` on the corpus of real documents in tests/corpus/: recall and precision of the
cited URLs per document, per format and in total (and of DOIs, once the extractor reports them apart).

    . .venv/bin/activate && python bench/extract_corpus.py [--docs DIR] [--json] [--verbose]

Each document NAME (e.g. `law-anderson-v-creighton.md`) has its hand-checked truth in
tests/corpus/NAME.expected.json: `urls` (every cited URL as the author intended), `optional` (URLs a
reasonable reader might or might not count: neither rewarded nor penalised) and `dois`.

The documents themselves are third-party files: they are looked for in `--docs`, else in
$ARCHIVER_CORPUS_DOCS, else beside the expected files in tests/corpus/, else in ../shared/corpus/
(the steering repository's shared material, beside the project's root).

How extracted citations are compared:
- Extraction is the library call the CLI makes (`archiver.extract.extract_papers`), offline
  (`probe=False`): no network; a URL counts as extracted when it is a citation's `url`.
- URLs are compared after `archiver.urls.normalize_url` (the form archiver fetches), with the fragment
  kept as printed: normalize_url drops it, but `page.html#106` and `page.html#107` are different
  citations, and a lost fragment is one of the failures this corpus is meant to catch.
- A citation with a `doi` attribute (how the extractor will report DOIs apart from URLs) is scored
  against `dois`, compared case-insensitively without a `doi:`/`https://doi.org/` prefix. A doi.org
  link reported as a plain URL is a DOI reported as a URL: it counts against URL precision (and is
  listed as `doi-as-url` with --verbose).
- Duplicates count once: the truth lists each distinct URL once, and so is the extraction scored.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere: import this checkout's archiver
    sys.path.insert(0, str(REPO))

from archiver.errors import ArchiverError  # noqa: E402
from archiver.extract import extract_papers  # noqa: E402
from archiver.urls import InvalidURL, normalize_url  # noqa: E402

CORPUS = REPO / "tests" / "corpus"
EXPECTED_SUFFIX = ".expected.json"
FORMATS = {".pdf": "pdf", ".bib": "bibtex", ".tex": "latex", ".md": "markdown", ".html": "html", ".htm": "html",
           ".docx": "docx/odt", ".odt": "docx/odt"}
THRESHOLD = 0.98
_DOI_PREFIXES = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi:")


def url_key(url: str) -> str:
    """The form two URLs are compared in: archiver's fetch form plus the fragment as printed."""
    text = url.strip()
    try:
        key = normalize_url(text)
    except InvalidURL:
        return text  # not a URL archiver could fetch: it can only match itself (and so counts as junk)
    fragment = urlsplit(text).fragment
    return f"{key}#{fragment}" if fragment else key


def doi_key(doi: str) -> str:
    text = doi.strip()
    for prefix in _DOI_PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
            break
    return unquote(text).strip().lower()


def doi_of_url(url: str) -> str | None:
    """The DOI a doi.org link resolves, or None for any other URL."""
    parts = urlsplit(url.strip())
    if parts.hostname in ("doi.org", "dx.doi.org", "www.doi.org") and parts.path.startswith("/10."):
        return doi_key(parts.path[1:])
    return None


@dataclass
class Expected:
    urls: list[str]
    optional: list[str]
    dois: list[str]

    @classmethod
    def load(cls, path: Path) -> Expected:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(urls=list(data["urls"]), optional=list(data.get("optional", [])), dois=list(data.get("dois", [])))


@dataclass
class Score:
    expected: int = 0
    found: int = 0  # distinct extracted, optional ones left out
    hits: int = 0

    @property
    def recall(self) -> float:
        return self.hits / self.expected if self.expected else 1.0

    @property
    def precision(self) -> float:
        return self.hits / self.found if self.found else 1.0

    def add(self, other: Score) -> None:
        self.expected += other.expected
        self.found += other.found
        self.hits += other.hits


@dataclass
class DocumentScore:
    name: str
    format: str
    urls: Score
    dois: Score | None  # None while the extractor reports no DOI citations apart from URLs
    missed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    doi_as_url: list[str] = field(default_factory=list)
    error: str | None = None


def score_sets(expected: Iterable[str], optional: Iterable[str], extracted: Iterable[str]) -> tuple[Score, list[str],
                                                                                                      list[str]]:
    want = dict.fromkeys(expected)
    maybe = set(optional) - set(want)
    got = [k for k in dict.fromkeys(extracted) if k not in maybe]
    hits = [k for k in got if k in want]
    missed = [k for k in want if k not in set(got)]
    extra = [k for k in got if k not in want]
    return Score(expected=len(want), found=len(got), hits=len(hits)), missed, extra


def extracted(path: Path) -> tuple[list[str], list[str] | None]:
    """URLs and DOIs `archiver extract --offline` finds in the document (DOIs None when it reports none apart)."""
    urls: list[str] = []
    dois: list[str] = []
    reports_dois = False
    for result in extract_papers([path], probe=False):
        for citation in result.citations:
            doi = getattr(citation, "doi", None)
            if hasattr(citation, "doi"):
                reports_dois = True
            if doi:
                dois.append(doi)
            else:
                urls.append(citation.url)
        for item in getattr(result, "dois", []) or []:  # or a list of DOI citations beside the URLs
            reports_dois = True
            dois.append(getattr(item, "doi", item))
    return urls, (dois if reports_dois else None)


def score_document(path: Path, expected: Expected) -> DocumentScore:
    fmt = FORMATS.get(path.suffix.lower(), path.suffix.lower().lstrip("."))
    try:
        urls, dois = extracted(path)
        error = None
    except ArchiverError as exc:  # an unreadable or unsupported document finds nothing
        urls, dois, error = [], None, str(exc)
    want_dois = [doi_key(d) for d in expected.dois]
    url_score, missed, extra = score_sets((url_key(u) for u in expected.urls), (url_key(u) for u in expected.optional),
                                          (url_key(u) for u in urls))
    doi_score = None
    if dois is not None:
        doi_score, missed_dois, extra_dois = score_sets(want_dois, (), (doi_key(d) for d in dois))
        missed += [f"doi:{d}" for d in missed_dois]
        extra += [f"doi:{d}" for d in extra_dois]
    as_url = [u for u in extra if doi_of_url(u) in set(want_dois)]
    return DocumentScore(path.name, fmt, url_score, doi_score, missed, extra, as_url, error)


def docs_dir(given: str | None = None) -> Path | None:
    """Where the corpus documents are: --docs, $ARCHIVER_CORPUS_DOCS, tests/corpus/, ../shared/corpus/."""
    names = [p.name.removesuffix(EXPECTED_SUFFIX) for p in CORPUS.glob(f"*{EXPECTED_SUFFIX}")]
    candidates = [given, os.environ.get("ARCHIVER_CORPUS_DOCS"), str(CORPUS), str(REPO.parent / "shared" / "corpus")]
    for candidate in candidates:
        if candidate and names and all((Path(candidate) / n).is_file() for n in names):
            return Path(candidate)
    return None


def expected_files() -> list[Path]:
    return sorted(CORPUS.glob(f"*{EXPECTED_SUFFIX}"))


def score_corpus(docs: Path) -> list[DocumentScore]:
    scores = []
    for exp in expected_files():
        name = exp.name.removesuffix(EXPECTED_SUFFIX)
        scores.append(score_document(docs / name, Expected.load(exp)))
    return scores


def by_format(scores: list[DocumentScore]) -> dict[str, tuple[Score, Score | None]]:
    groups: dict[str, tuple[Score, Score | None]] = {}
    for s in scores:
        urls, dois = groups.setdefault(s.format, (Score(), None if s.dois is None else Score()))
        urls.add(s.urls)
        if s.dois is not None:
            if dois is None:
                dois = Score()
                groups[s.format] = (urls, dois)
            dois.add(s.dois)
    return dict(sorted(groups.items()))


def total(scores: list[DocumentScore]) -> Score:
    whole = Score()
    for s in scores:
        whole.add(s.urls)
    return whole


def _row(label: str, fmt: str, score: Score, dois: Score | None) -> str:
    doi_text = "-" if dois is None else f"{dois.recall:.2f}/{dois.precision:.2f}"
    return (f"{label:<52} {fmt:<9} {score.expected:>4} {score.found:>5} {score.hits:>4} {score.recall:>7.3f}"
            f" {score.precision:>9.3f}  {doi_text}")


def report(scores: list[DocumentScore], verbose: bool) -> str:
    head = (f"{'document':<52} {'format':<9} {'want':>4} {'found':>5} {'hit':>4} {'recall':>7} {'precision':>9}"
            "  dois r/p")
    lines = [head, "-" * len(head)]
    for s in scores:
        lines.append(_row(s.name, s.format, s.urls, s.dois))
        if s.error:
            lines.append(f"    error: {s.error}")
        if verbose:
            lines += [f"    missed: {u}" for u in s.missed]
            lines += [f"    extra:  {u}{'  (doi-as-url)' if u in s.doi_as_url else ''}" for u in s.extra]
    lines += ["", head, "-" * len(head)]
    for fmt, (urls, dois) in by_format(scores).items():
        flag = "" if min(urls.recall, urls.precision) >= THRESHOLD else "   < 0.98"
        lines.append(_row(f"format {fmt}", fmt, urls, dois) + flag)
    lines.append(_row("total", "all", total(scores), None))
    return "\n".join(lines)


def as_json(scores: list[DocumentScore]) -> str:
    def score_dict(score: Score | None) -> dict[str, float | int] | None:
        if score is None:
            return None
        return {**asdict(score), "recall": round(score.recall, 4), "precision": round(score.precision, 4)}

    out = {
        "documents": [{**asdict(s), "urls": score_dict(s.urls), "dois": score_dict(s.dois)} for s in scores],
        "formats": {fmt: {"urls": score_dict(u), "dois": score_dict(d)} for fmt, (u, d) in by_format(scores).items()},
        "total": score_dict(total(scores)),
    }
    return json.dumps(out, indent=2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", help="directory holding the corpus documents")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--verbose", "-v", action="store_true", help="list each missed and extra URL")
    args = parser.parse_args()
    docs = docs_dir(args.docs)
    if docs is None:
        print("corpus documents not found: pass --docs DIR or set ARCHIVER_CORPUS_DOCS "
              "(looked in tests/corpus/ and ../shared/corpus/)", file=sys.stderr)
        return 2
    scores = score_corpus(docs)
    print(as_json(scores) if args.json else report(scores, args.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
