"""The archived view: a capture's payload as captured, served inert.

What ``/-/citearchive/archived/<id>`` (routed by :mod:`citearchive.browse.plugin`)
answers: the payload of the capture's WARC record (for a revisit, the original's payload),
read by the reader fixity uses (:func:`citearchive.warc.record.read_record`: the record
must be the capture's own, by ``WARC-Record-ID``; Content-Encoding undone as at capture),
served with the archived Content-Type under a Content-Security-Policy that runs no script
and loads nothing (archived pages are hostile input: scripts, forms, trackers, live-web
links). Headers say the payload's sha256 and whether it still matches the row's.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datasette.utils.asgi import NotFound, Response
from datasette.views.base import DatasetteError

from ..archive.store import WARC_DIR, safe_warc_name
from ..errors import ArchiveError
from ..warc.record import RecordError, Wanted, read_record

if TYPE_CHECKING:  # datasette.app imports the plugins: importing it here would be circular
    from datasette.database import Database

# Archived pages: no script, no network, no form, no plugin; a unique origin; framed only
# by the archive's own replay page (which shows what the page is).
ARCHIVED_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "media-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox"
)
ARCHIVED_HEADERS = {
    "content-security-policy": ARCHIVED_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "SAMEORIGIN",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "private, no-transform",
}
MAX_REVISIT_HOPS = 5  # revisit -> revisit -> ... chains longer than this are refused


@dataclass(frozen=True)
class ArchivedPayload:
    """The HTTP response a WARC record holds, its body decoded as the browser would see it."""

    record_type: str
    target_uri: str | None
    status_line: str | None
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class ArchivedRecordError(Exception):
    """The WARC record a capture points at cannot be read."""


def read_payload(
    path: Path,
    offset: int,
    length: int,
    record_id: str | None,
    *,
    payload_length: int | None = None,
    truncated: bool = False,
) -> ArchivedPayload:
    """The response record a capture row points at, its body decoded as at capture.

    Read with :func:`citearchive.warc.record.read_record`, as fixity reads it: refused
    (ArchivedRecordError) when it is not the row's own record (``record_id``), is
    damaged, or its Content-Encoding cannot be undone. The body is the bytes whose
    sha256 is ``captures.payload_sha256``.
    """
    name = f"{WARC_DIR}/{path.name}"
    if not path.is_file():
        raise ArchivedRecordError(f"WARC file missing: {name}")
    if record_id is None:
        raise ArchivedRecordError("no WARC-Record-ID recorded for this capture")
    try:
        with open(path, "rb") as fh:
            facts = read_record(fh, offset, length, Wanted("response", record_id, keep_body=True),
                                payload_length=payload_length, truncated=truncated)  # fmt: skip
    except (RecordError, OSError) as exc:
        raise ArchivedRecordError(f"{exc} in {name}") from None
    if facts.wrong_record:
        raise ArchivedRecordError(f"{facts.wrong_record} in {name}: not this capture's record")
    if facts.rec_type is None or facts.problem:
        why = facts.problem or "not a WARC record"
        raise ArchivedRecordError(f"record at offset {offset} of {name} is unreadable: {why}")
    if facts.decode_error is not None or facts.body is None:
        why = facts.decode_error or "no HTTP payload"
        raise ArchivedRecordError(f"record at offset {offset} of {name}: {why}")
    return ArchivedPayload(
        record_type=facts.rec_type,
        target_uri=facts.target_uri,
        status_line=facts.http_status,
        headers=facts.http_headers,
        body=facts.body,
    )


def warc_file(db: Database, filename: str) -> Path:
    """The WARC file named in a capture row, confined to the archive's warc/ folder."""
    try:
        return Path(db.path).parent / WARC_DIR / safe_warc_name(filename)
    except ArchiveError as exc:
        raise ArchivedRecordError(str(exc)) from None


def archived_content_type(payload: ArchivedPayload, charset: str | None) -> str:
    """The archived Content-Type (plus the detected charset for text without one)."""
    value = (payload.header("Content-Type") or "").strip()
    if not value or any(ord(c) < 32 or ord(c) > 126 for c in value):
        return "application/octet-stream"
    mime = value.split(";")[0].strip().lower()
    if charset and "charset=" not in value.lower() and mime in ("text/html", "text/plain"):
        value = f"{value}; charset={charset}"
    return value


async def _row(db: Database, sql: str, capture_id: int) -> dict[str, Any] | None:
    results = await db.execute(sql, [capture_id])
    return dict(results.rows[0]) if results.rows else None


