"""The evidence dossier: the commentary in reading order, the proof beside every claim.

:func:`dossier_data` reads one document out of the archive's SQLite index — its claims in
order, each claim's footnote and cited sources, each source's newest good capture, the quote
anchors of the ``checks`` table (the stored W3C TextQuoteSelector: matched passage, prefix,
suffix) and the verdicts — into a :class:`Dossier` of plain values. It takes a bare
``sqlite3`` connection, so ``citearchive export dossier`` (:func:`.dossier.export_dossier`, a static
folder that works from ``file://``) and the Datasette page ``/-/citearchive/document/<id>``
(:mod:`citearchive.browse.document_page`) show the same thing; :mod:`.dossier_render` turns it
into HTML.

Each cited source gets a card whose verdicts (worst first) are one of :data:`VERDICTS`. Only
stored facts are read: verdicts come from the newest ``verify`` run, never recomputed here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..archive.views import FINISHED
from ..errors import UsageError
from .dossier_extras import optional_screenshot, optional_timestamp

PASSAGE_CHARS = 300  # archived text shown around a quote, quote included
MIN_SIDE_CHARS = 60  # at least this much on each side of a long quote
OPENING_CHARS = 300  # a source without quotes: the opening of its archived text

# Verdict of a card, worst first; the kind decides the badge colour and the summary's advice.
VERDICTS: dict[str, str] = {
    "no-source": "bad",  # the footnote cites no source
    "unresolved": "bad",  # the source has no URL
    "never-captured": "bad",  # no good capture (never tried, failed, or suspect)
    "fixity-failed": "bad",  # the archived bytes no longer match their hash
    "quote-not-found": "bad",  # a quote is not in the archived text
    "quote-not-live": "warn",  # a quote is in the capture but no longer on the live page
    "web-archive": "warn",  # the evidence is a web archive's copy, not the original
    "quote-approximate": "warn",  # a quote matched only approximately
    "not-verified": "warn",  # verify has not checked this yet
    "quote-found": "good",
    "traceable": "good",  # captured; no quote to check
}
_WS = re.compile(r"\s+")


@dataclass
class Quote:
    """One quote of a source and where it stands in the archived text."""

    id: str
    text: str
    outcome: str | None  # found / approximate / not-found / no-capture; None: not checked
    score: float | None = None
    live: str | None = None  # the newest live-quote outcome, if any
    capture_id: int | None = None  # the capture the passage comes from
    before: str = ""  # the passage: before + matched + after (whitespace folded)
    matched: str | None = None  # None: the passage could not be located
    after: str = ""
    checked_at: str | None = None


@dataclass
class Card:
    """The evidence for one cited source."""

    source_id: str
    title: str | None
    publisher: str | None
    published: str | None
    url: str | None
    language: str | None
    verdicts: list[str]  # worst first; verdicts[0] is the badge
    capture: dict[str, Any] | None = None  # the newest good capture (text left out)
    last_attempt: str | None = None  # why the newest attempt failed, when none is good
    quotes: list[Quote] = field(default_factory=list)
    opening: str | None = None  # no quotes: the opening of the archived text
    timestamp: dict[str, Any] | None = None  # issue 13, when the archive has timestamps
    screenshot: dict[str, Any] | None = None  # issue 12, when captures have screenshots

    @property
    def verdict(self) -> str:
        return self.verdicts[0]


@dataclass
class Claim:
    """A claim of the commentary, its footnote, and the evidence of each cited source."""

    id: str
    position: int
    footnote: int
    text: str
    citation: str | None  # the footnote as printed
    cards: list[Card]
    traceability: str | None = None  # the newest traceability check: ok / failed
    verified_at: str | None = None
    # passages `citearchive suggest` proposed and nobody applied yet: never quotes
    suggestions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def verdicts(self) -> list[str]:
        return [c.verdict for c in self.cards] or ["no-source"]


@dataclass
class Dossier:
    """One document and its evidence, ready to render (or to print as JSON)."""

    document: dict[str, Any]
    claims: list[Claim]
    generated_at: str

    def summary(self) -> dict[str, Any]:
        """Claims, traceable claims, quotes anchored, claims needing attention by kind."""
        quotes = {q.id: q for c in self.claims for card in c.cards for q in card.quotes}
        attention: dict[str, list[str]] = {}
        for claim in self.claims:
            for kind in dict.fromkeys(v for card in claim.cards for v in card.verdicts):
                if VERDICTS[kind] != "good":
                    attention.setdefault(kind, []).append(claim.id)
            if not claim.cards:
                attention.setdefault("no-source", []).append(claim.id)
        order = list(VERDICTS)
        return {
            "claims": len(self.claims),
            "traceable": sum(1 for c in self.claims if _traceable(c)),
            "quotes": len(quotes),
            "quotes_anchored": sum(
                1 for q in quotes.values() if q.outcome in ("found", "approximate")
            ),
            "needing_attention": len({cid for ids in attention.values() for cid in ids}),
            "attention": dict(sorted(attention.items(), key=lambda kv: order.index(kv[0]))),
        }

    def to_dict(self) -> dict[str, Any]:
        claims = [
            {**asdict(c), "verdicts": c.verdicts,
             "cards": [{**asdict(k), "verdict": k.verdict} for k in c.cards]}
            for c in self.claims
        ]  # fmt: skip
        for claim in claims:
            for card in claim["cards"]:
                if card["screenshot"]:
                    card["screenshot"] = {k: v for k, v in card["screenshot"].items()
                                          if k != "png"}  # fmt: skip
        return {"document": self.document, "generated_at": self.generated_at,
                "summary": self.summary(), "claims": claims}  # fmt: skip


def _traceable(claim: Claim) -> bool:
    return bool(claim.cards) and all(
        c.capture is not None and "fixity-failed" not in c.verdicts for c in claim.cards
    )


# --- reading the archive -------------------------------------------------------------------


def document_ids(conn: sqlite3.Connection | _RowReader) -> list[str]:
    """The archive's documents that have claims, in id order."""
    sql = "SELECT id FROM documents WHERE id IN (SELECT document_id FROM claims) ORDER BY id"
    return [r[0] for r in conn.execute(sql)]


