"""Fixity against real archives: made by the real capture pipeline, then tampered with.

A module-scoped archive is captured from a local server twice (the second run refreshes,
so unchanged pages become revisit records); each test works on a copy and damages it in
one way — missing file, truncated file, flipped byte, wrong offset, edited hash, rewritten
record — and checks that fixity names the capture, its source and its file.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import shutil
import zlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders

from citearchive.archive.store import Archive
from citearchive.capture.pipeline import fetch_sources
from citearchive.config import resolve_settings
from citearchive.sources.manifest import parse_manifest
from citearchive.verify import fixity
from citearchive.verify.fixity import FixityResult, check_fixity
from citearchive.warc import record
from localserver import LocalServer, redirect, respond, sequence

FAST = {"host_delay": 0.0, "backoff": 0.01, "deadline": 10.0, "max_attempts": 1}
EN = (
    b"<html><head><title>Talks after Anchorage</title></head><body><article><h1>Talks</h1>"
    b"<p>The summit in Anchorage ended without an agreement on a ceasefire, but both presidents "
    b"described the talks as productive and promised further negotiations in the coming weeks."
    b"</p><p>European leaders travelled to Washington to coordinate their position on security "
    b"guarantees for Ukraine.</p></article></body></html>"
)
JA = (
    "<html><head><meta charset='utf-8'><title>停戦協議</title></head><body><article>"
    "<h1>停戦協議の現状</h1><p>"
    + "2025年8月15日、米露首脳会談がアラスカ州アンカレッジで行われた。会談後、両首脳は共同記者"
    "会見に臨んだが、停戦の具体的な条件については明らかにしなかった。"
    * 3
    + "</p></article></body></html>"
).encode()
RU = (
    "<html><head><meta charset='utf-8'><title>Переговоры</title></head><body><article>"
    "<h1>Переговоры</h1><p>"
    + "Официальный представитель МИД России заявила, что Россия не приемлет никаких сценариев "
    "размещения на Украине воинского контингента с участием стран НАТО. "
    * 3
    + "</p><p>{}</p></article></body></html>"
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An archive captured twice from a local server: responses, a redirect, a 404, revisits."""
    root = tmp_path_factory.mktemp("fixity")
    with LocalServer() as server, ProcessPoolExecutor(max_workers=2) as pool:
        server.route("/en", respond(EN))
        server.route("/ja", respond(JA, encoding="gzip"))
        server.route(
            "/ru",
            sequence(
                respond(RU.format("Версия 1.").encode(), encoding="deflate"),
                respond(RU.format("Версия 2.").encode(), encoding="deflate"),
            ),
        )
        server.route("/old", redirect("/en-moved"))
        server.route("/en-moved", respond(EN.replace(b"Talks", b"Moved talks")))
        toml = ['[[document]]\nid = "doc"\ntitle = "T"\n']
        for i, path in enumerate(["/en", "/ja", "/ru", "/old", "/missing"], start=1):
            toml.append(
                f'[[source]]\nid = "fn{i}"\nfootnotes = [{i}]\nurl = "{server.url(path)}"\n'
            )
        manifest = parse_manifest("\n".join(toml), root / "sources.toml")
        settings = resolve_settings(FAST)
        fetch_sources(manifest, root / "archive", settings=settings, executor=pool)
        fetch_sources(manifest, root / "archive", settings=settings, executor=pool, refresh=True)
    yield root / "archive"


@pytest.fixture
def archive(template: Path, tmp_path: Path) -> Iterator[Archive]:
    """A fresh copy of the template archive, open."""
    root = tmp_path / "archive"
    shutil.copytree(template, root)
    arch = Archive.open(root, create=False)
    yield arch
    arch.close()


def captures(archive: Archive, where: str = "1", params: Any = ()) -> list[dict[str, Any]]:
    return list(archive.db.query(f"SELECT * FROM captures WHERE {where} ORDER BY id", params))


def results(archive: Archive) -> dict[int, FixityResult]:
    out: dict[int, FixityResult] = {}
    for r in check_fixity(archive):
        assert r.capture_id not in out, "each capture is checked once"
        out[r.capture_id] = r
    return out


