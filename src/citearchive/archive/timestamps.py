"""RFC 3161 timestamps on run manifests: ask each configured TSA, keep every token.

After a ``fetch`` or ``import-warc`` run closes its WARC file, :func:`stamp_run` stores the
run manifest (:mod:`citearchive.archive.runs`) and sends its SHA-256 to every TSA in
``settings.tsa_urls`` (RFC 3161 over HTTP: a DER ``TimeStampReq`` POSTed as
``application/timestamp-query``). Each granted answer is kept as it came, a DER
``TimeStampResp``, in ``warc/<run-id>.<n>.tsr`` (``openssl ts -reply -in`` reads it), and
as a row of the ``timestamps`` table (TSA, its time, serial number, token hash). An answer
that does not grant a token over this very manifest, or a TSA that cannot be reached within
``settings.tsa_timeout`` seconds (all TSAs are asked at once), is a row with ``error`` set:
the run is simply not yet timestamped, and :func:`stamp_pending` (``citearchive
timestamp``) asks again later. Nothing here ever makes a run fail.

:func:`ask_tsas` asks for tokens over any bytes (``export wacz`` timestamps its
``datapackage.json`` so). The ASN.1 and the request are rfc3161-client's (pyca/cryptography
underneath); signatures and certificate chains are checked by
:mod:`citearchive.archive.tokencheck`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from ..config import Settings
from ..warc.writer import Written
from .runs import STAMPED_COMMANDS, store_manifest
from .store import Archive, utcnow

if TYPE_CHECKING:  # rfc3161-client and cryptography load only when a TSA is asked (~60 ms)
    from rfc3161_client import TimeStampResponse

TSQ_TYPE = "application/timestamp-query"
TSR_TYPE = "application/timestamp-reply"
MAX_TSR_BYTES = 1 << 20  # a timestamp response is a few KB; more is not one
ClientFactory = Callable[[Settings], httpx.AsyncClient]


@dataclass
class StampResult:
    """One TSA's answer for one run: a token, or why there is none."""

    run_id: str
    tsa_url: str
    ok: bool
    gen_time: str | None = None
    tsa_name: str | None = None
    serial: str | None = None
    token_filename: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tsa_name(resp: TimeStampResponse) -> str | None:
    """The TSA's name as the token gives it (its ``tsa`` field, else the signer's subject)."""
    name = resp.tst_info.name
    value = getattr(name, "value", None) if name is not None else None
    if value is not None and hasattr(value, "rfc4514_string"):
        return str(value.rfc4514_string())
    if value is not None:
        return str(value)
    signer = resp.signed_data.signer_infos
    for si in signer:
        return str(si.issuer.rfc4514_string()) if hasattr(si.issuer, "rfc4514_string") else None
    return None


def gen_time(resp: TimeStampResponse) -> str:
    return resp.tst_info.gen_time.isoformat().replace("+00:00", "Z")


