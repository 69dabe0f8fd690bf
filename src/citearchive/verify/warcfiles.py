"""Fixity of the WARC files themselves: every record of every file, nothing missing.

Per-capture fixity (:mod:`.fixity`) reads the records capture rows point at. This checks
each file as a whole (:func:`citearchive.warc.integrity.scan_warc`): every gzip member's
CRC and length, every record's digests, nothing after the last record, and a file as long
as its run left it (``runs.warc_bytes``). A file the index names (a capture's or a run's)
that is not in ``warc/`` is missing; a ``.warc.gz`` file in ``warc/`` that the index does
not know is named too (it is no run's output). Each result is one ``fixity`` check with the
subject ``warc:<file name>``; a damage names the file and the offset.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..archive.store import WARC_DIR, Archive
from ..errors import ArchiveError
from ..warc.integrity import scan_warc
from ..warc.writer import OPEN_SUFFIX


@dataclass(frozen=True)
class FileResult:
    """The fixity verdict on one WARC file."""

    filename: str
    ok: bool
    detail: str


def check_warc_files(archive: Archive) -> Iterator[FileResult]:
    """One result per WARC file the index names or ``warc/`` holds, by name."""
    sizes: dict[str, int | None] = {}
    for name, size in archive.db.execute(
        "SELECT warc_filename, warc_bytes FROM runs WHERE warc_filename IS NOT NULL"
    ):
        sizes[name] = size
    for (name,) in archive.db.execute(
        "SELECT DISTINCT warc_filename FROM captures WHERE warc_filename IS NOT NULL"
    ):
        sizes.setdefault(name, None)
    on_disk = (
        {p.name for p in archive.warc_dir.iterdir() if p.name.endswith(".warc.gz")}
        if archive.warc_dir.is_dir()
        else set()
    )
    for name in sorted(set(sizes) | on_disk):
        yield _check(archive, name, sizes.get(name), known=name in sizes)


def _check(archive: Archive, name: str, size: int | None, *, known: bool) -> FileResult:
    label = f"{WARC_DIR}/{name}"
    try:
        path = archive.warc_path(name)
    except ArchiveError as exc:
        return FileResult(name, False, str(exc))
    if not path.is_file():
        if path.with_name(name + OPEN_SUFFIX).is_file():
            return FileResult(name, False, f"{label}: still open (a run was killed; the next "
                                           "fetch recovers it)")  # fmt: skip
        return FileResult(name, False, f"WARC file missing: {label}")
    try:
        scan = scan_warc(path, expected_size=size)
    except OSError as exc:
        return FileResult(name, False, f"{label}: unreadable ({exc.strerror or exc})")
    problems = [d.describe(label) for d in scan.damages]
    if not known:
        problems.append(f"{label}: no run or capture of this archive names this file")
    if problems:
        return FileResult(name, False, "; ".join(problems))
    return FileResult(
        name, True, f"{scan.records} records, {scan.size} bytes: gzip CRCs and lengths, "
                    "WARC digests and the file's end hold"
    )  # fmt: skip
