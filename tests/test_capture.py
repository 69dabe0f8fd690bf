"""The capture pipeline end to end: a real local server, the real httpx client, real WARC
files read back with warcio, a real SQLite index."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import pytest
from warcio.archiveiterator import ArchiveIterator

from citearchive.archive.store import Archive
from citearchive.capture.pipeline import fetch_sources
from citearchive.config import resolve_settings
from citearchive.sources.manifest import parse_manifest
from localserver import LocalServer, redirect, respond, sequence

RU_HTML = """<html><head><meta charset="{cs}"><title>Переговоры в Вашингтоне</title></head>
<body><nav>Главная | Политика</nav><article><h1>Переговоры в Вашингтоне</h1>
<p>Официальный представитель МИД России заявила, что Россия не приемлет никаких сценариев
размещения на Украине воинского контингента с участием стран НАТО.</p>
<p>По её словам, такие сценарии чреваты неконтролируемой эскалацией конфликта и в ходе
переговоров стороны должны учитывать интересы безопасности России.</p></article></body></html>"""
JA_HTML = """<html><head><meta charset="{cs}"><title>停戦協議の現状</title></head>
<body><article><h1>停戦協議の現状</h1>
<p>2025年8月15日、米露首脳会談がアラスカ州アンカレッジで行われた。会談後、両首脳は共同記者会見に臨んだが、停戦の具体的な条件については明らかにしなかった。</p>
<p>ロシア側は「根本的原因」の解決を繰り返し求めており、ウクライナの中立化と軍備の制限を要求の中核に据えている。</p>
<p>欧州諸国はウクライナの安全の保証を具体化するための協議を加速させた。</p></article></body></html>"""
EN_HTML = """<html><head><title>Talks after Anchorage</title></head><body><article>
<h1>Talks after Anchorage</h1><p>The summit in Anchorage ended without an agreement on a
ceasefire, but both presidents described the talks as productive and promised further
negotiations in the coming weeks.</p><p>European leaders travelled to Washington to coordinate
their position on security guarantees for Ukraine, and many questions still linger.</p>
</article></body></html>"""

FAST = {"host_delay": 0.0, "backoff": 0.01, "deadline": 10.0, "max_attempts": 2}


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(max_workers=2) as executor:
        yield executor


def manifest_for(tmp_path: Path, sources: list[dict]) -> object:
    lines = ['[[document]]\nid = "doc"\ntitle = "Test commentary"\n']
    for i, s in enumerate(sources, start=1):
        lines.append("[[source]]")
        lines.append(f"footnotes = [{i}]")
        for key, value in s.items():
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
        lines.append("")
    lines.append('[[claim]]\nfootnote = 1\ntext = "A claim."\n')
    return parse_manifest("\n".join(lines), tmp_path / "sources.toml")


def run(manifest, archive: Path, pool, **kw):  # type: ignore[no-untyped-def]
    settings = resolve_settings(FAST, kw.pop("settings", None))
    return fetch_sources(manifest, archive, settings=settings, executor=pool, **kw)


def rows(archive: Path) -> list[dict]:
    arch = Archive.open(archive, create=False)
    try:
        return list(arch.db.query("select * from captures order by id"))
    finally:
        arch.close()


def read_record(archive: Path, row: dict):  # type: ignore[no-untyped-def]
    with open(archive / "warc" / row["warc_filename"], "rb") as fh:
        fh.seek(row["warc_offset"])
        member = fh.read(row["warc_length"])
    record = next(iter(ArchiveIterator(io.BytesIO(member))))
    return record, record.content_stream().read()


def test_multilingual_pages_are_archived_hashed_and_extracted(
    tmp_path: Path, local_server: LocalServer, pool: ProcessPoolExecutor
) -> None:
    pages = {
        "/ru-1251": (RU_HTML.format(cs="windows-1251").encode("cp1251"), "windows-1251"),
        "/ru-koi8": (RU_HTML.format(cs="koi8-r").encode("koi8_r"), "koi8-r"),
        "/ja-sjis": (JA_HTML.format(cs="shift_jis").encode("shift_jis"), "shift_jis"),
        "/ja-euc": (JA_HTML.format(cs="euc-jp").encode("euc_jp"), "euc-jp"),
        "/en": (EN_HTML.encode(), "utf-8"),
    }
    for path, (body, _) in pages.items():
        # no charset in the HTTP header: it must come from <meta>; the English one is gzipped
        local_server.route(
            path,
            respond(body, content_type="text/html", encoding="gzip" if path == "/en" else None),
        )
    langs = {"/ru-1251": "ru", "/ru-koi8": "ru", "/ja-sjis": "ja", "/ja-euc": "ja", "/en": "en"}
    manifest = manifest_for(
        tmp_path,
        [{"id": p.strip("/"), "url": local_server.url(p), "language": langs[p]} for p in pages]
        + [{"id": "unresolved", "title": "No URL yet"}],
    )
    report = run(manifest, tmp_path / "archive", pool)
    assert report.ok, report.to_dict()
    assert report.counts() == {"captured": 5, "suspect": 0, "failed": 0, "skipped": 0,
                               "unresolved": 1}  # fmt: skip
    by_source = {r["source_id"]: r for r in rows(tmp_path / "archive")}
    assert "переговоров стороны" in by_source["ru-1251"]["text"]
    assert by_source["ru-koi8"]["text"] == by_source["ru-1251"]["text"]
    assert by_source["ru-koi8"]["text_sha256"] == by_source["ru-1251"]["text_sha256"]
    assert "共同記者会見" in by_source["ja-sjis"]["text"]
    assert by_source["ja-euc"]["text_sha256"] == by_source["ja-sjis"]["text_sha256"]
    assert "negotiations" in by_source["en"]["text"]
    for sid, row in by_source.items():
        body = pages["/" + sid][0]
        assert row["payload_sha256"] == hashlib.sha256(body).hexdigest()
        assert row["payload_length"] == len(body)
        assert row["language"] == langs["/" + sid]
        assert row["ip"] == "127.0.0.1"
        record, payload = read_record(tmp_path / "archive", row)
        assert record.rec_type == "response"
        assert payload == body  # Content-Encoding undone by the reader, as at capture time
        assert hashlib.sha256(payload).hexdigest() == row["payload_sha256"]
    assert by_source["en"]["charset"] == "utf-8"
    assert by_source["ja-sjis"]["charset_source"] == "meta"
    # the gzip body is stored as it came over the wire
    row = by_source["en"]
    with open(tmp_path / "archive" / "warc" / row["warc_filename"], "rb") as fh:
        fh.seek(row["warc_offset"])
        en_record = next(iter(ArchiveIterator(io.BytesIO(fh.read(row["warc_length"])))))
        assert en_record.http_headers.get_header("Content-Encoding") == "gzip"
        assert gzip.decompress(en_record.raw_stream.read()) == pages["/en"][0]

    warc = tmp_path / "archive" / "warc" / report.warc_filename
    tool = Path(sys.executable).with_name("warcio")
    check = subprocess.run([tool, "check", str(warc)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    index = subprocess.run([tool, "index", str(warc)], capture_output=True, text=True)
    types = [json.loads(line)["warc-type"] for line in index.stdout.splitlines()]
    assert types.count("response") == 5 and types.count("request") == 5
    assert types[0] == "warcinfo"


def test_failures_are_rows_and_the_batch_goes_on(
    tmp_path: Path, local_server: LocalServer, pool: ProcessPoolExecutor
) -> None:
    local_server.route("/ok", respond(EN_HTML.encode()))
    local_server.route("/gone", respond(b"<h1>Not here</h1>", status=404))
    local_server.route("/loop-a", redirect("/loop-b"))
    local_server.route("/loop-b", redirect("/loop-a"))
    manifest = manifest_for(
        tmp_path,
        [
            {"id": "ok", "url": local_server.url("/ok")},
            {"id": "gone", "url": local_server.url("/gone")},
            {"id": "loop", "url": local_server.url("/loop-a")},
            {"id": "refused", "url": "http://127.0.0.1:9/"},
        ],
    )
    report = run(manifest, tmp_path / "archive", pool)
    assert not report.ok
    status = {o.source_id: o for o in report.outcomes}
    assert status["ok"].status == "captured"
    assert status["gone"].status == "failed" and status["gone"].status_code == 404
    assert "404" in status["gone"].error
    assert "redirect loop" in status["loop"].error
    assert "refused" in status["refused"].error
    by_source = {r["source_id"]: r for r in rows(tmp_path / "archive")}
    assert set(by_source) == {"ok", "gone", "loop", "refused"}
    assert by_source["gone"]["warc_offset"] is not None  # the 404 itself is evidence
    _, payload = read_record(tmp_path / "archive", by_source["gone"])
    assert payload == b"<h1>Not here</h1>"
    assert by_source["refused"]["error_kind"] == "refused"
    assert by_source["refused"]["warc_filename"] is None


def test_redirect_chain_is_recorded_hop_by_hop(
    tmp_path: Path, local_server: LocalServer, pool: ProcessPoolExecutor
) -> None:
    local_server.route("/old", redirect("/middle", 301))
    local_server.route("/middle", redirect("/new"))
    local_server.route("/new", respond(EN_HTML.encode()))
    manifest = manifest_for(tmp_path, [{"id": "moved", "url": local_server.url("/old")}])
    run(manifest, tmp_path / "archive", pool)
    (row,) = rows(tmp_path / "archive")
    assert row["requested_url"] == local_server.url("/old")
    assert row["url"] == local_server.url("/new")
    chain = json.loads(row["redirects"])
    assert [h["status"] for h in chain] == [301, 302]
    warc = next((tmp_path / "archive" / "warc").glob("*.warc.gz"))
    with open(warc, "rb") as fh:
        responses = [
            (r.rec_headers.get_header("WARC-Target-URI"), r.http_headers.get_statuscode())
            for r in ArchiveIterator(fh)
            if r.rec_type == "response"
        ]
    assert [s for _, s in responses] == ["301", "302", "200"]


def test_skip_then_refresh_writes_a_revisit_for_identical_payload(
    tmp_path: Path, local_server: LocalServer, pool: ProcessPoolExecutor
) -> None:
    local_server.route("/same", respond(EN_HTML.encode()))
    local_server.route(
        "/changing",
        sequence(respond(EN_HTML.encode()), respond(EN_HTML.replace("linger", "remain").encode())),
    )
    manifest = manifest_for(
        tmp_path,
        [{"id": "same", "url": local_server.url("/same")},
         {"id": "changing", "url": local_server.url("/changing")}],
    )  # fmt: skip
    archive = tmp_path / "archive"
    run(manifest, archive, pool)
    second = run(manifest, archive, pool)
    assert second.counts()["skipped"] == 2 and second.run_id is None
    assert local_server.hits("/same") == 1
    third = run(manifest, archive, pool, refresh=True)
    outcome = {o.source_id: o for o in third.outcomes}
    assert outcome["same"].revisit and not outcome["changing"].revisit
    captures = rows(archive)
    assert len(captures) == 4
    first_same, again_same = [r for r in captures if r["source_id"] == "same"]
    assert again_same["revisit_of"] == first_same["id"]
    assert again_same["payload_sha256"] == first_same["payload_sha256"]
    assert again_same["text"] == first_same["text"]
    record, _ = read_record(archive, again_same)
    assert record.rec_type == "revisit"
    assert record.rec_headers.get_header("WARC-Refers-To") == first_same["warc_record_id"]
    assert record.rec_headers.get_header("WARC-Payload-Digest") == first_same["warc_payload_digest"]
    changed = [r for r in captures if r["source_id"] == "changing"]
    assert changed[0]["text_sha256"] != changed[1]["text_sha256"]
    assert changed[1]["revisit_of"] is None


def test_alternate_is_tried_when_the_primary_fails(
    tmp_path: Path, local_server: LocalServer, pool: ProcessPoolExecutor
) -> None:
    local_server.route("/deleted", respond(b"gone", status=410))
    local_server.route("/mirror", respond(EN_HTML.encode()))
    manifest = manifest_for(
        tmp_path,
        [{"id": "s", "url": local_server.url("/deleted"),
          "alternates": [local_server.url("/mirror")]}],
    )  # fmt: skip
    report = run(manifest, tmp_path / "archive", pool)
    assert report.ok
    (outcome,) = report.outcomes
    assert outcome.method == "alternate" and outcome.status == "captured"
    assert [r["method"] for r in rows(tmp_path / "archive")] == ["live", "alternate"]


def test_error_page_served_as_200_is_flagged_suspect(
    tmp_path: Path, local_server: LocalServer, pool: ProcessPoolExecutor
) -> None:
    blocked = (
        "<html><head><title>Доступ запрещён</title></head>"
        "<body><p>Доступ запрещён.</p></body></html>"
    )
    local_server.route("/blocked", respond(blocked.encode()))
    manifest = manifest_for(tmp_path, [{"id": "b", "url": local_server.url("/blocked")}])
    report = run(manifest, tmp_path / "archive", pool)
    (outcome,) = report.outcomes
    assert outcome.status == "suspect" and outcome.suspect
    assert not report.ok  # kept and flagged: it needs a person's attention
    (row,) = rows(tmp_path / "archive")
    assert row["suspect"] == outcome.suspect and row["error"] is None
    # a suspect page is no capture of the source: the next fetch tries again
    again = run(manifest, tmp_path / "archive", pool)
    assert again.outcomes[0].status == "suspect" and local_server.hits("/blocked") == 2


def test_a_body_that_cannot_be_decoded_gets_no_payload_hash(
    tmp_path: Path, local_server: LocalServer, pool: ProcessPoolExecutor
) -> None:
    local_server.route(
        "/bad-gzip", (200, [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
                      b"this is not gzip at all")
    )  # fmt: skip
    manifest = manifest_for(tmp_path, [{"id": "g", "url": local_server.url("/bad-gzip")}])
    report = run(manifest, tmp_path / "archive", pool)
    assert report.outcomes[0].status == "failed"
    (row,) = rows(tmp_path / "archive")
    assert row["error_kind"] == "decode"
    assert row["payload_sha256"] is None and row["payload_length"] is None
    assert row["warc_offset"] is not None  # the bytes that arrived are still archived


def test_a_gzip_body_cut_short_is_a_cut_body_not_the_document(
    tmp_path: Path, local_server: LocalServer, pool: ProcessPoolExecutor
) -> None:
    """Finding F1: a gzip stream that stops early (no end, no trailer) under a matching
    Content-Length was a whole, good capture of a partial document."""
    page = EN_HTML.replace("</article>", "<p>END marker paragraph.</p></article>").encode()
    wire = gzip.compress(page)
    cut = wire[: len(wire) * 2 // 3]
    local_server.route(
        "/gzcut", (200, [("Content-Type", "text/html"), ("Content-Encoding", "gzip"),
                         ("Content-Length", str(len(cut)))], cut)
    )  # fmt: skip
    manifest = manifest_for(tmp_path, [{"id": "g", "url": local_server.url("/gzcut")}])
    report = run(manifest, tmp_path / "archive", pool)
    assert report.outcomes[0].status == "failed" and "cut short" in str(report.outcomes[0].error)
    (row,) = rows(tmp_path / "archive")
    assert row["error_kind"] == "decode" and row["truncated"] == 1
    assert row["payload_sha256"] is None and row["text"] is None  # no hash, no text
    record, _ = read_record(tmp_path / "archive", row)
    assert record.rec_type == "response"  # the bytes that arrived are evidence


def test_a_body_cut_at_the_cap_is_archived_but_not_extracted(
    tmp_path: Path, local_server: LocalServer, pool: ProcessPoolExecutor
) -> None:
    """Issue 10 §2: a cut body is evidence of what the server sent, not a document."""
    big = EN_HTML.replace("</article>", "<p>more text</p>" * 4000 + "</article>").encode()
    local_server.route("/big", respond(big))
    manifest = manifest_for(tmp_path, [{"id": "b", "url": local_server.url("/big")}])
    run(manifest, tmp_path / "archive", pool, settings={"max_bytes": 20_000})
    (row,) = rows(tmp_path / "archive")
    assert row["error_kind"] == "too-large" and row["truncated"] == 1
    assert row["text"] is None and row["text_sha256"] is None and row["payload_sha256"] is None
    assert row["warc_offset"] is not None


class _RouteToLocal(httpx.AsyncBaseTransport):
    """A real transport that sends requests for t.me to the local server instead."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        local = httpx.URL(self.server.base_url)
        request.url = request.url.copy_with(scheme="http", host=local.host, port=local.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


TG_EMBED = """<html><head><title>Telegram Widget</title></head><body>
<div class="tgme_widget_message" data-post="systemasystema/63">
<div class="tgme_widget_message_author"><span dir="auto">Система</span></div>
<div class="tgme_widget_message_text js-message_text" dir="auto">Публикуем документ 2022 года:
<br/>проект договора о нейтралитете Украины, который обсуждали на переговорах.</div>
<a class="tgme_widget_message_date"><time datetime="2024-11-04T12:00:00+00:00">Nov 4</time></a>
</div></body></html>"""


def test_telegram_post_also_captures_the_embed_view(
    tmp_path: Path, local_server: LocalServer, pool: ProcessPoolExecutor
) -> None:
    chrome = b"<html><head><title>Telegram</title></head><body>app chrome</body></html>"
    local_server.route("/systemasystema/63", respond(chrome))
    local_server.route("/systemasystema/63?embed=1&mode=tme", respond(TG_EMBED.encode()))
    manifest = manifest_for(
        tmp_path, [{"id": "tg", "url": "https://t.me/systemasystema/63", "language": "ru"}]
    )

    def client(settings):  # type: ignore[no-untyped-def]
        return httpx.AsyncClient(transport=_RouteToLocal(local_server), follow_redirects=False)

    # browser_auto off: the embed over HTTP (Chromium would fetch the real t.me)
    run(manifest, tmp_path / "archive", pool, client_factory=client,
        settings={"browser_auto": False})  # fmt: skip
    captures = rows(tmp_path / "archive")
    assert [r["method"] for r in captures] == ["live", "embed"]
    embed = captures[1]
    assert embed["requested_url"] == "https://t.me/systemasystema/63?embed=1&mode=tme"
    assert "проект договора о нейтралитете" in embed["text"]
    assert "Telegram Widget" not in embed["text"]


def test_same_document_now_gzip_encoded_is_stored_in_full_not_as_revisit(
    tmp_path: Path, local_server: LocalServer, pool: ProcessPoolExecutor
) -> None:
    body = EN_HTML.encode()
    local_server.route("/p", sequence(respond(body), respond(body, encoding="gzip")))
    manifest = manifest_for(tmp_path, [{"id": "p", "url": local_server.url("/p")}])
    run(manifest, tmp_path / "archive", pool)
    run(manifest, tmp_path / "archive", pool, refresh=True)
    first, second = rows(tmp_path / "archive")
    assert first["payload_sha256"] == second["payload_sha256"]  # the same document...
    assert second["revisit_of"] is None  # ...but other bytes on the wire: kept in full
    record, payload = read_record(tmp_path / "archive", second)
    assert record.rec_type == "response"
    assert record.http_headers.get_header("Content-Encoding") == "gzip"
    assert payload == body


class _Broken(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug somewhere below fetch")


def test_a_bug_fails_its_source_as_a_row_and_the_batch_goes_on(
    tmp_path: Path, pool: ProcessPoolExecutor, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = manifest_for(tmp_path, [{"id": "a", "url": "http://127.0.0.1:9/a"},
                                       {"id": "b", "url": "http://127.0.0.1:9/b"}])  # fmt: skip

    def client(settings):  # type: ignore[no-untyped-def]
        return httpx.AsyncClient(transport=_Broken())

    report = run(manifest, tmp_path / "archive", pool, client_factory=client)
    assert [o.status for o in report.outcomes] == ["failed", "failed"]
    assert all("internal error" in (o.error or "") for o in report.outcomes)
    assert [r["error_kind"] for r in rows(tmp_path / "archive")] == ["internal", "internal"]
    assert "RuntimeError: a bug somewhere below fetch" in capsys.readouterr().err
