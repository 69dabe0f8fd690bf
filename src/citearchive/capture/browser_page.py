"""One capture's page in headless Chromium: its fresh context, the policy, the steps of loading.

:class:`Page` is driven by :class:`citearchive.capture.browser.BrowserPool`: it creates a
browser context (downloads denied, permissions denied), a page in it with the policy script
(no ``window.open``, no service workers, no WebSocket), recording by
:class:`citearchive.capture.browser_recorder.PageRecorder` on the page and on every frame and
worker attached to it; then navigates, waits for the load event, scrolls to the bottom,
waits for the network to go quiet (bounded), and takes the full-page screenshot and the DOM.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import time
from typing import TYPE_CHECKING, Any

from ..config import Settings
from .browser_recorder import PageRecorder
from .cdp import BrowserError, Connection
from .exchange import Exchange

if TYPE_CHECKING:
    from .browser import BrowserCapture

VIEWPORT = (1280, 900)
QUIET = 0.25  # seconds without a request in flight that count as "network idle"
FRAMES_WAIT = 0.5  # seconds, at most, for two frames to be drawn after the scroll
POLICY_SCRIPT = """(() => {
  try { Object.defineProperty(Navigator.prototype, 'serviceWorker', {get: () => undefined}); }
  catch (e) {}
  window.open = () => null;
  // WebSocket and WebTransport bypass the Fetch domain's interception: no such channel.
  for (const name of ['WebSocket', 'WebTransport']) {
    try { Object.defineProperty(window, name, {value: undefined}); } catch (e) {}
  }
})();"""
# A dedicated worker's global, before the worker's first line runs (the page's script does
# not run in workers).
WORKER_POLICY = """for (const name of ['WebSocket', 'WebTransport']) {
  try { Object.defineProperty(self, name, {value: undefined}); } catch (e) {}
}"""
# Permission names as the Permissions API spells them (Browser.setPermission rejects others).
DENIED_PERMISSIONS = (
    "geolocation",
    "notifications",
    "camera",
    "microphone",
    "midi",
    "clipboard-read",
    "clipboard-write",
    "accelerometer",
    "gyroscope",
    "magnetometer",
    "idle-detection",
    "background-sync",
    "persistent-storage",
    "display-capture",
    "local-fonts",
    "window-management",
    "storage-access",
    "screen-wake-lock",
    "local-network-access",
)
# Scrolls to the bottom (lazy content), and resolves once two frames have been drawn after:
# what the scroll brought into view has had its intersection checked, its requests started.
SCROLL_DOWN = (
    "(window.scrollTo(0, document.documentElement.scrollHeight),"
    " new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(0)))))"
)
DOM_EXPRESSION = (
    "(document.doctype ? new XMLSerializer().serializeToString(document.doctype) + '\\n' : '')"
    " + document.documentElement.outerHTML"
)


class Page:
    """One capture's context, page and the steps of loading it.

    :meth:`open` makes the fresh context and its blank page with the policy and the recording
    in place (the pool may do so ahead of time, while other pages load); :meth:`load` then
    takes the page to its URL, records it and fills ``out``.
    """

    def __init__(self, conn: Connection, recorder: PageRecorder, settings: Settings) -> None:
        self.conn, self.recorder, self.settings = conn, recorder, settings
        self.out: BrowserCapture | None = None
        self.context: str | None = None
        self.target: str | None = None
        self.session: str | None = None
        self.opened = False
        self.stage = "opening a fresh browser context"
        self.loaded = asyncio.Event()
        self.activity = asyncio.Event()  # set by every request that starts or ends
        self.inflight: set[str] = set()
        self.last_activity = time.monotonic()
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.conn.call(method, params, session=self.session)

    async def open(self, pages: dict[str, PageRecorder]) -> None:
        """Create the context and its blank page, with the policy and recording in place."""
        conn = self.conn
        if self.context is not None:  # an earlier attempt got part of the way
            await self.close(pages)
            self.context = self.target = self.session = None
        created = await conn.call("Target.createBrowserContext", {"disposeOnDetach": True})
        self.context = created["browserContextId"]
        pages[self.context] = self.recorder
        await conn.call(
            "Browser.setDownloadBehavior", {"behavior": "deny", "browserContextId": self.context}
        )
        context = self.context
        denials = [
            conn.call(
                "Browser.setPermission",
                {"permission": {"name": n}, "setting": "denied", "browserContextId": context},
            )
            for n in DENIED_PERMISSIONS
        ]
        for result in await asyncio.gather(*denials, return_exceptions=True):
            if isinstance(result, BaseException) and not isinstance(result, BrowserError):
                raise result  # (a BrowserError: a name this Chromium does not know)
        target = await conn.call(
            "Target.createTarget", {"url": "about:blank", "browserContextId": self.context}
        )
        self.target = target["targetId"]
        attached = await conn.call(
            "Target.attachToTarget", {"targetId": self.target, "flatten": True}
        )
        self.session = attached["sessionId"]
        conn.on(self.session, self._event)
        await self.recorder.attach(self.session)
        width, height = VIEWPORT
        await asyncio.gather(  # sent at once; the page answers them in order
            self.call("Page.enable"),
            self.call("Page.addScriptToEvaluateOnNewDocument", {"source": POLICY_SCRIPT}),
            self.call("Network.setBypassServiceWorker", {"bypass": True}),
            self.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            ),
            self.call(
                "Target.setAutoAttach",
                {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True},
            ),
        )
        self.opened = True

    async def load(self, url: str, out: BrowserCapture) -> None:
        """Navigate to ``url`` and take what the capture keeps (into ``out``)."""
        self.out = out
        self.stage = "loading"
        navigated = await self.call("Page.navigate", {"url": url})
        if navigated.get("errorText"):
            out.error = f"the browser could not load the page: {navigated['errorText']}"
            out.error_kind = "network"
            return
        await self._until(self.loaded)
        self.stage = "scrolling, and waiting for the network to go quiet"
        with contextlib.suppress(BrowserError, TimeoutError):  # a page that navigated away
            async with asyncio.timeout(FRAMES_WAIT):
                await self.call(
                    "Runtime.evaluate", {"expression": SCROLL_DOWN, "awaitPromise": True}
                )
        await self._full_height()
        await self._idle()
        self.stage = "reading the DOM and taking the screenshot"
        dom, _ = await asyncio.gather(  # the DOM is read while the screenshot is encoded
            self.call("Runtime.evaluate", {"expression": DOM_EXPRESSION, "returnByValue": True}),
            self._screenshot(out),
        )
        value = dom.get("result", {}).get("value")
        out.dom = value if isinstance(value, str) else None

    async def _until(self, event: asyncio.Event) -> None:
        """Wait for ``event``; BrowserError if the browser dies first."""
        waits = [asyncio.ensure_future(e.wait()) for e in (event, self.conn.gone)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        if not event.is_set():
            raise BrowserError("the browser died while the page was loading")

    async def _idle(self) -> None:
        """Until no request has been in flight for QUIET seconds, at most browser_idle_wait.

        Driven by the page's network events: the quiet window counts from the last request
        that started or ended (the load's own, or those the scroll started, which have been
        sent by the time two frames were drawn after it)."""
        until = time.monotonic() + self.settings.browser_idle_wait
        while True:
            now = time.monotonic()
            quiet_for = now - self.last_activity
            if not self.inflight and quiet_for >= QUIET:
                return
            wait = until - now if self.inflight else min(until - now, QUIET - quiet_for)
            if wait <= 0:
                return  # still busy at the bound: go on with what has arrived
            self.activity.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._until(self.activity)

    async def _full_height(self) -> None:
        """Back to the top, and the viewport made as tall as the page (at most
        screenshot_max_height), before the quiet-network wait: what the taller view loads
        is waited for too, and the screenshot then shoots the viewport (cheaper than
        shooting beyond it)."""
        top = self.call("Runtime.evaluate", {"expression": "window.scrollTo(0, 0)"})
        replies = await asyncio.gather(top, self.call("Page.getLayoutMetrics"))
        metrics: dict[str, Any] = replies[1]
        content = metrics.get("cssContentSize") or metrics.get("contentSize") or {}
        height = min(
            max(1, math.ceil(content.get("height", VIEWPORT[1]))),
            self.settings.screenshot_max_height,
        )
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": VIEWPORT[0], "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    async def _screenshot(self, out: BrowserCapture) -> None:
        """The full page (the viewport, made as tall as it) as PNG."""
        shot = await self.call(
            "Page.captureScreenshot",
            {"format": "png", "optimizeForSpeed": True},  # fast zlib: ~2x faster, ~20% larger
        )
        png = base64.b64decode(shot["data"])
        out.screenshot = png
        out.screenshot_size = (
            int.from_bytes(png[16:20], "big"),
            int.from_bytes(png[20:24], "big"),
        )

    def _event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Page.loadEventFired":
            self.loaded.set()
        elif method == "Network.requestWillBeSent":
            self.inflight.add(params.get("requestId", ""))
            self._active()
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            self.inflight.discard(params.get("requestId", ""))
            self._active()
        elif method == "Target.attachedToTarget":
            task = asyncio.create_task(self._child(params))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _active(self) -> None:
        self.last_activity = time.monotonic()
        self.activity.set()

    async def _child(self, params: dict[str, Any]) -> None:
        """An iframe or worker of the page: recorded like the page, then let run. Anything
        else (a service or shared worker) stays paused before its first line."""
        child = params["sessionId"]
        kind = params.get("targetInfo", {}).get("type")
        if kind not in ("iframe", "worker"):
            self.recorder.blocked.append(f"{kind}: {params.get('targetInfo', {}).get('url')}")
            return
        with contextlib.suppress(BrowserError):
            await self.recorder.attach(child, worker=kind == "worker")
            if kind == "worker":  # paused before its first line: no channel past Fetch
                await self.conn.call("Runtime.evaluate", {"expression": WORKER_POLICY},
                                     session=child)  # fmt: skip
            else:  # a frame in a process of its own: the page's policy script too
                await self.conn.call("Page.enable", session=child)
                await self.conn.call("Page.addScriptToEvaluateOnNewDocument",
                                     {"source": POLICY_SCRIPT, "runImmediately": True},
                                     session=child)  # fmt: skip
            await self.conn.call(
                "Target.setAutoAttach",
                {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True},
                session=child,
            )
            await self.conn.call("Runtime.runIfWaitingForDebugger", session=child)

    def document(self) -> Exchange | None:
        """The main frame's last document, if it was recorded (not from a refused address)."""
        doc = self.recorder.documents.get(self.target or "")
        return doc if any(ex is doc for ex in self.recorder.exchanges) else None

    async def close(self, pages: dict[str, PageRecorder]) -> None:
        if self.session is not None:
            self.conn.forget(self.session)
        if self.context is not None:
            pages.pop(self.context, None)
            if not self.conn.closed:
                await self.conn.call(
                    "Target.disposeBrowserContext", {"browserContextId": self.context}
                )
