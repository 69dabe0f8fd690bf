"""What every citearchive command shares: consoles, options, the error boundary, output."""

from __future__ import annotations

import errno
import functools
import json
import re
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import CitearchiveError

# emoji=False: ":x:" in a page title or an error message is text, not an emoji.
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

# C0 and C1 controls but tab and newline (an ESC starts a terminal escape sequence that can
# clear the screen and paint a verdict), DEL, and the bidirectional overrides and isolates
# that make a terminal show text in another order than it is stored.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

F = TypeVar("F", bound=Callable[..., Any])

SourcesOpt = Annotated[
    Path, typer.Option("--sources", "-s", help="The sources.toml to read.", show_default=True)
]
ArchiveOpt = Annotated[
    Path, typer.Option("--archive", "-a", help="The archive folder.", show_default=True)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead.")]
ProgressOpt = Annotated[
    bool | None,
    typer.Option("--progress/--no-progress", help="Show a progress bar (default: on a terminal)."),
]


def safe(text: object) -> str:
    """``text`` from an archive, a server or a user's file, ready for a terminal: control
    characters removed and rich markup escaped. Every such string a command prints goes
    through here (``--json`` needs nothing: JSON escapes control characters)."""
    return escape(_UNPRINTABLE.sub("", str(text)))


def handles_errors(fn: F) -> F:
    """Turn a CitearchiveError into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CitearchiveError as exc:
            err.print(f"error: {safe(exc)}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted: the archive is consistent; run the command again to finish")
            raise typer.Exit(130) from None
        except (OSError, sqlite3.OperationalError) as exc:
            if not _disk_full(exc):
                raise
            err.print(f"error: disk full ({safe(str(exc))}); free some space and run the "
                      "command again: the archive is consistent")  # fmt: skip
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _disk_full(exc: BaseException) -> bool:
    """Whether an error means the disk (or quota) is full: OSError ENOSPC/EDQUOT, or
    SQLite's "database or disk is full"."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def short(text: str, n: int) -> str:
    """One line of at most ``n`` characters, for tables."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
