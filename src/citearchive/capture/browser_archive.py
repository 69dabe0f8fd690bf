"""A browser capture into the archive: its WARC records and the columns of its captures row.

Every response the page received becomes a response record and a request record (as for an
HTTP capture, see :mod:`citearchive.capture.exchange_records`), marked as recorded by the
browser; then the full-page screenshot (``urn:screenshot:<url>``, ``image/png``) and the
rendered DOM (``urn:dom:<url>``, ``text/html; charset=utf-8``) follow as ``resource``
records, each pointing at the page's document record (``WARC-Concurrent-To``). The row
points at the document's response record (fixity and the archived view read it like any
capture's) and names the screenshot's and the DOM's records and SHA-256.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

from ..warc.writer import RecordLocation, WarcFile
from .browser import BrowserCapture
from .browser_recorder import REQUEST_NOTE, RESPONSE_NOTE
from .exchange_records import exchange_records, iso

NOTE_HEADER = "WARC-Citearchive-Note"


def browser_columns(warc: WarcFile, cap: BrowserCapture) -> dict[str, Any]:
    """Write ``cap``'s records to ``warc``; the captures row's columns that describe them."""
    doc = cap.document
    row: dict[str, Any] = {
        "requested_url": cap.requested_url,
        "url": cap.final_url,
        "method": "browser",
        "fetched_at": iso(doc.started_at if doc else cap.started_at),  # its record's WARC-Date
        "error": cap.error,
        "error_kind": cap.error_kind,
        "status_code": doc.status_code if doc else None,
        "content_type": _header(doc.response_headers, "content-type") if doc else None,
        "truncated": int(bool(doc and doc.truncated)),
        "response_headers": [list(h) for h in doc.response_headers] if doc else None,
        "ip": doc.peer_ip if doc else None,
        "attempts": 1,
        "user_agent": cap.user_agent,
        "browser_resources": len(cap.exchanges),
        "browser_blocked": cap.blocked or None,
    }
    doc_loc: RecordLocation | None = None
    for ex in cap.exchanges:
        response, request = exchange_records(warc.builder, ex)
        response.rec_headers.add_header(NOTE_HEADER, RESPONSE_NOTE)
        request.rec_headers.add_header(NOTE_HEADER, REQUEST_NOTE)
        loc = warc.write([response, request])[0]
        if ex is doc:
            doc_loc = loc
    if doc is None or doc_loc is None:
        return row
    whole = not doc.truncated
    row.update(
        warc_filename=doc_loc.filename,
        warc_offset=doc_loc.offset,
        warc_length=doc_loc.length,
        warc_record_id=doc_loc.record_id,
        warc_payload_digest=doc_loc.payload_digest,
        payload_sha256=hashlib.sha256(doc.body).hexdigest() if whole else None,
        payload_length=len(doc.body) if whole else None,
    )
    date = iso(cap.started_at, micros=True)
    if cap.screenshot:
        loc = _resource(
            warc,
            f"urn:screenshot:{cap.final_url}",
            "image/png",
            cap.screenshot,
            date,
            doc_loc.record_id,
        )
        width, height = cap.screenshot_size or (None, None)
        row.update(
            screenshot_warc_offset=loc.offset,
            screenshot_warc_length=loc.length,
            screenshot_record_id=loc.record_id,
            screenshot_width=width,
            screenshot_height=height,
            screenshot_sha256=hashlib.sha256(cap.screenshot).hexdigest(),
        )
    if cap.dom is not None:
        dom = cap.dom.encode("utf-8", "replace")
        loc = _resource(
            warc,
            f"urn:dom:{cap.final_url}",
            "text/html; charset=utf-8",
            dom,
            date,
            doc_loc.record_id,
        )
        row.update(
            dom_warc_offset=loc.offset,
            dom_warc_length=loc.length,
            dom_record_id=loc.record_id,
            dom_sha256=hashlib.sha256(dom).hexdigest(),
        )
    return row


def _resource(
    warc: WarcFile, uri: str, content_type: str, data: bytes, date: str, concurrent_to: str
) -> RecordLocation:
    record = warc.builder.create_warc_record(
        uri,
        "resource",
        payload=io.BytesIO(data),
        length=len(data),
        warc_content_type=content_type,
        warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": concurrent_to},
    )
    return warc.write([record])[0]


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None
