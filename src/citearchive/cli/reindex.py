"""``citearchive reindex``: rebuild the search index from the captures table."""

from __future__ import annotations

from pathlib import Path

from .common import ArchiveOpt, JsonOpt, ProgressOpt, err, handles_errors, out, print_json


@handles_errors
def reindex(
    archive: ArchiveOpt = Path("archive"),
    progress: ProgressOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild the search index (trigram and bigram tables) from the captures table.

    Needed only for rows inserted with SQL rather than by citearchive (an upgrade that
    changes the index rebuilds it by itself). Holds the archive's write lock.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from ..archive.searchindex import rebuild
    from ..archive.store import Archive

    arch = Archive.open(archive, create=False)
    show = err.is_terminal if progress is None else progress
    try:
        with arch.locked(), Progress(
            "indexing", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, disable=not show,
        ) as bar:  # fmt: skip
            task = bar.add_task("captures", total=None)
            total = 0

            def step(done: int, of: int) -> None:
                nonlocal total
                total = of
                bar.update(task, completed=done, total=of)

            indexed = rebuild(arch.db.conn, step)
    finally:
        arch.close()
    if as_json:
        print_json({"captures": total, "indexed": indexed})
        return
    out.print(f"{indexed} of {total} captures indexed (the others have no text)")
