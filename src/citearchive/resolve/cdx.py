"""A web archive's CDX index (the Wayback Machine's CDX server API) and its replay.

:func:`parse_cdx` reads one response page, in the JSON form (``output=json``: a header
row, then rows, then ``[]`` and ``[resumeKey]``) or the plain form (space-separated
fields, then a blank line and the resume key). It is untrusted input: anything else is
a :class:`CdxFormatError`, never another exception.

:class:`ArchiveIndex` asks one archive, one request at a time: captures under a domain
in a time window (status 200, HTML, collapsed by URL key, paged by resume key, at most
``limit``), and the raw archived page (``<timestamp>id_/<url>``, no replay banner).
A 429 or 503 is retried after its ``Retry-After`` (capped); a total deadline bounds it
all; a connection failure is an :class:`ArchiveUnreachable`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

PLAIN_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")
_TIMESTAMP_DIGITS = 14


class CdxFormatError(ValueError):
    """A CDX response that is neither the JSON nor the plain form."""


class ArchiveUnreachable(ConnectionError):
    """The archive could not be reached (offline, DNS, refused, timed out)."""


@dataclass(frozen=True)
class Capture:
    """One CDX row: the original URL and when the archive captured it."""

    urlkey: str
    timestamp: str  # YYYYMMDDhhmmss (shorter forms padded with zeros)
    original: str
    mimetype: str = ""
    statuscode: str = ""

    @property
    def memento_time(self) -> str:
        t = self.timestamp
        return f"{t[0:4]}-{t[4:6]}-{t[6:8]}T{t[8:10]}:{t[10:12]}:{t[12:14]}Z"


@dataclass(frozen=True)
class CdxPage:
    captures: list[Capture]
    resume_key: str | None = None


def parse_cdx(text: str) -> CdxPage:
    """One CDX response page; CdxFormatError when it is not one."""
    stripped = text.strip()
    if not stripped:
        return CdxPage([])
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except ValueError:
            raise CdxFormatError("CDX JSON does not parse") from None
        return _from_json(data)
    return _from_plain(text)


def _from_json(data: object) -> CdxPage:
    if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
        raise CdxFormatError("CDX JSON is not a list of rows")
    if not data:
        return CdxPage([])
    header = data[0]
    if not all(isinstance(h, str) for h in header):
        raise CdxFormatError("CDX JSON header row is not field names")
    for name in ("urlkey", "timestamp", "original"):
        if name not in header:
            raise CdxFormatError(f"CDX JSON has no '{name}' field")
    rows, resume = data[1:], None
    if len(rows) >= 2 and rows[-2] == [] and len(rows[-1]) == 1:
        resume = rows[-1][0]
        if not isinstance(resume, str):
            raise CdxFormatError("CDX resume key is not a string")
        rows = rows[:-2]
    captures = []
    for row in rows:
        if len(row) != len(header) or not all(isinstance(v, str) for v in row):
            raise CdxFormatError("CDX JSON row does not match the header")
        fields = dict(zip(header, row, strict=True))
        captures.append(_capture(fields))
    return CdxPage(captures, resume or None)


def _from_plain(text: str) -> CdxPage:
    lines = text.splitlines()
    resume = None
    if len(lines) >= 2 and lines[-2].strip() == "" and len(lines[-1].split()) == 1:
        resume, lines = lines[-1].strip(), lines[:-2]
    captures = []
    for line in lines:
        if not line.strip():
            continue
        parts = line.split(" ")
        if len(parts) != len(PLAIN_FIELDS):
            raise CdxFormatError(f"CDX line has {len(parts)} fields, not {len(PLAIN_FIELDS)}")
        captures.append(_capture(dict(zip(PLAIN_FIELDS, parts, strict=True))))
    return CdxPage(captures, resume)


def _capture(fields: dict[str, str]) -> Capture:
    ts = fields["timestamp"]
    if not ts.isascii() or not ts.isdigit() or not 4 <= len(ts) <= _TIMESTAMP_DIGITS:
        raise CdxFormatError(f"CDX timestamp {ts[:20]!r} is not YYYYMMDDhhmmss")
    original = fields["original"]
    if not original or any(c.isspace() for c in original):
        raise CdxFormatError("CDX row has no original URL")
    return Capture(
        urlkey=fields["urlkey"],
        timestamp=ts.ljust(_TIMESTAMP_DIGITS, "0"),
        original=original,
        mimetype=fields.get("mimetype", ""),
        statuscode=fields.get("statuscode", ""),
    )


class ArchiveIndex:
    """One web archive: its CDX endpoint and its replay prefix, asked politely."""

    def __init__(
        self,
        client: httpx.Client,
        cdx: str,
        replay: str,
        *,
        deadline: float,
        max_retry_after: float,
        max_attempts: int = 3,
        page_size: int = 100,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client, self.cdx, self.replay = client, cdx, replay
        self.max_retry_after, self.max_attempts = max_retry_after, max_attempts
        self.page_size = page_size
        self.clock, self.sleep = clock, sleep
        self.ends = clock() + deadline
        self.requests = 0

    @property
    def expired(self) -> bool:
        return self.clock() >= self.ends

    def captures(self, domain: str, start: str, end: str, limit: int) -> Iterator[Capture]:
        """HTML captures with status 200 under ``domain`` between two YYYYMMDD dates."""
        params: dict[str, str | list[str]] = {
            "url": domain, "matchType": "domain", "from": start, "to": end,
            "filter": ["statuscode:200", "mimetype:text/html"], "collapse": "urlkey",
            "output": "json", "limit": str(min(self.page_size, limit)), "showResumeKey": "true",
        }  # fmt: skip
        given = 0
        while given < limit and not self.expired:
            page = parse_cdx(self._get(self.cdx, params).text)
            for capture in page.captures[: limit - given]:
                given += 1
                yield capture
            if not page.resume_key or not page.captures:
                return
            params["resumeKey"] = page.resume_key

    def page(self, capture: Capture, max_bytes: int = 2_000_000) -> bytes:
        """The archived bytes of a capture, as first recorded (``id_``: no banner)."""
        url = f"{self.replay}{capture.timestamp}id_/{capture.original}"
        return self._get(url, {}).content[:max_bytes]

    def _get(self, url: str, params: dict[str, str | list[str]]) -> httpx.Response:
        for attempt in range(1, self.max_attempts + 1):
            if self.expired:
                raise TimeoutError("deadline reached")
            try:
                self.requests += 1
                response = self.client.get(url, params=params)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise ArchiveUnreachable(f"cannot reach {url} ({exc})") from None
            if response.status_code in (429, 503) and attempt < self.max_attempts:
                self.sleep(min(_retry_after(response), self.max_retry_after, self._left()))
                continue
            response.raise_for_status()
            return response
        raise httpx.HTTPStatusError("too many retries", request=response.request, response=response)

    def _left(self) -> float:
        return max(0.0, self.ends - self.clock())


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return 5.0  # an HTTP date or nonsense: wait a little
