"""Per-site adapters and URL normalization.

The Telegram fixtures are hand-written copies of the markup Telegram serves for a post's
embed view (``?embed=1&mode=tme``), a channel page (``t.me/s/<channel>``) and the plain post
page: the class names are Telegram's, the post text is made up.
"""

from __future__ import annotations

import re

import pytest

from citearchive.capture.adapters import (
    ADAPTERS,
    Adapter,
    SiteText,
    adapter_for,
    normalize_url,
)

EMBED = """<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>Telegram Widget</title>
    <meta name="viewport" content="width=device-width, initial-scale=1.0, user-scalable=no" />
    <meta name="robots" content="noindex, nofollow" />
    <base target="_blank" />
    <link href="//telegram.org/css/widget-frame.css?69" rel="stylesheet" media="screen">
    <script>TBaseUrl='/';</script>
    <script src="//telegram.org/js/widget-frame.js?63"></script>
  </head>
  <body class="widget_frame_base tgme_widget body_widget_post emoji_image nodark">
    <div class="tgme_widget_message text_not_supported_wrap js-widget_message"
         data-post="systemasystema/63" data-view="eyJjIjotMTIzNH0" data-peer="c1234567890_-4"
         data-peer-hash="0a1b2c3d" data-post-id="63">
      <div class="tgme_widget_message_user"><a href="https://t.me/systemasystema"><i
        class="tgme_widget_message_user_photo bgcolor6" data-content="С"><img
        src="https://cdn4.cdn-telegram.org/file/photo.jpg"></i></a></div>
      <div class="tgme_widget_message_bubble">
        <i class="tgme_widget_message_bubble_tail">
          <svg class="bubble_icon" width="9px" height="20px" viewBox="0 0 9 20">
            <g fill="none"><path class="background" fill="#ffffff" d="M6,17 L6,0 Z"></path></g>
          </svg>
        </i>
        <div class="tgme_widget_message_author accent_color"><a
          class="tgme_widget_message_owner_name" href="https://t.me/systemasystema"><span
          dir="auto">Система</span></a></div>
        <div class="tgme_widget_message_text js-message_text" dir="auto"><i class="emoji"
          style="background-image:url('//telegram.org/img/emoji/40/E29D97.png')"><b>❗️</b></i>Публикуем
          проект договора 2022 года.<br/><br/>Документ обсуждался на переговорах в Стамбуле,
          подробности <a href="https://www.currenttime.tv/a/33186426.html" target="_blank">в
          расследовании</a>.<br/>#документы</div>
        <div class="tgme_widget_message_footer compact js-message_footer">
          <div class="tgme_widget_message_info short js-message_info">
            <span class="tgme_widget_message_views">48.1K</span><span class="copyonly">
            views</span><span class="tgme_widget_message_meta"><a class="tgme_widget_message_date"
            href="https://t.me/systemasystema/63"><time datetime="2024-11-04T09:02:51+00:00"
            class="time">09:02</time></a></span>
          </div>
        </div>
      </div>
    </div>
    <div class="tgme_widget_message_link_preview_wrap">
      <div class="link_preview_title">Настоящее Время</div>
      <div class="link_preview_description">Превью ссылки, не текст поста</div>
    </div>
    <script>TWidgetPost.init();</script>
  </body>
</html>
"""

EXPECTED_TEXT = (
    "❗️Публикуем проект договора 2022 года.\n\n"
    "Документ обсуждался на переговорах в Стамбуле, подробности в расследовании.\n#документы"
)

REPLY = """<html><body class="widget_frame_base tgme_widget body_widget_post">
<div class="tgme_widget_message js-widget_message" data-post="systemasystema/64">
  <div class="tgme_widget_message_bubble">
    <div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name"
      href="https://t.me/systemasystema"><span dir="auto">Система</span></a></div>
    <a class="tgme_widget_message_reply" href="https://t.me/systemasystema/63">
      <div class="tgme_widget_message_author accent_color"><span
        class="tgme_widget_message_author_name">Система</span></div>
      <div class="tgme_widget_message_text js-message_text">Публикуем проект договора</div>
    </a>
    <div class="tgme_widget_message_text js-message_text" dir="auto">Полный текст — в
      комментариях.</div>
    <div class="tgme_widget_message_footer"><a class="tgme_widget_message_date"
      href="https://t.me/systemasystema/64"><time datetime="2024-11-04T10:15:00+00:00"
      class="time">10:15</time></a></div>
  </div>
</div></body></html>
"""

