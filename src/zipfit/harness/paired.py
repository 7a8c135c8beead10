"""Paired differences of final CE between methods at one budget: the same training seed gives two runs the same
initialisation and block order, so the per-seed difference removes what they share, and a t-interval over seeds
says whether the difference is distinguishable from 0 at the number of seeds that ran."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from zipfit.harness.metrics import PairedDifference, paired_difference

CONFIDENCE = 0.95
INTERVAL = "95% Student-t interval over seeds (n − 1 degrees of freedom) of the per-seed difference"
RANDOM = "random"


def finals(runs: Sequence[Mapping[str, Any]]) -> dict[int, float]:
    """Final CE per training seed."""
    return {int(r["seed"]): float(r["curve"][-1]["ce_nats"]) for r in runs}


def budget_pairs(methods: Mapping[str, Mapping[str, Any]], bar_method: str | None
                 ) -> dict[str, dict[str, PairedDifference]]:
    """Every method against random and against the best baseline (the bar), where both ran with a common seed."""
    out: dict[str, dict[str, PairedDifference]] = {"random": {}, "bar": {}}
    for versus, other in (("random", RANDOM if RANDOM in methods else None), ("bar", bar_method)):
        if other is None or (versus == "bar" and other == RANDOM):
            continue  # random as the best baseline: its column would repeat the one before
        for method, stats in methods.items():
            if method == other:
                continue
            diff = paired_difference(stats["finals"], methods[other]["finals"], CONFIDENCE)
            if diff is not None:
                out[versus][method] = diff
    return out


def difference_cell(d: PairedDifference | None) -> str:
    """"−0.123 [−0.200, −0.046]", and the words a reader needs when the interval holds 0 or there is none."""
    if d is None:
        return "—"
    if d.low is None or d.high is None:
        return f"{d.mean:+.3f} (one seed: no interval)"
    cell = f"{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"
    if d.includes_zero:
        cell += f", not distinguishable at {d.n} seeds"
    return cell


def pairs_table(b: Mapping[str, Any]) -> list[str]:
    """The Markdown lines of a budget's paired-difference table (empty when there is nothing to pair)."""
    pairs = b.get("pairs", {})
    columns = [(key, title) for key, title in (("random", "vs random"),
                                               ("bar", f"vs the best baseline ({b.get('bar_method')})"))
               if pairs.get(key)]
    if not columns:
        return []
    lines = ["Paired differences of final CE (method − other, per training seed; negative = the method's loss is "
             f"lower). Interval: {INTERVAL}; an interval that contains 0 is marked \"not distinguishable\".", "",
             "| method | " + " | ".join(title for _, title in columns) + " |", "|---|" + "---:|" * len(columns)]
    for method in b["methods"]:
        if any(method in pairs[key] for key, _ in columns):
            lines.append(f"| {method} | " + " | ".join(difference_cell(pairs[key].get(method)) for key, _ in columns)
                         + " |")
    return [*lines, ""]


def pairs_json(budget: int, pairs: Mapping[str, Mapping[str, PairedDifference]], bar_method: str | None
               ) -> list[dict[str, Any]]:
    """The same numbers as rows for experiment.json."""
    rows = []
    for versus, by_method in pairs.items():
        other = RANDOM if versus == "random" else bar_method
        for method, d in by_method.items():
            rows.append({"budget": budget, "method": method, "versus": other, "mean": d.mean, "low": d.low,
                         "high": d.high, "seeds": d.n, "differences": d.diffs, "includes_zero": d.includes_zero,
                         "interval": INTERVAL})
    return rows
