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


def _read(args: list[str], valued: dict[str, str]) -> tuple[dict[str, str], list[str], bool] | None:
    """The values of the options ``valued`` names (each spelling -> the option's name), the
    positional arguments and whether ``--json`` was given, read as click reads them; None for
    anything else (``--help``, an unknown option, an option without its value): typer
    answers those. ``--name=value`` is read for long names only (click reads ``-a=x`` as the
    value "=x")."""
    values: dict[str, str] = {}
    positional: list[str] = []
    as_json = False
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if arg == "--json":
            as_json = True
        elif arg == "--":
            positional += args[i + 1 :]
            break
        elif name in valued and (not eq or name.startswith("--")):
            if not eq:
                if i + 1 == len(args):
                    return None
                i += 1
                value = args[i]
            values[valued[name]] = value
        elif arg.startswith("-"):
            return None
        else:
            positional.append(arg)
        i += 1
    return values, positional, as_json


def _parse(args: list[str]) -> tuple[str, Path, int, bool] | None:
    """(query, archive, limit, as_json), or None when the typer command should answer."""
    read = _read(args, {"-a": "archive", "--archive": "archive", "--limit": "limit"})
    if read is None or len(read[1]) != 1:
        return None  # a usage error, help, no query or two: typer says it
    values, (query,), as_json = read
    limit = values.get("limit", "20")
    digits = limit.isascii() and limit.isdigit() and len(limit) < 19
    if not digits or int(limit) < 1:
        return None  # typer says what is wrong ("²", 5,000 digits, 0)
    return query, Path(values.get("archive", "archive")), int(limit), as_json


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


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
        _print_json([h.to_dict() for h in hits])
        return 0
    bold, reset = (BOLD, RESET) if out.isatty() else ("", "")
    for h in hits:
        out.write(f"{bold}{h.source_id}{reset} #{h.capture_id} {h.url or ''}\n")
        out.write(f"  {h.snippet}\n")
    out.write(f"{len(hits)} result(s)\n")
    return 0 if hits else 1


def _parse_status(args: list[str]) -> tuple[Path, Path, bool] | None:
    """(sources, archive, as_json), or None when the typer command should answer."""
    names = {"-s": "sources", "--sources": "sources", "-a": "archive", "--archive": "archive"}
    read = _read(args, names)
    if read is None or read[1]:
        return None  # a usage error, help, an argument: typer says it
    values, _, as_json = read
    return (
        Path(values.get("sources", "sources.toml")),
        Path(values.get("archive", "archive")),
        as_json,
    )


def status(args: list[str]) -> int | None:
    """Run ``citearchive status``; its exit code, or None to let typer handle ``args``."""
    parsed = _parse_status(args)
    if parsed is None:
        return None
    sources, archive, as_json = parsed
    from ..archive.searchindex import connect
    from ..sources.manifest import load_manifest
    from ..verify.status import source_status

    try:
        manifest = load_manifest(sources)
        connect(archive).close()  # a mistyped --archive is an error, not news
        rows = source_status(manifest, archive)
    except Exception as exc:  # (Ctrl-C is main's) what report_error does not know, raises
        from .render import console, report_error

        code = report_error(exc, console(stderr=True))
        if code is None:
            raise
        return code
    if as_json:
        _print_json([r.to_dict() for r in rows])
        return 0
    from .render import console, status_table

    console().print(status_table(rows))
    return 0


QUICK = {"search": search, "status": status}
