"""Regression gate: extract() over the 351 real pages of the shared evaluation corpus.

The corpus (``../shared/corpus`` next to the repository, read in place, never
copied) gives, for each page, phrases the main text must contain and boilerplate
it must not. Matching follows the corpus README: case-sensitive, after Unicode
NFC and folding every whitespace run to one space, i.e. ``normalize_text``.

Per origin, the number of ``must_contain`` phrases found and ``must_not_contain``
phrases leaked is pinned in ``tests/corpus_baseline.json``. The gate fails when
an origin finds more than one phrase fewer, or leaks more than one phrase more,
than its baseline. After a deliberate change, regenerate the baseline with

    python tests/test_corpus.py --update

and commit the new file with the change that explains it.

The same run also checks that no page extracts to nothing, that every page is
decoded with the codec the corpus records, that no real article is flagged
suspect (with its own language declared), and that language detection agrees
with the corpus. A last test re-encodes reference texts in legacy codecs to
check charset detection without any declaration.
"""

from __future__ import annotations

import codecs
import json
import sys
from collections import Counter
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import pytest

from citearchive.capture.charset import decode_html
from citearchive.capture.extract import Extraction, extract, normalize_text

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
BASELINE = Path(__file__).with_name("corpus_baseline.json")
TOLERANCE = 1  # phrases an origin may lose (or leak) before the gate fails

pytestmark = pytest.mark.corpus


@dataclass(frozen=True)
class PageScore:
    """One page's outcome: phrases found and leaked, and what extract() decided."""

    name: str
    origin: str
    found: int
    expected: int
    leaked: int
    forbidden: int
    empty: bool
    charset_ok: bool
    language_ok: bool
    suspect: str | None


def _extract_page(args: tuple[bytes, str | None]) -> Extraction:
    """Pool worker: extract() on raw bytes, content type unknown, declared language given."""
    body, language = args
    return extract(body, None, declared_language=language)


def _same_codec(ours: str | None, theirs: str | None) -> bool:
    """True when both name the same Python codec (spelling aside)."""
    if ours is None or theirs is None:
        return ours == theirs
    return codecs.lookup(ours).name == codecs.lookup(theirs).name


def _score(name: str, meta: dict[str, Any], result: Extraction) -> PageScore:
    text = normalize_text(result.text or "")
    must = [normalize_text(phrase) for phrase in meta["must_contain"]]
    must_not = [normalize_text(phrase) for phrase in meta["must_not_contain"]]
    return PageScore(
        name=name,
        origin=name.split("-", 1)[0],
        found=sum(phrase in text for phrase in must),
        expected=len(must),
        leaked=sum(phrase in text for phrase in must_not),
        forbidden=len(must_not),
        empty=not text,
        charset_ok=_same_codec(result.charset, meta["charset_decoded_with"]),
        language_ok=result.language == meta["language"],
        suspect=result.suspect,
    )


def run_corpus(corpus: Path = CORPUS, processes: int = 2) -> list[PageScore]:
    """extract() every page with a pool of ``processes`` workers; one score per page."""
    folders = sorted(path.parent for path in (corpus / "pages").glob("*/source.html"))
    metas = [json.loads((folder / "meta.json").read_text("utf-8")) for folder in folders]
    jobs = [
        ((folder / "source.html").read_bytes(), meta["language"])
        for folder, meta in zip(folders, metas, strict=True)
    ]
    with Pool(processes) as pool:
        results = pool.map(_extract_page, jobs, chunksize=4)
    return [
        _score(folder.name, meta, result)
        for folder, meta, result in zip(folders, metas, results, strict=True)
    ]


def summarize(scores: list[PageScore]) -> dict[str, Any]:
    """Per-origin totals plus the pages extract() judged suspect (the baseline's shape)."""
    origins: dict[str, Counter[str]] = {}
    for score in scores:
        totals = origins.setdefault(score.origin, Counter())
        totals.update(
            pages=1,
            found=score.found,
            expected=score.expected,
            leaked=score.leaked,
            forbidden=score.forbidden,
        )
    return {
        "origins": {origin: dict(totals) for origin, totals in sorted(origins.items())},
        "suspect_pages": sorted(score.name for score in scores if score.suspect),
        "language_mismatches": sorted(score.name for score in scores if not score.language_ok),
    }


@pytest.fixture(scope="module")
def scores() -> list[PageScore]:
    if not (CORPUS / "pages").is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (it lives next to the repository)")
    return run_corpus()


