"""Content-Encoding is undone the same way however the body is cut into chunks.

The capture feeds ``httpmeta.ContentDecoder`` whatever pieces the network delivered, fixity
and the archived view feed it the pieces a WARC file is read in: the decoded bytes (and the
payload hash made of them) must not depend on either. Every case is decoded whole and split
at every chunk size from 1 to 17 bytes, as bytes and as memoryviews (what fixity passes),
with ISA-L and with plain zlib, and must come out identical: the same bytes, or the same
error.
"""

from __future__ import annotations

import zlib

import pytest

from citearchive.warc import httpmeta
from citearchive.warc.httpmeta import ContentDecoder, DecodeError

BIG = 1 << 30
STEPS = [*range(1, 18), None]  # None: the body in one piece


def gz(data: bytes) -> bytes:
    """One gzip member."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


def raw_deflate(data: bytes, level: int = 6) -> bytes:
    """Deflate without the zlib wrapper, as some servers send under "deflate"."""
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush()


def flip(data: bytes, at: int) -> bytes:
    """``data`` with the byte at ``at`` inverted."""
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


TEXT = b"The summit in Anchorage ended without an agreement on a ceasefire. " * 3
SOME = gz(TEXT)

# (id, Content-Encoding, body on the wire, the decoded body or DecodeError)
CASES: list[tuple[str, str | None, bytes, bytes | type[DecodeError]]] = [
    ("no-header", None, b"plain body", b"plain body"),
    ("identity", "identity", b"said identity", b"said identity"),
    ("gzip", "gzip", SOME, TEXT),
    ("x-gzip", "x-gzip", gz(b"old name"), b"old name"),
    ("gzip-upper-case", "GZIP", gz(b"shouted"), b"shouted"),
    (
        "two-gzip-members",
        "gzip",
        gz(b"first member, ") + gz(b"second member"),
        b"first member, second member",
    ),
    ("gzip-empty-member-between", "gzip", gz(b"a") + gz(b"") + gz(b"b"), b"ab"),
    ("gzip-trailing-junk", "gzip", SOME + b"trailing junk", TEXT),
    ("gzip-trailing-nuls", "gzip", SOME + bytes(9), TEXT),
    ("gzip-trailing-1f", "gzip", SOME + b"\x1f", TEXT),
    ("gzip-trailing-1f-junk", "gzip", SOME + b"\x1f junk", TEXT),
    ("gzip-empty-body", "gzip", b"", b""),
    # no CRC and length: a cut body, not the document (finding F1)
    ("gzip-truncated", "gzip", SOME[:-8], DecodeError),
    ("gzip-cut-mid-stream", "gzip", SOME[: len(SOME) // 2], DecodeError),
    ("zlib-deflate-cut", "deflate", zlib.compress(TEXT)[:-6], DecodeError),
    ("raw-deflate-cut", "deflate", raw_deflate(TEXT)[:-3], DecodeError),
    ("zlib-deflate", "deflate", zlib.compress(TEXT), TEXT),
    ("zlib-deflate-trailing-junk", "deflate", zlib.compress(TEXT) + b"junk", TEXT),
    ("raw-deflate", "deflate", raw_deflate(TEXT), TEXT),
    ("raw-deflate-short", "deflate", raw_deflate(b"x"), b"x"),
    ("raw-deflate-stored", "deflate", raw_deflate(TEXT, level=0), TEXT),
    ("deflate-one-byte", "deflate", b"\x78", DecodeError),  # a stream cut after one byte
    ("deflate-empty-body", "deflate", b"", b""),
    ("stacked-gzip-gzip", "gzip, gzip", gz(gz(b"twice")), DecodeError),  # refused at capture
    ("unknown-coding", "compress", b"\x1f\x9d\x90", DecodeError),
    ("not-gzip", "gzip", b"this is not gzip at all", DecodeError),
    ("gzip-corrupt-inside", "gzip", flip(SOME, 20), DecodeError),
    ("gzip-bad-crc", "gzip", flip(SOME, len(SOME) - 6), DecodeError),
    ("gzip-second-member-corrupt", "gzip", SOME + flip(SOME, 20), DecodeError),
    ("gzip-second-member-bad-crc", "gzip", SOME + flip(SOME, len(SOME) - 6), DecodeError),
    ("zlib-deflate-corrupt", "deflate", flip(zlib.compress(TEXT), 12), DecodeError),
    (
        "zlib-deflate-bad-adler",
        "deflate",
        flip(zlib.compress(TEXT), len(zlib.compress(TEXT)) - 1),
        DecodeError,
    ),
]


def pieces(body: bytes, step: int | None, view: bool) -> list[bytes | memoryview]:
    data: bytes | memoryview = memoryview(body) if view else body
    size = step or max(len(body), 1)
    return [data[i : i + size] for i in range(0, len(body), size)]


def decode_all(encoding: str | None, chunks: list[bytes | memoryview]) -> bytes | str:
    """The whole decoded body, or the error's words."""
    try:
        decoder = ContentDecoder(encoding)
        out = b"".join(bytes(decoder.decode(chunk, BIG)) for chunk in chunks)
        return out + decoder.flush(BIG)
    except DecodeError as exc:
        return f"DecodeError: {exc}"


