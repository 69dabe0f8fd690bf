"""What every citearchive command shares: consoles, options, the error boundary, output."""

from __future__ import annotations

import functools
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ..errors import CitearchiveError
from .render import console, report_error

out = console()
err = console(stderr=True)

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


def handles_errors(fn: F) -> F:
    """The error boundary of a command: an error ``render.report_error`` knows becomes one
    line on stderr and its exit code; anything else is a bug and raises."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (CitearchiveError, KeyboardInterrupt, OSError, sqlite3.OperationalError) as exc:
            code = report_error(exc, err)
            if code is None:
                raise
            raise typer.Exit(code) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
