"""``citearchive import-warc``: captures made by other tools, matched to sources by URL.

A browser-based recorder (for pages that need JavaScript or a login), ``wget
--warc-file``, browsertrix-crawler or an institution's crawler writes WARC (or WACZ)
files. Their response records are matched to the manifest's sources by URL, normalized
as :func:`~citearchive.capture.adapters.normalize_url` does and with http and https taken as one,
and each match becomes a capture with method ``import``:

- the records are *copied* into the archive's own run WARC (the archive's WARC files are
  its single store of raw bytes; a foreign file is never referenced in place): the
  response (a redirect chain is followed inside the imported files, hop by hop), its
  request when the file has one, and a revisit record *resolved*, i.e. written as the
  full response it stands for;
- ``payload_sha256`` is the digest of the body with chunking and Content-Encoding undone,
  by the same decoder as a live capture and fixity use; the text is extracted as
  ``fetch`` extracts it (:func:`citearchive.capture.workers.extract_job`);
- the original ``WARC-Date`` becomes ``fetched_at``; ``imported_from`` names the file
  (``crawl.wacz#archive/data.warc.gz`` inside a WACZ) and ``imported_record_id`` the
  original record.

Every input is read through once and checked (:mod:`citearchive.warc.reader`: a WARC, not
truncated, whole gzip members) before anything in the archive changes: bad input is a
:class:`~citearchive.errors.WarcImportError` naming the file, and the archive is
untouched. A record already imported (same source, same payload, same date) is skipped,
so importing a file twice adds nothing. A WACZ's own proofs (hashes, signature, RFC 3161
tokens) are checked first (:mod:`citearchive.capture.wacz_check`): one that does not hold
is imported all the same (its records are what they are, and this import is timestamped
in turn), but the report says so loudly, ``ok`` is false, and a ``package`` check records
it. The matched records are held in memory while they are copied: fine for the pages a
commentary cites.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

from warcio.statusandheaders import StatusAndHeaders

from .. import __version__
from ..archive.store import Archive
from ..archive.timestamps import stamp_run
from ..config import Settings, resolve_settings
from ..errors import WarcImportError
from ..sources.manifest import Manifest, Source
from ..warc.reader import (
    HttpMessage,
    Part,
    Rec,
    decode_body,
    load,
    parts_of,
    scan,
)
from ..warc.writer import RecordLocation, WarcFile
from .adapters import match_key, normalize_url
from .extract import Extraction
from .wacz_check import PackageCheck, check_packages, check_rows
from .workers import (
    ExtractionFailed,
    extract_job,
    extraction_pool,
    failure_columns,
    markup_problem,
    pool_shutdown,
)

METHOD = "import"
MAX_HOPS = 10  # redirects followed inside the imported files
REDIRECTS = (301, 302, 303, 307, 308)
CUT = ("decode", "truncated", "too-large")  # bodies that are not the whole document


# --- matching ---------------------------------------------------------------------------


def _iso_seconds(warc_date: str) -> str:
    try:
        when = dt.datetime.fromisoformat(warc_date.replace("Z", "+00:00"))
    except ValueError:
        return warc_date
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Index:
    """The records of every input, looked up by URL, id and payload digest."""

    def __init__(self, recs: list[Rec]) -> None:
        self.by_id: dict[str, Rec] = {}
        self.by_url: dict[str, list[Rec]] = {}
        self.by_norm: dict[str, list[Rec]] = {}
        self.by_digest: dict[str, list[Rec]] = {}
        self.request_for: dict[tuple[int, str], Rec] = {}  # (part, response id) -> request
        requests: list[Rec] = []
        for r in recs:
            if r.record_id:
                self.by_id.setdefault(r.record_id, r)
            if r.rec_type == "request":
                requests.append(r)
            elif r.rec_type == "response" and r.url and r.payload_digest:
                self.by_digest.setdefault(r.payload_digest, []).append(r)
        for r in recs:
            if r.rec_type == "revisit":
                r.original = self.resolve(r)
                if r.original is not None and r.status is None:  # a revisit without HTTP headers
                    o = r.original
                    r.status, r.reason, r.location = o.status, o.reason, o.location
                    r.content_type, r.content_encoding = o.content_type, o.content_encoding
            if r.rec_type in ("response", "revisit") and r.url and r.status is not None:
                self.by_url.setdefault(urldefrag(r.url)[0], []).append(r)
                self.by_norm.setdefault(normalize_url(r.url), []).append(r)
        for q in requests:  # either side may name the other in WARC-Concurrent-To
            if q.concurrent_to:
                self.request_for.setdefault((q.part, q.concurrent_to), q)
        for r in recs:
            if r.rec_type == "response" and r.concurrent_to and r.record_id:
                named = self.by_id.get(r.concurrent_to)
                if named is not None and named.rec_type == "request":
                    self.request_for.setdefault((r.part, r.record_id), named)

    def resolve(self, r: Rec) -> Rec | None:
        """The response a revisit stands for (None: not in the imported files)."""
        cand = self.by_id.get(r.refers_to or "")
        if cand is not None and cand.rec_type == "response":
            return cand
        same = self.by_digest.get(r.payload_digest or "", [])
        exact = [c for c in same if r.refers_to_uri and c.url == r.refers_to_uri]
        return (exact or same)[0] if same else None

    def target(self, r: Rec, url: str) -> Rec | None:
        """The response for a redirect's target: same file first, closest in time after."""
        cands = self.by_url.get(urldefrag(url)[0]) or [
            c for c in self.by_norm.get(normalize_url(url), []) if c is not r
        ]
        if not cands:
            return None
        when = r.date or ""
        return min(cands, key=lambda c: (c.part != r.part, (c.date or "") < when, c.date or ""))


