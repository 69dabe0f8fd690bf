"""What Datasette shows about an archive: titles, descriptions, column labels, canned
queries. Plain data, used by :mod:`.serve` (the metadata) and :mod:`.plugin` (the canned
queries, for a ``datasette archive/citearchive.db`` started without ``citearchive serve``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import markupsafe

from .. import __version__
from ..archive.search import SEARCH_SQL
from ..archive.store import DB_NAME

DATABASE_NAME = Path(DB_NAME).stem  # Datasette names a database after its file
SEARCH_LIMIT = 100
DATASETTE_SETTINGS = {
    "sql_time_limit_ms": 3000,
    "truncate_cells_html": 600,  # captures.text is whole articles
}

QUERY_CLAIMS = "claims_and_their_evidence"
QUERY_ATTENTION = "sources_that_need_attention"
QUERY_SEARCH = "search_archived_text"


def search_sql() -> str:
    """The CLI's SEARCH_SQL with a fixed limit, wrapped to show a snippet instead of the text."""
    inner = SEARCH_SQL.strip()
    if "limit :limit" not in inner:
        raise RuntimeError("SEARCH_SQL no longer ends in 'limit :limit'")
    inner = inner.replace("limit :limit", f"limit {SEARCH_LIMIT}")
    return (
        "select capture_id, source_id, source_title, url, fetched_at, title, language,\n"
        "  citearchive_snippet(text, :q) as snippet\n"
        f"from (\n{inner}\n)\nwhere trim(:q) <> ''"
    )


def canned_queries_for_archive() -> dict[str, dict[str, Any]]:
    """The canned queries of an archive database, by URL name."""
    return {
        QUERY_CLAIMS: {
            "title": "Claims and their evidence",
            "description": (
                "Every claim of the commentary with the source its footnote cites, the newest "
                "good capture of that source (follow capture_id to the archived text), the "
                "quote verdicts and the last traceability verdict."
            ),
            "sql": (
                "select claim_id, footnote, claim, source_title, url, capture_id, captured_at,\n"
                "  quote_verdicts, verdict, verdict_detail, timestamp, payload_sha256, source_id,\n"
                "  document_id\n"
                "from claim_evidence\norder by document_id, position"
            ),
        },
        QUERY_ATTENTION: {
            "title": "Sources that need attention",
            "description": (
                "Sources that are unresolved (no URL), failing, suspect (error page served "
                "as 200), drifted on the live web, failed fixity, or whose quotes were not "
                "found, with the reasons."
            ),
            "sql": (
                "select source_id, title, url, attention, last_status, last_capture_id,\n"
                "  good_capture_id, live_verdict, fixity_failures, quotes_not_found,\n"
                "  quotes_gone_live\nfrom source_status\n"
                "where attention is not null and coalesce(in_manifest, 1) = 1\n"
                "order by source_id"
            ),
        },
        QUERY_SEARCH: {
            "title": "Search archived text",
            "description": (
                "The search of `citearchive search`: Japanese (two-character terms such as "
                '停戦 work), Russian and English words (inflections found), "quoted '
                'phrases"; every term must occur. Newest captures first.'
            ),
            "sql": search_sql(),
        },
    }


def _columns(**columns: str) -> dict[str, str]:
    return columns


