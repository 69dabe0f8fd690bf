"""fetch's HTTP transport (capture/transport.py): httpx and httpcore's pool on asyncio's
streams, against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
import time

import httpcore
import httpx

from citearchive.capture.fetch import FetchResult, fetch, make_client
from citearchive.capture.transport import (
    AsyncioBackend,
    AsyncioStream,
    AsyncioTransport,
    OriginPools,
)
from citearchive.config import Settings, resolve_settings
from localserver import LocalServer, Request, respond

SETTINGS = resolve_settings({"host_delay": 0.0})


def _peer_echo(request: Request) -> None:
    request.send(200, {"Content-Type": "text/plain"}, str(request.peer[1]).encode())


def _gets(urls: list[str], between: float = 0.0) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        responses = []
        async with make_client(SETTINGS) as client:
            for url in urls:
                response = await client.get(url)
                await response.aread()
                responses.append(response)
                await asyncio.sleep(between)
        return responses

    return asyncio.run(go())


def test_requests_go_through_the_asyncio_stream(local_server: LocalServer) -> None:
    local_server.route("/", respond(b"<p>\xd0\xbc\xd0\xb8\xd1\x80</p>"))
    (response,) = _gets([local_server.url("/")])
    assert response.status_code == 200 and response.text == "<p>мир</p>"
    stream = response.extensions["network_stream"]
    assert isinstance(stream, AsyncioStream)  # httpx sent it through our pool, not its own
    assert stream.get_extra_info("server_addr") == ("127.0.0.1", local_server.port)
    assert stream.get_extra_info("ssl_object") is None


def test_a_kept_alive_connection_is_reused(local_server: LocalServer) -> None:
    local_server.route("/port", _peer_echo)
    first, second = _gets([local_server.url("/port")] * 2)
    assert first.text == second.text  # the same client port: one connection


def test_a_connection_the_server_closed_is_not_reused(local_server: LocalServer) -> None:
    def close_after(request: Request) -> None:
        _peer_echo(request)
        request.close()  # no "Connection: close" header: the client only sees the socket end

    local_server.route("/once", close_after)

    async def go() -> tuple[httpx.Response, httpx.Response]:
        async with make_client(SETTINGS) as client:
            first = await client.get(local_server.url("/once"))
            deadline = time.monotonic() + 5
            while local_server.open_connections() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return first, await client.get(local_server.url("/once"))

    first, second = asyncio.run(go())
    assert first.status_code == second.status_code == 200
    assert first.text != second.text  # a new connection from another port


def _servers(n: int) -> list[LocalServer]:
    servers = [LocalServer() for _ in range(n)]
    for server in servers:
        server.route("/port", _peer_echo)
        server.route("/big", respond(b"x" * 2_000_000))
    return servers


def _wait_closed(server: LocalServer) -> bool:
    """Whether the server's connections all end within 5 s (the client closed them)."""
    deadline = time.monotonic() + 5
    while server.open_connections() and time.monotonic() < deadline:
        time.sleep(0.01)
    return server.open_connections() == 0


def test_each_site_keeps_its_connection_among_many() -> None:
    # ten sites in turn, more than the eight in flight: each one's second request reuses
    # the connection of its first (one pool per origin, none evicted by the others)
    servers = _servers(10)
    try:
        urls = [server.url("/port") for server in servers]
        responses = _gets(urls * 2)
        assert [r.text for r in responses[:10]] == [r.text for r in responses[10:]]
        assert len({r.text for r in responses}) == 10
    finally:
        for server in servers:
            server.close()


def _client(transport: AsyncioTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport)


def test_origins_past_the_limit_and_idle_ones_are_closed() -> None:
    a, b, c = _servers(3)
    limits = httpx.Limits(keepalive_expiry=0.3)

    async def go() -> list[bool]:
        transport = AsyncioTransport(limits=limits, max_origins=2)
        async with _client(transport) as client:
            for server in (a, b):
                (await client.get(server.url("/port"))).raise_for_status()
            await client.get(c.url("/port"))  # a third origin: the least recent one goes
            first = [await _closed(a), b.open_connections() == 1]
            await asyncio.sleep(0.35)  # past the expiry: b and c are idle too long
            await client.get(a.url("/port"))
            return [*first, await _closed(b), await _closed(c), a.open_connections() == 1]

    async def _closed(server: LocalServer) -> bool:
        return await asyncio.to_thread(_wait_closed, server)

    try:
        assert asyncio.run(go()) == [True] * 5
    finally:
        for server in (a, b, c):
            server.close()


