"""Lexical evidence that survives translation: numbers, dates, names, shared terms.

A Japanese claim and the Russian sentence it paraphrases share few words, but they share
facts written in other forms: "140万人" is "1.4 million" is "1,4 млн"; 「8月18日」 is
"August 18" is «18 августа»; トランプ is Trump is Трамп. This module turns a text into
those facts (:func:`features`) and scores how many of a claim's facts a passage carries
(:func:`lexical_score`); :mod:`.suggest` adds the score to the sentence model's.

- Numbers: digits with ``,``/``.``/space grouping, decimal commas, and the multipliers
  万 億 兆 千, thousand/million/billion/trillion, тыс./млн/млрд/трлн (any case form);
  "1億4000万" is one number. Values are compared after rounding to 4 significant digits.
- Dates: every form the importer reads (:func:`~citearchive.sources.citation_parse.find_dates`)
  plus a month and day without a year (「8月18日」, "August 18", «18 августа»); a date
  without a year matches the same month and day of any year.
- Names: katakana, Latin and Cyrillic words are transliterated (:mod:`.translit`) to a
  consonant skeleton compared across scripts.
- Terms: Han/kana bigrams and word prefixes shared by claim and passage (same-language
  sources).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from ..sources.citation_parse import find_dates, month_number
from .translit import name_matches, name_words

# fmt: off
_CJK_UNITS = {"千": 1e3, "万": 1e4, "萬": 1e4, "億": 1e8, "兆": 1e12}
_WORD_UNITS = {
    "thousand": 1e3, "million": 1e6, "mln": 1e6, "billion": 1e9, "bn": 1e9, "trillion": 1e12,
    "тыс": 1e3, "тысяч": 1e3, "тысячи": 1e3, "тысяча": 1e3, "тысячу": 1e3,
    "млн": 1e6, "миллион": 1e6, "миллиона": 1e6, "миллионов": 1e6,
    "млрд": 1e9, "миллиард": 1e9, "миллиарда": 1e9, "миллиардов": 1e9,
    "трлн": 1e12, "триллион": 1e12, "триллиона": 1e12, "триллионов": 1e12,
}
# fmt: on
_SPACES = "\u0020\u00a0\u202f\u2009"
_NUMBER_RE = re.compile(
    # 1,400,000 / 1 400 000, then 140 / 1.4 / 1,4
    r"(?<![0-9A-Za-z_.,])(?P<num>\d{1,3}(?:[," + _SPACES + r"]\d{3})+(?:\.\d+)?"
    r"|\d+(?:[.,]\d+)?)"
    r"(?:\s?(?P<cjk>[千万萬億兆])"
    r"|\s*(?P<word>(?:thousand|million|billion|trillion|mln|bn|тыс|тысяч[аиу]?|млн|млрд|трлн"
    r"|миллион(?:ов|а)?|миллиард(?:ов|а)?|триллион(?:ов|а)?)(?![a-zа-яё])\.?))?",
    re.I,
)
_MONTH_DAY_RES = (
    re.compile(r"(?<!\d)(?P<m>[01]?\d)\s*月\s*(?P<d>[0-3]?\d)\s*日"),
    re.compile(r"\b(?P<mon>[A-Za-z]{3,9})\.?\s+(?P<d>[0-3]?\d)(?:st|nd|rd|th)?\b(?!\s*,?\s*\d)"),
    re.compile(r"(?<!\d)(?P<d>[0-3]?\d)\s+(?P<mon>[а-яёА-ЯЁ]{3,9})(?![а-яё])"),
    re.compile(r"(?<!\d)(?P<d>[0-3]?\d)(?:st|nd|rd|th)?\s+(?P<mon>[A-Za-z]{3,9})\b"),
)
_TERM_WORD = re.compile(r"[^\W\d_]{3,}")


def normalize(text: str) -> str:
    """NFKC (full-width digits and letters to ASCII), lower-cased."""
    return unicodedata.normalize("NFKC", text)


def _round(value: float) -> float:
    """``value`` to 4 significant digits (1.4 million and 140万 compare equal), halves up.

    Float noise goes first (to 12 significant digits, in decimal): 267.85 million is
    267849999.99999997 as a float, and must round as 26785万 (exactly 267850000) does.
    """
    if value == 0 or not math.isfinite(value):
        return 0.0
    clean = Decimal(f"{value:.12g}")
    exponent = math.floor(math.log10(abs(clean))) - 3
    return float(clean.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP))


def _parse_digits(num: str) -> float | None:
    """The value of a digit string: grouping commas/spaces or a decimal comma."""
    for sp in _SPACES:
        num = num.replace(sp, "")
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", num):
        num = num.replace(",", "")
    elif re.fullmatch(r"\d+,\d+", num):
        num = num.replace(",", ".")  # a decimal comma: 1,4 млн
    try:
        return float(num)
    except ValueError:
        return None


def numbers(text: str) -> list[tuple[float, int, int]]:
    """Every number of ``text``: (value rounded to 4 significant digits, start, end).

    Dates are not numbers here (see :func:`dates`); call it on text with dates masked.
    """
    text = normalize(text)
    found: list[tuple[float, int, int, float]] = []  # value, start, end, CJK unit
    for m in _NUMBER_RE.finditer(text):
        value = _parse_digits(m.group("num"))
        if value is None:
            continue
        unit = 1.0
        if m.group("cjk"):
            unit = _CJK_UNITS[m.group("cjk")]
        elif m.group("word"):
            unit = _WORD_UNITS.get(m.group("word").lower().rstrip("."), 1.0)
        value *= unit
        # "1億4000万": a smaller CJK unit right after a larger one adds to it
        if found and m.group("cjk") and found[-1][2] == m.start() and found[-1][3] > unit:
            prev = found.pop()
            value += prev[0]
            found.append((value, prev[1], m.end(), unit))
            continue
        found.append((value, m.start(), m.end(), unit if m.group("cjk") else 0.0))
    return [(_round(v), a, b) for v, a, b, _u in found]


@dataclass(frozen=True)
class DateValue:
    """A date with any part missing: (2025, 8, 18), (None, 8, 18), (2025, 8, None)."""

    year: int | None
    month: int
    day: int | None

    def iso(self) -> str:
        """2025-08-18, 2025-08, or --08-18 (ISO 8601's form without a year)."""
        y = f"{self.year:04d}-" if self.year else "--"
        return f"{y}{self.month:02d}" + (f"-{self.day:02d}" if self.day else "")

    def matches(self, other: DateValue) -> bool:
        """Same month, and same year and day wherever both give one."""
        return (
            self.month == other.month
            and (self.year is None or other.year is None or self.year == other.year)
            and (self.day is None or other.day is None or self.day == other.day)
        )


def dates(text: str) -> list[tuple[DateValue, int, int]]:
    """Every date of ``text`` in ja/ru/en forms: (value, start, end), by position."""
    text = normalize(text)
    found: list[tuple[DateValue, int, int]] = []
    taken = [False] * (len(text) + 1)
    for d in find_dates(text):
        parts = [int(p) for p in d.iso.split("-")]
        found.append((DateValue(parts[0], parts[1], parts[2] if len(parts) > 2 else None),
                      d.start, d.end))  # fmt: skip
        for k in range(d.start, d.end):
            taken[k] = True
    for pattern in _MONTH_DAY_RES:
        for m in pattern.finditer(text):
            if any(taken[m.start() : m.end()]):
                continue
            groups = m.groupdict()
            month = int(groups["m"]) if groups.get("m") else month_number(groups["mon"])
            day = int(groups["d"])
            if not month or not 1 <= month <= 12 or not 1 <= day <= 31:
                continue
            found.append((DateValue(None, month, day), m.start(), m.end()))
            for k in range(m.start(), m.end()):
                taken[k] = True
    return sorted(found, key=lambda f: f[1])


def terms(text: str) -> set[str]:
    """Han/kana bigrams and the first five letters of each Latin/Cyrillic word."""
    text = normalize(text).lower()
    out: set[str] = set()
    run = ""
    for ch in text + " ":
        if "\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff":
            run += ch
            continue
        out.update(run[i : i + 2] for i in range(len(run) - 1))
        run = ""
    out.update(w[:5] for w in _TERM_WORD.findall(text) if not _is_cjk_word(w))
    return out


def _is_cjk_word(word: str) -> bool:
    return any("\u3040" <= ch <= "\u9fff" for ch in word)


@dataclass
class Features:
    """The facts of a text that survive translation."""

    numbers: set[float] = field(default_factory=set)
    dates: list[DateValue] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    terms: set[str] = field(default_factory=set)

    def count(self) -> int:
        return len(self.numbers) + len(self.dates) + len(self.names)


def features(text: str) -> Features:
    """Numbers (outside dates), dates, names and terms of ``text``."""
    norm = normalize(text)
    found_dates = dates(norm)
    masked = list(norm)
    for _d, a, b in found_dates:
        masked[a:b] = " " * (b - a)
    nums = {v for v, _a, _b in numbers("".join(masked))}
    return Features(
        numbers=nums,
        dates=[d for d, _a, _b in found_dates],
        names=set(name_words(norm)),
        terms=terms(norm),
    )


@dataclass
class LexicalMatch:
    """How much of a claim's evidence a passage carries, and which pieces."""

    score: float
    matched: list[str]


def lexical_score(claim: Features, passage: Features) -> LexicalMatch:
    """(facts of the claim found in the passage + share of its terms) / (facts + 1).

    0 to 1; a claim without numbers, dates or names is scored on shared terms alone.
    """
    matched: list[str] = []
    for n in sorted(claim.numbers):
        if n in passage.numbers:
            matched.append(f"number {n:g}")
    for d in claim.dates:
        if any(d.matches(p) for p in passage.dates):
            matched.append(f"date {d.iso()}")
    for name in sorted(claim.names):
        if any(name_matches(name, p) for p in passage.names):
            matched.append(f"name {name}")
    shared = len(claim.terms & passage.terms) / len(claim.terms) if claim.terms else 0.0
    return LexicalMatch((len(matched) + shared) / (claim.count() + 1), matched)
