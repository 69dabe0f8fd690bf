"""What one HTTP exchange tells us, in words and facts: errors, TLS peer, body decoding.

Helpers for ``fetch``: they turn httpx's exceptions into the error words a researcher reads
("connection refused by example.org:443"), read the peer certificate off a TLS connection,
and undo Content-Encoding incrementally without ever producing more bytes than asked (a
gzip bomb stops at the cap, in memory too).
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import socket
import ssl
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload

import httpx

from ..config import Settings

try:  # brotli is optional: decoded only when the library can bound its output
    _brotli: Any = importlib.import_module("brotli")
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None

_inflate_lib: Any = zlib
INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error,)
try:  # ISA-L inflates 3-4x faster than zlib, the same bytes; zlib when it is absent
    _inflate_lib = importlib.import_module("isal.isal_zlib")
    INFLATE_ERRORS += (_inflate_lib.error,)
except ImportError:  # pragma: no cover - depends on the environment
    pass

BROTLI_OK = _brotli is not None and hasattr(_brotli.Decompressor(), "can_accept_more_data")
_DECODE_ERRORS: tuple[type[Exception], ...] = INFLATE_ERRORS
if _brotli is not None:  # pragma: no cover - depends on the environment
    _DECODE_ERRORS += (_brotli.error,)
ACCEPT_ENCODING = "gzip, deflate, br" if BROTLI_OK else "gzip, deflate"
GZIP_ID = b"\x1f\x8b"  # the two bytes every gzip member opens with (RFC 1952)


# -- sizes and headers -------------------------------------------------------------------


def format_size(n: int) -> str:
    """A byte count for people: 50_000_000 -> "50 MB", 1_500 -> "1.5 kB"."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def decode_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """Header bytes as text, losslessly (latin-1), order and duplicates kept."""
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]


_URL_STRIP = "".join(map(chr, range(0x21)))  # C0 controls and space (WHATWG URL parser)


def location_text(value: str) -> str:
    """A ``Location`` header (its bytes as latin-1 text, as :func:`decode_headers` gives it)
    as the URL text a browser reads: the bytes as UTF-8 (``/p/停戦`` sent raw is
    ``/p/停戦``, not ``/p/åœ``), bytes that are not UTF-8 percent-encoded; leading and
    trailing controls and spaces dropped, tabs and newlines removed (WHATWG URL)."""
    value = value.strip(_URL_STRIP)
    value = value.replace("\t", "").replace("\n", "").replace("\r", "")
    if any(ord(c) > 0xFF for c in value):
        return value  # not header bytes: already text
    raw = value.encode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(chr(b) if b < 0x80 else f"%{b:02X}" for b in raw)


def header_value(headers: list[tuple[str, str]], name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive), or None."""
    name = name.lower()
    return next((v for k, v in headers if k.lower() == name), None)


# -- TLS -----------------------------------------------------------------------------------

_DN_SHORT = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
}


def _distinguished_name(rdns: Any) -> str | None:
    """getpeercert()'s nested tuples as "C=US, O=Example, CN=example.org"."""
    if not rdns:
        return None
    parts = [f"{_DN_SHORT.get(key, key)}={value}" for rdn in rdns for key, value in rdn]
    return ", ".join(parts)


