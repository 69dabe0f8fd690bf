"""Fixity: every capture's WARC record, and its extracted text, still say what was recorded.

Every capture that is evidence must have a record to check: a capture without an error,
or with extracted text, that names no WARC file fails ("no archived record for this
capture"), and so does one whose record lacks the facts to check it by (payload_sha256,
WARC-Payload-Digest, WARC-Record-ID). A failed capture that left no record (a refused
connection) has nothing to check and is not reported.

For each capture row with a WARC location the record is read back at its stored
file/offset/length (:func:`citearchive.warc.record.read_record`, the reader the archived
view uses too) and checked:

- the bytes at ``warc_offset`` are exactly one gzip member of ``warc_length`` bytes
  (a wrong offset, a truncated file or a flipped byte fails here: gzip has a CRC);
- the member is the capture's own record (``WARC-Record-ID``) of the right type
  (``response``, or ``revisit`` when the row is a revisit);
- the record's ``WARC-Block-Digest`` and ``WARC-Payload-Digest`` hold, and the payload
  digest is the one the index recorded;
- the HTTP body, decoded as at capture time (:mod:`citearchive.warc.record`), hashes to the
  row's ``payload_sha256`` (a row whose hash was edited fails here);
- a revisit's original capture exists, is the record the revisit refers to, carries the
  same payload digest and itself passes;
- the extracted text (what quotes are matched against and searches find) hashes to the
  row's ``text_sha256`` (:func:`citearchive.capture.extract.text_sha256`), so an edit to
  ``captures.text`` fails here too;
- the provenance columns the record states too hold (:mod:`.provenance`): ``url`` is its
  WARC-Target-URI, ``fetched_at`` its WARC-Date (to the second), ``ip`` its WARC-IP-Address;
- the WARC file name stays inside ``warc/`` (a name such as ``../../etc/passwd`` fails).

Each WARC file is opened once and read front to back: the captures in it are taken in
offset order (from the index, a page at a time, so memory stays flat however many
captures there are), and each member is decompressed and hashed as a stream of chunks.
Records are read by ``READERS`` threads at once (positional reads of the one open file):
inflating and hashing release the GIL, so the cores share the work; at most ``AHEAD``
records are in flight, and results come back in offset order.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ..archive.store import WARC_DIR, Archive
from ..capture.extract import text_sha256
from ..errors import ArchiveError
from ..warc.record import Readable, RecordError, RecordFacts, Wanted, read_record
from .provenance import record_problems
from .resources import captures_with_resources, resource_problems

PAGE_ROWS = 1000  # capture rows fetched from the index at a time
READERS = 2  # records read (inflated, parsed, hashed) at once, each in its own thread
AHEAD = 8  # records in flight at most: what is held stays a few records however many
OK_DETAIL = "payload sha256 and WARC digests hold"
NO_RECORD = "no archived record for this capture"

_COLUMNS = (
    "id, source_id, warc_filename, warc_offset, warc_length, warc_record_id, "
    "warc_payload_digest, payload_sha256, payload_length, revisit_of, truncated, error_kind, "
    "url, fetched_at, ip"
)


@dataclass(frozen=True)
class FixityResult:
    """The fixity verdict on one capture; ``detail`` names what failed (or what held)."""

    capture_id: int
    source_id: str | None
    warc_filename: str | None
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line naming capture, source and file: for people."""
        return f"capture {self.capture_id} (source {self.source_id}): {self.detail}"


class CaptureRow(NamedTuple):
    """The index's claims about one capture's record (the columns fixity checks)."""

    id: int
    source_id: str | None
    warc_filename: str
    warc_offset: int | None
    warc_length: int | None
    warc_record_id: str | None
    warc_payload_digest: str | None
    payload_sha256: str | None
    payload_length: int | None
    revisit_of: int | None
    truncated: int | None
    error_kind: str | None
    url: str | None
    fetched_at: str | None
    ip: str | None

    @property
    def order(self) -> tuple[str, int, int]:
        """Position in the scan: file, offset, id."""
        return (self.warc_filename, self.warc_offset or 0, self.id)