@dataclass
class _Chain:
    """A matched record and the hops to its final response."""

    source: Source
    hops: list[Rec]  # the matched record first, the final response last
    error: str | None = None
    error_kind: str | None = None

    @property
    def final(self) -> Rec:
        return self.hops[-1]

    def payload(self) -> Rec:
        """The record whose body is the final response's (a revisit's original)."""
        return self.final.original or self.final


def _follow(index: _Index, source: Source, first: Rec) -> _Chain:
    chain = _Chain(source, [first])
    seen = {id(first)}
    while True:
        r = chain.final
        if r.status not in REDIRECTS or not r.location or len(chain.hops) > MAX_HOPS:
            break
        target_url = urljoin(r.url or "", r.location)
        nxt = index.target(r, target_url)
        if nxt is None or id(nxt) in seen or (nxt.rec_type == "revisit" and not nxt.original):
            chain.error_kind = "http"
            why = (
                "a redirect loop"
                if nxt is not None and id(nxt) in seen
                else ("not in the imported files")
            )
            chain.error = f"HTTP {r.status} {r.reason}".rstrip() + f" to {target_url}: {why}"
            return chain
        seen.add(id(nxt))
        chain.hops.append(nxt)
    r = chain.final
    if chain.payload().decode_error:
        chain.error, chain.error_kind = chain.payload().decode_error, "decode"
    elif chain.payload().too_large:
        # as fetch treats a body over its cap: archived, flagged, no hash, no text
        chain.error, chain.error_kind = f"body too large: {chain.payload().too_large}", "too-large"
    elif chain.payload().truncated:
        # as fetch treats a body cut at its cap: what arrived is archived, but it is not
        # the whole document, so it is no evidence of what the source says
        chain.error, chain.error_kind = "the record is truncated (WARC-Truncated)", "truncated"
    elif r.status is None or not 200 <= r.status < 300:
        chain.error, chain.error_kind = f"HTTP {r.status} {r.reason}".rstrip(), "http"
    return chain


# --- the report -----------------------------------------------------------------------


@dataclass
class ImportedCapture:
    """One record matched to one source (one line of the report)."""

    source_id: str
    url: str  # the matched record's URL
    final_url: str
    fetched_at: str
    imported_from: str
    status: str  # "imported" | "suspect" | "failed" | "duplicate"
    status_code: int | None = None
    capture_id: int | None = None
    error: str | None = None
    suspect: str | None = None
    title: str | None = None
    payload_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ImportWarcReport:
    """What an import did: captures made or skipped, and the URLs that matched nothing."""

    run_id: str | None
    archive: str
    warc_filename: str | None
    files: list[str]
    captures: list[ImportedCapture] = field(default_factory=list)
    unmatched_urls: list[str] = field(default_factory=list)  # responses citing no source
    unresolved: list[str] = field(default_factory=list)  # matched records that cannot be used
    sources_not_found: list[str] = field(default_factory=list)  # sources no record matched
    records: int = 0  # response and revisit records read
    packages: list[PackageCheck] = field(default_factory=list)  # each WACZ's own proofs

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in ("imported", "suspect", "failed", "duplicate")}
        for c in self.captures:
            out[c.status] += 1
        out["unmatched"] = len(self.unmatched_urls)
        return out

    @property
    def ok(self) -> bool:
        """A record matched a source (imported now or before), and no WACZ failed its check."""
        return bool(self.captures) and not any(p.failed for p in self.packages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "archive": self.archive,
            "warc_filename": self.warc_filename, "files": self.files,
            "counts": self.counts(), "ok": self.ok, "records": self.records,
            "captures": [c.to_dict() for c in self.captures],
            "unmatched_urls": self.unmatched_urls, "unresolved": self.unresolved,
            "sources_not_found": self.sources_not_found,
            "packages": [p.to_dict() for p in self.packages],
        }  # fmt: skip


