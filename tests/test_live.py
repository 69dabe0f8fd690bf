"""verify --live against a local server whose pages change, move, vanish and block.

The archive is captured once; then the server changes its answers and ``verify_archive(...,
live=True)`` re-fetches every source through the real capture pipeline and classifies each
one against its last good capture. The classification itself is also tested as the pure
function it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from citearchive.archive.store import Archive
from citearchive.capture.pipeline import fetch_sources
from citearchive.config import resolve_settings
from citearchive.sources.manifest import parse_manifest
from citearchive.verify.live import classify, same_place, text_change
from citearchive.verify.run import VerifyReport, verify_archive
from localserver import LocalServer, redirect, respond, sequence

FAST = resolve_settings({"host_delay": 0.0, "backoff": 0.01, "deadline": 10.0, "max_attempts": 1})
STAYS = (
    "Официальный представитель МИД России заявила, что Россия не приемлет никаких сценариев "
    "размещения на Украине воинского контингента с участием стран НАТО."
)
QUOTE = "The talks will continue next week in Geneva, the spokesperson said"
OTHER = (
    "European leaders travelled to Washington to coordinate their position on security "
    "guarantees, and several questions about monitoring a ceasefire remain open."
)
GEO = (
    b"<html><head><title>Sorry</title></head>"
    b"<body>This content is not available in your country.</body></html>"
)


def page(*paragraphs: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    head = "<html><head><meta charset='utf-8'><title>News</title></head>"
    return f"{head}<body><article>{body}</article></body></html>".encode()


V1 = page(f"{QUOTE}, adding that no date was fixed.", OTHER, STAYS)
V2 = page("The talks were postponed indefinitely, the spokesperson said.", OTHER, STAYS)
SOURCES = {  # id: (path, first answer, later answer)
    "same": ("/same", respond(V1), respond(V1)),
    "change": ("/change", respond(V1), respond(V2)),
    "move": ("/move", respond(V1), redirect("/new-home", 301)),
    "gone": ("/gone", respond(V1), respond(b"no such page", 404, content_type="text/plain")),
    "gone410": ("/gone410", respond(V1), respond(b"removed", 410, content_type="text/plain")),
    "block": ("/block", respond(V1), respond(b"forbidden", 403, content_type="text/plain")),
    "geo": ("/geo", respond(V1), respond(GEO)),
}


@pytest.fixture(scope="module")
def run() -> Iterator[tuple[VerifyReport, Path, int]]:
    """Capture every source, let the pages drift, then verify live. Yields the report."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, LocalServer() as server, LocalServer() as down:
        for path, first, later in SOURCES.values():
            server.route(path, sequence(first, later))
        server.route("/new-home", respond(V1))
        down.route("/down", respond(V1))
        lines = ['[[document]]\nid = "doc"\ntitle = "C"\n']
        urls = {sid: server.url(path) for sid, (path, _, _) in SOURCES.items()}
        urls["down"] = down.url("/down")
        for n, (sid, url) in enumerate(urls.items(), start=1):
            lines.append(
                f'[[footnote]]\nnumber = {n}\n[[source]]\nid = "{sid}"\n'
                f'footnotes = [{n}]\nurl = "{url}"\nquotes = ["{QUOTE}"]\n'
                f'[[claim]]\nfootnote = {n}\ntext = "Claim citing {sid}."\n'
            )
        manifest = parse_manifest("\n".join(lines), Path(tmp) / "sources.toml")
        root = Path(tmp) / "archive"
        with ProcessPoolExecutor(max_workers=2) as pool:
            fetch_sources(manifest, root, settings=FAST, executor=pool)
        before = count_captures(root)
        down.close()  # the host now refuses connections
        report = verify_archive(manifest, root, live=True, settings=FAST)
        yield report, root, before


def count_captures(root: Path) -> int:
    arch = Archive.open(root, create=False)
    try:
        return int(arch.db.execute("SELECT count(*) FROM captures").fetchone()[0])
    finally:
        arch.close()


def live(report: VerifyReport, kind: str = "live") -> dict[str, Any]:
    return {c.source_id: c for c in report.checks if c.kind == kind}


def test_each_drift_is_classified(run: tuple[VerifyReport, Path, int]) -> None:
    report, _, _ = run
    outcomes = {sid: c.outcome for sid, c in live(report).items()}
    assert outcomes == {
        "same": "unchanged",
        "change": "changed",
        "move": "moved",
        "gone": "gone",
        "gone410": "gone",
        "block": "blocked",
        "geo": "blocked",
        "down": "unreachable",
    }
    assert not report.ok


def test_details_say_what_changed(run: tuple[VerifyReport, Path, int]) -> None:
    report, _, _ = run
    checks = live(report)
    change = checks["change"].detail
    assert 40 < change["similarity"] < 100
    assert "postponed indefinitely" in change["diff"] and "continue next week" in change["diff"]
    assert checks["move"].detail["final_url"].endswith("/new-home")
    assert checks["gone"].detail["status_code"] == 404
    assert checks["block"].detail["status_code"] == 403
    assert checks["geo"].detail["suspect"].startswith("geo-block")
    assert "refused" in checks["down"].detail["error"].lower()
    assert checks["same"].detail["similarity"] == 100.0