_Checked = tuple[RecordFacts | None, list[str]]  # a record read back (None: unreadable), problems


def _short(digest: str | None) -> str:
    return (digest or "none")[:12] + "…"


def _wanted(row: CaptureRow) -> Wanted:
    return Wanted("revisit" if row.revisit_of is not None else "response", row.warc_record_id)


def judge(row: CaptureRow, f: RecordFacts) -> list[str]:
    """What is wrong with a record read back for ``row`` (empty: fixity holds)."""
    if f.rec_type is None:
        return [f"record at offset {f.offset}: {f.problem or 'not a WARC record'}"]
    want = _wanted(row).rec_type
    if f.wrong_record:
        return [f.wrong_record]
    if f.framing:
        return [f.framing]
    problems = [f.problem] if f.problem else []
    if f.block_ok is False:
        problems.append("WARC-Block-Digest mismatch")
    if f.payload_ok is False:
        problems.append("WARC-Payload-Digest mismatch")
    if row.warc_payload_digest and f.payload_digest != row.warc_payload_digest:
        problems.append(f"WARC-Payload-Digest {f.payload_digest} is not the index's")
    if want == "response" and row.payload_sha256:
        problems += _payload_problems(row, f)
    return problems + record_problems(row.url, row.fetched_at, row.ip, f)


def _payload_problems(row: CaptureRow, f: RecordFacts) -> list[str]:
    if f.decode_error is not None:
        if row.error_kind == "decode":
            return []  # undecodable at capture time too; the WARC digests hold the raw bytes
        return [f"payload cannot be decoded as at capture time: {f.decode_error}"]
    if f.sha256 != row.payload_sha256:
        recorded, archived = _short(row.payload_sha256), _short(f.sha256)
        return [f"payload sha256 mismatch: recorded {recorded}, archived {archived}"]
    if row.payload_length is not None and f.decoded_length != row.payload_length:
        recorded_len, archived_len = row.payload_length, f.decoded_length
        return [f"payload length mismatch: recorded {recorded_len}, archived {archived_len}"]
    return []


def scan_file(
    path: Path, rows: Iterable[CaptureRow]
) -> Iterator[tuple[CaptureRow, RecordFacts | None, list[str]]]:
    """Check ``rows`` (sorted by offset) against one WARC file, opened once, read in order.

    Yields each row with what its record held (None when unreadable) and its problems.
    """
    name = f"{WARC_DIR}/{path.name}"
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in the finally below, across yields
    except OSError as exc:
        what = "missing" if isinstance(exc, FileNotFoundError) else f"unreadable ({exc.strerror})"
        for row in rows:
            yield row, None, [f"WARC file {what}: {name}"]
        return
    try:
        size = path.stat().st_size
        with ThreadPoolExecutor(READERS, thread_name_prefix="fixity") as pool:
            pending: deque[tuple[CaptureRow, Future[_Checked]]] = deque()
            try:
                for row in rows:
                    at = _Positional(fh.fileno())
                    pending.append((row, pool.submit(_check_row, at, row, name, size)))
                    if len(pending) >= AHEAD:
                        yield _named(name, *pending.popleft())
                while pending:
                    yield _named(name, *pending.popleft())
            finally:  # the caller stopped early, or a read failed: drop what was not started
                for _, future in pending:
                    future.cancel()
    finally:
        fh.close()  # after the pool has shut down: no thread reads it any more


def _named(
    name: str, row: CaptureRow, future: Future[_Checked]
) -> tuple[CaptureRow, RecordFacts | None, list[str]]:
    """The row's checked record, each problem naming the WARC file."""
    facts, problems = future.result()
    return row, facts, [p if name in p else f"{p} in {name}" for p in problems]


