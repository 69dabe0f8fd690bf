"""Fixity: every capture's WARC record still says what the index recorded.

For each capture row with a WARC location the record is read back at its stored
file/offset/length and checked:

- the bytes at ``warc_offset`` are exactly one gzip member of ``warc_length`` bytes
  (a wrong offset, a truncated file or a flipped byte fails here: gzip has a CRC);
- the member is the capture's own record (``WARC-Record-ID``) of the right type
  (``response``, or ``revisit`` when the row is a revisit);
- the record's ``WARC-Block-Digest`` and ``WARC-Payload-Digest`` hold, and the payload
  digest is the one the index recorded;
- the HTTP body, decoded as at capture time (:mod:`citearchive.warcrecord`), hashes to the
  row's ``payload_sha256`` (a row whose hash was edited fails here);
- a revisit's original capture exists, is the record the revisit refers to, carries the
  same payload digest and itself passes.

Each WARC file is opened once and read front to back: the captures in it are taken in
offset order (from the index, a page at a time, so memory stays flat however many
captures there are), and each member is decompressed and hashed as a stream of chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from .store import WARC_DIR, Archive
from .warcrecord import RecordError, RecordFacts, parse_record, read_member

PAGE_ROWS = 1000  # capture rows fetched from the index at a time
OK_DETAIL = "payload sha256 and WARC digests hold"

_COLUMNS = (
    "id, source_id, warc_filename, warc_offset, warc_length, warc_record_id, "
    "warc_payload_digest, payload_sha256, payload_length, revisit_of, truncated, error_kind"
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

    @property
    def order(self) -> tuple[str, int, int]:
        """Position in the scan: file, offset, id."""
        return (self.warc_filename, self.warc_offset or 0, self.id)


def _short(digest: str | None) -> str:
    return (digest or "none")[:12] + "…"


def judge(row: CaptureRow, f: RecordFacts, framing: str | None = None) -> list[str]:
    """What is wrong with a record read back for ``row`` (empty: fixity holds)."""
    if f.rec_type is None:
        return [f"record at offset {f.offset}: {f.problem or 'not a WARC record'}"]
    want = "revisit" if row.revisit_of is not None else "response"
    if f.rec_type != want:
        return [f"record at offset {f.offset} is a {f.rec_type} record, not a {want} record"]
    if f.record_id != row.warc_record_id:
        return [f"record at offset {f.offset} is {f.record_id}, not {row.warc_record_id}"]
    if framing:
        return [framing]
    problems = [f.problem] if f.problem else []
    if f.block_ok is False:
        problems.append("WARC-Block-Digest mismatch")
    if f.payload_ok is False:
        problems.append("WARC-Payload-Digest mismatch")
    if row.warc_payload_digest and f.payload_digest != row.warc_payload_digest:
        problems.append(f"WARC-Payload-Digest {f.payload_digest} is not the index's")
    if want == "response" and row.payload_sha256:
        problems += _payload_problems(row, f)
    return problems


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
        for row in rows:
            facts, problems = _check_row(fh, row, name, size)
            yield row, facts, [p if name in p else f"{p} in {name}" for p in problems]
    finally:
        fh.close()


def _check_row(
    fh: BinaryIO, row: CaptureRow, name: str, size: int
) -> tuple[RecordFacts | None, list[str]]:
    offset, length = row.warc_offset, row.warc_length
    if offset is None or not length or length < 0:
        return None, ["no WARC offset/length recorded"]
    if offset + length > size:
        return None, [
            f"truncated record: {name} ends at byte {size}, the record at offset "
            f"{offset} needs {length} bytes"
        ]
    if fh.tell() != offset:
        fh.seek(offset)  # forward past records no capture points at
    try:
        chunks, framing = read_member(fh, offset, length)
    except RecordError as exc:
        return None, [str(exc)]
    facts = parse_record(chunks, offset=offset, payload_length=row.payload_length,
                         truncated=bool(row.truncated))  # fmt: skip
    return facts, judge(row, facts, framing)


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


def check_fixity(
    archive: Archive, *, progress: Callable[[int, int], None] | None = None
) -> Iterator[FixityResult]:
    """Yield one FixityResult per capture that has a WARC record, file by file.

    ``progress(done, total)`` is called after each capture.
    """
    total = archive.db.execute(
        "SELECT count(*) FROM captures WHERE warc_filename IS NOT NULL"
    ).fetchone()[0]
    names = sorted(
        r[0]
        for r in archive.db.execute(
            "SELECT DISTINCT warc_filename FROM captures WHERE warc_filename IS NOT NULL"
        )
    )
    revisits = _Revisits(archive)
    yield from _scan_all(archive, names, revisits, total, progress)
    for row, orig in revisits.waiting:
        yield _result(row, revisits.verdict_of(orig), revisits)


def _scan_all(
    archive: Archive,
    names: list[str],
    revisits: _Revisits,
    total: int,
    progress: Callable[[int, int], None] | None,
) -> Iterator[FixityResult]:
    done = 0
    for name in names:
        for row, facts, problems in scan_file(archive.warc_path(name), rows_in(archive, name)):
            done += 1
            if progress:
                progress(done, total)
            verdict = problems if row.revisit_of is None else revisits.check(row, facts, problems)
            if verdict is not None:
                yield _result(row, verdict, revisits)


def _result(row: CaptureRow, problems: list[str], revisits: _Revisits) -> FixityResult:
    if problems:
        revisits.failed.add(row.id)
    detail = "; ".join(problems) if problems else OK_DETAIL
    return FixityResult(row.id, row.source_id, row.warc_filename, not problems, detail)