def test_quote_no_longer_on_the_live_page_stands_out(run: tuple[VerifyReport, Path, int]) -> None:
    report, _, _ = run
    quotes = {sid: c.outcome for sid, c in live(report, "live-quote").items()}
    assert quotes["same"] == "found" and quotes["move"] == "found"  # moved, same text
    assert quotes["change"] == "not-found"  # fetched, and the quote is not in it
    assert (
        live(report, "live-quote")["change"].detail["reason"] == "quote no longer on the live page"
    )
    claims = {c.sources[0]: c for c in report.claims}
    assert claims["change"].verdict == "quote gone from live page"
    assert any("no longer on the live page" in p for p in claims["change"].problems)
    assert claims["same"].verdict == "ok" and claims["same"].ok
    assert claims["move"].verdict == "live: moved"
    assert report.summary.startswith("some checks failed")
    # offline checks ran on the archive as it was: every quote was found there
    assert all(c.outcome == "found" for c in report.checks if c.kind == "quote")


def test_a_quote_on_a_page_not_fetched_is_unchecked_not_gone(
    run: tuple[VerifyReport, Path, int],
) -> None:
    """Unreachable, blocked or gone: the live page was not read, so its quotes are unchecked."""
    report, _, _ = run
    quotes = live(report, "live-quote")
    for sid in ("gone", "gone410", "block", "geo", "down"):
        assert quotes[sid].outcome == "unchecked", sid
        assert not quotes[sid].failed, sid
    assert quotes["down"].detail["reason"].startswith("live page unreachable: connection refused")
    assert quotes["geo"].detail["reason"].startswith("live page blocked: geo-block")
    verdicts = {c.sources[0]: c.verdict for c in report.claims}
    assert verdicts["down"] == "live: unreachable"
    assert verdicts["gone"] == verdicts["gone410"] == "live: gone"
    assert verdicts["block"] == verdicts["geo"] == "live: blocked"
    problems = {c.sources[0]: c.problems for c in report.claims}
    assert problems["down"] == [
        f"down: live page unreachable ({live(report)['down'].detail['error']})"
    ]
    assert report.totals["live-quote"]["unchecked"] == 5


def test_live_captures_are_archived_like_any_other(run: tuple[VerifyReport, Path, int]) -> None:
    report, root, before = run
    assert count_captures(root) == before + 8  # one per source (a redirect is one capture)
    new_ids = [c.capture_id for c in report.checks if c.kind == "live" and c.capture_id]
    arch = Archive.open(root, create=False)
    try:
        runs = {r["command"] for r in arch.db.query("SELECT command FROM runs")}
        stored = {
            r["source_id"]: r["outcome"]
            for r in arch.db.query(
                "SELECT source_id, outcome FROM checks WHERE kind = 'live' AND run_id = ?",
                [report.run_id],
            )
        }
        rows = list(
            arch.db.query(
                f"SELECT source_id, warc_filename FROM captures "
                f"WHERE id IN ({','.join('?' * len(new_ids))})",
                new_ids,
            )
        )
    finally:
        arch.close()
    assert runs == {"fetch", "verify"}
    assert stored["gone"] == "gone" and len(stored) == 8
    assert len(rows) == len(new_ids) == 8
    archived = {r["source_id"] for r in rows if r["warc_filename"]}
    assert archived == set(SOURCES)  # every answer is in a WARC; the refused one has none


# --- the classification, as a pure function ------------------------------------------------


def row(**kw: Any) -> dict[str, Any]:
    base = {
        "id": 2,
        "source_id": "s",
        "url": "https://example.org/a",
        "status_code": 200,
        "error": None,
        "suspect": None,
        "text_sha256": "t1",
        "payload_sha256": "p1",
    }
    return base | kw


@pytest.mark.parametrize(
    ("new", "outcome"),
    [
        (row(), "unchanged"),
        (row(status_code=503, error="HTTP 503 Service Unavailable"), "unreachable"),
        (row(status_code=None, error="DNS lookup failed"), "unreachable"),
        (row(status_code=429, error="HTTP 429 Too Many Requests"), "blocked"),
        (row(status_code=451, error="HTTP 451"), "blocked"),
        (row(status_code=410, error="HTTP 410 Gone"), "gone"),
        (row(url="http://example.org/a/"), "unchanged"),  # scheme and trailing slash
        (row(url="https://www.example.org/a?utm_source=x"), "unchanged"),
        (row(url="https://example.org/b"), "moved"),
        (row(text_sha256="t2"), "changed"),
    ],
)
def test_classify(new: dict[str, Any], outcome: str) -> None:
    previous = row(id=1)
    result = classify("https://example.org/a", new, previous, texts=("old text", "new text"))
    assert result.outcome == outcome
    assert result.new_capture_id == 2 and result.previous_capture_id == 1


def test_classify_without_an_earlier_good_capture() -> None:
    result = classify("https://example.org/a", row(), None)
    assert result.outcome == "changed"
    assert result.detail["diff"] == "no earlier good capture to compare with"


def test_classify_without_a_new_capture() -> None:
    assert classify("https://example.org/a", None, row(id=1)).outcome == "unreachable"


def test_text_change() -> None:
    old = "Title\nThe talks will continue next week.\nOther paragraph stays the same here."
    new = "Title\nThe talks will resume next month.\nOther paragraph stays the same here.\nAdded."
    similarity, summary = text_change(old, new)
    assert 60 < similarity < 100
    assert summary.startswith("1 changed, 1 added lines; first:")
    assert "continue next week" in summary and "resume next month" in summary
    assert text_change(old, old) == (100.0, "whitespace only")


def test_same_place() -> None:
    assert same_place("http://Example.org/a/", "https://example.org/a#top")
    assert not same_place("https://example.org/a", "https://example.org/b")
    assert not same_place(None, "https://example.org/a")
