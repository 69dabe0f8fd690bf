"""Quote anchoring (W3C TextQuoteSelector style) in Japanese, Russian and English texts.

Pure functions: no archive, no network. Each language gets the three outcomes: found
(exactly, after normalization), found approximately (a changed word, a broken word) and
not found; plus context re-anchoring and the map back to the original text.
"""

from __future__ import annotations

import pytest

from citearchive.verify.quotes import APPROX_MIN_SCORE, CONTEXT_CHARS, anchor, fold, normalize

JA = (
    "2025年8月15日、米露首脳会談がアラスカ州アンカレッジで行われた。会談後、両首脳は共同記者\n"
    "会見に臨んだが、停戦の具体的な条件については明らかにしなかった。\n"
    "ロシア側は「根本的原因」の解決を繰り返し求めており、ウクライナの中立化と軍備の制限を"
    "要求の中核に据えている。"
)
RU = (
    "Официальный представитель МИД России заявила, что Россия не приемлет никаких сценариев\n"
    "размещения на Украине воинского контингента с участием стран НАТО. «Такие сценарии "
    "чреваты неконтролируемой эскалацией», — подчеркнула она."
)
EN = (
    "The summit in Anchorage ended without an agreement on a ceasefire, but both presidents "
    "described the talks as \u201cproductive\u201d and promised further negotiations in the "
    "coming weeks \u2014 a point European leaders took up in Washington."
)


# --- normalization -------------------------------------------------------------------------


def test_normalize_folds_typography_and_keeps_offsets() -> None:
    text = "«Мир»\u00a0\u2014  ｆｕｌｌ\u00adwidth \u201cquotes\u201d\n\n１２３ – end"
    norm = normalize(text)
    assert norm.text == '"Мир" - fullwidth "quotes" 123 - end'
    # every normalized character maps back inside the original
    start = norm.text.index("fullwidth")
    assert norm.original_slice(start, start + len("fullwidth")) == "ｆｕｌｌ\u00adwidth"
    assert len(norm.starts) == len(norm.ends) == len(norm.text)


def test_normalize_drops_line_breaks_inside_japanese_but_not_between_words() -> None:
    assert fold("停戦の\n具体的な条件") == "停戦の具体的な条件"
    assert fold("ceasefire\n talks") == "ceasefire talks"
    assert fold("ｶﾞｲﾄﾞ") == "ガイド"  # half-width katakana with a voiced mark composes


def test_normalize_composes_combining_marks() -> None:
    assert fold("e\u0301te\u0301") == "été"
    assert fold("か\u3099") == "が"


def test_normalize_drops_whitespace_next_to_any_cjk_character() -> None:
    assert fold("NATO 諸国") == "NATO諸国"  # Latin next to kanji
    assert fold("ロシアは 4 州") == "ロシアは4州"  # digits between kana and kanji
    assert fold("会談 （アラスカ）") == "会談(アラスカ)"  # full-width brackets, NFKC'd
    assert fold("声明 。 以上") == "声明。以上"  # CJK punctuation
    assert fold("Trump and Putin") == "Trump and Putin"  # between Latin words it stays


def test_normalize_folds_yo_and_stress_marks() -> None:
    assert fold("ещё Ёлка") == "еще Елка"
    assert fold("ёж") == "еж"  # a decomposed ё too
    assert fold("вы́боры Росси́и") == "выборы России"
    assert fold("été") == "été"  # Latin é stays a letter with its accent


