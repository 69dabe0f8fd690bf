"""What a capture over HTTP produces: one :class:`Exchange` per request/response (each
redirect hop and each retry), and the :class:`FetchResult` of the whole chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Exchange:
    """One HTTP request/response pair: each redirect hop and each retry is one."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]  # as sent
    http_version: str
    status_code: int | None  # None when no response arrived
    reason: str
    response_headers: list[tuple[str, str]]  # as received: order and duplicates kept
    # Bodies stay out of repr(): a 50 MB body must not become a 200 MB string in a log.
    # A body cut short (``truncated``) is a bytearray, not copied into bytes (F5).
    raw_body: bytes | bytearray = field(
        repr=False
    )  # as on the wire after chunked decoding, still encoded
    body: bytes | bytearray = field(
        repr=False
    )  # Content-Encoding undone, at most settings.max_bytes
    truncated: bool = False  # the body is incomplete: cut at the cap, deadline or disconnect
    peer_ip: str | None = None  # the address actually connected to
    tls: dict[str, Any] | None = None  # https only; see httpmeta.tls_info
    started_at: datetime = field(default_factory=utcnow)  # UTC, when the request was sent
    error: str | None = None  # what went wrong on this exchange, in words
    error_kind: str | None = None  # the same as a code (see FetchResult.error_kind)


@dataclass
class FetchResult:
    """The outcome of one capture: the final answer plus every exchange that led to it."""

    requested_url: str
    final_url: str
    exchanges: list[Exchange]
    status_code: int | None
    content_type: str | None
    body: bytes | bytearray = field(
        repr=False
    )  # final exchange's decoded body (b"" when no response)
    error: str | None  # None = success: final status 2xx and the body complete
    # "dns" | "refused" | "timeout" | "deadline" | "tls" | "http" | "too-large" | "decode"
    # | "too-many-redirects" | "redirect-loop" | "network" | "invalid-url"
    # | "blocked" (a public source led to a private address: capture/network.py)
    error_kind: str | None
    redirects: list[dict[str, Any]] = field(default_factory=list)  # {"url","status","location"}
    attempts: int = 0  # requests made, not counting redirect hops: 1 + number of retries
    peer_ip: str | None = None
    tls: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
