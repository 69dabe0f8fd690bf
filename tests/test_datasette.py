"""Browsing the evidence in Datasette: views, metadata, canned queries, the plugin's pages.

Every page is requested through Datasette's own in-process client from an archive built
with the real store: manifest rows from sources.toml, WARC records written by WarcFile and
read back by the plugin with warcio, capture and check rows as fetch and verify write them.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from datasette.app import Datasette
from warcio.statusandheaders import StatusAndHeaders

from citearchive.archive.store import DB_NAME, Archive, quote_id
from citearchive.archive.views import VIEWS, create_views
from citearchive.browse.archived_view import ARCHIVED_CSP
from citearchive.browse.metadata import (
    DATASETTE_SETTINGS,
    QUERY_ATTENTION,
    QUERY_CLAIMS,
    QUERY_SEARCH,
    datasette_metadata,
)
from citearchive.browse.plugin import register, unregister
from citearchive.browse.serve import bind_socket, bind_warning, make_datasette, serve
from citearchive.errors import ArchiveError, UsageError
from citearchive.sources.manifest import parse_manifest

MANIFEST = """
[[document]]
id = "demo"
title = "停戦協議をめぐる各国の立場（例）"
author = "架空 花子"
language = "ja"

[[footnote]]
number = 1
text = "架空太郎「停戦協議の現状と課題」架空研究所、2025 年 8 月 20 日。"

[[footnote]]
number = 2
text = "«МИД: переговоры о размещении войск НАТО неприемлемы», 18 августа 2025."

[[source]]
id = "ja"
footnotes = [1]
url = "http://ja.example.test/commentary"
title = "停戦協議の現状と課題"
language = "ja"
quotes = ["停戦の具体的な条件については明らかにしなかった", "存在しない一節"]

[[source]]
id = "ru"
footnotes = [2]
url = "http://ru.example.test/news"
title = "МИД: переговоры о размещении войск НАТО неприемлемы"
language = "ru"
quotes = ["размещения на Украине воинского контингента"]

[[source]]
id = "en"
footnotes = [3]
url = "http://en.example.test/analysis"
title = "Ceasefire Talks After Anchorage"
language = "en"
quotes = ["security guarantees for Ukraine"]

[[source]]
id = "hostile"
footnotes = [3]
url = "http://hostile.example.test/"
title = "<b>Hostile</b> page"

[[source]]
id = "gone"
footnotes = [4]
url = "http://gone.example.test/"
title = "A page that vanished"

[[source]]
id = "captcha"
footnotes = [5]
url = "http://captcha.example.test/"
title = "Behind a captcha"

[[source]]
id = "unresolved"
footnotes = [6]
title = "A report nobody could find"

[[claim]]
footnote = 1
text = "米露首脳会談が行われたが、停戦の具体的な条件は明らかにされなかった"

[[claim]]
footnote = 2
text = "ロシア外務省は、NATO 諸国の部隊の展開を認めない立場を維持した"

[[claim]]
footnote = 3
text = "欧州諸国はウクライナの安全の保証について協議を加速させた"

[[claim]]
footnote = 4
text = "その記事は削除された"

[[claim]]
footnote = 5
text = "キャプチャの向こうにある"

