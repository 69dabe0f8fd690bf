"""Reading WARC and WACZ files made by other tools, for ``citearchive import-warc``.

An input is a WARC file (gzip-compressed or not) or a WACZ, whose ``archive/*.warc[.gz]``
members are read one by one; each such stream is a :class:`Part`. :func:`scan` reads a
part through once and checks it (a WARC, every record as long as its Content-Length
says, the gzip data whole, CRCs included) and keeps the facts of each record, not its
body: URL, date, ids, HTTP status, ``Location``, and the sha256 of the body with chunking
and Content-Encoding undone (by :class:`~citearchive.warc.httpmeta.ContentDecoder`, the
decoder of live captures and fixity). :func:`load` reads chosen records' bodies in a
second pass.

Anything unreadable is a :class:`WarcImportError` naming the file (CLI exit code 2).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import ChunkedDataReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser

from ..config import DEFAULT_MAX_BYTES
from ..errors import WarcImportError
from .httpmeta import ContentDecoder, DecodeError, format_size

READ_CHUNK = 1 << 16
HEAD_ROOM = 1 << 20  # bytes of a record block allowed beyond the body cap (its HTTP head)
MAX_ERROR_LINE = 200  # characters of a parser's message quoted in an error
MAX_HEAD_LINE = 1 << 16  # a header line longer than this is read in pieces


@dataclass(frozen=True)
class Part:
    """One WARC stream: a file, or one ``archive/`` member of a WACZ."""

    path: Path
    member: str | None = None

    @property
    def label(self) -> str:
        return self.path.name + (f"#{self.member}" if self.member else "")

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        if self.member is None:
            with open(self.path, "rb") as fh:
                yield fh
        else:
            with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as fh:
                yield fh


def parts_of(path: Path) -> list[Part]:
    """The WARC streams of an input: the file itself, or a WACZ's ``archive/`` members."""
    if path.exists() and not path.is_file() and not path.is_dir():
        raise WarcImportError(f"{path}: not a regular file (a device or a pipe is no WARC)")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic != b"PK\x03\x04":
            return [Part(path)]
        with zipfile.ZipFile(path) as zf:
            names = sorted(
                n for n in zf.namelist()
                if n.startswith("archive/") and n.endswith((".warc", ".warc.gz"))
            )  # fmt: skip
    except FileNotFoundError:
        raise WarcImportError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise WarcImportError(f"{path}: is a folder, not a WARC or WACZ file") from None
    except OSError as exc:
        raise WarcImportError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except zipfile.BadZipFile as exc:
        raise WarcImportError(f"{path}: not a readable WACZ (zip) file: {exc}") from None
    if not names:
        raise WarcImportError(f"{path}: a zip file without WARC files in archive/ (not a WACZ)")
    return [Part(path, n) for n in names]


@dataclass
class HttpMessage:
    """A parsed HTTP message of a record: headers, and the body (chunking undone)."""

    head: StatusAndHeaders
    body: bytes


@dataclass
class Rec:
    """What the first pass learns of one record (no bodies kept)."""

    part: int
    index: int  # position of the record in its part
    rec_type: str
    record_id: str | None
    url: str | None
    date: str | None
    concurrent_to: str | None = None
    refers_to: str | None = None
    refers_to_uri: str | None = None
    payload_digest: str | None = None
    status: int | None = None
    reason: str = ""
    location: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    sha256: str | None = None  # of the body, chunking and Content-Encoding undone
    length: int = 0
    decode_error: str | None = None
    truncated: bool = False
    too_large: str | None = None  # why the body is over the cap (then it is not extracted)
    kept: bool = True  # False: the record's block is over the cap, so it is not copied
    ip: str | None = None
    user_agent: str | None = None  # from a request record
    original: Rec | None = None  # the response a revisit stands for


def _warc_header(rec: Any, name: str) -> str | None:
    value = rec.rec_headers.get_header(name)
    if value is None:
        return None
    value = value.strip()
    return value[1:-1] if value.startswith("<") and value.endswith(">") else value


def parse_http(block: bytes) -> HttpMessage | None:
    """The HTTP message in a record block, or None when it has none."""
    if not block:
        return None
    stream = io.BytesIO(block)
    try:
        head = StatusAndHeadersParser([], verify=False).parse(stream)
    except (EOFError, ValueError):
        return None
    body = stream.read()
    te = (head.get_header("Transfer-Encoding") or "").lower()
    if "chunked" in te:
        body = ChunkedDataReader(io.BytesIO(body)).read()
    return HttpMessage(head, body)


