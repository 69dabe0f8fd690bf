"""Merge a parsed commentary into a sources.toml document, adding only what is missing.

The merge runs in four steps, one per kind of table, each a function below:
:func:`merge_document` (find or add the ``[[document]]``), :func:`merge_footnotes`,
:func:`merge_sources` and :func:`merge_claims`. They share a :class:`Target`: the TOML
document being edited, the id of the commentary's document in it, and the report that
lists every addition. Filling never overwrites a non-empty value and nothing is deleted.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Array, Comment, Table, Whitespace
from tomlkit.toml_document import TOMLDocument

from .commentary import Commentary, FootnoteDef, LintWarning

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


def merge_commentary(
    doc: TOMLDocument,
    commentary: Commentary,
    commentary_path: Path,
    output_path: Path,
    document_id: str | None,
) -> ImportReport:
    """Add to ``doc`` what ``commentary`` has and ``doc`` lacks; the report lists it."""
    target = Target(doc, ImportReport(output=output_path, created=False, document_id=""))
    where = _Where(commentary_path.resolve(), output_path.resolve().parent)
    merge_document(target, commentary, where, document_id)
    merge_footnotes(target, commentary)
    merge_sources(target, commentary)
    merge_claims(target, commentary)
    return target.report


# --- TOML values ---------------------------------------------------------------------------


def is_empty(value: Any) -> bool:
    """None, an empty or blank string, an empty list or table."""
    return value is None or (isinstance(value, str | list | dict) and not str(value).strip("[]{} "))


def _norm(text: Any) -> str:
    return re.sub(r"\s+", " ", str(text or "")).strip()


def footnote_numbers(source: Any) -> list[int]:
    """The footnote numbers a [[source]] lists (``footnotes = [..]`` or ``footnote = n``)."""
    value = source.get("footnotes", source.get("footnote"))
    values = value if isinstance(value, list) else [value]
    return [int(v) for v in values if isinstance(v, int) and not isinstance(v, bool)]


def toml_string(text: str) -> Any:
    """A TOML string item; literal ('…') when that avoids escaping double quotes."""
    if '"' in text and "'" not in text and not re.search(r"[\x00-\x1f\x7f]", text):
        return tomlkit.string(text, literal=True)
    return text


def append_table(doc: TOMLDocument, kind: str, table: Table) -> None:
    """Append a table to the [[kind]] array of ``doc``, followed by one blank line.

    Comments at the end of the array's last table introduce what follows it, so
    they move below the new table.
    """
    aot = doc.get(kind)
    if aot is None:
        aot = tomlkit.aot()
        doc.append(kind, aot)
    if isinstance(aot, Array):  # written as kind = [{...}, ...]
        inline = tomlkit.inline_table()
        inline.update(dict(table.items()))
        aot.append(inline)
        return
    table.add(tomlkit.nl())
    if len(aot):
        _move_trailing_comments(aot, table)
    aot.append(table)
    aot[-1].trivia.indent = ""  # tomlkit would add a blank line of its own


def _move_trailing_comments(aot: AoT, table: Table) -> None:
    """Blank lines end the last table of ``aot``; comments after them go to ``table``."""
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


# --- what the steps share ----------------------------------------------------------------


@dataclass
class _Where:
    """The commentary file and the folder of sources.toml, both resolved."""

    commentary: Path
    base: Path


class Target:
    """The TOML document being merged into, the commentary's document id, the report."""

    def __init__(self, doc: TOMLDocument, report: ImportReport) -> None:
        self.doc = doc
        self.report = report
        self.doc_id = ""
        self.default_doc: str | None = None  # the only document's id, which tables may omit

    def tables(self, kind: str) -> list[Any]:
        return list(self.doc.get(kind) or [])

    def belongs(self, table: Any) -> bool:
        return str(table.get("document", self.default_doc) or "") == self.doc_id

    def note(self, kind: str, message: str) -> None:
        self.report.added[kind] += 1
        self.report.changes.append(message)

    def fill(self, table: Any, key: str, value: Any, label: str) -> None:
        """Set ``table[key]`` only when it is missing or empty."""
        if is_empty(value) or not is_empty(table.get(key)):
            return
        table[key] = toml_string(value) if isinstance(value, str) else value
        self.note("fields", f"{label}: filled {key}")

    def append(self, kind: str, table: Table) -> None:
        append_table(self.doc, kind, table)

    def tag_document(self, table: Table) -> None:
        """Name the document in a new table when there are several to choose from."""
        if self.default_doc is None:
            table["document"] = self.doc_id


# --- [[document]] --------------------------------------------------------------------------


