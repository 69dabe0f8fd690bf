"""Capture one URL over HTTP: every hop and retry recorded, every limit enforced.

``fetch`` follows redirects by hand so that each request/response pair becomes an
``Exchange`` (the raw material of a WARC record), reads bodies as a stream so that neither a
2 GB download nor a gzip bomb can grow memory past ``Settings.max_bytes``, and bounds the
whole capture by ``Settings.deadline``. A failure is data, not an exception: the
``FetchResult`` says what went wrong in words (``error``) and as a code (``error_kind``)
and keeps every exchange, because a 404 or a refused connection is evidence of link rot.

    async with make_client(settings) as client:
        result = await fetch(client, "https://example.org/", settings, limiter=limiter)
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..config import Settings
from ..sources.urls import request_url, short_url, url_problem
from ..warc.httpmeta import (
    ACCEPT_ENCODING,
    Failure,
    decode_headers,
    describe_error,
    header_value,
    location_text,
)
from .body import FOLLOWED_BY_HAND, keep_location, read_body, read_head
from .exchange import Exchange, FetchResult, utcnow
from .network import PUBLIC, address_refusal, resolve_scopes
from .politeness import (
    RETRY_STATUSES,
    HostLimiter,
    Sleep,
    retry_delay,
)
from .transport import AsyncioTransport

ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,application/pdf;q=0.8,*/*;q=0.7"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

__all__ = ["ACCEPT", "Exchange", "FetchResult", "HostLimiter", "fetch", "make_client"]


def make_client(settings: Settings, *, verify: bool | ssl.SSLContext = True) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` set up for ``fetch``: our headers, timeouts, no auto-redirects."""
    return httpx.AsyncClient(
        headers={
            "User-Agent": settings.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": ACCEPT_ENCODING,
        },
        timeout=httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.connect_timeout,
        ),
        follow_redirects=False,
        verify=verify,  # for proxies from the environment; the transport has its own
        # one pool per site, keeping as many idle connections as may be in flight to it
        transport=AsyncioTransport(
            verify=verify, limits=httpx.Limits(max_keepalive_connections=settings.per_host)
        ),
    )


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    *,
    limiter: HostLimiter | None = None,
    sleep: Sleep = asyncio.sleep,
    now: Callable[[], datetime] = utcnow,
) -> FetchResult:
    """Capture ``url``: follow redirects, retry what is worth retrying, record everything.

    Never raises for a network or HTTP failure; see ``FetchResult.error``. Time spent
    waiting for a ``limiter`` slot does not count against ``settings.deadline``; retry
    waits do. ``sleep`` and ``now`` are injectable for tests.
    """
    problem = url_problem(url)
    if problem is not None:
        words = f"invalid URL {short_url(url)!r}: {problem}"
        return FetchResult(url, url, [], None, None, b"", words, "invalid-url")
    if keep_location not in client.event_hooks.get("response", []):
        client.event_hooks = {
            **client.event_hooks,
            "response": [*client.event_hooks.get("response", []), keep_location],
        }
    capture = _Capture(client, settings, limiter, sleep, now)
    try:
        async with asyncio.timeout(settings.deadline) as timer:
            capture.timer = timer
            await capture.follow(_without_fragment(request_url(url)))
    except TimeoutError:
        if not capture.timer or not capture.timer.expired():
            raise
        capture.deadline_passed()
    return capture.result(url)


def _without_fragment(url: str) -> str:
    return str(httpx.URL(url).copy_with(fragment=None))


