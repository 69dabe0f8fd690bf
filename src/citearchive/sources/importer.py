"""Write a parsed commentary into sources.toml, or merge it into an existing one.

Merging is safe by construction: import *adds what is missing and fills empty
fields*. It never overwrites a non-empty value, never deletes a table, and keeps
comments and layout (tomlkit edits the file in place). So after a person has
added URLs, quotes, notes, alternates, comments, extra sources or better titles,
re-running import changes none of it; every addition is listed in the report.

Correspondence: one ``[[footnote]]`` per footnote definition, one ``[[source]]``
(id ``fn<n>``) per footnote, one ``[[claim]]`` per marker. A footnote that a person
split into several sources, or merged with another, is left as they made it.

This module reads and writes the file; :mod:`.merge` does the merging, one step per
kind of table.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path

import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT, Array
from tomlkit.toml_document import TOMLDocument

from ..config import MAX_MANIFEST_BYTES
from ..errors import CommentaryError, ManifestError
from .commentary import read_commentary
from .inputfile import InputFileError, read_input
from .merge import ImportReport, merge_commentary

__all__ = ["HEADER", "KINDS", "ImportReport", "import_commentary"]

HEADER = """\
sources.toml: the sources cited by a commentary, for citearchive.
Made by `citearchive import {commentary}`; edit it by hand:
- give each [[source]] its `url` (empty = unresolved) and, where it helps, `alternates`
  (other addresses of the same text), `quotes` (exact passages in the source's own
  language that support the claims) and `notes`;
- split a [[source]] when one footnote cites several works (keep `footnotes = [n]`).
Re-running import only adds what is missing and fills empty fields: it never
overwrites or deletes what you wrote, comments included."""

KINDS = ("document", "footnote", "source", "claim")


def import_commentary(
    commentary_path: str | Path, output_path: str | Path, *, document_id: str | None = None
) -> ImportReport:
    """Parse ``commentary_path`` and write or merge its sources into ``output_path``.

    Raises CommentaryError when the commentary is unreadable or has no footnotes, and
    ManifestError when an existing output file is not valid TOML of the right shape;
    in both cases nothing is written.
    """
    commentary_path, output_path = Path(commentary_path), Path(output_path)
    commentary = read_commentary(commentary_path)
    if not commentary.markers and not commentary.footnotes:
        raise CommentaryError(
            f"{commentary_path}: no footnote markers or definitions found "
            "(expected <sup>n</sup>, [^n] or HTML footnotes)"
        )
    created = not output_path.exists()
    doc = _new_document(str(commentary_path)) if created else _load(output_path)
    report = merge_commentary(doc, commentary, commentary_path, output_path, document_id)
    report.created = created
    report.warnings = list(commentary.warnings)
    report.found = {
        "markers": len(commentary.markers),
        "footnotes": len(commentary.footnotes),
        "claims": len(commentary.claims),
    }
    if created or report.changes:
        _write(output_path, doc.as_string().rstrip("\n") + "\n")
        report.written = True
    return report


# --- reading and writing -----------------------------------------------------------------


def _new_document(commentary_name: str) -> TOMLDocument:
    doc = tomlkit.document()
    for line in HEADER.format(commentary=commentary_name).splitlines():
        doc.add(tomlkit.comment(line))
    doc.add(tomlkit.nl())
    return doc


def _load(path: Path) -> TOMLDocument:
    """Parse an existing sources.toml with tomlkit; ManifestError names file and line."""
    try:
        text = read_input(path, MAX_MANIFEST_BYTES).decode("utf-8")
    except InputFileError as exc:
        raise ManifestError(str(exc), path=path) from None
    except IsADirectoryError:
        raise ManifestError("is a directory, not a sources.toml file", path=path) from None
    except OSError as exc:
        raise ManifestError(f"cannot read: {exc.strerror or exc}", path=path) from None
    except UnicodeDecodeError:
        raise ManifestError("not valid UTF-8 (save the file as UTF-8)", path=path) from None
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        message = re.sub(r" at line \d+ col \d+$", "", str(exc))
        raise ManifestError(f"malformed TOML: {message}", path=path, line=exc.line) from None
    for kind in KINDS:
        value = doc.get(kind)
        if value is not None and not (
            isinstance(value, AoT | Array) and all(isinstance(t, dict) for t in value)
        ):
            raise ManifestError(
                f"'{kind}' must be an array of tables: write [[{kind}]], not [{kind}]",
                path=path,
                field=kind,
            )
    return doc


def _write(path: Path, text: str) -> None:
    """Replace ``path`` atomically: a crash leaves the old file or the new, never half.

    A symlink is written through (its target is replaced, the link stays), and the file
    keeps its permissions (a new file gets the usual 0666 less the umask).
    """
    path = Path(os.path.realpath(path))  # write through symlinks
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())  # on disk before it replaces the old file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    """The permission bits ``path`` has, or a new file's (0666 less the umask)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


read_toml = _load  # for other stages editing sources.toml in place (resolve --apply)
write_atomically = _write
