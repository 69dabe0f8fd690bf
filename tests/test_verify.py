"""verify_archive offline: traceability, quotes, lint, the report and the ``checks`` history.

Archives are made by the real capture pipeline from pages on a local server; the checks
are read back from the real SQLite index.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from citearchive.archive.store import Archive, quote_id
from citearchive.capture.pipeline import fetch_sources
from citearchive.config import resolve_settings
from citearchive.errors import ArchiveError
from citearchive.sources.manifest import Claim, Manifest, parse_manifest
from citearchive.verify.run import FAILING, VerifyReport, format_report, verify_archive
from citearchive.verify.status import source_status
from localserver import LocalServer, respond, sequence

FAST = resolve_settings({"host_delay": 0.0, "backoff": 0.01, "deadline": 10.0, "max_attempts": 1})
EN_P = (
    "The summit in Anchorage ended without an agreement on a ceasefire, but both presidents "
    "described the talks as \u201cproductive\u201d and promised further negotiations in the "
    "coming weeks. European leaders travelled to Washington to coordinate their position."
)
JA_P = (
    "2025年8月15日、米露首脳会談がアラスカ州アンカレッジで行われた。会談後、両首脳は共同記者会見に"
    "臨んだが、停戦の具体的な条件については明らかにしなかった。ロシア側は「根本的原因」の解決を"
    "繰り返し求めており、ウクライナの中立化と軍備の制限を要求の中核に据えている。"
)
JA_P2 = (
    "欧州諸国はウクライナの安全の保証を具体化するための協議を加速させた。各国の首脳はワシントンを訪れ、"
    "米国との調整を進めたが、停戦監視の枠組みや部隊派遣の規模については依然として見解の相違が残っている。"
)
RU_P = (
    "Официальный представитель МИД России заявила, что Россия не приемлет никаких сценариев "
    "размещения на Украине воинского контингента с участием стран НАТО. По её словам, такие "
    "сценарии чреваты неконтролируемой эскалацией конфликта."
)
CAPTCHA = (
    b"<html><head><title>Just a moment...</title></head><body>Checking your browser</body></html>"
)


def page(title: str, *paragraphs: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><article>"
        f"<h1>{title}</h1>{body}</article></body></html>"
    ).encode()


def manifest_text(server: LocalServer, commentary: str | None = None) -> str:
    doc_file = f'file = "{commentary}"\n' if commentary else ""
    src = [
        # (id, path, quotes)
        ("fn1", "/en", ['described the talks as "productive" and promised further negotiations']),
        ("fn2", "/ja", ["停戦の具体的な内容については明らかにしなかった"]),
        ("fn3", "/ru", ["Россия подписала соглашение о прекращении огня"]),
        ("fn4", "/missing", []),
        ("fn5", "/captcha", []),
        ("fn6", None, []),
        ("fn7", "/later", []),
        ("fn8", "/en", []),
    ]
    out = [f'[[document]]\nid = "doc"\ntitle = "Commentary"\n{doc_file}']
    for n in range(1, 8):  # footnote 8 has no [[footnote]] entry: its source defines it
        out.append(f'[[footnote]]\nnumber = {n}\ntext = "Footnote {n}."\n')
    for n, (sid, path, quotes) in enumerate(src, start=1):
        url = f'url = "{server.url(path)}"\n' if path else ""
        out.append(
            f'[[source]]\nid = "{sid}"\nfootnotes = [{n}]\n{url}'
            f"quotes = {json.dumps(quotes, ensure_ascii=False)}\n"
        )
        out.append(f'[[claim]]\nfootnote = {n}\ntext = "Claim number {n} of the commentary."\n')
    return "\n".join(out)


def serve_pages(server: LocalServer) -> None:
    server.route("/en", respond(page("Talks", EN_P, EN_P)))
    server.route("/ja", respond(page("停戦協議", JA_P, JA_P2), encoding="gzip"))
    server.route("/ru", respond(page("Переговоры", RU_P, RU_P)))
    server.route("/captcha", respond(CAPTCHA))


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(max_workers=2) as executor:
        yield executor


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, pool: ProcessPoolExecutor
) -> Iterator[tuple[Path, str]]:
    """An archive of every source but fn7 (never captured), and its manifest text."""
    root = tmp_path_factory.mktemp("verify")
    with LocalServer() as server:
        serve_pages(server)
        text = manifest_text(server)
        manifest = parse_manifest(text, root / "sources.toml")
        wanted = [s.id for s in manifest.sources if s.id != "fn7"]
        fetch_sources(manifest, root / "archive", source_ids=wanted, settings=FAST, executor=pool)
    yield root / "archive", text


@pytest.fixture
def copy(template: tuple[Path, str], tmp_path: Path) -> tuple[Path, Manifest]:
    archive, text = template
    shutil.copytree(archive, tmp_path / "archive")
    return tmp_path / "archive", parse_manifest(text, tmp_path / "sources.toml")


def checks(root: Path, where: str = "1", params: Any = ()) -> list[dict[str, Any]]:
    arch = Archive.open(root, create=False)
    try:
        return list(arch.db.query(f"SELECT * FROM checks WHERE {where} ORDER BY id", params))
    finally:
        arch.close()


def claim(report: VerifyReport, footnote: int) -> Any:
    return next(c for c in report.claims if c.footnote == footnote)


# --- the report --------------------------------------------------------------------------


def test_each_claim_gets_its_verdict(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy
    report = verify_archive(manifest, root, settings=FAST)
    assert not report.ok
    verdicts = {c.footnote: (c.verdict, c.ok) for c in report.claims}
    assert verdicts == {
        1: ("ok", True),
        2: ("quote approximate", True),
        3: ("quote not found", False),
        4: ("untraceable", False),
        5: ("untraceable", False),
        6: ("untraceable", False),
        7: ("untraceable", False),
        8: ("ok", True),
    }
    assert claim(report, 4).problems == ["source fn4: only failed captures (HTTP 404 Not Found)"]
    assert claim(report, 5).problems[0].startswith("source fn5: only suspect captures (captcha")
    assert claim(report, 6).problems == ["source fn6 has no URL (unresolved)"]
    assert claim(report, 7).problems == ["source fn7 was never captured"]
    assert claim(report, 8).problems == []  # a footnote a source carries exists
    assert claim(report, 1).capture_ids and not claim(report, 1).problems
    approx = claim(report, 2).problems[0]
    assert approx.startswith("fn2: quote") and "停戦の具体的な条件については" in approx
    assert report.totals["traceability"] == {"ok": 4, "failed": 4}
    assert report.totals["quote"] == {"found": 1, "approximate": 1, "not-found": 1}
    assert report.totals["fixity"] == {"ok": sum(report.totals["fixity"].values())}


def test_report_renders_and_serializes(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy
    report = verify_archive(manifest, root, settings=FAST)
    rows = format_report(report)
    assert rows[0] == ("fn", "claim", "source", "verdict")
    assert rows[3] == ("3", "Claim number 3 of the commentary.", "fn3", "quote not found")
    assert rows[-1][1] == "totals" and "1 not-found" in rows[-1][3]
    data = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))
    assert data["ok"] is False and data["run_id"] == report.run_id
    said = "some checks failed (5 of 8 claims not ok; 1 quote matched only approximately: "
    said += "review it)"
    assert data["summary"] == report.summary == said
    assert len(data["claims"]) == 8
    assert all(c["kind"] != "fixity" for c in data["checks"])  # passes are only counted


def test_every_result_is_stored_as_a_check(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy
    report = verify_archive(manifest, root, settings=FAST)
    stored = checks(root, "run_id = ?", [report.run_id])
    total = sum(sum(c.values()) for c in report.totals.values())
    assert len(stored) == total
    by_kind = {row["kind"] for row in stored}
    assert by_kind == {"fixity", "traceability", "quote", "timestamp"}
    fixity = [r for r in stored if r["kind"] == "fixity"]
    assert all(r["outcome"] == "ok" for r in fixity)
    assert all(  # one check per capture, and one per WARC file
        r["subject"] == f"capture:{r['capture_id']}"
        or (r["subject"].startswith("warc:") and r["capture_id"] is None)
        for r in fixity
    )
    assert sum(r["subject"].startswith("warc:") for r in fixity) == 1
    trace = {r["subject"]: r for r in stored if r["kind"] == "traceability"}
    assert trace["claim:doc:4"]["detail"] == "source fn4: only failed captures (HTTP 404 Not Found)"
    assert (
        trace["claim:doc:4"]["claim_id"] == "doc:4" and trace["claim:doc:4"]["source_id"] == "fn4"
    )
    quote = next(r for r in stored if r["kind"] == "quote" and r["source_id"] == "fn1")
    assert quote["subject"] == "quote:" + quote_id("fn1", manifest.source("fn1").quotes[0])
    assert quote["outcome"] == "found"
    detail = json.loads(quote["detail"])
    assert detail["matched"].startswith("described the talks as \u201cproductive\u201d")
    assert detail["capture_id"] == quote["capture_id"] and detail["score"] == 100.0
    assert {"prefix", "suffix"} <= set(detail)
    arch = Archive.open(root, create=False)
    run = arch.db["runs"].get(report.run_id)
    arch.close()
    assert run["command"] == "verify" and run["finished_at"]
    assert json.loads(run["summary"])["ok"] is False
    assert all(row["checked_at"].endswith("Z") for row in stored)


def test_a_clean_archive_is_ok(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy
    keep = {"fn1", "fn2"}
    sources = tuple(
        dataclasses.replace(s, quotes=s.quotes if s.id == "fn1" else ("停戦の具体的な条件",))
        for s in manifest.sources
        if s.id in keep
    )
    clean = dataclasses.replace(
        manifest, sources=sources, claims=tuple(c for c in manifest.claims if c.footnote <= 2)
    )
    report = verify_archive(clean, root, settings=FAST)
    assert report.ok, report.failures
    assert [c.verdict for c in report.claims] == ["ok", "ok"]
    assert not any(o in FAILING for counts in report.totals.values() for o in counts)
    assert report.summary == "all checks held"


def test_an_approximate_quote_passes_but_the_summary_says_so(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy
    sources = tuple(s for s in manifest.sources if s.id in {"fn1", "fn2"})
    clean = dataclasses.replace(
        manifest, sources=sources, claims=tuple(c for c in manifest.claims if c.footnote <= 2)
    )
    report = verify_archive(clean, root, settings=FAST)
    assert report.ok  # exit 0: approximate is not a failure
    assert report.totals["quote"] == {"found": 1, "approximate": 1}
    assert report.summary == "all checks held (1 quote matched only approximately: review it)"


def test_a_claim_citing_no_source(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy
    odd = dataclasses.replace(
        manifest,
        claims=(Claim("doc", 5, "Uncited claim.", 1),),
        sources=tuple(s for s in manifest.sources if s.id != "fn5"),
    )
    report = verify_archive(odd, root, settings=FAST)
    assert report.claims[0].problems == ["footnote 5 cites no source"]


# --- fixity and traceability ---------------------------------------------------------------


def test_a_fixity_failure_breaks_the_claim(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy
    arch = Archive.open(root, create=False)
    row = next(arch.db.query("SELECT * FROM captures WHERE source_id = 'fn1'"))
    arch.close()
    path = root / "warc" / row["warc_filename"]
    data = bytearray(path.read_bytes())
    data[row["warc_offset"] + row["warc_length"] // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    report = verify_archive(manifest, root, settings=FAST)
    c1 = claim(report, 1)
    assert c1.verdict == "untraceable" and not c1.ok
    assert c1.problems[0] == f"source fn1: fixity failure on capture {row['id']}"
    failed = [c for c in report.failures if c.kind == "fixity"]
    assert [c.capture_id for c in failed] == [row["id"], None]  # the capture, then its file
    assert failed[1].subject == f"warc:{row['warc_filename']}"
    assert f"at offset {row['warc_offset']}: corrupt gzip member" in str(failed[1].detail)
    assert failed[0].source_id == "fn1"
    assert row["warc_filename"] in str(failed[0].detail)
    quote = next(c for c in report.checks if c.kind == "quote" and c.source_id == "fn1")
    assert quote.outcome == "no-capture"


def test_edited_text_breaks_the_claim(copy: tuple[Path, Manifest]) -> None:
    """The text quotes are matched in is evidence too: editing it is a fixity failure."""
    root, manifest = copy
    arch = Archive.open(root, create=False)
    with arch.db.conn:
        arch.db.execute(
            "UPDATE captures SET text = replace(text, 'European leaders travelled', "
            "'Russian leaders travelled') WHERE source_id = 'fn1'"
        )
    (row,) = arch.db.query("SELECT id FROM captures WHERE source_id = 'fn1'")
    arch.close()
    report = verify_archive(manifest, root, settings=FAST)
    assert claim(report, 1).verdict == "untraceable"
    assert claim(report, 1).problems[0] == f"source fn1: fixity failure on capture {row['id']}"
    (bad,) = [c for c in report.failures if c.kind == "fixity"]
    assert bad.capture_id == row["id"] and str(bad.detail).startswith("extracted text edited")
    assert report.summary.startswith("some checks failed")


@pytest.mark.parametrize(
    "change",
    [{"payload_sha256": None, "warc_payload_digest": None}, {"warc_filename": None}],
    ids=["no-payload-hash", "no-warc-file"],
)
def test_a_capture_fixity_cannot_check_is_not_evidence(
    copy: tuple[Path, Manifest], change: dict[str, Any]
) -> None:
    root, manifest = copy
    arch = Archive.open(root, create=False)
    (row,) = arch.db.query("SELECT id FROM captures WHERE source_id = 'fn1'")
    with arch.db.conn:
        arch.db["captures"].update(row["id"], change)  # type: ignore[union-attr]
    arch.close()
    report = verify_archive(manifest, root, settings=FAST)
    assert claim(report, 1).verdict == "untraceable" and not claim(report, 1).ok
    assert claim(report, 1).problems[0] == f"source fn1: fixity failure on capture {row['id']}"
    assert [c.capture_id for c in report.failures if c.kind == "fixity"] == [row["id"]]


# --- quotes over time ----------------------------------------------------------------------


def test_quote_context_is_stored_once_and_used_when_the_page_changes(
    tmp_path: Path, pool: ProcessPoolExecutor
) -> None:
    said = "Президент заявил, что готов к переговорам с Киевом без предварительных условий"
    before = f"{RU_P} {said}. Далее обсуждались вопросы энергетики и торговли между странами."
    after = before.replace(said, "Президент заявил, что переговоры с Киевом невозможны")
    with LocalServer() as server:
        server.route(
            "/ru",
            sequence(
                respond(page("Заявление", before, RU_P)), respond(page("Заявление", after, RU_P))
            ),
        )
        text = (
            '[[document]]\nid = "doc"\ntitle = "C"\n[[footnote]]\nnumber = 1\n'
            f'[[source]]\nid = "fn1"\nfootnotes = [1]\nurl = "{server.url("/ru")}"\n'
            f'quotes = ["{said}"]\n[[claim]]\nfootnote = 1\ntext = "Claim."\n'
        )
        manifest = parse_manifest(text, tmp_path / "sources.toml")
        root = tmp_path / "archive"
        fetch_sources(manifest, root, settings=FAST, executor=pool)
        first = verify_archive(manifest, root, settings=FAST)
        assert first.ok
        arch = Archive.open(root, create=False)
        stored = arch.db["quotes"].get(quote_id("fn1", said))
        arch.close()
        assert stored["prefix"].endswith("эскалацией конфликта. ")
        assert stored["suffix"].startswith(". Далее обсуждались")
        assert stored["anchored_at"]
        fetch_sources(manifest, root, settings=FAST, executor=pool, refresh=True)
    second = verify_archive(manifest, root, settings=FAST)
    assert claim(second, 1).verdict == "quote not found"
    gone = next(c for c in second.checks if c.kind == "quote")
    assert isinstance(gone.detail, dict)
    assert gone.detail["now_reads"] == "Президент заявил, что переговоры с Киевом невозможны"
    arch = Archive.open(root, create=False)
    again = arch.db["quotes"].get(quote_id("fn1", said))
    arch.close()
    assert again["anchored_at"] == stored["anchored_at"]  # first anchoring is kept
    # history: when did footnote 1's quote stop anchoring?
    history = checks(root, "kind = 'quote' AND subject = ?", [f"quote:{quote_id('fn1', said)}"])
    assert [h["outcome"] for h in history] == ["found", "not-found"]
    assert history[0]["run_id"] == first.run_id and history[1]["run_id"] == second.run_id


# --- lint ------------------------------------------------------------------------------------


def test_commentary_lint_warnings_are_reported_not_failed(
    copy: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = copy
    (tmp_path / "commentary.md").write_text(
        "# Title\n\nBody sentence one.<sup>1</sup> Second claim here.<sup>2</sup>\n\n"
        "<sup>1</sup> Source one, https://example.org\n",
        encoding="utf-8",
    )
    doc = dataclasses.replace(manifest.documents[0], file=tmp_path / "commentary.md")
    clean = dataclasses.replace(
        manifest, documents=(doc,), sources=manifest.sources[:1], claims=manifest.claims[:1]
    )
    report = verify_archive(clean, root, settings=FAST)
    lint = [c for c in report.checks if c.kind == "lint"]
    assert [(c.subject, c.outcome) for c in lint] == [("document:doc:footnote:2", "warning")]
    assert lint[0].detail == "missing-footnote: marker 2 (line 3) has no footnote definition"
    assert report.ok  # a warning does not fail the run


def test_a_missing_commentary_file_is_a_warning(
    copy: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = copy
    doc = dataclasses.replace(manifest.documents[0], file=tmp_path / "gone.md")
    report = verify_archive(dataclasses.replace(manifest, documents=(doc,)), root, settings=FAST)
    lint = [c for c in report.checks if c.kind == "lint"]
    assert len(lint) == 1 and lint[0].outcome == "warning"
    assert "gone.md: no such file" in str(lint[0].detail)


# --- status and errors -------------------------------------------------------------------------


def test_source_status(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy
    before = {r.source_id: r for r in source_status(manifest, root)}
    assert before["fn1"].last_status == "captured" and before["fn1"].last_verdict is None
    assert before["fn4"].last_status == "failed: HTTP 404 Not Found"
    assert before["fn5"].last_status.startswith("suspect: captcha wall")
    assert before["fn6"].last_status == "unresolved" and before["fn6"].captures == 0
    assert before["fn7"].last_status == "never captured"
    verify_archive(manifest, root, settings=FAST)
    after = {r.source_id: r for r in source_status(manifest, root)}
    assert after["fn1"].last_verdict == "ok"
    assert after["fn1"].footnotes == [1] and after["fn1"].last_good_at
    assert after["fn3"].last_verdict == "quote not-found"
    assert after["fn4"].last_verdict == "traceability failed"
    assert after["fn2"].last_verdict == "quote approximate"
    assert json.dumps([r.to_dict() for r in after.values()])


def test_status_without_an_archive(tmp_path: Path, template: tuple[Path, str]) -> None:
    manifest = parse_manifest(template[1], tmp_path / "sources.toml")
    rows = source_status(manifest, tmp_path / "nothing")
    assert [r.captures for r in rows] == [0] * len(manifest.sources)
    assert not (tmp_path / "nothing").exists()


def test_verify_without_an_archive_is_a_clear_error(
    tmp_path: Path, template: tuple[Path, str]
) -> None:
    manifest = parse_manifest(template[1], tmp_path / "sources.toml")
    with pytest.raises(ArchiveError, match="no archive here"):
        verify_archive(manifest, tmp_path / "nothing", settings=FAST)


def test_progress_is_reported_by_stage(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy
    seen: list[tuple[str, int, int]] = []
    verify_archive(manifest, root, settings=FAST, progress=lambda *a: seen.append(a))
    fixity = [s for s in seen if s[0] == "fixity"]
    quotes = [s for s in seen if s[0] == "quotes"]
    assert fixity and fixity[-1][1] == fixity[-1][2] == len(fixity)
    assert quotes[-1] == ("quotes", len(manifest.sources), len(manifest.sources))


def test_an_interrupted_run_says_so_and_a_rerun_completes(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy

    def interrupt(stage: str, done: int, total: int) -> None:
        if stage == "fixity" and done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        verify_archive(manifest, root, settings=FAST, progress=interrupt)
    arch = Archive.open(root, create=False)
    run = next(arch.db.query("SELECT * FROM runs WHERE command = 'verify'"))
    arch.close()
    assert run["finished_at"] and json.loads(run["summary"]) == {
        "ok": False,
        "error": "KeyboardInterrupt()",
    }
    assert source_status(manifest, root)[0].last_verdict is None  # no finished verify yet
    again = verify_archive(manifest, root, settings=FAST)  # the lock was released
    assert len(again.claims) == 8
    assert source_status(manifest, root)[0].last_verdict == "ok"  # from the finished run


def test_removing_a_source_keeps_its_quotes_anchoring_context(
    copy: tuple[Path, Manifest],
) -> None:
    """Issue 10, F22: evidence is never deleted by a config edit."""
    root, manifest = copy
    verify_archive(manifest, root, settings=FAST)
    qid = quote_id("fn1", manifest.source("fn1").quotes[0])
    arch = Archive.open(root, create=False)
    first = arch.db["quotes"].get(qid)
    arch.close()
    assert first["anchored_at"] and first["prefix"] is not None
    fewer = dataclasses.replace(
        manifest,
        sources=tuple(s for s in manifest.sources if s.id != "fn1"),
        claims=tuple(c for c in manifest.claims if c.footnote != 1),
    )
    report = verify_archive(fewer, root, settings=FAST)
    assert not any(c.subject == f"quote:{qid}" for c in report.checks)  # not checked now
    arch = Archive.open(root, create=False)
    kept = arch.db["quotes"].get(qid)
    counted = arch.db.execute("SELECT sum(quotes) FROM claim_evidence").fetchone()[0]
    arch.close()
    assert {k: kept[k] for k in ("prefix", "suffix", "anchored_at")} == {
        k: first[k] for k in ("prefix", "suffix", "anchored_at")
    }
    assert kept["in_manifest"] == 0
    assert counted == 2  # the views count only the quotes sources.toml lists (fn2, fn3)
    verify_archive(manifest, root, settings=FAST)  # put back: the same row, in again
    arch = Archive.open(root, create=False)
    back = arch.db["quotes"].get(qid)
    arch.close()
    assert back["in_manifest"] == 1 and back["anchored_at"] == first["anchored_at"]


def test_a_killed_run_is_marked_interrupted_and_its_checks_kept_apart(
    copy: tuple[Path, Manifest],
) -> None:
    """Finding F21: a verify killed midway left its partial checks mixed with complete ones."""
    root, manifest = copy
    verify_archive(manifest, root, settings=FAST)
    before = {(r["kind"], r["subject"]): r["outcome"] for r in latest(root)}
    archive = Archive.open(root)
    try:  # a verify that dies after writing one verdict (as kill -9 would leave it)
        with archive.locked():
            run = archive.start_run("verify", settings={}, user_agent=None)
            archive.insert_checks([{
                "run_id": run, "kind": "quote", "subject": next(
                    s for k, s in before if k == "quote"), "outcome": "not-found",
                "detail": {"partial": True}, "checked_at": "2999-01-01T00:00:00Z",
            }])  # fmt: skip
    finally:
        archive.close()
    assert {(r["kind"], r["subject"]): r["outcome"] for r in latest(root)} == before

    verify_archive(manifest, root, settings=FAST)  # the next writer marks it
    with sqlite3.connect(root / "citearchive.db") as db:
        (interrupted,) = db.execute(
            "SELECT interrupted_at FROM runs WHERE id = ?", [run]
        ).fetchone()
        finished = db.execute(
            "SELECT count(*) FROM runs WHERE finished_at IS NULL AND interrupted_at IS NULL"
        ).fetchone()[0]
    assert interrupted is not None and finished == 0
    assert {(r["kind"], r["subject"]): r["outcome"] for r in latest(root)} == before


def latest(root: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(root / "citearchive.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT kind, subject, outcome FROM latest_checks")]


# --- provenance (F3) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("url", "http://example.org/forged", "captures.url 'http://example.org/forged' is not"),
        ("fetched_at", "2001-01-01T00:00:00Z", "captures.fetched_at '2001-01-01T00:00:00Z' is not"),
        ("ip", "8.8.8.8", "captures.ip '8.8.8.8' is not the record's WARC-IP-Address"),
    ],
)
def test_an_edited_provenance_column_fails_fixity(
    copy: tuple[Path, Manifest], column: str, value: str, words: str
) -> None:
    root, manifest = copy
    arch = Archive.open(root, create=False)
    (row,) = arch.db.query("SELECT id FROM captures WHERE source_id = 'fn1'")
    with arch.db.conn:
        arch.db["captures"].update(row["id"], {column: value})  # type: ignore[union-attr]
    arch.close()
    report = verify_archive(manifest, root, settings=FAST)
    assert claim(report, 1).verdict == "untraceable"
    (bad,) = [c for c in report.failures if c.kind == "fixity"]
    assert bad.capture_id == row["id"] and words in str(bad.detail)


def test_a_capture_moved_to_another_source_is_not_its_evidence(
    copy: tuple[Path, Manifest],
) -> None:
    root, manifest = copy  # fn7 (/later) was never captured
    arch = Archive.open(root, create=False)
    (row,) = arch.db.query("SELECT id, url FROM captures WHERE source_id = 'fn2'")
    with arch.db.conn:
        arch.db.execute("UPDATE captures SET source_id = 'fn7' WHERE id = ?", [row["id"]])
    arch.close()
    report = verify_archive(manifest, root, settings=FAST)
    c7 = claim(report, 7)
    assert c7.verdict == "untraceable" and not c7.ok
    assert c7.problems[0] == (
        f"source fn7: no capture of its URL (capture {row['id']} is of {row['url']!r}, "
        "not the source's URL or alternates)"
    )
    # its fixity still holds: it is a sound record, only not of this source
    assert not [c for c in report.failures if c.kind == "fixity"]


# --- derived fields (F18): text and title are held to the run manifest ---------------------


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("text = replace(text, 'European', 'Russian')", "text_sha256"),
        ("title = 'A forged title'", "metadata_sha256 (title, author, published, language)"),
    ],
    ids=["text-and-its-hash", "title"],
)
def test_a_derived_field_edited_with_its_hash_fails(
    copy: tuple[Path, Manifest], change: str, named: str
) -> None:
    from citearchive.capture.extract import text_sha256

    root, manifest = copy
    arch = Archive.open(root, create=False)
    (row,) = arch.db.query("SELECT id, run_id FROM captures WHERE source_id = 'fn1'")
    with arch.db.conn:
        arch.db.execute(f"UPDATE captures SET {change} WHERE id = ?", [row["id"]])
        (text,) = arch.db.execute("SELECT text FROM captures WHERE id = ?", [row["id"]]).fetchone()
        arch.db.execute(  # the hash edited too: fixity alone cannot tell
            "UPDATE captures SET text_sha256 = ? WHERE id = ?", [text_sha256(text), row["id"]]
        )
    arch.close()
    report = verify_archive(manifest, root, settings=FAST)
    assert not [c for c in report.failures if c.kind == "fixity"]
    (bad,) = [c for c in report.failures if c.subject == f"run:{row['run_id']}"]
    words = str(bad.detail)
    assert "evidence changed since capture" in words and f"capture {row['id']}: {named}" in words
    assert report.summary.startswith("some checks failed")


def test_a_version_1_run_manifest_still_holds(copy: tuple[Path, Manifest]) -> None:
    from citearchive.archive.runs import build_manifest, manifest_name

    root, manifest = copy
    arch = Archive.open(root, create=False)
    (run_id,) = {r["run_id"] for r in arch.db.query("SELECT run_id FROM captures")}
    old = build_manifest(arch, run_id, version=1)
    (arch.warc_dir / manifest_name(run_id)).write_bytes(old)
    arch.close()
    assert old.startswith(b"citearchive run manifest 1\n")
    report = verify_archive(manifest, root, settings=FAST)
    assert not [c for c in report.failures if c.subject == f"run:{run_id}"]