class _Capture:
    """The state of one capture while it runs (kept outside the deadline's scope)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        limiter: HostLimiter | None,
        sleep: Sleep,
        now: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.settings = settings
        self.limiter = limiter
        self.sleep = sleep
        self.now = now
        self.timer: asyncio.Timeout | None = None
        self.exchanges: list[Exchange] = []
        self.redirects: list[dict[str, Any]] = []
        self.retries = 0
        self.inflight: Exchange | None = None  # the exchange a deadline would interrupt
        self.failure: Failure | None = None  # of the last exchange, when it failed
        self.error: tuple[str, str] | None = None  # (kind, words) for the chain as a whole
        self.note: str | None = None  # why the last failure was not retried further
        self.scope: str | None = None  # the network of the cited URL's host (see network.py)
        self.cookies = httpx.Cookies()  # this capture's own: it starts with none (F16)

    # -- the redirect chain ----------------------------------------------------------------

    async def follow(self, url: str) -> None:
        """Request ``url`` and follow its redirects, stopping at the first problem."""
        chain = [url]
        while True:
            exchange = await self.with_retries(url)
            location = location_text(header_value(exchange.response_headers, "location") or "")
            if exchange.error or exchange.status_code not in REDIRECT_STATUSES or not location:
                return
            self.redirects.append(
                {"url": url, "status": exchange.status_code, "location": location}
            )
            target = self._resolve(url, location)
            if target is None:
                return
            if target in chain:
                self.error = ("redirect-loop", "redirect loop: " + " -> ".join([*chain, target]))
                return
            if len(self.redirects) > self.settings.max_redirects:
                words = f"too many redirects (more than {self.settings.max_redirects})"
                self.error = ("too-many-redirects", words)
                return
            chain.append(target)
            url = target

    def _resolve(self, url: str, location: str) -> str | None:
        """The absolute URL a Location points to, or None (and an error) if unusable."""
        scheme = urlsplit(location).scheme.lower()
        if scheme and scheme not in ("http", "https"):
            words = f"redirect to {short_url(location)!r} refused: scheme {scheme!r} is not http"
            self.error = ("invalid-url", words + " or https")
            return None
        try:
            target = _without_fragment(str(httpx.URL(url).join(location)))
        except (httpx.InvalidURL, ValueError) as exc:
            self.error = ("invalid-url", f"redirect to an invalid URL {location!r}: {exc}")
            return None
        problem = url_problem(target)
        if problem is not None:
            self.error = ("invalid-url", f"redirect to {target}: {problem}")
            return None
        return target

    # -- retries -----------------------------------------------------------------------------

    async def with_retries(self, url: str) -> Exchange:
        """Request ``url`` until it answers, or retrying is pointless or not allowed."""
        attempt = 1
        while True:
            exchange = await self.exchange(url)
            delay = self._retry_delay(exchange, attempt)
            if delay is None:
                return exchange
            await self.sleep(delay)
            attempt += 1
            self.retries += 1

    def _retry_delay(self, exchange: Exchange, attempt: int) -> float | None:
        """Seconds to wait before retrying ``exchange``, or None not to retry (see ``note``)."""
        retry_after = None
        if exchange.error is not None:
            if self.failure is None or not self.failure.retryable:
                self.note = None
                return None
        elif exchange.status_code in RETRY_STATUSES:
            retry_after = header_value(exchange.response_headers, "retry-after")
        else:
            self.note = None
            return None
        delay, self.note = retry_delay(
            self.settings, attempt, retry_after, self.now(), self._time_left()
        )
        return delay

    def _time_left(self) -> float | None:
        """Seconds until the deadline, or None when there is none."""
        when = self.timer.when() if self.timer is not None else None
        return None if when is None else when - asyncio.get_running_loop().time()

    # -- one exchange --------------------------------------------------------------------------

    async def exchange(self, url: str) -> Exchange:
        """One request/response, recorded as an ``Exchange`` whatever happens."""
        self.client.cookies.clear()  # a cookie another capture received is not sent (F16)
        request = self.client.build_request("GET", url, cookies=self.cookies)
        FOLLOWED_BY_HAND.add(request)
        exchange = Exchange(
            url=url,
            method="GET",
            request_headers=decode_headers(request.headers.raw),
            http_version="HTTP/1.1",
            status_code=None,
            reason="",
            response_headers=[],
            raw_body=b"",
            body=b"",
            truncated=False,
            peer_ip=None,
            tls=None,
            started_at=self.now(),
        )
        self.exchanges.append(exchange)
        self.inflight = exchange
        self.failure = None
        try:
            async with contextlib.AsyncExitStack() as stack:
                if self.limiter is not None:
                    await self._wait_for_slot(stack, self.limiter, url)
                refusal = await self._refusal(url)
                if refusal is not None:
                    self._fail(exchange, Failure("blocked", refusal, False))
                    self.inflight = None
                    return exchange
                exchange.started_at = self.now()
                response = await self.client.send(request, stream=True)
                stack.push_async_callback(response.aclose)
                read_head(response, exchange)
                if "set-cookie" in response.headers:  # (the jar's parsing costs ~0.1 ms)
                    self.cookies.extract_cookies(response)
                refusal = self._peer_refusal(exchange)
                if refusal is not None:  # the name changed its answer: nothing is kept
                    self._fail(exchange, Failure("blocked", refusal, False))
                    exchange.status_code, exchange.response_headers = None, []
                    exchange.peer_ip = exchange.tls = None
                else:
                    failure = await read_body(response, exchange, self.settings.max_bytes)
                    if failure is not None:
                        self._fail(exchange, failure)
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            self._fail(exchange, describe_error(exc, url, self.settings))
            exchange.truncated = exchange.status_code is not None
        self.inflight = None
        return exchange

    async def _refusal(self, url: str) -> str | None:
        """Why ``url``'s host may not be reached (a public source led inside a network), or
        None; the first hop decides which network the source is in."""
        found = await resolve_scopes(url)
        if not found:
            return None
        if self.scope is None:
            scopes = {where for _, where in found}
            self.scope = PUBLIC if PUBLIC in scopes or len(scopes) > 1 else scopes.pop()
            return None
        return next(
            (why for a, _ in found if (why := address_refusal(a, self.scope, url)) is not None),
            None,
        )

    def _peer_refusal(self, exchange: Exchange) -> str | None:
        """The same rule for the address actually connected to."""
        if exchange.peer_ip is None or self.scope is None:
            return None
        return address_refusal(exchange.peer_ip, self.scope, exchange.url)

    def _fail(self, exchange: Exchange, failure: Failure) -> None:
        self.failure = failure
        exchange.error, exchange.error_kind = failure.words, failure.kind

    async def _wait_for_slot(
        self, stack: contextlib.AsyncExitStack, limiter: HostLimiter, url: str
    ) -> None:
        """Take a limiter slot with the deadline paused: queueing is not the site's fault."""
        when = self.timer.when() if self.timer is not None else None
        if self.timer is None or when is None:
            await stack.enter_async_context(limiter.slot(url))
            return
        loop = asyncio.get_running_loop()
        left = when - loop.time()
        self.timer.reschedule(None)
        try:
            await stack.enter_async_context(limiter.slot(url))
        finally:
            self.timer.reschedule(loop.time() + left)

    # -- the outcome -------------------------------------------------------------------------

    def deadline_passed(self) -> None:
        """The deadline cut the capture short: say so on the interrupted exchange too."""
        words = f"capture took longer than the {self.settings.deadline:g} s deadline"
        self.error = ("deadline", words)
        if self.inflight is not None:
            self.inflight.error, self.inflight.error_kind = words, "deadline"
            self.inflight.truncated = self.inflight.status_code is not None

    def result(self, requested_url: str) -> FetchResult:
        """The ``FetchResult`` for what happened."""
        final = self.exchanges[-1] if self.exchanges else None
        kind, words = self.error or (None, None)
        if words is None and final is not None:
            if final.error is not None:
                kind, words = final.error_kind, final.error
            elif final.status_code is not None and not 200 <= final.status_code < 300:
                kind, words = "http", _status_words(final.status_code, final.reason)
        if words is not None and self.note and kind != "deadline":
            words = f"{words} ({self.note})"
        return FetchResult(
            requested_url=requested_url,
            final_url=final.url if final else requested_url,
            exchanges=self.exchanges,
            status_code=final.status_code if final else None,
            content_type=header_value(final.response_headers, "content-type") if final else None,
            body=final.body if final else b"",
            error=words,
            error_kind=kind,
            redirects=self.redirects,
            attempts=1 + self.retries if self.exchanges else 0,
            peer_ip=final.peer_ip if final else None,
            tls=final.tls if final else None,
        )


def _status_words(status: int, reason: str) -> str:
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"HTTP {status} {reason}".rstrip()
