"""Terminal output without typer: the consoles, text made safe for a terminal, the status
table. Shared by the typer commands (:mod:`.common`) and the quick paths (:mod:`.fast`), so
both print the same thing by construction."""

from __future__ import annotations

import errno
import re
import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import CitearchiveError

if TYPE_CHECKING:
    from ..verify.status import StatusRow

# C0 and C1 controls but tab and newline (an ESC starts a terminal escape sequence that can
# clear the screen and paint a verdict), DEL, and the bidirectional overrides and isolates
# that make a terminal show text in another order than it is stored.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
INTERRUPTED = "interrupted: the archive is consistent; run the command again to finish"


def console(*, stderr: bool = False) -> Console:
    """A console for a command's output (``stderr``: for its errors). emoji=False: ":x:" in
    a page title or an error message is text, not an emoji."""
    return Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)


def safe(text: object) -> str:
    """``text`` from an archive, a server or a user's file, ready for a terminal: control
    characters removed and rich markup escaped. Every such string a command prints goes
    through here (``--json`` needs nothing: JSON escapes control characters)."""
    return escape(_UNPRINTABLE.sub("", str(text)))


def short(text: str, n: int) -> str:
    """One line of at most ``n`` characters, for tables."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def disk_full(exc: BaseException) -> bool:
    """Whether an error means the disk (or quota) is full: OSError ENOSPC/EDQUOT, or
    SQLite's "database or disk is full"."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc)


def report_error(exc: BaseException, err: Console) -> int | None:
    """Print ``exc`` as a command's one-line error and return the exit code it ends with,
    or None when it is no error a command reports this way (a bug: let it raise)."""
    if isinstance(exc, CitearchiveError):
        err.print(f"error: {safe(exc)}")
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        err.print(INTERRUPTED)
        return 130
    if disk_full(exc):
        err.print(f"error: disk full ({safe(str(exc))}); free some space and run the "
                  "command again: the archive is consistent")  # fmt: skip
        return 2
    return None


def status_table(rows: Iterable[StatusRow]) -> Table:
    """``citearchive status`` as a table: a row per source."""
    table = Table("source", "fn", "url", "last capture", "status", "verdict")
    for column in table.columns:
        column.overflow = "fold"
    for r in rows:
        table.add_row(
            safe(r.source_id), ",".join(map(str, r.footnotes)), safe(r.url or "—"),
            r.last_capture_at or "—", safe(short(r.last_status, 40)),
            safe(r.last_verdict or "—"),
        )  # fmt: skip
    return table
