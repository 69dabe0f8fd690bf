"""The interchange commands: ``citearchive import-warc`` and ``citearchive export ...``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .common import ArchiveOpt, JsonOpt, SourcesOpt, err, handles_errors, out, print_json
from .render import safe, short

# --- import-warc ---------------------------------------------------------------------------


@handles_errors
def import_warc(
    files: Annotated[
        list[Path], typer.Argument(help="WARC (.warc, .warc.gz) or WACZ files made by other tools.")
    ],
    sources: SourcesOpt = Path("sources.toml"),
    archive: ArchiveOpt = Path("archive"),
    as_json: JsonOpt = False,
) -> None:
    """Import captures made by other tools: wget --warc-file, a browser recorder, a crawler.

    Response records are matched to sources by URL (scheme, www., trailing slash, fragment
    and tracking parameters ignored) and copied into the archive's own WARC as captures with
    method "import": redirects are followed inside the files, revisit records resolved, the
    original WARC-Date kept. Records imported before are skipped. A WACZ's own proofs are
    checked first: its files against datapackage.json, datapackage-digest.json's signature
    and RFC 3161 tokens, the run manifests it carries. Exit 1 when no record matched a
    source or a WACZ's proofs do not hold (its records are imported all the same, with a
    warning, and a "package" check records it); 2 when a file is not a readable WARC or
    WACZ (nothing is imported).
    """
    from ..capture.import_warc import import_warcs
    from ..sources.manifest import load_manifest

    report = import_warcs(load_manifest(sources), archive, files)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_import(report)
    raise typer.Exit(0 if report.ok else 1)


def _print_import(report: Any) -> None:
    table = Table("source", "status", "http", "captured", "title / error", "from")
    for column in table.columns:
        column.overflow = "fold"
    styles = {"imported": "green", "suspect": "yellow", "failed": "red", "duplicate": "dim"}
    for c in report.captures:
        detail = c.error or c.title or c.final_url
        if c.suspect:
            detail = f"{detail} — suspect: {c.suspect}"
        if c.status == "duplicate":
            detail = f"imported before (capture {c.capture_id})" if c.capture_id else "repeated"
        table.add_row(
            safe(c.source_id), f"[{styles[c.status]}]{c.status}[/]", str(c.status_code or ""),
            safe(c.fetched_at), safe(short(detail, 70)), safe(c.imported_from),
        )  # fmt: skip
    if report.captures:
        out.print(table)
    counts = ", ".join(f"{n} {k}" for k, n in report.counts().items() if n) or "nothing"
    where = f" -> {report.archive}/warc/{report.warc_filename}" if report.warc_filename else ""
    out.print(f"{report.records} records read: {counts}{where}")
    for line in report.unresolved:
        err.print("warning: " + safe(line))
    if report.unmatched_urls:
        urls = report.unmatched_urls
        more = f" and {len(urls) - 5} more" if len(urls) > 5 else ""
        out.print(safe(f"not cited by any source: {', '.join(urls[:5])}{more}"))
    if report.sources_not_found:
        out.print("no record for: " + ", ".join(report.sources_not_found))
    for p in report.packages:
        if p.failed:
            err.print(safe(f"WARNING: {p.path}: the package does not hold: {p.message}"))
            err.print("  its records were imported all the same; a 'package' check records it")
        else:
            out.print(safe(f"{p.path}: {p.outcome}: {p.message}"))


# --- export --------------------------------------------------------------------------------

export_app = typer.Typer(
    help="Export the archive for other tools and readers: a WACZ package, Robust Links "
    "footnotes, the evidence dossier.",
    no_args_is_help=True,
)


@export_app.command("wacz")
@handles_errors
def export_wacz_(
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="The WACZ file to write (ReplayWeb.page opens it)."),
    ] = Path("archive.wacz"),
    sources: Annotated[
        Path,
        typer.Option("--sources", "-s", help="sources.toml, for the title (skipped if absent)."),
    ] = Path("sources.toml"),
    archive: ArchiveOpt = Path("archive"),
    as_json: JsonOpt = False,
) -> None:
    """Package the archive as one WACZ file, for ReplayWeb.page and other web-archive tools.

    The WACZ holds the archive's WARC files, a CDXJ index, pages.jsonl (one page per good
    capture, with its extracted text), the run manifests and their RFC 3161 tokens, and
    datapackage.json with the sha256 of every file. datapackage-digest.json carries its
    hash, an anonymous signature (a key made for this export: it shows the package is
    whole, not who made it) and tokens over datapackage.json from the TSAs of [settings]
    tsa_urls. No TSA answering is said, not an error: the package is written untimestamped.
    """
    from ..export.wacz import write_wacz
    from ..sources.manifest import load_manifest

    manifest = load_manifest(sources) if sources.exists() else None
    result = write_wacz(archive, output, manifest=manifest)
    if as_json:
        print_json(result.to_dict())
        return
    size = result.path.stat().st_size
    out.print(f"wrote {safe(str(result.path))} ({size} bytes): open it in ReplayWeb.page")
    out.print(f"datapackage.json {result.package_hash}, signed with a one-off anonymous key")
    for t in result.timestamps:
        if t["ok"]:
            out.print(safe(f"timestamped by {t['tsa']} at {t['time']} ({t['tsa_url']})"))
        else:
            err.print(safe(f"warning: {t['tsa_url']}: no timestamp: {t['error']}"))
    if not result.timestamped:
        why = "no TSA answered" if result.timestamps else "no TSA configured ([settings] tsa_urls)"
        err.print(f"the package is NOT timestamped: {why}")


@export_app.command("robust-links")
@handles_errors
def export_robust_links_(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The HTML file of footnotes to write.")
    ] = Path("footnotes.html"),
    csl: Annotated[
        Path | None, typer.Option("--csl", help="Also write the sources as CSL-JSON here.")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="Where the archive is published with Datasette "
            "(e.g. https://example.org/citearchive): links point at its capture pages.",
        ),
    ] = None,
    sources: SourcesOpt = Path("sources.toml"),
    archive: ArchiveOpt = Path("archive"),
    as_json: JsonOpt = False,
) -> None:
    """Write the commentary's footnotes as HTML with Robust Links to the archived copies.

    Every link carries data-originalurl, data-versionurl and data-versiondate; --csl also
    writes the sources as CSL-JSON for Zotero and other reference managers. Exit 1 when a
    source has no archived copy to link to.
    """
    from ..export.robustlinks import export_robust_links
    from ..sources.manifest import load_manifest

    result = export_robust_links(load_manifest(sources), archive, base_url=base_url)
    output.write_text(result.html, encoding="utf-8")
    if csl is not None:
        csl.write_text(json.dumps(result.csl, ensure_ascii=False, indent=2) + "\n",
                       encoding="utf-8")  # fmt: skip
    if as_json:
        print_json({"output": str(output), "csl": str(csl) if csl else None, **result.to_dict()})
    else:
        written = f"{output}" + (f" and {csl}" if csl else "")
        out.print(safe(f"wrote {written}: {len(result.csl)} sources"))
        if result.unarchived:
            out.print("[red]no archived copy[/] for: " + safe(", ".join(result.unarchived)))
    raise typer.Exit(1 if result.unarchived else 0)


@export_app.command("dossier")
@handles_errors
def export_dossier_(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The folder to write the dossier into.")
    ] = Path("dossier"),
    document: Annotated[
        str | None,
        typer.Option("--document", help="Only this document (default: every document)."),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="Labels in ja or en (default: the document's language)."),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="Where the archive is published with Datasette: the archived-copy links "
            "point at its capture pages instead of the text copies in the folder.",
        ),
    ] = None,
    sources: Annotated[
        Path,
        typer.Option("--sources", "-s", help="sources.toml, checked when present."),
    ] = Path("sources.toml"),
    archive: ArchiveOpt = Path("archive"),
    as_json: JsonOpt = False,
) -> None:
    """Write the evidence dossier: the commentary in order, the proof beside every claim.

    One self-contained HTML page per document (it works from file:// and prints to PDF):
    each claim with its footnote and, per cited source, a verdict badge, the quotes
    highlighted in the archived text, capture time, method, HTTP status and payload
    SHA-256, and links to the archived copy and the original. Exit 1 when a claim needs
    attention (named in the summary at the top).
    """
    from ..errors import UsageError
    from ..export.dossier import export_dossier
    from ..sources.manifest import load_manifest

    if lang is not None and lang not in ("ja", "en"):
        raise UsageError(f"--lang {lang}: labels exist in ja and en")
    if sources.exists():
        load_manifest(sources)  # a broken sources.toml is named before anything is written
    result = export_dossier(archive, output, document_id=document, lang=lang, base_url=base_url)
    attention = sum(s["needing_attention"] for s in result.summaries.values())
    if as_json:
        print_json(result.to_dict())
    else:
        for doc, page in result.pages.items():
            s = result.summaries[doc]
            out.print(safe(
                f"wrote {page}: {s['claims']} claims, {s['traceable']} traceable, "
                f"{s['quotes_anchored']}/{s['quotes']} quotes anchored, "
                f"{s['needing_attention']} needing attention"))  # fmt: skip
    raise typer.Exit(1 if attention else 0)


@export_app.command("seeds")
@handles_errors
def export_seeds_(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The file to write ('-': standard output).")
    ] = Path("crawl-config.yaml"),
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="browsertrix: browsertrix-crawler's YAML crawl config; txt: one URL a line.",
        ),
    ] = "browsertrix",
    collection: Annotated[
        str, typer.Option(help="Name of the crawl's collection (and of its WACZ).")
    ] = "citearchive",
    sources: SourcesOpt = Path("sources.toml"),
    as_json: JsonOpt = False,
) -> None:
    """Write the sources' URLs as a crawler's seed list, for archives that outgrow one machine.

    --format browsertrix writes a browsertrix-crawler crawl config (each cited URL alone,
    scope "page", a WACZ with text and screenshots); bring its WACZ back with
    `citearchive import-warc`.
    """
    from ..export.seeds import export_seeds
    from ..sources.manifest import load_manifest

    seeds = export_seeds(load_manifest(sources), fmt=fmt, collection=collection)
    if str(output) == "-":
        typer.echo(seeds.text, nl=False)
        return
    output.write_text(seeds.text, encoding="utf-8")
    if as_json:
        print_json({"output": str(output), "format": fmt, **seeds.to_dict()})
    else:
        out.print(safe(f"wrote {output}: {len(seeds.urls)} URLs ({fmt})"))
        if seeds.unresolved:
            out.print("no URL yet (not in the list): " + safe(", ".join(seeds.unresolved)))
