"""RFC 3161 timestamps on runs: run manifests, tokens from a real local TSA, verify's verdicts.

The TSA is Debian's ``openssl ts -reply`` behind HTTP on 127.0.0.1 (tests/tsa.py) with a
CA and a TSA certificate made here; pages come from tests/localserver.py; archives are made
by the real capture pipeline and read back from real WARC files and SQLite.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from citearchive.archive.runs import (
    build_manifest,
    metadata_sha256,
    scan_members,
    stored_manifest,
)
from citearchive.archive.store import Archive
from citearchive.archive.timestamps import check_answer, stamp_pending
from citearchive.capture.pipeline import fetch_sources
from citearchive.cli.app import app
from citearchive.config import resolve_settings
from citearchive.errors import ManifestError
from citearchive.sources.manifest import Manifest, parse_manifest
from citearchive.verify.run import VerifyReport, verify_archive
from citearchive.verify.timestamps import check_token
from localserver import LocalServer, respond
from tsa import LocalTSA, free_port_url, needs_openssl

pytestmark = needs_openssl
FAST = {"host_delay": 0.0, "backoff": 0.01, "deadline": 10.0, "max_attempts": 1}
PAGES = {
    "ja": (
        "停戦協議",
        "米露首脳会談がアラスカ州アンカレッジで行われた。停戦の条件は示されなかった。",
    ),
    "ru": ("Переговоры", "Представитель МИД России заявила, что Россия не приемлет сценариев."),
    "en": ("Talks", "The summit in Anchorage ended without an agreement on a ceasefire."),
}


def page(title: str, text: str) -> bytes:
    paras = "".join(f"<p>{i}. {' '.join([text] * 3)}</p>" for i in range(1, 4))
    return (f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><article>"
            f"<h1>{title}</h1>{paras}</article></body></html>").encode()  # fmt: skip


def sources_toml(server: LocalServer, tsa_urls: list[str], certs: list[Path]) -> str:
    out = [
        "[settings]",
        f"tsa_urls = {json.dumps(tsa_urls)}",
        f"tsa_certs = {json.dumps([str(c) for c in certs])}",
        "tsa_timeout = 3",
        '[[document]]\nid = "doc"\ntitle = "Commentary"',
    ]
    for n, lang in enumerate(PAGES, start=1):
        out.append(f'[[footnote]]\nnumber = {n}\ntext = "Footnote {n}."')
        out.append(
            f'[[source]]\nid = "s-{lang}"\nfootnotes = [{n}]\nurl = "{server.url("/" + lang)}"'
        )
        out.append(f'[[claim]]\nfootnote = {n}\ntext = "Claim {n}."')
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        for lang, (title, text) in PAGES.items():
            s.route("/" + lang, respond(page(title, text)))
        yield s


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTSA]:
    with LocalTSA(tmp_path_factory.mktemp("tsa")) as t:
        yield t


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


def fetch(root: Path, text: str, pool: ThreadPoolExecutor, **kw: Any) -> tuple[Manifest, Any]:
    (root / "sources.toml").write_text(text, encoding="utf-8")
    manifest = parse_manifest(text, root / "sources.toml")
    settings = resolve_settings(manifest.settings, FAST)
    report = fetch_sources(manifest, root / "archive", settings=settings, executor=pool, **kw)
    return manifest, report


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory,
    server: LocalServer,
    tsa: LocalTSA,
    pool: ThreadPoolExecutor,
) -> Path:
    """An archive of two timestamped fetch runs (all sources, then s-en again)."""
    root = tmp_path_factory.mktemp("stamped")
    text = sources_toml(server, [tsa.url], [tsa.ca_pem])
    fetch(root, text, pool)
    fetch(root, text, pool, source_ids=["s-en"], refresh=True)
    return root


@pytest.fixture
def copy(template: Path, tmp_path: Path) -> tuple[Path, Manifest]:
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    text = (tmp_path / "sources.toml").read_text(encoding="utf-8")
    return tmp_path / "archive", parse_manifest(text, tmp_path / "sources.toml")


def rows(root: Path, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(root / "citearchive.db") as db:
        return db.execute(sql, params).fetchall()


def stamp_checks(report: VerifyReport, prefix: str = "run:") -> list[Any]:
    return [c for c in report.checks if c.kind == "timestamp" and c.subject.startswith(prefix)]


def runs(root: Path) -> list[str]:
    return [r[0] for r in rows(root, "SELECT id FROM runs WHERE command = 'fetch' ORDER BY rowid")]


# --- a fetch run gets a token; verify says it holds ----------------------------------------


def test_fetch_run_gets_a_token_and_verify_says_it_holds(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy
    first = runs(root)[0]
    (row,) = rows(root, "SELECT tsa_url, tsa_name, gen_time, serial, token_filename, "
                        "token_sha256, imprint_sha256, error FROM timestamps WHERE run_id = ?",
                  [first])  # fmt: skip
    _, name, gen, serial, token, token_sha, imprint, error = row
    assert error is None and name == "CN=Test TSA" and gen.endswith("Z") and int(serial) > 0
    tsr = (root / "warc" / token).read_bytes()
    assert hashlib.sha256(tsr).hexdigest() == token_sha
    text = (root / "warc" / f"{first}.manifest.txt").read_bytes()
    assert hashlib.sha256(text).hexdigest() == imprint
    ((sha,),) = rows(root, "SELECT manifest_sha256 FROM runs WHERE id = ?", [first])
    assert sha == imprint

    report = verify_archive(manifest, root)
    assert report.ok, report.summary
    assert report.totals["timestamp"] == {"ok": 5}  # two runs, three claims
    for c in report.claims:
        assert c.timestamp and c.timestamp.startswith("evidence timestamped by CN=Test TSA at 20")
        assert c.verdict.startswith("ok; evidence timestamped by CN=Test TSA at ")
    stored = rows(root, "SELECT outcome, detail FROM checks WHERE kind = 'timestamp'")
    assert len(stored) == 5 and all(o == "ok" for o, _ in stored)


def test_manifest_lists_every_record_and_capture(copy: tuple[Path, Manifest]) -> None:
    root, _ = copy
    first = runs(root)[0]
    archive = Archive.open(root, create=False)
    try:
        text = build_manifest(archive, first)
        assert text == stored_manifest(archive, first)  # rebuilt from the WARC: identical
    finally:
        archive.close()
    lines = [line.split("\t") for line in text.decode().splitlines()]
    assert lines[0] == ["citearchive run manifest 2"] and lines[1] == ["run", first, "fetch"]
    records = [x for x in lines if x[0] == "record"]
    warc = root / "warc" / f"{first}.warc.gz"
    # the warcinfo record, then a response and its request per page
    assert [r[4] for r in records] == ["warcinfo"] + ["response", "request"] * 3
    data = warc.read_bytes()
    for r in records:  # offset, length and hash name the exact bytes of each gzip member
        member = data[int(r[1]) : int(r[1]) + int(r[2])]
        assert hashlib.sha256(member).hexdigest() == r[3]
    (file_line,) = [x for x in lines if x[0] == "file"]
    assert file_line[1:] == [str(len(data)), hashlib.sha256(data).hexdigest()]
    captures = [x for x in lines if x[0] == "capture"]
    db = rows(root, "SELECT id, source_id, warc_record_id, payload_sha256, text_sha256, "
                    "title, author, published, language "
                    "FROM captures WHERE run_id = ? ORDER BY id", [first])  # fmt: skip
    meta = ("title", "author", "published", "language")
    assert [tuple(c[1:]) for c in captures] == [
        (*map(str, r[:5]), metadata_sha256(dict(zip(meta, r[5:], strict=True)))) for r in db
    ]


def test_a_third_party_checks_the_token_with_openssl_alone(
    copy: tuple[Path, Manifest], tsa: LocalTSA
) -> None:
    """The README's commands, as written there: openssl ts -verify and sha256sum."""
    root, _ = copy
    first = runs(root)[0]
    ((token,),) = rows(root, "SELECT token_filename FROM timestamps WHERE run_id = ?", [first])
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Checking a token without citearchive.**", 1)[1]
    lines = [
        x.split("#")[0].strip() for x in section.split("```sh\n", 1)[1].split("```")[0].splitlines()
    ]
    names = {
        "RUN.timestamp.digicert.com.tsr": token,
        "RUN.": f"{first}.",
        "tsa-root.pem": str(tsa.ca_pem),
    }
    argv = []
    for line in lines:
        for old, new in names.items():
            line = line.replace(old, new)
        argv.append(shlex.split(line))
    warc = root / "warc"
    show, check, checksum = argv
    assert "Time stamp:" in subprocess.run(show, cwd=warc, capture_output=True, text=True).stdout
    done = subprocess.run(check, cwd=warc, capture_output=True, text=True)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr
    digest = subprocess.run(checksum, cwd=warc, capture_output=True, text=True).stdout.split()[0]
    assert digest in (warc / f"{first}.manifest.txt").read_text()
    (warc / f"{first}.manifest.txt").write_bytes(b"edited\n")  # and it fails when edited
    done = subprocess.run(check, cwd=warc, capture_output=True, text=True)
    assert done.returncode != 0 and "Verification: FAILED" in done.stdout


