"""The HTTP transport of ``fetch``: httpx and httpcore's connection pool on asyncio's streams.

httpcore does its network I/O on asyncio through anyio, and anyio's layers (a cancel scope
around every read and write, a dict of socket attributes built for every
``get_extra_info``, the sniffio look-ups) cost ~1 ms of the main process's CPU per 200 KB
page, a quarter of the HTTP path (issue 11, measured over the fetch benchmark's 50
loopback hosts). httpcore's network backend is public API
(``httpcore.AsyncNetworkBackend``: connect, read, write, TLS, extra information);
:class:`AsyncioBackend` is that API on ``asyncio.open_connection`` and
``StreamWriter.start_tls``, with the exceptions httpcore's own backend raises
(``ConnectError``, ``ReadTimeout``...: a timeout kind only when our time limit ran out),
the ``OSError``, ``ssl.SSLError`` or ``socket.gaierror`` kept as their cause, where
``describe_error`` looks for it. httpcore's pool itself still takes its locks and events
from anyio.

Connections are made as anyio makes them: every address of a host name tried, IPv6 and
IPv4 raced 250 ms apart (Happy Eyeballs, RFC 8305); an IP address is connected to
directly. A pooled connection is checked for readability (closed by the server) with one
``poll`` of its socket.

Each origin (scheme, host, port) has its own httpcore pool (:class:`OriginPools`), so a
site's next request reuses its connection, however many other sites are fetched between
(politeness spaces one site's requests a second or more apart), without httpcore's scan
of every pooled connection on every request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import select
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpcore
import httpx

__all__ = ["AsyncioBackend", "AsyncioStream", "AsyncioTransport", "OriginPools"]

MAX_ORIGINS = 64  # origins whose idle connections are kept for their next request
HAPPY_EYEBALLS_DELAY = 0.25  # seconds between connection attempts to a host's addresses
STREAM_LIMIT = 2**16  # bytes a connection buffers before it stops reading the socket


def _literal(host: str) -> bool:
    """Whether ``host`` is an IP address: one address, no race to run (the race costs
    ~0.5 ms of CPU a connection, even for a name with a single address)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _failure(
    limit: asyncio.Timeout,
    timed_out: type[httpcore.TimeoutException],
    failed: type[httpcore.NetworkError],
    exc: OSError,
) -> Exception:
    """httpcore's exception for ``exc``: the timeout kind only when ``limit`` ran out (the
    kernel's own ETIMEDOUT, also a TimeoutError, is a failure, as anyio reports it)."""
    if limit.expired():
        return timed_out(str(exc))
    return failed(str(exc) or type(exc).__name__)


