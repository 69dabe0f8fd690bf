"""fetch against a real HTTP server on 127.0.0.1, with the real httpx client.

Every hostile case a capture run meets on the open web, served for real: redirect chains and
loops, 404s, endless bodies, gzip bombs, servers that drip or hang or hang up, 429/503 with
Retry-After, refused connections, DNS failure. Retry waits go through an injected ``sleep``
that records the delay instead of waiting.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import socket
import time
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from citearchive.capture.fetch import ACCEPT, FetchResult, fetch, make_client
from citearchive.capture.politeness import HostLimiter, parse_retry_after
from citearchive.config import Settings
from localserver import (
    Handler,
    LocalServer,
    Request,
    close_early,
    drip,
    endless,
    gzip_bomb,
    hang,
    local_server,
    no_response,
    redirect,
    respond,
    retry_after,
    sequence,
)

__all__ = ["local_server"]  # the fixture, imported for pytest

MB = 1_000_000
FAST = Settings(
    connect_timeout=2.0, read_timeout=5.0, deadline=10.0, max_bytes=MB, backoff=0.5, host_delay=0
)


def run(
    url: str,
    settings: Settings = FAST,
    *,
    delays: list[float] | None = None,
    limiter: HostLimiter | None = None,
    now: datetime | None = None,
) -> FetchResult:
    """One capture with a fresh client; retry waits are recorded in ``delays``, not slept."""

    async def record(seconds: float) -> None:
        if delays is not None:
            delays.append(seconds)

    async def go() -> FetchResult:
        async with make_client(settings) as client:
            kwargs = {"now": (lambda: now)} if now is not None else {}
            return await fetch(client, url, settings, limiter=limiter, sleep=record, **kwargs)

    return asyncio.run(go())


# -- plain pages --------------------------------------------------------------------------


def test_page_is_recorded_with_headers_as_sent_and_received(local_server: LocalServer) -> None:
    headers = [("Set-Cookie", "a=1"), ("X-Order", "first"), ("Set-Cookie", "b=2")]
    local_server.route("/page", respond("<p>Привет</p>".encode(), headers=headers))

    result = run(local_server.url("/page"))

    assert result.error is None and result.error_kind is None
    assert result.status_code == 200
    assert result.body == "<p>Привет</p>".encode()
    assert result.content_type == "text/html; charset=utf-8"
    assert result.final_url == result.requested_url == local_server.url("/page")
    assert result.attempts == 1 and result.redirects == []
    assert result.peer_ip == "127.0.0.1" and result.tls is None
    (exchange,) = result.exchanges
    assert exchange.http_version == "HTTP/1.1" and exchange.reason == "OK"
    assert exchange.raw_body == exchange.body
    assert exchange.started_at.tzinfo is UTC
    assert [h for h in exchange.response_headers if h[0] in ("Set-Cookie", "X-Order")] == headers
    sent = dict(exchange.request_headers)
    assert sent["User-Agent"] == FAST.user_agent
    assert sent["Accept-Encoding"] == "gzip, deflate"
    assert sent["Accept"] == ACCEPT and ACCEPT.startswith("text/html")
    seen = local_server.requests[0]
    assert seen.header("user-agent") == FAST.user_agent
    assert seen.header("accept-encoding") == "gzip, deflate"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw"])
def test_content_encoding_is_undone_but_raw_bytes_kept(
    local_server: LocalServer, encoding: str
) -> None:
    page = b"<html><body>" + "Текст статьи. 本文。".encode() * 500 + b"</body></html>"
    local_server.route("/z", respond(page, encoding=encoding))

    result = run(local_server.url("/z"))

    assert result.error is None
    assert result.body == page
    exchange = result.exchanges[0]
    assert len(exchange.raw_body) < len(page)  # the compressed bytes, for the WARC record
    sent_as = "gzip" if encoding == "gzip" else "deflate"
    assert dict(exchange.response_headers)["Content-Encoding"] == sent_as


def test_concatenated_gzip_members_are_one_body(local_server: LocalServer) -> None:
    wire = gzip.compress(b"first half, ") + gzip.compress(b"second half")
    local_server.route("/two", (200, {"Content-Encoding": "gzip"}, wire))

    result = run(local_server.url("/two"))

    assert result.error is None
    assert result.body == b"first half, second half"
    assert result.exchanges[0].raw_body == wire


def test_corrupt_gzip_is_a_decode_error(local_server: LocalServer) -> None:
    local_server.route("/bad", (200, {"Content-Encoding": "gzip"}, b"this is not gzip at all"))

    result = run(local_server.url("/bad"))

    assert result.error_kind == "decode"
    assert "could not undo Content-Encoding gzip" in (result.error or "")
    assert result.exchanges[0].raw_body == b"this is not gzip at all"


def test_unknown_content_encoding_is_a_decode_error(local_server: LocalServer) -> None:
    local_server.route("/zstd", (200, {"Content-Encoding": "zstd"}, b"\x28\xb5\x2f\xfd"))

    result = run(local_server.url("/zstd"))

    assert result.error_kind == "decode"
    assert result.error == "unsupported Content-Encoding: zstd"


def _in_pieces(pieces: list[bytes], encoding: str) -> Handler:
    """A chunked response sent piece by piece, with a pause after each (one read each)."""

    def handler(request: Request) -> None:
        headers = [("Content-Type", "text/html"), ("Content-Encoding", encoding)]
        request.start(200, headers, chunked=True)
        for piece in pieces:
            request.write(piece)
            request.sleep(0.05)
        request.end()

    return handler


@pytest.mark.parametrize("case", ["raw-deflate", "gzip-then-junk"])
def test_decoding_does_not_depend_on_how_the_network_cut_the_body(
    local_server: LocalServer, case: str
) -> None:
    """Raw deflate whose first read is one byte; junk after a gzip member, cut after one byte."""
    page = b"<html><body>" + "Текст статьи. ".encode() * 50 + b"</body></html>"
    if case == "raw-deflate":
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        wire, encoding = comp.compress(page) + comp.flush(), "deflate"
        pieces = [wire[:1], wire[1:]]
    else:
        wire, encoding = gzip.compress(page) + b"<!-- junk -->", "gzip"
        pieces = [wire[:-13], wire[-13:-12], wire[-12:]]
    local_server.route("/cut", _in_pieces(pieces, encoding))

    result = run(local_server.url("/cut"))

    assert result.error is None, result.error
    assert result.body == page
    assert result.exchanges[0].raw_body == wire


def test_not_found_keeps_exchange_and_body(local_server: LocalServer) -> None:
    local_server.route("/gone", respond(b"<h1>Page not found</h1>", status=404))

    result = run(local_server.url("/gone"))

    assert result.error == "HTTP 404 Not Found"
    assert result.error_kind == "http"
    assert result.status_code == 404
    assert result.body == b"<h1>Page not found</h1>"
    assert len(result.exchanges) == 1 and result.attempts == 1


# -- redirects ------------------------------------------------------------------------------


def test_redirect_chain_is_followed_hop_by_hop(local_server: LocalServer) -> None:
    local_server.route("/start", redirect("/middle", 301))
    local_server.route("/middle", redirect("end?x=1#frag", 307))  # relative to /middle
    local_server.route("/end", respond(b"arrived"))

    result = run(local_server.url("/start"))

    assert result.error is None
    assert result.body == b"arrived"
    assert result.final_url == local_server.url("/end?x=1")
    assert [e.status_code for e in result.exchanges] == [301, 307, 200]
    assert [e.url for e in result.exchanges] == [
        local_server.url("/start"),
        local_server.url("/middle"),
        local_server.url("/end?x=1"),
    ]
    assert result.redirects == [
        {"url": local_server.url("/start"), "status": 301, "location": "/middle"},
        {"url": local_server.url("/middle"), "status": 307, "location": "end?x=1#frag"},
    ]
    assert result.attempts == 1


def test_redirect_loop_is_named(local_server: LocalServer) -> None:
    local_server.route("/a", redirect("/b"))
    local_server.route("/b", redirect("/a"))

    result = run(local_server.url("/a"))

    a, b = local_server.url("/a"), local_server.url("/b")
    assert result.error_kind == "redirect-loop"
    assert result.error == f"redirect loop: {a} -> {b} -> {a}"
    assert len(result.exchanges) == 2
    assert local_server.hits("/a") == 1  # the loop was seen before asking again


def test_too_many_redirects(local_server: LocalServer) -> None:
    def hop(request: Request) -> None:
        n = int(request.path.rsplit("/", 1)[1])
        request.send(302, {"Location": f"/hop/{n + 1}"})

    for n in range(10):
        local_server.route(f"/hop/{n}", hop)

    result = run(local_server.url("/hop/0"), Settings(max_redirects=3, deadline=10))

    assert result.error_kind == "too-many-redirects"
    assert result.error == "too many redirects (more than 3)"
    assert len(result.exchanges) == 4  # the first request and three redirects followed
    assert len(result.redirects) == 4
    assert result.status_code == 302


def test_redirect_to_another_scheme_is_refused(local_server: LocalServer) -> None:
    local_server.route("/ftp", redirect("ftp://files.example.org/report.pdf"))

    result = run(local_server.url("/ftp"))

    assert result.error_kind == "invalid-url"
    assert "ftp://files.example.org/report.pdf" in (result.error or "")
    assert len(result.exchanges) == 1


def test_redirect_without_location_is_the_final_answer(local_server: LocalServer) -> None:
    local_server.route("/moved", (302, {}, b"moved somewhere"))

    result = run(local_server.url("/moved"))

    assert result.error == "HTTP 302 Found"
    assert result.error_kind == "http"
    assert result.body == b"moved somewhere"


# -- size caps and memory -----------------------------------------------------------------


def _peak_memory_of(server: LocalServer, path: str) -> tuple[FetchResult, int]:
    """Fetch ``path`` and measure the peak of Python memory (this process, server included)."""
    server.route("/warm-up", respond(b"ok"))

    async def go() -> tuple[FetchResult, int]:
        async with make_client(FAST) as client:
            await fetch(client, server.url("/warm-up"), FAST)  # imports and TLS setup done
            tracemalloc.start()
            try:
                result = await fetch(client, server.url(path), FAST)
                return result, tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    return asyncio.run(go())


@pytest.mark.parametrize(
    "route",
    [
        pytest.param(endless(), id="endless-chunked"),
        pytest.param(endless(content_length=2_000_000_000), id="2GB-declared"),
        pytest.param(gzip_bomb("gzip"), id="gzip-bomb"),
        pytest.param(gzip_bomb("deflate"), id="deflate-bomb"),
    ],
)
def test_oversized_body_is_cut_at_the_cap_without_growing_memory(
    local_server: LocalServer, route: object
) -> None:
    local_server.route("/big", route)  # type: ignore[arg-type]

    result, peak = _peak_memory_of(local_server, "/big")

    assert result.error_kind == "too-large"
    assert result.error == "body larger than the 1 MB cap"
    assert result.status_code == 200
    assert len(result.body) == MB  # kept up to the cap: evidence, marked truncated
    exchange = result.exchanges[0]
    assert exchange.truncated
    assert len(exchange.raw_body) <= MB
    # A bomb chunk inflated without a bound is ~64 MB; the cap keeps us to a few MB.
    assert peak < 6 * MB, f"peak traced memory {peak / MB:.1f} MB"


def test_raw_bytes_are_capped_even_when_they_decode_to_nothing(local_server: LocalServer) -> None:
    # A zlib header, then empty stored blocks: 5 raw bytes each that decode to nothing.
    wire = b"\x78\x01" + b"\x00\x00\x00\xff\xff" * 60_000
    local_server.route("/empty-blocks", (200, {"Content-Encoding": "deflate"}, wire))

    result = run(local_server.url("/empty-blocks"), Settings(max_bytes=100_000, deadline=10))

    assert len(wire) > 100_000
    assert result.error_kind == "too-large"
    assert len(result.exchanges[0].raw_body) == 100_000
    assert result.body == b""


def test_endless_handler_stops_when_the_client_hangs_up(local_server: LocalServer) -> None:
    local_server.route("/forever", endless())

    result = run(local_server.url("/forever"))

    assert result.error_kind == "too-large"
    give_up = time.monotonic() + 2
    while local_server.open_connections() and time.monotonic() < give_up:
        time.sleep(0.01)
    assert local_server.open_connections() == 0


def test_server_closes_quickly_while_a_handler_is_mid_body() -> None:
    server = LocalServer()
    server.route("/slow", drip(b"x" * 1000, delay=10.0))
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200 OK")

        started = time.monotonic()
        server.close()

        assert time.monotonic() - started < 1.0
        assert server.open_connections() == 0


# -- time limits --------------------------------------------------------------------------


def test_deadline_stops_a_server_dripping_bytes(local_server: LocalServer) -> None:
    local_server.route("/drip", drip(b"x" * 100, delay=0.1))
    settings = Settings(deadline=1.0, read_timeout=30.0)

    started = time.monotonic()
    result = run(local_server.url("/drip"), settings)
    elapsed = time.monotonic() - started

    assert result.error_kind == "deadline"
    assert result.error == "capture took longer than the 1 s deadline"
    assert elapsed < 2.5
    exchange = result.exchanges[0]
    assert exchange.truncated and exchange.error == result.error
    assert 0 < len(exchange.body) < 100
    assert exchange.raw_body == exchange.body


def test_read_timeout_when_the_server_goes_silent(local_server: LocalServer) -> None:
    local_server.route("/silent", hang(send_headers=True))

    result = run(local_server.url("/silent"), Settings(read_timeout=0.3, deadline=10))

    assert result.error_kind == "timeout"
    assert result.error == "127.0.0.1 sent nothing for 0.3 s (read timeout)"
    assert result.status_code == 200
    assert result.exchanges[0].truncated
    assert result.attempts == 1  # a read timeout is not retried


def test_read_timeout_before_any_response(local_server: LocalServer) -> None:
    local_server.route("/mute", hang(send_headers=False))

    result = run(local_server.url("/mute"), Settings(read_timeout=0.3, deadline=10))

    assert result.error_kind == "timeout"
    assert result.status_code is None
    assert result.body == b""
    assert not result.exchanges[0].truncated


# -- broken connections ---------------------------------------------------------------------


def test_server_hanging_up_mid_body(local_server: LocalServer) -> None:
    local_server.route("/cut", close_early(b"<html><body>half a pa", declared=1000))

    result = run(local_server.url("/cut"))

    assert result.error_kind == "network"
    assert "127.0.0.1" in (result.error or "")
    exchange = result.exchanges[0]
    assert exchange.status_code == 200 and exchange.truncated
    assert exchange.body == b"<html><body>half a pa"


def test_server_closing_without_a_response(local_server: LocalServer) -> None:
    local_server.route("/hangup", no_response())

    result = run(local_server.url("/hangup"))

    assert result.error_kind == "network"
    assert result.status_code is None
    assert result.exchanges[0].request_headers  # what we sent is still on record


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    delays: list[float] = []

    result = run(f"http://127.0.0.1:{port}/", delays=delays)

    assert result.error_kind == "refused"
    assert result.error == f"connection refused by 127.0.0.1:{port} (after 3 attempts)"
    assert [e.error for e in result.exchanges] == [f"connection refused by 127.0.0.1:{port}"] * 3
    assert all(e.status_code is None for e in result.exchanges)
    assert delays == [0.5, 1.0]
    assert result.attempts == 3


def test_dns_failure_is_named_and_not_retried() -> None:
    # An empty label: the resolver library rejects it without sending a query.
    delays: list[float] = []
    result = run("http://no-such-host..invalid/page", delays=delays)

    assert result.error_kind == "dns"
    assert result.error == "DNS lookup failed for no-such-host..invalid"
    assert result.attempts == 1 and delays == []


@pytest.mark.parametrize(
    "url", ["ftp://example.org/file", "not a url", "http://", "mailto:someone@example.org"]
)
def test_invalid_url_makes_no_request(url: str) -> None:
    result = run(url)

    assert result.error_kind == "invalid-url"
    assert url in (result.error or "")
    assert result.exchanges == [] and result.attempts == 0


# -- retries ----------------------------------------------------------------------------------


def test_transient_errors_are_retried_with_backoff(local_server: LocalServer) -> None:
    local_server.route("/flaky", sequence((503, {}, b"busy"), (502, {}, b"bad"), (200, {}, b"ok")))
    delays: list[float] = []

    result = run(local_server.url("/flaky"), delays=delays)

    assert result.error is None and result.body == b"ok"
    assert [e.status_code for e in result.exchanges] == [503, 502, 200]
    assert delays == [0.5, 1.0]  # backoff, doubled
    assert result.attempts == 3
    assert local_server.hits("/flaky") == 3


def test_gives_up_after_max_attempts(local_server: LocalServer) -> None:
    local_server.route("/down", (503, {}, b"down for maintenance"))
    delays: list[float] = []

    result = run(local_server.url("/down"), delays=delays)

    assert result.error == "HTTP 503 Service Unavailable (after 3 attempts)"
    assert result.error_kind == "http"
    assert len(result.exchanges) == 3 and local_server.hits("/down") == 3
    assert result.body == b"down for maintenance"
    assert delays == [0.5, 1.0]


def test_retry_after_seconds_is_honoured(local_server: LocalServer) -> None:
    local_server.route("/slow-down", sequence(retry_after(7, status=429), (200, {}, b"ok")))
    delays: list[float] = []

    result = run(local_server.url("/slow-down"), delays=delays)

    assert result.error is None and result.attempts == 2
    assert delays == [7.0]


def test_retry_after_http_date_is_honoured(local_server: LocalServer) -> None:
    now = datetime(2025, 8, 16, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=20), usegmt=True)
    local_server.route("/date", sequence(retry_after(later), (200, {}, b"ok")))
    delays: list[float] = []

    result = run(local_server.url("/date"), Settings(deadline=60), delays=delays, now=now)

    assert result.error is None
    assert delays == [20.0]


def test_retry_after_beyond_the_cap_is_not_waited_for(local_server: LocalServer) -> None:
    local_server.route("/later", retry_after(3600))
    delays: list[float] = []

    result = run(local_server.url("/later"), delays=delays)

    assert delays == [] and result.attempts == 1
    assert result.error == (
        "HTTP 503 Service Unavailable "
        "(server asked to retry after 3600 s, more than the 30 s allowed)"
    )


def test_retry_wait_past_the_deadline_is_not_taken(local_server: LocalServer) -> None:
    local_server.route("/wait", retry_after(5))
    delays: list[float] = []

    result = run(local_server.url("/wait"), Settings(deadline=2.0), delays=delays)

    assert delays == [] and result.attempts == 1
    assert result.error_kind == "http"
    assert "would pass the deadline" in (result.error or "")


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Wed, 01 Jan 2025 00:01:00 GMT", now) == 60.0
    assert parse_retry_after("Tue, 31 Dec 2024 00:00:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# -- politeness -----------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def test_host_limiter_spaces_requests_to_one_host() -> None:
    clock = FakeClock()
    settings = Settings(host_delay=2.0, per_host=1, concurrency=8)
    starts: dict[str, list[float]] = {}

    async def one(url: str, limiter: HostLimiter) -> None:
        async with limiter.slot(url):
            starts.setdefault(url.split("/")[2], []).append(clock.now)

    async def go() -> None:
        limiter = HostLimiter(settings, clock=clock, sleep=clock.sleep)
        urls = ["http://a.test/1", "http://A.test:8080/2", "http://b.test/1", "http://a.test/3"]
        await asyncio.gather(*(one(u, limiter) for u in urls))

    asyncio.run(go())

    a_starts = starts["a.test"] + starts["A.test:8080"]
    a_starts.sort()
    assert len(a_starts) == 3
    assert all(later - earlier >= 2.0 for earlier, later in itertools.pairwise(a_starts))
    assert clock.sleeps == [2.0, 2.0]  # only host a's second and third request waited


@pytest.mark.parametrize(
    ("settings", "hosts", "expected"),
    [
        (Settings(concurrency=2, per_host=5, host_delay=0), ["h1", "h2", "h3", "h4", "h5"], 2),
        (Settings(concurrency=10, per_host=2, host_delay=0), ["same"] * 6, 2),
    ],
    ids=["global", "per-host"],
)
def test_host_limiter_caps_requests_in_flight(
    settings: Settings, hosts: list[str], expected: int
) -> None:
    active = peak = 0

    async def one(url: str, limiter: HostLimiter) -> None:
        nonlocal active, peak
        async with limiter.slot(url):
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.01)
            active -= 1

    async def go() -> None:
        limiter = HostLimiter(settings)
        await asyncio.gather(*(one(f"http://{h}.test/", limiter) for h in hosts))

    asyncio.run(go())

    assert peak == expected


def test_limiter_spaces_real_requests_and_its_wait_is_not_deadline(
    local_server: LocalServer,
) -> None:
    local_server.route("/one", respond(b"1"))
    local_server.route("/two", respond(b"2"))
    settings = Settings(host_delay=0.8, deadline=0.5)

    async def go() -> list[FetchResult]:
        limiter = HostLimiter(settings)
        async with make_client(settings) as client:
            return await asyncio.gather(
                fetch(client, local_server.url("/one"), settings, limiter=limiter),
                fetch(client, local_server.url("/two"), settings, limiter=limiter),
            )

    results = asyncio.run(go())

    assert [r.error for r in results] == [None, None]  # the 0.8 s queue was not held against us
    first, second = sorted(r.time for r in local_server.requests)
    assert second - first >= 0.75
