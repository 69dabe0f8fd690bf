"""Read one WARC record back from its gzip member: decompress, parse, hash, decode.

:func:`read_record` is the one way a capture's record is read back, by fixity and by the
Datasette plugin's archived view alike: the gzip member at the capture's
``warc_offset``/``warc_length``, checked to be the capture's own record (its
``WARC-Record-ID`` and type), its payload decoded as at capture time. It is built from
:func:`read_member` (exactly ``length`` bytes, one gzip member, or it says why not) and
:func:`parse_record` (parses the WARC and HTTP headers and hashes the block, the payload
and the payload with ``Content-Encoding`` undone by ``httpmeta.ContentDecoder``, the
decoder the capture used, whose result does not depend on where the input is cut).
Nothing is copied that need not be: the bytes flow through memoryviews into the hashes
and the decoder.

Inflation uses ISA-L (``isal``) when it is installed (3-4x faster than zlib, same
result) and zlib otherwise (``httpmeta.inflater``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from typing import Protocol

from ..config import DEFAULT_MAX_BYTES
from .httpmeta import INFLATE_ERRORS, ContentDecoder, DecodeError, format_size, inflater

READ_CHUNK = 1 << 20  # compressed bytes read at a time
OUT_CHUNK = 1 << 20  # decompressed bytes produced at a time
MAX_HEAD = 1 << 16  # a WARC or HTTP header block longer than this is not one
GZIP_MAGIC = b"\x1f\x8b\x08"  # gzip member header: magic number, deflate
_B32_AS_INT = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv")
_CONTENT_ENCODING = re.compile(rb"\r\ncontent-encoding:([^\r\n]*)", re.IGNORECASE)


@dataclass
class RecordFacts:
    """What one WARC record turned out to hold."""

    offset: int
    rec_type: str | None = None
    record_id: str | None = None
    refers_to: str | None = None
    payload_digest: str | None = None  # the header's value
    block_ok: bool | None = None  # None: no such digest header
    payload_ok: bool | None = None
    sha256: str | None = None  # of the HTTP body, Content-Encoding undone
    decoded_length: int = 0
    decode_error: str | None = None
    problem: str | None = None  # not a WARC record, short block, ...
    wrong_record: str | None = None  # another record than the one asked for (type or id)
    framing: str | None = None  # the gzip member is not exactly the recorded length
    target_uri: str | None = None
    warc_date: str | None = None
    ip: str | None = None  # WARC-IP-Address
    http_status: str | None = None  # the HTTP status line without its protocol: "200 OK"
    http_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None  # the decoded payload, when asked for


class _Digest:
    """A running digest checked against a WARC digest header ("sha1:BASE32...")."""

    def __init__(self, header: str) -> None:
        algo, _, self.value = header.partition(":")
        self.hash = hashlib.new(algo.strip().lower().replace("-", ""))

    def holds(self) -> bool:
        raw, value = self.hash.digest(), self.value.strip()
        if len(value) * 5 == len(raw) * 8:  # unpadded base32, as warcio writes sha1 digests
            try:  # int() reads base 32 in the digits 0-9a-v: map the RFC 4648 alphabet onto it
                return int(value.upper().translate(_B32_AS_INT), 32).to_bytes(len(raw)) == raw
            except ValueError:
                return False
        try:  # the other encodings RFC 3548 allows: padded base32, hex, base64
            return value.lower() == raw.hex() or base64.b32decode(value.upper()) == raw
        except ValueError:
            try:
                return base64.b64decode(value) == raw
            except ValueError:
                return False


def _header_list(block: bytes) -> tuple[str, list[tuple[str, str]]]:
    """The first line of a header block and its headers, in order (latin-1, lossless)."""
    first, *lines = block.decode("latin-1").split("\r\n")
    pairs = [line.partition(":") for line in lines]
    return first, [(name.strip(), value.strip()) for name, sep, value in pairs if sep]


def _headers(block: bytes) -> dict[str, str]:
    """Lower-cased headers of a header block (the first value of each)."""
    headers: dict[str, str] = {}
    for name, value in _header_list(block)[1]:
        headers.setdefault(name.lower(), value)
    return headers


class _Head:
    """Collects a header block ending in CRLF CRLF, from one chunk or (rarely) several."""

    def __init__(self) -> None:
        self.pending = bytearray()

    def take(self, data: bytes, start: int, stop: int) -> tuple[bytes | None, bytes, int, int]:
        """(the header block or None, the bytes to go on with, and the range that follows)."""
        if self.pending:
            self.pending += data[start:stop]
            data, start, stop = bytes(self.pending), 0, len(self.pending)
        end = data.find(b"\r\n\r\n", start, stop)
        if end < 0:
            self.pending = bytearray(data[start:stop])
            return None, data, stop, stop
        self.pending = bytearray()
        return data[start:end], data, end + 4, stop


@dataclass(frozen=True)
class Wanted:
    """The record a capture row names: its type and ``WARC-Record-ID`` (None: any)."""

    rec_type: str = "response"
    record_id: str | None = None
    keep_body: bool = False  # keep the decoded payload (the archived view serves it)
    # Decoded bytes past which a payload of unknown length is not decoded further (a gzip
    # bomb imported from another tool's WARC stays a few kB of memory and CPU).
    cap: int = DEFAULT_MAX_BYTES

    def mismatch(self, f: RecordFacts) -> str | None:
        """Why the record read is not this one (None: it is, or it has no type at all)."""
        if f.rec_type is None:
            return None  # not a WARC record: ``problem`` says so
        if f.rec_type != self.rec_type:
            what = f"a {f.rec_type} record, not a {self.rec_type} record"
            return f"record at offset {f.offset} is {what}"
        if self.record_id is not None and f.record_id != self.record_id:
            return f"record at offset {f.offset} is {f.record_id}, not {self.record_id}"
        return None


class _RecordParser:
    """Consumes one record's decompressed bytes, hashing them as they pass (no copies)."""

    def __init__(
        self, offset: int, payload_length: int | None, truncated: bool, wanted: Wanted | None
    ) -> None:
        self.expected, self.truncated, self.wanted = payload_length, truncated, wanted
        self.facts = RecordFacts(offset=offset)
        self.parts: list[bytes] | None = [] if wanted is not None and wanted.keep_body else None
        self.state = "warc-head"  # -> block -> trailer; or "bad"
        self.warc_head, self.http_head = _Head(), _Head()
        self.in_http_head = False  # reading the HTTP headers at the start of the block
        self.block_left = 0
        self.block: _Digest | None = None
        self.payload: _Digest | None = None
        self.decoder: ContentDecoder | None = None  # set once the HTTP body starts
        self.sha = hashlib.sha256()
        self.trailer = b""

    def feed(self, data: bytes) -> None:
        pos = 0
        if self.state == "other":
            return None  # not the record asked for: nothing of it is decoded
        if self.state == "warc-head":
            head, data, pos, _ = self.warc_head.take(data, 0, len(data))
            if not b"WARC/".startswith(bytes((head or self.warc_head.pending)[:5])):
                return self._bad("not a WARC record")
            if head is None:
                too_long = len(self.warc_head.pending) > MAX_HEAD
                return self._bad("not a WARC record") if too_long else None
            self._start_block(head)
        if self.state == "block" and pos < len(data):
            take = min(len(data) - pos, self.block_left)
            self._block(data, pos, pos + take)
            self.block_left -= take
            pos += take
            if self.block_left == 0:
                self.state = "trailer"
        if self.state == "trailer" and len(self.trailer) < 4:
            self.trailer = (self.trailer + data[pos : pos + 4])[:4]
        return None

    def _bad(self, problem: str) -> None:
        self.state, self.facts.problem = "bad", problem

    def _start_block(self, head: bytes) -> None:
        h, f = _headers(head), self.facts
        f.rec_type, f.record_id = h.get("warc-type"), h.get("warc-record-id")
        f.refers_to, f.payload_digest = h.get("warc-refers-to"), h.get("warc-payload-digest")
        f.target_uri = h.get("warc-target-uri")
        f.warc_date, f.ip = h.get("warc-date"), h.get("warc-ip-address")
        if self.wanted is not None and (wrong := self.wanted.mismatch(f)):
            f.wrong_record, self.state = wrong, "other"
            return None
        try:
            self.block_left = int(h.get("content-length", ""))
            if h.get("warc-block-digest"):
                self.block = _Digest(h["warc-block-digest"])
            if f.payload_digest and f.rec_type == "response":
                self.payload = _Digest(f.payload_digest)
        except ValueError as exc:
            return self._bad(f"unreadable WARC header ({exc})")
        is_http = h.get("content-type", "").startswith("application/http")
        self.in_http_head = is_http and f.rec_type in ("response", "revisit")
        if f.rec_type == "resource":  # a screenshot, a DOM: the block is the payload
            self._start_payload(None)
        self.state = "block" if self.block_left else "trailer"
        return None

    def _block(self, data: bytes, start: int, stop: int) -> None:
        if self.block is not None:
            self.block.hash.update(memoryview(data)[start:stop])
        if self.in_http_head:
            head, data, start, stop = self.http_head.take(data, start, stop)
            if head is None:
                if len(self.http_head.pending) > MAX_HEAD:
                    self.in_http_head = False  # not HTTP after all: the block digest still counts
                return
            self.in_http_head = False
            status, self.facts.http_headers = _header_list(head)
            self.facts.http_status = status.partition(" ")[2].strip() or None
            found = _CONTENT_ENCODING.search(head)
            self._start_payload(found.group(1).decode("latin-1").strip() if found else None)
        if self.decoder is not None and start < stop:
            self._payload(memoryview(data)[start:stop])

    def _start_payload(self, encoding: str | None) -> None:
        try:
            self.decoder = ContentDecoder(encoding)
        except DecodeError as exc:
            self.facts.decode_error = str(exc)
            self.decoder = ContentDecoder(None)

    def _payload(self, part: memoryview) -> None:
        if self.payload is not None:
            self.payload.hash.update(part)
        room = self._room()
        if self.facts.decode_error is not None or self.decoder is None or room <= 0:
            return
        try:
            decoded = self.decoder.decode(part, room)
        except DecodeError as exc:
            self.facts.decode_error = str(exc)
            return
        self._take(decoded)

    def _take(self, decoded: bytes | memoryview) -> None:
        self.sha.update(decoded)
        self.facts.decoded_length += len(decoded)
        if self.parts is not None:
            self.parts.append(bytes(decoded))

    def _room(self) -> int:
        """Decoded bytes still wanted: the recorded length (+1, to notice a longer body);
        for a payload of unknown length, the cap (+1, likewise)."""
        if self.expected is None:
            cap = self.wanted.cap if self.wanted is not None else DEFAULT_MAX_BYTES
            return cap + 1 - self.facts.decoded_length
        return self.expected - self.facts.decoded_length + (0 if self.truncated else 1)

    def finish(self) -> RecordFacts:
        f = self.facts
        if self.state == "other":
            return f
        if self.state == "warc-head":
            f.problem = "not a WARC record"
        elif self.state == "block":
            f.problem = f"truncated record: its block ends {self.block_left} bytes short"
        if f.problem:
            return f
        if self.decoder is not None and f.decode_error is None and self._room() > 0:
            try:
                tail = self.decoder.flush(self._room(), complete=not self.truncated)
            except DecodeError as exc:
                f.decode_error = str(exc)
            else:
                self._take(tail)
        cap = self.wanted.cap if self.wanted is not None else DEFAULT_MAX_BYTES
        if self.expected is None and f.decoded_length > cap and f.decode_error is None:
            f.decode_error = f"the decoded payload is larger than the {format_size(cap)} cap"
        f.block_ok = self.block.holds() if self.block is not None else None
        f.payload_ok = self.payload.holds() if self.payload is not None else None
        f.sha256 = self.sha.hexdigest() if self.decoder is not None else None
        if self.parts is not None and self.decoder is not None and f.decode_error is None:
            f.body = b"".join(self.parts)
        if self.trailer != b"\r\n\r\n":
            f.problem = "record not followed by its CRLF CRLF end"
        return f


