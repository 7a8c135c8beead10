"""Documents per CPU-second of ``zipfit-ml`` with 200 targets, next to the exact ZIP-FIT scores.

    python benchmarks/bench_ml.py [--docs 3000] [--exact-docs 300] [--targets 200]

The method is fitted and scores in this process (one core), so CPU seconds are the process's own: fitting
(drawing the contexts, building the primed compressors) and scoring are timed apart. The exact scores cost
one compression per pair and run on fewer documents (``--exact-docs``); a rate is a rate.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import source_documents, targets

from zipfit.methods import make_method

ARMS = [
    ("zipfit-ml", {}),
    ("zipfit-ml", {"ml_level": 3}),
    ("zipfit-ml", {"ml_level": 19}),
    ("zipfit-ml", {"backgrounds": 4}),
    ("zipfit-ml", {"context_bytes": 1 << 20}),
    ("zipfit-ml", {"context_bytes": 16384}),
    ("zipfit-ml", {"context_bytes": 8192}),
    ("zipfit-ml", {"ml_codec": "gzip"}),
    ("zipfit", {}),
    ("zipfit-debiased", {}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--exact-docs", type=int, default=300)
    ap.add_argument("--targets", type=int, default=200)
    args = ap.parse_args()
    ys = targets(args.targets)
    docs = source_documents(args.docs + 3000, 2560)
    pool, docs = docs[args.docs:], docs[: args.docs]  # the background sample comes from other documents
    print(f"{args.docs:,} documents (mean {statistics.mean(len(d.encode()) for d in docs):,.0f} bytes) x "
          f"{len(ys)} targets (mean {statistics.mean(len(y.encode()) for y in ys):,.0f} bytes), one core")
    print("| method | parameters | contexts | fit CPU s | documents | score CPU s | documents per CPU-second |")
    print("|---|---|---|---|---|---|---|")
    for name, params in ARMS:
        method = make_method(name, params)
        texts = docs if name == "zipfit-ml" else docs[: args.exact_docs]
        start = time.process_time()
        method.fit(ys)
        if hasattr(method, "background_size"):
            method.fit_background(pool[: method.background_size()])
        method.setup()
        fitted = time.process_time()
        method.score(texts)
        scored = time.process_time()
        contexts = method.params().get("contexts", "–")
        label = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        print(f"| `{name}` | {label} | {contexts} | {fitted - start:.2f} | {len(texts):,} | {scored - fitted:.2f} | "
              f"{len(texts) / (scored - fitted):,.0f} |", flush=True)


if __name__ == "__main__":
    main()
