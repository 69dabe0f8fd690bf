"""``citearchive export robust-links``: the footnotes as Robust Links, and as CSL-JSON.

A Robust Link (robustlinks.mementoweb.org) is an ordinary ``<a href>`` to the cited page
that also carries ``data-originalurl`` (the page), ``data-versionurl`` (an archived copy)
and ``data-versiondate`` (when the copy was taken), so a reader (or the Robust Links
script) can reach the copy when the page has rotted or drifted. The version is the
capture of the source closest to the footnote's access date (else the newest), among its
good captures (no error, not suspect, a WARC record); its URL is, in this order:

- ``<base_url>/-/citearchive/capture/<id>``, the capture page of the archive published
  with ``citearchive serve``/Datasette, when a base URL is given;
- the memento's own URL, when the capture came from a web archive (method ``memento``);
- the archived-payload route ``/-/citearchive/archived/<id>`` (relative to where the
  archive is served).

The same information goes out as CSL-JSON (one item per source, ``archive_location``
and ``note`` naming the copy) for Zotero and other reference managers. Every value is
escaped: footnote text, titles and URLs come from the commentary and the archived pages.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..archive.store import Archive
from ..sources.manifest import Document, Footnote, Manifest, Source

CAPTURE_PATH = "/-/citearchive/capture/{id}"  # browse.plugin.capture_path
ARCHIVED_PATH = "/-/citearchive/archived/{id}"  # browse.plugin.archived_path
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_URL_ENDS = r"(?![\w/?#=%~+&-])"  # the URL in a footnote's text is not a longer one's prefix
_SAFE_URL = re.compile(r"^(https?://|/)", re.IGNORECASE)
STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}"
    "ol{padding-left:2rem}li{margin:.5rem 0}.archived{font-size:.85em;color:#555}"
    ".unarchived{font-size:.85em;color:#a00}"
)


@dataclass(frozen=True)
class Version:
    """The archived copy a source's links point at."""

    capture_id: int
    original_url: str
    version_url: str
    version_date: str  # YYYY-MM-DD, as Robust Links examples give it
    captured_at: str  # the full timestamp
    method: str
    title: str | None = None
    author: str | None = None
    published: str | None = None
    payload_sha256: str | None = None
    archive_name: str | None = None


@dataclass
class RobustLinks:
    """The export: an HTML document, CSL-JSON items, and the sources left without a copy."""

    html: str
    csl: list[dict[str, Any]]
    unarchived: list[str] = field(default_factory=list)  # source ids with no good capture

    def to_dict(self) -> dict[str, Any]:
        return {"csl": self.csl, "unarchived": self.unarchived}


def export_robust_links(
    manifest: Manifest, archive_root: str | Path, *, base_url: str | None = None
) -> RobustLinks:
    """The commentary's footnotes with Robust Links to their sources' archived copies."""
    archive = Archive.open(archive_root, create=False)
    try:
        accessed = _accessed_by_source(manifest)
        versions = {
            s.id: _version(archive, s, accessed.get(s.id), base_url)
            for s in manifest.sources
            if s.url
        }
    finally:
        archive.close()
    unarchived = [s.id for s in manifest.sources if versions.get(s.id) is None]
    csl = [_csl_item(s, versions.get(s.id), accessed.get(s.id)) for s in manifest.sources]
    return RobustLinks(_document_html(manifest, versions), csl, unarchived)


# --- choosing the version ---------------------------------------------------------------


def _accessed_by_source(manifest: Manifest) -> dict[str, str]:
    """Per source, the access date its footnotes give (the latest, when several do)."""
    by_note = {(f.document, f.number): f.accessed for f in manifest.all_footnotes if f.accessed}
    out: dict[str, str] = {}
    for s in manifest.sources:
        dates = [d for n in s.footnotes if (d := by_note.get((s.document, n)))]
        if dates:
            out[s.id] = max(dates)
    return out


def _version(
    archive: Archive, s: Source, accessed: str | None, base_url: str | None
) -> Version | None:
    rows = list(
        archive.db.query(
            "SELECT * FROM captures WHERE source_id = ? AND error IS NULL AND suspect IS NULL "
            "AND warc_filename IS NOT NULL ORDER BY fetched_at, id",
            [s.id],
        )
    )
    if not rows:
        return None
    row = min(rows, key=lambda r: _distance(_when(r), accessed)) if accessed else rows[-1]
    cid = int(row["id"])
    memento = row["method"] == "memento"
    if base_url:
        version_url = base_url.rstrip("/") + CAPTURE_PATH.format(id=cid)
    elif memento:
        version_url = row["url"] or row["requested_url"]
    else:
        version_url = ARCHIVED_PATH.format(id=cid)
    when = _when(row)
    return Version(
        capture_id=cid,
        original_url=(row.get("original_url") if memento else None) or s.url or row["url"],
        version_url=version_url, version_date=when[:10], captured_at=when,
        method=row["method"], title=row["title"], author=row["author"],
        published=row["published"], payload_sha256=row["payload_sha256"],
        archive_name=row.get("archive_name") if memento else None,
    )  # fmt: skip


def _when(row: dict[str, Any]) -> str:
    """When the copy was taken: the web archive's datetime for a memento."""
    return str((row.get("memento_datetime") if row["method"] == "memento" else None)
               or row["fetched_at"])  # fmt: skip


def _distance(when: str, target: str) -> tuple[int, str]:
    """Days between two ISO dates (a missing month or day counts as the first), then the
    date itself: the sort key of "closest to the access date"."""
    a, b = _ordinal(when), _ordinal(target)
    return (abs(a - b) if a is not None and b is not None else 1 << 30, when)


