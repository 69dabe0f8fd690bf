"""The archive folder: the SQLite index (sqlite-utils) beside the run WARC files.

    archive/
      citearchive.db                  the index; Datasette opens it as is
      warc/<run-id>.warc.gz           every HTTP exchange of a run
      .lock                           held by the one process writing the archive

The schema is built by named, ordered migrations (``MIGRATIONS``); the table and
column names of DESIGN.md are the public interface. Rows that describe the
manifest (documents, sources, footnotes, citations, claims, quotes) are synced
from sources.toml on every run; captures and checks are evidence and only ever
appended.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ArchiveError, ArchiveLockedError
from ..sources.manifest import Manifest
from ..warc.writer import WarcFile, recover_open_files
from . import searchindex
from .runs import migrate_timestamps
from .sqlitedb import sqlite_utils
from .views import create_views

DB_NAME = "citearchive.db"
WARC_DIR = "warc"
LOCK_NAME = ".lock"


def utcnow() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def quote_id(source_id: str, text: str) -> str:
    """Stable id of a quote: the same passage of the same source keeps its id across edits."""
    return "q-" + hashlib.sha256(f"{source_id}\n{text}".encode()).hexdigest()[:12]


# --- schema -------------------------------------------------------------------------------


def _m001_core(db: sqlite_utils.Database) -> None:
    _t(db, "documents").create(
        {"id": str, "title": str, "author": str, "publisher": str, "published": str,
         "language": str, "url": str, "file": str},
        pk="id",
    )  # fmt: skip
    _t(db, "sources").create(
        {"id": str, "document_id": str, "url": str, "title": str, "publisher": str,
         "published": str, "language": str, "notes": str, "alternates": str,
         "resolved": int, "in_manifest": int},
        pk="id", foreign_keys=[("document_id", "documents", "id")],
    )  # fmt: skip
    _t(db, "footnotes").create(
        {"document_id": str, "footnote": int, "text": str, "accessed": str},
        pk=("document_id", "footnote"), foreign_keys=[("document_id", "documents", "id")],
    )  # fmt: skip
    _t(db, "citations").create(
        {"document_id": str, "footnote": int, "source_id": str, "text": str},
        pk=("document_id", "footnote", "source_id"),
        foreign_keys=[("document_id", "documents", "id"), ("source_id", "sources", "id")],
    )  # fmt: skip
    _t(db, "claims").create(
        {"id": str, "document_id": str, "footnote": int, "position": int, "text": str},
        pk="id", foreign_keys=[("document_id", "documents", "id")],
    )  # fmt: skip
    _t(db, "quotes").create(
        {"id": str, "source_id": str, "position": int, "text": str, "prefix": str,
         "suffix": str, "anchored_at": str},
        pk="id", foreign_keys=[("source_id", "sources", "id")],
    )  # fmt: skip
    _t(db, "runs").create(
        {"id": str, "command": str, "started_at": str, "finished_at": str,
         "tool_version": str, "user_agent": str, "settings": str, "warc_filename": str,
         "summary": str},
        pk="id",
    )  # fmt: skip
    _t(db, "captures").create(
        {"id": int, "run_id": str, "source_id": str, "requested_url": str, "url": str,
         "method": str, "fetched_at": str, "status_code": int, "content_type": str,
         "payload_sha256": str, "payload_length": int, "warc_filename": str,
         "warc_offset": int, "warc_length": int, "warc_record_id": str,
         "warc_payload_digest": str, "revisit_of": int, "charset": str,
         "charset_source": str, "kind": str, "title": str, "author": str,
         "published": str, "text": str, "text_sha256": str, "language": str,
         "error": str, "error_kind": str, "suspect": str, "not_text": int,
         "truncated": int, "redirects": str, "response_headers": str, "ip": str,
         "tls": str, "tool_version": str, "user_agent": str, "attempts": int,
         "duration_ms": int},
        pk="id",
        foreign_keys=[("source_id", "sources", "id"), ("run_id", "runs", "id"),
                      ("revisit_of", "captures", "id")],
    )  # fmt: skip
    _t(db, "captures").create_index(["source_id", "fetched_at"])
    _t(db, "captures").create_index(["payload_sha256"])
    _t(db, "checks").create(
        {"id": int, "run_id": str, "kind": str, "subject": str, "outcome": str,
         "detail": str, "checked_at": str, "source_id": str, "claim_id": str,
         "capture_id": int},
        pk="id",
    )  # fmt: skip
    _t(db, "checks").create_index(["run_id"])
    _t(db, "checks").create_index(["kind", "subject"])


def _m002_search(db: sqlite_utils.Database) -> None:
    # Trigram FTS5 over title and text: substring search for Japanese (no word spaces),
    # Russian and English. Terms shorter than three characters fall back to a scan
    # (see search.py). External content, kept in sync by triggers.
    db.executescript(
        """
        CREATE VIRTUAL TABLE captures_fts USING fts5(
            title, text, content='captures', content_rowid='id', tokenize='trigram'
        );
        CREATE TRIGGER captures_fts_ai AFTER INSERT ON captures BEGIN
            INSERT INTO captures_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
        END;
        CREATE TRIGGER captures_fts_ad AFTER DELETE ON captures BEGIN
            INSERT INTO captures_fts(captures_fts, rowid, title, text)
            VALUES ('delete', old.id, old.title, old.text);
        END;
        CREATE TRIGGER captures_fts_au AFTER UPDATE ON captures BEGIN
            INSERT INTO captures_fts(captures_fts, rowid, title, text)
            VALUES ('delete', old.id, old.title, old.text);
            INSERT INTO captures_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
        END;
        """
    )


def _m003_checks_by_source(db: sqlite_utils.Database) -> None:
    # "when did footnote 7's quote stop anchoring?": history per source and per claim
    _t(db, "checks").create_index(["source_id", "checked_at"])
    _t(db, "checks").create_index(["claim_id", "checked_at"])


def _m004_memento(db: sqlite_utils.Database) -> None:
    # A capture taken from a web archive (method "memento"): when the archive captured
    # the page (its Memento-Datetime), which URL it is a copy of, which archive holds it,
    # and why this memento was chosen ("accessed 2025-08-19", "published 2025-08", "newest").
    captures = _t(db, "captures")
    for column in ("memento_datetime", "original_url", "archive_name", "memento_basis"):
        captures.add_column(column, str)
    captures.create_index(["original_url"])


def _m005_import_provenance(db: sqlite_utils.Database) -> None:
    # A capture copied from a WARC/WACZ made by another tool (method "import"): the file it
    # came from ("crawl.wacz#archive/data.warc.gz") and the record's original WARC-Record-ID.
    captures = _t(db, "captures")
    for column in ("imported_from", "imported_record_id"):
        captures.add_column(column, str)


def _m006_folded_search_index(db: sqlite_utils.Database) -> None:
    # The index holds text folded as search.fold does (NFKC, ё→е), so ＮＡＴＯ is found by
    # NATO; it is written by insert_captures, not by triggers (folding is Python). It is
    # contentless: it stores the index only, not a second copy of every text. Captures are
    # never updated or deleted; a future writer that does must rewrite their index rows.
    db.executescript(
        """
        DROP TRIGGER IF EXISTS captures_fts_ai;
        DROP TRIGGER IF EXISTS captures_fts_ad;
        DROP TRIGGER IF EXISTS captures_fts_au;
        DROP TABLE IF EXISTS captures_fts;
        CREATE VIRTUAL TABLE captures_fts USING fts5(
            title, text, content='', tokenize='trigram'
        );
        """
    )
    # (filled by 007_issue11_search_grams, which rebuilds the whole index)


def _m007_issue11_search_grams(db: sqlite_utils.Database) -> None:
    # Issue 11: the bigram table captures_grams beside the trigram one (two-character terms
    # without scanning), both in match form (folded and case folded), and an index for the
    # newest-first order of results. See archive/searchindex.py.
    searchindex.rebuild(db.conn)


def _index_for_search(db: sqlite_utils.Database, rows: list[tuple[Any, ...]]) -> None:
    """Add (id, title, text) rows to the search index (see archive/searchindex.py)."""
    searchindex.index_rows(db.conn, rows)


def _m007_issue16_suggestions(db: sqlite_utils.Database) -> None:
    # `citearchive suggest`: sentence vectors of archived passages, computed once per
    # capture and model (a capture's text never changes), keyed by the passage's offsets;
    # and the passages suggested for each claim, shown as suggestions, never as quotes.
    _t(db, "passage_embeddings").create(
        {"capture_id": int, "model": str, "start": int, "end": int, "vector": bytes},
        pk=("capture_id", "model", "start", "end"),
        foreign_keys=[("capture_id", "captures", "id")],
    )
    _t(db, "suggestions").create(
        {"claim_id": str, "rank": int, "status": str, "source_id": str, "capture_id": int,
         "passage": str, "score": float, "model_score": float, "lexical_score": float,
         "evidence": str, "start": int, "end": int, "language": str, "model": str,
         "suggested_at": str, "applied": int},
        pk=("claim_id", "rank"),
        foreign_keys=[("claim_id", "claims", "id"), ("source_id", "sources", "id"),
                      ("capture_id", "captures", "id")],
    )  # fmt: skip


def _m007_issue12_browser_capture(db: sqlite_utils.Database) -> None:
    # A capture made in headless Chromium (method "browser"): besides the page's network
    # records, a full-page screenshot (PNG) and the rendered DOM, each a WARC resource record
    # in the capture's WARC file, with its SHA-256; how many responses the page received and
    # the requests refused (private address, cap, popup, download, service worker). And for
    # an HTTP capture, why it looks like a JavaScript shell (then the browser captured it too).
    captures = _t(db, "captures")
    for column, kind in (
        ("screenshot_warc_offset", int), ("screenshot_warc_length", int),
        ("screenshot_record_id", str), ("screenshot_sha256", str),
        ("screenshot_width", int), ("screenshot_height", int),
        ("dom_warc_offset", int), ("dom_warc_length", int), ("dom_record_id", str),
        ("dom_sha256", str), ("browser_resources", int), ("browser_blocked", str),
        ("js_shell", str),
    ):  # fmt: skip
        captures.add_column(column, kind)


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_core", _m001_core),
    ("002_search", _m002_search),
    ("003_checks_by_source", _m003_checks_by_source),
    ("004_memento", _m004_memento),
    ("005_import_provenance", _m005_import_provenance),
    ("006_folded_search_index", _m006_folded_search_index),
    ("007_issue13_timestamps", migrate_timestamps),  # run manifests, RFC 3161 tokens (runs.py)
    ("007_issue16_suggestions", _m007_issue16_suggestions),
    ("007_issue11_search_grams", _m007_issue11_search_grams),
    ("007_issue12_browser_capture", _m007_issue12_browser_capture),
]


# --- issue 10 (robustness) ----------------------------------------------------------------


def _m007_issue10b_run_warc_bytes(db: sqlite_utils.Database) -> None:
    # The size of a run's WARC file when the run closed it: fixity finds a file cut after
    # its last record, or appended to, by comparing (verify/warcfiles.py).
    _t(db, "runs").add_column("warc_bytes", int)


def _m008_issue10b_quotes_in_manifest(db: sqlite_utils.Database) -> None:
    # A quote removed from sources.toml is kept, with the context of its first anchoring
    # (evidence is never deleted by a config edit); in_manifest = 0 marks it.
    _t(db, "quotes").add_column("in_manifest", int, not_null_default=1)


MIGRATIONS.append(("007_issue10b_run_warc_bytes", _m007_issue10b_run_warc_bytes))
MIGRATIONS.append(("008_issue10b_quotes_in_manifest", _m008_issue10b_quotes_in_manifest))


def _m009_interrupted_runs(db: sqlite_utils.Database) -> None:
    # A run killed before it finished (kill -9, a crash, a power cut) is marked interrupted
    # by the next writer (which holds the lock, so that run's process is gone); its partial
    # checks stay in the table as a record but never count as the latest verdict.
    _t(db, "runs").add_column("interrupted_at", str)


MIGRATIONS.append(("009_interrupted_runs", _m009_interrupted_runs))


def _done_migrations(db: sqlite_utils.Database) -> set[str]:
    if not db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
    ).fetchone():
        return set()
    return {row[0] for row in db.execute("SELECT name FROM _migrations")}


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply the migrations not yet applied, in order; return their names.

    Each migration and its ``_migrations`` row commit together in one ``BEGIN IMMEDIATE``
    transaction (DDL is transactional in SQLite), so a kill at any instant leaves the
    schema before that migration or after it, and two processes opening a new archive at
    once take turns: the second finds the work done. An up-to-date archive is not written.
    """
    if _done_migrations(db) >= {name for name, _ in MIGRATIONS}:
        return []
    applied = []
    for name, step in MIGRATIONS:
        db.execute("BEGIN IMMEDIATE")  # waits (busy timeout) for another opener's migration
        try:
            db.execute("CREATE TABLE IF NOT EXISTS [_migrations] "
                       "([name] TEXT PRIMARY KEY, [applied_at] TEXT)")  # fmt: skip
            if name not in _done_migrations(db):
                step(db)  # sqlite-utils runs statements inside the open transaction
                db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                           [name, utcnow()])  # fmt: skip
                applied.append(name)
            db.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.conn.rollback()
            raise
    return applied


