"""The evidence dossier: the commentary in reading order, the proof beside every claim.

:func:`dossier_data` reads one document out of the archive's SQLite index — its claims in
order, each claim's footnote and cited sources, each source's newest good capture, the quote
anchors of the ``checks`` table (the stored W3C TextQuoteSelector: matched passage, prefix,
suffix) and the verdicts — into a :class:`Dossier` of plain values. It takes a bare
``sqlite3`` connection, so ``citearchive export dossier`` (:func:`export_dossier`, a static
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

from ..archive.store import DB_NAME, WARC_DIR, Archive
from ..errors import UsageError

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
            )
        )  # fmt: skip
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return Dossier(document, claims, now)


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
        "SELECT * FROM checks WHERE kind = ? AND subject = ? "
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


# --- optional evidence: wired when the archive has it -------------------------------------
# Issue 13 adds a ``timestamps`` table (run, TSA, time, serial, token hash) and issue 12 a
# screenshot per browser capture (its SHA-256 in ``captures``, the PNG a WARC resource
# record). Both are read only when the archive has them; the lead may narrow the column
# names below to the ones those issues settle on.

_TS_RUN = ("run_id", "run")
_TS_TSA = ("tsa", "tsa_name", "tsa_url")
_TS_TIME = ("gen_time", "timestamped_at", "time")


def _columns(conn: _RowReader, table: str) -> list[str]:
    return [r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", [table])]


def optional_timestamp(conn: _RowReader, capture: sqlite3.Row) -> dict[str, Any] | None:
    """The trusted timestamp of the capture's run, when the archive has a timestamps table."""
    cols = _columns(conn, "timestamps")
    run = next((c for c in _TS_RUN if c in cols), None)
    if run is None or not capture["run_id"]:
        return None
    row = conn.execute(
        f'SELECT * FROM timestamps WHERE "{run}" = ? LIMIT 1', [capture["run_id"]]
    ).fetchone()
    if row is None:
        return None
    pick = lambda names: next((row[c] for c in names if c in cols and row[c]), None)  # noqa: E731
    return {"tsa": pick(_TS_TSA), "time": pick(_TS_TIME)}


def optional_screenshot(
    conn: _RowReader, capture: sqlite3.Row, warc_dir: Path | None
) -> dict[str, Any] | None:
    """The capture's screenshot (PNG bytes and SHA-256) when captures have a
    ``screenshot_sha256`` column: the resource record in the capture's WARC file whose
    payload has that digest."""
    if "screenshot_sha256" not in capture.keys():  # noqa: SIM118 (a Row)
        return None
    if not capture["screenshot_sha256"]:
        return None
    if warc_dir is None or not capture["warc_filename"]:
        return None
    import hashlib

    from warcio.archiveiterator import ArchiveIterator

    path = warc_dir / capture["warc_filename"]
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type != "resource":
                continue
            body = record.content_stream().read()
            if hashlib.sha256(body).hexdigest() == capture["screenshot_sha256"]:
                return {"sha256": capture["screenshot_sha256"], "png": body}
    return None


# --- the static export ---------------------------------------------------------------------


@dataclass
class DossierExport:
    """What :func:`export_dossier` wrote."""

    output: Path
    pages: dict[str, Path]  # document id -> its HTML page
    summaries: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output),
                "documents": {d: {"page": str(p), "summary": self.summaries[d]}
                              for d, p in self.pages.items()}}  # fmt: skip


def export_dossier(
    archive_root: str | Path,
    output: str | Path,
    *,
    document_id: str | None = None,
    lang: str | None = None,
    base_url: str | None = None,
) -> DossierExport:
    """Write the dossier of each document (or of ``document_id``) into folder ``output``:
    ``<document>.html`` (styles inline), ``index.html``, ``captures/<id>.html`` (the
    archived text of each cited capture, when no ``base_url``) and ``screenshots/``."""
    from .dossier_render import render_capture_text, render_dossier, render_index

    archive = Archive.open(archive_root, create=False)
    out = Path(output)
    try:
        conn = archive.db.conn
        ids = [document_id] if document_id else document_ids(conn)
        if not ids:
            raise UsageError(f"{archive.root / DB_NAME}: no document with claims to export")
        dossiers = [dossier_data(conn, d, warc_dir=archive.root / WARC_DIR) for d in ids]
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{out}: cannot create the output folder ({exc.strerror})") from None
        pages, summaries = {}, {}
        for d in dossiers:
            doc_id = str(d.document["id"])
            links = StaticLinks(out, base_url)
            page = out / f"{file_stem(doc_id)}.html"
            page.write_text(render_dossier(d, lang=lang, links=links), encoding="utf-8")
            if base_url is None:
                for card in {c.source_id: c for cl in d.claims for c in cl.cards}.values():
                    if card.capture is not None:
                        links.write_capture(card, conn, render_capture_text, d, lang)
            pages[doc_id], summaries[doc_id] = page, d.summary()
        (out / "index.html").write_text(render_index(dossiers, pages, lang=lang),
                                        encoding="utf-8")  # fmt: skip
    finally:
        archive.close()
    return DossierExport(out, pages, summaries)


def file_stem(doc_id: str) -> str:
    return re.sub(r"[^\w.-]", "_", doc_id) or "document"


class StaticLinks:
    """Where the static dossier's links point: files in the folder, or ``base_url``."""

    def __init__(self, out: Path, base_url: str | None) -> None:
        self.out, self.base_url = out, base_url.rstrip("/") if base_url else None

    def capture(self, capture_id: int) -> str:
        if self.base_url:
            return f"{self.base_url}/-/citearchive/capture/{capture_id}"
        return f"captures/{capture_id}.html"

    home_label = "contents"

    def home(self) -> str | None:
        return "index.html"

    def screenshot(self, card: Card) -> str | None:
        shot = card.screenshot
        if not shot or card.capture is None:
            return None
        name = f"screenshots/{card.capture['id']}.png"
        (self.out / "screenshots").mkdir(exist_ok=True)
        (self.out / name).write_bytes(shot["png"])
        return name

    def write_capture(
        self, card: Card, conn: sqlite3.Connection, render: Any, d: Dossier, lang: str | None
    ) -> None:
        assert card.capture is not None
        row = conn.execute("SELECT text FROM captures WHERE id = ?", [card.capture["id"]])
        text = row.fetchone()[0] or ""
        (self.out / "captures").mkdir(exist_ok=True)
        back = f"../{file_stem(str(d.document['id']))}.html"
        html = render(card, text, d, lang=lang, back=back)
        (self.out / "captures" / f"{card.capture['id']}.html").write_text(html, encoding="utf-8")
