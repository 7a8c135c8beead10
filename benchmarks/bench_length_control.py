"""The length control's selections on the shipped experiments' mixes, without training: for each config, the
harness's own data, tokenizer, scoring and selection steps at the length control's budget, the selections cut
again with ``length_strata``, and the numbers the report's "Length control" section shows beside the CE
(Spearman of each score with length over the mix and within source datasets, the median-length ratio plain →
stratified, and each selection's token share per source dataset).

Steps are cached under ``--out/<config>``, as in ``zipfit experiment``, so a rerun only prints.

    python benchmarks/bench_length_control.py [--out /tmp/length-control] [autoformalization code prose]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from zipfit.harness.cache import StepCache
from zipfit.harness.config import load_config
from zipfit.harness.experiment import _Experiment
from zipfit.harness.extras import need

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def profile(name: str, out: Path) -> dict:
    cfg = load_config(EXPERIMENTS / f"{name}.toml")
    if not cfg.length_control.enabled:
        raise SystemExit(f"{name}.toml has no [length_control]")
    out.mkdir(parents=True, exist_ok=True)
    run = _Experiment(cfg, out, StepCache(out), need("zipfit.harness.train"), False)
    run._prepare()
    lc = cfg.length_control
    plain = [run._selection(m, lc.budget) for m in lc.methods]
    summary = run._length_summary(plain, run._length_selections())
    summary["plain"] = {r.data["method"]: r.data for r in plain}
    return summary


def shares(selection: dict) -> dict[str, float]:
    return {d: 100 * v["tokens"] / max(selection["tokens"], 1) for d, v in selection["domains"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=["autoformalization", "code", "prose"])
    parser.add_argument("--out", type=Path, default=Path("/tmp/length-control"))
    args = parser.parse_args()
    for name in args.configs:
        started = time.perf_counter()
        s = profile(name, args.out / name)
        stratified = {r["method"]: r for r in s["selections"]}
        print(f"\n{name}: {s['budget']:,} tokens, {s['strata']} strata ({time.perf_counter() - started:.0f} s)")
        print("| method | Spearman mix / within | length ratio plain → stratified | token shares plain → stratified |")
        print("|---|---:|---:|---|")
        for method, ln in s["lengths"].items():
            before, after = shares(s["plain"][method]), shares(stratified[method])
            moved = ", ".join(f"{d} {before.get(d, 0):.0f}% → {after.get(d, 0):.0f}%"
                              for d in sorted(set(before) | set(after), key=lambda d: -max(before.get(d, 0),
                                                                                             after.get(d, 0)))
                              if max(before.get(d, 0), after.get(d, 0)) >= 5)
            print(f"| {method} | {ln['spearman']:+.2f} / {ln['spearman_within_domains']:+.2f} | "
                  f"{ln['plain']['ratio']:.2f} → {ln['stratified']['ratio']:.2f} | {moved} |")
        (args.out / name / "length-control.json").write_text(json.dumps(s, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
