"""``citearchive resolve``: find URLs for unresolved sources in a web archive's index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..config import resolve_settings
from ..errors import UsageError
from .common import ArchiveOpt, JsonOpt, SourcesOpt, err, handles_errors, out, print_json
from .render import safe, short


@handles_errors
def resolve(
    source_ids: Annotated[
        list[str] | None, typer.Argument(help="Source ids (default: every unresolved source).")
    ] = None,
    sources: SourcesOpt = Path("sources.toml"),
    archive: ArchiveOpt = Path("archive"),
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Write each best candidate above --threshold as its url."),
    ] = False,
    threshold: Annotated[
        float, typer.Option(help="Score --apply needs (0-1).", min=0, max=1)
    ] = 0.85,
    max_reads: Annotated[
        int, typer.Option(help="Archived pages read per source, at most.", min=1)
    ] = 10,
    deadline: Annotated[float, typer.Option(help="Seconds for the whole run.", min=1)] = 300.0,
    as_json: JsonOpt = False,
) -> None:
    """Find the URLs a web archive holds for unresolved sources, by publisher, title and date.

    The publisher gives the domains (a built-in table, [[publisher]] tables, or the
    source's own domain), the footnote's date a window, the Wayback CDX index the captures
    in it; archived titles are compared with the footnote's. Prints a ranked table per
    source; --apply writes the best candidate into sources.toml with a comment. The
    archive folder is not touched. Exit 1 when a source stays unresolved.
    """
    import httpx

    from ..resolve.apply import apply_report
    from ..resolve.run import resolve_sources
    from ..sources.manifest import load_manifest

    manifest = load_manifest(sources)
    settings = resolve_settings(manifest.settings)
    if not settings.wayback_cdx or not settings.wayback_replay:
        raise UsageError(f"{sources}: [settings] wayback_cdx and wayback_replay must be set")
    known = {s.id for s in manifest.sources}
    for sid in source_ids or []:
        if sid not in known:
            raise UsageError(f"{sources}: no [[source]] has id '{sid}'")
    timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
    headers = {"User-Agent": settings.user_agent}
    with httpx.Client(timeout=timeout, headers=headers, follow_redirects=True) as client:
        report = resolve_sources(
            manifest, settings, client, source_ids=source_ids, max_reads=max_reads,
            deadline=deadline,
        )  # fmt: skip
    written = apply_report(report, sources, threshold) if apply and not report.error else []
    if as_json:
        print_json({**report.to_dict(), "applied": written, "threshold": threshold})
    else:
        _print(report, written, threshold)
    if report.error:
        err.print(f"error: {safe(report.error)}")
    unresolved = [r for r in report.results if not r.best or r.best.score < threshold]
    raise typer.Exit(1 if report.error or unresolved else 0)


def _print(report: object, written: list[str], threshold: float) -> None:
    from ..resolve.run import ResolveReport

    assert isinstance(report, ResolveReport)
    for r in report.results:
        head = f"[bold]{safe(r.source_id)}[/] {safe(short(r.title or '', 70))}"
        if r.skipped or r.error:
            out.print(f"{head}: {safe(r.skipped or r.error or '')}")
            continue
        out.print(f"{head}: {r.captures_seen} captures on {', '.join(r.domains)}, "
                  f"{r.pages_read} read")  # fmt: skip
        table = Table("score", "memento", "url", "archived title", box=None)
        for c in r.candidates[:5]:
            mark = "[green]" if c.score >= threshold else ""
            table.add_row(f"{mark}{c.score:.2f}", c.memento_time, safe(c.url),
                          safe(short(c.archived_title or "", 60)))  # fmt: skip
        out.print(table)
        if r.source_id in written:
            out.print(f"  wrote url = {safe(r.candidates[0].url)}")
