"""Full-text search over archived text, in Japanese, Russian and English.

One search, used by the CLI and by Datasette alike (the plugin registers the same
SQL functions and runs the same ``SEARCH_SQL``; the CLI runs it step by step to stop early):

- A capture is a hit when every term of the query is a substring of its title or text,
  both in *match form*: Unicode NFKC, ё→е, case folded. A page writing ＮＡＴＯ in
  full-width letters or ｶﾀｶﾅ in half-width forms is found by NATO and カタカナ.
- The index (:mod:`.searchindex`) answers every term without scanning: terms of three or
  more characters from the trigram table ``captures_fts``, terms of one or two characters
  (most Japanese words: 停戦, 会談) from the bigram table ``captures_grams``. Each candidate
  is then confirmed against its text in match form, so the hits are exactly those of a
  brute-force folded substring scan: no false hits, none missed.
- Russian and English words are reduced to their Snowball stem before matching, so
  «переговоры» finds «переговорах» and "negotiations" finds "negotiating" (the shared
  prefix of word and stem is searched, so "policy" finds "policies").

Terms are ANDed; "double quotes" keep a phrase together.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MIN_TRIGRAM = 3
_CYRILLIC = re.compile(r"^[\u0400-\u04ff]+$")
_LATIN = re.compile(r"^[A-Za-z]+$")


def fold(text: str | None) -> str:
    """The form text is indexed and matched in: NFKC (full-width/half-width forms, ligatures)
    with ё written е, as Russian usually does. Case is left to the index (case-insensitive)."""
    # str.replace, not str.translate: ~20x faster on article-length text
    return unicodedata.normalize("NFKC", text or "").replace("ё", "е").replace("Ё", "Е")


@lru_cache(maxsize=4)
def _stemmer(language: str) -> Any:
    import snowballstemmer  # imported when a word needs it: it loads every language's stemmer

    return snowballstemmer.stemmer(language)


def terms(query: str) -> list[str]:
    """Split a query into terms: quoted phrases stay whole; words are stemmed where useful."""
    query = fold(query)
    out: list[str] = []
    for phrase, word in re.findall(r'"([^"]+)"|(\S+)', query):
        term = (phrase or word).strip()
        if not term:
            continue
        if word:
            term = _stem(term)
        out.append(term)
    return out


def _stem(word: str) -> str:
    lowered = word.lower()
    if len(lowered) >= 5 and _CYRILLIC.match(lowered):
        stem = _stemmer("russian").stemWord(lowered)
    elif len(lowered) >= 5 and _LATIN.match(lowered):
        stem = _stemmer("english").stemWord(lowered)
    else:
        return word
    # Snowball may rewrite an ending ("policy" -> "polici"): the part the word and its stem
    # share is what every inflected form still contains.
    stem = os.path.commonprefix([lowered, stem])  # noqa: RUF071 - characters are what we want
    return stem if len(stem) >= MIN_TRIGRAM + 1 else word


def match_form(text: str | None) -> str:
    """Text as the index holds it and search compares it: folded, then case folded."""
    return fold(text).casefold()


@lru_cache(maxsize=64)
def match_terms(query: str) -> tuple[str, ...]:
    """The query's terms in match form, each once."""
    return tuple(dict.fromkeys(t for t in (term.casefold() for term in terms(query)) if t))


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def grams_expression(query: str) -> str:
    """FTS5 MATCH expression for ``captures_grams``: the terms of one or two characters as
    the index writes them (see :mod:`.searchindex`); '' when there is none."""
    short = [t for t in match_terms(query) if len(t) < MIN_TRIGRAM]
    return " AND ".join(_quote("\x1f".join(t) if len(t) == 2 else f"\x1f{t}\x1f") for t in short)


def confirm(title: str | None, text: str | None, query: str) -> int:
    """1 when every term of ``query`` is a substring of the title or text in match form:
    the definition of a hit, which the index only narrows down."""
    wanted = match_terms(query)
    if not wanted or text is None:
        return 0
    title_m, text_m = match_form(title), match_form(text)
    return int(all(t in text_m or t in title_m for t in wanted))


def register_functions(conn: sqlite3.Connection) -> None:
    """Make ``citearchive_fts(q)``, ``citearchive_grams(q)`` and
    ``citearchive_confirm(title, text, q)`` available to SQL."""
    conn.create_function("citearchive_fts", 1, lambda q: fts_expression(q or ""),
                         deterministic=True)  # fmt: skip
    conn.create_function("citearchive_grams", 1, lambda q: grams_expression(q or ""),
                         deterministic=True)  # fmt: skip
    for name in ("citearchive_confirm", "citearchive_short_match"):  # the old name too
        conn.create_function(name, 3, lambda a, b, q: confirm(a, b, q or ""), deterministic=True)


SEARCH_WHERE = """
captures.text is not null
  and (
    citearchive_fts(:q) = ''
    or captures.id in (
      select rowid from captures_fts where captures_fts match citearchive_fts(:q)
    )
  )
  and (
    citearchive_grams(:q) = ''
    or captures.id in (
      select rowid from captures_grams where captures_grams match citearchive_grams(:q)
    )
  )
  and citearchive_confirm(captures.title, captures.text, :q)
"""

