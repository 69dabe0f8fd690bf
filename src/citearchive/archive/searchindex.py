"""The search index: two FTS5 tables over every capture's title and text, in match form.

Match form is ``search.fold`` then ``str.casefold``: NFKC, ё→е, case folded. A query term is
found in a capture when it is a substring of the capture's title or text in match form;
the index narrows the captures to check, then ``search`` confirms each one against that
rule, so a search gives exactly the hits of a brute-force folded substring scan.

- ``captures_fts`` (trigram tokenizer, ``detail=none``): terms of three or more characters,
  by a few of their trigrams (see ``search.fts_expression``). Document lists only, no
  positions: a phrase query would read the positions of every trigram of the term, and
  "the" occurs in every English text; the confirmation step does what positions would.
- ``captures_grams`` (trigram tokenizer, ``detail=none``: document lists only, no positions):
  terms of one or two characters, which a trigram index cannot see (停戦, 会談, ЕС). The text is
  written with a separator between every two characters, ``\\x1fа\\x1fб\\x1fв\\x1f``, so
  that its trigrams are exactly ``a\\x1fb`` for every adjacent pair (a bigram) and
  ``\\x1fa\\x1f`` for every character. This is the bigram index of Lucene's CJK analyzer or
  Groonga's default tokenizer, kept by FTS5 itself, for every script: a two-character term
  is one index look-up, never a scan. ``\\x1f`` is whitespace to Python, so no one- or
  two-character query term contains it.

Both tables are contentless (``content=''``): they hold the index, not a second copy of the
text. Captures are only ever inserted; :func:`rebuild` rewrites the whole index (``citearchive
reindex``), for rows that were inserted with SQL or after an upgrade.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ArchiveError
from .search import match_form

SEP = "\x1f"
BATCH = 500

CREATE_SQL = """
CREATE VIRTUAL TABLE IF NOT EXISTS captures_fts USING fts5(
    title, text, content='', detail='none', tokenize='trigram'
);
CREATE VIRTUAL TABLE IF NOT EXISTS captures_grams USING fts5(
    grams, content='', detail='none', tokenize='trigram'
);
CREATE INDEX IF NOT EXISTS captures_fetched_at_id ON captures(fetched_at, id);
"""


def grams(title: str, text: str) -> str:
    """The ``captures_grams`` value of a capture whose title and text are in match form: a
    separator between every two characters (a newline between title and text: no bigram
    spans them)."""
    return SEP + SEP.join(f"{title}\n{text}") + SEP


def index_rows(conn: sqlite3.Connection, rows: Iterable[Sequence[Any]]) -> int:
    """Add ``(id, title, text)`` rows to both tables (rows without text are skipped, as search
    skips them); return how many were indexed. The caller holds the transaction."""
    fts: list[tuple[Any, str, str]] = []
    bi: list[tuple[Any, str]] = []
    for cid, title, text in rows:
        if text is None:
            continue
        title, text = match_form(title), match_form(text)  # folded once, for both tables
        fts.append((cid, title, text))
        bi.append((cid, grams(title, text)))
    conn.executemany("INSERT INTO captures_fts(rowid, title, text) VALUES (?, ?, ?)", fts)
    conn.executemany("INSERT INTO captures_grams(rowid, grams) VALUES (?, ?)", bi)
    return len(fts)


def rebuild(conn: sqlite3.Connection, progress: Callable[[int, int], None] | None = None) -> int:
    """Drop and rebuild the whole search index from ``captures`` in one transaction; call
    ``progress(done, total)`` after each batch. Return the number of captures indexed."""
    (total,) = conn.execute("SELECT count(*) FROM captures").fetchone()
    indexed = done = 0
    in_tx = conn.in_transaction
    if not in_tx:
        conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DROP TABLE IF EXISTS captures_fts")
        conn.execute("DROP TABLE IF EXISTS captures_grams")
        create_tables(conn)
        if progress:
            progress(0, total)
        cursor = conn.execute("SELECT id, title, text FROM captures ORDER BY id")
        while batch := cursor.fetchmany(BATCH):
            indexed += index_rows(conn, batch)
            done += len(batch)
            if progress:
                progress(done, total)
        if not in_tx:
            conn.execute("COMMIT")
    except BaseException:
        if not in_tx:
            conn.execute("ROLLBACK")
        raise
    return indexed


def create_tables(conn: sqlite3.Connection) -> None:
    """Create the index tables if missing (statement by statement: executescript would
    commit the caller's transaction)."""
    for statement in CREATE_SQL.split(";"):
        if statement.strip():
            conn.execute(statement)


# --- the read path ----------------------------------------------------------------------

DB_NAME = "citearchive.db"  # store.DB_NAME (store imports sqlite-utils, which the read path avoids)
MIGRATION = "007_issue11_search_grams"


def connect(root: str | Path) -> sqlite3.Connection:
    """A read-only connection to an archive's database, with plain sqlite3 (quick to start:
    no sqlite-utils, which loads numpy), for ``search`` and ``status``. An archive whose
    index predates ``MIGRATION`` is opened once through ``Archive.open``, which migrates
    it, then read as usual."""
    path = Path(root) / DB_NAME
    if not path.is_file():
        raise ArchiveError(f"{root}: no archive here (no {DB_NAME}); run `citearchive fetch` first")
    try:
        conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)
        done = conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (MIGRATION,)).fetchone()
    except sqlite3.DatabaseError as exc:
        raise ArchiveError(f"{path}: not a citearchive database ({exc})") from None
    if done is None:
        conn.close()
        from .store import Archive

        Archive.open(root, create=False).close()
        conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)
    return conn
