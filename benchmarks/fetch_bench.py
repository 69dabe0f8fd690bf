"""Capture throughput: the whole fetch pipeline against extraction alone, in one run.

    python benchmarks/fetch_bench.py            # N = 1000 pages, both configurations
    python benchmarks/fetch_bench.py -n 200     # quicker
    python benchmarks/fetch_bench.py --only default   # or --only friendly
    python benchmarks/fetch_bench.py --only default --rounds 1   # one round, ~2 min

**default** (issue 11): what a user gets. ``citearchive fetch`` runs as its own process with
the default settings (8 in flight, 2 per host, 1 s between requests to one host) over N
corpus pages (all 351, cycled: 195 KB on average) spread over 50 loopback hosts
(127.0.0.2-51: the politeness limiter counts host names, not ports). The baseline is plain
``trafilatura.extract()`` on the same bytes in this one process. While fetch runs, the
proportional set size (PSS, from /proc/<pid>/smaps_rollup) of its whole process tree (the
main process and its extraction workers) is sampled; the peak is reported.

On a shared machine the wall-clock ratio says more about the neighbours than about fetch
(the pipeline needs both cores, the baseline one), so CPU time is reported too: of the
whole fetch tree and of its main process, per page, against the baseline's CPU per page.
``2 x baseline CPU / fetch CPU`` is the ratio two idle cores would give (politeness caps
it at 50 hosts x 1 page/s = 50 pages/s). Beside the one-process baseline, the same pages are
extracted by two plain ``trafilatura.extract()`` processes at once, also in two halves
around the fetch: no pipeline can beat that rate on this machine, and two processes on a
virtual machine's two cores come well short of twice one (shared caches and memory
bandwidth, the host's other tenants), so the fetch is also reported as a share of it.
Inside the same bracket, the *least work* a fetch must do runs too, in this process (no
start-up): the same HTTP client with the same politeness over the same hosts, each body
handed to the same extraction pool, and nothing archived (no WARC record, digest, SQLite
row or search index). The gap between it and the fetch is what the archive's own work and
the command's start-up cost; the gap between it and two processes is HTTP and the pool.
The whole comparison runs ``--rounds`` times (3), each round bracketed by its own
baselines; the median round and the ranges over the rounds are printed last: one round
moves by ±15% (and more) with the neighbours.

**friendly** (the first benchmark, kept for comparison):

Serves N article-sized pages (real pages from ../shared/corpus, several languages,
cycled) from a local server spread over eight loopback addresses (127.0.0.1-8, so
the per-host limit of 2 applies as it would to eight sites), runs ``fetch_sources``
over them (HTTP, hashing, WARC, extraction in a process pool, SQLite), then runs
``extract()`` alone on the same bytes in this single process as the baseline.
Prints pages/s for both, their ratio, and peak RSS of the pipeline process and of
its extraction workers. The polite per-host delay is set to 0 here.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from citearchive.capture.extract import extract
from citearchive.capture.fetch import HostLimiter, fetch, make_client
from citearchive.capture.html_lookup import c_lookup, use_lookup
from citearchive.capture.pipeline import fetch_sources
from citearchive.capture.workers import extract_job, extraction_pool, pool_shutdown
from citearchive.config import resolve_settings
from citearchive.sources.manifest import parse_manifest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "pages"
HOSTS = [f"127.0.0.{i}" for i in range(1, 9)]
HOSTS_50 = [f"127.0.0.{i}" for i in range(2, 52)]


def load_pages(min_size: int = 60_000, max_size: int = 400_000) -> list[tuple[str, bytes]]:
    pages = []
    for d in sorted(CORPUS.iterdir()):
        body = (d / "source.html").read_bytes()
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        if min_size <= len(body) <= max_size:
            pages.append((meta.get("language") or "en", body))
    return pages


def _serve_forever(pages: list[tuple[str, bytes]], ports: Any) -> None:
    """An HTTP/1.1 site as lean as can be (asyncio, responses built once): the local stand-in
    for remote sites shares the two cores with the fetch, and a remote site's CPU is not
    the fetch's to pay (http.server, used before, took ~1.4 ms a page of CPU; this ~1.0)."""
    heads = [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(b)
        for _, b in pages
    ]
    missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

    class Site(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport, self.buffer = transport, b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while b"\r\n\r\n" in self.buffer:
                head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
                path = head.split(b"\r\n", 1)[0].split(b" ")[1]
                last = path.rsplit(b"/", 1)[-1]
                if not last.isdigit():  # what a page links to (fonts, images): not served
                    self.transport.write(missing)
                    continue
                i = int(last) % len(pages)
                self.transport.write(heads[i])
                self.transport.write(pages[i][1])

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Site, "0.0.0.0", 0, backlog=512)
        ports.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def serve(pages: list[tuple[str, bytes]]) -> tuple[Any, int]:
    """The web server runs in its own process, as a remote site would: its work is not
    charged to the pipeline's event loop (it still shares the machine's cores)."""
    ctx = multiprocessing.get_context("fork")
    ports = ctx.Queue()
    proc = ctx.Process(target=_serve_forever, args=(pages, ports), daemon=True)
    proc.start()
    return proc, ports.get(timeout=30)