def check_answer(body: bytes, digest: bytes, nonce: int | None) -> TimeStampResponse:
    """Parse a TSA's answer; ValueError unless it grants a token over ``digest``."""
    from rfc3161_client import PKIStatus, decode_timestamp_response

    if len(body) > MAX_TSR_BYTES:
        raise ValueError("answer too large to be a timestamp response")
    resp = decode_timestamp_response(body)
    if PKIStatus(resp.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise ValueError(f"TSA refused: status {resp.status} {resp.status_string or ''}".strip())
    if resp.tst_info.message_imprint.message != digest:
        raise ValueError("the token is not over the manifest sent (imprint differs)")
    if nonce is not None and resp.tst_info.nonce != nonce:
        raise ValueError("the token does not carry the nonce sent")
    return resp


async def _ask(client: httpx.AsyncClient, url: str, manifest: bytes) -> tuple[bytes, Any]:
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

    req = (
        TimestampRequestBuilder()
        .data(manifest)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    r = await client.post(url, content=req.as_bytes(), headers={"Content-Type": TSQ_TYPE})
    if r.status_code != 200:
        raise ValueError(f"HTTP {r.status_code} from the TSA")
    body = r.content
    resp = check_answer(body, hashlib.sha256(manifest).digest(), req.nonce)
    return body, resp


def _client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=settings.tsa_timeout, headers={"User-Agent": settings.user_agent}
    )


async def _ask_all(
    urls: tuple[str, ...], manifest: bytes, settings: Settings, factory: ClientFactory
) -> list[tuple[bytes, Any] | str]:
    async with factory(settings) as client:

        async def one(url: str) -> tuple[bytes, Any] | str:
            try:
                return await _ask(client, url, manifest)
            except httpx.HTTPError as exc:
                return f"TSA unreachable: {type(exc).__name__} {exc}".strip()
            except ValueError as exc:
                return str(exc)

        tasks = [asyncio.ensure_future(one(u)) for u in urls]
        done, pending = await asyncio.wait(tasks, timeout=settings.tsa_timeout)
        for t in pending:
            t.cancel()
        return [
            t.result() if t in done else f"TSA did not answer within {settings.tsa_timeout:g} s"
            for t in tasks
        ]


@dataclass
class TsaAnswer:
    """One TSA's answer over some bytes: the DER TimeStampResp granted, or why none."""

    tsa_url: str
    token: bytes | None = None
    resp: TimeStampResponse | None = None
    error: str | None = None


def ask_tsas(
    data: bytes, settings: Settings, *, client_factory: ClientFactory | None = None
) -> list[TsaAnswer]:
    """Ask every TSA of ``settings.tsa_urls`` (at once) for a token over ``data``.

    Never raises for a TSA: an unreachable or refusing one is an answer with ``error``.
    No TSA configured: an empty list.
    """
    urls = tuple(settings.tsa_urls)
    if not urls:
        return []
    answers = asyncio.run(_ask_all(urls, data, settings, client_factory or _client))
    return [
        TsaAnswer(url, error=a) if isinstance(a, str) else TsaAnswer(url, a[0], a[1])
        for url, a in zip(urls, answers, strict=True)
    ]


def _token_name(run_id: str, url: str, taken: set[str]) -> str:
    host = re.sub(r"[^A-Za-z0-9.-]", "_", urlsplit(url).hostname or "tsa") or "tsa"
    name, n = f"{run_id}.{host}.tsr", 1
    while name in taken:
        n += 1
        name = f"{run_id}.{host}-{n}.tsr"
    return name


def _write_file(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def stamp_run(
    archive: Archive,
    run_id: str,
    settings: Settings,
    *,
    client_factory: ClientFactory | None = None,
    written: Written | None = None,
) -> list[StampResult]:
    """Store the run's manifest and ask every TSA for a token; never raises for a TSA.

    The caller holds the archive's write lock. With no TSA configured the manifest is
    still written (it is evidence too, and ``citearchive timestamp`` can stamp it later).
    ``written``: what the run's WARC writer wrote (spares reading the file back).
    """
    manifest, sha = store_manifest(archive, run_id, written)
    urls = tuple(settings.tsa_urls)
    if not urls:
        return []
    answers = asyncio.run(_ask_all(urls, manifest, settings, client_factory or _client))
    taken = {p.name for p in archive.warc_dir.glob(f"{run_id}.*.tsr")}
    results, rows = [], []
    for url, answer in zip(urls, answers, strict=True):
        row: dict[str, Any] = {"run_id": run_id, "tsa_url": url, "requested_at": utcnow(),
                               "imprint_sha256": sha}  # fmt: skip
        if isinstance(answer, str):
            row["error"] = answer
            results.append(StampResult(run_id, url, False, error=answer))
        else:
            body, resp = answer
            name = _token_name(run_id, url, taken)
            taken.add(name)
            _write_file(archive.warc_dir / name, body)
            row.update(
                tsa_name=tsa_name(resp), gen_time=gen_time(resp),
                serial=str(resp.tst_info.serial_number), policy=resp.tst_info.policy.dotted_string,
                token_filename=name, token_sha256=hashlib.sha256(body).hexdigest(),
            )  # fmt: skip
            results.append(StampResult(run_id, url, True, row["gen_time"], row["tsa_name"],
                                       row["serial"], name))  # fmt: skip
        rows.append(row)
    with archive.db.conn:
        archive.db.table("timestamps").insert_all(rows)
    return results


def unstamped_runs(archive: Archive) -> list[str]:
    """Runs that wrote a WARC file and hold no token yet, oldest first."""
    marks = ", ".join("?" for _ in STAMPED_COMMANDS)
    return [
        r[0]
        for r in archive.db.execute(
            f"SELECT id FROM runs WHERE command IN ({marks}) AND warc_filename IS NOT NULL "
            "AND id NOT IN (SELECT run_id FROM timestamps WHERE token_filename IS NOT NULL) "
            "ORDER BY started_at, id",
            list(STAMPED_COMMANDS),
        ).fetchall()
    ]


def stamp_pending(
    archive_root: str | Path,
    settings: Settings,
    *,
    client_factory: ClientFactory | None = None,
) -> list[StampResult]:
    """Ask the TSAs for every run without a token (``citearchive timestamp``).

    A run whose WARC file is missing is skipped (verify names it). Raises ArchiveError when
    there is no archive, ArchiveLockedError when another process writes it.
    """
    archive = Archive.open(archive_root, create=False)
    results: list[StampResult] = []
    try:
        with archive.locked():
            for run_id in unstamped_runs(archive):
                (name,) = archive.db.execute(
                    "SELECT warc_filename FROM runs WHERE id = ?", [run_id]
                ).fetchone()
                if not archive.warc_path(name).is_file():
                    continue
                results += stamp_run(archive, run_id, settings, client_factory=client_factory)
    finally:
        archive.close()
    return results