# --- the import -------------------------------------------------------------------------


def import_warcs(
    manifest: Manifest,
    archive_root: str | Path,
    paths: Sequence[str | Path],
    *,
    progress: Callable[[ImportedCapture], None] | None = None,
    executor: Executor | None = None,
) -> ImportWarcReport:
    """Import the response records of WARC/WACZ ``paths`` that match the manifest's sources.

    Raises WarcImportError (before the archive is touched) when an input is unreadable.
    """
    if not paths:
        raise WarcImportError("no WARC or WACZ file given")
    settings = resolve_settings(manifest.settings)
    parts = [p for path in paths for p in parts_of(Path(path))]
    recs = [r for i, part in enumerate(parts) for r in scan(i, part, settings.max_bytes)]
    index = _Index(recs)
    report = ImportWarcReport(None, str(Path(archive_root)), None, [str(p) for p in paths])
    wacz = [p.path for p in parts if p.member is not None]
    report.packages = check_packages(wacz, settings.tsa_certs)
    chains = _match(manifest, index, recs, parts, report)
    archive = Archive.open(archive_root)
    try:
        with archive.locked():
            archive.sync_manifest(manifest)
            todo = _new_chains(archive, chains, parts, report)
            if todo:
                _write(archive, settings, parts, index, todo, report, executor)
            if report.packages:
                archive.insert_checks(check_rows(report.packages, report.run_id))
    finally:
        archive.close()
    for c in report.captures:
        if progress:
            progress(c)
    return report


def _match(
    manifest: Manifest, index: _Index, recs: list[Rec], parts: list[Part], rep: ImportWarcReport
) -> list[_Chain]:
    wanted: dict[str, list[Source]] = {}
    for s in manifest.sources:
        for url in dict.fromkeys([s.url, *s.alternates]):
            key = match_key(url) if url else None
            if key is not None and s not in wanted.setdefault(key, []):
                wanted[key].append(s)
    chains: list[_Chain] = []
    unmatched: set[str] = set()
    found: set[str] = set()
    for r in recs:
        if r.rec_type not in ("response", "revisit") or not r.url:
            continue
        rep.records += 1
        sources = wanted.get(match_key(r.url) or "", [])
        if not sources:
            unmatched.add(r.url)
            continue
        if r.rec_type == "revisit" and r.original is None:
            rep.unresolved.append(
                f"{parts[r.part].label}: revisit of {r.url} ({r.date}): the record it "
                "repeats is not in the imported files"
            )
            continue
        if not r.kept:  # its block is over the cap: nothing is copied
            rep.unresolved.append(
                f"{parts[r.part].label}: record of {r.url} ({r.date}) not imported: {r.too_large}"
            )
            continue
        if r.status is None:
            rep.unresolved.append(
                f"{parts[r.part].label}: record of {r.url} ({r.date}) holds no HTTP response"
            )
            continue
        for s in sources:
            found.add(s.id)
            chains.append(_follow(index, s, r))
    rep.unmatched_urls = sorted(unmatched - {h.url for ch in chains for h in ch.hops})
    rep.sources_not_found = [s.id for s in manifest.sources if s.url and s.id not in found]
    return chains