@pytest.mark.parametrize(
    ("text", "quote", "expected"),
    [
        ("外務省は NATO 諸国の部隊展開を認めない。", "NATO諸国の部隊展開", "NATO 諸国の部隊展開"),
        ("ロシアは 4 州の併合を主張した。", "ロシアは4州の併合", "ロシアは 4 州の併合"),
        ("ロシアは4州の併合を主張した。", "ロシアは 4 州の併合", "ロシアは4州の併合"),
        ("Он ещё раз заявил об этом.", "еще раз заявил", "ещё раз заявил"),
        ("Он еще раз заявил об этом.", "ещё раз заявил", "еще раз заявил"),
        (
            "Речь шла о вы\u0301борах в Росси\u0301и в сентябре.",
            "о выборах в России",
            "о вы\u0301борах в Росси\u0301и",
        ),
        ("Речь шла о выборах в России.", "о вы\u0301борах в Росси\u0301и", "о выборах в России"),
    ],
)
def test_found_across_cjk_spacing_yo_and_stress(text: str, quote: str, expected: str) -> None:
    a = anchor(quote, text)
    assert (a.outcome, a.score) == ("found", 100.0)
    assert a.matched == expected  # the passage as the page prints it
    assert a.start is not None and text[a.start : a.end] == expected


# --- found exactly -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "quote", "expected"),
    [
        (JA, "停戦の具体的な条件については明らかにしなかった", None),
        (JA, "共同記者会見に臨んだ", "共同記者\n会見に臨んだ"),  # line break in the page
        (JA, "「根本的原因」の解決", None),
        (
            RU,
            "Россия не приемлет никаких сценариев размещения",
            "Россия не приемлет никаких сценариев\nразмещения",
        ),
        (
            RU,
            '"Такие сценарии чреваты неконтролируемой эскалацией"',
            "«Такие сценарии чреваты неконтролируемой эскалацией»",
        ),  # straight vs guillemets
        (RU, "эскалацией», - подчеркнула", "эскалацией», — подчеркнула"),  # dash
        (
            EN,
            'described the talks as "productive"',
            "described the talks as \u201cproductive\u201d",
        ),
        (EN, "the  talks   as", "the talks as"),  # different whitespace
    ],
)
def test_found_exactly(text: str, quote: str, expected: str | None) -> None:
    a = anchor(quote, text)
    assert a.outcome == "found"
    assert a.score == 100.0
    assert a.matched == (expected or quote)  # reported as the page prints it
    assert a.start is not None and text[a.start : a.end] == a.matched


def test_found_reports_context() -> None:
    a = anchor("promised further negotiations", EN)
    assert a.prefix is not None and a.prefix.endswith("productive\u201d and ")
    assert a.suffix is not None and a.suffix.startswith(" in the coming weeks")
    assert len(a.prefix) <= CONTEXT_CHARS and len(a.suffix) <= CONTEXT_CHARS


# --- found approximately -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "quote", "expected"),
    [
        # a changed word
        (
            JA,
            "停戦の具体的な内容については明らかにしなかった",
            "停戦の具体的な条件については明らかにしなかった",
        ),
        (
            EN,
            "ended without any agreement on a ceasefire, but both presidents",
            "ended without an agreement on a ceasefire, but both presidents",
        ),
        # whitespace that breaks a word
        (
            EN,
            "promised further nego tiations in the coming weeks",
            "promised further negotiations in the coming weeks",
        ),
        (
            RU,
            "воинского контин гента с участием стран НАТО",
            "воинского контингента с участием стран НАТО",
        ),
    ],
)
def test_found_approximately(text: str, quote: str, expected: str) -> None:
    a = anchor(quote, text)
    assert a.outcome == "approximate", a
    assert APPROX_MIN_SCORE <= a.score < 100
    assert a.matched == expected
    assert a.how == "fuzzy"


# --- not found -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "quote"),
    [
        (JA, "首脳会談は停戦合意の署名で締めくくられた"),
        (RU, "Стороны подписали соглашение о прекращении огня"),
        (EN, "The presidents signed a ceasefire agreement in Anchorage"),
        (EN, "ceasefire"[:4] + "xyz"),  # a short quote is only ever matched exactly
        (EN, ""),
    ],
)
def test_not_found(text: str, quote: str) -> None:
    a = anchor(quote, text)
    assert a.outcome == "not-found"
    assert a.matched is None
    assert a.score < APPROX_MIN_SCORE


# --- context ---------------------------------------------------------------------------