class Readable(Protocol):
    """What the reader reads a WARC file through: an open binary file, or a positional view."""

    def read(self, size: int, /) -> bytes: ...
    def tell(self) -> int: ...
    def seek(self, offset: int, /) -> int: ...


class RecordError(Exception):
    """The bytes at a record's location are not one complete gzip member."""


def read_member(fh: Readable, offset: int, length: int) -> tuple[list[bytes], str | None]:
    """The decompressed bytes of the gzip member at the file's position (``offset``).

    Also says why, when the member is not exactly ``length`` bytes long (the record's
    identity, parsed later, still tells a wrong offset from a bad length).
    """
    d, chunks, left = inflater(31), [], length
    while left > 0 and not d.eof:
        buf = fh.read(min(left, READ_CHUNK))
        if not buf:
            raise RecordError("truncated record: the file ends inside it")
        if left == length and not buf.startswith(GZIP_MAGIC[: len(buf)]):
            raise RecordError(f"no WARC record starts at offset {offset} (not gzip data)")
        left -= len(buf)
        while True:
            try:
                out = d.decompress(buf, OUT_CHUNK)
            except INFLATE_ERRORS as exc:
                raise RecordError(
                    f"corrupt compressed data in the record at offset {offset} ({exc})"
                ) from None
            chunks.append(out)
            buf = d.unconsumed_tail
            if d.eof or (not buf and len(out) < OUT_CHUNK):
                break
    if d.eof and (d.unused_data or left):
        return (
            chunks,
            f"the gzip member at offset {offset} is shorter than the recorded {length} bytes",
        )
    if not d.eof:
        return (
            chunks,
            f"truncated record: the gzip member at offset {offset} goes on past {length} bytes",
        )
    return chunks, None


