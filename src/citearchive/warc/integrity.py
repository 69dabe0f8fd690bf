"""Check a whole WARC file, record by record, as a sequential reader (pywb, warcio) reads it.

Fixity of a capture reads only the record its row points at; this reads everything else
too: the warcinfo, request, redirect-hop and revisit records, and what lies between and
after them. A file holds when

- it is a sequence of gzip members, one WARC record each, from byte 0 to its last byte:
  each member inflates, and its CRC-32 and length trailer hold (zlib checks both);
- each member holds a whole WARC record (header block, ``Content-Length`` bytes of
  block, CRLF CRLF) whose ``WARC-Block-Digest`` and ``WARC-Payload-Digest``, when
  present, hold;
- nothing follows the last record, and the file is as long as the run left it
  (``expected_size``, recorded when the run closed it: a cut after a record is found).

The first damage that breaks the framing ends the scan (a sequential reader loses
everything after it, which is why it matters); damage inside a record (a digest that
does not hold) is reported and the scan goes on. Each damage names its offset. Memory
is flat: members are inflated and hashed in chunks, payloads are never decoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .httpmeta import INFLATE_ERRORS, inflater
from .record import GZIP_MAGIC, OUT_CHUNK, READ_CHUNK, _RecordParser

MAX_PROBLEMS = 20  # damages reported per file; the rest are counted


@dataclass(frozen=True)
class Damage:
    """One place where a WARC file is not what it should be."""

    offset: int
    problem: str

    def describe(self, name: str) -> str:
        return f"{name} at offset {self.offset}: {self.problem}"


@dataclass
class FileScan:
    """What scanning one WARC file found."""

    records: int
    size: int
    damages: list[Damage]

    @property
    def ok(self) -> bool:
        return not self.damages


def scan_warc(path: Path, *, expected_size: int | None = None) -> FileScan:
    """Scan the WARC file at ``path`` front to back; see the module docstring."""
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(0)
        damages: list[Damage] = []
        records = 0
        for damage in _members(fh, size):
            if damage is None:
                records += 1
            elif len(damages) < MAX_PROBLEMS:
                damages.append(damage)
    if expected_size is not None and size != expected_size:
        how = "shorter" if size < expected_size else "longer"
        damages.append(
            Damage(
                min(size, expected_size),
                f"the file is {size} bytes, {how} than the "
                f"{expected_size} bytes its run wrote (cut or appended to)",
            )
        )
    return FileScan(records, size, damages)


def _members(fh: BinaryIO, size: int) -> Iterator[Damage | None]:
    """None per sound record; a Damage per problem. Stops at damage that breaks framing."""
    buf = b""
    offset = 0  # where the member now being read starts
    while True:
        if not buf:
            buf = fh.read(READ_CHUNK)
            if not buf:
                return  # the end of the file, at a member boundary
        if not buf.startswith(GZIP_MAGIC[: len(buf)]):
            what = "the file goes on" if offset else "the file starts"
            yield Damage(offset, f"{what} with {size - offset} bytes that are not a gzip "
                                 "member (a WARC record)")  # fmt: skip
            return
        d = inflater(31)
        parser = _RecordParser(offset, 0, True, None)  # hash the block; decode no payload
        used = 0
        while not d.eof:
            if not buf:
                buf = fh.read(READ_CHUNK)
                if not buf:
                    yield Damage(offset, "the file ends inside this gzip member (cut short)")
                    return
            try:
                out = d.decompress(buf, OUT_CHUNK)
                while True:
                    parser.feed(out)
                    if d.eof or not d.unconsumed_tail:
                        break
                    out = d.decompress(d.unconsumed_tail, OUT_CHUNK)
            except INFLATE_ERRORS as exc:
                yield Damage(offset, f"corrupt gzip member ({exc}): its CRC, length or "
                                     "compressed data do not hold")  # fmt: skip
                return
            consumed = len(buf) - len(d.unused_data) if d.eof else len(buf)
            used += consumed
            buf = d.unused_data if d.eof else b""
        yield from _record_damage(parser, offset)
        offset += used


def _record_damage(parser: _RecordParser, offset: int) -> Iterator[Damage | None]:
    f = parser.finish()
    problems = [f.problem] if f.problem else []
    if f.block_ok is False:
        problems.append("WARC-Block-Digest does not hold")
    if f.payload_ok is False:
        problems.append("WARC-Payload-Digest does not hold")
    if not problems:
        yield None
        return
    what = f"{f.rec_type} record {f.record_id or ''}".strip() if f.rec_type else "member"
    for p in problems:
        yield Damage(offset, f"{what}: {p}")
