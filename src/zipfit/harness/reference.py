"""The whole-source reference: one shuffled pass over the entire source mix, drawn next to every budget's
curves and put in its table as "whole source, N tokens"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from zipfit.harness.metrics import mean_curve, mean_std, tokens_to_reach

LABEL = "whole source"


def reference_stats(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """Mean curve and final CE (mean, std over seeds) of the reference runs; None when none ran."""
    runs = [r for r in summary.get("runs", []) if r.get("kind") == "reference"]
    if not runs:
        return None
    finals = [r["curve"][-1] for r in runs]
    ce, ce_std = mean_std([p["ce_nats"] for p in finals])
    bpb, bpb_std = mean_std([p["bits_per_byte"] for p in finals])
    curve = mean_curve([([p["tokens"] for p in r["curve"]], [p["ce_nats"] for p in r["curve"]]) for r in runs])
    info = summary.get("reference", {})
    return {"seeds": sorted(r["seed"] for r in runs), "ce": ce, "ce_std": ce_std, "bpb": bpb, "bpb_std": bpb_std,
            "tokens": mean_std([p["tokens"] for p in finals])[0], "curve": curve,
            "initial_ce": mean_std([r["curve"][0]["ce_nats"] for r in runs])[0],
            "documents": info.get("documents"), "max_tokens": info.get("max_tokens")}


def at_budget(ref: Mapping[str, Any], budget: int, bar: float | None) -> dict[str, Any]:
    """The reference's mean curve read at a budget's token count (None past its end), and where it reaches the
    budget's bar."""
    curve = ref["curve"]
    tokens = curve.tokens.astype(float)
    ce = float(np.interp(budget, tokens, curve.mean)) if budget <= tokens[-1] else None
    reach = tokens_to_reach(tokens.tolist(), curve.mean.tolist(), bar) if bar is not None else None
    return {"ce_at_budget": ce, "reach": reach}


def row_name(ref: Mapping[str, Any]) -> str:
    return f"{LABEL}, {ref['tokens']:,.0f} tokens"


def table_row(ref: Mapping[str, Any], here: Mapping[str, Any], pm: Any) -> str:
    """A row of a budget's results table, with the columns the methods' rows have."""
    reach = f"{here['reach']:,.0f}" if here["reach"] is not None else "not reached"
    return (f"| {row_name(ref)} | {len(ref['seeds'])} | {ref['initial_ce']:.3f} | {pm(ref['ce'], ref['ce_std'])} "
            f"| {pm(ref['bpb'], ref['bpb_std'])} | {ref['tokens']:,.0f} | {reach} | — | — | — |")


def note(ref: Mapping[str, Any], budget: int, here: Mapping[str, Any]) -> list[str]:
    capped = f" (capped at {ref['max_tokens']:,} tokens)" if ref.get("max_tokens") else ""
    text = (f"\"{row_name(ref)}\" is the reference: one shuffled pass over the whole source mix{capped}, "
            "decontaminated like the selections, with no selection at all.")
    if here["ce_at_budget"] is not None:
        text += (f" Its mean curve is at CE {here['ce_at_budget']:.3f} after {budget:,} tokens; its learning-rate "
                 f"schedule spans all {ref['tokens']:,.0f} tokens, so that point is not a {budget:,}-token run.")
    return [text, ""]


def draw(ax: Any, ref: Mapping[str, Any], budget: int) -> None:
    """The reference's mean curve over the budget's range (and one interpolated point at the budget)."""
    curve = ref["curve"]
    tokens = curve.tokens.astype(float)
    keep = tokens <= budget
    xs: Sequence[float] = tokens[keep].tolist()
    ys: Sequence[float] = curve.mean[keep].tolist()
    if budget < tokens[-1] and (not xs or xs[-1] < budget):
        xs = [*xs, float(budget)]
        ys = [*ys, float(np.interp(budget, tokens, curve.mean))]
    ax.plot(xs, ys, "-.", color="black", linewidth=1.2, clip_on=False,
            label=f"{row_name(ref)} ({len(ref['seeds'])} seed{'s' if len(ref['seeds']) > 1 else ''}): "
                  f"final {ref['ce']:.3f}")
