"""Capture a page in headless Chromium: network records, a screenshot, the rendered DOM.

:class:`BrowserPool` owns one Chromium process (Debian's ``chromium``, driven over the
DevTools pipe by :mod:`citearchive.capture.cdp`) and opens at most
``settings.browser_concurrency`` pages at once. Each capture gets a fresh browser context
(an incognito-like profile: no cookies, storage or cache carried over) that is thrown away
afterwards, and this policy:

- no downloads (``Browser.setDownloadBehavior`` deny; a response that would download is
  refused by the recorder), no popups (Chromium's popup blocker stays on, ``window.open``
  does nothing, and any new page the context opens is closed at once), no service workers
  (``navigator.serviceWorker`` is removed, service workers are bypassed and their scripts
  refused), every permission denied;
- requests checked before they are sent (:mod:`citearchive.capture.browser_recorder`): no
  private address unless the source is itself in that address class, at most
  ``browser_max_resources`` requests and ``browser_max_bytes`` of responses;
- one deadline for the whole page (``browser_deadline``): load, a bounded wait for the
  network to go quiet, one scroll to the bottom for lazy content, the full-page screenshot
  and the DOM. A page that has not loaded by then is a failed capture (what arrived is
  still recorded). A browser that crashed is restarted for the next page; one that hangs
  is killed (its whole process group) and restarted; the capture says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import Settings
from ..errors import UsageError
from .browser_page import Page
from .browser_recorder import PageRecorder, host_classes
from .cdp import BrowserError, Connection
from .exchange import Exchange, utcnow

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--dns-prefetch-disable",
    "--password-store=basic",
    "--use-mock-keychain",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    # Spare renderers and the omnibox popups' WebUI renderers are made per profile, so per
    # capture context: three extra renderer processes a page, half the CPU of a capture.
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,"
    "SpareRendererForSitePerProcess,WebUIOmniboxPopup,WebUIOmniboxAimPopup",
    # The network service in the browser process, not a utility process of its own: one
    # process fewer, 15-25 MB less PSS with one page open (less with two), ~5-10% less CPU
    # a capture (browser_bench.py). A crash in it is the browser's, which the pool restarts.
    "--enable-features=NetworkServiceInProcess2",
    "--lang=en-US",
]
CLEANUP_GRACE = 5.0  # seconds to close a page's context before the browser counts as hung
IDLE_QUIT = 20.0  # seconds without a capture after which Chromium is quit (restarted on use)
SETTLE_GRACE = 1.0  # seconds for the recorder's last bodies once the context is gone
# Run in every frame before the page's own scripts.


@dataclass
class BrowserCapture:
    """What the browser made of one URL."""

    requested_url: str
    final_url: str
    exchanges: list[Exchange]  # every response the page received, in order
    document: Exchange | None  # the main frame's final document response
    started_at: datetime = field(default_factory=utcnow)
    screenshot: bytes | None = field(default=None, repr=False)  # PNG, full page
    screenshot_size: tuple[int, int] | None = None  # (width, height) in pixels
    dom: str | None = field(default=None, repr=False)  # the rendered DOM, serialised
    error: str | None = None
    error_kind: str | None = None  # "deadline" | "browser" | "network" | "http"
    blocked: list[str] = field(default_factory=list)  # "<reason>: <url>", never sent
    user_agent: str | None = None


def browser_available(settings: Settings) -> bool:
    """Whether the Chromium of ``settings.browser_path`` is there to be started."""
    path = settings.browser_path
    return bool(path) and (Path(path).is_file() or shutil.which(path) is not None)


def require_browser(settings: Settings) -> None:
    """UsageError (exit 2) when the browser a run asks for is not there."""
    if not browser_available(settings):
        raise UsageError(
            f"--browser: no Chromium at {settings.browser_path} "
            "(apt-get install chromium-headless-shell, or set browser_path in [settings] of "
            "sources.toml)"
        )


class BrowserPool:
    """One Chromium for a run, started on first use, restarted after a crash or a hang."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._slots = asyncio.Semaphore(settings.browser_concurrency)
        self._lock = asyncio.Lock()
        self._conn: Connection | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._pages: dict[str, PageRecorder] = {}  # browser context id -> its page's recorder
        self._spare: tuple[Page, asyncio.Task[None]] | None = None  # opened ahead, unused
        self.user_agent: str | None = None
        self.launches = 0  # Chromium processes started: 1 + restarts after crashes and hangs
        # A run whose few JavaScript shells are far apart does not keep Chromium's few hundred
        # MB between them: it is quit once idle this long, and started again when needed.
        self.idle_quit = IDLE_QUIT
        self._busy = 0
        self._idle_timer: asyncio.TimerHandle | None = None

    async def capture(self, url: str) -> BrowserCapture:
        """Load ``url`` in a fresh context and record it. Never raises for a bad page."""
        self._busy += 1
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        try:
            return await self._capture(url)
        finally:
            self._busy -= 1
            if not self._busy:
                loop = asyncio.get_running_loop()
                self._idle_timer = loop.call_later(self.idle_quit, self._quit_when_idle)

    def _quit_when_idle(self) -> None:
        self._idle_timer = None
        if not self._busy and self._conn is not None:
            task = asyncio.ensure_future(self._quit_idle())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _quit_idle(self) -> None:
        async with self._lock:
            if not self._busy and self._conn is not None:
                await self._drop(self._conn)

    async def _capture(self, url: str) -> BrowserCapture:
        async with self._slots:
            out = BrowserCapture(url, url, [], None)
            try:
                conn = await self._connection()
            except (BrowserError, OSError) as exc:
                out.error, out.error_kind = f"the browser could not start: {exc}", "browser"
                return out
            out.user_agent = self.user_agent
            host = urlsplit(url).hostname or ""
            allowed = {"public"} | await host_classes(host)
            page, opening = self._take_page(conn)
            page.recorder.allowed = allowed
            try:
                async with asyncio.timeout(self.settings.browser_deadline):
                    await self._opened(page, opening)
                    await page.load(url, out)
            except TimeoutError:
                limit = self.settings.browser_deadline
                out.error = f"deadline: the page was not captured within {limit:g} s ({page.stage})"
                out.error_kind = "deadline"
            except BrowserError as exc:
                out.error, out.error_kind = f"browser error: {exc}", "browser"
            await self._clean_up(page, out)
            out.exchanges = page.recorder.finish()
            out.blocked = page.recorder.blocked
            out.document = page.document()
            if out.document is not None:
                out.final_url = out.document.url
            if page.recorder.leaked:
                _refuse_leak(out, page.recorder.leaked)
            refused = [b for b in out.blocked if b.endswith(f"(connected): {url}")]
            if out.document is None and refused:  # the page's own server: a refused address
                out.error = (out.error + "; " if out.error else "") + f"refused, {refused[0]}"
                out.error_kind = "network"
            if out.error is None:
                _judge_document(out)
            return out

    def _new_page(self, conn: Connection) -> Page:
        settings = self.settings
        recorder = PageRecorder(
            conn, {"public"}, settings.browser_max_resources, settings.browser_max_bytes
        )
        return Page(conn, recorder, settings)

    def _take_page(self, conn: Connection) -> tuple[Page, asyncio.Task[None] | None]:
        """A fresh page for a capture: the spare opened ahead of time (with the task still
        opening it, if it has not finished), and a new spare started for the next capture.
        A spare is a context no page has been loaded in: nothing of another capture's."""
        spare, self._spare = self._spare, None
        if spare is not None and spare[0].conn is not conn:
            spare[1].cancel()  # opened in a browser that has since been replaced
            spare = None
        page, opening = spare if spare is not None else (self._new_page(conn), None)
        next_page = self._new_page(conn)
        self._spare = (next_page, asyncio.create_task(self._open_spare(next_page)))
        return page, opening

    async def _open_spare(self, page: Page) -> None:
        with contextlib.suppress(BrowserError):  # its capture opens a page of its own
            await page.open(self._pages)

    async def _opened(self, page: Page, opening: asyncio.Task[None] | None) -> None:
        """Wait for the spare being opened; open the page here when there was none (or the
        spare could not be opened)."""
        if opening is not None:
            await opening
        if not page.opened:
            await page.open(self._pages)

    async def _clean_up(self, page: Page, out: BrowserCapture) -> None:
        """Close the page's context; a browser that cannot do so in time is killed."""
        conn = page.conn
        try:
            async with asyncio.timeout(CLEANUP_GRACE):
                await page.close(self._pages)  # aborts the requests still in flight
            await page.recorder.settle(SETTLE_GRACE)
        except (TimeoutError, BrowserError):
            if not conn.closed:
                conn.kill()
                out.error = out.error or "the browser hung"
                out.error += "; the browser hung and was killed (restarted for the next page)"
                out.error_kind = out.error_kind or "browser"
        if conn.closed:
            if out.error is None or "killed" not in out.error:
                out.error = (out.error + "; " if out.error else "") + (
                    "the browser crashed (restarted for the next page)"
                )
                out.error_kind = out.error_kind or "browser"
            await self._drop(conn)

    async def _connection(self) -> Connection:
        async with self._lock:
            if self._conn is not None and not self._conn.closed:
                return self._conn
            if self._conn is not None:
                await self._drop(self._conn)
            self._profile = tempfile.TemporaryDirectory(prefix="citearchive-chromium-")
            flags = [*CHROMIUM_FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"]
            conn = await Connection.launch(self.settings.browser_path, flags)
            try:
                async with asyncio.timeout(30):
                    version = await conn.call("Browser.getVersion")
                    conn.on(None, self._browser_event)
                    await conn.call("Target.setDiscoverTargets", {"discover": True})
            except (TimeoutError, BrowserError) as exc:
                conn.kill()
                await conn.close(grace=1)
                where = self.settings.browser_path
                raise BrowserError(f"Chromium at {where} did not answer") from exc
            self.user_agent = version.get("userAgent")
            self.launches += 1
            self._conn = conn
            return conn

    def _browser_event(self, method: str, params: dict[str, Any]) -> None:
        """Close any page a capture's context opens besides its own (a popup)."""
        if method != "Target.targetCreated":
            return
        info = params.get("targetInfo", {})
        recorder = self._pages.get(info.get("browserContextId", ""))
        if recorder is None or info.get("type") != "page" or not info.get("openerId"):
            return
        recorder.blocked.append(f"popup: {info.get('url') or 'about:blank'}")
        if self._conn is not None:
            conn = self._conn
            task = asyncio.ensure_future(
                conn.call("Target.closeTarget", {"targetId": info["targetId"]})
            )
            task.add_done_callback(lambda t: t.exception())  # a closed popup is the aim

    async def _drop(self, conn: Connection) -> None:
        if self._conn is conn:
            self._conn = None
        if self._spare is not None and self._spare[0].conn is conn:
            self._spare[1].cancel()
            self._spare = None
        await conn.close(grace=2)
        if self._profile is not None:
            with contextlib.suppress(OSError):
                self._profile.cleanup()
            self._profile = None

    async def close(self) -> None:
        """Quit the browser (killed if it does not quit), the spare page with it."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._conn is not None:
            await self._drop(self._conn)


def _refuse_leak(out: BrowserCapture, leaked: list[str]) -> None:
    """The page received a response from an address it may not reach (the name pointed
    elsewhere when it was checked): that response is not recorded, and since the page may
    show it, neither its screenshot nor its DOM is kept; the capture fails."""
    out.screenshot = out.screenshot_size = out.dom = None
    why = f"refused: {leaked[0]}" + (f" (and {len(leaked) - 1} more)" if len(leaked) > 1 else "")
    why += "; the screenshot and DOM are not kept"
    out.error = f"{out.error}; {why}" if out.error else why
    out.error_kind = out.error_kind or "network"


def _judge_document(out: BrowserCapture) -> None:
    doc = out.document
    if doc is None or doc.status_code is None:
        out.error, out.error_kind = "the browser received no document", "network"
    elif not 200 <= doc.status_code < 300:
        reason = doc.reason
        with contextlib.suppress(ValueError):
            reason = reason or HTTPStatus(doc.status_code).phrase
        out.error, out.error_kind = f"HTTP {doc.status_code} {reason}".rstrip(), "http"
