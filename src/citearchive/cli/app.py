"""The ``citearchive`` command: a thin typer layer over the library.

Each command parses its options, calls one library function, prints a table (or
``--json``) and exits: 0 everything held, 1 the run finished but something failed,
2 usage or configuration error. Errors a user can cause are ``CitearchiveError``s,
caught here at one boundary and printed as one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import __version__
from ..config import resolve_settings
from ..errors import UsageError
from .common import (
    ArchiveOpt,
    JsonOpt,
    ProgressOpt,
    SourcesOpt,
    err,
    handles_errors,
    out,
    print_json,
)
from .exchange import export_app, import_warc
from .reindex import reindex
from .render import safe, short, status_table
from .resolve import resolve
from .suggest import suggest
from .timestamp import timestamp

app = typer.Typer(
    name="citearchive",
    help=(
        "Archive every source a commentary cites, prove it later, browse it in Datasette.\n\n"
        "The loop: `citearchive import commentary.md` writes sources.toml; you add URLs and\n"
        "quotes; `citearchive fetch` captures every source into archive/ (WARC + SQLite);\n"
        "`citearchive verify` checks fixity, traceability and quotes; `citearchive serve`\n"
        "opens the evidence in Datasette."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def version_callback(value: bool) -> None:
    if value:
        out.print(f"citearchive {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=version_callback, is_eager=True,
                     help="Print the version and exit."),
    ] = None,
) -> None:  # fmt: skip
    """Archive every source a commentary cites, prove it later, browse it in Datasette."""


# --- check ---------------------------------------------------------------------------------


@app.command()
@handles_errors
def check(sources: SourcesOpt = Path("sources.toml"), as_json: JsonOpt = False) -> None:
    """Validate sources.toml and summarise it (documents, sources, claims).

    Exit 0 when the file is valid, 2 with a one-line error naming file:line and field
    when it is not.
    """
    from ..sources.manifest import load_manifest

    summary = load_manifest(sources).summary()
    if as_json:
        print_json({"ok": True, **summary})
        return
    out.print(f"{safe(str(sources))}: valid")
    table = Table(show_header=False, box=None, pad_edge=False)
    for key in ("documents", "footnotes", "sources", "resolved", "unresolved", "claims", "quotes"):
        table.add_row(key, str(summary[key]))
    out.print(table)
    if summary["unresolved_ids"]:
        out.print(
            "unresolved (no URL yet): " + ", ".join(summary["unresolved_ids"]),
        )


# --- import --------------------------------------------------------------------------------


@app.command("import")
@handles_errors
def import_(
    commentary: Annotated[Path, typer.Argument(help="Commentary file: Markdown, HTML or PDF.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="sources.toml to write or merge into.")
    ] = Path("sources.toml"),
    document_id: Annotated[
        str | None, typer.Option("--document-id", help="Id for the commentary's [[document]].")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Read a commentary's footnotes and claim sentences into sources.toml.

    Markdown with <sup>n</sup> markers or [^n] footnotes, HTML, and PDF (markers from
    the layout, links from annotations, wrapped URLs rejoined) are understood.
    Re-running merges: what you added by hand (URLs, quotes, notes, comments) stays.
    Citation lint warnings (markers without footnotes, unreferenced footnotes, reused
    markers, numbering gaps) are printed; exit code 1 when there are any.
    """
    from ..sources.importer import import_commentary

    report = import_commentary(commentary, output, document_id=document_id)
    if as_json:
        print_json(report.to_dict())
    else:
        verb = "wrote" if report.created else "merged into"
        added = ", ".join(f"{n} {k}" for k, n in report.added.items() if n) or "nothing new"
        out.print(f"{verb} {safe(str(report.output))}: added {added}")
        for w in report.warnings:
            err.print("warning: " + safe(f"{w.message} [{w.code}]"))
        out.print("next: add URLs and quotes to it, then run `citearchive fetch`")
    raise typer.Exit(1 if report.warnings else 0)


# --- fetch ---------------------------------------------------------------------------------


