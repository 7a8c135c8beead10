"""Documents per CPU-second of ``zipfit.select`` with 200 targets at K/N = 1%: exact zipfit and zipfit-debiased on
the Python path and on the compiled kernel, and zipfit-debiased --fast, side by side in one run.

CPU time is this process's plus its finished worker processes' (the engine's pool ends with each call), so
it does not depend on how busy the machine is; peak memory is the largest resident set among them.

    python benchmarks/bench_debiased.py [--docs 10000] [--targets 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import source_documents, targets, write_jsonl

import zipfit
from zipfit.kernel import KERNEL_ENV

ARMS = (  # label, method, kernel, extra options
    ("zipfit, Python path", "zipfit", "python", {}),
    ("zipfit, native", "zipfit", "native", {}),
    ("zipfit-debiased, Python path", "zipfit-debiased", "python", {}),
    ("zipfit-debiased, native", "zipfit-debiased", "native", {}),
    ("zipfit-debiased --fast, native", "zipfit-debiased", "native", {"fast": True}),
)


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_mb() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return max(own.ru_maxrss, children.ru_maxrss) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip", default="", help="comma-separated arm numbers (1-5) to leave out")
    args = ap.parse_args()
    skip = {int(a) for a in args.skip.split(",") if a}
    ys = targets(args.targets)
    k = max(1, args.docs // 100)
    print(f"{args.docs:,} documents x {len(ys)} targets, K = {k:,} (K/N = 1%), {args.workers} workers")
    print(f"{'arm':<32} {'CPU s':>8} {'wall s':>7} {'docs/CPU-s':>10} {'peak MB':>8} {'output = exact':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = write_jsonl(tmp / "src.jsonl", source_documents(args.docs, 2560))
        outputs: dict[str, bytes] = {}
        for number, (label, method, kernel, extra) in enumerate(ARMS, 1):
            if number in skip:
                continue
            os.environ[KERNEL_ENV] = kernel
            out = tmp / f"arm{number}.jsonl"
            cpu, wall = cpu_seconds(), time.perf_counter()
            zipfit.select(src, out=out, target_texts=ys, k=k, method=method, workers=args.workers, progress=False,
                          overwrite=True, **extra)
            cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
            outputs.setdefault(method, out.read_bytes())  # the first arm of a score is its reference
            same = out.read_bytes() == outputs[method]
            print(f"{label:<32} {cpu:>8.1f} {wall:>7.1f} {args.docs / cpu:>10,.0f} {peak_mb():>8.0f} "
                  f"{'yes' if same else 'NO':>14}", flush=True)


if __name__ == "__main__":
    main()
