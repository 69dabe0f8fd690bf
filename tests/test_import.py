"""`import`: commentary -> sources.toml, and safe merging into a hand-edited file."""

from __future__ import annotations

import json
import shutil
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from citearchive.errors import CommentaryError, ManifestError
from citearchive.sources.commentary import parse_commentary
from citearchive.sources.importer import import_commentary
from citearchive.sources.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "commentary"
SHARED = ROOT.parent / "shared" / "commentary"
REAL = SHARED / "000_4fa53e36957d04f4.txt"
needs_real = pytest.mark.skipif(not REAL.exists(), reason="../shared/commentary is absent")


def read(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def by_id(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in data["source"]}


@pytest.fixture
def commentary(tmp_path: Path) -> Path:
    """The Japanese fixture, copied next to the output so `file` is a plain name."""
    path = tmp_path / "commentary.md"
    shutil.copy(FIXTURES / "sup_ja.md", path)
    return path


# --- the real commentary -----------------------------------------------------------------


@needs_real
def test_import_real_commentary(tmp_path: Path) -> None:
    out = tmp_path / "s.toml"
    report = import_commentary(REAL, out)
    assert report.created and report.written
    assert report.added == {
        "documents": 1,
        "sources": 12,
        "footnotes": 12,
        "claims": 12,
        "fields": 0,
    }
    assert report.found == {"markers": 12, "footnotes": 12, "claims": 12}
    assert sorted((w.code, w.footnote) for w in report.warnings) == [
        ("reused-marker", 1),
        ("reused-marker", 2),
        ("unreferenced-footnote", 11),
        ("unreferenced-footnote", 12),
    ]
    json.dumps(report.to_dict())

    data = read(out)
    assert [s["id"] for s in data["source"]] == [f"fn{n}" for n in range(1, 13)]
    assert [f["number"] for f in data["footnote"]] == list(range(1, 13))
    assert len(data["claim"]) == 12
    sources = by_id(data)
    assert sources["fn2"]["url"] == "https://t.me/systemasystema/63"
    assert all(sources[f"fn{n}"]["url"] == "" for n in range(1, 13) if n != 2)
    assert sources["fn3"]["title"] == "ロシア・ウクライナの 2022 年停戦協議文書"
    (doc,) = data["document"]
    assert doc["title"] == "ロシア・ウクライナの停戦をめぐる在米協議"
    assert doc["author"] == "山添博史"
    assert doc["language"] == "ja"
    assert (out.parent / doc["file"]).resolve() == REAL.resolve()

    manifest = load_manifest(out)
    assert len(manifest.sources) == 12 and len(manifest.claims) == 12
    assert manifest.documents[0].file is not None
    assert manifest.documents[0].file.resolve() == REAL.resolve()


@needs_real
def test_bundled_sources_toml() -> None:
    bundled = ROOT / "sources.toml"
    manifest = load_manifest(bundled)
    (doc,) = manifest.documents
    assert (doc.id, doc.publisher, doc.published, doc.language) == (
        "nids-commentary-2025-08",
        "防衛研究所",
        "2025-08",
        "ja",
    )
    assert doc.file is not None and doc.file.resolve() == REAL.resolve()
    urls = {s.id: s.url for s in manifest.sources}
    assert urls == {
        "fn1": None,
        "fn2": None,
        "fn2-telegram": "https://t.me/systemasystema/63",
        "fn3": "https://www.nids.mod.go.jp/publication/commentary/commentary370.html",
        "fn4": None,
        "fn5": None,
        "fn6": None,
        "fn7": None,
        "fn8": None,
        "fn9": None,
        "fn10": "https://www.interfax.ru/russia/1042813",
        "fn11": None,
        "fn12": "https://understandingwar.org/research/russia-ukraine/"
        "the-critical-importance-of-ukraines-fortress-belt-in-donetsk-oblast/",
    }
    assert all(not s.alternates for s in manifest.sources)  # press reports are notes only
    assert "https://tass.ru/politika/24796053" in (manifest.source("fn1").notes or "")
    assert sorted(c.footnote for c in manifest.claims) == list(range(1, 13))  # misprints fixed
    text = bundled.read_text(encoding="utf-8")
    assert text.startswith("# sources.toml")
    # claims and footnotes only: a body paragraph without a marker is not in the file
    assert "16 日と 17 日にもこの会談の結果を受けて" not in text
    assert "本稿は、8 月 19 日現在で" not in text


@needs_real
def test_reimport_into_bundled_sources_changes_nothing(tmp_path: Path) -> None:
    copy = tmp_path / "sources.toml"
    shutil.copy(ROOT / "sources.toml", copy)
    before = copy.read_bytes()
    report = import_commentary(REAL, copy, document_id="nids-commentary-2025-08")
    assert report.changes == [] and not report.written
    assert report.kept == [
        "footnote 2: cited by source(s) fn2, fn2-telegram as edited by hand; left as is"
    ]
    assert copy.read_bytes() == before


# --- fresh imports of the fixtures ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sources", "claims"),
    [("sup_ja.md", 6, 6), ("sup_en.md", 5, 5), ("footnotes.md", 3, 4), ("pandoc.html", 4, 4)],
)
def test_fixture_imports_load(tmp_path: Path, name: str, sources: int, claims: int) -> None:
    out = tmp_path / "sources.toml"
    import_commentary(FIXTURES / name, out)
    manifest = load_manifest(out)
    assert (len(manifest.sources), len(manifest.claims)) == (sources, claims)


