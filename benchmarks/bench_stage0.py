"""Would zipfit-ml pay as a stage 0 of zipfit-debiased --fast's cascade? Its cost and its spread against stage 1's.

The cascade keeps its selection exact by ruling a document out only when a linear proxy of the exact score,
plus z·σ (the proxy's leave-one-out error on a calibration sample), cannot reach the cutoff. A stage 0 in
front of stage 1 pays only if it is cheaper per document than stage 1 and still rules out most documents at
the same z. This script measures both, side by side, on the same documents and calibration sample:

- CPU seconds per document of stage 1 (the 12-column coarse proxy) and of zipfit-ml (defaults, and level 3);
- σ of each as a linear proxy of the exact zipfit-debiased score (leave-one-out, as the cascade computes it);
- how many documents each would pass on at z = 4 (the cascade's default), and whether those include every
  document of the exact top-K (computed here on all documents).

    python benchmarks/bench_stage0.py [--docs 10000] [--targets 200]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import source_documents, targets

from zipfit.methods.zipfit_debiased_fast import ZipFitDebiasedFast
from zipfit.methods.zipfit_ml import ZipFitML
from zipfit.selection import Budget


def timed(score, texts: list[str]) -> tuple[np.ndarray, float]:
    start = time.process_time()
    values = np.asarray(score(texts), dtype=np.float64)
    return values, time.process_time() - start


def loo_sigma(proxy: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    """(σ of leave-one-out residuals, R²) of the least-squares line exact ≈ a + b·proxy, as the cascade fits it."""
    design = np.column_stack([np.ones(len(exact)), proxy])
    coef = np.linalg.lstsq(design, exact, rcond=None)[0]
    residuals = exact - design @ coef
    leverage = np.einsum("ij,ij->i", design @ np.linalg.pinv(design.T @ design), design)
    total = float(np.sum((exact - exact.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residuals**2)) / total
    return float(np.std(residuals / np.maximum(1.0 - leverage, 1e-6))), r2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--calibration", type=int, default=256)
    args = ap.parse_args()
    ys, docs = targets(args.targets), source_documents(args.docs, 2560)
    k = max(1, args.docs // 100)
    rng = random.Random(0)
    cascade = ZipFitDebiasedFast().fit(ys)
    cascade.fit_background(rng.sample(docs, cascade.background_size()))
    cascade.setup()
    calib = rng.sample(range(len(docs)), args.calibration)
    profile = cascade.profiler().score([docs[i] for i in calib])
    exact_calib = cascade.calibrate(profile)
    print(f"{len(docs):,} documents x {len(ys)} targets, K = {k:,}, calibration sample {len(calib)}, z = "
          f"{cascade.confidence:g}")

    exact, exact_cpu = timed(cascade.exact_.score, docs)
    top_k = set(np.argsort(-exact, kind="stable")[:k].tolist())
    budget, n_tokens = Budget(k=k), np.ones(len(docs), dtype=np.int64)

    arms = [("stage 1: 12-column proxy", cascade.stage1_.score, None)]
    for label, level in (("zipfit-ml, defaults", None), ("zipfit-ml, ml_level=3", 3)):
        ml = ZipFitML(ml_level=level).fit(ys)
        ml.fit_background(rng.sample(docs, ml.background_size()))
        ml.setup()
        arms.append((label, ml.score, ml))

    print(f"{'arm':<28} {'CPU ms/doc':>10} {'x stage 1':>9} {'R2':>6} {'sigma':>8} {'passed on':>10} "
          f"{'exact top-K kept':>16}")
    stage1_ms = None
    for label, score, _ in arms:
        values, cpu = timed(score, docs)
        sigma, r2 = loo_sigma(values[calib], exact_calib)
        # put the proxy on the exact score's scale, then rule out as the cascade does
        a, b = np.linalg.lstsq(np.column_stack([np.ones(len(calib)), values[calib]]), exact_calib, rcond=None)[0]
        cascade.sigma1_ = sigma
        alive = set(cascade.survivors(a + b * values, budget, n_tokens).tolist())
        ms = 1000 * cpu / len(docs)
        stage1_ms = stage1_ms or ms
        print(f"{label:<28} {ms:>10.3f} {ms / stage1_ms:>8.1f}x {r2:>6.3f} {sigma:>8.5f} {len(alive):>10,} "
              f"{len(top_k & alive):>10,} of {k:,}", flush=True)
    print(f"exact zipfit-debiased on every document: {1000 * exact_cpu / len(docs):.3f} CPU ms/doc")


if __name__ == "__main__":
    main()
