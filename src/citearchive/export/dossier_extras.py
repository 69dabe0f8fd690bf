"""Optional evidence for the dossier, read only when the archive has it.

The ``timestamps`` table (RFC 3161 tokens per run) and browser screenshots (their SHA-256
in ``captures``, the PNG a WARC resource record) come with later migrations: each function
checks SQLite's table and column lists first and returns None for an archive without them.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any, Protocol

from ..archive.views import FINISHED
from ..warc.record import RecordError, Wanted, read_record


class Reader(Protocol):
    def execute(self, sql: str, params: Any = ..., /) -> sqlite3.Cursor: ...


def _columns(conn: Reader, table: str) -> list[str]:
    return [r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", [table])]


def optional_timestamp(conn: Reader, capture: sqlite3.Row) -> dict[str, Any] | None:
    """The RFC 3161 token of the capture's run (``timestamps``, archive/runs.py) and the
    last verdict verify gave it (``checks`` kind ``timestamp``, subject ``run:<id>``);
    None for an archive without timestamps or a run without a token."""
    if "gen_time" not in _columns(conn, "timestamps") or not capture["run_id"]:
        return None
    row = conn.execute(
        "SELECT coalesce(tsa_name, tsa_url), gen_time FROM timestamps "
        "WHERE run_id = ? AND error IS NULL AND token_filename IS NOT NULL "
        "ORDER BY gen_time LIMIT 1",
        [capture["run_id"]],
    ).fetchone()
    if row is None:
        return None
    verdict = conn.execute(
        f"SELECT outcome FROM checks WHERE kind = 'timestamp' AND subject = ? AND {FINISHED} "
        "ORDER BY checked_at DESC, id DESC LIMIT 1",
        [f"run:{capture['run_id']}"],
    ).fetchone()
    return {"tsa": row[0], "time": row[1], "verdict": verdict[0] if verdict else None}


def optional_screenshot(
    conn: Reader, capture: sqlite3.Row, warc_dir: Path | None
) -> dict[str, Any] | None:
    """The capture's screenshot (PNG bytes and SHA-256) when it has one: the ``resource``
    record at the row's ``screenshot_warc_offset``/``_length``, checked to be the record
    ``screenshot_record_id`` names and to hash to ``screenshot_sha256`` (else no screenshot
    is shown: the dossier never shows a picture the archive does not vouch for)."""
    keys = capture.keys()
    if "screenshot_sha256" not in keys or "screenshot_warc_offset" not in keys:
        return None
    sha, offset = capture["screenshot_sha256"], capture["screenshot_warc_offset"]
    length, record_id = capture["screenshot_warc_length"], capture["screenshot_record_id"]
    if not sha or offset is None or not length or warc_dir is None:
        return None
    if not capture["warc_filename"]:
        return None
    path = warc_dir / Path(capture["warc_filename"]).name
    try:
        with path.open("rb") as fh:
            facts = read_record(fh, offset, length, Wanted("resource", record_id, keep_body=True))
    except (OSError, RecordError):
        return None
    body = facts.body
    if facts.wrong_record or facts.problem or body is None:
        return None
    if hashlib.sha256(body).hexdigest() != sha:
        return None
    return {"sha256": sha, "png": body}
