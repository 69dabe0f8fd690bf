"""The WACZ's seal: export signs and timestamps datapackage-digest.json; import-warc checks it.

A real local TSA (Debian's ``openssl ts -reply`` on 127.0.0.1, tests/tsa.py), pages from a
local server, archives made by the real fetch pipeline, WACZ files written by export and
edited here byte by byte. Also: a TSA certificate whose validity lies in the past, named by
verify as an expired TSA certificate; and property tests of the digest parser.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
import subprocess
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from citearchive.archive.packagesign import check_signed, parse_digest
from citearchive.archive.tokencheck import load_pems
from citearchive.capture.wacz_check import check_wacz
from citearchive.cli.app import app
from citearchive.config import resolve_settings
from citearchive.export.wacz import write_wacz
from citearchive.sources.manifest import Manifest, parse_manifest
from citearchive.verify.run import verify_archive
from localserver import LocalServer, respond
from test_timestamps import FAST, page, sources_toml
from tsa import LocalTSA, free_port_url, needs_openssl

pytestmark = needs_openssl


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        for lang, text in (("ja", "停戦協議は続いた。"), ("ru", "Переговоры"), ("en", "Talks")):
            s.route("/" + lang, respond(page(lang, " ".join([text] * 20))))
        yield s


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTSA]:
    with LocalTSA(tmp_path_factory.mktemp("tsa")) as t:
        yield t


def fetch(root: Path, text: str) -> Manifest:
    from citearchive.capture.pipeline import fetch_sources

    (root / "sources.toml").write_text(text, encoding="utf-8")
    manifest = parse_manifest(text, root / "sources.toml")
    with ThreadPoolExecutor(2) as pool:
        fetch_sources(manifest, root / "archive", settings=resolve_settings(manifest.settings,
                      FAST), executor=pool)  # fmt: skip
    return manifest


@pytest.fixture(scope="module")
def sealed(
    tmp_path_factory: pytest.TempPathFactory, server: LocalServer, tsa: LocalTSA
) -> tuple[Path, Manifest, Path, Path]:
    """A timestamped archive and two WACZ exports of it (a and b, a second apart)."""
    root = tmp_path_factory.mktemp("sealed")
    manifest = fetch(root, sources_toml(server, [tsa.url], [tsa.ca_pem]))
    a = write_wacz(root / "archive", root / "a.wacz", manifest=manifest)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    b = write_wacz(root / "archive", root / "b.wacz", manifest=manifest, now=later)
    assert a.signed and a.timestamped and b.timestamped
    return root, manifest, a.path, b.path


def members(wacz: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wacz) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


PACKAGE, DIGEST = "datapackage.json", "datapackage-digest.json"


def rewrite(src: Path, dst: Path, changes: dict[str, bytes]) -> Path:
    """A copy of the WACZ with some members' bytes replaced."""
    files = members(src)
    for name, data in changes.items():
        assert name in files, name
        files[name] = data
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return dst


def digest_of(wacz: Path) -> dict[str, Any]:
    return json.loads(members(wacz)["datapackage-digest.json"])


