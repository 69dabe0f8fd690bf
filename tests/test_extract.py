"""Tests for the extract stage: charsets, HTML, PDF, plain text, sniffing, suspects, hashing.

Every page here is built inline from short articles written for these tests and
encoded with the codec under test, so the bytes are real legacy-encoded pages.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import random
import re
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path

import pytest
import trafilatura
from hypothesis import given, settings
from hypothesis import strategies as st

from citearchive.capture.charset import codec_for_label, decode_html, decode_text, meta_charset
from citearchive.capture.extract import (
    Extraction,
    detect_language,
    extract,
    html_main_text,
    html_metadata,
    normalize_text,
    sniff_kind,
    text_sha256,
)
from citearchive.capture.pdftext import read_pdf
from citearchive.capture.suspect import find_suspect

# --- articles -------------------------------------------------------------------------------

RU_TITLE = "Новый мост через реку Обь"
RU = [
    "В среду в Новосибирске открыли движение по новому мосту через реку Обь.",
    "Строительство продолжалось четыре года и обошлось бюджету дороже, чем планировалось.",
    "По словам мэра, мост разгрузит центральные улицы и сократит время в пути почти вдвое.",
    "Первые автобусные маршруты по мосту запустят уже в ближайший понедельник.",
    "Инженеры отмечают, что конструкция рассчитана на суровые сибирские зимы.",
    "Жители встретили открытие с осторожным оптимизмом: ремонт старого моста ещё не закончен.",
]
JA_TITLE = "東京で新しい図書館が開館"
JA = [
    "東京都内に新しい市立図書館が十月一日に開館しました。",
    "館内には約二十万冊の本が並び、子ども向けの読書室も設けられています。",
    "開館式では市長が挨拶し、地域の人々が気軽に集まれる場所にしたいと話しました。",
    "初日には開館前から多くの家族連れが列を作りました。",
    "設計を担当した建築家によると、木材をふんだんに使い、自然光が入るように工夫したということです。",
    "利用者の一人は、駅から近くて便利なので仕事帰りにも立ち寄りたいと話していました。",
]
ZH_TITLE = "北京举办国际图书博览会"
ZH = [
    "第三十届北京国际图书博览会于本周三在北京开幕，来自六十多个国家和地区的出版机构参加了博览会。",
    "主办方表示，今年的展览面积比去年扩大了百分之二十，并首次设立了数字出版专区。",
    "多位作家在开幕式上发表讲话，呼吁加强各国之间的文化交流与合作。",
    "博览会将持续五天，期间还将举办两百多场讲座和签售活动，预计观众人数将超过三十万人次。",
]
EN_TITLE = "City opens a new riverside library"
EN = [
    "The city opened its new riverside library on Monday after three years of construction.",
    "The building holds about two hundred thousand books and a reading room for children.",
    "At the opening ceremony the mayor said the library should be a place where anyone can meet.",
    "Long queues of families formed outside the doors well before the library opened.",
    "The architect said the design uses local timber and lets daylight into every floor.",
    "One visitor said the library is close to the station, so she will stop by after work.",
]
ARTICLES = {"ru": (RU_TITLE, RU), "ja": (JA_TITLE, JA), "zh": (ZH_TITLE, ZH), "en": (EN_TITLE, EN)}


def article_html(
    lang: str,
    charset: str | None = None,
    head: str = "",
    chrome: str = "<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>",
    indent: str = "",
) -> str:
    """A small article page; ``charset`` goes into a <meta>, ``head`` adds raw head markup."""
    title, paragraphs = ARTICLES[lang]
    meta = f'<meta charset="{charset}">' if charset else ""
    body = "".join(f"\n{indent}<p>{' '.join(paragraphs[i : i + 2])}</p>" for i in range(0, 6, 2))
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head>{meta}{head}<title>{title}</title></head>'
        f"<body><header>{chrome}</header><article><h1>{title}</h1>{body}\n</article>"
        f"<footer>{chrome}</footer></body></html>"
    )


def assert_contains_all(text: str | None, phrases: Sequence[str]) -> None:
    """Every phrase occurs in ``text`` once whitespace is folded (README matching rules)."""
    folded = normalize_text(text or "")
    missing = [phrase for phrase in phrases if normalize_text(phrase) not in folded]
    assert not missing, f"missing {missing!r} in {folded[:300]!r}"


# --- charsets -------------------------------------------------------------------------------

CHARSET_CASES = [
    ("ru", "windows-1251", "cp1251"),
    ("ru", "koi8-r", "koi8-r"),
    ("ru", "utf-8", "utf-8"),
    ("ja", "shift_jis", "cp932"),
    ("ja", "euc-jp", "euc_jp"),
    ("ja", "utf-8", "utf-8"),
    ("zh", "gb2312", "gb18030"),
    ("zh", "utf-8", "utf-8"),
]


@pytest.mark.parametrize(("lang", "label", "codec"), CHARSET_CASES)
def test_charset_only_in_http_header(lang: str, label: str, codec: str) -> None:
    body = article_html(lang).encode(label)
    result = extract(body, f"text/html; charset={label.upper()}")
    assert (result.kind, result.charset, result.charset_source) == ("html", codec, "http-header")
    assert_contains_all(result.text, ARTICLES[lang][1])
    assert result.title == ARTICLES[lang][0]
    assert result.language == lang


@pytest.mark.parametrize(("lang", "label", "codec"), CHARSET_CASES)
def test_charset_only_in_meta(lang: str, label: str, codec: str) -> None:
    body = article_html(lang, charset=label).encode(label)
    result = extract(body, "text/html")
    assert (result.charset, result.charset_source) == (codec, "meta")
    assert_contains_all(result.text, ARTICLES[lang][1])


@pytest.mark.parametrize(("lang", "label", "codec"), CHARSET_CASES)
def test_charset_detected_without_declaration(lang: str, label: str, codec: str) -> None:
    body = article_html(lang).encode(label)
    result = extract(body, None)
    assert (result.charset, result.charset_source) == (codec, "detected")
    assert_contains_all(result.text, ARTICLES[lang][1])


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("ISO-8859-1", "cp1252"),
        ("latin1", "cp1252"),
        ("us-ascii", "cp1252"),
        ("gb2312", "gb18030"),
        ("GBK", "gb18030"),
        ("Shift_JIS", "cp932"),
        ("x-sjis", "cp932"),
        ("EUC-JP", "euc_jp"),
        ("koi8-r", "koi8-r"),
        ("windows-1251", "cp1251"),
        ("euc-kr", "cp949"),
        ("big5", "big5hkscs"),
        ('"utf-8"', "utf-8"),
        ("euc_jis_2004", "euc_jp"),
        ("utf-7", None),  # an XSS vector, never honoured
        ("base64", None),  # a Python codec but not a charset
        ("unicode_escape", None),
        ("idna", None),
        ("utf\x00-8", None),
        ("no-such-charset", None),
        ("", None),
    ],
)
def test_labels_map_the_whatwg_way(label: str, codec: str | None) -> None:
    assert codec_for_label(label) == codec


def test_bom_wins_over_http_header() -> None:
    body = b"\xef\xbb\xbf" + article_html("ru").encode("utf-8")
    text, codec, source = decode_html(body, "text/html; charset=iso-8859-1")
    assert (codec, source) == ("utf-8", "bom")
    assert RU[0] in text and not text.startswith("\ufeff")


def test_utf16_page_with_bom_is_html() -> None:
    body = article_html("ja").encode("utf-16")  # Python writes a BOM
    result = extract(body, None)
    assert (result.kind, result.charset_source) == ("html", "bom")
    assert_contains_all(result.text, JA)


def test_declared_charset_that_fails_badly_falls_back_to_detection() -> None:
    body = article_html("ru").encode("cp1251")
    result = extract(body, "text/html; charset=utf-8")
    assert (result.charset, result.charset_source) == ("cp1251", "detected")
    assert_contains_all(result.text, RU)


def test_stale_legacy_declaration_over_utf8_bytes_is_overruled() -> None:
    body = article_html("zh", charset="gb2312").encode("utf-8")  # the readability-qq case
    text, codec, source = decode_html(body, None)
    assert (codec, source) == ("utf-8", "detected")
    assert ZH[0] in text


def test_few_stray_bytes_keep_the_declared_utf8() -> None:
    body = (
        article_html("ru", charset="utf-8")
        .encode("utf-8")
        .replace(b"</article>", b"\xe9</article>")
    )
    text, codec, source = decode_html(body, None)
    assert (codec, source) == ("utf-8", "meta")
    assert text.count("\ufffd") == 1 and RU[0] in text


def test_meta_after_a_long_inline_script_is_found_but_not_inside_a_comment() -> None:
    script = "<script>var x = '" + "a" * 20_000 + "';</script>"
    page = article_html("ru", head=script).replace("<head>", "<head><!-- <meta charset=utf-8> -->")
    body = page.replace("</script>", '</script><meta charset="koi8-r">').encode("koi8-r")
    assert meta_charset(body) == "koi8-r"
    text, codec, source = decode_html(body, None)
    assert (codec, source) == ("koi8-r", "meta") and RU[1] in text


def test_http_equiv_and_xml_declaration_count_as_meta() -> None:
    equiv = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
    assert decode_html(article_html("ru", head=equiv).encode("cp1251"), None)[1:] == (
        "cp1251",
        "meta",
    )
    xhtml = '<?xml version="1.0" encoding="EUC-JP"?>\n' + article_html("ja")
    assert decode_html(xhtml.encode("euc_jp"), None)[1:] == ("euc_jp", "meta")


def test_pure_ascii_without_declaration_is_utf8_by_default() -> None:
    assert decode_html(article_html("en").encode("ascii"), None)[1:] == ("utf-8", "default")


# --- HTML text and metadata -----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "ja", "en"])
def test_multilingual_round_trip_through_extraction_and_hashing(lang: str) -> None:
    paragraphs = ARTICLES[lang][1]
    first = extract(article_html(lang).encode("utf-8"), "text/html", declared_language=lang)
    assert_contains_all(first.text, paragraphs)
    assert (first.language, first.suspect, first.not_text) == (lang, None, False)
    assert first.text is not None and first.text_sha256 == text_sha256(first.text)
    # another capture: different site chrome and indentation, same article -> same hash
    chrome = "<nav><a href='/x'>Sections</a> <a href='/y'>Archive</a> <a href='/z'>About</a></nav>"
    again = extract(
        article_html(lang, chrome=chrome, indent="\n      ").encode("utf-8"), "text/html"
    )
    assert again.text_sha256 == first.text_sha256


def test_title_author_and_date_from_head_meta() -> None:
    head = (
        '<meta property="og:title" content="Мост открыт">'
        '<meta property="article:author" content="https://facebook.com/someone">'
        '<meta name="author" content="By Анна  Петрова">'
        '<meta property="article:published_time" content="2024-03-05T10:00:00+03:00">'
    )
    result = extract(article_html("ru", head=head).encode("utf-8"), "text/html")
    assert (result.title, result.author, result.published) == (
        "Мост открыт",
        "Анна Петрова",
        "2024-03-05",
    )


def test_author_and_date_from_json_ld_and_time_element() -> None:
    json_ld = (
        '<script type="application/ld+json">{"@type": "NewsArticle", "author": '
        '{"@type": "Person", "name": "\\u5c71\\u7530 \\u592a\\u90ce"}, '
        '"datePublished": "2023-10-01T09:00:00+09:00"}</script>'
    )
    title, page_title, author, published = html_metadata(article_html("ja", head=json_ld))
    assert (title, page_title, author, published) == (JA_TITLE, JA_TITLE, "山田 太郎", "2023-10-01")
    timed = article_html("en").replace("<h1>", '<time datetime="2022-12-31">31 Dec</time><h1>')
    assert html_metadata(timed)[3] == "2022-12-31"
    impossible = article_html("en").replace("<h1>", '<time datetime="2022-13-45">x</time><h1>')
    assert html_metadata(impossible)[3] is None


def test_date_from_microdata_or_url_and_placeholders_ignored() -> None:
    microdata = article_html("en").replace(
        "<h1>", '<span content="2021-06-01T08:00:00Z" itemprop="datePublished"></span><h1>'
    )
    assert html_metadata(microdata)[3] == "2021-06-01"
    url = "https://example.org/news/2020/02/29/library-opens/"
    assert html_metadata(article_html("en"), url)[3] == "2020-02-29"
    assert html_metadata(article_html("en"), "https://example.org/p/12345")[3] is None
    placeholders = '<meta name="author" content="null"><meta name="date" content="1970-01-01">'
    assert html_metadata(article_html("en", head=placeholders))[2:] == (None, None)


def test_recall_fallback_when_default_extraction_finds_nothing() -> None:
    contacts = "Контакты редакции: Москва, улица Тверская, дом 1."
    page = f"<html><body><aside><p>{contacts}</p></aside></body></html>"
    assert trafilatura.extract(page) is None
    assert html_main_text(page) == contacts


def test_visible_text_fallback_for_an_html_fragment() -> None:
    fragment = "<div><p>Просто абзац текста без обёртки.<script>var hidden = 1;</script></p></div>"
    assert trafilatura.extract(fragment) is None
    assert trafilatura.extract(fragment, favor_recall=True) is None
    result = extract(fragment.encode("utf-8"), "text/html; charset=utf-8")
    assert result.text == "Просто абзац текста без обёртки."
    assert result.suspect == "almost no text (32 characters)"


# --- plain text, other, sniffing ------------------------------------------------------------


def test_plain_text_is_decoded_like_html_minus_meta() -> None:
    raw = "\n".join(RU).encode("koi8-r")
    result = extract(raw, "text/plain; charset=koi8-r", declared_language="ru")
    assert (result.kind, result.charset, result.charset_source) == ("text", "koi8-r", "http-header")
    assert result.text == "\n".join(RU) and result.language == "ru" and result.suspect is None
    meta_in_text = ('<meta charset="koi8-r">\n' + RU[0]).encode("cp1251")
    assert decode_text(meta_in_text, "text/plain")[1:] == ("cp1251", "detected")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", None),
        (b"\x00\x01\x02\x03 some binary", None),
        (b"plain words, but declared opaque", "application/octet-stream"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><text>hi</text></svg>', "image/svg+xml"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "text/html"),  # the header lies
    ],
)
def test_other_content_has_no_text(body: bytes, content_type: str | None) -> None:
    assert extract(body, content_type) == Extraction(kind="other", not_text=True)


@pytest.mark.parametrize(
    ("body", "content_type", "kind"),
    [
        (b"%PDF-1.7\n...", "text/html", "pdf"),
        (b"\n%PDF-1.4", None, "pdf"),
        (b"<!DOCTYPE html><html><body>x</body></html>", "application/octet-stream", "html"),
        (b"  <!-- hi --><html lang=en>", "image/jpeg", "html"),
        (b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'>", None, "html"),
        (b"just some words", None, "text"),
        (b'{"a": 1}', "application/json", "text"),
        (b"<p>fragment</p>", "text/html; charset=utf-8", "html"),
        (b"<p>fragment</p>", "text/plain", "text"),
    ],
)
def test_sniff_kind_trusts_bytes_over_the_header(
    body: bytes, content_type: str | None, kind: str
) -> None:
    assert sniff_kind(body, content_type) == kind


def test_extract_never_raises_on_hostile_bytes() -> None:
    rng = random.Random(20240501)
    bodies = [
        b"",
        b"<html>" * 5000,
        b"<div>" * 20_000 + b"deep" + b"</div>" * 20_000,
        b"<html><head><meta charset=utf-7>+ADw-script+AD4-</head></html>",
        b"<html><body>\x00\x00\x00</body></html>",
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>",
        *(bytes(rng.randrange(256) for _ in range(2000)) for _ in range(5)),
    ]
    for body in bodies:
        for content_type in (None, "text/html", "text/plain", "application/pdf"):
            result = extract(body, content_type)
            assert result.kind in {"html", "pdf", "text", "other"}
            assert result.text is None or isinstance(result.text, str)


def test_extraction_survives_a_process_pool() -> None:
    bodies = [article_html(lang).encode("utf-8") for lang in ("ru", "ja")]
    with ProcessPoolExecutor(max_workers=1) as pool:
        results = list(pool.map(extract, bodies, ["text/html", "text/html"]))
    assert [r.language for r in results] == ["ru", "ja"]
    assert pickle.loads(pickle.dumps(results[0])) == results[0]


# --- PDF ------------------------------------------------------------------------------------

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@cache
def _font(name: str) -> str:
    """Register a reportlab font once: a built-in CID font or DejaVu Sans."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont

    if name == "HeiseiMin-W3":
        pdfmetrics.registerFont(UnicodeCIDFont(name))
    elif name == "DejaVuSans":
        pdfmetrics.registerFont(TTFont(name, str(DEJAVU)))
    return name