@app.command()
@handles_errors
def fetch(
    source_ids: Annotated[
        list[str] | None, typer.Argument(help="Source ids to capture (default: all).")
    ] = None,
    sources: SourcesOpt = Path("sources.toml"),
    archive: ArchiveOpt = Path("archive"),
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Capture again sources already captured.")
    ] = False,
    concurrency: Annotated[
        int | None, typer.Option(help="Captures in flight at once [default: 8].", min=1)
    ] = None,
    per_host: Annotated[
        int | None, typer.Option(help="Captures in flight per host [default: 2].", min=1)
    ] = None,
    delay: Annotated[
        float | None,
        typer.Option(help="Seconds between two requests to one host [default: 1].", min=0),
    ] = None,
    deadline: Annotated[
        float | None, typer.Option(help="Seconds for one whole capture [default: 60].", min=0.1)
    ] = None,
    max_bytes: Annotated[
        int | None, typer.Option(help="Cap on a decoded body in bytes [default: 50 MB].", min=1)
    ] = None,
    no_fallback: Annotated[
        bool,
        typer.Option(
            "--no-fallback",
            help="Do not look for archived copies (Memento, Wayback) of sources whose page "
            "and alternates fail.",
        ),
    ] = False,
    browser: Annotated[
        bool,
        typer.Option(
            "--browser",
            help="Also capture every source in headless Chromium (network records, a "
            'screenshot, the rendered DOM), as sources with capture = "browser" are.',
        ),
    ] = False,
    progress: ProgressOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Capture every resolved source (or the ones named) into the archive.

    Every HTTP exchange goes into warc/<run>.warc.gz; each attempt becomes a row of
    the captures table in citearchive.db, failures included. Sources captured before
    are skipped unless --refresh. When a page and its alternates fail, an archived copy
    is looked for in web archives (Memento, Wayback) unless --no-fallback. Exit 1 when
    any source failed.
    """
    from ..capture.browser import require_browser
    from ..capture.pipeline import SourceOutcome, fetch_sources
    from ..sources.manifest import load_manifest

    manifest = load_manifest(sources)
    settings = resolve_settings(
        manifest.settings,
        {"concurrency": concurrency, "per_host": per_host, "host_delay": delay,
         "deadline": deadline, "max_bytes": max_bytes,
         "fallback": False if no_fallback else None},
        {"browser": True} if browser else None,
    )  # fmt: skip
    if browser:
        require_browser(settings)
    show = (not as_json and err.is_terminal) if progress is None else progress
    bar = Progress(
        TextColumn("fetch"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=err, disable=not show, transient=True,
    )  # fmt: skip
    task = bar.add_task("", total=None)

    def started(total: int) -> None:
        bar.update(task, total=total)

    def advanced(o: SourceOutcome) -> None:
        if o.status not in ("skipped", "unresolved"):
            bar.update(task, advance=1, description=f"{safe(o.source_id)}: {o.status}")

    with bar:
        report = fetch_sources(
            manifest, archive, source_ids=source_ids, refresh=refresh, settings=settings,
            progress=advanced, on_start=started,
        )  # fmt: skip
    if as_json:
        print_json(report.to_dict())
    else:
        _print_fetch(report)
    raise typer.Exit(0 if report.ok else 1)


def _print_fetch(report: Any) -> None:
    table = Table(title=None, show_lines=False)
    for col in ("source", "status", "http", "title / error", "lang"):
        table.add_column(col, overflow="fold")
    styles = {"captured": "green", "suspect": "yellow", "failed": "red", "skipped": "dim",
              "unresolved": "dim"}  # fmt: skip
    for o in report.outcomes:
        detail = o.error if o.status in ("failed", "unresolved") else (o.title or "")
        if o.suspect:
            detail = f"{detail} — suspect: {o.suspect}"
        if o.revisit:
            detail = f"{detail} (unchanged: revisit record)"
        if o.method == "browser":
            detail = f"{detail} (in the browser: screenshot, rendered DOM)"
        if o.method == "memento":
            detail = f"{detail} (archived copy of {(o.memento_datetime or '')[:10]}: {o.url})"
        table.add_row(
            safe(o.source_id), f"[{styles[o.status]}]{o.status}[/]",
            str(o.status_code or ""), safe(short(detail, 90)), safe(o.language or ""),
        )  # fmt: skip
    out.print(table)
    counts = ", ".join(f"{n} {k}" for k, n in report.counts().items() if n)
    attempted = [o for o in report.outcomes if o.status not in ("skipped", "unresolved")]
    reached = [o for o in attempted if o.status_code is not None]
    where = f" -> {report.archive}/warc/{report.warc_filename}" if reached else ""
    out.print(f"{counts}{where}")
    if attempted and all((o.error or "").startswith("DNS lookup failed") for o in attempted):
        err.print(
            "note: every source failed at the DNS lookup: is this machine offline? "
            "Run `citearchive fetch` again when it is online (captured sources are skipped)."
        )
    if any(o.status == "unresolved" for o in report.outcomes):
        out.print("unresolved sources have no URL yet: add one to sources.toml (`url = ...`)")


# --- verify and status ------------------------------------------------------------------


@app.command()
@handles_errors
def verify(
    sources: SourcesOpt = Path("sources.toml"),
    archive: ArchiveOpt = Path("archive"),
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Also re-fetch every source (archived like any capture) and report drift: "
            "unchanged, changed, moved, gone, blocked, unreachable; re-anchor every quote.",
        ),
    ] = False,
    progress: ProgressOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Prove, claim by claim, that the evidence holds (offline unless --live).

    Fixity: every capture's WARC record still hashes to what was recorded. Traceability:
    every claim's footnote cites a source with a URL and a good capture. Quotes: every
    quote is anchored in the newest good capture's text (exact, approximate, not found).
    Lint: the commentary's citation lint. Every result is stored in the checks table.
    Exit 0 when everything held, 1 when anything failed.
    """
    from ..sources.manifest import load_manifest
    from ..verify.run import format_report, verify_archive

    manifest = load_manifest(sources)
    show = (not as_json and err.is_terminal) if progress is None else progress
    bar = Progress(
        TextColumn("verify {task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err, disable=not show, transient=True,
    )  # fmt: skip
    tasks: dict[str, Any] = {}

    def advanced(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    with bar:
        report = verify_archive(manifest, archive, live=live, progress=advanced)
    if as_json:
        print_json(report.to_dict())
    else:
        header, *body, totals = format_report(report)
        table = Table(*header)
        for (fn, claim, source, verdict), row in zip(body, report.claims, strict=True):
            style = "green" if row.ok else "red"
            table.add_row(fn, safe(short(claim, 48)), safe(source),
                          f"[{style}]{safe(verdict)}[/]")  # fmt: skip
        out.print(table)
        for check in report.failures:
            detail = (
                check.detail
                if isinstance(check.detail, str)
                else json.dumps(check.detail, ensure_ascii=False)
            )
            out.print(f"[red]{safe(check.kind)} {safe(check.outcome)}[/] "
                      f"{safe(check.subject)}: {safe(short(detail, 160))}")  # fmt: skip
        out.print(safe(totals[3]))
        out.print(safe(report.summary) if report.ok else f"[red]{safe(report.summary)}[/]")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
@handles_errors
def status(
    sources: SourcesOpt = Path("sources.toml"),
    archive: ArchiveOpt = Path("archive"),
    as_json: JsonOpt = False,
) -> None:
    """Per source: footnote(s), URL, last capture, last verify verdict."""
    from ..archive.searchindex import connect
    from ..sources.manifest import load_manifest
    from ..verify.status import source_status

    manifest = load_manifest(sources)
    connect(archive).close()  # a mistyped --archive is an error, not news
    rows = source_status(manifest, archive)
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    out.print(status_table(rows))


# --- serve ---------------------------------------------------------------------------------


@app.command()
@handles_errors
def serve(
    archive: ArchiveOpt = Path("archive"),
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port (0: any free port).")
    ] = 8001,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to bind. Anything but 127.0.0.1/localhost exposes the archive to "
            "the network (a warning is printed).",
        ),
    ] = "127.0.0.1",
) -> None:
    """Browse the archive in Datasette, read-only, at http://127.0.0.1:8001/.

    Claims link to their footnotes, sources and captures; a capture page shows
    provenance, hashes and the extracted text, and the archived page itself, served
    from the WARC record with scripts and network access blocked. Restart it after
    `citearchive fetch` or `citearchive verify` to see new rows.
    """
    from ..browse.serve import serve as run

    run(
        archive, host=host, port=port,
        warn=lambda m: err.print(safe(m)), on_ready=lambda m: err.print(safe(m)),
    )  # fmt: skip


