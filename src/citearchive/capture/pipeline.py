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
from pathlib import Path
from typing import Any

import httpx

from .. import __version__
from ..archive.store import Archive
from ..archive.timestamps import stamp_run
from ..config import Settings, resolve_settings
from ..errors import UsageError
from ..sources.manifest import Manifest, Source
from ..warc.writer import RecordLocation, WarcFile
from .adapters import adapter_for
from .browser import BrowserPool, browser_available
from .browser_archive import browser_columns
from .exchange_records import exchange_records, warc_payload_digest
from .extract import Extraction
from .fallback import (
    archive_limiter,
    fallback_target,
    find_mementos,
    lookup_failure_row,
    memento_columns,
)
from .fetch import FetchResult, HostLimiter, fetch, make_client
from .js_shell import js_shell_reason
from .memento import Memento, Target, choose_mementos, raw_memento_url
from .report import FetchReport, SourceOutcome, archive_words, fill_outcome, rank
from .rows import REVISITED_COLUMNS, RowBatch, extraction_columns, response_columns, row_frame
from .workers import (
    ExtractionFailed,
    extract_job,
    extraction_pool,
    failure_columns,
    markup_problem,
    pool_shutdown,
)


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
            pool = executor or extraction_pool(settings)
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
            # run manifest + RFC 3161 tokens; never fails
            stamp_run(archive, run_id, settings, written=warc.written())
            return report
    finally:
        archive.close()


