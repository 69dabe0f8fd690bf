"""Write a parsed commentary into sources.toml, or merge it into an existing one.

Merging is safe by construction: import *adds what is missing and fills empty
fields*. It never overwrites a non-empty value, never deletes a table, and keeps
comments and layout (tomlkit edits the file in place). So after a person has
added URLs, quotes, notes, alternates, comments, extra sources or better titles,
re-running import changes none of it; every addition is listed in the report.

Correspondence: one ``[[footnote]]`` per footnote definition, one ``[[source]]``
(id ``fn<n>``) per footnote, one ``[[claim]]`` per marker. A footnote that a person
split into several sources, or merged with another, is left as they made it.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT, Array, Comment, Table, Whitespace
from tomlkit.toml_document import TOMLDocument

from ..config import MAX_MANIFEST_BYTES
from ..errors import CommentaryError, ManifestError
from .commentary import Commentary, FootnoteDef, LintWarning, read_commentary
from .inputfile import InputFileError, read_input

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
_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ImportReport:
    """What an import found in the commentary and what it added to the TOML file."""

    output: Path
    created: bool
    document_id: str
    added: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("documents", "sources", "footnotes", "claims", "fields"), 0
        )
    )
    changes: list[str] = field(default_factory=list)  # one line per addition
    kept: list[str] = field(default_factory=list)  # hand edits import left alone on purpose
    warnings: list[LintWarning] = field(default_factory=list)
    found: dict[str, int] = field(default_factory=dict)  # markers, footnotes, claims parsed
    written: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (paths as strings, warnings as dicts)."""
        return {
            "output": str(self.output),
            "created": self.created,
            "written": self.written,
            "document_id": self.document_id,
            "found": dict(self.found),
            "added": dict(self.added),
            "changes": list(self.changes),
            "kept": list(self.kept),
            "warnings": [w.to_dict() for w in self.warnings],
        }


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
    merge = _Merge(doc, commentary, commentary_path, output_path, document_id)
    report = merge.run()
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


# --- merging -----------------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not str(value).strip("[]{} "))


def _norm(text: Any) -> str:
    return re.sub(r"\s+", " ", str(text or "")).strip()