def manifest_text(
    n: int,
    port: int,
    pages: list[tuple[str, bytes]],
    hosts: list[str] = HOSTS,
    settings: str = "",
) -> str:
    lines = [f'{settings}[[document]]\nid = "bench"\ntitle = "bench"\n']
    for i in range(n):
        host = hosts[i % len(hosts)]
        lines.append(
            f'[[source]]\nid = "p{i}"\nfootnotes = [{i + 1}]\n'
            f'url = "http://{host}:{port}/page/{i}"\n'
        )
    return "\n".join(lines)


def _children(pid: int) -> list[int]:
    """A process's children, from /proc/<pid>/task/*/children (no scan of all of /proc)."""
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                kids.extend(int(k) for k in f.read().split())
        except (OSError, ValueError):
            pass
    return kids


def tree_pss_mb(root: int) -> float:
    """PSS of a process and all its descendants, in MB (smaps_rollup; 0 for a gone one).
    The tree is walked through each process's children file: scanning every process on
    the machine five times a second took ~4 ms of the cores the fetch runs on each time."""
    total_kb, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(_children(pid))
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total_kb += int(line.split()[1])
                        break
        except OSError:
            pass
    return total_kb / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def user_environment() -> dict[str, str]:
    """The environment of the timed ``citearchive fetch``: this one, with Python's bytecode
    cache as a user's Python keeps it. A machine that sets PYTHONDONTWRITEBYTECODE (CI
    sandboxes do) would otherwise make every start compile the package's ~100 modules from
    source, ~0.3 s that no installed copy pays after its first run; they are compiled
    here, before the clock starts."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    import citearchive

    package = str(Path(citearchive.__file__).parent)
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], env=env, check=True)
    return env


def baseline(pages: list[tuple[str, bytes]], which: range) -> tuple[float, float]:
    """Wall and CPU seconds of plain ``trafilatura.extract()`` on pages ``which``, with
    lxml.html's own element classes (our extraction's C lookup may have been installed in
    this process by the friendly configuration's baseline)."""
    import lxml.html
    import trafilatura

    use_lookup(lxml.html.HtmlElementClassLookup())
    t0, c0 = time.perf_counter(), time.process_time()
    for i in which:
        trafilatura.extract(pages[i % len(pages)][1])
    return time.perf_counter() - t0, time.process_time() - c0


def _half_in_child(pages: list[tuple[str, bytes]], which: range, out: Any) -> None:
    out.send(baseline(pages, which))
    out.close()


def two_processes(pages: list[tuple[str, bytes]], which: range) -> float:
    """Wall seconds of plain ``trafilatura.extract()`` on pages ``which`` shared by two
    forked processes at once (every other page each): what two busy cores give on this
    machine with no pipeline at all. Two processes share caches, memory bandwidth and
    (on a virtual machine) the host's cores, so this is below 2x the one-process rate."""
    ctx = multiprocessing.get_context("fork")
    ends = [ctx.Pipe(duplex=False) for _ in range(2)]
    t0 = time.perf_counter()
    procs = [
        ctx.Process(target=_half_in_child, args=(pages, which[k::2], send))
        for k, (_, send) in enumerate(ends)
    ]
    for proc in procs:
        proc.start()
    for (recv, _), proc in zip(ends, procs, strict=True):
        recv.recv()
        proc.join()
    return time.perf_counter() - t0


