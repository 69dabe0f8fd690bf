"""Append-only WARC files: one gzip member per record, offsets known as they are written.

A run writes ``warc/<run-id>.warc.gz.open``; closing the run renames it to
``<run-id>.warc.gz``. A run that was killed leaves a ``.open`` file whose last
gzip member may be torn: :func:`recover_open_files` cuts that tail (records the
database points at were flushed and fsynced before their rows were committed, so
they are never in it) and renames the file. Nothing else is ever rewritten.

Records are serialised by warcio (which also writes the WARC block and payload
digest headers) and compressed as they stream out, as a gzip member at a chosen level:
warcio's own writer always uses level 9, which costs ~8 ms a page. Levels 0-3 use
ISA-L (python-isal), about 7x faster than zlib's level 1 for a smaller output;
higher levels use zlib.

The writer notes each gzip member it wrote (offset, length, SHA-256, WARC headers: one line
in an anonymous temporary file, so memory stays flat however long the run) and the SHA-256
of the whole file: :meth:`WarcFile.written` hands them to the run manifest, which then need
not inflate the file again (it still hashes the file as it is on disk, and reads it record
by record when the two differ).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import weakref
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from isal import isal_zlib
from warcio.warcwriter import WARCWriter

OPEN_SUFFIX = ".open"


@dataclass(frozen=True)
class Member:
    """One gzip member of a WARC file: where it is, what it hashes to, its WARC headers."""

    offset: int
    length: int
    sha256: str  # of the member's compressed bytes
    rec_type: str | None
    record_id: str | None
    payload_digest: str | None


@dataclass(frozen=True)
class Written:
    """Every member one writer wrote into a file it started empty, and the file's size and
    SHA-256 as written (what :func:`citearchive.archive.runs.build_manifest` checks)."""

    size: int
    sha256: str
    lines: IO[str] = field(repr=False)  # one JSON array of Member's fields per member

    def members(self) -> Iterator[Member]:
        self.lines.seek(0)
        for line in self.lines:
            yield Member(*json.loads(line))


@dataclass(frozen=True)
class RecordLocation:
    filename: str  # name inside the archive's warc/ folder
    offset: int
    length: int
    record_id: str
    payload_digest: str | None


class WarcFile:
    """One run's WARC file, opened for appending."""

    def __init__(self, folder: Path, name: str, *, level: int = 1, info: dict[str, Any]) -> None:
        self.folder = folder
        self.name = name
        self.level = level
        self.path = folder / (name + OPEN_SUFFIX)
        folder.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "ab")  # noqa: SIM115 - held for the run's lifetime
        self._builder = WARCWriter(io.BytesIO(), gzip=False, warc_version="1.1")
        # what this writer wrote, for the manifest; None once that is not the whole file
        # (it held records before, or a failed record was cut off again)
        self._members: IO[str] | None = None
        self._size = 0
        self._file_sha = hashlib.sha256()
        if self._fh.tell() == 0:
            self._members = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
            # kept past close() for the manifest; closed when this writer is collected
            weakref.finalize(self, self._members.close)
            self.write([self._builder.create_warcinfo_record(name, info)])
            self.sync()

    @property
    def builder(self) -> WARCWriter:
        """The warcio writer whose ``create_*`` methods build records for :meth:`write`."""
        return self._builder

    def write(self, records: list[Any]) -> list[RecordLocation]:
        """Append records, each as its own gzip member; return where each one landed.

        A record is compressed as warcio serialises it, straight into the file: a 50 MB
        body is not copied twice more in memory (finding F5). A record that fails half
        way is cut off again, so the file never holds a torn member.
        """
        out = []
        for record in records:
            offset = self._fh.tell()
            sink = _Deflating(self._fh, _gzip_compressor(self.level), self._file_sha)
            try:
                WARCWriter(sink, gzip=False, warc_version="1.1").write_record(record)
                sink.close()
            except BaseException:
                self._fh.seek(offset)
                self._fh.truncate(offset)
                if self._members is not None:
                    self._members.close()
                    self._members = None
                raise
            headers = record.rec_headers
            location = RecordLocation(
                filename=self.name,
                offset=offset,
                length=self._fh.tell() - offset,
                record_id=headers.get_header("WARC-Record-ID"),
                payload_digest=headers.get_header("WARC-Payload-Digest"),
            )
            out.append(location)
            if self._members is not None:
                fields = [offset, location.length, sink.sha256.hexdigest(),
                          headers.get_header("WARC-Type"), location.record_id,
                          location.payload_digest]  # fmt: skip
                self._members.write(json.dumps(fields) + "\n")
                self._size = offset + location.length
        return out

    def written(self) -> Written | None:
        """What this writer wrote, when that is the whole file (None otherwise)."""
        if self._members is None:
            return None
        self._members.flush()
        return Written(self._size, self._file_sha.hexdigest(), self._members)

    def sync(self) -> None:
        """Make everything written so far durable (before the database points at it)."""
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh.closed:
            return
        self.sync()
        self._fh.close()
        os.replace(self.path, self.folder / self.name)


class _Deflating:
    """A write-only file that compresses what it is given into ``fh`` (one gzip member)."""

    def __init__(self, fh: Any, compressor: Any, file_sha: Any) -> None:
        self.fh, self.compressor = fh, compressor
        self.sha256, self.file_sha = hashlib.sha256(), file_sha  # the member's, the file's

    def write(self, data: bytes) -> int:
        self._out(self.compressor.compress(data))
        return len(data)

    def _out(self, packed: bytes) -> None:
        if packed:
            self.fh.write(packed)
            self.sha256.update(packed)
            self.file_sha.update(packed)

    def flush(self) -> None:
        """warcio calls this after each record; the member is ended by :meth:`close`."""

    def close(self) -> None:
        self._out(self.compressor.flush())


def _gzip_compressor(level: int) -> Any:
    """A compressor writing one gzip member (wbits 31) at ``level``."""
    if level <= isal_zlib.ISAL_BEST_COMPRESSION:
        return isal_zlib.compressobj(level, zlib.DEFLATED, 31)
    return zlib.compressobj(level, zlib.DEFLATED, 31)


def _members(fh: Any) -> Iterator[int]:
    """Yield the end offset of each complete gzip member in a file (output is discarded)."""
    pos = 0
    data = b""
    while True:
        d = zlib.decompressobj(31)
        used = 0
        while not d.eof:
            if not data:
                data = fh.read(1 << 20)
                if not data:
                    return  # torn member: stop before it
            d.decompress(data)
            used += len(data) - len(d.unused_data)
            data = d.unused_data
        pos += used
        yield pos
        if not data:
            data = fh.read(1 << 20)
            if not data:
                return


def complete_length(path: Path) -> int:
    """Bytes at the start of ``path`` that form whole gzip members."""
    end = 0
    try:
        with open(path, "rb") as fh:
            for end in _members(fh):  # noqa: B007 - we want the last one
                pass
    except zlib.error:
        pass
    return end


def recover_open_files(folder: Path) -> list[str]:
    """Cut the torn tail of each WARC a killed run left open, and close it. Returns names."""
    recovered: list[str] = []
    if not folder.is_dir():
        return recovered
    for path in sorted(folder.glob("*" + OPEN_SUFFIX)):
        keep = complete_length(path)
        with open(path, "r+b") as fh:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        final = path.with_name(path.name[: -len(OPEN_SUFFIX)])
        os.replace(path, final)
        recovered.append(final.name)
    return recovered
