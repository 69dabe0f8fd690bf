"""Run manifests: a canonical text listing what one run wrote, the thing a TSA timestamps.

When a ``fetch`` or ``import-warc`` run closes its WARC file, :func:`build_manifest` lists
every record of that file and every capture row of the run. The records are read back from
the file, or taken from what its writer says it wrote once the file on disk is checked to
have that very size and SHA-256.
The text is stored beside the WARC as ``warc/<run-id>.manifest.txt`` (written once, never
rewritten) and its SHA-256 is what RFC 3161 timestamp authorities sign
(:mod:`citearchive.archive.timestamps`). ``verify`` builds the same text again from the
WARC file as it is now and the capture rows, and compares.

Format (version 2): UTF-8, one item per line, fields separated by one TAB, every line ending
in LF (the last one too), no other whitespace. Absent values are ``-``. A field never holds
a TAB, LF or backslash unescaped (they are written ``\\t``, ``\\n``, ``\\\\``). Lines, in
this order::

    citearchive run manifest 2
    run       <run-id>  <command: fetch | import-warc>
    warc      <WARC file name, inside the archive's warc/ folder>
    record    <offset>  <length>  <sha256 of the gzip member>  <WARC-Type>  <WARC-Record-ID>
              <WARC-Payload-Digest>         (one line: six TAB-separated fields after "record")
    ...       (one ``record`` line per record of the file, in file order: the warcinfo
               record, then every request, response, revisit and metadata record)
    file      <size in bytes>  <sha256 of the whole WARC file>
    capture   <id>  <source id>  <WARC-Record-ID>  <payload_sha256>  <text_sha256>
              <metadata_sha256>
    ...       (one ``capture`` line per captures row of the run, by id; a failed capture
               has no record and no hashes: ``-``; ``metadata_sha256`` is
               :func:`metadata_sha256` of the row's title, author, published, language)

Version 1 had no ``metadata_sha256``; a stored version 1 manifest is rebuilt as version 1,
so its tokens still hold.

``offset`` and ``length`` are in bytes of the ``.warc.gz`` file (each record is one gzip
member); the member's SHA-256 covers every byte of it, so a flipped byte anywhere shows.
The ``file`` line lets anyone check the whole file with ``sha256sum``. A file that cannot
be read to its end gets, where its records stop, ``unreadable <offset> <reason>`` (only
ever in a rebuilt manifest, never in a stored one).

This module also owns the ``runs`` columns and the ``timestamps`` table that record
manifests and tokens (migration ``007_issue13_timestamps``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..warc.httpmeta import INFLATE_ERRORS, inflater
from ..warc.writer import Member, Written
from .sqlitedb import sqlite_utils

if TYPE_CHECKING:
    from .store import Archive

MANIFEST_VERSION = 2  # what new manifests are; an older stored one is rebuilt in its own
MANIFEST_HEADER = "citearchive run manifest {}"
METADATA_COLUMNS = ("title", "author", "published", "language")  # in metadata_sha256
MANIFEST_SUFFIX = ".manifest.txt"
STAMPED_COMMANDS = ("fetch", "import-warc")  # the runs that write a WARC file
READ_CHUNK = 1 << 16  # compressed bytes inflated at a time
MAX_HEAD = 1 << 16  # a WARC header block longer than this is not one


def migrate_timestamps(db: sqlite_utils.Database) -> None:
    """Migration: each run's manifest (file, SHA-256) and a row per TSA answer."""
    runs = db.table("runs")
    runs.add_column("manifest_filename", str)
    runs.add_column("manifest_sha256", str)
    db.table("timestamps").create(
        {"id": int, "run_id": str, "tsa_url": str, "requested_at": str,
         "imprint_sha256": str, "tsa_name": str, "gen_time": str, "serial": str,
         "policy": str, "token_filename": str, "token_sha256": str, "error": str},
        pk="id", foreign_keys=[("run_id", "runs", "id")],
    )  # fmt: skip
    db.table("timestamps").create_index(["run_id"])


# --- reading the WARC file back ---------------------------------------------------------


