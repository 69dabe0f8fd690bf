"""The capture pipeline behind ``citearchive fetch``: sources -> WARC + SQLite rows.

Network I/O runs on one asyncio event loop (httpx, bounded by a HostLimiter);
main-text extraction, the expensive part (~40 ms a page), runs in a process pool
over all cores; WARC records are appended as each capture completes, and capture
rows are committed in batches, always *after* the WARC file holding their records
has been fsynced. A crash or Ctrl-C at any point leaves the archive consistent: a
rerun captures exactly the sources that have no successful capture row yet.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import hashlib
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .. import __version__
from ..archive.store import Archive, utcnow
from ..archive.timestamps import stamp_run
from ..config import Settings, resolve_settings
from ..errors import UsageError
from ..sources.manifest import Manifest, Source
from ..warc.writer import RecordLocation, WarcFile
from .adapters import adapter_for
from .exchange_records import exchange_records, iso, warc_payload_digest
from .extract import Extraction
from .fallback import (
    archive_limiter,
    fallback_target,
    find_mementos,
    lookup_failure_row,
    memento_columns,
)
from .fetch import FetchResult, HostLimiter, fetch, make_client
from .memento import Memento, Target, choose_mementos, raw_memento_url
from .workers import extract_job, extraction_pool, pool_shutdown

FLUSH_EVERY_ROWS = 50
FLUSH_EVERY_SECONDS = 1.0


@dataclass
class SourceOutcome:
    """What happened to one source in a fetch run (one line of the summary)."""

    source_id: str
    url: str | None
    status: str  # "captured" | "suspect" | "failed" | "skipped" | "unresolved"
    capture_ids: list[int] = field(default_factory=list)
    status_code: int | None = None
    error: str | None = None
    suspect: str | None = None
    title: str | None = None
    language: str | None = None
    payload_sha256: str | None = None
    revisit: bool = False
    method: str | None = None  # "live" | "alternate" | "memento" (a web archive's copy)
    memento_datetime: str | None = None  # when the archive captured it (method "memento")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class FetchReport:
    run_id: str | None
    archive: str
    warc_filename: str | None
    outcomes: list[SourceOutcome]

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in ("captured", "suspect", "failed", "skipped", "unresolved")}
        for o in self.outcomes:
            out[o.status] += 1
        return out

    @property
    def ok(self) -> bool:
        """No source failed or gave only a suspect page (both need a person's attention)."""
        return not any(o.status in ("failed", "suspect") for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "archive": self.archive,
            "warc_filename": self.warc_filename,
            "counts": self.counts(),
            "ok": self.ok,
            "sources": [o.to_dict() for o in self.outcomes],
        }


def select_sources(manifest: Manifest, source_ids: list[str] | None) -> list[Source]:
    """The sources named (all when none are), with a "did you mean" for typos."""
    if not source_ids:
        return list(manifest.sources)
    known = {s.id: s for s in manifest.sources}
    chosen = []
    for sid in source_ids:
        if sid not in known:
            close = difflib.get_close_matches(sid, list(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UsageError(f"{manifest.path}: no source with id '{sid}'{hint}")
        chosen.append(known[sid])
    return chosen


def fetch_sources(
    manifest: Manifest,
    archive_root: str | Path,
    *,
    source_ids: list[str] | None = None,
    refresh: bool = False,
    settings: Settings | None = None,
    client_factory: Callable[[Settings], httpx.AsyncClient] | None = None,
    executor: Executor | None = None,
    progress: Callable[[SourceOutcome], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> FetchReport:
    """Capture the manifest's sources into the archive. Never raises for a failing source."""
    chosen = select_sources(manifest, source_ids)
    settings = settings or resolve_settings(manifest.settings)
    archive = Archive.open(archive_root)
    try:
        with archive.locked():
            archive.sync_manifest(manifest)
            done = set() if refresh else archive.captured_source_ids()
            outcomes: list[SourceOutcome] = []
            todo: list[Source] = []
            for s in chosen:
                if not s.resolved:
                    outcomes.append(SourceOutcome(s.id, None, "unresolved",
                                                  error="no URL in sources.toml"))  # fmt: skip
                elif s.id in done:
                    outcomes.append(SourceOutcome(s.id, s.url, "skipped"))
                else:
                    todo.append(s)
            for o in outcomes:
                if progress:
                    progress(o)
            if on_start:
                on_start(len(todo))
            if not todo:
                return FetchReport(None, str(archive.root), None, outcomes)
            run_id = archive.start_run(
                "fetch", settings=dataclasses.asdict(settings), user_agent=settings.user_agent
            )
            warc = archive.open_warc(
                run_id, level=settings.warc_gzip_level, info=_warcinfo(settings)
            )
            own_pool = executor is None
            pool = executor or extraction_pool()
            targets = {s.id: fallback_target(manifest, s) for s in todo}
            runner = _Runner(archive, warc, run_id, settings, pool, progress, targets)
            try:
                asyncio.run(runner.run(todo, client_factory or _default_client))
            finally:
                runner.flush()
                warc.close()
                if own_pool:
                    pool_shutdown(pool)
            ids: dict[str, list[int]] = {}
            for cid, sid in archive.db.execute(
                "SELECT id, source_id FROM captures WHERE run_id = ? ORDER BY id", [run_id]
            ).fetchall():
                ids.setdefault(sid, []).append(cid)
            for o in runner.outcomes:
                o.capture_ids = ids.get(o.source_id, [])
            order = {s.id: i for i, s in enumerate(chosen)}
            outcomes = sorted(outcomes + runner.outcomes, key=lambda o: order[o.source_id])
            report = FetchReport(run_id, str(archive.root), warc.name, outcomes)
            archive.finish_run(run_id, report.counts())
            stamp_run(archive, run_id, settings)  # run manifest + RFC 3161 tokens; never fails
            return report
    finally:
        archive.close()


def _default_client(settings: Settings) -> httpx.AsyncClient:
    return make_client(settings)


def _warcinfo(settings: Settings) -> dict[str, Any]:
    return {
        "software": f"citearchive/{__version__} (warcio, httpx)",
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "http-header-user-agent": settings.user_agent,
        "robots": "ignore (citations are fetched one page at a time, on request)",
    }


class _Runner:
    """Holds the state of one fetch run on the event loop."""

    def __init__(
        self,
        archive: Archive,
        warc: WarcFile,
        run_id: str,
        settings: Settings,
        pool: Executor,
        progress: Callable[[SourceOutcome], None] | None,
        targets: dict[str, Target] | None = None,
    ) -> None:
        self.pool = pool
        self.archive = archive
        self.warc = warc
        self.run_id = run_id
        self.settings = settings
        self.progress = progress
        self.outcomes: list[SourceOutcome] = []
        self.pending: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()
        self.targets = targets or {}  # per source: what a fallback memento should be closest to
        self.archives = archive_limiter(settings)  # one request at a time per web archive

    async def run(
        self, sources: list[Source], client_factory: Callable[[Settings], httpx.AsyncClient]
    ) -> None:
        limiter = HostLimiter(self.settings)
        # Bounds the sources between "fetch started" and "row queued", so bodies waiting
        # for an extraction worker cannot pile up in memory when the network outpaces
        # extraction: memory stays flat whatever the number of sources.
        inflight = asyncio.Semaphore(self.settings.concurrency)
        async with client_factory(self.settings) as client:
            await asyncio.gather(*(self._source(client, limiter, inflight, s) for s in sources))

    async def _source(
        self,
        client: httpx.AsyncClient,
        limiter: HostLimiter,
        inflight: asyncio.Semaphore,
        s: Source,
    ) -> None:
        async with inflight:
            await self._capture_source(client, limiter, s)

    async def _capture_source(
        self, client: httpx.AsyncClient, limiter: HostLimiter, s: Source
    ) -> None:
        assert s.url
        outcome = SourceOutcome(s.id, s.url, "failed")
        try:
            # the cited URL, then its alternates, then a web archive's copy: the first
            # good capture (no error, not suspect) ends the search
            targets = [(s.url, "live")] + [(u, "alternate") for u in s.alternates]
            tried: list[dict[str, Any]] = []
            for url, method in targets:
                tried.append(await self._capture(client, limiter, s, url, method))
                if _rank(tried[-1]) == 2:
                    break
            embeds: list[dict[str, Any]] = []
            adapter = adapter_for(s.url)
            if adapter is not None and max(map(_rank, tried)) > 0:
                for extra in adapter.extra_urls(s.url):
                    embeds.append(await self._capture(client, limiter, s, extra, "embed"))
            fallback: list[dict[str, Any]] = []
            if max(map(_rank, tried + embeds)) < 2 and self.settings.fallback:
                fallback = await self._fallback(client, s)
            best = max(tried + fallback, key=_rank)  # the first of the best: live wins ties
            _fill_outcome(outcome, best)
            if fallback and best["error"] is not None:
                outcome.error = f"{best['error']}; {_archive_words(fallback[-1])}"
        except Exception as exc:  # a bug must not stop the batch; it is recorded as data
            outcome.status, outcome.error = "failed", f"internal error: {exc!r}"
            traceback.print_exc()  # and keeps its traceback, for the bug report
            self.pending.append(
                {**self._row_frame(s), "requested_url": s.url, "method": "live",
                 "error": outcome.error, "error_kind": "internal"}
            )  # fmt: skip
        self.outcomes.append(outcome)
        self._maybe_flush(force=False)
        if self.progress:
            self.progress(outcome)

    async def _fallback(self, client: httpx.AsyncClient, s: Source) -> list[dict[str, Any]]:
        """Look the source up in web archives and capture the best memento (method
        "memento"); the rows made, [] when no archive could be asked."""
        target = self.targets.get(s.id, Target())
        lookup = None
        for original in [s.url, *s.alternates]:
            assert original
            found = await find_mementos(client, original, target, self.settings, self.archives)
            lookup = found or lookup
            if found is not None and found.mementos:
                break
        if lookup is None:
            return []
        if not lookup.mementos:
            row = {**self._row_frame(s), **lookup_failure_row(lookup, target)}
            self.pending.append(row)
            return [row]
        rows = []
        for m in choose_mementos(lookup.mementos, target)[: max(1, self.settings.fallback_tries)]:
            url = raw_memento_url(m.url)
            rows.append(await self._capture(client, self.archives, s, url, "memento", (m, target)))
            if _rank(rows[-1]) == 2:
                break
        return rows

    async def _capture(
        self,
        client: httpx.AsyncClient,
        limiter: HostLimiter,
        s: Source,
        url: str,
        method: str,
        memento: tuple[Memento, Target] | None = None,
    ) -> dict[str, Any]:
        started = time.monotonic()
        result = await fetch(client, url, self.settings, limiter=limiter)
        row = self._base_row(s, url, method, result)
        if memento is not None:
            row.update(memento_columns(*memento, result))
        final = result.exchanges[-1] if result.exchanges else None
        # The document's hash is a fact only when its bytes are whole: a body cut at the cap
        # or the deadline, or whose Content-Encoding could not be undone, gets none (the WARC
        # record still holds what arrived, and its own digests vouch for those bytes).
        whole = final is not None and not final.truncated and result.error_kind != "decode"
        payload_sha = (
            hashlib.sha256(result.body).hexdigest()
            if final and final.status_code and whole
            else None
        )
        earlier = (
            self.archive.find_payload(s.id, payload_sha)
            if payload_sha and result.error is None
            else None
        )
        if earlier is not None and earlier["warc_payload_digest"] != warc_payload_digest(
            final.raw_body if final else b""
        ):
            # Same document, other bytes on the wire (e.g. now gzip-encoded): a revisit
            # would point a gzip-labelled response at plain bytes. Store it in full.
            earlier = None
        locations = self._write_exchanges(result, revisit_of=earlier)
        if final is not None and final.status_code is not None:
            loc = locations[-1]
            row.update(
                payload_sha256=payload_sha,
                payload_length=len(result.body) if payload_sha else None,
                warc_filename=loc.filename, warc_offset=loc.offset, warc_length=loc.length,
                warc_record_id=loc.record_id,
                warc_payload_digest=(earlier or {}).get("warc_payload_digest")
                or loc.payload_digest,
            )  # fmt: skip
        if earlier is not None:
            row["revisit_of"] = earlier["id"]
            for key in ("charset", "charset_source", "kind", "title", "author", "published",
                        "text", "text_sha256", "language", "suspect", "not_text"):  # fmt: skip
                row[key] = earlier[key]
        elif final is not None and final.status_code is not None and result.body:
            loop = asyncio.get_running_loop()
            ex: Extraction = await loop.run_in_executor(
                self.pool, extract_job, result.final_url, result.body,
                result.content_type, s.language, memento is not None,
            )  # fmt: skip
            row.update(
                charset=ex.charset, charset_source=ex.charset_source, kind=ex.kind,
                title=ex.title, author=ex.author, published=ex.published, text=ex.text,
                text_sha256=ex.text_sha256, language=ex.language,
                suspect=ex.suspect if row["error"] is None else None,
                not_text=int(ex.not_text),
            )  # fmt: skip
        row["duration_ms"] = int((time.monotonic() - started) * 1000)
        self.pending.append(row)
        return row

    def _base_row(self, s: Source, url: str, method: str, r: FetchResult) -> dict[str, Any]:
        final = r.exchanges[-1] if r.exchanges else None
        return {
            **self._row_frame(s), "requested_url": url,
            "url": r.final_url, "method": method,
            "fetched_at": iso(final.started_at) if final else utcnow(),
            "status_code": r.status_code, "content_type": r.content_type,
            "error": r.error, "error_kind": r.error_kind,
            "truncated": int(bool(final and final.truncated)),
            "redirects": r.redirects,
            "response_headers": [list(h) for h in final.response_headers] if final else None,
            "ip": r.peer_ip, "tls": r.tls, "attempts": r.attempts,
        }  # fmt: skip

    def _row_frame(self, s: Source) -> dict[str, Any]:
        """The columns every captures row of this run and source shares."""
        return {
            "run_id": self.run_id, "source_id": s.id, "fetched_at": utcnow(),
            "tool_version": __version__, "user_agent": self.settings.user_agent,
        }  # fmt: skip

    def _write_exchanges(
        self, result: FetchResult, *, revisit_of: dict[str, Any] | None
    ) -> list[RecordLocation]:
        """Request + response records for every exchange that got a response; the last
        location is the final response (or its revisit record)."""
        final = result.exchanges[-1] if result.exchanges else None
        locations = []
        for ex in result.exchanges:
            if ex.status_code is None:
                continue
            records = exchange_records(
                self.warc.builder, ex, revisit_of=revisit_of if ex is final else None
            )
            locations.append(self.warc.write(list(records))[0])
        return locations

    def _maybe_flush(self, *, force: bool) -> None:
        if not self.pending:
            return
        if (
            force
            or len(self.pending) >= FLUSH_EVERY_ROWS
            or time.monotonic() - self.last_flush >= FLUSH_EVERY_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        """fsync the WARC, then commit the rows that point into it."""
        if not self.pending:
            return
        self.warc.sync()
        rows, self.pending = self.pending, []
        ids = self.archive.insert_captures(rows)
        for row, cid in zip(rows, ids, strict=True):
            row["id"] = cid
        self.last_flush = time.monotonic()


def _archive_words(row: dict[str, Any]) -> str:
    """A failed fallback row's error, saying that it is about the archived copy."""
    error = str(row["error"])
    if error.startswith(("web archive", "no archived copy")):
        return error
    return f"archived copy at {row.get('archive_name')}: {error}"


def _rank(row: dict[str, Any]) -> int:
    """2 a good capture, 1 a suspect one (kept, flagged), 0 a failure."""
    if row.get("error") is not None:
        return 0
    return 1 if row.get("suspect") else 2


def _fill_outcome(outcome: SourceOutcome, row: dict[str, Any]) -> None:
    outcome.url = row["url"] or outcome.url
    outcome.method = row["method"]
    outcome.status_code = row.get("status_code")
    outcome.error = row.get("error")
    outcome.suspect = row.get("suspect")
    outcome.title = row.get("title")
    outcome.language = row.get("language")
    outcome.payload_sha256 = row.get("payload_sha256")
    outcome.revisit = row.get("revisit_of") is not None
    outcome.memento_datetime = row.get("memento_datetime")
    if row.get("error"):
        outcome.status = "failed"
    else:
        outcome.status = "suspect" if row.get("suspect") else "captured"
