"""Suggest, for every claim without quotes, the passages of its source that support it.

For each claim whose footnote cites a captured source and that has no quote yet, the text
of the source's newest good capture is split into sentences (:mod:`.passages`) and each is
scored against the claim:

    score = model similarity (cosine of sentence vectors, the sentence and its
            neighbours)  +  LEXICAL_WEIGHT x lexical evidence (numbers, dates, names,
            shared terms: :mod:`.lexical`)

The model (:mod:`.embedder`) is optional: ``model=None`` ranks by lexical evidence alone.
Passage vectors are cached in the archive (``passage_embeddings``, per capture, model and
offsets), so a second run encodes only the claims. The top candidates of each claim are
stored in the ``suggestions`` table, which Datasette shows as suggestions, never as
verified quotes; :mod:`.suggest_apply` writes the accepted ones into sources.toml.

A claim "has quotes" when a quote of a source it cites was suggested for it (the comment
``# suggested for claim <id>`` that ``--apply`` writes) or was written by hand (a quote
without that comment counts for every claim citing its source).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomlkit

from ..archive.store import Archive, claim_id, utcnow
from ..errors import ArchiveError, ManifestError
from ..sources.manifest import Claim, Manifest, Source
from .embedder import Embedder
from .lexical import Features, features, lexical_score
from .passages import Passage, split_passages

#: Candidates shown per claim.
DEFAULT_TOP = 3
#: Weight of the lexical evidence (0..1) added to the model's cosine similarity.
LEXICAL_WEIGHT = 0.3
#: Weight of a passage's neighbours (the sentence before and after) in its model score.
CONTEXT_WEIGHT = 0.3
#: ``--apply`` takes the top candidate of a claim only when its score reaches this.
DEFAULT_THRESHOLD = 0.45
#: The comment ``--apply`` puts after each quote it writes.
ATTRIBUTION_RE = re.compile(r"#\s*suggested for claim (\S+?),")


@dataclass
class Candidate:
    """One passage proposed for a claim."""

    rank: int
    passage: str
    score: float
    start: int
    end: int
    language: str | None
    source_id: str
    capture_id: int
    model_score: float | None
    lexical_score: float
    evidence: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ClaimSuggestions:
    """A claim and its candidates in rank order; ``problems`` say why some are missing."""

    claim_id: str
    claim: str
    footnote: int
    candidates: list[Candidate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id,
            "claim": self.claim,
            "footnote": self.footnote,
            "candidates": [c.to_dict() for c in self.candidates],
            "problems": self.problems,
        }


@dataclass
class SuggestReport:
    claims: list[ClaimSuggestions]
    quoted: list[str]  # claims left alone: they have quotes
    model: str | None
    seconds: float = 0.0
    encoded: int = 0  # passages encoded in this run (0 when all came from the cache)

    @property
    def ok(self) -> bool:
        return all(c.candidates and not c.problems for c in self.claims)


# --- which claims ---------------------------------------------------------------------------


def attributions(path: Path) -> dict[str, list[str]]:
    """Per source id, the claim ids named by ``# suggested for claim`` comments of its quotes."""
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    except (OSError, tomlkit.exceptions.ParseError) as exc:
        raise ManifestError(f"cannot read it again: {exc}", path=path) from None
    out: dict[str, list[str]] = {}
    for table in doc.get("source", []):
        quotes = table.get("quotes")
        if quotes is not None and "id" in table:
            out[str(table["id"])] = ATTRIBUTION_RE.findall(quotes.as_string())
    return out


def quoted_claims(manifest: Manifest) -> set[str]:
    """Claims that have quotes: suggested for them, or written by hand for their source."""
    named = attributions(manifest.path) if manifest.path.exists() else {}
    quoted: set[str] = set()
    for c in manifest.claims:
        cid = claim_id(c.document, c.index)
        for s in manifest.sources_for(c.document, c.footnote):
            mine = named.get(s.id, [])
            if cid in mine or len(s.quotes) > len(mine):
                quoted.add(cid)
    return quoted


# --- the text of each source -------------------------------------------------------------


@dataclass
class _Text:
    capture_id: int
    passages: list[Passage]
    features: list[Features]
    vectors: np.ndarray | None = None  # one row per passage, after _encode


