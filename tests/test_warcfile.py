"""WARC files: one gzip member per record at known offsets; a torn tail is recovered."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders

from citearchive.warc.writer import WarcFile, complete_length, recover_open_files


def _response(w: WarcFile, i: int, body: bytes):
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/plain")], protocol="HTTP/1.1")
    return w.builder.create_warc_record(
        f"http://127.0.0.1/{i}", "response", payload=io.BytesIO(body), http_headers=headers
    )


def test_records_read_back_at_their_offsets(tmp_path: Path) -> None:
    w = WarcFile(tmp_path, "run.warc.gz", info={"software": "test"})
    bodies = [f"тело {i} 本文".encode() * 50 for i in range(5)]
    locations = [w.write([_response(w, i, b)])[0] for i, b in enumerate(bodies)]
    w.close()
    path = tmp_path / "run.warc.gz"
    assert path.exists() and not (tmp_path / "run.warc.gz.open").exists()
    with open(path, "rb") as fh:
        for loc, body in zip(locations, bodies, strict=True):
            fh.seek(loc.offset)
            member = fh.read(loc.length)
            record = next(iter(ArchiveIterator(io.BytesIO(member))))
            assert record.content_stream().read() == body
            assert record.rec_headers.get_header("WARC-Record-ID") == loc.record_id
    check = subprocess.run(
        [Path(sys.executable).with_name("warcio"), "check", str(path)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_torn_tail_is_cut_and_the_file_closed(tmp_path: Path) -> None:
    w = WarcFile(tmp_path, "run.warc.gz", info={"software": "test"})
    w.write([_response(w, 1, b"complete record" * 100)])
    w.sync()
    good = w.path.stat().st_size
    assert complete_length(w.path) == good
    w._fh.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00torn")  # a killed writer's half member
    w._fh.flush()
    assert complete_length(w.path) == good
    assert recover_open_files(tmp_path) == ["run.warc.gz"]
    final = tmp_path / "run.warc.gz"
    assert final.stat().st_size == good
    with open(final, "rb") as fh:
        types = [r.rec_type for r in ArchiveIterator(fh)]
    assert types == ["warcinfo", "response"]


def test_what_the_writer_says_it_wrote_is_what_a_reader_finds(tmp_path: Path) -> None:
    from citearchive.archive.runs import scan_members

    w = WarcFile(tmp_path, "run.warc.gz", info={"software": "test"})
    for i in range(4):
        w.write([_response(w, i, f"страница {i} ページ".encode() * (200 * i + 1))])
    w.close()
    written = w.written()
    path = tmp_path / "run.warc.gz"
    assert written is not None
    assert list(written.members()) == list(scan_members(path))  # offsets, hashes, headers
    assert written.size == path.stat().st_size
    assert written.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_record_cut_off_again_leaves_the_writer_unsure(tmp_path: Path) -> None:
    class Broken:
        def read(self, size: int = -1) -> bytes:
            raise OSError("disk went away")

    w = WarcFile(tmp_path, "run.warc.gz", info={"software": "test"})
    w.write([_response(w, 0, b"fine")])
    assert w.written() is not None
    record = _response(w, 1, b"half written" * 100)
    record.raw_stream = Broken()  # the body cannot be read while the record is written
    with pytest.raises(OSError):
        w.write([record])
    assert w.written() is None  # the manifest then reads the file back instead
    w.close()
    # a file that held records before its writer opened it is not the writer's to describe
    (tmp_path / "next.warc.gz.open").write_bytes((tmp_path / "run.warc.gz").read_bytes())
    again = WarcFile(tmp_path, "next.warc.gz", info={"software": "test"})
    assert again.written() is None
    again.close()