def failed(archive: Archive) -> dict[int, FixityResult]:
    return {cid: r for cid, r in results(archive).items() if not r.ok}


def one(archive: Archive, source: str, *, revisit: bool = False) -> dict[str, Any]:
    cond = "revisit_of IS NOT NULL" if revisit else "revisit_of IS NULL"
    return captures(archive, f"source_id = ? AND {cond}", [source])[0]


# --- the untouched archive -------------------------------------------------------------


def test_untouched_archive_holds(archive: Archive) -> None:
    rows = captures(archive, "warc_filename IS NOT NULL")
    got = results(archive)
    assert set(got) == {r["id"] for r in rows}
    assert all(r.ok for r in got.values()), [r.describe() for r in got.values() if not r.ok]
    # the archive really exercises revisits, content codings and a redirect hop
    assert any(r["revisit_of"] for r in rows)
    assert {"gzip", "deflate"} <= {
        dict(map(tuple, json_headers(r))).get("Content-Encoding") for r in rows
    }
    assert any(r["redirects"] and r["redirects"] != "[]" for r in rows)


def json_headers(row: dict[str, Any]) -> list[list[str]]:
    import json

    return json.loads(row["response_headers"] or "[]")


def test_warcio_agrees_the_digests_hold(archive: Archive) -> None:
    """Our own digest checks and warcio's see the same, sound, records."""
    for path in archive.warc_dir.glob("*.warc.gz"):
        with open(path, "rb") as fh:
            it = ArchiveIterator(fh, check_digests=True)
            for record in it:
                record.content_stream().read()
                assert record.digest_checker.problems == []


# --- tampering, one way at a time --------------------------------------------------------


def test_missing_warc_file_is_named(archive: Archive) -> None:
    first = one(archive, "fn1")
    archive.warc_path(first["warc_filename"]).unlink()
    bad = failed(archive)
    in_file = captures(archive, "warc_filename = ?", [first["warc_filename"]])
    for row in in_file:
        assert bad[row["id"]].detail == f"WARC file missing: warc/{first['warc_filename']}"
        assert bad[row["id"]].source_id == row["source_id"]
    # a revisit in the other file whose original was in the missing one fails too
    revisit = one(archive, "fn1", revisit=True)
    assert revisit["warc_filename"] != first["warc_filename"]
    assert bad[revisit["id"]].detail == f"original capture {first['id']} failed fixity"
    # the other file's own full records still hold
    assert one(archive, "fn3", revisit=False)["id"] not in bad or True
    fresh_ru = captures(
        archive, "source_id = 'fn3' AND warc_filename != ?", [first["warc_filename"]]
    )
    assert fresh_ru and all(r["id"] not in bad for r in fresh_ru)


def test_truncated_warc_file_is_named(archive: Archive) -> None:
    rows = captures(archive, "warc_filename IS NOT NULL")
    name = rows[-1]["warc_filename"]
    in_file = sorted(captures(archive, "warc_filename = ?", [name]), key=lambda r: r["warc_offset"])
    last = in_file[-1]
    path = archive.warc_path(name)
    with open(path, "r+b") as fh:
        fh.truncate(last["warc_offset"] + last["warc_length"] // 2)
    bad = failed(archive)
    assert set(bad) == {last["id"]}
    assert bad[last["id"]].detail.startswith(f"truncated record: warc/{name} ends at byte")
    assert bad[last["id"]].warc_filename == name


def test_flipped_byte_is_named(archive: Archive) -> None:
    target = one(archive, "fn2")  # the gzip-encoded Japanese page
    path = archive.warc_path(target["warc_filename"])
    data = bytearray(path.read_bytes())
    data[target["warc_offset"] + target["warc_length"] // 2] ^= 0x20
    path.write_bytes(bytes(data))
    bad = failed(archive)
    assert bad[target["id"]].source_id == "fn2"
    assert "corrupt compressed data" in bad[target["id"]].detail
    assert f"warc/{target['warc_filename']}" in bad[target["id"]].detail
    revisit = one(archive, "fn2", revisit=True)
    assert bad[revisit["id"]].detail == f"original capture {target['id']} failed fixity"
    assert set(bad) == {target["id"], revisit["id"]}


def _request_offset(archive: Archive, row: dict[str, Any]) -> int:
    """The offset of the request record written right after a capture's response."""
    return int(row["warc_offset"]) + int(row["warc_length"])


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("other-response", "record at offset {offset} is <urn:uuid:"),
        ("request", "record at offset {offset} is a request record, not a response record"),
        ("mid-member", "no WARC record starts at offset {offset} (not gzip data)"),
        ("past-end", "truncated record: warc/"),
    ],
)
def test_wrong_offset_is_named(archive: Archive, how: str, expected: str) -> None:
    target, other = one(archive, "fn1"), one(archive, "fn2")
    offset = {
        "other-response": other["warc_offset"],
        "request": _request_offset(archive, target),
        "mid-member": target["warc_offset"] + 7,
        "past-end": archive.warc_path(target["warc_filename"]).stat().st_size - 3,
    }[how]
    with archive.db.conn:
        archive.db["captures"].update(target["id"], {"warc_offset": offset})  # type: ignore[union-attr]
    bad = failed(archive)
    assert bad[target["id"]].detail.startswith(expected.format(offset=offset)), bad[target["id"]]
    assert bad[target["id"]].source_id == "fn1"
    assert other["id"] not in bad


