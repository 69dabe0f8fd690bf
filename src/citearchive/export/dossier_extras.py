"""Optional evidence for the dossier, read only when the archive has it.

Issue 13 adds a ``timestamps`` table (run, TSA, time, serial, token hash) and issue 12 a
screenshot per browser capture (its SHA-256 in ``captures``, the PNG a WARC resource
record). Neither exists yet on this branch: each function checks SQLite's table and column
lists first and returns None without them. When those issues land, narrow the column names
below to the ones they settled on.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any, Protocol

from warcio.archiveiterator import ArchiveIterator


class Reader(Protocol):
    def execute(self, sql: str, params: Any = ..., /) -> sqlite3.Cursor: ...


_TS_RUN = ("run_id", "run")
_TS_TSA = ("tsa", "tsa_name", "tsa_url")
_TS_TIME = ("gen_time", "timestamped_at", "time")


def _columns(conn: Reader, table: str) -> list[str]:
    return [r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", [table])]


def optional_timestamp(conn: Reader, capture: sqlite3.Row) -> dict[str, Any] | None:
    """The trusted timestamp of the capture's run, when the archive has a timestamps table."""
    cols = _columns(conn, "timestamps")
    run = next((c for c in _TS_RUN if c in cols), None)
    if run is None or not capture["run_id"]:
        return None
    row = conn.execute(
        f'SELECT * FROM timestamps WHERE "{run}" = ? LIMIT 1', [capture["run_id"]]
    ).fetchone()
    if row is None:
        return None
    pick = lambda names: next((row[c] for c in names if c in cols and row[c]), None)  # noqa: E731
    return {"tsa": pick(_TS_TSA), "time": pick(_TS_TIME)}


def optional_screenshot(
    conn: Reader, capture: sqlite3.Row, warc_dir: Path | None
) -> dict[str, Any] | None:
    """The capture's screenshot (PNG bytes and SHA-256) when captures have a
    ``screenshot_sha256`` column: the resource record in the capture's WARC file whose
    payload has that digest."""
    if "screenshot_sha256" not in capture.keys():  # noqa: SIM118 (a Row)
        return None
    if not capture["screenshot_sha256"]:
        return None
    if warc_dir is None or not capture["warc_filename"]:
        return None
    path = warc_dir / capture["warc_filename"]
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type != "resource":
                continue
            body = record.content_stream().read()
            if hashlib.sha256(body).hexdigest() == capture["screenshot_sha256"]:
                return {"sha256": capture["screenshot_sha256"], "png": body}
    return None
