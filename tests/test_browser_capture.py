"""Capture in a real browser: pages that need JavaScript, and a screenshot of what the reader saw.

One fetch run (the real pipeline, the real Chromium of Debian's ``chromium`` package, pages on
127.0.0.1) captures: a JavaScript shell whose article a script injects (chosen for the
browser automatically), a hostile page that tries a popup, a download, a service worker and
two private addresses (captured in the browser because its source says ``capture =
"browser"``), a page that never finishes loading, and a plain article (no browser). The
archive is then read back: WARC records (warcio), the captures rows, search, fixity.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from citearchive.archive.search import search
from citearchive.archive.store import Archive
from citearchive.browse.archived_view import ARCHIVED_CSP
from citearchive.capture.browser import BrowserPool
from citearchive.capture.pipeline import fetch_sources
from citearchive.cli.app import app
from citearchive.config import default_browser_path, resolve_settings
from citearchive.export.wacz import export_wacz
from citearchive.sources.manifest import parse_manifest
from citearchive.verify.fixity import check_fixity
from localserver import LocalServer, hang, respond
from test_datasette import start_server
from test_wacz import need_tool

CHROMIUM = Path(os.environ.get("CITEARCHIVE_CHROMIUM", default_browser_path()))
if os.environ.get("CI") and not CHROMIUM.exists():
    raise RuntimeError(f"CI: headless Chromium not found at {CHROMIUM}")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"headless Chromium not found at {CHROMIUM}"),
]

PHRASE = "The ceasefire ledger was signed by both delegations"
ARTICLE_JS = f"""
document.getElementById('root').innerHTML = `<article><h1>Ceasefire ledger</h1>
<p>{PHRASE} late on Thursday, after eleven hours of talks in a hotel by the lake.</p>
<p>停戦台帳には両代表団が署名した。監視団は来週から前線の視察を始める予定である。</p>
<p>Observers will begin visiting the line of contact next week; both sides promised access
to the northern sector, where artillery fire was reported until the weekend.</p></article>`;
fetch('/api/data.json').then(r => r.json()).then(d => {{
  document.querySelector('article').insertAdjacentHTML('beforeend', '<p>' + d.note + '</p>');
}});
"""
SHELL = b"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Ceasefire ledger</title>
<style>html, body { margin: 0 }</style></head>
<body><div style="height: 3000px; overflow: hidden; position: relative">
<noscript>Please enable JavaScript to read this article.</noscript>
<div id="root"></div>
<img loading="lazy" src="/lazy.png" alt=""
     style="position: absolute; top: 2900px; width: 10px; height: 10px">
</div><script src="/app.js"></script></body></html>"""
HOSTILE = b"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Monitoring report</title>
</head><body><article><h1>Monitoring report</h1>
<p>The monitoring mission said the line held through the night and that no artillery fire was
heard along the northern sector, although drones were reported near two villages.</p>
<p>Both sides accused each other of moving equipment closer to the line of contact.</p>
</article>
<img src="http://10.255.255.1/pixel.gif" alt="">
<img src="http://169.254.169.254/latest/meta-data/" alt="">
<a id="dl" href="/download.bin" download>file</a>
<script>
window.open('/popup.html');
try { navigator.serviceWorker.register('/sw.js'); } catch (e) {}
fetch('http://10.255.255.1/api').catch(() => {});
document.getElementById('dl').click();
document.body.insertAdjacentHTML('beforeend',
  '<p id="channels">WebSocket: ' + typeof WebSocket + '</p>');
</script></body></html>"""
PLAIN = (
    "<html><head><title>Plain analysis</title></head><body><article><h1>Plain analysis</h1>"
    + "<p>The summit ended without an agreement on a ceasefire, but both presidents described "
    "the talks as productive and promised further negotiations in the coming weeks.</p>"
    * 3
    + "</article></body></html>"
).encode()
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2d9f9"
    "0f0000000049454e44ae426082"
)


def manifest_text(base: str) -> str:
    return f"""