def _new_chains(
    archive: Archive, chains: list[_Chain], parts: list[Part], rep: ImportWarcReport
) -> list[_Chain]:
    """The chains not imported before; the others are reported as duplicates."""
    todo: list[_Chain] = []
    seen: set[tuple[str, str | None, str]] = set()
    for ch in chains:
        key = (ch.source.id, ch.payload().sha256, _iso_seconds(ch.final.date or ""))
        earlier = archive.db.execute(
            "SELECT id FROM captures WHERE source_id = ? AND payload_sha256 IS ? "
            "AND fetched_at = ? ORDER BY id LIMIT 1",
            list(key),
        ).fetchone()
        if earlier is None and key not in seen:
            seen.add(key)
            todo.append(ch)
            continue
        rep.captures.append(
            ImportedCapture(
                ch.source.id, ch.hops[0].url or "", ch.final.url or "", key[2],
                parts[ch.final.part].label, "duplicate", ch.final.status,
                earlier[0] if earlier else None, payload_sha256=key[1],
            )
        )  # fmt: skip
    return todo


def _write(
    archive: Archive,
    settings: Settings,
    parts: list[Part],
    index: _Index,
    chains: list[_Chain],
    rep: ImportWarcReport,
    executor: Executor | None,
) -> None:
    exchanges = {(r.part, r.index): r for ch in chains for r in ch.hops}
    needed = set(exchanges)
    needed |= {(r.original.part, r.original.index) for r in exchanges.values() if r.original}
    requests = {k: q for k, r in exchanges.items() if (q := _request(index, r)) is not None}
    needed |= {(q.part, q.index) for q in requests.values()}
    loaded = load(parts, needed)
    run_id = archive.start_run("import-warc", settings={"files": rep.files}, user_agent=None)
    info = {
        "software": f"citearchive/{__version__} (warcio) import-warc",
        "format": "WARC File Format 1.1",
        "description": "records copied from WARC files made by other tools",
        "imported-from": ", ".join(dict.fromkeys(p.label for p in parts)),
    }
    warc = archive.open_warc(run_id, level=settings.warc_gzip_level, info=info)
    try:
        locs = {k: _copy(warc, r, loaded, requests.get(k)) for k, r in sorted(exchanges.items())}
        whole = {_job_key(ch): ch for ch in chains if ch.error_kind not in CUT}
        extractions = _extract(whole, loaded, executor, settings)
        rows = []
        for ch in chains:
            row = _row(ch, run_id, locs[(ch.final.part, ch.final.index)], parts)
            row["response_headers"] = [list(h) for h in _head(ch.final, loaded).headers]
            asked = _request(index, ch.hops[0])
            row["user_agent"] = asked.user_agent if asked else None
            _add_extraction(row, extractions.get(_job_key(ch)), ch.error)
            rows.append(row)
        warc.sync()
    finally:
        warc.close()
    ids = archive.insert_captures(rows)
    for ch, row, cid in zip(chains, rows, ids, strict=True):
        status = "failed" if row["error"] else "suspect" if row.get("suspect") else "imported"
        rep.captures.append(
            ImportedCapture(
                ch.source.id, row["requested_url"], row["url"], row["fetched_at"],
                row["imported_from"], status, row["status_code"], cid, row["error"],
                row.get("suspect"), row.get("title"), row["payload_sha256"],
            )
        )  # fmt: skip
    rep.run_id, rep.warc_filename = run_id, warc.name
    archive.finish_run(run_id, rep.counts())
    stamp_run(archive, run_id, settings, written=warc.written())  # manifest + RFC 3161 tokens


def _request(index: _Index, r: Rec) -> Rec | None:
    return index.request_for.get((r.part, r.record_id or ""))


def _copy(
    warc: WarcFile, r: Rec, loaded: dict[tuple[int, int], HttpMessage], request: Rec | None
) -> RecordLocation:
    """Write one exchange: the response (a revisit resolved) and its request, if any."""
    head = _head(r, loaded)
    payload = r.original or r
    headers = [
        ("X-Archive-Orig-Transfer-Encoding", v) if k.lower() == "transfer-encoding" else (k, v)
        for k, v in head.headers
    ]  # the stored body is de-chunked: keep the fact, not the framing
    warc_headers = {"WARC-Date": r.date or ""}
    if r.ip:
        warc_headers["WARC-IP-Address"] = r.ip
    if payload.truncated:
        warc_headers["WARC-Truncated"] = "length"
    builder = warc.builder
    record = builder.create_warc_record(
        r.url, "response", payload=io.BytesIO(loaded[(payload.part, payload.index)].body),
        http_headers=StatusAndHeaders(head.statusline, headers, protocol=head.protocol),
        warc_headers_dict=warc_headers,
    )  # fmt: skip
    out = [record]
    req = loaded.get((request.part, request.index)) if request is not None else None
    if request is not None and req is not None:
        copy = builder.create_warc_record(
            r.url, "request", payload=io.BytesIO(req.body),
            http_headers=StatusAndHeaders(
                f"{req.head.protocol} {req.head.statusline}", req.head.headers,
                protocol="", is_http_request=True,
            ),
            warc_headers_dict={"WARC-Date": request.date or r.date or ""},
        )  # fmt: skip
        copy.rec_headers.add_header(
            "WARC-Concurrent-To", record.rec_headers.get_header("WARC-Record-ID")
        )
        out.append(copy)
    return warc.write(out)[0]