def test_fresh_file_layout(tmp_path: Path, commentary: Path) -> None:
    out = tmp_path / "sources.toml"
    import_commentary(commentary, out)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# sources.toml:")
    assert "\n\n\n" not in text and text.endswith('"\n')
    data = read(out)
    (doc,) = data["document"]
    assert doc == {
        "id": "commentary",
        "title": "停戦協議の行方",
        "author": "佐藤花子",
        "language": "ja",
        "file": "commentary.md",
    }
    fn5 = by_id(data)["fn5"]
    assert fn5["url"] == "https://example.org/news/1"
    assert fn5["notes"] == "The footnote also gives: https://example.org/news/1-amp"
    assert data["footnote"][4]["accessed"] == "2025-03-05"


def test_file_is_relative_to_the_output(tmp_path: Path, commentary: Path) -> None:
    out = tmp_path / "deep" / "er" / "sources.toml"
    report = import_commentary(commentary, out)
    assert report.created
    assert read(out)["document"][0]["file"] == "../../commentary.md"


# --- merging -----------------------------------------------------------------------------


def test_reimport_is_a_no_op(tmp_path: Path, commentary: Path) -> None:
    out = tmp_path / "sources.toml"
    import_commentary(commentary, out)
    before = out.read_bytes()
    report = import_commentary(commentary, out)
    assert not report.created and not report.written
    assert report.added == dict.fromkeys(
        ("documents", "sources", "footnotes", "claims", "fields"), 0
    )
    assert out.read_bytes() == before


