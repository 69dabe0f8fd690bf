"""Anchor a quote in archived text, the way web annotation does (W3C TextQuoteSelector).

A quote is the ``exact`` passage; the ~32 characters before and after it where it was
first found are its ``prefix`` and ``suffix``. Both sides are normalized before
comparing, so that the typography of a page does not hide a passage that is there:

- Unicode NFKC (full-width Latin and digits, half-width katakana, ligatures, NBSP);
- typographic quotes “”«»„‟ → ", ‘’‚‛ → ', dashes ‐‑‒–—―− → -;
- soft hyphens and zero-width characters removed;
- Russian ё/Ё read as е/Е, and combining acute stress marks (U+0301) removed: textbooks,
  dictionaries and some news sites print them, quotes typed by hand rarely do;
- whitespace runs folded to one space, and dropped next to a CJK character (kana, kanji,
  full-width forms, CJK punctuation): Japanese is written without spaces, so a line break
  or a space around a Latin word or a number ("NATO 諸国", "ロシアは 4 州") is layout,
  not a word boundary.

Every normalized character remembers the span of the original text it came from, so
the passage found is reported as the page prints it.

The search goes: exact (all occurrences, the one whose context matches the stored
prefix/suffix preferred), then the stored context (when the passage is gone but its
prefix and suffix are still there, the text now between them is what the page says),
then approximate (rapidfuzz locates the best window; a Levenshtein refinement bounds
the edits relative to the quote's length).

The helpers at the end connect this to the archive's ``quotes`` table: the context of a
quote's first anchoring is stored there (``prefix``, ``suffix``, ``anchored_at``) and
never overwritten, so every later capture is re-anchored by the same context.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from array import array
from dataclasses import asdict, dataclass, replace
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from ..archive.store import Archive, utcnow

CONTEXT_CHARS = 32  # characters of prefix/suffix kept around an anchored quote
APPROX_MIN_SCORE = 75.0  # an approximate match has at most 25% of the quote's length in edits
APPROX_MIN_CHARS = 8  # shorter quotes are only ever matched exactly
CONTEXT_MAX_GAP_FACTOR = 3  # text between prefix and suffix: at most this times the quote

_WHITESPACE = re.compile(r"\s+")
_QUOTES = dict.fromkeys("“”«»„‟〝〞＂", '"') | dict.fromkeys("‘’‚‛′＇", "'")
_DASHES = dict.fromkeys("‐‑‒–—―−﹘﹣－", "-")
_DROP = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff\u0301")  # U+0301: stress mark
_LETTERS = {"ё": "е", "Ё": "Е"}
_TRANSLATE = str.maketrans(_QUOTES | _DASHES | _LETTERS | dict.fromkeys(_DROP, ""))
_CJK_RANGES = (
    (0x2E80, 0x2FDF),  # radicals
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x30FF),  # hiragana, katakana
    (0x31F0, 0x31FF),  # katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # compatibility ideographs
    (0xFF01, 0xFF60),  # full-width forms left after NFKC (rare)
    (0x20000, 0x3134F),  # CJK extensions B-G
)

_char_cache: dict[str, str] = {}
_joins_cache: dict[str, bool] = {}


def _map_char(ch: str) -> str:
    """NFKC + quote/dash/invisible mapping of one character (cached)."""
    out = _char_cache.get(ch)
    if out is None:
        out = unicodedata.normalize("NFKC", ch).translate(_TRANSLATE)
        _char_cache[ch] = out
    return out


def _joins_previous(ch: str) -> bool:
    """True for marks that compose with the character before them (e.g. ゙, U+0301)."""
    out = _joins_cache.get(ch)
    if out is None:
        nfkc = unicodedata.normalize("NFKC", ch)
        out = bool(unicodedata.combining(ch)) or bool(nfkc and unicodedata.combining(nfkc[0]))
        _joins_cache[ch] = out
    return out


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


@dataclass(frozen=True)
class Normalized:
    """Normalized text; ``starts[i]``/``ends[i]`` are the original span of character i."""

    original: str
    text: str
    starts: array[int]  # compact: 8 bytes a character, not a list of int objects
    ends: array[int]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original offsets of the normalized range [start, end)."""
        if end <= start:
            at = self.starts[start] if start < len(self.starts) else len(self.original)
            return at, at
        return self.starts[start], self.ends[end - 1]

    def original_slice(self, start: int, end: int) -> str:
        a, b = self.span(start, end)
        return self.original[a:b]