class _Counting:
    """A record's block read as a stream, never whole, counting the bytes read."""

    def __init__(self, raw: Any) -> None:
        self.raw, self.count = raw, 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(READ_CHUNK if size is None or size < 0 else size)
        self.count += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self.raw.readline(MAX_HEAD_LINE if size is None or size < 0 else size)
        self.count += len(data)
        return data

    def drain(self) -> None:
        while self.read(READ_CHUNK):
            pass


def _http_head(block: _Counting) -> StatusAndHeaders | None:
    """The HTTP status line and headers at the start of a record block (None: none)."""
    try:
        head = StatusAndHeadersParser([], verify=False).parse(block)
    except (EOFError, ValueError):
        return None
    return head if head.statusline or head.headers else None


def _streamed_digest(
    body: Any, encoding: str | None, cap: int
) -> tuple[str, int, str | None, bool]:
    """sha256 and length of a body read as a stream with Content-Encoding undone, as a live
    capture does, never decoding more than ``cap`` bytes (+1, to notice a longer body):
    (sha256, length, decode error, over the cap)."""
    sha, length = hashlib.sha256(), 0
    try:
        decoder = ContentDecoder(encoding)
        while chunk := body.read(READ_CHUNK):
            out = decoder.decode(chunk, cap + 1 - length)
            sha.update(out)
            length += len(out)
            if length > cap:
                return sha.hexdigest(), length, None, True
        tail = decoder.flush(cap + 1 - length)
        sha.update(tail)
        length += len(tail)
    except DecodeError as exc:
        return sha.hexdigest(), length, str(exc), False
    except (ValueError, EOFError) as exc:  # chunked framing that does not parse
        return sha.hexdigest(), length, f"bad chunked encoding ({exc})"[:MAX_ERROR_LINE], False
    return sha.hexdigest(), length, None, length > cap


def _status(head: StatusAndHeaders) -> tuple[int | None, str]:
    code, _, reason = head.statusline.partition(" ")
    return (int(code), reason.strip()) if code.isdigit() else (None, head.statusline)


def _fill_http(r: Rec, head: StatusAndHeaders) -> None:
    r.status, r.reason = _status(head)
    r.location = head.get_header("Location")
    r.content_type = head.get_header("Content-Type")
    r.content_encoding = head.get_header("Content-Encoding")


class _TornGzip(Exception):
    """The gzip data ends inside a member (warcio would take EOFError for a clean end)."""


