"""A real browser reads the evidence: headless Chromium drives ``citearchive serve``.

The archive is captured by the real pipeline (``fetch_sources``) from the example site and a
hostile page served on 127.0.0.1; ``browse.serve`` runs in a subprocess; Chromium is driven
over the DevTools protocol on a pipe (``--remote-debugging-pipe``: no websocket, no extra
package). A reader opens the claims view, clicks through to a capture page and to the
archived page; a hostile archived page runs none of its scripts and loads nothing. The run
saves build/screenshots/claim-evidence.png (the README shows where; docs/ has a copy).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citearchive.archive.store import Archive, utcnow
from citearchive.capture.pipeline import fetch_sources
from citearchive.config import resolve_settings
from citearchive.sources.manifest import parse_manifest
from localserver import LocalServer, respond
from test_datasette import start_server

# the reader's browser (the full Chromium), not the capture default
CHROMIUM = Path(os.environ.get("CITEARCHIVE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--force-device-scale-factor=1", "--lang=en-US",
]  # fmt: skip
REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "examples" / "site"
# Each run writes a fresh screenshot here (git-ignored); docs/claim-evidence.png is the
# committed copy the README shows: `cp build/screenshots/claim-evidence.png docs/` updates it.
SCREENSHOT = REPO / "build" / "screenshots" / "claim-evidence.png"

if os.environ.get("CI") and not CHROMIUM.exists():
    # CI installs Chromium (.ci/run): there, a missing browser is a failure, not a skip.
    raise RuntimeError(f"CI: headless Chromium not found at {CHROMIUM}")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() or shutil.which("bash") is None,
        reason=f"headless Chromium not found at {CHROMIUM} (apt-get install chromium)",
    ),
]

HOSTILE_TITLE = "Ceasefire monitoring report"
BLOCKED_PATHS = ("/pixel.gif", "/evil.css", "/evil.js", "/frame", "/refresh", "/steal", "/font")


def hostile_page(base: str) -> bytes:
    """A page that tries everything: scripts, handlers, trackers, styles, frames, a form,
    a redirect by meta refresh. Each attempt would reach ``base`` (the local server)."""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
<title>{HOSTILE_TITLE}</title>
<meta http-equiv="refresh" content="1; url={base}/refresh">
<link rel="stylesheet" href="{base}/evil.css">
<style>@font-face {{ font-family: x; src: url({base}/font); }} body {{ font-family: x; }}</style>
<script>document.title = "PWNED";
document.addEventListener("DOMContentLoaded",
  () => document.body.insertAdjacentHTML("beforeend", "<p id=injected>INJECTED</p>"));</script>
<script src="{base}/evil.js"></script>
</head><body>
<h1>Ceasefire monitoring report</h1>
<p>The ceasefire line held through the night, the monitoring mission said on Tuesday.</p>
<p>Observers counted no artillery fire along the northern sector for the first time since
the talks began, although drones were reported near two villages.</p>
<p>Both sides accused each other of moving equipment closer to the line of contact; the
mission said it could not confirm either claim and asked for access to the area.</p>
<img src="{base}/pixel.gif" alt="">
<img src="data:," onerror="document.title='PWNED by onerror'" alt="">
<iframe src="{base}/frame"></iframe>
<form action="{base}/steal" method="post"><input name="q" value="secret">
<button id="send" type="submit">Send</button></form>
</body></html>""".encode()


def manifest_text(base: str) -> str:
    """The example commentary (examples/commentary.md) citing the example site, plus the
    hostile page."""
    return f"""
[[document]]
id = "example"
title = "停戦協議をめぐる各国の立場（例）"
author = "架空 花子"
language = "ja"

[[footnote]]
number = 1
text = "架空太郎「停戦協議の現状と課題」架空研究所、2025 年 8 月 20 日。"

[[footnote]]
number = 2
text = "“Ceasefire Talks After Anchorage: What Changed.” Example Policy Review, August 18, 2025."

[[footnote]]
number = 3
text = "«МИД: переговоры о размещении войск НАТО неприемлемы», Пример новостей, 18 августа 2025."

[[footnote]]
number = 4
text = "架空研究所「ロシア・ウクライナの停戦協議と安全の保証」架空研究所レポート第 12 号。"

[[footnote]]
number = 5
text = "Ceasefire monitoring report."

[[source]]
id = "fn1"
footnotes = [1]
url = "{base}/ja-commentary.html"
title = "停戦協議の現状と課題"
language = "ja"
quotes = ["停戦の具体的な条件については明らかにしなかった"]

[[source]]
id = "fn2"
footnotes = [2]
url = "{base}/en-analysis.html"
title = "Ceasefire Talks After Anchorage: What Changed"
language = "en"
quotes = ["to coordinate their position on security guarantees for Ukraine"]

[[source]]
id = "fn3"
footnotes = [3]
url = "{base}/ru-news-cp1251.html"
title = "МИД: переговоры о размещении войск НАТО неприемлемы"
language = "ru"
quotes = ["не приемлет никаких сценариев размещения на Украине воинского контингента"]

[[source]]
id = "fn4"
footnotes = [4]
url = "{base}/ja-report.pdf"
title = "ロシア・ウクライナの停戦協議と安全の保証"
language = "ja"

[[source]]
id = "fn5"
footnotes = [5]
url = "{base}/hostile.html"
title = "Ceasefire monitoring report"
language = "en"

[[claim]]
footnote = 1
text = \"""2025 年 8 月 15 日、米露首脳会談がアンカレッジで行われたが、\
停戦の具体的な条件は明らかにされなかった\"""

[[claim]]
footnote = 2
text = "欧州諸国はウクライナの安全の保証について協議を加速させた"

[[claim]]
footnote = 3
text = "ロシア外務省は、NATO 諸国の部隊の展開を認めない立場を維持した"

[[claim]]
footnote = 4
text = "ロシアは 4 州すべての支配を重要な要求としている"

[[claim]]
footnote = 5
text = "停戦ラインは夜通し維持された"
"""


