"""citearchive: archive every source a commentary cites, and prove it later.

The public API is listed in ``__all__``; names load lazily (``import citearchive`` stays
cheap for the CLI), each from the module of its pipeline stage:

    manifest -> commentary/importer -> fetch/adapters -> extract -> store -> verify
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # sources.toml
    "load_manifest": "manifest", "parse_manifest": "manifest", "Manifest": "manifest",
    "Document": "manifest", "Footnote": "manifest", "Source": "manifest", "Claim": "manifest",
    # commentary
    "parse_commentary": "commentary", "read_commentary": "commentary", "lint": "commentary",
    "Commentary": "commentary", "LintWarning": "commentary",
    "import_commentary": "importer", "ImportReport": "importer",
    # capture
    "fetch_sources": "capture", "FetchReport": "capture", "SourceOutcome": "capture",
    "fetch": "fetch", "make_client": "fetch", "Exchange": "fetch", "FetchResult": "fetch",
    "HostLimiter": "politeness",
    "find_mementos": "fallback", "Memento": "memento", "choose_mementos": "memento",
    "Adapter": "adapters", "adapter_for": "adapters", "normalize_url": "adapters",
    "extract": "extract", "Extraction": "extract", "normalize_text": "extract",
    "text_sha256": "extract",
    # verify
    "verify_archive": "verify", "VerifyReport": "verify", "ClaimRow": "verify",
    "Check": "verify", "source_status": "status", "StatusRow": "status",
    "check_fixity": "fixity", "FixityResult": "fixity", "anchor": "quotes",
    # interchange
    "import_warcs": "warcimport", "ImportWarcReport": "warcimport",
    "ImportedCapture": "warcimport", "export_wacz": "wacz",
    "export_robust_links": "robustlinks", "RobustLinks": "robustlinks",
    # browse
    "make_datasette": "browse", "datasette_metadata": "browse", "create_views": "views",
    # archive
    "Archive": "store", "search": "search", "SearchHit": "search",
    # configuration and errors
    "Settings": "config", "resolve_settings": "config",
    "CitearchiveError": "errors", "ManifestError": "errors", "CommentaryError": "errors",
    "WarcImportError": "errors", "ArchiveError": "errors", "ArchiveLockedError": "errors",
    "UsageError": "errors",
}  # fmt: skip

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'citearchive' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
