"""Browser capture throughput and memory: pages/s, and the process tree's PSS, Chromium included.

    python benchmarks/browser_bench.py            # N = 60 pages
    python benchmarks/browser_bench.py -n 20      # quicker

Serves N article-sized pages (~195 KB of HTML: a 40-paragraph multilingual article, an
inline JSON state blob as news sites ship, a stylesheet, a script that adds a paragraph,
three images, one of them lazy) from a local server on
127.0.0.1 and runs ``fetch_sources`` over them with ``browser = true`` (every source
captured over HTTP and in headless Chromium: network records, full-page screenshot,
rendered DOM, text extracted from the DOM), then the browser capture alone
(``BrowserPool.capture``, ``browser_concurrency`` pages at once). Prints pages/s for both
the CPU time one page costs (user + system, the whole process tree), and the peak
proportional set size (PSS) of this process and all its descendants (the extraction
workers, Chromium and its renderers), sampled every 200 ms (the sampler's own CPU is left
out of the CPU figures). The load average is printed: on
a machine shared with other jobs pages/s falls with the CPU left over, CPU a page does not.
Targets (issue 12): at least 2 pages/s on 2 cores; the tree under 1.5 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from citearchive.capture.browser import BrowserPool
from citearchive.capture.pipeline import fetch_sources
from citearchive.config import resolve_settings
from citearchive.sources.manifest import parse_manifest

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2d9f9"
    "0f0000000049454e44ae426082"
)
PARAGRAPHS = (
    "The delegations met for a third day behind closed doors; the mediators said that the "
    "exchange of prisoners agreed on the first day would go ahead as planned next week.",
    "Переговоры продолжились в закрытом режиме; посредники сообщили, что обмен пленными, "
    "согласованный в первый день, состоится на следующей неделе, как и планировалось.",
    "協議は三日目も非公開で行われ、仲介者は初日に合意した捕虜交換が予定通り来週実施されると述べた。",
)


def article(i: int, size: int = 195_000) -> bytes:
    head = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Article {i}</title>"
        "<link rel='stylesheet' href='/style.css'></head><body><article>"
        f"<h1>Ceasefire talks, report {i}</h1><img src='/a.png' width='600' height='300'>"
    )
    tail = (
        "<img loading='lazy' src='/lazy.png' width='600' height='300'>"
        "<img src='/b.png' width='600' height='300'></article>"
        "<script src='/app.js'></script></body></html>"
    )
    # Like a real article page: ~12 KB of text (40 paragraphs), the rest markup and an
    # inline JSON state blob of the kind news sites ship.
    parts = [head, *(f"<p>{PARAGRAPHS[n % 3]} ({i}.{n})</p>" for n in range(40))]
    used = sum(len(p.encode()) for p in parts) + len(tail)
    state = '{"items": [' + ",".join(f'{{"id": {n}, "k": "v"}}' for n in range(size)) + "]}"
    blob = f"<script type='application/json' id='state'>{state}</script>".encode()
    keep = max(0, size - used - len("</script>"))
    parts.append(blob[:keep].decode("ascii") + "</script>")
    parts.append(tail)
    return "".join(parts).encode("utf-8")


PAGES: dict[int, bytes] = {}  # made before the timing: the server's work is not measured


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    files: ClassVar[dict[str, tuple[bytes, str]]] = {
        "/style.css": (b"body{font-family:sans-serif;max-width:50em;margin:auto}", "text/css"),
        "/app.js": (
            b"document.querySelector('article').insertAdjacentHTML('afterbegin',"
            b"'<p>Updated by script.</p>');",
            "text/javascript",
        ),
        "/a.png": (PNG, "image/png"),
        "/b.png": (PNG, "image/png"),
        "/lazy.png": (PNG, "image/png"),
    }

    def do_GET(self) -> None:
        if self.path in self.files:
            body, kind = self.files[self.path]
        elif self.path.startswith("/article/"):
            body, kind = PAGES[int(self.path.rsplit("/", 1)[-1])], "text/html; charset=utf-8"
        else:
            body, kind = b"not found", "text/plain"
        self.send_response(200 if kind != "text/plain" else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def descendants(root: int) -> list[int]:
    """``root`` and every process descended from it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def tree_cpu_seconds() -> float:
    """CPU time (user + system) of this process and its descendants so far, counting the
    processes that have exited and been waited for (a renderer's time goes to its zygote)."""
    total = sum(os.times()[:4])
    for pid in descendants(os.getpid())[1:]:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def tree_pss_kb(root: int) -> int:
    """PSS (kB) of ``root`` and every process descended from it."""
    total, todo = 0, descendants(root)
    for pid in todo:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


