"""citearchive: archive every source a commentary cites, and prove it later.

The public API is listed in ``__all__``; names load lazily (``import citearchive`` stays
cheap for the CLI), each from the folder of its stage of the loop:

    sources (sources.toml, import) -> capture (fetch, extract) -> warc + archive (the
    records and the index) -> verify -> browse / export; cli is the command over them all
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "load_manifest": "sources.manifest", "parse_manifest": "sources.manifest",
    "Manifest": "sources.manifest", "Document": "sources.manifest", "Footnote": "sources.manifest",
    "Source": "sources.manifest", "Claim": "sources.manifest",
    "parse_commentary": "sources.commentary", "read_commentary": "sources.commentary",
    "lint": "sources.commentary", "Commentary": "sources.commentary",
    "LintWarning": "sources.commentary",
    "import_commentary": "sources.importer", "ImportReport": "sources.importer",
    "fetch_sources": "capture.pipeline", "FetchReport": "capture.pipeline",
    "SourceOutcome": "capture.pipeline",
    "fetch": "capture.fetch", "make_client": "capture.fetch", "Exchange": "capture.fetch",
    "FetchResult": "capture.fetch",
    "HostLimiter": "capture.politeness",
    "find_mementos": "capture.fallback",
    "Memento": "capture.memento", "choose_mementos": "capture.memento",
    "Adapter": "capture.adapters", "adapter_for": "capture.adapters",
    "normalize_url": "capture.adapters",
    "extract": "capture.extract", "Extraction": "capture.extract",
    "normalize_text": "capture.extract", "text_sha256": "capture.extract",
    "verify_archive": "verify.run", "VerifyReport": "verify.run", "ClaimRow": "verify.run",
    "Check": "verify.run",
    "source_status": "verify.status", "StatusRow": "verify.status",
    "check_fixity": "verify.fixity", "FixityResult": "verify.fixity",
    "anchor": "verify.quotes",
    "import_warcs": "capture.import_warc", "ImportWarcReport": "capture.import_warc",
    "ImportedCapture": "capture.import_warc",
    "export_wacz": "export.wacz",
    "export_robust_links": "export.robustlinks", "RobustLinks": "export.robustlinks",
    "export_dossier": "export.dossier", "dossier_data": "export.dossier_data",
    "make_datasette": "browse.serve",
    "datasette_metadata": "browse.metadata",
    "create_views": "archive.views",
    "Archive": "archive.store",
    "search": "archive.search", "SearchHit": "archive.search",
    "Settings": "config", "resolve_settings": "config",
    "CitearchiveError": "errors", "ManifestError": "errors", "CommentaryError": "errors",
    "WarcImportError": "errors", "ArchiveError": "errors", "ArchiveLockedError": "errors",
    "UsageError": "errors",
    "suggest_claims": "verify.suggest", "SuggestReport": "verify.suggest",
    "apply_suggestions": "verify.suggest_apply", "load_embedder": "verify.embedder",
    "Embedder": "verify.embedder", "ModelMissingError": "errors",
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
