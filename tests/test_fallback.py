"""Fallback to existing web archives: Memento (RFC 7089) and the Wayback availability API.

The "live web" is one local server, the web archive another: ``ArchiveStandIn`` speaks the
real protocols with the real formats (TimeMap in ``application/link-format``, TimeGate
``Accept-Datetime`` negotiation answered by a 302 with ``Vary`` and ``Link``, mementos with
``Memento-Datetime``, raw ``id_`` and banner-wrapped replay URLs, the availability API's
JSON), laid out like the Wayback Machine. Captures are made by the real pipeline, read back
from the real SQLite index and WARC files, and verified by ``verify_archive``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from warcio.archiveiterator import ArchiveIterator

from citearchive.archive.store import Archive
from citearchive.capture.fallback import fallback_target, find_mementos, is_public_url
from citearchive.capture.memento import (
    Memento,
    Target,
    choose_mementos,
    parse_link_format,
    raw_memento_url,
    strip_replay_banner,
)
from citearchive.capture.pipeline import FetchReport, fetch_sources
from citearchive.capture.politeness import HostLimiter
from citearchive.config import resolve_settings
from citearchive.errors import ManifestError
from citearchive.sources.importer import import_commentary
from citearchive.sources.manifest import Manifest, load_manifest, parse_manifest
from citearchive.verify.run import verify_archive
from localserver import LocalServer, Request, respond, retry_after, sequence

FAST = {"host_delay": 0.0, "backoff": 0.01, "deadline": 10.0, "max_attempts": 2}

RU_OLD = (
    "Официальный представитель МИД России провела брифинг. Речь шла о графике визитов и о "
    "подготовке к консультациям экспертов, которые должны пройти осенью в одной из столиц."
)
RU_QUOTE = "Россия не приемлет никаких сценариев размещения на Украине воинского контингента"
RU_P = (
    f"Официальный представитель МИД России заявила, что {RU_QUOTE} с участием стран НАТО. "
    "По её словам, такие сценарии чреваты неконтролируемой эскалацией конфликта и в ходе "
    "переговоров стороны должны учитывать интересы безопасности."
)
RU_NEW = (
    "Официальный представитель МИД России заявила, что позиция по вопросу о гарантиях "
    "безопасности будет изложена позднее, после консультаций с партнёрами и союзниками."
)
JA_QUOTE = "ウクライナの中立化と軍備の制限を要求の中核に据えている"
JA_P = (
    "2025年8月15日、米露首脳会談がアラスカ州アンカレッジで行われた。会談後、両首脳は共同記者会見に"
    f"臨んだが、停戦の具体的な条件については明らかにしなかった。ロシア側は{JA_QUOTE}。"
    "欧州諸国はウクライナの安全の保証を具体化するための協議を加速させた。"
)
JA_OTHER = (
    "欧州諸国の首脳はワシントンを訪れ、米国との調整を進めたが、停戦監視の枠組みや部隊派遣の規模に"
    "ついては依然として見解の相違が残っている。今後の協議の日程は決まっていない。"
)
EN_QUOTE = "promised further negotiations in the coming weeks"
EN_P = (
    "The summit in Anchorage ended without an agreement on a ceasefire, but both presidents "
    f"described the talks as productive and {EN_QUOTE}. European leaders travelled to "
    "Washington to coordinate their position on security guarantees for Ukraine."
)
EN_OTHER = (
    "A week later the same newsroom reported that the talks had stalled over the sequencing "
    "of a ceasefire and of security guarantees, and that no date had been set for a meeting."
)
BANNER_TEXT = "Wayback Machine 29 captures 18 Aug 2025 - 30 Sep 2025"


def page(title: str, *paragraphs: str, article: bool = True) -> bytes:
    body = f"<h1>{title}</h1>" + "".join(f"<p>{p}</p>" for p in paragraphs)
    if article:
        body = f"<article>{body}</article>"
    return (
        f"<html><head><meta charset='utf-8'><title>{title}</title></head><body>{body}</body></html>"
    ).encode()


def with_banner(body: bytes) -> bytes:
    """The page as the Wayback Machine replays it: its toolbar after <body>."""
    banner = (
        '<!-- BEGIN WAYBACK TOOLBAR INSERT -->\n<div id="wm-ipp-base" lang="en" '
        'style="direction:ltr;"><div id="wm-ipp" style="position:fixed">'
        f"<div><p>{BANNER_TEXT}</p><div><a href='/web/'>Go</a></div></div></div></div>\n"
        "<!-- END WAYBACK TOOLBAR INSERT -->"
    ).encode()
    return body.replace(b"<body>", b"<body>" + banner, 1)


def ts_datetime(ts: str) -> dt.datetime:
    return dt.datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)


def http_date(ts: str) -> str:
    return format_datetime(ts_datetime(ts), usegmt=True)


# --- the web archive stand-in ------------------------------------------------------------


class ArchiveStandIn:
    """A web archive on a LocalServer, laid out like the Wayback Machine::

        /web/timemap/link/<URI-R>            TimeMap (application/link-format)
        /web/<URI-R>                         TimeGate (Accept-Datetime -> 302 Found)
        /web/<ts>/<URI-R>                    memento, replayed with the toolbar banner
        /web/<ts>id_/<URI-R>                 memento, raw (as archived)
        /wayback/available?url=&timestamp=   availability API (JSON)

    ``add`` registers an original URL and its mementos; ``timemap=False`` or
    ``timegate=False`` leaves that endpoint answering 404 for it. Every request is
    counted in ``max_inflight`` (the most requests the archive served at once).
    """

    def __init__(self, server: LocalServer, *, delay: float = 0.0) -> None:
        self.server = server
        self.delay = delay  # seconds each answer takes: makes overlapping requests visible
        self.mementos: dict[str, dict[str, bytes]] = {}  # URI-R -> {ts: archived body}
        self.inflight = 0
        self.max_inflight = 0
        self._lock = threading.Lock()
        server.route("/wayback/available", self._counted(self._available))

    @property
    def settings(self) -> dict[str, str]:
        return {
            "memento_timemap": self.server.url("/web/timemap/link/"),
            "memento_timegate": self.server.url("/web/"),
            "wayback_available": self.server.url("/wayback/available"),
        }

    def memento_url(self, original: str, ts: str, mode: str = "") -> str:
        return self.server.url(f"/web/{ts}{mode}/{original}")

    def add(
        self,
        original: str,
        mementos: dict[str, bytes],
        *,
        timemap: bool = True,
        timegate: bool = True,
        banner_in_raw: bool = False,
        raw_route: Callable[[Request], None] | None = None,
    ) -> None:
        self.mementos[original] = mementos
        if timemap:
            self.server.route(f"/web/timemap/link/{original}", self._counted(self._timemap))
        if timegate:
            self.server.route(f"/web/{original}", self._counted(self._timegate))
        for ts, body in mementos.items():
            replay = self._memento(original, ts, with_banner(body))
            raw = self._memento(original, ts, with_banner(body) if banner_in_raw else body)
            self.server.route(f"/web/{ts}/{original}", self._counted(replay))
            self.server.route(f"/web/{ts}id_/{original}", self._counted(raw_route or raw))

    def _counted(self, handler: Callable[[Request], None]) -> Callable[[Request], None]:
        def counted(request: Request) -> None:
            with self._lock:
                self.inflight += 1
                self.max_inflight = max(self.max_inflight, self.inflight)
            try:
                if self.delay:
                    time.sleep(self.delay)
                handler(request)
            finally:
                with self._lock:
                    self.inflight -= 1

        return counted

    def _links(self, original: str) -> str:
        timemap = self.server.url(f"/web/timemap/link/{original}")
        return (
            f'<{original}>; rel="original", <{timemap}>; rel="timemap"; '
            f'type="application/link-format", <{self.server.url(f"/web/{original}")}>; '
            'rel="timegate"'
        )

    def _memento(self, original: str, ts: str, body: bytes) -> Callable[[Request], None]:
        def handler(request: Request) -> None:
            request.send(200, [("Content-Type", "text/html; charset=utf-8"),
                               ("Memento-Datetime", http_date(ts)),
                               ("Link", self._links(original))], body)  # fmt: skip

        return handler

    def _original_of(self, request: Request, prefix: str) -> str:
        return request.target[len(prefix) :]

    def _timemap(self, request: Request) -> None:
        original = self._original_of(request, "/web/timemap/link/")
        stamps = sorted(self.mementos[original])
        lines = [
            f'<{original}>; rel="original",',
            f'<{self.server.url(request.target)}>; rel="self"; '
            f'type="application/link-format"; from="{http_date(stamps[0])}"; '
            f'until="{http_date(stamps[-1])}",',
            f'<{self.server.base_url}>; rel="timegate",',
        ]
        for i, ts in enumerate(stamps):
            rel = "first memento" if i == 0 else "last memento" if ts == stamps[-1] else "memento"
            lines.append(f'<{self.memento_url(original, ts)}>; rel="{rel}"; '
                         f'datetime="{http_date(ts)}",')  # fmt: skip
        body = "\n".join(lines).rstrip(",").encode() + b"\n"
        request.send(200, {"Content-Type": "application/link-format"}, body)

    def _closest(self, original: str, when: dt.datetime | None) -> str | None:
        stamps = sorted(self.mementos.get(original, {}))
        if not stamps:
            return None
        if when is None:
            return stamps[-1]
        return min(stamps, key=lambda ts: abs((ts_datetime(ts) - when).total_seconds()))

    def _timegate(self, request: Request) -> None:
        original = self._original_of(request, "/web/")
        asked = request.headers and dict((k.lower(), v) for k, v in request.headers)
        value = (asked or {}).get("accept-datetime")
        ts = self._closest(original, parsedate_to_datetime(value) if value else None)
        assert ts is not None
        request.send(302, [("Vary", "accept-datetime"),
                           ("Location", self.memento_url(original, ts)),
                           ("Link", f'<{original}>; rel="original", '
                                    f'<{self.server.url("/web/timemap/link/" + original)}>; '
                                    'rel="timemap"; type="application/link-format"'),
                           ("Content-Type", "text/plain")], b"")  # fmt: skip

    def _available(self, request: Request) -> None:
        query = parse_qs(request.query)
        original = query["url"][0]
        stamp = query.get("timestamp", [None])[0]
        ts = self._closest(original, ts_datetime(stamp.ljust(14, "0")) if stamp else None)
        answer: dict[str, Any] = {"url": original, "archived_snapshots": {}}
        if ts is not None:
            answer["archived_snapshots"]["closest"] = {
                "status": "200", "available": True,
                "url": self.memento_url(original, ts), "timestamp": ts,
            }  # fmt: skip
        request.send(200, {"Content-Type": "application/json"}, json.dumps(answer).encode())


# --- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(max_workers=2) as executor:
        yield executor


@pytest.fixture
def archive_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture
def wayback(archive_server: LocalServer) -> ArchiveStandIn:
    return ArchiveStandIn(archive_server)


def refused_url() -> str:
    """A URL on a local port nobody listens on: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/deleted-article"


