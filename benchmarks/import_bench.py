"""Does ``citearchive import`` grow linearly with its input?

    python benchmarks/import_bench.py [--n 2500]

Two hostile shapes of commentary (finding F11), each imported at n and 4n items in this
process, first into a new sources.toml, then again into the file it wrote (the merge path):

- markers: one paragraph of ``x<sup>1</sup>`` repeated (one endless sentence of markers);
- footnotes: n markers with n footnote definitions (each with a URL).

Printed: seconds at n and at 4n, and the ratio of time per item at 4n to time per item at n
(1.0 is linear; the quadratic code this replaced gave 3-4x new, ~16x again). The output
size per item is shown too: each claim keeps at most 1,000 characters of its sentence.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from citearchive.sources.importer import import_commentary


def markers(n: int) -> bytes:
    return b"x<sup>1</sup>" * n + b"\n\n1. foot https://example.org/\n"


def footnotes(n: int) -> bytes:
    refs = "".join(f"Claim {i} was made.[^{i}] " for i in range(1, n + 1))
    defs = "".join(f"[^{i}]: Note {i}, https://example.org/{i}\n" for i in range(1, n + 1))
    return f"# Title\n\n{refs}\n\n{defs}".encode()


def timed(make: Callable[[int], bytes], n: int, tmp: Path) -> tuple[float, float, int]:
    """Seconds to import into a new file, then to import again into that file (the merge
    path a user takes after editing sources.toml), and the file's size."""
    src = tmp / f"c{n}.md"
    src.write_bytes(make(n))
    out = tmp / f"s{n}.toml"
    start = time.perf_counter()
    import_commentary(src, out)
    fresh = time.perf_counter() - start
    start = time.perf_counter()
    import_commentary(src, out)
    return fresh, time.perf_counter() - start, out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2500, help="items in the small input")
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (("markers", markers), ("footnotes", footnotes)):
            f1, m1, s1 = timed(make, n, Path(tmp))
            f4, m4, s4 = timed(make, 4 * n, Path(tmp))
            print(
                f"{name:9}  new file n={n}: {f1:5.2f} s  4n: {f4:5.2f} s  "
                f"per item 4n/n {f4 / 4 / f1:4.2f}x | again: {m1:5.2f} s  {m4:5.2f} s  "
                f"{m4 / 4 / m1:4.2f}x | bytes per item {s1 / n:4.0f} / {s4 / (4 * n):4.0f}"
            )


if __name__ == "__main__":
    main()