def test_edited_payload_hash_is_named(archive: Archive) -> None:
    target = one(archive, "fn3")
    forged = hashlib.sha256(b"something else").hexdigest()
    with archive.db.conn:
        archive.db["captures"].update(target["id"], {"payload_sha256": forged})  # type: ignore[union-attr]
    bad = failed(archive)
    assert set(bad) == {target["id"]}
    assert bad[target["id"]].detail == (
        f"payload sha256 mismatch: recorded {forged[:12]}…, "
        f"archived {target['payload_sha256'][:12]}… in warc/{target['warc_filename']}"
    )


def test_edited_payload_digest_is_named(archive: Archive) -> None:
    target = one(archive, "fn3")
    with archive.db.conn:
        archive.db["captures"].update(  # type: ignore[union-attr]
            target["id"], {"warc_payload_digest": "sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
        )
    bad = failed(archive)
    assert "is not the index's" in bad[target["id"]].detail


def test_edited_revisit_hash_is_named(archive: Archive) -> None:
    revisit = one(archive, "fn2", revisit=True)
    with archive.db.conn:
        archive.db["captures"].update(revisit["id"], {"payload_sha256": "0" * 64})  # type: ignore[union-attr]
    bad = failed(archive)
    assert set(bad) == {revisit["id"]}
    assert bad[revisit["id"]].detail.startswith("payload sha256 mismatch: recorded 000000000000…")


def test_revisit_without_its_original_is_named(archive: Archive) -> None:
    revisit = one(archive, "fn1", revisit=True)
    with archive.db.conn:
        archive.db.execute("DELETE FROM captures WHERE id = ?", [revisit["revisit_of"]])
    bad = failed(archive)
    assert bad[revisit["id"]].detail == (
        f"revisit of capture {revisit['revisit_of']}, which has no record"
    )


def test_rewritten_record_breaks_its_digests(archive: Archive) -> None:
    """A record re-written with other content (valid gzip, index length fixed up)."""
    target = one(archive, "fn1")  # the identity-encoded English page
    path = archive.warc_path(target["warc_filename"])
    data = path.read_bytes()
    start, end = target["warc_offset"], target["warc_offset"] + target["warc_length"]
    record = gzip.decompress(data[start:end])
    forged = record.replace(b"both presidents", b"both Presidents")
    assert forged != record and len(forged) == len(record)
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    member = comp.compress(forged) + comp.flush()
    path.write_bytes(data[:start] + member + data[end:])
    shift = len(member) - target["warc_length"]
    with archive.db.conn:  # the index is fixed up to the new layout, digests left alone
        archive.db.execute(
            "UPDATE captures SET warc_offset = warc_offset + ? "
            "WHERE warc_filename = ? AND warc_offset > ?",
            [shift, target["warc_filename"], start],
        )
        archive.db.execute(
            "UPDATE captures SET warc_length = ? WHERE id = ?", [len(member), target["id"]]
        )
    bad = failed(archive)
    revisit = one(archive, "fn1", revisit=True)
    assert set(bad) == {target["id"], revisit["id"]}
    detail = bad[target["id"]].detail
    assert "WARC-Block-Digest mismatch" in detail
    assert "WARC-Payload-Digest mismatch" in detail
    assert "payload sha256 mismatch" in detail


# --- reading order and scale -----------------------------------------------------------------


def write_direct(root: Path, n: int, *, size: int = 3000) -> Archive:
    """An archive of ``n`` captures written straight through the store/warcfile APIs."""
    archive = Archive.open(root)
    run_id = archive.start_run("fetch", settings={}, user_agent="test")
    warc = archive.open_warc(run_id, level=1, info={"software": "test"})
    rows = []
    for i in range(n):
        body = (f"<p>page {i} " + "слово word 言葉 " * (size // 16) + "</p>").encode()
        encoded, headers = body, [("Content-Type", "text/html; charset=utf-8")]
        if i % 3 == 0:
            encoded = gzip.compress(body, 1)
            headers.append(("Content-Encoding", "gzip"))
        record = warc.builder.create_warc_record(
            f"http://example.org/{i}",
            "response",
            payload=io.BytesIO(encoded),
            http_headers=StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1"),
            warc_headers_dict={"WARC-Date": "2025-01-01T00:00:00.250000Z"},
        )
        loc = warc.write([record])[0]
        rows.append(
            {
                "run_id": run_id,
                "source_id": f"s{i % 7}",
                "url": f"http://example.org/{i}",
                "fetched_at": "2025-01-01T00:00:00Z",
                "status_code": 200,
                "payload_sha256": hashlib.sha256(body).hexdigest(),
                "payload_length": len(body),
                "warc_filename": loc.filename,
                "warc_offset": loc.offset,
                "warc_length": loc.length,
                "warc_record_id": loc.record_id,
                "warc_payload_digest": loc.payload_digest,
            }
        )
    warc.close()
    archive.insert_captures(rows)
    return archive


def test_many_records_are_read_in_one_pass_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = write_direct(tmp_path / "a", 120)
    monkeypatch.setattr(fixity, "PAGE_ROWS", 7)  # many pages of index rows
    opened: list[str] = []

    def counting_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(fixity, "open", counting_open, raising=False)
    got = list(check_fixity(archive))
    assert len(got) == 120 and all(r.ok for r in got)
    assert [r.capture_id for r in got] == sorted(r.capture_id for r in got)  # offset order
    assert len(opened) == 1
    # a damaged record in the middle is caught alone
    mid = captures(archive, "id = 60")[0]
    path = archive.warc_path(mid["warc_filename"])
    data = bytearray(path.read_bytes())
    data[mid["warc_offset"] + mid["warc_length"] - 6] ^= 0x01  # inside the gzip CRC
    path.write_bytes(bytes(data))
    bad = [r for r in check_fixity(archive) if not r.ok]
    assert [r.capture_id for r in bad] == [60]
    assert "corrupt compressed data" in bad[0].detail
    archive.close()


# --- the record reader ---------------------------------------------------------------------


def test_both_inflaters_and_tiny_chunks_agree(
    archive: Archive, inflater: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headers split across chunks, many small reads: the same verdicts either way."""
    monkeypatch.setattr(record, "READ_CHUNK", 7)
    monkeypatch.setattr(record, "OUT_CHUNK", 5)
    assert all(r.ok for r in results(archive).values())
    target = one(archive, "fn2")
    with archive.db.conn:
        archive.db.execute(
            "UPDATE captures SET payload_sha256 = ? WHERE id = ?", ["f" * 64, target["id"]]
        )
    bad = failed(archive)
    revisit = one(archive, "fn2", revisit=True)  # now differs from its original's hash
    assert set(bad) == {target["id"], revisit["id"]}
    assert bad[target["id"]].detail.startswith("payload sha256 mismatch: recorded ffffffffffff…")


@pytest.mark.parametrize(
    ("form", "holds"),
    [
        (lambda raw: base64.b32encode(raw).decode(), True),  # what warcio writes
        (lambda raw: base64.b32encode(raw).decode().lower(), True),
        (lambda raw: raw.hex(), True),
        (lambda raw: base64.b64encode(raw).decode(), True),
        (lambda raw: base64.b32encode(bytes(20)).decode(), False),
        (lambda raw: "not a digest", False),
    ],
)
def test_digest_header_forms(form: Any, holds: bool) -> None:
    raw = hashlib.sha1(b"payload").digest()
    digest = record._Digest("sha1:" + form(raw))
    digest.hash.update(b"payload")
    assert digest.holds() is holds


# --- the extracted text, and captures fixity cannot check ------------------------------------


def test_edited_text_is_named(archive: Archive) -> None:
    """The text quotes are matched against is hashed too: an edit to it is a fixity failure."""
    rows = captures(archive, "source_id = 'fn1'")
    assert len(rows) == 2 and all(r["text_sha256"] for r in rows)
    with archive.db.conn:
        archive.db.execute(
            "UPDATE captures SET text = replace(text, 'European leaders travelled', "
            "'Russian leaders travelled') WHERE source_id = 'fn1'"
        )
    bad = failed(archive)
    assert set(bad) == {r["id"] for r in rows}
    for r in rows:
        assert bad[r["id"]].detail.startswith(
            f"extracted text edited: text_sha256 recorded {r['text_sha256'][:12]}…, "
            "the text hashes to "
        ), bad[r["id"]].detail
        assert bad[r["id"]].source_id == "fn1"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"text_sha256": None}, "extracted text has no recorded text_sha256"),
        ({"text": None}, "extracted text missing: text_sha256 recorded "),
    ],
)
def test_text_and_its_hash_go_together(
    archive: Archive, change: dict[str, Any], expected: str
) -> None:
    target = one(archive, "fn3")
    with archive.db.conn:
        archive.db["captures"].update(target["id"], change)  # type: ignore[union-attr]
    bad = failed(archive)
    assert set(bad) == {target["id"]}
    assert bad[target["id"]].detail.startswith(expected), bad[target["id"]].detail


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"payload_sha256": None, "warc_payload_digest": None},
            "no payload_sha256 recorded for this capture",
        ),
        ({"warc_filename": None}, "no archived record for this capture"),
        (
            {"warc_filename": None, "warc_offset": None, "warc_length": None},
            "no archived record for this capture",
        ),
    ],
)
def test_a_capture_fixity_cannot_check_fails(
    archive: Archive, change: dict[str, Any], expected: str
) -> None:
    """A good capture (or one with text) must have a record and a payload hash to check."""
    target = one(archive, "fn3")
    with archive.db.conn:
        archive.db["captures"].update(target["id"], change)  # type: ignore[union-attr]
    got = results(archive)
    assert target["id"] in got, "the capture is not skipped"
    assert not got[target["id"]].ok
    assert expected in got[target["id"]].detail, got[target["id"]].detail
    assert got[target["id"]].source_id == "fn3"
    assert [cid for cid, r in got.items() if not r.ok] == [target["id"]]


def test_a_failed_capture_without_a_record_is_not_checked(archive: Archive) -> None:
    """A refused connection left no record: there is nothing to check, and nothing fails."""
    (refused,) = archive.insert_captures(
        [{"source_id": "fn5", "requested_url": "http://127.0.0.1:9/", "url": "http://127.0.0.1:9/",
          "method": "live", "error": "connection refused by 127.0.0.1:9",
          "error_kind": "refused"}]
    )  # fmt: skip
    got = results(archive)
    assert refused not in got
    assert all(r.ok for r in got.values())


def test_unsafe_warc_file_name_is_a_failure_not_a_crash(archive: Archive) -> None:
    target = one(archive, "fn3")
    with archive.db.conn:
        archive.db["captures"].update(target["id"], {"warc_filename": "../../etc/passwd"})  # type: ignore[union-attr]
    bad = failed(archive)
    assert set(bad) == {target["id"]}
    assert "unsafe WARC file name '../../etc/passwd'" in bad[target["id"]].detail
