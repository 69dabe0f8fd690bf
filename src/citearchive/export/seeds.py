"""``citearchive export seeds``: the sources' URLs as a crawler's seed list.

For archives that outgrow one machine, Webrecorder's browsertrix-crawler (which runs
distributed under Kubernetes as Browsertrix) captures the pages instead: ``--format
browsertrix`` writes its YAML crawl config, one seed per cited URL (and alternate) with
scope ``page`` (that page only, no links followed), a WACZ at the end with the pages' text
and a full-page screenshot of each. ``citearchive import-warc`` reads that WACZ back.
``--format txt`` writes a plain seed file (one URL a line, browsertrix's ``--seedFile``).

The YAML is written by hand, every string double-quoted with YAML's escapes for anything
that is not printable (no value can escape its quotes or start a new line), so that nothing
depends on a YAML library's dumper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..errors import UsageError
from ..sources.manifest import Manifest

FORMATS = ("browsertrix", "txt")


@dataclass
class Seeds:
    """The seed list: its text, the URLs in it, and the sources that have none."""

    text: str
    urls: list[str]
    unresolved: list[str] = field(default_factory=list)  # source ids without a URL

    def to_dict(self) -> dict[str, Any]:
        return {"urls": self.urls, "unresolved": self.unresolved}


def seed_urls(manifest: Manifest, *, alternates: bool = True) -> tuple[list[str], list[str]]:
    """Every resolved source's URL (and its alternates), once each, in manifest order; and
    the ids of the sources without a URL."""
    urls: list[str] = []
    seen: set[str] = set()
    unresolved = []
    for s in manifest.sources:
        if not s.url:
            unresolved.append(s.id)
            continue
        for url in [s.url, *(s.alternates if alternates else ())]:
            if url not in seen:
                seen.add(url)
                urls.append(url)
    return urls, unresolved


def export_seeds(
    manifest: Manifest, *, fmt: str = "browsertrix", collection: str = "citearchive"
) -> Seeds:
    """The sources' URLs in format ``fmt`` ("browsertrix": YAML crawl config; "txt")."""
    if fmt not in FORMATS:
        raise UsageError(f"--format: unknown seed format {fmt!r} (use {' or '.join(FORMATS)})")
    urls, unresolved = seed_urls(manifest)
    if fmt == "txt":
        return Seeds("".join(u + "\n" for u in urls), urls, unresolved)
    q = yaml_string
    lines = [
        f"# browsertrix-crawler crawl config written by citearchive {__version__}",
        f"# from {q(str(manifest.path))}: {len(urls)} cited URLs, each alone (scope: page)",
        "# Run: docker run -i -v $PWD/crawls:/crawls/ webrecorder/browsertrix-crawler \\",
        "#        crawl --config stdin < crawl-config.yaml",
        "# then: citearchive import-warc crawls/collections/<collection>/<collection>.wacz",
        f"collection: {q(collection)}",
        "generateWACZ: true",
        'text: "to-pages"',
        'screenshot: "view,fullPage"',
        "workers: 2",
        "scopeType: page",
        "seeds:",
    ]
    for url in urls:
        lines += [f"  - url: {q(url)}", "    scopeType: page"]
    if not urls:
        lines[-1] = "seeds: []"
    return Seeds("\n".join(lines) + "\n", urls, unresolved)


_LINE_BREAKS = (0x85, 0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF)


def yaml_string(value: str) -> str:
    """``value`` as a YAML double-quoted scalar: printable characters as they are (any
    language), quotes and backslashes escaped, everything else as ``\\u``/``\\U`` escapes."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F or (
            code >= 0xA0 and code not in _LINE_BREAKS and not 0xD800 <= code <= 0xDFFF
        ):
            out.append(ch)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)
