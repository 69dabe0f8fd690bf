"""Fixity of a browser capture's resource records: its screenshot and its rendered DOM.

A capture made in the browser (method ``browser``) names, besides its document's response
record, a ``resource`` record holding the full-page screenshot (``screenshot_*`` columns) and
one holding the rendered DOM (``dom_*``), in the same WARC file. Each is read back like any
record (:func:`citearchive.warc.record.read_record`): exactly one gzip member of the recorded
length, the record named by the row (``WARC-Record-ID``, type ``resource``), its
``WARC-Block-Digest`` holding, and its bytes hashing to the recorded SHA-256.
"""

from __future__ import annotations

from pathlib import Path

from ..archive.store import Archive
from ..errors import ArchiveError
from ..warc.record import RecordError, Wanted, read_record

KINDS = ("screenshot", "dom")


def captures_with_resources(archive: Archive) -> set[int]:
    """Ids of the captures that name a screenshot or DOM record (browser captures: few)."""
    return {
        row[0]
        for row in archive.db.execute(
            "SELECT id FROM captures WHERE screenshot_record_id IS NOT NULL "
            "OR dom_record_id IS NOT NULL"
        )
    }


def resource_problems(archive: Archive, capture_id: int) -> list[str]:
    """What is wrong with capture ``capture_id``'s screenshot and DOM records (empty: none)."""
    columns = ", ".join(
        f"{k}_warc_offset, {k}_warc_length, {k}_record_id, {k}_sha256" for k in KINDS
    )
    found = archive.db.execute(
        f"SELECT warc_filename, {columns} FROM captures WHERE id = ?", [capture_id]
    ).fetchone()
    if found is None or not found[0]:
        return []
    try:
        path = archive.warc_path(found[0])
    except ArchiveError as exc:
        return [str(exc)]
    problems: list[str] = []
    for i, kind in enumerate(KINDS):
        offset, length, record_id, sha = found[1 + 4 * i : 5 + 4 * i]
        if record_id is None:
            continue
        problems += [f"{kind} record: {p}" for p in _problems(path, offset, length, record_id, sha)]
    return problems


def _problems(
    path: Path, offset: int | None, length: int | None, record_id: str, sha: str | None
) -> list[str]:
    if offset is None or not length or sha is None:
        return ["its location or SHA-256 is not recorded"]
    try:
        with open(path, "rb") as fh:
            facts = read_record(fh, offset, length, Wanted("resource", record_id))
    except FileNotFoundError:
        return ["WARC file missing"]
    except (RecordError, OSError) as exc:
        return [str(exc)]
    if facts.wrong_record or facts.framing or facts.problem:
        return [str(facts.wrong_record or facts.framing or facts.problem)]
    problems = []
    if facts.block_ok is False:
        problems.append("WARC-Block-Digest mismatch")
    if facts.sha256 != sha:
        archived = (facts.sha256 or "none")[:12]
        problems.append(f"sha256 mismatch: recorded {sha[:12]}…, archived {archived}…")
    return problems