def _head(r: Rec, loaded: dict[tuple[int, int], HttpMessage]) -> StatusAndHeaders:
    """The HTTP headers to store for ``r``: a revisit's own, unless it has none or they do
    not describe its original's body (another status or Content-Encoding): the original's."""
    own = loaded.get((r.part, r.index))
    o = r.original
    if o is not None and (
        own is None or r.status != o.status or r.content_encoding != o.content_encoding
    ):
        return loaded[(o.part, o.index)].head
    assert own is not None
    return own.head


def _job_key(ch: _Chain) -> tuple[int, int, str | None]:
    final = ch.payload()
    return (final.part, final.index, ch.source.language)


def _extract(
    jobs: dict[tuple[int, int, str | None], _Chain],
    loaded: dict[tuple[int, int], HttpMessage],
    executor: Executor | None,
    settings: Settings,
) -> dict[tuple[int, int, str | None], Extraction | str]:
    """Extraction for each whole final payload, as fetch does it, within the same limits
    (a process pool; the reason in words when a payload was not extracted)."""
    args = {}
    refused: dict[tuple[int, int, str | None], Extraction | str] = {}
    for key, ch in jobs.items():
        body_rec = ch.payload()
        http = loaded[(body_rec.part, body_rec.index)]
        decoded = decode_body(http.body, body_rec.content_encoding, settings.max_bytes)
        problem = markup_problem(decoded, body_rec.content_type, settings)
        if problem is not None:
            refused[key] = problem
        elif decoded:
            args[key] = (ch.final.url or "", decoded, body_rec.content_type, ch.source.language)
    if not args:
        return refused
    pool = executor or extraction_pool(settings)
    try:
        futures = {k: pool.submit(extract_job, *a) for k, a in args.items()}
        return refused | {k: _result(f) for k, f in futures.items()}
    finally:
        if executor is None:
            pool_shutdown(pool)


def _result(future: Future[Extraction]) -> Extraction | str:
    try:
        return future.result()
    except ExtractionFailed as exc:
        return f"text not extracted: {exc}"


def _row(ch: _Chain, run_id: str, loc: RecordLocation, parts: list[Part]) -> dict[str, Any]:
    first, final, payload = ch.hops[0], ch.final, ch.payload()
    return {
        "run_id": run_id, "source_id": ch.source.id, "requested_url": first.url,
        "url": final.url, "method": METHOD, "fetched_at": _iso_seconds(final.date or ""),
        "status_code": final.status, "content_type": payload.content_type,
        "error": ch.error, "error_kind": ch.error_kind,
        "truncated": int(payload.truncated or ch.error_kind == "too-large"),
        "redirects": [
            {"url": h.url, "status": h.status, "location": h.location} for h in ch.hops[:-1]
        ],
        "ip": final.ip, "tool_version": __version__, "attempts": 1,
        # a document's hash is a fact only when its bytes are whole (as in fetch)
        "payload_sha256": None if ch.error_kind in CUT else payload.sha256,
        "payload_length": None if ch.error_kind in CUT else payload.length,
        "warc_filename": loc.filename, "warc_offset": loc.offset, "warc_length": loc.length,
        "warc_record_id": loc.record_id, "warc_payload_digest": loc.payload_digest,
        "imported_from": parts[final.part].label, "imported_record_id": final.record_id,
        "duration_ms": 0,
    }  # fmt: skip


def _add_extraction(row: dict[str, Any], ex: Extraction | str | None, error: str | None) -> None:
    if ex is None:
        return
    if isinstance(ex, str):
        row.update(failure_columns(row, ex))
        return
    row.update(
        charset=ex.charset, charset_source=ex.charset_source, kind=ex.kind,
        title=ex.title, author=ex.author, published=ex.published, text=ex.text,
        text_sha256=ex.text_sha256, language=ex.language,
        suspect=ex.suspect if error is None else None, not_text=int(ex.not_text),
    )  # fmt: skip
