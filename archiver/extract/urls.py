"""Repair of URLs damaged by PDF-to-text extraction, using only evidence found in the document itself.

Every repair here either removes characters that cannot belong to the URL (line breaks, trailing
punctuation, LaTeX escapes) or restores a hyphen the extraction dropped when two lines were joined.
Nothing else is ever added, so an emitted URL can always be traced back to the printed text.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from .. import stamps
from ..errors import InvalidURL
from ..urls import normalize_url

_SCHEME = re.compile(r"^(https?):/{1,3}", re.IGNORECASE)
_WAYBACK = re.compile(r"^(?:https?://)?web\.archive\.org/web/(\d{4,14})(?:[a-z]{2}_)?/(.+)$", re.IGNORECASE)
_LATEX = re.compile(r"\\([_%#&~$])")
_TRAILING = ".,;:!?'\"”’“‘*"
_PAIRS = {")": "(", "]": "[", "}": "{", ">": "<"}
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_PARTIAL_ESCAPE = re.compile(r"%[0-9A-Fa-f]?$")
_LETTERS = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]+(?![A-Za-z0-9])")
_WORD = re.compile(r"[^\W\d_]+")
# A UUID printed across two PDF lines loses one of its dashes: 32 hex digits in 5 groups, one glued.
_UUIDISH = re.compile(r"(?<![0-9a-fA-F-])[0-9a-fA-F-]{33,35}(?![0-9a-fA-F-])")
_UUID_DASHES = (8, 12, 16, 20)
# Platform path words that are always hyphenated; the dropped hyphen cannot be inferred from prose.
_KNOWN_HYPHENATED = {"wpcontent": "wp-content", "wpincludes": "wp-includes", "wpadmin": "wp-admin",
                     "wpjson": "wp-json"}
_MAX_CANDIDATES = 10
# Hyphenated words, found from a word's start only and without backtracking: tried at every letter
# of a long unhyphenated run (a 40 kB token) the plain pattern took time quadratic in its length.
_HYPHENATED = re.compile(r"(?<![^\W_])[^\W_]++(?:-[^\W_]++)+")


class Evidence:
    """What the document says about its own words: the basis for restoring dropped hyphens."""

    def __init__(self, prose: str, urls: list[str]) -> None:
        words: set[str] = set()
        for match in _WORD.finditer(prose):
            word = match.group().lower()
            words.add(word)
            # Possessives ("Azerbaijan’s") appear glued in slugs ("azerbaijans"); plurals likewise.
            words.add(word + "s")
        self.words = words
        # Hyphenated pairs anywhere, URLs included: "82-year-old" in a query is evidence for its path.
        everything = (prose + "\n" + "\n".join(urls)).lower()
        self.pairs = {pair for word in _HYPHENATED.findall(everything)
                      for pair in _adjacent_pairs(word.split("-"))}


def _adjacent_pairs(parts: list[str]) -> list[str]:
    return [f"{a}-{b}" for a, b in zip(parts, parts[1:], strict=False)]


@dataclass
class Repaired:
    url: str
    cited_as: str | None
    candidates: list[str] = field(default_factory=list)
    suspect: bool = False
    memento: dict[str, str] | None = None
    note: str | None = None
    # The URL as printed with only the certain repairs (lines joined, scheme, escapes, memento
    # unwrapped); None when that form is not a valid URL. `url` differs from it only by guesses.
    printed_url: str | None = None


@dataclass(frozen=True)
class _Fix:
    pos: int  # index in the joined URL where a "-" goes
    score: int  # 3: pair printed hyphenated elsewhere; 2: both halves are words; 1: one half is; 0: a guess
    token: int = -1  # start of the word it splits: one hyphen per word at most


def unescape_latex(text: str) -> str:
    return _LATEX.sub(r"\1", text)


def strip_trailing(text: str) -> str:
    """Drop sentence punctuation and closing brackets that the URL does not open itself."""
    while text:
        last = text[-1]
        if last in _TRAILING:
            text = text[:-1]
        elif last in _PAIRS and text.count(_PAIRS[last]) < text.count(last):
            text = text[:-1]
        else:
            break
    return text


def join_lines(printed: str) -> tuple[str, list[int]]:
    """Join the pieces of a URL broken over lines; return the text and the offsets of the breaks."""
    pieces = [piece.strip() for piece in printed.splitlines()]
    pieces = [piece for piece in pieces if piece]
    joined, breaks = "", []
    for piece in pieces:
        if joined:
            breaks.append(len(joined))
        joined += piece
    return joined, breaks


def with_scheme(text: str) -> tuple[str, bool]:
    """Absolute form of `text`; True when the scheme was added rather than printed."""
    match = _SCHEME.match(text)
    if match:
        return f"{match.group(1).lower()}://{text[match.end():]}", False
    return "https://" + text, True


def with_fragment(normalized: str, original: str) -> str:
    """`normalized` (archiver's fetch form, which drops the fragment) with `original`'s fragment put back:
    `page.html#106` and `page.html#107` are two citations, whatever is fetched for them."""
    fragment = original.partition("#")[2]
    return f"{normalized}#{fragment}" if fragment else normalized


def split_memento(url: str) -> tuple[str, dict[str, str] | None]:
    """web.archive.org/web/<ts>/<url> -> (original URL, memento); other URLs are returned unchanged."""
    match = _WAYBACK.match(url)
    if not match:
        return url, None
    stamp, inner = match.group(1), match.group(2)
    try:
        when = dt.datetime.strptime(stamp.ljust(14, "0"), "%Y%m%d%H%M%S")
    except ValueError:
        return url, None
    original, _ = with_scheme(inner)
    # Text extraction and some citation styles collapse "http://" to "http:/" inside the memento.
    if _SCHEME.match(inner) is None:
        original = "http://" + inner
    memento_url = f"https://web.archive.org/web/{stamp}/{original}"
    return original, {"url": memento_url, "datetime": stamps.iso(when, "seconds")}


def _path_span(url: str) -> tuple[int, int]:
    start = url.find("/", url.find("//") + 2)
    if start < 0:
        return len(url), len(url)
    ends = [i for i in (url.find("?", start), url.find("#", start)) if i >= 0]
    return start, min(ends) if ends else len(url)


def _uuid_fixes(url: str, lo: int, hi: int) -> list[_Fix]:
    fixes = []
    for match in _UUIDISH.finditer(url, lo, hi):
        run = match.group()
        if len(run.replace("-", "")) != 32:
            continue
        dashes = [i - n for n, i in enumerate(j for j, ch in enumerate(run) if ch == "-")]
        if run.count("-") == 3 and set(dashes) <= set(_UUID_DASHES):
            missing = (set(_UUID_DASHES) - set(dashes)).pop()
            before = sum(1 for d in dashes if d < missing)
            fixes.append(_Fix(match.start() + missing + before, 3, match.start()))
    return fixes


def _token_fixes(url: str, lo: int, hi: int, breaks: list[int], ev: Evidence,
                 context: set[str]) -> list[_Fix]:
    """Every place where a dropped hyphen may go inside a word of the path, scored by its evidence."""
    # Escapes like %20 glue digits to words ("%20Against"); blank them so words are seen whole.
    masked = _ESCAPE.sub(lambda m: " " * len(m.group()), url[:hi])
    fixes = []
    seg_start = lo
    own_tokens = {m.group() for m in _LETTERS.finditer(masked, lo, hi)}
    for segment in masked[lo:hi].split("/"):
        seg_lo, seg_hi = seg_start, seg_start + len(segment)
        seg_start = seg_hi + 1
        slug = "-" in segment  # only hyphenated slugs are read as glued words; elsewhere gluing is normal
        for match in _LETTERS.finditer(masked, seg_lo, seg_hi):
            token = match.group()
            known = _KNOWN_HYPHENATED.get(token.lower())
            if known:
                fixes.append(_Fix(match.start() + known.index("-"), 3, match.start()))
                continue
            if len(token) < 4:
                continue
            # The prose itself lost hyphens at its line ends ("NagornoKarabakh"), so a word that also
            # appears glued in the prose still yields to a pair printed hyphenated somewhere.
            glued_in_prose = token.lower() in ev.words
            splits = []
            for i in range(2, len(token) - 1):
                left, right = token[:i], token[i:]
                at_break = match.start() + i in breaks
                if left[-1].islower() and right[0].isupper() and not at_break:
                    continue  # CamelCase is glued on purpose
                score = _split_score(left, right, slug, ev, context, own_tokens - {token})
                if glued_in_prose and score < 3:
                    continue
                if at_break:  # a line end is exactly where extraction drops hyphens
                    score = score + 1 if score >= 0 else 0
                if score >= 0:
                    splits.append(_Fix(match.start() + i, min(score, 3), match.start()))
            splits.sort(key=lambda f: (-f.score, f.pos))
            fixes.extend(splits)
    for pos in breaks:
        if lo < pos < hi and url[pos - 1].isalnum() and url[pos].isalnum() and all(f.pos != pos for f in fixes):
            fixes.append(_Fix(pos, 0, pos))  # a break is where hyphens get lost: always offer the hyphen
    return fixes


def _split_score(left: str, right: str, slug: bool, ev: Evidence, context: set[str], own: set[str]) -> int:
    if f"{left}-{right}".lower() in ev.pairs:
        return 3
    if not slug:
        return -1
    lw, rw = left.lower() in ev.words, right.lower() in ev.words
    if lw and rw:
        return 2
    # The citation's own title, or another word of the same URL ("03_CbC_eng" for "AZECbC").
    if (len(right) >= 3 and (right.lower() in context or right in own)) or \
            (len(left) >= 3 and (left.lower() in context or left in own)):
        return 1
    return 0 if (lw and len(left) >= 2) or (rw and len(right) >= 2) else -1


def _apply(url: str, positions: set[int]) -> str:
    out = url
    for pos in sorted(positions, reverse=True):
        out = out[:pos] + "-" + out[pos:]
    return out


def repair(printed: str, ev: Evidence, context_words: set[str], *, truncated: bool = False,
           completions: list[str] | None = None, exact: bool = False, guesses: bool = True,
           delimited: bool = False) -> Repaired:
    """Best URL for one printed citation, with the alternatives that the evidence leaves open.

    `exact`: the reader's own syntax delimited the URL (a Markdown link target, `<...>` in typed text):
    nothing is stripped or unescaped and no hyphen is guessed; only a missing scheme is added.
    `guesses`: whether dropped hyphens may be restored; only text extracted from a typeset page (a PDF,
    a text dump of one) loses hyphens at line ends, a typed document never does.
    Raises InvalidURL when no repair gives an absolute http(s) URL with a valid host.
    """
    joined, breaks = join_lines(printed)
    if not (exact or delimited):
        joined = strip_trailing(joined)
    cited = joined
    text = joined if exact else unescape_latex(joined)
    if text != joined:
        breaks = [b - joined[:b].count("\\") for b in breaks]
    if truncated:
        text = _PARTIAL_ESCAPE.sub("", text)
    absolute, added = with_scheme(text)
    shift = len(absolute) - len(text)
    breaks = [b + shift for b in breaks]
    lo, hi = _path_span(absolute)
    fixes: list[_Fix] = []
    if guesses and not exact:
        fixes = _uuid_fixes(absolute, lo, hi) + _token_fixes(absolute, lo, hi, breaks, ev, context_words)
    best: dict[int, _Fix] = {}
    for fix in fixes:
        if fix.score >= 1 and (fix.token not in best or fix.score > best[fix.token].score):
            best[fix.token] = fix
    chosen = {f.pos for f in best.values()}
    forms = [_apply(absolute, chosen), absolute]
    for fix in sorted(fixes, key=lambda f: (-f.score, f.pos)):
        other = best.get(fix.token)
        forms.append(_apply(absolute, chosen - {fix.pos} if other is fix else
                            (chosen - ({other.pos} if other else set())) | {fix.pos}))
    tied = any(f.score == b.score and f is not b for b in best.values() for f in fixes if f.token == b.token)
    suspect = truncated or tied or any(f.score == 1 for f in best.values())
    note = None
    if truncated:
        note = "truncated at the end of the document"
        found = [c for c in (completions or []) if c.startswith(absolute) and c != absolute]
        if found:
            forms = [_common_form(found), *found, *forms]
    originals: list[str] = []
    mementos: list[dict[str, str] | None] = []
    for form in forms:
        original, memento = split_memento(form)
        try:
            normalize_url(original)
        except InvalidURL:
            continue
        if original not in originals:
            originals.append(original)
            mementos.append(memento)
    if not originals:
        normalize_url(split_memento(absolute)[0])  # raises with the reason
    url = originals[0]
    same = absolute[len("https://"):] if added else absolute
    printed_url = split_memento(absolute)[0]
    return Repaired(url=url, cited_as=None if cited == same and url == absolute else cited,
                    candidates=originals[1:_MAX_CANDIDATES + 1], suspect=suspect, memento=mementos[0], note=note,
                    printed_url=printed_url if printed_url in originals else None)


def _common_form(urls: list[str]) -> str:
    """What every completion of a truncated URL agrees on: the shared path and the shared query items."""
    bases = {u.split("?", 1)[0] for u in urls}
    if len(bases) != 1:
        return urls[0]
    queries = [u.split("?", 1)[1].split("&") if "?" in u else [] for u in urls]
    common = [item for item in queries[0] if all(item in q for q in queries[1:])]
    base = bases.pop()
    return f"{base}?{'&'.join(common)}" if common else base
