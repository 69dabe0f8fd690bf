"""Property tests (hypothesis) for the reader of WARC and WACZ files made by other tools
(``warc/reader.py``, behind ``citearchive import-warc``): no input crashes or hangs it (every
failure is one :class:`WarcImportError` line naming the file), the cap holds whatever the
records say, and what warcio writes reads back with the same facts and bodies."""

from __future__ import annotations

import gzip
import hashlib
import io
import tempfile
import zipfile
import zlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from citearchive.errors import WarcImportError
from citearchive.warc.reader import Rec, decode_body, load, parse_http, parts_of, scan

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HEAD = (b"WARC/1.1\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:1>\r\n"
        b"WARC-Date: 2025-01-01T00:00:00Z\r\nWARC-Target-URI: http://a.example/\r\n"
        b"Content-Type: application/http; msgtype=response\r\n")  # fmt: skip
HTTP = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
PIECES = st.sampled_from([
    HEAD, HTTP, b"Content-Length: 40\r\n\r\n", b"Content-Length: 99999999999\r\n\r\n",
    b"\r\n", b"\r\n\r\n", b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\n", b"WARC/1.0\r\n",
    b"Content-Encoding: gzip\r\n", b"\x1f\x8b\x08\x00", b"\x00" * 64, b"WARC-Truncated: length\r\n",
])  # fmt: skip


def _member(data: bytes) -> bytes:
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def _scan_file(path: Path, cap: int) -> list[Rec] | str:
    try:
        return [r for p, part in enumerate(parts_of(path)) for r in scan(p, part, cap)]
    except WarcImportError as exc:
        return str(exc)


@FAST
@given(st.lists(st.one_of(st.binary(max_size=120), PIECES), max_size=12),
       st.booleans(), st.integers(min_value=1, max_value=200))  # fmt: skip
def test_any_bytes_scan_to_records_or_one_error_line(
    tmp_path_factory: object, pieces: list[bytes], gz: bool, cap: int
) -> None:
    data = b"".join(pieces)
    data = _member(data) if gz else data
    path = Path(tmp_path_factory.mktemp("r")) / "in.warc"  # type: ignore[attr-defined]
    path.write_bytes(data)
    out = _scan_file(path, cap)
    if isinstance(out, str):
        assert "\n" not in out and out.startswith("in.warc") and len(out) < 400
        return
    for r in out:
        # the cap holds whatever the record claims: a longer body is noted, never kept whole
        assert r.length <= cap + 1
        if r.length > cap:
            assert r.too_large


@FAST
@given(st.binary(max_size=400))
def test_any_bytes_in_a_wacz_member_scan_or_fail_in_one_line(
    tmp_path_factory: object, data: bytes
) -> None:
    path = Path(tmp_path_factory.mktemp("z")) / "in.wacz"  # type: ignore[attr-defined]
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.warc", data)
    out = _scan_file(path, 1 << 20)
    if isinstance(out, str):
        assert "\n" not in out and "in.wacz" in out


@FAST
@given(st.binary(max_size=300))
def test_parse_http_takes_any_block(block: bytes) -> None:
    msg = parse_http(block)
    if msg is not None:
        assert len(msg.body) <= len(block)


BODIES = st.one_of(
    st.binary(max_size=3000),
    st.text(alphabet="停戦会談協議мирпереговорыpeace talks \n", max_size=800).map(
        lambda t: t.encode("utf-8")
    ),
)


def _chunked(body: bytes, size: int) -> bytes:
    out = b"".join(
        b"%x\r\n" % len(body[i : i + size]) + body[i : i + size] + b"\r\n"
        for i in range(0, len(body), size)
    )
    return out + b"0\r\n\r\n"


@FAST
@given(st.lists(st.tuples(BODIES, st.sampled_from(["identity", "gzip", "deflate"]),
                          st.one_of(st.none(), st.integers(min_value=1, max_value=700))),
                min_size=1, max_size=4),
       st.booleans())  # fmt: skip
def test_what_warcio_writes_reads_back_with_its_facts_and_bodies(
    tmp_path_factory: object, records: list[tuple[bytes, str, int | None]], gz: bool
) -> None:
    path = Path(tmp_path_factory.mktemp("w")) / "rt.warc.gz"  # type: ignore[attr-defined]
    urls = []
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gz)
        for n, (body, coding, chunk) in enumerate(records):
            wire = body
            if coding == "gzip":
                wire = gzip.compress(body)
            elif coding == "deflate":
                wire = zlib.compress(body)
            headers = [("Content-Type", "text/html; charset=utf-8")]
            if coding != "identity":
                headers.append(("Content-Encoding", coding))
            if chunk is not None:
                headers.append(("Transfer-Encoding", "chunked"))
                wire = _chunked(wire, chunk)
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            url = f"https://example.org/{n}/страница"
            urls.append(url)
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(wire), http_headers=http,
            ))  # fmt: skip
    parts = parts_of(path)
    recs = scan(0, parts[0], cap=1 << 20)
    assert [r.url for r in recs] == urls
    for r, (body, _, _) in zip(recs, records, strict=True):
        assert (r.status, r.decode_error, r.too_large) == (200, None, None)
        assert (r.sha256, r.length) == (hashlib.sha256(body).hexdigest(), len(body))
    loaded = load(parts, {(0, i) for i in range(len(recs))})
    for i, (r, (body, _, _)) in enumerate(zip(recs, records, strict=True)):
        assert decode_body(loaded[(0, i)].body, r.content_encoding) == body


@FAST
@given(st.integers(min_value=0, max_value=5000), st.integers(min_value=1, max_value=4000))
def test_a_body_over_the_cap_is_noted_and_its_facts_kept(size: int, cap: int) -> None:
    body = b"x" * size
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cap.warc"
        with open(path, "wb") as fh:
            writer = WARCWriter(fh, gzip=False)
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                "https://example.org/", "response", payload=io.BytesIO(body), http_headers=http,
            ))  # fmt: skip
        (r,) = scan(0, parts_of(path)[0], cap=cap)
    assert r.status == 200 and r.url == "https://example.org/"
    assert bool(r.too_large) == (size > cap)
    if size <= cap:
        assert r.sha256 == hashlib.sha256(body).hexdigest()