def merge_document(t: Target, c: Commentary, where: _Where, requested_id: str | None) -> None:
    """Find the commentary's [[document]] (by id, by file, or the only one) or add it."""
    docs = t.tables("document")
    found = _find_document(docs, where, requested_id)
    rel = Path(os.path.relpath(where.commentary, where.base)).as_posix()
    if found is None:
        t.doc_id = _new_document_id(docs, where.commentary, requested_id)
        if len(docs) == 1:
            _claim_orphans(t, str(docs[0].get("id")))
        table = tomlkit.table()
        table["id"] = t.doc_id
        table["title"] = c.title or where.commentary.stem
        for key, value in (("author", c.author), ("language", c.language)):
            if value:
                table[key] = value
        table["file"] = rel
        t.append("document", table)
        t.note("documents", f"document {t.doc_id}: added")
    else:
        t.doc_id = str(found.get("id") or "")
        label = f"document {t.doc_id}"
        for key, value in (
            ("title", c.title),
            ("author", c.author),
            ("language", c.language),
            ("file", rel),
        ):
            t.fill(found, key, value, label)
    docs = t.tables("document")
    t.default_doc = str(docs[0].get("id")) if len(docs) == 1 else None
    t.report.document_id = t.doc_id


def _find_document(docs: list[Any], where: _Where, requested_id: str | None) -> Any:
    if requested_id:
        return next((d for d in docs if d.get("id") == requested_id), None)
    found = next((d for d in docs if _same_file(where, d.get("file"))), None)
    if found is None and len(docs) == 1 and is_empty(docs[0].get("file")):
        found = docs[0]
    return found


def _same_file(where: _Where, value: Any) -> bool:
    if is_empty(value):
        return False
    return (where.base / str(value)).resolve() == where.commentary


def _new_document_id(docs: list[Any], commentary: Path, requested_id: str | None) -> str:
    taken = {str(d.get("id")) for d in docs}
    base = requested_id or _ID_CHARS.sub("-", commentary.stem).strip("-._")
    if not base or not base[0].isalnum() or not base.isascii():
        base = "document"
    candidate, k = base, 2
    while candidate in taken:
        candidate, k = f"{base}-{k}", k + 1
    return candidate


def _claim_orphans(t: Target, old_id: str) -> None:
    """Second document: tables of the first that relied on the default get ``document``."""
    for kind in ("footnote", "source", "claim"):
        for i, table in enumerate(t.tables(kind)):
            if "document" not in table:
                table["document"] = old_id
                t.note("fields", f"{kind} #{i + 1}: filled document = {old_id!r}")


# --- [[footnote]] --------------------------------------------------------------------------


def merge_footnotes(t: Target, c: Commentary) -> None:
    """Fill the footnotes the file has; add the others, with their lint as comments."""
    existing: dict[int, Any] = {}
    for table in t.tables("footnote"):
        if t.belongs(table) and isinstance(table.get("number"), int):
            existing.setdefault(int(table["number"]), table)
    lints = _lint_notes(c, "unreferenced-footnote", "duplicate-footnote")
    done: set[int] = set()
    for f in c.footnotes:
        if f.number in done:
            continue
        done.add(f.number)
        table = existing.get(f.number)
        if table is not None:
            t.fill(table, "text", f.text, f"footnote {f.number}")
            t.fill(table, "accessed", f.accessed, f"footnote {f.number}")
            continue
        t.append("footnote", _new_footnote(t, f, lints.get(f.number, [])))
        t.note("footnotes", f"footnote {f.number}: added")


def _new_footnote(t: Target, f: FootnoteDef, lints: list[str]) -> Table:
    table = tomlkit.table()
    for message in lints:
        table.add(tomlkit.comment(f"lint: {message}"))
    t.tag_document(table)
    table["number"] = f.number
    table["text"] = toml_string(f.text)
    if f.accessed:
        table["accessed"] = f.accessed
    return table


def _lint_notes(c: Commentary, *codes: str) -> dict[int, list[str]]:
    notes: dict[int, list[str]] = {}
    for w in c.warnings:
        if w.code in codes:
            notes.setdefault(w.footnote, []).append(w.message)
    return notes


# --- [[source]] ----------------------------------------------------------------------------


