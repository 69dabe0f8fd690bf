"""When the live web fails: find the source in an existing web archive.

A source whose cited URL and alternates all fail (gone, blocked, unreachable, suspect)
is looked up in web archives, and the copy found is captured like any page, as method
``memento``. Three lookups, in order, stopping at the first that finds something:

1. the **TimeMap** (RFC 7089 §5, ``application/link-format``) of the original URL: every
   memento the archive (or an aggregator such as Time Travel) knows, with its datetime;
2. the **TimeGate** (RFC 7089 §4): ``Accept-Datetime`` negotiation, answered by a
   redirect to the memento closest to the datetime asked for;
3. the Wayback Machine's **availability API**: ``?url=…&timestamp=YYYYMMDDhhmmss``
   answered by ``{"archived_snapshots": {"closest": {"url", "timestamp", …}}}``.

Which memento: the one closest to the footnote's access date ("accessed …", 「閲覧日」,
«дата обращения»), else the first on or after the source's publication date, else the
newest (:func:`fallback_target`; the formats and the choice are :mod:`citearchive.capture.memento`).
Wayback-style replay URLs are fetched in raw mode (``/web/<ts>id_/<url>``: the page as
archived, without the replay banner); a banner that is there anyway is cut before
extraction.

Archives are shared public services: every request to one goes through a limiter with one
slot per archive host (:func:`archive_limiter`), 429/503 answers are retried after their
``Retry-After`` (capped by ``Settings.max_retry_after``), and a refusal is said in so many
words ("web archive refused: HTTP 403 from web.archive.org"). A public archive is never
asked about a private URL (``127.0.0.1``, ``.local``, ``.test`` …): it cannot hold one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from ..config import Settings
from ..sources.manifest import Manifest, Source
from ..warc.httpmeta import decode_headers, describe_error, header_value
from .fetch import REDIRECT_STATUSES, FetchResult
from .memento import (
    REPLAY_URL,
    Memento,
    Target,
    format_http_datetime,
    http_datetime,
    mementos_from_timemap,
    parse_link_format,
    parse_wayback_timestamp,
    wayback_closest,
    wayback_timestamp,
)
from .politeness import RETRY_STATUSES, HostLimiter, Sleep, backoff_delay, parse_retry_after

LINK_FORMAT = "application/link-format"
REFUSED = frozenset({401, 403, 407, 451})  # the archive says no (429 is "not now")
# Host name endings that never resolve on the public internet (RFC 6761, 6762, 8375).
PRIVATE_SUFFIXES = (
    ".localhost", ".local", ".test", ".invalid", ".example", ".internal", ".lan",
    ".home.arpa", ".onion",
)  # fmt: skip


def fallback_target(manifest: Manifest, source: Source) -> Target:
    """The footnote's access date (the earliest, when several footnotes cite the source),
    else the source's publication date, else "newest"."""
    accessed = sorted(
        f.accessed
        for f in manifest.all_footnotes
        if f.accessed and f.document == source.document and f.number in source.footnotes
    )
    if accessed:
        return Target("accessed", accessed[0])
    if source.published:
        return Target("published", source.published)
    return Target()


# --- who may be asked ----------------------------------------------------------------------


def is_public_url(url: str) -> bool:
    """True when the URL's host can be on the public internet (a public archive's reach)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        pass
    return "." in host and not host.endswith(PRIVATE_SUFFIXES)


def may_ask(endpoint: str, url: str) -> bool:
    """An archive may hold ``url`` if the URL is public, or the archive is private too."""
    return bool(endpoint) and (is_public_url(url) or not is_public_url(endpoint))


def archive_limiter(settings: Settings) -> HostLimiter:
    """One request at a time per archive host, spaced by ``host_delay``."""
    return HostLimiter(replace(settings, per_host=1))


# --- lookups -------------------------------------------------------------------------------


@dataclass
class _Answer:
    """One lookup request's outcome (after retries and, when asked, redirects)."""

    url: str
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    error: str | None = None  # network failure, in words
    attempts: int = 0

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)


@dataclass
class Lookup:
    """What the archives said about one URL: mementos found, or why none were."""

    original: str
    mementos: list[Memento] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # "web archive refused: HTTP 403 from …"
    problems: list[str] = field(default_factory=list)  # "timemap: HTTP 404", …
    last_url: str | None = None  # of the last lookup request
    status_code: int | None = None  # of the refusal, else of the last lookup
    attempts: int = 0

    @property
    def error(self) -> str:
        """One line: the refusal first, then what the other lookups said."""
        others = "; ".join(self.problems)
        if self.refusals:
            rest = f"; no archived copy elsewhere ({others})" if others else ""
            return self.refusals[0] + rest
        return f"no archived copy found ({others or 'no archive asked'})"