def _newest_text(archive: Archive, s: Source) -> tuple[dict[str, Any] | None, str | None]:
    """The newest good capture of ``s`` with text, or why there is none."""
    if not s.resolved:
        return None, f"source {s.id} has no URL (unresolved)"
    rows = list(
        archive.db.query(
            "SELECT id, text, language, content_type FROM captures WHERE source_id = ? "
            "AND error IS NULL AND suspect IS NULL ORDER BY fetched_at DESC, id DESC",
            [s.id],
        )
    )
    if not rows:
        return None, f"source {s.id} has no good capture: run `citearchive fetch` first"
    for row in rows:
        if (row["text"] or "").strip():
            return row, None
    return None, (
        f"source {s.id}: capture {rows[0]['id']} has no text to suggest from "
        f"({rows[0]['content_type'] or 'no content type'})"
    )


def _cached(archive: Archive, capture_id: int, model: str) -> dict[tuple[int, int], bytes]:
    return {
        (r[0], r[1]): r[2]
        for r in archive.db.execute(
            "SELECT start, end, vector FROM passage_embeddings WHERE capture_id = ? AND model = ?",
            [capture_id, model],
        ).fetchall()
    }


def _encode(archive: Archive, text: _Text, embedder: Embedder) -> int:
    """Fill ``text.vectors`` from the cache, encoding (and caching) what is missing."""
    cache = _cached(archive, text.capture_id, embedder.name)
    missing = [p for p in text.passages if (p.start, p.end) not in cache]
    if missing:
        vectors = embedder.encode([p.text for p in missing])
        rows = [
            {"capture_id": text.capture_id, "model": embedder.name, "start": p.start,
             "end": p.end, "vector": v.astype(np.float32).tobytes()}
            for p, v in zip(missing, vectors, strict=True)
        ]  # fmt: skip
        with archive.db.conn:
            archive.db.table("passage_embeddings").insert_all(rows, replace=True)
        for row in rows:
            cache[(row["start"], row["end"])] = row["vector"]
    text.vectors = np.stack(
        [np.frombuffer(cache[(p.start, p.end)], dtype=np.float32) for p in text.passages]
    ) if text.passages else np.zeros((0, 1), dtype=np.float32)  # fmt: skip
    return len(missing)


def context_vectors(vectors: np.ndarray) -> np.ndarray:
    """Each passage's vector mixed with its neighbours' (the sentence before and after)."""
    if len(vectors) == 0:
        return vectors
    padded = np.vstack([vectors[:1] * 0, vectors, vectors[:1] * 0])
    mixed = padded[:-2] + padded[1:-1] + padded[2:]
    norms = np.linalg.norm(mixed, axis=1, keepdims=True)
    return np.asarray(mixed / np.where(norms == 0, 1, norms), dtype=np.float32)


# --- ranking --------------------------------------------------------------------------------


def rank(
    claim: str,
    texts: list[tuple[str, _Text]],
    *,
    claim_vector: np.ndarray | None,
    top: int = DEFAULT_TOP,
) -> list[Candidate]:
    """The ``top`` passages of ``texts`` (source id, text) that best support ``claim``."""
    wanted = features(claim)
    scored: list[Candidate] = []
    for source_id, text in texts:
        model: np.ndarray | None = None
        if claim_vector is not None and text.vectors is not None and len(text.passages):
            own = text.vectors @ claim_vector
            near = context_vectors(text.vectors) @ claim_vector
            model = (1 - CONTEXT_WEIGHT) * own + CONTEXT_WEIGHT * near
        for i, p in enumerate(text.passages):
            lex = lexical_score(wanted, text.features[i])
            m = float(model[i]) if model is not None else None
            score = (m if m is not None else 0.0) + LEXICAL_WEIGHT * lex.score
            scored.append(
                Candidate(0, p.text, round(score, 4), p.start, p.end, p.language, source_id,
                          text.capture_id, None if m is None else round(m, 4),
                          round(lex.score, 4), lex.matched)
            )  # fmt: skip
    scored.sort(key=lambda c: (-c.score, c.source_id, c.start))
    for i, c in enumerate(scored[:top], start=1):
        c.rank = i
    return scored[:top]


