"""How fast is the offline fixity check, next to just reading the WARC files?

    python benchmarks/verify_bench.py [--captures N] [--gzip-share 0.5] [--per-file 2500]

Builds an archive of N captures (article-sized HTML bodies of 50-200 KB, a share of them
sent with ``Content-Encoding: gzip`` as most sites do), written straight through the
store/warcfile APIs, in WARC files of ``--per-file`` records each. Then, in this process:

- baseline: decompress every WARC file (Python zlib) and SHA-256 the decompressed bytes;
- fixity: ``citearchive.verify.fixity.check_fixity`` over the same archive (record identity,
  WARC block and payload digests, payload SHA-256 after Content-Encoding is undone).

Both run three times after a warm-up read (page cache warm for both); the best time of each is
reported, with their ratio (target: fixity <= 1.5x baseline) and the peak RSS of this
process, which never held the archive's construction (that runs in a child process):
memory must stay flat however many captures there are.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import multiprocessing
import random
import resource
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders

from citearchive.archive.store import Archive
from citearchive.verify.fixity import check_fixity

WORDS = (  # noqa: SIM905 - one string reads better than 46 quoted words
    "the talks ceasefire summit negotiations president ministry statement security guarantees "
    "Ukraine Russia Europe Washington Anchorage agreement conference spokesperson officials "
    "переговоры президент министерство заявление безопасность гарантии соглашение встреча "
    "пресс-конференция представитель Украина Россия Европа "
    "停戦 協議 首脳 会談 安全 保証 合意 記者会見 大統領 外務省 ロシア ウクライナ 欧州 米国"
).split()


def article(rng: random.Random, size: int) -> bytes:
    """An HTML page of about ``size`` bytes of word salad in three scripts."""
    parts, total = ["<html><head><meta charset='utf-8'><title>News</title></head><body>"], 0
    while total < size:
        para = " ".join(rng.choices(WORDS, k=60))
        parts.append(f"<p>{para}</p>\n")
        total += len(para.encode()) + 8
    parts.append("</body></html>")
    return "".join(parts).encode()


def build(root: Path, captures: int, per_file: int, gzip_share: float, seed: int) -> None:
    """Write the archive: WARC records and capture rows through the store/warcfile APIs."""
    rng = random.Random(seed)
    pool = [article(rng, 200_000) for _ in range(24)]
    archive = Archive.open(root)
    done = 0
    while done < captures:
        run_id = archive.start_run("fetch", settings={}, user_agent="bench")
        warc = archive.open_warc(run_id, level=1, info={"software": "verify_bench"})
        rows = []
        for _ in range(min(per_file, captures - done)):
            size = rng.randint(50_000, 200_000)
            start = rng.randint(0, 200_000 - size)
            body = b"<!-- %d -->" % done + pool[done % len(pool)][start : start + size]
            headers = [("Content-Type", "text/html; charset=utf-8")]
            encoded = body
            if rng.random() < gzip_share:
                encoded = gzip.compress(body, 1)
                headers.append(("Content-Encoding", "gzip"))
            headers.append(("Content-Length", str(len(encoded))))
            url = f"https://example.org/article/{done}"
            record = warc.builder.create_warc_record(
                url, "response", payload=io.BytesIO(encoded),
                http_headers=StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1"),
                warc_headers_dict={"WARC-Date": "2025-01-01T00:00:00.250000Z"},
            )  # fmt: skip
            loc = warc.write([record])[0]
            rows.append({
                "run_id": run_id, "source_id": f"s{done % 500}", "requested_url": url,
                "fetched_at": "2025-01-01T00:00:00Z",
                "url": url, "method": "live", "status_code": 200,
                "payload_sha256": hashlib.sha256(body).hexdigest(), "payload_length": len(body),
                "warc_filename": loc.filename, "warc_offset": loc.offset,
                "warc_length": loc.length, "warc_record_id": loc.record_id,
                "warc_payload_digest": loc.payload_digest,
            })  # fmt: skip
            done += 1
        warc.close()
        archive.insert_captures(rows)
        archive.finish_run(run_id, {"captured": len(rows)})
    archive.close()


def baseline(files: list[Path]) -> tuple[int, str]:
    """Decompress every file and SHA-256 the result: the floor any fixity check sits on."""
    total, digest = 0, hashlib.sha256()
    for path in files:
        with open(path, "rb") as fh:
            d = zlib.decompressobj(31)
            while chunk := fh.read(1 << 20):
                while chunk:
                    out = d.decompress(chunk)
                    digest.update(out)
                    total += len(out)
                    if d.eof:  # next gzip member
                        chunk = d.unused_data
                        d = zlib.decompressobj(31)
                    else:
                        chunk = b""
    return total, digest.hexdigest()


def fixity(root: Path) -> tuple[int, int]:
    archive = Archive.open(root, create=False)
    try:
        checked = failed = 0
        for result in check_fixity(archive):
            checked += 1
            failed += not result.ok
        return checked, failed
    finally:
        archive.close()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=10_000)
    parser.add_argument("--per-file", type=int, default=2_500, help="records per WARC file")
    parser.add_argument("--gzip-share", type=float, default=0.5,
                        help="share of bodies sent with Content-Encoding: gzip")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, help="build here (kept) instead of a temp folder")
    args = parser.parse_args(argv)

    tmp = None if args.dir else tempfile.mkdtemp(prefix="verify-bench-")
    root = (args.dir or Path(tmp or ".")) / "archive"
    try:
        if not (root / "citearchive.db").exists():
            t0 = time.perf_counter()
            child = multiprocessing.get_context("fork").Process(
                target=build, args=(root, args.captures, args.per_file, args.gzip_share, args.seed)
            )
            child.start()
            child.join()
            if child.exitcode != 0:
                print("building the archive failed", file=sys.stderr)
                return 1
            print(f"built {args.captures} captures in {time.perf_counter() - t0:.1f} s")
        files = sorted((root / "warc").glob("*.warc.gz"))
        size = sum(f.stat().st_size for f in files)
        rss_before = rss_mb()
        raw, _ = baseline(files)  # warm-up: both runs find the files in the page cache
        times: dict[str, list[float]] = {"baseline": [], "fixity": []}
        checked = failed = 0
        for _ in range(3):
            t0 = time.perf_counter()
            baseline(files)
            times["baseline"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            checked, failed = fixity(root)
            times["fixity"].append(time.perf_counter() - t0)
        base, fix = min(times["baseline"]), min(times["fixity"])
        print(f"archive: {checked} captures in {len(files)} WARC files, "
              f"{size / 1e6:.0f} MB compressed, {raw / 1e6:.0f} MB decompressed, "
              f"{args.gzip_share:.0%} gzip-encoded bodies")  # fmt: skip
        print(f"baseline (zlib + sha256): {base:.2f} s  ({raw / 1e6 / base:.0f} MB/s)")
        print(f"fixity check:             {fix:.2f} s  ({raw / 1e6 / fix:.0f} MB/s, "
              f"{fix / checked * 1e3:.2f} ms a capture, {failed} failed)")  # fmt: skip
        print(f"ratio fixity / baseline:  {fix / base:.2f}x  (target <= 1.5x)")
        print(f"peak RSS: {rss_mb():.0f} MB (before the runs: {rss_before:.0f} MB)")
        return 0 if failed == 0 else 1
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
