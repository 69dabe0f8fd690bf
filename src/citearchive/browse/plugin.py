"""The citearchive Datasette plugin: search functions, the capture page, the archived view.

Registered through the ``datasette`` entry point (``citearchive = "citearchive.plugin"``)
or by :func:`register` (what ``citearchive serve`` and the tests do). It adds:

- ``prepare_connection``: the SQL functions of :mod:`citearchive.archive.search` (so the canned
  query "Search archived text" runs the same search as ``citearchive search``) and
  ``citearchive_snippet(text, q)``.
- ``/-/citearchive/capture/<id>`` (and ``.json``): one capture: its source, provenance
  (status, redirects, headers, IP, certificate), hashes, verdicts and extracted text.
- ``/-/citearchive/archived/<id>``: the archived payload as captured, served inert by
  :mod:`citearchive.browse.archived_view` (read from the WARC record as fixity reads it, under
  a Content-Security-Policy that runs no script and loads nothing).
- ``/-/citearchive/document/<id>``: the evidence dossier of a document
  (:mod:`citearchive.browse.document_page`).
- the captures table's search box (``filters_from_request``): the search of ``citearchive
  search`` (both indexes, confirmed against the folded text), not Datasette's own FTS query.
- links from ``capture_id`` cells to the capture page and from ``claim_id`` cells to the
  claim in its dossier, menu links, and security headers on every response.

Everything a page shows from the archive is escaped by Jinja's autoescape.
"""

from __future__ import annotations

import json
import sys
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import markupsafe
from datasette import hookimpl
from datasette.filters import FilterArguments
from datasette.utils.asgi import NotFound, Request, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader

from ..archive.search import register_functions, search_where, snippet
from ..archive.views import FINISHED
from . import document_page
from .archived_view import archived_response, resource_response
from .metadata import canned_queries_for_archive

if TYPE_CHECKING:  # datasette.app imports the plugins: importing it here would be circular
    from datasette.app import Datasette
    from datasette.database import Database

PREFIX = "/-/citearchive"
TEMPLATES_DIR = Path(__file__).parent / "templates"

# The plugin's own pages show archived text escaped; this is defence in depth.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; object-src 'none'; frame-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)
# The replay page frames the archived page (same origin; the frame itself is sandboxed).
REPLAY_CSP = PAGE_CSP.replace("frame-src 'none'", "frame-src 'self'")
# An id SQLite can hold (a longer one is no capture: 404, not a 500 from an overflow).
ID = r"(?P<capture_id>\d{1,18})"
# Added to every Datasette response that does not set them itself.
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "SAMEORIGIN",
}
SECURITY_HEADERS_RAW = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
LINKED_COLUMNS = ("capture_id", "good_capture_id", "last_capture_id")
# Inline styles so long hashes wrap and claims keep a readable width in Datasette's tables.
_HASH_STYLE = "font-family: monospace; word-break: break-all; display: inline-block; width: 9em"
WRAPPED_COLUMNS = {
    "payload_sha256": _HASH_STYLE,
    "text_sha256": _HASH_STYLE,
    "claim": "display: inline-block; min-width: 18em",
}

_archive_dbs: weakref.WeakKeyDictionary[Datasette, list[str]] = weakref.WeakKeyDictionary()


def register() -> None:
    """Register this plugin with Datasette's plugin manager (once per process)."""
    from datasette.plugins import pm

    this = sys.modules[__name__]
    if not pm.is_registered(this):
        pm.register(this, name="citearchive")


def unregister() -> None:
    """Undo :func:`register` (tests use it to check plain Datasette)."""
    from datasette.plugins import pm

    this = sys.modules[__name__]
    if pm.is_registered(this):
        pm.unregister(this)


def capture_path(capture_id: int) -> str:
    return f"{PREFIX}/capture/{capture_id}"


def replay_path(capture_id: int) -> str:
    return f"{PREFIX}/replay/{capture_id}"


def archived_path(capture_id: int) -> str:
    return f"{PREFIX}/archived/{capture_id}"


# --- hooks ------------------------------------------------------------------------------


@hookimpl
def prepare_connection(conn: Any) -> None:
    register_functions(conn)
    conn.create_function(
        "citearchive_snippet", 2, lambda text, q: snippet(text or "", q or ""),
        deterministic=True,
    )  # fmt: skip


@hookimpl(trylast=True)  # last, so that its search box setting is the one that stays
def filters_from_request(request: Request, database: str, table: str, datasette: Datasette) -> Any:
    async def inner() -> FilterArguments | None:
        if table != "captures" or database not in await _archive_databases(datasette):
            return None
        query = request.args.get("_search", "")
        context = {"supports_search": True, "search": query}
        if not query.strip():
            return FilterArguments([], extra_context=context)
        return FilterArguments(
            [search_where(":citearchive_search")],
            params={"citearchive_search": query},
            human_descriptions=[f'search matches "{query}"'],
            extra_context=context,
        )

    return inner


