"""``citearchive verify``: is every claim still backed by sound archived evidence?

Offline (the default, no network):

- **fixity** of every capture's WARC record (:mod:`citearchive.verify.fixity`) and of every
  record of every WARC file (:mod:`citearchive.verify.warcfiles`);
- **traceability** of every claim: footnote defined, citing a source with a URL that has
  a successful, non-suspect capture with text whose record (and text) passed fixity --
  a capture fixity did not check is not evidence;
- **quotes** anchored in each source's newest good capture of each URL captured for it
  (cited URL, alternates, embeds; :mod:`citearchive.verify.quotes`),
  the context of the first anchoring stored so later captures are re-anchored by it;
- **lint** of each commentary file (:func:`citearchive.sources.commentary.lint`);
- **fallback**: a source whose only sound captures are web archive copies (method
  ``memento``) is named, and every claim citing it says that it rests on an archived
  copy (:attr:`ClaimRow.fallback`, and a verdict such as "ok; rests on an archived copy
  (memento 2025-08-19)").

With ``live=True`` every source is captured again and compared with its last good
capture (:mod:`citearchive.verify.live`), and every quote is re-anchored on the live text
(``unchecked``, not a failure, when the live page could not be read: the ``live`` check
already fails for that source and gives the claim its verdict).

Every result is a row of the ``checks`` table (kind, subject, outcome, detail) under a
``verify`` run, so history is queryable; :class:`VerifyReport` is what a person reads:
one row per claim, then totals. ``report.ok`` is True only when every check held;
``report.summary`` is the one line that says so (and names quotes that matched only
approximately, which pass but deserve a look).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from ..archive.store import Archive, claim_id, utcnow
from ..config import Settings, resolve_settings
from ..errors import CitearchiveError
from ..sources.commentary import lint, read_commentary
from ..sources.manifest import Manifest, Source
from .fixity import check_fixity
from .live import live_checks, refetch
from .outcomes import FAILING  # there, so that status need not import this module
from .provenance import belonging_problem
from .quotes import best_anchor, normalize, quote_detail, quote_rows, remember_context
from .timestamps import timestamp_checks
from .warcfiles import check_warc_files

CHECK_BATCH = 500  # check rows written per transaction
SHORT_CLAIM = 60  # characters of claim text in the report
Progress = Callable[[str, int, int], None]  # (stage, done, total)
_CAPTURE_COLUMNS = (
    "id, source_id, requested_url, url, method, fetched_at, status_code, error, suspect, "
    "text IS NOT NULL AS has_text, text_sha256, payload_sha256, content_type, "
    "memento_datetime, original_url, archive_name, redirects"
)


@dataclass
class Check:
    """One verification result: a row of the ``checks`` table."""

    kind: str
    subject: str
    outcome: str
    detail: str | dict[str, Any]
    source_id: str | None = None
    claim_id: str | None = None
    capture_id: int | None = None

    @property
    def failed(self) -> bool:
        return self.outcome in FAILING

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def row(self, run_id: str) -> dict[str, Any]:
        detail = self.detail if isinstance(self.detail, str) else _json(self.detail)
        return {**self.to_dict(), "detail": detail, "run_id": run_id, "checked_at": utcnow()}


@dataclass
class ClaimRow:
    """A claim's line in the report: footnote, short text, sources, verdict, problems."""

    claim_id: str
    document: str
    footnote: int
    text: str
    sources: list[str]
    verdict: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    capture_ids: list[int] = field(default_factory=list)  # the good captures it traces to
    # one line per cited source that survives only as a web archive's copy
    fallback: list[str] = field(default_factory=list)
    # "evidence timestamped by <TSA> at <time>", or why not (verify/timestamps.py)
    timestamp: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VerifyReport:
    """The outcome of a verify run. ``checks`` holds every check but fixity passes."""

    run_id: str
    archive: str
    live: bool
    claims: list[ClaimRow]
    checks: list[Check]
    totals: dict[str, dict[str, int]]

    @property
    def ok(self) -> bool:
        return not any(o in FAILING for counts in self.totals.values() for o in counts)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.failed]

    @property
    def summary(self) -> str:
        """One line for people: held or not, and what deserves a look even when it held.

        "all checks held (1 quote matched only approximately: review it)".
        """
        notes = []
        bad = sum(not c.ok for c in self.claims)
        if bad:
            notes.append(f"{bad} of {len(self.claims)} claims not ok")
        elif not self.ok:
            n = len(self.failures)
            notes.append(f"{n} failed {'checks' if n != 1 else 'check'}")
        for kind, what in (("quote", "quote"), ("live-quote", "quote on the live page")):
            n = self.totals.get(kind, {}).get("approximate", 0)
            if n:
                plural = what.replace("quote", "quotes", 1) if n > 1 else what
                notes.append(
                    f"{n} {plural} matched only approximately: review {'them' if n > 1 else 'it'}"
                )
        unchecked = self.totals.get("live-quote", {}).get("unchecked", 0)
        if unchecked:
            notes.append(f"{unchecked} live {'quotes' if unchecked > 1 else 'quote'} unchecked: "
                         "live page not read")  # fmt: skip
        head = "all checks held" if self.ok else "some checks failed"
        return f"{head} ({'; '.join(notes)})" if notes else head

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "archive": self.archive, "live": self.live, "ok": self.ok,
            "summary": self.summary, "totals": self.totals,
            "claims": [c.to_dict() for c in self.claims],
            "checks": [c.to_dict() for c in self.checks],
        }  # fmt: skip


