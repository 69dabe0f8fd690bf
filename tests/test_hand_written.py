"""Hand-written sources.toml files, in every shape the README's reference allows, verify
cleanly once their pages are captured: a footnote exists when a ``[[footnote]]`` entry or a
``[[source]]`` carries its number (``check``, ``verify``, ``status``, the database's views
and the exports all agree)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citearchive.cli.app import app
from localserver import LocalServer, respond

PAGES = {
    "/ja": ("停戦協議", "ロシア外務省は、NATO諸国の部隊の展開を認めない立場を維持した。"),
    "/ru": ("Переговоры", "МИД России заявил, что размещение войск НАТО неприемлемо."),
    "/en": ("Talks", "The delegations met again on Monday to discuss the ceasefire terms."),
}


def page(title: str, sentence: str) -> bytes:
    body = f"<p>{sentence}</p>" + "".join(
        f"<p>Paragraph {i}: background that fills the article so that it reads as one.</p>"
        for i in range(6)
    )
    return (
        f"<html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    ).encode()


def shapes(base: str) -> dict[str, str]:
    """Every documented shape: with or without [[document]] and [[footnote]], `footnote`
    or `footnotes`, one footnote citing two sources, two documents."""
    ja, ru, en = (f"{base}{p}" for p in ("/ja", "/ru", "/en"))
    q_ja, q_ru, q_en = (PAGES[p][1] for p in ("/ja", "/ru", "/en"))
    settings = "[settings]\nhost_delay = 0\nfallback = false\n\n"
    return {
        "sources and claims only": settings
        + f"""
[[source]]
id = "ja"
footnote = 1
url = "{ja}"
quotes = ["{q_ja}"]

[[source]]
id = "ru"
footnotes = [2, 3]
url = "{ru}"
quotes = ["{q_ru}"]

[[claim]]
footnote = 1
text = "外務省は部隊の展開を認めなかった。"

[[claim]]
footnote = 2
text = "Moscow rejected NATO troops."

[[claim]]
footnote = 3
text = "It said so again."
""",
        "document, sources, claims": settings
        + f"""
[[document]]
id = "c"
title = "A commentary"
language = "ja"

[[source]]
id = "en"
footnotes = [1]
url = "{en}"
title = "Talks"
quotes = ["{q_en}"]

[[source]]
id = "ru"
footnotes = [1]
url = "{ru}"

[[claim]]
footnote = 1
text = "The talks went on, and Moscow objected."
""",
        "two documents, some footnotes declared": settings
        + f"""
[[document]]
id = "a"
title = "First"

[[document]]
id = "b"
title = "Second"

[[footnote]]
document = "a"
number = 1
text = "Talks, {en}"

[[source]]
id = "en"
document = "a"
footnotes = [1, 2]
url = "{en}"

[[source]]
id = "ja"
document = "b"
footnote = 1
url = "{ja}"

[[claim]]
document = "a"
footnote = 2
text = "Claim citing an undeclared footnote."

[[claim]]
document = "b"
footnote = 1
text = "二つ目の文書の主張。"
""",
    }


@pytest.fixture
def site(local_server: LocalServer) -> LocalServer:
    for path, (title, sentence) in PAGES.items():
        local_server.route(path, respond(page(title, sentence)))
    return local_server


@pytest.mark.parametrize(
    "shape", ["sources and claims only", "document, sources, claims",
              "two documents, some footnotes declared"],
)  # fmt: skip
def test_hand_written_files_verify_cleanly(tmp_path: Path, site: LocalServer, shape: str) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(shapes(site.url(""))[shape], encoding="utf-8")
    archive = tmp_path / "archive"
    runner = CliRunner()

    checked = runner.invoke(app, ["check", "-s", str(sources), "--json"])
    assert checked.exit_code == 0, checked.output
    fetched = runner.invoke(app, ["fetch", "-s", str(sources), "-a", str(archive), "--json"])
    assert fetched.exit_code == 0, fetched.output

    verified = runner.invoke(app, ["verify", "-s", str(sources), "-a", str(archive), "--json"])
    report = json.loads(verified.stdout)
    problems = [c for c in report["claims"] if c["verdict"] != "ok"]
    assert verified.exit_code == 0 and not problems, problems
    assert report["claims"] and not any("not defined" in json.dumps(c) for c in report["claims"])

    status = runner.invoke(app, ["status", "-s", str(sources), "-a", str(archive), "--json"])
    assert status.exit_code == 0, status.output
    with sqlite3.connect(archive / "citearchive.db") as db:
        verdicts = db.execute("SELECT DISTINCT verdict FROM claim_evidence").fetchall()
        numbers = db.execute("SELECT document_id, footnote FROM footnotes").fetchall()
        cited = db.execute("SELECT DISTINCT document_id, footnote FROM citations").fetchall()
    assert verdicts == [("ok",)]
    assert sorted(numbers) == sorted(cited)  # every cited footnote is a footnote

    links = tmp_path / "links.html"
    exported = runner.invoke(
        app, ["export", "robust-links", "-s", str(sources), "-a", str(archive), "-o", str(links)]
    )
    assert exported.exit_code == 0, exported.output
    assert "data-versiondate" in links.read_text(encoding="utf-8")
