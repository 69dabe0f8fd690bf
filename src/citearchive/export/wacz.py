"""``citearchive export wacz``: the archive as one WACZ 1.1.1 file for ReplayWeb.page & co.

WACZ (Web Archive Collection Zipped, webrecorder's spec) is a ZIP file laid out as::

    archive/<run>.warc.gz        the archive's WARC files, as they are (ZIP "store" mode)
    indexes/index.cdx            CDXJ: one line per response/revisit record, sorted
    pages/pages.jsonl            a header line, then one page per good capture (with text)
    datapackage.json             Frictionless data package: every file's path, bytes, sha256
    datapackage-digest.json      the sha256 of datapackage.json, its signature (signedData)
                                 and RFC 3161 tokens over it (archive/packagesign.py)
    timestamps/<run>.manifest.txt   each run's manifest and its RFC 3161 tokens (.tsr), as
    timestamps/<run>.<tsa>.tsr      in the archive's warc/ folder (archive/runs.py)

``datapackage-digest.json`` is sealed as WACZ Signing 0.1.0's anonymous form allows: an
ECDSA signature by a key made for this export (it proves the package whole, not who made
it), and, when ``[settings] tsa_urls`` names TSAs that answer, their tokens over the bytes
of ``datapackage.json`` (which lists the sha256 of every other file): proof that this very
package existed at that time. No TSA, or none answering: the package is written all the
same, and :class:`WaczExport` says it is not timestamped.

The CDXJ lines follow pywb's format (as cdxj-indexer writes them): ``<SURT> <14-digit
timestamp> {"url", "mime", "status", "digest", "length", "offset", "filename"}``, where the
SURT key is computed as wabac.js (ReplayWeb.page's engine) computes it for a lookup.
Only closed WARC files are packaged (a run still writing has a ``.open`` file), and the
output is written to a temporary name and renamed, so a WACZ is never half-written.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.timeutils import iso_date_to_timestamp

from .. import __version__
from ..archive.packagesign import SPEC_VERSION, digest_document, package_hash, sign
from ..archive.store import Archive
from ..archive.timestamps import ClientFactory, ask_tsas, gen_time, tsa_name
from ..config import Settings, resolve_settings
from ..errors import ArchiveError
from ..sources.manifest import Manifest

WACZ_VERSION = "1.1.1"
INDEX_PATH = "indexes/index.cdx"
PAGES_PATH = "pages/pages.jsonl"
INDEXED_TYPES = ("response", "revisit", "resource")
COPY_CHUNK = 1 << 20
_WWW = re.compile(r"^(https?://)www\d*\.")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"  # left as they are in a URL path by a browser's URL parser


def surt(url: str) -> str:
    """The SURT key of ``url`` as wabac.js computes it: ``org,example)/path?a=1&b=2``.

    ``www.`` (and ``www2.`` ...) dropped, everything lower-cased, host labels reversed, the
    port kept unless default, query arguments sorted. Not http(s): the URL unchanged.
    """
    if not url.startswith(("http:", "https:")):
        return url
    lowered = _WWW.sub(r"\1", url).lower()
    try:
        parts = urlsplit(lowered)
        host = (parts.hostname or "").encode("idna").decode("ascii")
        port = parts.port
    except (UnicodeError, ValueError):
        return url
    key = ",".join(reversed(host.split(".")))
    if port is not None and port != {"http": 80, "https": 443}.get(parts.scheme):
        key += f":{port}"
    key += ")" + quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        key += "?" + "&".join(sorted(quote(parts.query, safe=_PATH_SAFE + "?").split("&")))
    return key


@dataclass(frozen=True)
class IndexEntry:
    """One CDXJ line: where a response (or revisit) record is, and what it holds."""

    key: str
    timestamp: str
    fields: dict[str, str]

    def line(self) -> str:
        return f"{self.key} {self.timestamp} {json.dumps(self.fields, ensure_ascii=False)}"


def index_warc(path: Path, filename: str) -> Iterator[tuple[IndexEntry, str]]:
    """CDXJ entries of one WARC file, each with its record's WARC-Date."""
    with open(path, "rb") as fh:
        records = ArchiveIterator(fh)
        for record in records:
            if record.rec_type not in INDEXED_TYPES:
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            date = record.rec_headers.get_header("WARC-Date")
            http = record.http_headers
            fields: dict[str, str] = {"url": url}
            mime = http.get_header("Content-Type") if http else record.content_type
            if record.rec_type == "revisit":
                mime = "warc/revisit"
            if mime:
                fields["mime"] = mime.split(";")[0].strip().lower()
            if http and http.get_statuscode():
                fields["status"] = http.get_statuscode()
            digest = record.rec_headers.get_header("WARC-Payload-Digest")
            if digest:
                fields["digest"] = digest
            offset = records.get_record_offset()
            records.read_to_end()
            fields.update(
                length=str(records.get_record_length()), offset=str(offset), filename=filename
            )
            yield IndexEntry(surt(url), iso_date_to_timestamp(date), fields), date


