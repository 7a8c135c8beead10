"""Exact fast path vs the plain approach, side by side, same number of processes.

Plain: every pair through ``len(gzip.compress((x + y).encode(), L))``, with C(x) computed once per
document and C(y) once per target. Fast: zipfit's compress-once, copy-per-target path. Both run
on the same LocalEngine with the same batches; arms alternate within each repeat.

    python benchmarks/bench_exact.py [--docs 600] [--targets 185] [--levels 1,6] [--workers 2]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import source_documents, targets

from zipfit.engines import LocalEngine
from zipfit.methods import ZipFit
from zipfit.ncd import alignment_from_lengths, tune_allocator
from zipfit.passes import ScoreJob


class PlainJob:
    """The obvious implementation a user would write."""

    def __init__(self, targets: list[str], level: int) -> None:
        self.targets = targets
        self.level = level

    def setup(self) -> None:
        tune_allocator()  # same allocator settings as the fast arm, so only the algorithm differs
        self.cys = [len(gzip.compress(y.encode(), self.level)) for y in self.targets]

    def __call__(self, texts: list[str]):
        out = np.empty(len(texts))
        for i, x in enumerate(texts):
            cx = len(gzip.compress(x.encode(), self.level))
            cxys = [len(gzip.compress((x + y).encode(), self.level)) for y in self.targets]
            out[i] = alignment_from_lengths(cx, self.cys, cxys)
        return out, None


def run(engine: LocalEngine, job, docs: list[str]) -> tuple[float, np.ndarray]:
    batches = [docs[i : i + 16] for i in range(0, len(docs), 16)]
    t = time.perf_counter()
    scores = np.concatenate([s for s, _ in engine.map(job, batches)])
    return time.perf_counter() - t, scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=600)
    ap.add_argument("--targets", type=int, default=185)
    ap.add_argument("--levels", default="1,6")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ys = targets(args.targets)
    engine = LocalEngine(args.workers, progress=False)
    shapes = {
        "2.5 KB chunks": source_documents(args.docs, 2560, min_chars=2560),
        "natural mix": source_documents(args.docs, 8000),
    }
    print(f"{args.docs} source documents x {len(ys)} ProofNet targets (mean {statistics.mean(map(len, ys)):.0f} "
          f"chars), {args.workers} processes per arm, median of {args.repeats}")
    print(f"{'sources':<14} {'level':>5} {'mean bytes':>10} {'plain s':>8} {'fast s':>8} {'plain us/pair':>13} "
          f"{'fast us/pair':>12} {'speedup':>7} {'max |diff|':>10}")
    for shape, docs in shapes.items():
        mean_bytes = statistics.mean(len(d.encode()) for d in docs)
        pairs = len(docs) * len(ys)
        for level in map(int, args.levels.split(",")):
            fast_job, plain_job = ScoreJob(ZipFit(level=level).fit(ys)), PlainJob(ys, level)
            plain_t, fast_t = [], []
            for r in range(args.repeats):
                arms = [(plain_job, plain_t), (fast_job, fast_t)]
                for job, times in arms if r % 2 == 0 else arms[::-1]:
                    seconds, scores = run(engine, job, docs)
                    times.append(seconds)
                    if job is plain_job:
                        plain_scores = scores
                    else:
                        fast_scores = scores
            diff = float(np.max(np.abs(plain_scores - fast_scores)))
            p, f = statistics.median(plain_t), statistics.median(fast_t)
            per_pair = 1e6 * args.workers / pairs  # core-microseconds per pair
            print(f"{shape:<14} {level:>5} {mean_bytes:>10.0f} {p:>8.2f} {f:>8.2f} {p * per_pair:>13.1f} "
                  f"{f * per_pair:>12.1f} {p / f:>6.2f}x {diff:>10.1e}")


if __name__ == "__main__":
    main()
