"""Redraw the plots of an experiment report that was published without its experiment.json, from the numbers in
its report.md, training nothing.

Usage: python experiments/redraw_from_report.py docs/results/NAME [...]

`zipfit experiment --redraw DIR` is the way to redraw a finished experiment: it reads DIR/experiment.json, which
holds every evaluation of every run. The reports in docs/results were published before that existed and without
their experiment.json, so this script rebuilds what report.md's tables hold, and redraws only the plots those
numbers determine completely:

- a budget's curve plot when every run of it has two evaluations (before and after training, which the table
  gives: "CE before training", final CE, tokens trained) and one seed per method (a mean over seeds would need
  each seed's numbers);
- the alignment plot when its points have one seed each (alignment and CE as the table rounds them: 4 and 3
  decimals, so the line refitted for the plot can differ from the original in the last printed digit).

A curve plot with evaluations between the first and the last cannot be redrawn from the report: the script says
so, and that plot is left as it is. The fit sentence of report.md is rewritten with the wording that follows the
p-value.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any

from zipfit.harness.metrics import LinearFit
from zipfit.harness.report import _fit_sentence, analyse, plot_alignment, plot_budget

NUMBER = r"-?[\d,]+(?:\.\d+)?"


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _rows(lines: list[str], start: int) -> list[list[str]]:
    """The cells of the Markdown table that begins at or after ``start`` (header and rule skipped)."""
    i = start
    while i < len(lines) and not lines[i].startswith("|"):
        i += 1
    out = []
    for line in lines[i + 2 :]:
        if not line.startswith("|"):
            break
        out.append([c.strip() for c in line.strip().strip("|").split("|")])
    return out


def _section(lines: list[str], heading: re.Pattern) -> list[tuple[int, re.Match]]:
    return [(i, m) for i, line in enumerate(lines) if (m := heading.match(line))]


def rebuild(report: str) -> tuple[dict[str, Any], list[int], list[str]]:
    """(a partial experiment summary, the budgets whose curve plots it determines, why others are left out)."""
    lines = report.splitlines()
    methods_line = next(line for line in lines if line.startswith("- Methods: "))
    methods = [m.strip() for m in methods_line.removeprefix("- Methods: ").split(";")[0].split(",")]
    baselines_text = re.search(r"baselines \(every method but ZIP-FIT's\): ([^.]*)\.", methods_line)
    baselines = [] if baselines_text is None or baselines_text[1] == "none" else \
        [b.strip() for b in baselines_text[1].split(",")]
    runs: list[dict[str, Any]] = []
    budgets, skipped = [], []
    for i, m in _section(lines, re.compile(r"## Results at ([\d,]+) training tokens")):
        budget = int(_num(m[1]))
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
        two_points = any("Only two evaluations per run" in line for line in lines[i:end])
        rows = _rows(lines, next(j for j in range(i, end) if lines[j].startswith("| method | seeds |")))
        one_seed = all(int(r[1]) == 1 for r in rows)
        if not (two_points and one_seed):
            skipped.append(f"curves-{budget}.png: " + ("runs with evaluations between the first and the last, which "
                                                      "report.md does not list" if not two_points else
                                                      "a mean over several seeds, whose single runs report.md "
                                                      "does not list"))
            continue
        budgets.append(budget)
        for r in rows:
            method = r[0].strip("*")
            initial, final, bpb, tokens = _num(r[2]), _num(r[3]), _num(r[4]), int(_num(r[5]))
            runs.append({"kind": "selection", "method": method, "budget": budget, "seed": 0, "curve": [
                {"tokens": 0, "ce_nats": initial, "bits_per_byte": math.nan},
                {"tokens": tokens, "ce_nats": final, "bits_per_byte": bpb}]})
    datasets = []
    for i, m in _section(lines, re.compile(r"## Dataset alignment vs target CE \(([\d,]+) training tokens each\)")):
        budget = int(_num(m[1]))
        rows = _rows(lines, i + 1)
        if any("±" in r[2] for r in rows) or any(r[0].endswith("(selection)") for r in rows):
            skipped.append("alignment.png: points over several seeds or selections, which report.md rounds away")
            continue
        for r in rows:
            name = r[0].removesuffix(" (dataset)")
            datasets.append({"domain": name, "budget": budget, "alignment": _num(r[1]), "tokens": int(_num(r[3])),
                             "documents": int(_num(r[4]))})
            runs.append({"kind": "dataset", "domain": name, "method": "random", "budget": budget, "seed": 0,
                         "curve": [{"tokens": int(_num(r[3])), "ce_nats": _num(r[2]), "bits_per_byte": math.nan}]})
    summary = {"config": {"methods": methods, "per_dataset": {"include_selections": True}}, "baselines": baselines,
               "runs": runs, "datasets": datasets, "selections": []}
    return summary, budgets, skipped


def redraw_from_report(directory: Path) -> list[str]:
    """Redraw what ``directory/report.md`` determines; returns one line per plot, redrawn or left as it is."""
    report_path = directory / "report.md"
    report = report_path.read_text(encoding="utf-8")
    summary, budgets, skipped = rebuild(report)
    analysis = analyse(summary)
    done = []
    for b in analysis["budgets"]:
        if b["budget"] in budgets:
            plot_budget(b, directory / "plots" / f"curves-{b['budget']}.png")
            done.append(f"redrawn: curves-{b['budget']}.png")
    a = analysis["alignment"]
    if a["datasets"]:
        plot_alignment(a, directory / "plots" / "alignment.png")
        done.append("redrawn: alignment.png")
        old = next(line for line in report.splitlines() if line.startswith("- Source datasets only"))
        # the numbers as first computed (from unrounded points), only the wording new
        m = re.search(rf"CE = ({NUMBER}) × alignment \+ ({NUMBER}), R² = ({NUMBER}) \(n = (\d+), p = ({NUMBER})\)",
                      old)
        fit = LinearFit(_num(m[1]), _num(m[2]), _num(m[3]), _num(m[5]), int(m[4])) if m else a["fit_datasets"]
        new = "- " + _fit_sentence(fit, "Source datasets only (the paper's fit)")
        report_path.write_text(report.replace(old, new), encoding="utf-8")
        done.append(f"report.md: {old!r}\n        -> {new!r}")
    return done + [f"left as it is: {why}" for why in skipped]


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(arg)
        for line in redraw_from_report(Path(arg)):
            print("   ", line)