# --- what verify names -----------------------------------------------------------------------


def test_a_flipped_byte_in_a_warc_record_is_named(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy
    first = runs(root)[0]
    sql = "SELECT warc_offset, warc_length FROM captures WHERE run_id = ? AND source_id = 's-ru'"
    ((offset, length),) = rows(root, sql, [first])
    warc = root / "warc" / f"{first}.warc.gz"
    data = bytearray(warc.read_bytes())
    data[offset + length // 2] ^= 0x01
    warc.write_bytes(bytes(data))
    report = verify_archive(manifest, root)
    assert not report.ok
    (bad,) = [c for c in stamp_checks(report) if c.outcome == "failed"]
    assert bad.subject == f"run:{first}" and bad.detail["reason"] == "imprint-mismatch"
    assert "the evidence changed since it was timestamped" in bad.detail["message"]
    assert f"WARC record at offset {offset}" in bad.detail["message"]


def test_an_edited_payload_sha256_is_named(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy
    first = runs(root)[0]
    ((cid,),) = rows(root, "SELECT id FROM captures WHERE run_id = ? AND source_id = 's-ja'",
                     [first])  # fmt: skip
    with sqlite3.connect(root / "citearchive.db") as db:
        db.execute("UPDATE captures SET payload_sha256 = ? WHERE id = ?", ["0" * 64, cid])
    report = verify_archive(manifest, root)
    (bad,) = [c for c in stamp_checks(report) if c.outcome == "failed"]
    assert bad.detail["reason"] == "imprint-mismatch"
    assert f"capture {cid}: payload_sha256 is now 0000000000000000…" in bad.detail["message"]


def test_a_token_from_another_run_is_named(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy
    first, second = runs(root)
    ((mine,),) = rows(root, "SELECT token_filename FROM timestamps WHERE run_id = ?", [first])
    ((theirs,),) = rows(root, "SELECT token_filename FROM timestamps WHERE run_id = ?", [second])
    shutil.copy(root / "warc" / theirs, root / "warc" / mine)
    report = verify_archive(manifest, root)
    assert not report.ok
    (bad,) = [c for c in stamp_checks(report) if c.outcome == "failed"]
    assert bad.subject == f"run:{first}"
    assert "not over this run's manifest (a token of another run?)" in bad.detail["message"]
    claims = {c.claim_id: c for c in report.claims}
    # s-en's newest capture is in the second run, whose token holds; the others rest on the first
    assert claims["doc:3"].ok and claims["doc:1"].verdict == "timestamp does not hold"
    assert "imprint mismatch" in claims["doc:1"].problems[0]


def test_a_bad_signature_is_named(copy: tuple[Path, Manifest]) -> None:
    root, manifest = copy
    first = runs(root)[0]
    ((token,),) = rows(root, "SELECT token_filename FROM timestamps WHERE run_id = ?", [first])
    path = root / "warc" / token
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # inside the ECDSA signature, the last field of the token
    path.write_bytes(bytes(data))
    (bad,) = [c for c in stamp_checks(verify_archive(manifest, root)) if c.outcome == "failed"]
    assert bad.detail["reason"] == "bad-signature", bad.detail


def test_a_token_signed_by_an_untrusted_tsa_is_named(
    tmp_path: Path, server: LocalServer, tsa: LocalTSA, pool: ThreadPoolExecutor
) -> None:
    with LocalTSA(tmp_path / "rogue", name="Rogue TSA") as rogue:
        text = sources_toml(server, [rogue.url], [tsa.ca_pem])  # trusts tsa's root only
        manifest, report = fetch(tmp_path, text, pool)
    assert report.ok and rogue.hits == 1
    verified = verify_archive(manifest, tmp_path / "archive")
    (bad,) = stamp_checks(verified)
    assert bad.outcome == "failed" and bad.detail["reason"] == "untrusted-certificate"
    assert "untrusted TSA certificate: issued by CN=Rogue TSA Root" in bad.detail["message"]
    assert all(c.verdict == "timestamp does not hold" for c in verified.claims)


def test_tsa_down_at_fetch_then_citearchive_timestamp_fixes_it(
    tmp_path: Path, server: LocalServer, tsa: LocalTSA, pool: ThreadPoolExecutor
) -> None:
    down = free_port_url()
    started = time.monotonic()
    manifest, report = fetch(tmp_path, sources_toml(server, [down], [tsa.ca_pem]), pool)
    assert report.ok and time.monotonic() - started < 8  # the fetch neither failed nor hung
    root = tmp_path / "archive"
    ((error, token),) = rows(root, "SELECT error, token_filename FROM timestamps")
    assert token is None and error.startswith("TSA unreachable: ConnectError")
    verified = verify_archive(manifest, root)
    assert verified.ok  # not timestamped yet is said, not failed
    (run,) = stamp_checks(verified)
    assert run.outcome == "untimestamped" and "run `citearchive timestamp`" in run.detail["message"]
    assert all(c.timestamp and "not timestamped" in c.timestamp for c in verified.claims)

    # the TSA still down: `citearchive timestamp` says so and exits 1
    runner = CliRunner()
    args = ["timestamp", "-s", str(tmp_path / "sources.toml"), "-a", str(root)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)["results"][0]["ok"] is False

    text = sources_toml(server, [tsa.url], [tsa.ca_pem])
    (tmp_path / "sources.toml").write_text(text, encoding="utf-8")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "timestamped by CN=Test TSA" in result.output
    result = runner.invoke(app, args)  # nothing left to do
    assert result.exit_code == 0 and "every run is timestamped" in result.output
    verified = verify_archive(parse_manifest(text, tmp_path / "sources.toml"), root)
    assert verified.ok and {c.outcome for c in stamp_checks(verified)} == {"ok"}


def test_no_tsa_configured_writes_the_manifest_and_asks_nobody(
    tmp_path: Path, server: LocalServer, pool: ThreadPoolExecutor
) -> None:
    manifest, report = fetch(tmp_path, sources_toml(server, [], []), pool)
    root = tmp_path / "archive"
    assert rows(root, "SELECT count(*) FROM timestamps") == [(0,)]
    assert (root / "warc" / f"{report.run_id}.manifest.txt").is_file()
    assert stamp_pending(root, resolve_settings(manifest.settings)) == []
    result = CliRunner().invoke(app, ["timestamp", "-s", str(tmp_path / "sources.toml"),
                                      "-a", str(root)])  # fmt: skip
    assert result.exit_code == 2 and "no TSA configured" in result.output


def test_tsa_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"tsa_urls: 'ftp://x' is not an http\(s\) URL"):
        parse_manifest('[settings]\ntsa_urls = ["ftp://x"]\n', tmp_path / "sources.toml")
    with pytest.raises(ManifestError, match=r":2: settings.tsa_certs: 'roots.pem' is not a file"):
        parse_manifest('[settings]\ntsa_certs = ["roots.pem"]\n', tmp_path / "sources.toml")
    with pytest.raises(ManifestError, match="must be a list of strings"):
        parse_manifest('[settings]\ntsa_urls = "http://a/"\n', tmp_path / "sources.toml")
    (tmp_path / "roots.pem").write_text("")
    m = parse_manifest('[settings]\ntsa_certs = ["roots.pem"]\n', tmp_path / "sources.toml")
    assert resolve_settings(m.settings).tsa_certs == (str(tmp_path / "roots.pem"),)


# --- untrusted input: TSA answers, tokens and WARC files of any bytes -------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_tsa_answer_is_a_token_or_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        check_answer(body, b"\0" * 32, None)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_token_file_gives_a_verdict(body: bytes) -> None:
    result = check_token(body, b"manifest\n", None, [])
    assert result["outcome"] == "failed" and result["message"]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_any_warc_file_scans_without_raising(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("scan") / "x.warc.gz"
    path.write_bytes(data)
    items = list(scan_members(path))
    assert sum(getattr(m, "length", 0) for m in items) <= len(data)


# --- Datasette: claim_evidence and the capture page show the timestamp -----------------------


def test_datasette_shows_the_timestamp(copy: tuple[Path, Manifest]) -> None:
    import asyncio

    from citearchive.browse.serve import make_datasette

    root, manifest = copy
    verify_archive(manifest, root)
    first = runs(root)[0]
    ((cid,),) = rows(root, "SELECT id FROM captures WHERE run_id = ? AND source_id = 's-ja'",
                     [first])  # fmt: skip
    ds = make_datasette(root)

    async def get(path: str) -> Any:
        return await ds.client.get(path)

    db = "/citearchive"
    evidence = asyncio.run(get(f"{db}/claim_evidence.json?_shape=array")).json()
    assert len(evidence) == 3
    assert all(
        r["timestamp"].startswith("evidence timestamped by CN=Test TSA at ") for r in evidence
    )
    page = asyncio.run(get(f"/-/citearchive/capture/{cid}")).text
    assert f"run manifest warc/{first}.manifest.txt timestamped by CN=Test TSA at " in page
    assert "verify: ok: evidence timestamped by CN=Test TSA" in page


# --- WACZ: run manifests and tokens travel with the package; import-warc runs are stamped ----


def test_wacz_carries_manifests_and_tokens_and_import_warc_runs_are_stamped(
    copy: tuple[Path, Manifest], tmp_path: Path, tsa: LocalTSA
) -> None:
    import zipfile

    from citearchive.capture.import_warc import import_warcs
    from citearchive.export.wacz import export_wacz

    root, manifest = copy
    out = export_wacz(root, tmp_path / "out.wacz", manifest=manifest)
    with zipfile.ZipFile(out) as zf:
        package = json.loads(zf.read("datapackage.json"))
        listed = {r["path"]: r["hash"] for r in package["resources"]}
        stamps = sorted(n for n in zf.namelist() if n.startswith("timestamps/"))
        assert len(stamps) == 4  # two runs: a manifest and a token each
        for name in stamps:
            assert listed[name] == "sha256:" + hashlib.sha256(zf.read(name)).hexdigest()
            assert zf.read(name) == (root / "warc" / name.split("/", 1)[1]).read_bytes()
    # the WACZ imported into a fresh archive: a new import-warc run, timestamped in turn
    fresh = tmp_path / "fresh"
    report = import_warcs(manifest, fresh, [out], executor=ThreadPoolExecutor(1))
    counts = report.counts()
    # s-en was captured twice; two captures of it within one second carry the same WARC-Date
    # and payload, and import-warc takes those as one (counted as a duplicate)
    assert report.run_id and counts["imported"] + counts.get("duplicate", 0) == 4
    assert counts["imported"] >= 3
    ((name, error),) = rows(fresh, "SELECT token_filename, error FROM timestamps")
    assert error is None and (fresh / "warc" / name).is_file()
    verified = verify_archive(manifest, fresh)
    assert {c.outcome for c in stamp_checks(verified)} == {"ok"}, verified.checks