@pytest.fixture(scope="module")
def baseline() -> dict[str, Any]:
    return dict(json.loads(BASELINE.read_text("utf-8")))


def test_no_origin_regresses_against_the_baseline(
    scores: list[PageScore], baseline: dict[str, Any]
) -> None:
    now = summarize(scores)["origins"]
    assert set(now) == set(baseline["origins"]), "origins changed: regenerate the baseline"
    for origin, pinned in baseline["origins"].items():
        found, leaked = now[origin]["found"], now[origin]["leaked"]
        assert found >= pinned["found"] - TOLERANCE, (
            f"{origin}: must_contain found {found}/{now[origin]['expected']}, "
            f"baseline {pinned['found']}"
        )
        assert leaked <= pinned["leaked"] + TOLERANCE, (
            f"{origin}: must_not_contain leaked {leaked}, baseline {pinned['leaked']}"
        )


def test_no_page_gives_an_empty_extraction(scores: list[PageScore]) -> None:
    assert [score.name for score in scores if score.empty] == []


def test_every_page_is_decoded_with_the_corpus_codec(scores: list[PageScore]) -> None:
    assert [score.name for score in scores if not score.charset_ok] == []


def test_real_articles_are_not_flagged_suspect(
    scores: list[PageScore], baseline: dict[str, Any]
) -> None:
    flagged = {score.name: score.suspect for score in scores if score.suspect}
    new = {name: why for name, why in flagged.items() if name not in baseline["suspect_pages"]}
    assert new == {}


def test_language_is_detected_as_the_corpus_says(
    scores: list[PageScore], baseline: dict[str, Any]
) -> None:
    wrong = [score.name for score in scores if not score.language_ok]
    assert len(wrong) <= len(baseline["language_mismatches"]) + TOLERANCE, wrong


# Legacy codecs each corpus language was commonly written in before UTF-8.
LEGACY_CODECS: dict[str, tuple[str, ...]] = {
    "ru": ("cp1251", "koi8-r"),
    "ja": ("cp932", "euc_jp"),
    "zh": ("gb18030",),
    "ko": ("cp949",),
    **dict.fromkeys(("de", "fr", "es", "it", "pt", "fi"), ("cp1252",)),
    **dict.fromkeys(("pl", "cs", "hu"), ("cp1250",)),
}
NON_LATIN = {"ru", "ja", "zh", "ko"}


def test_charset_detection_on_reencoded_reference_texts() -> None:
    """Real reference texts, re-encoded in legacy codecs with no declaration, decode back.

    Cyrillic and CJK must always come back; Latin scripts may tie between code
    pages (a Czech page reads as windows-1252), so 85% is the bar there.
    """
    if not (CORPUS / "pages").is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (it lives next to the repository)")
    right: list[str] = []
    wrong: list[tuple[str, str, str, str]] = []  # (language, page, codec, detected)
    for folder in sorted((CORPUS / "pages").iterdir()):
        meta = json.loads((folder / "meta.json").read_text("utf-8"))
        if meta["expected_kind"] != "full":
            continue  # snippet pages are too short to say anything
        text = (folder / "expected.txt").read_text("utf-8")[:3000]
        for codec in LEGACY_CODECS.get(meta["language"], ()):
            body = text.encode(codec, errors="replace").replace(b"\n", b"</p>\n<p>")
            page = b"<html><head><title>t</title></head><body><p>" + body + b"</p></body></html>"
            decoded, detected, _source = decode_html(page, None)
            if decoded == page.decode(codec, errors="replace"):
                right.append(folder.name)
            else:
                wrong.append((meta["language"], folder.name, codec, detected))
    assert [item for item in wrong if item[0] in NON_LATIN] == []
    assert len(right) >= 0.85 * (len(right) + len(wrong)), wrong


def _update_baseline() -> None:
    """Rewrite tests/corpus_baseline.json from a fresh run (the --update path)."""
    summary: dict[str, Any] = {"note": "generated by: python tests/test_corpus.py --update"}
    summary.update(summarize(run_corpus()))
    BASELINE.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", "utf-8")
    for origin, totals in summary["origins"].items():
        print(
            f"{origin:12} found {totals['found']}/{totals['expected']}"
            f"  leaked {totals['leaked']}/{totals['forbidden']}"
        )


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        raise SystemExit("usage: python tests/test_corpus.py --update")
    _update_baseline()
