"""Parse one footnote's citation text into title, publisher, date, URLs and language.

Footnotes of research commentaries cite in many house styles and three languages::

    [«Совместная пресс-конференция …»](#), President of Russia, August 16, 2025.
    山添博史 [「ロシア・ウクライナの 2022 年停戦協議文書」](#) (NIDS コメンタリー) 防衛研究所、
        2025 年 4 月 15 日。
    “Title,” *Foreign Affairs*, 16 августа 2025, <https://example.org/a>

The rules, in order: the title is the first link text that is not itself a URL,
else a quoted span («…», “…”, "…", 「…」, 『…』); the publisher is the first
comma-separated segment between the title and the date; the published date is the
first date after the title (an "accessed"/"閲覧"/"дата обращения" date is the access
date instead); URLs are link targets and bare ``<https://…>`` (``#`` is no URL).

It also reads HTML commentaries (:func:`html_to_lines`): footnote markup is mostly
citation markup, and the HTML is rewritten into the Markdown shape the rest of the
commentary parser reads.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass, field

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import PreformattedString

from ..errors import CommentaryError
from .sentences import (
    AUTOLINK_RE,
    EMPHASIS_RE,
    LINK_RE,
    TAG_RE,
    joiner,
    script_language,
)

_BARE_URL = re.compile(r"https?://[^\s<>\"'\]（）「」、。»]+")
_QUOTES = [
    re.compile(r"«(?P<t>[^»]+)»"),
    re.compile(r"“(?P<t>[^”]+)”"),
    re.compile(r"„(?P<t>[^“”]+)[“”]"),
    re.compile(r"\"(?P<t>[^\"]+)\""),
    re.compile(r"「(?P<t>[^」]+)」"),
    re.compile(r"『(?P<t>[^』]+)』"),
]
_QUOTE_PAIRS = {"«": "»", "“": "”", "„": "“", '"': '"', "「": "」", "『": "』", "‘": "’", "'": "'"}

_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
# fmt: off
_EN_MONTH_NAMES = (
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
    ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
    ("october", "oct"), ("november", "nov"), ("december", "dec"),
)
_RU_STEMS = (
    "январ", "феврал", "март", "апрел", "ма", "июн", "июл", "август", "сентябр", "октябр",
    "ноябр", "декабр",
)
# fmt: on
_EN_MONTHS = {name: i + 1 for i, names in enumerate(_EN_MONTH_NAMES) for name in names}
_RU_MONTHS = {stem: i + 1 for i, stem in enumerate(_RU_STEMS)}
_EN_MONTH = r"(?P<mon>" + "|".join(sorted(_EN_MONTHS, key=len, reverse=True)) + r")\.?"
_RU_MONTH = r"(?P<mon>(?:" + "|".join(_RU_STEMS) + r")[а-я]{0,3})"
_Y = r"(?P<y>(?:19|20)\d\d)"
_D = r"(?P<d>[0-3]?\d)"
_FULL_DATES = [
    re.compile(r"\b" + _EN_MONTH + r"\s+" + _D + r"(?:st|nd|rd|th)?,?\s+" + _Y + r"\b", re.I),
    re.compile(r"\b" + _D + r"(?:st|nd|rd|th)?\s+" + _EN_MONTH + r",?\s+" + _Y + r"\b", re.I),
    re.compile(_Y + r"\s*年\s*(?P<m>[01]?\d)\s*月\s*" + _D + r"\s*日"),
    re.compile(r"\b" + _D + r"\s+" + _RU_MONTH + r"\s+" + _Y + r"(?:\s*г\.)?", re.I),
    re.compile(r"\b" + _Y + r"-(?P<m>[01]\d)-" + _D + r"\b"),
    re.compile(r"\b" + _D + r"\.(?P<m>[01]?\d)\." + _Y + r"\b"),
]
_MONTH_DATES = [
    re.compile(r"\b" + _EN_MONTH + r",?\s+" + _Y + r"\b", re.I),
    re.compile(_Y + r"\s*年\s*(?P<m>[01]?\d)\s*月"),
    re.compile(r"\b" + _RU_MONTH + r"\s+" + _Y + r"\b", re.I),
    re.compile(r"\b" + _Y + r"-(?P<m>[01]\d)\b"),
]
# "accessed (on) …", "retrieved …", 「閲覧日：…」, «дата обращения (к ресурсу): …»
_ACCESS_BEFORE = re.compile(
    r"(accessed|retrieved|viewed|consulted|last visited|閲覧日?|アクセス日?|参照日|"
    r"дата обращения|дата доступа|обращения)(\s+(on|at|к\s+ресурсу))?\W{0,12}$",
    re.I,
)
# 「2025年8月19日閲覧」, 「…最終閲覧」, 「…アクセス」, 「…参照」
_ACCESS_AFTER = re.compile(r"^\s*(最終)?(閲覧|アクセス|参照)")


@dataclass
class DateMatch:
    """A date found in citation text: ISO value and its span in that text."""

    iso: str
    start: int
    end: int
    accessed: bool = False


@dataclass
class Citation:
    """What a footnote's text says about the work it cites."""

    text: str
    title: str | None = None
    publisher: str | None = None
    published: str | None = None
    accessed: str | None = None
    urls: list[str] = field(default_factory=list)
    language: str | None = None