def test_several_occurrences_prefer_the_one_whose_context_matches() -> None:
    text = (
        "Первое заявление: переговоры продолжатся на следующей неделе, сказал министр. "
        "Второе заявление, сделанное позже: переговоры продолжатся на следующей неделе, "
        "сообщил пресс-секретарь Кремля."
    )
    quote = "переговоры продолжатся на следующей неделе"
    plain = anchor(quote, text)
    assert plain.occurrences == 2
    assert plain.start == text.index(quote)
    second = text.rindex(quote)
    by_context = anchor(
        quote,
        text,
        prefix="Второе заявление, сделанное позже:",
        suffix=", сообщил пресс-секретарь Кремля",
    )
    assert by_context.outcome == "found"
    assert by_context.start == second


def test_passage_gone_but_context_there_reports_what_it_now_says() -> None:
    before = "Intro words here. The minister said the talks would continue. Closing remarks follow."
    first = anchor("the talks would continue", before)
    assert first.outcome == "found"
    after = before.replace("the talks would continue", "negotiations were suspended indefinitely")
    later = anchor("the talks would continue", after, prefix=first.prefix, suffix=first.suffix)
    assert later.outcome == "not-found"
    assert later.now_reads == "negotiations were suspended indefinitely"


def test_passage_edited_in_place_is_reanchored_by_context() -> None:
    before = (
        "Ранее сообщалось о встрече. Президент заявил, что готов к переговорам с Киевом. "
        "Далее обсуждались другие вопросы."
    )
    quote = "Президент заявил, что готов к переговорам с Киевом"
    first = anchor(quote, before)
    after = before.replace("готов к переговорам", "готов к прямым переговорам")
    later = anchor(quote, after, prefix=first.prefix, suffix=first.suffix)
    assert later.outcome == "approximate"
    assert later.how == "context"
    assert later.matched == "Президент заявил, что готов к прямым переговорам с Киевом"


def test_anchor_accepts_a_prenormalized_text() -> None:
    norm = normalize(JA)
    assert anchor("軍備の制限", norm).outcome == "found"
    assert anchor("軍備の制限", norm).matched == "軍備の制限"


# --- a close match that says something else is not the quote (finding F17) ------------------

SOURCE = (
    "The index rose to 96.3 percent in March. The recovery was slow but steady, officials "
    "said. Moscow did not accept the proposal of 12 May 2025. МИД России не принял предложение. "
    "ロシア外務省は、NATO諸国の部隊の展開を認めない立場を維持した。"
)


@pytest.mark.parametrize(
    ("quote", "why"),
    [
        ("The index rose to 69.3 percent in March.", "numbers differ"),
        ("Moscow did not accept the proposal of 21 May 2025.", "numbers differ"),
        ("The recovery was fast and steady, officials said.", "words differ"),
        ("Moscow did accept the proposal of 12 May 2025.", "negation differs"),
        ("МИД России принял предложение.", "negation differs"),
        ("МИД России не отклонил предложение.", "words differ"),  # another verb: a misquote
        ("ロシア外務省は、NATO諸国の部隊の展開を認める立場を維持した。", "negation differs"),
    ],
)
def test_a_changed_number_negation_or_word_is_not_an_approximate_match(
    quote: str, why: str
) -> None:
    a = anchor(quote, SOURCE)
    assert a.outcome == "not-found", a
    assert a.differs is not None and a.differs.startswith(why)
    assert a.score >= 75  # close enough that it used to pass as "approximate"


@pytest.mark.parametrize(
    "quote",
    [
        "The recovery was slow but stedy, officials said",  # a typo
        "Moscow did not accept the proposals of 12 May 2025.",  # an inflection
        "Moscow didn't accept the proposal of 12 May 2025.",  # a contraction
        "ロシア外務省は NATO 諸国の部隊の展開を認めない立場を維持していた",  # spacing, tense
    ],
)
def test_spelling_and_spacing_differences_stay_approximate(quote: str) -> None:
    assert anchor(quote, SOURCE).outcome in ("approximate", "found")
