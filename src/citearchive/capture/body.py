"""Reading one HTTP response into an :class:`~citearchive.capture.exchange.Exchange`:
its head (status, headers, peer address, TLS certificate) and its body, streamed under
the size cap, raw and decoded side by side, so that neither a huge download nor a gzip
bomb can grow memory past the cap."""

from __future__ import annotations

import weakref

import httpx

from ..warc.httpmeta import (
    ContentDecoder,
    CutShort,
    DecodeError,
    Failure,
    decode_headers,
    format_size,
    header_value,
    tls_info,
)
from .exchange import Exchange

RAW_HEADERS = "citearchive.raw_headers"  # response extension: the headers as received
# The requests ``fetch`` made: the hook leaves every other request of a shared client alone.
FOLLOWED_BY_HAND: weakref.WeakSet[httpx.Request] = weakref.WeakSet()


async def keep_location(response: httpx.Response) -> None:
    """Response hook: keep the headers as received, then hide ``Location`` from httpx.

    httpx builds the next request of a redirect even when it does not follow it, and a
    Location it cannot build one from (``javascript:alert(1)``) raises and loses the
    response. ``fetch`` follows redirects itself, from the headers kept here.
    """
    if response.request in FOLLOWED_BY_HAND and "location" in response.headers:
        response.extensions[RAW_HEADERS] = list(response.headers.raw)
        del response.headers["location"]


def read_head(response: httpx.Response, exchange: Exchange) -> None:
    """Status, headers and the connection's provenance (peer address, TLS certificate)."""
    exchange.status_code = response.status_code
    exchange.reason = response.reason_phrase
    exchange.http_version = response.http_version
    raw = response.extensions.get(RAW_HEADERS) or response.headers.raw
    exchange.response_headers = decode_headers(raw)
    stream = response.extensions.get("network_stream")
    if stream is None:
        return
    address = stream.get_extra_info("server_addr")
    exchange.peer_ip = str(address[0]) if address else None
    ssl_object = stream.get_extra_info("ssl_object")
    if ssl_object is not None:
        exchange.tls = tls_info(ssl_object)


async def read_body(response: httpx.Response, exchange: Exchange, cap: int) -> Failure | None:
    """Stream the body into ``exchange``, stopping at the cap (raw or decoded); the failure,
    if the body was cut or could not be decoded.

    Memory: a body without Content-Encoding is held once (raw and decoded are one object),
    the buffers of a whole body are turned into ``bytes`` one after the other, and a body
    cut short stays in its ``bytearray`` (it is only archived), so a body at the 50 MB cap
    costs 50 MB, not 200 (finding F5).
    """
    raw, body = bytearray(), bytearray()
    identity = False  # until the decoder says so (an unknown coding decodes to nothing)
    try:
        decoder = ContentDecoder(header_value(exchange.response_headers, "content-encoding"))
        identity = decoder.coding == "identity"
        async for chunk in response.aiter_raw():
            if len(raw) + len(chunk) > cap:
                chunk = chunk[: cap - len(raw)]
                exchange.truncated = True
            raw += chunk
            if not identity:
                room = cap - len(body)
                decoded = decoder.decode(chunk, room + 1) if chunk else b""
                if len(decoded) > room:
                    decoded, exchange.truncated = decoded[:room], True
                body += decoded
            if exchange.truncated:
                return Failure("too-large", f"body larger than the {format_size(cap)} cap", False)
        if not identity:
            body += decoder.flush(cap - len(body))
    except CutShort as exc:
        exchange.truncated = True
        return Failure("decode", str(exc), False)
    except DecodeError as exc:
        return Failure("decode", str(exc), False)
    finally:
        if exchange.truncated:  # only archived, never hashed nor extracted: not copied
            exchange.raw_body, exchange.body = raw, raw if identity else body
        else:
            exchange.raw_body = bytes(raw)
            raw.clear()
            exchange.body = exchange.raw_body if identity else bytes(body)
            body.clear()
    return None
