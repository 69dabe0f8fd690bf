"""Check outcomes that count as failures: shared by the verify run and ``status``, in a
module of its own so that ``citearchive status`` does not import the whole verify run
(fixity, live drift, extraction: most of a second)."""

from __future__ import annotations

FAILING = frozenset(
    {"failed", "not-found", "no-capture", "changed", "moved", "gone", "blocked", "unreachable"}
)
