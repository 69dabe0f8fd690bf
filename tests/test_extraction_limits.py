"""Extraction bounded like the download (issue 10 §2): the pool's time limit and memory
ceiling, the markup cap, workers that never outlive their parent (F6), and a run among
hostile bodies (served on 127.0.0.1, generated on the fly) that archives them and goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from citearchive.capture.pool import JobFailed, LimitedPool
from citearchive.capture.workers import extraction_pool
from citearchive.config import resolve_settings
from localserver import LocalServer, endless, gzip_bomb, respond
from test_capture import EN_HTML, manifest_for, read_record, rows, run

# -- the pool on its own ---------------------------------------------------------------------


def _sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def _allocate(n: int) -> int:
    return len(bytes(n))


def _exit(code: int) -> None:
    os._exit(code)


def _fail(words: str) -> None:
    raise ValueError(words)


def test_a_job_over_its_time_is_killed_and_its_worker_replaced() -> None:
    pool = LimitedPool(1, timeout=0.5)
    try:
        slow, after = pool.submit(_sleep, 30), pool.submit(_sleep, 0)
        with pytest.raises(JobFailed, match=r"longer than the 0.5 s extraction time limit"):
            slow.result(timeout=20)
        assert after.result(timeout=20) == "slept"  # the next job runs in a fresh worker
        assert pool.replaced == 1
    finally:
        pool.shutdown()


def test_a_worker_over_its_memory_ceiling_is_replaced_and_the_pool_goes_on() -> None:
    pool = LimitedPool(1, memory=100_000_000)
    try:
        big, small = pool.submit(_allocate, 1_000_000_000), pool.submit(_allocate, 1_000_000)
        with pytest.raises(JobFailed, match=r"ran out of memory \(100 MB per worker\)"):
            big.result(timeout=20)
        assert small.result(timeout=20) == 1_000_000
        assert pool.replaced == 1
    finally:
        pool.shutdown()


def test_a_worker_that_dies_fails_its_job_only_and_an_error_is_the_callers() -> None:
    pool = LimitedPool(2)
    try:
        dead, bad, fine = pool.submit(_exit, 3), pool.submit(_fail, "x"), pool.submit(len, b"ab")
        with pytest.raises(JobFailed, match="exit code 3"):
            dead.result(timeout=20)
        with pytest.raises(ValueError, match="x"):
            bad.result(timeout=20)
        assert fine.result(timeout=20) == 2
    finally:
        pool.shutdown()


ORPHAN_SCRIPT = """
import multiprocessing, os, time
from citearchive.capture.workers import extraction_pool
pool = extraction_pool()
pool.submit(len, b"x")
while not multiprocessing.active_children():
    time.sleep(0.005)
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
os._exit(0)  # killed while its worker is still loading the language model
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_workers_end_when_fetch_dies_during_their_start_up() -> None:
    """Finding F6: the worker read its parent's pid only after loading the model, so a
    parent killed meanwhile left it running forever."""
    out = subprocess.run(
        [sys.executable, "-c", ORPHAN_SCRIPT], capture_output=True, text=True, timeout=60
    )
    pids = [int(p) for p in out.stdout.split()]
    assert pids, out.stderr
    deadline = time.monotonic() + 15
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, pids)), "extraction workers outlived their parent"


# -- in a capture run ------------------------------------------------------------------------


def pdf_bomb(inflated: int) -> bytes:
    """A one-page PDF whose content stream inflates to ``inflated`` bytes of zeros."""
    c = zlib.compressobj(1)
    data = b"".join(c.compress(bytes(1 << 20)) for _ in range(inflated >> 20)) + c.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_hostile_bodies_are_archived_flagged_and_the_run_goes_on(
    tmp_path: Path, local_server: LocalServer
) -> None:
    """A body cut at the cap (endless, gzip bomb) is archived without text; markup over the
    extraction cap is archived and hashed without text; a PDF that inflates past the
    worker's memory ceiling kills only that worker; ordinary pages are captured."""
    local_server.route("/ok", respond(EN_HTML.encode()))
    local_server.route("/endless", endless(b"<p>" + b"x" * 65530 + b"</p>"))
    local_server.route("/bomb", gzip_bomb())
    local_server.route("/big", respond(EN_HTML.replace("<p>", "<p>word " * 40_000, 1).encode()))
    local_server.route("/bomb.pdf", respond(pdf_bomb(128 << 20), content_type="application/pdf"))
    local_server.route("/ok2", respond(EN_HTML.replace("Anchorage", "Helsinki").encode()))
    names = ["ok", "endless", "bomb", "big", "bomb.pdf", "ok2"]
    manifest = manifest_for(
        tmp_path, [{"id": n.replace(".", "-"), "url": local_server.url("/" + n)} for n in names]
    )
    limits = {"max_bytes": 2_000_000, "extract_max_markup": 100_000,
              "extract_max_memory": 60_000_000, "concurrency": 3}  # fmt: skip
    pool = extraction_pool(resolve_settings(limits))
    try:
        run(manifest, tmp_path / "archive", pool, settings=limits)
    finally:
        pool.shutdown()
    got = {r["source_id"]: r for r in rows(tmp_path / "archive")}
    for name in ("ok", "ok2"):
        assert got[name]["error"] is None and "Anchorage" in EN_HTML
        assert got[name]["text"] and got[name]["payload_sha256"]
    for name in ("endless", "bomb"):
        r = got[name]
        assert (r["error_kind"], r["truncated"], r["text"], r["payload_sha256"]) == (
            "too-large", 1, None, None,
        )  # fmt: skip
    big = got["big"]
    assert big["error_kind"] == "extract" and "extraction cap" in big["error"]
    assert big["payload_sha256"] and big["text"] is None  # whole and hashed, not extracted
    pdf = got["bomb-pdf"]
    assert pdf["error_kind"] == "extract" and "ran out of memory" in pdf["error"], pdf["error"]
    assert pdf["payload_sha256"] and pdf["text"] is None
    assert pool.replaced >= 1
    for r in got.values():
        record, _ = read_record(tmp_path / "archive", r)
        assert record.rec_type == "response"  # every body is evidence of what was sent


def test_an_extraction_over_its_time_limit_fails_that_capture_only(
    tmp_path: Path, local_server: LocalServer
) -> None:
    heavy = EN_HTML.replace("<p>", "<div><p>some words here</p></div>" * 120_000 + "<p>", 1)
    local_server.route("/heavy", respond(heavy.encode()))
    local_server.route("/ok", respond(EN_HTML.encode()))
    manifest = manifest_for(
        tmp_path, [{"id": n, "url": local_server.url("/" + n)} for n in ("heavy", "ok")]
    )
    limits = {"extract_timeout": 0.3, "concurrency": 1}
    pool = extraction_pool(resolve_settings(limits))
    try:
        report = run(manifest, tmp_path / "archive", pool, settings=limits)
    finally:
        pool.shutdown()
    got = {r["source_id"]: r for r in rows(tmp_path / "archive")}
    assert got["heavy"]["error_kind"] == "extract"
    assert "longer than the 0.3 s extraction time limit" in got["heavy"]["error"]
    assert got["heavy"]["payload_sha256"] and got["heavy"]["warc_offset"] is not None
    assert got["ok"]["error"] is None and got["ok"]["text"]
    assert [o.status for o in report.outcomes] == ["failed", "captured"]
