"""Rank the URLs a web archive holds for each unresolved source.

Per source: the domains (:func:`.publishers.domains_for`), a window around the footnote's
date (the day before to three days after; a whole month for ``YYYY-MM``), the captures in
that window (:class:`.cdx.ArchiveIndex`), a first ranking by URL alone (the date in the
path, article-like depth, no assets; captures made on the footnote's day first) to pick
the at most ``max_reads`` captures worth reading, then each one's archived title compared
with the footnote's title after :func:`.publishers.fold`. The score is that similarity
(character similarity times the share of the footnote title's words present, the best
of the whole title and its parts around " | ", " • ", " - ") plus 0.05 when the URL
carries the footnote's date and minus 0.1 when it carries another date.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from rapidfuzz import fuzz

from ..config import Settings
from ..sources.manifest import Manifest, Source
from .cdx import ArchiveIndex, ArchiveUnreachable, Capture, CdxFormatError
from .publishers import domains_for, fold

DEFAULT_MAX_READS = 10  # archived pages read per source
DEFAULT_MAX_CAPTURES = 500  # CDX rows considered per domain
DEFAULT_THRESHOLD = 0.85  # score --apply needs
_ASSET = re.compile(r"\.(?:css|js|json|xml|rss|jpe?g|png|gif|svg|ico|pdf|txt|woff2?)$", re.I)
_NOT_ARTICLE = re.compile(r"/(?:tag|tags|search|login|rss|feed|page|amp)(?:/|$)|[?&]page=", re.I)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_OG_TITLE = re.compile(
    rb"<meta[^>]+property=[\"']og:title[\"'][^>]+content=[\"']([^\"']*)[\"']", re.I
)
_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_-]+)", re.I)
_PARTS = re.compile(r"\s+[|•·—–-]\s+|\s+::\s+")


@dataclass
class Candidate:
    url: str
    memento_time: str
    archived_title: str | None
    score: float
    memento: str  # the archived copy's address


@dataclass
class SourceResult:
    source_id: str
    title: str | None
    domains: list[str]
    window: tuple[str, str] | None
    candidates: list[Candidate] = field(default_factory=list)
    captures_seen: int = 0
    pages_read: int = 0
    skipped: str | None = None  # why the source was not searched
    error: str | None = None

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


@dataclass
class ResolveReport:
    archive: str  # the CDX endpoint asked
    results: list[SourceResult]
    error: str | None = None  # the whole run stopped (offline)
    requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for r, result in zip(data["results"], self.results, strict=True):
            r["best"] = asdict(result.best) if result.best else None
        return data


def resolve_sources(
    manifest: Manifest,
    settings: Settings,
    client: httpx.Client,
    *,
    source_ids: list[str] | None = None,
    max_reads: int = DEFAULT_MAX_READS,
    deadline: float | None = None,
    sleep: Any = None,
) -> ResolveReport:
    """Search the archive for each unresolved source (or the named ones)."""
    wanted = [s for s in manifest.sources if not s.resolved]
    if source_ids:
        wanted = [manifest.source(sid) for sid in source_ids]
    kwargs = {"sleep": sleep} if sleep else {}
    index = ArchiveIndex(
        client, settings.wayback_cdx, settings.wayback_replay,
        deadline=deadline if deadline is not None else settings.deadline * 5,
        max_retry_after=settings.max_retry_after, max_attempts=settings.max_attempts, **kwargs,
    )  # fmt: skip
    report = ResolveReport(settings.wayback_cdx, [])
    for source in wanted:
        result = _prepare(source, manifest)
        report.results.append(result)
        if result.skipped:
            continue
        try:
            _search(index, source, result, max_reads)
        except ArchiveUnreachable as exc:
            report.error = f"{exc} — offline? nothing was changed"
            result.error = str(exc)
            break
        except (httpx.HTTPError, CdxFormatError, TimeoutError) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
    report.requests = index.requests
    return report


def _prepare(source: Source, manifest: Manifest) -> SourceResult:
    domains = list(domains_for(source, manifest))
    window = _window(source.published)
    result = SourceResult(source.id, source.title, domains, window)
    if source.resolved:
        result.skipped = "already has a url"
    elif not source.title:
        result.skipped = "no title to match"
    elif not domains:
        result.skipped = (
            f"no domain for publisher {source.publisher!r}: add a [[publisher]] "
            "or set domain on the source"
            if source.publisher
            else "no publisher: set domain on the source"
        )
    elif window is None:
        result.skipped = "no date to search around: set published"
    return result


def _window(published: str | None) -> tuple[str, str] | None:
    if not published:
        return None
    parts = [int(p) for p in published.split("-")]
    if len(parts) == 3:
        day = dt.date(*parts)
        return (day - dt.timedelta(days=1)).strftime("%Y%m%d"), (
            day + dt.timedelta(days=3)
        ).strftime("%Y%m%d")
    if len(parts) == 2:
        return f"{parts[0]:04d}{parts[1]:02d}01", f"{parts[0]:04d}{parts[1]:02d}31"
    return None


def _search(index: ArchiveIndex, source: Source, result: SourceResult, max_reads: int) -> None:
    assert result.window is not None
    seen: dict[str, Capture] = {}
    for domain in result.domains:
        for capture in index.captures(domain, *result.window, DEFAULT_MAX_CAPTURES):
            seen.setdefault(capture.urlkey, capture)
    result.captures_seen = len(seen)
    date = source.published or ""
    likely = sorted(
        (c for c in seen.values() if not _ASSET.search(urlsplit(c.original).path)),
        key=lambda c: (
            -_url_prior(c.original, date, source.title or "")
            - (1.0 if c.timestamp[:8] == date.replace("-", "") else 0.0)
        ),
    )
    for capture in likely[:max_reads]:
        if index.expired:
            break
        title = page_title(index.page(capture))
        result.pages_read += 1
        score = title_score(source.title or "", title) + date_signal(capture.original, date)
        result.candidates.append(
            Candidate(capture.original, capture.memento_time, title,
                      round(max(0.0, min(1.0, score)), 3),
                      f"{index.replay}{capture.timestamp}/{capture.original}")
        )  # fmt: skip
    result.candidates.sort(key=lambda c: -c.score)


def _url_prior(url: str, date: str, title: str) -> float:
    path = urlsplit(url).path
    score = 2 * date_signal(url, date) / 0.05 if date_signal(url, date) > 0 else 0.0
    score += min(path.strip("/").count("/"), 3) * 0.3 + (0.5 if re.search(r"\d{3,}", path) else 0)
    score -= 2 if _NOT_ARTICLE.search(url) else 0
    words = set(re.findall(r"\w{4,}", fold(title)))
    return score + len(words & set(re.findall(r"\w{4,}", fold(path))))


def date_signal(url: str, date: str) -> float:
    """+0.05 when the URL carries the footnote's date, -0.1 when another full date."""
    if len(date) != 10:
        return 0.0
    y, m, d = date.split("-")
    if re.search(rf"{y}[/_-]?{m}[/_-]?{d}(?!\d)", url):
        return 0.05
    if re.search(r"(?<!\d)20\d\d[/_-][01]\d[/_-][0-3]\d(?!\d)", url):
        return -0.1
    return 0.0


