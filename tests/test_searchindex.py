"""The search index gives exactly the hits of a brute-force folded substring scan; reindex."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from citearchive.archive import searchindex
from citearchive.archive.search import match_form, match_terms, search
from citearchive.archive.store import Archive
from citearchive.cli import fast
from citearchive.cli.app import app

# Japanese, Chinese, Cyrillic (ё among them), Latin with case, full-width forms, ß (whose
# case folding is two letters), a space: small alphabets, so substrings recur.
ALPHABET = "停戦会談協議の和平ロシアｶﾞイ平和谈判Переговорыёеж ABCabcßＮＡ"
texts = st.text(alphabet=ALPHABET, min_size=0, max_size=40)


def brute_force(rows: list[tuple[int, str | None, str]], query: str) -> list[int]:
    """Newest first: every term a substring of the title or text in match form."""
    wanted = match_terms(query)
    return [
        cid
        for cid, title, text in sorted(rows, reverse=True)
        if all(t in match_form(text) or t in match_form(title) for t in wanted)
    ]


@st.composite
def corpus_and_query(draw: st.DrawFn) -> tuple[list[tuple[str | None, str]], str]:
    docs = draw(st.lists(st.tuples(st.none() | texts, texts), min_size=1, max_size=8))
    # a substring of one of the texts (the interesting case), or any text
    title, text = docs[draw(st.integers(0, len(docs) - 1))]
    source = text + " " + (title or "")
    start = draw(st.integers(0, len(source)))
    end = draw(st.integers(start, min(len(source), start + 6)))
    term = draw(st.sampled_from([source[start:end], draw(texts)]))
    quoted = draw(st.booleans())
    query = f'"{term}"' if quoted and '"' not in term else term
    extra = draw(st.sampled_from(["", " 停戦", " ab", " ё"]))
    return docs, query + extra


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpus_and_query())
def test_search_equals_a_brute_force_folded_substring_scan(
    case: tuple[list[tuple[str | None, str]], str],
) -> None:
    docs, query = case
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE sources (id TEXT PRIMARY KEY, title TEXT)")
    conn.execute(
        "CREATE TABLE captures (id INTEGER PRIMARY KEY, source_id TEXT, url TEXT, "
        "fetched_at TEXT, title TEXT, language TEXT, text TEXT)"
    )
    rows = [(i, title, text) for i, (title, text) in enumerate(docs, start=1)]
    conn.executemany(
        "INSERT INTO captures (id, source_id, fetched_at, title, text) VALUES (?, 's', '', ?, ?)",
        rows,
    )
    searchindex.rebuild(conn)
    expected = brute_force(rows, query) if match_terms(query) else []
    got = [h.capture_id for h in search(conn, query, limit=100)]
    assert got == expected, (query, docs)
    # --limit stops early and keeps the order
    assert [h.capture_id for h in search(conn, query, limit=2)] == expected[:2]


def test_one_and_two_character_terms_in_every_script_use_the_index(tmp_path: Path) -> None:
    arch = Archive.open(tmp_path / "a")
    arch.insert_captures(
        [
            {"source_id": "ja", "title": "題", "text": "停戦をめぐる会談", "fetched_at": "2"},
            {"source_id": "ru", "title": None, "text": "Совет ЕС одобрил", "fetched_at": "1"},
        ]
    )
    conn = arch.db.conn
    assert [h.source_id for h in search(conn, "停戦")] == ["ja"]
    assert [h.source_id for h in search(conn, "戦")] == ["ja"]
    assert [h.source_id for h in search(conn, "題")] == ["ja"]  # in the title
    assert [h.source_id for h in search(conn, "ес")] == ["ru"]
    assert [h.source_id for h in search(conn, "Е")] == ["ru"]
    assert search(conn, "戦を会") == []  # the bigrams exist, the substring does not
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT rowid FROM captures_grams WHERE captures_grams MATCH 'x'"
    ).fetchall()
    assert "VIRTUAL TABLE INDEX" in str(plan)
    arch.close()


def test_reindex_makes_rows_inserted_with_sql_searchable(tmp_path: Path) -> None:
    arch = Archive.open(tmp_path / "a")
    arch.db.execute(
        "INSERT INTO captures (source_id, fetched_at, title, text) "
        "VALUES ('x', '2025', 'Заголовок', '協議は停戦について')"
    )
    arch.db.conn.commit()
    assert search(arch.db.conn, "停戦") == []  # not indexed yet
    arch.close()
    result = CliRunner().invoke(app, ["reindex", "-a", str(tmp_path / "a"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"captures": 1, "indexed": 1}
    result = CliRunner().invoke(app, ["search", "停戦", "-a", str(tmp_path / "a"), "--json"])
    assert [h["source_id"] for h in json.loads(result.stdout)] == ["x"]
    result = CliRunner().invoke(app, ["search", "заголовок", "-a", str(tmp_path / "a")])
    assert result.exit_code == 0 and "1 result(s)" in result.stdout


def test_reindex_without_archive_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["reindex", "-a", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "no archive here" in result.stderr


def test_an_archive_from_before_the_bigram_index_is_migrated(tmp_path: Path) -> None:
    arch = Archive.open(tmp_path / "a")
    arch.insert_captures([{"source_id": "ja", "text": "会談", "fetched_at": "1"}])
    conn = arch.db.conn
    conn.execute("DROP TABLE captures_grams")
    conn.execute("DELETE FROM _migrations WHERE name LIKE '%issue11%'")
    conn.commit()
    arch.close()
    arch = Archive.open(tmp_path / "a")
    assert [h.source_id for h in search(arch.db.conn, "会談")] == ["ja"]
    arch.close()


def test_the_quick_search_path_prints_what_the_typer_command_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arch = Archive.open(tmp_path / "a")
    arch.insert_captures(
        [
            {"source_id": "ja", "title": "題", "text": "停戦をめぐる会談", "fetched_at": "2",
             "url": "http://127.0.0.1/ja"},
            {"source_id": "ru", "title": None, "text": "Совет ЕС одобрил", "fetched_at": "1"},
        ]
    )  # fmt: skip
    arch.close()
    root = str(tmp_path / "a")
    for args in (
        ["停戦", "-a", root],
        ["--json", f"--archive={root}", "е"],
        ["е", "-a", root, "--limit", "1"],
        ["nothing", "-a", root],
        ["x", "-a", str(tmp_path / "none")],
    ):
        code = fast.search(args)
        quick = capsys.readouterr()
        result = CliRunner().invoke(app, ["search", *args])
        assert code == result.exit_code, args
        assert quick.out == result.stdout, args
        assert quick.err == result.stderr, args
    for args in (["--help"], ["a", "b"], ["x", "--limit", "0"], ["x", "--bogus"], ["  "], []):
        assert fast.search(args) is None, args  # left to typer: help, usage errors
