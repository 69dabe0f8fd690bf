"""The command line as a user meets it: check, import, help, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from hypothesis import example, given, settings
from hypothesis import strategies as st
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


def test_the_quick_status_path_prints_what_the_typer_command_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from citearchive.archive.store import Archive
    from citearchive.cli import fast

    sources = tmp_path / "sources.toml"
    sources.write_text(
        '[[document]]\nid = "d"\ntitle = "Комментарий"\n\n'
        '[[source]]\nid = "ru"\nfootnotes = [1, 2]\nurl = "http://127.0.0.1/новости"\n\n'
        '[[source]]\nid = "ja"\nfootnotes = [3]\nurl = "http://127.0.0.1/ja"\n\n'
        '[[source]]\nid = "gone"\nfootnotes = [4]\nurl = "http://127.0.0.1/gone"\n\n'
        '[[source]]\nid = "later"\nfootnotes = [5]\n',
        encoding="utf-8",
    )
    arch = Archive.open(tmp_path / "a")
    arch.insert_captures(
        [
            {"source_id": "ru", "url": "http://127.0.0.1/новости", "fetched_at": "2026-11-01",
             "text": "Совет ЕС", "title": "Новости"},
            {"source_id": "ja", "url": "http://127.0.0.1/ja", "fetched_at": "2026-11-02",
             "text": "停戦", "suspect": "[bold]a\x1b[2Jconsent wall[/bold]"},
            {"source_id": "gone", "url": "http://127.0.0.1/gone", "fetched_at": "2026-11-03",
             "error": "HTTP 404"},
        ]
    )  # fmt: skip
    arch.close()
    root, src = str(tmp_path / "a"), str(sources)
    bad = tmp_path / "bad.toml"
    bad.write_text("[[source]\n", encoding="utf-8")
    for args in (
        ["-s", src, "-a", root],
        ["--json", f"--sources={src}", f"--archive={root}"],
        ["-a", root, "-s", str(tmp_path / "missing.toml")],
        ["-s", str(bad), "-a", root],
        ["-s", src, "-a", str(tmp_path / "typo")],
    ):
        code = fast.status(args)
        quick = capsys.readouterr()
        result = runner.invoke(app, ["status", *args])
        assert code == result.exit_code, args
        assert quick.out == result.stdout, args
        assert quick.err == result.stderr, args
    assert fast.status(["-s", src, "-a", root]) == 0
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "┃ source" in shown  # a page's escape codes never reach it
    assert fast.status(["-s", src, "-a", root, "--json"]) == 0
    rows = {r["source_id"]: r["last_status"] for r in json.loads(capsys.readouterr().out)}
    assert rows == {"ru": "captured", "ja": "suspect: [bold]a\x1b[2Jconsent wall[/bold]",
                    "gone": "failed: HTTP 404", "later": "unresolved"}  # fmt: skip
    for args in (["--help"], ["x"], ["-s"], ["-a=x"], ["--bogus"], ["-s", src, "--limit", "2"]):
        assert fast.status(args) is None, args  # left to typer: help, usage errors
    assert fast.search(["q", "-a=x"]) is None  # click reads "-a=x" as the value "=x"


ARG_TOKENS = ["-s", "-a", "--sources", "--archive", "--json", "--limit", "--help", "--", "-",
              "s.toml", "архив", "停戦", "--sources=s.toml", "--archive=a", "-a=x", "--limit=2",
              "0", "3", "²", "٣", "--bogus", "", " "]  # fmt: skip
COMMANDS = typer.main.get_command(app).commands  # type: ignore[attr-defined]


@settings(max_examples=400)
@given(st.lists(st.sampled_from(ARG_TOKENS) | st.text(max_size=5), max_size=7))
@example(["q", "--limit", "²"])  # a digit to str.isdigit, not to int(): was a traceback
@example(["q", "--limit", "9" * 5000])  # more digits than int() reads: was a traceback
@example(["停戦", "--limit", "٣", "--archive=архив", "--json"])  # typer refuses "٣"
def test_the_quick_paths_read_arguments_as_click_does(args: list[str]) -> None:
    """Whatever the quick paths of search and status accept, click reads the same way; the
    rest (None) is left to typer, which answers it."""
    from citearchive.cli import fast

    quick_status = fast._parse_status(list(args))
    quick_search = fast._parse(list(args))
    for name, quick in (("status", quick_status), ("search", quick_search)):
        if quick is None:
            continue
        try:
            params = COMMANDS[name].make_context(name, list(args)).params
        except Exception as exc:
            raise AssertionError(f"{name} {args}: accepted here, refused by click") from exc
        if name == "status":
            assert quick == (params["sources"], params["archive"], params["as_json"])
        else:
            assert quick == (params["query"], params["archive"], params["limit"], params["as_json"])


def _quick_main(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """``citearchive ARGS`` through the console entry point, in a fresh interpreter that
    prints afterwards whether typer was loaded."""
    code = (
        "import sys\nfrom citearchive.cli import fast\nsys.argv = ['citearchive', *sys.argv[1:]]\n"
        "try:\n    fast.main()\nexcept SystemExit as e:\n    code = e.code\n"
        "sys.stderr.write(f'typer loaded: {\"typer\" in sys.modules}\\n')\nsys.exit(code)\n"
    )
    return subprocess.run([sys.executable, "-c", code, *args], **kwargs)  # type: ignore[call-overload, no-any-return]


def test_status_and_search_take_the_quick_path_and_survive_a_closed_pipe(tmp_path: Path) -> None:
    from citearchive.archive.store import Archive

    Archive.open(tmp_path / "a").close()
    sources, root = str(ROOT / "sources.toml"), str(tmp_path / "a")
    for args in (["status", "-s", sources, "-a", root], ["search", "停戦", "-a", root],
                 ["status", "-s", sources, "-a", root, "--json"]):  # fmt: skip
        done = _quick_main(args, capture_output=True)
        assert b"typer loaded: False" in done.stderr, (args, done.stderr)
        assert done.returncode in (0, 1)
        # the reader goes away at once (`citearchive status | head -0`): quiet, exit 1
        with subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.close()"], stdin=subprocess.PIPE
        ) as reader:
            reader.wait()
            closed = _quick_main(args, stdout=reader.stdin, stderr=subprocess.PIPE)
        assert closed.returncode == 1, (args, closed.stderr)
        assert b"Traceback" not in closed.stderr and b"BrokenPipe" not in closed.stderr
    done = _quick_main(["status", "--help"], capture_output=True)
    assert done.returncode == 0 and b"typer loaded: True" in done.stderr  # left to typer


def test_the_quick_search_reports_errors_as_the_typer_command_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from citearchive.cli import fast

    args = ["q", "-a", str(tmp_path / "no\x1b[2Jsuch")]  # an escape code in the path
    code = fast.search(args)
    quick = capsys.readouterr()
    result = runner.invoke(app, ["search", *args])
    assert code == result.exit_code == 2
    assert quick.err == result.stderr and "\x1b" not in quick.err and "no[2Jsuch" in quick.err
