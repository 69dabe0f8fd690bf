"""``citearchive status``: per source, its footnotes, URL, last capture and last verdict.

Read-only: it never creates an archive, and it reads the verdicts of the newest verify run
that finished (see run.py for how they are made).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..archive.searchindex import DB_NAME, connect
from ..sources.manifest import Manifest, Source
from .outcomes import FAILING


@dataclass
class StatusRow:
    """One source's line in ``citearchive status``."""

    source_id: str
    footnotes: list[int]
    url: str | None
    captures: int
    last_capture_at: str | None
    last_status: str  # unresolved | never captured | captured | suspect: … | failed: …
    last_good_at: str | None
    last_verdict: str | None  # of the newest verify run that checked it: "ok", "quote not-found"
    verified_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def source_status(manifest: Manifest, archive_root: str | Path) -> list[StatusRow]:
    """Per source: footnotes, URL, last capture and its status, verdict of the last verify."""
    if not (Path(archive_root) / DB_NAME).exists():
        return [_status(s, [], []) for s in manifest.sources]
    conn = connect(archive_root)  # read-only, plain sqlite3: quick to start
    conn.row_factory = sqlite3.Row
    try:
        last_run = conn.execute(
            "SELECT id FROM runs WHERE command = 'verify' AND finished_at IS NOT NULL "
            "AND json_extract(summary, '$.error') IS NULL "
            "ORDER BY started_at DESC, id DESC LIMIT 1"
        ).fetchone()
        checks: dict[str, list[dict[str, Any]]] = defaultdict(list)
        if last_run is not None:
            for c in conn.execute(
                "SELECT source_id, kind, outcome, checked_at FROM checks WHERE run_id = ?",
                [last_run[0]],
            ):
                checks[c["source_id"]].append(dict(c))
        return [
            _status(s, [dict(r) for r in conn.execute(
                "SELECT fetched_at, error, suspect, text IS NOT NULL AS has_text FROM captures "
                "WHERE source_id = ? ORDER BY fetched_at, id", [s.id],
            )], checks[s.id])
            for s in manifest.sources
        ]  # fmt: skip
    finally:
        conn.close()


def _status(s: Source, rows: list[dict[str, Any]], checks: list[dict[str, Any]]) -> StatusRow:
    row = StatusRow(s.id, list(s.footnotes), s.url, len(rows), None,
                    "never captured" if s.resolved else "unresolved", None, None, None)  # fmt: skip
    if rows:
        last = rows[-1]
        row.last_capture_at = last["fetched_at"]
        row.last_status = "captured"
        if last["error"] or last["suspect"]:
            row.last_status = (
                f"failed: {last['error']}" if last["error"] else "suspect: " + last["suspect"]
            )
        good = [r for r in rows if not r["error"] and not r["suspect"] and r["has_text"]]
        row.last_good_at = good[-1]["fetched_at"] if good else None
    if checks:
        row.verified_at = max(c["checked_at"] for c in checks)
        bad = sorted({f"{c['kind']} {c['outcome']}" for c in checks if c["outcome"] in FAILING})
        approx = sorted({f"{c['kind']} approximate" for c in checks
                         if c["outcome"] == "approximate"})  # fmt: skip
        row.last_verdict = ", ".join(bad or approx) or "ok"
    return row