def whole(result: FetchResult) -> bool:
    """Whether the final body arrived whole: the document's hash and text are facts only
    then. A body cut at the cap or the deadline, or whose Content-Encoding could not be
    undone, gets neither (the WARC record still holds what arrived, and its own digests
    vouch for those bytes)."""
    final = result.exchanges[-1] if result.exchanges else None
    return final is not None and not final.truncated and result.error_kind != "decode"


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
    """One fetch run on the event loop: each source's captures, in the order that finds a
    good one soonest (cited URL, alternates, site embeds, a web archive's copy)."""

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
        self.rows = RowBatch(archive, warc)
        self.targets = targets or {}  # per source: what a fallback memento should be closest to
        self.archives = archive_limiter(settings)  # one request at a time per web archive
        self.browsers = BrowserPool(settings)  # Chromium, started when a page first needs it

    async def run(
        self, sources: list[Source], client_factory: Callable[[Settings], httpx.AsyncClient]
    ) -> None:
        limiter = HostLimiter(self.settings)
        # Bounds the sources between "fetch started" and "row queued", so bodies waiting
        # for an extraction worker cannot pile up in memory when the network outpaces
        # extraction: memory stays flat whatever the number of sources.
        inflight = asyncio.Semaphore(self.settings.concurrency)

        async def one(client: httpx.AsyncClient, s: Source) -> None:
            async with inflight:
                await self._capture_source(client, limiter, s)

        try:
            async with client_factory(self.settings) as client:
                await asyncio.gather(*(one(client, s) for s in sources))
        finally:
            await self.browsers.close()

    def flush(self) -> None:
        """Commit the rows still waiting (their WARC records first)."""
        self.rows.flush()

    # -- one source ----------------------------------------------------------------------------

    async def _capture_source(
        self, client: httpx.AsyncClient, limiter: HostLimiter, s: Source
    ) -> None:
        assert s.url
        outcome = SourceOutcome(s.id, s.url, "failed")
        try:
            tried = await self._cited_urls(client, limiter, s)
            tried = [*await self._browser_capture(s, tried), *tried]  # the browser's counts
            embeds = await self._embeds(client, limiter, s, tried)
            fallback: list[dict[str, Any]] = []
            if max(map(rank, tried + embeds)) < 2 and self.settings.fallback:
                fallback = await self._fallback(client, s)
            best = max(tried + fallback, key=rank)  # the first of the best: live wins ties
            fill_outcome(outcome, best)
            if fallback and best["error"] is not None:
                outcome.error = f"{best['error']}; {archive_words(fallback[-1])}"
        except Exception as exc:  # a bug must not stop the batch; it is recorded as data
            outcome.status, outcome.error = "failed", f"internal error: {exc!r}"
            traceback.print_exc()  # and keeps its traceback, for the bug report
            self.rows.add(
                {**self._frame(s), "requested_url": s.url, "method": "live",
                 "error": outcome.error, "error_kind": "internal"}
            )  # fmt: skip
        self.outcomes.append(outcome)
        self.rows.maybe_flush()
        if self.progress:
            self.progress(outcome)

    async def _cited_urls(
        self, client: httpx.AsyncClient, limiter: HostLimiter, s: Source
    ) -> list[dict[str, Any]]:
        """The cited URL, then its alternates, until one gives a good capture."""
        assert s.url
        tried: list[dict[str, Any]] = []
        for url, method in [(s.url, "live"), *((u, "alternate") for u in s.alternates)]:
            tried.append(await self._capture(client, limiter, s, url, method))
            if rank(tried[-1]) == 2:
                break
        return tried

    async def _embeds(
        self,
        client: httpx.AsyncClient,
        limiter: HostLimiter,
        s: Source,
        tried: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """A site adapter's extra views of a page that answered (Telegram's embed)."""
        assert s.url
        adapter = adapter_for(s.url)
        if adapter is None or max(map(rank, tried)) == 0:
            return []
        browse = adapter.browser_extras and self._browser_helps(s)
        return [
            await self._browse(s, extra, "embed")
            if browse
            else await self._capture(client, limiter, s, extra, "embed")
            for extra in adapter.extra_urls(s.url)
        ]

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
            row = {**self._frame(s), **lookup_failure_row(lookup, target)}
            self.rows.add(row)
            return [row]
        rows = []
        for m in choose_mementos(lookup.mementos, target)[: max(1, self.settings.fallback_tries)]:
            url = raw_memento_url(m.url)
            rows.append(await self._capture(client, self.archives, s, url, "memento", (m, target)))
            if rank(rows[-1]) == 2:
                break
        return rows

    # -- one URL -----------------------------------------------------------------------------

    async def _capture(
        self,
        client: httpx.AsyncClient,
        limiter: HostLimiter,
        s: Source,
        url: str,
        method: str,
        memento: tuple[Memento, Target] | None = None,
    ) -> dict[str, Any]:
        """Fetch ``url``, write its records, extract its text: one captures row, queued."""
        started = time.monotonic()
        result = await fetch(client, url, self.settings, limiter=limiter)
        row = {**self._frame(s), **response_columns(url, method, result)}
        if memento is not None:
            row.update(memento_columns(*memento, result))
        earlier = self._record(s, result, row)
        final = result.exchanges[-1] if result.exchanges else None
        if earlier is not None:
            row["revisit_of"] = earlier["id"]
            row.update({key: earlier[key] for key in REVISITED_COLUMNS})
        elif final is not None and final.status_code is not None and result.body and whole(result):
            # A body cut at the cap or the deadline, or one that could not be decoded, is
            # evidence of what the server sent (its records are written), not a document.
            await self._extract(row, result, s.language, memento is not None)
            if row.get("kind") == "html" and method in ("live", "alternate"):
                row["js_shell"] = js_shell_reason(bytes(result.body), row.get("text"))
        row["duration_ms"] = int((time.monotonic() - started) * 1000)
        self.rows.add(row)
        return row

    async def _browser_capture(
        self, s: Source, tried: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """A capture in headless Chromium (method "browser": network records, screenshot,
        rendered DOM) when the source or the run asks for one, or when the HTTP capture
        looks like a JavaScript shell; [] otherwise."""
        assert s.url
        asked = s.capture == "browser" or (self.settings.browser and s.capture != "http")
        shell = next((r for r in tried if r.get("js_shell")), None)
        if not asked and (shell is None or not self._browser_helps(s)):
            return []  # without a browser a shell's HTTP capture stands (flagged js_shell)
        if not browser_available(self.settings):
            why = f"browser capture asked for, but no Chromium at {self.settings.browser_path}"
            row = {**self._frame(s), "requested_url": s.url, "url": s.url, "method": "browser",
                   "error": why, "error_kind": "browser"}  # fmt: skip
            self.rows.add(row)
            return [row]
        return [await self._browse(s, shell["requested_url"] if shell else s.url, "browser")]

    def _browser_helps(self, s: Source) -> bool:
        """The browser may be used for this source without being asked (Chromium is there)."""
        allowed = self.settings.browser_auto and s.capture != "http"
        return allowed and browser_available(self.settings)

    async def _browse(self, s: Source, url: str, method: str) -> dict[str, Any]:
        """Capture ``url`` in headless Chromium: its records written, one row (``method``
        "browser", or "embed" for a site adapter's view), text from the rendered DOM."""
        started = time.monotonic()
        cap = await self.browsers.capture(url)
        row = {**self._frame(s), **browser_columns(self.warc, cap), "method": method}
        if cap.dom:
            dom = cap.dom.encode("utf-8", "replace")
            problem = markup_problem(dom, "text/html; charset=utf-8", self.settings)
            try:
                if problem is not None:
                    raise ExtractionFailed(problem)
                ex: Extraction = await asyncio.get_running_loop().run_in_executor(
                    self.pool, extract_job, cap.final_url, dom,
                    "text/html; charset=utf-8", s.language, False,
                )  # fmt: skip
            except ExtractionFailed as exc:
                row.update(failure_columns(row, f"text not extracted: {exc}"))
            else:
                row.update(extraction_columns(ex, failed=row["error"] is not None))
        row["duration_ms"] = int((time.monotonic() - started) * 1000)
        self.rows.add(row)
        return row

    async def _extract(
        self, row: dict[str, Any], result: FetchResult, language: str | None, replay: bool
    ) -> None:
        """The text of a whole body into ``row``; within the extraction limits, else the
        reason as ``error_kind`` "extract" (issue 10: extraction is bounded like the download)."""
        body = bytes(result.body)  # a whole body is bytes already: not copied
        problem = markup_problem(body, result.content_type, self.settings)
        if problem is not None:
            row.update(failure_columns(row, problem))
            return
        loop = asyncio.get_running_loop()
        try:
            ex: Extraction = await loop.run_in_executor(
                self.pool, extract_job, result.final_url, body,
                result.content_type, language, replay,
            )  # fmt: skip
        except ExtractionFailed as exc:
            row.update(failure_columns(row, f"text not extracted: {exc}"))
            return
        row.update(extraction_columns(ex, failed=row["error"] is not None))

    def _record(self, s: Source, result: FetchResult, row: dict[str, Any]) -> dict[str, Any] | None:
        """Write the result's WARC records and their place and digests into ``row``; the
        earlier capture of the same document this one revisits, if any."""
        final = result.exchanges[-1] if result.exchanges else None
        payload_sha = (
            hashlib.sha256(result.body).hexdigest()
            if final and final.status_code and whole(result)
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
        return earlier

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

    def _frame(self, s: Source) -> dict[str, Any]:
        return row_frame(self.run_id, self.settings, s)