def least_work(n: int, port: int, browser_auto: bool) -> float:
    """Wall seconds of :func:`_least_work_here`, run in a forked child: the extraction pool
    tunes malloc, loads the model and stoplist and freezes the garbage collector in the
    process that makes it, and the baselines that follow in this process must not run
    under those changes."""
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_least_work_in_child, args=(n, port, browser_auto, send))
    child.start()
    send.close()
    try:
        ok, value = recv.recv()
    except EOFError:
        raise RuntimeError(f"the least-work child died (exit code {child.exitcode})") from None
    finally:
        child.join()
    if not ok:
        raise RuntimeError(f"least work failed: {value}")
    return float(value)


def _least_work_in_child(n: int, port: int, browser_auto: bool, out: Any) -> None:
    try:
        out.send((True, _least_work_here(n, port, browser_auto)))
    except Exception as exc:
        out.send((False, repr(exc)))
    out.close()


def _least_work_here(n: int, port: int, browser_auto: bool) -> float:
    """Wall seconds of the least a fetch of the same N pages must do, in one process (no
    start-up, the pool's workers forked before the clock starts): ``fetch()`` with the
    default settings (8 sources in flight, 2 per host, 1 s between requests to a host) over
    the same 50 hosts, each body handed to the extraction pool while its source still holds
    its place in flight, as the pipeline does; nothing written. (A JavaScript shell is not
    opened in a browser here, whatever ``browser_auto`` says.)"""
    settings = resolve_settings({"browser_auto": browser_auto})
    pool = extraction_pool(settings)
    for future in [pool.submit(time.sleep, 0.1) for _ in range(os.cpu_count() or 2)]:
        future.result()  # a job each: every worker forked and ready before the clock starts

    async def run() -> None:
        limiter = HostLimiter(settings)
        inflight = asyncio.Semaphore(settings.concurrency)
        loop = asyncio.get_running_loop()
        async with make_client(settings) as client:

            async def one(i: int) -> None:
                url = f"http://{HOSTS_50[i % len(HOSTS_50)]}:{port}/page/{i}"
                async with inflight:
                    result = await fetch(client, url, settings, limiter=limiter)
                    if result.error is not None:
                        raise RuntimeError(f"{url}: {result.error}")
                    await loop.run_in_executor(
                        pool, extract_job, url, bytes(result.body), result.content_type, None
                    )

            await asyncio.gather(*(one(i) for i in range(n)))

    try:
        t0 = time.perf_counter()
        asyncio.run(run())
        return time.perf_counter() - t0
    finally:
        pool_shutdown(pool)


@dataclasses.dataclass
class Round:
    """One round of the default configuration: the fetch between two halves of each
    baseline (seconds and CPU seconds)."""

    fetch_s: float
    baseline_s: float
    pair_s: float
    tree_cpu: float
    main_cpu: float
    baseline_cpu: float
    server_cpu: float
    peak_pss: float
    captured: float
    least_s: float