CHANNEL_PAGE = (
    """<html><head><title>Система – Telegram</title></head>
<body class="tgme_body_channel">
<section class="tgme_channel_history js-message_history">
"""
    + "".join(
        f"""<div class="tgme_widget_message_wrap js-widget_message_wrap">
  <div class="tgme_widget_message text_not_supported_wrap js-widget_message"
       data-post="systemasystema/{n}">
    <div class="tgme_widget_message_bubble">
      <div class="tgme_widget_message_author"><a class="tgme_widget_message_owner_name"
        href="https://t.me/systemasystema"><span dir="auto">Система</span></a></div>
      <div class="tgme_widget_message_text js-message_text" dir="auto">Пост номер {n}</div>
      <div class="tgme_widget_message_footer"><a class="tgme_widget_message_date"
        href="https://t.me/systemasystema/{n}"><time datetime="2024-11-0{n - 60}T12:00:00+00:00"
        class="time">12:00</time></a></div>
    </div>
  </div>
</div>
"""
        for n in (62, 63, 64)
    )
    + "</section></body></html>"
)

PLAIN_POST_PAGE = """<html><head>
<meta property="og:title" content="Система">
<meta property="og:description" content="Публикуем проект договора 2022 года.">
<meta property="og:url" content="https://t.me/systemasystema/63">
<title>Telegram: Contact @systemasystema</title></head>
<body class="no_transition"><div class="tgme_page_wrap"><div class="tgme_page tgme_page_post">
<div class="tgme_page_widget"><script async src="https://telegram.org/js/telegram-widget.js?22"
  data-telegram-post="systemasystema/63"></script></div>
<div class="tgme_page_extra">Download Telegram</div></div></div></body></html>
"""

NOT_FOUND = """<html><body class="widget_frame_base tgme_widget body_widget_post">
<div class="tgme_widget_message_error">Post not found</div></body></html>"""

TELEGRAM = ADAPTERS[0]


# -- normalize_url --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://WWW.Example.ORG/", "https://example.org"),
        ("https://example.org:443/a/b/", "https://example.org/a/b"),
        ("http://example.org:80/a", "http://example.org/a"),
        ("http://example.org:8080/a", "http://example.org:8080/a"),
        ("https://example.org/a#section-2", "https://example.org/a"),
        (
            "https://example.org/a?id=5&utm_source=tg&UTM_Medium=x&fbclid=abc&gclid=1&p=2",
            "https://example.org/a?id=5&p=2",
        ),
        ("https://example.org/?utm_campaign=x", "https://example.org"),
        (
            "https://example.org/Path/Case?Q=Keep%20This",
            "https://example.org/Path/Case?Q=Keep%20This",
        ),
        (
            "https://kremlin.ru/events/president/news/77637/",
            "https://kremlin.ru/events/president/news/77637",
        ),
        ("https://[::1]:8443/x/", "https://[::1]:8443/x"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_normalize_url_is_idempotent() -> None:
    url = "HTTPS://www.Tass.ru:443/politika/24796053/?utm_source=t.me#top"
    once = normalize_url(url)
    assert once == "https://tass.ru/politika/24796053"
    assert normalize_url(once) == once


# -- Telegram: which URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://t.me/systemasystema/63",
        "http://t.me/systemasystema/63/",
        "https://www.t.me/SystemaSystema/63?utm_source=share",
        "https://t.me/s/systemasystema/63",
        "https://telegram.me/systemasystema/63",
        "https://t.me/systemasystema/63?embed=1&mode=tme",
        "https://t.me/systemasystema/63?single",
    ],
)
def test_telegram_post_urls_are_recognised(url: str) -> None:
    adapter = adapter_for(url)
    assert adapter is not None and adapter.name == "telegram"