[[document]]
id = "doc"
title = "Talks"

[[source]]
id = "shell"
footnotes = [1]
url = "{base}/shell.html"
language = "en"

[[source]]
id = "hostile"
footnotes = [2]
url = "{base}/hostile.html"
language = "en"
capture = "browser"

[[source]]
id = "never"
footnotes = [3]
url = "{base}/never.html"
capture = "browser"

[[source]]
id = "plain"
footnotes = [4]
url = "{base}/plain.html"
language = "en"
"""


@pytest.fixture(scope="module")
def site() -> Any:
    with LocalServer() as server:
        server.route("/shell.html", respond(SHELL, encoding="gzip"))
        server.route("/app.js", respond(ARTICLE_JS.encode(), content_type="text/javascript"))
        server.route("/api/data.json", respond(b'{"note": "Data loaded by fetch."}',
                                               content_type="application/json"))  # fmt: skip
        server.route("/lazy.png", respond(PNG_1PX, content_type="image/png"))
        server.route("/hostile.html", respond(HOSTILE))
        for path in ("/popup.html", "/sw.js"):
            server.route(path, respond(b"// nothing", content_type="text/javascript"))
        server.route(
            "/download.bin",
            respond(b"MZ" + b"\0" * 100, content_type="application/octet-stream",
                    headers={"Content-Disposition": 'attachment; filename="x.exe"'}),
        )  # fmt: skip
        server.route("/never.html", respond(b"<html><body><p>Loading</p>"
                                            b"<img src='/hang.png'></body></html>"))  # fmt: skip
        server.route("/hang.png", hang())
        server.route("/plain.html", respond(PLAIN))
        yield server


@pytest.fixture(scope="module")
def run(site: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("browser-capture") / "archive"
    manifest = parse_manifest(manifest_text(site.base_url))
    settings = resolve_settings(
        {"host_delay": 0, "browser_deadline": 12.0, "browser_path": str(CHROMIUM)}
    )
    report = fetch_sources(manifest, root, settings=settings)
    archive = Archive.open(root)
    rows = list(archive.db.query("SELECT * FROM captures ORDER BY id"))
    archive.close()
    return {"root": root, "report": report, "rows": rows}


def rows_of(run: dict[str, Any], source_id: str, method: str) -> list[dict[str, Any]]:
    return [r for r in run["rows"] if r["source_id"] == source_id and r["method"] == method]


def warc_records(root: Path) -> list[tuple[str, str, Any, bytes]]:
    out = []
    for path in sorted((root / "warc").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                out.append((rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI"),
                            rec, rec.content_stream().read()))  # fmt: skip
    return out


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking every chunk's CRC and inflating the image."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        if kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert zlib.decompress(idat)
    return size


def test_script_injected_text_is_captured_and_searchable(run: dict[str, Any]) -> None:
    (live,) = rows_of(run, "shell", "live")
    assert live["js_shell"] and "app root" in live["js_shell"]
    assert PHRASE not in (live["text"] or "")
    (browser,) = rows_of(run, "shell", "browser")
    assert browser["error"] is None and browser["suspect"] is None
    assert PHRASE in browser["text"] and "停戦台帳には両代表団が署名した" in browser["text"]
    assert "Data loaded by fetch." in browser["text"]
    outcome = next(o for o in run["report"].outcomes if o.source_id == "shell")
    assert outcome.status == "captured" and outcome.method == "browser"
    archive = Archive.open(run["root"])
    try:
        hits = search(archive.db.conn, "ceasefire ledger was signed")
        assert [h.capture_id for h in hits] == [browser["id"]]
    finally:
        archive.close()
    done = CliRunner().invoke(app, ["search", "ceasefire ledger", "-a", str(run["root"])])
    assert done.exit_code == 0 and f"#{browser['id']}" in done.stdout


def test_every_exchange_of_the_page_is_a_warc_record(
    run: dict[str, Any], site: LocalServer
) -> None:
    records = warc_records(run["root"])
    responses = {uri: (rec, body) for kind, uri, rec, body in records if kind == "response"}
    requests = {uri for kind, uri, _, _ in records if kind == "request"}
    base = site.base_url
    for path in ("/shell.html", "/app.js", "/api/data.json", "/lazy.png"):
        assert base + path in responses and base + path in requests, path
    rec, body = responses[base + "/lazy.png"]  # the lazy image, loaded by the scroll
    assert body == PNG_1PX
    assert rec.rec_headers.get_header("WARC-Citearchive-Note").startswith("body as received")
    assert rec.rec_headers.get_header("WARC-IP-Address") == "127.0.0.1"
    # The shell came gzip-encoded: the browser's record holds it decoded, and says so.
    shell = [(r, b) for k, u, r, b in records if k == "response" and u == base + "/shell.html"]
    decoded = [(r, b) for r, b in shell if r.rec_headers.get_header("WARC-Citearchive-Note")]
    ((rec, body),) = decoded
    assert body == SHELL
    assert rec.http_headers.get_header("X-Archive-Orig-Content-Encoding") == "gzip"
    assert rec.http_headers.get_header("Content-Encoding") is None


def test_screenshot_and_dom_are_resource_records(run: dict[str, Any]) -> None:
    (browser,) = rows_of(run, "shell", "browser")
    records = {uri: (rec, body) for kind, uri, rec, body in warc_records(run["root"])
               if kind == "resource"}  # fmt: skip
    rec, png = records[f"urn:screenshot:{browser['url']}"]
    assert rec.rec_headers.get_header("Content-Type") == "image/png"
    assert png_size(png) == (1280, 3000) == (browser["screenshot_width"],
                                             browser["screenshot_height"])  # fmt: skip
    assert hashlib.sha256(png).hexdigest() == browser["screenshot_sha256"]
    rec, dom = records[f"urn:dom:{browser['url']}"]
    assert PHRASE.encode() in dom and hashlib.sha256(dom).hexdigest() == browser["dom_sha256"]
    assert rec.rec_headers.get_header("WARC-Concurrent-To") == browser["warc_record_id"]


def test_popups_downloads_service_workers_and_private_addresses_get_nothing(
    run: dict[str, Any], site: LocalServer
) -> None:
    (browser,) = rows_of(run, "hostile", "browser")
    assert browser["error"] is None
    assert "line held through the night" in browser["text"]
    assert site.hits("/popup.html") == 0
    assert site.hits("/sw.js") == 0
    blocked = json.loads(browser["browser_blocked"])
    assert "private address: http://10.255.255.1/pixel.gif" in blocked
    assert "private address: http://10.255.255.1/api" in blocked
    assert "link-local address: http://169.254.169.254/latest/meta-data/" in blocked
    uris = {uri or "" for _, uri, _, _ in warc_records(run["root"])}
    assert not any("10.255.255.1" in u or "169.254.169.254" in u for u in uris)
    assert site.base_url + "/download.bin" not in uris  # the download is refused, not kept
    assert f"download: {site.base_url}/download.bin" in blocked
    dom = next(body for kind, uri, _, body in warc_records(run["root"])
               if kind == "resource" and uri == f"urn:dom:{browser['url']}")  # fmt: skip
    assert b'<p id="channels">WebSocket: undefined</p>' in dom  # no unintercepted channel


def test_a_page_that_never_finishes_loading_hits_the_deadline(run: dict[str, Any]) -> None:
    (browser,) = rows_of(run, "never", "browser")
    assert browser["error_kind"] == "deadline"
    assert "not captured within 12 s" in browser["error"]
    outcome = next(o for o in run["report"].outcomes if o.source_id == "never")
    assert outcome.method == "live"  # the HTTP capture stands (flagged: almost no text)


def test_a_plain_article_is_not_captured_in_the_browser(run: dict[str, Any]) -> None:
    assert rows_of(run, "plain", "browser") == []
    (live,) = rows_of(run, "plain", "live")
    assert live["js_shell"] is None


def test_warcio_check_and_fixity_pass(run: dict[str, Any]) -> None:
    warcio = Path(sys.executable).parent / "warcio"
    for path in (run["root"] / "warc").glob("*.warc.gz"):
        done = subprocess.run([str(warcio), "check", "-v", str(path)], capture_output=True,
                              text=True)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    archive = Archive.open(run["root"])
    try:
        results = list(check_fixity(archive))
        assert results and all(r.ok for r in results), [r.describe() for r in results if not r.ok]
    finally:
        archive.close()


def test_fixity_names_an_edited_screenshot_hash(run: dict[str, Any], tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(run["root"], root)
    (browser,) = rows_of(run, "shell", "browser")
    archive = Archive.open(root)
    try:
        with archive.db.conn:
            archive.db.execute("UPDATE captures SET screenshot_sha256 = ? WHERE id = ?",
                               ["0" * 64, browser["id"]])  # fmt: skip
        bad = [r for r in check_fixity(archive) if not r.ok]
    finally:
        archive.close()
    assert [r.capture_id for r in bad] == [browser["id"]]
    assert "screenshot record: sha256 mismatch" in bad[0].detail


def test_a_crashed_browser_is_restarted(site: LocalServer) -> None:
    async def scenario() -> tuple[Any, Any, int]:
        pool = BrowserPool(resolve_settings({"browser_deadline": 20.0,
                                             "browser_path": str(CHROMIUM)}))  # fmt: skip
        try:
            before = site.hits("/hang.png")
            task = asyncio.create_task(pool.capture(site.url("/never.html")))
            while site.hits("/hang.png") == before:  # the page is loading: now the browser dies
                await asyncio.sleep(0.05)
            assert pool._conn is not None
            pool._conn.kill()
            crashed = await task
            after = await pool.capture(site.url("/plain.html"))
            return crashed, after, pool.launches
        finally:
            await pool.close()

    crashed, after, launches = asyncio.run(scenario())
    assert crashed.error_kind == "browser" and "the browser crashed" in crashed.error
    assert after.error is None and after.document is not None and launches == 2


def test_a_hung_browser_is_killed_and_restarted(site: LocalServer) -> None:
    async def scenario() -> tuple[Any, Any, int]:
        pool = BrowserPool(resolve_settings({"browser_deadline": 3.0,
                                             "browser_path": str(CHROMIUM)}))  # fmt: skip
        try:
            before = site.hits("/hang.png")
            task = asyncio.create_task(pool.capture(site.url("/never.html")))
            while site.hits("/hang.png") == before:
                await asyncio.sleep(0.05)
            assert pool._conn is not None
            os.killpg(pool._conn.process.pid, signal.SIGSTOP)  # frozen: answers nothing
            hung = await task
            after = await pool.capture(site.url("/plain.html"))
            return hung, after, pool.launches
        finally:
            await pool.close()

    hung, after, launches = asyncio.run(scenario())
    assert hung.error_kind == "deadline"
    assert "the browser hung and was killed" in hung.error
    assert after.error is None and after.document is not None and launches == 2


def test_capture_page_shows_the_screenshot_and_links_the_dom(run: dict[str, Any]) -> None:
    (browser,) = rows_of(run, "shell", "browser")
    (plain,) = rows_of(run, "plain", "live")
    proc, url = start_server(run["root"])
    try:
        page = httpx.get(f"{url}-/citearchive/capture/{browser['id']}").text
        shot_path = f"/-/citearchive/screenshot/{browser['id']}"
        dom_path = f"/-/citearchive/dom/{browser['id']}"
        assert f'src="{shot_path}"' in page and f'href="{dom_path}"' in page
        assert browser["screenshot_sha256"] in page
        shot = httpx.get(url + shot_path.lstrip("/"))
        assert shot.status_code == 200 and shot.headers["content-type"] == "image/png"
        assert hashlib.sha256(shot.content).hexdigest() == browser["screenshot_sha256"]
        dom = httpx.get(url + dom_path.lstrip("/"))
        assert PHRASE in dom.text
        for response in (shot, dom):  # served inert, as the archived page is
            assert response.headers["content-security-policy"] == ARCHIVED_CSP
            assert response.headers["x-citearchive-fixity"] == "ok"
        assert httpx.get(f"{url}-/citearchive/screenshot/{plain['id']}").status_code == 404
        assert (
            "As the reader saw it"
            not in httpx.get(f"{url}-/citearchive/capture/{plain['id']}").text
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_wacz_carries_the_browser_records_and_the_dom_text(
    run: dict[str, Any], tmp_path: Path
) -> None:
    (browser,) = rows_of(run, "shell", "browser")
    wacz = export_wacz(run["root"], tmp_path / "archive.wacz")
    with zipfile.ZipFile(wacz) as zf:
        index = zf.read("indexes/index.cdx").decode()
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").splitlines()[1:]]
    assert f"urn:screenshot:{browser['url']} " in index
    assert f"urn:dom:{browser['url']} " in index
    assert '"url": "' + browser["url"].replace("shell.html", "lazy.png") in index
    page = next(p for p in pages if p["capture_id"] == browser["id"])
    assert PHRASE in page["text"] and page["method"] == "browser"
    tool = need_tool("wacz")
    done = subprocess.run([tool, "validate", "-f", str(wacz)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_telegram_embed_is_captured_in_the_browser(
    tmp_path: Path, site: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from citearchive.capture import browser as browser_module
    from citearchive.capture import browser_recorder
    from test_capture import TG_EMBED, _RouteToLocal

    site.route("/systemasystema/63", respond(b"<html><body>app chrome</body></html>"))
    with LocalServer(tls=True) as tme:  # t.me, as Chromium reaches it
        tme.route("/systemasystema/63?embed=1&mode=tme", respond(TG_EMBED.encode()))
        # Chromium sends t.me to the local TLS server (and takes its test certificate);
        # nothing asks a DNS server about t.me.
        flags = [*browser_module.CHROMIUM_FLAGS, "--ignore-certificate-errors",
                 f"--host-resolver-rules=MAP t.me 127.0.0.1:{tme.port}"]  # fmt: skip
        monkeypatch.setattr(browser_module, "CHROMIUM_FLAGS", flags)

        async def public(host: str) -> set[str]:
            return {"public"}

        monkeypatch.setattr(browser_module, "host_classes", public)
        monkeypatch.setattr(browser_recorder, "host_classes", public)
        # ... and the address Chromium connects to counts as public too (t.me's, here).
        monkeypatch.setattr(browser_recorder, "SPACES", {})
        monkeypatch.setattr(browser_recorder, "address_class", lambda ip: "public")
        manifest = parse_manifest(
            '[[document]]\nid = "d"\ntitle = "T"\n\n[[source]]\nid = "tg"\nfootnotes = [1]\n'
            'url = "https://t.me/systemasystema/63"\nlanguage = "ru"\n'
        )
        fetch_sources(
            manifest, tmp_path / "archive",
            settings=resolve_settings({"host_delay": 0, "browser_path": str(CHROMIUM)}),
            client_factory=lambda s: httpx.AsyncClient(transport=_RouteToLocal(site)),
        )  # fmt: skip
        assert tme.hits("/systemasystema/63") == 1
    archive = Archive.open(tmp_path / "archive")
    try:
        embed = next(archive.db.query("SELECT * FROM captures WHERE method = 'embed'"))
    finally:
        archive.close()
    assert embed["url"] == "https://t.me/systemasystema/63?embed=1&mode=tme"
    assert embed["error"] is None and embed["screenshot_sha256"] and embed["dom_record_id"]
    assert "проект договора о нейтралитете" in embed["text"]