@dataclass
class _Rendered:
    text: str
    links: list[tuple[str, str, int, int]]  # (link text, target, start, end) in text
    urls: list[str]


def _render(raw: str) -> _Rendered:
    """Markdown-ish citation -> plain text as printed, with link spans and URLs."""
    links: list[tuple[str, str, int, int]] = []
    urls: list[str] = []
    out: list[str] = []
    length = 0
    pos = 0
    pattern = re.compile(f"{LINK_RE.pattern}|{AUTOLINK_RE.pattern}")
    for m in pattern.finditer(raw):
        plain = _plain(raw[pos : m.start()])
        out.append(plain)
        length += len(plain)
        if m.group("url"):
            url = m.group("url")
            urls.append(url)
            out.append(url)
            length += len(url)
        else:
            text = _plain(m.group("text"))
            target = (m.group("target") or "").strip()
            if re.match(r"https?://", target, re.I):
                urls.append(target)
            links.append((text, target, length, length + len(text)))
            out.append(text)
            length += len(text)
        pos = m.end()
    out.append(_plain(raw[pos:]))
    text = "".join(out)
    for m in _BARE_URL.finditer(text):
        url = m.group(0).rstrip(".,;:")
        if url not in urls:
            urls.append(url)
    return _Rendered(text=text, links=links, urls=list(dict.fromkeys(urls)))


def _plain(raw: str) -> str:
    """Strip emphasis, tags and backslash escapes; unescape entities; fold whitespace."""
    text = EMPHASIS_RE.sub(lambda m: m.group("text"), raw)
    text = TAG_RE.sub("", text)
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!<>])", r"\1", text)
    text = html.unescape(text)
    return re.sub(r"\s+", " ", text)


def find_dates(text: str) -> list[DateMatch]:
    """Every full (YYYY-MM-DD) or month (YYYY-MM) date in ``text``, in order of position."""
    norm = text.translate(_FULLWIDTH_DIGITS)
    found: list[DateMatch] = []
    taken = [False] * len(norm)
    for patterns, full in ((_FULL_DATES, True), (_MONTH_DATES, False)):
        for pattern in patterns:
            for m in pattern.finditer(norm):
                if any(taken[m.start() : m.end()]):
                    continue
                iso = _iso(m, full)
                if iso is None:
                    continue
                for k in range(m.start(), m.end()):
                    taken[k] = True
                found.append(DateMatch(iso, m.start(), m.end(), _is_access(norm, m)))
    return sorted(found, key=lambda d: d.start)


