"""How fast is search at archive scale, and is it still exact?

    python benchmarks/search_bench.py [--captures 100000] [--first 10000] [--keep DIR]
    python benchmarks/search_bench.py --reuse DIR     # time the queries again on a kept one

Builds an archive of ``--captures`` captures from the corpus pages' reference text
(``../shared/corpus/pages/*/expected.txt``, read in place): each capture is a window of 4-20
consecutive paragraphs of one page (seeded; English, Spanish, German, Chinese, Japanese,
Russian, ... in the corpus's proportions), inserted through ``Archive.insert_captures`` as
``fetch`` does, in batches of 1,000. At ``--first`` captures and again at ``--captures`` it
times each query

- in process: ``citearchive.archive.search.search`` (limit 20), best of 5 runs, and
- as a whole process: ``citearchive search QUERY -a ARCHIVE --json`` (best of 3),

and checks every hit list against a brute-force scan (every capture's title and text in
match form, newest first). It also times ``citearchive reindex``'s rebuild and reports the
database size. Targets (DESIGN.md): every query <= 50 ms in process at 100,000 captures,
growing by no more than a few milliseconds from 10,000; a whole process < 300 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from citearchive.archive import searchindex
from citearchive.archive.search import match_form, match_terms, search
from citearchive.archive.store import Archive

EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "pages"
QUERIES = {
    "two-character Japanese term": "会談",
    "two-character Japanese term, no hit": "停戦",
    "longer Japanese phrase": "首脳会談",
    "inflected Russian word": "рецептами",
    "English word": "government",
    "quoted phrase": '"the United States"',
    "no hits": "xylophonequartz",
}


def load_pages(corpus: Path) -> list[tuple[str, list[str]]]:
    pages = []
    for d in sorted(corpus.iterdir()):
        text = d / "expected.txt"
        if not text.is_file():
            continue
        lines = [ln for ln in text.read_text(encoding="utf-8").splitlines() if ln.strip()]
        lang = json.loads((d / "meta.json").read_text(encoding="utf-8")).get("language")
        if lines:
            pages.append((lang or "", lines))
    return pages


def make_rows(pages: list[tuple[str, list[str]]], start: int, n: int) -> list[dict[str, object]]:
    rng = random.Random(start)
    rows = []
    for i in range(start, start + n):
        lang, lines = pages[rng.randrange(len(pages))]
        at = rng.randrange(len(lines))
        window = lines[at : at + rng.randint(4, 20)]
        rows.append(
            {
                "source_id": f"s{i % 5000}",
                "url": f"https://example.org/{i}",
                "method": "live",
                "fetched_at": (EPOCH + dt.timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
                "status_code": 200,
                "title": window[0][:80],
                "text": "\n".join(window),
                "language": lang,
            }
        )
    return rows


def brute_force(forms: list[tuple[int, str, str]], query: str, limit: int) -> list[int]:
    wanted = match_terms(query)
    out = []
    for cid, title, text in forms:  # newest first
        if all(t in text or t in title for t in wanted):
            out.append(cid)
            if len(out) == limit:
                break
    return out


def time_queries(root: Path, forms: list[tuple[int, str, str]]) -> dict[str, dict[str, object]]:
    conn = searchindex.connect(root)
    results: dict[str, dict[str, object]] = {}
    for name, query in QUERIES.items():
        best = float("inf")
        hits: list[int] = []
        for _ in range(5):
            t0 = time.perf_counter()
            hits = [h.capture_id for h in search(conn, query, limit=20)]
            best = min(best, time.perf_counter() - t0)
        expected = brute_force(forms, query, 20)
        assert hits == expected, (name, hits, expected)
        total = len(brute_force(forms, query, 10**9))
        proc = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(
                ["citearchive", "search", query, "-a", str(root), "--json"],
                check=False, capture_output=True,
            )  # fmt: skip
            proc = min(proc, time.perf_counter() - t0)
        results[name] = {"query": query, "ms": best * 1000, "process_ms": proc * 1000,
                         "hits": len(hits), "all_hits": total}  # fmt: skip
    conn.close()
    return results


def show(n: int, results: dict[str, dict[str, object]]) -> None:
    print(f"{n} captures:", file=sys.stderr)
    for name, r in results.items():
        print(
            f"  {name:38} {r['ms']:7.1f} ms in process, {r['process_ms']:6.0f} ms process, "
            f"{r['hits']} hits ({r['all_hits']} in all)",
            file=sys.stderr,
        )


def requery(root: Path) -> None:
    """Time the queries again on an archive kept by an earlier run (``--reuse DIR``)."""
    conn = sqlite3.connect(root / searchindex.DB_NAME)
    forms = [
        (cid, match_form(title), match_form(text))
        for cid, title, text in conn.execute(
            "SELECT id, title, text FROM captures ORDER BY fetched_at DESC, id DESC"
        )
    ]
    conn.close()
    results = time_queries(root, forms)
    show(len(forms), results)
    print(json.dumps({str(len(forms)): results}, ensure_ascii=False, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--captures", type=int, default=100_000)
    parser.add_argument("--first", type=int, default=10_000)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--keep", type=Path, help="build the archive here and keep it")
    parser.add_argument("--reuse", type=Path, help="only time the queries on a kept archive")
    args = parser.parse_args()
    if args.reuse:
        requery(args.reuse)
        return
    pages = load_pages(args.corpus)
    root = args.keep or Path(tempfile.mkdtemp(prefix="search-bench-")) / "archive"
    if root.exists():
        shutil.rmtree(root)
    arch = Archive.open(root)
    forms: list[tuple[int, str, str]] = []
    insert_s = 0.0
    report: dict[str, object] = {"corpus_pages": len(pages)}
    done = 0
    for target in (args.first, args.captures):
        while done < target:
            n = min(1000, target - done)
            rows = make_rows(pages, done, n)
            t0 = time.perf_counter()
            ids = arch.insert_captures(rows)
            insert_s += time.perf_counter() - t0
            forms[:0] = [
                (cid, match_form(str(r["title"])), match_form(str(r["text"])))
                for cid, r in reversed(list(zip(ids, rows, strict=True)))
            ]
            done += n
        report[str(target)] = results = time_queries(root, forms)
        show(target, results)
    text_mb = sum(len(t.encode()) for _, _, t in forms) / 1e6
    t0 = time.perf_counter()
    with arch.db.conn:
        searchindex.rebuild(arch.db.conn)
    report["reindex_s"] = time.perf_counter() - t0
    report["insert_s"] = insert_s
    arch.close()
    conn = sqlite3.connect(root / searchindex.DB_NAME)
    conn.execute("VACUUM")
    conn.close()
    report["text_mb"] = text_mb
    report["db_mb"] = os.path.getsize(root / searchindex.DB_NAME) / 1e6
    print(
        f"text {text_mb:.0f} MB; inserting {insert_s:.0f} s; "
        f"reindex {report['reindex_s']:.0f} s; database {report['db_mb']:.0f} MB",
        file=sys.stderr,
    )
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if not args.keep:
        shutil.rmtree(root.parent)


if __name__ == "__main__":
    main()