class _Positional:
    """A reading position in an open file (``os.pread``): threads share one descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd, self.pos = fd, 0

    def read(self, size: int, /) -> bytes:
        data = os.pread(self.fd, size, self.pos)
        self.pos += len(data)
        return data

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, /) -> int:
        self.pos = offset
        return offset


def _index_problems(row: CaptureRow) -> list[str]:
    """Facts the index must hold for a record to be checked at all."""
    problems = []
    whole = not row.truncated and row.error_kind != "decode"  # else capture stored no hash
    if row.payload_sha256 is None and whole:
        problems.append("no payload_sha256 recorded for this capture")
    if row.warc_payload_digest is None:
        problems.append("no WARC-Payload-Digest recorded for this capture")
    if row.warc_record_id is None:
        problems.append("no WARC-Record-ID recorded for this capture")
    return problems


def _check_row(fh: Readable, row: CaptureRow, name: str, size: int) -> _Checked:
    offset, length = row.warc_offset, row.warc_length
    if offset is None or not length or length < 0:
        return None, ["no WARC offset/length recorded"]
    if offset + length > size:
        return None, [
            f"truncated record: {name} ends at byte {size}, the record at offset "
            f"{offset} needs {length} bytes"
        ]
    try:  # a seek forward passes records no capture points at
        facts = read_record(fh, offset, length, _wanted(row), payload_length=row.payload_length,
                            truncated=bool(row.truncated))  # fmt: skip
    except RecordError as exc:
        return None, [str(exc)]
    return facts, judge(row, facts)


def text_problems(text: str | None, recorded: str | None) -> list[str]:
    """What is wrong with a capture's extracted text against its ``text_sha256``."""
    if text:
        if recorded is None:
            return ["extracted text has no recorded text_sha256"]
        actual = text_sha256(text)
        if actual != recorded:
            return [
                f"extracted text edited: text_sha256 recorded {_short(recorded)}, "
                f"the text hashes to {_short(actual)}"
            ]
    elif recorded is not None:
        return [f"extracted text missing: text_sha256 recorded {_short(recorded)}, no text"]
    return []


def _text_of(archive: Archive, capture_id: int) -> list[str]:
    text, recorded = archive.db.execute(
        "SELECT text, text_sha256 FROM captures WHERE id = ?", [capture_id]
    ).fetchone()
    return text_problems(text, recorded)


def rows_in(archive: Archive, name: str) -> Iterator[CaptureRow]:
    """The captures stored in WARC file ``name``, by offset, a page of rows at a time."""
    after: tuple[int, int] = (-2, -1)
    while True:
        page = archive.db.execute(
            f"SELECT {_COLUMNS} FROM captures WHERE warc_filename = ? "
            "AND (coalesce(warc_offset, -1), id) > (?, ?) "
            "ORDER BY coalesce(warc_offset, -1), id LIMIT ?",
            [name, *after, PAGE_ROWS],
        ).fetchall()
        rows = [CaptureRow(*r) for r in page]
        yield from rows
        if len(rows) < PAGE_ROWS:
            return
        last = rows[-1]
        after = (last.warc_offset if last.warc_offset is not None else -1, last.id)


