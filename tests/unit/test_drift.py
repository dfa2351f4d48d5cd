"""The drift measure, against labelled page pairs (tests/drift_pairs/labels.yaml) and as properties.

`pytest -s tests/test_drift.py` prints the per-pair score table and the confusion table; that table is
what MAJOR_AT in archiver/drift.py was calibrated on. Each pair also says where its difference lies
(`change`): "none", "markup" (nothing a reader sees), "boilerplate" (visible, outside the main text) or
"main text"; the first two must come out unchanged, boilerplate minor with a main-text score of 0.0.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.content import PageText, page_text
from archiver.drift import LEVELS, MAJOR_AT, MINOR_AT, Drift, compare, drift_level, drift_score

PAIRS_DIR = Path(__file__).resolve().parent.parent / "drift_pairs"
# Between the labels, the lowest major and highest minor score must each stay this far from MAJOR_AT,
# so a small change to extraction or to the pages cannot silently move pairs across the threshold.
MARGIN = 0.15
CHANGES = ("none", "markup", "boilerplate", "main text")


@cache
def pairs() -> list[dict[str, str]]:
    loaded = yaml.safe_load((PAIRS_DIR / "labels.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, list)
    return loaded


@cache
def text_of(name: str) -> PageText:
    kind = "application/pdf" if name.endswith(".pdf") else "text/html"
    return page_text((PAIRS_DIR / name).read_bytes(), kind)


@cache
def results() -> list[tuple[dict[str, str], Drift]]:
    return [(pair, compare(text_of(pair["baseline"]), text_of(pair["current"]))) for pair in pairs()]


def confusion_report() -> tuple[float, str]:
    rows = results()
    lines = [f"{'pair':26} {'label':10} {'change':12} {'got':10} score", "-" * 69]
    for label in LEVELS:  # grouped by label so each label's score range reads off directly
        for pair, drift in rows:
            if pair["label"] == label:
                mark = "" if drift.level == label else "   <-- wrong"
                lines.append(f"{pair['name']:26} {label:10} {pair['change']:12} {drift.level:10} "
                             f"{drift.score:.3f}{mark}")
    lines += ["", "confusion (rows: label, columns: compare().level)",
              f"{'':10} " + " ".join(f"{x:>9}" for x in LEVELS)]
    counts = Counter((pair["label"], drift.level) for pair, drift in rows)
    for label in LEVELS:
        lines.append(f"{label:10} " + " ".join(f"{counts[label, got]:9d}" for got in LEVELS))
    for label in LEVELS:
        scores = [drift.score for pair, drift in rows if pair["label"] == label]
        lines.append(f"{label:10} scores {min(scores):.3f} .. {max(scores):.3f}  (n={len(scores)})")
    accuracy = sum(counts[label, label] for label in LEVELS) / len(rows)
    lines.append(f"accuracy {accuracy:.3f} on {len(rows)} pairs; MINOR_AT={MINOR_AT:g} MAJOR_AT={MAJOR_AT:g}")
    return accuracy, "\n".join(lines)


def test_labelled_pairs_are_classified() -> None:
    accuracy, report = confusion_report()
    print("\n" + report)
    assert accuracy >= 0.9, f"accuracy {accuracy:.3f} < 0.9\n{report}"
    # Confusing unchanged with minor is cheap; calling a replaced page minor (or a refetch major) is not.
    crossings = [pair["name"] for pair, drift in results() if (pair["label"] == "major") != (drift.level == "major")]
    assert not crossings, f"major/non-major confusion (accuracy {accuracy:.3f}): {crossings}\n{report}"


def test_threshold_sits_in_the_gap_with_margin() -> None:
    highest_minor = max(d.score for pair, d in results() if pair["label"] != "major")
    lowest_major = min(d.score for pair, d in results() if pair["label"] == "major")
    assert highest_minor + MARGIN <= MAJOR_AT <= lowest_major - MARGIN, (highest_minor, MAJOR_AT, lowest_major)


def test_only_main_text_changes_reach_the_score() -> None:
    wrong = [(pair["name"], d.score) for pair, d in results()
             if (d.score > 0.0) != (pair["change"] == "main text")]
    assert wrong == []


def test_boilerplate_only_changes_are_minor_with_zero_drift() -> None:
    got = {pair["name"]: d for pair, d in results() if pair["change"] == "boilerplate"}
    assert len(got) >= 8
    assert {name: d for name, d in got.items() if d != Drift(0.0, "minor")} == {}


def test_invisible_markup_changes_are_unchanged() -> None:
    got = {pair["name"]: d for pair, d in results() if pair["change"] in ("none", "markup")}
    assert len(got) >= 10
    assert {name: d for name, d in got.items() if d != Drift(0.0, "unchanged")} == {}


def test_pair_files_are_as_described() -> None:
    listed = pairs()
    assert len(listed) >= 36
    labels = Counter(pair["label"] for pair in listed)
    assert set(labels) == set(LEVELS) and min(labels.values()) >= 10, labels
    assert {pair["change"] for pair in listed} == set(CHANGES)
    # The label follows from where the change lies, except within the main text (minor or major by size).
    implied = {"none": "unchanged", "markup": "unchanged", "boilerplate": "minor"}
    assert [p["name"] for p in listed if p["label"] != implied.get(p["change"], p["label"])] == []
    names = {f for pair in listed for f in (pair["baseline"], pair["current"])}
    assert all((PAIRS_DIR / f).is_file() for f in names)
    pdfs = [pair for pair in listed if pair["baseline"].endswith(".pdf")]
    assert 2 <= len(pdfs) <= 4
    assert all((PAIRS_DIR / f).stat().st_size < 50_000 for f in names)
    assert all(pair["why"] for pair in listed)
    baselines = {pair["baseline"] for pair in listed if pair["baseline"].endswith(".html")}
    assert all(300 <= len(text_of(f).text.split()) <= 1500 for f in baselines)


# -- properties ----------------------------------------------------------------------------------------

prose = st.lists(st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=8), max_size=60).map(" ".join)


@given(prose, prose)
@settings(max_examples=200, deadline=None)
def test_score_is_a_symmetric_distance_in_unit_interval(a: str, b: str) -> None:
    score = drift_score(a, b)
    assert 0.0 <= score <= 1.0
    assert score == drift_score(b, a)
    assert drift_level(score) in LEVELS


@given(prose)
def test_identical_text_is_unchanged(a: str) -> None:
    assert compare(PageText("t", a, "html"), PageText("other title", a, "html")) == Drift(0.0, "unchanged")


@given(st.text("abcdefghij XYZ0129\n", max_size=200))
def test_case_whitespace_and_punctuation_do_not_count(a: str) -> None:
    # ASCII on purpose: upper() is not undone by casefold() for every script (Turkish dotless i).
    noisy = "  ".join(f"{w.upper()}," for w in a.split())
    assert drift_score(a, "\n" + noisy + " .") == 0.0


@given(st.lists(st.from_regex(r"[a-m]{2,6}", fullmatch=True), min_size=1, max_size=40),
       st.lists(st.from_regex(r"[n-z]{2,6}", fullmatch=True), min_size=1, max_size=40))
def test_disjoint_vocabularies_are_major(a: list[str], b: list[str]) -> None:
    score = drift_score(" ".join(a), " ".join(b))
    assert score >= MAJOR_AT and drift_level(score) == "major"


@given(prose, prose)
@settings(max_examples=100, deadline=None)
def test_visible_change_alone_is_minor_never_major(main: str, extra: str) -> None:
    article = f"the cited article says {main}"
    before = PageText("t", article, "html", visible=f"Home News Sport\n{article}")
    after = PageText("t", article, "html", visible=f"Home News Sport\n{article}\nCookies {extra}")
    assert compare(before, after) == Drift(0.0, "minor")


def test_visible_text_normalised_like_shingles() -> None:
    before = PageText("t", "Body text here.", "html", visible="Menu | Home\nBody text here.")
    after = PageText("t", "Body text here.", "html", visible="MENU  home\n\n  body TEXT, here")
    assert compare(before, after) == Drift(0.0, "unchanged")
    assert compare(before, PageText("t", "Body text here.", "html", visible="Menu Home Body text here. Ad")) \
        == Drift(0.0, "minor")


def test_without_visible_text_the_main_text_stands_in() -> None:
    # Hand-built PageTexts (and PDFs, plain text) carry no separate visible text, or the same as `text`.
    assert compare(PageText("t", "same words", "pdf"), PageText("t", "same words", "pdf", "same words")) \
        == Drift(0.0, "unchanged")


def test_both_main_texts_empty_scores_the_visible_texts() -> None:
    # page_text never yields this for HTML (its main text falls back to the visible text), but a caller may.
    before = PageText("t", "", "html", visible="cookie banner and nothing else on the page")
    assert compare(before, PageText("t", "", "html", visible=before.visible)) == Drift(0.0, "unchanged")
    assert compare(before, PageText("t", "", "html", visible="a different banner and nothing else")).level == "major"
    assert compare(before, PageText("t", "", "html")) == Drift(1.0, "major")


def test_empty_texts() -> None:
    assert drift_score("", "") == 0.0 and drift_score(" \n ", "...") == 0.0
    assert drift_score("", "some text here") == 1.0 == drift_score("some text here", "")
    assert compare(PageText("a", "", "html"), PageText("b", "Page has moved", "html")) == Drift(1.0, "major")


def test_nfkc_folds_compatibility_forms() -> None:
    assert drift_score("ﬁnal ｒｅｐｏｒｔ №5", "final report No5") == 0.0


@pytest.mark.parametrize(("score", "level"), [(0.0, "unchanged"), (MINOR_AT, "minor"), (0.004, "minor"),
                                              (MAJOR_AT - 1e-6, "minor"), (MAJOR_AT, "major"), (1.0, "major")])
def test_levels_at_the_thresholds(score: float, level: str) -> None:
    assert drift_level(score) == level
    assert drift_level(score, visible_changed=True) == ("minor" if level == "unchanged" else level)


def test_one_word_edit_in_a_long_text_is_minor_not_unchanged() -> None:
    # The smallest possible nonzero score is 1/|union|; MINOR_AT must stay below it for any real page.
    article = " ".join(f"word{i}" for i in range(20_000))
    assert drift_level(drift_score(article, article.replace("word777 ", "word778 "))) == "minor"


def test_paraphrase_counts_where_bag_of_words_would_not() -> None:
    a = "the council approved the plan to cut fares for young people on every route in the district"
    b = "on every route in the district the plan to cut fares for young people the council approved"
    assert sorted(a.split()) == sorted(b.split())
    assert drift_score(a, b) > 0.2
