"""Record what a browser page fetches: CDP ``Fetch`` interception -> :class:`Exchange` list.

Every request of the page (document, scripts, styles, images, fetch/XHR, its iframes and
workers) is paused twice by the DevTools ``Fetch`` domain, as browsertrix-crawler's
recorder does it:

- at the **request** stage, the request is checked against the page's policy before any
  packet is sent: a request to a private address (loopback, RFC 1918, link-local such as
  169.254.169.254, unique-local, reserved) is refused unless the source itself is in that
  address class; so is the request past the page's resource cap, and a service worker's
  script. Refused requests are listed (``blocked``) and never reach the network;
- at the **response** stage, the body is read (``Fetch.getResponseBody``) and kept, up to the
  page's byte cap, then the browser is let go on. A response that would start a download
  (``Content-Disposition: attachment``) is refused instead.

The address actually connected to is checked too, since the name may have resolved
differently for Chromium than for the check above (DNS rebinding): at the response stage,
before the page sees a byte, by the address space Chromium reports for the connection
(``Network.responseReceivedExtraInfo``: loopback or local); a response from a refused space
is failed and not recorded. The exact address (``Network.responseReceived``) arrives only
once the page has the response: one from a refused address class is not recorded, and the
capture says so (see :attr:`PageRecorder.leaked`).

What is recorded is what the browser received: the body with any Content-Encoding already
undone. The response headers say so (``Content-Encoding`` and ``Content-Length`` are kept as
``X-Archive-Orig-*``) and so does the record (``WARC-Citearchive-Note``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .cdp import BrowserError, Connection
from .exchange import Exchange, utcnow
from .network import scope

# Headers that describe the wire form of a body the browser has already decoded.
WIRE_HEADERS = ("content-encoding", "content-length", "transfer-encoding")
RESPONSE_NOTE = "body as received by Chromium (CDP Fetch), Content-Encoding undone"
REQUEST_NOTE = "request as Chromium's page issued it; its network stack adds Host, Cookie"
# Chromium's address space of a connection -> the address classes it may stand for.
SPACES = {"Loopback": {"loopback"}, "Local": {"private", "link-local"},
          "Private": {"private", "link-local"}}  # fmt: skip
SPACE_WAIT = 2.0  # seconds to wait for the connection's address space at the response stage


def address_class(host: str) -> str:
    """ "public", "loopback", "private", "link-local" or "reserved" for an IP address (the
    scopes of :func:`.network.scope`, the one classifier); a name is "public" here: its
    addresses are classed when it is resolved."""
    literal = host.strip("[]")
    try:
        ipaddress.ip_address(literal.split("%", 1)[0])
    except ValueError:
        return "public"
    return scope(literal)


async def host_classes(host: str) -> set[str]:
    """The address classes ``host`` stands for (an IP literal, or every address of a name)."""
    host = host.strip("[]")
    literal = address_class(host)
    try:
        ipaddress.ip_address(host)
        return {literal}
    except ValueError:
        pass
    try:
        infos = await asyncio.to_thread(socket.getaddrinfo, host, None)
    except (OSError, UnicodeError):
        return {"public"}  # unresolvable here: the browser's own lookup fails the same way
    return {address_class(str(info[4][0])) for info in infos} or {"public"}


@dataclass
class PageRecorder:
    """Policy and records for one page (and the frames and workers attached to it)."""

    conn: Connection
    allowed: set[str]  # address classes this page may reach ("public" + the source's own)
    max_resources: int
    max_bytes: int
    exchanges: list[Exchange] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # "<reason>: <url>"
    requests: int = 0
    received: int = 0
    ips: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # by net id
    documents: dict[str, Exchange] = field(default_factory=dict)  # frame id -> last document
    network_ids: list[str | None] = field(default_factory=list)  # one per exchange
    leaked: list[str] = field(default_factory=list)  # responses the page got from a refused
    # address (known only afterwards): not recorded; the capture is failed
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _classes: dict[str, set[str]] = field(default_factory=dict)
    _spaces: dict[str, list[str]] = field(default_factory=dict)  # net id -> spaces not used yet
    _space_seen: dict[str, asyncio.Event] = field(default_factory=dict)
    _refused_ids: set[str] = field(default_factory=set)  # net ids not to record

    async def attach(self, session: str, *, worker: bool = False) -> None:
        """Intercept ``session``'s requests at both stages and learn their server addresses.
        A dedicated worker has no Fetch domain of its own: its requests are paused in its
        page's session; its Network events (the addresses) come in its own."""
        self.conn.on(session, lambda method, params: self._event(session, method, params))
        patterns = [{"urlPattern": "*", "requestStage": stage} for stage in ("Request", "Response")]
        try:
            await self.conn.call("Fetch.enable", {"patterns": patterns}, session=session)
        except BrowserError:
            if not worker or self.conn.closed:
                raise
        await self.conn.call("Network.enable", session=session)
        # Every response comes over a connection, so its address space is reported (a
        # response from the HTTP cache would have none to check, and wait SPACE_WAIT).
        await self.conn.call("Network.setCacheDisabled", {"cacheDisabled": True}, session=session)

    def _event(self, session: str, method: str, params: dict[str, Any]) -> None:
        if method == "Fetch.requestPaused":
            task = asyncio.create_task(self._paused(session, params))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif method == "Network.responseReceivedExtraInfo":
            request_id = params.get("requestId", "")
            self._spaces.setdefault(request_id, []).append(params.get("resourceIPAddressSpace", ""))
            self._space_seen.setdefault(request_id, asyncio.Event()).set()
        elif method == "Network.responseReceived":
            response = params.get("response", {})
            request_id, ip = params.get("requestId", ""), response.get("remoteIPAddress")
            self.ips[request_id] = (ip, response.get("protocol"))
            kind = address_class(ip) if ip else "public"
            if kind not in self.allowed:
                self._refused_ids.add(request_id)
                url = response.get("url", "")
                self.blocked.append(f"{kind} address {ip} (connected): {url}")
                self.leaked.append(f"{url} came from {ip}, a {kind} address")

    async def settle(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for the requests being handled (bodies being read),
        then give up on the rest (a body that never ends is not recorded)."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(list(self._tasks), timeout=grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)

    async def _paused(self, session: str, params: dict[str, Any]) -> None:
        try:
            if "responseStatusCode" in params or "responseErrorReason" in params:
                await self._response(session, params)
            else:
                await self._request(session, params)
        except BrowserError:
            pass  # the page or the browser is gone: the capture itself notices

    async def _request(self, session: str, params: dict[str, Any]) -> None:
        request_id, request = params["requestId"], params["request"]
        url = request["url"]
        why = await self._refusal(url, request)
        if why is None:
            self.requests += 1
            await self.conn.call(
                "Fetch.continueRequest", {"requestId": request_id}, session=session
            )
            return
        await self._fail(session, request_id, f"{why}: {url}")

    async def _fail(
        self, session: str, request_id: str, blocked: str, reason: str = "BlockedByClient"
    ) -> None:
        """Record why a paused request is refused, then fail it: the page gets nothing."""
        self.blocked.append(blocked)
        await self.conn.call(
            "Fetch.failRequest", {"requestId": request_id, "errorReason": reason}, session=session
        )

    async def _refusal(self, url: str, request: dict[str, Any]) -> str | None:
        """Why this request must not be sent (None: it may)."""
        headers = {k.lower(): v for k, v in request.get("headers", {}).items()}
        if headers.get("service-worker") == "script":
            return "service worker"
        if self.requests >= self.max_resources:
            return f"over the cap of {self.max_resources} requests"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return None
        host = parts.hostname or ""
        if host not in self._classes:
            self._classes[host] = await host_classes(host)
        denied = self._classes[host] - self.allowed
        if denied:
            return f"{sorted(denied)[0]} address"
        return None

    async def _response(self, session: str, params: dict[str, Any]) -> None:
        request_id, request = params["requestId"], params["request"]
        status = params.get("responseStatusCode")
        headers = [(h["name"], h["value"]) for h in params.get("responseHeaders", [])]
        lowered = {k.lower(): v for k, v in headers}
        if status is None:  # failed before a response arrived: nothing to record
            await self._go_on(session, request_id)
            return
        if lowered.get("content-disposition", "").lower().startswith("attachment"):
            await self._fail(session, request_id, f"download: {request['url']}")
            return
        refused = await self._space_refusal(params.get("networkId") or "")
        if refused is not None:  # connected to a refused address: the page gets nothing
            why = f"{refused} address (connected): {request['url']}"
            await self._fail(session, request_id, why, "AddressUnreachable")
            return
        body, truncated = b"", False
        if not 300 <= status < 400:
            body, truncated = await self._body(session, request_id, lowered)
        self._record(params, status, headers, body, truncated)
        await self._go_on(session, request_id)

    async def _space_refusal(self, network_id: str) -> str | None:
        """The refused address class the response's connection was in (None: not refused,
        or not known: the exact address is checked when it arrives)."""
        seen = self._space_seen.setdefault(network_id, asyncio.Event())
        if not self._spaces.get(network_id):
            seen.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SPACE_WAIT):
                    await seen.wait()
        spaces = self._spaces.get(network_id) or [""]
        space = spaces.pop(0)  # one per response: a redirect's hops come in order
        classes = SPACES.get(space, set())
        if classes and not classes & self.allowed:
            return "loopback" if space == "Loopback" else "private"
        return None

    async def _body(
        self, session: str, request_id: str, headers: dict[str, str]
    ) -> tuple[bytes, bool]:
        room = self.max_bytes - self.received
        announced = headers.get("content-length", "")
        if room <= 0 or (announced.isdigit() and int(announced) > room):
            return b"", True
        try:
            got = await self.conn.call(
                "Fetch.getResponseBody", {"requestId": request_id}, session=session
            )
        except BrowserError:
            return b"", True
        raw = got.get("body", "")
        body = base64.b64decode(raw) if got.get("base64Encoded") else raw.encode("utf-8")
        truncated = len(body) > room
        body = body[:room]
        self.received += len(body)
        return body, truncated

    def _record(
        self,
        params: dict[str, Any],
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        truncated: bool,
    ) -> None:
        request = params["request"]
        kept = [(f"X-Archive-Orig-{k}" if k.lower() in WIRE_HEADERS else k, v) for k, v in headers]
        sent = list(request.get("headers", {}).items())
        ex = Exchange(
            url=request["url"],
            method=request.get("method", "GET"),
            request_headers=sent,
            http_version="HTTP/1.1",
            status_code=status,
            reason=params.get("responseStatusText") or "",
            response_headers=kept,
            raw_body=body,
            body=body,
            truncated=truncated,
            started_at=utcnow(),
            error="cut at the page's byte cap" if truncated else None,
            error_kind="too-large" if truncated else None,
        )
        self.exchanges.append(ex)
        self.network_ids.append(params.get("networkId"))
        if params.get("resourceType") == "Document":
            self.documents[params.get("frameId", "")] = ex

    async def _go_on(self, session: str, request_id: str) -> None:
        with contextlib.suppress(BrowserError):
            await self.conn.call(
                "Fetch.continueRequest", {"requestId": request_id}, session=session
            )

    def finish(self) -> list[Exchange]:
        """The exchanges, each with the server address and protocol the browser reported;
        none from a refused address."""
        kept = []
        for ex, network_id in zip(self.exchanges, self.network_ids, strict=True):
            if (network_id or "") in self._refused_ids:
                continue
            ip, protocol = self.ips.get(network_id or "", (None, None))
            ex.peer_ip = ip or None
            if protocol and protocol.lower().startswith("http/"):
                ex.http_version = protocol.upper()
            kept.append(ex)
        self.exchanges = kept
        return kept
