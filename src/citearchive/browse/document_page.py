"""``/-/citearchive/document/<id>``: the evidence dossier of a document, inside Datasette.

The same data (:func:`citearchive.export.dossier_data.dossier_data`, run on Datasette's own
read-only connection) and the same HTML (:func:`citearchive.export.dossier_render.
render_dossier`) as ``citearchive export dossier``; only the links differ: the archived copy
is the capture page, the home link is Datasette's. ``?lang=ja|en`` picks the labels;
``.json`` gives the data for scripts.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from datasette.utils.asgi import NotFound, Request, Response

from ..archive.store import WARC_DIR
from ..errors import UsageError
from ..export.dossier_data import Card, dossier_data
from ..export.dossier_render import LABELS, render_dossier

if TYPE_CHECKING:
    from datasette.app import Datasette

ROUTE = r"^/-/citearchive/document/(?P<document_id>[^/]+?)(?P<format>\.json)?$"


def document_path(document_id: str) -> str:
    return f"/-/citearchive/document/{document_id}"


class DatasetteLinks:
    """The dossier's links inside Datasette."""

    home_label = "home"

    def __init__(self, datasette: Datasette) -> None:
        self.datasette = datasette

    def capture(self, capture_id: int) -> str:
        return str(self.datasette.urls.path(f"/-/citearchive/capture/{capture_id}"))

    def home(self) -> str | None:
        return str(self.datasette.urls.instance())

    def screenshot(self, card: Card) -> str | None:
        """Issue 12's screenshot, inline (the page's CSP allows ``data:`` images)."""
        shot = card.screenshot
        if not shot:
            return None
        return "data:image/png;base64," + base64.b64encode(shot["png"]).decode("ascii")


async def document_page(datasette: Datasette, request: Request) -> Response:
    from .plugin import PAGE_CSP, _archive_db  # plugin routes here: import it late

    db = await _archive_db(datasette, request)
    document_id = unquote(request.url_vars["document_id"])
    warc_dir = Path(db.path).parent / WARC_DIR if db.path else None
    try:
        dossier = await db.execute_fn(lambda conn: dossier_data(conn, document_id,
                                                                warc_dir=warc_dir))  # fmt: skip
    except UsageError as exc:
        raise NotFound(str(exc)) from None
    if request.url_vars.get("format"):
        body = json.dumps({"ok": True, **dossier.to_dict()}, ensure_ascii=False, indent=2)
        return Response(body, content_type="application/json; charset=utf-8")
    lang = request.args.get("lang")
    html = render_dossier(
        dossier, lang=lang if lang in LABELS else None, links=DatasetteLinks(datasette)
    )
    return Response.html(html, headers={"content-security-policy": _csp(PAGE_CSP)})


def _csp(page_csp: str) -> str:
    """The plugin's page policy; the dossier runs no script at all."""
    parts = [p.strip() for p in page_csp.split(";") if not p.strip().startswith("script-src")]
    return "; ".join([*parts, "script-src 'none'"])


def claim_link(datasette: Datasette, claim_id: str, row: Any) -> str:
    """Where a ``claim_id`` cell links: the claim in its document's dossier."""
    try:
        document_id = row["document_id"]
    except (KeyError, IndexError, TypeError):
        document_id = None
    document_id = document_id or claim_id.rsplit(":", 1)[0]
    href = datasette.urls.path(document_path(quote(document_id, safe="")))
    return f"{href}#claim-{quote(claim_id, safe=':')}"