def run_default(n: int, browser_auto: bool = True, rounds: int = 3) -> None:
    """Issue 11's configuration: defaults, 50 hosts, a separate ``citearchive fetch``;
    ``rounds`` times over, each round bracketed by its own baselines, then the median
    round and the ranges."""
    pages = load_pages(0, 10**9)
    server, port = serve(pages)
    avg = sum(len(b) for _, b in pages) / len(pages)
    print(f"default settings, {len(HOSTS_50)} hosts: {n} pages, cycling {len(pages)} corpus "
          f"pages of {avg / 1000:.0f} KB on average, {rounds} round(s)"
          + ("" if browser_auto else " (--http-only: browser_auto off)"))  # fmt: skip
    env = user_environment()
    # (warmed up first: its lazy set-up, such as jusText's stoplist, is not charged to it)
    baseline(pages, range(len(pages) - 20, len(pages)))
    results = []
    try:
        for k in range(rounds):
            r = _default_round(n, pages, server.pid, port, env, browser_auto)
            results.append(r)
            _print_round(f"round {k + 1}", n, r)
    finally:
        server.terminate()
    if rounds > 1:
        # The round whose ratio is the median (the lower middle one of an even number), whole:
        # medians taken column by column would mix rounds (one round's fetch time over
        # another's baseline). The ranges below use the same lower median.
        by_ratio = sorted(range(rounds), key=lambda k: results[k].baseline_s / results[k].fetch_s)
        middle = by_ratio[(rounds - 1) // 2]
        _print_round(f"the median round (round {middle + 1})", n, results[middle])
        ratios = sorted(r.baseline_s / r.fetch_s for r in results)
        shares = sorted(r.pair_s / r.fetch_s for r in results)
        print(f"ratio over the rounds: median {statistics.median_low(ratios):.2f}x, "
              f"{ratios[0]:.2f}-{ratios[-1]:.2f}x (target >= 1.5x)")  # fmt: skip
        bounds = sorted(r.baseline_s / r.least_s for r in results)
        low = statistics.median_low(bounds)
        print(f"least work (nothing archived) over the rounds: median {low:.2f}x, "
              f"{bounds[0]:.2f}-{bounds[-1]:.2f}x")  # fmt: skip
        print(f"share of two processes' rate over the rounds: median "
              f"{statistics.median_low(shares):.0%}, {shares[0]:.0%}-{shares[-1]:.0%}")  # fmt: skip
        print(f"peak PSS over the rounds: highest {max(r.peak_pss for r in results):.0f} MB "
              f"(target < 300)")  # fmt: skip


def _default_round(
    n: int,
    pages: list[tuple[str, bytes]],
    server_pid: int,
    port: int,
    env: dict[str, str],
    browser_auto: bool,
) -> Round:
    # Each baseline runs in two halves, before and after the fetch: a shared machine's
    # speed drifts over minutes, and the two halves bracket the fetch between them.
    first = baseline(pages, range(0, n, 2))
    pair_first = two_processes(pages, range(0, n, 2))
    peak = main_cpu = 0.0
    server_before = cpu_seconds(server_pid)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        sources = Path(tmp) / "sources.toml"
        # the defaults include browser_auto: a corpus page that looks like a JavaScript shell
        # is captured in Chromium too; --http-only leaves that out (browser_bench.py's part)
        auto = "" if browser_auto else "[settings]\nbrowser_auto = false\n\n"
        sources.write_text(manifest_text(n, port, pages, HOSTS_50, auto), encoding="utf-8")
        archive = str(Path(tmp) / "archive")
        cmd = [sys.executable, "-m", "citearchive", "fetch", "-s", str(sources), "-a", archive,
               "--no-progress", "--json"]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak, main_cpu
            while not done.wait(0.2):
                peak = max(peak, tree_pss_mb(proc.pid))
                main_cpu = max(main_cpu, cpu_seconds(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, _ = proc.communicate()
        fetch_s = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        done.set()
        sampler.join()
        outcomes = json.loads(out)["sources"]
    tree_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    server_cpu = cpu_seconds(server_pid) - server_before
    least_s = least_work(n, port, browser_auto)
    pair_second = two_processes(pages, range(1, n, 2))
    second = baseline(pages, range(1, n, 2))
    print(f"baseline halves before/after the fetch: {first[0]:.1f} s / {second[0]:.1f} s "
          f"(two processes: {pair_first:.1f} s / {pair_second:.1f} s)")  # fmt: skip
    return Round(
        fetch_s=fetch_s, baseline_s=first[0] + second[0], pair_s=pair_first + pair_second,
        tree_cpu=tree_cpu, main_cpu=main_cpu, baseline_cpu=first[1] + second[1],
        server_cpu=server_cpu, peak_pss=peak,
        captured=sum(o["status"] == "captured" for o in outcomes), least_s=least_s,
    )  # fmt: skip


def _print_round(label: str, n: int, r: Round) -> None:
    fetch_rate, baseline_rate, pair_rate = n / r.fetch_s, n / r.baseline_s, n / r.pair_s
    ms = 1000 / n
    print(f"{label}: captured {r.captured:.0f} of {n}")
    print(f"  citearchive fetch (whole process, defaults): {fetch_rate:7.1f} pages/s")
    print(f"  baseline (trafilatura.extract, 1 process):   {baseline_rate:7.1f} pages/s")
    print(f"  ratio: {fetch_rate / baseline_rate:.2f}x (target >= 1.5x)")
    print(f"  two processes of trafilatura.extract at once: {pair_rate:7.1f} pages/s, "
          f"{pair_rate / baseline_rate:.2f}x one process: the most two busy cores give here; "
          f"fetch reaches {fetch_rate / pair_rate:.0%} of it")  # fmt: skip
    least_rate = n / r.least_s
    print(f"  least work (HTTP + extraction pool, nothing archived, no start-up): "
          f"{least_rate:7.1f} pages/s, {least_rate / baseline_rate:.2f}x; fetch reaches "
          f"{fetch_rate / least_rate:.0%} of it")  # fmt: skip
    print(f"  peak PSS of the fetch process tree (main + workers): {r.peak_pss:.0f} MB "
          f"(target < 300)")  # fmt: skip
    print(f"  CPU per page: fetch tree {r.tree_cpu * ms:.1f} ms (main process "
          f"{r.main_cpu * ms:.1f} ms, workers {(r.tree_cpu - r.main_cpu) * ms:.1f} ms); "
          f"baseline {r.baseline_cpu * ms:.1f} ms")  # fmt: skip
    print(f"  ratio on two idle cores (2 x baseline CPU / fetch CPU): "
          f"{2 * r.baseline_cpu / r.tree_cpu:.2f}x")  # fmt: skip
    print(f"  the local sites' server (sharing the two cores): {r.server_cpu * ms:.1f} ms CPU "
          f"a page")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--pages", type=int, default=1000)
    ap.add_argument("--only", choices=["default", "friendly"])
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="default configuration: rounds, each bracketed by its own baselines (median)",
    )
    ap.add_argument(
        "--http-only",
        action="store_true",
        help="browser_auto off: no browser capture of JavaScript-shell pages",
    )
    args = ap.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"corpus not found at {CORPUS}")
    if args.only != "friendly":
        run_default(args.pages, browser_auto=not args.http_only, rounds=args.rounds)
    if args.only != "default":
        run_friendly(args.pages)


def run_friendly(n: int) -> None:
    pages = load_pages()
    server, port = serve(pages)
    avg = sum(len(b) for _, b in pages) / len(pages)
    print(
        f"friendly: {n} pages, cycling {len(pages)} corpus pages of {avg / 1000:.0f} KB on average"
    )

    with tempfile.TemporaryDirectory() as tmp:
        manifest = parse_manifest(manifest_text(n, port, pages), Path(tmp) / "sources.toml")
        settings = resolve_settings({"host_delay": 0.0, "concurrency": 16, "per_host": 2})
        t0 = time.perf_counter()
        report = fetch_sources(manifest, Path(tmp) / "archive", settings=settings)
        pipeline_s = time.perf_counter() - t0
        counts = report.counts()
        warc = Path(tmp) / "archive" / "warc" / str(report.warc_filename)
        warc_mb = warc.stat().st_size / 1e6
    server.terminate()
    rss_main = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    use_lookup(c_lookup())  # our extract() as the workers run it (see html_lookup)
    t0 = time.perf_counter()
    for i in range(n):
        _, body = pages[i % len(pages)]
        extract(body, "text/html", None, None)
    baseline_s = time.perf_counter() - t0

    pipeline_rate, baseline_rate = n / pipeline_s, n / baseline_s
    print(f"captures: {counts}; WARC {warc_mb:.1f} MB")
    print(f"pipeline (fetch+WARC+extract pool+SQLite): {pipeline_rate:7.1f} pages/s")
    print(f"baseline (extract() alone, 1 process):     {baseline_rate:7.1f} pages/s")
    print(f"ratio pipeline / baseline: {pipeline_rate / baseline_rate:.2f}x (target >= 1.5x)")
    print(f"peak RSS: pipeline process {rss_main:.0f} MB, largest worker {rss_workers:.0f} MB")


if __name__ == "__main__":
    main()