TABLES: dict[str, dict[str, Any]] = {
    "claim_evidence": {
        "description": (
            "One row per claim and cited source: the claim, the source, its newest good "
            "capture, the quote verdicts and the last traceability verdict (a footnote citing "
            "two sources gives two rows). Follow capture_id to the archived evidence."
        ),
        "columns": _columns(
            claim_id="<document id>:<position of the claim in the document>",
            footnote="The footnote number the claim's marker points at",
            claim="The sentence of the commentary carrying the footnote marker",
            source_title="Title of the cited source",
            url="The source's URL, or 'unresolved' when sources.toml gives none",
            capture_id="Newest good capture (no error, not suspect, text extracted)",
            captured_at="When that capture was fetched (UTC)",
            payload_sha256="SHA-256 of the captured document bytes (Content-Encoding undone)",
            quote_verdicts="Latest quote checks: how many of the source's quotes were found",
            verdict="Last traceability verdict of `citearchive verify` for this claim",
            verdict_detail="Why traceability failed, when it did",
            timestamp="RFC 3161: 'evidence timestamped by <TSA> at <time>', or why not",
        ),
    },
    "source_status": {
        "description": (
            "One row per source: URL or 'unresolved', captures, last status, suspect flags, "
            "last live verdict; 'attention' says why a person should look (NULL: all well)."
        ),
        "columns": _columns(
            url="The source's URL, or 'unresolved'",
            captures="Capture attempts, failures included",
            good_captures="Captures with no error, not suspect, with text",
            good_capture_id="Newest good capture",
            last_capture_id="Newest capture attempt (embed views aside)",
            last_status="Outcome of the newest attempt: HTTP status, error or suspect reason",
            suspect_flags="Every reason a capture of this source looked like an error page",
            live_verdict="Last live check: unchanged / changed / moved / gone / blocked / ...",
            live_similarity="Similarity (0-100) of the live text to the archived text",
            fixity_failures="Captures whose archived bytes no longer match their hash",
            quotes_not_found="Quotes not found in the archived text",
            quotes_gone_live="Quotes no longer on the live page",
            attention="Why this source needs a person; NULL when nothing is wrong",
        ),
    },
    "latest_checks": {
        "description": "The newest verdict of every check (one row per kind and subject).",
        "columns": _columns(target="The subject without its kind prefix"),
    },
    "documents": {
        "description": "The commentaries whose footnotes are archived.",
        "label_column": "title",
        "columns": _columns(file="The commentary file, relative to sources.toml"),
    },
    "sources": {
        "description": "Every cited source, as sources.toml describes it.",
        "label_column": "title",
        "columns": _columns(
            url="The URL fetched; empty when the source is unresolved",
            language="ISO 639-1 code of the source's language",
            alternates="Other URLs with the same content, tried when url fails (JSON)",
            resolved="1 when the source has a URL",
            in_manifest="1 while sources.toml still lists the source",
        ),
    },
    "footnotes": {"description": "The commentary's footnotes, as printed."},
    "citations": {
        "description": "Which source each footnote cites.",
        "columns": _columns(text="The footnote's text"),
    },
    "claims": {
        "description": "Sentences of the commentary that carry a footnote marker.",
        "label_column": "text",
        "columns": _columns(position="Order of the claim in its document, from 1"),
    },
    "suggestions": {
        "description": (
            "Passages `citearchive suggest` proposes for claims without quotes: SUGGESTIONS, "
            "not evidence. A person accepts one with `suggest --apply`; only then is it a "
            "quote, which `verify` anchors in the archived text."
        ),
        "columns": _columns(
            claim_id="The claim the passage may support",
            rank="1 = best candidate for the claim",
            status="Always 'suggestion (not verified)'",
            passage="Sentence of the archived text (exact), in the source's language",
            score="Model similarity + 0.3 x lexical evidence",
            model_score="Cosine similarity of claim and passage (sentence and neighbours)",
            lexical_score="Share of the claim's numbers, dates, names and terms in the passage",
            evidence="Numbers, dates and names the claim and the passage share",
            start="Offset of the passage in the capture's text",
            end="End offset of the passage in the capture's text",
            applied="1 once written into sources.toml as a quote by --apply",
        ),
    },
    "quotes": {
        "description": "Passages, in the source's language, that should be in its capture.",
        "columns": _columns(
            prefix="Text just before the quote when it was first found",
            suffix="Text just after it",
            anchored_at="When the quote was first found in a capture",
        ),
    },
    "runs": {
        "description": "Every fetch and verify run: when, which version, which settings.",
        "sort_desc": "started_at",
        "columns": _columns(warc_filename="The WARC file of the run, in archive/warc/"),
    },
    "timestamps": {
        "description": (
            "RFC 3161 timestamps: each TSA's answer for a run's manifest (warc/<run>.manifest.txt)"
            ": the token (warc/<token_filename>) with the TSA's time, or the error."
        ),
        "sort_desc": "requested_at",
        "facets": ["tsa_url"],
        "columns": _columns(
            imprint_sha256="SHA-256 of the run manifest sent to the TSA",
            gen_time="The time the TSA signed (UTC)",
            error="Why there is no token (TSA unreachable, refused ...); NULL when there is one",
        ),
    },
    "captures": {
        "description": (
            "Every attempt to capture a source, failures included. Click a title for the "
            "capture page: provenance, hashes, text and the archived page."
        ),
        "label_column": "title",
        "sort_desc": "fetched_at",
        "facets": ["source_id", "method", "status_code"],
        # the table's search box is the plugin's (filters_from_request): the same search as
        # the CLI and the "Search archived text" query, over both indexes (issue 11)
        "columns": _columns(
            requested_url="The URL asked for",
            url="The final URL, after redirects",
            method="live / alternate / browser / embed / memento / import",
            memento_datetime="For a memento: when the web archive captured the page",
            original_url="For a memento: the cited URL the archived copy stands for",
            archive_name="For a memento: the web archive it came from",
            memento_basis="Why this memento: the access date, publication date, or newest",
            imported_from="For an import: the WARC/WACZ file the record was copied from",
            imported_record_id="For an import: the record's WARC-Record-ID in that file",
            fetched_at="When the final response started (UTC)",
            payload_sha256="SHA-256 of the document bytes after Content-Encoding is undone",
            payload_length="Bytes of the document after Content-Encoding is undone",
            warc_filename="WARC file in archive/warc/ holding the response record",
            warc_offset="Byte offset of the record's gzip member",
            warc_length="Bytes of the record's gzip member",
            revisit_of="Earlier capture holding the same payload (this one is a revisit)",
            charset="Character encoding used to read the text",
            text="Extracted main text (plain text)",
            text_sha256="SHA-256 of the text after Unicode NFC and whitespace folding",
            error="Why the capture failed (NULL: it did not)",
            suspect="Why a successful response looks like an error page (NULL: it does not)",
            redirects="The redirect chain (JSON)",
            response_headers="HTTP response headers as received (JSON)",
            ip="The server address connected to",
            tls="TLS version, cipher and certificate (JSON)",
            screenshot_sha256="Browser capture: SHA-256 of the full-page PNG screenshot",
            screenshot_record_id="Browser capture: the screenshot's WARC resource record",
            dom_sha256="Browser capture: SHA-256 of the rendered DOM (UTF-8 HTML)",
            dom_record_id="Browser capture: the rendered DOM's WARC resource record",
            browser_resources="Browser capture: responses the page received (all recorded)",
            browser_blocked="Browser capture: requests refused by the policy (JSON)",
            js_shell="Why the HTTP capture looks like a page that needs JavaScript",
        ),
    },
    "checks": {
        "description": "Every verification result of every `citearchive verify` run, and the "
        "check of each WACZ's seal by `citearchive import-warc` (kind package).",
        "sort_desc": "id",
        "facets": ["kind", "outcome"],
        "columns": _columns(
            kind="fixity / traceability / quote / lint / live / live-quote / timestamp / package",
            subject="What was checked: capture:<id>, claim:<id>, quote:<id>, source:<id>, "
            "run:<id>, wacz:<file>",
            outcome="ok, failed, found, approximate, not-found, unchanged, changed, ...",
            detail="Why, or the match details (JSON for quote and live checks)",
        ),
    },
    "_migrations": {"hidden": True},
    "passage_embeddings": {
        "hidden": True,
        "description": "Sentence vectors of archived passages, cached by `citearchive suggest`.",
    },
    # the bigram search index (issue 11) and its FTS5 shadow tables
    **{
        f"captures_grams{suffix}": {"hidden": True}
        for suffix in ("", "_data", "_idx", "_config", "_docsize", "_content")
    },
}