async def _payload_row(db: Database, capture_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The capture row, and the row whose WARC record holds its payload (revisits followed)."""
    sql = (
        "SELECT id, url, content_type, charset, payload_sha256, payload_length, truncated, "
        "warc_filename, warc_offset, warc_length, warc_record_id, revisit_of, error "
        "FROM captures WHERE id = ?"
    )
    capture = await _row(db, sql, capture_id)
    if capture is None:
        raise NotFound(f"No capture {capture_id} in this archive")
    holder = capture
    for _ in range(MAX_REVISIT_HOPS):
        if holder["revisit_of"] is None:
            break
        found = await _row(db, sql, holder["revisit_of"])
        if found is None:
            raise NotFound(
                f"Capture {capture_id} revisits capture {holder['revisit_of']}, which is missing"
            )
        holder = found
    if not holder["warc_filename"] or holder["warc_offset"] is None or not holder["warc_length"]:
        why = f" ({capture['error']})" if capture["error"] else ""
        raise NotFound(f"Capture {capture_id} has no archived response{why}")
    return capture, holder


async def archived_response(db: Database, capture_id: int, *, download: bool = False) -> Response:
    """Capture ``capture_id``'s payload as captured, made inert (an attachment if ``download``).

    NotFound for an unknown capture or one without an archived response; a 500 page when
    its record cannot be read.
    """
    _, holder = await _payload_row(db, capture_id)
    try:
        path = warc_file(db, holder["warc_filename"])
        payload = await asyncio.to_thread(
            read_payload, path, holder["warc_offset"], holder["warc_length"],
            holder["warc_record_id"], payload_length=holder["payload_length"],
            truncated=bool(holder["truncated"]),
        )  # fmt: skip
    except ArchivedRecordError as exc:
        raise DatasetteError(str(exc), title="Archived record unreadable", status=500) from None
    content_type = archived_content_type(payload, holder["charset"])
    digest = hashlib.sha256(payload.body).hexdigest()
    ext = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
    disposition = "attachment" if download else "inline"
    headers = {
        **ARCHIVED_HEADERS,
        "content-disposition": f'{disposition}; filename="capture-{capture_id}{ext}"',
        "x-citearchive-payload-sha256": digest,
        "x-citearchive-fixity": "ok" if digest == holder["payload_sha256"] else "mismatch",
    }
    return Response(payload.body, headers=headers, content_type=content_type)


# --- a browser capture's screenshot and rendered DOM -----------------------------------

RESOURCE_TYPES = {"screenshot": "image/png", "dom": "text/html; charset=utf-8"}


def read_resource(path: Path, offset: int, length: int, record_id: str) -> bytes:
    """The block of the ``resource`` record ``record_id`` (a screenshot, a DOM)."""
    name = f"{WARC_DIR}/{path.name}"
    if not path.is_file():
        raise ArchivedRecordError(f"WARC file missing: {name}")
    try:
        with open(path, "rb") as fh:
            facts = read_record(fh, offset, length, Wanted("resource", record_id, keep_body=True))
    except (RecordError, OSError) as exc:
        raise ArchivedRecordError(f"{exc} in {name}") from None
    if facts.wrong_record or facts.problem or facts.body is None:
        why = facts.wrong_record or facts.problem or "no content"
        raise ArchivedRecordError(f"record at offset {offset} of {name}: {why}")
    return facts.body


async def resource_response(db: Database, capture_id: int, kind: str) -> Response:
    """Capture ``capture_id``'s screenshot or rendered DOM (``kind``), served inert from its
    WARC resource record, under the same locked-down headers as the archived page."""
    try:
        row = await _row(
            db,
            f"SELECT warc_filename, {kind}_warc_offset AS offset, {kind}_warc_length AS length, "
            f"{kind}_record_id AS record_id, {kind}_sha256 AS sha FROM captures WHERE id = ?",
            capture_id,
        )
    except Exception:  # an archive made before browser captures existed: no such columns
        row = None
    if row is None or not row["record_id"] or not row["warc_filename"]:
        raise NotFound(f"Capture {capture_id} has no {kind} (only browser captures have one)")
    try:
        path = warc_file(db, row["warc_filename"])
        body = await asyncio.to_thread(
            read_resource, path, row["offset"], row["length"], row["record_id"]
        )
    except ArchivedRecordError as exc:
        raise DatasetteError(str(exc), title="Archived record unreadable", status=500) from None
    digest = hashlib.sha256(body).hexdigest()
    ext = ".png" if kind == "screenshot" else ".html"
    headers = {
        **ARCHIVED_HEADERS,
        "content-disposition": f'inline; filename="capture-{capture_id}-{kind}{ext}"',
        "x-citearchive-payload-sha256": digest,
        "x-citearchive-fixity": "ok" if digest == row["sha"] else "mismatch",
    }
    return Response(body, headers=headers, content_type=RESOURCE_TYPES[kind])
