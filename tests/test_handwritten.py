"""Hand-written sources.toml files, in every shape the README's reference allows, verify
cleanly once their pages are captured (issue 10 §1).

A footnote exists when a ``[[footnote]]`` entry or a ``[[source]]`` carries its number:
check, verify, status, the archive's tables and views and the exports all agree.
The pages come from a real server on 127.0.0.1, captured by the real pipeline.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citearchive.archive.store import Archive
from citearchive.capture.pipeline import fetch_sources
from citearchive.cli.app import app
from citearchive.config import resolve_settings
from citearchive.export.robustlinks import export_robust_links
from citearchive.export.wacz import export_wacz
from citearchive.sources.manifest import parse_manifest
from citearchive.verify.run import verify_archive
from citearchive.verify.status import source_status
from localserver import LocalServer, respond

FAST = resolve_settings({"host_delay": 0.0, "backoff": 0.01, "deadline": 10.0, "max_attempts": 1,
                         "fallback": False})  # fmt: skip
PAGES = {
    "/en": ("Talks", "Both presidents described the talks as productive and promised more."),
    "/ja": ("停戦協議", "会談後、両首脳は共同記者会見に臨んだが、停戦の条件は明らかにしなかった。"),
    "/ru": ("Переговоры", "Россия не приемлет никаких сценариев размещения контингента НАТО."),
}

# Each shape: (name, TOML with {u} for the server's base URL, expected footnotes per document)
SHAPES = [
    (
        "one document, `footnote = n`, no [[footnote]]",
        """
[[document]]
id = "c"
title = "Commentary"

[[source]]
id = "a"
footnote = 1
url = "{u}/en"
quotes = ["described the talks as productive"]

[[source]]
id = "b"
footnote = 2
url = "{u}/ja"
language = "ja"

[[claim]]
footnote = 1
text = "The talks were called productive."

[[claim]]
footnote = 2
text = "会談は終わった。"
""",
        {"c": [1, 2]},
    ),
    (
        "no [[document]] at all, `footnotes = [..]`",
        """
[[source]]
id = "a"
footnotes = [1, 3]
url = "{u}/en"

[[source]]
id = "r"
footnotes = [2]
url = "{u}/ru"
quotes = ["не приемлет никаких сценариев"]

[[claim]]
footnote = 1
text = "One."

[[claim]]
footnote = 2
text = "Два."

[[claim]]
footnote = 3
text = "Three."
""",
        {"": [1, 2, 3]},
    ),
    (
        "two documents, `document =` everywhere, one source cited by two footnotes",
        """
[[document]]
id = "d1"
title = "First"

[[document]]
id = "d2"
title = "二番目"
language = "ja"

[[source]]
id = "a"
document = "d1"
footnotes = [1, 2]
url = "{u}/en"

[[source]]
id = "j"
document = "d2"
footnote = 1
url = "{u}/ja"
quotes = ["停戦の条件は明らかにしなかった"]

[[claim]]
document = "d1"
footnote = 2
text = "Second."

[[claim]]
document = "d2"
footnote = 1
text = "一つ目。"
""",
        {"d1": [1, 2], "d2": [1]},
    ),
    (
        "some [[footnote]] entries, the others only carried by sources",
        """
[[document]]
id = "c"
title = "Mixed"

[[footnote]]
number = 2
text = "Переговоры, 2025."
accessed = "2025-08-19"

[[source]]
id = "a"
footnote = 1
url = "{u}/en"

[[source]]
id = "r"
footnote = 2
url = "{u}/ru"

[[claim]]
footnote = 1
text = "One."

[[claim]]
footnote = 2
text = "Два."
""",
        {"c": [1, 2]},
    ),
]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        for path, (title, para) in PAGES.items():
            html = (
                f"<html><head><meta charset='utf-8'><title>{title}</title></head><body>"
                f"<article><h1>{title}</h1>"
                + "".join(f"<p>{i}. {para} ({title} {i})</p>" for i in range(1, 7))
                + "</article></body></html>"
            )
            srv.route(path, respond(html.encode()))  # fmt: skip
        yield srv


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(max_workers=1) as executor:
        yield executor


@pytest.mark.parametrize(("name", "text", "expected"), SHAPES, ids=[s[0] for s in SHAPES])
def test_a_hand_written_file_verifies_cleanly(
    name: str, text: str, expected: dict[str, list[int]], server: LocalServer,
    pool: ProcessPoolExecutor, tmp_path: Path,
) -> None:  # fmt: skip
    toml = tmp_path / "sources.toml"
    toml.write_text(text.replace("{u}", server.url("").rstrip("/")), encoding="utf-8")
    manifest = parse_manifest(toml.read_text(encoding="utf-8"), toml)
    assert {d: [f.number for f in manifest.all_footnotes if f.document == d]
            for d in expected} == expected  # fmt: skip
    # check
    result = CliRunner().invoke(app, ["check", "-s", str(toml), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["footnotes"] == sum(map(len, expected.values()))

    root = tmp_path / "archive"
    fetch_sources(manifest, root, settings=FAST, executor=pool)
    # verify
    report = verify_archive(manifest, root, settings=FAST)
    assert [(c.footnote, c.verdict, c.problems) for c in report.claims] == [
        (c.footnote, "ok", []) for c in manifest.claims
    ]
    assert report.ok
    # status
    assert {r.source_id: r.last_verdict for r in source_status(manifest, root)} == {
        s.id: "ok" for s in manifest.sources
    }
    # the archive's tables and Datasette's views
    arch = Archive.open(root, create=False)
    try:
        rows = arch.db.execute("SELECT document_id, footnote FROM footnotes").fetchall()
        assert sorted(rows) == sorted((d, n) for d, ns in expected.items() for n in ns)
        verdicts = [r[0] for r in arch.db.execute("SELECT verdict FROM claim_evidence")]
        assert verdicts and set(verdicts) == {"ok"}
    finally:
        arch.close()
    # the exports
    links = export_robust_links(manifest, root)
    for doc, numbers in expected.items():
        for n in numbers:
            assert f'id="fn-{doc}-{n}"' in links.html
    assert links.unarchived == []
    out = export_wacz(root, tmp_path / "a.wacz", manifest=manifest)
    with zipfile.ZipFile(out) as z:
        meta = json.loads(z.read("datapackage.json"))
    if manifest.documents:
        assert f"{sum(map(len, expected.values()))} footnotes" in meta["description"]


def test_a_claim_whose_footnote_no_source_carries_is_still_refused() -> None:
    from citearchive.errors import ManifestError

    with pytest.raises(ManifestError, match="no \\[\\[source\\]\\] lists footnote 2"):
        parse_manifest(
            '[[source]]\nid = "a"\nfootnote = 1\n\n[[claim]]\nfootnote = 2\ntext = "x"\n'
        )