def record_verdicts(root: Path) -> None:
    """Traceability and quote verdicts as ``citearchive verify`` writes them (checks
    contract), decided here by the simplest rule: a good capture exists; the quote is in it."""
    archive = Archive.open(root)
    try:
        run = archive.start_run("verify", settings={}, user_agent=None)
        db = archive.db
        rows = []
        for claim in db.query(
            "SELECT claims.id, citations.source_id FROM claims JOIN citations "
            "USING (document_id, footnote)"
        ):
            good = list(
                db.query(
                    "SELECT id, text FROM captures WHERE source_id = ? AND error IS NULL "
                    "AND suspect IS NULL AND text IS NOT NULL ORDER BY id DESC LIMIT 1",
                    [claim["source_id"]],
                )
            )
            rows.append(
                {"run_id": run, "kind": "traceability", "subject": f"claim:{claim['id']}",
                 "outcome": "ok" if good else "failed", "checked_at": utcnow(),
                 "detail": None if good else f"source {claim['source_id']} was never captured",
                 "claim_id": claim["id"]}
            )  # fmt: skip
            for quote in db.query("SELECT * FROM quotes WHERE source_id = ?", [claim["source_id"]]):
                found = bool(good) and quote["text"] in good[0]["text"]
                rows.append(
                    {"run_id": run, "kind": "quote", "subject": f"quote:{quote['id']}",
                     "outcome": "found" if found else "not-found", "checked_at": utcnow(),
                     "detail": json.dumps({"score": 100 if found else 0}),
                     "capture_id": good[0]["id"] if good else None}
                )  # fmt: skip
        archive.insert_checks(rows)
        archive.finish_run(run, {"checks": len(rows)})
    finally:
        archive.close()


# --- Chromium over the DevTools protocol ------------------------------------------------


