"""Does an RFC 3161 token hold? Its imprint, its signature, its TSA's certificate chain.

The checks every reader of tokens shares: ``verify`` (a run's tokens against its rebuilt
manifest, :mod:`citearchive.verify.timestamps`), ``import-warc`` (the tokens a WACZ carries,
:mod:`citearchive.capture.wacz_check`). Trusted roots are the system's plus the PEM files of
``[settings] tsa_certs``. The ASN.1, the CMS signature and the chain are rfc3161-client's
(pyca/cryptography underneath); nothing here parses DER by hand.

A verdict is a ``(reason, words)`` pair: ``("ok", "")``, else a reason code
(``bad-signature``, ``expired-certificate``, ``untrusted-certificate``, ``bad-certificate``)
and one line for a person.
"""

from __future__ import annotations

import hashlib
import ssl
import warnings
from pathlib import Path
from typing import Any

import certifi
from cryptography import x509
from rfc3161_client import TimeStampResponse, VerificationError, VerifierBuilder

from .timestamps import gen_time

HASHES = {"2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
          "2.16.840.1.101.3.4.2.3": "sha512"}  # fmt: skip


def imprint_holds(resp: TimeStampResponse, data_digests: dict[str, bytes]) -> bool | None:
    """Is the token's imprint the digest of the data? None: a hash algorithm we do not know.

    ``data_digests`` maps an algorithm name (``sha256`` ...) to the data's digest with it.
    """
    algo = HASHES.get(resp.tst_info.message_imprint.hash_algorithm.dotted_string)
    if algo is None or algo not in data_digests:
        return None
    return resp.tst_info.message_imprint.message == data_digests[algo]


def digests_of(data: bytes) -> dict[str, bytes]:
    """The data's digest with every algorithm a token may use."""
    return {name: hashlib.new(name, data).digest() for name in HASHES.values()}


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
