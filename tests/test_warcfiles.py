"""Fixity covers every record of every WARC file (issue 10, F2): a flipped byte in a request
or redirect-hop record, garbage after the last record, a file cut after its last response
record, a missing file, all fail ``verify`` and name the file and the offset.

The archive is made by the real capture pipeline from a local server; the WARC files are
damaged on disk and read back by the real scanner (and cross-checked with warcio).
"""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from citearchive.capture.pipeline import fetch_sources
from citearchive.config import resolve_settings
from citearchive.sources.manifest import Manifest, parse_manifest
from citearchive.verify.run import verify_archive
from citearchive.warc.integrity import scan_warc
from localserver import LocalServer, redirect, respond

FAST = resolve_settings({"host_delay": 0.0, "backoff": 0.01, "deadline": 10.0, "max_attempts": 1,
                         "fallback": False})  # fmt: skip
PAGE = (
    "<html><head><meta charset='utf-8'><title>Переговоры</title></head><body><article>"
    + "".join(f"<p>{i}. Россия не приемлет никаких сценариев размещения контингента.</p>"
              for i in range(8))
    + "</article></body></html>"
).encode()  # fmt: skip


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("warcfiles")
    with LocalServer() as server, ProcessPoolExecutor(1) as pool:
        server.route("/old", redirect("/page"))
        server.route("/page", respond(PAGE))
        text = f'[[source]]\nid = "s"\nfootnote = 1\nurl = "{server.url("/old")}"\n'
        fetch_sources(parse_manifest(text, root / "sources.toml"), root / "archive",
                      settings=FAST, executor=pool)  # fmt: skip
    yield root / "archive", text


@pytest.fixture
def copy(template: tuple[Path, str], tmp_path: Path) -> tuple[Path, Manifest, Path]:
    archive, text = template
    shutil.copytree(archive, tmp_path / "archive")
    (warc,) = sorted((tmp_path / "archive" / "warc").glob("*.warc.gz"))
    return tmp_path / "archive", parse_manifest(text, tmp_path / "sources.toml"), warc


def members(path: Path) -> list[tuple[int, int, bytes]]:
    """(offset, end, first line + WARC-Type) of each gzip member."""
    data, pos, out = path.read_bytes(), 0, []
    while pos < len(data):
        d = zlib.decompressobj(31)
        text = d.decompress(data[pos:])
        end = len(data) - len(d.unused_data)
        kind = next(line for line in text.split(b"\r\n") if line.startswith(b"WARC-Type:"))
        status = text.split(b"\r\n\r\n", 1)[1].split(b"\r\n", 1)[0]
        out.append((pos, end, kind + b" " + status))
        pos = end
    return out


def warc_fixity(root: Path, manifest: Manifest) -> tuple[bool, str]:
    report = verify_archive(manifest, root, settings=FAST)
    (check,) = [c for c in report.checks if c.subject.startswith("warc:")] or [None]
    return report.ok, check.detail if check else ""


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1
    path.write_bytes(bytes(data))


def warcio_reads_all(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            for _ in ArchiveIterator(fh, check_digests="raise"):
                pass
    except Exception:
        return False
    return True


def test_an_untouched_archive_holds(copy: tuple[Path, Manifest, Path]) -> None:
    root, manifest, warc = copy
    report = verify_archive(manifest, root, settings=FAST)
    assert report.ok, report.summary
    assert report.totals["fixity"] == {"ok": 2}  # the capture and the file (OK not kept)
    scan = scan_warc(warc)
    assert scan.ok and scan.records == len(members(warc)) == 5  # info, 302+req, 200+req


@pytest.mark.parametrize("which", [b"WARC-Type: request", b"response HTTP/1.1 302"])
def test_a_flipped_byte_in_a_record_no_capture_points_at_fails(
    copy: tuple[Path, Manifest, Path], which: bytes
) -> None:
    root, manifest, warc = copy
    start, end, _ = next(m for m in members(warc) if which in m[2])
    flip(warc, (start + end) // 2)
    assert not warcio_reads_all(warc)
    ok, detail = warc_fixity(root, manifest)
    assert not ok
    assert f"warc/{warc.name} at offset {start}: corrupt gzip member" in detail


def test_garbage_after_the_last_record_fails(copy: tuple[Path, Manifest, Path]) -> None:
    root, manifest, warc = copy
    size = warc.stat().st_size
    with open(warc, "ab") as fh:
        fh.write(b"trailing junk")
    ok, detail = warc_fixity(root, manifest)
    assert not ok
    assert f"at offset {size}: the file goes on with 13 bytes that are not a gzip" in detail


def test_a_file_cut_after_its_last_response_record_fails(
    copy: tuple[Path, Manifest, Path],
) -> None:
    root, manifest, warc = copy
    size = warc.stat().st_size
    last_response_end = [m for m in members(warc) if b"response" in m[2]][-1][1]
    with open(warc, "r+b") as fh:
        fh.truncate(last_response_end)  # the last request record is gone, framing is fine
    assert scan_warc(warc).ok  # a sequential read alone cannot tell ...
    ok, detail = warc_fixity(root, manifest)  # ... the size its run recorded can
    assert not ok
    assert f"is {last_response_end} bytes, shorter than the {size} bytes its run wrote" in detail


def test_a_digest_that_does_not_hold_is_named_and_the_scan_goes_on(tmp_path: Path) -> None:
    """Two records whose bodies were edited and recompressed: the gzip CRCs hold, the WARC
    digests do not."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = bytearray()
    for body in (b"first", b"second"):
        raw = io.BytesIO()
        w = WARCWriter(raw, gzip=False)
        head = StatusAndHeaders("200 OK", [("Content-Type", "text/plain")], "HTTP/1.1")
        w.write_record(
            w.create_warc_record(
                "http://127.0.0.1/x", "response", payload=io.BytesIO(body), http_headers=head
            )
        )
        edited = raw.getvalue().replace(body, body.upper())
        c = zlib.compressobj(6, zlib.DEFLATED, 31)
        out += c.compress(edited) + c.flush()  # fmt: skip
    path = tmp_path / "x.warc.gz"
    path.write_bytes(bytes(out))
    scan = scan_warc(path)
    assert scan.records == 0
    assert [d.problem.split(": ", 1)[1] for d in scan.damages] == [
        "WARC-Block-Digest does not hold",
        "WARC-Payload-Digest does not hold",
    ] * 2
    assert scan.damages[0].offset == 0 and scan.damages[2].offset > 0


def test_a_missing_and_an_unknown_file_fail(copy: tuple[Path, Manifest, Path]) -> None:
    root, manifest, warc = copy
    warc.rename(warc.with_name("stray.warc.gz"))
    report = verify_archive(manifest, root, settings=FAST)
    details = {c.subject: c.detail for c in report.checks if c.subject.startswith("warc:")}
    assert details[f"warc:{warc.name}"] == f"WARC file missing: warc/{warc.name}"
    assert "no run or capture of this archive names this file" in details["warc:stray.warc.gz"]