@dataclass
class WaczExport:
    """A WACZ written: where, and what seals its ``datapackage-digest.json``."""

    path: Path
    package_hash: str  # "sha256:<hex>" of datapackage.json
    signed: bool = False
    timestamps: list[dict[str, Any]] = field(default_factory=list)  # one per TSA asked

    @property
    def timestamped(self) -> bool:
        return any(t["ok"] for t in self.timestamps)

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.path), "bytes": self.path.stat().st_size,
                "package_hash": self.package_hash, "signed": self.signed,
                "timestamped": self.timestamped, "timestamps": self.timestamps}  # fmt: skip


def export_wacz(
    archive_root: str | Path,
    output_path: str | Path,
    *,
    manifest: Manifest | None = None,
    now: dt.datetime | None = None,
    settings: Settings | None = None,
    client_factory: ClientFactory | None = None,
) -> Path:
    """Write the archive as a WACZ file at ``output_path``; return its path.

    ``manifest`` (optional) gives the package its title and description, and its
    ``[settings]`` the TSAs (``settings`` overrides). Raises ArchiveError when there is no
    archive or nothing archived yet.
    """
    return write_wacz(archive_root, output_path, manifest=manifest, now=now,
                      settings=settings, client_factory=client_factory).path  # fmt: skip


def write_wacz(
    archive_root: str | Path,
    output_path: str | Path,
    *,
    manifest: Manifest | None = None,
    now: dt.datetime | None = None,
    settings: Settings | None = None,
    client_factory: ClientFactory | None = None,
) -> WaczExport:
    """:func:`export_wacz`, saying what was signed and timestamped."""
    output = Path(output_path)
    if settings is None:
        settings = resolve_settings(manifest.settings if manifest is not None else {})
    created = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    archive = Archive.open(archive_root, create=False)
    try:
        warcs = sorted(p for p in archive.warc_dir.glob("*.warc.gz") if p.is_file())
        if not warcs:
            raise ArchiveError(f"{archive.root}: no WARC files to export (run `citearchive fetch`)")
        entries: list[IndexEntry] = []
        dates: dict[tuple[str, int], str] = {}
        for path in warcs:
            try:
                for entry, date in index_warc(path, path.name):
                    entries.append(entry)
                    dates[(path.name, int(entry.fields["offset"]))] = date
            except Exception as exc:  # warcio raises plain Exceptions on damaged input
                raise ArchiveError(
                    f"{path}: unreadable WARC file ({exc}); `citearchive verify` names the damage"
                ) from None
        pages = list(_pages(archive, {p.name for p in warcs}, dates))
        stamps = [p for pattern in ("*.manifest.txt", "*.tsr")
                  for p in sorted(archive.warc_dir.glob(pattern)) if p.is_file()]  # fmt: skip
    finally:
        archive.close()
    index = "".join(sorted(e.line() + "\n" for e in entries)).encode("utf-8")
    header: dict[str, Any] = {"format": "json-pages-1.0", "id": "pages",
                              "title": "Cited sources", "hasText": True}  # fmt: skip
    pages_bytes = "".join(
        json.dumps(p, ensure_ascii=False) + "\n" for p in [header, *pages]
    ).encode("utf-8")
    meta = _describe(manifest, created)
    result = WaczExport(output, "")

    def seal(package: bytes) -> bytes:
        result.package_hash = package_hash(package)
        signed = sign(result.package_hash, created, meta["software"], SPEC_VERSION)
        result.signed = True
        tokens = []
        for a in ask_tsas(package, settings, client_factory=client_factory):
            if a.token is None or a.resp is None:
                result.timestamps.append({"tsa_url": a.tsa_url, "ok": False, "error": a.error})
                continue
            when, name = gen_time(a.resp), tsa_name(a.resp)
            tokens.append({"tsa": a.tsa_url, "time": when,
                           "token": base64.b64encode(a.token).decode("ascii")})  # fmt: skip
            result.timestamps.append({"tsa_url": a.tsa_url, "ok": True, "tsa": name,
                                      "time": when})  # fmt: skip
        return digest_document(package, signed, tokens)

    _write_zip(output, warcs, index, pages_bytes, meta, stamps, seal)
    return result


