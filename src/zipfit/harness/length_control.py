"""The length control: each method's selection at one budget cut again from the same scores with
``--length-strata N``, trained with the main runs' seeds so the two pair by seed.

``measure`` reads how a score relates to length (Spearman over the scored mix) and how long the two selections
run against the source (median length ratio); the rest turns the runs into the report's table and JSON."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from zipfit.harness.metrics import mean_std, paired_difference, spearman
from zipfit.harness.paired import CONFIDENCE, INTERVAL, difference_cell, finals
from zipfit.harness.sourcemix import read_records

SIDES = ("plain", "stratified")


def measure(scores: Path, selections: Mapping[str, Path], domains: Mapping[str, str] | None = None
            ) -> dict[str, Any]:
    """Over the documents the method scored (those a selection could take): Spearman's correlation of the score
    with length in characters, and their median length; per selection file, its median length, the ratio to
    the source's and Spearman within it. Lengths are the score dataset's ``n_chars`` for both sides of the
    ratio, so they count the same way.

    With ``domains`` (document id → source dataset): Spearman within each source dataset too, and their mean
    weighted by documents. Source datasets differ in length and in fit to the target, so the correlation over
    the whole mix can come from which dataset a document is in more than from its length."""
    import pyarrow.parquet as pq

    table = pq.read_table(scores, columns=["id", "score", "n_chars", "status"]).to_pydict()
    scored = [i for i, status in enumerate(table["status"]) if status == "scored"]
    score = np.asarray([table["score"][i] for i in scored], dtype=np.float64)
    chars = np.asarray([table["n_chars"][i] for i in scored], dtype=np.float64)
    source_median = float(np.median(chars)) if chars.size else 0.0
    # the mix gives every document a unique id, which both the score dataset and the selections keep
    position = {table["id"][i]: k for k, i in enumerate(scored)}
    out: dict[str, Any] = {"scored": len(scored), "source_median_chars": source_median,
                           "spearman": spearman(score, chars)}
    if domains is not None:
        labels = np.asarray([domains.get(table["id"][i], "") for i in scored])
        within = {}
        for d in sorted(set(labels.tolist())):
            mask = labels == d
            within[d] = {"documents": int(mask.sum()), "spearman": spearman(score[mask], chars[mask])}
        counted = [(w["documents"], w["spearman"]) for w in within.values() if w["spearman"] is not None]
        out["spearman_by_domain"] = within
        out["spearman_within_domains"] = (sum(n * r for n, r in counted) / sum(n for n, _ in counted)
                                          if counted else None)
    for side, path in selections.items():
        picked = [position[k] for k in (str(r.get("id")) for r in read_records(path)) if k in position]
        median = float(np.median(chars[picked])) if picked else None
        out[side] = {"documents": len(picked), "median_chars": median,
                     "ratio": median / source_median if median is not None and source_median else None,
                     "spearman": spearman(score[picked], chars[picked])}
    return out


def _top_domain(plain: Mapping[str, Any]) -> str | None:
    domains = plain.get("domains") or {}
    return max(domains, key=lambda d: domains[d]["tokens"]) if domains else None


def _token_share(selection: Mapping[str, Any] | None, domain: str | None) -> float | None:
    if not selection or domain is None:
        return None
    total = max(int(selection.get("tokens", 0)), 1)
    return selection.get("domains", {}).get(domain, {"tokens": 0})["tokens"] / total


def length_control_stats(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """Per method: the length numbers of ``measure``, the token share of the plain selection's largest domain in
    both selections, final CE of both (mean and std over the stratified runs' seeds) and the paired difference
    stratified − plain."""
    info = summary.get("length_control") or {}
    runs = summary.get("runs", [])
    mine = [r for r in runs if r.get("kind") == "length"]
    if not mine or not info:
        return None
    budget = info["budget"]
    seeds = {r["seed"] for r in mine}
    plain_selections = {s["method"]: s for s in summary.get("selections", []) if s["budget"] == budget}
    stratified_selections = {s["method"]: s for s in info.get("selections", [])}
    domains = list(summary.get("mix", {}).get("domains", {}))
    methods: dict[str, dict[str, Any]] = {}
    for method in info.get("methods") or sorted({r["method"] for r in mine}):
        got = finals([r for r in mine if r["method"] == method])
        if not got:
            continue
        plain = finals([r for r in runs if r.get("kind") == "selection" and r["method"] == method
                        and r["budget"] == budget and r["seed"] in seeds])
        domain = _top_domain(plain_selections.get(method, {}))
        row: dict[str, Any] = {"lengths": info.get("lengths", {}).get(method, {}), "top_domain": domain,
                               "top_domain_share": {"plain": _token_share(plain_selections.get(method), domain),
                                                    "stratified": _token_share(stratified_selections.get(method),
                                                                               domain)},
                               "domain_shares": {d: {"plain": _token_share(plain_selections.get(method), d),
                                                     "stratified": _token_share(stratified_selections.get(method), d)}
                                                 for d in domains},
                               "vs_plain": paired_difference(got, plain, CONFIDENCE)}
        for side, values in (("plain", plain), ("stratified", got)):
            row[side] = None
            if values:
                ce, std = mean_std(list(values.values()))
                row[side] = {"ce": ce, "ce_std": std, "seeds": len(values)}
        methods[method] = row
    return {"strata": info["strata"], "budget": budget, "domains": domains, "methods": methods}


def _ce(c: Mapping[str, Any] | None) -> str:
    if c is None:
        return "—"
    return f"{c['ce']:.3f}" + (f" ± {c['ce_std']:.3f}" if c["ce_std"] is not None else "")


def _arrow(a: float | None, b: float | None, fmt: str, unit: str = "") -> str:
    return " → ".join("—" if v is None else format(v, fmt) + unit for v in (a, b))


def _shares(share: Mapping[str, float | None]) -> str:
    return _arrow(*(None if share[side] is None else 100 * share[side] for side in SIDES), ".0f", "%")


def section(lc: Mapping[str, Any] | None) -> list[str]:
    if not lc or not lc["methods"]:
        return []
    n = lc["strata"]
    lines = [f"## Length control (--length-strata {n})", "",
             f"Each method's selection at {lc['budget']:,} training tokens cut again from the same scores with "
             f"`--length-strata {n}`: the budget is split over {n} equal-count length strata of the scored source "
             "documents (by tokens), each filled with its share of the source's tokens, so the selection keeps the "
             "source's length distribution. Each stratified selection is trained with the seeds of the main runs "
             "and paired with the main (plain) run of its seed.", "",
             "- Spearman: rank correlation of the method's score with document length (characters) over every "
             "document it scored (positive: the score ranks longer documents higher); \"within\": the same inside "
             "each source dataset, averaged weighted by documents (source datasets differ in length, so the first "
             "can reflect which dataset a document is in).",
             "- Length ratio: the selection's median length / the scored source's median length (characters).",
             "- Top domain: the source dataset with the largest share of the plain selection's tokens, and its "
             "share in each selection.", "",
             "| method | Spearman (score, length): mix / within | length ratio plain → stratified | top domain, "
             "token share plain → stratified | final CE plain | final CE stratified | stratified − plain |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for method, m in lc["methods"].items():
        ln = m["lengths"]
        rho = " / ".join("—" if ln.get(k) is None else f"{ln[k]:+.2f}" for k in ("spearman", "spearman_within_domains"))
        ratio = _arrow((ln.get("plain") or {}).get("ratio"), (ln.get("stratified") or {}).get("ratio"), ".2f")
        domain = "—" if m["top_domain"] is None else f"{m['top_domain']}: {_shares(m['top_domain_share'])}"
        lines.append(f"| {method} | {rho} | {ratio} | {domain} | {_ce(m['plain'])} | {_ce(m['stratified'])} "
                     f"| {difference_cell(m['vs_plain'])} |")
    lines += ["", f"Stratified − plain: final CE per training seed (negative = the length-stratified selection's "
              f"loss is lower). Interval: {INTERVAL}; an interval that contains 0 is marked \"not "
              "distinguishable\".", ""]
    domains = lc.get("domains") or []
    if domains:
        lines += ["Share of each selection's tokens per source dataset, plain → stratified:", "",
                  "| method | " + " | ".join(domains) + " |", "|---|" + "---:|" * len(domains)]
        for method, m in lc["methods"].items():
            lines.append(f"| {method} | " + " | ".join(_shares(m["domain_shares"][d]) for d in domains) + " |")
        lines.append("")
    return lines


def to_json(lc: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for method, m in (lc or {}).get("methods", {}).items():
        d = m["vs_plain"]
        rows.append({"method": method, "budget": lc["budget"], "strata": lc["strata"], "lengths": m["lengths"],
                     "top_domain": m["top_domain"], "top_domain_share": m["top_domain_share"],
                     "domain_shares": m["domain_shares"],
                     "plain": m["plain"], "stratified": m["stratified"],
                     "vs_plain": None if d is None else {"mean": d.mean, "low": d.low, "high": d.high, "seeds": d.n,
                                                         "differences": d.diffs, "includes_zero": d.includes_zero,
                                                         "interval": INTERVAL}})
    return rows
