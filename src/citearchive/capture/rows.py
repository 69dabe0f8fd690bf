"""The ``captures`` rows of a fetch run: how they are built, and when they are committed.

A row is a plain dict of column values. :func:`row_frame` gives the columns every row of a
run and source shares, :func:`response_columns` those of a fetch result, and
:func:`extraction_columns` those of the extracted text. :class:`RowBatch` holds rows until
the WARC file their records are in has been fsynced, then commits them in one transaction:
a crash can lose rows, never leave one pointing at bytes that are not on disk.
"""

from __future__ import annotations

import time
from typing import Any

from .. import __version__
from ..archive.store import Archive, utcnow
from ..config import Settings
from ..sources.manifest import Source
from ..warc.writer import WarcFile
from .exchange_records import iso
from .extract import Extraction
from .fetch import FetchResult
from .pool import release_memory

FLUSH_EVERY_ROWS = 50
FLUSH_EVERY_SECONDS = 1.0

# What a revisit (same document as an earlier capture) copies from the capture it revisits.
REVISITED_COLUMNS = (
    "charset", "charset_source", "kind", "title", "author", "published",
    "text", "text_sha256", "language", "suspect", "not_text",
)  # fmt: skip


def row_frame(run_id: str, settings: Settings, source: Source) -> dict[str, Any]:
    """The columns every captures row of this run and source shares."""
    return {
        "run_id": run_id, "source_id": source.id, "fetched_at": utcnow(),
        "tool_version": __version__, "user_agent": settings.user_agent,
    }  # fmt: skip


def response_columns(url: str, method: str, r: FetchResult) -> dict[str, Any]:
    """What the fetch itself says: the URL asked for and reached, status, error, provenance."""
    final = r.exchanges[-1] if r.exchanges else None
    return {
        "requested_url": url,
        "url": r.final_url, "method": method,
        "fetched_at": iso(final.started_at) if final else utcnow(),
        "status_code": r.status_code, "content_type": r.content_type,
        "error": r.error, "error_kind": r.error_kind,
        "truncated": int(bool(final and final.truncated)),
        "redirects": r.redirects,
        "response_headers": [list(h) for h in final.response_headers] if final else None,
        "ip": r.peer_ip, "tls": r.tls, "attempts": r.attempts,
    }  # fmt: skip


def extraction_columns(ex: Extraction, *, failed: bool) -> dict[str, Any]:
    """The extracted text and what was learnt on the way (a failed capture is not suspect:
    it is already a failure)."""
    return {
        "charset": ex.charset, "charset_source": ex.charset_source, "kind": ex.kind,
        "title": ex.title, "author": ex.author, "published": ex.published, "text": ex.text,
        "text_sha256": ex.text_sha256, "language": ex.language,
        "suspect": None if failed else ex.suspect,
        "not_text": int(ex.not_text),
    }  # fmt: skip


class RowBatch:
    """Rows waiting for their WARC records to reach the disk."""

    def __init__(self, archive: Archive, warc: WarcFile) -> None:
        self.archive = archive
        self.warc = warc
        self.pending: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()

    def add(self, row: dict[str, Any]) -> None:
        self.pending.append(row)

    def maybe_flush(self) -> None:
        """Flush when enough rows or enough time has gathered."""
        if self.pending and (
            len(self.pending) >= FLUSH_EVERY_ROWS
            or time.monotonic() - self.last_flush >= FLUSH_EVERY_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        """fsync the WARC, then commit the rows that point into it."""
        if not self.pending:
            return
        self.warc.sync()
        rows, self.pending = self.pending, []
        ids = self.archive.insert_captures(rows)
        for row, cid in zip(rows, ids, strict=True):
            row["id"] = cid
        self.last_flush = time.monotonic()
        release_memory()  # the bodies and texts of the batch are gone: hand the heap back