class _Revisits:
    """Revisit rows: their original must exist, match, and pass fixity itself."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.failed: set[int] = set()  # only failures are kept: memory stays flat
        self.waiting: list[tuple[CaptureRow, CaptureRow]] = []  # original not yet scanned

    def check(
        self, row: CaptureRow, facts: RecordFacts | None, problems: list[str]
    ) -> list[str] | None:
        """Problems of a revisit row; None when its original comes later in the scan."""
        found = self.archive.db.execute(
            f"SELECT {_COLUMNS} FROM captures WHERE id = ?", [row.revisit_of]
        ).fetchone()
        if found is None or found[2] is None:
            return [*problems, f"revisit of capture {row.revisit_of}, which has no record"]
        orig = CaptureRow(*found)
        if orig.revisit_of is not None:
            problems.append(f"revisit of capture {orig.id}, itself a revisit")
        if orig.payload_sha256 != row.payload_sha256:
            problems.append(
                f"payload sha256 mismatch: recorded {_short(row.payload_sha256)}, "
                f"original capture {orig.id} has {_short(orig.payload_sha256)}"
            )
        if facts is not None and facts.refers_to and facts.refers_to != orig.warc_record_id:
            problems.append(f"revisit refers to {facts.refers_to}, not capture {orig.id}'s record")
        if facts is not None and facts.payload_digest != orig.warc_payload_digest:
            problems.append(f"revisit's WARC-Payload-Digest is not original capture {orig.id}'s")
        if problems:
            return problems
        if orig.order > row.order:
            self.waiting.append((row, orig))
            return None
        return self.verdict_of(orig)

    def verdict_of(self, orig: CaptureRow) -> list[str]:
        return [f"original capture {orig.id} failed fixity"] if orig.id in self.failed else []


_UNRECORDED = (  # captures that are evidence, or carry text, yet name no WARC file
    "warc_filename IS NULL AND (error IS NULL OR text IS NOT NULL OR text_sha256 IS NOT NULL)"
)


def check_fixity(
    archive: Archive, *, progress: Callable[[int, int], None] | None = None
) -> Iterator[FixityResult]:
    """Yield one FixityResult per capture that has, or should have, a WARC record.

    File by file, then the captures that should have a record and name none (each a
    failure). ``progress(done, total)`` is called after each capture.
    """
    total = archive.db.execute(
        f"SELECT count(*) FROM captures WHERE warc_filename IS NOT NULL OR ({_UNRECORDED})"
    ).fetchone()[0]
    names = sorted(
        r[0]
        for r in archive.db.execute(
            "SELECT DISTINCT warc_filename FROM captures WHERE warc_filename IS NOT NULL"
        )
    )
    revisits = _Revisits(archive)
    done = 0
    for result in _scan_all(archive, names, revisits):
        done += 1
        if progress:
            progress(done, total)
        if result is not None:
            yield result
    for row, orig in revisits.waiting:
        yield _result(row, revisits.verdict_of(orig), revisits)
    unrecorded = archive.db.execute(
        f"SELECT {_COLUMNS} FROM captures WHERE {_UNRECORDED} ORDER BY id"
    ).fetchall()
    for found in unrecorded:
        done += 1
        if progress:
            progress(done, total)
        yield _result(CaptureRow(*found), [NO_RECORD], revisits)


def _scan_all(
    archive: Archive, names: list[str], revisits: _Revisits
) -> Iterator[FixityResult | None]:
    """A result per capture with a WARC file name (None: a revisit waiting for its original)."""
    browser = captures_with_resources(archive)  # screenshot and DOM records to check too
    for name in names:
        for row, facts, found in _scan_named(archive, name):
            problems = [*_index_problems(row), *found, *_text_of(archive, row.id)]
            if row.id in browser:
                problems += resource_problems(archive, row.id)
            verdict = problems if row.revisit_of is None else revisits.check(row, facts, problems)
            yield None if verdict is None else _result(row, verdict, revisits)


def _scan_named(
    archive: Archive, name: str
) -> Iterator[tuple[CaptureRow, RecordFacts | None, list[str]]]:
    """scan_file on the file ``name``; a name that would leave warc/ fails its captures."""
    try:
        path = archive.warc_path(name)
    except ArchiveError as exc:
        for row in rows_in(archive, name):
            yield row, None, [str(exc)]
        return
    yield from scan_file(path, rows_in(archive, name))


def _result(row: CaptureRow, problems: list[str], revisits: _Revisits) -> FixityResult:
    if problems:
        revisits.failed.add(row.id)
    detail = "; ".join(problems) if problems else OK_DETAIL
    return FixityResult(row.id, row.source_id, row.warc_filename, not problems, detail)