[[claim]]
footnote = 6
text = "誰も見つけられない報告書"
"""

JA_HTML = (
    "<html><head><meta charset='utf-8'><title>停戦協議の現状と課題</title></head><body>"
    "<p>2025年8月15日、米露首脳会談がアンカレッジで行われた。両首脳は停戦の具体的な条件に"
    "ついては明らかにしなかった。</p></body></html>"
).encode()
JA_TEXT = (
    "2025年8月15日、米露首脳会談がアンカレッジで行われた。両首脳は停戦の具体的な条件について"
    "は明らかにしなかった。"
)
RU_TEXT = (
    "Официальный представитель МИД заявила, что Россия не приемлет сценариев размещения на "
    "Украине воинского контингента. В ходе переговоров стороны должны учитывать интересы."
)
RU_HTML = (
    "<html><head><meta http-equiv='Content-Type' content='text/html; charset=windows-1251'>"
    f"<title>МИД</title></head><body><p>{RU_TEXT}</p></body></html>"
).encode("cp1251")
EN_TEXT = "European leaders coordinated their position on security guarantees for Ukraine."
EN_HTML = f"<html><head><title>Talks</title></head><body><p>{EN_TEXT}</p></body></html>".encode()
HOSTILE_TITLE = "<script>document.title='PWNED'</script>Hostile"
HOSTILE_TEXT = "Ceasefire <img src=x onerror=alert(1)> text & more"
HOSTILE_HTML = (
    b"<html><head><title>Hostile</title><script>document.title='PWNED'</script></head>"
    b"<body><p>Ceasefire</p></body></html>"
)
JA_QUOTE = "停戦の具体的な条件については明らかにしなかった"
RU_QUOTE = "размещения на Украине воинского контингента"


@dataclass
class Built:
    """An archive built for the tests, with the ids of what is in it."""

    root: Path
    ids: dict[str, int] = field(default_factory=dict)
    bodies: dict[str, bytes] = field(default_factory=dict)


def _response_record(warc: Any, url: str, status: str, headers: list, raw: bytes) -> Any:
    http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
    return warc.builder.create_warc_record(
        url, "response", payload=io.BytesIO(raw), http_headers=http
    )


def build_archive(root: Path) -> Built:
    """An archive with good, failed, suspect, revisit and hostile captures, and checks."""
    built = Built(root)
    archive = Archive.open(root)
    archive.sync_manifest(parse_manifest(MANIFEST))
    create_views(archive.db)
    run = archive.start_run("fetch", settings={}, user_agent="citearchive/test")
    warc = archive.open_warc(run, level=1, info={"software": "test"})

    def capture(key: str, row: dict[str, Any], record: Any | None, body: bytes | None) -> None:
        if record is not None:
            loc = warc.write([record])[0]
            row.update(
                warc_filename=loc.filename, warc_offset=loc.offset, warc_length=loc.length,
                warc_record_id=loc.record_id, warc_payload_digest=loc.payload_digest,
            )  # fmt: skip
        if body is not None:
            row.update(payload_sha256=hashlib.sha256(body).hexdigest(), payload_length=len(body))
            built.bodies[key] = body
        row = {"run_id": run, "method": "live", "requested_url": row.get("url"), **row}
        built.ids[key] = archive.insert_captures([row])[0]

    ja_headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")]
    capture(
        "ja",
        {"source_id": "ja", "url": "http://ja.example.test/commentary",
         "fetched_at": "2025-08-20T10:00:00Z", "status_code": 200,
         "content_type": "text/html; charset=utf-8", "charset": "utf-8",
         "charset_source": "header", "kind": "html", "title": "停戦協議の現状と課題",
         "text": JA_TEXT, "language": "ja", "ip": "192.0.2.10",
         "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256",
                 "subject": "CN=ja.example.test", "issuer": "CN=Example CA",
                 "not_before": "2025-01-01T00:00:00Z", "not_after": "2026-01-01T00:00:00Z",
                 "subject_alt_names": ["ja.example.test"], "sha256": "ab" * 32},
         "redirects": [{"url": "http://ja.example.test/old", "status": 301,
                        "location": "http://ja.example.test/commentary"}],
         "response_headers": [list(h) for h in ja_headers]},
        _response_record(warc, "http://ja.example.test/commentary", "200 OK", ja_headers,
                         gzip.compress(JA_HTML)),
        JA_HTML,
    )  # fmt: skip
    capture(
        "ja_failed",
        {"source_id": "ja", "url": "http://ja.example.test/commentary",
         "fetched_at": "2025-08-21T10:00:00Z", "error": "HTTP 503 Service Unavailable",
         "error_kind": "http", "status_code": 503},
        None, None,
    )  # fmt: skip
    capture(
        "ru",
        {"source_id": "ru", "url": "http://ru.example.test/news",
         "fetched_at": "2025-08-19T09:00:00Z", "status_code": 200, "content_type": "text/html",
         "charset": "windows-1251", "charset_source": "meta", "title": "МИД",
         "text": RU_TEXT, "language": "ru"},
        _response_record(warc, "http://ru.example.test/news", "200 OK",
                         [("Content-Type", "text/html")], RU_HTML),
        RU_HTML,
    )  # fmt: skip
    capture(
        "en",
        {"source_id": "en", "url": "http://en.example.test/analysis",
         "fetched_at": "2025-08-18T08:00:00Z", "status_code": 200,
         "content_type": "text/html; charset=utf-8", "title": "Talks", "text": EN_TEXT,
         "language": "en"},
        _response_record(warc, "http://en.example.test/analysis", "200 OK",
                         [("Content-Type", "text/html; charset=utf-8")], EN_HTML),
        EN_HTML,
    )  # fmt: skip
    en_row = archive.db["captures"].get(built.ids["en"])
    revisit = warc.builder.create_revisit_record(
        "http://en.example.test/analysis", en_row["warc_payload_digest"],
        "http://en.example.test/analysis", "2025-08-18T08:00:00Z",
        http_headers=StatusAndHeaders(
            "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
        ),
    )  # fmt: skip
    capture(
        "en_revisit",
        {"source_id": "en", "url": "http://en.example.test/analysis",
         "fetched_at": "2025-08-22T08:00:00Z", "status_code": 200,
         "content_type": "text/html; charset=utf-8", "title": "Talks", "text": EN_TEXT,
         "language": "en", "revisit_of": built.ids["en"]},
        revisit, EN_HTML,
    )  # fmt: skip
    capture(
        "hostile",
        {"source_id": "hostile", "url": "http://hostile.example.test/",
         "fetched_at": "2025-08-18T07:00:00Z", "status_code": 200, "content_type": "text/html",
         "title": HOSTILE_TITLE, "text": HOSTILE_TEXT},
        _response_record(warc, "http://hostile.example.test/", "200 OK",
                         [("Content-Type", "text/html")], HOSTILE_HTML),
        HOSTILE_HTML,
    )  # fmt: skip
    capture(
        "gone",
        {"source_id": "gone", "url": "http://gone.example.test/",
         "fetched_at": "2025-08-18T06:00:00Z", "status_code": 404,
         "error": "HTTP 404 Not Found", "error_kind": "http"},
        _response_record(warc, "http://gone.example.test/", "404 Not Found",
                         [("Content-Type", "text/plain")], b"not found"),
        b"not found",
    )  # fmt: skip
    capture(
        "captcha",
        {"source_id": "captcha", "url": "http://captcha.example.test/",
         "fetched_at": "2025-08-18T05:00:00Z", "status_code": 200, "content_type": "text/html",
         "text": "Please prove you are human", "suspect": "captcha wall"},
        _response_record(warc, "http://captcha.example.test/", "200 OK",
                         [("Content-Type", "text/html")], b"<p>Please prove you are human</p>"),
        b"<p>Please prove you are human</p>",
    )  # fmt: skip
    warc.close()
    archive.finish_run(run, {})
    _write_checks(archive, built)
    archive.close()
    return built


def _write_checks(archive: Archive, built: Built) -> None:
    """Verify's rows, as the checks contract defines them (an older run first)."""
    old = archive.start_run("verify", settings={}, user_agent=None)
    archive.insert_checks(
        [{"run_id": old, "kind": "traceability", "subject": "claim:demo:1", "outcome": "failed",
          "detail": "source ja was never captured", "checked_at": "2025-08-19T00:00:00Z"}]
    )  # fmt: skip
    archive.finish_run(old, {})
    run = archive.start_run("verify", settings={}, user_agent=None)
    at = "2025-08-23T00:00:00Z"

    def check(kind: str, subject: str, outcome: str, detail: Any = None, **extra: Any) -> dict:
        if isinstance(detail, dict):
            detail = json.dumps(detail, ensure_ascii=False)
        return {"run_id": run, "kind": kind, "subject": subject, "outcome": outcome,
                "detail": detail, "checked_at": at, **extra}  # fmt: skip

    ids = built.ids
    archive.insert_checks(
        [
            check("fixity", f"capture:{ids['ja']}", "ok", capture_id=ids["ja"]),
            check("fixity", f"capture:{ids['en']}", "failed",
                  "payload sha256 mismatch: recorded ab12…, archived cd34…", capture_id=ids["en"]),
            check("traceability", "claim:demo:1", "ok", claim_id="demo:1"),
            check("traceability", "claim:demo:4", "failed",
                  "only failed captures (HTTP 404 Not Found)", claim_id="demo:4"),
            check("traceability", "claim:demo:6", "failed",
                  "source unresolved has no URL (unresolved)", claim_id="demo:6"),
            check("quote", "quote:" + quote_id("ja", JA_QUOTE),
                  "found", {"score": 100, "capture_id": ids["ja"]}, capture_id=ids["ja"]),
            check("quote", "quote:" + quote_id("ja", "存在しない一節"), "not-found",
                  {"score": 20, "capture_id": ids["ja"]}, capture_id=ids["ja"]),
            check("quote", "quote:" + quote_id("ru", RU_QUOTE),
                  "found", {"score": 100, "capture_id": ids["ru"]}, capture_id=ids["ru"]),
            check("live", "source:en", "changed", {"similarity": 72, "diff": "-a\n+b"},
                  source_id="en"),
            check("live-quote", "quote:" + quote_id("ru", RU_QUOTE),
                  "not-found", {"score": 10}),
        ]
    )  # fmt: skip
    archive.finish_run(run, {})


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_archive(tmp_path_factory.mktemp("archive"))


