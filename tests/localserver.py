"""A real HTTP/1.1 server on 127.0.0.1 for tests, driven by a routes table.

Every test that needs a web page serves it from here: nothing in the suite may reach the
internet. The server is Python's ``ThreadingHTTPServer`` on port 0 (a free port) in a daemon
thread, with keep-alive, optional TLS (a throwaway ``trustme`` CA) and a set of hostile
responders (slow drip, endless body, gzip bomb, early close, Retry-After, redirects).

Use it as a pytest fixture (import the fixture into your test module or ``conftest.py``)::

    from localserver import LocalServer, local_server, redirect, respond  # noqa: F401

    def test_page(local_server: LocalServer) -> None:
        local_server.route("/a", (200, {"Content-Type": "text/html"}, b"<p>hi</p>"))
        local_server.route("/old", redirect("/a"))
        local_server.route("/gz", respond(b"<p>hi</p>", encoding="gzip"))
        url = local_server.url("/old")          # http://127.0.0.1:PORT/old
        ...                                      # fetch it with a real client
        assert local_server.hits("/a") == 1      # requests per path (query ignored)
        assert local_server.requests[0].header("user-agent").startswith("citearchive/")

or as a context manager, anywhere::

    with LocalServer() as server:               # LocalServer(tls=True) for https
        server.route("/", respond(b"ok"))

A route is either a ``(status, headers, body)`` tuple or a handler: a callable taking a
``Request`` and writing the response through it (``send`` for a whole response, or ``start``
then ``write`` for raw bytes at any pace). The factories below (``respond``, ``redirect``,
``sequence``, ``retry_after``, ``drip``, ``hang``, ``endless``, ``gzip_bomb``,
``close_early``, ``no_response``) cover the usual cases; write your own for anything else.

TLS: ``LocalServer(tls=True)`` (or ``tls=<trustme.CA>``) serves https with a certificate for
127.0.0.1 and localhost; ``server.client_ssl_context()`` is an ``ssl.SSLContext`` that trusts
it (pass it as ``verify=`` to httpx). The ``tls_server`` fixture does this for you.

Shutdown is quick: ``close()`` stops the accept loop, wakes handlers sleeping through
``Request.sleep`` and shuts down every open connection, so an endless or dripping handler
ends at once (it also ends on its own when the client disconnects).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import threading
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import trustme

HeaderList = list[tuple[str, str]]
Headers = Mapping[str, str] | Iterable[tuple[str, str]]
Handler = Callable[["Request"], None]
Route = Handler | tuple[int, Headers, bytes]

# Errors that only mean "the client went away"; handlers may let them propagate.
DISCONNECTS = (ConnectionError, TimeoutError, ssl.SSLError)


def _header_list(headers: Headers | None) -> HeaderList:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


@dataclass
class RecordedRequest:
    """One request as the server received it."""

    method: str
    target: str  # path and query, as sent
    path: str  # path only
    headers: HeaderList
    time: float = 0.0  # time.monotonic() when it arrived

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class Request:
    """What a handler gets: the request, and the means to write a response at any pace."""

    def __init__(self, handler: _RequestHandler, server: LocalServer, nth: int, body: bytes):
        self._handler = handler
        self.server = server
        self.method: str = handler.command
        self.target: str = handler.path
        parts = urlsplit(handler.path)
        self.path: str = parts.path
        self.query: str = parts.query
        self.headers: HeaderList = list(handler.headers.items())
        self.body = body
        self.nth = nth  # 1 for the first request to this path, 2 for the second, ...
        self.peer: tuple[str, int] = handler.client_address[:2]  # the client's address and port
        self._chunked = False

    @property
    def stopping(self) -> bool:
        """True once the server is shutting down: long-running handlers should return."""
        return self.server.stopping.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` (less if the server stops). False if the server is stopping."""
        return not self.server.stopping.wait(seconds)

    def start(self, status: int, headers: Headers | None = None, *, chunked: bool = False) -> None:
        """Send the status line and headers, exactly as given (plus chunked framing if asked)."""
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in _header_list(headers)]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        self._chunked = chunked
        self.write_raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def write(self, data: bytes) -> None:
        """Write body bytes (framed as one chunk when the response is chunked)."""
        if self._chunked:
            if not data:
                return
            data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        self.write_raw(data)

    def end(self) -> None:
        """Finish a chunked body."""
        if self._chunked:
            self.write_raw(b"0\r\n\r\n")

    def write_raw(self, data: bytes) -> None:
        """Write bytes to the socket as they are, and flush."""
        self._handler.wfile.write(data)
        self._handler.wfile.flush()

    def send(self, status: int, headers: Headers | None = None, body: bytes = b"") -> None:
        """Send a whole response with a Content-Length."""
        header_list = _header_list(headers)
        if not any(k.lower() == "content-length" for k, _ in header_list):
            header_list.append(("Content-Length", str(len(body))))
        self.start(status, header_list)
        if self.method != "HEAD":
            self.write_raw(body)

    def close(self) -> None:
        """Close the connection after this handler returns (no keep-alive)."""
        self._handler.close_connection = True


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # a stuck client can block a handler thread at most this long
    server: _Server

    def setup(self) -> None:
        owner = self.server.owner
        if owner.ssl_context is not None:
            self.request = owner.ssl_context.wrap_socket(self.request, server_side=True)
        owner.track(self.request, add=True)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner.track(self.request, add=False)
            if self.server.owner.ssl_context is not None:
                self.request.close()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``LocalServer.requests`` instead."""

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        owner = self.server.owner
        route, nth = owner.record(self.command, self.path, list(self.headers.items()))
        request = Request(self, owner, nth, body)
        if route is None:
            request.send(404, {"Content-Type": "text/plain"}, b"not found")
        elif callable(route):
            route(request)
        else:
            status, headers, payload = route
            request.send(status, headers, payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: LocalServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, DISCONNECTS) or (
            isinstance(exc, OSError) and self.owner.stopping.is_set()
        ):
            return  # the client went away, or the server is closing: expected
        self.owner.errors.append(exc)  # a bug in a test handler: keep it visible
        traceback.print_exc()


class LocalServer:
    """A threaded HTTP/1.1 server on 127.0.0.1:0 serving ``routes``; see the module docs."""

    def __init__(self, *, tls: bool | trustme.CA = False) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException | None] = []  # unexpected handler exceptions
        self.stopping = threading.Event()
        self._hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.ca: trustme.CA | None = None
        self.ssl_context: ssl.SSLContext | None = None
        if tls:
            self.ca = tls if isinstance(tls, trustme.CA) else trustme.CA()
            self.ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(self.ssl_context)
        self._server = _Server(self)
        self.port: int = self._server.server_address[1]
        self.host = "127.0.0.1"
        self.scheme = "https" if tls else "http"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # -- routes and requests -------------------------------------------------------------

    def route(self, path: str, route: Route) -> None:
        """Serve ``route`` at ``path`` (a path, or a path with its exact query)."""
        self.routes[path] = route

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this server."""
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def hits(self, path: str) -> int:
        """How many requests arrived for ``path`` (query ignored)."""
        with self._lock:
            return self._hits[path]

    def record(self, method: str, target: str, headers: HeaderList) -> tuple[Route | None, int]:
        """Log a request; return its route (exact target first, then path) and its hit count."""
        path = urlsplit(target).path
        with self._lock:
            self.requests.append(RecordedRequest(method, target, path, headers, time.monotonic()))
            self._hits[path] += 1
            nth = self._hits[path]
        return self.routes.get(target, self.routes.get(path)), nth

    def open_connections(self) -> int:
        """How many client connections a handler is still serving."""
        with self._lock:
            return len(self._open)

    def track(self, sock: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._open.add(sock)
            else:
                self._open.discard(sock)

    # -- TLS -------------------------------------------------------------------------------

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context trusting this server's throwaway CA (TLS servers only)."""
        if self.ca is None:
            raise ValueError("not a TLS server: use LocalServer(tls=True)")
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop accepting, wake sleeping handlers, cut open connections. Quick and idempotent."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self._server.shutdown()
        with self._lock:
            open_sockets = list(self._open)
        for sock in open_sockets:
            with contextlib.suppress(OSError):  # already closed by the client
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(timeout=5)
        give_up = time.monotonic() + 1.0  # handlers see the cut sockets and return at once
        while self.open_connections() and time.monotonic() < give_up:
            time.sleep(0.005)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- pytest fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def local_ca() -> trustme.CA:
    """One throwaway certificate authority for the whole session."""
    return trustme.CA()


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A fresh plain-HTTP server for one test."""
    with LocalServer() as server:
        yield server


@pytest.fixture
def tls_server(local_ca: trustme.CA) -> Iterator[LocalServer]:
    """A fresh HTTPS server for one test; trust it with ``tls_server.client_ssl_context()``."""
    with LocalServer(tls=local_ca) as server:
        yield server


# -- handler factories -------------------------------------------------------------------


def _encode(body: bytes, encoding: str | None) -> bytes:
    if encoding is None:
        return body
    if encoding == "gzip":
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    elif encoding == "deflate":  # zlib-wrapped, as RFC 9110 says
        compressor = zlib.compressobj(6, zlib.DEFLATED, 15)
    elif encoding == "deflate-raw":  # raw deflate, as some servers send under "deflate"
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    else:
        raise ValueError(f"unknown encoding {encoding!r}")
    return compressor.compress(body) + compressor.flush()


def respond(
    body: bytes = b"",
    status: int = 200,
    headers: Headers | None = None,
    *,
    content_type: str | None = "text/html; charset=utf-8",
    encoding: str | None = None,
) -> Handler:
    """A plain response; ``encoding`` ("gzip", "deflate", "deflate-raw") compresses the body."""
    header_list = _header_list(headers)
    if content_type and not any(k.lower() == "content-type" for k, _ in header_list):
        header_list.insert(0, ("Content-Type", content_type))
    if encoding:
        header_list.append(("Content-Encoding", "deflate" if "deflate" in encoding else encoding))
    payload = _encode(body, encoding)

    def handler(request: Request) -> None:
        request.send(status, header_list, payload)

    return handler


def redirect(location: str, status: int = 302) -> Handler:
    """A redirect to ``location`` (sent as given: relative or absolute)."""
    return respond(b"", status, [("Location", location)], content_type=None)


def sequence(*handlers: Route) -> Handler:
    """The nth request to the path gets the nth handler; the last one repeats."""

    def handler(request: Request) -> None:
        route = handlers[min(request.nth, len(handlers)) - 1]
        if callable(route):
            route(request)
        else:
            status, headers, body = route
            request.send(status, headers, body)

    return handler


def retry_after(value: str | int, status: int = 503) -> Handler:
    """A 503 (or 429) asking the client to come back later."""
    return respond(b"busy", status, [("Retry-After", str(value))], content_type="text/plain")


def drip(body: bytes, delay: float = 1.0, chunk_size: int = 1, status: int = 200) -> Handler:
    """Declare the full length, then send ``chunk_size`` bytes every ``delay`` seconds."""

    def handler(request: Request) -> None:
        request.start(status, [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
        for start in range(0, len(body), chunk_size):
            request.write(body[start : start + chunk_size])
            if not request.sleep(delay):
                return

    return handler


def hang(*, send_headers: bool = True) -> Handler:
    """Send headers (or nothing at all) and then stay silent until the server stops."""

    def handler(request: Request) -> None:
        if send_headers:
            request.start(200, [("Content-Type", "text/html"), ("Content-Length", "100")])
        request.close()
        request.sleep(3600)

    return handler


def endless(chunk: bytes = b"x" * 65536, content_length: int | None = None) -> Handler:
    """Stream ``chunk`` forever: chunked, or under a huge declared ``content_length``."""

    def handler(request: Request) -> None:
        headers = [("Content-Type", "application/octet-stream")]
        if content_length is not None:
            headers.append(("Content-Length", str(content_length)))
        request.start(200, headers, chunked=content_length is None)
        request.close()
        while not request.stopping:
            request.write(chunk)  # raises once the client disconnects

    return handler


def gzip_bomb(encoding: str = "gzip") -> Handler:
    """An endless compressed stream of zeros, chunked: each 64 kB chunk inflates to ~64 MB."""
    wbits = {"gzip": 31, "deflate": 15}[encoding]

    def handler(request: Request) -> None:
        request.start(
            200, [("Content-Type", "text/html"), ("Content-Encoding", encoding)], chunked=True
        )
        request.close()
        compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
        zeros = bytes(1 << 20)
        while not request.stopping:
            chunk = bytearray()
            while len(chunk) < 65536 and not request.stopping:
                chunk += compressor.compress(zeros)
            request.write(bytes(chunk))

    return handler


def close_early(sent: bytes = b"partial", declared: int = 1000) -> Handler:
    """Promise ``declared`` bytes, send ``sent``, then close the connection."""

    def handler(request: Request) -> None:
        request.start(200, [("Content-Type", "text/html"), ("Content-Length", str(declared))])
        request.write(sent)
        request.close()

    return handler


def no_response() -> Handler:
    """Read the request and close the connection without a word."""

    def handler(request: Request) -> None:
        request.close()

    return handler


__all__ = [
    "Handler",
    "LocalServer",
    "RecordedRequest",
    "Request",
    "Route",
    "close_early",
    "drip",
    "endless",
    "gzip_bomb",
    "hang",
    "local_ca",
    "local_server",
    "no_response",
    "redirect",
    "respond",
    "retry_after",
    "sequence",
    "tls_server",
]
