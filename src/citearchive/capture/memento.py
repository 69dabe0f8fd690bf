"""Memento (RFC 7089) and Wayback formats: what the archives say, and which copy to take.

Pure functions, no network (the lookups are :mod:`citearchive.capture.fallback`):

- :func:`parse_link_format` reads a TimeMap (``application/link-format``, RFC 6690) or a
  ``Link`` header (RFC 8288): ``<uri>; rel="first memento"; datetime="Tue, 20 Jun 2000 …"``;
- :func:`mementos_from_timemap` and :func:`wayback_closest` turn a TimeMap and an
  availability API answer into :class:`Memento` objects;
- :func:`choose_mementos` ranks them against a :class:`Target`: closest to the footnote's
  access date, else first on or after the publication date, else newest;
- :func:`raw_memento_url` asks a Wayback/pywb archive for the page as archived
  (``/<ts>id_/<url>``), and :func:`strip_replay_banner` cuts a replay banner left in.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

# archive.today's short and timestamped URLs have no raw mode: never add "id_" there.
NO_RAW_MODE = frozenset(
    {"archive.today", "archive.ph", "archive.is", "archive.li", "archive.vn", "archive.md",
     "archive.fo"}
)  # fmt: skip
# /<timestamp><modifier>/<original> in a Wayback/pywb replay URL (modifier: im_, id_, js_ …)
REPLAY_URL = re.compile(
    r"^(?P<head>https?://[^/?#]+(?:/[^/?#]+)*?)/(?P<ts>\d{4,14})(?P<mod>[a-z]{2}_|\*)?"
    r"/(?P<orig>https?:.*)$",
    re.I,
)
_PARAM_NAME = re.compile(r";\s*([^=;,\s]+)\s*")
_TOKEN = re.compile(r"[^;,\s]*")
_BANNER_BLOCKS = (
    re.compile(rb"<!--\s*BEGIN WAYBACK TOOLBAR INSERT\s*-->.*?"
               rb"<!--\s*END WAYBACK TOOLBAR INSERT\s*-->", re.S | re.I),
    re.compile(rb"<!--\s*WB Insert\s*-->.*?<!--\s*End WB Insert\s*-->", re.S | re.I),
)  # fmt: skip
_BANNER_IDS = rb"wm-ipp-base|wm-ipp|wm-ipp-print|donato|_wb_plain_banner|_wb_frame_top_banner"
_BANNER_START = re.compile(
    rb"<(?P<tag>[a-z][a-z0-9]*)\b[^>]*?\bid\s*=\s*[\"']?(?:" + _BANNER_IDS + rb")[\"'\s/>]", re.I
)


# --- what to look for ---------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The moment a fallback copy should be closest to, and why.

    ``basis`` is "accessed" (the footnote's access date), "published" (the source's
    publication date) or "newest" (no date known); ``date`` is YYYY, YYYY-MM or YYYY-MM-DD.
    """

    basis: str = "newest"
    date: str | None = None

    @property
    def label(self) -> str:
        """How the memento was chosen, as stored in ``captures.memento_basis``."""
        return f"{self.basis} {self.date}" if self.date else "newest"

    def window(self) -> tuple[dt.datetime, dt.datetime] | None:
        """The date as a UTC interval [start, end): a day, a month or a year."""
        if not self.date:
            return None
        parts = [int(p) for p in self.date.split("-")]
        year, month, day = [*parts, 1, 1][:3]
        try:
            start = dt.datetime(year, month, day, tzinfo=dt.UTC)
        except ValueError:  # "2025-02-30" passes the manifest's pattern: no window, newest
            return None
        if len(parts) == 3:
            return start, start + dt.timedelta(days=1)
        if len(parts) == 2:
            nxt = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            return start, nxt
        return start, start.replace(year=start.year + 1)

    def instant(self) -> dt.datetime | None:
        """The datetime to ask a TimeGate or the availability API for."""
        window = self.window()
        if window is None:
            return None
        start, end = window
        return start if self.basis == "published" else start + (end - start) / 2


