"""Property tests (hypothesis) for the parsers of untrusted HTTP input: header decoding, the
Location reader, Content-Encoding undoing, the URL check and the address scopes. No input
crashes or hangs them, and each keeps its promise (limits, split invariance, round trips)."""

from __future__ import annotations

import contextlib
import gzip
import zlib

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citearchive.capture.network import PUBLIC, address_refusal, scope
from citearchive.sources.urls import url_problem
from citearchive.warc.httpmeta import (
    ContentDecoder,
    CutShort,
    DecodeError,
    decode_headers,
    header_value,
    location_text,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODINGS = st.sampled_from(
    [None, "", "identity", "gzip", "x-gzip", "deflate", "br", "gzip, br", "zstd"]
)


def decode_all(coding: str | None, data: bytes, cuts: list[int], limit: int) -> bytes | str:
    """The decoded body (at most ``limit`` bytes) fed in pieces cut at ``cuts``, or the
    error's class name."""
    try:
        decoder = ContentDecoder(coding)
        out = b""
        pieces, start = [], 0
        for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
            pieces.append(data[start:cut])
            start = cut
        for piece in pieces:
            if len(out) >= limit:
                break
            got = decoder.decode(piece, limit - len(out) + 1)
            assert len(got) <= limit - len(out) + 1  # never more than asked
            out += bytes(got)
            if len(out) > limit:
                return out[:limit]
        return out + decoder.flush(limit - len(out), complete=len(out) < limit)
    except CutShort:
        return "CutShort"
    except DecodeError:
        return "DecodeError"


@FAST
@given(st.lists(st.tuples(st.binary(max_size=40), st.binary(max_size=80)), max_size=8))
def test_headers_decode_losslessly_whatever_the_bytes(raw: list[tuple[bytes, bytes]]) -> None:
    text = decode_headers(raw)
    assert [(k.encode("latin-1"), v.encode("latin-1")) for k, v in text] == raw
    for k, v in text:
        assert header_value(text, k.upper()) is not None or k.upper().lower() != k.lower()
        assert header_value(text, k) == next(v2 for k2, v2 in text if k2.lower() == k.lower())
        del v


@FAST
@given(st.text(max_size=60))
def test_location_reads_utf8_bytes_as_their_text(path: str) -> None:
    sent = path.encode("utf-8").decode("latin-1")  # what decode_headers makes of UTF-8 bytes
    expected = path.strip("".join(map(chr, range(0x21))))
    expected = expected.replace("\t", "").replace("\n", "").replace("\r", "")
    assert location_text(sent) == expected


@FAST
@given(st.binary(max_size=80))
def test_location_of_any_bytes_never_raises_and_is_joinable(raw: bytes) -> None:
    text = location_text(raw.decode("latin-1"))
    assert "\n" not in text and "\r" not in text and "\t" not in text
    with contextlib.suppress(httpx.InvalidURL, ValueError):  # fetch refuses these in words
        httpx.URL("http://example.org/a/").join(text)


@FAST
@given(
    CODINGS, st.binary(max_size=300), st.lists(st.integers(0, 400), max_size=5), st.integers(1, 64)
)
def test_any_bytes_in_any_coding_decode_or_fail_cleanly_under_the_limit(
    coding: str | None, data: bytes, cuts: list[int], limit: int
) -> None:  # fmt: skip
    got = decode_all(coding, data, cuts, limit)
    assert isinstance(got, str) or len(got) <= limit


@FAST
@given(
    st.sampled_from(["gzip", "deflate"]),
    st.binary(max_size=2000),
    st.lists(st.integers(0, 3000), max_size=6),
    st.lists(st.integers(0, 3000), max_size=6),
)
def test_where_the_network_cuts_a_compressed_body_changes_nothing(
    coding: str, body: bytes, cuts_a: list[int], cuts_b: list[int]
) -> None:
    data = gzip.compress(body) if coding == "gzip" else zlib.compress(body)
    a = decode_all(coding, data, cuts_a, 10_000)
    assert a == decode_all(coding, data, cuts_b, 10_000) == body


@FAST
@given(st.sampled_from(["gzip", "deflate"]), st.binary(min_size=1, max_size=2000), st.data())
def test_a_compressed_body_cut_anywhere_is_never_taken_as_whole(
    coding: str, body: bytes, data: st.DataObject
) -> None:
    """F1 as a property: every strict prefix of a stream is cut short (or undecodable)."""
    wire = gzip.compress(body) if coding == "gzip" else zlib.compress(body)
    cut = data.draw(st.integers(1, len(wire) - 1))
    assert decode_all(coding, wire[:cut], [], 10_000) in ("CutShort", "DecodeError")


@FAST
@given(st.text(max_size=120))
def test_the_url_check_never_raises_and_what_it_passes_fetch_can_request(url: str) -> None:
    problem = url_problem(url)
    assert problem is None or (isinstance(problem, str) and problem)
    if problem is None:
        parsed = httpx.URL(url)
        assert parsed.scheme in ("http", "https") and parsed.host
        assert parsed.port is None or 1 <= parsed.port <= 65535


@FAST
@given(st.integers(0, 10**30))
def test_any_port_number_is_judged_in_range_or_refused(port: int) -> None:
    problem = url_problem(f"http://example.org:{port}/")
    assert (problem is None) == (1 <= port <= 65535)


@FAST
@given(st.ip_addresses() | st.text(max_size=40))
def test_every_address_has_a_scope_and_public_is_always_reachable(address: object) -> None:
    where = scope(str(address))
    assert where in (PUBLIC, "loopback", "link-local", "private", "reserved")
    refusal = address_refusal(str(address), PUBLIC, "http://example.org/")
    assert (refusal is None) == (where == PUBLIC)
    assert address_refusal(str(address), where, "http://example.org/") is None