@pytest.fixture()
def ds(built: Built) -> Datasette:
    return make_datasette(built.root)


def get(ds: Datasette, *paths: str) -> list[httpx.Response]:
    """GET each path through Datasette's in-process client."""

    async def run() -> list[httpx.Response]:
        return [await ds.client.get(p) for p in paths]

    return asyncio.run(run())


def rows(ds: Datasette, path: str) -> list[dict[str, Any]]:
    sep = "&" if "?" in path else "?"
    (response,) = get(ds, f"{path}{sep}_shape=array")
    assert response.status_code == 200, response.text
    return response.json()


# --- views -----------------------------------------------------------------------------


def test_create_views_is_idempotent(built: Built) -> None:
    archive = Archive.open(built.root)
    try:
        assert create_views(archive.db) == []
        archive.db.execute("DROP VIEW claim_evidence")
        assert create_views(archive.db) == ["claim_evidence", "source_status"]
        assert set(VIEWS) <= set(archive.db.view_names())
    finally:
        archive.close()


def test_claim_evidence_has_one_row_per_claim_and_source(ds: Datasette, built: Built) -> None:
    got = {(r["claim_id"], r["source_id"]): r for r in rows(ds, "/citearchive/claim_evidence.json")}
    assert set(got) == {
        ("demo:1", "ja"), ("demo:2", "ru"), ("demo:3", "en"), ("demo:3", "hostile"),
        ("demo:4", "gone"), ("demo:5", "captcha"), ("demo:6", "unresolved"),
    }  # fmt: skip
    ja = got[("demo:1", "ja")]
    # the newer attempt failed: the evidence is still the older good capture
    assert ja["capture_id"] == built.ids["ja"]
    assert ja["captured_at"] == "2025-08-20T10:00:00Z"
    assert ja["payload_sha256"] == hashlib.sha256(JA_HTML).hexdigest()
    assert ja["quote_verdicts"] == "1/2 found, 1 not found"
    assert ja["verdict"] == "ok"  # the newest traceability check wins over the older failure
    assert ja["document_title"] == "停戦協議をめぐる各国の立場（例）"
    assert got[("demo:3", "en")]["capture_id"] == built.ids["en_revisit"]
    assert got[("demo:3", "en")]["quote_verdicts"] == "0/1 found, 1 not checked yet"
    assert got[("demo:4", "gone")]["capture_id"] is None
    assert got[("demo:4", "gone")]["verdict"] == "failed"
    assert "404" in got[("demo:4", "gone")]["verdict_detail"]
    assert got[("demo:5", "captcha")]["capture_id"] is None  # suspect is not evidence
    assert got[("demo:5", "captcha")]["verdict"] == "not verified"
    assert got[("demo:6", "unresolved")]["url"] == "unresolved"


