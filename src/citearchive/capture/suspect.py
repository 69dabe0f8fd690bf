"""Why a page served with status 200 looks like an error page, in one short phrase.

Archiving a geo-block notice, a captcha wall or a soft 404 as if it were the
cited article is the quiet failure of web archiving; ``captures.suspect`` makes
it visible. The rules are a small table, checked in order; the first that
applies gives the reason:

1. ``PHRASE_RULES`` -- an error, block or captcha phrase in the title or in the
   first ``TEXT_HEAD_CHARS`` characters of the text, but only when the whole
   text is shorter than ``ERROR_PAGE_MAX_CHARS``: error pages are short, and an
   article that quotes "access denied" (even in its headline) is not one.
2. almost no text -- HTML whose extracted text is under ``MIN_TEXT_CHARS``,
   CJK characters counting twice (as in Twitter's weighted length: 150 Japanese
   characters are a paragraph); any other kind: no text at all.
3. wrong language -- the text (at least ``LANGUAGE_MIN_CHARS`` of it) is
   confidently in another language than the one the source declares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_TEXT_CHARS = 200  # HTML with less extracted text is "almost no text"
TEXT_HEAD_CHARS = 300  # how much of the start of the text the phrase rules read
ERROR_PAGE_MAX_CHARS = 1000  # longer texts are articles, whatever their first words say
LANGUAGE_MIN_CHARS = 200  # shorter texts are not judged on language
LANGUAGE_MIN_CONFIDENCE = 0.9  # langid probability needed to contradict a declaration


@dataclass(frozen=True)
class PhraseRule:
    """A phrase (regular expression, case-insensitive) and the kind of page it betrays."""

    label: str
    pattern: str


PHRASE_RULES: tuple[PhraseRule, ...] = (
    PhraseRule("error page", r"access denied|403 forbidden|404 not found|page not found"),
    PhraseRule("error page", r"доступ запрещ[её]н|страница не найдена"),
    PhraseRule("error page", r"ページが見つかりません|アクセスが拒否されました"),
    PhraseRule("geo-block", r"not available in your (?:country|region)"),
    PhraseRule("geo-block", r"недоступ\w* в вашем регионе"),
    PhraseRule("captcha wall", r"captcha|verify you are (?:a )?human|are you a robot"),
    PhraseRule("captcha wall", r"не робот|ロボットではありません"),
    PhraseRule("captcha wall", r"just a moment(?:\.\.\.|…)|attention required! \| cloudflare"),
    PhraseRule("captcha wall", r"checking (?:your browser|if the site connection is secure)"),
)
_COMPILED = tuple((rule.label, re.compile(rule.pattern, re.IGNORECASE)) for rule in PHRASE_RULES)

# Hangul, CJK ideographs, kana, CJK punctuation and full-width forms.
_WIDE = re.compile("[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")

# Language codes that name the same written language for our purpose.
_SAME_LANGUAGE = {
    "nb": "no",
    "nn": "no",
    "iw": "he",
    "in": "id",
    "ms": "id",
    "hr": "sr",
    "bs": "sr",
    "sh": "sr",  # fastText's Serbo-Croatian
}


def weighted_length(text: str, enough: int = MIN_TEXT_CHARS) -> int:
    """Length with CJK characters counted twice, as they carry about twice the content; a
    text of ``enough`` characters or more is not scanned (its plain length is returned)."""
    if len(text) >= enough:
        return len(text)
    return len(text) + len(_WIDE.findall(text))


def _phrase_reason(title: str | None, text: str) -> str | None:
    """The first phrase rule matching the title or the start of a short text."""
    if len(text) >= ERROR_PAGE_MAX_CHARS:
        return None
    places = (("title", title or ""), ("text", text[:TEXT_HEAD_CHARS]))
    for label, pattern in _COMPILED:
        for where, value in places:
            match = pattern.search(value)
            if match:
                return f"{label}: {where} says '{match.group(0)}'"
    return None


def _base_language(code: str) -> str:
    """``ru-RU`` -> ``ru``; folds codes listed in ``_SAME_LANGUAGE``."""
    base = code.strip().lower().replace("_", "-").split("-")[0]
    return _SAME_LANGUAGE.get(base, base)


def _language_reason(
    text: str, declared: str | None, detected: str | None, confidence: float
) -> str | None:
    """A contradiction between detected and declared language, when the text is long enough."""
    if not declared or not detected or len(text) < LANGUAGE_MIN_CHARS:
        return None
    if confidence < LANGUAGE_MIN_CONFIDENCE:
        return None
    if _base_language(declared) == _base_language(detected):
        return None
    return f"language is {detected}, source declared {declared}"


def find_suspect(
    kind: str,
    title: str | None,
    text: str | None,
    declared_language: str | None = None,
    detected_language: str | None = None,
    confidence: float = 0.0,
) -> str | None:
    """The reason this document looks like an error page rather than the source, or None."""
    body = text or ""
    reason = _phrase_reason(title, body)
    if reason:
        return reason
    if kind == "html" and weighted_length(body) < MIN_TEXT_CHARS:
        return f"almost no text ({len(body)} characters)"
    if not body:
        return "empty document"
    return _language_reason(body, declared_language, detected_language, confidence)