def import_cli(tmp_path: Path, manifest_root: Path, wacz: Path) -> tuple[int, dict[str, Any]]:
    args = ["import-warc", str(wacz), "-s", str(manifest_root / "sources.toml"),
            "-a", str(tmp_path / "fresh"), "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    return result.exit_code, json.loads(result.stdout)


def package_checks(root: Path) -> list[tuple[str, str, dict[str, Any]]]:
    with sqlite3.connect(root / "citearchive.db") as db:
        rows = db.execute(
            "SELECT subject, outcome, detail FROM checks WHERE kind = 'package'"
        ).fetchall()
    return [(s, o, json.loads(d)) for s, o, d in rows]


# --- export: what the seal is ----------------------------------------------------------------


def test_export_signs_as_the_spec_and_replayweb_expect(
    sealed: tuple[Path, Manifest, Path, Path],
) -> None:
    _, _, a, _ = sealed
    files = members(a)
    package, digest = json.loads(files["datapackage.json"]), digest_of(a)
    signed = digest["signedData"]
    assert set(signed) == {"hash", "created", "software", "version", "signature", "publicKey"}
    assert signed["hash"] == digest["hash"] and signed["created"] == package["created"]
    # what ReplayWeb.page does: SPKI P-384 key, ECDSA SHA-256 over the hash string, r || s
    key = serialization.load_der_public_key(base64.b64decode(signed["publicKey"]))
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    raw = base64.b64decode(signed["signature"])
    assert len(raw) == 96
    der = encode_dss_signature(int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big"))
    key.verify(der, digest["hash"].encode(), ec.ECDSA(hashes.SHA256()))  # raises if not
    (token,) = digest["timestamps"]
    assert set(token) == {"tsa", "time", "token"} and token["time"].endswith("Z")
    # a fresh key per export
    assert digest_of(sealed[3])["signedData"]["publicKey"] != signed["publicKey"]


def test_a_third_party_checks_the_wacz_with_openssl_alone(
    sealed: tuple[Path, Manifest, Path, Path], tsa: LocalTSA, tmp_path: Path
) -> None:
    """The README's commands, as written there, in an empty folder."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Checking a WACZ without citearchive.**", 1)[1]
    script = section.split("```sh\n", 1)[1].split("```")[0]
    script = script.replace("sources.wacz", str(sealed[2])).replace("tsa-root.pem", str(tsa.ca_pem))

    def run(folder: Path) -> subprocess.CompletedProcess[str]:
        folder.mkdir()
        return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=folder,
                              capture_output=True, text=True)  # fmt: skip

    done = run(tmp_path / "ok")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verification: OK" in done.stdout and "Verified OK" in done.stdout
    # an edited datapackage.json: the hash check stops the script
    edited = json.loads(members(sealed[2])["datapackage.json"])
    edited["title"] = "Something else"
    tampered = rewrite(sealed[2], tmp_path / "t.wacz",
                       {PACKAGE: json.dumps(edited).encode()})  # fmt: skip
    script = script.replace(str(sealed[2]), str(tampered))
    assert run(tmp_path / "bad").returncode != 0


def test_no_tsa_or_tsa_down_still_exports_and_says_so(
    sealed: tuple[Path, Manifest, Path, Path], tsa: LocalTSA, tmp_path: Path
) -> None:
    root, manifest, _, _ = sealed
    off = resolve_settings({"tsa_urls": []})
    result = write_wacz(root / "archive", tmp_path / "off.wacz", manifest=manifest, settings=off)
    assert result.signed and not result.timestamped and result.timestamps == []
    assert "timestamps" not in digest_of(result.path)
    down = resolve_settings({"tsa_urls": [free_port_url()], "tsa_timeout": 3})
    result = write_wacz(root / "archive", tmp_path / "down.wacz", manifest=manifest,
                        settings=down)  # fmt: skip
    assert not result.timestamped
    assert result.timestamps[0]["error"].startswith("TSA unreachable")
    # the CLI says it (the test environment has no TSA: CITEARCHIVE_TSA_URLS="")
    runner = CliRunner()
    args = ["export", "wacz", "-o", str(tmp_path / "cli.wacz"), "-s",
            str(tmp_path / "absent.toml"), "-a", str(root / "archive")]  # fmt: skip
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0, shown.output
    assert "the package is NOT timestamped: no TSA configured" in shown.output
    as_json = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert as_json["signed"] is True and as_json["timestamped"] is False
    # imported: whole and signed, not timestamped: ok, and said
    check = check_wacz(result.path, load_pems(tsa.ca_pem))  # the run's token needs its root
    assert check.outcome == "ok" and "datapackage.json not timestamped" in check.message, check


# --- import: a sealed WACZ holds; each tampering is named ----------------------------------


def test_import_checks_the_seal_and_records_it(
    sealed: tuple[Path, Manifest, Path, Path], tmp_path: Path
) -> None:
    root, manifest, a, _ = sealed
    code, report = import_cli(tmp_path, root, a)
    assert code == 0 and report["ok"], report
    (pkg,) = report["packages"]
    assert pkg["outcome"] == "ok" and pkg["problems"] == []
    assert pkg["signature"]["outcome"] == "ok"
    assert "signed by an anonymous key" in pkg["message"]
    assert "datapackage.json timestamped by CN=Test TSA at 20" in pkg["message"]
    assert [r["outcome"] for r in pkg["runs"]] == ["ok"]  # the fetch run's manifest and token
    (row,) = package_checks(tmp_path / "fresh")
    assert row[0] == f"wacz:{a}" and row[1] == "ok" and row[2]["files"] >= 5
    verified = verify_archive(manifest, tmp_path / "fresh")  # the import run is stamped too
    assert {c.outcome for c in verified.checks if c.kind == "timestamp"} == {"ok"}


def _failed(tmp_path: Path, root: Path, wacz: Path) -> dict[str, Any]:
    """Import a damaged WACZ: imported all the same, exit 1, the failure said and recorded."""
    code, report = import_cli(tmp_path, root, wacz)
    assert code == 1 and not report["ok"]
    assert report["counts"]["imported"] == 3  # its records are what they are
    (pkg,) = report["packages"]
    assert pkg["outcome"] == "failed"
    assert package_checks(tmp_path / "fresh")[0][1] == "failed"
    return pkg


def test_an_edited_datapackage_json_is_named(
    sealed: tuple[Path, Manifest, Path, Path], tmp_path: Path
) -> None:
    root, _, a, _ = sealed
    edited = json.loads(members(a)["datapackage.json"])
    edited["title"] = "Sources cited in something else"
    wacz = rewrite(a, tmp_path / "t.wacz", {PACKAGE: json.dumps(edited).encode()})
    pkg = _failed(tmp_path, root, wacz)
    assert pkg["message"] == (
        "datapackage.json does not match the hash in datapackage-digest.json "
        "(edited after it was sealed?)"
    )
    assert pkg["timestamps"][0]["reason"] == "imprint-mismatch"
    # and through the CLI's words: a loud warning
    args = ["import-warc", str(wacz), "-s", str(root / "sources.toml"),
            "-a", str(tmp_path / "again")]  # fmt: skip
    shown = CliRunner().invoke(app, args)
    assert shown.exit_code == 1
    assert "WARNING: " in shown.output and "the package does not hold" in shown.output


def test_an_edited_digest_is_named(
    sealed: tuple[Path, Manifest, Path, Path], tmp_path: Path
) -> None:
    """datapackage.json edited and the digest's hash brought in line: the seal breaks."""
    import hashlib

    root, _, a, _ = sealed
    edited = json.loads(members(a)["datapackage.json"])
    edited["title"] = "Edited"
    package = json.dumps(edited).encode()
    digest = digest_of(a)
    digest["hash"] = "sha256:" + hashlib.sha256(package).hexdigest()
    wacz = rewrite(a, tmp_path / "t.wacz", {PACKAGE: package, DIGEST: json.dumps(digest).encode()})
    pkg = _failed(tmp_path, root, wacz)
    assert pkg["signature"]["reason"] == "signature-mismatch"
    assert "not this datapackage.json (a signature from another export?)" in pkg["message"]
    assert pkg["timestamps"][0]["reason"] == "imprint-mismatch"


def test_a_flipped_signature_is_named(
    sealed: tuple[Path, Manifest, Path, Path], tmp_path: Path
) -> None:
    root, _, a, _ = sealed
    digest = digest_of(a)
    raw = bytearray(base64.b64decode(digest["signedData"]["signature"]))
    raw[10] ^= 0x01
    digest["signedData"]["signature"] = base64.b64encode(bytes(raw)).decode()
    wacz = rewrite(a, tmp_path / "t.wacz", {DIGEST: json.dumps(digest).encode()})
    pkg = _failed(tmp_path, root, wacz)
    assert pkg["signature"]["reason"] == "bad-signature" and pkg["message"].startswith(
        "bad signature"
    )


def test_a_signature_or_token_from_another_export_is_named(
    sealed: tuple[Path, Manifest, Path, Path], tmp_path: Path
) -> None:
    root, _, a, b = sealed
    mine, theirs = digest_of(a), digest_of(b)
    assert mine["hash"] != theirs["hash"]  # another "created": another datapackage.json
    swapped = dict(mine, signedData=theirs["signedData"])
    wacz = rewrite(a, tmp_path / "s.wacz", {DIGEST: json.dumps(swapped).encode()})
    pkg = _failed(tmp_path, root, wacz)
    assert pkg["signature"]["reason"] == "signature-mismatch"
    assert pkg["timestamps"][0]["outcome"] == "ok"  # the token still holds: only one swap

    swapped = dict(mine, timestamps=theirs["timestamps"])
    wacz = rewrite(a, tmp_path / "t.wacz", {DIGEST: json.dumps(swapped).encode()})
    check = check_wacz(wacz, [])
    assert check.outcome == "failed" and check.signature and check.signature.outcome == "ok"
    assert "a token from another package?" in check.message


def test_a_changed_warc_file_or_run_token_is_named(
    sealed: tuple[Path, Manifest, Path, Path], tsa: LocalTSA, tmp_path: Path
) -> None:
    _, _, a, _ = sealed
    files = members(a)
    (warc,) = [n for n in files if n.startswith("archive/")]
    data = bytearray(files[warc])
    data[len(data) // 2] ^= 0x01
    wacz = rewrite(a, tmp_path / "w.wacz", {warc: bytes(data)})
    check = check_wacz(wacz, load_pems(tsa.ca_pem))
    assert check.outcome == "failed"
    assert check.message == f"{warc}: its bytes do not match the hash in datapackage.json"
    assert check.runs[0]["message"].endswith("is not the WARC file the run manifest lists "
                                             "(its SHA-256 differs)")  # fmt: skip

    (token,) = [n for n in files if n.endswith(".tsr")]
    forged = LocalTSA(tmp_path / "rogue", name="Rogue TSA")
    try:  # a token over other bytes, from another TSA: re-listed so only the token is wrong
        other = _token_over(forged, b"another run manifest\n")
    finally:
        forged.close()
    check = check_wacz(_relisted(a, tmp_path / "r.wacz", {token: other}), load_pems(tsa.ca_pem))
    assert check.outcome == "failed" and check.runs[0]["outcome"] == "failed"
    assert "imprint mismatch" in check.runs[0]["message"]


def _token_over(t: LocalTSA, data: bytes) -> bytes:
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

    req = TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256).build()
    return t.reply(req.as_bytes())


def _relisted(src: Path, dst: Path, changes: dict[str, bytes]) -> Path:
    """Members replaced and datapackage.json's hashes brought in line (digest unsealed)."""
    import hashlib

    files = members(src)
    files.update(changes)
    package = json.loads(files["datapackage.json"])
    for r in package["resources"]:
        r["hash"] = "sha256:" + hashlib.sha256(files[r["path"]]).hexdigest()
        r["bytes"] = len(files[r["path"]])
    files["datapackage.json"] = json.dumps(package).encode()
    del files["datapackage-digest.json"]
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return dst


def test_an_unsealed_wacz_imports_and_is_said_unsealed(
    sealed: tuple[Path, Manifest, Path, Path], tmp_path: Path
) -> None:
    root, _, a, _ = sealed
    files = members(a)
    wacz = tmp_path / "plain.wacz"
    with zipfile.ZipFile(wacz, "w") as zf:
        for name, data in files.items():
            if name != "datapackage-digest.json":
                zf.writestr(name, data)
    code, report = import_cli(tmp_path, root, wacz)
    assert code == 0, report
    (pkg,) = report["packages"]
    assert pkg["outcome"] == "unsealed" and "neither signed nor timestamped" in pkg["message"]


# --- an expired TSA certificate ----------------------------------------------------------------


def expire(t: LocalTSA) -> None:
    """Re-issue the TSA's certificate (same key, same CA) valid from 60 to 30 days ago."""
    folder = t.folder
    ca = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
    old = x509.load_pem_x509_certificate((folder / "tsa.pem").read_bytes())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(old.subject).issuer_name(ca.subject).public_key(old.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=60))
        .not_valid_after(now - dt.timedelta(days=30))
    )  # fmt: skip
    for ext in old.extensions:  # the critical timeStamping EKU and the rest, as they were
        builder = builder.add_extension(ext.value, ext.critical)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    cert = builder.sign(ca_key, hashes.SHA256())
    (folder / "tsa.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_an_expired_tsa_certificate_is_named(tmp_path: Path, server: LocalServer) -> None:
    with LocalTSA(tmp_path / "old", name="Old TSA") as old:
        expire(old)
        manifest = fetch(tmp_path, sources_toml(server, [old.url], [old.ca_pem]))
        result = write_wacz(tmp_path / "archive", tmp_path / "x.wacz", manifest=manifest)
    assert result.timestamped  # the TSA answered; whether its token holds is verify's to say
    verified = verify_archive(manifest, tmp_path / "archive")
    (run,) = [c for c in verified.checks if c.kind == "timestamp" and c.subject.startswith("run:")]
    assert run.outcome == "failed" and run.detail["reason"] == "expired-certificate"
    assert run.detail["message"].startswith("expired TSA certificate: CN=Old TSA was valid ")
    assert not verified.ok
    check = check_wacz(result.path, load_pems(old.ca_pem))
    assert check.outcome == "failed" and check.timestamps[0].reason == "expired-certificate"
    assert check.message.startswith("expired TSA certificate: CN=Old TSA")


# --- untrusted input: any digest file, any signedData, any package --------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=12,
)
_HASH = "sha256:" + "ab" * 32


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_digest_bytes_parse_or_give_a_value_error(data: bytes) -> None:
    try:
        parse_digest(data)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(_json, _json, _json)