def dossier_data(
    conn: sqlite3.Connection, document_id: str, *, warc_dir: Path | None = None
) -> Dossier:
    """Everything the dossier of ``document_id`` shows, read from the archive index.

    ``warc_dir`` (the archive's ``warc/`` folder) is needed only to read screenshots.
    Raises :class:`UsageError` when the archive has no such document.
    """
    db = _RowReader(conn)
    found = db.execute("SELECT * FROM documents WHERE id = ?", [document_id]).fetchone()
    if found is None:
        known = ", ".join(document_ids(db)) or "none"
        raise UsageError(f"no document {document_id!r} in the archive (documents: {known})")
    document = dict(found)
    notes = {r["footnote"]: r["text"] for r in db.execute(
        "SELECT footnote, text FROM footnotes WHERE document_id = ?", [document_id])}  # fmt: skip
    cards: dict[str, Card] = {}
    claims = []
    for row in db.execute(
        "SELECT * FROM claims WHERE document_id = ? ORDER BY position, id", [document_id]
    ).fetchall():
        cited = db.execute(
            "SELECT source_id, text FROM citations WHERE document_id = ? AND footnote = ? "
            "ORDER BY source_id",
            [document_id, row["footnote"]],
        ).fetchall()
        for c in cited:
            if c["source_id"] not in cards and (card := _card(db, c["source_id"], warc_dir)):
                cards[c["source_id"]] = card
        trace = _latest(db, "traceability", f"claim:{row['id']}")
        claims.append(
            Claim(
                id=row["id"], position=row["position"], footnote=row["footnote"],
                text=row["text"] or "",
                citation=notes.get(row["footnote"]) or next((c["text"] for c in cited), None),
                cards=[cards[c["source_id"]] for c in cited if c["source_id"] in cards],
                traceability=trace["outcome"] if trace else None,
                verified_at=trace["checked_at"] if trace else None,
                suggestions=_suggestions(db, row["id"]),
            )
        )  # fmt: skip
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return Dossier(document, claims, now)


