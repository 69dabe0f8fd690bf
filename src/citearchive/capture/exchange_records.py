"""WARC records for HTTP exchanges: a response (or revisit) record and its request record.

What ``fetch`` saw goes into the archive as it was seen: the response body as received
(Content-Encoding still applied, chunked framing removed), the headers in their order,
the server's address (``WARC-IP-Address``), the time the request was sent (``WARC-Date``,
microseconds) and, when the body was cut, ``WARC-Truncated`` with the reason.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
from typing import Any
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from .exchange import Exchange

# WARC 1.1 WARC-Truncated values, by the error that cut the body.
TRUNCATED_BY = {"too-large": "length", "deadline": "time", "timeout": "time"}


def iso(when: dt.datetime, *, micros: bool = False) -> str:
    """ISO 8601 UTC with a Z, as WARC-Date and the captures table write it."""
    spec = "microseconds" if micros else "seconds"
    return when.isoformat(timespec=spec).replace("+00:00", "Z")


def warc_payload_digest(raw_body: bytes | bytearray) -> str:
    """The WARC-Payload-Digest warcio writes for a response body: base32 SHA-1."""
    return _sha1_label(hashlib.sha1(raw_body))


def _sha1_label(digest: Any) -> str:
    return "sha1:" + base64.b32encode(digest.digest()).decode("ascii")


def _with_digests(
    warc_headers: dict[str, str], http_headers: StatusAndHeaders, body: bytes | bytearray
) -> dict[str, str]:
    """``warc_headers`` plus the record's WARC-Block-Digest (HTTP head and body) and
    WARC-Payload-Digest (body), as warcio would compute them. Given them and the length,
    warcio writes the body straight through; otherwise it copies the body into a spooled
    temporary file twice and hashes it three times (~2 ms of the main loop a page)."""
    http_headers.compute_headers_buffer()
    block = hashlib.sha1(http_headers.headers_buff)
    block.update(body)
    return {
        **warc_headers,
        "WARC-Payload-Digest": _sha1_label(hashlib.sha1(body)),
        "WARC-Block-Digest": _sha1_label(block),
    }


def exchange_records(
    builder: WARCWriter, ex: Exchange, *, revisit_of: dict[str, Any] | None = None
) -> tuple[Any, Any]:
    """The (response-or-revisit, request) records of one exchange that got a response.

    ``revisit_of`` is the captures row of an earlier capture with the same payload: the
    response is then written as an identical-payload-digest revisit record pointing at it.
    """
    http_headers = response_headers(ex)
    warc_headers = {"WARC-Date": iso(ex.started_at, micros=True)}
    if ex.peer_ip:
        warc_headers["WARC-IP-Address"] = ex.peer_ip
    if ex.truncated:
        warc_headers["WARC-Truncated"] = TRUNCATED_BY.get(ex.error_kind or "", "disconnect")
    if revisit_of is not None:
        record = builder.create_revisit_record(
            ex.url, revisit_of["warc_payload_digest"], revisit_of["url"],
            revisit_of["fetched_at"], http_headers=http_headers,
        )  # fmt: skip
        for name, value in warc_headers.items():
            record.rec_headers.replace_header(name, value)
        record.rec_headers.add_header("WARC-Refers-To", revisit_of["warc_record_id"])
    else:
        record = builder.create_warc_record(
            ex.url, "response", payload=_Payload(ex.raw_body), length=len(ex.raw_body),
            http_headers=http_headers,
            warc_headers_dict=_with_digests(warc_headers, http_headers, ex.raw_body),
        )  # fmt: skip
    asked = request_headers(ex)
    request = builder.create_warc_record(
        ex.url, "request", payload=io.BytesIO(b""), length=0, http_headers=asked,
        warc_headers_dict=_with_digests(warc_headers, asked, b""),
    )  # fmt: skip
    request.rec_headers.add_header(
        "WARC-Concurrent-To", record.rec_headers.get_header("WARC-Record-ID")
    )
    return record, request


class _Payload:
    """A body read as a file without copying it (``io.BytesIO`` copies a bytearray)."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.view, self.pos = memoryview(data), 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.view) if size is None or size < 0 else self.pos + size
        out = bytes(self.view[self.pos : end])
        self.pos += len(out)
        return out

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = pos if whence == 0 else (self.pos + pos if whence == 1 else len(self.view) + pos)
        return self.pos

    def close(self) -> None:
        self.view.release()


def response_headers(ex: Exchange) -> StatusAndHeaders:
    headers = []
    for name, value in ex.response_headers:
        if name.lower() == "transfer-encoding":
            # the stored body is already de-chunked; keep the fact, not the framing
            name = "X-Archive-Orig-Transfer-Encoding"
        headers.append((name, value))
    return StatusAndHeaders(
        f"{ex.status_code} {ex.reason}".strip(), headers, protocol=ex.http_version
    )


def request_headers(ex: Exchange) -> StatusAndHeaders:
    parts = urlsplit(ex.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = list(ex.request_headers)
    if not any(k.lower() == "host" for k, _ in headers):
        headers.insert(0, ("Host", parts.netloc))
    # what our client sent: httpx speaks HTTP/1.1 here (HTTP/2 is not enabled), whatever
    # version the server answered in
    return StatusAndHeaders(
        f"{ex.method} {target} HTTP/1.1", headers, protocol="", is_http_request=True
    )