def test_source_status_says_why_a_source_needs_attention(ds: Datasette, built: Built) -> None:
    got = {r["source_id"]: r for r in rows(ds, "/citearchive/source_status.json")}
    assert set(got) == {"ja", "ru", "en", "hostile", "gone", "captcha", "unresolved"}
    ja = got["ja"]
    assert ja["captures"] == 2 and ja["good_captures"] == 1
    assert ja["last_capture_id"] == built.ids["ja_failed"]
    assert ja["good_capture_id"] == built.ids["ja"]
    assert ja["last_status"] == "failed: HTTP 503 Service Unavailable"
    assert ja["attention"] == (
        "failing: HTTP 503 Service Unavailable; 1 quote(s) not found in the capture"
    )
    assert got["ru"]["attention"] == "1 quote(s) no longer on the live page"
    assert got["en"]["live_verdict"] == "changed" and got["en"]["live_similarity"] == 72
    assert got["en"]["attention"] == "drifted: live page changed; fixity failed on 1 capture(s)"
    assert got["gone"]["attention"] == "failing: HTTP 404 Not Found"
    assert got["captcha"]["suspect_flags"] == "captcha wall"
    assert got["captcha"]["attention"] == "suspect: captcha wall"
    assert got["unresolved"]["url"] == "unresolved"
    assert got["unresolved"]["attention"] == "unresolved: no URL in sources.toml"
    assert got["unresolved"]["captures"] == 0
    assert got["hostile"]["attention"] is None
    assert got["hostile"]["last_status"] == "HTTP 200"


def test_latest_checks_keeps_the_newest_verdict(ds: Datasette) -> None:
    got = rows(ds, "/citearchive/latest_checks.json?kind=traceability&subject=claim:demo:1")
    assert [(r["outcome"], r["target"]) for r in got] == [("ok", "demo:1")]


# --- canned queries and search ----------------------------------------------------------


def test_canned_queries_answer(ds: Datasette, built: Built) -> None:
    claims = rows(ds, f"/citearchive/{QUERY_CLAIMS}.json")
    assert [r["claim_id"] for r in claims][:2] == ["demo:1", "demo:2"]
    assert claims[0]["capture_id"] == built.ids["ja"]
    attention = {
        r["source_id"]: r["attention"] for r in rows(ds, f"/citearchive/{QUERY_ATTENTION}.json")
    }
    assert set(attention) == {"ja", "ru", "en", "gone", "captcha", "unresolved"}
    assert attention["unresolved"].startswith("unresolved")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("停戦", {"ja"}),  # two characters: below the trigram index, found by the scan
        ("переговоры", {"ru"}),  # the text says «переговоров»
        ("guarantees", {"en"}),  # the revisit carries the same text: two captures
        ("Ceasefire", {"hostile"}),
        ("неприемлемы xyz", set()),
    ],
)
def test_search_canned_query_uses_the_cli_search(
    ds: Datasette, built: Built, query: str, expected: set[str]
) -> None:
    found = rows(ds, f"/citearchive/{QUERY_SEARCH}.json?q={query}")
    assert {r["source_id"] for r in found} == expected
    for r in found:
        assert r["snippet"]
    if expected == {"en"}:
        assert {r["capture_id"] for r in found} == {built.ids["en"], built.ids["en_revisit"]}


def test_the_captures_table_has_a_search_box(ds: Datasette) -> None:
    found = rows(ds, "/citearchive/captures.json?_search=переговоров")
    assert {r["source_id"] for r in found} == {"ru"}


