"""Selection quality: precision and recall of the target's domain on labelled mixes, for every method.

    python benchmarks/bench_quality.py                       # 5 tasks x 2 seeds, 1,200 sources, 100 targets
    python benchmarks/bench_quality.py --sources 2400 --seeds 0 1 2 --targets 200   # larger
    python benchmarks/bench_quality.py --methods zipfit-ml dsir --tasks lean python  # a subset
    python benchmarks/bench_quality.py --methods zipfit-ml zipfit-ml:ml_level=3,backgrounds=4   # variants
    python benchmarks/bench_quality.py --embed               # also embed and d4 (MiniLM, slow on a CPU)

Each task (``zipfit.harness.quality``) holds out records of one dataset as the target and builds a source
of four domains (Lean 4, Python, LaTeX, English prose), a third of every domain short, medium and long, the
target's domain ``--prevalence`` of it. Every method runs through ``zipfit.select`` with its defaults on one
worker (``METHOD:NAME=VALUE,...`` sets parameters: each spelling is its own arm); K is a share of the
source. The table gives, per method, the mean over tasks and seeds of the precision and recall of the target
domain at each K (with the lowest precision of any task and seed), the selection's median length over the
source's (at the middle K) and the seconds per selection; ``--per-task`` adds a row per task. With the default
10% prevalence, K = 10% is as many documents as the source holds of the target's domain: precision = recall.
Embeddings (``--embed``) run at about 14 documents per second on 2 cores, so add them to a small run
(``--sources 600 --seeds 0``) or give them time; D4 reads the embeddings ``embed`` cached.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import zipfit
from zipfit.harness.quality import DATA, TASKS, Mix, build_mix, quality
from zipfit.methods import SET, method_class, method_names

BASE_METHODS = ["zipfit", "zipfit-debiased", "dsir", "random"]
EMBEDDING_METHODS = ["embed", "d4"]


CUT_OPTIONS = ("length_strata",)  # options of the cut, not of the method: its selections are not nested


def ranked(mix: Mix, method: str, k: int, params: dict, cache: Path) -> list[int]:
    """The first ``k`` source indices in the method's ranking (a set method's selection of ``k``)."""
    cut = {key: params[key] for key in CUT_OPTIONS if key in params}
    params = {key: value for key, value in params.items() if key not in cut}
    if method_class(method).parameter("cache_dir") is not None:
        params = {"cache_dir": str(cache), "max_seq_length": 128, **params}
    result = zipfit.select(mix.records(), mix.targets, k=k, method=method, workers=1, seed=mix.seed,
                           progress=False, params=params, **cut)
    return [int(i) for i in result.table.column("id").to_pylist()]


def parse_arm(spec: str) -> tuple[str, dict]:
    """``zipfit-ml:ml_level=3,length_match=false`` -> ("zipfit-ml", {"ml_level": 3, "length_match": False})."""
    method, _, rest = spec.partition(":")
    params: dict = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        params[key] = next((kind(value) for kind in (int, float) if _parses(kind, value)),
                           {"true": True, "false": False}.get(value, value))
    return method, params


def _parses(kind: type, value: str) -> bool:
    try:
        kind(value)
    except ValueError:
        return False
    return True


def run(arms: list[str], tasks: list[str], seeds: list[int], n_sources: int, n_targets: int,
        prevalence: float, shares: list[float], cache: Path) -> list[dict]:
    rows = []
    for task in tasks:
        for seed in seeds:
            mix = build_mix(task, n_sources=n_sources, n_targets=n_targets, prevalence=prevalence, seed=seed,
                            data=DATA)
            ks = [max(1, round(share * len(mix.texts))) for share in shares]
            for arm in arms:
                method, params = parse_arm(arm)
                row: dict = {"task": task, "seed": seed, "method": arm}
                if method_class(method).kind == SET or any(key in params for key in CUT_OPTIONS):
                    # a set method's (or a stratified cut's) selections are not nested: one selection per K,
                    # timed at the middle K
                    for k in ks:
                        start = time.perf_counter()
                        q = quality(mix, ranked(mix, method, k, params, cache))
                        row[k] = q
                        if k == ks[len(ks) // 2]:
                            row["seconds"] = time.perf_counter() - start
                else:
                    start = time.perf_counter()
                    order = ranked(mix, method, max(ks), params, cache)
                    row["seconds"] = time.perf_counter() - start
                    for k in ks:
                        row[k] = quality(mix, order[:k])
                row["ks"] = ks
                rows.append(row)
                q = row[ks[len(ks) // 2]]
                print(f"  {task} seed {seed} {arm}: P@{ks[len(ks) // 2]} {q.precision:.2f} "
                      f"len {q.length_ratio:.2f} {row['seconds']:.1f}s", file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict], shares: list[float], per_task: bool) -> str:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[("all", row["method"])].append(row)
        if per_task:
            groups[(row["task"], row["method"])].append(row)
    head = ["task", "method"] + [f"P@{s:.0%}" for s in shares] + [f"R@{s:.0%}" for s in shares] + \
        [f"length ratio @{shares[len(shares) // 2]:.0%}", "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (task, method), members in groups.items():
        cells = [task, f"`{method}`"]
        mean = statistics.mean
        precision = [mean(r[r["ks"][j]].precision for r in members) for j in range(len(shares))]
        recall = [mean(r[r["ks"][j]].recall for r in members) for j in range(len(shares))]
        spread = [min(r[r["ks"][j]].precision for r in members) for j in range(len(shares))]
        cells += [f"{p:.2f} (min {m:.2f})" for p, m in zip(precision, spread, strict=True)]
        cells += [f"{r:.2f}" for r in recall]
        cells.append(f"{mean(r[r['ks'][len(shares) // 2]].length_ratio for r in members):.2f}")
        cells.append(f"{mean(r['seconds'] for r in members):.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=None, metavar="METHOD[:NAME=VALUE,...]",
                    help="default: every method but embed and d4")
    ap.add_argument("--embed", action="store_true", help="also run embed and d4 (MiniLM embeddings)")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--sources", type=int, default=1200, help="source documents per task")
    ap.add_argument("--targets", type=int, default=100, help="target examples per task")
    ap.add_argument("--prevalence", type=float, default=0.1, help="share of the source from the target's domain")
    ap.add_argument("--shares", nargs="+", type=float, default=[0.01, 0.05, 0.1], help="K as shares of N")
    ap.add_argument("--per-task", action="store_true", help="also a row per task")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/zipfit-bench-quality-embeddings"))
    args = ap.parse_args()
    methods = args.methods or [m for m in [*BASE_METHODS, "zipfit-ml"] if m in method_names()]
    if args.embed:
        methods += [m for m in EMBEDDING_METHODS if m not in methods]
    start = time.perf_counter()
    rows = run(methods, args.tasks, args.seeds, args.sources, args.targets, args.prevalence, args.shares,
               args.cache)
    print(f"{len(args.tasks)} tasks x {len(args.seeds)} seeds, {args.sources} sources, {args.targets} targets, "
          f"prevalence {args.prevalence:g}; {time.perf_counter() - start:.0f} s in all")
    print(table(rows, args.shares, args.per_task))


if __name__ == "__main__":
    main()
