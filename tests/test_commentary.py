"""Commentary parsing: formats, footnote fields, sentences and claims, citation lint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from citearchive.errors import CommentaryError
from citearchive.sources.citation_parse import find_dates, parse_citation
from citearchive.sources.commentary import (
    Commentary,
    detect_format,
    lint,
    parse_commentary,
    read_commentary,
)
from citearchive.sources.sentences import ends_sentence, joiner, script_language, split_sentences

FIXTURES = Path(__file__).parent / "fixtures" / "commentary"
REAL = Path(__file__).resolve().parents[2] / "shared" / "commentary" / "000_4fa53e36957d04f4.txt"
needs_real = pytest.mark.skipif(not REAL.exists(), reason="../shared/commentary is absent")


def claims_of(c: Commentary) -> list[tuple[int, str]]:
    return [(cl.footnote, cl.text) for cl in c.claims]


def codes(c: Commentary) -> list[tuple[str, int]]:
    return [(w.code, w.footnote) for w in c.warnings]


# --- the real commentary -----------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> Commentary:
    if not REAL.exists():
        pytest.skip("../shared/commentary is absent")
    return read_commentary(REAL)


@needs_real
def test_real_commentary_counts_and_metadata(real: Commentary) -> None:
    assert real.fmt == "markdown-sup"
    assert real.title == "ロシア・ウクライナの停戦をめぐる在米協議"
    assert real.author == "山添博史"
    assert real.byline == "地域研究部 米欧ロシア研究室長 山添 博史"
    assert real.language == "ja"
    assert len(real.markers) == 12
    assert len(real.claims) == 12
    assert [f.number for f in real.footnotes] == list(range(1, 13))
    assert [m.number for m in real.markers] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2]


@needs_real
def test_real_commentary_page_breaks_are_joined(real: Commentary) -> None:
    by_line = {cl.line: cl for cl in real.claims}
    # 「…ウクライ」 / 「ナとの首脳会談…」 joined without a space: the claim keeps its subject.
    misprinted_11 = by_line[47]
    assert misprinted_11.text.startswith("また、ロシアのウシャコフ大統領補佐官（外交担当）は")
    assert "ウクライナとの首脳会談の計画については触れなかった" in misprinted_11.text
    assert misprinted_11.paragraph == by_line[45].paragraph
    # 「…首都キーウを狙う」 / 「軍事作戦を開始して…」 is one paragraph, so the paragraph
    # carrying marker 2 is the fifth, not the sixth.
    assert by_line[29].paragraph == 5


@needs_real
def test_real_commentary_four_markers_in_one_line(real: Commentary) -> None:
    line41 = [(cl.footnote, cl.text) for cl in real.claims if cl.line == 41]
    assert [n for n, _ in line41] == [5, 6, 7, 8]
    assert line41[0][1].startswith("7月14日にはトランプ大統領が")
    assert line41[0][1].endswith("制裁を発動すると述べるに至った")
    assert line41[1][1].startswith("同日に『コメルサント』紙は")
    assert line41[3][1].endswith("包囲の形勢を強め")  # marker 8 sits mid-sentence
    assert all("<sup>" not in text and "。" not in text for _, text in line41)


@needs_real
def test_real_commentary_no_claim_from_footnotes_or_profile(real: Commentary) -> None:
    texts = " ".join(cl.text for cl in real.claims)
    for outside in ("President of Russia", "PROFILE", "防衛研究所企画部", "山添 博史", "---"):
        assert outside not in texts
    assert all(cl.paragraph >= 1 for cl in real.claims)


@needs_real
def test_real_commentary_footnote_fields(real: Commentary) -> None:
    fn = {f.number: f for f in real.footnotes}
    assert fn[1].title == "Совместная пресс-конференция Президента России и Президента США"
    assert (fn[1].publisher, fn[1].published, fn[1].language) == (
        "President of Russia",
        "2025-08-16",
        "ru",
    )
    assert fn[1].urls == []  # "(#)" is no URL
    assert fn[2].urls == ["https://t.me/systemasystema/63"]
    assert fn[2].title is not None and fn[2].title.startswith("Какие у Путина")
    assert (fn[2].publisher, fn[2].published) == ("Nastoishchee vremia", "2024-11-04")
    assert (fn[3].title, fn[3].publisher, fn[3].published, fn[3].language) == (
        "ロシア・ウクライナの 2022 年停戦協議文書",
        "防衛研究所",
        "2025-04-15",
        "ja",
    )
    assert fn[4].publisher == "Rossiiskaia Gazeta"
    assert (
        fn[5].title
        == "Trump threatens 'very severe' tariffs against Russia if no Ukraine deal within 50 days"
    )
    assert fn[8].title == "Russian Offensive Campaign Assessment, July 25, 2025"
    assert fn[12].title == "The Critical Importance of Ukraine’s Fortress Belt in Donetsk Oblast"
    assert (fn[12].publisher, fn[12].published, fn[12].language) == (
        "Institute for the Study of War",
        "2025-08-12",
        "en",
    )
    assert fn[12].text.startswith("2022 年 9 月 30 日、") and fn[12].text.endswith(
        "August 12, 2025."
    )
    assert all("](#)" not in f.text and "<sup>" not in f.text for f in real.footnotes)


@needs_real
def test_real_commentary_lint(real: Commentary) -> None:
    assert sorted(codes(real)) == [
        ("reused-marker", 1),
        ("reused-marker", 2),
        ("unreferenced-footnote", 11),
        ("unreferenced-footnote", 12),
    ]
    reused = {w.footnote: w for w in real.warnings if w.code == "reused-marker"}
    assert reused[1].suggested == 11 and reused[1].line == 47
    assert reused[2].suggested == 12 and reused[2].line == 51
    assert reused[1].message.startswith(
        "marker 1 used twice (paragraphs 1 and 10, lines 13 and 47)"
    )
    assert "footnote 11 is never referenced — was 11 meant" in reused[1].message
    json.dumps([w.to_dict() for w in real.warnings])  # JSON-able
    json.dumps(real.to_dict())


# --- formats -----------------------------------------------------------------------------


def test_detect_format() -> None:
    assert detect_format("Text<sup>1</sup>.\n\n<sup>1</sup> Note.") == "markdown-sup"
    assert detect_format("Text.[^1]\n\n[^1]: Note.") == "markdown-footnotes"
    assert detect_format("<p>Text<sup>1</sup></p>") == "html"
    assert detect_format("<!DOCTYPE html><html></html>") == "html"


def test_markdown_sup_japanese_fixture() -> None:
    c = read_commentary(FIXTURES / "sup_ja.md")
    assert (c.title, c.author, c.language) == ("停戦協議の行方", "佐藤花子", "ja")
    assert claims_of(c) == [
        (1, "2025 年 3 月 1 日、両国の首脳が会談した"),
        (2, "首相は「停戦は近い。だが条件がある。」と述べた"),  # no split inside 「…」
        (3, "報道官（外務省。当時）は協議が続くと説明し"),  # no split inside （…）
        (4, "報道官（外務省。当時）は協議が続くと説明し、さらに期限は 30 日後とされた"),
        (
            5,
            "政府は2024年に始まった交渉の成果として首都への攻撃を止める合意を発表したが、"
            "詳細は明らかにしていない",
        ),
        (6, "その後の協議では、ウクライナの代表が新しい提案を示した"),
    ]
    assert [cl.paragraph for cl in c.claims] == [1, 1, 2, 2, 3, 3]
    assert [cl.line for cl in c.claims] == [11, 11, 13, 13, 17, 19]
    assert codes(c) == []


def test_markdown_sup_english_fixture() -> None:
    c = read_commentary(FIXTURES / "sup_en.md")
    assert (c.title, c.author, c.language) == ("Ceasefire talks in Washington", "Jane Doe", "en")
    assert claims_of(c) == [
        (1, "Mr. Smith met U.S. officials on Monday."),
        (2, "He said the talks were useful."),
        (3, "The envoy, Dr. Jones, disagreed"),
        (4, "The envoy, Dr. Jones, disagreed, and the press noted it."),
        (
            5,
            "The two sides agreed to meet again, although the date of the next meeting "
            "was not announced.",
        ),
    ]


def test_markdown_footnotes_fixture() -> None:
    c = read_commentary(FIXTURES / "footnotes.md")
    assert c.fmt == "markdown-footnotes"
    # the named label [^note] is numbered after the highest numeric label
    assert claims_of(c) == [
        (1, "The first meeting took place in Geneva."),
        (4, "The second one, in Vienna, was shorter"),
        (3, "The second one, in Vienna, was shorter and ended early."),
        (1, "A third meeting was proposed."),
    ]
    note = c.footnote(4)
    assert note is not None
    assert note.urls == ["https://example.ru/vienna"]  # from the indented continuation line
    assert (note.title, note.publisher, note.published) == (
        "Венские переговоры",
        "Vedomosti",
        "2025-01-06",
    )
    # a repeated [^1] is deliberate Markdown, not a misprint; 2 is a real gap
    assert codes(c) == [("numbering-gap", 2)]


def test_html_pandoc_fixture() -> None:
    c = read_commentary(FIXTURES / "pandoc.html")
    assert (c.fmt, c.title, c.author, c.language) == ("html", "Ceasefire talks", "Jane Doe", "en")
    assert claims_of(c) == [
        (1, "The leaders met on Friday."),
        (2, "They agreed on a plan"),
        (3, "They agreed on a plan and on a date."),
        (
            4,
            "The plan was criticised by the opposition, which said that the talks had been rushed.",
        ),
    ]
    assert [cl.line for cl in c.claims] == [7, 7, 7, 9]
    fn = {f.number: f for f in c.footnotes}
    assert fn[1].urls == ["https://example.com/meeting"]
    assert fn[1].title == "Leaders meet" and fn[1].text.startswith("“Leaders meet”, Example Wire")
    assert "↩" not in fn[1].text
    assert (fn[2].title, fn[2].publisher, fn[2].language) == (
        "План урегулирования",
        "Коммерсантъ",
        "ru",
    )
    assert (fn[3].title, fn[3].publisher, fn[3].published) == ("日程で合意", "例新聞", "2025-08-03")
    assert fn[4].urls == []  # href="#" is no URL
    assert fn[4].line == 16
    assert codes(c) == []


def test_html_sup_fixture() -> None:
    c = read_commentary(FIXTURES / "sup.html")
    assert (c.fmt, c.title, c.author, c.language) == (
        "html",
        "停戦協議の行方（HTML）",
        "佐藤花子",
        "ja",
    )
    assert claims_of(c) == [
        (1, "両国の首脳が会談した"),
        (2, "会談は 2 時間続いた"),
        (3, "政府は交渉の成果として首都への攻撃を止める合意を発表した"),
    ]
    assert [f.urls for f in c.footnotes] == [["https://example.ru/a"], [], []]
    assert [f.language for f in c.footnotes] == ["ru", "en", "ja"]


def test_unknown_format_is_an_error() -> None:
    with pytest.raises(CommentaryError, match="unknown commentary format 'pdf'"):
        parse_commentary("text", fmt="pdf")


# --- citations: titles, dates, URLs --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        ("«Заголовок статьи», Коммерсант, 1 мая 2025.", "Заголовок статьи"),
        ("“Curly title,” Example Wire, May 1, 2025.", "Curly title"),
        ('"Straight title", Example Wire, May 1, 2025.', "Straight title"),
        ("「記事の題名」例新聞、2025 年 5 月 1 日。", "記事の題名"),
        ("『書名』例出版、2025 年 5 月。", "書名"),
        ("[Link text title](https://example.org/a), Example, May 1, 2025.", "Link text title"),
        ("[«Quoted link»](#), Example, May 1, 2025.", "Quoted link"),
        ("Prose with 「a phrase」 first. “The Title,” Example, May 1, 2025.", "The Title"),
        ("[https://example.org/a](https://example.org/a), May 1, 2025.", None),
    ],
)
def test_title_quote_styles(raw: str, title: str | None) -> None:
    assert parse_citation(raw).title == title


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("August 16, 2025", "2025-08-16"),
        ("Aug. 16, 2025", "2025-08-16"),
        ("16 August 2025", "2025-08-16"),
        ("2025 年 4 月 15 日", "2025-04-15"),
        ("2025年4月15日", "2025-04-15"),
        ("２０２５年４月１５日", "2025-04-15"),
        ("16 августа 2025", "2025-08-16"),
        ("3 мая 2025 г.", "2025-05-03"),
        ("2 марта 2024", "2024-03-02"),
        ("2025-08-16", "2025-08-16"),
        ("16.08.2025", "2025-08-16"),
        ("August 2025", "2025-08"),
        ("2025 年 8 月", "2025-08"),
        ("август 2025", "2025-08"),
    ],
)
def test_date_formats(text: str, iso: str) -> None:
    dates = find_dates(f"Source, {text}.")
    assert [d.iso for d in dates] == [iso]


def test_impossible_dates_are_ignored() -> None:
    assert find_dates("February 30, 2025 and 2025 年 13 月 1 日") == []


def test_publisher_date_and_access_date() -> None:
    c = parse_citation(
        "“Title,” *Foreign Affairs*, 16 августа 2025, <https://example.org/a>. "
        "Дата обращения: 20.08.2025"
    )
    assert (c.publisher, c.published, c.accessed) == ("Foreign Affairs", "2025-08-16", "2025-08-20")
    assert c.urls == ["https://example.org/a"]
    assert c.text.startswith("“Title,” Foreign Affairs,")  # emphasis stripped, as printed
    ja = parse_citation(
        "防衛省『防衛白書』2025 年 7 月、https://www.mod.go.jp/j/ 2025 年 8 月 1 日閲覧"
    )
    assert (ja.published, ja.accessed, ja.urls) == (
        "2025-07",
        "2025-08-01",
        ["https://www.mod.go.jp/j/"],
    )


def test_urls_from_links_autolinks_and_bare_text() -> None:
    c = parse_citation(
        "[A](https://a.example/x), [B](#), <https://b.example/y> and https://c.example/z."
    )
    assert c.urls == ["https://a.example/x", "https://b.example/y", "https://c.example/z"]


def test_script_language() -> None:
    assert script_language("ロシア・ウクライナの停戦") == "ja"
    assert script_language("防衛白書") == "ja"
    assert script_language("И ты, Трамп") == "ru"
    assert script_language("Україна і світ") == "uk"
    assert script_language("BBC News") == "en"
    assert script_language("2025") is None


# --- sentences and paragraphs -------------------------------------------------------------


def test_split_sentences() -> None:
    assert split_sentences("彼は「止めろ。今だ。」と言った。次の文（括弧。中）です！ 最後？") == [
        "彼は「止めろ。今だ。」と言った。",
        "次の文（括弧。中）です！",
        "最後？",
    ]
    assert split_sentences("Mr. Smith saw the U.S. team on Jan. 5. He left. Really? yes.") == [
        "Mr. Smith saw the U.S. team on Jan. 5.",
        "He left.",
        "Really? yes.",
    ]
    assert split_sentences("В. В. Путин приехал в 2025 г. в Москву. Это всё.") == [
        "В. В. Путин приехал в 2025 г. в Москву.",
        "Это всё.",
    ]


def test_ends_sentence_and_joiner() -> None:
    assert not ends_sentence("首都キーウを狙う")
    assert ends_sentence("述べた<sup>1</sup>。".replace("<sup>1</sup>", ""))
    assert ends_sentence("he said “stop.”")
    assert not ends_sentence("the date of the next")
    assert joiner("ウクライ", "ナとの") == ""
    assert joiner("of the next", "meeting") == " "


def test_page_break_joins_only_plain_paragraphs() -> None:
    text = (
        "## T\n\nBy A. Author\n\nFirst paragraph.\n\nA sentence cut at the\n\n### Heading\n\n"
        "New paragraph.<sup>1</sup>\n\n- item without a stop\n- next item.<sup>2</sup>\n\n"
        "<sup>1</sup> Note.\n<sup>2</sup> Note."
    )
    c = parse_commentary(text)
    assert c.author == "A. Author"
    # a heading stops the joining, and list items are never joined
    assert claims_of(c) == [(1, "New paragraph."), (2, "next item.")]
    assert [cl.paragraph for cl in c.claims] == [3, 5]


def test_marker_after_period_without_space_and_ranges() -> None:
    c = parse_commentary(
        "First.<sup>1</sup>Second.<sup>2,3</sup> Third.<sup>4-5</sup>\n\n"
        + "\n".join(f"<sup>{n}</sup> “T{n},” X, May {n}, 2025." for n in range(1, 6))
    )
    assert claims_of(c) == [
        (1, "First."),
        (2, "Second."),
        (3, "Second."),
        (4, "Third."),
        (5, "Third."),
    ]


def test_markers_in_headings_count_as_references_but_make_no_claim() -> None:
    c = parse_commentary(
        "# Title<sup>1</sup>\n\nBody.<sup>2</sup>\n\n<sup>1</sup> A.\n<sup>2</sup> B."
    )
    assert [m.number for m in c.markers] == [1, 2]
    assert claims_of(c) == [(2, "Body.")]
    assert codes(c) == []


def test_marker_at_the_start_of_a_wrapped_line_is_no_definition() -> None:
    c = parse_commentary("He said so\n<sup>1</sup> and left.\n\n<sup>1</sup> “A,” B, May 1, 2025.")
    assert claims_of(c) == [(1, "He said so")]
    assert [f.number for f in c.footnotes] == [1]


def test_lost_digit_with_two_candidates() -> None:
    body = " ".join(f"S{n}.<sup>{n}</sup>" for n in (1, 2, 3)) + " Again.<sup>1</sup>"
    defs = "\n".join(f"<sup>{n}</sup> “T{n},” X, May 1, 2025." for n in (1, 2, 3, 10, 11))
    c = parse_commentary(f"{body}\n\n{defs}")
    (reused,) = [w for w in c.warnings if w.code == "reused-marker"]
    assert reused.suggested is None
    assert reused.message.endswith(
        "footnotes 10 and 11 are never referenced — was 10 or 11 meant at line 1?"
    )


def test_definition_continuation_lines() -> None:
    c = parse_commentary(
        "Body.<sup>1</sup>\n\n<sup>1</sup> “Title,” Example,\nMay 1, 2025.\n\nAfter."
    )
    f = c.footnote(1)
    assert (
        f is not None and f.text == "“Title,” Example, May 1, 2025." and f.published == "2025-05-01"
    )
    assert claims_of(c) == [(1, "Body.")]


# --- lint --------------------------------------------------------------------------------


def test_every_lint_code() -> None:
    c = read_commentary(FIXTURES / "lint.md")
    assert sorted(codes(c)) == [
        ("duplicate-footnote", 3),
        ("missing-footnote", 7),
        ("numbering-gap", 4),
        ("numbering-gap", 6),
        ("numbering-gap", 8),
        ("reused-marker", 1),
        ("unreferenced-footnote", 11),
    ]
    messages = {(w.code, w.footnote): w for w in c.warnings}
    assert (
        messages[("missing-footnote", 7)].message == "marker 7 (line 9) has no footnote definition"
    )
    assert messages[("numbering-gap", 8)].message == (
        "footnotes 8–10 are missing: the numbering jumps from 7 to 11"
    )
    reused = messages[("reused-marker", 1)]
    assert reused.message == (
        "marker 1 used twice (paragraphs 1 and 2, lines 7 and 9); "
        "footnote 11 is never referenced — was 11 meant at line 9?"
    )
    assert (reused.line, reused.suggested) == (9, 11)
    assert "marker 1 at line 9 may be meant" in messages[("unreferenced-footnote", 11)].message
    assert messages[("duplicate-footnote", 3)].line == 14
    assert c.footnote(3) is not None and c.footnote(3).title == "Three"  # type: ignore[union-attr]
    assert lint(c) == c.warnings


def test_same_marker_in_adjacent_sentences_is_not_reuse() -> None:
    c = parse_commentary(
        "One.<sup>1</sup> Same source again.<sup>1</sup>\n\n<sup>1</sup> “A,” B, May 1, 2025."
    )
    assert codes(c) == []


# --- reading files -----------------------------------------------------------------------


def test_read_errors_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.md"
    with pytest.raises(CommentaryError, match=r"nope\.md: no such file"):
        read_commentary(missing)
    with pytest.raises(CommentaryError, match="is a directory"):
        read_commentary(tmp_path)
    latin1 = tmp_path / "latin1.md"
    latin1.write_bytes("Caf\u00e9 au lait.<sup>1</sup>\n".encode("latin-1"))
    with pytest.raises(CommentaryError, match=r"latin1\.md:1: not UTF-8 text \(byte 0xe9\)"):
        read_commentary(latin1)


def test_read_utf8_bom_and_declared_html_charset(tmp_path: Path) -> None:
    bom = tmp_path / "bom.md"
    bom.write_bytes(b"\xef\xbb\xbfText.<sup>1</sup>\n\n<sup>1</sup> Note.\n")
    assert claims_of(read_commentary(bom)) == [(1, "Text.")]
    sjis = tmp_path / "page.html"
    sjis.write_bytes(
        '<html><head><meta charset="shift_jis"></head><body><p>会談した<sup>1</sup>。</p>'
        "<p><sup>1</sup> 「題」例新聞、2025 年 5 月 1 日。</p></body></html>".encode("shift_jis")
    )
    c = read_commentary(sjis)
    assert claims_of(c) == [(1, "会談した")]
    assert c.footnotes[0].title == "題"


def test_hostile_deeply_nested_html_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.html"
    path.write_text("<html><body>" + "<div>" * 5000 + "x<sup>1</sup>" + "</div>" * 5000
                    + "<p id='fn1'>1. Note.</p></body></html>")  # fmt: skip
    with pytest.raises(CommentaryError, match=r"deep\.html: HTML nested too deeply"):
        read_commentary(path)
