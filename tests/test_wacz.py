"""export wacz: a WACZ 1.1.1 package that py-wacz's validator accepts and that indexes
every record the way replay tools look it up.

The archive is made by a real fetch against the local server (a page, a redirect, a
revisit on the second run) and an import. The package is read back entry by entry;
``wacz validate`` (py-wacz) and ``cdxj-indexer`` run where installed: a separate venv,
found through $CITEARCHIVE_WACZ, PATH or /tmp/wacz-venv/bin (CI must have them).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.timeutils import iso_date_to_timestamp

from citearchive.archive.store import Archive
from citearchive.capture.import_warc import import_warcs
from citearchive.capture.pipeline import fetch_sources
from citearchive.config import resolve_settings
from citearchive.errors import ArchiveError
from citearchive.export.wacz import WACZ_VERSION, export_wacz, surt
from citearchive.sources.manifest import Manifest, parse_manifest
from localserver import LocalServer, redirect, respond

PAGE = (
    "<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
    "<p>The summit in Anchorage ended without an agreement on a ceasefire, but both "
    "presidents described the talks as productive and promised further negotiations in the "
    "coming weeks.</p><p>European leaders travelled to Washington to coordinate their "
    "position on security guarantees for Ukraine, and many questions still linger.</p>"
    "</article></body></html>"
)


def _tool(name: str) -> str | None:
    configured = os.environ.get("CITEARCHIVE_WACZ")
    candidates = [Path(configured).parent / name] if configured else []
    found = shutil.which(name)
    candidates += [Path(found)] if found else []
    candidates.append(Path("/tmp/wacz-venv/bin") / name)
    return next((str(c) for c in candidates if c.is_file()), None)


def need_tool(name: str) -> str:
    tool = _tool(name)
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI: {name} (pip package wacz, in its own venv) not found")
        pytest.skip(f"{name} not installed (python -m venv /tmp/wacz-venv && "
                    "/tmp/wacz-venv/bin/pip install wacz)")  # fmt: skip
    return tool


def _manifest(tmp_path: Path, server: LocalServer) -> Manifest:
    text = f"""
[[document]]
id = "doc"
title = "Talks"
author = "A. Researcher"

[[source]]
id = "article"
footnotes = [1]
url = "{server.url("/article")}"