def make_pdf(
    pages: Sequence[Sequence[str]],
    font: str = "Helvetica",
    title: str | None = None,
    author: str | None = None,
) -> bytes:
    """A PDF with one line of text per item, one page per inner sequence (reportlab)."""
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, invariant=True)  # invariant: fixed dates and ids
    if title:
        pdf.setTitle(title)
    if author:
        pdf.setAuthor(author)
    for lines in pages:
        pdf.setFont(_font(font), 10)
        for number, line in enumerate(lines):
            pdf.drawString(50, 780 - 16 * number, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def test_japanese_pdf_with_cid_font() -> None:
    body = make_pdf([JA], font="HeiseiMin-W3", title="図書館の報告書", author="山田太郎")
    result = extract(body, "application/pdf")
    assert (result.kind, result.title, result.author, result.language) == (
        "pdf",
        "図書館の報告書",
        "山田太郎",
        "ja",
    )
    assert_contains_all(result.text, JA)
    assert (result.charset, result.suspect, result.published) == (None, None, "2000-01-01")


def test_english_pdf_with_helvetica() -> None:
    result = extract(make_pdf([EN], title="Library report"), "application/octet-stream")
    assert (result.kind, result.title, result.language) == ("pdf", "Library report", "en")
    assert_contains_all(result.text, EN)


@pytest.mark.skipif(not DEJAVU.exists(), reason=f"no Cyrillic TTF for reportlab at {DEJAVU}")
def test_russian_pdf_with_dejavu() -> None:
    result = extract(make_pdf([RU], font="DejaVuSans"), None, declared_language="ru")
    assert (result.kind, result.title, result.author) == ("pdf", None, None)  # placeholders
    assert (result.language, result.suspect) == ("ru", None)
    assert_contains_all(result.text, RU)


def test_pdf_work_is_capped_by_pages() -> None:
    body = make_pdf([[f"This is page number {n} of the report."] for n in range(1, 6)])
    capped = read_pdf(body, max_pages=2)
    assert (capped.pages, capped.truncated) == (2, True)
    assert "page number 2 " in (capped.text or "") and "page number 3" not in (capped.text or "")
    assert read_pdf(body).pages == 5


@pytest.mark.parametrize(
    "body",
    [b"%PDF-1.4\nnot really a pdf", make_pdf([EN])[:700], b"%PDF-1.4\n" + b"[" * 100_000],
    ids=["garbage", "truncated", "deep-nesting"],
)
def test_broken_pdf_is_reported_not_raised(body: bytes) -> None:
    result = extract(body, "application/pdf")
    assert (result.kind, result.text, result.text_sha256) == ("pdf", None, None)
    assert result.suspect is not None and result.suspect.startswith("unreadable PDF: ")


def test_pdf_broken_midway_keeps_the_pages_before() -> None:
    body = make_pdf([[f"This is page number {n} of the report."] for n in range(1, 4)])
    broken = body.replace(b"/Contents 11 0 R", b"/Contents <<11>>", 1)  # page 3, same length
    assert broken != body
    result = extract(broken, "application/pdf")
    assert_contains_all(result.text, ["page number 1 ", "page number 2 "])
    assert "page number 3" not in (result.text or "")
    assert (result.suspect or "").startswith("unreadable PDF after 2 pages: PSSyntaxError")


def test_pdf_without_text_layer_is_suspect() -> None:
    result = extract(make_pdf([[]]), "application/pdf")
    assert (result.text, result.suspect) == (None, "no text layer in PDF (scanned images?)")


# --- suspect rules --------------------------------------------------------------------------

LONG_EN = " ".join(EN) * 4  # well over every length threshold


@pytest.mark.parametrize(
    ("title", "text", "reason"),
    [
        (
            "Access Denied",
            "You don't have permission to access this server.",
            "error page: title says 'Access Denied'",
        ),
        ("403 Forbidden", "nginx", "error page: title says '403 Forbidden'"),
        (
            "Example",
            "404 Not Found. The requested URL was not found.",
            "error page: text says '404 Not Found'",
        ),
        (
            "Доступ запрещён",
            "Ваш IP-адрес заблокирован.",
            "error page: title says 'Доступ запрещён'",
        ),
        (
            "Ошибка",
            "Доступ запрещен по решению администрации.",
            "error page: text says 'Доступ запрещен'",
        ),
        (
            "Страница не найдена — Новости",
            "Вернуться на главную",
            "error page: title says 'Страница не найдена'",
        ),
        (
            "ページが見つかりません",
            "トップへ戻る",
            "error page: title says 'ページが見つかりません'",
        ),
        (
            "エラー",
            "アクセスが拒否されました。",
            "error page: text says 'アクセスが拒否されました'",
        ),
        (
            "Just a moment...",
            "Enable JavaScript and cookies to continue",
            "captcha wall: title says 'Just a moment...'",
        ),
        (
            "Security check",
            "Please verify you are human to continue.",
            "captcha wall: text says 'verify you are human'",
        ),
        (
            "Video",
            "This video is not available in your country.",
            "geo-block: text says 'not available in your country'",
        ),
        ("Just a moment…", "", "captcha wall: title says 'Just a moment…'"),
        (
            "Яндекс",
            "Подтвердите, что запросы отправляли вы, а не робот",
            "captcha wall: text says 'не робот'",
        ),
        ("A title", "Short.", "almost no text (6 characters)"),
        (None, None, "almost no text (0 characters)"),
    ],
)
def test_suspect_rules(title: str | None, text: str | None, reason: str) -> None:
    assert find_suspect("html", title, text) == reason


def test_short_japanese_counts_double_for_almost_no_text() -> None:
    japanese = "".join(JA)[:150]  # 150 characters: a paragraph, not an empty page
    assert find_suspect("html", "t", japanese) is None
    assert find_suspect("html", "t", japanese[:90]) == "almost no text (90 characters)"
    assert find_suspect("html", "t", "x" * 150) == "almost no text (150 characters)"


def test_short_plain_text_is_fine_but_empty_is_not() -> None:
    assert find_suspect("text", None, "User-agent: *") is None
    assert extract(b"   \n", "text/plain").suspect == "empty document"


def test_articles_that_mention_error_phrases_are_not_suspect() -> None:
    quoting = EN[0] + " Officials said 'access denied' was all users saw. " + LONG_EN
    assert find_suspect("html", "Library news", quoting) is None
    assert find_suspect("html", "Access denied: how sites block readers", LONG_EN) is None
    page = article_html("en").replace(EN[2], EN[2] + " The old site only said 404 Not Found.")
    assert extract(page.encode("utf-8"), "text/html").suspect is None


def test_language_contradiction_needs_enough_confident_text() -> None:
    result = extract(article_html("en").encode("utf-8"), "text/html", declared_language="ru")
    assert result.suspect == "language is en, source declared ru"
    assert (
        extract(article_html("ru").encode("utf-8"), None, declared_language="ru-RU").suspect is None
    )
    assert find_suspect("text", None, "Short English note.", "ru", "en", 0.99) is None
    assert find_suspect("text", None, LONG_EN, "ru", "en", 0.5) is None
    assert find_suspect("text", None, LONG_EN, "no", "nb", 0.99) is None


# --- normalization, hashing, language ----------------------------------------------------------


def test_normalize_text_folds_whitespace_and_composes() -> None:
    assert normalize_text("  a\u00a0\u00a0b\t\nc\r\n ") == "a b c"
    assert normalize_text("Cafe\u0301") == "Café"  # NFC composes
    assert normalize_text("東京\u3000都") == "東京 都"  # U+3000 is whitespace too


_WHITESPACE_RUN = re.compile(r"\s+")
_SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace()) + "\u0301\u3099"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.one_of(st.sampled_from(_SPACES), st.characters()), max_size=60))
def test_normalize_text_is_nfc_then_whitespace_runs_as_one_space(text: str) -> None:
    # the definition the text hashes of every archive were made with
    expected = _WHITESPACE_RUN.sub(" ", unicodedata.normalize("NFC", text)).strip()
    assert normalize_text(text) == expected