def _ordinal(value: str) -> int | None:
    parts = _date_parts(value)
    if not parts:
        return None
    try:
        return dt.date(parts[0], *[*parts[1:], 1, 1][:2]).toordinal()
    except ValueError:
        return None


def _date_parts(value: str | None) -> list[int]:
    m = _DATE.match(value or "")
    return [int(g) for g in m.groups() if g] if m else []


# --- HTML -------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _href(url: str) -> str:
    """An escaped URL for an attribute; anything but http(s) or a path becomes "#"."""
    return _esc(url) if _SAFE_URL.match(url) else "#"


def robust_link(url: str, v: Version, label: str | None = None) -> str:
    """One ``<a>`` to ``url`` carrying the Robust Links attributes of version ``v``."""
    return (
        f'<a href="{_href(url)}" data-originalurl="{_href(v.original_url)}" '
        f'data-versionurl="{_href(v.version_url)}" data-versiondate="{_esc(v.version_date)}">'
        f"{_esc(label or url)}</a>"
    )


def _archived_note(v: Version) -> str:
    where = f" at {_esc(v.archive_name)}" if v.archive_name else ""
    return (
        f' <span class="archived">[<a href="{_href(v.version_url)}" '
        f'title="captured {_esc(v.captured_at)}{where}">archived {_esc(v.version_date)}</a>]'
        "</span>"
    )


def _footnote_html(
    text: str, sources: Iterable[Source], versions: dict[str, Version | None]
) -> str:
    """The footnote's text, escaped, each cited URL in it made a Robust Link (a link is
    appended for a source whose URL the text does not contain)."""
    body = _esc(text)
    spans: list[tuple[int, int, str]] = []  # (start, end, link) in ``body``
    tail = []
    for s in sources:
        if not s.url:
            continue
        v = versions.get(s.id)
        found = _find_url(body, _esc(s.url), spans)
        label = None if found else s.title or (v.title if v else None) or s.url
        link = _link(s.url, v, label)
        if found:
            spans.append((*found, link))
        else:
            tail.append(link)
    out, pos = [], 0
    for start, end, link in sorted(spans):
        out += [body[pos:start], link]
        pos = end
    return " ".join(["".join([*out, body[pos:]]), *tail]).strip()


def _find_url(body: str, url: str, taken: list[tuple[int, int, str]]) -> tuple[int, int] | None:
    """Where ``url`` stands in ``body`` as a whole URL, outside the spans already linked."""
    for m in re.finditer(re.escape(url) + _URL_ENDS, body):
        if not any(a < m.end() and m.start() < b for a, b, _ in taken):
            return m.start(), m.end()
    return None


def _link(url: str, v: Version | None, label: str | None) -> str:
    if v is None:
        return (
            f'<a href="{_href(url)}" data-originalurl="{_href(url)}">{_esc(label or url)}</a>'
            ' <span class="unarchived">[not archived]</span>'
        )
    return robust_link(url, v, label) + _archived_note(v)


def _document_html(manifest: Manifest, versions: dict[str, Version | None]) -> str:
    docs = list(manifest.documents) or [Document(id="", title="Sources")]
    lang = next((d.language for d in docs if d.language), None)
    sections = [_section(manifest, d, versions) for d in docs]
    title = "Footnotes: " + "; ".join(d.title for d in docs)
    lang_attr = f' lang="{_esc(lang)}"' if lang else ""
    return (
        f"<!DOCTYPE html>\n<html{lang_attr}>\n<head>\n"
        f'<meta charset="utf-8">\n<title>{_esc(title)}</title>\n<style>{STYLE}</style>\n'
        "</head>\n<body>\n" + "\n".join(sections) + "</body>\n</html>\n"
    )


def _section(manifest: Manifest, doc: Document, versions: dict[str, Version | None]) -> str:
    notes: dict[int, Footnote] = {f.number: f for f in manifest.all_footnotes
                                  if f.document == doc.id}  # fmt: skip
    items = []
    for n, note in notes.items():
        text = note.text or ""
        cited = manifest.sources_for(doc.id, n)
        items.append(
            f'<li id="fn-{_esc(doc.id)}-{n}" value="{n}">'
            f"{_footnote_html(text, cited, versions)}</li>"
        )
    return (
        f'<section class="footnotes" data-document="{_esc(doc.id)}">\n'
        f"<h2>{_esc(doc.title)}</h2>\n<ol>\n" + "\n".join(items) + "\n</ol>\n</section>\n"
    )


# --- CSL-JSON ---------------------------------------------------------------------------


def _csl_date(value: str | None) -> dict[str, Any] | None:
    parts = _date_parts(value)
    return {"date-parts": [parts]} if parts else None


def _csl_item(s: Source, v: Version | None, accessed: str | None) -> dict[str, Any]:
    """One CSL-JSON item (type "webpage") for a source, with its archived copy."""
    title = s.title or (v.title if v else None) or s.url or s.id
    item: dict[str, Any] = {"id": s.id, "type": "webpage", "title": title}
    if s.publisher:
        item["container-title"] = s.publisher
        item["publisher"] = s.publisher
    if s.url:
        item["URL"] = s.url
    if s.language:
        item["language"] = s.language
    if v is not None and v.author:
        item["author"] = [{"literal": v.author}]
    issued = _csl_date(s.published or (v.published if v else None))
    if issued:
        item["issued"] = issued
    seen = _csl_date(accessed or (v.captured_at if v else None))
    if seen:
        item["accessed"] = seen
    if v is not None:
        item["archive"] = v.archive_name or "citearchive"
        item["archive_location"] = v.version_url
        digest = f", payload sha256 {v.payload_sha256}" if v.payload_sha256 else ""
        item["note"] = (
            f"Archived copy: {v.version_url} (captured {v.captured_at}, "
            f"capture {v.capture_id}, method {v.method}{digest})"
        )
    return item