def manifest_for(
    tmp_path: Path, sources: list[dict[str, Any]], *, settings: dict[str, Any] | None = None
) -> Manifest:
    """One document; source i cites footnote i (with its ``accessed``) and has one claim."""
    lines = ['[[document]]\nid = "doc"\ntitle = "Commentary"\n']
    if settings:
        lines.insert(0, "[settings]\n" + "".join(f"{k} = {json.dumps(v)}\n"
                                                  for k, v in settings.items()))  # fmt: skip
    for i, s in enumerate(sources, start=1):
        fields = dict(s)
        accessed = fields.pop("accessed", None)
        lines.append(f"[[footnote]]\nnumber = {i}\n"
                     + (f'accessed = "{accessed}"\n' if accessed else ""))  # fmt: skip
        lines.append(f"[[source]]\nfootnotes = [{i}]")
        lines += [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in fields.items()]
        lines.append(f'\n[[claim]]\nfootnote = {i}\ntext = "Claim {i}."\n')
    return parse_manifest("\n".join(lines), tmp_path / "sources.toml")


def run(
    manifest: Manifest, archive: Path, pool: ProcessPoolExecutor, **settings: Any
) -> FetchReport:
    resolved = resolve_settings(FAST, manifest.settings, settings)
    return fetch_sources(manifest, archive, settings=resolved, executor=pool)