def suggest_claims(
    manifest: Manifest,
    archive_path: str | Path,
    *,
    embedder: Embedder | None,
    source_ids: list[str] | None = None,
    top: int = DEFAULT_TOP,
    progress: Callable[[int, int], None] | None = None,
) -> SuggestReport:
    """Rank the passages of each unquoted claim's sources; store the suggestions."""
    started = time.perf_counter()
    known = {s.id for s in manifest.sources}
    for sid in source_ids or []:
        if sid not in known:
            raise ManifestError(f"no [[source]] with id {sid!r}", path=manifest.path)
    archive = Archive.open(archive_path, create=False)
    try:
        with archive.locked():
            (n,) = archive.db.execute("SELECT count(*) FROM captures").fetchone()
            if not n:
                raise ArchiveError(
                    f"{archive.root}: the archive has no captures: run `citearchive fetch` first"
                )
            archive.sync_manifest(manifest)
            report = _suggest(manifest, archive, embedder, source_ids, top, progress)
            _store(archive, report)
    finally:
        archive.close()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _suggest(
    manifest: Manifest,
    archive: Archive,
    embedder: Embedder | None,
    source_ids: list[str] | None,
    top: int,
    progress: Callable[[int, int], None] | None,
) -> SuggestReport:
    quoted = quoted_claims(manifest)
    todo: list[tuple[Claim, list[Source]]] = []
    left_alone: list[str] = []
    for c in manifest.claims:
        sources = manifest.sources_for(c.document, c.footnote)
        if source_ids is not None:
            sources = [s for s in sources if s.id in source_ids]
            if not sources:
                continue
        if claim_id(c.document, c.index) in quoted:
            left_alone.append(claim_id(c.document, c.index))
        else:
            todo.append((c, sources))
    report = SuggestReport([], left_alone, embedder.name if embedder else None)
    claim_vectors = embedder.encode([c.text for c, _s in todo]) if embedder and todo else None
    texts: dict[str, _Text | str] = {}
    for k, (c, sources) in enumerate(todo):
        row = ClaimSuggestions(claim_id(c.document, c.index), c.text, c.footnote)
        if not sources:
            row.problems.append(f"footnote {c.footnote} cites no source")
        usable: list[tuple[str, _Text]] = []
        for s in sources:
            if s.id not in texts:
                texts[s.id] = _load(archive, s, embedder, report)
            got = texts[s.id]
            if isinstance(got, str):
                row.problems.append(got)
            else:
                usable.append((s.id, got))
        vector = claim_vectors[k] if claim_vectors is not None else None
        row.candidates = rank(c.text, usable, claim_vector=vector, top=top)
        report.claims.append(row)
        if progress:
            progress(k + 1, len(todo))
    return report


def _load(
    archive: Archive, s: Source, embedder: Embedder | None, report: SuggestReport
) -> _Text | str:
    row, problem = _newest_text(archive, s)
    if row is None:
        return problem or f"source {s.id}: no text"
    passages = split_passages(row["text"], row["language"] or s.language)
    if not passages:
        return f"source {s.id}: capture {row['id']} has no sentences to suggest from"
    text = _Text(row["id"], passages, [features(p.text) for p in passages])
    if embedder is not None:
        report.encoded += _encode(archive, text, embedder)
    return text


def _store(archive: Archive, report: SuggestReport) -> None:
    """Replace the stored suggestions of every claim ranked in this run."""
    now = utcnow()
    table = archive.db.table("suggestions")
    with archive.db.conn:
        for row in report.claims:
            archive.db.execute("DELETE FROM suggestions WHERE claim_id = ?", [row.claim_id])
            table.insert_all(
                {"claim_id": row.claim_id, "rank": c.rank,
                 "status": "suggestion (not verified)", "source_id": c.source_id,
                 "capture_id": c.capture_id, "passage": c.passage, "score": c.score,
                 "model_score": c.model_score, "lexical_score": c.lexical_score,
                 "evidence": "; ".join(c.evidence), "start": c.start, "end": c.end,
                 "language": c.language, "model": report.model or "none",
                 "suggested_at": now, "applied": 0}
                for c in row.candidates
            )  # fmt: skip