def decode_capped(encoding: str | None, chunks: list[bytes | memoryview], cap: int) -> bytes:
    """The body as fetch keeps it under a cap: asks for one byte more than there is room for."""
    decoder, body = ContentDecoder(encoding), b""
    for chunk in chunks:
        body += decoder.decode(chunk, cap - len(body) + 1)
        if len(body) > cap:
            return body
    return body + decoder.flush(cap - len(body) + 1)


@pytest.mark.parametrize(
    ("encoding", "wire", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_every_split_decodes_alike(
    encoding: str | None, wire: bytes, want: bytes | type[DecodeError], inflater: str
) -> None:
    results = {
        (step, view): decode_all(encoding, pieces(wire, step, view))
        for step in STEPS
        for view in (False, True)
    }
    whole = results[(None, False)]
    differ = {key: got for key, got in results.items() if got != whole}
    assert not differ, f"whole: {whole!r}; differs when split: {differ}"
    if isinstance(want, bytes):
        assert whole == want
    else:
        assert isinstance(whole, str) and whole.startswith("DecodeError: ")


@pytest.mark.parametrize(
    ("encoding", "wire", "want"),
    [c[1:] for c in CASES if isinstance(c[3], bytes) and len(c[3]) > 4],
    ids=[c[0] for c in CASES if isinstance(c[3], bytes) and len(c[3]) > 4],
)
def test_every_split_meets_the_cap_alike(
    encoding: str | None, wire: bytes, want: bytes, inflater: str
) -> None:
    """Under a cap, every split keeps the same prefix and sees the same one byte too many."""
    for cap in (len(want) // 2, len(want) - 1, len(want)):
        results = {decode_capped(encoding, pieces(wire, step, True), cap) for step in STEPS}
        assert results == {want[: cap + 1]}, cap


def test_decode_never_returns_more_than_asked(inflater: str) -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    wire = bomb.compress(bytes(64 << 20)) + bomb.flush()
    decoder = ContentDecoder("gzip")

    out = decoder.decode(wire, 1000)

    assert out == bytes(1000)
    assert len(wire) < 100_000  # a bomb: 64 MB behind it, never inflated
    assert decoder.decode(b"more", 0) == b"" and decoder.flush(0, complete=False) == b""


def test_zlib_header_is_told_from_raw_deflate_by_its_first_two_bytes() -> None:
    assert httpmeta._zlib_header(zlib.compress(b"x")[:2])
    assert httpmeta._zlib_header(b"\x78\x01") and httpmeta._zlib_header(b"\x78\xda")
    assert not httpmeta._zlib_header(raw_deflate(b"x")[:2])
    assert not httpmeta._zlib_header(b"\x78\x00")  # FCHECK wrong
    assert not httpmeta._zlib_header(b"\x88\x98")  # window over 32 KiB (CINFO 8)


def test_refusals_name_the_coding() -> None:
    with pytest.raises(DecodeError, match="unsupported Content-Encoding: compress"):
        ContentDecoder("compress")
    with pytest.raises(DecodeError, match="unsupported Content-Encoding: gzip, br"):
        ContentDecoder("gzip, br")
    with pytest.raises(DecodeError, match="could not undo Content-Encoding gzip"):
        ContentDecoder("gzip").decode(b"\x1f\x8b\x08\x00not gzip at all", 100)
