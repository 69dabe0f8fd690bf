"""Per-site knowledge: extra views worth capturing, and how to read a site's own markup.

Some sources need more than a plain GET. A Telegram post page (``t.me/<channel>/<post>``) is
a shell that loads the post in an iframe; the text lives in the embed view
(``?embed=1&mode=tme``), whose markup is stable and free of page chrome. An ``Adapter``
says which URLs it handles (a regular expression over the normalized host and path), which
other URLs to capture alongside (a template filled from the match), and, optionally, how to
read title and text from the site's HTML better than generic extraction would.

Adding a site is one reader function (if the generic extractor is not good enough) and one
line in ``ADAPTERS``::

    Adapter("telegram", TELEGRAM_POST, extras=(TELEGRAM_EMBED,), reader=read_telegram_post)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:  # bs4 loads when a site adapter reads a page (~0.13 s of every start)
    from bs4 import BeautifulSoup, Tag

# Query parameters that only track the reader; dropped by ``normalize_url``.
TRACKING_PARAMS = frozenset({"fbclid", "gclid", "yclid", "igshid", "mc_cid", "mc_eid"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_url(url: str) -> str:
    """The canonical form of ``url`` for matching and deduplication.

    Lower-case scheme and host, no ``www.``, no default port, no fragment, no tracking
    parameters (``utm_*``, ``fbclid``, ``gclid``, …), no trailing slash. The rest of the
    query is kept byte for byte, in order.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().removeprefix("www.")
    netloc = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    try:
        port = parts.port
    except ValueError:  # not a number: not ours to fix, keep it
        port = None
        netloc = parts.netloc.rpartition("@")[2].lower()
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), query, ""))


def match_key(url: str) -> str | None:
    """The key a record URL and a source URL are matched on: ``normalize_url`` without the
    scheme (None: not http/https). import-warc and verify's provenance check share it."""
    scheme, sep, rest = normalize_url(url).partition("://")
    return rest if sep and scheme in ("http", "https") else None


def _is_tracking(pair: str) -> bool:
    key = pair.split("=", 1)[0].lower()
    return key.startswith("utm_") or key in TRACKING_PARAMS


@dataclass(frozen=True)
class SiteText:
    """What a site reader found: title and text, and when available date and author."""

    title: str | None
    text: str | None
    published: str | None = None  # ISO 8601, as the site states it
    author: str | None = None


Reader = Callable[[re.Match[str], str], SiteText | None]


@dataclass(frozen=True)
class Adapter:
    """How to capture and read one site. See the module docstring for adding one."""

    name: str
    pattern: re.Pattern[str]  # matched (fullmatch) against "host/path" of normalize_url
    extras: tuple[str, ...] = ()  # URL templates, filled with the pattern's named groups
    reader: Reader | None = None  # (match, html) -> SiteText, or None to fall back
    # The extra views are captured in headless Chromium when one is there (their media and
    # text as a reader sees them: screenshot, rendered DOM), else over HTTP.
    browser_extras: bool = False

    def _match(self, url: str) -> re.Match[str] | None:
        parts = urlsplit(normalize_url(url))
        if parts.scheme not in ("http", "https"):
            return None
        return self.pattern.fullmatch(f"{parts.netloc}{parts.path}")

    def matches(self, url: str) -> bool:
        """True if this adapter knows the site and the kind of page ``url`` is."""
        return self._match(url) is not None

    def extra_urls(self, url: str) -> list[str]:
        """Other URLs to capture alongside ``url`` (never ``url`` itself)."""
        match = self._match(url)
        if match is None:
            return []
        own = normalize_url(url)
        urls = [template.format(**match.groupdict()) for template in self.extras]
        return [u for u in urls if normalize_url(u) != own]

    def extract(self, url: str, html: str) -> SiteText | None:
        """The site's own reading of ``html`` captured from ``url``, or None to fall back."""
        match = self._match(url)
        if match is None or self.reader is None:
            return None
        return self.reader(match, html)

    def extract_text(self, url: str, html: str) -> tuple[str | None, str | None]:
        """``(title, text)`` read the site's way, or ``(None, None)`` for generic extraction."""
        found = self.extract(url, html)
        return (found.title, found.text) if found is not None else (None, None)


# -- Telegram ------------------------------------------------------------------------------