def _cert_time(value: str | None) -> str | None:
    if not value:
        return None
    seconds = ssl.cert_time_to_seconds(value)
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def tls_info(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> dict[str, Any]:
    """The peer certificate and session of a TLS connection, as plain values.

    ``subject``/``issuer``/dates come from the validated certificate and are None when
    verification was off (Python only parses a certificate it validated); ``sha256`` (of
    the DER certificate) is always there.
    """
    cert: dict[str, Any] = dict(ssl_object.getpeercert() or {})
    der = ssl_object.getpeercert(binary_form=True)
    cipher = ssl_object.cipher()
    return {
        "subject": _distinguished_name(cert.get("subject")),
        "issuer": _distinguished_name(cert.get("issuer")),
        "subject_alt_names": [value for _, value in cert.get("subjectAltName", ())],
        "not_before": _cert_time(cert.get("notBefore")),
        "not_after": _cert_time(cert.get("notAfter")),
        "sha256": hashlib.sha256(der).hexdigest() if der else None,
        "version": ssl_object.version(),
        "cipher": cipher[0] if cipher else None,
    }


# -- errors in words -------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """What went wrong on one exchange: a kind (for scripts), words (for people), retry?"""

    kind: str
    words: str
    retryable: bool


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _find(exc: BaseException, kind: type[BaseException]) -> Any:
    return next((e for e in _causes(exc) if isinstance(e, kind)), None)


def _tls_reason(err: ssl.SSLError) -> str:
    if isinstance(err, ssl.SSLCertVerificationError) and err.verify_message:
        return f"certificate verify failed: {err.verify_message}"
    return str(err.reason or err.strerror or err)


def _connect_failure(exc: httpx.ConnectError, where: str, host: str) -> Failure:
    tls_error = _find(exc, ssl.SSLError)
    if tls_error is not None:
        return Failure("tls", f"TLS error: {_tls_reason(tls_error)}", False)
    dns_error = _find(exc, socket.gaierror)
    if dns_error is not None:  # only a temporary resolver failure is worth another try
        return Failure("dns", f"DNS lookup failed for {host}", dns_error.errno == socket.EAI_AGAIN)
    refused = _find(exc, ConnectionRefusedError)
    if refused is not None:
        return Failure("refused", f"connection refused by {where}", True)
    unreachable = _find(exc, OSError)
    if unreachable is not None and unreachable.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return Failure("network", f"{where} is unreachable", True)
    return Failure("network", f"could not connect to {where}: {exc}", True)


def describe_error(exc: Exception, url: str, settings: Settings) -> Failure:
    """httpx's exception for a request to ``url`` as a ``Failure``."""
    parsed = httpx.URL(url)
    host = parsed.host
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    where = f"{host}:{port}"
    if isinstance(exc, httpx.ConnectTimeout):
        words = f"timed out connecting to {where} after {settings.connect_timeout:g} s"
        return Failure("timeout", words, True)
    if isinstance(exc, httpx.ReadTimeout):
        words = f"{host} sent nothing for {settings.read_timeout:g} s (read timeout)"
        return Failure("timeout", words, False)
    if isinstance(exc, httpx.TimeoutException):
        return Failure("timeout", f"timed out talking to {where}: {type(exc).__name__}", False)
    if isinstance(exc, httpx.ConnectError):
        return _connect_failure(exc, where, host)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return Failure("invalid-url", f"invalid URL {url}: {exc}", False)
    return Failure("network", f"connection to {where} failed: {exc or type(exc).__name__}", False)


# -- Content-Encoding ----------------------------------------------------------------------


class DecodeError(Exception):
    """The body's Content-Encoding cannot be undone (unknown, or corrupt data)."""


class CutShort(DecodeError):
    """The compressed body stops before its stream's end: the body was cut short."""


def inflater(wbits: int) -> Any:
    """A zlib-style decompressor (``wbits`` as zlib's): ISA-L's when installed, else zlib's."""
    return _inflate_lib.decompressobj(wbits)


def _zlib_header(two: bytes) -> bool:
    """Whether two bytes open a zlib stream (RFC 1950: deflate, window <= 32 KiB, FCHECK)."""
    cmf, flg = two[0], two[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0


class ContentDecoder:
    """Undo one Content-Encoding incrementally, never returning more than ``limit`` bytes.

    ``decode(chunk, limit)`` returns at most ``limit`` bytes; a caller that asks for one
    byte more than it has room for learns that the body is over its cap without the
    decompressor ever expanding past it (zlib's ``max_length``, brotli's
    ``max_output_length``). After a call that hit the limit the caller must stop.

    Where the input is cut never changes the result (bytes, or the error), so a capture
    fed network chunks and fixity fed file chunks decode a body alike. Every choice is
    made on at most the next two bytes, held back when a cut falls between them:

    - gzip: concatenated members are one body (RFC 1952). After a member ends, bytes that
      do not open with the gzip magic number are trailing junk, ignored as browsers do;
      a member that opens and then fails is corrupt.
    - deflate: zlib-wrapped (RFC 1950) when the first two bytes are a zlib header, else
      raw deflate, as some servers send; anything after the stream's end is ignored.
    - br: only when the brotli library can bound its output.
    """

    def __init__(self, content_encoding: str | None) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1:
            raise DecodeError(f"unsupported Content-Encoding: {content_encoding}")
        self.coding = codings[0] if codings else "identity"
        self._inflating = self.coding in ("gzip", "x-gzip", "deflate")
        self._zlib: Any = None  # the current stream's decompressor (None: not started)
        self._brotli: Any = None
        self._ahead = b""  # the first byte of a stream, held until its second one comes
        self._over = False  # the body has ended: what follows is ignored
        self._seen = False  # any encoded byte arrived (an empty body is no cut stream)
        if self.coding in ("gzip", "x-gzip"):
            self._zlib = inflater(16 + zlib.MAX_WBITS)
        elif self.coding == "br" and BROTLI_OK:
            self._brotli = _brotli.Decompressor()
        elif self.coding not in ("identity", "deflate"):
            raise DecodeError(f"unsupported Content-Encoding: {self.coding}")

    @overload
    def decode(self, data: bytes, limit: int) -> bytes: ...
    @overload
    def decode(self, data: bytes | memoryview, limit: int) -> bytes | memoryview: ...
    def decode(self, data: bytes | memoryview, limit: int) -> bytes | memoryview:
        """Decoded bytes for the next raw ``data``: at most ``limit`` (>= 1) of them.

        Identity hands back (a slice of) ``data`` itself: a memoryview stays one, uncopied.
        """
        if limit <= 0:
            return b""
        self._seen = self._seen or len(data) > 0
        try:
            if self._inflating:
                return self._inflate(data, limit)
            if self._brotli is not None:
                return bytes(self._brotli.process(bytes(data), max_output_length=limit))
        except _DECODE_ERRORS as exc:
            raise DecodeError(f"could not undo Content-Encoding {self.coding}: {exc}") from exc
        return data[:limit]

    def _inflate(self, data: bytes | memoryview, limit: int) -> bytes:
        out = b""
        while data and not self._over and len(out) < limit:
            if self._zlib is None or self._zlib.eof:
                data = self._next_stream(data)
                continue
            out += self._zlib.decompress(data, limit - len(out))
            data = self._zlib.unused_data if self._zlib.eof else self._zlib.unconsumed_tail
        return out

    def _next_stream(self, data: bytes | memoryview) -> bytes | memoryview:
        """Start the stream ``data`` opens (and return it), or learn that the body is over.

        Returns b"" while only one byte of the stream is known: it is held for the next call.
        """
        if self._zlib is not None and self.coding == "deflate":
            self._over = True  # data after the end of a deflate stream is ignored
            return b""
        if self._ahead or len(data) < 2:  # a cut inside the first two bytes: rare
            data, self._ahead = self._ahead + bytes(data), b""
            if len(data) < 2:
                self._ahead = bytes(data)
                return b""
        head = bytes(data[:2])
        if self.coding == "deflate":
            self._zlib = inflater(zlib.MAX_WBITS if _zlib_header(head) else -zlib.MAX_WBITS)
        elif head == GZIP_ID:
            self._zlib = inflater(16 + zlib.MAX_WBITS)
        else:
            self._over = True  # junk after the last gzip member
            return b""
        return data

    def flush(self, limit: int, *, complete: bool = True) -> bytes:
        """Whatever output the decoder still holds at the end of the body (at most ``limit``).

        With ``complete`` (the body is said to be whole), a compressed stream that has not
        reached its end (no final deflate block, no gzip trailer, or a lone first byte) is
        :class:`CutShort`: the bytes are a cut body, not the document. Pass False for a body
        already known to be cut (at the cap), to take what it decodes to.
        """
        # (a lone byte after a whole gzip member is trailing junk, as browsers take it)
        unfinished = not self._zlib.eof if self._zlib is not None else bool(self._ahead)
        if complete and self._inflating and self._seen and not self._over and unfinished:
            raise CutShort(
                f"the {self.coding} stream ends before its end marker: the body was cut short"
            )
        if self._zlib is None or self._over or limit <= 0:
            return b""
        try:
            return bytes(self._zlib.flush()[:limit])
        except _DECODE_ERRORS as exc:
            raise DecodeError(f"could not undo Content-Encoding {self.coding}: {exc}") from exc