SEARCH_SQL = f"""
select
  captures.id as capture_id, captures.source_id, sources.title as source_title,
  captures.url, captures.fetched_at, captures.title, captures.language, captures.text
from captures
left join sources on sources.id = captures.source_id
where {SEARCH_WHERE.strip()}
order by captures.fetched_at desc, captures.id desc
limit :limit
"""


def search_where(param: str) -> str:
    """The search condition on ``captures`` with the query in the named SQL parameter (for
    the captures table's search box in Datasette)."""
    return SEARCH_WHERE.strip().replace(":q", param)


@dataclass(frozen=True)
class SearchHit:
    capture_id: int
    source_id: str
    source_title: str | None
    url: str | None
    fetched_at: str | None
    title: str | None
    language: str | None
    snippet: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def snippet(text: str, query: str, width: int = 60) -> str:
    """The text around the first term found, for display (in the folded form the match was
    made in, so ＮＡＴＯ shows as NATO)."""
    text = fold(text)
    return _snippet(text, text.casefold(), query, width)


def _snippet(text: str, folded: str, query: str, width: int = 60) -> str:
    for term in terms(query):
        at = folded.find(term.casefold())
        if at >= 0:
            start, end = max(0, at - width), min(len(text), at + len(term) + width)
            core = " ".join(text[start:end].split())
            return ("…" if start else "") + core + ("…" if end < len(text) else "")
    return " ".join(text[: 2 * width].split())


# Candidate sets up to this size are sorted by SQLite; larger ones are met by walking the
# captures newest first (an index-only scan) until ``limit`` are confirmed.
SORT_AT_MOST = 2000

_ROW_SQL = """
select captures.id, captures.source_id, sources.title, captures.url, captures.fetched_at,
  captures.title, captures.language, captures.text
from captures left join sources on sources.id = captures.source_id
where captures.id = ?
"""


def fts_expression(query: str) -> str:
    """FTS5 MATCH expression for ``captures_fts`` ('' when no term has three characters or
    more): each such term by a few of its trigrams, all of which must occur (the term itself
    is confirmed later): the first, middle and last of its longest word and the middle one
    of its second longest. Trigrams across words, and of short words ("the", "he "), are
    the most common: reading their document lists would cost more than the search."""
    parts: list[str] = []
    for term in match_terms(query):
        if len(term) < MIN_TRIGRAM:
            continue
        words = sorted((w for w in re.findall(r"\w{3,}", term)), key=len, reverse=True) or [term]
        chosen = dict.fromkeys(_trigrams(words[0], 0, len(words[0]) // 2 - 1, -1))
        if len(words) > 1:
            chosen.update(dict.fromkeys(_trigrams(words[1], len(words[1]) // 2 - 1)))
        parts.extend(_quote(g) for g in chosen)
    return " AND ".join(parts)


def _trigrams(word: str, *starts: int) -> list[str]:
    grams = [word[i : i + 3] for i in range(len(word) - 2)]
    return [grams[max(0, min(s, len(grams) - 1)) if s >= 0 else s] for s in starts]


def candidates(conn: sqlite3.Connection, query: str) -> set[int]:
    """Ids of the captures the index finds for every term (a superset of the hits)."""
    found: set[int] | None = None
    for table, expression in (
        ("captures_grams", grams_expression(query)),
        ("captures_fts", fts_expression(query)),
    ):
        if not expression:
            continue
        sql = f"SELECT rowid FROM {table} WHERE {table} MATCH ?"
        ids = {r for (r,) in conn.execute(sql, (expression,))}
        found = ids if found is None else found & ids
        if not found:
            return set()
    return found or set()


def _newest_first(conn: sqlite3.Connection, ids: set[int]) -> Iterator[int]:
    if len(ids) <= SORT_AT_MOST:
        sql = (
            "SELECT id FROM captures WHERE id IN (SELECT value FROM json_each(?)) "
            "ORDER BY fetched_at DESC, id DESC"
        )
        for (cid,) in conn.execute(sql, (json.dumps(sorted(ids)),)):
            yield cid
        return
    for (cid,) in conn.execute("SELECT id FROM captures ORDER BY fetched_at DESC, id DESC"):
        if cid in ids:
            yield cid


def search(conn: sqlite3.Connection, query: str, *, limit: int = 20) -> list[SearchHit]:
    """Captures whose title or text contains every term of ``query``, newest first.

    The index gives the candidates; they are taken newest first and confirmed one by one
    (see :func:`confirm`) until ``limit`` hits are found."""
    if not match_terms(query):
        return []
    wanted = match_terms(query)
    hits: list[SearchHit] = []
    for cid in _newest_first(conn, candidates(conn, query)):
        r = conn.execute(_ROW_SQL, (cid,)).fetchone()
        if r is None or r[7] is None:
            continue
        text = fold(r[7])  # what confirm() does, kept for the snippet
        text_m, title_m = text.casefold(), match_form(r[5])
        if not all(t in text_m or t in title_m for t in wanted):
            continue
        hits.append(
            SearchHit(
                capture_id=r[0], source_id=r[1], source_title=r[2], url=r[3],
                fetched_at=r[4], title=r[5], language=r[6],
                snippet=_snippet(text, text_m, query),
            )
        )  # fmt: skip
        if len(hits) >= limit:
            break
    return hits
