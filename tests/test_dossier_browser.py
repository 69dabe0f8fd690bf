"""A reader opens the exported dossier from ``file://`` in headless Chromium.

Every claim is there, each quote is highlighted inside its archived context, nothing is
requested outside the folder (Chromium's own network log), the hostile archived text stays
text, and printing to PDF gives pages whose text (``pdftotext``) holds the Japanese claims.
The run saves build/screenshots/dossier.png (docs/dossier.png is the committed copy the
README shows: ``cp build/screenshots/dossier.png docs/`` updates it).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from citearchive.export.dossier import export_dossier
from test_browser import CHROMIUM, Browser, Tab
from test_dossier import HOSTILE_QUOTE, Example, build_example

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "build" / "screenshots" / "dossier.png"
PDFTOTEXT = shutil.which("pdftotext")

if os.environ.get("CI") and PDFTOTEXT is None:
    # CI installs poppler-utils (.ci/run): there, a missing pdftotext is a failure.
    raise RuntimeError("CI: pdftotext (poppler-utils) not found")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() or shutil.which("bash") is None,
        reason=f"headless Chromium not found at {CHROMIUM} (apt-get install chromium)",
    ),
]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Example:
    return build_example(tmp_path_factory.mktemp("dossier-browser"))


@pytest.fixture(scope="module")
def folder(example: Example, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "dossier"
    export_dossier(example.root, out)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with tempfile.TemporaryDirectory(prefix="citearchive-chromium-") as profile:
        chrome = Browser(Path(profile))
        yield chrome
        chrome.close()


def _open(browser: Browser, url: str, width: int = 1280, height: int = 1000) -> Tab:
    tab = Tab(browser, width=width, height=height)
    tab.call("Network.enable")
    tab.goto(url)
    browser.pump(0.5)  # anything lazy would start now
    return tab


def _requests(tab: Tab) -> list[str]:
    return [
        e["params"]["request"]["url"]
        for e in tab.browser.events
        if e.get("method") == "Network.requestWillBeSent" and e.get("sessionId") == tab.session
    ]


def test_reader_sees_every_claim_and_its_highlighted_evidence(
    browser: Browser, folder: Path, example: Example
) -> None:
    page = (folder / "example.html").as_uri()
    tab = _open(browser, page)
    try:
        seen = tab.text
        for claim in example.claims:
            assert claim in seen, claim  # the hostile claim's <img> is text too
        marks = tab.eval(
            "[...document.querySelectorAll('mark')].map(m => ({mark: m.innerText,"
            " context: m.parentElement.innerText, lang: m.parentElement.lang,"
            " source: m.closest('article').dataset.source}))"
        )
        by_source = {m["source"]: m for m in marks}
        assert sorted(by_source) == ["fn1", "fn2", "fn3", "fn4", "fn5"]
        langs = {"fn1": "ja", "fn2": "en", "fn3": "ru", "fn4": "ja", "fn5": "en"}
        for sid, m in by_source.items():
            quote = " ".join(example.quotes[sid][0].split())
            assert m["mark"] == quote, sid
            assert quote in m["context"] and len(m["context"]) > len(quote) + 20, sid
            assert m["lang"] == langs[sid]
        assert by_source["fn5"]["mark"] == HOSTILE_QUOTE  # archived <script> shown as text
        assert "Mono" in tab.eval("getComputedStyle(document.querySelector('code')).fontFamily")
        assert tab.eval("document.scripts.length") == 0
        assert tab.eval("document.images.length") == 0
        assert tab.title.startswith("出典検証レポート")
        assert "3 件が要確認" in seen.replace("\n", " ")
        # No request leaves the folder: the page itself, and nothing else.
        requests = _requests(tab)
        assert requests == [page], requests

        tab.click("document.querySelector('article[data-source=fn3] a.archived-link')")
        assert tab.path.startswith(str(folder / "captures"))
        assert "Россия не приемлет никаких сценариев" in tab.eval(
            "document.querySelector('mark').innerText"
        )
        assert all(u.startswith(folder.as_uri() + "/") for u in _requests(tab))
    finally:
        tab.close()


def test_dossier_prints_to_pdf_with_the_japanese_claims(
    browser: Browser, folder: Path, example: Example, tmp_path: Path
) -> None:
    if PDFTOTEXT is None:
        pytest.skip("pdftotext not found (apt-get install poppler-utils)")
    tab = _open(browser, (folder / "example.html").as_uri())
    try:
        printed = tab.call("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True})
    finally:
        tab.close()
    pdf = tmp_path / "dossier.pdf"
    pdf.write_bytes(base64.b64decode(printed["data"]))
    text = subprocess.run(
        [PDFTOTEXT, "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert text.count("\f") >= 2  # more than one A4 page
    flat = re.sub(r"\s+", "", text)
    for claim in example.claims:
        assert re.sub(r"\s+", "", claim) in flat, claim
    assert "出典検証レポート" in flat
    assert re.sub(r"\s+", "", example.quotes["fn3"][0]) in flat  # Russian evidence too


def test_screenshot_of_the_dossier(browser: Browser, folder: Path) -> None:
    tab = _open(browser, (folder / "example.html").as_uri(), width=1200, height=1500)
    data = tab.screenshot(SCREENSHOT)
    tab.close()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (
        1200,
        1500,
    )
