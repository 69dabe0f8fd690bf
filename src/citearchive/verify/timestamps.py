"""``verify``'s ``timestamp`` checks: does each run's RFC 3161 token vouch for the evidence?

For every ``fetch`` and ``import-warc`` run, the run manifest is built again from the WARC
file itself and the capture rows (:func:`citearchive.archive.runs.build_manifest`), and
each token of the run is checked:

1. its message imprint is the SHA-256 of that rebuilt manifest -- else, when it matches the
   manifest stored at capture time, the evidence changed since (the first difference is
   named: a record's bytes, a capture's ``payload_sha256`` ...), and when it matches
   neither, the token is not this run's at all (a token of another run swapped in);
2. its signature and certificate chain (:mod:`citearchive.archive.tokencheck`; checked at
   the token's own time): signed by a certificate with the critical ``timeStamping``
   extended key usage that chains to a trusted root -- the system's roots plus
   ``[settings] tsa_certs`` -- else "bad signature", "untrusted TSA certificate" or
   "expired TSA certificate".

A run without a token is still held to the manifest written when its WARC file closed: a
capture row edited since (its ``text_sha256`` with its ``text``, its ``payload_sha256``)
fails as "evidence changed since capture" -- only a token makes that manifest itself
tamper-evident, but without one an edit must now touch three places, not two.

Outcomes: ``ok`` ("evidence timestamped by <TSA> at <time>"), ``untimestamped`` (no token
yet: not a failure, ``citearchive timestamp`` fixes it) and ``failed`` (the token does not
hold, or the manifest of an untimestamped run no longer matches; always a failure).
One check per run (subject ``run:<id>``) and one per claim
(subject ``claim:<id>``), for the runs that wrote the claim's evidence (each cited
source's newest sound capture).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from rfc3161_client import decode_timestamp_response as decode

from ..archive.runs import (
    STAMPED_COMMANDS,
    build_manifest,
    first_difference,
    manifest_version,
    stored_manifest,
)
from ..archive.store import Archive, claim_id
from ..archive.timestamps import gen_time, tsa_name
from ..archive.tokencheck import HASHES, check_signature, trust_roots
from ..config import resolve_settings
from ..sources.manifest import Manifest


@dataclass
class RunStamp:
    """What the tokens of one run prove."""

    run_id: str
    outcome: str  # "ok" | "untimestamped" | "failed"
    reason: str  # "timestamped", "no-token", "imprint-mismatch", "bad-signature", ...
    message: str  # one line for a person
    tsa: str | None = None
    time: str | None = None
    tokens: list[dict[str, Any]] = field(default_factory=list)


def check_token(
    body: bytes, rebuilt: bytes, stored: bytes | None, roots: list[x509.Certificate]
) -> dict[str, Any]:
    """One token against the rebuilt (and the stored) manifest: outcome, reason, message."""
    try:
        resp = decode(body)
    except ValueError as exc:
        return {"outcome": "failed", "reason": "unreadable-token",
                "message": f"unreadable token ({exc})"}  # fmt: skip
    info = {
        "tsa": tsa_name(resp),
        "time": gen_time(resp),
        "serial": str(resp.tst_info.serial_number),
    }
    algo = HASHES.get(resp.tst_info.message_imprint.hash_algorithm.dotted_string)
    imprint = resp.tst_info.message_imprint.message
    if algo is None:
        return {**info, "outcome": "failed", "reason": "imprint-mismatch",
                "message": "the token uses an unknown hash algorithm"}  # fmt: skip
    if imprint != hashlib.new(algo, rebuilt).digest():
        if stored is not None and imprint == hashlib.new(algo, stored).digest():
            why = "the evidence changed since it was timestamped: " + first_difference(
                stored, rebuilt
            )
        else:
            why = "the token is not over this run's manifest (a token of another run?)"
        return {**info, "outcome": "failed", "reason": "imprint-mismatch",
                "message": f"imprint mismatch: {why}"}  # fmt: skip
    reason, words = check_signature(resp, roots)
    if reason != "ok":
        return {**info, "outcome": "failed", "reason": reason, "message": words}
    return {**info, "outcome": "ok", "reason": "timestamped",
            "message": f"evidence timestamped by {info['tsa']} at {info['time']}"}  # fmt: skip


def check_run(archive: Archive, run_id: str, roots: list[x509.Certificate]) -> RunStamp:
    """What the run's tokens prove about its WARC file and capture rows as they are now."""
    rows = archive.db.execute(
        "SELECT tsa_url, token_filename, error FROM timestamps WHERE run_id = ? ORDER BY id",
        [run_id],
    ).fetchall()
    tokens = [(url, name) for url, name, _ in rows if name]
    stored = stored_manifest(archive, run_id)
    if not tokens and stored is None:
        return _no_token(run_id, rows)
    rebuilt = build_manifest(archive, run_id, manifest_version(stored))
    if not tokens:
        if stored is not None and stored != rebuilt:  # no TSA vouches, but the run's own
            return RunStamp(run_id, "failed", "manifest-changed", (  # record still does
                "evidence changed since capture: the run manifest written when its WARC "
                f"file closed says otherwise ({first_difference(stored, rebuilt)})"
            ))  # fmt: skip
        return _no_token(run_id, rows)
    results = []
    for url, name in tokens:
        path = archive.warc_dir / name
        if not path.is_file():
            result = {"outcome": "failed", "reason": "missing-token",
                      "message": f"token file {name} is missing"}  # fmt: skip
        else:
            result = check_token(path.read_bytes(), rebuilt, stored, roots)
        results.append({"tsa_url": url, "token": name, **result})
    bad = [r for r in results if r["outcome"] != "ok"]
    if bad:
        return RunStamp(run_id, "failed", bad[0]["reason"], bad[0]["message"],
                        bad[0].get("tsa"), bad[0].get("time"), results)  # fmt: skip
    first = min(results, key=lambda r: r["time"])
    return RunStamp(run_id, "ok", "timestamped", first["message"], first["tsa"],
                    first["time"], results)  # fmt: skip


