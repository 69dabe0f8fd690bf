"""``verify``'s ``timestamp`` checks: does each run's RFC 3161 token vouch for the evidence?

For every ``fetch`` and ``import-warc`` run, the run manifest is built again from the WARC
file itself and the capture rows (:func:`citearchive.archive.runs.build_manifest`), and
each token of the run is checked:

1. its message imprint is the SHA-256 of that rebuilt manifest -- else, when it matches the
   manifest stored at capture time, the evidence changed since (the first difference is
   named: a record's bytes, a capture's ``payload_sha256`` ...), and when it matches
   neither, the token is not this run's at all (a token of another run swapped in);
2. its signature and certificate chain (rfc3161-client over pyca/cryptography; checked at
   the token's own time): signed by a certificate with the critical ``timeStamping``
   extended key usage that chains to a trusted root -- the system's roots plus
   ``[settings] tsa_certs`` -- else "bad signature", "untrusted TSA certificate" or
   "expired TSA certificate".

Outcomes: ``ok`` ("evidence timestamped by <TSA> at <time>"), ``untimestamped`` (no token
yet: not a failure, ``citearchive timestamp`` fixes it) and ``failed`` (the token does not
hold; always a failure). One check per run (subject ``run:<id>``) and one per claim
(subject ``claim:<id>``), for the runs that wrote the claim's evidence (each cited
source's newest sound capture).
"""

from __future__ import annotations

import hashlib
import ssl
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import certifi
from cryptography import x509
from rfc3161_client import TimeStampResponse, VerificationError, VerifierBuilder
from rfc3161_client import decode_timestamp_response as decode

from ..archive.runs import STAMPED_COMMANDS, build_manifest, first_difference, stored_manifest
from ..archive.store import Archive, claim_id
from ..archive.timestamps import gen_time, tsa_name
from ..config import resolve_settings
from ..sources.manifest import Manifest

_HASHES = {"2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
           "2.16.840.1.101.3.4.2.3": "sha512"}  # fmt: skip


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


def system_roots() -> list[x509.Certificate]:
    """The system's trusted roots (Debian's bundle, else certifi's Mozilla bundle)."""
    paths = ssl.get_default_verify_paths()
    for name in (paths.cafile, paths.openssl_cafile, certifi.where()):
        if name and Path(name).is_file():
            return load_pems(Path(name))
    return []


def load_pems(path: Path) -> list[x509.Certificate]:
    """Every certificate of a PEM file that parses (a bundle may hold a few that do not)."""
    certs = []
    marker = b"-----END CERTIFICATE-----"
    for block in path.read_bytes().split(marker)[:-1]:
        try:
            with warnings.catch_warnings():  # a bundle's old roots may be loosely encoded
                warnings.simplefilter("ignore")
                certs.append(x509.load_pem_x509_certificate(block + marker))
        except ValueError:
            continue
    return certs


def trust_roots(cert_files: tuple[str, ...] | list[str]) -> list[x509.Certificate]:
    roots = system_roots()
    for name in cert_files:
        roots += load_pems(Path(name))
    return list({c.fingerprint(c.signature_hash_algorithm or _sha256()): c for c in roots}.values())


def _sha256() -> Any:
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()


def check_signature(resp: TimeStampResponse, roots: list[x509.Certificate]) -> tuple[str, str]:
    """("ok", "") or (reason, words): signature, chain to ``roots``, timeStamping EKU."""
    leaf = _signer(resp)
    when = resp.tst_info.gen_time
    if leaf is not None and not (leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc):
        return "expired-certificate", (
            f"expired TSA certificate: {leaf.subject.rfc4514_string()} was valid "
            f"{leaf.not_valid_before_utc:%Y-%m-%d} to {leaf.not_valid_after_utc:%Y-%m-%d}, "
            f"not at {gen_time(resp)}"
        )
    if not roots:
        return "untrusted-certificate", "untrusted TSA certificate: no trusted roots"
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify(resp, resp.tst_info.message_imprint.message)
    except VerificationError as exc:
        text = str(exc)
        who = leaf.issuer.rfc4514_string() if leaf is not None else "unknown issuer"
        if "signature failure" in text or "digest failure" in text:
            return "bad-signature", "bad signature: the token's signature does not verify"
        if "expired" in text or "not yet valid" in text:
            return "expired-certificate", f"expired TSA certificate in the chain ({who})"
        if "EKU" in text or "purpose" in text:
            return "bad-certificate", f"TSA certificate not for timestamping: {text}"
        if "verify error" in text or "issuer" in text or "self-signed" in text:
            return "untrusted-certificate", (
                f"untrusted TSA certificate: issued by {who}, which chains to no trusted root "
                "(add the TSA's root to [settings] tsa_certs if you trust it)"
            )
        return "bad-signature", f"the token does not verify: {text[:200]}"
    return "ok", ""


def _signer(resp: TimeStampResponse) -> x509.Certificate | None:
    certs = [x509.load_der_x509_certificate(c) for c in resp.signed_data.certificates]
    for si in resp.signed_data.signer_infos:
        for c in certs:
            if c.serial_number == si.serial_number:
                return c
    return certs[0] if certs else None


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
    algo = _HASHES.get(resp.tst_info.message_imprint.hash_algorithm.dotted_string)
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
    if not tokens:
        last = next((e for _, _, e in reversed(rows) if e), None)
        why = f"last attempt: {last}" if last else "no TSA was asked"
        words = f"evidence not timestamped: no token ({why}); run `citearchive timestamp`"
        return RunStamp(run_id, "untimestamped", "no-token", words)
    rebuilt = build_manifest(archive, run_id)
    stored = stored_manifest(archive, run_id)
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