def test_the_search_box_finds_two_character_terms_with_the_cli_search(ds: Datasette) -> None:
    found = rows(ds, "/citearchive/captures.json?_search=停戦")
    assert {r["source_id"] for r in found} == {"ja"}
    page = get(ds, "/citearchive/captures?_search=停戦")[0]
    assert 'name="_search" value="停戦"' in page.text
    assert 'name="_search"' in get(ds, "/citearchive/captures")[0].text


def test_search_without_a_term_lists_nothing(ds: Datasette) -> None:
    assert rows(ds, f"/citearchive/{QUERY_SEARCH}.json?q=") == []


# --- every page -------------------------------------------------------------------------


def test_every_page_renders(ds: Datasette, built: Built) -> None:
    archive = Archive.open(built.root)
    tables = [t for t in archive.db.table_names() if not t.startswith("captures_fts")]
    archive.close()
    paths = ["/", "/citearchive", "/-/metadata.json"]
    paths += [f"/citearchive/{t}" for t in [*tables, *VIEWS]]
    paths += [f"/citearchive/{t}.json" for t in [*tables, *VIEWS]]
    paths += [f"/citearchive/{q}" for q in (QUERY_CLAIMS, QUERY_ATTENTION, QUERY_SEARCH)]
    paths += [f"/citearchive/{QUERY_SEARCH}?q=停戦"]
    paths += [f"/-/citearchive/capture/{cid}" for cid in built.ids.values()]
    paths += [f"/-/citearchive/capture/{cid}.json" for cid in built.ids.values()]
    paths += [f"/citearchive/captures/{cid}" for cid in built.ids.values()]
    for path, response in zip(paths, get(ds, *paths), strict=True):
        assert response.status_code == 200, (path, response.text[:500])


def test_metadata_describes_tables_and_labels_foreign_keys(ds: Datasette, built: Built) -> None:
    meta = datasette_metadata(built.root)
    assert meta["title"] == "citearchive: 停戦協議をめぐる各国の立場（例）"
    assert meta["license"] and meta["source"].startswith("citearchive ")
    tables = meta["databases"]["citearchive"]["tables"]
    archive = Archive.open(built.root)
    names = [t for t in archive.db.table_names() if not t.startswith("captures_fts")]
    archive.close()
    for name in [*names, *VIEWS]:
        assert name in tables, name
        assert tables[name].get("description") or tables[name].get("hidden"), name
    assert tables["sources"]["label_column"] == "title"
    (page, index) = get(ds, "/citearchive/captures", "/")
    # source_id shows the source's title, linked to the source row
    assert '<a href="/citearchive/sources/ja">停戦協議の現状と課題</a>' in page.text
    assert "Every attempt to capture a source" in page.text
    cid = built.ids["ja"]
    assert f'<a href="/-/citearchive/capture/{cid}">停戦協議の現状と課題</a>' in page.text
    assert "停戦協議をめぐる各国の立場（例）" in index.text
    assert "_migrations" not in index.text


def test_claim_evidence_links_to_capture_pages(ds: Datasette, built: Built) -> None:
    (page, menu) = get(ds, "/citearchive/claim_evidence", "/")
    assert f'<a href="/-/citearchive/capture/{built.ids["ja"]}">{built.ids["ja"]}</a>' in page.text
    assert "One row per claim and cited source" in page.text
    assert f'href="/citearchive/{QUERY_ATTENTION}"' in menu.text


# --- the capture page -------------------------------------------------------------------


def test_capture_page_shows_provenance_hashes_and_text(ds: Datasette, built: Built) -> None:
    cid = built.ids["ja"]
    (page,) = get(ds, f"/-/citearchive/capture/{cid}")
    html = page.text
    for expected in (
        "停戦協議の現状と課題",  # source title
        JA_TEXT,  # the extracted text
        hashlib.sha256(JA_HTML).hexdigest(),  # payload hash
        "192.0.2.10",  # server IP
        "CN=ja.example.test",  # certificate subject
        "CN=Example CA",
        "TLSv1.3",
        "http://ja.example.test/old",  # redirect chain
        "Content-Encoding",  # response headers
        "米露首脳会談が行われたが",  # the claim resting on it
        "停戦の具体的な条件については明らかにしなかった",  # a quote
        "not-found",  # the other quote's verdict
        "fixity",
    ):
        assert expected in html, expected
    assert f'href="/-/citearchive/replay/{cid}"' in html  # the archived page under its banner
    assert f'href="/-/citearchive/archived/{cid}?download=1"' in html
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_capture_page_escapes_archived_text(ds: Datasette, built: Built) -> None:
    (page, as_json) = get(
        ds, f"/-/citearchive/capture/{built.ids['hostile']}",
        f"/-/citearchive/capture/{built.ids['hostile']}.json",
    )  # fmt: skip
    assert "<script>document.title" not in page.text
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;Hostile" in page.text
    assert "<img src=x" not in page.text and "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "<b>Hostile</b>" not in page.text and "&lt;b&gt;Hostile&lt;/b&gt;" in page.text
    data = as_json.json()
    assert data["capture"]["title"] == HOSTILE_TITLE
    assert data["source"]["title"] == "<b>Hostile</b> page"


