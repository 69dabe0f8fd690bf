"""Write accepted suggestions into sources.toml as ``quotes`` (tomlkit: comments kept).

Each quote gets a comment that says where it came from, which also tells the next
``suggest`` that the claim has its quote::

    quotes = [
        "Россия не приемлет …", # suggested for claim example:3, score 0.71, capture 3
    ]

The passage is the capture's text exactly, so ``verify`` anchors it as an exact match.
The file is replaced atomically; a pick naming an unknown claim or rank is an error and
nothing is written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import Array

from ..archive.store import Archive
from ..errors import ManifestError, UsageError
from ..sources.importer import read_toml, write_atomically
from .suggest import Candidate, ClaimSuggestions, SuggestReport


@dataclass
class Applied:
    """A quote written (or already there) for a claim."""

    claim_id: str
    source_id: str
    rank: int
    score: float
    capture_id: int
    quote: str
    written: bool  # False: the source already had this exact quote

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_pick(text: str, claims: list[ClaimSuggestions]) -> tuple[str, int]:
    """``CLAIM:RANK`` -> (claim id, rank); CLAIM is a claim id or its number alone."""
    claim, sep, rank_text = text.rpartition(":")
    if not sep or not claim or not rank_text.isdigit() or int(rank_text) < 1:
        raise UsageError(f"--pick {text!r}: expected CLAIM:RANK, e.g. example:3:1 or 3:1")
    ids = [c.claim_id for c in claims]
    if claim not in ids:
        by_number = [i for i in ids if i.rpartition(":")[2] == claim]
        if len(by_number) != 1:
            raise UsageError(
                f"--pick {text!r}: no claim {claim!r} among the suggested ones "
                f"({', '.join(ids) or 'none'})"
            )
        claim = by_number[0]
    return claim, int(rank_text)


def choose(
    report: SuggestReport, picks: list[str], threshold: float
) -> list[tuple[ClaimSuggestions, Candidate]]:
    """The picked candidates, or else each claim's top one scoring at least ``threshold``."""
    if picks:
        chosen = []
        rows = {c.claim_id: c for c in report.claims}
        for pick in picks:
            cid, rank = parse_pick(pick, report.claims)
            cands = rows[cid].candidates
            if rank > len(cands):
                raise UsageError(f"--pick {pick!r}: claim {cid} has {len(cands)} candidate(s)")
            chosen.append((rows[cid], cands[rank - 1]))
        return chosen
    return [(c, c.candidates[0]) for c in report.claims
            if c.candidates and c.candidates[0].score >= threshold]  # fmt: skip


def apply_suggestions(
    sources_path: Path,
    archive_path: str | Path,
    chosen: list[tuple[ClaimSuggestions, Candidate]],
) -> list[Applied]:
    """Append each chosen passage to its source's ``quotes`` in sources.toml."""
    doc = read_toml(sources_path)  # bounded, checked, one-line errors: as import reads it
    tables = {str(t["id"]): t for t in doc.get("source", []) if "id" in t}
    applied: list[Applied] = []
    for claim, cand in chosen:
        table = tables.get(cand.source_id)
        if table is None:
            raise ManifestError(f"no [[source]] with id {cand.source_id!r}", path=sources_path)
        quotes = _quotes_array(table)
        written = cand.passage not in [str(q) for q in quotes]
        if written:
            comment = (
                f"suggested for claim {claim.claim_id}, score {cand.score:.2f}, "
                f"capture {cand.capture_id}"
            )
            quotes.add_line(cand.passage, comment=comment)
            quotes.add_line(indent="")
        applied.append(Applied(claim.claim_id, cand.source_id, cand.rank, cand.score,
                               cand.capture_id, cand.passage, written))  # fmt: skip
    if any(a.written for a in applied):
        write_atomically(sources_path, tomlkit.dumps(doc))
        _mark_applied(archive_path, applied)
    return applied


def _quotes_array(table: Any) -> Array:
    """The table's ``quotes``, created if absent, made one-quote-per-line if it was inline."""
    quotes = table.get("quotes")
    if quotes is not None and "\n" in quotes.as_string():
        return quotes
    fresh = tomlkit.array()
    for q in quotes or []:
        fresh.add_line(str(q))
    table["quotes"] = fresh
    return table["quotes"]


def _mark_applied(archive_path: str | Path, applied: list[Applied]) -> None:
    archive = Archive.open(archive_path, create=False)
    try:
        with archive.locked(), archive.db.conn:
            for a in applied:
                archive.db.execute(
                    "UPDATE suggestions SET applied = 1 WHERE claim_id = ? AND rank = ?",
                    [a.claim_id, a.rank],
                )
    finally:
        archive.close()
