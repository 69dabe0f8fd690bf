"""Does a WACZ hold together? Its hashes, its signature, its timestamps, before import.

``import-warc`` runs :func:`check_wacz` on every WACZ it is given, before the archive is
touched, and reports and records (``checks``, kind ``package``) what it finds:

1. every file the package lists in ``datapackage.json`` is there and hashes to what it
   says (each member streamed through SHA-256, never held in memory), and no file is
   there unlisted;
2. ``datapackage-digest.json`` holds the hash of ``datapackage.json``;
3. its ``signedData`` (WACZ Signing 0.1.0, anonymous or domain identity) signs that hash;
4. its ``timestamps`` (citearchive's RFC 3161 tokens over ``datapackage.json``) hold:
   imprint, signature, a TSA certificate chaining to a trusted root;
5. the run manifests it carries (``timestamps/<run>.manifest.txt``) with their tokens
   (``<run>.<tsa>.tsr``) hold, and each names, by SHA-256, the WARC file the package holds.

Outcomes: ``ok`` (it holds, and a signature or a token vouches for it), ``unsealed`` (its
files match ``datapackage.json``, but nothing signs or timestamps it: most tools' WACZ)
and ``failed`` (something does not hold; the message names the first thing).
Parsing is :mod:`citearchive.archive.packagesign`'s; token checks
:mod:`citearchive.archive.tokencheck`'s.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography import x509

from ..archive.packagesign import (
    Verdict,
    check_der_token,
    check_signed,
    check_tokens,
    package_hash,
    parse_digest,
)
from ..archive.runs import MANIFEST_SUFFIX
from ..archive.store import utcnow
from ..archive.tokencheck import trust_roots

PACKAGE = "datapackage.json"
DIGEST = "datapackage-digest.json"
STAMPS = "timestamps/"
MAX_PACKAGE_BYTES = 64 << 20  # a package listing a few thousand files is well under 1 MB
MAX_TOKEN_BYTES = 1 << 20
CHUNK = 1 << 20


@dataclass
class PackageCheck:
    """What a WACZ's own proofs say, before its records are imported."""

    path: str
    outcome: str = "unsealed"  # "ok" | "unsealed" | "failed"
    message: str = ""
    files: int = 0  # files whose hash was checked against datapackage.json
    problems: list[str] = field(default_factory=list)  # integrity: what does not match
    signature: Verdict | None = None
    timestamps: list[Verdict] = field(default_factory=list)  # over datapackage.json
    runs: list[dict[str, Any]] = field(default_factory=list)  # carried run manifests

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "outcome": self.outcome, "message": self.message,
                "files": self.files, "problems": self.problems,
                "signature": self.signature.to_dict() if self.signature else None,
                "timestamps": [t.to_dict() for t in self.timestamps],
                "runs": self.runs}  # fmt: skip


def check_wacz(path: Path, roots: list[x509.Certificate]) -> PackageCheck:
    """Check the WACZ at ``path`` (see the module's list); never raises for its content."""
    check = PackageCheck(str(path))
    try:
        with zipfile.ZipFile(path) as zf:
            _check(zf, check, roots)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        check.problems.append(f"unreadable: {exc}")
    _conclude(check)
    return check


def _check(zf: zipfile.ZipFile, check: PackageCheck, roots: list[x509.Certificate]) -> None:
    names = {i.filename for i in zf.infolist() if not i.is_dir()}
    sha = {n: _sha256(zf, n) for n in sorted(names - {PACKAGE, DIGEST})}
    if PACKAGE not in names:
        check.problems.append(f"no {PACKAGE}: the package's files are not listed with hashes")
        return
    package = _read(zf, PACKAGE, MAX_PACKAGE_BYTES)
    listed = _listed(package, check)
    for name, want in listed.items():
        if name not in sha:
            check.problems.append(f"{name}: listed in {PACKAGE}, not in the package")
        elif not want.startswith("sha256:"):
            check.problems.append(f"{name}: {PACKAGE} gives no SHA-256 for it ({want[:20]})")
        elif want != "sha256:" + sha[name]:
            check.problems.append(f"{name}: its bytes do not match the hash in {PACKAGE}")
        else:
            check.files += 1
    for name in sorted(set(sha) - set(listed)):
        check.problems.append(f"{name}: in the package, not listed in {PACKAGE}")
    if DIGEST in names:
        _check_digest(_read(zf, DIGEST, MAX_PACKAGE_BYTES), package, check, roots)
    check.runs = _check_runs(zf, sorted(n for n in names if n.startswith(STAMPS)), sha, roots)


def _listed(package: bytes, check: PackageCheck) -> dict[str, str]:
    """``datapackage.json``'s resources: path -> hash ({} and a problem when unreadable)."""
    try:
        doc = json.loads(package)
        resources = doc["resources"] if isinstance(doc, dict) else None
        if not isinstance(resources, list):
            raise ValueError("no resources list")
        return {str(r["path"]): str(r["hash"]) for r in resources}
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        check.problems.append(f"{PACKAGE}: not a data package ({str(exc)[:80]})")
        return {}


