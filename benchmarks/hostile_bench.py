"""Memory of a fetch run among hostile bodies (issue 10 §2; DESIGN.md budget: under 400 MB).

    python benchmarks/hostile_bench.py            # 40 ordinary pages + the hostile ones
    python benchmarks/hostile_bench.py -n 100

A local server (its own process, not measured) serves ordinary article pages from
../shared/corpus among hostile bodies, all generated on the fly (nothing big is stored):

- ``/huge``: a 300 MB HTML body (Content-Length given);
- ``/bomb``: a gzip bomb of 1 GB of zeros;
- ``/pdfbomb``: a PDF whose content stream inflates to 512 MB;
- ``/bigmarkup``: a whole 8 MB HTML page, over the extraction markup cap.

It runs ``citearchive fetch`` (the real command) and samples the proportional set size
(PSS, /proc/<pid>/smaps_rollup) of its whole process tree, extraction workers included,
every 0.1 s. Prints the peak, and checks the outcome: the cut bodies archived and flagged
without text, the PDF bomb and the big markup archived with error_kind "extract", every
ordinary page captured with its text.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "pages"
BUDGET_MB = 400
MB = 1 << 20


def ordinary_pages(n: int) -> list[bytes]:
    pages = [
        (d / "source.html").read_bytes()
        for d in sorted(CORPUS.iterdir())
        if 20_000 <= (d / "source.html").stat().st_size <= 400_000
    ]
    return [pages[i % len(pages)] for i in range(n)]


def pdf_bomb(inflated: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    data = b"".join(c.compress(bytes(MB)) for _ in range(inflated // MB)) + c.flush()
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
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (5, xref)
    return bytes(out)


def _serve(n: int, ports: Any) -> None:
    pages = ordinary_pages(n)
    pdf = pdf_bomb(512 * MB)
    para = b"<p>" + b" ".join(b"word%d" % i for i in range(150)) + b".</p>\n"
    big = b"<html><head><title>big</title></head><body>" + para * (8_000_000 // len(para))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def head(self, ctype: str, length: int | None, extra: tuple[str, str] | None = None):
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            if extra:
                self.send_header(*extra)
            if length is None:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(length))
            self.end_headers()

        def do_GET(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.route()

        def route(self) -> None:
            if self.path == "/huge":
                self.head("text/html", 300 * MB)
                chunk = b"<p>" + b"x" * (MB - 8) + b"</p>\n"
                for _ in range(300):
                    self.wfile.write(chunk)
            elif self.path == "/bomb":
                self.head("text/html", None, ("Content-Encoding", "gzip"))
                c = zlib.compressobj(9, zlib.DEFLATED, 31)
                for _ in range(1024):  # 1 GB of zeros, compressed as it is sent
                    part = c.compress(bytes(MB))
                    if part:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                tail = c.flush()
                self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
            elif self.path == "/pdfbomb":
                self.head("application/pdf", len(pdf))
                self.wfile.write(pdf)
            elif self.path == "/bigmarkup":
                self.head("text/html", len(big))
                self.wfile.write(big)
            else:
                body = pages[int(self.path.rsplit("/", 1)[-1]) % len(pages)]
                self.head("text/html", len(body))
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ports.put(server.server_address[1])
    server.serve_forever()


def tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        for task in os.listdir(f"/proc/{p}/task") if os.path.isdir(f"/proc/{p}/task") else []:
            with contextlib.suppress(OSError), open(f"/proc/{p}/task/{task}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
    return seen


def pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=40, help="ordinary pages (default 40)")
    args = parser.parse_args()
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(args.n, ports), daemon=True)
    server.start()
    port = ports.get(timeout=120)
    hostile = ["huge", "bomb", "pdfbomb", "bigmarkup"]
    paths = [f"p/{i}" for i in range(args.n)]
    for k, name in enumerate(hostile):  # spread among the ordinary pages
        paths.insert((k + 1) * len(paths) // (len(hostile) + 1), name)
    lines = ["[settings]", "host_delay = 0", "fallback = false", "per_host = 8", ""]
    for i, path in enumerate(paths, start=1):
        sid = path.replace("/", "-")
        lines += ["[[source]]", f'id = "{sid}"', f"footnotes = [{i}]",
                  f'url = "http://127.0.0.1:{port}/{path}"', ""]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sources.toml").write_text("\n".join(lines), encoding="utf-8")
        started = time.monotonic()
        cmd = ["citearchive", "fetch", "-s", "sources.toml", "-a", "archive", "--json"]
        proc = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.DEVNULL)
        peak, peak_procs, each = 0, 0, {}
        while proc.poll() is None:
            pids = tree(proc.pid)
            sizes = {p: pss_kb(p) for p in pids}
            for p, kb in sizes.items():
                each[p] = max(each.get(p, 0), kb)
            peak = max(peak, sum(sizes.values()))
            peak_procs = max(peak_procs, len(pids))
            time.sleep(0.1)
        wall = time.monotonic() - started
        db = sqlite3.connect(Path(tmp) / "archive" / "citearchive.db")
        db.row_factory = sqlite3.Row
        got = {r["source_id"]: dict(r) for r in db.execute("select * from captures")}
        db.close()
    server.terminate()
    want = {"huge": "too-large", "bomb": "too-large", "pdfbomb": "extract", "bigmarkup": "extract"}
    ok = True
    for sid, kind in want.items():
        r = got.get(sid, {})
        good = r.get("error_kind") == kind and r.get("text") is None and r.get("warc_offset")
        ok &= bool(good)
        print(f"{sid:10} {r.get('error_kind')!s:10} {'ok' if good else 'WRONG'}  {r.get('error')}")
    ordinary = [got.get(p.replace("/", "-"), {}) for p in paths if p.startswith("p/")]
    captured = sum(1 for r in ordinary if r.get("error") is None and r.get("text"))
    ok &= captured == len(ordinary)
    print(f"ordinary pages captured with text: {captured}/{len(ordinary)}")
    print(f"wall {wall:.1f} s, exit code {proc.returncode}, processes {peak_procs}")
    print("peak PSS per process:", ", ".join(f"{kb // 1024} MB" for kb in each.values()))
    print(f"peak PSS of the fetch process tree: {peak / 1024:.0f} MB (budget {BUDGET_MB} MB)")
    print(json.dumps({"peak_pss_mb": round(peak / 1024), "ok": ok and peak / 1024 < BUDGET_MB}))
    return 0 if ok and peak / 1024 < BUDGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