def test_capture_page_json_for_scripts(ds: Datasette, built: Built) -> None:
    (response,) = get(ds, f"/-/citearchive/capture/{built.ids['ja']}.json")
    data = response.json()
    assert data["capture"]["payload_sha256"] == hashlib.sha256(JA_HTML).hexdigest()
    assert data["capture"]["tls"]["subject"] == "CN=ja.example.test"
    assert data["source"]["id"] == "ja"
    assert [c["id"] for c in data["claims"]] == ["demo:1"]
    assert {q["verdict"] for q in data["quotes"]} == {"found", "not-found"}
    assert data["archived_url"] == f"/-/citearchive/archived/{built.ids['ja']}"


def test_missing_capture_is_404(ds: Datasette) -> None:
    (page, archived, as_json) = get(
        ds, "/-/citearchive/capture/9999", "/-/citearchive/archived/9999",
        "/-/citearchive/capture/9999.json",
    )  # fmt: skip
    assert page.status_code == archived.status_code == as_json.status_code == 404
    assert as_json.json()["ok"] is False


# --- the archived page ------------------------------------------------------------------


def test_archived_page_is_the_decoded_payload_under_a_strict_policy(
    ds: Datasette, built: Built
) -> None:
    (response,) = get(ds, f"/-/citearchive/archived/{built.ids['ja']}")
    assert response.status_code == 200
    assert response.content == JA_HTML  # gzip Content-Encoding undone
    assert "content-encoding" not in response.headers
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert csp == ARCHIVED_CSP
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["default-src"] == ["'none'"] and directives["sandbox"] == []
    assert "script-src" not in directives and directives["img-src"] == ["data:"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-citearchive-fixity"] == "ok"


def test_archived_page_keeps_the_archived_content_type(ds: Datasette, built: Built) -> None:
    (ru, hostile) = get(
        ds, f"/-/citearchive/archived/{built.ids['ru']}",
        f"/-/citearchive/archived/{built.ids['hostile']}",
    )  # fmt: skip
    assert ru.content == RU_HTML  # the original bytes, cp1251
    assert ru.headers["content-type"] == "text/html; charset=windows-1251"  # detected charset
    assert hostile.content == HOSTILE_HTML
    assert hostile.headers["content-security-policy"] == ARCHIVED_CSP


def test_revisit_serves_the_original_payload(ds: Datasette, built: Built) -> None:
    (response, page) = get(
        ds, f"/-/citearchive/archived/{built.ids['en_revisit']}",
        f"/-/citearchive/capture/{built.ids['en_revisit']}",
    )  # fmt: skip
    assert response.status_code == 200 and response.content == EN_HTML
    assert f'href="/-/citearchive/capture/{built.ids["en"]}">capture {built.ids["en"]}' in page.text


def test_failed_capture_with_a_record_is_viewable_and_one_without_is_404(
    ds: Datasette, built: Built
) -> None:
    (gone, failed) = get(
        ds, f"/-/citearchive/archived/{built.ids['gone']}",
        f"/-/citearchive/archived/{built.ids['ja_failed']}",
    )  # fmt: skip
    assert gone.status_code == 200 and gone.content == b"not found"
    assert failed.status_code == 404
    assert "HTTP 503 Service Unavailable" in failed.text


def test_download_is_an_attachment(ds: Datasette, built: Built) -> None:
    (response,) = get(ds, f"/-/citearchive/archived/{built.ids['ja']}?download=1")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and f"capture-{built.ids['ja']}" in disposition


def test_missing_warc_file_is_reported(tmp_path: Path) -> None:
    built = build_archive(tmp_path / "archive")
    for warc in (tmp_path / "archive" / "warc").glob("*.warc.gz"):
        warc.unlink()
    (response,) = get(make_datasette(built.root), f"/-/citearchive/archived/{built.ids['ja']}")
    assert response.status_code == 500
    assert "WARC file missing: warc/" in response.text
    assert "content-security-policy" not in response.headers or (
        response.headers["content-security-policy"] != ARCHIVED_CSP
    )


def _add_capture(root: Path, url: str, headers: list, raw: bytes, body: bytes) -> int:
    """One more good capture of source "en" whose record holds ``raw`` (encoded ``body``)."""
    archive = Archive.open(root, create=False)
    run = archive.start_run("fetch", settings={}, user_agent="citearchive/test")
    warc = archive.open_warc(run, level=1, info={"software": "test"})
    loc = warc.write([_response_record(warc, url, "200 OK", headers, raw)])[0]
    warc.close()
    (cid,) = archive.insert_captures(
        [{"run_id": run, "source_id": "en", "requested_url": url, "url": url, "method": "live",
          "fetched_at": "2025-08-24T08:00:00Z", "status_code": 200,
          "content_type": "text/html; charset=utf-8", "payload_sha256":
          hashlib.sha256(body).hexdigest(), "payload_length": len(body),
          "warc_filename": loc.filename, "warc_offset": loc.offset, "warc_length": loc.length,
          "warc_record_id": loc.record_id, "warc_payload_digest": loc.payload_digest}]
    )  # fmt: skip
    archive.finish_run(run, {})
    archive.close()
    return cid


def test_archived_page_decodes_concatenated_gzip_members(tmp_path: Path) -> None:
    """Two gzip members are one body (RFC 1952), as capture and fixity decode it."""
    built = build_archive(tmp_path / "archive")
    body = EN_HTML[:-14] + b"<p>" + "ウクライナの安全の保証。".encode() * 100 + b"</p>"
    body += b"</body></html>"
    raw = gzip.compress(body[:100]) + gzip.compress(body[100:])
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")]
    cid = _add_capture(built.root, "http://en.example.test/members", headers, raw, body)
    (response,) = get(make_datasette(built.root), f"/-/citearchive/archived/{cid}")
    assert response.status_code == 200
    assert len(response.content) == len(body) and response.content == body
    assert response.headers["x-citearchive-fixity"] == "ok"


def test_archived_page_refuses_a_record_that_is_not_the_captures(tmp_path: Path) -> None:
    """An offset pointing at another capture's record is refused, not served as this one."""
    built = build_archive(tmp_path / "archive")
    archive = Archive.open(built.root, create=False)
    ru = archive.db["captures"].get(built.ids["ru"])
    with archive.db.conn:
        archive.db["captures"].update(  # type: ignore[union-attr]
            built.ids["ja"], {"warc_offset": ru["warc_offset"], "warc_length": ru["warc_length"]}
        )
    archive.close()
    (response,) = get(make_datasette(built.root), f"/-/citearchive/archived/{built.ids['ja']}")
    assert response.status_code == 500
    assert RU_HTML not in response.content
    assert f"is {ru['warc_record_id']}, not " in response.text.replace("&lt;", "<").replace(
        "&gt;", ">"
    )


# --- read-only, security headers, plain Datasette ---------------------------------------


def test_archive_is_served_read_only(ds: Datasette, built: Built) -> None:
    db_file = built.root / DB_NAME
    before = hashlib.sha256(db_file.read_bytes()).hexdigest()
    (delete, update) = get(
        ds, "/citearchive.json?sql=delete+from+captures",
        "/citearchive.json?sql=update+sources+set+url=null",
    )  # fmt: skip
    assert delete.status_code == update.status_code == 400
    assert "Statement must be a SELECT" in delete.text

    async def post() -> httpx.Response:
        return await ds.client.post("/citearchive/sources/-/insert", json={"row": {"id": "x"}})

    assert asyncio.run(post()).status_code == 405
    assert hashlib.sha256(db_file.read_bytes()).hexdigest() == before


def test_every_response_carries_security_headers(ds: Datasette, built: Built) -> None:
    for response in get(
        ds, "/", "/citearchive/captures", f"/-/citearchive/capture/{built.ids['ja']}"
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] in ("same-origin", "no-referrer")


def test_plain_datasette_without_the_plugin_still_makes_sense(built: Built) -> None:
    path = str(built.root / DB_NAME)
    unregister()
    try:
        ds = Datasette([path], immutables=[path])
        (view, status, table, capture, search) = get(
            ds, "/citearchive/claim_evidence.json?_shape=array",
            "/citearchive/source_status.json?_shape=array", "/citearchive/captures",
            f"/-/citearchive/capture/{built.ids['ja']}", f"/citearchive/{QUERY_SEARCH}",
        )  # fmt: skip
    finally:
        register()
    assert view.status_code == 200 and len(view.json()) == 7
    assert status.status_code == 200 and len(status.json()) == 7
    assert table.status_code == 200
    assert capture.status_code == 404  # the plugin's pages need the plugin
    assert search.status_code == 404  # and so does the search (its SQL functions)


# --- serve ------------------------------------------------------------------------------


def test_bind_warning_only_off_loopback() -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert bind_warning(host) is None
    warning = bind_warning("0.0.0.0")
    assert warning and "0.0.0.0" in warning and "127.0.0.1" in warning


def test_serve_warns_before_anything_else(tmp_path: Path) -> None:
    warned: list[str] = []
    with pytest.raises(ArchiveError):
        serve(tmp_path / "nothing-here", host="0.0.0.0", warn=warned.append)
    assert len(warned) == 1 and "anyone who can reach this machine" in warned[0]
    assert not (tmp_path / "nothing-here").exists()


def test_port_in_use_is_a_usage_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match=f"cannot listen on 127.0.0.1:{port}"):
            bind_socket("127.0.0.1", port)