def test_hand_edits_survive_reimport(tmp_path: Path, commentary: Path) -> None:
    out = tmp_path / "sources.toml"
    import_commentary(commentary, out)
    text = out.read_text(encoding="utf-8")
    text = text.replace(
        'id = "fn1"\nfootnotes = [1]\nurl = ""',
        'id = "fn1"\nfootnotes = [1]\n# found by hand in the archive\n'
        'url = "https://example.ru/talks"  # checked 2025-09-01',
    )
    text = text.replace('title = "停戦協議の分析"', 'title = "停戦協議の分析（改訂版）"')
    text = text.replace(
        'id = "fn3"\nfootnotes = [3]',
        'id = "fn3"\nfootnotes = [3]\nquotes = ["talks will continue"]\n'
        'alternates = ["https://mirror.example/talks"]\nnotes = "Wire copy."',
    )
    text = text.replace(
        '両国の首脳が会談した"', '両国の首脳が会談した（手で修正）"'
    )  # an edited claim
    text += '\n# a source added by hand\n[[source]]\nid = "extra"\nfootnotes = [6]\nurl = "https://x.example/"\n'
    out.write_text(text, encoding="utf-8")
    edited = out.read_text(encoding="utf-8")

    report = import_commentary(commentary, out)
    after = out.read_text(encoding="utf-8")
    assert after == edited  # nothing to add: not even rewritten
    assert not report.written and report.changes == []
    assert any("claim for footnote 1" in k for k in report.kept)
    assert any("footnote 6" in k for k in report.kept)  # fn6 + extra: hand-edited
    data = read(out)
    sources = by_id(data)
    assert sources["fn1"]["url"] == "https://example.ru/talks"
    assert "# found by hand in the archive" in after and "# checked 2025-09-01" in after
    assert sources["fn2"]["title"] == "停戦協議の分析（改訂版）"
    assert sources["fn3"]["quotes"] == ["talks will continue"]
    assert sources["fn3"]["alternates"] == ["https://mirror.example/talks"]
    assert sources["fn3"]["notes"] == "Wire copy."
    assert sources["extra"]["url"] == "https://x.example/"
    assert len(data["source"]) == 7 and len(data["claim"]) == 6 and len(data["footnote"]) == 6
    load_manifest(out)


def test_import_fills_empty_fields_and_re_adds_deleted_tables(
    tmp_path: Path, commentary: Path
) -> None:
    out = tmp_path / "sources.toml"
    import_commentary(commentary, out)
    data_text = out.read_text(encoding="utf-8")
    data_text = data_text.replace('title = "停戦協議の分析"', 'title = ""  # to check')
    data_text = data_text.replace('publisher = "Reuters"\n', "")
    # delete the claim of footnote 6 (the last [[claim]])
    data_text = data_text[: data_text.rindex("[[claim]]")].rstrip() + "\n"
    out.write_text(data_text, encoding="utf-8")

    report = import_commentary(commentary, out)
    assert report.added["fields"] == 2 and report.added["claims"] == 1
    assert "source fn2: filled title" in report.changes
    assert "source fn3: filled publisher" in report.changes
    after = out.read_text(encoding="utf-8")
    assert 'title = "停戦協議の分析"  # to check' in after  # the comment stays with its key
    data = read(out)
    assert by_id(data)["fn3"]["publisher"] == "Reuters"
    assert [c["footnote"] for c in data["claim"]] == [1, 2, 3, 4, 5, 6]
    assert "\n\n\n" not in after
    load_manifest(out)


def test_split_footnote_is_left_alone(tmp_path: Path, commentary: Path) -> None:
    """A footnote split into two sources by hand gets neither a third source nor a URL."""
    out = tmp_path / "sources.toml"
    import_commentary(commentary, out)
    text = out.read_text(encoding="utf-8").replace(
        'id = "fn5"\nfootnotes = [5]\nurl = "https://example.org/news/1"',
        'id = "fn5"\nfootnotes = [5]\nurl = ""',
    )
    text += '\n[[source]]\nid = "fn5-amp"\nfootnotes = [5]\nurl = "https://example.org/news/1"\n'
    out.write_text(text, encoding="utf-8")
    report = import_commentary(commentary, out)
    sources = by_id(read(out))
    assert sources["fn5"]["url"] == ""
    assert report.added["sources"] == 0 and report.added["fields"] == 0
    assert any("fn5, fn5-amp" in k for k in report.kept)


def test_url_used_by_another_source_is_not_copied(tmp_path: Path, commentary: Path) -> None:
    out = tmp_path / "sources.toml"
    import_commentary(commentary, out)
    text = out.read_text(encoding="utf-8")
    text = text.replace('url = "https://example.com/proposal"', 'url = ""')
    text += '\n[[source]]\nid = "moved"\nfootnotes = [5]\nurl = "https://example.com/proposal"\n'
    out.write_text(text, encoding="utf-8")
    import_commentary(commentary, out)
    assert by_id(read(out))["fn6"]["url"] == ""


