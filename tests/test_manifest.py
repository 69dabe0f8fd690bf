"""sources.toml validation: every kind of bad input gets one line naming file, line, field."""

from __future__ import annotations

from pathlib import Path

import pytest

from citearchive.errors import ManifestError
from citearchive.sources.manifest import load_manifest, parse_manifest

GOOD = """\
[settings]
concurrency = 4
host_delay = 0

[[document]]
id = "doc"
title = "ロシア・ウクライナの停戦をめぐる在米協議"
language = "ja"
published = "2025-08"

[[footnote]]
number = 1
text = "«Совместная пресс-конференция», President of Russia, August 16, 2025."
accessed = "2025-08-19"

[[source]]
id = "fn1"
footnotes = [1]
url = "https://example.org/a"
title = "Совместная пресс-конференция"
language = "ru"
quotes = ["первая цитата"]
alternates = ["https://mirror.example.org/a"]

[[source]]
id = "fn2"
footnote = 2
title = "Unresolved source"

[[claim]]
footnote = 1
text = "会談後、プーチン大統領は述べた。"

[[claim]]
footnote = 2
text = "Second claim."
"""


def test_good_manifest_loads_into_plain_objects(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(GOOD, encoding="utf-8")
    m = load_manifest(path)
    assert [s.id for s in m.sources] == ["fn1", "fn2"]
    assert m.sources[0].resolved and not m.sources[1].resolved
    assert m.sources[1].footnotes == (2,)
    assert m.sources[0].document == "doc"  # defaulted: only one document
    assert m.footnotes[0].accessed == "2025-08-19"
    assert [c.index for c in m.claims] == [1, 2]
    assert m.settings == {"concurrency": 4, "host_delay": 0.0}
    summary = m.summary()
    assert (summary["resolved"], summary["unresolved"], summary["claims"]) == (1, 1, 2)
    assert summary["unresolved_ids"] == ["fn2"]


def _error(text: str) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, "sources.toml")
    return info.value


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_malformed_toml_names_the_line() -> None:
    text = GOOD.replace('title = "Unresolved source"', 'title = "Unresolved source')
    e = _error(text)
    assert "malformed TOML" in str(e)
    assert e.line == _line_of(text, 'title = "Unresolved source')
    assert str(e).startswith(f"sources.toml:{e.line}: ")


def test_unknown_key_suggests_the_close_one() -> None:
    text = GOOD.replace('language = "ru"', 'langauge = "ru"')
    e = _error(text)
    assert "unknown field 'langauge'; did you mean 'language'?" in str(e)
    assert e.line == _line_of(text, "langauge")
    assert e.field == "[[source]] #1.langauge"


def test_unknown_table_suggests_the_close_one() -> None:
    e = _error(GOOD + '\n[[sources]]\nid = "x"\n')
    assert "unknown table 'sources'; did you mean 'source'?" in str(e)


def test_single_bracket_table_is_explained() -> None:
    e = _error('[source]\nid = "x"\nfootnotes = [1]\n')
    assert "write [[source]], not [source]" in str(e)


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("footnotes = [1]", 'footnotes = "1"', "whole numbers"),
        ('title = "Unresolved source"', "title = 5", "must be a string, not a number"),
        ('quotes = ["первая цитата"]', 'quotes = "x"\nquotes2 = 1', "unknown field 'quotes2'"),
        ("concurrency = 4", 'concurrency = "four"', "must be a whole number, not 'four'"),
        ("concurrency = 4", "concurrency = 0", "must be between 1 and 1000, not 0"),
        ("concurrency = 4", "concurrency = 2.5", "must be a whole number, not 2.5"),
        ("host_delay = 0", "host_delay = -1", "must be between 0 and 3600, not -1.0"),
        ("number = 1", "number = 0", "must be from 1 to 100000"),
        ('id = "fn2"', 'id = "日本"', "'日本' is not a valid id: an id is ASCII letters"),
        ('id = "fn2"', 'id = "-x"', "starting with a letter or digit"),
    ],
)
def test_wrong_types(old: str, new: str, needle: str) -> None:
    assert needle in str(_error(GOOD.replace(old, new, 1)))


def test_duplicate_source_id() -> None:
    text = GOOD.replace('id = "fn2"', 'id = "fn1"')
    e = _error(text)
    assert "duplicate source id 'fn1'" in str(e)
    assert e.line == _line_of(text, "footnote = 2") - 1