def _check_digest(
    data: bytes, package: bytes, check: PackageCheck, roots: list[x509.Certificate]
) -> None:
    try:
        digest = parse_digest(data)
    except ValueError as exc:
        check.problems.append(f"{DIGEST}: {exc}")
        return
    if digest.hash != package_hash(package):
        check.problems.append(
            f"{PACKAGE} does not match the hash in {DIGEST} (edited after it was sealed?)"
        )
    if digest.signed is not None:
        check.signature = check_signed(digest.signed, digest.hash, roots)
    check.timestamps = check_tokens(digest, package, roots)


def _check_runs(
    zf: zipfile.ZipFile, names: list[str], sha: dict[str, str], roots: list[x509.Certificate]
) -> list[dict[str, Any]]:
    """Each carried run token against its manifest; each manifest against its WARC file."""
    manifests = {n[len(STAMPS) : -len(MANIFEST_SUFFIX)]: n for n in names
                 if n.endswith(MANIFEST_SUFFIX)}  # fmt: skip
    out: list[dict[str, Any]] = []
    for run, name in manifests.items():
        digests, warc, file_sha = _manifest_facts(zf, name)
        tokens = [n for n in names if n.startswith(f"{STAMPS}{run}.") and n.endswith(".tsr")]
        verdicts = [check_der_token(_read(zf, t, MAX_TOKEN_BYTES), digests, roots)
                    for t in tokens]  # fmt: skip
        problem = None
        member = f"archive/{warc}" if warc else None
        if member is None or member not in sha:
            problem = f"the run manifest names {warc or 'no'} WARC file, not in the package"
        elif sha[member] != file_sha:
            problem = f"{member} is not the WARC file the run manifest lists (its SHA-256 differs)"
        bad = [v for v in verdicts if v.outcome != "ok"]
        if problem or bad:
            outcome = "failed"
            message = problem or f"{bad[0].message} ({tokens[verdicts.index(bad[0])]})"
        elif verdicts:
            outcome = "ok"
            message = f"evidence timestamped by {verdicts[0].tsa} at {verdicts[0].time}"
        else:
            outcome, message = "untimestamped", "no token for this run manifest"
        out.append({"run": run, "manifest": name, "warc": member, "outcome": outcome,
                    "message": message, "tokens": [v.to_dict() for v in verdicts]})  # fmt: skip
    return out


def _manifest_facts(zf: zipfile.ZipFile, name: str) -> tuple[dict[str, bytes], str, str]:
    """A run manifest's digests (every algorithm a token may use), its ``warc`` file name
    and the ``file`` line's SHA-256, read line by line."""
    hashers = {a: hashlib.new(a) for a in ("sha256", "sha384", "sha512")}
    warc = file_sha = ""
    with zf.open(name) as fh:
        for line in _lines(fh):
            for h in hashers.values():
                h.update(line)
            fields = line.rstrip(b"\n").split(b"\t")
            if fields[0] == b"warc" and len(fields) > 1:
                warc = fields[1].decode("utf-8", errors="replace")
            elif fields[0] == b"file" and len(fields) > 2:
                file_sha = fields[2].decode("ascii", errors="replace")
    return {a: h.digest() for a, h in hashers.items()}, warc, file_sha


def _lines(fh: IO[bytes]) -> Iterator[bytes]:
    """Lines of at most CHUNK bytes (a longer one comes in pieces: hashing is unchanged)."""
    while line := fh.readline(CHUNK):
        yield line


def _sha256(zf: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with zf.open(name) as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    with zf.open(name) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise zipfile.BadZipFile(f"{name} is larger than {limit} bytes")
    return data


def _conclude(check: PackageCheck) -> None:
    """The outcome and its one line, from the parts."""
    stamps = [t for t in check.timestamps if t.outcome == "ok"]
    failed = [v.message for v in [check.signature, *check.timestamps] if v and v.failed]
    failed += [f"run {r['run']}: {r['message']}" for r in check.runs if r["outcome"] == "failed"]
    if check.problems or failed:
        check.outcome, check.message = "failed", (check.problems + failed)[0]
        return
    said = [f"{check.files} files match {PACKAGE}"]
    if check.signature is not None:
        said.append(check.signature.message)
    said += [f"{PACKAGE} {t.message}" for t in stamps]
    held = [r for r in check.runs if r["outcome"] == "ok"]
    if held:
        said.append(f"{len(held)} run manifest(s) timestamped")
    if check.signature is None and not stamps:
        check.outcome = "unsealed"
        said.append("neither signed nor timestamped")
    else:
        check.outcome = "ok"
        if not stamps:
            said.append(f"{PACKAGE} not timestamped")
    check.message = "; ".join(said)


def check_packages(paths: list[Path], cert_files: tuple[str, ...]) -> list[PackageCheck]:
    """:func:`check_wacz` for each WACZ of ``paths`` (roots: the system's and ``cert_files``)."""
    if not paths:
        return []
    roots = trust_roots(cert_files)
    return [check_wacz(p, roots) for p in dict.fromkeys(paths)]


def check_rows(checks: list[PackageCheck], run_id: str | None) -> list[dict[str, Any]]:
    """``checks`` rows (kind ``package``, subject ``wacz:<path>``) recording them."""
    when = utcnow()
    return [{"run_id": run_id, "kind": "package", "subject": f"wacz:{c.path}",
             "outcome": c.outcome, "detail": c.to_dict(), "checked_at": when}
            for c in checks]  # fmt: skip