def refusal(status: int | None, url: str) -> str | None:
    """The words for an archive saying no (401/403/407/451) or "slow down" (429)."""
    host = urlsplit(url).hostname or url
    if status in REFUSED:
        return f"web archive refused: HTTP {status} from {host}"
    if status == 429:
        return f"web archive refused: HTTP 429 from {host} (rate limit; try again later)"
    return None


async def find_mementos(
    client: httpx.AsyncClient,
    original: str,
    target: Target,
    settings: Settings,
    limiter: HostLimiter,
    *,
    sleep: Sleep = asyncio.sleep,
) -> Lookup | None:
    """Ask the configured archives for mementos of ``original`` (TimeMap, then TimeGate,
    then the availability API, stopping at the first that finds any).

    None when no archive may be asked (all endpoints off, or a private URL and public
    archives). Never raises for a network or HTTP failure: see ``Lookup.error``.
    """
    original = original.split("#", 1)[0]
    steps = [
        (settings.memento_timemap, _timemap),
        (settings.memento_timegate, _timegate),
        (settings.wayback_available, _wayback),
    ]
    steps = [(endpoint, step) for endpoint, step in steps if may_ask(endpoint, original)]
    if not steps:
        return None
    lookup = Lookup(original)
    for endpoint, step in steps:
        await step(client, endpoint, lookup, target, settings, limiter, sleep)
        if lookup.mementos:
            break
    return lookup


async def _timemap(
    client: httpx.AsyncClient, endpoint: str, lookup: Lookup, target: Target,
    settings: Settings, limiter: HostLimiter, sleep: Sleep,
) -> None:  # fmt: skip
    url = endpoint + lookup.original
    answer = await _get(client, url, settings, limiter, sleep, {"Accept": LINK_FORMAT})
    if _failed(lookup, "timemap", answer):
        return
    text = answer.body.decode("utf-8", errors="replace")
    links = parse_link_format(text, base=answer.url)
    lookup.mementos = mementos_from_timemap(links, lookup.original)
    if not lookup.mementos:
        lookup.problems.append(f"timemap at {_host(url)}: no mementos")


async def _timegate(
    client: httpx.AsyncClient, endpoint: str, lookup: Lookup, target: Target,
    settings: Settings, limiter: HostLimiter, sleep: Sleep,
) -> None:  # fmt: skip
    url = endpoint + lookup.original
    headers = {}
    when = target.instant()
    if when is not None:
        headers["Accept-Datetime"] = format_http_datetime(when)
    answer = await _get(client, url, settings, limiter, sleep, headers, follow=False)
    if _failed(lookup, "timegate", answer, ok=REDIRECT_STATUSES):
        return
    links = parse_link_format(answer.header("link") or "", base=answer.url)
    own = next((lk.uri for lk in links if "original" in lk.rels), lookup.original)
    location = answer.header("location")
    if answer.status in REDIRECT_STATUSES and location:
        memento_url = urljoin(answer.url, location)
    elif answer.header("memento-datetime"):  # the TimeGate is the memento (RFC 7089 §4.1.2)
        memento_url = urljoin(answer.url, answer.header("content-location") or answer.url)
    else:
        lookup.problems.append(f"timegate at {_host(url)}: HTTP {answer.status}, no memento")
        return
    when_m = http_datetime(answer.header("memento-datetime"))
    for lk in links:
        if lk.uri == memento_url and "memento" in lk.rels and when_m is None:
            when_m = http_datetime(lk.params.get("datetime"))
    if when_m is None and (m := REPLAY_URL.match(memento_url)):
        when_m = parse_wayback_timestamp(m.group("ts"))
    lookup.mementos = [Memento(memento_url, when_m, own, "timegate")]


async def _wayback(
    client: httpx.AsyncClient, endpoint: str, lookup: Lookup, target: Target,
    settings: Settings, limiter: HostLimiter, sleep: Sleep,
) -> None:  # fmt: skip
    query = {"url": lookup.original}
    when = target.instant()
    if when is not None:
        query["timestamp"] = wayback_timestamp(when)
    url = endpoint + ("&" if "?" in endpoint else "?") + urlencode(query)
    answer = await _get(client, url, settings, limiter, sleep, {"Accept": "application/json"})
    if _failed(lookup, "wayback", answer):
        return
    try:
        data = json.loads(answer.body)
    except ValueError:
        lookup.problems.append(f"wayback at {_host(url)}: not JSON")
        return
    found = wayback_closest(data, lookup.original)
    if found is None:
        lookup.problems.append(f"wayback at {_host(url)}: no snapshot")
    else:
        lookup.mementos = [found]


