"""Politeness: how many requests run at once, how often one host is asked, when to retry.

A capture run must not hammer a site: ``HostLimiter`` caps requests in flight (globally and per
host) and spaces the starts of requests to one host by ``Settings.host_delay`` seconds. The
retry policy (which statuses are worth another try, how long to wait, what a server's
``Retry-After`` means) lives here too, so ``fetch`` only asks "retry, and after how long?".
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from ..config import Settings

# Statuses that say "try again later" rather than "no".
RETRY_STATUSES = frozenset({429, 502, 503, 504})

Sleep = Callable[[float], Awaitable[object]]


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks us to wait (delay-seconds or an HTTP date).

    None when the header is absent or unreadable; a date in the past means 0.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_delay(settings: Settings, retry: int) -> float:
    """The wait before retry number ``retry`` (1 = the first): backoff, 2×backoff, 4×backoff…"""
    return float(settings.backoff * 2 ** (retry - 1))


def retry_delay(
    settings: Settings,
    attempt: int,
    retry_after: str | None,
    now: datetime,
    time_left: float | None,
) -> tuple[float | None, str | None]:
    """Whether to retry a request that failed in a retryable way, and after how long.

    ``attempt`` is the number of tries so far, ``retry_after`` the server's header (if
    any), ``time_left`` the seconds until the capture's deadline. Returns ``(delay,
    None)`` to retry, or ``(None, why_not)`` when retrying is not allowed or pointless.
    """
    server_wait = parse_retry_after(retry_after, now)
    if attempt >= settings.max_attempts:
        return None, f"after {attempt} attempts"
    if server_wait is not None and server_wait > settings.max_retry_after:
        return None, (
            f"server asked to retry after {server_wait:g} s, "
            f"more than the {settings.max_retry_after:g} s allowed"
        )
    delay = max(backoff_delay(settings, attempt), server_wait or 0.0)
    if time_left is not None and delay >= time_left:
        return None, f"not retried: a {delay:g} s wait would pass the deadline"
    return delay, None


def host_key(url: str) -> str:
    """The host a URL's requests count against (lower-case host name, port ignored)."""
    return (urlsplit(url).hostname or "").lower()


@dataclass
class _Host:
    slots: asyncio.Semaphore
    last_start: float = field(default=-math.inf)


class HostLimiter:
    """Global and per-host concurrency, plus a polite pause between starts to one host.

    ``async with limiter.slot(url):`` waits until (1) fewer than ``settings.per_host``
    requests to the URL's host are in flight, (2) at least ``settings.host_delay`` seconds
    have passed since the last request to that host started, and (3) fewer than
    ``settings.concurrency`` requests are in flight overall. A request waiting for its host's
    pause does not hold a global slot, so one slow host never starves the others.

    ``clock`` and ``sleep`` are injectable so tests can run on a fake clock. Use one limiter
    per event loop (its semaphores bind to the loop that first uses them).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._global = asyncio.Semaphore(max(1, settings.concurrency))
        self._hosts: dict[str, _Host] = {}

    def _host(self, url: str) -> _Host:
        key = host_key(url)
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host(asyncio.Semaphore(max(1, self._settings.per_host)))
        return host

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        """Hold one request slot for ``url``'s host for the duration of the block."""
        host = self._host(url)
        async with host.slots:
            await self._take_turn(host)
            try:
                yield
            finally:
                self._global.release()

    async def _take_turn(self, host: _Host) -> None:
        """Wait out the host's pause, then take a global slot; returns holding it."""
        delay = self._settings.host_delay
        while True:
            wait = host.last_start + delay - self._clock()
            if wait > 0:
                await self._sleep(wait)
                continue
            await self._global.acquire()
            # No await between this check and the assignment: no other task can interleave.
            if self._clock() >= host.last_start + delay:
                host.last_start = self._clock()
                return
            self._global.release()  # another request to this host started meanwhile