def _numbers_of(source: Any) -> list[int]:
    """The footnote numbers a [[source]] lists (``footnotes = [..]`` or ``footnote = n``)."""
    value = source.get("footnotes", source.get("footnote"))
    values = value if isinstance(value, list) else [value]
    return [int(v) for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _string(text: str) -> Any:
    """A TOML string item; literal ('…') when that avoids escaping double quotes."""
    if '"' in text and "'" not in text and not re.search(r"[\x00-\x1f\x7f]", text):
        return tomlkit.string(text, literal=True)
    return text


class _Merge:
    """One import: finds the document's tables in the TOML and adds what is missing."""

    def __init__(
        self,
        doc: TOMLDocument,
        commentary: Commentary,
        commentary_path: Path,
        output_path: Path,
        document_id: str | None,
    ) -> None:
        self.doc = doc
        self.c = commentary
        self.commentary_path = commentary_path.resolve()
        self.base = output_path.resolve().parent
        self.requested_id = document_id
        self.doc_id = ""
        self.default_doc: str | None = None
        self.report = ImportReport(output=output_path, created=False, document_id="")

    # - helpers -

    def tables(self, kind: str) -> list[Any]:
        return list(self.doc.get(kind) or [])

    def belongs(self, table: Any) -> bool:
        return str(table.get("document", self.default_doc) or "") == self.doc_id

    def note(self, kind: str, message: str) -> None:
        self.report.added[kind] += 1
        self.report.changes.append(message)

    def fill(self, table: Any, key: str, value: Any, label: str) -> None:
        """Set ``table[key]`` only when it is missing or empty."""
        if _empty(value) or not _empty(table.get(key)):
            return
        table[key] = _string(value) if isinstance(value, str) else value
        self.note("fields", f"{label}: filled {key}")

    def append(self, kind: str, table: Table) -> None:
        """Append a table to the [[kind]] array, followed by one blank line.

        Comments at the end of the array's last table introduce what follows it, so
        they move below the new table.
        """
        aot = self.doc.get(kind)
        if aot is None:
            aot = tomlkit.aot()
            self.doc.append(kind, aot)
        if isinstance(aot, Array):  # written as kind = [{...}, ...]
            inline = tomlkit.inline_table()
            inline.update(dict(table.items()))
            aot.append(inline)
            return
        table.add(tomlkit.nl())
        if len(aot):
            body = aot[-1].value.body
            trailing: list[tuple[Any, Any]] = []
            while body and body[-1][0] is None and isinstance(body[-1][1], Whitespace | Comment):
                trailing.insert(0, body.pop())
            first = next((k for k, (_, v) in enumerate(trailing) if isinstance(v, Comment)), None)
            keep = trailing if first is None else trailing[:first]
            body.extend(keep)
            if not keep:
                aot[-1].add(tomlkit.nl())
            table.value.body.extend(trailing[len(keep) :])
        aot.append(table)
        aot[-1].trivia.indent = ""  # tomlkit would add a blank line of its own

    # - the steps -

    def run(self) -> ImportReport:
        self.document()
        self.footnotes()
        self.sources()
        self.claims()
        return self.report

    def document(self) -> None:
        docs = self.tables("document")
        target = None
        if self.requested_id:
            target = next((d for d in docs if d.get("id") == self.requested_id), None)
        else:
            target = next((d for d in docs if self._same_file(d.get("file"))), None)
            if target is None and len(docs) == 1 and _empty(docs[0].get("file")):
                target = docs[0]
        rel = Path(os.path.relpath(self.commentary_path, self.base)).as_posix()
        if target is None:
            self.doc_id = self._new_id(docs)
            if len(docs) == 1:
                self._claim_orphans(str(docs[0].get("id")))
            table = tomlkit.table()
            table["id"] = self.doc_id
            table["title"] = self.c.title or self.commentary_path.stem
            for key, value in (("author", self.c.author), ("language", self.c.language)):
                if value:
                    table[key] = value
            table["file"] = rel
            self.append("document", table)
            self.note("documents", f"document {self.doc_id}: added")
        else:
            self.doc_id = str(target.get("id") or "")
            label = f"document {self.doc_id}"
            for key, value in (
                ("title", self.c.title),
                ("author", self.c.author),
                ("language", self.c.language),
                ("file", rel),
            ):
                self.fill(target, key, value, label)
        docs = self.tables("document")
        self.default_doc = str(docs[0].get("id")) if len(docs) == 1 else None
        self.report.document_id = self.doc_id

    def _same_file(self, value: Any) -> bool:
        if _empty(value):
            return False
        return (self.base / str(value)).resolve() == self.commentary_path

    def _new_id(self, docs: list[Any]) -> str:
        taken = {str(d.get("id")) for d in docs}
        base = self.requested_id or _ID_CHARS.sub("-", self.commentary_path.stem).strip("-._")
        if not base or not base[0].isalnum() or not base.isascii():
            base = "document"
        candidate, k = base, 2
        while candidate in taken:
            candidate, k = f"{base}-{k}", k + 1
        return candidate

    def _claim_orphans(self, old_id: str) -> None:
        """Second document: tables of the first that relied on the default get ``document``."""
        for kind in ("footnote", "source", "claim"):
            for i, table in enumerate(self.tables(kind)):
                if "document" not in table:
                    table["document"] = old_id
                    self.note("fields", f"{kind} #{i + 1}: filled document = {old_id!r}")

    def footnotes(self) -> None:
        existing: dict[int, Any] = {}
        for t in self.tables("footnote"):
            if self.belongs(t) and isinstance(t.get("number"), int):
                existing.setdefault(int(t["number"]), t)
        lints = self._lint_notes("unreferenced-footnote", "duplicate-footnote")
        done: set[int] = set()
        for f in self.c.footnotes:
            if f.number in done:
                continue
            done.add(f.number)
            table = existing.get(f.number)
            if table is not None:
                self.fill(table, "text", f.text, f"footnote {f.number}")
                self.fill(table, "accessed", f.accessed, f"footnote {f.number}")
                continue
            table = tomlkit.table()
            for message in lints.get(f.number, []):
                table.add(tomlkit.comment(f"lint: {message}"))
            if self.default_doc is None:
                table["document"] = self.doc_id
            table["number"] = f.number
            table["text"] = _string(f.text)
            if f.accessed:
                table["accessed"] = f.accessed
            self.append("footnote", table)
            self.note("footnotes", f"footnote {f.number}: added")

    def _lint_notes(self, *codes: str) -> dict[int, list[str]]:
        notes: dict[int, list[str]] = {}
        for w in self.c.warnings:
            if w.code in codes:
                notes.setdefault(w.footnote, []).append(w.message)
        return notes

    def sources(self) -> None:
        everything = self.tables("source")
        mine = [t for t in everything if self.belongs(t)]
        used = {
            str(u) for t in everything for u in [t.get("url"), *(t.get("alternates") or [])] if u
        }
        ids = {str(t.get("id")) for t in everything}
        numbers = sorted({m.number for m in self.c.markers} | {f.number for f in self.c.footnotes})
        for n in numbers:
            f = self.c.footnote(n)
            covering = [t for t in mine if n in _numbers_of(t)]
            if not covering:
                sid = self._source_id(n, ids)
                ids.add(sid)
                self.append("source", self._new_source(sid, n, f, used))
                self.note("sources", f"source {sid}: added for footnote {n}")
            elif len(covering) == 1 and _numbers_of(covering[0]) == [n] and f is not None:
                self._fill_source(covering[0], f, used)
            else:
                names = ", ".join(str(t.get("id")) for t in covering)
                self.report.kept.append(
                    f"footnote {n}: cited by source(s) {names} as edited by hand; left as is"
                )

    def _source_id(self, n: int, ids: set[str]) -> str:
        base = f"fn{n}" if self.default_doc is not None else f"{self.doc_id}-fn{n}"
        candidate, k = base, 2
        while candidate in ids:
            candidate, k = f"{base}-{k}", k + 1
        return candidate

    def _new_source(self, sid: str, n: int, f: FootnoteDef | None, used: set[str]) -> Table:
        table = tomlkit.table()
        table["id"] = sid
        if self.default_doc is None:
            table["document"] = self.doc_id
        table["footnotes"] = [n]
        if f is None:
            table["url"] = ""
            table["notes"] = f"marker {n} has no footnote definition in the commentary"
            return table
        url, extra = self._pick_url(f, used)
        table["url"] = url or ""
        for key in ("title", "publisher", "published", "language"):
            value = getattr(f, key)
            if value:
                table[key] = _string(value)
        if extra:
            table["notes"] = _extra_note(extra)
        return table

    def _pick_url(self, f: FootnoteDef, used: set[str]) -> tuple[str | None, list[str]]:
        """The footnote's first URL not already used by another source, and the rest."""
        url = next((u for u in f.urls if u not in used), None)
        if url:
            used.add(url)
        return url, [u for u in f.urls if u != url]

    def _fill_source(self, table: Any, f: FootnoteDef, used: set[str]) -> None:
        label = f"source {table.get('id')}"
        if _empty(table.get("url")):
            own = {str(u) for u in table.get("alternates") or []}
            url, _ = self._pick_url(f, used | own)
            self.fill(table, "url", url, label)
        for key in ("title", "publisher", "published", "language"):
            self.fill(table, key, getattr(f, key), label)
        current = str(table.get("url") or "")
        extra = [u for u in f.urls if u != current]
        if extra and _empty(table.get("notes")):
            self.fill(table, "notes", _extra_note(extra), label)

    def claims(self) -> None:
        existing = [t for t in self.tables("claim") if self.belongs(t)]
        known = {_norm(t.get("text")) for t in existing}
        parsed = {_norm(cl.text) for cl in self.c.claims}
        # Claims a person edited (text no longer in the commentary) stand for parsed ones.
        edited: dict[int, int] = {}
        for t in existing:
            if _norm(t.get("text")) not in parsed and isinstance(t.get("footnote"), int):
                edited[int(t["footnote"])] = edited.get(int(t["footnote"]), 0) + 1
        lints = {
            (w.footnote, w.line): w.message for w in self.c.warnings if w.code == "reused-marker"
        }
        for cl in self.c.claims:
            if _norm(cl.text) in known:
                continue
            if edited.get(cl.footnote):
                edited[cl.footnote] -= 1
                self.report.kept.append(f"claim for footnote {cl.footnote} (line {cl.line}): "
                                        "edited by hand; left as is")  # fmt: skip
                continue
            table = tomlkit.table()
            if (cl.footnote, cl.line) in lints:
                table.add(tomlkit.comment(f"lint: {lints[(cl.footnote, cl.line)]}"))
            if self.default_doc is None:
                table["document"] = self.doc_id
            table["footnote"] = cl.footnote
            table["text"] = _string(cl.text)
            self.append("claim", table)
            known.add(_norm(cl.text))
            self.note("claims", f"claim for footnote {cl.footnote} (line {cl.line}): added")


def _extra_note(urls: list[str]) -> str:
    return "The footnote also gives: " + ", ".join(urls)