class Browser:
    """Headless Chromium, driven by DevTools protocol messages on a pipe (fds 3 and 4)."""

    def __init__(self, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Move the child's ends above 9 so bash can place them at 3 and 4 without clashes.
        high_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        command = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   "--remote-debugging-pipe", "about:blank"]  # fmt: skip
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{high_r} 4>&{high_w} {high_r}<&- {high_w}>&-',
             "chromium", *command],
            pass_fds=(high_r, high_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(high_r)
        os.close(high_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None, *,
             session: str | None = None, timeout: float = 30) -> dict[str, Any]:  # fmt: skip
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_event(self, method: str, session: str, since: int, timeout: float = 30) -> None:
        """Wait for event ``method`` of ``session`` among events numbered ``since`` or later."""
        deadline = time.monotonic() + timeout
        seen = since
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method and event.get("sessionId") == session:
                    return
            seen = len(self.events)
            self.events.append(self._read(deadline))

    def pump(self, seconds: float) -> None:
        """Collect events for a while (lets timers, refreshes and loads happen)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read(deadline))
        except TimeoutError:
            pass

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_chrome], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError("no message from Chromium")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, TimeoutError, RuntimeError):
            self.call("Browser.close", timeout=5)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


class Tab:
    """One page of the browser: navigate, read what is visible, click like a person."""

    def __init__(self, browser: Browser, width: int = 1400, height: int = 900) -> None:
        self.browser = browser
        self.target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.call(
            "Target.attachToTarget", {"targetId": self.target, "flatten": True}
        )["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        # Sandboxed frames run out of process: attach to them to read them (frame_eval).
        auto = {"autoAttach": True, "waitForDebuggerOnStart": False, "flatten": True}
        self.call("Target.setAutoAttach", auto)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, session=self.session)

    def goto(self, url: str) -> None:
        since = len(self.browser.events)
        self.call("Page.navigate", {"url": url})
        self.browser.wait_event("Page.loadEventFired", self.session, since)

    def eval(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    @property
    def title(self) -> str:
        return self.eval("document.title")

    @property
    def path(self) -> str:
        return self.eval("location.pathname")

    @property
    def text(self) -> str:
        """What a reader sees: the rendered text of the page."""
        return self.eval("document.body ? document.body.innerText : ''")

    def frame_session(self) -> str:
        """The session of the newest child frame (the replay page's archived page), which
        Chromium runs out of process because it is sandboxed."""
        for event in reversed(self.browser.events):
            if (
                event.get("method") == "Target.attachedToTarget"
                and event.get("sessionId") == self.session
                and event["params"]["targetInfo"]["type"] == "iframe"
            ):
                return str(event["params"]["sessionId"])
        raise AssertionError("no child frame attached")

    def frame_eval(self, expression: str) -> Any:
        """Evaluate in the child frame, in an isolated world: the frame's own scripts are
        disabled by its sandbox, the test's are not."""
        session = self.frame_session()
        call = self.browser.call
        frame = call("Page.getFrameTree", session=session)["frameTree"]["frame"]["id"]
        world = call("Page.createIsolatedWorld", {"frameId": frame, "worldName": "test"},
                     session=session)  # fmt: skip
        result = call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True,
             "contextId": world["executionContextId"]},
            session=session,
        )  # fmt: skip
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def frame_log(self) -> list[str]:
        """The child frame's console and violation messages."""
        session = self.frame_session()
        since = len(self.browser.events)
        self.browser.call("Log.enable", session=session)  # replays the entries so far
        self.browser.pump(0.3)
        return [
            e["params"]["entry"]["text"]
            for e in self.browser.events[since:]
            if e.get("method") == "Log.entryAdded" and e.get("sessionId") == session
        ]

    def click(self, element_expression: str, *, navigates: bool = True) -> None:
        """Click the element (a JS expression) with the mouse, at its centre."""
        box = self.eval(
            f"(() => {{ const e = {element_expression}; e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect();"
            " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()"
        )
        since = len(self.browser.events)
        for kind in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
            )
        if navigates:
            self.browser.wait_event("Page.loadEventFired", self.session, since)

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data

    def log(self) -> list[str]:
        return [
            e["params"]["entry"]["text"]
            for e in self.browser.events
            if e.get("method") == "Log.entryAdded" and e.get("sessionId") == self.session
        ]

    def close(self) -> None:
        self.browser.call("Target.closeTarget", {"targetId": self.target})


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site() -> Iterator[LocalServer]:
    """The example site and a hostile page, on 127.0.0.1."""
    with LocalServer() as server:
        for name in ("ja-commentary.html", "en-analysis.html"):
            server.route(f"/{name}", respond((SITE / name).read_bytes()))
        server.route(
            "/ru-news-cp1251.html",
            respond((SITE / "ru-news-cp1251.html").read_bytes(), content_type="text/html"),
        )
        server.route(
            "/ja-report.pdf",
            respond((SITE / "ja-report.pdf").read_bytes(), content_type="application/pdf"),
        )
        server.route("/hostile.html", respond(hostile_page(server.base_url), encoding="gzip"))
        for path in BLOCKED_PATHS:
            server.route(path, respond(b"", content_type="text/plain"))
        yield server


