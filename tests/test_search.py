"""Full-text search in Japanese (2- and 3-character terms), Russian (inflections), English."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citearchive.archive.search import fts_expression, search, terms
from citearchive.archive.store import Archive
from citearchive.cli.app import app

JA = "ロシアとウクライナの停戦をめぐる会談がアンカレッジで行われた。ＮＡＴＯ諸国はｶﾞｲﾄﾞﾗｲﾝを示した。"
RU = "В ходе переговоров стороны обсудили гарантии безопасности, но ещё не договорились."
EN = "The negotiations continued in Washington after the summit, says the Policy Review."


@pytest.fixture()
def archive(tmp_path: Path) -> Archive:
    arch = Archive.open(tmp_path / "archive")
    arch.insert_captures(
        [
            {"source_id": "ja", "title": "停戦協議", "text": JA, "fetched_at": "2025-08-20"},
            {"source_id": "ru", "title": "МИД", "text": RU, "fetched_at": "2025-08-19"},
            {"source_id": "en", "title": "Talks", "text": EN, "fetched_at": "2025-08-18"},
            {"source_id": "failed", "title": None, "text": None, "error": "HTTP 404 Not Found"},
        ]
    )
    return arch


def _ids(arch: Archive, q: str) -> list[str]:
    return [h.source_id for h in search(arch.db.conn, q)]


def test_two_character_japanese_term(archive: Archive) -> None:
    assert _ids(archive, "停戦") == ["ja"]
    assert _ids(archive, "会談") == ["ja"]
    assert _ids(archive, "首脳") == []


def test_three_character_japanese_term_uses_the_index(archive: Archive) -> None:
    assert fts_expression("アンカ") == '"アンカ"'
    assert _ids(archive, "アンカ") == ["ja"]
    assert _ids(archive, "停戦をめぐる") == ["ja"]


def test_full_width_and_half_width_forms_are_found_by_their_plain_spelling(
    archive: Archive,
) -> None:
    assert _ids(archive, "NATO") == ["ja"]  # the page writes ＮＡＴＯ
    assert _ids(archive, "ガイドライン") == ["ja"]  # the page writes ｶﾞｲﾄﾞﾗｲﾝ
    assert _ids(archive, "ＮＡ") == ["ja"]  # a short full-width term, by the scan


def test_yo_and_ye_are_one_letter(archive: Archive) -> None:
    assert _ids(archive, '"еще не договорились"') == ["ru"]  # the page writes «ещё»
    assert _ids(archive, '"ещё не договорились"') == ["ru"]


def test_russian_inflected_word(archive: Archive) -> None:
    # the text says «переговоров»; the dictionary form and another case both find it
    assert _ids(archive, "переговоры") == ["ru"]
    assert _ids(archive, "переговорах") == ["ru"]
    assert _ids(archive, "Переговоры") == ["ru"]
    assert _ids(archive, "перемирие") == []


def test_english_words_and_phrases(archive: Archive) -> None:
    assert _ids(archive, "negotiation") == ["en"]
    assert _ids(archive, "Summits") == ["en"]
    assert _ids(archive, "policy") == ["en"]  # its stem "polici" is not in "Policy"
    assert _ids(archive, "military") == []
    assert _ids(archive, '"after the summit"') == ["en"]
    assert _ids(archive, '"before the summit"') == []


def test_terms_are_anded_across_scripts(archive: Archive) -> None:
    assert _ids(archive, "ウクライナ 会談") == ["ja"]
    assert _ids(archive, "Washington 停戦") == []
    assert terms('  "a b"  c ') == ["a b", "c"]


def test_snippet_shows_the_match(archive: Archive) -> None:
    (hit,) = search(archive.db.conn, "Washington")
    assert "Washington" in hit.snippet
    (hit,) = search(archive.db.conn, "NATO")  # found through folding: shown where it matched
    assert "NATO諸国" in hit.snippet


def test_cli_search_json(archive: Archive) -> None:
    result = CliRunner().invoke(app, ["search", "停戦", "--archive", str(archive.root), "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert [h["source_id"] for h in hits] == ["ja"]
    result = CliRunner().invoke(app, ["search", "nothing-like-this", "-a", str(archive.root)])
    assert result.exit_code == 1
    assert "0 result(s)" in result.stdout


def test_cli_search_without_archive_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["search", "x", "--archive", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "no archive here" in result.stderr
