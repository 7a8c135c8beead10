"""zipfit-fast (calibrated proxy cascade + exact rounds) vs exact ZIP-FIT through ``zipfit.select``, side by side.

Same JSONL corpus, same targets, K/N = 1%; times include every read, the calibration, both stages
and writing. Recall = |fast top-K ∩ exact top-K| / K, over several seeds (the calibration sample).

    python benchmarks/bench_fast.py [--docs 40000] [--targets 200] [--k 400] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import source_documents, targets, write_jsonl

import zipfit


def ids(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["id"] for line in f]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=40_000)
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--k", type=int, default=400)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--stages", default="4:16", help="comma-separated stage1:stage2 target counts")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    ys = targets(args.targets)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = write_jsonl(tmp / "src.jsonl", source_documents(args.docs, 2560))
        common = {"target_texts": ys, "k": args.k, "workers": args.workers, "progress": False, "overwrite": True}
        t = time.perf_counter()
        zipfit.select(src, out=tmp / "exact.jsonl", method="zipfit", **common)  # what zipfit-fast must equal
        exact_s = time.perf_counter() - t
        exact_ids = set(ids(tmp / "exact.jsonl"))
        exact_bytes = (tmp / "exact.jsonl").read_bytes()
        print(f"{args.docs:,} documents x {len(ys)} targets, K = {args.k} (K/N = {args.k / args.docs:.1%}), "
              f"{args.workers} workers")
        print(f"exact zipfit: {exact_s:.1f} s ({args.docs / exact_s:,.0f} docs/s); 'stage 2' = documents given the "
              "fine proxy, 'exact' = documents scored exactly (calibration included)")
        print(f"{'targets m1:m2':>13} {'median s':>8} {'speedup':>7} {'stage 2':>8} {'exact':>7} {'rounds':>6} "
              f"{'proxy R2':>8} {'min recall':>10} {'identical output':>16}")
        for stages in args.stages.split(","):
            m1, m2 = map(int, stages.split(":"))
            times, recalls, identical, rescored, rounds, r2, stage2 = [], [], [], [], [], [], []
            for seed in range(args.seeds):
                out = tmp / f"fast{stages}-{seed}.jsonl"
                t = time.perf_counter()
                result = zipfit.select(src, out=out, method="zipfit-fast", stage1_targets=m1, stage2_targets=m2,
                                       seed=seed, **common)
                times.append(time.perf_counter() - t)
                recalls.append(len(exact_ids & set(ids(out))) / args.k)
                identical.append(out.read_bytes() == exact_bytes)
                counts = result.manifest["counts"]
                rescored.append(counts["rescored"] + counts["calibration_docs"])
                stage2.append(counts["stage2_docs"])
                rounds.append(counts["rescore_rounds"])
                r2.append(result.manifest["method"]["proxy_r2"])
            median = statistics.median(times)
            print(f"{stages:>13} {median:>8.1f} {exact_s / median:>6.1f}x {statistics.median(stage2):>8,.0f} "
                  f"{statistics.median(rescored):>7,.0f} {statistics.median(rounds):>6.0f} "
                  f"{statistics.median(r2):>8.4f} {min(recalls):>10.3f} {f'{sum(identical)}/{len(identical)}':>16}")


if __name__ == "__main__":
    main()