def _iso(m: re.Match[str], full: bool) -> str | None:
    """ISO text of a date match, or None when it is not a real calendar date."""
    groups = m.groupdict()
    year = int(groups["y"])
    if groups.get("m"):
        month = int(groups["m"])
    else:
        mon = groups["mon"].lower().rstrip(".")
        month = _EN_MONTHS.get(mon) or _ru_month(mon) or 0
    if not 1 <= month <= 12:
        return None
    if not full:
        return f"{year:04d}-{month:02d}"
    try:
        return dt.date(year, month, int(groups["d"])).isoformat()
    except ValueError:
        return None


def _ru_month(word: str) -> int | None:
    """Month number of a Russian month word in any case form (августа, мая, марта)."""
    if word.startswith("март"):
        return 3
    if word in ("май", "мая", "маю", "мае", "маем"):
        return 5
    for stem, number in _RU_MONTHS.items():
        if stem != "ма" and word.startswith(stem):
            return number
    return None


def month_number(word: str) -> int | None:
    """Month number of an English (August, Aug.) or Russian (августа) month word."""
    w = word.lower().rstrip(".")
    return _EN_MONTHS.get(w) or _ru_month(w)


def _is_access(text: str, m: re.Match[str]) -> bool:
    """True when the date is introduced as an access date."""
    before = text[max(0, m.start() - 40) : m.start()]
    return bool(_ACCESS_BEFORE.search(before) or _ACCESS_AFTER.match(text[m.end() :]))


def _unquote(title: str) -> str:
    """Remove one pair of enclosing quotes and trailing ".", "," of a title."""
    t = title.strip()
    for _ in range(2):
        t = t.strip().rstrip(".,;:、。").strip()
        if len(t) >= 2 and t[0] in _QUOTE_PAIRS and t[-1] == _QUOTE_PAIRS[t[0]]:
            t = t[1:-1]
    return t.strip().rstrip(",;:、").strip() if not t.endswith("...") else t.strip()


def _find_title(r: _Rendered, dates: list[DateMatch]) -> tuple[str, int, int] | None:
    """(title, start, end) in the rendered text.

    A quoted link text first ([«…»](url)), then a quoted span (the last one before the
    last date, so prose quoting a phrase before the cited title does not win), then any
    link text that is not a bare URL.
    """
    plain_links = []
    for text, _target, start, end in r.links:
        if not text.strip() or re.match(r"\s*(https?://|www\.)", text):
            continue
        if text.lstrip()[:1] in _QUOTE_PAIRS:
            return _unquote(text), start, end
        plain_links.append((_unquote(text), start, end))
    quotes = _outer_quotes(r.text)
    published = [d for d in dates if not d.accessed]
    if published and any(q[1] <= published[-1].start for q in quotes):
        quotes = [q for q in quotes if q[1] <= published[-1].start]
        # 「article」『newspaper』 or “Article,” «Journal»: the first of the last cluster.
        k = len(quotes) - 1
        while k > 0 and re.fullmatch(r"[\s,.、，:;]*", r.text[quotes[k - 1][1] : quotes[k][0]]):
            k -= 1
        start, end, text = quotes[k]
        return _unquote(text), start, end
    if quotes:
        start, end, text = quotes[0]
        return _unquote(text), start, end
    return plain_links[0] if plain_links else None


def _outer_quotes(text: str) -> list[tuple[int, int, str]]:
    """Quoted spans (start, end, inner text) not nested in another quoted span."""
    spans = sorted((m.start(), m.end(), m.group("t")) for p in _QUOTES for m in p.finditer(text))
    outer: list[tuple[int, int, str]] = []
    for span in spans:
        if not any(o[0] <= span[0] and span[1] <= o[1] for o in outer):
            outer.append(span)
    return outer


def _publisher(segment: str) -> str | None:
    """The first comma-separated piece of the text between title and date."""
    seg = re.sub(r"\([^()]*\)|（[^（）]*）", " ", segment)
    for piece in re.split(r"[,、，;]|\.\s", seg):
        piece = piece.strip(' \t.:;*_-–—。「」『』"“”«»')
        piece = re.sub(r"^(in|by|в|на)\s+", "", piece, flags=re.I)
        if piece:
            if len(piece) > 80 or "。" in piece or _BARE_URL.search(piece) or piece[0].isdigit():
                return None
            return piece
    return None