class _Sink:
    """Writes checks to the archive in batches; keeps totals and the checks worth reporting."""

    def __init__(self, archive: Archive, run_id: str) -> None:
        self.archive, self.run_id = archive, run_id
        self.pending: list[dict[str, Any]] = []
        self.kept: list[Check] = []
        self.totals: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, check: Check) -> None:
        self.totals[check.kind][check.outcome] += 1
        if not (check.kind == "fixity" and not check.failed):
            self.kept.append(check)
        self.pending.append(check.row(self.run_id))
        if len(self.pending) >= CHECK_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.archive.insert_checks(self.pending)
            self.pending = []

    def of(self, kind: str, source_id: str) -> list[Check]:
        return [c for c in self.kept if c.kind == kind and c.source_id == source_id]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _short(text: str, width: int = SHORT_CLAIM) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class _Evidence:
    """The captures of each source (text left in the database until needed)."""

    def __init__(self, archive: Archive, manifest: Manifest, passed_fixity: set[int]) -> None:
        self.archive = archive
        self.passed = passed_fixity
        self.rows: dict[str, list[dict[str, Any]]] = {s.id: [] for s in manifest.sources}
        self.foreign: dict[str, list[str]] = {s.id: [] for s in manifest.sources}
        cited = {s.id: [s.url, *s.alternates] for s in manifest.sources}
        for row in archive.db.query(
            f"SELECT {_CAPTURE_COLUMNS} FROM captures ORDER BY fetched_at, id"
        ):
            sid = row["source_id"]
            if sid not in self.rows:
                continue
            if (problem := belonging_problem(row, cited[sid])) is None:
                self.rows[sid].append(row)
            elif row["error"] is None:  # a capture of another page is not this source's
                self.foreign[sid].append(problem)

    def sound(self, sid: str) -> list[dict[str, Any]]:
        """Good captures (no error, not suspect, with text) whose fixity check passed."""
        return [
            r for r in self.rows[sid]
            if r["error"] is None and not r["suspect"] and r["has_text"] and r["id"] in self.passed
        ]  # fmt: skip

    def gap(self, s: Source) -> str | None:
        """Why source ``s`` has no sound capture (None: it has one)."""
        rows = self.rows[s.id]
        if not s.resolved:
            return f"source {s.id} has no URL (unresolved)"
        if not rows and self.foreign[s.id]:
            return f"source {s.id}: no capture of its URL ({self.foreign[s.id][-1]})"
        if not rows:
            return f"source {s.id} was never captured"
        good = [r for r in rows if r["error"] is None]
        if not good:
            return f"source {s.id}: only failed captures ({rows[-1]['error']})"
        plain = [r for r in good if not r["suspect"]]
        if not plain:
            return f"source {s.id}: only suspect captures ({good[-1]['suspect']})"
        texty = [r for r in plain if r["has_text"]]
        if not texty:
            return f"source {s.id}: no text in its captures ({plain[-1]['content_type']})"
        if not self.sound(s.id):
            return f"source {s.id}: fixity failure on capture {texty[-1]['id']}"
        return None

    def quote_candidates(self, sid: str) -> list[int]:
        """The newest sound capture of each URL captured for the source, newest first."""
        newest: dict[str, int] = {}
        for r in self.sound(sid):
            newest[r["requested_url"]] = r["id"]
        return sorted(newest.values(), reverse=True)

    def previous(self, s: Source) -> dict[str, Any] | None:
        """The newest sound capture of the source's own URL (the live baseline)."""
        own = [r for r in self.sound(s.id) if r["requested_url"] == s.url]
        return own[-1] if own else None

    def archived_only(self, sid: str) -> dict[str, Any] | None:
        """The newest sound capture, when every sound capture is a web archive's copy."""
        sound = self.sound(sid)
        if sound and all(r["method"] == "memento" for r in sound):
            return sound[-1]
        return None

    def text(self, capture_id: int) -> str:
        row = self.archive.db.execute("SELECT text FROM captures WHERE id = ?", [capture_id])
        return str(row.fetchone()[0] or "")


