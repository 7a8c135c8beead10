"""Dataset-level alignment vs CE under several scores: the paper's ZIP-FIT alignment and the scores that
correct its length bias (zipfit-debiased, zipfit-ml), each with R², a Fisher-z interval and a test of the
paper's R² = 0.90 (GPT-2; higher alignment, lower CE, so r = −√0.90 ≈ −0.95)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from zipfit.harness.metrics import CorrelationInterval, LinearFit, correlation_interval, linear_fit, mean_std

PAPER_R2 = 0.90
PAPER_R = -math.sqrt(PAPER_R2)  # the paper's relation is negative: more aligned data, lower loss
INTERVAL = "95% Fisher-z interval of Pearson's r over the datasets (approximate for few points), squared for R²"


def alignment_scores(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """Per score: the points (one per source dataset: its sample's mean score, its final CE), the line, R², the
    interval and whether the paper's value lies in it."""
    scores = summary.get("alignment_scores") or {}
    runs = [r for r in summary.get("runs", []) if r.get("kind") == "dataset"]
    if not scores.get("methods") or not runs:
        return None
    out = []
    for method in scores["methods"]:
        points = []
        for d in summary.get("datasets", []):
            mine = [r["curve"][-1]["ce_nats"] for r in runs if r.get("domain") == d["domain"]]
            value = scores.get("datasets", {}).get(d["domain"], {}).get(method)
            if mine and value is not None:
                points.append({"label": d["domain"], "score": value, "ce": mean_std(mine)[0]})
        xs, ys = [p["score"] for p in points], [p["ce"] for p in points]
        fit = linear_fit(xs, ys) if len(points) >= 2 and len(set(xs)) >= 2 else None
        ci = correlation_interval(xs, ys)
        out.append({"method": method, "points": points, "fit": fit, "interval": ci,
                    "paper_inside": None if ci is None else ci.r_low <= PAPER_R <= ci.r_high})
    return {"methods": out}


def claim_sentence(method: str, fit: LinearFit | None, ci: CorrelationInterval | None) -> str:
    """Whether this experiment's datasets are consistent with the paper's R² = 0.90, in words fixed by the
    interval."""
    if fit is None:
        return f"{method}: too few datasets (or no spread in the score) to fit a line."
    head = f"{method}: R² = {fit.r2:.2f} over {fit.n} datasets"
    if ci is None:
        return f"{head}; too few datasets (n < 4) for an interval, so the paper's R² = {PAPER_R2:.2f} is not tested."
    r_text = f"r = {ci.r:+.2f}, 95% interval [{ci.r_low:+.2f}, {ci.r_high:+.2f}]; R² in [{ci.r2_low:.2f}, " \
             f"{ci.r2_high:.2f}]"
    if ci.r_low <= PAPER_R <= ci.r_high:
        verdict = (f"consistent with the paper's R² = {PAPER_R2:.2f} (r = {PAPER_R:.2f} is inside the interval), "
                   "though an interval this wide cannot confirm it either" if ci.r_high - ci.r_low > 0.5 else
                   f"consistent with the paper's R² = {PAPER_R2:.2f} (r = {PAPER_R:.2f} is inside the interval)")
    elif ci.r_low > PAPER_R:
        verdict = (f"the paper's R² = {PAPER_R2:.2f} (r = {PAPER_R:.2f}) is outside the interval: the relation here "
                   "is weaker than the paper's (rejected at the 5% level)")
    else:
        verdict = f"stronger than the paper's R² = {PAPER_R2:.2f} (r = {PAPER_R:.2f} is above the interval)"
    return f"{head} ({r_text}): {verdict}."


def section(a: Mapping[str, Any] | None, plot: str | None) -> list[str]:
    if not a or not a["methods"]:
        return []
    names = [m["method"] for m in a["methods"]]
    lines = ["## Alignment vs CE under each score", "",
             "The same source datasets and runs as above, each dataset's alignment taken as its sample's mean "
             "score under each method (read from the method's scores of the whole mix). `zipfit` is the paper's "
             "alignment; the others correct its preference for short documents. Interval: " + INTERVAL + ".", "",
             "| dataset | final CE | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    labels = list(dict.fromkeys(p["label"] for m in a["methods"] for p in m["points"]))
    for label in labels:
        values = []
        ce = None
        for m in a["methods"]:
            p = next((p for p in m["points"] if p["label"] == label), None)
            values.append(f"{p['score']:.4f}" if p else "—")
            ce = p["ce"] if p else ce
        lines.append(f"| {label} | {ce:.3f} | " + " | ".join(values) + " |")
    lines.append("")
    for m in a["methods"]:
        lines.append("- " + claim_sentence(m["method"], m["fit"], m["interval"]))
    lines.append("")
    if plot:
        lines += [f"![alignment vs CE under each score]({plot})", ""]
    return lines


def to_json(a: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for m in (a or {}).get("methods", []):
        fit, ci = m["fit"], m["interval"]
        rows.append({"score": m["method"], "points": m["points"], "n": len(m["points"]),
                     "slope": fit.slope if fit else None, "intercept": fit.intercept if fit else None,
                     "r2": fit.r2 if fit else None, "p_value": fit.p_value if fit else None,
                     "r": ci.r if ci else None, "r_low": ci.r_low if ci else None, "r_high": ci.r_high if ci else None,
                     "r2_low": ci.r2_low if ci else None, "r2_high": ci.r2_high if ci else None,
                     "paper_r2": PAPER_R2, "paper_inside_interval": m["paper_inside"], "interval": INTERVAL})
    return rows


def figure(a: Mapping[str, Any]) -> Any:
    """One panel per score: the datasets' points and the least-squares line, R² and its interval in the title."""
    from zipfit.harness.plot import new_figure

    methods = a["methods"]
    fig = new_figure((4.2 * len(methods), 4.2))
    axes = fig.subplots(1, len(methods), squeeze=False)[0]
    for ax, m in zip(axes, methods, strict=True):
        xs, ys = [p["score"] for p in m["points"]], [p["ce"] for p in m["points"]]
        ax.plot(xs, ys, "o", color="C0")
        for p in m["points"]:
            ax.annotate(p["label"], (p["score"], p["ce"]), textcoords="offset points", xytext=(4, 4),
                        fontsize="x-small")
        fit, ci = m["fit"], m["interval"]
        title = m["method"]
        if fit is not None:
            x0, x1 = min(xs), max(xs)
            ax.plot([x0, x1], [fit.slope * x0 + fit.intercept, fit.slope * x1 + fit.intercept], "-", color="black",
                    linewidth=1)
            title += f": R² = {fit.r2:.2f}"
            if ci is not None:
                title += f" [{ci.r2_low:.2f}, {ci.r2_high:.2f}]"
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel(f"mean {m['method']} score of the dataset")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("eval CE after training (nats/token)")
    return fig