def test_claim_citing_a_footnote_no_source_carries() -> None:
    text = GOOD + '\n[[claim]]\nfootnote = 7\ntext = "x"\n'
    e = _error(text)
    assert "no [[source]] lists footnote 7" in str(e)
    assert e.field == "[[claim]] #3.footnote"
    assert e.line == _line_of(text, "footnote = 7")


def test_url_must_be_http() -> None:
    e = _error(GOOD.replace("https://example.org/a", "ftp://example.org/a", 1))
    assert "'ftp://example.org/a' is not an http(s) URL" in str(e)
    e = _error(GOOD.replace("https://mirror.example.org/a", "mirror.example.org/a"))
    assert "alternates" in str(e)


def test_language_must_be_iso_639_1() -> None:
    e = _error(GOOD.replace('language = "ru"', 'language = "russian"'))
    assert "'russian' is not an ISO 639-1 code" in str(e)


def test_date_format() -> None:
    e = _error(GOOD.replace('published = "2025-08"', 'published = "August 2025"'))
    assert "is not a date" in str(e)


def test_several_documents_need_explicit_document() -> None:
    text = GOOD.replace(
        "[[footnote]]", '[[document]]\nid = "other"\ntitle = "Other"\n\n[[footnote]]'
    )
    e = _error(text)
    assert "required with several [[document]]s" in str(e)


def test_unknown_document_reference() -> None:
    e = _error(GOOD.replace('id = "fn2"', 'id = "fn2"\ndocument = "dco"'))
    assert "no [[document]] has id 'dco'; did you mean 'doc'?" in str(e)


def test_missing_file_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="file not found"):
        load_manifest(tmp_path / "nope.toml")
    bad = tmp_path / "latin.toml"
    bad.write_bytes(GOOD.encode("utf-8") + "\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ManifestError, match="not valid UTF-8") as info:
        load_manifest(bad)
    assert info.value.line == GOOD.count("\n") + 2


def test_bad_settings_change_nothing_in_the_archive(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from citearchive.cli.app import app

    path = tmp_path / "sources.toml"
    path.write_text(GOOD.replace("concurrency = 4", "warc_gzip_level = 99"), encoding="utf-8")
    result = CliRunner().invoke(app, ["fetch", "-s", str(path), "-a", str(tmp_path / "arch")])
    assert result.exit_code == 2
    assert "warc_gzip_level: must be between 0 and 9, not 99" in result.stderr
    assert not (tmp_path / "arch").exists()


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode("utf-8"))  # as Windows Notepad saves it
    assert load_manifest(path).sources[0].id == "fn1"


def test_absurd_footnote_number_is_refused() -> None:
    e = _error(GOOD.replace("footnotes = [1]", "footnotes = [99999999999999999999]"))
    assert "footnote" in str(e)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[::1/", "Invalid IPv6 URL"),
        ("http://xn--zz/", "Invalid A-label"),
        ("http://host:abc/", "Invalid port"),
        ("https://user:secret@example.org/a", "user name or password"),
        ("https://example.org/" + "a" * 9000, "longer than 8192 characters"),
    ],
)
def test_urls_fetch_would_refuse_are_refused_by_check(url: str, why: str) -> None:
    e = _error(GOOD.replace("https://example.org/a", url, 1))
    assert why in str(e) and "[[source]] #1.url" in str(e)
    assert len(str(e)) < 400  # a hostile URL is not printed back whole


def test_international_domain_names_are_fine() -> None:
    m = parse_manifest(GOOD.replace("https://example.org/a", "http://пример.рф/путь", 1))
    assert m.sources[0].url == "http://пример.рф/путь"


def test_full_width_host_is_mapped_as_browsers_do() -> None:
    from citearchive.sources.urls import request_url, url_problem

    url = "https://ＥＸＡＭＰＬＥ.com/記事"
    assert url_problem(url) is None
    assert request_url(url) == "https://EXAMPLE.com/記事"
    assert parse_manifest(GOOD.replace("https://example.org/a", url, 1)).sources[0].url == url


def test_source_capture_method_is_checked() -> None:
    text = '[[source]]\nid = "a"\nfootnotes = [1]\nurl = "https://e.org/"\ncapture = "{}"\n'
    assert parse_manifest(text.format("browser")).sources[0].capture == "browser"
    assert parse_manifest(text.format("http")).sources[0].capture == "http"
    error = _error(text.format("chrome"))
    assert 'capture must be "http" or "browser", not \'chrome\'' in str(error)
    assert error.line == 5 and error.field == "[[source]] #1.capture"