def _check_quotes(archive: Archive, ev: _Evidence, s: Source, sink: _Sink) -> None:
    candidates = ev.quote_candidates(s.id)
    quotes = quote_rows(archive, s.id)
    texts = {c: normalize(ev.text(c)) for c in candidates} if quotes else {}
    for q in quotes:
        subject = f"quote:{q['id']}"
        if not candidates:
            reason = ev.gap(s) or "no good capture"
            detail = {"reason": reason, "quote": q["text"]}
            sink.add(Check("quote", subject, "no-capture", detail, s.id))
            continue
        a, cid = best_anchor(q, texts)
        detail = quote_detail(a, cid, quote=q["text"])
        sink.add(Check("quote", subject, a.outcome, detail, s.id, capture_id=cid))
        remember_context(archive, q, a)


def _check_claims(manifest: Manifest, ev: _Evidence, sink: _Sink) -> None:
    """Traceability: footnote defined, citing sources with URLs and a sound capture each."""
    for c in manifest.claims:
        cid = claim_id(c.document, c.index)
        sources = manifest.sources_for(c.document, c.footnote)
        reasons = [] if manifest.has_footnote(c.document, c.footnote) else [
            f"footnote {c.footnote} is not defined"
        ]  # fmt: skip
        if not sources:
            reasons.append(f"footnote {c.footnote} cites no source")
        reasons += [g for s in sources if (g := ev.gap(s))]
        sound = [r["id"] for s in sources for r in ev.sound(s.id)[-1:]]
        detail = (
            "; ".join(reasons) if reasons else "traceable to capture " + ", ".join(map(str, sound))
        )
        failing = [x.id for x in sources if ev.gap(x)]
        sid = sources[0].id if len(sources) == 1 else (failing[0] if failing else None)
        outcome = "failed" if reasons else "ok"
        sink.add(Check("traceability", f"claim:{cid}", outcome, detail, sid, cid,
                       sound[0] if len(sound) == 1 else None))  # fmt: skip


def _check_fallback(manifest: Manifest, ev: _Evidence, sink: _Sink) -> None:
    """Name each source whose evidence is only a web archive's copy, not the original."""
    for s in manifest.sources:
        row = ev.archived_only(s.id)
        if row is None:
            continue
        when = (row["memento_datetime"] or "")[:10] or "undated"
        detail = {
            "note": f"rests on an archived copy (memento {when}, {row['archive_name']})",
            "memento_datetime": row["memento_datetime"], "archive": row["archive_name"],
            "original_url": row["original_url"], "memento_url": row["url"],
        }  # fmt: skip
        sink.add(Check("fallback", f"source:{s.id}", "memento", detail, s.id,
                       capture_id=row["id"]))  # fmt: skip