@hookimpl
def prepare_jinja2_environment(env: Environment) -> None:
    assert env.loader is not None
    env.loader = ChoiceLoader([env.loader, FileSystemLoader(str(TEMPLATES_DIR))])


@hookimpl
def startup(datasette: Datasette) -> Any:
    _plain_tracebacks()

    async def inner() -> None:
        await _archive_databases(datasette)

    return inner


def _plain_tracebacks() -> None:
    """Stop Datasette 0.65 rendering errors with rich when rich is installed (it is: our CLI
    uses it). Its handler calls rich's ``print_exception`` even for a plain 404 outside any
    ``except`` block, which raises, so every unknown URL became a 500; it also printed the
    locals (archived text) of every error to the console. Plain tracebacks remain for 500s.
    """
    import datasette.handle_exception

    if getattr(datasette.handle_exception, "rich", None) is not None:
        datasette.handle_exception.rich = None


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (rf"^{PREFIX}/capture/{ID}(?P<format>\.json)?$", capture_page),
        (rf"^{PREFIX}/archived/{ID}$", archived_page),
        (rf"^{PREFIX}/replay/{ID}$", replay_page),
        (document_page.ROUTE, document_page.document_page),
        (rf"^{PREFIX}/(?P<kind>screenshot|dom)/{ID}$", resource_page),
    ]


@hookimpl
def render_cell(
    row: Any, value: Any, column: str, table: str | None, database: str, datasette: Datasette
) -> markupsafe.Markup | None:
    """Link capture ids (and capture titles) to the capture page; wrap hashes and claims."""
    if database not in _archive_dbs.get(datasette, ()):
        return None
    if isinstance(value, int) and (
        column in LINKED_COLUMNS or (table == "captures" and column == "id")
    ):
        href = datasette.urls.path(capture_path(value))
        return markupsafe.Markup('<a href="{}">{}</a>').format(href, value)
    if column == "claim_id" and isinstance(value, str) and ":" in value:  # to the dossier
        href = document_page.claim_link(datasette, value, row)
        return markupsafe.Markup('<a href="{}">{}</a>').format(href, value)
    if table == "captures" and column == "title" and isinstance(value, str):
        href = datasette.urls.path(capture_path(row["id"]))
        return markupsafe.Markup('<a href="{}">{}</a>').format(href, value)
    if isinstance(value, str) and column in WRAPPED_COLUMNS:
        return markupsafe.Markup('<span style="{}">{}</span>').format(
            WRAPPED_COLUMNS[column], value
        )
    return None


@hookimpl
def menu_links(datasette: Datasette) -> list[dict[str, str]]:
    names = _archive_dbs.get(datasette) or []
    if not names:
        return []
    base = datasette.urls.database(names[0])
    return [
        {"href": f"{base}/{name}", "label": query["title"]}
        for name, query in canned_queries_for_archive().items()
    ]


@hookimpl
def canned_queries(datasette: Datasette, database: str) -> Any:
    """The archive's canned queries, also when Datasette runs without our metadata."""

    async def inner() -> dict[str, Any]:
        if database in await _archive_databases(datasette):
            return canned_queries_for_archive()
        return {}

    return inner


@hookimpl
def asgi_wrapper(datasette: Datasette) -> Any:
    """Security headers on every response; 405 for anything but reading an archive (the
    archive is evidence: Datasette 0.65 answered a POST to a canned query with a 500)."""

    def wrap(app: Any) -> Any:
        async def with_headers(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            if scope.get("method", "GET") not in READ_METHODS and await _archive_path(
                datasette, scope.get("path", "")
            ):
                await send_plain(send, 405, "The archive is read-only: GET or HEAD only.\n",
                                  [(b"allow", b"GET, HEAD")])  # fmt: skip
                return

            async def send_with_headers(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers") or [])
                    present = {bytes(k).lower() for k, _ in headers}
                    for key, value in SECURITY_HEADERS.items():
                        if key.encode() not in present:
                            headers.append([key.encode(), value.encode()])
                    message = {**message, "headers": headers}
                await send(message)

            await app(scope, receive, send_with_headers)

        return with_headers

    return wrap


READ_METHODS = ("GET", "HEAD", "OPTIONS")


async def _archive_path(datasette: Datasette, path: str) -> bool:
    """Whether ``path`` is one of the plugin's pages or a page of an archive database."""
    if path.startswith(PREFIX + "/"):
        return True
    first = path.lstrip("/").split("/", 1)[0].split(".", 1)[0]
    return bool(first) and first in await _archive_databases(datasette)


async def send_plain(send: Any, status: int, text: str, headers: list[Any] | None = None) -> None:
    """A short plain-text ASGI response (no Datasette page behind it)."""
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        *SECURITY_HEADERS_RAW, *(headers or []),
    ]})  # fmt: skip
    await send({"type": "http.response.body", "body": text.encode()})


