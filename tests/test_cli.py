"""The command line as a user meets it: check, import, help, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citearchive.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
COMMENTARY = ROOT.parent / "shared" / "commentary" / "000_4fa53e36957d04f4.txt"
runner = CliRunner()


def test_check_bundled_sources_toml() -> None:
    result = runner.invoke(app, ["check", "-s", str(ROOT / "sources.toml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert data["documents"] == 1 and data["claims"] == 12
    assert data["resolved"] == 4  # footnotes 2 (Telegram), 3, 10, 12: the confirmed URLs
    assert "fn1" in data["unresolved_ids"]


def test_check_reports_bad_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "sources.toml"
    bad.write_text('[[document]]\nid = "d"\ntitle = "T"\nlanguage = "japanese"\n')
    result = runner.invoke(app, ["check", "-s", str(bad)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: {bad}:4: [[document]] #1.language: 'japanese' is not an ISO "
                     "639-1 code (e.g. ru, ja, en)"]  # fmt: skip
    missing = runner.invoke(app, ["check", "-s", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2 and "file not found" in missing.stderr


@pytest.mark.skipif(not COMMENTARY.exists(), reason="../shared/commentary is not present")
def test_import_real_commentary(tmp_path: Path) -> None:
    out = tmp_path / "s.toml"
    result = runner.invoke(app, ["import", str(COMMENTARY), "-o", str(out), "--json"])
    assert result.exit_code == 1  # the lint found defects
    data = json.loads(result.stdout)
    assert data["added"]["sources"] == 12 and data["added"]["claims"] == 12
    codes = {(w["code"], w["footnote"]) for w in data["warnings"]}
    assert {("unreferenced-footnote", 11), ("unreferenced-footnote", 12)} <= codes
    assert {("reused-marker", 1), ("reused-marker", 2)} <= codes
    check = runner.invoke(app, ["check", "-s", str(out), "--json"])
    assert check.exit_code == 0 and json.loads(check.stdout)["sources"] == 12
    # human output: the warnings on stderr, with their codes
    again = runner.invoke(app, ["import", str(COMMENTARY), "-o", str(tmp_path / "t.toml")])
    assert "[unreferenced-footnote]" in again.stderr


def test_import_missing_file_is_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(tmp_path / "none.md"), "-o", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert "none.md" in result.stderr


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    import typer.main

    group = typer.main.get_command(app)
    names = sorted(group.commands)  # type: ignore[attr-defined]
    assert {"check", "import", "fetch", "search"} <= set(names)
    for name in names:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0
        assert len(group.commands[name].help or "") > 40, name  # type: ignore[attr-defined]
        assert f"citearchive {name}" in readme, f"`citearchive {name}` is not in the README"


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("citearchive ")


def test_status_and_search_refuse_a_missing_archive_or_empty_query(tmp_path: Path) -> None:
    sources = str(ROOT / "sources.toml")
    result = runner.invoke(app, ["status", "-s", sources, "-a", str(tmp_path / "typo")])
    assert result.exit_code == 2 and "no archive here" in result.stderr
    assert not (tmp_path / "typo").exists()
    (tmp_path / "a").mkdir()
    from citearchive.archive.store import Archive

    Archive.open(tmp_path / "a").close()
    result = runner.invoke(app, ["search", "  ", "-a", str(tmp_path / "a")])
    assert result.exit_code == 2 and "query is empty" in result.stderr