def rows(archive: Path) -> list[dict[str, Any]]:
    arch = Archive.open(archive, create=False)
    try:
        return list(arch.db.query("select * from captures order by id"))
    finally:
        arch.close()


def payload(archive: Path, row: dict[str, Any]) -> bytes:
    with open(archive / "warc" / row["warc_filename"], "rb") as fh:
        fh.seek(row["warc_offset"])
        member = fh.read(row["warc_length"])
    record = next(iter(ArchiveIterator(io.BytesIO(member))))
    assert record.rec_type == "response"
    return bytes(record.content_stream().read())


def by_source(archive: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows(archive):
        out.setdefault(r["source_id"], []).append(r)
    return out


def archive_paths(server: LocalServer) -> list[str]:
    return [r.target for r in server.requests]


# --- the "done when": 403, 404 and a refused connection, recovered and verified --


def test_403_404_and_refused_sources_are_recovered_from_the_archive_and_verified(
    tmp_path: Path,
    local_server: LocalServer,
    archive_server: LocalServer,
    wayback: ArchiveStandIn,
    pool: ProcessPoolExecutor,
) -> None:
    local_server.route("/kremlin", respond(b"<h1>Forbidden</h1>", status=403))
    local_server.route("/nids", respond(b"not found", status=404, content_type="text/plain"))
    blocked, gone, refused = local_server.url("/kremlin"), local_server.url("/nids"), refused_url()
    # 403: the TimeMap lists four mementos; the one of Aug 18 is closest to the access date
    wayback.add(blocked, {
        "20241201080000": page("Брифинг", RU_OLD),
        "20250818093000": page("Брифинг", RU_P),
        "20250930120000": page("Брифинг", RU_NEW),
        "20251115000000": page("Брифинг", RU_NEW, RU_OLD),
    })  # fmt: skip
    # 404: no TimeMap here; the TimeGate negotiates on Accept-Datetime
    wayback.add(gone, {
        "20250601000000": page("停戦協議", JA_OTHER),
        "20250820090000": page("停戦協議", JA_P),
        "20251201000000": page("停戦協議", JA_OTHER, JA_OTHER),
    }, timemap=False)  # fmt: skip
    # refused: neither TimeMap nor TimeGate; the availability API finds it, and this archive
    # leaves its banner in even in raw mode
    # (a page without <article>: the banner would read as part of its text)
    wayback.add(refused, {
        "20250301000000": page("Talks", EN_OTHER),
        "20250819150000": page("Talks", EN_P, EN_OTHER, article=False),
        "20250825000000": page("Talks", EN_OTHER, EN_P[:80]),
    }, timemap=False, timegate=False, banner_in_raw=True)  # fmt: skip
    manifest = manifest_for(tmp_path, [
        {"id": "blocked", "url": blocked, "language": "ru", "quotes": [RU_QUOTE],
         "accessed": "2025-08-19"},
        {"id": "gone", "url": gone, "language": "ja", "quotes": [JA_QUOTE],
         "accessed": "2025-08-19"},
        {"id": "refused", "url": refused, "language": "en", "quotes": [EN_QUOTE],
         "accessed": "2025-08-19"},
    ], settings=wayback.settings)  # fmt: skip
    archive = tmp_path / "archive"

    report = run(manifest, archive, pool)

    assert report.ok, report.to_dict()
    assert [(o.status, o.method) for o in report.outcomes] == [("captured", "memento")] * 3
    assert report.outcomes[0].memento_datetime == "2025-08-18T09:30:00Z"
    captures = by_source(archive)
    for sid, original in (("blocked", blocked), ("gone", gone), ("refused", refused)):
        live, memento = captures[sid]
        assert live["method"] == "live" and live["error"] is not None
        assert memento["method"] == "memento" and memento["error"] is None
        assert memento["original_url"] == original
        assert memento["archive_name"] == "127.0.0.1"
        assert memento["memento_basis"] == "accessed 2025-08-19"
        assert "id_/" in memento["requested_url"]  # raw mode, no replay rewriting
    assert captures["blocked"][0]["status_code"] == 403
    assert captures["gone"][0]["status_code"] == 404
    assert captures["refused"][0]["error_kind"] == "refused"
    chosen = {sid: captures[sid][1]["memento_datetime"] for sid in captures}
    assert chosen == {"blocked": "2025-08-18T09:30:00Z", "gone": "2025-08-20T09:00:00Z",
                      "refused": "2025-08-19T15:00:00Z"}  # fmt: skip
    # each source was found the way the stand-in allows, asking for the access date
    paths = archive_paths(archive_server)
    assert f"/web/timemap/link/{blocked}" in paths and f"/web/{blocked}" not in paths
    gate = next(r for r in archive_server.requests if r.target == f"/web/{gone}")
    assert gate.header("accept-datetime") == "Tue, 19 Aug 2025 12:00:00 GMT"
    asked = next(r for r in archive_server.requests if r.path == "/wayback/available")
    query = parse_qs(urlsplit(asked.target).query)
    assert query == {"url": [refused], "timestamp": ["20250819120000"]}
    assert f"/web/20250819150000/{refused}" not in paths  # the replay URL was made raw
    # the WARC holds the bytes as the archive sent them; the text is the page without banner
    refused_row = captures["refused"][1]
    assert BANNER_TEXT.encode() in payload(archive, refused_row)
    assert BANNER_TEXT not in refused_row["text"] and "further negotiations" in refused_row["text"]
    assert payload(archive, captures["blocked"][1]) == page("Брифинг", RU_P)

    verified = verify_archive(manifest, archive)

    assert verified.ok, verified.to_dict()
    quotes = {c.source_id: c.outcome for c in verified.checks if c.kind == "quote"}
    assert quotes == {"blocked": "found", "gone": "found", "refused": "found"}
    notes = {c.footnote: (c.verdict, c.fallback) for c in verified.claims}
    assert notes[1] == (
        "ok; rests on an archived copy (memento 2025-08-18)",
        ["blocked: rests on an archived copy (memento 2025-08-18, 127.0.0.1)"],
    )
    assert notes[2][1] == ["gone: rests on an archived copy (memento 2025-08-20, 127.0.0.1)"]
    assert notes[3][0] == "ok; rests on an archived copy (memento 2025-08-19)"
    assert verified.totals["fallback"] == {"memento": 3}

    # the capture page in Datasette says it is an archived copy, and of what
    page_html = capture_page(archive, captures["blocked"][1]["id"])
    assert "Memento-Datetime" in page_html and "2025-08-18T09:30:00Z" in page_html
    assert blocked in page_html and "accessed 2025-08-19" in page_html

    # verify --live measures the live web: it never fetches archived copies
    before = len(archive_server.requests)
    verify_archive(manifest, archive, live=True, settings=resolve_settings(FAST, wayback.settings))
    assert len(archive_server.requests) == before


def capture_page(archive: Path, capture_id: int) -> str:
    from citearchive.browse.serve import make_datasette

    async def get() -> str:
        response = await make_datasette(archive).client.get(f"/-/citearchive/capture/{capture_id}")
        assert response.status_code == 200
        return response.text

    return asyncio.run(get())


def test_alternates_are_tried_before_the_archive(
    tmp_path: Path,
    local_server: LocalServer,
    archive_server: LocalServer,
    wayback: ArchiveStandIn,
    pool: ProcessPoolExecutor,
) -> None:
    local_server.route("/a", respond(b"gone", status=410, content_type="text/plain"))
    local_server.route("/a-amp", respond(b"nope", status=404, content_type="text/plain"))
    local_server.route("/a-mirror", respond(page("Talks", EN_P)))
    local_server.route("/b", respond(b"gone", status=404, content_type="text/plain"))
    local_server.route("/b-mirror", respond(b"gone", status=404, content_type="text/plain"))
    local_server.route("/c", respond(b"gone", status=404, content_type="text/plain"))
    local_server.route("/c-mirror", respond(b"gone", status=404, content_type="text/plain"))
    a, b, c = (local_server.url(p) for p in ("/a", "/b", "/c"))
    wayback.add(a, {"20250819000000": page("Talks", EN_OTHER, EN_OTHER)})
    wayback.add(b, {"20250819000000": page("Talks", EN_P)})
    # only the mirror of c is archived: the archive is asked about the cited URL first
    wayback.add(local_server.url("/c-mirror"), {"20250819000000": page("Talks", EN_P)})
    manifest = manifest_for(tmp_path, [
        {"id": "a", "url": a, "alternates": [local_server.url("/a-amp"),
                                             local_server.url("/a-mirror")]},
        {"id": "b", "url": b, "alternates": [local_server.url("/b-mirror")]},
        {"id": "c", "url": c, "alternates": [local_server.url("/c-mirror")]},
    ], settings=wayback.settings)  # fmt: skip

    report = run(manifest, tmp_path / "archive", pool)

    assert report.ok, report.to_dict()
    assert [o.method for o in report.outcomes] == ["alternate", "memento", "memento"]
    captures = by_source(tmp_path / "archive")
    assert [(r["method"], r["requested_url"]) for r in captures["a"]] == [
        ("live", a), ("alternate", local_server.url("/a-amp")),
        ("alternate", local_server.url("/a-mirror")),
    ]  # fmt: skip
    assert [r["method"] for r in captures["b"]] == ["live", "alternate", "memento"]
    assert [r["method"] for r in captures["c"]] == ["live", "alternate", "memento"]
    assert captures["c"][2]["original_url"] == local_server.url("/c-mirror")
    assert captures["b"][2]["fetched_at"] >= captures["b"][1]["fetched_at"]
    assert not any(a in path for path in archive_paths(archive_server))  # a never needed it


def test_fallback_false_turns_it_off(
    tmp_path: Path,
    local_server: LocalServer,
    archive_server: LocalServer,
    wayback: ArchiveStandIn,
    pool: ProcessPoolExecutor,
) -> None:
    local_server.route("/gone", respond(b"gone", status=404, content_type="text/plain"))
    url = local_server.url("/gone")
    wayback.add(url, {"20250819000000": page("Talks", EN_P)})
    manifest = manifest_for(tmp_path, [{"id": "s", "url": url}],
                            settings={**wayback.settings, "fallback": False})  # fmt: skip
    assert manifest.settings["fallback"] is False

    report = run(manifest, tmp_path / "archive", pool)

    assert not report.ok and report.outcomes[0].error == "HTTP 404 Not Found"
    assert [r["method"] for r in rows(tmp_path / "archive")] == ["live"]
    assert archive_server.requests == []
    # the flag layer (`fetch --no-fallback`) wins over sources.toml the same way
    on = manifest_for(tmp_path, [{"id": "s", "url": url}], settings=wayback.settings)
    assert resolve_settings(FAST, on.settings, {"fallback": False}).fallback is False


def test_a_suspect_live_page_falls_back_too(
    tmp_path: Path,
    local_server: LocalServer,
    wayback: ArchiveStandIn,
    pool: ProcessPoolExecutor,
) -> None:
    geo = "<html><head><title>Недоступно</title></head><body>Контент недоступен в вашем регионе"
    local_server.route("/geo", respond(geo.encode()))
    url = local_server.url("/geo")
    wayback.add(url, {"20250818093000": page("Брифинг", RU_P)})
    manifest = manifest_for(tmp_path, [{"id": "s", "url": url, "language": "ru"}],
                            settings=wayback.settings)  # fmt: skip

    report = run(manifest, tmp_path / "archive", pool)

    (outcome,) = report.outcomes
    assert (outcome.status, outcome.method) == ("captured", "memento")
    live, memento = rows(tmp_path / "archive")
    assert live["suspect"] and live["error"] is None
    assert memento["memento_basis"] == "newest" and RU_QUOTE in memento["text"]


# --- the archive's limits ----------------------------------------------------------------


def test_an_archive_that_refuses_is_named(
    tmp_path: Path,
    local_server: LocalServer,
    archive_server: LocalServer,
    wayback: ArchiveStandIn,
    pool: ProcessPoolExecutor,
) -> None:
    local_server.route("/x", respond(b"gone", status=404, content_type="text/plain"))
    local_server.route("/y", respond(b"gone", status=404, content_type="text/plain"))
    x, y = local_server.url("/x"), local_server.url("/y")
    # x: the lookup itself is refused; y: the TimeMap answers, the memento is refused
    archive_server.route(f"/web/timemap/link/{x}", respond(b"Forbidden", status=403))
    wayback.add(y, {"20250819000000": page("Talks", EN_P)},
                raw_route=respond(b"Forbidden", status=403))  # fmt: skip
    manifest = manifest_for(tmp_path, [{"id": "x", "url": x}, {"id": "y", "url": y}],
                            settings=wayback.settings)  # fmt: skip

    report = run(manifest, tmp_path / "archive", pool)

    assert not report.ok
    x_out, y_out = report.outcomes
    assert x_out.error.startswith(
        "HTTP 404 Not Found; web archive refused: HTTP 403 from 127.0.0.1"
    )
    assert y_out.error == "HTTP 404 Not Found; web archive refused: HTTP 403 from 127.0.0.1"
    captures = by_source(tmp_path / "archive")
    x_fallback = captures["x"][-1]
    assert (x_fallback["method"], x_fallback["status_code"]) == ("memento", 403)
    assert x_fallback["error"].startswith("web archive refused: HTTP 403 from 127.0.0.1")
    assert "timegate at 127.0.0.1: HTTP 404" in x_fallback["error"]  # the others were asked
    assert x_fallback["warc_filename"] is None and x_fallback["original_url"] == x
    y_fallback = captures["y"][-1]
    assert y_fallback["error"] == "web archive refused: HTTP 403 from 127.0.0.1"
    assert y_fallback["warc_filename"] is not None  # the refusal itself is archived evidence
    assert verify_archive(manifest, tmp_path / "archive").totals.get("fallback") is None


def test_retry_after_from_the_archive_is_honoured(
    tmp_path: Path,
    local_server: LocalServer,
    archive_server: LocalServer,
    wayback: ArchiveStandIn,
    pool: ProcessPoolExecutor,
) -> None:
    local_server.route("/x", respond(b"gone", status=404, content_type="text/plain"))
    local_server.route("/y", respond(b"gone", status=404, content_type="text/plain"))
    x, y = local_server.url("/x"), local_server.url("/y")
    wayback.add(x, {"20250819000000": page("Talks", EN_P)})
    timemap = archive_server.routes[f"/web/timemap/link/{x}"]
    archive_server.route(f"/web/timemap/link/{x}", sequence(retry_after(1, status=429), timemap))
    archive_server.route(f"/web/timemap/link/{y}", retry_after(3600, status=429))
    archive_server.route(f"/web/{y}", respond(b"", status=404))
    manifest = manifest_for(tmp_path, [{"id": "x", "url": x}, {"id": "y", "url": y}],
                            settings=wayback.settings)  # fmt: skip

    report = run(manifest, tmp_path / "archive", pool, max_retry_after=5.0)

    assert [o.status for o in report.outcomes] == ["captured", "failed"]
    asked = [r.time for r in archive_server.requests if r.target == f"/web/timemap/link/{x}"]
    assert len(asked) == 2 and asked[1] - asked[0] >= 0.95  # waited as the archive asked
    # an hour is more than max_retry_after: not retried, and said so
    assert archive_server.hits(f"/web/timemap/link/{y}") == 1
    assert by_source(tmp_path / "archive")["y"][-1]["error"].startswith(
        "web archive refused: HTTP 429 from 127.0.0.1 (rate limit; try again later)"
    )


def test_one_request_at_a_time_per_archive(
    tmp_path: Path,
    local_server: LocalServer,
    archive_server: LocalServer,
    pool: ProcessPoolExecutor,
) -> None:
    wayback = ArchiveStandIn(archive_server, delay=0.05)
    sources = []
    for i in range(4):
        local_server.route(f"/p{i}", respond(b"gone", status=404, content_type="text/plain"))
        wayback.add(local_server.url(f"/p{i}"), {"20250819000000": page("Talks", EN_P)})
        sources.append({"id": f"s{i}", "url": local_server.url(f"/p{i}")})
    manifest = manifest_for(tmp_path, sources, settings=wayback.settings)

    report = run(manifest, tmp_path / "archive", pool, concurrency=8)

    assert report.ok and [o.method for o in report.outcomes] == ["memento"] * 4
    assert len(archive_server.requests) == 8  # a TimeMap and a memento each
    assert wayback.max_inflight == 1
    assert local_server.hits("/p0") >= 1 and wayback.inflight == 0


# --- the parts -----------------------------------------------------------------------------

TIMEMAP = """<http://a.example.org>;rel="original",
<http://arxiv.example.net/timemap/http://a.example.org>
  ; rel="self";type="application/link-format"
  ; from="Tue, 20 Jun 2000 18:02:59 GMT"
  ; until="Wed, 09 Apr 2008 20:30:51 GMT",
<http://arxiv.example.net/timegate/http://a.example.org>
  ; rel="timegate",
<http://arxiv.example.net/web/20000620180259/http://a.example.org>
  ; rel="first memento";datetime="Tue, 20 Jun 2000 18:02:59 GMT"
  ; license="http://creativecommons.org/publicdomain/zero/1.0/",
<http://arxiv.example.net/web/20091027204954/http://a.example.org>
   ; rel="last memento";datetime="Tue, 27 Oct 2009 20:49:54 GMT"
   ; license="http://creativecommons.org/publicdomain/zero/1.0/",
</web/20000621011731/http://a.example.org>
  ; rel="memento";datetime="Wed, 21 Jun 2000 01:17:31 GMT"
  ; title="a, \\"quoted\\" title; with separators"
"""


def test_parse_link_format_reads_an_rfc_7089_timemap() -> None:
    links = parse_link_format(TIMEMAP, base="http://arxiv.example.net/timemap/x")
    assert [lk.rels for lk in links] == [
        ["original"], ["self"], ["timegate"], ["first", "memento"], ["last", "memento"],
        ["memento"],
    ]  # fmt: skip
    assert links[1].params["from"] == "Tue, 20 Jun 2000 18:02:59 GMT"
    assert links[1].params["type"] == "application/link-format"
    assert links[5].uri == "http://arxiv.example.net/web/20000621011731/http://a.example.org"
    assert links[5].params["title"] == 'a, "quoted" title; with separators'
    assert links[5].params["datetime"] == "Wed, 21 Jun 2000 01:17:31 GMT"
    header = '<http://a.example.org/>; rel="original", <http://x/tm>; rel=timemap; type="x"'
    assert [(lk.uri, lk.rels) for lk in parse_link_format(header)] == [
        ("http://a.example.org/", ["original"]), ("http://x/tm", ["timemap"]),
    ]  # fmt: skip
    assert parse_link_format("") == [] and parse_link_format("junk, <u> junk, <v>") != []


def memento(ts: str) -> Memento:
    return Memento(f"http://arch.example/web/{ts}/http://a/", ts_datetime(ts), "http://a/", "t")


def test_choose_mementos_by_access_date_publication_date_or_newest() -> None:
    ms = [memento(ts) for ts in ("20250101000000", "20250818000000", "20250819235900",
                                 "20250821000000", "20251001000000")]  # fmt: skip
    undated = Memento("http://arch.example/x", None, "http://a/", "timegate")

    def order(target: Target, extra: list[Memento] = []) -> list[str]:  # noqa: B006
        return [m.url.split("/")[4] if m.datetime else "undated"
                for m in choose_mementos(ms + extra, target)]  # fmt: skip

    # the access day itself first, then the nearest outside it (earlier wins a tie)
    assert order(Target("accessed", "2025-08-19"), [undated])[:3] == [
        "20250819235900", "20250818000000", "20250821000000"]  # fmt: skip
    assert order(Target("accessed", "2025-08-19"), [undated])[-1] == "undated"
    # published: the first copy on or after publication (an earlier one predates the page)
    assert order(Target("published", "2025-08-19"))[:2] == ["20250819235900", "20250821000000"]
    assert order(Target("published", "2025-12"))[0] == "20251001000000"  # none after: latest
    assert order(Target())[0] == "20251001000000"
    assert order(Target("accessed", "2025-02-30"))[0] == "20251001000000"  # no such day
    assert Target("accessed", "2025-08").window() == (
        dt.datetime(2025, 8, 1, tzinfo=dt.UTC), dt.datetime(2025, 9, 1, tzinfo=dt.UTC))  # fmt: skip
    assert Target("accessed", "2025-08-19").instant() == dt.datetime(2025, 8, 19, 12,
                                                                     tzinfo=dt.UTC)  # fmt: skip
    assert Target("published", "2025").instant() == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def test_fallback_target_prefers_the_footnotes_access_date(tmp_path: Path) -> None:
    text = """
[[document]]
id = "d"
title = "C"
[[footnote]]
number = 1
accessed = "2025-08-20"
[[footnote]]
number = 2
accessed = "2025-08-19"
[[source]]
id = "both"
footnotes = [1, 2]
published = "2025-08-01"
[[source]]
id = "published"
footnote = 3
published = "2025-08"
[[source]]
id = "nothing"
footnote = 4
"""
    m = parse_manifest(text, tmp_path / "sources.toml")
    targets = {s.id: fallback_target(m, s) for s in m.sources}
    assert targets == {
        "both": Target("accessed", "2025-08-19"),
        "published": Target("published", "2025-08"),
        "nothing": Target(),
    }
    assert [t.label for t in targets.values()] == [
        "accessed 2025-08-19", "published 2025-08", "newest"]  # fmt: skip


def test_raw_memento_url() -> None:
    ia = "https://web.archive.org/web/20250819120000/https://kremlin.ru/events/77637"
    assert raw_memento_url(ia) == (
        "https://web.archive.org/web/20250819120000id_/https://kremlin.ru/events/77637"
    )
    assert raw_memento_url(ia.replace("120000/", "120000im_/")) == raw_memento_url(ia)
    assert raw_memento_url(raw_memento_url(ia)) == raw_memento_url(ia)
    pywb = "https://arquivo.pt/wayback/20250819120000/http://example.org/a?b=1"
    assert (
        raw_memento_url(pywb)
        == "https://arquivo.pt/wayback/20250819120000id_/http://example.org/a?b=1"
    )
    for other in (
        "https://archive.ph/20250819120000/https://example.org/a",
        "https://archive.ph/Ab12X",
        "https://example.org/2025/08/19/article",
    ):
        assert raw_memento_url(other) == other


def test_strip_replay_banner_keeps_the_page_and_its_bytes() -> None:
    article = "<p>Официальный представитель заявила.</p>".encode("cp1251")
    original = b"<html><head><meta charset='windows-1251'></head><body>" + article + b"</body>"
    assert strip_replay_banner(with_banner(original)) == original
    bare = original.replace(
        b"<body>", b'<body><div id="wm-ipp-base"><div id="wm-ipp"><div>x</div></div></div>'
    )
    assert strip_replay_banner(bare) == original
    pywb = original.replace(b"<body>", b"<body><!-- WB Insert --><script>x</script>"
                                       b"<!-- End WB Insert -->")  # fmt: skip
    assert strip_replay_banner(pywb) == original
    assert strip_replay_banner(original) == original
    assert strip_replay_banner(b'<div id="wm-ipp-base"><p>unclosed') == b""


def test_is_public_url() -> None:
    assert is_public_url("https://kremlin.ru/events/77637")
    assert is_public_url("http://8.8.8.8/x")
    for private in ("http://127.0.0.1:8000/a", "http://localhost/a", "http://[::1]/a",
                    "http://10.0.0.5/a", "http://gone.example.test/", "http://printer.local/",
                    "http://intranet/a"):  # fmt: skip
        assert not is_public_url(private), private


def test_a_public_archive_is_never_asked_about_a_private_url() -> None:
    def no_network(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"asked {request.url}")

    async def look(settings: Any) -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(no_network)) as client:
            return await find_mementos(client, "http://127.0.0.1:8000/a", Target(), settings,
                                       HostLimiter(settings))  # fmt: skip

    import asyncio

    assert asyncio.run(look(resolve_settings())) is None  # the public defaults
    off = resolve_settings({"memento_timemap": "", "memento_timegate": "",
                            "wayback_available": ""})  # fmt: skip
    assert asyncio.run(look(off)) is None