class _Gunzip:
    """The plain bytes of a gzip stream (one member or many) for warcio to parse."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.gz = gzip.GzipFile(fileobj=raw)

    def read(self, size: int = -1) -> bytes:
        try:
            return self.gz.read(size)
        except EOFError as exc:
            raise _TornGzip(str(exc)) from None


@contextmanager
def _records(part: Part) -> Iterator[Iterator[Any]]:
    """warcio's records of a part, read from plain WARC bytes.

    gzip is undone here, not by warcio: a file compressed as one gzip stream (rather than
    a member per record) imports as well, and a torn or corrupt member is an error
    (warcio reads a torn member as a short record without a word).
    """
    with part.open() as raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        yield iter(ArchiveIterator(_Gunzip(raw) if gz else raw, no_record_parse=True))


def _sniff(part: Part) -> None:
    """Refuse at once a stream that does not open as a WARC (warcio would read 30 MB of NUL
    bytes as one long header line)."""
    with part.open() as raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        start = (_Gunzip(raw) if gz else raw).read(5)
    if start != b"WARC/":
        shown = repr(start) if start else "nothing"
        raise WarcImportError(f"{part.label}: not a WARC file (it begins with {shown}, not WARC/)")


def scan(part_no: int, part: Part, cap: int = DEFAULT_MAX_BYTES) -> list[Rec]:
    """First pass over one part: every record read and checked, its facts kept.

    A record whose block is longer than ``cap`` (+ room for its HTTP head) is noted
    (``Rec.too_large``) and its body neither kept nor decoded; a body that decodes to more
    than ``cap`` bytes likewise.
    """
    recs: list[Rec] = []
    label = part.label
    try:
        _sniff(part)
        with _records(part) as records:
            for i, rec in enumerate(records):
                if not str(rec.format).startswith("warc"):
                    # warcio reads any line of text as a (legacy) ARC header: refuse it
                    raise WarcImportError(f"{label}: not a WARC file (record {i + 1} is not WARC)")
                block = _Counting(rec.raw_stream)  # streamed: memory flat whatever the size
                r = _record_facts(part_no, i, rec, block, label, cap)
                block.drain()
                if rec.length is not None and block.count < rec.length:
                    raise WarcImportError(
                        f"{label}: truncated: record {i + 1} ends {rec.length - block.count} "
                        "bytes short"
                    )
                if block.count > cap + HEAD_ROOM:  # too long to copy: only its facts are kept
                    r.too_large, r.kept = _too_large(block.count, cap), False
                recs.append(r)
    except WarcImportError:
        raise
    except ArchiveLoadFailed as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), "").strip()
        if len(first) > MAX_ERROR_LINE:
            first = first[:MAX_ERROR_LINE] + "…"
        raise WarcImportError(f"{label}: not a WARC file ({first!r})") from None
    except _TornGzip:
        raise WarcImportError(f"{label}: truncated: the file ends inside a gzip member") from None
    except (zipfile.BadZipFile, gzip.BadGzipFile, zlib.error) as exc:
        raise WarcImportError(f"{label}: damaged file ({exc})") from None
    except OSError as exc:
        raise WarcImportError(f"{label}: cannot read: {exc.strerror or exc}") from None
    if not recs:
        raise WarcImportError(f"{label}: no WARC records in it (empty file?)")
    return recs


def _facts(part_no: int, i: int, rec: Any) -> Rec:
    return Rec(
        part=part_no, index=i, rec_type=rec.rec_type or "",
        record_id=_warc_header(rec, "WARC-Record-ID"), url=_warc_header(rec, "WARC-Target-URI"),
        date=_warc_header(rec, "WARC-Date"),
        concurrent_to=_warc_header(rec, "WARC-Concurrent-To"),
        refers_to=_warc_header(rec, "WARC-Refers-To"),
        refers_to_uri=_warc_header(rec, "WARC-Refers-To-Target-URI"),
        payload_digest=_warc_header(rec, "WARC-Payload-Digest"),
        truncated=bool(_warc_header(rec, "WARC-Truncated")),
        ip=_warc_header(rec, "WARC-IP-Address"),
    )  # fmt: skip


def _too_large(total: int, cap: int) -> str:
    return f"its record is {format_size(total)}, over the {format_size(cap)} cap"


def _record_facts(part_no: int, i: int, rec: Any, block: _Counting, label: str, cap: int) -> Rec:
    r = _facts(part_no, i, rec)
    is_http = (rec.content_type or "").lower().startswith("application/http")
    if r.rec_type in ("response", "revisit", "request") and r.url and r.date is None:
        raise WarcImportError(f"{label}: record {i + 1} ({r.url}) has no WARC-Date")
    if not is_http:
        return r
    head = _http_head(block)
    if head is None:
        return r
    if r.rec_type == "request":
        r.user_agent = head.get_header("User-Agent")
    elif r.rec_type in ("response", "revisit"):
        _fill_http(r, head)
        if r.rec_type == "response":
            te = (head.get_header("Transfer-Encoding") or "").lower()
            body: Any = ChunkedDataReader(block) if "chunked" in te else block
            r.sha256, r.length, r.decode_error, over = _streamed_digest(
                body, r.content_encoding, cap
            )
            if over:
                r.too_large = f"its body decodes to more than the {format_size(cap)} cap"
    return r


def load(parts: list[Part], needed: set[tuple[int, int]]) -> dict[tuple[int, int], HttpMessage]:
    """Second pass: the HTTP messages of the needed records (inputs were checked before)."""
    out: dict[tuple[int, int], HttpMessage] = {}
    for p, part in enumerate(parts):
        if not any(k[0] == p for k in needed):
            continue
        with _records(part) as records:
            for i, rec in enumerate(records):
                if (p, i) in needed:
                    http = parse_http(rec.raw_stream.read())
                    if http is not None:
                        out[(p, i)] = http
    return out


def decode_body(body: bytes, encoding: str | None, cap: int = DEFAULT_MAX_BYTES) -> bytes:
    """``body`` with Content-Encoding undone, at most ``cap`` bytes (empty when it cannot
    be undone)."""
    try:
        decoder = ContentDecoder(encoding)
        out = decoder.decode(body, cap)
        return out + decoder.flush(cap - len(out))
    except DecodeError:
        return b""
