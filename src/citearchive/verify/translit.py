"""Names across scripts: katakana, Cyrillic and Latin to one consonant skeleton.

トランプ, Трамп and Trump are one name. Each is first transliterated to Latin letters
(Hepburn-style for katakana, a simple scheme for Cyrillic), then reduced to a skeleton
that drops what the scripts disagree on: vowels (Japanese adds them, Russian inflects
them: Трампа, Путина), doubled letters, and the pairs that Japanese does not tell apart
(l/r, v/b/f) or that the transliterations spell differently (sh/s, ch/t, kh/h, zh/j):

    トランプ -> toranpu -> trmp        Трампа -> trampa -> trmp        Trump -> trmp
    ゼレンスキー -> zerensukii -> zrnsk   Зеленского -> zelenskogo -> zrnskg (a prefix match)
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz

# fmt: off
_KANA_ROWS = {
    "": "アイウエオ", "k": "カキクケコ", "g": "ガギグゲゴ", "s": "サシスセソ", "z": "ザジズゼゾ",
    "t": "タチツテト", "d": "ダヂヅデド", "n": "ナニヌネノ", "h": "ハヒフヘホ", "b": "バビブベボ",
    "p": "パピプペポ", "m": "マミムメモ", "r": "ラリルレロ",
}
_KANA_SPECIAL = {
    "シ": "shi", "チ": "chi", "ツ": "tsu", "フ": "fu", "ジ": "ji", "ヂ": "ji", "ヅ": "zu",
    "ヤ": "ya", "ユ": "yu", "ヨ": "yo", "ワ": "wa", "ヲ": "o", "ン": "n", "ヴ": "vu",
    "ャ": "ya", "ュ": "yu", "ョ": "yo", "ァ": "a", "ィ": "i", "ゥ": "u", "ェ": "e", "ォ": "o",
    "ッ": "", "ー": "", "・": " ",
}
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya", "і": "i", "ї": "yi", "є": "ye", "ґ": "g",
}
# fmt: on
_KANA: dict[str, str] = {}
for _consonant, _row in _KANA_ROWS.items():
    for _kana, _vowel in zip(_row, "aiueo", strict=True):
        _KANA[_kana] = _consonant + _vowel
_KANA.update(_KANA_SPECIAL)

#: Spelling pairs mapped to one letter, longest first.
_DIGRAPHS = (("shch", "s"), ("sh", "s"), ("ch", "t"), ("ts", "t"), ("kh", "h"), ("zh", "j"),
             ("ph", "f"), ("th", "t"), ("ck", "k"))  # fmt: skip
_SAME = str.maketrans({"l": "r", "v": "b", "f": "b", "w": "", "q": "k", "c": "k", "x": "ks"})

_NAME_RE = re.compile(
    r"[\u30a1-\u30fa\u30fc]{2,}"  # katakana (・ splits full names into words)
    r"|(?<![A-Za-z])[A-Z][A-Za-z]+"  # Latin: Trump, NATO
    r"|(?<![а-яёА-ЯЁ])[А-ЯЁ][а-яёА-ЯЁ]{2,}"  # Cyrillic: Трампа, НАТО
)


def to_latin(word: str) -> str:
    """Lower-case Latin spelling of a katakana, Cyrillic or Latin word."""
    out: list[str] = []
    for ch in word.lower():
        if ch in _KANA:
            roman = _KANA[ch]
            if ch in "ャュョァィゥェォ" and out and out[-1][-1:] in "aiueo":
                out[-1] = out[-1][:-1]  # キャ = ki + ya -> kya, ファ = fu + a -> fa
            out.append(roman)
        elif ch in _CYRILLIC:
            out.append(_CYRILLIC[ch])
        else:
            out.append(ch)
    text = "".join(out)
    return re.sub(r"n(?=[bpm])", "m", text)  # ン before b/p/m sounds m: トランプ = toramp(u)


def skeleton(word: str) -> str:
    """The consonant skeleton of a name in any of the three scripts."""
    text = to_latin(word)
    for pair, one in _DIGRAPHS:
        text = text.replace(pair, one)
    text = text.translate(_SAME)
    text = re.sub(r"[^a-z]|[aeiouy]", "", text)
    return re.sub(r"(.)\1+", r"\1", text)


def name_words(text: str) -> list[str]:
    """Skeletons of the name-like words of ``text`` (katakana, capitalised words)."""
    out = []
    for m in _NAME_RE.finditer(text):
        sk = skeleton(m.group(0))
        if len(sk) >= 2:
            out.append(sk)
    return out


def name_matches(a: str, b: str) -> bool:
    """Two skeletons name the same person or place (inflected endings allowed)."""
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    if len(short) >= 3 and long_.startswith(short) and len(long_) - len(short) <= 2:
        return True
    return len(short) >= 4 and fuzz.ratio(a, b) >= 80
