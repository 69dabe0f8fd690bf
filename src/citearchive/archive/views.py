"""SQL views that put the evidence in reading order, for Datasette and for scripts.

- ``latest_checks``: the newest verdict of every check (one row per kind and subject), from
  finished runs only (a run killed midway, marked ``runs.interrupted_at``, or one still
  going, has partial checks).
- ``claim_evidence``: one row per claim and the source its footnote cites: the claim, the
  source, the newest good capture (time and payload_sha256), the quote verdicts and the last
  traceability verdict. A claim whose footnote cites no source has one row, without a source;
  a footnote citing two sources gives its claim two rows.
- ``source_status``: one row per source: its URL (or "unresolved"), how many captures, the
  last status, suspect flags, the last live verdict, fixity failures, quotes not found, and
  ``attention``: why the source needs a person, or NULL when it does not.

The views use only SQLite's own functions (window functions, json1), so plain
``datasette archive/citearchive.db`` shows them without the citearchive plugin.
:func:`create_views` is idempotent: a view is dropped and recreated only when its
definition changed, so opening an archive that is up to date writes nothing.
"""

from __future__ import annotations

from .sqlitedb import sqlite_utils

# Check outcomes that mean "a person should look" (see the checks contract).
FAILING_LIVE = ("changed", "moved", "gone", "blocked", "unreachable")

# A check that counts: made by a run that finished (not one still going or killed midway).
FINISHED = "(run_id IS NULL OR run_id NOT IN (SELECT id FROM runs WHERE finished_at IS NULL))"

LATEST_CHECKS_SQL = """
SELECT
  id AS check_id,
  run_id,
  kind,
  subject,
  substr(subject, instr(subject, ':') + 1) AS target,
  outcome,
  detail,
  checked_at,
  source_id,
  claim_id,
  capture_id
FROM (
  SELECT checks.*,
    row_number() OVER (PARTITION BY kind, subject ORDER BY checked_at DESC, id DESC) AS newest
  FROM checks
  -- the checks of a run still going or killed before it finished are partial: kept apart
  WHERE run_id IS NULL OR run_id NOT IN (SELECT id FROM runs WHERE finished_at IS NULL)
)
WHERE newest = 1
"""

# A "good" capture: no error, not suspect, text extracted (the checks contract).
_NEWEST_GOOD = """
newest_good AS (
  SELECT source_id, id, fetched_at, payload_sha256 FROM (
    SELECT source_id, id, fetched_at, payload_sha256,
      row_number() OVER (PARTITION BY source_id ORDER BY fetched_at DESC, id DESC) AS newest
    FROM captures
    WHERE error IS NULL AND suspect IS NULL AND text IS NOT NULL
  )
  WHERE newest = 1
)"""

CLAIM_EVIDENCE_SQL = f"""
WITH {_NEWEST_GOOD},
quote_checks AS (
  SELECT quotes.source_id,
    count(*) AS quotes,
    count(CASE WHEN lc.outcome = 'found' THEN 1 END) AS found,
    count(CASE WHEN lc.outcome = 'approximate' THEN 1 END) AS approximate,
    count(CASE WHEN lc.outcome = 'not-found' THEN 1 END) AS not_found,
    count(CASE WHEN lc.outcome = 'no-capture' THEN 1 END) AS no_capture,
    count(CASE WHEN lc.outcome IS NULL THEN 1 END) AS unchecked
  FROM quotes
  LEFT JOIN latest_checks AS lc ON lc.kind = 'quote' AND lc.subject = 'quote:' || quotes.id
  WHERE quotes.in_manifest = 1
  GROUP BY quotes.source_id
)
SELECT
  claims.id AS claim_id,
  claims.footnote,
  claims.text AS claim,
  sources.title AS source_title,
  CASE
    WHEN citations.source_id IS NULL THEN NULL
    ELSE coalesce(nullif(sources.url, ''), 'unresolved')
  END AS url,
  newest_good.id AS capture_id,
  newest_good.fetched_at AS captured_at,
  CASE
    WHEN quote_checks.quotes IS NULL THEN NULL
    ELSE quote_checks.found || '/' || quote_checks.quotes || ' found'
      || CASE WHEN quote_checks.approximate > 0
           THEN ', ' || quote_checks.approximate || ' approximate' ELSE '' END
      || CASE WHEN quote_checks.not_found > 0
           THEN ', ' || quote_checks.not_found || ' not found' ELSE '' END
      || CASE WHEN quote_checks.no_capture > 0
           THEN ', ' || quote_checks.no_capture || ' without capture' ELSE '' END
      || CASE WHEN quote_checks.unchecked > 0
           THEN ', ' || quote_checks.unchecked || ' not checked yet' ELSE '' END
  END AS quote_verdicts,
  coalesce(trace.outcome, 'not verified') AS verdict,
  trace.detail AS verdict_detail,
  trace.checked_at AS verified_at,
  json_extract(stamp.detail, '$.message') AS timestamp,
  newest_good.payload_sha256,
  citations.source_id,
  claims.document_id,
  documents.title AS document_title,
  claims.position,
  coalesce(quote_checks.quotes, 0) AS quotes
FROM claims
LEFT JOIN documents ON documents.id = claims.document_id
LEFT JOIN citations
  ON citations.document_id = claims.document_id AND citations.footnote = claims.footnote
LEFT JOIN sources ON sources.id = citations.source_id
LEFT JOIN newest_good ON newest_good.source_id = citations.source_id
LEFT JOIN quote_checks ON quote_checks.source_id = citations.source_id
LEFT JOIN latest_checks AS trace
  ON trace.kind = 'traceability' AND trace.subject = 'claim:' || claims.id
LEFT JOIN latest_checks AS stamp
  ON stamp.kind = 'timestamp' AND stamp.subject = 'claim:' || claims.id
ORDER BY claims.document_id, claims.position, citations.source_id
"""