def normalize(text: str) -> Normalized:
    """Normalize ``text`` for matching, keeping the map back to original offsets."""
    chars: list[str] = []
    starts: array[int] = array("q")
    ends: array[int] = array("q")
    space_at: int | None = None  # original offset where a pending whitespace run began
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        if text[i].isascii() and (j == n or text[j].isascii()):
            mapped = text[i]
        else:
            while j < n and _joins_previous(text[j]):
                j += 1
            seg = text[i:j]
            mapped = _map_char(seg) if j == i + 1 else _map_seg(seg)
        for c in mapped:
            if c.isspace():
                if space_at is None:
                    space_at = i
                continue
            if space_at is not None:
                if chars:
                    chars.append(" ")
                    starts.append(space_at)
                    ends.append(i)
                space_at = None
            chars.append(c)
            starts.append(i)
            ends.append(j)
        i = j
    return _drop_cjk_spaces(Normalized(text, "".join(chars), starts, ends))


def _map_seg(seg: str) -> str:
    return unicodedata.normalize("NFKC", seg).translate(_TRANSLATE)


def _drop_cjk_spaces(norm: Normalized) -> Normalized:
    """Drop each folded space with a CJK character on either side (offsets kept)."""
    t = norm.text
    if " " not in t:
        return norm
    keep = [
        k
        for k, c in enumerate(t)
        if not (c == " " and 0 < k < len(t) - 1 and (is_cjk(t[k - 1]) or is_cjk(t[k + 1])))
    ]
    if len(keep) == len(t):
        return norm
    return Normalized(
        norm.original,
        "".join(t[k] for k in keep),
        array("q", (norm.starts[k] for k in keep)),
        array("q", (norm.ends[k] for k in keep)),
    )


def fold(text: str) -> str:
    """The normalized form of ``text`` (no offsets), e.g. for comparing stored context."""
    return normalize(text).text


@dataclass(frozen=True)
class Anchor:
    """Where a quote was found in a text, and how well.

    ``outcome``: "found" (exact after normalization), "approximate" (within the edit
    bound; ``score`` says how close) or "not-found". ``matched`` is the passage as the
    original text prints it; ``prefix``/``suffix`` its context (original form, folded
    whitespace). ``how`` says which step found it: exact, context, fuzzy.
    """

    outcome: str
    score: float
    matched: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    start: int | None = None  # original offsets in the text searched
    end: int | None = None
    how: str | None = None
    occurrences: int = 0  # exact occurrences (more than one: context chose)
    now_reads: str | None = None  # text now between the stored prefix and suffix
    differs: str | None = None  # why a close match is not the quote (numbers, negation, words)

    @property
    def anchored(self) -> bool:
        return self.outcome in ("found", "approximate")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _context(norm: Normalized, start: int, end: int) -> tuple[str, str]:
    pre = norm.original_slice(max(0, start - CONTEXT_CHARS), start)
    suf = norm.original_slice(end, min(len(norm.text), end + CONTEXT_CHARS))
    return _WHITESPACE.sub(" ", pre), _WHITESPACE.sub(" ", suf)


def _context_score(norm: Normalized, start: int, end: int, prefix: str, suffix: str) -> float:
    """How well the text around [start, end) matches a stored (normalized) prefix/suffix."""
    score = 0.0
    if prefix:
        score += fuzz.ratio(norm.text[max(0, start - len(prefix)) : start], prefix)
    if suffix:
        score += fuzz.ratio(norm.text[end : end + len(suffix)], suffix)
    return score


def _anchor_at(
    norm: Normalized, start: int, end: int, outcome: str, score: float, how: str, **extra: Any
) -> Anchor:
    a, b = norm.span(start, end)
    prefix, suffix = _context(norm, start, end)
    return Anchor(outcome, round(score, 1), norm.original[a:b], prefix, suffix, a, b, how, **extra)