def test_a_request_while_idle_pools_close_gets_a_live_one() -> None:
    a, b, c = _servers(3)

    def slow(request: Request) -> None:
        request.sleep(0.3)
        _peer_echo(request)

    b.route("/slow", slow)

    async def go() -> tuple[bytes, bytes]:
        gate = asyncio.Event()

        class GatedClose(httpcore.AsyncConnectionPool):
            """A real pool whose closing waits until the test lets it go on."""

            async def aclose(self) -> None:
                await gate.wait()
                await super().aclose()

        pools = OriginPools(
            lambda: GatedClose(network_backend=AsyncioBackend()), max_origins=64, idle_expiry=0.2
        )

        async def get(url: str) -> bytes:
            host = url.split("/")[2]
            request = httpcore.Request("GET", url, headers=[(b"Host", host.encode())])
            response = await pools.handle_async_request(request)
            try:
                return b"".join([chunk async for chunk in response.stream])
            finally:
                await response.aclose()

        await get(a.url("/port"))
        await get(b.url("/port"))
        await asyncio.sleep(0.25)  # both idle past the expiry
        closing = asyncio.create_task(get(c.url("/port")))  # closes a's and b's pools...
        await asyncio.sleep(0.05)  # ...held at the gate
        during = asyncio.create_task(get(b.url("/slow")))  # b again, while they close
        await asyncio.sleep(0.1)  # b's request now waits for its response
        gate.set()
        return await closing, await during

    try:
        first, second = asyncio.run(go())
        assert first.isdigit() and second.isdigit()  # both answered: b's new pool survived
    finally:
        for server in (a, b, c):
            server.close()


def test_a_response_still_open_keeps_its_origin() -> None:
    a, b = _servers(2)

    async def go() -> tuple[int, bool, bool]:
        async with _client(AsyncioTransport(max_origins=1)) as client:
            async with client.stream("GET", a.url("/big")) as big:
                chunks = big.aiter_raw()
                first = await anext(chunks)
                await client.get(b.url("/port"))  # one origin allowed, but a's is in use
                rest = b"".join([chunk async for chunk in chunks])
            kept = a.open_connections() == 1
            await client.get(b.url("/port"))  # a's response is closed now: its pool goes
            return len(first) + len(rest), kept, await asyncio.to_thread(_wait_closed, a)

    try:
        assert asyncio.run(go()) == (2_000_000, True, True)
    finally:
        a.close()
        b.close()


def test_a_host_name_is_resolved_and_connected(local_server: LocalServer) -> None:
    local_server.route("/", respond(b"ok"))
    # localhost may resolve to ::1 as well, where nothing listens: the race must still win
    result = asyncio.run(fetch_one(f"http://localhost:{local_server.port}/"))
    assert result.error is None and result.status_code == 200
    assert result.exchanges[-1].peer_ip == "127.0.0.1"


def test_tls_goes_through_the_same_stream(tls_server: LocalServer) -> None:
    tls_server.route("/", respond(b"secure"))

    async def go() -> httpx.Response:
        async with make_client(SETTINGS, verify=tls_server.client_ssl_context()) as client:
            return await client.get(tls_server.url("/"))

    response = asyncio.run(go())
    assert response.text == "secure"
    stream = response.extensions["network_stream"]
    assert isinstance(stream, AsyncioStream)
    assert stream.get_extra_info("ssl_object").version().startswith("TLS")


def test_refused_and_silent_servers_are_named(local_server: LocalServer) -> None:
    def silent(request: Request) -> None:
        request.sleep(5)

    local_server.route("/silent", silent)
    settings = resolve_settings({"host_delay": 0.0, "read_timeout": 0.3, "max_attempts": 1})
    slow = asyncio.run(fetch_one(local_server.url("/silent"), settings))
    assert slow.error_kind == "timeout" and "read timeout" in (slow.error or "")
    port = local_server.port
    local_server.close()
    refused = asyncio.run(fetch_one(f"http://127.0.0.1:{port}/", settings))
    assert refused.error_kind == "refused"
    assert (refused.error or "").startswith(f"connection refused by 127.0.0.1:{port}")


async def fetch_one(url: str, settings: Settings = SETTINGS) -> FetchResult:
    async with make_client(settings) as client:
        return await fetch(client, url, settings)


def _silent_listener() -> tuple[socket.socket, list[socket.socket]]:
    """A TCP listener on 127.0.0.1 that accepts connections and never reads from them."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    return listener, accepted


def test_a_stream_to_a_peer_that_never_reads_is_closed_at_once() -> None:
    listener, accepted = _silent_listener()
    port = listener.getsockname()[1]

    async def go() -> tuple[type[BaseException], int]:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        try:
            await stream.write(b"x" * 50_000_000, timeout=0.3)  # the peer never reads
        except httpcore.TimeoutException as exc:
            failed: type[BaseException] = type(exc)
        await stream.aclose()
        await asyncio.sleep(0.05)
        return failed, stream.get_extra_info("socket").fileno()

    try:
        failed, fileno = asyncio.run(go())
    finally:
        listener.close()
        for peer in accepted:
            peer.close()
    assert failed is httpcore.WriteTimeout
    assert fileno == -1  # the socket is gone, unsent bytes and all (not held for the peer)


def test_the_kernels_own_timeout_is_a_failure_not_our_time_limit(
    local_server: LocalServer,
) -> None:
    async def go() -> type[BaseException]:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", local_server.port, timeout=5)
        assert isinstance(stream, AsyncioStream)
        # what the reader gets when TCP gives up on a dead peer (ETIMEDOUT): no local test
        # can make the kernel do that, so the error is handed to the stream's own reader
        stream._reader.set_exception(TimeoutError(errno.ETIMEDOUT, "Connection timed out"))
        try:
            await stream.read(1024, timeout=30)
        except httpcore.NetworkError as exc:
            return type(exc)
        finally:
            await stream.aclose()
        raise AssertionError("the read did not fail")

    assert asyncio.run(go()) is httpcore.ReadError  # as anyio reports it: not ReadTimeout