_LIVE_FAILING = ", ".join(f"'{o}'" for o in FAILING_LIVE)

SOURCE_STATUS_SQL = f"""
WITH {_NEWEST_GOOD},
stats AS (
  SELECT source_id,
    count(*) AS captures,
    count(CASE WHEN error IS NULL AND suspect IS NULL AND text IS NOT NULL THEN 1 END)
      AS good_captures
  FROM captures
  GROUP BY source_id
),
newest AS (
  SELECT * FROM (
    SELECT id, source_id, fetched_at, status_code, error, suspect, text,
      row_number() OVER (PARTITION BY source_id ORDER BY fetched_at DESC, id DESC) AS newest
    FROM captures
    WHERE method IS NULL OR method <> 'embed'
  )
  WHERE newest = 1
),
fixity AS (
  SELECT captures.source_id, count(*) AS failures
  FROM latest_checks AS lc
  JOIN captures ON captures.id = CAST(lc.target AS INTEGER)
  WHERE lc.kind = 'fixity' AND lc.outcome = 'failed'
  GROUP BY captures.source_id
),
quote_checks AS (
  SELECT quotes.source_id,
    count(DISTINCT quotes.id) AS quotes,
    count(CASE WHEN lc.kind = 'quote' AND lc.outcome IN ('not-found', 'no-capture')
      THEN 1 END) AS not_found,
    count(CASE WHEN lc.kind = 'live-quote' AND lc.outcome = 'not-found' THEN 1 END) AS gone_live
  FROM quotes
  LEFT JOIN latest_checks AS lc
    ON lc.kind IN ('quote', 'live-quote') AND lc.subject = 'quote:' || quotes.id
  WHERE quotes.in_manifest = 1
  GROUP BY quotes.source_id
),
live AS (
  SELECT target AS source_id, outcome, detail, checked_at
  FROM latest_checks WHERE kind = 'live'
),
status AS (
  SELECT
    sources.id AS source_id,
    sources.document_id,
    sources.title,
    sources.publisher,
    sources.language,
    coalesce(nullif(sources.url, ''), 'unresolved') AS url,
    coalesce(stats.captures, 0) AS captures,
    coalesce(stats.good_captures, 0) AS good_captures,
    newest_good.id AS good_capture_id,
    newest.id AS last_capture_id,
    newest.fetched_at AS last_fetched_at,
    CASE
      WHEN newest.id IS NULL THEN NULL
      WHEN newest.error IS NOT NULL THEN 'failed: ' || newest.error
      WHEN newest.suspect IS NOT NULL THEN 'suspect: ' || newest.suspect
      WHEN newest.text IS NULL THEN 'HTTP ' || newest.status_code || ', no text extracted'
      ELSE 'HTTP ' || newest.status_code
    END AS last_status,
    (SELECT group_concat(suspect, '; ') FROM (
       SELECT DISTINCT suspect FROM captures
       WHERE captures.source_id = sources.id AND suspect IS NOT NULL
    )) AS suspect_flags,
    live.outcome AS live_verdict,
    CASE WHEN json_valid(live.detail)
      THEN json_extract(live.detail, '$.similarity') END AS live_similarity,
    live.checked_at AS live_checked_at,
    coalesce(fixity.failures, 0) AS fixity_failures,
    coalesce(quote_checks.quotes, 0) AS quotes,
    coalesce(quote_checks.not_found, 0) AS quotes_not_found,
    coalesce(quote_checks.gone_live, 0) AS quotes_gone_live,
    sources.in_manifest,
    newest.error AS _error,
    newest.suspect AS _suspect
  FROM sources
  LEFT JOIN stats ON stats.source_id = sources.id
  LEFT JOIN newest ON newest.source_id = sources.id
  LEFT JOIN newest_good ON newest_good.source_id = sources.id
  LEFT JOIN fixity ON fixity.source_id = sources.id
  LEFT JOIN quote_checks ON quote_checks.source_id = sources.id
  LEFT JOIN live ON live.source_id = sources.id
)
SELECT
  source_id, document_id, title, publisher, language, url, captures, good_captures,
  good_capture_id, last_capture_id, last_fetched_at, last_status, suspect_flags,
  live_verdict, live_similarity, live_checked_at, fixity_failures, quotes,
  quotes_not_found, quotes_gone_live,
  nullif(substr(
    CASE WHEN url = 'unresolved' THEN '; unresolved: no URL in sources.toml' ELSE '' END
    || CASE WHEN url <> 'unresolved' AND captures = 0 THEN '; never captured' ELSE '' END
    || CASE WHEN _error IS NOT NULL THEN '; failing: ' || _error ELSE '' END
    || CASE WHEN _error IS NULL AND _suspect IS NOT NULL
         THEN '; suspect: ' || _suspect ELSE '' END
    || CASE WHEN captures > 0 AND good_captures = 0 AND _error IS NULL AND _suspect IS NULL
         THEN '; no capture with text' ELSE '' END
    || CASE WHEN live_verdict IN ({_LIVE_FAILING})
         THEN '; drifted: live page ' || live_verdict ELSE '' END
    || CASE WHEN fixity_failures > 0
         THEN '; fixity failed on ' || fixity_failures || ' capture(s)' ELSE '' END
    || CASE WHEN quotes_not_found > 0
         THEN '; ' || quotes_not_found || ' quote(s) not found in the capture' ELSE '' END
    || CASE WHEN quotes_gone_live > 0
         THEN '; ' || quotes_gone_live || ' quote(s) no longer on the live page' ELSE '' END,
  3), '') AS attention,
  in_manifest
FROM status
ORDER BY attention IS NULL, source_id
"""

