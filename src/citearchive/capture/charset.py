"""Bytes of an HTML or plain-text document -> Unicode, and which codec said so.

The charset is resolved in this fixed order; the first step that gives a usable
codec wins, and its name is reported as ``charset_source``:

1. ``bom`` -- a byte-order mark (UTF-8, UTF-16 LE/BE). A BOM is unambiguous, so,
   as in the WHATWG encoding-sniffing algorithm every browser follows, it is
   honoured even over the HTTP header (a UTF-8 BOM read as cp1252 is mojibake).
2. ``http-header`` -- the ``charset`` parameter of the Content-Type header.
3. ``meta`` -- ``<meta charset>``, ``<meta http-equiv="content-type" content=...>``
   or an XML declaration, HTML only. Browsers honour a meta wherever it sits in
   ``<head>``; real pages put it after long inline scripts (58 KB in the corpus),
   so the first ``META_SCAN_BYTES`` are scanned, comments excluded.
4. ``detected`` -- valid UTF-8 with non-ASCII bytes is UTF-8; otherwise
   charset-normalizer guesses from the page's text (markup stripped).
5. ``default`` -- UTF-8 (also for pure ASCII, which every codec agrees on),
   decoding errors replaced.

Two safety valves apply to a *declared* charset (steps 2 and 3):

- a non-UTF-8 declaration over bytes that are valid UTF-8 and contain non-ASCII
  characters is overruled: legacy-encoded text is practically never valid UTF-8
  by chance, while stale ``iso-8859-1``/``gb2312`` declarations are common
  (``charset_source`` becomes ``detected``);
- a declaration whose decoding fails badly (more than ``MAX_BAD_RATIO`` of the
  non-ASCII characters become U+FFFD) falls through to detection. A few stray
  bytes in an otherwise UTF-8 page keep the declared codec.

Labels are mapped the WHATWG way to the Python codec browsers actually use:
iso-8859-1/latin1/ascii -> cp1252, gb2312/gbk -> gb18030, shift_jis -> cp932,
euc-kr -> cp949, big5 -> big5hkscs, and so on. Codec names are returned the way
:func:`codecs.lookup` spells them, lower-case.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

META_SCAN_BYTES = 64 * 1024  # how far into the document a <meta charset> is looked for
DETECT_SAMPLE_BYTES = 32 * 1024  # text bytes (markup stripped) given to charset-normalizer
MAX_BAD_RATIO = 0.05  # share of non-ASCII characters that may decode to U+FFFD
DETECT_MAX_CHAOS = 0.5  # charset-normalizer's mess threshold; its 0.2 drops short Japanese
DETECT_CHAOS_TIE = 0.005  # candidates this close to the best in mess ...
DETECT_COHERENCE_TIE = 0.05  # ... and in language coherence count as a tie
# Legacy codecs detection may answer: those a browser's own detector considers (Firefox's
# chardetng); DOS and Mac code pages and rare ISO-8859 parts only cause confusion.
DETECT_CANDIDATES = (
    *(f"cp{n}" for n in range(1250, 1259)),
    *("iso8859_2", "iso8859_5", "iso8859_7", "iso8859_8", "iso8859_13"),
    *("koi8_r", "koi8_u", "cp866", "cp874"),
    *("cp932", "euc_jp", "iso2022_jp", "cp949", "gb18030", "big5hkscs"),
)
# On a tie, the codec more common on the web wins (WHATWG locale defaults, roughly).
DETECT_PREFERENCE = (
    "utf-8",
    "cp1252",
    "cp1251",
    "cp932",
    "euc_jp",
    "gb18030",
    "cp949",
    "big5hkscs",
    "cp1250",
    "koi8-r",
)

# WHATWG labels Python does not know, or knows as a narrower codec than browsers use.
# Keys are lower-case labels or Python canonical codec names; values are Python codecs.
_SUPERSETS: dict[str, str] = {
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "x-user-defined": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "chinese": "gb18030",
    "csgb2312": "gb18030",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "ms_kanji": "cp932",
    "csshiftjis": "cp932",
    "windows-31j": "cp932",
    "x-euc-jp": "euc_jp",
    "euc_kr": "cp949",
    "windows-949": "cp949",
    "ks_c_5601-1987": "cp949",
    "big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "x-mac-cyrillic": "mac-cyrillic",
    "x-mac-roman": "mac-roman",
    "euc_jis_2004": "euc_jp",  # what charset-normalizer calls EUC-JP
    "euc_jisx0213": "euc_jp",
}
# The codecs browsers decode with (the WHATWG Encoding Standard, as Python names them).
# Anything else -- utf-7 (an XSS vector), idna, unicode-escape, base64 -- is refused.
_ALLOWED = frozenset(
    {
        *("utf-8", "utf-16", "utf-16-le", "utf-16-be", "cp866", "koi8-r", "koi8-u"),
        *(f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)),
        *(f"cp{n}" for n in range(1250, 1259)),
        *("cp874", "mac-roman", "mac-cyrillic"),
        *("gb18030", "big5hkscs", "euc_jp", "iso2022_jp", "cp932", "cp949"),
    }
)

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([^"';,\s]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([\w:.-]+)""", re.IGNORECASE)
_XML_DECL = re.compile(rb"""^\s*<\?xml\b[^>]*?encoding\s*=\s*["']([\w:.-]+)""", re.IGNORECASE)
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_MARKUP = re.compile(
    rb"<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->|<[^>]*>",
    re.DOTALL | re.IGNORECASE,
)


