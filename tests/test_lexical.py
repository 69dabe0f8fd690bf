"""Lexical evidence across languages: numbers, dates, names (verify/lexical.py, translit.py).

The number and date readers parse untrusted archived text, so they get property tests:
every spelling of one value in Japanese, Russian and English reads as that value, and no
text makes them fail.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from citearchive.verify.lexical import (
    DateValue,
    dates,
    features,
    lexical_score,
    numbers,
)
from citearchive.verify.translit import name_matches, name_words, skeleton

# fmt: off
RU_MONTHS = [
    "января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября",
    "октября", "ноября", "декабря",
]
# fmt: on
EN_MONTHS = [dt.date(2000, m, 1).strftime("%B") for m in range(1, 13)]


def values(text: str) -> list[float]:
    return [v for v, _a, _b in numbers(text)]


def test_one_quantity_in_three_languages() -> None:
    assert values("約140万人") == values("1.4 million people") == values("1,4 млн человек")
    assert values("500億ドル") == values("$50 billion") == values("50 млрд долларов")
    assert values("1億4000万") == values("140 million") == [140_000_000.0]
    assert values("1,400,000") == values("1 400 000") == values("140万") == [1_400_000.0]
    assert values("１４０万") == [1_400_000.0]  # full-width digits
    assert values("3 тыс. человек") == values("3 thousand people") == values("3千人")


def test_numbers_give_their_positions() -> None:
    text = "In 2024, 1.4 million fled."
    assert [(text[a:b], v) for v, a, b in numbers(text)] == [
        ("2024", 2024.0), ("1.4 million", 1_400_000.0),
    ]  # fmt: skip


@given(st.integers(min_value=1, max_value=99_999))
@example(26_785)  # 267.85 million is 267849999.99999997 as a float: it must round up too
def test_man_equals_million_forms(k: int) -> None:
    millions = Decimal(k) / Decimal(100)  # k万 = k/100 million
    en = f"{millions:f} million"
    ru = f"{millions:f}".replace(".", ",") + " млн"
    (value,) = values(f"{k}万")
    assert values(en) == values(ru) == [value]
    assert abs(value - k * 10_000) <= k * 10_000 * 1e-3


@given(st.integers(min_value=1, max_value=9_999), st.integers(min_value=1, max_value=9_999))
def test_oku_man_is_one_number(oku: int, man: int) -> None:
    (value,) = values(f"{oku}億{man}万円")
    assert abs(value - (oku * 10**8 + man * 10**4)) <= oku * 10**8 * 1e-3


@given(st.integers(min_value=1_000, max_value=10**12))
def test_grouped_digits(n: int) -> None:
    (value,) = values(f"{n:,}")
    assert values(f"{n:,}".replace(",", "\u00a0")) == [value]
    assert abs(value - n) <= n * 1e-3


@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_one_date_in_three_languages(d: dt.date) -> None:
    want = DateValue(d.year, d.month, d.day)
    forms = [
        f"{d.year}年{d.month}月{d.day}日",
        f"{d.year} 年 {d.month} 月 {d.day} 日",
        f"{EN_MONTHS[d.month - 1]} {d.day}, {d.year}",
        f"{d.day} {EN_MONTHS[d.month - 1]} {d.year}",
        f"{d.day} {RU_MONTHS[d.month - 1]} {d.year} г.",
    ]
    for form in forms:
        assert [v for v, _a, _b in dates(f"Сообщение: {form}.")] == [want], form
    for form in (f"{d.month}月{d.day}日", f"{d.day} {RU_MONTHS[d.month - 1]}",
                 f"on {EN_MONTHS[d.month - 1]} {d.day} the"):  # fmt: skip
        (found,) = [v for v, _a, _b in dates(form)]
        assert found == DateValue(None, d.month, d.day) and found.matches(want), form


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from("0123456789,. 万億兆千年月日млнрдmillionAugust18-年\n"),
               max_size=60))  # fmt: skip
def test_readers_never_fail_and_spans_are_in_bounds(text: str) -> None:
    for _v, a, b in numbers(text):
        assert 0 <= a < b <= len(text)
    for _d, a, b in dates(text):
        assert 0 <= a < b <= len(text)
    features(text)


@given(st.text(max_size=200))
def test_any_text(text: str) -> None:
    f = features(text)
    assert 0.0 <= lexical_score(f, features(text[::-1])).score <= 1.0


def test_names_across_scripts() -> None:
    for a, b in [("トランプ", "Трампа"), ("トランプ", "Trump"), ("プーチン", "Путина"),
                 ("ゼレンスキー", "Зеленского"), ("ラブロフ", "Lavrov"), ("NATO", "НАТО"),
                 ("ハルキウ", "Харьков")]:  # fmt: skip
        assert name_matches(skeleton(a), skeleton(b)), (a, b)
    assert not name_matches(skeleton("トランプ"), skeleton("Путин"))
    assert name_words("ロシア外務省はNATO諸国の部隊") == ["rs", "nt"]


def test_lexical_score_counts_shared_facts() -> None:
    claim = features("国連によれば、3月以降、東部から約140万人が避難した")
    right = features("The United Nations estimates that 1.4 million people have fled since March.")
    wrong = features("The European Union pledged $50 billion in budget support.")
    assert "number 1.4e+06" in lexical_score(claim, right).matched
    assert lexical_score(claim, right).score > lexical_score(claim, wrong).score
    dated = features("ロシア外務省は8月18日に表明した")
    assert lexical_score(dated, features("МИД заявил 18 августа 2025 г.")).matched == [
        "date --08-18"
    ]
