"""Signing a WACZ's ``datapackage-digest.json``, and reading one made by any tool.

WACZ Signing and Verification 0.1.0 (specs.webrecorder.net/wacz-auth) puts a
``signedData`` object in ``datapackage-digest.json``, in one of two forms:

- *anonymous*: ``hash, created, software, version, signature, publicKey`` -- an ECDSA
  signature of the ``hash`` string by a key whose public half travels with it;
- *domain identity*: ``signature`` by the key of a TLS certificate for ``domain``
  (``domainCert``), and ``timeSignature``, an RFC 3161 token over that signature.

citearchive has no TLS certificate of its own to sign with, so what it can honestly write
is the anonymous form, with a key made for this one export and then thrown away: it
proves the package is whole, not who made it. The proof of time is separate: RFC 3161
tokens over ``datapackage.json`` itself, kept next to ``signedData`` in the root object (a
property the spec leaves open; ``signedData`` must hold nothing but its listed fields)::

    "timestamps": [{"tsa": "<url>", "time": "<genTime>", "token": "<base64 DER
                    TimeStampResp over the bytes of datapackage.json>"}]

The signature is what ReplayWeb.page checks: P-384, SHA-256, the signature as WebCrypto
makes it (``r || s``, 48 bytes each, base64), the public key as base64 DER
SubjectPublicKeyInfo, over the UTF-8 bytes of ``hash`` (``"sha256:<hex>"``).

:func:`parse_digest` reads a ``datapackage-digest.json`` of any origin (untrusted input:
a :class:`ValueError` in one line, or a :class:`Digest`); :func:`check_signed` and
:func:`check_tokens` say whether it holds. Keys, signatures and certificates are
pyca/cryptography's, tokens rfc3161-client's; no DER is written by hand.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from rfc3161_client import decode_timestamp_response

from .timestamps import gen_time, tsa_name
from .tokencheck import check_signature, digests_of, imprint_holds

SPEC_VERSION = "0.1.0"  # of WACZ Signing and Verification, as authsign writes it
CURVE = ec.SECP384R1()  # the curve ReplayWeb.page imports an anonymous key with
ANONYMOUS = ("hash", "created", "software", "version", "signature", "publicKey")
DOMAIN = ("hash", "created", "software", "version", "signature", "domain", "domainCert",
          "timeSignature", "timestampCert", "crossSignedCert")  # fmt: skip
MAX_DIGEST_BYTES = 1 << 20  # a digest file with a few tokens is a few KB
MAX_TOKENS = 16
_HASH = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Digest:
    """A parsed ``datapackage-digest.json``: the hash, ``signedData``, our tokens."""

    hash: str  # "sha256:<hex>" of datapackage.json
    signed: dict[str, str] | None = None
    tokens: list[dict[str, str]] = field(default_factory=list)


# --- writing ------------------------------------------------------------------------------


def package_hash(package: bytes) -> str:
    return "sha256:" + hashlib.sha256(package).hexdigest()


def sign(digest_hash: str, created: str, software: str, version: str) -> dict[str, str]:
    """An anonymous ``signedData`` over ``digest_hash`` with a key made now and discarded."""
    key = ec.generate_private_key(CURVE)
    r, s = decode_dss_signature(key.sign(digest_hash.encode("utf-8"), ec.ECDSA(hashes.SHA256())))
    size = (CURVE.key_size + 7) // 8
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "hash": digest_hash, "created": created, "software": software, "version": version,
        "signature": _b64(r.to_bytes(size, "big") + s.to_bytes(size, "big")),
        "publicKey": _b64(public),
    }  # fmt: skip


def digest_document(
    package: bytes, signed: dict[str, str] | None, tokens: list[dict[str, str]]
) -> bytes:
    """The bytes of ``datapackage-digest.json``."""
    doc: dict[str, Any] = {"path": "datapackage.json", "hash": package_hash(package)}
    if signed is not None:
        doc["signedData"] = signed
    if tokens:
        doc["timestamps"] = tokens
    return json.dumps(doc, indent=2).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- reading (untrusted input) --------------------------------------------------------------


def parse_digest(data: bytes) -> Digest:
    """A ``datapackage-digest.json`` of any origin; ValueError (one line) when it is not one."""
    if len(data) > MAX_DIGEST_BYTES:
        raise ValueError(f"larger than {MAX_DIGEST_BYTES} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON ({str(exc)[:80]})") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if doc.get("path") != "datapackage.json":
        raise ValueError('"path" is not "datapackage.json"')
    digest_hash = doc.get("hash")
    if not isinstance(digest_hash, str) or not _HASH.fullmatch(digest_hash):
        raise ValueError('"hash" is not "sha256:" and 64 hex digits')
    return Digest(digest_hash, _signed(doc.get("signedData")), _tokens(doc.get("timestamps")))


def _signed(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError('"signedData" is not an object of strings')
    allowed = DOMAIN if "publicKey" not in value else ANONYMOUS
    extra = sorted(set(value) - set(allowed))
    if extra:
        raise ValueError(f'"signedData" holds fields the spec does not allow: {", ".join(extra)}')
    needed = ("hash", "signature", "publicKey") if "publicKey" in value else (
        "hash", "signature", "domain", "domainCert")  # fmt: skip
    missing = [k for k in needed if not value.get(k)]
    if missing:
        raise ValueError(f'"signedData" lacks {", ".join(missing)}')
    return dict(value)


def _tokens(value: object) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_TOKENS:
        raise ValueError(f'"timestamps" is not a list of at most {MAX_TOKENS} entries')
    out = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("token"), str):
            raise ValueError('a "timestamps" entry has no "token" string')
        out.append({k: v for k, v in item.items() if isinstance(k, str) and isinstance(v, str)})
    return out


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeError, ValueError):
        raise ValueError(f"{what} is not base64") from None


# --- checking -------------------------------------------------------------------------------


@dataclass
class Verdict:
    """What one part of the package's proof says: outcome ok | failed, why, in words."""

    outcome: str
    reason: str
    message: str
    tsa: str | None = None
    time: str | None = None

    @property
    def failed(self) -> bool:
        return self.outcome != "ok"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_signed(
    signed: dict[str, str], digest_hash: str, roots: list[x509.Certificate]
) -> Verdict:
    """Does ``signedData`` sign this package's hash? (ok, or the first reason it does not)."""
    if signed.get("hash") != digest_hash:
        why = "the signature is over another package's hash, not this datapackage.json"
        return Verdict("failed", "signature-mismatch", why + " (a signature from another export?)")
    try:
        signature = _unb64(signed["signature"], "signedData.signature")
        if "publicKey" in signed:
            key = serialization.load_der_public_key(_unb64(signed["publicKey"], "publicKey"))
            who = "an anonymous key (SHA-256 of its public key " + hashlib.sha256(
                _unb64(signed["publicKey"], "publicKey")).hexdigest()[:16] + "…)"  # fmt: skip
        else:
            cert = x509.load_pem_x509_certificates(signed["domainCert"].encode("ascii"))[0]
            key, who = cert.public_key(), f"the key of a certificate for {signed['domain']}"
    except (ValueError, UnicodeError, IndexError, KeyError, UnsupportedAlgorithm) as exc:
        return Verdict("failed", "unreadable-signature", f"unreadable signedData: {exc}")
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return Verdict("failed", "unreadable-signature", "signedData's key is not an ECDSA key")
    size = (key.curve.key_size + 7) // 8
    if len(signature) == 2 * size:  # WebCrypto's r || s
        signature = encode_dss_signature(
            int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        )
    try:
        key.verify(signature, digest_hash.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        why = "bad signature: signedData.signature does not verify with its key"
        return Verdict("failed", "bad-signature", why)
    verdict = Verdict("ok", "signed", f"datapackage.json signed by {who}")
    if "timeSignature" in signed:  # domain identity: a token over the signature (authsign)
        stamp = check_token(signed["timeSignature"], signed["signature"].encode(), roots)
        if stamp.outcome != "ok":
            return Verdict("failed", stamp.reason, f"timeSignature: {stamp.message}")
        verdict.message += f", at {stamp.time} by {stamp.tsa} (the domain's certificate chain "
        verdict.message += "is not checked)"
        verdict.tsa, verdict.time = stamp.tsa, stamp.time
    return verdict


def check_token(token_b64: str, data: bytes, roots: list[x509.Certificate]) -> Verdict:
    """An RFC 3161 token (base64 DER TimeStampResp) over ``data``."""
    try:
        der = _unb64(token_b64, "the token")
    except ValueError as exc:
        return Verdict("failed", "unreadable-token", f"unreadable token ({exc})")
    return check_der_token(der, digests_of(data), roots)


def check_der_token(
    der: bytes, digests: dict[str, bytes], roots: list[x509.Certificate]
) -> Verdict:
    """An RFC 3161 token (DER TimeStampResp) over the data of ``digests`` (name -> digest)."""
    try:
        resp = decode_timestamp_response(der)
    except ValueError as exc:
        return Verdict("failed", "unreadable-token", f"unreadable token ({str(exc)[:120]})")
    tsa, when = tsa_name(resp), gen_time(resp)
    holds = imprint_holds(resp, digests)
    if not holds:
        why = "its hash algorithm is unknown" if holds is None else "it is over other bytes"
        return Verdict("failed", "imprint-mismatch", f"imprint mismatch: {why}", tsa, when)
    reason, words = check_signature(resp, roots)
    if reason != "ok":
        return Verdict("failed", reason, words, tsa, when)
    return Verdict("ok", "timestamped", f"timestamped by {tsa} at {when}", tsa, when)


def check_tokens(digest: Digest, package: bytes, roots: list[x509.Certificate]) -> list[Verdict]:
    """Each of the digest's ``timestamps`` tokens over the bytes of ``datapackage.json``."""
    out = []
    for t in digest.tokens:
        v = check_token(t["token"], package, roots)
        if v.reason == "imprint-mismatch":
            v.message += " (not over this datapackage.json: a token from another package?)"
        out.append(v)
    return out