def codec_for_label(label: str | None) -> str | None:
    """The Python codec a browser would use for a charset label, or None if unusable."""
    if not label:
        return None
    key = label.strip().strip("\"'").lower()
    try:
        name = _SUPERSETS.get(key) or codecs.lookup(key).name
    except (LookupError, ValueError):  # unknown label, or a NUL byte in it
        return None
    name = codecs.lookup(_SUPERSETS.get(name, name)).name
    return name if name in _ALLOWED else None


def header_charset(content_type: str | None) -> str | None:
    """The raw ``charset`` parameter of a Content-Type header value."""
    if not content_type:
        return None
    match = _HEADER_CHARSET.search(content_type)
    return match.group(1) if match else None


def bom_codec(body: bytes) -> tuple[str, int] | None:
    """The codec named by a leading byte-order mark and the mark's length, if any."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec, len(bom)
    return None


def meta_charset(body: bytes) -> str | None:
    """The raw charset label of an XML declaration or the first ``<meta>`` naming one."""
    xml = _XML_DECL.match(body[:256])
    if xml:
        return xml.group(1).decode("ascii")
    window = _COMMENT.sub(b"", body[:META_SCAN_BYTES])
    match = _META_CHARSET.search(window)
    return match.group(1).decode("ascii") if match else None


def _meta_codec(body: bytes) -> str | None:
    """Codec of the in-document declaration; UTF-16 there means UTF-8 (WHATWG)."""
    codec = codec_for_label(meta_charset(body))
    if codec and codec.startswith("utf-16"):
        return "utf-8"  # a page readable as ASCII cannot really be UTF-16
    return codec


def _strict_utf8(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _decodes_badly(text: str) -> bool:
    """True when U+FFFD makes up more than MAX_BAD_RATIO of the non-ASCII characters."""
    bad = text.count("\ufffd")
    if not bad:
        return False
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return bad > MAX_BAD_RATIO * non_ascii


def _preference(codec: str | None) -> int:
    """Rank of a codec in ``DETECT_PREFERENCE``; unlisted codecs come last."""
    return DETECT_PREFERENCE.index(codec) if codec in DETECT_PREFERENCE else len(DETECT_PREFERENCE)


def detect_codec(body: bytes, markup: bool = True) -> str | None:
    """Guess the codec of legacy-encoded bytes from their text (markup stripped first).

    charset-normalizer ranks the candidates; among those that read the sample
    (nearly) as cleanly as the best one, the codec more common on the web wins,
    so Spanish in windows-1252 is not reported as windows-1250 on a tie.
    """
    head = body[: 16 * DETECT_SAMPLE_BYTES]  # enough text after markup, bounded work
    sample = _MARKUP.sub(b" ", head) if markup else head
    sample = re.sub(rb"\s+", b" ", sample)[:DETECT_SAMPLE_BYTES]
    if not sample.strip():
        return None
    matches = list(
        charset_normalizer.from_bytes(
            sample, threshold=DETECT_MAX_CHAOS, cp_isolation=list(DETECT_CANDIDATES)
        )
    )
    if not matches:
        return None
    best = matches[0]
    tied = [
        codec_for_label(match.encoding)
        for match in matches
        if match.chaos <= best.chaos + DETECT_CHAOS_TIE
        and match.coherence >= best.coherence - DETECT_COHERENCE_TIE
    ]
    return min(tied, key=_preference)


def _decode_declared(body: bytes, codec: str, source: str) -> tuple[str, str, str] | None:
    """Decode with a declared codec unless the bytes say otherwise (see module doc)."""
    if not codec.startswith("utf-8") and not body.isascii():
        as_utf8 = _strict_utf8(body)
        if as_utf8 is not None:
            return as_utf8, "utf-8", "detected"
    text = body.decode(codec, errors="replace")
    if _decodes_badly(text):
        return None
    return text, codec, source


def _declared(body: bytes, content_type: str | None, html: bool) -> tuple[str, str, str] | None:
    """Steps 1-3: BOM, HTTP header, in-document declaration; None when none is usable."""
    bom = bom_codec(body)
    if bom:
        codec, skip = bom
        return body[skip:].decode(codec, errors="replace"), codec, "bom"
    candidates = [(codec_for_label(header_charset(content_type)), "http-header")]
    if html or body.lstrip().startswith(b"<?xml"):
        candidates.append((_meta_codec(body), "meta"))
    for declared, source in candidates:
        decoded = _decode_declared(body, declared, source) if declared else None
        if decoded is not None:
            return decoded
    return None


def _undeclared(body: bytes, html: bool) -> tuple[str, str, str]:
    """Steps 4-5: ASCII and valid UTF-8 first, then charset-normalizer, then UTF-8."""
    if body.isascii():
        return body.decode("ascii"), "utf-8", "default"
    as_utf8 = _strict_utf8(body)
    if as_utf8 is not None:
        return as_utf8, "utf-8", "detected"
    detected = detect_codec(body, markup=html)
    if detected:
        return body.decode(detected, errors="replace"), detected, "detected"
    return body.decode("utf-8", errors="replace"), "utf-8", "default"


def decode_document(
    body: bytes, content_type: str | None, html: bool = True
) -> tuple[str, str, str]:
    """Decode ``body`` following the module's documented order: (text, codec, source)."""
    return _declared(body, content_type, html) or _undeclared(body, html)


def decode_html(body: bytes, content_type: str | None) -> tuple[str, str, str]:
    """Decode an HTML (or XHTML) document: (unicode text, python codec, charset source)."""
    return decode_document(body, content_type, html=True)


def decode_text(body: bytes, content_type: str | None) -> tuple[str, str, str]:
    """Decode a plain-text document like HTML, minus ``<meta>`` (an XML declaration counts)."""
    return decode_document(body, content_type, html=False)