@pytest.mark.parametrize(
    "url",
    [
        "https://t.me/systemasystema",  # the channel, not a post
        "https://t.me/c/1234567890/63",  # a private channel: no public embed
        "https://t.me/joinchat/AAAAAEk3",
        "https://t.me/s/systemasystema",
        "https://example.org/t.me/systemasystema/63",
        "ftp://t.me/systemasystema/63",
        "https://www.interfax.ru/russia/1042813",
    ],
)
def test_other_urls_have_no_adapter(url: str) -> None:
    assert adapter_for(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://t.me/systemasystema/63",
        "https://t.me/s/systemasystema/63",
        "https://telegram.me/systemasystema/63#comments",
    ],
)
def test_telegram_post_also_captures_the_embed_view(url: str) -> None:
    assert TELEGRAM.extra_urls(url) == ["https://t.me/systemasystema/63?embed=1&mode=tme"]


def test_the_embed_view_needs_no_extra_capture() -> None:
    assert TELEGRAM.extra_urls("https://t.me/systemasystema/63?embed=1&mode=tme") == []
    assert TELEGRAM.extra_urls("https://example.org/") == []


# -- Telegram: reading the markup -------------------------------------------------------------


def test_embed_view_gives_post_text_channel_and_date_not_chrome() -> None:
    url = "https://t.me/systemasystema/63?embed=1&mode=tme"

    title, text = TELEGRAM.extract_text(url, EMBED)

    assert title == "Система — t.me/systemasystema/63 — 2024-11-04"
    assert text == EXPECTED_TEXT
    for chrome in ("48.1K", "views", "Telegram Widget", "09:02", "Превью ссылки", "TWidgetPost"):
        assert chrome not in (text or "")
    found = TELEGRAM.extract(url, EMBED)
    assert found == SiteText(title, text, "2024-11-04T09:02:51+00:00", "Система")


def test_reply_quote_is_not_taken_for_the_post() -> None:
    title, text = TELEGRAM.extract_text("https://t.me/systemasystema/64?embed=1", REPLY)

    assert text == "Полный текст — в комментариях."
    assert title == "Система — t.me/systemasystema/64 — 2024-11-04"


def test_channel_page_yields_the_cited_post_only() -> None:
    found = TELEGRAM.extract("https://t.me/s/systemasystema/63", CHANNEL_PAGE)

    assert found is not None
    assert found.text == "Пост номер 63"
    assert found.published == "2024-11-03T12:00:00+00:00"


def test_plain_post_page_falls_back_to_its_meta_tags() -> None:
    found = TELEGRAM.extract("https://t.me/systemasystema/63", PLAIN_POST_PAGE)

    assert found == SiteText(
        "Система — t.me/systemasystema/63", "Публикуем проект договора 2022 года.", None, "Система"
    )


@pytest.mark.parametrize("html", [NOT_FOUND, "<html><body><p>Just a page</p></body></html>", ""])
def test_no_post_means_generic_extraction(html: str) -> None:
    assert TELEGRAM.extract_text("https://t.me/systemasystema/63", html) == (None, None)


def test_extract_text_for_a_url_the_adapter_does_not_handle() -> None:
    assert TELEGRAM.extract_text("https://example.org/", EMBED) == (None, None)


# -- adding a site ------------------------------------------------------------------------


def test_a_new_site_is_one_registry_line() -> None:
    def read_print_view(match: re.Match[str], html: str) -> SiteText | None:
        return SiteText(f"Document {match['doc']}", html.strip(), None, None)

    registry = (
        *ADAPTERS,
        Adapter(
            "example-docs",
            re.compile(r"docs\.example\.org/view/(?P<doc>\d+)"),
            extras=("https://docs.example.org/print/{doc}",),
            reader=read_print_view,
        ),
    )

    adapter = adapter_for("https://www.docs.example.org/view/42/?utm_medium=email", registry)

    assert adapter is not None and adapter.name == "example-docs"
    assert adapter.extra_urls("https://docs.example.org/view/42") == [
        "https://docs.example.org/print/42"
    ]
    assert adapter.extract_text("https://docs.example.org/view/42", " text ") == (
        "Document 42",
        "text",
    )
    assert adapter_for("https://t.me/systemasystema/63", registry) is TELEGRAM