def _check_lint(manifest: Manifest, sink: _Sink) -> None:
    for d in manifest.documents:
        if d.file is None:
            continue
        try:
            commentary = read_commentary(d.file)
        except CitearchiveError as exc:
            sink.add(Check("lint", f"document:{d.id}", "warning", f"unreadable: {exc}"))
            continue
        for w in lint(commentary):
            sink.add(Check("lint", f"document:{d.id}:footnote:{w.footnote}", "warning",
                           f"{w.code}: {w.message}"))  # fmt: skip


_VERDICTS = (  # (kind, outcome) -> claim verdict, strongest first
    ("traceability", "failed", "untraceable"),
    ("timestamp", "failed", "timestamp does not hold"),
    ("quote", "no-capture", "quote unchecked"),
    ("quote", "not-found", "quote not found"),
    ("live-quote", "not-found", "quote gone from live page"),  # read, and not in it
    ("live", "gone", "live: gone"),
    ("live", "blocked", "live: blocked"),
    ("live", "unreachable", "live: unreachable"),
    ("live", "moved", "live: moved"),
    ("live", "changed", "live: changed"),
    ("live-quote", "unchecked", "live quote unchecked"),  # the live page was not read
    ("quote", "approximate", "quote approximate"),
    ("live-quote", "approximate", "live quote approximate"),
)


def _problem(c: Check) -> str:
    """One line for a person: which source, which quote, what is wrong."""
    if c.kind == "traceability":
        return str(c.detail)
    if c.kind == "timestamp" and isinstance(c.detail, dict):
        return str(c.detail["message"])
    d = c.detail if isinstance(c.detail, dict) else {"reason": c.detail}
    if c.kind == "live":
        why = d.get("error") or d.get("suspect") or d.get("diff") or d.get("final_url") or ""
        return f"{c.source_id}: live page {c.outcome} ({why})"
    quote = f"quote “{_short(d.get('quote') or c.subject, 40)}”"
    if c.kind == "live-quote" and c.outcome == "not-found":
        return f"{c.source_id}: {quote} no longer on the live page ({d.get('reason', '')})"
    if c.outcome == "approximate":
        where = "live page" if c.kind == "live-quote" else f"capture {d.get('capture_id')}"
        matched = _short(d.get("matched") or "", 50)
        return f"{c.source_id}: {quote} found approximately ({d['score']}) in {where}: “{matched}”"
    why = d.get("reason") or d.get("differs") or (
        f"now reads “{_short(d['now_reads'], 50)}”" if d.get("now_reads")
        else f"best match {d.get('score')}"
    )  # fmt: skip
    return f"{c.source_id}: {quote} {c.outcome.replace('-', ' ')} ({why})"


def _claim_rows(manifest: Manifest, sink: _Sink) -> list[ClaimRow]:
    rows = []
    for c in manifest.claims:
        cid = claim_id(c.document, c.index)
        sids = [s.id for s in manifest.sources_for(c.document, c.footnote)]
        checks = [k for k in sink.kept
                  if k.claim_id == cid and k.kind in ("traceability", "timestamp")]  # fmt: skip
        checks += [k for sid in sids for kind in ("quote", "live", "live-quote")
                   for k in sink.of(kind, sid)]  # fmt: skip
        verdict = next(
            (v for kind, outcome, v in _VERDICTS
             if any(k.kind == kind and k.outcome == outcome for k in checks)),
            "ok",
        )  # fmt: skip
        problems = [_problem(k) for k in checks if k.failed or k.outcome == "approximate"]
        traced = [k.capture_id for k in checks if k.kind == "traceability" and k.capture_id]
        archived = [k for sid in sids for k in sink.of("fallback", sid)]
        notes = [f"{k.source_id}: {k.detail['note']}" for k in archived
                 if isinstance(k.detail, dict)]  # fmt: skip
        if archived:
            dates = ", ".join(
                dict.fromkeys(str(k.detail.get("memento_datetime") or "undated")[:10]
                              for k in archived if isinstance(k.detail, dict))
            )  # fmt: skip
            verdict += f"; rests on an archived copy (memento {dates})"
        stamp = next((k for k in checks if k.kind == "timestamp"), None)
        if stamp is not None and stamp.outcome == "ok" and verdict == "ok":
            verdict = f"ok; {stamp.detail['message']}"  # type: ignore[index]
        rows.append(ClaimRow(cid, c.document, c.footnote, _short(c.text), sids, verdict,
                             not any(k.failed for k in checks), problems, traced,
                             notes, _stamp_words(stamp)))  # fmt: skip
    return rows