# t.me/<channel>/<post>, t.me/s/<channel>/<post>, telegram.me/...; not private t.me/c/ links.
TELEGRAM_POST = re.compile(
    r"(?:t\.me|telegram\.me|telegram\.dog)/(?:s/)?"
    r"(?!(?:s|c|joinchat|addstickers|share|proxy|iv)/)(?P<channel>[a-z0-9_]{3,64})"
    r"/(?P<post>\d+)",
    re.IGNORECASE,
)
TELEGRAM_EMBED = "https://t.me/{channel}/{post}?embed=1&mode=tme"


_HTML_SPACE = re.compile(r"[ \t\r\n\f]+")


def _text_with_breaks(node: Tag) -> str:
    """A node's text as a reader sees it: ``<br>`` is a newline, other whitespace one space.

    Emoji (``<i class="emoji"><b>❗️</b></i>``) and link texts come through as characters.
    """
    from bs4 import Comment, NavigableString, Tag

    parts: list[str] = []
    for item in node.descendants:
        if isinstance(item, Tag):
            if item.name == "br":
                parts.append("\n")
        elif isinstance(item, NavigableString) and not isinstance(item, Comment):
            in_pre = item.find_parent("pre") is not None
            parts.append(str(item) if in_pre else _HTML_SPACE.sub(" ", str(item)))
    lines = "".join(parts).split("\n")
    return "\n".join(line.strip(" ") for line in lines).strip()


def _telegram_message(soup: BeautifulSoup, channel: str, post: str) -> Tag | None:
    """The message block for ``channel/post`` (a channel page holds many), else the only one."""
    wanted = f"{channel}/{post}".lower()
    messages = soup.select(".tgme_widget_message[data-post]")
    for message in messages:
        if str(message.get("data-post", "")).lower() == wanted:
            return message
    return messages[0] if len(messages) == 1 else None


def read_telegram_post(match: re.Match[str], html: str) -> SiteText | None:
    """Post text, channel name and date from Telegram's embed (or channel) markup.

    Falls back to the ``og:`` meta tags of the plain post page, which carry the text but
    no date. None when the page holds no post (deleted, private, or not Telegram markup).
    """
    from bs4 import BeautifulSoup

    channel, post = match["channel"], match["post"]
    soup = BeautifulSoup(html, "lxml")
    message = _telegram_message(soup, channel, post)
    if message is None:
        return _telegram_meta(soup, channel, post)
    owner = message.select_one(".tgme_widget_message_owner_name")
    name = owner.get_text(" ", strip=True) if owner else channel
    body = next(
        (
            node
            for node in message.select(".tgme_widget_message_text")
            if node.find_parent(class_="tgme_widget_message_reply") is None
        ),
        None,
    )
    when = message.select_one(".tgme_widget_message_date time[datetime]") or message.select_one(
        "time[datetime]"
    )
    published = str(when["datetime"]) if when else None
    return SiteText(
        title=_telegram_title(name, channel, post, published),
        text=_text_with_breaks(body) if body is not None else "",
        published=published,
        author=name,
    )


def _telegram_title(name: str, channel: str, post: str, published: str | None) -> str:
    title = f"{name} — t.me/{channel}/{post}"
    if published:
        with contextlib.suppress(ValueError):  # an unreadable date stays out of the title
            title += f" — {datetime.fromisoformat(published):%Y-%m-%d}"
    return title


def _telegram_meta(soup: BeautifulSoup, channel: str, post: str) -> SiteText | None:
    """The plain post page: the text sits in og:description, the channel in og:title."""
    if soup.select_one(".tgme_page") is None:
        return None
    description = soup.select_one('meta[property="og:description"]')
    title = soup.select_one('meta[property="og:title"]')
    text = str(description.get("content", "")).strip() if description else ""
    if not text:
        return None
    name = str(title.get("content", "")).strip() if title else channel
    return SiteText(_telegram_title(name or channel, channel, post, None), text, None, name)


# -- the registry --------------------------------------------------------------------------

ADAPTERS: tuple[Adapter, ...] = (
    Adapter(
        "telegram",
        TELEGRAM_POST,
        extras=(TELEGRAM_EMBED,),
        reader=read_telegram_post,
        browser_extras=True,
    ),
)


def adapter_for(url: str, adapters: Sequence[Adapter] = ADAPTERS) -> Adapter | None:
    """The first adapter that handles ``url``, or None (plain capture, generic extraction)."""
    return next((adapter for adapter in adapters if adapter.matches(url)), None)
