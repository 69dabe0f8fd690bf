"""import-warc streams its input: a 1 GB WARC is read with memory flat (warc/reader.scan).

The file is made sparse (the 1 GB body is a hole that reads as zeros), so writing it takes
no time and no disk; reading it still passes every byte through warcio, the HTTP parser and
the sha256. ``citearchive import-warc`` runs in a child process whose peak RSS is read back
with ``os.wait4``: it must stay far below the size of the record.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIG = 1 << 30  # 1 GiB of body
SMALL_BODY = (
    b"<html><head><title>Cited page</title></head><body><article><h1>Cited page</h1>"
    + b"".join(
        b"<p>The delegations agreed on day %d to set up a joint commission to monitor the "
        b"line of contact, the mediators said after the evening session.</p>" % day
        for day in range(1, 9)
    )
    + b"</article></body></html>"
)


def _record(url: str, body_length: int, rid: str) -> bytes:
    http = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        + f"Content-Length: {body_length}\r\n\r\n".encode()
    )
    warc = (
        "WARC/1.1\r\nWARC-Type: response\r\n"
        f"WARC-Record-ID: <urn:uuid:{rid}>\r\n"
        "WARC-Date: 2025-08-21T10:00:00Z\r\n"
        f"WARC-Target-URI: {url}\r\n"
        "Content-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(http) + body_length}\r\n\r\n"
    ).encode()
    return warc + http


WRAPPER = """
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write(f"peak-kb {peak}")
sys.exit(rc)
"""


def make_big_warc(path: Path, cited: str) -> None:
    with open(path, "wb") as fh:
        fh.write(_record("https://big.example/video", BIG,
                         "00000000-0000-4000-8000-000000000001"))  # fmt: skip
        fh.seek(BIG, os.SEEK_CUR)  # the body: a hole of zeros
        fh.write(b"\r\n\r\n")
        fh.write(_record(cited, len(SMALL_BODY), "00000000-0000-4000-8000-000000000002"))
        fh.write(SMALL_BODY + b"\r\n\r\n")


def test_a_1_gb_warc_imports_with_flat_memory(tmp_path: Path) -> None:
    cited = "https://example.org/cited"
    warc = tmp_path / "big.warc"
    make_big_warc(warc, cited)
    assert warc.stat().st_size > BIG
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f'[[document]]\nid = "d"\ntitle = "T"\n\n[[source]]\nid = "s"\nfootnotes = [1]\n'
        f'url = "{cited}"\n',
        encoding="utf-8",
    )
    # measured by a small wrapper process: the child's peak RSS counts the memory of the
    # process that forked it, and a long pytest session is itself hundreds of MB
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, sys.executable, "-m", "citearchive", "import-warc",
         str(warc), "-s", str(sources), "-a", str(tmp_path / "archive"), "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 0, out + err
    assert json.loads(out)["counts"]["imported"] == 1, out
    # kB on Linux; the largest of the child and the processes it waited for (its extraction
    # worker). About 190 MB alone; reading the record whole took 2.1 GB.
    peak_mb = int(err.rsplit("peak-kb ", 1)[1]) / 1024
    assert peak_mb < 300, f"peak RSS {peak_mb:.0f} MB while reading a 1 GB record"
