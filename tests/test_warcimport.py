"""import-warc: WARC and WACZ files made by other tools (wget, warcio) become captures.

The wget tests run Debian's ``wget --warc-file`` against the local server; warcio-made
files cover what wget does not write (chunked bodies, gzip Content-Encoding, revisit
records, ``www.`` and https URLs). Every imported record is read back: from the archive's
own WARC with warcio, through fixity and verify.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from citearchive.archive.store import Archive
from citearchive.capture.import_warc import import_warcs, match_key
from citearchive.errors import ArchiveLockedError, CitearchiveError, WarcImportError
from citearchive.sources.manifest import Manifest, parse_manifest
from citearchive.verify.fixity import check_fixity
from citearchive.verify.run import verify_archive
from citearchive.warc.record import Wanted, read_record
from localserver import LocalServer, redirect, respond

WGET = shutil.which(os.environ.get("CITEARCHIVE_WGET", "wget"))

ARTICLE = (
    b"<html><head><title>Talks after Anchorage</title></head><body><nav>Home | World</nav>"
    b"<article><h1>Talks after Anchorage</h1><p>The summit in Anchorage ended without an "
    b"agreement on a ceasefire, but both presidents described the talks as productive and "
    b"promised further negotiations in the coming weeks.</p><p>European leaders travelled to "
    b"Washington to coordinate their position on security guarantees for Ukraine, and many "
    b"questions about the next round still linger among diplomats.</p></article></body></html>"
)
MOVED = ARTICLE.replace(b"Talks after Anchorage", b"Talks, moved")
QUOTE = "both presidents described the talks as productive"


def need_wget() -> str:
    if WGET is None:
        if os.environ.get("CI"):
            pytest.fail("CI: wget not found (.ci/run installs Debian's wget)")
        pytest.skip("wget not installed (apt-get install wget): the wget WARC tests need it")
    return WGET


def manifest(tmp_path: Path, sources: dict[str, str], quotes: dict[str, str] | None = None):
    lines = ['[[document]]\nid = "doc"\ntitle = "Commentary"\n']
    for n, (sid, url) in enumerate(sources.items(), start=1):
        lines += ["[[footnote]]", f"number = {n}", f'text = "Footnote {n}."', ""]
        lines += ["[[source]]", f'id = "{sid}"', f"footnotes = [{n}]", f"url = {json.dumps(url)}"]
        if quotes and sid in quotes:
            lines.append(f"quotes = [{json.dumps(quotes[sid])}]")
        lines.append("")
    for n, sid in enumerate(sources, start=1):
        if quotes and sid in quotes:
            lines += ["[[claim]]", f"footnote = {n}", 'text = "The talks went well."', ""]
    return parse_manifest("\n".join(lines), tmp_path / "sources.toml")


def wget_warc(tmp_path: Path, *urls: str) -> Path:
    subprocess.run(
        [need_wget(), "-q", "--tries=1", "--warc-file", str(tmp_path / "crawl"),
         "-O", os.devnull, *urls],
        cwd=tmp_path, check=False, timeout=30,
    )  # fmt: skip
    path = tmp_path / "crawl.warc.gz"
    assert path.is_file()
    return path


def rows(root: Path) -> list[dict]:
    archive = Archive.open(root, create=False)
    try:
        return list(archive.db.query("SELECT * FROM captures ORDER BY id"))
    finally:
        archive.close()


def warc_dates(path: Path) -> dict[str, str]:
    with open(path, "rb") as fh:
        return {
            r.rec_headers.get_header("WARC-Target-URI").strip("<>"): r.rec_headers.get_header(
                "WARC-Date"
            )
            for r in ArchiveIterator(fh)
            if r.rec_type == "response"
        }


def test_match_key_normalizes_scheme_www_slash_fragment_and_tracking() -> None:
    key = match_key("http://example.org/a/b")
    assert key == match_key("https://www.Example.org/a/b/?utm_source=x&fbclid=1#top")
    assert key != match_key("http://example.org/a/c")
    assert match_key("http://example.org/a?id=1") != key
    assert match_key("ftp://example.org/a/b") is None


# --- wget --------------------------------------------------------------------------------


def test_a_wget_warc_imports_and_verifies(tmp_path: Path, local_server: LocalServer) -> None:
    local_server.route("/article", respond(ARTICLE, encoding="gzip"))
    local_server.route("/old", redirect("/new"))
    local_server.route("/new", respond(MOVED))
    local_server.route("/gone", respond(b"no such page", 404))
    local_server.route("/style.css", respond(b"p{}", content_type="text/css"))
    warc = wget_warc(
        tmp_path, *(local_server.url(p) for p in ("/article", "/old", "/gone", "/style.css"))
    )
    sources = {
        "article": local_server.url("/article/") + "?utm_source=feed#main",
        "moved": local_server.url("/old"),
        "gone": local_server.url("/gone"),
        "absent": "https://example.org/never-crawled",
    }
    m = manifest(tmp_path, sources, quotes={"article": QUOTE})
    root = tmp_path / "archive"
    seen: list[str] = []
    report = import_warcs(m, root, [warc], progress=lambda c: seen.append(c.source_id))

    assert report.counts() == {"imported": 2, "suspect": 0, "failed": 1, "duplicate": 0,
                               "unmatched": 1}  # fmt: skip
    assert report.unmatched_urls == [local_server.url("/style.css")]
    assert report.sources_not_found == ["absent"]
    assert sorted(seen) == ["article", "gone", "moved"] and report.ok
    by = {r["source_id"]: r for r in rows(root)}
    dates = warc_dates(warc)
    art = by["article"]
    assert art["method"] == "import" and art["status_code"] == 200
    assert art["payload_sha256"] == hashlib.sha256(ARTICLE).hexdigest()  # gzip undone
    assert art["fetched_at"] == dates[local_server.url("/article")]
    assert art["imported_from"] == "crawl.warc.gz" and art["imported_record_id"]
    assert art["title"] == "Talks after Anchorage" and QUOTE in art["text"]
    assert art["user_agent"].startswith("Wget/")
    moved = by["moved"]
    assert moved["requested_url"] == local_server.url("/old")
    assert moved["url"] == local_server.url("/new") and moved["title"] == "Talks, moved"
    assert json.loads(moved["redirects"]) == [
        {"url": local_server.url("/old"), "status": 302, "location": "/new"}
    ]
    assert by["gone"]["status_code"] == 404 and by["gone"]["error"].startswith("HTTP 404")

    # the records were copied into the archive's own WARC: response + request per exchange
    assert all(r["warc_filename"] == report.warc_filename for r in by.values())
    copied = root / "warc" / report.warc_filename
    with open(copied, "rb") as fh:
        kinds = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI")) for r in
                 ArchiveIterator(fh)]  # fmt: skip
    assert kinds.count(("response", local_server.url("/article"))) == 1
    assert kinds.count(("request", local_server.url("/article"))) == 1
    assert ("response", local_server.url("/style.css")) not in kinds
    check = subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", str(copied)], capture_output=True
    )
    assert check.returncode == 0, check.stdout + check.stderr

    assert all(f.ok for f in check_fixity(Archive.open(root))), "fixity"
    verdict = verify_archive(m, root)
    quote_checks = [c for c in verdict.checks if c.kind == "quote"]
    assert [c.outcome for c in quote_checks] == ["found"]
    assert verdict.claims[0].ok, verdict.claims[0]


def test_importing_twice_adds_nothing(tmp_path: Path, local_server: LocalServer) -> None:
    local_server.route("/article", respond(ARTICLE))
    warc = wget_warc(tmp_path, local_server.url("/article"))
    m = manifest(tmp_path, {"article": local_server.url("/article")})
    first = import_warcs(m, tmp_path / "archive", [warc])
    again = import_warcs(m, tmp_path / "archive", [warc, warc])
    assert first.counts()["imported"] == 1
    assert again.counts()["imported"] == 0 and again.counts()["duplicate"] == 2
    assert again.run_id is None and again.captures[0].capture_id == first.captures[0].capture_id
    assert len(rows(tmp_path / "archive")) == 1
    assert len(list((tmp_path / "archive" / "warc").glob("*.warc.gz"))) == 1


# --- warcio-made files: chunked + gzip, revisits, www/https ------------------------------


def _chunked(data: bytes, size: int = 100) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size])
             for i in range(0, len(data), size)]  # fmt: skip
    return b"".join(parts) + b"0\r\n\r\n"


def warcio_warc(path: Path, *, url: str = "https://www.example.org/article/") -> Path:
    """A response (gzip, chunked) with its request, then a revisit of it a day later."""
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True, warc_version="1.1")
        body = _chunked(gzip.compress(ARTICLE))
        http = StatusAndHeaders("200 OK", [
            ("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip"),
            ("Transfer-Encoding", "chunked")], protocol="HTTP/1.1")  # fmt: skip
        response = w.create_warc_record(
            url, "response", payload=io.BytesIO(body), http_headers=http,
            warc_headers_dict={"WARC-Date": "2025-08-19T10:00:00.123456Z"},
        )  # fmt: skip
        request = w.create_warc_record(
            url, "request", payload=io.BytesIO(b""),
            http_headers=StatusAndHeaders("GET /article/ HTTP/1.1",
                                          [("Host", "www.example.org"),
                                           ("User-Agent", "Recorder/2.0")],
                                          is_http_request=True),
            warc_headers_dict={"WARC-Date": "2025-08-19T10:00:00.123456Z",
                               "WARC-Concurrent-To":
                                   response.rec_headers.get_header("WARC-Record-ID")},
        )  # fmt: skip
        revisit = w.create_revisit_record(
            url, response.rec_headers.get_header("WARC-Payload-Digest"), url,
            "2025-08-19T10:00:00Z", http_headers=StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html; charset=utf-8"),
                           ("Content-Encoding", "gzip")], protocol="HTTP/1.1"),
            warc_headers_dict={"WARC-Date": "2025-08-20T09:30:00Z"},
        )  # fmt: skip
        other = w.create_warc_record(
            "https://cdn.example.org/app.js", "response", payload=io.BytesIO(b"x=1"),
            http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/javascript")],
                                          protocol="HTTP/1.1"),
        )  # fmt: skip
        for record in (response, request, revisit, other):
            w.write_record(record)
    return path


def test_a_warcio_warc_with_chunked_gzip_and_a_revisit(tmp_path: Path) -> None:
    warc = warcio_warc(tmp_path / "recorder.warc.gz")
    m = manifest(tmp_path, {"article": "http://example.org/article?utm_medium=x#top"},
                 quotes={"article": QUOTE})  # fmt: skip
    root = tmp_path / "archive"
    report = import_warcs(m, root, [warc])
    assert report.counts()["imported"] == 2, report.to_dict()
    assert report.unmatched_urls == ["https://cdn.example.org/app.js"]
    first, second = rows(root)
    assert (first["fetched_at"], second["fetched_at"]) == (
        "2025-08-19T10:00:00Z", "2025-08-20T09:30:00Z",
    )  # fmt: skip
    digest = hashlib.sha256(ARTICLE).hexdigest()
    assert first["payload_sha256"] == second["payload_sha256"] == digest
    assert first["text"] == second["text"] and QUOTE in first["text"]
    assert first["user_agent"] == "Recorder/2.0"
    # the revisit was written as the full response it stands for, de-chunked
    with open(root / "warc" / report.warc_filename, "rb") as fh:
        records = [(r.rec_type, r.rec_headers.get_header("WARC-Date"),
                    r.http_headers.get_header("Transfer-Encoding") if r.http_headers else None,
                    r.content_stream().read()) for r in ArchiveIterator(fh)]  # fmt: skip
    responses = [r for r in records if r[0] == "response"]
    assert [r[1] for r in responses] == ["2025-08-19T10:00:00.123456Z", "2025-08-20T09:30:00Z"]
    assert all(r[2] is None and r[3] == ARTICLE for r in responses)
    assert "revisit" not in [r[0] for r in records]
    assert all(f.ok for f in check_fixity(Archive.open(root)))
    assert verify_archive(m, root).ok


def test_a_revisit_without_its_original_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "only-revisit.warc"
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=False)
        w.write_record(w.create_revisit_record(
            "http://example.org/a", "sha1:AAAA", "http://example.org/a", "2025-01-01T00:00:00Z",
            http_headers=StatusAndHeaders("200 OK", [], protocol="HTTP/1.1"),
        ))  # fmt: skip
    m = manifest(tmp_path, {"a": "http://example.org/a"})
    report = import_warcs(m, tmp_path / "archive", [path])
    assert report.captures == [] and not report.ok
    assert "only-revisit.warc: revisit of http://example.org/a" in report.unresolved[0]


def test_a_wacz_imports_from_its_archive_folder(tmp_path: Path) -> None:
    warc = warcio_warc(tmp_path / "data.warc.gz", url="http://example.org/article")
    wacz = tmp_path / "crawl.wacz"
    with zipfile.ZipFile(wacz, "w") as zf:
        zf.write(warc, "archive/data.warc.gz", compress_type=zipfile.ZIP_STORED)
        zf.writestr("datapackage.json", '{"profile": "data-package", "resources": []}')
        zf.writestr("pages/pages.jsonl", '{"format": "json-pages-1.0", "id": "pages"}\n')
    m = manifest(tmp_path, {"article": "https://example.org/article"})
    report = import_warcs(m, tmp_path / "archive", [wacz])
    assert report.counts()["imported"] == 2
    assert {r["imported_from"] for r in rows(tmp_path / "archive")} == {
        "crawl.wacz#archive/data.warc.gz"
    }


def test_a_warc_gzipped_as_one_stream_imports(tmp_path: Path) -> None:
    """Some tools gzip the whole file rather than each record: readable all the same."""
    plain = tmp_path / "plain.warc"
    with open(plain, "wb") as fh:
        w = WARCWriter(fh, gzip=False)
        for day in ("01", "02"):
            w.write_record(w.create_warc_record(
                "http://example.org/article", "response", payload=io.BytesIO(ARTICLE),
                http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                              protocol="HTTP/1.1"),
                warc_headers_dict={"WARC-Date": f"2025-09-{day}T00:00:00Z"},
            ))  # fmt: skip
    one = tmp_path / "one-stream.warc.gz"
    one.write_bytes(gzip.compress(plain.read_bytes()))
    m = manifest(tmp_path, {"article": "http://example.org/article"})
    report = import_warcs(m, tmp_path / "archive", [one])
    assert [c.fetched_at for c in report.captures] == ["2025-09-01T00:00:00Z",
                                                        "2025-09-02T00:00:00Z"]  # fmt: skip


# --- bad input ---------------------------------------------------------------------------


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    good = warcio_warc(tmp_path / "good.warc.gz")
    data = good.read_bytes()
    plain = tmp_path / "plain.warc"
    with open(plain, "wb") as fh:
        w = WARCWriter(fh, gzip=False)
        w.write_record(w.create_warc_record(
            "http://example.org/article", "response", payload=io.BytesIO(ARTICLE),
            http_headers=StatusAndHeaders("200 OK", [], protocol="HTTP/1.1"),
        ))  # fmt: skip
    bad = {
        "page.html": b"<html><body>not a warc</body></html>",
        "cut.warc.gz": data[: len(data) - 40],
        "cut.warc": plain.read_bytes()[:-300],
        "empty.warc": b"",
    }
    out = {}
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
        out[name] = tmp_path / name
    nowarc = tmp_path / "nowarc.wacz"
    with zipfile.ZipFile(nowarc, "w") as zf:
        zf.writestr("datapackage.json", "{}")
    out["nowarc.wacz"] = nowarc
    out["missing.warc"] = tmp_path / "missing.warc"
    return out


def test_bad_input_names_the_file_and_changes_nothing(tmp_path: Path) -> None:
    m = manifest(tmp_path, {"article": "http://example.org/article"})
    root = tmp_path / "archive"
    good = warcio_warc(tmp_path / "good.warc.gz")
    import_warcs(m, root, [good])
    before = (rows(root), sorted(p.name for p in (root / "warc").iterdir()))
    for name, path in _bad_inputs(tmp_path).items():
        with pytest.raises(WarcImportError) as caught:
            import_warcs(m, root, [good, path])  # the good file first: still nothing written
        assert name in str(caught.value), str(caught.value)
        assert isinstance(caught.value, CitearchiveError) and caught.value.exit_code == 2
    assert "not a WARC" in _error(m, root, tmp_path / "page.html")
    assert "truncated" in _error(m, root, tmp_path / "cut.warc.gz")
    assert "truncated" in _error(m, root, tmp_path / "cut.warc")
    assert (rows(root), sorted(p.name for p in (root / "warc").iterdir())) == before
    fresh = tmp_path / "fresh"
    with pytest.raises(WarcImportError):
        import_warcs(m, fresh, [tmp_path / "page.html"])
    assert not fresh.exists()


def _error(m: Manifest, root: Path, path: Path) -> str:
    with pytest.raises(WarcImportError) as caught:
        import_warcs(m, root, [path])
    return str(caught.value)


def test_the_archive_lock_is_held(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    Archive.open(root).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from citearchive.archive.store import Archive\n"
         f"a = Archive.open({str(root)!r})\n"
         "with a.locked():\n    print('locked', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        m = manifest(tmp_path, {"article": "http://example.org/article"})
        with pytest.raises(ArchiveLockedError):
            import_warcs(m, root, [warcio_warc(tmp_path / "x.warc.gz")])
    finally:
        holder.communicate("", timeout=10)
    assert rows(root) == []


def test_a_truncated_record_is_archived_but_is_no_evidence(tmp_path: Path) -> None:
    url = "https://www.example.org/article/"
    path = tmp_path / "cut.warc.gz"
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True, warc_version="1.1")
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                protocol="HTTP/1.1")  # fmt: skip
        w.write_record(w.create_warc_record(
            url, "response", payload=io.BytesIO(ARTICLE[: len(ARTICLE) // 2]), http_headers=http,
            warc_headers_dict={"WARC-Date": "2025-08-19T10:00:00Z", "WARC-Truncated": "length"},
        ))  # fmt: skip
    m = manifest(tmp_path, {"article": url}, quotes={"article": QUOTE})
    root = tmp_path / "archive"
    import_warcs(m, root, [path])
    (row,) = rows(root)
    assert row["truncated"] == 1 and row["error_kind"] == "truncated"
    assert row["payload_sha256"] is None and row["payload_length"] is None
    assert row["warc_offset"] is not None  # what the file held is still archived
    assert not verify_archive(m, root).ok  # half a page does not carry the claim


# -- bounded like fetch (issue 10, findings F4 and F12) -------------------------------------------


def _bomb_warc(path: Path, url: str, inflated_mb: int) -> None:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(c.compress(bytes(1 << 20)) for _ in range(inflated_mb)) + c.flush()
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True, warc_version="1.1")
        headers = [("Content-Type", "text/html"), ("Content-Encoding", "gzip")]
        http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
        w.write_record(w.create_warc_record(
            url, "response", payload=io.BytesIO(bomb), http_headers=http,
            warc_headers_dict={"WARC-Date": "2025-08-19T10:00:00Z"},
        ))  # fmt: skip


def test_a_gzip_bomb_record_is_decoded_only_up_to_the_cap(tmp_path: Path) -> None:
    """F4: a 4 kB WARC whose payload inflates to 2 GB made import-warc inflate all of it."""
    url = "https://www.example.org/article/"
    path = tmp_path / "bomb.warc.gz"
    _bomb_warc(path, url, 64)
    m = parse_manifest(
        f'[settings]\nmax_bytes = 1000000\n[[source]]\nid = "a"\nfootnotes = [1]\nurl = "{url}"\n'
    )
    root = tmp_path / "archive"
    tracemalloc.start()
    try:
        import_warcs(m, root, [path])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000  # not 64 MB: decoding stopped at the 1 MB cap
    (row,) = rows(root)
    assert row["error_kind"] == "too-large" and "1 MB cap" in row["error"]
    assert row["truncated"] == 1 and row["payload_sha256"] is None and row["text"] is None
    archive = Archive.open(root)
    try:
        assert all(r.ok for r in check_fixity(archive))  # its record is whole evidence of bytes
    finally:
        archive.close()


def test_reading_back_a_payload_of_unknown_length_stops_at_the_cap(tmp_path: Path) -> None:
    """F4: fixity and the archived view decode through read_record, under the same cap."""
    path = tmp_path / "bomb.warc.gz"
    _bomb_warc(path, "https://www.example.org/", 16)
    with open(path, "rb") as fh:
        length = len(fh.read())
        fh.seek(0)
        facts = read_record(fh, 0, length, Wanted("response", keep_body=True, cap=100_000))
    assert facts.decode_error is not None and "100 kB cap" in facts.decode_error
    assert facts.decoded_length <= 100_001 and facts.body is None


def test_a_record_larger_than_the_cap_is_reported_not_held_in_memory(tmp_path: Path) -> None:
    url = "https://www.example.org/big/"
    path = tmp_path / "big.warc.gz"
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True, warc_version="1.1")
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        w.write_record(w.create_warc_record(
            url, "response", payload=io.BytesIO(b"<p>" + b"x" * 3_000_000), http_headers=http,
            warc_headers_dict={"WARC-Date": "2025-08-19T10:00:00Z"},
        ))  # fmt: skip
    m = parse_manifest(
        f'[settings]\nmax_bytes = 1000\n[[source]]\nid = "b"\nfootnotes = [1]\nurl = "{url}"\n'
    )
    report = import_warcs(m, tmp_path / "archive", [path])
    assert report.captures == []
    assert len(report.unresolved) == 1 and "over the 1 kB cap" in report.unresolved[0]


@pytest.mark.parametrize("junk", [b"\0" * 3_000_000, gzip.compress(b"\0" * 100_000), b""])
def test_a_file_that_is_not_a_warc_is_refused_at_once_in_one_line(
    tmp_path: Path, junk: bytes
) -> None:
    """F12: 30 MB of NUL bytes took 36 s and 1 GB and printed a 120 MB error line."""
    path = tmp_path / "junk.warc"
    path.write_bytes(junk)
    started = time.monotonic()
    with pytest.raises(WarcImportError) as info:
        import_warcs(parse_manifest(""), tmp_path / "archive", [path])
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "not a WARC file" in message and "\n" not in message and len(message) < 300


def test_a_device_or_a_pipe_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.warc"
    os.mkfifo(fifo)
    for path in (Path("/dev/zero"), fifo):
        with pytest.raises(WarcImportError, match="not a regular file"):
            import_warcs(parse_manifest(""), tmp_path / "archive", [path])
