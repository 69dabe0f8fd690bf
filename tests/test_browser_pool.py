"""The browser pool: each capture in a context of its own, even when opened ahead of time.

The pool opens the next capture's context while pages load (a spare page); these tests load
real pages from 127.0.0.1 in Debian's Chromium and check that nothing of one capture (cookies,
storage, cache) reaches the next, and that the quiet-network wait is driven by the page's
requests.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from citearchive.capture.browser import BrowserCapture, BrowserPool
from citearchive.config import DEFAULT_BROWSER_PATHS, default_browser_path, resolve_settings
from localserver import LocalServer, Request, respond

CHROMIUM = Path(os.environ.get("CITEARCHIVE_CHROMIUM", default_browser_path()))
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"headless Chromium not found at {CHROMIUM}"),
]

SETS_STATE = b"""<!DOCTYPE html><html><head><link rel="stylesheet" href="/cached.css"></head>
<body><p>Setting state.</p><script>
document.cookie = 'js=1; path=/';
localStorage.setItem('k', 'carried');
sessionStorage.setItem('s', 'carried');
indexedDB.open('db', 1);
</script></body></html>"""
READS_STATE = b"""<!DOCTYPE html><html><head><link rel="stylesheet" href="/cached.css"></head>
<body><script>
document.body.insertAdjacentHTML('beforeend', '<p id="state">cookie=[' + document.cookie
  + '] local=[' + localStorage.getItem('k') + '] session=[' + sessionStorage.getItem('s')
  + ']</p>');
</script></body></html>"""
LATE_FETCH = b"""<!DOCTYPE html><html><body><p>Late data follows.</p><script>
window.addEventListener('load', () => setTimeout(() => fetch('/late.json')
  .then(r => r.text()).then(t => document.body.insertAdjacentHTML('beforeend',
  '<p id="late">' + t + '</p>')), 100));
</script></body></html>"""


def slow_json(request: Request) -> None:
    request.sleep(1.0)  # in flight for a second: the quiet-network wait must outlast it
    request.send(200, {"Content-Type": "application/json"}, b'"arrived late"')


@pytest.fixture(scope="module")
def site() -> Any:
    with LocalServer() as server:
        server.route(
            "/set.html",
            respond(SETS_STATE, headers={"Set-Cookie": "sid=secret; Path=/; Max-Age=3600"}),
        )
        server.route("/read.html", respond(READS_STATE))
        server.route(
            "/cached.css",
            respond(b"p{color:#333}", content_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600"}),
        )  # fmt: skip
        server.route("/late.html", respond(LATE_FETCH))
        server.route("/late.json", slow_json)
        yield server


def captures(urls: list[str], **settings: Any) -> list[BrowserCapture]:
    async def scenario() -> list[BrowserCapture]:
        pool = BrowserPool(resolve_settings({"browser_path": str(CHROMIUM), **settings}))
        try:
            return [await pool.capture(url) for url in urls]
        finally:
            await pool.close()

    return asyncio.run(scenario())


def test_no_cookie_storage_or_cache_reaches_the_next_capture(site: LocalServer) -> None:
    urls = [site.url("/set.html"), site.url("/read.html"), site.url("/set.html"),
            site.url("/read.html")]  # fmt: skip
    results = captures(urls)
    assert [r.error for r in results] == [None] * 4
    for read in (results[1], results[3]):
        assert read.dom is not None
        assert '<p id="state">cookie=[] local=[null] session=[null]</p>' in read.dom
    sent = [r for r in site.requests if r.path in ("/set.html", "/read.html", "/cached.css")]
    assert [r.path for r in sent] == ["/set.html", "/cached.css", "/read.html", "/cached.css"] * 2
    # Only the stylesheet of the page that set the cookie sends it (the same capture).
    assert [bool(r.header("cookie")) for r in sent] == [False, True, False, False] * 2
    assert site.hits("/cached.css") == 4  # every capture fetched it: no shared cache


def test_the_quiet_network_wait_outlasts_a_request_in_flight(site: LocalServer) -> None:
    (late,) = captures([site.url("/late.html")])
    assert late.error is None and late.dom is not None
    assert '<p id="late">"arrived late"</p>' in late.dom
    assert site.url("/late.json") in [e.url for e in late.exchanges]


INSTALLED = [path for path in DEFAULT_BROWSER_PATHS if Path(path).is_file()]
if os.environ.get("CI") and len(INSTALLED) < len(DEFAULT_BROWSER_PATHS):
    raise RuntimeError(f"CI: not every browser of {DEFAULT_BROWSER_PATHS} is installed")


@pytest.mark.parametrize("browser", INSTALLED)  # the headless shell and the full Chromium
def test_an_idle_browser_is_quit_and_started_again_when_needed(
    site: LocalServer, browser: str
) -> None:
    async def scenario() -> tuple[list[BrowserCapture], list[bool], int]:
        pool = BrowserPool(resolve_settings({"browser_path": browser}))
        pool.idle_quit = 0.3
        try:
            first = await pool.capture(site.url("/read.html"))
            running = [pool._conn is not None]
            await asyncio.sleep(1.5)  # idle: Chromium is quit
            running.append(pool._conn is not None)
            second = await pool.capture(site.url("/read.html"))  # started again
            running.append(pool._conn is not None)
            return [first, second], running, pool.launches
        finally:
            await pool.close()

    results, running, launches = asyncio.run(scenario())
    assert [r.error for r in results] == [None, None]
    assert all(r.dom and "cookie=[]" in r.dom for r in results)
    assert running == [True, False, True]
    assert launches == 2