def _suggestions(db: Any, claim_id: str) -> list[dict[str, Any]]:
    """The top passages suggested for a claim and not applied (none before `suggest` ran)."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'suggestions'").fetchone():
        return []
    rows = db.execute(
        "SELECT rank, source_id, capture_id, passage, score, language FROM suggestions "
        "WHERE claim_id = ? AND coalesce(applied, 0) = 0 ORDER BY rank LIMIT 3",
        [claim_id],
    ).fetchall()
    return [dict(zip(("rank", "source_id", "capture_id", "passage", "score", "language"),
                     tuple(r), strict=True)) for r in rows]  # fmt: skip


class _RowReader:
    """A connection's ``execute`` with rows by name, leaving the connection's own
    ``row_factory`` alone (Datasette shares its connections)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        cursor = self._conn.cursor()
        cursor.row_factory = sqlite3.Row
        return cursor.execute(sql, params)


def _latest(conn: _RowReader, kind: str, subject: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        f"SELECT * FROM checks WHERE kind = ? AND subject = ? AND {FINISHED} "
        "ORDER BY checked_at DESC, id DESC LIMIT 1",
        [kind, subject],
    ).fetchone()
    return row


def _card(conn: _RowReader, source_id: str, warc_dir: Path | None) -> Card | None:
    src = conn.execute("SELECT * FROM sources WHERE id = ?", [source_id]).fetchone()
    if src is None:
        return None
    card = Card(
        source_id=source_id, title=src["title"], publisher=src["publisher"],
        published=src["published"], url=src["url"] or None, language=src["language"],
        verdicts=[],
    )  # fmt: skip
    good = conn.execute(
        "SELECT * FROM captures WHERE source_id = ? AND error IS NULL AND suspect IS NULL "
        "AND text IS NOT NULL ORDER BY fetched_at DESC, id DESC LIMIT 1",
        [source_id],
    ).fetchone()
    text = ""
    if good is not None:
        card.capture = {k: good[k] for k in good.keys() if k != "text"}  # noqa: SIM118 (a Row)
        card.capture["language"] = good["language"] or src["language"]
        text = good["text"] or ""
    else:
        card.last_attempt = _last_attempt(conn, source_id)
    quotes = conn.execute("SELECT * FROM quotes WHERE source_id = ? ORDER BY position",
                          [source_id]).fetchall()  # fmt: skip
    card.quotes = [_quote(conn, q, good, text) for q in quotes]
    if good is not None and not card.quotes:
        opening = _fold(text[: OPENING_CHARS * 2])
        card.opening = opening[:OPENING_CHARS] + ("…" if len(opening) > OPENING_CHARS else "")
    if good is not None:
        card.timestamp = optional_timestamp(conn, good)
        card.screenshot = optional_screenshot(conn, good, warc_dir)
    card.verdicts = _verdicts(conn, card)
    return card


def _last_attempt(conn: _RowReader, source_id: str) -> str | None:
    row = conn.execute(
        "SELECT fetched_at, status_code, error, suspect FROM captures WHERE source_id = ? "
        "ORDER BY fetched_at DESC, id DESC LIMIT 1",
        [source_id],
    ).fetchone()
    if row is None:
        return None
    why = row["error"] or (f"suspect: {row['suspect']}" if row["suspect"] else "no text")
    status = f"HTTP {row['status_code']}, " if row["status_code"] else ""
    return f"{row['fetched_at']}: {status}{why}"