def start_server(archive_root: Path) -> tuple[subprocess.Popen[str], str]:
    """``browse.serve`` in a subprocess on a free 127.0.0.1 port; returns it and its URL."""
    code = "import sys; from citearchive.browse.serve import serve; serve(sys.argv[1], port=0)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(archive_root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()
    found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
    if not found:
        proc.kill()
        raise AssertionError(f"serve did not start: {line}{proc.stderr.read()}")
    url = found.group(1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "-/versions.json", timeout=2)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("serve did not answer")


def test_serve_runs_datasette_on_loopback(built: Built) -> None:
    proc, url = start_server(built.root)
    try:
        assert url.startswith("http://127.0.0.1:")
        settings = httpx.get(url + "-/settings.json").json()
        assert settings["sql_time_limit_ms"] == DATASETTE_SETTINGS["sql_time_limit_ms"]
        databases = httpx.get(url + "-/databases.json").json()
        assert [d["name"] for d in databases] == ["citearchive"]
        page = httpx.get(url + f"-/citearchive/capture/{built.ids['ru']}")
        assert page.status_code == 200 and RU_TEXT in page.text
        archived = httpx.get(url + f"-/citearchive/archived/{built.ids['ru']}")
        assert archived.content == RU_HTML
        assert archived.headers["content-security-policy"] == ARCHIVED_CSP
        found = httpx.get(
            url + f"citearchive/{QUERY_SEARCH}.json", params={"q": "停戦", "_shape": "array"}
        )
        assert [r["source_id"] for r in found.json()] == ["ja"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- hostile requests (findings F8, F14, F19, F20, F24) -------------------------------------


def test_an_over_long_capture_id_is_a_404(ds: Datasette) -> None:
    huge = "9" * 23
    for response in get(
        ds, f"/-/citearchive/capture/{huge}", f"/-/citearchive/capture/{huge}.json",
        f"/-/citearchive/archived/{huge}", f"/-/citearchive/replay/{huge}",
    ):  # fmt: skip
        assert response.status_code == 404


def test_writing_requests_get_405_not_500(ds: Datasette) -> None:
    async def run() -> list[httpx.Response]:
        return [
            await ds.client.post(f"/citearchive/{QUERY_SEARCH}", data={"q": "x"}),
            await ds.client.post("/citearchive", data={"sql": "delete from captures"}),
            await ds.client.post("/-/citearchive/capture/1"),
        ]

    for response in asyncio.run(run()):
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"


def test_archived_page_opened_as_a_page_gets_the_replay_banner(ds: Datasette, built: Built) -> None:
    cid = built.ids["ru"]

    async def run() -> list[httpx.Response]:
        nav = {"sec-fetch-dest": "document"}
        framed = {"sec-fetch-dest": "iframe"}
        return [
            await ds.client.get(f"/-/citearchive/archived/{cid}", headers=nav),
            await ds.client.get(f"/-/citearchive/archived/{cid}", headers=framed),
            await ds.client.get(f"/-/citearchive/archived/{cid}?download=1", headers=nav),
            await ds.client.get(f"/-/citearchive/replay/{cid}"),
        ]

    top, framed, download, replay = asyncio.run(run())
    assert top.status_code == 302
    assert top.headers["location"] == f"/-/citearchive/replay/{cid}"
    assert framed.content == RU_HTML  # inside the banner's frame: the payload itself
    assert "frame-ancestors 'self'" in framed.headers["content-security-policy"]
    assert download.content == RU_HTML
    assert replay.status_code == 200
    assert "Archived copy, not the live page." in replay.text
    assert f'src="/-/citearchive/archived/{cid}"' in replay.text and 'sandbox=""' in replay.text
    assert "frame-src 'self'" in replay.headers["content-security-policy"]


def test_serve_answers_only_its_own_host_names(built: Built) -> None:
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 must not
    read the archive through the user's browser."""
    proc, url = start_server(built.root)
    try:
        path = url + "citearchive/sources.json"
        assert httpx.get(path).status_code == 200
        assert httpx.get(path, headers={"Host": "localhost:1"}).status_code == 200
        evil = httpx.get(path, headers={"Host": "evil.example"})
        assert evil.status_code == 421 and "citearchive" not in evil.text
        assert httpx.get(path, headers={"Host": "evil.example:80"}).status_code == 421
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_sees_an_archive_that_changes_under_it(tmp_path: Path, built: Built) -> None:
    """A fetch while Datasette serves: the new rows show, nothing reads as corrupt."""
    root = tmp_path / "live"
    shutil.copytree(built.root, root)
    live = make_datasette(root)
    sql = "/citearchive.json?sql=select+count(*)+as+n+from+checks&_shape=array"
    (before,) = get(live, sql)
    assert before.status_code == 200
    n = before.json()[0]["n"]
    with sqlite3.connect(root / DB_NAME) as conn:  # a writer, as fetch and verify are
        conn.executemany(
            "INSERT INTO checks (run_id, kind, subject, outcome, detail, checked_at) "
            "VALUES ('r', 'fixity', 'capture:1', 'ok', ?, '2026-01-01T00:00:00Z')",
            [("x" * 2000,) for _ in range(3000)],
        )
    (after,) = get(live, sql)
    assert after.status_code == 200, after.text
    assert after.json()[0]["n"] == n + 3000