def scan_members(path: Path) -> Iterator[Member | tuple[int, str]]:
    """Every gzip member of ``path`` in order; ``(offset, reason)`` where reading stops early.

    Each member is inflated in small chunks (memory stays flat); only the first
    ``MAX_HEAD`` bytes of its output are kept, to read the WARC headers.
    """
    with open(path, "rb") as fh:
        offset, buf = 0, fh.read(READ_CHUNK)
        while buf:
            d, digest, head, used = inflater(31), hashlib.sha256(), bytearray(), 0
            try:
                while not d.eof:
                    if not buf:
                        buf = fh.read(READ_CHUNK)
                        if not buf:
                            yield offset, "the file ends inside this record (truncated)"
                            return
                    out = d.decompress(buf)
                    take = len(buf) - len(d.unused_data) if d.eof else len(buf)
                    digest.update(buf[:take])
                    used += take
                    buf = buf[take:]
                    if len(head) < MAX_HEAD:
                        head += out[: MAX_HEAD - len(head)]
            except INFLATE_ERRORS as exc:
                yield offset, f"not a readable gzip member ({exc})"
                return
            headers = _warc_headers(bytes(head))
            yield Member(
                offset, used, digest.hexdigest(), headers.get("warc-type"),
                headers.get("warc-record-id"), headers.get("warc-payload-digest"),
            )  # fmt: skip
            offset += used
            if not buf:
                buf = fh.read(READ_CHUNK)


def _warc_headers(head: bytes) -> dict[str, str]:
    block, _, _ = head.partition(b"\r\n\r\n")
    lines = block.decode("utf-8", errors="replace").split("\r\n")
    out = {}
    for line in lines[1:] if lines and lines[0].startswith("WARC/") else []:
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


# --- the manifest ---------------------------------------------------------------------------


def _field(value: object) -> str:
    if value is None or value == "":
        return "-"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _line(*fields: object) -> str:
    return "\t".join(_field(f) for f in fields) + "\n"


def metadata_sha256(values: dict[str, object]) -> str:
    """SHA-256 of what extraction said besides the text (title, author, published date,
    language): of the JSON object of those four keys, sorted, UTF-8, no spaces, absent
    values ``null``."""
    data = {k: values.get(k) for k in METADATA_COLUMNS}
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_version(text: bytes | None) -> int:
    """The format version a manifest states in its first line (the current one for None
    or a first line that states none)."""
    first = (text or b"").split(b"\n", 1)[0].decode("utf-8", errors="replace")
    number = first.removeprefix(MANIFEST_HEADER.format(""))
    return int(number) if number.isdigit() else MANIFEST_VERSION


def build_manifest(
    archive: Archive, run_id: str, version: int = MANIFEST_VERSION, written: Written | None = None
) -> bytes:
    """The run's manifest, built now from its WARC file and its capture rows, in format
    ``version`` (1 lists no metadata_sha256).

    ``written``: what the run's writer says it wrote. When the file on disk has that size
    and SHA-256, its members are listed from there instead of inflating the whole file
    again (a 1,000-page run: ~0.7 s less); otherwise the file is read record by record."""
    row = archive.db.execute(
        "SELECT command, warc_filename FROM runs WHERE id = ?", [run_id]
    ).fetchone()
    if row is None:
        raise KeyError(run_id)
    command, filename = row
    lines = [MANIFEST_HEADER.format(version) + "\n", _line("run", run_id, command),
             _line("warc", filename)]  # fmt: skip
    path = archive.warc_path(filename) if filename else None
    if path is not None and path.is_file():
        size, sha = path.stat().st_size, _file_sha256(path)
        if written is not None and (written.size, written.sha256) == (size, sha):
            members: Iterator[Member | tuple[int, str]] = written.members()
        else:
            members = scan_members(path)
        for m in members:
            if isinstance(m, Member):
                lines.append(_line("record", m.offset, m.length, m.sha256, m.rec_type,
                                   m.record_id, m.payload_digest))  # fmt: skip
            else:
                lines.append(_line("unreadable", *m))
        lines.append(_line("file", size, sha))
    elif filename:
        lines.append(_line("unreadable", 0, "the WARC file is missing"))
    for cid, sid, rid, payload, text, *meta in archive.db.execute(
        "SELECT id, source_id, warc_record_id, payload_sha256, text_sha256, "
        f"{', '.join(METADATA_COLUMNS)} FROM captures WHERE run_id = ? ORDER BY id",
        [run_id],
    ).fetchall():
        values = dict(zip(METADATA_COLUMNS, meta, strict=True))
        extra = [] if version < 2 else [metadata_sha256(values)]
        lines.append(_line("capture", cid, sid, rid, payload, text, *extra))
    return "".join(lines).encode("utf-8")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_name(run_id: str) -> str:
    return run_id + MANIFEST_SUFFIX