# --- configuration and import ------------------------------------------------------------


def test_settings_are_validated(tmp_path: Path) -> None:
    def parse(settings: str) -> Manifest:
        return parse_manifest(f"[settings]\n{settings}\n", tmp_path / "sources.toml")

    m = parse('fallback = false\nmemento_timegate = "http://127.0.0.1:9/web/"\n'
              'memento_timemap = ""\nfallback_tries = 2')  # fmt: skip
    assert m.settings == {"fallback": False, "memento_timegate": "http://127.0.0.1:9/web/",
                          "memento_timemap": "", "fallback_tries": 2}  # fmt: skip
    boolean = r"sources.toml:3: settings.fallback: must be true or false, not 'no'"
    with pytest.raises(ManifestError, match=boolean):
        parse('\nfallback = "no"')
    with pytest.raises(ManifestError, match=r"settings.wayback_available: 'ftp://x/' is not"):
        parse('wayback_available = "ftp://x/"')
    with pytest.raises(ManifestError, match=r"settings.concurrency: must be a whole number"):
        parse("concurrency = true")


def test_access_dates_are_parsed_at_import(tmp_path: Path) -> None:
    footnotes = [
        "“Talks,” Example News, August 1, 2025, <https://example.org/a>, accessed August 19, 2025.",
        "“Talks,” Example News, August 1, 2025 (accessed 2025-08-20). <https://example.org/b>",
        "「停戦協議」防衛研究所、2025年4月15日、https://example.jp/a（2025年8月21日閲覧）。",
        "「停戦協議」防衛研究所、2025年4月15日、https://example.jp/b 閲覧日：2025年8月22日",
        "«Заявление» МИД России, 16 августа 2025. URL: https://mid.ru/a "
        "(дата обращения: 23.08.2025).",
        "«Заявление» МИД России, 16 августа 2025. URL: https://mid.ru/b "
        "(дата обращения 24 августа 2025)",
    ]
    body = "".join(f"Claim number {i}.<sup>{i}</sup> " for i in range(1, 7))
    notes = "\n\n".join(f"<sup>{i}</sup> {t}" for i, t in enumerate(footnotes, start=1))
    commentary = tmp_path / "commentary.md"
    commentary.write_text(f"# Commentary\n\n{body}\n\n---\n\n{notes}\n", encoding="utf-8")
    out = tmp_path / "sources.toml"

    import_commentary(commentary, out)

    m = load_manifest(out)
    assert [f.accessed for f in m.footnotes] == [f"2025-08-{d}" for d in range(19, 25)]
    assert [s.url for s in m.sources][2:4] == ["https://example.jp/a", "https://example.jp/b"]
    assert fallback_target(m, m.sources[4]) == Target("accessed", "2025-08-23")
