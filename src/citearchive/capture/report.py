"""What a fetch run tells its caller: one :class:`SourceOutcome` per source, and the
:class:`FetchReport` that sums them up (the CLI prints it; ``--json`` is its ``to_dict``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SourceOutcome:
    """What happened to one source in a fetch run (one line of the summary)."""

    source_id: str
    url: str | None
    status: str  # "captured" | "suspect" | "failed" | "skipped" | "unresolved"
    capture_ids: list[int] = field(default_factory=list)
    status_code: int | None = None
    error: str | None = None
    suspect: str | None = None
    title: str | None = None
    language: str | None = None
    payload_sha256: str | None = None
    revisit: bool = False
    method: str | None = None  # "live" | "alternate" | "memento" (a web archive's copy)
    memento_datetime: str | None = None  # when the archive captured it (method "memento")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class FetchReport:
    run_id: str | None
    archive: str
    warc_filename: str | None
    outcomes: list[SourceOutcome]

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in ("captured", "suspect", "failed", "skipped", "unresolved")}
        for o in self.outcomes:
            out[o.status] += 1
        return out

    @property
    def ok(self) -> bool:
        """No source failed or gave only a suspect page (both need a person's attention)."""
        return not any(o.status in ("failed", "suspect") for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "archive": self.archive,
            "warc_filename": self.warc_filename,
            "counts": self.counts(),
            "ok": self.ok,
            "sources": [o.to_dict() for o in self.outcomes],
        }


def archive_words(row: dict[str, Any]) -> str:
    """A failed fallback row's error, saying that it is about the archived copy."""
    error = str(row["error"])
    if error.startswith(("web archive", "no archived copy")):
        return error
    return f"archived copy at {row.get('archive_name')}: {error}"


def rank(row: dict[str, Any]) -> int:
    """2 a good capture, 1 a suspect one (kept, flagged), 0 a failure."""
    if row.get("error") is not None:
        return 0
    return 1 if row.get("suspect") else 2


def fill_outcome(outcome: SourceOutcome, row: dict[str, Any]) -> None:
    outcome.url = row["url"] or outcome.url
    outcome.method = row["method"]
    outcome.status_code = row.get("status_code")
    outcome.error = row.get("error")
    outcome.suspect = row.get("suspect")
    outcome.title = row.get("title")
    outcome.language = row.get("language")
    outcome.payload_sha256 = row.get("payload_sha256")
    outcome.revisit = row.get("revisit_of") is not None
    outcome.memento_datetime = row.get("memento_datetime")
    if row.get("error"):
        outcome.status = "failed"
    else:
        outcome.status = "suspect" if row.get("suspect") else "captured"