@pytest.fixture(scope="module")
def archive_root(site: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser") / "archive"
    manifest = parse_manifest(manifest_text(site.base_url))
    report = fetch_sources(manifest, root, settings=resolve_settings({"host_delay": 0}))
    assert report.ok, report.to_dict()
    record_verdicts(root)
    return root


@pytest.fixture(scope="module")
def base_url(archive_root: Path) -> Iterator[str]:
    proc, url = start_server(archive_root)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with tempfile.TemporaryDirectory(prefix="citearchive-chromium-") as profile:
        chrome = Browser(Path(profile))
        yield chrome
        chrome.close()


@pytest.fixture()
def tab(browser: Browser) -> Iterator[Tab]:
    page = Tab(browser)
    yield page
    page.close()


def capture_of(root: Path, source_id: str) -> dict[str, Any]:
    archive = Archive.open(root)
    try:
        return next(
            archive.db.query(
                "SELECT * FROM captures WHERE source_id = ? AND method = 'live' ORDER BY id",
                [source_id],
            )
        )
    finally:
        archive.close()


# --- tests ------------------------------------------------------------------------------


def test_reader_follows_a_claim_to_the_archived_text(
    tab: Tab, base_url: str, archive_root: Path
) -> None:
    tab.goto(base_url + "citearchive/claim_evidence")
    seen = tab.text
    assert "claim_evidence" in seen and "One row per claim" in seen
    assert "停戦の具体的な条件は明らかにされなかった" in seen
    assert "ロシア外務省は、NATO 諸国の部隊の展開を認めない立場を維持した" in seen
    assert "1/1 found" in seen

    ja = capture_of(archive_root, "fn1")
    assert (
        ja["payload_sha256"]
        == hashlib.sha256((SITE / "ja-commentary.html").read_bytes()).hexdigest()
    )
    row = (
        "[...document.querySelectorAll('tbody tr')]"
        ".find(r => r.querySelector('.col-claim_id').innerText.trim() === 'example:1')"
    )
    tab.click(f"{row}.querySelector('.col-capture_id a')")
    assert tab.path == f"/-/citearchive/capture/{ja['id']}"
    seen = tab.text
    assert "停戦の具体的な条件については明らかにしなかった" in seen  # the extracted text
    assert ja["payload_sha256"] in seen
    assert "Provenance" in seen and "127.0.0.1" in seen  # the server address
    assert "Claims resting on this source" in seen

    tab.click("document.getElementById('view-archived')")
    assert tab.path == f"/-/citearchive/replay/{ja['id']}"  # the archived page, framed
    assert tab.title.startswith("Archived copy of ")  # under a banner saying what it is
    assert "Archived copy, not the live page." in tab.text and ja["payload_sha256"] in tab.text
    assert tab.frame_eval("document.title").startswith("停戦協議の現状と課題")  # its own title
    assert "停戦の具体的な条件については明らかにしなかった" in tab.frame_eval(
        "document.body.innerText"
    )


def test_search_finds_japanese_russian_and_english(tab: Tab, base_url: str) -> None:
    for term, source_title in (
        ("停戦", "停戦協議の現状と課題"),
        ("переговоры", "МИД: переговоры о размещении войск НАТО неприемлемы"),
        ("guarantees", "Ceasefire Talks After Anchorage: What Changed"),
    ):
        tab.goto(base_url + "citearchive/search_archived_text?q=" + term)
        seen = tab.text
        assert source_title in seen, term
    tab.goto(base_url + "citearchive/search_archived_text?q=переговоры")
    assert "Ceasefire Talks After Anchorage" not in tab.text


def test_hostile_archived_page_runs_no_script_and_loads_nothing(
    tab: Tab, site: LocalServer, base_url: str, archive_root: Path
) -> None:
    # Control: the same page, live, in the same browser: its script runs and it loads things.
    tab.goto(site.url("/hostile.html"))
    assert tab.title.startswith("PWNED")  # the inline script (and the onerror handler) ran
    assert tab.eval("!!document.getElementById('injected')") is True
    assert site.hits("/pixel.gif") >= 1 and site.hits("/evil.js") >= 1
    tab.click("document.getElementById('send')")  # and its form posts where it says
    assert site.hits("/steal") == 1

    before = {path: site.hits(path) for path in BLOCKED_PATHS}
    hostile = capture_of(archive_root, "fn5")
    archived = f"/-/citearchive/archived/{hostile['id']}"
    tab.goto(base_url + archived.lstrip("/"))  # opened as a page: framed under the banner
    replay = f"/-/citearchive/replay/{hostile['id']}"
    assert tab.path == replay
    tab.browser.pump(1.5)  # the meta refresh would fire after 1 s
    assert tab.frame_eval("location.pathname") == archived
    assert tab.frame_eval("document.title") == HOSTILE_TITLE  # no script, no onerror ran
    assert tab.frame_eval("!!document.getElementById('injected')") is False
    assert "The ceasefire line held through the night" in tab.frame_eval("document.body.innerText")
    assert "Archived copy, not the live page." in tab.text
    tab.frame_eval("document.getElementById('send').click()")  # try the form
    tab.browser.pump(0.5)
    assert tab.path == replay and tab.frame_eval("location.pathname") == archived
    assert {path: site.hits(path) for path in BLOCKED_PATHS} == before  # nothing reached
    assert any("Blocked script execution" in line for line in tab.frame_log())

    tab.goto(base_url + f"-/citearchive/capture/{hostile['id']}")
    assert tab.title.startswith(f"Capture {hostile['id']}")
    assert {path: site.hits(path) for path in BLOCKED_PATHS} == before


def test_screenshot_of_the_claim_evidence_view(browser: Browser, base_url: str) -> None:
    tab = Tab(browser, width=1600, height=1000)
    tab.goto(base_url + "citearchive/claim_evidence")
    tab.eval("document.querySelector('h3').scrollIntoView()")  # "5 rows": the table below it
    data = tab.screenshot(SCREENSHOT)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1600, 1000)
    tab.close()