[[source]]
id = "moved"
footnotes = [2]
url = "{server.url("/old?b=2&a=1")}"
"""
    return parse_manifest(text, tmp_path / "sources.toml")


@pytest.fixture(scope="module")
def archive_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    """An archive of two fetch runs (the second stores a revisit) against a local server."""
    tmp = tmp_path_factory.mktemp("wacz")
    server = LocalServer()
    server.__enter__()
    try:
        server.route("/article", respond(PAGE.format(title="Talks after Anchorage").encode()))
        server.route("/old", redirect("/new"))
        server.route("/new", respond(PAGE.format(title="Moved page").encode(), encoding="gzip"))
        m = _manifest(tmp, server)
        settings = resolve_settings({"host_delay": 0.0, "max_attempts": 1})
        with ThreadPoolExecutor(2) as pool:
            for refresh in (False, True):
                fetch_sources(m, tmp / "archive", settings=settings, executor=pool,
                              refresh=refresh)  # fmt: skip
    finally:
        server.close()
    return tmp / "archive", m


def _read(wacz: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wacz) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def test_surt_keys_are_computed_as_wabac_computes_them() -> None:
    assert surt("https://www.Example.org/Path/?b=2&a=1#top") == "org,example)/path/?a=1&b=2"
    assert surt("http://www2.example.org") == "org,example)/"
    assert surt("http://127.0.0.1:8080/a") == "1,0,0,127:8080)/a"
    assert surt("https://example.org:443/a b") == "org,example)/a%20b"
    assert surt("https://пример.рф/путь") == "xn--p1ai,xn--e1afmkfd)/%D0%BF%D1%83%D1%82%D1%8C"
    assert surt("urn:pageinfo:x") == "urn:pageinfo:x"


def test_the_package_holds_every_file_with_its_hash(
    archive_dir: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, m = archive_dir
    out = export_wacz(root, tmp_path / "out" / "archive.wacz", manifest=m)
    files = _read(out)
    warcs = sorted((root / "warc").glob("*.warc.gz"))
    assert len(warcs) == 2
    assert sorted(files) == sorted(
        [f"archive/{w.name}" for w in warcs]
        + ["indexes/index.cdx", "pages/pages.jsonl", "datapackage.json",
           "datapackage-digest.json"]
        + [f"timestamps/{p.name}" for p in (root / "warc").glob("*.manifest.txt")]  # issue 13
    )  # fmt: skip
    with zipfile.ZipFile(out) as zf:
        for w in warcs:  # WARCs as they are, uncompressed in the ZIP (replay seeks into them)
            assert zf.getinfo(f"archive/{w.name}").compress_type == zipfile.ZIP_STORED
            assert files[f"archive/{w.name}"] == w.read_bytes()
    package = json.loads(files["datapackage.json"])
    assert package["profile"] == "data-package" and package["wacz_version"] == WACZ_VERSION
    assert package["title"] == "Sources cited in “Talks”" and package["created"].endswith("Z")
    listed = {r["path"]: r for r in package["resources"]}
    assert set(listed) == set(files) - {"datapackage.json", "datapackage-digest.json"}
    for path, res in listed.items():
        assert res["hash"] == "sha256:" + hashlib.sha256(files[path]).hexdigest()
        assert res["bytes"] == len(files[path])
    digest = json.loads(files["datapackage-digest.json"])
    package_hash = "sha256:" + hashlib.sha256(files["datapackage.json"]).hexdigest()
    # signed (anonymous, WACZ Signing 0.1.0); no TSA in these tests: no "timestamps"
    assert set(digest) == {"path", "hash", "signedData"}
    assert (digest["path"], digest["hash"]) == ("datapackage.json", package_hash)
    signed = digest["signedData"]
    assert set(signed) == {"hash", "created", "software", "version", "signature", "publicKey"}
    assert signed["hash"] == package_hash and signed["created"] == package["created"]
    assert not list(out.parent.glob(".*.tmp")), "temporary file left behind"


def test_warc_data_is_where_a_range_reader_looks(
    archive_dir: tuple[Path, Manifest], tmp_path: Path
) -> None:
    """ReplayWeb.page reads a WARC's bytes at header offset + 30 + name + the central
    directory's extra length: the local header must agree (no forced ZIP64 field)."""
    root, _ = archive_dir
    out = export_wacz(root, tmp_path / "a.wacz")
    raw = out.read_bytes()
    with zipfile.ZipFile(out) as zf:
        for info in zf.infolist():
            local = raw[info.header_offset : info.header_offset + 30]
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            assert (name_len, extra_len) == (len(info.filename.encode()), len(info.extra))
            start = info.header_offset + 30 + name_len + len(info.extra)
            if info.filename.startswith("archive/"):
                assert raw[start : start + info.compress_size] == zf.read(info)
                assert raw[start : start + 2] == b"\x1f\x8b"


def test_the_index_finds_every_record(archive_dir: tuple[Path, Manifest], tmp_path: Path) -> None:
    root, _ = archive_dir
    files = _read(export_wacz(root, tmp_path / "a.wacz"))
    lines = files["indexes/index.cdx"].decode().splitlines()
    assert lines == sorted(lines)
    entries = [(k, ts, json.loads(j)) for k, ts, j in (ln.split(" ", 2) for ln in lines)]
    types = []
    for key, ts, fields in entries:  # each line points at the record it names
        stream = io.BytesIO(files["archive/" + fields["filename"]])
        stream.seek(int(fields["offset"]))
        record = next(iter(ArchiveIterator(stream)))
        assert record.rec_headers.get_header("WARC-Target-URI") == fields["url"]
        assert iso_date_to_timestamp(record.rec_headers.get_header("WARC-Date")) == ts
        assert key == surt(fields["url"]) and len(ts) == 14
        types.append((record.rec_type, fields.get("status"), fields.get("mime")))
    assert ("response", "302", None) in types  # the redirect, replayed as one
    assert ("revisit", "200", "warc/revisit") in types  # the second run's unchanged pages
    keys = {k for k, _, _ in entries}
    assert any(k.endswith(")/old?a=1&b=2") for k in keys)  # sorted query, as looked up