@dataclass(frozen=True)
class Memento:
    """One archived copy: its URL (URI-M), when it was archived, and of what (URI-R)."""

    url: str
    datetime: dt.datetime | None
    original: str
    found_by: str  # "timemap" | "timegate" | "wayback"

    @property
    def archive(self) -> str:
        """The archive holding it: the memento URL's host."""
        return (urlsplit(self.url).hostname or "").lower()


def choose_mementos(mementos: Iterable[Memento], target: Target) -> list[Memento]:
    """The mementos best first: closest to the access date (earlier wins a tie), or the
    first on/after the publication date (then the latest before it), or newest first.
    Mementos without a datetime come last; duplicates (same URL) are dropped."""
    unique = list({m.url: m for m in mementos}.values())
    dated = [m for m in unique if m.datetime is not None]
    undated = [m for m in unique if m.datetime is None]
    window = target.window()

    def when(m: Memento) -> dt.datetime:
        assert m.datetime is not None
        return m.datetime

    if window is None:
        ranked = sorted(dated, key=when, reverse=True)
    elif target.basis == "published":
        after = sorted((m for m in dated if when(m) >= window[0]), key=when)
        before = sorted((m for m in dated if when(m) < window[0]), key=when, reverse=True)
        ranked = after + before
    else:
        start, end = window

        def distance(m: Memento) -> tuple[float, dt.datetime]:
            t = when(m)
            gap = (start - t) if t < start else (t - end) if t >= end else dt.timedelta(0)
            return gap.total_seconds(), t

        ranked = sorted(dated, key=distance)
    return ranked + undated


# --- formats -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One link of a ``Link`` header or an ``application/link-format`` document."""

    uri: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def rels(self) -> list[str]:
        return self.params.get("rel", "").lower().split()


def parse_link_format(text: str, base: str | None = None) -> list[Link]:
    """Parse links (RFC 8288 §3, RFC 6690): ``<uri>; rel="first memento"; datetime="…", …``.

    Commas inside ``<…>`` and quoted values (every Memento datetime has one) do not split
    links; parameter names are lower-cased; the first occurrence of a parameter wins;
    relative URIs are resolved against ``base``. Malformed pieces are skipped.
    """
    links: list[Link] = []
    i, n = 0, len(text)
    while True:
        start = text.find("<", i)
        if start < 0:
            return links
        end = text.find(">", start)
        if end < 0:
            return links
        uri = text[start + 1 : end].strip()
        params, i = _link_params(text, end + 1)
        links.append(Link(urljoin(base, uri) if base else uri, params))
        if i >= n:
            return links


def _link_params(text: str, i: int) -> tuple[dict[str, str], int]:
    """Parameters after a link's ``<uri>`` up to the comma that ends it; (params, next i)."""
    params: dict[str, str] = {}
    n = len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n or text[i] == ",":
            return params, i + 1
        if text[i] != ";":  # junk: skip to the next link
            nxt = text.find(",", i)
            return params, n if nxt < 0 else nxt + 1
        m = _PARAM_NAME.match(text, i)
        if not m:
            i += 1
            continue
        name, i, value = m.group(1).lower(), m.end(), ""
        if i < n and text[i] == "=":
            i += 1
            while i < n and text[i] in " \t\r\n":
                i += 1
            if i < n and text[i] == '"':
                value, i = _quoted(text, i)
            else:
                m2 = _TOKEN.match(text, i)
                assert m2 is not None  # matches the empty string at worst
                value, i = m2.group(0), m2.end()
        params.setdefault(name, value)
    return params, i


def _quoted(text: str, i: int) -> tuple[str, int]:
    """A quoted-string starting at ``text[i] == '"'``: its value and the index after it."""
    out, i = [], i + 1
    while i < len(text) and text[i] != '"':
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out), i + 1


