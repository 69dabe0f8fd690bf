"""Property tests (hypothesis) for parsers of untrusted input (issue 10): sources.toml, the
commentary parsers and the WARC file scanner. No input crashes them (other than the
project's own one-line errors) and the manifest's footnotes round-trip."""

from __future__ import annotations

import zlib
from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citearchive.errors import CommentaryError, ManifestError
from citearchive.sources.citation_parse import find_dates, parse_citation
from citearchive.sources.commentary import parse_commentary
from citearchive.sources.manifest import parse_manifest
from citearchive.warc.integrity import scan_warc

FAST = settings(max_examples=100, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
TOML_BITS = st.sampled_from([
    "[[source]]\n", "[[claim]]\n", "[[footnote]]\n", "[[document]]\n", "[settings]\n",
    'id = "a"\n', "footnote = 1\n", "footnotes = [1, 2]\n", 'text = "停戦"\n', "number = 2\n",
    'url = "http://127.0.0.1/x"\n', 'title = "Т"\n', 'document = "d"\n', "quotes = []\n",
    "x = [[[[1]]]]\n", 'language = "ja"\n', "= =\n", "\n",
])  # fmt: skip


@FAST
@given(st.one_of(st.text(max_size=300), st.lists(TOML_BITS, max_size=25).map("".join)))
def test_any_text_is_a_manifest_or_one_manifest_error(text: str) -> None:
    try:
        m = parse_manifest(text)
    except ManifestError as exc:
        assert "\n" not in str(exc).strip()
        return
    # round trip: every footnote a source carries exists, and claims cite existing ones
    for s in m.sources:
        assert all(m.has_footnote(s.document, n) for n in s.footnotes)
    assert all(m.has_footnote(c.document, c.footnote) for c in m.claims)
    assert len({(f.document, f.number) for f in m.all_footnotes}) == len(m.all_footnotes)


MARKUP = st.sampled_from([
    "<sup>1</sup>", "[^1]", "[^1]: ", "\n\n1. ", "<p>", "</p>", "<ol><li>", "</li></ol>",
    "Россия заявила. ", "停戦について。", "The talks ended. ", "<sup>", "99", "\n", "<a href='x'>",
])  # fmt: skip


@FAST
@given(st.one_of(st.text(max_size=400), st.lists(MARKUP, max_size=40).map("".join)),
       st.sampled_from([None, "html", "markdown-sup", "markdown-footnotes"]))  # fmt: skip
def test_any_text_is_a_commentary_or_one_commentary_error(text: str, fmt: str | None) -> None:
    try:
        parse_commentary(text, fmt=fmt)
    except CommentaryError as exc:
        assert "\n" not in str(exc).strip()


def _member(data: bytes) -> bytes:
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


RECORD = (b"WARC/1.1\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:1>\r\n"
          b"Content-Length: 5\r\n\r\nhello\r\n\r\n")  # fmt: skip


@FAST
@given(st.lists(st.one_of(st.binary(max_size=200), st.just(RECORD),
                          st.binary(max_size=120).map(_member),
                          st.just(RECORD).map(_member)), max_size=6),
       st.integers(min_value=0, max_value=400))  # fmt: skip
def test_any_bytes_scan_without_crashing(tmp_path_factory: object, parts: list[bytes],
                                         cut: int) -> None:  # fmt: skip
    data = b"".join(parts)
    data = data[: len(data) - min(cut, len(data))] if cut % 3 == 0 else data
    path = Path(tmp_path_factory.mktemp("p")) / "x.warc.gz"  # type: ignore[attr-defined]
    path.write_bytes(data)
    scan = scan_warc(path)
    assert scan.size == len(data)
    whole = all(p == _member(RECORD) for p in parts)
    if whole and data == b"".join(parts):
        assert scan.ok and scan.records == len(parts)
    for d in scan.damages:
        assert 0 <= d.offset <= len(data) and "\n" not in d.problem


CITATION_BITS = st.sampled_from([
    "«Заявление МИД»", "「停戦協議」", '"Talks"', "Reuters, ", "ТАСС, ", "2025年8月15日",
    "15 августа 2025 г.", "August 15, 2025", "15.08.2025", "(accessed 1 May 2025)",
    "（2025年9月1日閲覧）", "https://example.org/a?b=1", " ", ", ", ". ", "<i>", "</i>", "[",
    "]", "**", "31 февраля 2025", "2025-13-40",
])  # fmt: skip


@FAST
@given(st.one_of(st.text(max_size=300), st.lists(CITATION_BITS, max_size=20).map("".join)))
def test_any_footnote_text_parses_to_a_citation(text: str) -> None:
    c = parse_citation(text)
    for value in (c.title, c.publisher):
        assert value is None or (value.strip() and "\n" not in value)
    for value in (c.published, c.accessed):
        assert value is None or is_iso_date(value)
    assert all(u.startswith(("http://", "https://")) and not any(ch.isspace() for ch in u)
               for u in c.urls)  # fmt: skip
    for d in find_dates(text):
        assert 0 <= d.start < d.end <= len(text) and is_iso_date(d.iso)


def is_iso_date(value: str) -> bool:
    """A real calendar date at year, month or day precision: 2025, 2025-02, 2025-02-28."""
    padded = value + "-01-01"[len(value) - 4 :] if len(value) in (4, 7) else value
    return date.fromisoformat(padded) is not None