def _readable(sock: socket.socket | None) -> bool:
    """Whether a read would return at once (data, or the end: the peer closed)."""
    fd = sock.fileno() if sock is not None else -1
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One TCP connection (TLS after :meth:`start_tls`) as httpcore reads and writes it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        # asyncio's TransportSocket: a socket.socket's read-only view (fileno, getpeername...)
        self._socket: socket.socket | None = writer.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limit = asyncio.timeout(timeout)
        try:
            async with limit:
                return await self._reader.read(max_bytes)
        except OSError as exc:  # TimeoutError included: ours, or the kernel's ETIMEDOUT
            raise _failure(limit, httpcore.ReadTimeout, httpcore.ReadError, exc) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        limit = asyncio.timeout(timeout)
        try:
            async with limit:
                self._writer.write(buffer)
                await self._writer.drain()
        except OSError as exc:
            raise _failure(limit, httpcore.WriteTimeout, httpcore.WriteError, exc) from exc

    async def aclose(self) -> None:
        """Close at once, as anyio does: a TLS close_notify or the last bytes get one turn
        of the loop to go out, then the socket is dropped. (A plain ``close()`` keeps it
        open until a peer that never reads takes the buffer, or 30 s for a TLS shutdown.)"""
        transport = self._writer.transport
        try:
            self._writer.close()
            await asyncio.sleep(0)
        finally:
            transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        limit = asyncio.timeout(timeout)
        try:
            async with limit:  # (asyncio's own 60 s handshake limit stays as a backstop)
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except OSError as exc:  # a certificate error is an ssl.SSLError, an OSError
            self._writer.transport.abort()
            raise _failure(limit, httpcore.ConnectTimeout, httpcore.ConnectError, exc) from exc
        return self  # the writer now speaks TLS over the same socket

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # httpcore asks this of every pooled connection it reuses
            return _readable(self._socket)
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "socket":
            return self._socket
        try:
            if info == "server_addr":
                return self._writer.get_extra_info("peername")[:2]
            if info == "client_addr":
                return self._writer.get_extra_info("sockname")[:2]
        except TypeError:  # the connection is closed: no address to give
            return None
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on asyncio's own streams: connecting, reading and writing
    without anyio (httpcore's pool still takes its locks and events from anyio)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        limit = asyncio.timeout(timeout)
        try:
            async with limit:
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    limit=STREAM_LIMIT,
                    local_addr=(local_address, 0) if local_address else None,
                    happy_eyeballs_delay=None if _literal(host) else HAPPY_EYEBALLS_DELAY,
                )
        except OSError as exc:  # refused, unreachable, DNS (socket.gaierror), timed out
            raise _failure(limit, httpcore.ConnectTimeout, httpcore.ConnectError, exc) from exc
        except UnicodeError as exc:  # a name the resolver cannot take (an empty label: a..b)
            try:  # raised, so it is the context httpcore keeps when it drops the cause
                raise socket.gaierror(socket.EAI_NONAME, f"invalid host name: {exc}") from exc
            except socket.gaierror as lookup:
                raise httpcore.ConnectError(str(lookup)) from lookup
        stream = AsyncioStream(reader, writer)
        for option in socket_options or ():
            stream.get_extra_info("socket").setsockopt(*option)
        return stream

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's HTTP/1.1 transport: one httpcore pool per origin (:class:`OriginPools`), on
    :class:`AsyncioBackend`.

    httpx builds its pool itself and takes no network backend (encode/httpx#3749 would add
    one), so this sets the pool httpx's request, context-manager and close methods use
    (``self._pool``) instead of calling httpx's ``__init__``, which would build a second
    pool and a second SSL context. ``tests/test_transport.py`` fails if httpx stops
    sending requests through it.

    ``limits`` applies to each origin's pool; ``max_origins`` origins keep their idle
    connections, each for ``limits.keepalive_expiry`` seconds.
    """

    def __init__(
        self,
        *,
        verify: bool | ssl.SSLContext = True,
        limits: httpx.Limits | None = None,
        max_origins: int = MAX_ORIGINS,
    ) -> None:
        limits = limits or httpx.Limits()
        context = httpx.create_ssl_context(verify=verify)
        backend = AsyncioBackend()

        def origin_pool() -> httpcore.AsyncConnectionPool:
            return httpcore.AsyncConnectionPool(
                ssl_context=context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=backend,
            )

        # httpx's None keeps connections for ever: so does the origin's pool then
        expiry = math.inf if limits.keepalive_expiry is None else limits.keepalive_expiry
        # httpx calls only what OriginPools has: handle_async_request, aclose, aenter, aexit
        pools = OriginPools(origin_pool, max_origins=max_origins, idle_expiry=expiry)
        self._pool = pools  # type: ignore[assignment]


class _Origin:
    """One origin's pool, how many of its responses are still open, and when it was last
    used."""

    __slots__ = ("last_used", "open", "pool")

    def __init__(self, pool: httpcore.AsyncConnectionPool, now: float) -> None:
        self.pool = pool
        self.open = 0
        self.last_used = now


class _Tracked:
    """A response body stream that tells its origin when it is closed."""

    def __init__(self, stream: Any, origin: _Origin, clock: Callable[[], float]) -> None:
        self._stream = stream
        self._origin: _Origin | None = origin
        self._clock = clock

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._origin is not None:
                self._origin.open -= 1
                self._origin.last_used = self._clock()
                self._origin = None


class OriginPools:
    """httpcore connection pools, one per origin (scheme, host, port), as one pool.

    A single httpcore pool scans all its connections for every request and every response
    it hands back (``_assign_requests_to_connections``), so its cost grows with the idle
    connections it keeps: with the fetch benchmark's 50 hosts, keeping them all made each
    page cost ~1.6 ms more of the main process's CPU than reconnecting every time. A pool
    per origin scans only that origin's one or two connections, so a connection is kept
    for the next request to its site (no new TCP and TLS handshakes: ~1 ms of the main
    process's CPU a page on loopback, and round trips to a distant site), without that cost.

    The ``max_origins`` origins used last keep their pools; an origin unused for
    ``idle_expiry`` seconds, or beyond that number, has its pool closed when the next
    request starts, unless one of its responses is still open.
    """

    def __init__(
        self,
        make_pool: Callable[[], httpcore.AsyncConnectionPool],
        *,
        max_origins: int,
        idle_expiry: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make_pool = make_pool
        self._max = max(1, max_origins)
        self._expiry = idle_expiry
        self._clock = clock
        self._origins: OrderedDict[tuple[bytes, bytes, int | None], _Origin] = OrderedDict()

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        key = (request.url.scheme, request.url.host, request.url.port)
        now = self._clock()
        origin = self._origins.pop(key, None) or _Origin(self._make_pool(), now)
        self._origins[key] = origin  # the most recently used last
        origin.open += 1
        origin.last_used = now
        try:
            await self._close_idle(now)
            response = await origin.pool.handle_async_request(request)
        except BaseException:
            origin.open -= 1
            raise
        response.stream = _Tracked(response.stream, origin, self._clock)
        return response

    async def _close_idle(self, now: float) -> None:
        """Close the pools of origins past the limit or unused for too long, none of whose
        responses is open (the least recently used first)."""
        excess = len(self._origins) - self._max
        keys = []
        for key, origin in self._origins.items():
            if origin.open == 0 and (excess > 0 or now - origin.last_used >= self._expiry):
                keys.append(key)
                excess -= 1
        # out of the table before the first await: a request to one of these origins that
        # starts while the others close gets a new pool, never one being closed
        closing = [self._origins.pop(key) for key in keys]
        for origin in closing:
            await origin.pool.aclose()

    async def aclose(self) -> None:
        origins, self._origins = list(self._origins.values()), OrderedDict()
        for origin in origins:
            await origin.pool.aclose()

    async def __aenter__(self) -> OriginPools:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