def merge_sources(t: Target, c: Commentary) -> None:
    """One source per footnote: add it, fill it, or leave a hand-split footnote alone."""
    everything = t.tables("source")
    mine = [s for s in everything if t.belongs(s)]
    used = {str(u) for s in everything for u in [s.get("url"), *(s.get("alternates") or [])] if u}
    ids = {str(s.get("id")) for s in everything}
    numbers = sorted({m.number for m in c.markers} | {f.number for f in c.footnotes})
    listed = [footnote_numbers(s) for s in mine]  # read once: tomlkit lookups are slow
    by_number: dict[int, list[int]] = {}
    for k, ns in enumerate(listed):
        for n in dict.fromkeys(ns):
            by_number.setdefault(n, []).append(k)
    first = {f.number: f for f in reversed(c.footnotes)}  # a lookup per footnote, not a scan
    for n in numbers:
        f = first.get(n)
        covering = [mine[k] for k in by_number.get(n, [])]
        if not covering:
            sid = _source_id(t, n, ids)
            ids.add(sid)
            t.append("source", _new_source(t, sid, n, f, used))
            t.note("sources", f"source {sid}: added for footnote {n}")
        elif len(covering) == 1 and listed[by_number[n][0]] == [n] and f is not None:
            _fill_source(t, covering[0], f, used)
        else:
            names = ", ".join(str(s.get("id")) for s in covering)
            t.report.kept.append(
                f"footnote {n}: cited by source(s) {names} as edited by hand; left as is"
            )


def _source_id(t: Target, n: int, ids: set[str]) -> str:
    base = f"fn{n}" if t.default_doc is not None else f"{t.doc_id}-fn{n}"
    candidate, k = base, 2
    while candidate in ids:
        candidate, k = f"{base}-{k}", k + 1
    return candidate


def _new_source(t: Target, sid: str, n: int, f: FootnoteDef | None, used: set[str]) -> Table:
    table = tomlkit.table()
    table["id"] = sid
    t.tag_document(table)
    table["footnotes"] = [n]
    if f is None:
        table["url"] = ""
        table["notes"] = f"marker {n} has no footnote definition in the commentary"
        return table
    url, extra = _pick_url(f, used)
    table["url"] = url or ""
    for key in ("title", "publisher", "published", "language"):
        value = getattr(f, key)
        if value:
            table[key] = toml_string(value)
    if extra:
        table["notes"] = _extra_note(extra)
    return table


def _pick_url(f: FootnoteDef, used: set[str]) -> tuple[str | None, list[str]]:
    """The footnote's first URL not already used by another source, and the rest."""
    url = next((u for u in f.urls if u not in used), None)
    if url:
        used.add(url)
    return url, [u for u in f.urls if u != url]


def _fill_source(t: Target, table: Any, f: FootnoteDef, used: set[str]) -> None:
    label = f"source {table.get('id')}"
    if is_empty(table.get("url")):
        own = {str(u) for u in table.get("alternates") or []}
        url, _ = _pick_url(f, used | own)
        t.fill(table, "url", url, label)
    for key in ("title", "publisher", "published", "language"):
        t.fill(table, key, getattr(f, key), label)
    current = str(table.get("url") or "")
    extra = [u for u in f.urls if u != current]
    if extra and is_empty(table.get("notes")):
        t.fill(table, "notes", _extra_note(extra), label)


def _extra_note(urls: list[str]) -> str:
    return "The footnote also gives: " + ", ".join(urls)


# --- [[claim]] -----------------------------------------------------------------------------


def merge_claims(t: Target, c: Commentary) -> None:
    """Add the claims whose text the file lacks, unless a person edited them."""
    existing = [s for s in t.tables("claim") if t.belongs(s)]
    known = {_norm(s.get("text")) for s in existing}
    edited = _edited_claims(existing, {_norm(cl.text) for cl in c.claims})
    lints = {(w.footnote, w.line): w.message for w in c.warnings if w.code == "reused-marker"}
    for cl in c.claims:
        if _norm(cl.text) in known:
            continue
        if edited.get(cl.footnote):
            edited[cl.footnote] -= 1
            t.report.kept.append(
                f"claim for footnote {cl.footnote} (line {cl.line}): edited by hand; left as is"
            )
            continue
        table = tomlkit.table()
        if (cl.footnote, cl.line) in lints:
            table.add(tomlkit.comment(f"lint: {lints[(cl.footnote, cl.line)]}"))
        t.tag_document(table)
        table["footnote"] = cl.footnote
        table["text"] = toml_string(cl.text)
        t.append("claim", table)
        known.add(_norm(cl.text))
        t.note("claims", f"claim for footnote {cl.footnote} (line {cl.line}): added")


def _edited_claims(existing: list[Any], parsed: set[str]) -> dict[int, int]:
    """Per footnote, claims a person edited (text no longer in the commentary).

    They stand for parsed claims of the same footnote, which are then not added again.
    """
    edited: dict[int, int] = {}
    for table in existing:
        if _norm(table.get("text")) not in parsed and isinstance(table.get("footnote"), int):
            edited[int(table["footnote"])] = edited.get(int(table["footnote"]), 0) + 1
    return edited