def parse_citation(raw: str) -> Citation:
    """Parse one footnote's Markdown-ish text (links as ``[text](url)``) into a Citation."""
    r = _render(raw)
    text = r.text.strip()
    dates = find_dates(r.text)
    accessed = next((d.iso for d in dates if d.accessed), None)
    found = _find_title(r, dates)
    cite = Citation(text=text, urls=r.urls, accessed=accessed)
    published = [d for d in dates if not d.accessed]
    if found is None:
        cite.published = published[0].iso if published else None
        return cite
    title, t_start, t_end = found
    cite.title = title or None
    cite.language = script_language(title)
    after = [d for d in published if d.start >= t_end]
    before = [d for d in published if d.end <= t_start]
    if after:
        cite.published = after[0].iso
        cite.publisher = _publisher(r.text[t_end : after[0].start])
    else:
        cite.published = before[-1].iso if before else None
        tail = re.split(r"[。]|\.\s", r.text[t_end:], maxsplit=1)[0]
        cite.publisher = _publisher(tail)
    return cite


# --- HTML commentaries -------------------------------------------------------------------
# An HTML commentary is rewritten into the Markdown "<sup>n</sup>" shape (markers as
# <sup>n</sup>, links as [text](url), definitions as "<sup>n</sup> …" lines at the end),
# each line keeping the source line of its element, so one parser serves every format.

_DEF_ID = re.compile(r"^_?(?:fn|footnote|ftn|endnote|edn|note)[-_:]?(\d+)$", re.I)
_NUMBERS = re.compile(r"\d+(?:\s*[,，、\-–]\s*\d+)*")
# fmt: off
_LEAF_BLOCKS = frozenset((
    "p", "li", "dt", "dd", "td", "th", "figcaption", "pre", "address",
    "h1", "h2", "h3", "h4", "h5", "h6",
))
_BLOCKS = _LEAF_BLOCKS | frozenset((
    "blockquote", "div", "section", "article", "main", "header", "footer", "aside", "nav",
    "ol", "ul", "dl", "table", "thead", "tbody", "tfoot", "tr", "figure", "hr", "body",
    "html", "center", "form", "fieldset", "details", "summary",
))
# fmt: on


def html_to_lines(text: str) -> tuple[list[tuple[str, int]], str | None]:
    """HTML -> (line text, source line) in the ``<sup>n</sup>`` shape, and the <title>.

    Raises CommentaryError for markup nested too deeply to walk (no commentary is; a
    hostile or broken file can be).
    """
    try:
        return _html_to_lines(text)
    except RecursionError:
        raise CommentaryError(
            "HTML nested too deeply to read as a commentary (export it again, or as Markdown)"
        ) from None


def _html_to_lines(text: str) -> tuple[list[tuple[str, int]], str | None]:
    soup = BeautifulSoup(text, "html.parser")
    title_tag = soup.find("title")
    fallback = (title_tag.get_text(" ", strip=True) or None) if title_tag else None
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        tag.decompose()
    definitions = _html_definitions(soup)
    _html_markers(soup)
    out: list[tuple[str, int]] = []
    _html_blocks(soup, out)
    for number, md, line in definitions:
        out += [("", line), (f"<sup>{number}</sup> {md}", line)]
    return out, fallback