# --- search --------------------------------------------------------------------------------


@app.command()
@handles_errors
def search(
    query: Annotated[str, typer.Argument(help='Words or "a phrase"; all must occur.')],
    archive: ArchiveOpt = Path("archive"),
    limit: Annotated[int, typer.Option(help="Most results to show.", min=1)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Search the archived text (Japanese, Russian, English; two-character terms work)."""
    from ..archive.search import search as run_search
    from ..archive.search import terms
    from ..archive.searchindex import connect

    if not terms(query):
        raise UsageError('the search query is empty: give a word, or "a phrase"')
    conn = connect(archive)  # plain sqlite3, read-only: quick to start (issue 11)
    try:
        hits = run_search(conn, query, limit=limit)
    finally:
        conn.close()
    if as_json:
        print_json([h.to_dict() for h in hits])
        return
    for h in hits:
        out.print(f"[bold]{safe(h.source_id)}[/] #{h.capture_id} {safe(h.url or '')}")
        out.print(f"  {safe(h.snippet)}")
    out.print(f"{len(hits)} result(s)")
    if not hits:
        raise typer.Exit(1)


# --- interchange (cli/exchange.py) ---------------------------------------------------------

app.command("import-warc")(import_warc)
app.add_typer(export_app, name="export")
app.command("timestamp")(timestamp)
app.command("suggest")(suggest)
app.command("resolve")(resolve)
app.command("reindex")(reindex)