def http_datetime(value: str | None) -> dt.datetime | None:
    """An HTTP date (``Tue, 19 Aug 2025 12:00:00 GMT``) as an aware UTC datetime, or None."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def format_http_datetime(when: dt.datetime) -> str:
    """``Accept-Datetime`` / ``Memento-Datetime`` form: RFC 1123, GMT."""
    return format_datetime(when.astimezone(dt.UTC), usegmt=True)


def wayback_timestamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


def parse_wayback_timestamp(ts: str) -> dt.datetime | None:
    """``20250819120000`` (or a prefix of it) as a UTC datetime."""
    if not ts.isdigit() or len(ts) < 4:
        return None
    ts = (ts + "0101000000"[len(ts) - 4 :])[:14] if len(ts) < 14 else ts[:14]
    try:
        return dt.datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def mementos_from_timemap(links: list[Link], original: str) -> list[Memento]:
    """The mementos a TimeMap lists (``rel`` contains "memento", ``datetime`` readable)."""
    own = next((lk.uri for lk in links if "original" in lk.rels), original)
    found = []
    for lk in links:
        if "memento" in lk.rels:
            when = http_datetime(lk.params.get("datetime"))
            if when is not None:
                found.append(Memento(lk.uri, when, own, "timemap"))
    return found


def wayback_closest(data: Any, original: str) -> Memento | None:
    """The ``closest`` snapshot of an availability API answer, if available and 2xx."""
    snapshots = data.get("archived_snapshots") if isinstance(data, dict) else None
    closest = snapshots.get("closest") if isinstance(snapshots, dict) else None
    if not isinstance(closest, dict) or not closest.get("available") or not closest.get("url"):
        return None
    if not str(closest.get("status", "200")).startswith("2"):
        return None
    when = parse_wayback_timestamp(str(closest.get("timestamp", "")))
    return Memento(str(closest["url"]), when, original, "wayback")


# --- replay --------------------------------------------------------------------------------


def raw_memento_url(url: str) -> str:
    """A Wayback/pywb replay URL in raw mode (``/<ts>id_/<url>``: no banner, no rewriting).

    Other URLs (and archive.today's, which has no raw mode) are returned as they are.
    """
    m = REPLAY_URL.match(url)
    host = (urlsplit(url).hostname or "").lower()
    if m is None or host in NO_RAW_MODE:
        return url
    return f"{m.group('head')}/{m.group('ts')}id_/{m.group('orig')}"


def strip_replay_banner(body: bytes) -> bytes:
    """The page without an archive's replay banner (Wayback toolbar, pywb insert).

    Works on the bytes, so the page's charset is untouched: the markers are ASCII.
    """
    for block in _BANNER_BLOCKS:
        body = block.sub(b"", body)
    while (m := _BANNER_START.search(body)) is not None:
        body = body[: m.start()] + body[_element_end(body, m) :]
    return body


def _element_end(body: bytes, start: re.Match[bytes]) -> int:
    """Index just past the element opened at ``start`` (nesting of its tag counted)."""
    tag = re.escape(start.group("tag"))
    tokens = re.compile(rb"<(/?)" + tag + rb"\b[^>]*>", re.I)
    depth, pos = 0, start.start()
    for t in tokens.finditer(body, pos):
        if t.group(0).endswith(b"/>") and not t.group(1):
            if depth == 0:
                return t.end()
            continue
        depth += -1 if t.group(1) else 1
        if depth == 0:
            return t.end()
    return len(body)


__all__ = [
    "Link",
    "Memento",
    "Target",
    "choose_mementos",
    "format_http_datetime",
    "http_datetime",
    "mementos_from_timemap",
    "parse_link_format",
    "parse_wayback_timestamp",
    "raw_memento_url",
    "strip_replay_banner",
    "wayback_closest",
    "wayback_timestamp",
]