def test_any_digest_object_parses_or_gives_a_value_error(
    signed: Any, stamps: Any, extra: Any
) -> None:
    doc = {"path": "datapackage.json", "hash": _HASH, "signedData": signed,
           "timestamps": stamps, "x": extra}  # fmt: skip
    try:
        digest = parse_digest(json.dumps(doc).encode())
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert digest.hash == _HASH


_FIELDS = ["hash", "signature", "publicKey", "domain", "domainCert", "timeSignature"]
_VALUES = st.text(max_size=60) | st.sampled_from(
    [_HASH, "AAAA", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(_FIELDS), _VALUES))
def test_any_signed_data_gives_a_verdict(signed: dict[str, str]) -> None:
    verdict = check_signed(signed, _HASH, [])
    assert verdict.outcome == "failed" and verdict.message


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["datapackage.json", "datapackage-digest.json",
                                        "archive/a.warc.gz", "timestamps/r.manifest.txt",
                                        "timestamps/r.x.tsr"]),
                       st.binary(max_size=200)))  # fmt: skip
def test_any_package_gives_a_verdict(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes]
) -> None:
    path = tmp_path_factory.mktemp("pkg") / "x.wacz"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    check = check_wacz(path, [])
    assert check.outcome in ("ok", "unsealed", "failed") and check.message
    json.dumps(check.to_dict())


def test_py_wacz_validates_the_sealed_package(sealed: tuple[Path, Manifest, Path, Path]) -> None:
    from test_wacz import need_tool

    tool = need_tool("wacz")
    done = subprocess.run([tool, "validate", "-f", str(sealed[2])], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed WACZ is valid" in done.stdout and "Has signature" in done.stdout


def test_a_listed_hash_that_is_not_sha256_is_named(
    sealed: tuple[Path, Manifest, Path, Path], tmp_path: Path
) -> None:
    _, _, a, _ = sealed
    package = json.loads(members(a)["datapackage.json"])
    package["resources"][0]["hash"] = "md5:0123456789abcdef0123456789abcdef"
    wacz = rewrite(a, tmp_path / "m.wacz", {PACKAGE: json.dumps(package).encode()})
    check = check_wacz(wacz, [])
    name = package["resources"][0]["path"]
    assert f"{name}: datapackage.json gives no SHA-256 for it (md5:" in check.problems[0]