def title_score(footnote_title: str, archived: str | None) -> float:
    """0..1: the footnote title against the archived title or one of its parts."""
    if not archived:
        return 0.0
    want = fold(footnote_title)
    parts = [fold(p) for p in [archived, *_PARTS.split(archived)] if p.strip()]
    return max(fuzz.ratio(want, p) / 100 * _coverage(want, p) for p in parts)


def _coverage(want: str, got: str) -> float:
    """The share of the footnote title's words in ``got`` (1 for titles of under 3 words).

    Character similarity forgives a changed last word ("… США" / "… Финляндии"); a
    title that lacks one of the footnote's words is another page.
    """
    words = re.findall(r"\w+", want)
    if len(words) < 3:
        return 1.0
    have = set(re.findall(r"\w+", got))
    return sum(w in have for w in words) / len(words)


def page_title(body: bytes) -> str | None:
    """The title of an archived HTML page (og:title, else <title>), decoded."""
    head = body[:300_000]
    m = _OG_TITLE.search(head) or _TITLE.search(head)
    if not m:
        return None
    cs = _CHARSET.search(head)
    charset = cs.group(1).decode("ascii") if cs else "utf-8"
    try:
        text = m.group(1).decode(charset, "replace")
    except LookupError:
        text = m.group(1).decode("utf-8", "replace")
    return re.sub(r"\s+", " ", html.unescape(text)).strip() or None