def test_the_index_matches_cdxj_indexer(archive_dir: tuple[Path, Manifest], tmp_path: Path) -> None:
    tool = need_tool("cdxj-indexer")
    root, _ = archive_dir
    files = _read(export_wacz(root, tmp_path / "a.wacz"))
    ours = files["indexes/index.cdx"].decode().splitlines()
    warcs = sorted((root / "warc").glob("*.warc.gz"))
    theirs = subprocess.run([tool, "-s", *map(str, warcs)], capture_output=True, text=True,
                            check=True).stdout.splitlines()  # fmt: skip

    def essentials(line: str) -> tuple:
        key, ts, data = line.split(" ", 2)
        f = json.loads(data)
        return (key, ts, f["url"], f.get("status"), f.get("digest"), f["offset"], f["length"])

    assert sorted(map(essentials, ours)) == sorted(
        essentials(t) for t in theirs if '"request"' not in t and "urn:" not in t.split()[0]
    )


def test_pages_list_every_good_capture_with_its_text(
    archive_dir: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, _ = archive_dir
    files = _read(export_wacz(root, tmp_path / "a.wacz"))
    header, *pages = [json.loads(ln) for ln in files["pages/pages.jsonl"].decode().splitlines()]
    assert header["format"] == "json-pages-1.0" and header["hasText"] is True
    archive = Archive.open(root)
    try:
        good = list(archive.db.query(
            "SELECT id, url, title, text FROM captures WHERE error IS NULL AND suspect IS NULL"
        ))  # fmt: skip
    finally:
        archive.close()
    assert len(pages) == len(good) == 4
    by_id = {p["capture_id"]: p for p in pages}
    for row in good:
        page = by_id[row["id"]]
        assert (page["url"], page["title"], page["text"]) == (row["url"], row["title"], row["text"])
        assert page["ts"].endswith("Z") and page["ts"][:4].isdigit()
    assert {p["url"].rsplit("/", 1)[-1] for p in pages} == {"article", "new"}


def test_wacz_validate_accepts_it_and_rejects_a_tampered_copy(
    archive_dir: tuple[Path, Manifest], tmp_path: Path
) -> None:
    tool = need_tool("wacz")
    root, m = archive_dir
    out = export_wacz(root, tmp_path / "archive.wacz", manifest=m)
    ok = subprocess.run([tool, "validate", "-f", str(out)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "passed WACZ is valid" in ok.stdout
    files = _read(out)
    bad = tmp_path / "tampered.wacz"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in files.items():
            if name == "pages/pages.jsonl":
                data += (
                    b'{"id": "x", "url": "http://example.org/", '
                    b'"ts": "2025-01-01T00:00:00Z", "title": "added"}\n'
                )
            zf.writestr(name, data)
    rejected = subprocess.run([tool, "validate", "-f", str(bad)], capture_output=True, text=True)
    assert rejected.returncode != 0, rejected.stdout
    assert "hash" in rejected.stdout


def test_an_exported_wacz_imports_into_another_archive(
    archive_dir: tuple[Path, Manifest], tmp_path: Path
) -> None:
    """Round trip: what export wacz writes, import-warc reads back as the same captures."""
    root, m = archive_dir
    wacz = export_wacz(root, tmp_path / "a.wacz", manifest=m)
    report = import_warcs(m, tmp_path / "other", [wacz])
    # both fetch runs may fall in one second: the same payload at the same date is one capture
    counts = report.counts()
    assert counts["imported"] + counts["duplicate"] == 4 and counts["imported"] >= 2
    assert not report.unresolved

    def evidence(path: Path) -> set[tuple]:
        archive = Archive.open(path)
        try:
            return set(archive.db.execute(
                "SELECT source_id, requested_url, url, fetched_at, payload_sha256, text_sha256 "
                "FROM captures WHERE error IS NULL"
            ).fetchall())  # fmt: skip
        finally:
            archive.close()

    assert evidence(tmp_path / "other") == evidence(root)


def test_nothing_to_export(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no archive here"):
        export_wacz(tmp_path / "none", tmp_path / "x.wacz")
    Archive.open(tmp_path / "empty").close()
    with pytest.raises(ArchiveError, match="no WARC files"):
        export_wacz(tmp_path / "empty", tmp_path / "x.wacz")
    assert not (tmp_path / "x.wacz").exists()


def test_a_damaged_warc_is_named_and_nothing_written(
    archive_dir: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    shutil.copytree(archive_dir[0], root)
    (root / "warc" / "zzz-damaged.warc.gz").write_bytes(b"<html>not a WARC</html>")
    with pytest.raises(ArchiveError, match=r"zzz-damaged\.warc\.gz: unreadable WARC"):
        export_wacz(root, tmp_path / "x.wacz")
    assert not list(tmp_path.glob("*.wacz")) and not list(tmp_path.glob(".*.tmp"))