# --- the archive --------------------------------------------------------------------------


class Archive:
    """An archive folder. ``Archive.open(path)`` for reading; ``writer()`` to change it."""

    def __init__(self, root: Path, db: sqlite_utils.Database) -> None:
        self.root = root
        self.db = db
        self.warc_dir = root / WARC_DIR

    @classmethod
    def open(cls, root: str | Path, *, create: bool = True) -> Archive:
        root = Path(root)
        db_path = root / DB_NAME
        if not db_path.exists() and not create:
            raise ArchiveError(
                f"{root}: no archive here (no {DB_NAME}); run `citearchive fetch` first"
            )
        if root.exists() and not root.is_dir():
            raise ArchiveError(f"{root}: is a file, not an archive folder")
        try:
            root.mkdir(parents=True, exist_ok=True)
            db = sqlite_utils.Database(db_path)
            db.execute("PRAGMA foreign_keys = OFF")
            migrate(db)
            create_views(db)
        except OSError as exc:
            raise ArchiveError(f"{root}: cannot open archive: {exc.strerror or exc}") from None
        except sqlite_utils.db.sqlite3.DatabaseError as exc:
            raise ArchiveError(f"{db_path}: not a citearchive database ({exc})") from None
        return cls(root, db)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def locked(self) -> Iterator[Archive]:
        """Hold the archive's write lock; a second writer gets ArchiveLockedError."""
        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                # A POSIX record lock, not flock(): it belongs to this process alone, so
                # extraction workers forked while it is held do not keep it alive after a
                # crash of the main process.
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                raise ArchiveLockedError(
                    f"{self.root}: another citearchive process (pid {holder}) is writing this "
                    "archive; wait for it to finish or use another --archive"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            recover_open_files(self.warc_dir)
            self._mark_interrupted()
            yield self
        finally:
            os.close(fd)

    # --- manifest -------------------------------------------------------------------------

    def sync_manifest(self, manifest: Manifest) -> None:
        """Make the manifest tables say what sources.toml says (captures are untouched)."""
        db = self.db
        with db.conn:
            _t(db, "documents").upsert_all(
                (
                    {"id": d.id, "title": d.title, "author": d.author, "publisher": d.publisher,
                     "published": d.published, "language": d.language, "url": d.url,
                     "file": str(d.file) if d.file else None}
                    for d in manifest.documents
                ),
                pk="id",
            )  # fmt: skip
            db.execute("UPDATE sources SET in_manifest = 0")
            _t(db, "sources").upsert_all(
                (
                    {"id": s.id, "document_id": s.document or None, "url": s.url,
                     "title": s.title, "publisher": s.publisher, "published": s.published,
                     "language": s.language, "notes": s.notes,
                     "alternates": json.dumps(list(s.alternates), ensure_ascii=False),
                     "resolved": int(s.resolved), "in_manifest": 1}
                    for s in manifest.sources
                ),
                pk="id",
            )  # fmt: skip
            for table in ("footnotes", "citations", "claims"):
                db.execute(f"DELETE FROM {table}")
            footnote_text = {(f.document, f.number): f.text for f in manifest.all_footnotes}
            _t(db, "footnotes").insert_all(
                {"document_id": f.document, "footnote": f.number, "text": f.text,
                 "accessed": f.accessed}
                for f in manifest.all_footnotes
            )  # fmt: skip
            _t(db, "citations").insert_all(
                (
                    {"document_id": s.document, "footnote": n, "source_id": s.id,
                     "text": footnote_text.get((s.document, n))}
                    for s in manifest.sources
                    for n in s.footnotes
                ),
                replace=True,
            )  # fmt: skip
            _t(db, "claims").insert_all(
                {"id": claim_id(c.document, c.index), "document_id": c.document,
                 "footnote": c.footnote, "position": c.index, "text": c.text}
                for c in manifest.claims
            )  # fmt: skip
            wanted = {
                quote_id(s.id, q): (s.id, i, q)
                for s in manifest.sources
                for i, q in enumerate(s.quotes, start=1)
            }
            existing = {row["id"] for row in _t(db, "quotes").rows}
            for qid in existing - set(wanted):  # kept with its anchoring context, marked
                _t(db, "quotes").update(qid, {"in_manifest": 0})
            for qid, (sid, pos, text) in wanted.items():
                if qid in existing:
                    _t(db, "quotes").update(qid, {"position": pos, "in_manifest": 1})
                else:
                    _t(db, "quotes").insert({"id": qid, "source_id": sid, "position": pos,
                                         "text": text, "in_manifest": 1})  # fmt: skip

    # --- runs -----------------------------------------------------------------------------

    def _mark_interrupted(self) -> None:
        """Runs that never finished were killed: with the lock held, no process runs them."""
        with self.db.conn:
            self.db.execute(
                "UPDATE runs SET interrupted_at = ? "
                "WHERE finished_at IS NULL AND interrupted_at IS NULL",
                [utcnow()],
            )

    def start_run(self, command: str, *, settings: dict[str, Any], user_agent: str | None) -> str:
        run_id = new_run_id()
        with self.db.conn:
            _t(self.db, "runs").insert(
                {"id": run_id, "command": command, "started_at": utcnow(),
                 "tool_version": __version__, "user_agent": user_agent,
                 "settings": json.dumps(settings, ensure_ascii=False)}
            )  # fmt: skip
        return run_id

    def finish_run(self, run_id: str, summary: dict[str, Any]) -> None:
        fields: dict[str, Any] = {
            "finished_at": utcnow(), "summary": json.dumps(summary, ensure_ascii=False)
        }  # fmt: skip
        (name,) = self.db.execute(
            "SELECT warc_filename FROM runs WHERE id = ?", [run_id]
        ).fetchone()
        if name and (self.warc_dir / name).is_file():  # closed: its size is final
            fields["warc_bytes"] = (self.warc_dir / name).stat().st_size
        with self.db.conn:
            _t(self.db, "runs").update(run_id, fields)

    def open_warc(self, run_id: str, *, level: int, info: dict[str, Any]) -> WarcFile:
        name = f"{run_id}.warc.gz"
        with self.db.conn:
            _t(self.db, "runs").update(run_id, {"warc_filename": name})
        return WarcFile(self.warc_dir, name, level=level, info=info)

    def warc_path(self, filename: str) -> Path:
        """The WARC file a captures row names, confined to this archive's warc/ folder."""
        return self.warc_dir / safe_warc_name(filename)

    # --- captures and checks --------------------------------------------------------------

    def insert_captures(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert capture rows in one transaction; return their ids.

        The ids are consecutive: ``id`` is an INTEGER PRIMARY KEY (new rowid = max + 1) and
        the caller holds the archive's write lock, so no other writer interleaves.
        """
        if not rows:
            return []
        with self.db.conn:
            (last,) = self.db.execute("SELECT coalesce(max(id), 0) FROM captures").fetchone()
            _t(self.db, "captures").insert_all(
                (_jsonify(r) for r in rows), batch_size=200, alter=False
            )
            ids = list(range(last + 1, last + 1 + len(rows)))
            _index_for_search(
                self.db,
                [(i, r.get("title"), r.get("text")) for i, r in zip(ids, rows, strict=True)],
            )
        return ids

    def insert_checks(self, rows: list[dict[str, Any]]) -> None:
        with self.db.conn:
            _t(self.db, "checks").insert_all(_jsonify(r) for r in rows)

    def captured_source_ids(self) -> set[str]:
        """Sources with at least one good capture: no error and not suspect (a geo-block
        notice or a captcha wall is kept as evidence of the block, but the next fetch tries
        again)."""
        return {
            row[0]
            for row in self.db.execute(
                "SELECT DISTINCT source_id FROM captures WHERE error IS NULL AND suspect IS NULL"
            ).fetchall()
        }

    def find_payload(self, source_id: str, payload_sha256: str) -> dict[str, Any] | None:
        """An earlier full (non-revisit) capture of this source with the same payload."""
        rows = list(
            self.db.query(
                "SELECT * FROM captures WHERE source_id = ? AND payload_sha256 = ? "
                "AND revisit_of IS NULL AND warc_filename IS NOT NULL ORDER BY id LIMIT 1",
                [source_id, payload_sha256],
            )
        )
        return rows[0] if rows else None


def safe_warc_name(filename: str) -> str:
    """A WARC file name from the database, refused if it could leave the warc/ folder."""
    if not filename or "/" in filename or "\\" in filename or filename.startswith("."):
        raise ArchiveError(f"unsafe WARC file name {filename!r} in the captures table")
    return filename


def _t(db: sqlite_utils.Database, name: str) -> sqlite_utils.db.Table:
    """A table of the archive (typed: ``db[name]`` may also be a view)."""
    return db.table(name)


def claim_id(document_id: str, position: int) -> str:
    return f"{document_id}:{position}"


def _jsonify(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
        for k, v in row.items()
    }