def test_normalize_text_leaves_japanese_full_width_alone() -> None:
    japanese = "ＡＢＣ１２３！ｶﾀｶﾅ・「東京」が、ﾃｽﾄ。"
    assert normalize_text(japanese) == japanese  # NFKC would have changed every one of these


def test_text_sha256_hashes_the_normalized_text() -> None:
    assert text_sha256("abc") == hashlib.sha256(b"abc").hexdigest()
    assert text_sha256("Мост\n открыт\u00a0") == text_sha256("Мост открыт")
    assert text_sha256("東京") != text_sha256("東 京")
    assert len(text_sha256("broken \ud800 surrogate")) == 64  # never raises


@pytest.mark.parametrize("lang", ["ru", "ja", "zh", "en"])
def test_detect_language(lang: str) -> None:
    assert detect_language(" ".join(ARTICLES[lang][1])) == lang


def test_detect_language_needs_some_letters() -> None:
    assert detect_language("OK 123 — !!") is None
    assert detect_language("") is None


def test_detect_language_takes_text_that_is_not_valid_utf8() -> None:
    text = " ".join(ARTICLES["ru"][1])
    assert detect_language(text[:200] + "\ud800\x00" + text[200:]) == "ru"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_detect_language_never_raises(text: str) -> None:
    found = detect_language(text)
    assert found is None or (found.isascii() and found.islower())