class PeakMemory:
    """Samples the tree's PSS in a thread every ``interval`` s; ``peak`` in MB, ``cpu`` the
    sampler's own CPU seconds (reading smaps_rollup walks page tables: not cheap)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.peak = 0
        self.cpu = 0.0
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            started = time.thread_time()
            self.peak = max(self.peak, tree_pss_kb(os.getpid()))
            self.cpu += time.thread_time() - started

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def manifest_text(n: int, base: str) -> str:
    lines = ['[[document]]\nid = "bench"\ntitle = "Bench"\n']
    for i in range(n):
        url = f"{base}/article/{i}"
        lines.append(f'[[source]]\nid = "s{i}"\nfootnotes = [{i + 1}]\nurl = "{url}"\n')
    return "\n".join(lines)


async def browser_only(
    n: int, base: str, options: dict[str, Any], memory: PeakMemory
) -> tuple[float, float, float]:
    """Seconds for ``n`` pages; CPU seconds they took (the whole tree, this process; the
    memory sampler's own not counted)."""
    settings = resolve_settings(options)
    pool = BrowserPool(settings)
    try:
        await pool.capture(f"{base}/article/0")  # start Chromium outside the timing
        started, cpu, own = time.perf_counter(), tree_cpu_seconds(), sum(os.times()[:2])
        sampler = memory.cpu
        results = await asyncio.gather(*(pool.capture(f"{base}/article/{i}") for i in range(n)))
        elapsed, cpu = time.perf_counter() - started, tree_cpu_seconds() - cpu
        sampler = memory.cpu - sampler
        own, cpu = sum(os.times()[:2]) - own - sampler, cpu - sampler
    finally:
        await pool.close()
    failed = [r.error for r in results if r.error]
    assert not failed, failed[:3]
    assert all(r.screenshot and r.dom for r in results)
    return elapsed, cpu, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=60, help="pages (default 60)")
    parser.add_argument("--concurrency", type=int, default=2, help="browser_concurrency")
    parser.add_argument("--browser-path", help="the browser to drive (default: the setting's)")
    args = parser.parse_args()
    options: dict[str, Any] = {"browser_concurrency": args.concurrency}
    if args.browser_path:
        options["browser_path"] = args.browser_path
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    PAGES.update((i, article(i)) for i in range(args.n))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"{args.n} pages of {len(article(0)) // 1000} KB, browser_concurrency "
          f"{args.concurrency}, {resolve_settings(options).browser_path}, "
          f"{os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip

    with PeakMemory() as memory:
        elapsed, cpu, own = asyncio.run(browser_only(args.n, base, options, memory))
    print(f"browser capture alone: {args.n / elapsed:.2f} pages/s ({elapsed:.1f} s); "
          f"CPU {cpu / args.n:.2f} s a page (tree: Chromium, and {own / args.n:.2f} s Python; "
          f"{os.cpu_count()} idle cores would allow {os.cpu_count() * args.n / cpu:.1f} pages/s); "
          f"peak tree PSS {memory.peak / 1024:.0f} MB")  # fmt: skip

    manifest = parse_manifest(manifest_text(args.n, base))
    settings = resolve_settings({"browser": True, "host_delay": 0, "per_host": 8, **options})
    with tempfile.TemporaryDirectory() as tmp, PeakMemory() as memory:
        started = time.perf_counter()
        report = fetch_sources(manifest, Path(tmp) / "archive", settings=settings)
        elapsed = time.perf_counter() - started
        warc = sum(p.stat().st_size for p in (Path(tmp) / "archive" / "warc").iterdir())
    assert report.ok, [o.error for o in report.outcomes if o.error][:3]
    print(f"fetch --browser (HTTP + browser + extraction): {args.n / elapsed:.2f} pages/s "
          f"({elapsed:.1f} s, Chromium start included); peak tree PSS "
          f"{memory.peak / 1024:.0f} MB; WARC {warc / args.n / 1000:.0f} KB a page")  # fmt: skip
    server.shutdown()


if __name__ == "__main__":
    main()