def _exact(nq: str, norm: Normalized, prefix: str, suffix: str) -> tuple[int, int] | None:
    """First exact occurrence (or the one whose context fits best) and the number of them."""
    hits = []
    at = norm.text.find(nq)
    while at >= 0:
        hits.append(at)
        at = norm.text.find(nq, at + 1)
    if not hits:
        return None
    if len(hits) > 1 and (prefix or suffix):
        best = max(hits, key=lambda h: _context_score(norm, h, h + len(nq), prefix, suffix))
        return best, len(hits)
    return hits[0], len(hits)


def _by_context(nq: str, norm: Normalized, prefix: str, suffix: str) -> tuple[int, int] | None:
    """The normalized range between the stored prefix and suffix, if both are still there."""
    if len(prefix) < 8 or len(suffix) < 8:
        return None
    max_gap = CONTEXT_MAX_GAP_FACTOR * len(nq) + 40
    at = norm.text.find(prefix)
    while at >= 0:
        start = at + len(prefix)
        end = norm.text.find(suffix, start)
        if 0 <= end - start <= max_gap:
            while start < end and norm.text[start] == " ":
                start += 1
            while end > start and norm.text[end - 1] == " ":
                end -= 1
            return start, end
        at = norm.text.find(prefix, at + 1)
    return None


def _fuzzy(nq: str, norm: Normalized) -> tuple[int, int, int] | None:
    """Best approximate window [start, end) and its Levenshtein distance, within the bound."""
    allowed = int(len(nq) * (100 - APPROX_MIN_SCORE) / 100)
    if len(nq) < APPROX_MIN_CHARS or allowed < 1 or not norm.text:
        return None
    found = fuzz.partial_ratio_alignment(nq, norm.text, score_cutoff=APPROX_MIN_SCORE - 10)
    if found is None:
        return None
    start, end = found.dest_start, found.dest_end
    slack = min(allowed, 12)
    best: tuple[int, int, int] | None = None
    text = norm.text
    for s in range(max(0, start - slack), min(len(text), start + slack) + 1):
        for e in range(max(s + 1, end - slack), min(len(text), end + slack) + 1):
            dist = Levenshtein.distance(nq, text[s:e], score_cutoff=allowed)
            if dist <= allowed and (best is None or dist < best[2]):
                best = (s, e, dist)
    return best


def anchor(
    quote: str, text: str | Normalized, *, prefix: str | None = None, suffix: str | None = None
) -> Anchor:
    """Anchor ``quote`` in ``text`` (optionally re-anchoring by a stored prefix/suffix)."""
    norm = text if isinstance(text, Normalized) else normalize(text)
    nq = fold(quote)
    if not nq:
        return Anchor("not-found", 0.0)
    npre, nsuf = fold(prefix or ""), fold(suffix or "")
    exact = _exact(nq, norm, npre, nsuf)
    if exact is not None:
        start, count = exact
        return _anchor_at(norm, start, start + len(nq), "found", 100.0, "exact",
                          occurrences=count)  # fmt: skip
    between = _by_context(nq, norm, npre, nsuf)
    now_reads = None
    if between is not None:
        start, end = between
        score = _similarity(nq, norm.text[start:end])
        if score >= APPROX_MIN_SCORE:
            return _close(nq, norm, start, end, score, "context")
        now_reads = norm.original_slice(start, end)
    fuzzy = _fuzzy(nq, norm)
    if fuzzy is not None:
        start, end, dist = fuzzy
        score = 100.0 * (1 - dist / max(len(nq), end - start))
        return _close(nq, norm, start, end, score, "fuzzy", now_reads=now_reads)
    return Anchor("not-found", _best_score(nq, norm.text), now_reads=now_reads)


def _close(
    nq: str, norm: Normalized, start: int, end: int, score: float, how: str, **extra: Any
) -> Anchor:
    """An approximate match, unless what differs changes what the quote says: then it is
    not found, and ``differs`` says what the source reads instead."""
    approx = _anchor_at(norm, start, end, "approximate", score, how, **extra)
    differs = meaning_differs(nq, norm.text[start:end])
    if differs is None:
        return approx
    return replace(approx, outcome="not-found", differs=differs)


# For a citation checker a changed number or a negation is the finding, not a typo.
_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
_WORD = re.compile(r"[^\W\d_]+")
_CONTRACTED_NOT = re.compile(r"n['’]t\b")
NEGATIONS = frozenset({
    "not", "no", "never", "none", "nor", "neither", "without", "nothing", "nobody", "cannot",
    "не", "ни", "нет", "без", "никогда", "ничего", "никто", "нельзя", "нисколько",
})  # fmt: skip
JA_NEGATIONS = ("ない", "なかった", "ません", "ず", "ぬ", "無", "不", "非", "未", "否")