def _quote(conn: _RowReader, q: sqlite3.Row, good: sqlite3.Row | None, text: str) -> Quote:
    check = _latest(conn, "quote", f"quote:{q['id']}")
    live = _latest(conn, "live-quote", f"quote:{q['id']}")
    detail = _json(check["detail"]) if check else {}
    out = Quote(
        id=q["id"], text=q["text"], outcome=check["outcome"] if check else None,
        score=detail.get("score"), live=live["outcome"] if live else None,
        checked_at=check["checked_at"] if check else None,
    )  # fmt: skip
    cid = check["capture_id"] if check and check["capture_id"] else None
    if cid is not None and (good is None or cid != good["id"]):
        row = conn.execute("SELECT text FROM captures WHERE id = ?", [cid]).fetchone()
        text = (row["text"] if row else None) or ""
    elif good is not None:
        cid = good["id"]
    if out.outcome in ("not-found", "no-capture") or not text:
        return out
    matched = detail.get("matched") or q["text"]  # unchecked: look for the quote as written
    prefix = detail.get("prefix") or q["prefix"] or ""
    pieces = passage(text, matched, prefix)
    if pieces is not None:
        out.before, out.matched, out.after = pieces
        out.capture_id = cid
    return out


def _json(value: Any) -> dict[str, Any]:
    try:
        data = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _verdicts(conn: _RowReader, card: Card) -> list[str]:
    if not card.url:
        return ["unresolved"]
    if card.capture is None:
        return ["never-captured"]
    found: set[str] = set()
    fixity = _latest(conn, "fixity", f"capture:{card.capture['id']}")
    if fixity is not None and fixity["outcome"] == "failed":
        found.add("fixity-failed")
    outcomes = {q.outcome for q in card.quotes}
    if outcomes & {"not-found", "no-capture"}:
        found.add("quote-not-found")
    if any(q.live == "not-found" for q in card.quotes):
        found.add("quote-not-live")
    if card.capture.get("method") == "memento":
        found.add("web-archive")
    if "approximate" in outcomes:
        found.add("quote-approximate")
    if None in outcomes:
        found.add("not-verified")
    if card.quotes and outcomes <= {"found", "approximate"}:
        found.add("quote-found")
    if not card.quotes:
        found.add("traceable")
    return [v for v in VERDICTS if v in found]


# --- the passage around a quote ------------------------------------------------------------


def _fold(text: str) -> str:
    return _WS.sub(" ", text).strip()


def passage(
    text: str, matched: str, prefix: str = "", width: int = PASSAGE_CHARS
) -> tuple[str, str, str] | None:
    """``(before, matched, after)``: about ``width`` characters of ``text`` around the
    occurrence of ``matched`` whose preceding text best fits ``prefix`` (whitespace
    folded, "…" where the text was cut), or None when ``matched`` is not in ``text``."""
    hits = [m.start() for m in re.finditer(re.escape(matched), text)] if matched else []
    if not hits:
        return None
    want = _fold(prefix)

    def fit(at: int) -> int:  # characters of the stored prefix that precede this hit
        before = _fold(text[max(0, at - 2 * len(want) - 16) : at])
        n = 0
        while n < min(len(before), len(want)) and before[-1 - n] == want[-1 - n]:
            n += 1
        return n

    at = max(hits, key=lambda h: (fit(h), -h)) if len(hits) > 1 and want else hits[0]
    end = at + len(matched)
    side = max(MIN_SIDE_CHARS, (width - len(_fold(matched))) // 2)
    start, stop = max(0, at - side), min(len(text), end + side)
    before = _WS.sub(" ", text[start:at]).lstrip()
    after = _WS.sub(" ", text[end:stop]).rstrip()
    return (
        ("…" if start > 0 else "") + before,
        _WS.sub(" ", matched),
        after + ("…" if stop < len(text) else ""),
    )
