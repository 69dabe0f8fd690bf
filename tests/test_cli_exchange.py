"""`citearchive import-warc` and `citearchive export ...` as a user runs them."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from citearchive.cli.app import app
from localserver import LocalServer, respond

PAGE = (
    "<html><head><title>Переговоры в Вашингтоне</title></head><body><article>"
    "<h1>Переговоры в Вашингтоне</h1><p>Официальный представитель МИД России заявила, что "
    "Россия не приемлет никаких сценариев размещения на Украине воинского контингента с "
    "участием стран НАТО.</p><p>По её словам, такие сценарии чреваты неконтролируемой "
    "эскалацией конфликта и в ходе переговоров стороны должны учитывать интересы "
    "безопасности России.</p></article></body></html>"
)
runner = CliRunner()


def _sources(tmp_path: Path, url: str, name: str = "sources.toml") -> Path:
    path = tmp_path / name
    path.write_text(
        "[settings]\nhost_delay = 0\nfallback = false\n\n"
        '[[document]]\nid = "d"\ntitle = "Комментарий"\nlanguage = "ru"\n\n'
        '[[footnote]]\nnumber = 1\ntext = "«Переговоры», МИД, 18 августа 2025."\n'
        'accessed = "2025-08-19"\n\n'
        f'[[source]]\nid = "mid"\nfootnotes = [1]\nurl = "{url}"\nlanguage = "ru"\n'
        'quotes = ["не приемлет никаких сценариев размещения"]\n\n'
        '[[claim]]\nfootnote = 1\ntext = "МИД не приемлет размещения войск."\n',
        encoding="utf-8",
    )
    return path


def test_export_wacz_and_robust_links_then_import_the_wacz_elsewhere(
    tmp_path: Path, local_server: LocalServer
) -> None:
    local_server.route("/mid", respond(PAGE.encode()))
    sources = _sources(tmp_path, local_server.url("/mid"))
    archive = tmp_path / "archive"
    assert runner.invoke(app, ["fetch", "-s", str(sources), "-a", str(archive)]).exit_code == 0

    wacz = tmp_path / "out.wacz"
    result = runner.invoke(app, ["export", "wacz", "-o", str(wacz), "-s", str(sources),
                                 "-a", str(archive), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["output"] == str(wacz)
    with zipfile.ZipFile(wacz) as z:
        names = set(z.namelist())
    assert {"datapackage.json", "datapackage-digest.json", "pages/pages.jsonl"} <= names
    assert any(n.startswith("archive/") and n.endswith(".warc.gz") for n in names)

    html, csl = tmp_path / "footnotes.html", tmp_path / "footnotes.json"
    result = runner.invoke(app, ["export", "robust-links", "-o", str(html), "--csl", str(csl),
                                 "--base-url", "https://evidence.example.org",
                                 "-s", str(sources), "-a", str(archive)])  # fmt: skip
    assert result.exit_code == 0, result.output
    page = html.read_text(encoding="utf-8")
    assert f'data-originalurl="{local_server.url("/mid")}"' in page
    assert 'data-versionurl="https://evidence.example.org/-/citearchive/capture/' in page
    assert "data-versiondate=" in page
    (item,) = json.loads(csl.read_text(encoding="utf-8"))
    assert item["URL"] == local_server.url("/mid") and item["type"] == "webpage"

    # another archive takes the WACZ in, and the claim verifies there too
    other = tmp_path / "other"
    result = runner.invoke(app, ["import-warc", str(wacz), "-s", str(sources),
                                 "-a", str(other), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["imported"] == 1
    verified = runner.invoke(app, ["verify", "-s", str(sources), "-a", str(other)])
    assert verified.exit_code == 0, verified.output
    assert "all checks held" in verified.stdout


def test_import_warc_of_a_file_that_is_no_warc_exits_2(tmp_path: Path) -> None:
    sources = _sources(tmp_path, "https://example.org/mid")
    bogus = tmp_path / "notes.warc.gz"
    bogus.write_bytes(b"this is not a WARC file")
    result = runner.invoke(app, ["import-warc", str(bogus), "-s", str(sources),
                                 "-a", str(tmp_path / "a")])  # fmt: skip
    assert result.exit_code == 2
    assert "notes.warc.gz" in result.stderr
    assert not (tmp_path / "a" / "warc").exists()


def test_robust_links_without_an_archived_copy_exits_1(tmp_path: Path) -> None:
    from citearchive.archive.store import Archive

    sources = _sources(tmp_path, "https://example.org/mid")
    Archive.open(tmp_path / "a").close()
    result = runner.invoke(app, ["export", "robust-links", "-o", str(tmp_path / "f.html"),
                                 "-s", str(sources), "-a", str(tmp_path / "a")])  # fmt: skip
    assert result.exit_code == 1
    assert "no archived copy" in result.stdout and "mid" in result.stdout
