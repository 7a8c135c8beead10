"""Documents per second of ``zipfit.select`` with 200 targets, on 1 and on all cores, side by side.

    python benchmarks/bench_throughput.py [--docs 3000] [--targets 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_seconds, source_documents, targets, write_jsonl

import zipfit
from zipfit.engines.local import available_cores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ys = targets(args.targets)
    docs = source_documents(args.docs, 2560)
    cores = available_cores()
    with tempfile.TemporaryDirectory() as tmp:
        src = write_jsonl(Path(tmp) / "src.jsonl", docs)
        print(f"{args.docs:,} documents (mean {statistics.mean(len(d.encode()) for d in docs):,.0f} bytes) x "
              f"{len(ys)} targets (mean {statistics.mean(len(y.encode()) for y in ys):,.0f} bytes), "
              f"K = 1%, median of {args.repeats}")
        print(f"{'method':<12} {'level':>5} {'workers':>7} {'seconds':>8} {'docs/s':>8} {'pairs/s':>9} {'scaling':>7}")
        for method in ("zipfit", "zipfit-fast"):
            for level in (1, 6):
                base = None
                for workers in sorted({1, cores}):
                    seconds, _ = median_seconds(lambda w=workers, m=method, lv=level: zipfit.select(
                        src, out=Path(tmp) / "out.jsonl", target_texts=ys, k=args.docs // 100, method=m, level=lv,
                        workers=w, progress=False, overwrite=True), args.repeats)
                    base = base or seconds
                    rate = args.docs / seconds
                    print(f"{method:<12} {level:>5} {workers:>7} {seconds:>8.2f} {rate:>8,.0f} "
                          f"{rate * len(ys):>9,.0f} {base / seconds:>6.2f}x")


if __name__ == "__main__":
    main()
