"""`resolve`: a local CDX + replay stand-in on 127.0.0.1, ranking, --apply, the CDX parser."""

from __future__ import annotations

import contextlib
import json
import tomllib
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from citearchive.cli.app import app
from citearchive.config import resolve_settings
from citearchive.resolve.cdx import PLAIN_FIELDS, Capture, CdxFormatError, parse_cdx
from citearchive.resolve.publishers import fold
from citearchive.resolve.run import page_title, resolve_sources, title_score
from citearchive.sources.manifest import load_manifest
from localserver import LocalServer, Request

RU_TITLE = "Совместная пресс-конференция Президента России и Президента США"
EN_TITLE = "Trump threatens 'very severe' tariffs against Russia if no Ukraine deal within 50 days"
RU_URL = "http://www.kremlin.ru/events/president/news/77777"
EN_URL = "https://www.bbc.com/news/articles/c0ke9xz4dpo"

SOURCES = f"""\
# sources.toml written by hand; this comment must survive --apply
[[document]]
id = "c"
title = "Commentary"

[[source]]
id = "fn1"
footnotes = [1]
url = ""  # unresolved: the PDF lost it
title = "{RU_TITLE}"
publisher = "President of Russia"
published = "2025-08-16"

[[source]]
id = "fn5"
footnotes = [5]
title = "{EN_TITLE.replace("'", "’")}"
publisher = "BBC"
published = "2025-07-14"

[[source]]
id = "fn9"
footnotes = [9]
title = "A report nobody archived"
publisher = "Press of Nowhere"
published = "2025-07-01"

[[source]]
id = "fn10"
footnotes = [10]
url = "https://www.interfax.ru/russia/1042813"
"""


def _captures() -> dict[str, list[tuple[str, str, str]]]:
    """domain -> (timestamp, url, archived title): dozens, the match among near misses."""
    kremlin = []
    for k in range(36):
        day = ("20250816" if k % 3 == 0 else f"202508{15 + k % 5:02d}") + f"{10 + k % 12:02d}0000"
        kremlin.append((day, f"http://www.kremlin.ru/events/president/news/{77740 + k}",
                        f"Новость номер {k} • Президент России"))  # fmt: skip
    kremlin[9] = ("20250816120000", RU_URL, f"{RU_TITLE} • Президент России")
    kremlin[12] = ("20250816130000", "http://www.kremlin.ru/events/president/news/77778",
                   "Совместная пресс-конференция Президента России и Президента Финляндии"
                   " • Президент России")  # fmt: skip
    kremlin[15] = ("20250816140000", "http://en.kremlin.ru/events/president/news/77777",
                   "Joint press conference of the Presidents of Russia and the USA • "
                   "President of Russia")  # fmt: skip
    bbc = [(f"2025071{4 + k % 3}{10 + k % 10:02d}0000", f"https://www.bbc.com/news/articles/c{k:04d}x",
            f"Story {k} - BBC News") for k in range(24)]  # fmt: skip
    bbc[5] = ("20250714180000", EN_URL, f"{EN_TITLE} - BBC News")
    bbc[8] = ("20250714190000", "https://www.bbc.com/news/articles/c0near",
              "Trump threatens tariffs against China if no trade deal - BBC News")  # fmt: skip
    return {"kremlin.ru": kremlin, "bbc.com": bbc, "bbc.co.uk": []}