def meaning_differs(quote: str, passage: str) -> str | None:
    """What a close passage says differently from the quote (both folded), or None when
    only spelling, spacing or punctuation differ: its numbers (dates included), its
    negations (English, Russian, Japanese), or a whole word replaced by an unrelated one."""
    qn, pn = _NUMBER.findall(quote), _NUMBER.findall(passage)
    if sorted(qn) != sorted(pn):
        return (
            f"numbers differ: quote {' '.join(qn) or '(none)'}, source {' '.join(pn) or '(none)'}"
        )
    qw, pw = (_WORD.findall(_CONTRACTED_NOT.sub(" not", t)) for t in (quote, passage))
    qneg = sorted(w for w in qw if w in NEGATIONS)
    pneg = sorted(w for w in pw if w in NEGATIONS)
    jq = sorted(n for n in JA_NEGATIONS for _ in range(quote.count(n)))
    jp = sorted(n for n in JA_NEGATIONS for _ in range(passage.count(n)))
    if qneg != pneg or jq != jp:
        return (
            "negation differs: quote "
            + (" ".join(qneg + jq) or "(none)")
            + ", source "
            + (" ".join(pneg + jp) or "(none)")
        )
    matcher = difflib.SequenceMatcher(a=qw, b=pw, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op != "replace":
            continue
        said, reads = " ".join(qw[a0:a1]), " ".join(pw[b0:b1])
        if _similarity(said, reads) < 50:
            return f"words differ: quote “{said}”, source “{reads}”"
    return None


def _similarity(a: str, b: str) -> float:
    if not a and not b:
        return 100.0
    return 100.0 * (1 - Levenshtein.distance(a, b) / max(len(a), len(b)))


def _best_score(nq: str, text: str) -> float:
    if not text:
        return 0.0
    found = fuzz.partial_ratio_alignment(nq, text)
    return round(found.score, 1) if found is not None else 0.0


# --- quotes of the archive ------------------------------------------------------------------

_RANK = {"found": 2, "approximate": 1, "not-found": 0}


def quote_rows(archive: Archive, source_id: str) -> list[dict[str, Any]]:
    """The quotes of a source with their stored context, in manifest order."""
    return list(
        archive.db.query(
            "SELECT id, position, text, prefix, suffix, anchored_at FROM quotes "
            "WHERE source_id = ? AND in_manifest = 1 ORDER BY position",
            [source_id],
        )
    )


def best_anchor(quote: dict[str, Any], texts: dict[int, Normalized]) -> tuple[Anchor, int]:
    """Anchor a quote row in each capture text; the best result and its capture id."""
    best: tuple[Anchor, int] | None = None
    for cid, text in texts.items():
        a = anchor(quote["text"], text, prefix=quote["prefix"], suffix=quote["suffix"])
        if best is None or (_RANK[a.outcome], a.score) > (_RANK[best[0].outcome], best[0].score):
            best = (a, cid)
    if best is None:
        raise ValueError("no text to anchor in")
    return best


def quote_detail(a: Anchor, capture_id: int | None, **extra: Any) -> dict[str, Any]:
    """The JSON detail of a ``quote``/``live-quote`` check."""
    detail = {"score": a.score, "matched": a.matched, "prefix": a.prefix, "suffix": a.suffix}
    detail |= {"capture_id": capture_id, "how": a.how, "now_reads": a.now_reads,
               "differs": a.differs, **extra}  # fmt: skip
    return {k: v for k, v in detail.items() if v is not None}


def remember_context(archive: Archive, quote: dict[str, Any], a: Anchor) -> None:
    """Store prefix and suffix at a quote's first anchoring (never overwritten)."""
    if not a.anchored or quote["anchored_at"]:
        return
    with archive.db.conn:
        archive.db.execute(
            "UPDATE quotes SET prefix = ?, suffix = ?, anchored_at = ? "
            "WHERE id = ? AND anchored_at IS NULL",
            [a.prefix, a.suffix, utcnow(), quote["id"]],
        )
