"""The target-size ablation: final CE against the number of target examples a method was given (n = 10, 25, ...
and all of them), per method, at one budget. Each seed draws its own nested subsets of the target, so the
spread over seeds includes which examples were drawn."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zipfit.harness.metrics import mean_std, paired_difference
from zipfit.harness.paired import CONFIDENCE, INTERVAL, difference_cell, finals


def ablation_stats(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """Per method: per target size (and "all"), final CE mean and std over seeds, and the paired difference
    from the run with all target examples (same seed)."""
    runs = summary.get("runs", [])
    mine = [r for r in runs if r.get("kind") == "ablation"]
    info = summary.get("ablation") or {}
    if not mine or not info:
        return None
    budget = info["budget"]
    total = info.get("target_examples")
    seeds = {r["seed"] for r in mine}
    sizes = sorted({r["target_size"] for r in mine})
    order = summary.get("config", {}).get("ablation", {}).get("methods") or sorted({r["method"] for r in mine})
    methods: dict[str, dict[str, Any]] = {}
    for method in order:
        full = finals([r for r in runs if r.get("kind") == "selection" and r["method"] == method
                       and r["budget"] == budget and r["seed"] in seeds])
        cells: dict[str, dict[str, Any]] = {}
        for n in sizes:
            got = finals([r for r in mine if r["method"] == method and r["target_size"] == n])
            if got:
                ce, std = mean_std(list(got.values()))
                cells[str(n)] = {"target_size": n, "ce": ce, "ce_std": std, "seeds": len(got),
                                 "vs_all": paired_difference(got, full, CONFIDENCE)}
        if full:
            ce, std = mean_std(list(full.values()))
            cells["all"] = {"target_size": total, "ce": ce, "ce_std": std, "seeds": len(full), "vs_all": None}
        if cells:
            methods[method] = cells
    # random over the ablation's seeds, like the "all" column: with fewer seeds than the main runs, a mean over
    # every seed would compare differently averaged numbers
    rand = finals([r for r in runs if r.get("kind") == "selection" and r["method"] == "random"
                   and r["budget"] == budget and r["seed"] in seeds])
    return {"budget": budget, "target_examples": total, "sizes": sizes, "methods": methods, "seeds": sorted(seeds),
            "random": mean_std(list(rand.values()))[0] if rand else None}


def _cell(c: Mapping[str, Any] | None) -> str:
    if c is None:
        return "—"
    spread = f" ± {c['ce_std']:.3f}" if c["ce_std"] is not None else ""
    return f"{c['ce']:.3f}{spread}"


def section(ab: Mapping[str, Any] | None, plot: str | None) -> list[str]:
    if not ab or not ab["methods"]:
        return []
    sizes = [str(n) for n in ab["sizes"]]
    total = ab["target_examples"]
    lines = [f"## Target-size ablation ({ab['budget']:,} training tokens)", "",
             "Each method selected with only n target examples: a seeded subset of the target for each training "
             "seed, nested" + (f" (a seed's {sizes[0]} examples are among its {sizes[1]})" if len(sizes) > 1 else "")
             + ". \"all\" is the main run"
             + (f" with all {total:,}" if total else "") + ". " + _what_the_cells_are(ab.get("seeds", [])), "",
             "| method | " + " | ".join(f"n = {n}" for n in sizes) + " | all |",
             "|---|" + "---:|" * (len(sizes) + 1)]
    for method, cells in ab["methods"].items():
        lines.append(f"| {method} | " + " | ".join(_cell(cells.get(n)) for n in [*sizes, "all"]) + " |")
    if ab["random"] is not None:
        lines += ["", f"Random selection at the same budget: final CE {ab['random']:.3f}."]
    lines += ["", f"Paired difference from \"all\" (n − all, per seed; positive = fewer target examples gave a higher "
              f"loss). Interval: {INTERVAL}.", "",
              "| method | " + " | ".join(f"n = {n}" for n in sizes) + " |", "|---|" + "---:|" * len(sizes)]
    for method, cells in ab["methods"].items():
        lines.append(f"| {method} | " + " | ".join(difference_cell((cells.get(n) or {}).get("vs_all"))
                                                    for n in sizes) + " |")
    lines.append("")
    if plot:
        lines += [f"![final CE vs number of target examples]({plot})", ""]
    return lines


def _what_the_cells_are(seeds: list[int]) -> str:
    if len(seeds) == 1:
        return f"Final CE with training seed {seeds[0]} (one seed, so no spread; \"all\" and random: that seed's run):"
    return "Final CE, mean ± std over seeds:"


def to_json(ab: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for method, cells in (ab or {}).get("methods", {}).items():
        for key, c in cells.items():
            d = c["vs_all"]
            rows.append({"method": method, "target_size": key, "examples": c["target_size"], "ce": c["ce"],
                         "ce_std": c["ce_std"], "seeds": c["seeds"],
                         "vs_all": None if d is None else {"mean": d.mean, "low": d.low, "high": d.high,
                                                           "seeds": d.n, "includes_zero": d.includes_zero}})
    return rows


def figure(ab: Mapping[str, Any]) -> Any:
    """Final CE against the number of target examples (log axis), one line per method with ± std bars; "all"
    at the full target size; random's CE at the same budget dotted."""
    from matplotlib.ticker import NullLocator

    from zipfit.harness.plot import new_figure

    fig = new_figure((7.0, 4.6))
    ax = fig.subplots()
    spread = any((c["seeds"] or 0) > 1 for cells in ab["methods"].values() for c in cells.values())
    for method, cells in ab["methods"].items():
        points = sorted((c["target_size"], c) for c in cells.values() if c["target_size"])
        xs, ces = [n for n, _ in points], [c["ce"] for _, c in points]
        if spread:
            ax.errorbar(xs, ces, yerr=[c["ce_std"] or 0.0 for _, c in points], marker="o", capsize=3, label=method)
        else:  # no bars to draw, so none in the legend either
            ax.plot(xs, ces, marker="o", label=method)
    if ab["random"] is not None:
        ax.axhline(ab["random"], color="grey", linestyle=":", linewidth=0.8, label=f"random {ab['random']:.3f}")
    ax.set_xscale("log")
    # the sizes that ran as ticks, in plain numbers (a log axis would print 10^1)
    ticks = sorted({c["target_size"] for cells in ab["methods"].values() for c in cells.values() if c["target_size"]})
    ax.set_xticks(ticks, [f"{n} (all)" if n == ab["target_examples"] else str(n) for n in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("target examples given to the method")
    ax.set_ylabel("final eval CE (nats/token)")
    ax.set_title(f"target-size ablation at {ab['budget']:,} tokens: "
                 + ("mean ± std over seeds" if spread else "one seed, no error bars"))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig
