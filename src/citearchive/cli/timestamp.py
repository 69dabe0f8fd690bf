"""``citearchive timestamp``: RFC 3161 tokens for every run that has none yet."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import ArchiveOpt, JsonOpt, SourcesOpt, err, handles_errors, out, print_json
from .render import safe


@handles_errors
def timestamp(
    sources: SourcesOpt = Path("sources.toml"),
    archive: ArchiveOpt = Path("archive"),
    as_json: JsonOpt = False,
) -> None:
    """Timestamp every fetch and import-warc run that has no RFC 3161 token yet.

    Each run's manifest (warc/<run>.manifest.txt: every WARC record and capture hash of the
    run) is sent, as its SHA-256, to every TSA in [settings] tsa_urls; each token is kept
    as warc/<run>.<tsa>.tsr and a row of the timestamps table. Use it when a TSA was
    unreachable during fetch. Exit 0 when every run now has a token, 1 when a TSA still
    did not answer, 2 when no TSA is configured.
    """
    from ..archive.timestamps import stamp_pending
    from ..config import resolve_settings
    from ..errors import UsageError
    from ..sources.manifest import load_manifest

    manifest = load_manifest(sources)
    settings = resolve_settings(manifest.settings)
    if not settings.tsa_urls:
        raise UsageError(
            f"{sources}: no TSA configured ([settings] tsa_urls is empty); name one or more "
            "RFC 3161 timestamp authorities there"
        )
    results = stamp_pending(archive, settings)
    stamped = {r.run_id for r in results if r.ok}
    missing = sorted({r.run_id for r in results} - stamped)
    if as_json:
        print_json(
            {"archive": str(archive), "stamped_runs": sorted(stamped),
             "unstamped_runs": missing, "results": [r.to_dict() for r in results]}
        )  # fmt: skip
    else:
        for r in results:
            if r.ok:
                out.print(f"{safe(r.run_id)}: timestamped by {safe(str(r.tsa_name))} at "
                          f"{r.gen_time} -> warc/{safe(str(r.token_filename))}")  # fmt: skip
            else:
                err.print(f"{safe(r.run_id)}: {safe(r.tsa_url)}: {safe(str(r.error))}")
        if not results:
            out.print("every run is timestamped")
        elif missing:
            err.print(f"{len(missing)} run(s) still without a token; try again later")
    raise typer.Exit(1 if missing else 0)