def _no_token(run_id: str, rows: list[Any]) -> RunStamp:
    last = next((e for _, _, e in reversed(rows) if e), None)
    why = f"last attempt: {last}" if last else "no TSA was asked"
    words = f"evidence not timestamped: no token ({why}); run `citearchive timestamp`"
    return RunStamp(run_id, "untimestamped", "no-token", words)


def timestamp_checks(
    archive: Archive, manifest: Manifest, evidence: Callable[[str], list[int]]
) -> Iterator[dict[str, Any]]:
    """Fields of ``timestamp`` checks: one per run, then one per claim with evidence.

    ``evidence(source_id)`` gives the capture ids a claim citing the source rests on.
    """
    settings = resolve_settings(manifest.settings)
    roots = trust_roots(settings.tsa_certs)
    marks = ", ".join("?" for _ in STAMPED_COMMANDS)
    stamps: dict[str, RunStamp] = {}
    for (run_id,) in archive.db.execute(
        f"SELECT id FROM runs WHERE command IN ({marks}) AND warc_filename IS NOT NULL "
        "ORDER BY started_at, id",
        list(STAMPED_COMMANDS),
    ).fetchall():
        s = stamps[run_id] = check_run(archive, run_id, roots)
        detail = {"message": s.message, "reason": s.reason, "tsa": s.tsa, "time": s.time,
                  "tokens": s.tokens}  # fmt: skip
        yield {"kind": "timestamp", "subject": f"run:{run_id}", "outcome": s.outcome,
               "detail": detail}  # fmt: skip
    run_of = dict(archive.db.execute("SELECT id, run_id FROM captures").fetchall())
    for c in manifest.claims:
        cid = claim_id(c.document, c.index)
        per = [(src.id, capture, stamps.get(run_of.get(capture, "")))
               for src in manifest.sources_for(c.document, c.footnote)
               for capture in evidence(src.id)]  # fmt: skip
        if per:
            yield _claim_check(cid, per)


def _claim_check(cid: str, per: list[tuple[str, int, RunStamp | None]]) -> dict[str, Any]:
    """One claim's check from the stamps of the runs its evidence came from."""
    bad = [p for p in per if p[2] is not None and p[2].outcome == "failed"]
    unstamped = [p for p in per if p[2] is None or p[2].outcome == "untimestamped"]
    sid, capture, stamp = (bad or unstamped or per)[0]
    if bad:
        outcome = "failed"
        message = (
            f"capture {capture} ({sid}): timestamp does not hold: {stamp.message if stamp else ''}"
        )
    elif unstamped:
        why = stamp.message if stamp else "evidence not timestamped (its run wrote no WARC file)"
        outcome, message = "untimestamped", f"capture {capture} ({sid}): {why}"
    else:
        outcome = "ok"
        said = dict.fromkeys(f"by {p[2].tsa} at {p[2].time}" for p in per if p[2])
        message = "evidence timestamped " + "; ".join(said)
    runs = sorted({p[2].run_id for p in per if p[2]})
    return {"kind": "timestamp", "subject": f"claim:{cid}", "outcome": outcome,
            "detail": {"message": message, "runs": runs}, "source_id": sid,
            "claim_id": cid, "capture_id": capture}  # fmt: skip
