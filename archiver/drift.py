"""How far a page has moved from its baseline: a score in [0, 1] for its substance and a level.

Two texts of each page are compared (both from content.py's ``PageText``):

- the main text (the article, boilerplate removed) gives the **score**, so ``drift`` keeps meaning "how
  much of what was cited changed";
- the visible text (everything a reader sees: main text plus navigation, ads, banners, comments,
  bylines, footers) only decides between ``unchanged`` and ``minor``.

The score is the Jaccard distance between the sets of word 3-shingles (overlapping runs of three
words) of the two main texts, after normalisation: Unicode NFKC, case folding, words only (punctuation
and whitespace differences vanish). Shingles rather than single words make the measure order- and
wording-sensitive: a paraphrase that keeps the vocabulary but rewrites the sentences shares few
3-word runs, so it scores as the change it is (bag-of-words cosine would call it unchanged). Digits are
kept as they are: a changed figure in a cited article is a real, if minor, change.

Levels (thresholds are module constants so the checker and the report agree); compare() is the rule:

- ``major``: score >= MAJOR_AT. Article replaced, page emptied to a placeholder or error text, topic
  changed, full paraphrase, rewrite of about half the paragraphs.
- ``minor``: MINOR_AT <= score < MAJOR_AT, *or* a score of 0.0 with visible texts that differ (as word
  sequences, normalised as above). Typo fixes, changed figures or dates in the text, an added sentence,
  an "Update:" paragraph; and, with a main-text score of exactly 0.0, changes a reader sees outside
  the article: ads swapped, navigation or footer rewritten, cookie banner or comments added, byline
  date changed, a redesign with new menus.
- ``unchanged``: score 0.0 and the same visible words in the same order: the page a reader sees is the
  same. What may differ is only markup a reader never sees -- whitespace and indentation, attribute
  order and quoting, character references, script nonces, CSRF tokens in hidden inputs, analytics
  tags, cache-busting asset queries, HTML comments, ``<head>`` metadata, ``hidden`` elements and
  templates -- or, for PDFs, the document metadata. Titles are not compared (sites rename their title
  suffixes freely, and a replaced article shows in its text anyway).

drift_level(score) is the score-only part of that mapping; compare() passes it whether the visible
texts differ. Edge cases: when neither main text has a word, the visible texts are scored instead
(page_text never does that for HTML, whose main text falls back to the visible text, but a
hand-built PageText can); a PageText without visible text (PDF, plain text, built by hand) counts its
main text as what is visible.

Calibration (tests/drift_pairs: 46 labelled pairs, 43 HTML and 3 PDF, each with the label and where
its change lies; the per-pair table is printed by ``pytest -s tests/test_drift.py``). Scores with
3-word shingles: unchanged pairs (12: a byte-identical refetch, 10 invisible-markup variants, a
regenerated PDF) all 0.000 with identical visible words; minor pairs (22) 0.000 for the 10
boilerplate-only changes and 0.011-0.107 for the 12 main-text edits; major pairs (12) 0.721-1.000.
Accuracy 1.0. Between unchanged and minor there is no threshold to calibrate: the split is exact
(same visible words or not), so the margin there is structural, not numeric. The gap between minor
and major is (0.107, 0.721); its arithmetic middle is 0.41 and its geometric middle 0.28.
MAJOR_AT = 0.4 leaves margins of 0.29 below and 0.32 above, and the test fails if either falls under 0.15.
The threshold also reads simply: appending text of relative length g scores g/(1+g) and replacing a
fraction f of the paragraphs scores 2f/(1+f), so 0.4 is "a quarter of the paragraphs replaced" or "two
thirds of the article's length added" -- a correction note (g ~ 0.05-0.2) stays minor, replacing half
the paragraphs (0.67) is major. Shingle sizes 2-5 separated the pairs about equally well; single words
(bag of words) scored the full paraphrases only 0.67-0.68, where shared vocabulary hides the rewrite,
and 3 rather than 5 keeps short pages (a few dozen words) from being all-or-nothing. Boilerplate
never raises the score, so however much of the page around the article changes (a full redesign), the
level stays minor: a visible-text score would have called a redesign with a long new menu or comment
thread major, which is why the visible text only breaks the unchanged/minor tie.

MINOR_AT = 1e-9 because Jaccard over sets has no float noise to absorb: identical sets give exactly
0.0, and the smallest nonzero score is 1/|union| (> 2e-6 even for the 2 MB text cap in content.py), so
"unchanged" needs "same words in the same order", and a one-word typo fix in a long article is minor.
A consequence worth knowing: pages with rotating visible content (a "most read" list, a live
timestamp, rotating ads) are minor on almost every check; only major drift changes a verdict
(verdict.py), so that costs nothing but the distinction.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from archiver.content import PageText

SHINGLE_WORDS = 3
MINOR_AT = 1e-9
MAJOR_AT = 0.4
LEVELS = ("unchanged", "minor", "major")

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Drift:
    score: float  # 0 = same main text, 1 = nothing in common
    level: str  # one of LEVELS


def words(text: str) -> list[str]:
    """The comparable words of a text: NFKC, case-folded, punctuation and whitespace dropped."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[tuple[str, ...]]:
    """Overlapping runs of `size` words; a text shorter than that is one shingle of all its words."""
    return _shingles(words(text), size)


def _shingles(tokens: list[str], size: int = SHINGLE_WORDS) -> set[tuple[str, ...]]:
    if len(tokens) < size:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i:i + size]) for i in range(len(tokens) - size + 1)}


def drift_score(baseline: str, current: str) -> float:
    """Jaccard distance of the word-shingle sets: 0.0 same text, 1.0 nothing in common.

    Symmetric. Both texts empty (no words) is 0.0; exactly one empty is 1.0.
    """
    return _distance(words(baseline), words(current))


def _distance(old_words: list[str], new_words: list[str]) -> float:
    old, new = _shingles(old_words), _shingles(new_words)
    if not old and not new:
        return 0.0
    return 1.0 - len(old & new) / len(old | new)


def drift_level(score: float, *, visible_changed: bool = False) -> str:
    """The level for a main-text score alone; `visible_changed` (the visible texts differ) lifts
    "unchanged" to "minor". compare() applies the full rule and is what callers use."""
    if score >= MAJOR_AT:
        return "major"
    if score >= MINOR_AT or visible_changed:
        return "minor"
    return "unchanged"


def compare(baseline: PageText, current: PageText) -> Drift:
    """Drift of the current page from the baseline: score from the main texts, level from the score and
    from whether the visible texts differ (titles are not compared: sites rename their title suffixes
    freely, and a replaced article shows in its text anyway).

    When neither main text has a single word, the visible texts are scored instead (page_text never
    does that for HTML, whose main text falls back to the visible text, but a hand-built PageText may).
    A PageText with no `visible` (built by hand) counts its main text as what is visible.
    """
    old_main, new_main = words(baseline.text), words(current.text)
    old_seen = words(baseline.visible) if baseline.visible else old_main
    new_seen = words(current.visible) if current.visible else new_main
    score = _distance(old_main, new_main) if old_main or new_main else _distance(old_seen, new_seen)
    return Drift(score=score, level=drift_level(score, visible_changed=old_seen != new_seen))
