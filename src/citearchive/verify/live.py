"""Live drift: does the web still say what the archive holds?

``verify --live`` re-fetches every resolved source through the capture pipeline (the new
capture is archived like any other) and compares the new capture of the cited URL with
the source's last good capture from before the refresh:

==============  ==========================================================================
unchanged       same ``text_sha256`` (or same payload, for a capture without text)
changed         different text: a similarity score (0-100) and a short diff summary
moved           the URL now ends somewhere else (a redirect to another page)
gone            HTTP 404 or 410
blocked         HTTP 401, 403, 429 or 451, or a 200 that is an error page (``suspect``)
unreachable     DNS failure, refused connection, timeout, TLS failure, 5xx, ...
==============  ==========================================================================

The classification is a pure function of two capture rows (:func:`classify`), so it is
tested without a network; :func:`refetch` is the part that talks to the web.

Each quote is then re-anchored on the live text (``live-quote`` checks): found,
approximate, not-found (the live page was read and the quote is not in it) or
``unchecked`` when there is no live text to read (gone, blocked, unreachable: the
``live`` check already says so, and a quote on a page nobody could read is not "gone").
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rapidfuzz import fuzz

from ..archive.store import Archive
from ..capture.adapters import normalize_url
from ..capture.pipeline import fetch_sources
from ..config import Settings
from ..sources.manifest import Manifest, Source
from .quotes import anchor, normalize, quote_detail, quote_rows

GONE = frozenset({404, 410})
BLOCKED = frozenset({401, 403, 429, 451})
DIFF_CHARS = 240  # length of the diff summary
EXCERPT_CHARS = 70  # of each side of the first change in it

LIVE_OUTCOMES = ("unchanged", "changed", "moved", "gone", "blocked", "unreachable")
LIVE_QUOTE_OUTCOMES = ("found", "approximate", "not-found", "unchecked")


@dataclass
class LiveResult:
    """The live verdict on one source; ``detail`` is what the ``live`` check row stores."""

    source_id: str
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)
    new_capture_id: int | None = None
    previous_capture_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def same_place(a: str | None, b: str | None) -> bool:
    """Two URLs name the same page: canonical form, http and https alike."""
    if not a or not b:
        return False

    def key(url: str) -> str:
        canon = normalize_url(url)
        return canon.split("://", 1)[-1]

    return key(a) == key(b)


def text_change(old: str, new: str) -> tuple[float, str]:
    """Similarity of two texts (0-100, character-weighted over lines) and a diff summary."""
    a, b = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    same = 0.0
    added = removed = replaced = 0
    first: tuple[str, str] | None = None
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        left, right = "\n".join(a[i1:i2]), "\n".join(b[j1:j2])
        if tag == "equal":
            same += len(left)
            continue
        if tag == "replace":
            replaced += max(i2 - i1, j2 - j1)
            same += fuzz.ratio(left, right) / 100 * (len(left) + len(right)) / 2
        elif tag == "delete":
            removed += i2 - i1
        else:
            added += j2 - j1
        if first is None:
            first = _first_difference(left, right)
    total = (len(old) + len(new)) / 2
    similarity = round(100.0 * same / total, 1) if total else 100.0
    parts = [f"{n} {what}" for n, what in ((replaced, "changed"), (added, "added"),
                                           (removed, "removed")) if n]  # fmt: skip
    summary = ", ".join(parts) + " lines" if parts else "whitespace only"
    if first is not None:
        summary += f"; first: “{first[0]}” → “{first[1]}”"
    return similarity, summary[:DIFF_CHARS]


def _first_difference(left: str, right: str) -> tuple[str, str]:
    """The two sides around where they first differ, in a few dozen characters each."""
    start = 0
    while start < min(len(left), len(right)) and left[start] == right[start]:
        start += 1
    start = max(0, start - 20)

    def cut(s: str) -> str:
        piece = " ".join(s[start : start + EXCERPT_CHARS].split())
        return ("…" if start else "") + piece + ("…" if len(s) > start + EXCERPT_CHARS else "")

    return cut(left), cut(right)


def classify(
    requested_url: str,
    new: Mapping[str, Any] | None,
    previous: Mapping[str, Any] | None,
    *,
    texts: tuple[str | None, str | None] = (None, None),
) -> LiveResult:
    """Classify a fresh capture row (``new``) against the last good one (``previous``).

    ``texts`` are (previous text, new text) when both exist and differ, for the diff.
    """
    sid = (new or previous or {}).get("source_id", "")
    prev_id = previous["id"] if previous else None
    if new is None:
        return LiveResult(sid, "unreachable", {"error": "no capture was made"}, None, prev_id)
    status, error, final_url = new.get("status_code"), new.get("error"), new.get("url")
    detail: dict[str, Any] = {"new_capture_id": new["id"], "final_url": final_url,
                              "status_code": status}  # fmt: skip
    result = LiveResult(sid, "unchanged", detail, new["id"], prev_id)
    if error is not None:
        detail["error"] = error
        if status in GONE:
            result.outcome = "gone"
        elif status in BLOCKED:
            result.outcome = "blocked"
        else:
            result.outcome = "unreachable"
        return result
    if new.get("suspect"):
        detail["suspect"] = new["suspect"]
        result.outcome = "blocked"
        return result
    was_at = previous.get("url") if previous else requested_url
    if not same_place(final_url, was_at) and not same_place(final_url, requested_url):
        detail["was"] = was_at
        result.outcome = "moved"
    if previous is None:
        detail["diff"] = "no earlier good capture to compare with"
        result.outcome = "changed" if result.outcome == "unchanged" else result.outcome
        return result
    key = (
        "text_sha256" if new.get("text_sha256") or previous.get("text_sha256") else "payload_sha256"
    )
    if new.get(key) == previous.get(key):
        detail["similarity"] = 100.0
        return result
    old_text, new_text = texts
    similarity, summary = text_change(old_text or "", new_text or "")
    detail["similarity"], detail["diff"] = similarity, summary
    if result.outcome == "unchanged":
        result.outcome = "changed"
    return result


def refetch(
    manifest: Manifest,
    archive_root: str | Path,
    *,
    settings: Settings,
    client_factory: Callable[[Settings], httpx.AsyncClient] | None = None,
) -> dict[str, int | None]:
    """Capture every resolved source again; the new capture of its own URL, per source id.

    Returns ``{source_id: capture_id}`` (None when the cited URL produced no row).
    """
    report = fetch_sources(
        manifest, archive_root, refresh=True, settings=settings, client_factory=client_factory
    )
    ids = {cid for o in report.outcomes for cid in o.capture_ids}
    if not ids:
        return {}
    archive = Archive.open(archive_root, create=False)
    try:
        marks = ",".join("?" * len(ids))
        rows = archive.db.execute(
            f"SELECT id, source_id, requested_url FROM captures WHERE id IN ({marks}) ORDER BY id",
            sorted(ids),
        ).fetchall()
    finally:
        archive.close()
    wanted = {s.id: s.url for s in manifest.sources if s.resolved}
    out: dict[str, int | None] = dict.fromkeys(wanted)
    for cid, sid, requested in rows:
        if sid in wanted and out[sid] is None and requested == wanted[sid]:
            out[sid] = cid
    return out


def live_checks(
    archive: Archive,
    manifest: Manifest,
    new_ids: dict[str, int | None],
    previous_of: Callable[[Source], dict[str, Any] | None],
    text_of: Callable[[int], str],
) -> Iterator[dict[str, Any]]:
    """The ``live`` and ``live-quote`` checks of every resolved source, as check fields.

    ``previous_of(source)`` is its last good capture row from before the refresh;
    ``text_of(capture_id)`` the text of a capture.
    """
    for s in manifest.sources:
        if not s.resolved:
            continue
        previous, new_id = previous_of(s), new_ids.get(s.id)
        new = next(archive.db.query("SELECT * FROM captures WHERE id = ?", [new_id]), None)
        texts: tuple[str | None, str | None] = (None, None)
        if new and previous and new.get("text_sha256") != previous.get("text_sha256"):
            texts = (text_of(previous["id"]), new.get("text"))
        result = classify(s.url or "", new, previous, texts=texts)
        result.source_id = s.id
        yield {"kind": "live", "subject": f"source:{s.id}", "outcome": result.outcome,
               "detail": result.detail, "source_id": s.id, "capture_id": new_id}  # fmt: skip
        yield from _live_quotes(archive, s, new, result)


def _live_quotes(
    archive: Archive, s: Source, new: dict[str, Any] | None, result: LiveResult
) -> Iterator[dict[str, Any]]:
    """Each quote re-anchored on the live text; not-found = no longer on the live page.

    ``unchecked`` when the live page was not read (no capture, an error, an error page).
    """
    readable = new is not None and new.get("error") is None and not new.get("suspect")
    live_text = normalize((new or {}).get("text") or "") if readable else None
    cid = result.new_capture_id
    for q in quote_rows(archive, s.id):
        if live_text is None:
            why = result.detail.get("error") or result.detail.get("suspect") or "not fetched"
            outcome = "unchecked"
            reason = f"live page {result.outcome}: {why}"
            detail = {"reason": reason, "capture_id": cid, "quote": q["text"]}
        else:
            a = anchor(q["text"], live_text, prefix=q["prefix"], suffix=q["suffix"])
            outcome, detail = a.outcome, quote_detail(a, cid, quote=q["text"])
            if a.outcome == "not-found":
                detail["reason"] = "quote no longer on the live page"
        yield {"kind": "live-quote", "subject": f"quote:{q['id']}", "outcome": outcome,
               "detail": detail, "source_id": s.id, "capture_id": cid}  # fmt: skip
