"""What a page in the capture browser cannot reach: addresses it connected to, WebSockets.

Real pages on local servers, Debian's Chromium. A name can resolve to one address when
citearchive checks it and to another when Chromium connects (DNS rebinding); here
``--host-resolver-rules`` makes Chromium connect a public-looking name to a local address,
so the check on the name passes and only the check on the connection can refuse it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from citearchive.capture import browser as browser_module
from citearchive.capture import browser_recorder
from citearchive.capture.browser import BrowserCapture, BrowserPool
from citearchive.capture.network import scope
from citearchive.config import default_browser_path, resolve_settings
from localserver import LocalServer, respond

CHROMIUM = Path(os.environ.get("CITEARCHIVE_CHROMIUM", default_browser_path()))
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"headless Chromium not found at {CHROMIUM}"),
]
SECRET = b"<html><body><p>Intranet payroll: the secret figures.</p></body></html>"


def capture(url: str, monkeypatch: pytest.MonkeyPatch, rules: str = "") -> BrowserCapture:
    if rules:
        flags = [*browser_module.CHROMIUM_FLAGS, f"--host-resolver-rules={rules}"]
        monkeypatch.setattr(browser_module, "CHROMIUM_FLAGS", flags)

    async def scenario() -> BrowserCapture:
        pool = BrowserPool(resolve_settings({"browser_path": str(CHROMIUM),
                                             "browser_deadline": 15.0}))  # fmt: skip
        try:
            return await pool.capture(url)
        finally:
            await pool.close()

    return asyncio.run(scenario())


def pretend_names_are_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """citearchive's own lookup says every name is public (as a rebinding name would)."""

    async def public(host: str) -> set[str]:
        return {"loopback"} if host == "127.0.0.1" else {"public"}

    monkeypatch.setattr(browser_module, "host_classes", public)
    monkeypatch.setattr(browser_recorder, "host_classes", public)


def test_a_public_name_that_connects_to_loopback_is_refused(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_server.route("/payroll.html", respond(SECRET))
    pretend_names_are_public(monkeypatch)
    url = f"http://news.example:{local_server.port}/payroll.html"
    out = capture(url, monkeypatch, rules=f"MAP news.example 127.0.0.1:{local_server.port}")
    assert local_server.hits("/payroll.html") == 1  # Chromium did connect: the name passed
    assert f"loopback address (connected): {url}" in out.blocked
    assert out.error is not None and "refused, loopback address (connected)" in out.error
    assert out.document is None and out.exchanges == []
    assert b"payroll" not in (out.dom or "").encode() and out.screenshot is None


def local_address() -> str | None:
    """This machine's address on its first non-loopback interface, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # UDP: no packet is sent, a route is chosen
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if scope(address) in ("public", "loopback") else address


class Intranet(BaseHTTPRequestHandler):
    """Serves a secret image and counts the requests for it."""

    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = b"\x89PNG secret"
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def intranet() -> Iterator[tuple[str, int]]:
    """A server on this machine's private (non-loopback) address."""
    address = local_address()
    if address is None:
        pytest.skip("no private non-loopback address on this machine")
    server = ThreadingHTTPServer((address, 0), Intranet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Intranet.hits.clear()
    try:
        yield address, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_response_from_a_private_address_is_not_kept(
    local_server: LocalServer, intranet: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = intranet
    secret = f"http://intra.example:{port}/secret.png"
    local_server.route("/page.html", respond(
        f"<html><body><p>Report.</p><img src='{secret}'></body></html>".encode()))  # fmt: skip
    pretend_names_are_public(monkeypatch)
    out = capture(local_server.url("/page.html"), monkeypatch,
                  rules=f"MAP intra.example {host}")  # fmt: skip
    assert Intranet.hits == ["/secret.png"]  # connected: only the connection check refuses
    assert secret not in [ex.url for ex in out.exchanges]
    assert any(b.endswith(f"(connected): {secret}") and "private address" in b
               for b in out.blocked), out.blocked  # fmt: skip
    assert out.error is not None and f"refused: {secret} came from {host}" in out.error
    assert out.screenshot is None and out.dom is None


CHANNELS = """<!DOCTYPE html><html><body><p>Live ticker.</p><script>
const url = (name) => 'ws://127.0.0.1:PORT/' + name;
try { new WebSocket(url('main')); } catch (e) {}
const frame = document.createElement('iframe');
document.body.append(frame);  // a fresh window whose WebSocket the policy script never saw
try { new frame.contentWindow.WebSocket(url('iframe')); } catch (e) {}
const code = "try { new WebSocket('" + url('worker') + "'); } catch (e) {}";
new Worker(URL.createObjectURL(new Blob([code])));
new Worker('/worker.js');
</script><iframe src="http://localhost:HTTP_PORT/frame.html"></iframe></body></html>"""


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP listener on 127.0.0.1 that keeps the first bytes of every connection."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    heard: list[bytes] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = sock.accept()
                conn.settimeout(5)
                with conn, contextlib.suppress(OSError):
                    heard.append(conn.recv(200))

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield sock.getsockname()[1], heard
    finally:
        sock.close()


def test_no_websocket_is_opened_from_the_page_a_frame_or_a_worker(
    local_server: LocalServer, listener: tuple[int, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, heard = listener
    page = CHANNELS.replace("HTTP_PORT", str(local_server.port)).replace("PORT", str(port))
    local_server.route("/ticker.html", respond(page.encode()))
    # localhost is another site than 127.0.0.1: this frame runs in a process of its own.
    frame = f"<script>new WebSocket('ws://127.0.0.1:{port}/cross-site-frame');</script>"
    local_server.route("/frame.html", respond(frame.encode()))
    worker = f"try {{ new WebSocket('ws://127.0.0.1:{port}/script-worker'); }} catch (e) {{}}"
    local_server.route("/worker.js", respond(worker.encode(), content_type="text/javascript"))
    out = capture(local_server.url("/ticker.html"), monkeypatch)
    assert out.error is None and out.dom is not None and "Live ticker." in out.dom
    assert local_server.hits("/worker.js") == 1  # the worker ran
    assert local_server.hits("/frame.html") == 1  # and the frame loaded
    assert heard == []  # not one connection reached the listener


def test_the_listener_hears_a_websocket_outside_the_capture(
    listener: tuple[int, list[bytes]],
) -> None:
    """The check above can fail: a plain WebSocket client reaches the listener."""
    port, heard = listener
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"GET /main HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")
    for _ in range(100):
        if heard:
            break
        threading.Event().wait(0.02)
    assert heard and heard[0].startswith(b"GET /main")
