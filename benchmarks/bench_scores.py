"""Score once, select many: a direct ``select`` against ``select --scores DIR`` (cut from a saved score dataset),
side by side, for every kind of cut, with the outputs checked byte for byte.

Both run through ``zipfit.select`` on the same JSONL corpus (real documents of six domains, a ``domain`` field
for ``--group-by``) and the same targets. The direct run reads, scores, cuts and writes; the cut from saved
scores reads the score dataset, hashes the inputs to check they are the ones scored, cuts and writes.

    python benchmarks/bench_scores.py [--docs 6000] [--targets 50] [--workers 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_seconds, source_documents, targets

import zipfit

DOMAINS = ("lean4", "python", "mbpp", "latex", "wikitext", "pile")  # source_documents interleaves them in this order
CUTS = {
    "--k": {"k": 300},
    "--tokens": {"tokens": 100_000},
    "--fraction": {"fraction": 0.05},
    "--min-score": {"min_score": 0.07},
    "--group-by": {"k": 300, "group_by": "domain"},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=6000)
    ap.add_argument("--targets", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = root / "corpus.jsonl"
        with open(corpus, "w", encoding="utf-8") as f:
            for i, text in enumerate(source_documents(args.docs)):
                f.write(json.dumps({"id": str(i), "domain": DOMAINS[i % len(DOMAINS)], "text": text}) + "\n")
        # the paper's score, named: BENCHMARKS.md's numbers were measured with it (the default is zipfit-debiased)
        common = {"target_texts": targets(args.targets), "method": "zipfit", "workers": args.workers,
                  "progress": False, "overwrite": True}
        scores = root / "scores"
        zipfit.score(corpus, out=scores, **common)
        print(f"{args.docs:,} documents x {args.targets} targets, {args.workers} workers, median of {args.repeats}")
        print(f"{'cut':<12} {'direct s':>9} {'from scores s':>14} {'ratio':>7}  identical")
        direct_out, saved_out = root / "direct.jsonl", root / "saved.jsonl"
        for name, cut in CUTS.items():
            direct, _ = median_seconds(lambda cut=cut: zipfit.select(corpus, out=direct_out, **cut, **common),
                                       args.repeats)
            saved, _ = median_seconds(lambda cut=cut: zipfit.select(out=saved_out, scores=scores, progress=False,
                                                                    overwrite=True, **cut), args.repeats)
            same = direct_out.read_bytes() == saved_out.read_bytes()
            print(f"{name:<12} {direct:>9.2f} {saved:>14.3f} {saved / direct:>7.3f}  {same}")
            if not same:
                raise SystemExit(f"{name}: the selection from saved scores differs from the direct one")


if __name__ == "__main__":
    main()
