"""DSIR: the `data-selection` package's HashedNgramDSIR against zipfit's DSIR, side by side, same documents.

    python benchmarks/bench_dsir.py [--docs 10000] [--targets 500] [--workers 2] [--k 100]

Package: fit_importance_estimator + compute_importance_weights (num_proc=workers), then
resample(top_k=True) timed apart. zipfit: source_counts over every document, fit_source, then the
map pass with score, on a LocalEngine(workers), reading the same JSONL file, as the pipeline runs it.
Prints documents/s for both, the ratio, and how far the log weights, drops and top-K differ.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, _chunks, _jsonl, source_documents, targets, write_jsonl

from zipfit.engines import LocalEngine
from zipfit.io import Corpus
from zipfit.methods import dsir as dsir_module
from zipfit.methods.dsir import DSIR
from zipfit.passes import map_pass, text_batches
from zipfit.selection import SourceStatsJob
from zipfit.tokens import TokenCounter


def target_texts(n: int) -> list[str]:
    """ProofNet (371 statements), then Lean chunks of formal-conjectures when n asks for more."""
    out = targets(n)
    extra = (c for r in _jsonl(DATA / "lean4" / "formal_conjectures.jsonl.gz") for c in _chunks(r["text"], 600))
    while len(out) < n:
        out.append(next(extra))
    return out


def run_package(src: Path, tgt: Path, workers: int, k: int, min_length: int, tmp: Path) -> dict:
    from data_selection import HashedNgramDSIR

    cache = tmp / "pkg_cache"
    dsir = HashedNgramDSIR(
        [str(src)], [str(tgt)], cache_dir=str(cache), num_proc=workers, min_example_length=min_length
    )
    t = time.perf_counter()
    dsir.fit_importance_estimator(num_tokens_to_fit="auto")
    dsir.compute_importance_weights()
    weights_s = time.perf_counter() - t
    # one virtual shard per worker; shard j holds documents j, j + workers, ...
    shards = [np.load(cache / "log_importance_weights" / f"{j}.npy") for j in range(workers)]
    lengths = [np.load(cache / "perexample_metadata" / f"{j}.npy") for j in range(workers)]
    n = sum(len(s) for s in shards)
    logw, length = np.empty(n), np.empty(n)
    for j in range(workers):
        logw[j::workers], length[j::workers] = shards[j], lengths[j]
    t = time.perf_counter()
    dsir.resample(out_dir=str(tmp / "pkg_out"), num_to_sample=k, top_k=True)
    resample_s = time.perf_counter() - t
    top = set()
    for j in range(workers):
        with open(tmp / "pkg_out" / f"{j}.jsonl", encoding="utf-8") as f:
            top |= {json.loads(line)["id"] for line in f}
    return {"seconds": weights_s, "resample_seconds": resample_s, "logw": logw, "length": length, "top": top}


def run_ours(src: Path, ys: list[str], workers: int, k: int, min_length: int) -> dict:
    t = time.perf_counter()
    corpus = Corpus([src])
    with LocalEngine(workers, progress=False) as engine:
        method = DSIR(min_example_length=min_length).fit(ys)
        raw = np.zeros(method.num_buckets)
        for counts in engine.map(SourceStatsJob(method), text_batches(corpus.documents()), desc="counting"):
            raw += counts
        method.fit_source(raw)
        mapped = map_pass(corpus, method, engine, TokenCounter("whitespace"))
    scores = np.array(mapped.scores)
    eligible = np.flatnonzero(~np.isnan(scores))
    top = eligible[np.argsort(-scores[eligible], kind="stable")[:k]]
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "scores": scores, "top": {f"0-{i}" for i in top.tolist()}}


def cpu_per_document(src: Path, tgt: Path, ys: list[str], n: int, min_length: int, tmp: Path) -> tuple[float, float]:
    """CPU seconds per document of both, in this process on one core (robust to other load on the machine)."""
    from data_selection import HashedNgramDSIR

    dsir = HashedNgramDSIR([str(src)], [str(tgt)], cache_dir=str(tmp / "cpu_cache"), num_proc=1)
    t = time.process_time()
    dsir.fit_importance_estimator(num_tokens_to_fit="auto")
    dsir.compute_importance_weights()
    package = time.process_time() - t
    dsir_module._hashers.clear()  # start as cold as a fresh worker
    t = time.process_time()
    run_ours(src, ys, 1, 1, min_length)
    ours = time.process_time() - t
    return package / n, ours / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--targets", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--min-example-length", type=int, default=100)
    ap.add_argument("--cpu-docs", type=int, default=2000, help="documents for the one-core CPU-time comparison")
    args = ap.parse_args()
    docs = source_documents(args.docs, 2560)
    ys = target_texts(args.targets)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        src = write_jsonl(tmp / "src.jsonl", docs)
        tgt = write_jsonl(tmp / "tgt.jsonl", ys)
        print(
            f"{len(docs):,} documents (mean {statistics.mean(len(d.encode()) for d in docs):,.0f} bytes) x "
            f"{len(ys)} targets, {args.workers} workers, top-K = {args.k}, "
            f"min_example_length = {args.min_example_length}"
        )
        pkg = run_package(src, tgt, args.workers, args.k, args.min_example_length, tmp)
        ours = run_ours(src, ys, args.workers, args.k, args.min_example_length)
        small = write_jsonl(tmp / "small.jsonl", docs[: args.cpu_docs])
        cpu_pkg, cpu_ours = cpu_per_document(
            small, tgt, ys, min(len(docs), args.cpu_docs), args.min_example_length, tmp
        )

    n = len(docs)
    kept = pkg["length"] >= args.min_example_length
    same_drops = np.array_equal(np.isnan(ours["scores"]), ~kept)
    a, b = ours["scores"][kept], pkg["logw"][kept]
    rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
    pkg_rate, our_rate = n / pkg["seconds"], n / ours["seconds"]
    print(f"{'':<26} {'seconds':>8} {'docs/s':>8}")
    print(
        f"{'data-selection 1.0.3':<26} {pkg['seconds']:>8.2f} {pkg_rate:>8,.0f}   (+ resample top-k "
        f"{pkg['resample_seconds']:.2f} s)"
    )
    print(f"{'zipfit DSIR':<26} {ours['seconds']:>8.2f} {our_rate:>8,.0f}   (incl. top-K and process start-up)")
    print(f"speed-up: {our_rate / pkg_rate:.2f}x")
    print(
        f"one core, CPU time, first {min(n, args.cpu_docs):,} documents: package {1 / cpu_pkg:,.0f} docs/s, "
        f"zipfit {1 / cpu_ours:,.0f} docs/s ({cpu_pkg / cpu_ours:.2f}x)"
    )
    print(
        f"documents dropped as too short: package {int((~kept).sum()):,}, zipfit NaN "
        f"{int(np.isnan(ours['scores']).sum()):,}, same set: {same_drops}"
    )
    print(
        f"log weights of kept documents: max relative difference {rel.max():.3g}, bit-identical: {np.array_equal(a, b)}"
    )
    same = ours["top"] == pkg["top"]
    by_id = {f"0-{i}": w for i, w in enumerate(pkg["logw"].tolist())}
    same_scores = sorted(by_id[i] for i in ours["top"]) == sorted(by_id[i] for i in pkg["top"])
    verdict = (
        "same documents" if same else "same scores, ties at the cutoff broken otherwise" if same_scores else "DIFFERENT"
    )
    print(f"top-{args.k} against the package's top_k=True selection: {verdict}")


if __name__ == "__main__":
    main()