def _stamp_words(check: Check | None) -> str | None:
    return str(check.detail["message"]) if check and isinstance(check.detail, dict) else None


def verify_archive(
    manifest: Manifest,
    archive_root: str | Path,
    *,
    live: bool = False,
    settings: Settings | None = None,
    client_factory: Callable[[Settings], httpx.AsyncClient] | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Run every check on the archive; store each result in ``checks``; return the report.

    Raises ArchiveError when there is no archive at ``archive_root``. ``progress(stage,
    done, total)`` is called as the stages ("fixity", "quotes", "live") advance.
    """
    settings = settings or resolve_settings(manifest.settings)
    archive = Archive.open(archive_root, create=False)
    try:
        with archive.locked():
            archive.sync_manifest(manifest)
            agent = settings.user_agent if live else None
            run_id = archive.start_run("verify", settings={"live": live}, user_agent=agent)
        sink = _Sink(archive, run_id)
        try:
            with archive.locked():
                ev = _offline_checks(archive, manifest, sink, progress)
            if live:
                # drift is about the live web: no archived copies are fetched for it
                new_ids = refetch(manifest, archive_root,
                                  settings=replace(settings, fallback=False),
                                  client_factory=client_factory)  # fmt: skip
                with archive.locked():
                    for fields in live_checks(archive, manifest, new_ids, ev.previous, ev.text):
                        sink.add(Check(**fields))
                    sink.flush()
                if progress:
                    progress("live", len(new_ids), len(new_ids))
        except BaseException as exc:  # interrupted or failed: the run says so, then goes on up
            sink.flush()
            archive.finish_run(run_id, {"ok": False, "error": repr(exc)})
            raise
        totals = {kind: dict(counts) for kind, counts in sorted(sink.totals.items())}
        report = VerifyReport(run_id, str(archive.root), live, _claim_rows(manifest, sink),
                              sink.kept, totals)  # fmt: skip
        archive.finish_run(run_id, {"ok": report.ok, "totals": totals})
        return report
    finally:
        archive.close()


def _offline_checks(
    archive: Archive, manifest: Manifest, sink: _Sink, progress: Progress | None
) -> _Evidence:
    """Fixity, traceability, quotes and lint, stored as they come; the evidence for live."""
    passed: set[int] = set()
    fixity_progress = (lambda d, t: progress("fixity", d, t)) if progress else None
    for r in check_fixity(archive, progress=fixity_progress):
        if r.ok:
            passed.add(r.capture_id)
        sink.add(Check("fixity", f"capture:{r.capture_id}", "ok" if r.ok else "failed",
                       r.detail, r.source_id, capture_id=r.capture_id))  # fmt: skip
    for w in check_warc_files(archive):  # every record of every file, not only the rows'
        sink.add(Check("fixity", f"warc:{w.filename}", "ok" if w.ok else "failed", w.detail))
    ev = _Evidence(archive, manifest, passed)
    _check_claims(manifest, ev, sink)
    _check_fallback(manifest, ev, sink)
    for fields in timestamp_checks(
        archive, manifest, lambda sid: [r["id"] for r in ev.sound(sid)[-1:]]
    ):
        sink.add(Check(**fields))
    for i, s in enumerate(manifest.sources, start=1):
        _check_quotes(archive, ev, s, sink)
        if progress:
            progress("quotes", i, len(manifest.sources))
    _check_lint(manifest, sink)
    sink.flush()
    return ev


def format_report(report: VerifyReport) -> list[tuple[str, str, str, str]]:
    """The claim table as text rows (header first), then one totals row: for the CLI."""
    rows = [("fn", "claim", "source", "verdict")]
    for c in report.claims:
        rows.append((str(c.footnote), c.text, ", ".join(c.sources), c.verdict))
    totals = "; ".join(
        f"{kind}: " + ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
        for kind, counts in report.totals.items()
    )
    rows.append(("", "totals", "", totals))
    return rows