# --- finding the archive ----------------------------------------------------------------


async def _archive_databases(datasette: Datasette) -> list[str]:
    """Names of the attached databases that are citearchive archives (cached)."""
    if datasette in _archive_dbs:
        return _archive_dbs[datasette]
    names = []
    for name, db in datasette.databases.items():
        if db.is_memory or name.startswith("_"):
            continue
        tables = set(await db.table_names())
        if {"captures", "sources", "_migrations"} <= tables:
            names.append(name)
    names.sort(key=lambda n: n != "citearchive")
    _archive_dbs[datasette] = names
    return names


async def _archive_db(datasette: Datasette, request: Request) -> Database:
    names = await _archive_databases(datasette)
    wanted = request.args.get("database")
    if wanted:
        if wanted not in names:
            raise NotFound(f"No citearchive archive named {wanted!r}")
        return datasette.get_database(wanted)
    if not names:
        raise NotFound("No citearchive archive is attached to this Datasette")
    return datasette.get_database(names[0])


async def _rows(db: Database, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    results = await db.execute(sql, params)
    return [dict(row) for row in results.rows]


# --- the capture page -------------------------------------------------------------------


def _json_field(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def safe_href(url: Any) -> str | None:
    """``url`` when it is an http(s) URL a page may link to, else None (no javascript:)."""
    if not isinstance(url, str) or any(c in url for c in "\r\n\t "):
        return None
    return url if urlsplit(url).scheme.lower() in ("http", "https") else None


async def capture_data(db: Database, capture_id: int) -> dict[str, Any]:
    """Everything the capture page shows, as plain JSON-ready values."""
    found = await _rows(db, "SELECT * FROM captures WHERE id = ?", [capture_id])
    if not found:
        raise NotFound(f"No capture {capture_id} in this archive")
    capture = found[0]
    for key in ("redirects", "response_headers", "tls", "browser_blocked"):
        capture[key] = _json_field(capture.get(key))
    sid = capture["source_id"]
    sources = await _rows(db, "SELECT * FROM sources WHERE id = ?", [sid])
    source = sources[0] if sources else None
    if source:
        source["alternates"] = _json_field(source.get("alternates"))
    original = None
    if capture.get("revisit_of") is not None:
        rows = await _rows(
            db, "SELECT id, fetched_at, url, payload_sha256 FROM captures WHERE id = ?",
            [capture["revisit_of"]],
        )  # fmt: skip
        original = rows[0] if rows else None
    document = None
    if source and source.get("document_id"):
        docs = await _rows(db, "SELECT * FROM documents WHERE id = ?", [source["document_id"]])
        document = docs[0] if docs else None
    claims = await _rows(
        db,
        "SELECT claims.id, claims.document_id, claims.footnote, claims.position, claims.text "
        "FROM claims JOIN citations ON citations.document_id = claims.document_id "
        "AND citations.footnote = claims.footnote WHERE citations.source_id = ? "
        "ORDER BY claims.document_id, claims.position",
        [sid],
    )
    quotes = await _rows(
        db,
        "SELECT quotes.id, quotes.position, quotes.text, "
        "(SELECT outcome FROM checks WHERE kind = 'quote' AND subject = 'quote:' || quotes.id "
        f" AND {FINISHED} ORDER BY checked_at DESC, id DESC LIMIT 1) AS verdict "
        "FROM quotes WHERE source_id = ? AND in_manifest = 1 ORDER BY position",
        [sid],
    )
    checks = await _rows(
        db,
        "SELECT id, run_id, kind, subject, outcome, detail, checked_at FROM checks "
        "WHERE subject = 'capture:' || :id OR capture_id = :id "
        "ORDER BY checked_at DESC, id DESC LIMIT 50",
        {"id": capture_id},
    )
    stamps = await _rows(  # the RFC 3161 tokens of the run that made this capture
        db,
        "SELECT tsa_url, tsa_name, gen_time, serial, token_filename, error, "
        "(SELECT manifest_filename FROM runs WHERE runs.id = timestamps.run_id) AS manifest, "
        "(SELECT outcome || ': ' || json_extract(detail, '$.message') FROM checks "
        f" WHERE kind = 'timestamp' AND subject = 'run:' || timestamps.run_id AND {FINISHED}"
        " ORDER BY checked_at DESC, id DESC LIMIT 1) AS verified "
        "FROM timestamps WHERE run_id = ? AND (token_filename IS NOT NULL OR error IS NOT NULL) "
        "ORDER BY id",
        [capture.get("run_id")],
    )
    others = await _rows(
        db,
        "SELECT id, fetched_at, method, status_code, error, suspect, payload_sha256, "
        "revisit_of FROM captures WHERE source_id = ? ORDER BY fetched_at DESC, id DESC",
        [sid],
    )
    return {
        "capture": capture, "source": source, "document": document, "original": original,
        "claims": claims, "quotes": quotes, "checks": checks, "captures": others,
        "timestamps": stamps,
        "archived_url": archived_path(capture_id) if _has_record(capture, original) else None,
        "screenshot_url": f"{PREFIX}/screenshot/{capture_id}"
        if capture.get("screenshot_record_id") else None,
        "dom_url": f"{PREFIX}/dom/{capture_id}" if capture.get("dom_record_id") else None,
    }  # fmt: skip


def _has_record(capture: dict[str, Any], original: dict[str, Any] | None) -> bool:
    if capture.get("revisit_of") is not None:
        return original is not None
    return bool(capture.get("warc_filename"))


async def capture_page(datasette: Datasette, request: Request) -> Response:
    """``/-/citearchive/capture/<id>``: one capture and its evidence (``.json`` for scripts)."""
    db = await _archive_db(datasette, request)
    capture_id = int(request.url_vars["capture_id"])
    data = await capture_data(db, capture_id)
    if request.url_vars.get("format"):
        body = json.dumps({"ok": True, **data}, ensure_ascii=False, indent=2)
        return Response(body, content_type="application/json; charset=utf-8")
    context = {
        **data,
        "database": db.name,
        "capture_id": capture_id,
        "safe_href": safe_href,
        "json_url": datasette.urls.path(capture_path(capture_id) + ".json"),
        "archived_href": datasette.urls.path(data["archived_url"])
        if data["archived_url"]
        else None,
        "replay_href": datasette.urls.path(replay_path(capture_id))
        if data["archived_url"]
        else None,
        "screenshot_href": _path_or_none(datasette, data["screenshot_url"]),
        "dom_href": _path_or_none(datasette, data["dom_url"]),
        "capture_href": lambda cid: datasette.urls.path(capture_path(cid)),
        "row_href": lambda table, pk: datasette.urls.row(db.name, table, str(pk)),
    }
    html = await datasette.render_template(
        "citearchive_capture.html", context, request=request, view_name="citearchive_capture"
    )
    return Response.html(html, headers={"content-security-policy": PAGE_CSP})


# --- the archived page ------------------------------------------------------------------


async def archived_page(datasette: Datasette, request: Request) -> Response:
    """``/-/citearchive/archived/<id>``: the payload as captured, made inert.

    Served by :func:`citearchive.browse.archived_view.archived_response`; ``?download=1`` serves
    it as an attachment instead, to save the file as captured.
    """
    db = await _archive_db(datasette, request)
    capture_id = int(request.url_vars["capture_id"])
    download = bool(request.args.get("download"))
    if not download and request.headers.get("sec-fetch-dest") == "document":
        # Opened as a page of its own, an archived page could pass for the archive's own
        # UI on the archive's origin: a browser gets it inside the replay banner instead.
        return Response.redirect(datasette.urls.path(replay_path(capture_id)))
    return await archived_response(db, capture_id, download=download)


async def replay_page(datasette: Datasette, request: Request) -> Response:
    """``/-/citearchive/replay/<id>``: the archived page in a sandboxed frame, under a banner
    that says what it is (archived copy of which URL, captured when, which capture), as web
    archives' replay banners do."""
    db = await _archive_db(datasette, request)
    capture_id = int(request.url_vars["capture_id"])
    found = await _rows(
        db, "SELECT id, source_id, url, requested_url, fetched_at, method, status_code, "
        "payload_sha256, memento_datetime FROM captures WHERE id = ?", [capture_id],
    )  # fmt: skip
    if not found:
        raise NotFound(f"No capture {capture_id} in this archive")
    context = {
        "capture": found[0],
        "safe_href": safe_href,
        "frame_src": datasette.urls.path(archived_path(capture_id)),
        "capture_href": datasette.urls.path(capture_path(capture_id)),
    }
    html = await datasette.render_template(
        "citearchive_replay.html", context, request=request, view_name="citearchive_replay"
    )
    return Response.html(html, headers={"content-security-policy": REPLAY_CSP})


def _path_or_none(datasette: Datasette, path: str | None) -> str | None:
    return datasette.urls.path(path) if path else None


async def resource_page(datasette: Datasette, request: Request) -> Response:
    """``/-/citearchive/screenshot/<id>`` and ``/-/citearchive/dom/<id>``: a browser
    capture's full-page screenshot and rendered DOM, served inert from their WARC records."""
    db = await _archive_db(datasette, request)
    capture_id = int(request.url_vars["capture_id"])
    return await resource_response(db, capture_id, request.url_vars["kind"])