# Name -> SELECT, in dependency order (a view may use the ones before it).
VIEWS: dict[str, str] = {
    "latest_checks": LATEST_CHECKS_SQL,
    "claim_evidence": CLAIM_EVIDENCE_SQL,
    "source_status": SOURCE_STATUS_SQL,
}


def view_sql(name: str) -> str:
    """The CREATE VIEW statement for ``name``, exactly as SQLite will store it."""
    return f"CREATE VIEW {name} AS {VIEWS[name].strip()}"


def create_views(db: sqlite_utils.Database) -> list[str]:
    """Create the views, replacing any whose definition changed; return the names written.

    A view depends on the ones before it, so when one changes, it and every later view
    are dropped (in reverse order) and recreated, in one transaction.
    """
    if not _stale(db):
        return []
    # DDL is transactional in SQLite: BEGIN IMMEDIATE makes the drop and create one step,
    # and a second process opening the archive at the same moment waits, then finds the
    # views current.
    db.execute("BEGIN IMMEDIATE")
    try:
        redo = _stale(db)
        for name in reversed(redo):
            db.execute(f"DROP VIEW IF EXISTS {name}")
        for name in redo:
            db.execute(view_sql(name))
        db.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.rollback()
        raise
    return redo


def _stale(db: sqlite_utils.Database) -> list[str]:
    """The views to recreate: the first whose definition changed and every later one."""
    stored = {
        row[0]: row[1]
        for row in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'")
    }
    names = list(VIEWS)
    stale = [n for n in names if stored.get(n) != view_sql(n)]
    return names[names.index(stale[0]) :] if stale else []