def parse_record(
    chunks: list[bytes],
    *,
    offset: int,
    payload_length: int | None,
    truncated: bool = False,
    wanted: Wanted | None = None,
) -> RecordFacts:
    """Parse and hash one record's decompressed bytes.

    ``payload_length`` is the decoded body length recorded at capture (None: unknown);
    a ``truncated`` capture's body is hashed up to that length, as it was at capture.
    With ``wanted``, a record of another type or id is only named (``wrong_record``),
    never decoded.
    """
    parser = _RecordParser(offset, payload_length, truncated, wanted)
    for chunk in chunks:
        parser.feed(chunk)
    return parser.finish()


def read_record(
    fh: Readable,
    offset: int,
    length: int,
    wanted: Wanted,
    *,
    payload_length: int | None = None,
    truncated: bool = False,
) -> RecordFacts:
    """The record a capture row points at, read from the open WARC file ``fh``.

    Reads the one gzip member of ``length`` bytes at ``offset``, checks it is the record
    ``wanted`` (type and ``WARC-Record-ID``: ``wrong_record`` says why not, and nothing
    of another record is decoded) and decodes its payload as at capture time (``sha256``,
    ``decoded_length``, ``decode_error``; ``body`` too when ``wanted.keep_body``).
    ``framing`` says when the member is not exactly ``length`` bytes; ``problem`` when
    the bytes are not a whole WARC record. Raises RecordError when no gzip member can be
    read there (not gzip data, corrupt, the file ends inside it).
    """
    if fh.tell() != offset:
        fh.seek(offset)
    chunks, framing = read_member(fh, offset, length)
    facts = parse_record(
        chunks, offset=offset, payload_length=payload_length, truncated=truncated, wanted=wanted
    )
    facts.framing = framing
    return facts