def store_manifest(
    archive: Archive, run_id: str, written: Written | None = None
) -> tuple[bytes, str]:
    """The run's stored manifest and its SHA-256: read if it exists, else built and written
    now (atomically, fsynced) and recorded on the run (``written``: see build_manifest)."""
    path = archive.warc_dir / manifest_name(run_id)
    if path.is_file():
        text = path.read_bytes()
    else:
        text = build_manifest(archive, run_id, written=written)
        archive.warc_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    sha = hashlib.sha256(text).hexdigest()
    with archive.db.conn:
        archive.db.table("runs").update(
            run_id, {"manifest_filename": path.name, "manifest_sha256": sha}
        )
    return text, sha


def stored_manifest(archive: Archive, run_id: str) -> bytes | None:
    """The manifest written when the run was timestamped (None: never written)."""
    path = archive.warc_dir / manifest_name(run_id)
    return path.read_bytes() if path.is_file() else None


def first_difference(stored: bytes, rebuilt: bytes) -> str:
    """In words: the first place where the rebuilt manifest departs from the stored one."""
    old = stored.decode("utf-8", errors="replace").splitlines()
    new = rebuilt.decode("utf-8", errors="replace").splitlines()
    for a, b in zip(old, new, strict=False):
        if a != b:
            return _describe(a.split("\t"), b.split("\t"))
    if len(old) != len(new):
        longer, what = (old, "lists more") if len(old) > len(new) else (new, "lacks")
        extra = longer[min(len(old), len(new))].split("\t")
        return f"the timestamped manifest {what} a line: {' '.join(extra[:3])} …"
    return "no difference"


SAYS = "the timestamped manifest says"


def _describe(old: list[str], new: list[str]) -> str:
    kind = old[0]
    if new[0] == "unreadable":
        return f"WARC record at offset {new[1]}: {new[2]}"
    if kind == "record" and new[0] == "record":
        if old[1] != new[1] or old[2] != new[2]:
            return (f"WARC record {old[5]} was at offset {old[1]} (length {old[2]}), "
                    f"now a record is at {new[1]} (length {new[2]})")  # fmt: skip
        return (f"WARC record at offset {old[1]} ({old[5]}) changed: its bytes hash to "
                f"{new[3][:16]}…, the timestamped manifest says {old[3][:16]}…")  # fmt: skip
    if kind == "capture" and new[0] == "capture" and old[1] == new[1]:
        names = ("id", "source", "warc_record_id", "payload_sha256", "text_sha256",
                 "metadata_sha256 (title, author, published, language)")  # fmt: skip
        changed = [n for n, a, b in zip(names, old[1:], new[1:], strict=False) if a != b]
        name = changed[0] if changed else "row"
        got = dict(zip(names, new[1:], strict=False)).get(name, "?")
        was = dict(zip(names, old[1:], strict=False)).get(name, "?")
        return f"capture {old[1]}: {name} is now {got[:16]}…, {SAYS} {was[:16]}…"
    if kind == "file" and new[0] == "file":
        return f"the WARC file now hashes to {new[2][:16]}…, {SAYS} {old[2][:16]}…"
    return f"the timestamped manifest has “{' '.join(old[:3])}”, now “{' '.join(new[:3])}”"
