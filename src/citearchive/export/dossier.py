"""``citearchive export dossier``: the evidence dossier as a folder of static files.

One page per document (:mod:`.dossier_data` reads it, :mod:`.dossier_render` writes it),
styles inline, no script, nothing loaded from outside the folder: it works from
``file://`` and prints to PDF. Without ``--base-url`` the archived-copy links point at
``captures/<id>.html`` in the folder (the capture's archived text, quotes marked); with it,
at the capture pages of the archive published with Datasette.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..archive.store import DB_NAME, WARC_DIR, Archive
from ..errors import UsageError
from .dossier_data import Card, Dossier, document_ids, dossier_data

__all__ = ["DossierExport", "StaticLinks", "dossier_data", "export_dossier"]


@dataclass
class DossierExport:
    """What :func:`export_dossier` wrote."""

    output: Path
    pages: dict[str, Path]  # document id -> its HTML page
    summaries: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output),
                "documents": {d: {"page": str(p), "summary": self.summaries[d]}
                              for d, p in self.pages.items()}}  # fmt: skip


def export_dossier(
    archive_root: str | Path,
    output: str | Path,
    *,
    document_id: str | None = None,
    lang: str | None = None,
    base_url: str | None = None,
) -> DossierExport:
    """Write the dossier of each document (or of ``document_id``) into folder ``output``:
    ``<document>.html`` (styles inline), ``index.html``, ``captures/<id>.html`` (the
    archived text of each cited capture, when no ``base_url``) and ``screenshots/``."""
    from .dossier_render import render_capture_text, render_dossier, render_index

    archive = Archive.open(archive_root, create=False)
    out = Path(output)
    try:
        conn = archive.db.conn
        ids = [document_id] if document_id else document_ids(conn)
        if not ids:
            raise UsageError(f"{archive.root / DB_NAME}: no document with claims to export")
        dossiers = [dossier_data(conn, d, warc_dir=archive.root / WARC_DIR) for d in ids]
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{out}: cannot create the output folder ({exc.strerror})") from None
        pages, summaries = {}, {}
        for d in dossiers:
            doc_id = str(d.document["id"])
            links = StaticLinks(out, base_url)
            page = out / f"{file_stem(doc_id)}.html"
            page.write_text(render_dossier(d, lang=lang, links=links), encoding="utf-8")
            if base_url is None:
                for card in {c.source_id: c for cl in d.claims for c in cl.cards}.values():
                    if card.capture is not None:
                        links.write_capture(card, conn, render_capture_text, d, lang)
            pages[doc_id], summaries[doc_id] = page, d.summary()
        (out / "index.html").write_text(render_index(dossiers, pages, lang=lang),
                                        encoding="utf-8")  # fmt: skip
    finally:
        archive.close()
    return DossierExport(out, pages, summaries)


def file_stem(doc_id: str) -> str:
    return re.sub(r"[^\w.-]", "_", doc_id) or "document"


class StaticLinks:
    """Where the static dossier's links point: files in the folder, or ``base_url``."""

    def __init__(self, out: Path, base_url: str | None) -> None:
        self.out, self.base_url = out, base_url.rstrip("/") if base_url else None

    def capture(self, capture_id: int) -> str:
        if self.base_url:
            return f"{self.base_url}/-/citearchive/capture/{capture_id}"
        return f"captures/{capture_id}.html"

    home_label = "contents"

    def home(self) -> str | None:
        return "index.html"

    def screenshot(self, card: Card) -> str | None:
        shot = card.screenshot
        if not shot or card.capture is None:
            return None
        name = f"screenshots/{card.capture['id']}.png"
        (self.out / "screenshots").mkdir(exist_ok=True)
        (self.out / name).write_bytes(shot["png"])
        return name

    def write_capture(
        self, card: Card, conn: sqlite3.Connection, render: Any, d: Dossier, lang: str | None
    ) -> None:
        assert card.capture is not None
        row = conn.execute("SELECT text FROM captures WHERE id = ?", [card.capture["id"]])
        text = row.fetchone()[0] or ""
        (self.out / "captures").mkdir(exist_ok=True)
        back = f"../{file_stem(str(d.document['id']))}.html"
        html = render(card, text, d, lang=lang, back=back)
        (self.out / "captures" / f"{card.capture['id']}.html").write_text(html, encoding="utf-8")