def _pages(
    archive: Archive, files: set[str], dates: dict[tuple[str, int], str]
) -> Iterator[dict[str, Any]]:
    """One page per good capture (no error, not suspect) whose record is packaged."""
    for row in archive.db.query(
        "SELECT id, source_id, url, title, text, fetched_at, warc_filename, warc_offset, "
        "method FROM captures WHERE error IS NULL AND suspect IS NULL "
        "AND warc_filename IS NOT NULL ORDER BY fetched_at, id"
    ):
        if row["warc_filename"] not in files:
            continue
        date = dates.get((row["warc_filename"], row["warc_offset"]), row["fetched_at"])
        page = {"id": f"capture-{row['id']}", "url": row["url"], "ts": date,
                "title": row["title"] or row["url"]}  # fmt: skip
        if row["text"]:
            page["text"] = row["text"]
        page.update(source_id=row["source_id"], capture_id=row["id"], method=row["method"])
        yield page


def _describe(manifest: Manifest | None, created: str) -> dict[str, Any]:
    """The package's descriptive metadata (title, description, created, software)."""
    title, description = "citearchive archive", "Web sources archived by citearchive."
    if manifest is not None and manifest.documents:
        doc = manifest.documents[0]
        title = f"Sources cited in “{doc.title}”"
        by = f" by {doc.author}" if doc.author else ""
        description = (
            f"The web sources cited in “{doc.title}”{by}, archived by citearchive "
            f"({len(manifest.all_footnotes)} footnotes, {len(manifest.sources)} sources)."
        )
    return {"title": title, "description": description, "created": created,
            "software": f"citearchive {__version__}"}  # fmt: skip


def _write_zip(
    output: Path,
    warcs: list[Path],
    index: bytes,
    pages: bytes,
    meta: dict[str, Any],
    stamps: list[Path] | None = None,
    seal: Callable[[bytes], bytes] | None = None,
) -> None:
    """Write the ZIP under a temporary name in the same folder, then rename it.

    ``seal`` makes ``datapackage-digest.json`` from the bytes of ``datapackage.json``.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    stamp = _zip_time(meta["created"])
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", allowZip64=True) as zf:
            resources = []
            for path in warcs:
                name = f"archive/{path.name}"
                with open(path, "rb") as src:
                    size = os.fstat(src.fileno()).st_size
                    resources.append(_add_stream(zf, name, src, size, stamp))
            resources.append(_add_bytes(zf, INDEX_PATH, index, stamp))
            resources.append(_add_bytes(zf, PAGES_PATH, pages, stamp))
            for path in stamps or []:  # run manifests and their timestamp tokens
                resources.append(
                    _add_bytes(zf, f"timestamps/{path.name}", path.read_bytes(), stamp)
                )
            package = {"profile": "data-package", "wacz_version": WACZ_VERSION, **meta,
                       "resources": resources}  # fmt: skip
            package_bytes = json.dumps(package, ensure_ascii=False, indent=2).encode("utf-8")
            _add_bytes(zf, "datapackage.json", package_bytes, stamp)
            digest = (seal or (lambda b: digest_document(b, None, [])))(package_bytes)
            _add_bytes(zf, "datapackage-digest.json", digest, stamp)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _zip_time(created: str) -> tuple[int, int, int, int, int, int]:
    when = dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ")
    return (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)


def _resource(name: str, digest: str, size: int) -> dict[str, Any]:
    return {"name": name.rsplit("/", 1)[-1].lower(), "path": name, "hash": digest, "bytes": size}


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _add_bytes(
    zf: zipfile.ZipFile, name: str, data: bytes, stamp: tuple[int, ...]
) -> dict[str, Any]:
    info = zipfile.ZipInfo(name, stamp)  # type: ignore[arg-type]
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)
    return _resource(name, _sha256(data), len(data))


def _add_stream(
    zf: zipfile.ZipFile, name: str, src: BinaryIO, size: int, stamp: tuple[int, ...]
) -> dict[str, Any]:
    """A WARC file, stored uncompressed (WACZ readers seek into it), hashed as it is copied.

    The size is given up front: zipfile then writes a ZIP64 extra field only for a file
    that needs one. (A forced one in the local header but not in the central directory
    moves the data by 20 bytes for readers, like ReplayWeb.page's, that take the extra
    field's length from the central directory.)
    """
    info = zipfile.ZipInfo(name, stamp)  # type: ignore[arg-type]
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = size
    sha, size = hashlib.sha256(), 0
    with zf.open(info, "w") as dst:
        while chunk := src.read(COPY_CHUNK):
            sha.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    return _resource(name, "sha256:" + sha.hexdigest(), size)