class Wayback:
    """CDX server (JSON, 10 rows a page with resume keys, a 429 first) and id_ replay."""

    def __init__(self, server: LocalServer, retry_after: str = "0") -> None:
        self.server, self.retry_after = server, retry_after
        self.captures = _captures()
        self.cdx_queries: list[dict[str, list[str]]] = []
        server.route("/cdx/search/cdx", self.cdx)
        for rows in self.captures.values():
            for ts, url, title in rows:
                page = f"<html><head><meta charset='utf-8'><title>{title}</title></head></html>"
                server.route(f"/web/{ts}id_/{url}", (200, {"Content-Type": "text/html"},
                                                      page.encode()))  # fmt: skip

    def cdx(self, request: Request) -> None:
        if request.nth == 1:
            request.send(429, {"Retry-After": self.retry_after}, b"slow down")
            return
        q = parse_qs(request.query)
        self.cdx_queries.append(q)
        rows = [r for r in self.captures.get(q["url"][0], [])
                if q["from"][0] <= r[0][:8] <= q["to"][0]]  # fmt: skip
        start = int(q.get("resumeKey", ["0"])[0])
        page = [["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]]
        for ts, url, _ in rows[start : start + 10]:
            page.append([url.split("://")[1], ts, url, "text/html", "200", "D", "1"])
        if start + 10 < len(rows):
            page += [[], [str(start + 10)]]
        request.send(200, {"Content-Type": "application/json"}, json.dumps(page).encode())


@pytest.fixture
def project(tmp_path: Path, local_server: LocalServer) -> tuple[Path, Wayback]:
    wayback = Wayback(local_server)
    settings = (
        f'\n[settings]\nwayback_cdx = "{local_server.url("/cdx/search/cdx")}"\n'
        f'wayback_replay = "{local_server.url("/web/")}"\n'
    )
    path = tmp_path / "sources.toml"
    path.write_text(settings + SOURCES, encoding="utf-8")
    return path, wayback


def test_resolve_ranks_the_right_capture_first(project: tuple[Path, Wayback]) -> None:
    path, wayback = project
    manifest = load_manifest(path)
    slept: list[float] = []
    with httpx.Client() as client:
        report = resolve_sources(manifest, resolve_settings(manifest.settings), client,
                                 max_reads=15, sleep=slept.append)  # fmt: skip
    assert slept == [0.0]  # the 429's Retry-After, honoured once
    by_id = {r.source_id: r for r in report.results}
    assert set(by_id) == {"fn1", "fn5", "fn9"}  # fn10 has a url
    ru, en = by_id["fn1"], by_id["fn5"]
    assert ru.domains == ["kremlin.ru", "en.kremlin.ru"]
    assert ru.window == ("20250815", "20250819")
    assert ru.captures_seen == 36 and ru.pages_read == 15
    assert ru.best is not None and ru.best.url == RU_URL and ru.best.score > 0.95
    assert ru.best.memento_time == "2025-08-16T12:00:00Z"
    assert ru.candidates[1].score < 0.9  # the Finnish near miss
    assert en.best is not None and en.best.url == EN_URL and en.best.score > 0.95
    assert en.candidates[1].score < 0.85
    assert by_id["fn9"].skipped and "Press of Nowhere" in by_id["fn9"].skipped
    resumed = [q for q in wayback.cdx_queries if "resumeKey" in q]
    assert resumed and all(q["collapse"] == ["urlkey"] for q in wayback.cdx_queries)
    assert sorted(wayback.cdx_queries[0]["filter"]) == ["mimetype:text/html", "statuscode:200"]


def test_cli_resolve_json_and_apply(project: tuple[Path, Wayback]) -> None:
    path, _ = project
    before = path.read_text(encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["resolve", "fn1", "fn5", "-s", str(path), "--json",
                                 "--max-reads", "15"])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["best"]["url"] for r in data["results"]] == [RU_URL, EN_URL]
    assert data["applied"] == [] and path.read_text(encoding="utf-8") == before

    result = runner.invoke(app, ["resolve", "-s", str(path), "--apply", "--max-reads", "15"])
    assert result.exit_code == 1  # fn9 stays unresolved
    assert "wrote url" in result.stdout and RU_URL in result.stdout
    text = path.read_text(encoding="utf-8")
    assert text.startswith("\n[settings]") and "this comment must survive --apply" in text
    assert "resolved by citearchive resolve from 127.0.0.1:" in text
    urls = {s["id"]: s.get("url") for s in tomllib.loads(text)["source"]}
    assert urls == {"fn1": RU_URL, "fn5": EN_URL, "fn9": None,
                    "fn10": "https://www.interfax.ru/russia/1042813"}  # fmt: skip
    load_manifest(path)


def test_offline_is_one_line_and_nothing_changes(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    offline = '[settings]\nwayback_cdx = "http://127.0.0.1:9/cdx"\n'
    offline += 'wayback_replay = "http://127.0.0.1:9/web/"\n'
    path.write_text(offline + SOURCES, encoding="utf-8")
    before = path.read_text(encoding="utf-8")
    result = CliRunner().invoke(app, ["resolve", "-s", str(path), "--apply"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "cannot reach http://127.0.0.1:9/cdx" in result.stderr
    assert path.read_text(encoding="utf-8") == before


def test_unknown_source_and_bad_domain_exit_2(project: tuple[Path, Wayback]) -> None:
    path, _ = project
    result = CliRunner().invoke(app, ["resolve", "fn99", "-s", str(path)])
    assert result.exit_code == 2 and "fn99" in result.stderr
    path.write_text(path.read_text(encoding="utf-8") + '\n[[publisher]]\nname = "X"\n'
                    'domains = ["https://x.org/"]\n', encoding="utf-8")  # fmt: skip
    result = CliRunner().invoke(app, ["resolve", "-s", str(path)])
    assert result.exit_code == 2 and "domains" in result.stderr and "not a domain" in result.stderr


def test_publisher_table_and_source_domain_override(tmp_path: Path) -> None:
    from citearchive.resolve.publishers import domains_for

    path = tmp_path / "s.toml"
    extra = '\n[[publisher]]\nname = "Press of Nowhere"\ndomains = ["nowhere.example"]\n'
    path.write_text(SOURCES + extra +
                    '\n[[source]]\nid = "x"\nfootnotes = [11]\npublisher = "BBC"\n'
                    'domain = "bbc.co.uk"\n', encoding="utf-8")  # fmt: skip
    m = load_manifest(path)
    assert domains_for(m.source("fn9"), m) == ("nowhere.example",)
    assert domains_for(m.source("x"), m) == ("bbc.co.uk",)
    assert domains_for(m.source("fn5"), m) == ("bbc.com", "bbc.co.uk")


def test_title_folding_and_scores() -> None:
    assert fold("«Ёлка» — ＮＡＴＯ") == fold('"елка" - NATO')
    assert title_score("Трамп и ёлка", "Трамп и елка • Президент России") == 1.0
    assert title_score(EN_TITLE.replace("'", "’"), f"{EN_TITLE} - BBC News") == 1.0
    assert page_title("<title>Путин &amp; Трамп</title>".encode("cp1251") + b"") is not None
    raw = '<meta charset="windows-1251"><title>Путин</title>'.encode("cp1251")
    assert page_title(raw) == "Путин"


# --- the CDX parser (untrusted input) -------------------------------------------------------

_field = st.text("abcdefghijklmnopqrstuvwxyz0123456789./:-_?=", min_size=1, max_size=30)
_captures_st = st.lists(
    st.builds(
        lambda key, ts, url: Capture(key, ts, "http://" + url, "text/html", "200"),
        _field, st.from_regex(r"\A(19|20)[0-9]{12}\Z"), _field,
    ),
    max_size=8,
)  # fmt: skip


@given(_captures_st, st.one_of(st.none(), _field))
def test_cdx_json_and_plain_round_trip(captures: list[Capture], resume: str | None) -> None:
    rows = [[c.urlkey, c.timestamp, c.original, c.mimetype, c.statuscode, "D", "1"]
            for c in captures]  # fmt: skip
    data: list[list[str]] = [list(PLAIN_FIELDS), *rows]
    if resume and captures:
        data += [[], [resume]]
    page = parse_cdx(json.dumps(data))
    assert page.captures == captures
    assert page.resume_key == (resume if resume and captures else None)
    plain = "\n".join(" ".join(r) for r in rows) + (f"\n\n{resume}\n" if resume and rows else "")
    assert parse_cdx(plain).captures == captures


@given(st.text(max_size=200))
def test_cdx_parser_fails_only_with_its_own_error(text: str) -> None:
    try:
        page = parse_cdx(text)
    except CdxFormatError:
        return
    for c in page.captures:
        assert len(c.timestamp) == 14 and c.timestamp.isdigit()


@given(st.recursive(st.one_of(st.none(), st.integers(), st.text(max_size=5)),
                    lambda inner: st.lists(inner, max_size=4), max_leaves=20))  # fmt: skip
def test_cdx_parser_on_any_json(value: object) -> None:
    with contextlib.suppress(CdxFormatError):
        parse_cdx(json.dumps(value))