def _failed(lookup: Lookup, step: str, answer: _Answer, ok: Iterable[int] = ()) -> bool:
    """Record a lookup that got no usable answer; True when it failed."""
    lookup.last_url = answer.url
    lookup.attempts += answer.attempts
    if not lookup.refusals:  # the first refusal's status is the one the row keeps
        lookup.status_code = answer.status
    host = _host(answer.url)
    if answer.error is not None:
        lookup.problems.append(f"{step} at {host}: web archive unreachable: {answer.error}")
        return True
    refused = refusal(answer.status, answer.url)
    if refused is not None:
        lookup.refusals.append(refused)
        return True
    status = answer.status or 0
    if 200 <= status < 300 or status in set(ok):
        return False
    lookup.problems.append(f"{step} at {host}: HTTP {status}")
    return True


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


async def _get(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    limiter: HostLimiter,
    sleep: Sleep,
    headers: dict[str, str],
    *,
    follow: bool = True,
) -> _Answer:
    """GET ``url`` politely: the archive's one slot, retries after 429/5xx as the archive
    asks (``Retry-After``, capped), redirects followed when ``follow``."""
    headers = {"Accept-Encoding": "gzip, deflate", **headers}
    attempts = 0
    for _ in range(settings.max_redirects + 1):
        retry = 1
        while True:
            answer = await _get_once(client, url, settings, limiter, headers)
            attempts += 1
            wait = _retry_wait(answer, retry, settings)
            if wait is None:
                break
            await sleep(wait)
            retry += 1
        location = answer.header("location")
        if not follow or answer.status not in REDIRECT_STATUSES or not location:
            break
        url = urljoin(url, location)
    answer.attempts = attempts
    return answer


def _retry_wait(answer: _Answer, retry: int, settings: Settings) -> float | None:
    """Seconds to wait before asking again, or None not to retry."""
    if answer.status not in RETRY_STATUSES or retry >= settings.max_attempts:
        return None
    asked = parse_retry_after(answer.header("retry-after"), dt.datetime.now(dt.UTC))
    if asked is not None and asked > settings.max_retry_after:
        return None
    return max(backoff_delay(settings, retry), asked or 0.0)


async def _get_once(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    limiter: HostLimiter,
    headers: dict[str, str],
) -> _Answer:
    answer = _Answer(url)
    try:
        async with limiter.slot(url), asyncio.timeout(settings.deadline):
            request = client.build_request("GET", url, headers=headers)
            response = await client.send(request, stream=True)
            try:
                answer.status = response.status_code
                answer.headers = decode_headers(response.headers.raw)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > settings.max_bytes:
                        answer.error = f"answer larger than {settings.max_bytes} bytes"
                        break
                answer.body = bytes(body)
            finally:
                await response.aclose()
    except TimeoutError:
        answer.error = f"no answer within {settings.deadline:g} s"
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        answer.error = describe_error(exc, url, settings).words
    return answer


# --- the capture row -----------------------------------------------------------------------


def memento_columns(memento: Memento, target: Target, result: FetchResult) -> dict[str, Any]:
    """The ``captures`` columns of a memento capture, and the archive's refusal if any.

    The final response's ``Memento-Datetime`` and ``Link: rel="original"`` are the
    archive's own word; the lookup's values stand in when the response lacks them.
    """
    final = result.exchanges[-1] if result.exchanges else None
    headers = final.response_headers if final else []
    when = http_datetime(header_value(headers, "memento-datetime")) or memento.datetime
    links = parse_link_format(header_value(headers, "link") or "", base=result.final_url)
    original = next((lk.uri for lk in links if "original" in lk.rels), memento.original)
    columns: dict[str, Any] = {
        "memento_datetime": _iso(when) if when else None,
        "original_url": original,
        "archive_name": memento.archive,
        "memento_basis": target.label,
    }
    refused = refusal(result.status_code, result.final_url)
    if refused is not None:
        columns["error"] = refused
    return columns


def lookup_failure_row(lookup: Lookup, target: Target) -> dict[str, Any]:
    """The ``captures`` columns recording a fallback that found nothing (no WARC record)."""
    url = lookup.last_url or lookup.original
    return {
        "requested_url": url, "url": url, "method": "memento",
        "status_code": lookup.status_code, "error": lookup.error, "error_kind": "memento",
        "original_url": lookup.original, "archive_name": _host(url),
        "memento_basis": target.label, "attempts": lookup.attempts,
    }  # fmt: skip


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


__all__ = [
    "Lookup",
    "archive_limiter",
    "fallback_target",
    "find_mementos",
    "is_public_url",
    "lookup_failure_row",
    "may_ask",
    "memento_columns",
    "refusal",
]