def test_second_commentary_gets_its_own_document(tmp_path: Path, commentary: Path) -> None:
    out = tmp_path / "sources.toml"
    import_commentary(commentary, out)
    english = tmp_path / "english.md"
    shutil.copy(FIXTURES / "sup_en.md", english)
    report = import_commentary(english, out)
    assert report.document_id == "english"
    data = read(out)
    assert [d["id"] for d in data["document"]] == ["commentary", "english"]
    for kind in ("footnote", "source", "claim"):
        assert all("document" in t for t in data[kind])
    assert "english-fn1" in by_id(data)
    manifest = load_manifest(out)
    assert len(manifest.sources_for("english", 1)) == 1
    assert len(manifest.sources_for("commentary", 1)) == 1
    again = import_commentary(english, out)
    assert again.changes == []


def test_marker_without_footnote_gets_a_placeholder_source(tmp_path: Path) -> None:
    src = tmp_path / "c.md"
    src.write_text("# T\n\nA.<sup>1</sup> B.<sup>2</sup>\n\n<sup>1</sup> “One,” X, May 1, 2025.\n")
    out = tmp_path / "sources.toml"
    report = import_commentary(src, out)
    assert [w.code for w in report.warnings] == ["missing-footnote"]
    fn2 = by_id(read(out))["fn2"]
    assert fn2["url"] == "" and "no footnote definition" in fn2["notes"]
    assert len(load_manifest(out).claims) == 2


# --- errors: nothing is written --------------------------------------------------------------


def test_malformed_toml_is_reported_and_untouched(tmp_path: Path, commentary: Path) -> None:
    out = tmp_path / "sources.toml"
    out.write_text('[[source]]\nid = "a"\nurl = "unterminated\n', encoding="utf-8")
    before = out.read_bytes()
    with pytest.raises(ManifestError) as err:
        import_commentary(commentary, out)
    assert err.value.line == 3 and "malformed TOML" in str(err.value)
    assert out.read_bytes() == before


def test_wrong_table_shape_is_reported(tmp_path: Path, commentary: Path) -> None:
    out = tmp_path / "sources.toml"
    out.write_text('[source]\nid = "a"\n', encoding="utf-8")
    with pytest.raises(ManifestError, match=r"write \[\[source\]\]"):
        import_commentary(commentary, out)


def test_commentary_without_footnotes_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "plain.md"
    src.write_text("# Title\n\nNo notes at all.\n", encoding="utf-8")
    out = tmp_path / "sources.toml"
    with pytest.raises(CommentaryError, match=r"plain\.md: no footnote markers"):
        import_commentary(src, out)
    assert not out.exists()


def test_missing_commentary_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CommentaryError, match="no such file"):
        import_commentary(tmp_path / "absent.md", tmp_path / "sources.toml")
    assert not (tmp_path / "sources.toml").exists()


def test_a_sentence_of_many_markers_gives_bounded_claims(tmp_path: Path) -> None:
    # one "sentence" of 5,000 markers: each claim used to repeat the whole sentence up to
    # its marker, so the output grew with the square of the input (F11)
    commentary = tmp_path / "sf.md"
    commentary.write_bytes(b"word <sup>1</sup>" * 5000 + b"\n\n1. foot https://example.org/\n")
    out = tmp_path / "sf.toml"
    import_commentary(commentary, out)
    claims = read(out)["claim"]
    assert claims and all(len(c["text"]) <= 1000 for c in claims)
    assert any(c["text"].startswith("…") for c in claims)
    assert out.stat().st_size < 40 * commentary.stat().st_size


def test_footnote_lookup_follows_definitions_added_later() -> None:
    c = parse_commentary("Text.[^1]\n\n[^1]: first https://a.example/\n", fmt=None)
    first = c.footnote(1)
    assert first is not None and "a.example" in first.text
    extra = replace(first, number=2, text="second")
    c.footnotes.append(extra)
    assert c.footnote(2) is extra and c.footnote(1) is first
    assert c.footnote(3) is None