def _html_definitions(soup: BeautifulSoup) -> list[tuple[int, str, int]]:
    """Remove footnote definitions (id="fn1", name="_ftn1", …) from the tree; return them."""
    chosen: list[Tag] = []
    for el in soup.find_all(True):
        key = el.get("id") or (el.get("name") if el.name == "a" else None)
        m = _DEF_ID.match(key) if isinstance(key, str) else None
        if not m:
            continue
        node = el
        if el.name in ("a", "span", "sup"):  # an anchor inside the definition's paragraph
            node = next((p for p in el.parents if p.name in _LEAF_BLOCKS | {"div"}), el)
        if any(node is c or any(p is c for p in node.parents) for c in chosen):
            continue
        chosen.append(node)
        node["data-footnote"] = m.group(1)
    found = []
    for node in chosen:
        number = int(str(node["data-footnote"]))
        for a in node.find_all("a", href=True):
            href, label = str(a["href"]), a.get_text(strip=True)
            classes = " ".join(a.get("class") or [])
            if href.startswith("#") and ("ref" in href.lower() or "back" in classes
                                         or label in ("↩", "↩︎", "^", "↑")):  # fmt: skip
                a.decompose()
        md = re.sub(r"\s*\n\s*", " ", _html_inline(node)).strip()
        md = re.sub(rf"^(?:\[{number}\]|{number}[.)]?(?=\s)|<sup>{number}</sup>)\s*", "", md)
        found.append((number, md, node.sourceline or 0))
        node.extract()
    return found


def _html_markers(soup: BeautifulSoup) -> None:
    """Replace <a href="#fn1"> and numeric <sup> markers by "<sup>n</sup>" text."""
    for a in soup.find_all("a", href=True):
        href = str(a["href"])
        m = _DEF_ID.match(href[1:]) if href.startswith("#") else None
        if m:
            parent = a.parent
            target: Tag = a
            if parent is not None and parent.name == "sup":
                target = parent if parent.get_text(strip=True) == a.get_text(strip=True) else a
            target.replace_with(NavigableString(f"<sup>{m.group(1)}</sup>"))
    for sup in soup.find_all("sup"):
        digits = sup.get_text(strip=True).strip("[]()")
        if _NUMBERS.fullmatch(digits):
            sup.replace_with(NavigableString(f"<sup>{digits}</sup>"))


def _html_blocks(node: Tag, out: list[tuple[str, int]]) -> None:
    """Append the block structure under ``node`` as Markdown-ish lines."""
    buffer: list[str] = []

    def emit(text: str, line: int, prefix: str = "") -> None:
        parts = [p.strip() for p in text.split("\n") if p.strip()]
        if parts:
            out.append((prefix + parts[0], line))
            out.extend((p, line) for p in parts[1:])
            out.append(("", line))

    def flush() -> None:
        emit("".join(buffer), node.sourceline or 0)
        buffer.clear()

    for child in node.children:
        if isinstance(child, NavigableString):
            if not isinstance(child, PreformattedString):
                buffer.append(_collapse(str(child)))
            continue
        if not isinstance(child, Tag):
            continue
        if child.name not in _BLOCKS:
            buffer.append(_html_inline(child))
            continue
        flush()
        line = child.sourceline or 0
        if child.name == "hr":
            out += [("---", line), ("", line)]
        elif child.name in _LEAF_BLOCKS and not child.find(lambda t: t.name in _BLOCKS):
            text = _html_inline(child)
            if child.name[0] == "h" and child.name[1:].isdigit():
                emit(text.replace("\n", " "), line, "#" * int(child.name[1]) + " ")
            else:
                emit(text, line, "- " if child.name == "li" else "")
        else:
            _html_blocks(child, out)
    flush()


def _html_inline(el: Tag) -> str:
    """Inline content as text: links as [text](url), <br> as a newline, markers kept."""
    parts: list[str] = []
    for child in el.children:
        if isinstance(child, NavigableString):
            if not isinstance(child, PreformattedString):
                parts.append(_collapse(str(child)))
        elif isinstance(child, Tag):
            href = str(child.get("href") or "")
            if child.name == "br":
                parts.append("\n")
            elif child.name == "a" and re.match(r"https?://", href, re.I):
                parts.append(f"[{_html_inline(child)}]({href})")
            else:
                parts.append(_html_inline(child))
    return "".join(parts)


def _collapse(text: str) -> str:
    """Fold whitespace as a browser does, but drop it between Japanese characters."""

    def fold(m: re.Match[str]) -> str:
        a = text[m.start() - 1] if m.start() else ""
        b = text[m.end()] if m.end() < len(text) else ""
        return "" if a and b and "\n" in m.group(0) and joiner(a, b) == "" else " "

    return re.sub(r"\s+", fold, text)
