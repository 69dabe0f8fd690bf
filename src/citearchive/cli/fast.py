"""The ``citearchive`` console entry point, with quick paths for the read-only commands.

Loading typer (with click and pydantic) and rich takes most of a second on a busy machine,
many times what a search or a status costs. So ``main`` answers a plain ``citearchive search
QUERY [-a ARCHIVE] [--limit N] [--json]`` itself, with the standard library and the search
modules only, and a plain ``citearchive status [-s SOURCES] [-a ARCHIVE] [--json]`` with the
modules it reads (httpx, which the sources.toml parser needs, brings rich too). Both print
exactly what the typer commands print (errors and tables through :mod:`.render`, as theirs);
anything else (``--help``, an unknown option, a bad value, every other command) goes to the
typer app.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

BOLD, RESET = "\x1b[1m", "\x1b[0m"


def main() -> None:
    argv = sys.argv[1:]
    quick = QUICK.get(argv[0]) if argv else None
    if quick is not None:
        try:
            code = quick(argv[1:])
            if code is not None:
                sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        except BrokenPipeError:  # `citearchive status | head`: quietly, as click does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except KeyboardInterrupt:  # while printing: as the typer commands say it
            from .render import INTERRUPTED

            sys.stderr.write(INTERRUPTED + "\n")
            sys.exit(130)
        if code is not None:
            sys.exit(code)
    from .app import app

    app(prog_name="citearchive")


def _parse(args: list[str]) -> tuple[str, Path, int, bool] | None:
    """(query, archive, limit, as_json), or None when the typer command should answer."""
    query: str | None = None
    archive, limit, as_json = Path("archive"), 20, False
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if arg == "--json":
            as_json = True
        elif _valued(name, eq, ("-a", "--archive", "--limit")) and (eq or i + 1 < len(args)):
            if not eq:
                i += 1
                value = args[i]
            if name == "--limit":
                digits = value.isascii() and value.isdigit() and len(value) < 19
                if not digits or int(value) < 1:
                    return None  # typer says what is wrong ("²", 5,000 digits, 0)
                limit = int(value)
            else:
                archive = Path(value)
        elif arg == "--" and query is None and i + 2 == len(args):
            query = args[i + 1]
            i += 1
        elif arg.startswith("-") or query is not None:
            return None  # --help, an unknown option, a second argument: typer says it
        else:
            query = arg
        i += 1
    return None if query is None else (query, archive, limit, as_json)


def search(args: list[str]) -> int | None:
    """Run ``citearchive search``; its exit code, or None to let typer handle ``args``."""
    parsed = _parse(args)
    if parsed is None:
        return None
    query, archive, limit, as_json = parsed
    from ..archive.search import search as run_search
    from ..archive.search import terms
    from ..archive.searchindex import connect
    from ..errors import CitearchiveError

    if not terms(query):
        return None  # the typer command reports the usage error
    try:
        conn = connect(archive)
    except CitearchiveError as exc:
        from .render import console, report_error

        return report_error(exc, console(stderr=True))
    try:
        hits = run_search(conn, query, limit=limit)
    finally:
        conn.close()
    out = sys.stdout
    if as_json:
        out.write(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2) + "\n")
        return 0
    bold, reset = (BOLD, RESET) if out.isatty() else ("", "")
    for h in hits:
        out.write(f"{bold}{h.source_id}{reset} #{h.capture_id} {h.url or ''}\n")
        out.write(f"  {h.snippet}\n")
    out.write(f"{len(hits)} result(s)\n")
    return 0 if hits else 1


def _valued(name: str, eq: str, names: tuple[str, ...]) -> bool:
    """Whether ``name`` is one of ``names``, options that take a value: ``--name=value`` is
    read only for long names (click reads ``-a=x`` as the value "=x": typer answers it)."""
    return name in names and (not eq or name.startswith("--"))


def _parse_status(args: list[str]) -> tuple[Path, Path, bool] | None:
    """(sources, archive, as_json), or None when the typer command should answer."""
    sources, archive, as_json = Path("sources.toml"), Path("archive"), False
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if arg == "--json":
            as_json = True
        elif _valued(name, eq, ("-s", "--sources", "-a", "--archive")) and (
            eq or i + 1 < len(args)
        ):
            if not eq:
                i += 1
                value = args[i]
            if name in ("-s", "--sources"):
                sources = Path(value)
            else:
                archive = Path(value)
        else:
            return None  # --help, an unknown option, an argument: typer says it
        i += 1
    return sources, archive, as_json


def status(args: list[str]) -> int | None:
    """Run ``citearchive status``; its exit code, or None to let typer handle ``args``."""
    parsed = _parse_status(args)
    if parsed is None:
        return None
    sources, archive, as_json = parsed
    import sqlite3

    from ..archive.searchindex import connect
    from ..errors import CitearchiveError
    from ..sources.manifest import load_manifest
    from ..verify.status import source_status

    try:
        manifest = load_manifest(sources)
        connect(archive).close()  # a mistyped --archive is an error, not news
        rows = source_status(manifest, archive)
    except (CitearchiveError, KeyboardInterrupt, OSError, sqlite3.OperationalError) as exc:
        from .render import console, report_error

        code = report_error(exc, console(stderr=True))
        if code is None:
            raise
        return code
    if as_json:
        data = [r.to_dict() for r in rows]
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return 0
    from .render import console, status_table

    console().print(status_table(rows))
    return 0


QUICK = {"search": search, "status": status}
