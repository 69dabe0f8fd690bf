"""Write resolved URLs into sources.toml, keeping every comment and hand edit (tomlkit)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlsplit

import tomlkit

from ..sources.importer import read_toml, write_atomically
from .run import ResolveReport


def apply_report(
    report: ResolveReport, sources_path: Path, threshold: float, today: dt.date | None = None
) -> list[str]:
    """Set ``url`` of each source whose best candidate scores at least ``threshold``.

    Only sources whose ``url`` is still missing or empty are touched; the value gets a
    comment saying it was resolved, from which archive, with what score, on which day.
    Returns the ids written.
    """
    doc = read_toml(sources_path)
    day = (today or dt.date.today()).isoformat()
    archive = urlsplit(report.archive).netloc or report.archive
    tables = {str(t.get("id")): t for t in doc.get("source") or []}
    written = []
    for result in report.results:
        best, table = result.best, tables.get(result.source_id)
        if best is None or best.score < threshold or table is None or table.get("url"):
            continue
        item = tomlkit.item(best.url)
        item.comment(
            f"resolved by citearchive resolve from {archive} "
            f"(score {best.score:.2f}, memento {best.memento_time}) on {day}"
        )
        table["url"] = item
        written.append(result.source_id)
    if written:
        write_atomically(sources_path, doc.as_string())
    return written