def _documents(db_path: Path) -> list[dict[str, Any]]:
    from ..archive.sqlitedb import sqlite_utils

    db = sqlite_utils.Database(db_path)
    try:
        if "documents" not in db.table_names():
            return []
        return list(db.query("SELECT id, title, author FROM documents ORDER BY id"))
    finally:
        db.close()


def datasette_metadata(archive_root: str | Path) -> dict[str, Any]:
    """Datasette metadata for an archive: titles, descriptions, labels, canned queries."""
    db_path = Path(archive_root) / DB_NAME
    docs = _documents(db_path) if db_path.exists() else []
    title = "citearchive"
    if len(docs) == 1 and docs[0]["title"]:
        title = f"citearchive: {docs[0]['title']}"
    base = f"/{DATABASE_NAME}"
    links = [
        ("claim_evidence", "Claims and their evidence"),
        (QUERY_ATTENTION, "Sources that need attention"),
        (QUERY_SEARCH, "Search archived text"),
    ]
    hrefs = [(f"{base}/{name}", label) for name, label in links]
    hrefs += [  # the evidence dossier of each document (browse/document_page.py)
        (f"/-/citearchive/document/{quote(d['id'])}",
         "Evidence dossier" + (f": {d['title']}" if len(docs) > 1 else ""))
        for d in docs
    ]  # fmt: skip
    nav = markupsafe.Markup(" · ").join(
        markupsafe.Markup('<a href="{}">{}</a>').format(href, label) for href, label in hrefs
    )
    description_html = markupsafe.Markup(
        "<p>The sources cited by {what}, archived as WARC files with this SQLite index. "
        "Follow any claim to the archived copy of its source, its hashes and its "
        "provenance.</p><p>{nav}</p>"
    ).format(
        what=", ".join(f"“{d['title']}”" for d in docs if d["title"]) or "a commentary",
        nav=nav,
    )
    return {
        "title": title,
        "description_html": str(description_html),
        "source": f"citearchive {__version__}",
        "source_url": "https://pypi.org/project/citearchive/",
        "license": "Archived for research and verification; rights remain with each publisher",
        "databases": {
            DATABASE_NAME: {
                "description": "The archive index: sources, captures, checks and the views.",
                "tables": TABLES,
                "queries": canned_queries_for_archive(),
            }
        },
    }
