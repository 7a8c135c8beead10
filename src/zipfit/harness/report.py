"""An experiment's report: the numbers (``analyse``), the Markdown (``render_report``) and the plots.

Everything is computed from the experiment's summary dict (``experiment.json``), so a report can be rebuilt,
or tested, without training anything. The wording is fixed by the numbers: where ZIP-FIT does not beat the
best baseline, the report says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zipfit.harness import ablation as ablation_part
from zipfit.harness import alignment_scores as scores_part
from zipfit.harness import length_control as length_part
from zipfit.harness import paired
from zipfit.harness import reference as reference_part
from zipfit.harness.config import ZIPFIT_METHODS
from zipfit.harness.metrics import LinearFit, linear_fit, mean_curve, mean_std, percent_faster, tokens_to_reach
from zipfit.harness.plot import new_figure, save_png
from zipfit.io import atomic_output

# ---- analysis ------------------------------------------------------------------------------------------------


def _method_stats(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    finals = [r["curve"][-1] for r in runs]
    ce, ce_std = mean_std([p["ce_nats"] for p in finals])
    bpb, bpb_std = mean_std([p["bits_per_byte"] for p in finals])
    curve = mean_curve([([p["tokens"] for p in r["curve"]], [p["ce_nats"] for p in r["curve"]]) for r in runs])
    return {"seeds": sorted(r["seed"] for r in runs), "ce": ce, "ce_std": ce_std, "bpb": bpb, "bpb_std": bpb_std,
            "tokens": mean_std([p["tokens"] for p in finals])[0], "curve": curve,
            "ce_min": min(p["ce_nats"] for p in finals), "ce_max": max(p["ce_nats"] for p in finals),
            "initial_ce": mean_std([r["curve"][0]["ce_nats"] for r in runs])[0],
            "train_seconds": sum(float(r.get("seconds", 0.0)) for r in runs), "finals": paired.finals(runs)}


def analyse(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Per budget: every method's final CE (mean, std over seeds), tokens to reach the best baseline's final CE,
    the paper's "% faster" and paired differences against random and the best baseline; the whole-source
    reference; the alignment-CE fit over per-dataset runs (and selections), also under other scores; and the
    target-size ablation."""
    baselines = set(summary.get("baselines", []))
    selections = {(s["method"], s["budget"]): s for s in summary.get("selections", [])}
    runs = [r for r in summary.get("runs", []) if r.get("kind") == "selection"]
    order = [m for m in summary.get("config", {}).get("methods", [])] or sorted({r["method"] for r in runs})
    budgets = sorted({r["budget"] for r in runs})
    per_budget = []
    ref = reference_part.reference_stats(summary)
    for budget in budgets:
        methods: dict[str, dict[str, Any]] = {}
        for method in order:
            mine = [r for r in runs if r["budget"] == budget and r["method"] == method]
            if mine:
                methods[method] = _method_stats(mine) | {"selection": selections.get((method, budget), {})}
        present = [m for m in methods if m in baselines]
        bar_method = min(present, key=lambda m: methods[m]["ce"]) if present else None
        bar = methods[bar_method]["ce"] if bar_method else None
        bar_tokens = methods[bar_method]["tokens"] if bar_method else None
        for stats in methods.values():
            curve = stats["curve"]
            stats["reach"] = tokens_to_reach(curve.tokens.tolist(), curve.mean.tolist(), bar) if bar else None
            stats["faster"] = percent_faster(stats["reach"], bar_tokens) if bar_tokens else None
        per_budget.append({"budget": budget, "methods": methods, "bar_method": bar_method, "bar": bar,
                           "bar_tokens": bar_tokens, "verdicts": _verdicts(methods, bar_method),
                           "pairs": paired.budget_pairs(methods, bar_method), "reference": ref,
                           "reference_here": reference_part.at_budget(ref, budget, bar) if ref else None})
    return {"budgets": per_budget, "alignment": _alignment(summary), "reference": ref,
            "ablation": ablation_part.ablation_stats(summary),
            "length_control": length_part.length_control_stats(summary),
            "alignment_scores": scores_part.alignment_scores(summary)}


def statistics(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The report's derived numbers as JSON (paired differences with intervals, the reference, the ablation,
    the alignment fits under each score), for experiment.json: the report recomputes them from the runs."""
    a = analyse(summary)
    pairs = [row for b in a["budgets"] for row in paired.pairs_json(b["budget"], b["pairs"], b["bar_method"])]
    ref = a["reference"]
    reference = None
    if ref is not None:
        reference = {"seeds": ref["seeds"], "tokens": ref["tokens"], "ce": ref["ce"], "ce_std": ref["ce_std"],
                     "bpb": ref["bpb"], "at_budgets": {str(b["budget"]): b["reference_here"] for b in a["budgets"]}}
    return {"paired_differences": pairs, "reference": reference, "ablation": ablation_part.to_json(a["ablation"]),
            "alignment_fits": scores_part.to_json(a["alignment_scores"]),
            "length_control": length_part.to_json(a["length_control"])}


def _spread(stats: Mapping[str, Any]) -> float:
    return stats["ce_std"] or 0.0


def _verdicts(methods: Mapping[str, Mapping[str, Any]], bar_method: str | None) -> list[str]:
    """One honest sentence per ZIP-FIT method: did it beat the best baseline, by how much, within noise?"""
    out = []
    ours = [m for m in methods if m in ZIPFIT_METHODS]
    if bar_method is None:
        return ["No baseline was run at this budget, so there is nothing to compare ZIP-FIT with."] if ours else []
    bar = methods[bar_method]
    for m in ours:
        s = methods[m]
        diff = s["ce"] - bar["ce"]
        noise = _spread(s) + _spread(bar)
        within = noise > 0 and abs(diff) <= noise
        seeds = len(s["seeds"])
        if s["reach"] is None:
            text = (f"**{m} did not win at this budget**: its final CE {s['ce']:.3f} stays above the best "
                    f"baseline's ({bar_method}, {bar['ce']:.3f}); it never reached that loss within its "
                    f"{s['tokens']:,.0f} tokens.")
        elif diff < 0:
            text = (f"{m} reached the best baseline's final CE ({bar_method}, {bar['ce']:.3f}) after "
                    f"{s['reach']:,.0f} tokens, {s['faster']:.1f}% faster by the paper's measure; its own final CE "
                    f"is {s['ce']:.3f} ({diff:+.3f}).")
        else:
            text = (f"{m} ends level with the best baseline ({bar_method}): final CE {s['ce']:.3f} vs "
                    f"{bar['ce']:.3f}, reached at {s['reach']:,.0f} tokens ({s['faster']:.1f}% faster).")
        if within:
            text += (f" The difference ({abs(diff):.3f}) is within the spread over seeds ({noise:.3f}, sum of the "
                     f"two standard deviations): not a reliable difference.")
        elif seeds < 2:
            text += " One seed only: no spread to judge the difference by."
        out.append(text)
    return out


def _fit_or_none(points: Sequence[Mapping[str, Any]]) -> LinearFit | None:
    xs = [p["alignment"] for p in points]
    if len(points) < 2 or len(set(xs)) < 2:
        return None
    return linear_fit(xs, [p["ce"] for p in points])


def _alignment(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Points (alignment, mean final CE) for each source dataset alone and, at the same budget, each selection."""
    runs = summary.get("runs", [])
    datasets = []
    budget = None
    for d in summary.get("datasets", []):
        mine = [r for r in runs if r.get("kind") == "dataset" and r.get("domain") == d["domain"]]
        if not mine:
            continue
        budget = d["budget"]
        ce, std = mean_std([r["curve"][-1]["ce_nats"] for r in mine])
        datasets.append({"label": d["domain"], "alignment": d["alignment"], "ce": ce, "ce_std": std,
                         "tokens": d["tokens"], "documents": d["documents"], "seeds": len(mine)})
    include = summary.get("config", {}).get("per_dataset", {}).get("include_selections", True)
    selections = []
    if include and budget is not None:
        for s in summary.get("selections", []):
            mine = [r for r in runs if r.get("kind") == "selection" and r["method"] == s["method"]
                    and r["budget"] == s["budget"] == budget]
            if mine:
                ce, std = mean_std([r["curve"][-1]["ce_nats"] for r in mine])
                selections.append({"label": s["method"], "alignment": s["alignment"], "ce": ce, "ce_std": std,
                                   "tokens": s["tokens"], "documents": s["documents"], "seeds": len(mine)})
    return {"budget": budget, "datasets": datasets, "selections": selections,
            "fit_datasets": _fit_or_none(datasets), "fit_all": _fit_or_none(datasets + selections)}


# ---- rendering -------------------------------------------------------------------------------------------------


def _pm(mean: float, std: float | None, digits: int = 3) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if std is not None else f"{mean:.{digits}f}"


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


SIGNIFICANCE = 0.05  # below it, a slope's p-value lets a report name the direction of the relation


def relation_wording(fit: LinearFit) -> str:
    """What a fitted slope says about alignment and CE, no more than its p-value allows: a direction only when
    p < SIGNIFICANCE; with a large p (or too few points for one) the sign of the slope is noise."""
    if fit.p_value is None:
        return f"too few points (n = {fit.n}) to test the slope, so no direction can be claimed"
    if fit.p_value >= SIGNIFICANCE:
        return (f"no significant relation between alignment and CE (p = {fit.p_value:.3g} ≥ {SIGNIFICANCE}): "
                "the sign of the slope may be chance")
    if fit.slope < 0:
        return f"higher alignment goes with lower CE (p = {fit.p_value:.3g}), as in the paper"
    return (f"higher alignment goes with HIGHER CE here (p = {fit.p_value:.3g}), the opposite of the paper's "
            "finding")


def _fit_sentence(fit: LinearFit | None, what: str) -> str:
    if fit is None:
        return f"{what}: too few points (or no spread in alignment) to fit a line."
    return (f"{what}: CE = {fit.slope:.2f} × alignment + {fit.intercept:.2f}, R² = {fit.r2:.2f} "
            f"(n = {fit.n}); {relation_wording(fit)}.")


def _setup(summary: Mapping[str, Any]) -> list[str]:
    cfg = summary.get("config", {})
    mix = summary.get("mix", {})
    tok = summary.get("tokenizer", {})
    ex = summary.get("examples", {})
    lines = ["## Setup", ""]
    if summary.get("description"):
        lines += [summary["description"], ""]
    if cfg.get("overrides"):
        changes = " ".join(f"`--set {o}`" for o in cfg["overrides"])
        lines += [f"Run with these changes to the config file: {changes}.", ""]
    lines += [f"Source mix: {mix.get('documents', 0):,} documents, built with seed {cfg.get('seed', 0)} "
              "(`data/mix.jsonl`; fields text, domain, id). Every method selects from this same file.", "",
              "| source dataset | documents in the mix | available after chunking | characters |",
              "|---|---:|---:|---:|"]
    for name, d in mix.get("domains", {}).items():
        lines.append(f"| {name} | {d['documents']:,} | {d['available']:,} | {d['chars']:,} |")
    target, evaluation = cfg.get("target", {}), cfg.get("eval", {})

    def describe(spec: Mapping[str, Any]) -> str:
        files = ", ".join(f"`{Path(f).name}`" for f in spec.get("files", []))
        how = f"template `{spec['template']!r}`" if spec.get("template") else f"field `{spec.get('text_field')}`"
        where = ", ".join(f"{k}={v}" for k, v in spec.get("where", []))
        half = f", {spec['half']} positions" if spec.get("half") else ""
        cap = f", first {spec['max_examples']}" if spec.get("max_examples") else ""
        return f"{files} ({how}{', ' + where if where else ''}{half}{cap})"

    deco = summary.get("decontamination", {})
    if deco.get("applied"):
        deco_text = "on: every selection excludes source documents that overlap the eval set (`exclude=`)"
    elif deco.get("requested"):
        deco_text = f"requested but NOT applied ({deco.get('note')})"
    else:
        deco_text = "off"
    evaluated = {r.get("eval_examples") for r in summary.get("runs", [])} - {None}
    subset = ""
    if evaluated and max(evaluated) < ex.get("eval", 0):
        subset = (f" Cross-entropy is measured on the first {max(evaluated)} of them (`train.eval_max_examples`); "
                  "decontamination uses all of them.")
    lines += ["", f"- Target (what ZIP-FIT aligns to): {ex.get('target', '?')} examples from {describe(target)}.",
              f"- Evaluation (held out; cross-entropy is measured here): {ex.get('eval', '?')} examples from "
              f"{describe(evaluation)}.{subset}",
              f"- Decontamination against the eval set: {deco_text}."
              + (" Near-duplicates removed too (`dedup=True`)." if deco.get("dedup") else "")]
    if tok.get("kind") == "bpe":
        lines.append(f"- Tokenizer: byte-level BPE, {tok.get('vocab_size', 0):,} tokens, trained on "
                     f"{tok.get('sample_docs', 0):,} source-mix documents (never on target or eval text). Budgets "
                     "are counted in its tokens, so they are training tokens.")
    elif tok.get("kind") == "model":
        lines.append("- Tokenizer: the model's own; budgets are counted in its tokens.")
    else:
        lines.append(f"- Tokenizer: {tok.get('kind')} ({tok.get('count_unit')}).")
    train = cfg.get("train", {})
    runs = summary.get("runs", [])
    params = runs[0].get("parameters") if runs else None
    resolved = (runs[0].get("config") or {}).get("resolved", {}) if runs else {}
    model = train.get("model", "tiny-gpt")
    arch = ""
    if model == "tiny-gpt":
        arch = (f", {train.get('n_layer', 4)} layers, d={train.get('d_model', 256)}, "
                f"{train.get('n_head', 4)} heads")
    lines.append(f"- Model: {Path(str(model)).name}{arch}" + (f", {params:,} parameters" if params else "")
                 + (f"; peak lr {resolved['lr']:g}, block {resolved.get('block_size')}, batch "
                    f"{train.get('batch_size', 8)}, one pass, AdamW (weight decay {train.get('weight_decay', 0.01)}), "
                    f"grad clip {train.get('grad_clip', 1.0)}" if resolved.get("lr") else "") + ".")
    lines.append(f"- Methods: {', '.join(cfg.get('methods', []))}; baselines (every method but ZIP-FIT's): "
                 f"{', '.join(summary.get('baselines', [])) or 'none'}. Budgets: "
                 f"{', '.join(f'{b:,}' for b in cfg.get('budgets', []))} training tokens. Training seeds: "
                 f"{', '.join(map(str, cfg.get('seeds', [])))} (the selections themselves use the data seed).")
    ref = cfg.get("reference") or {}
    if ref.get("full_source"):
        cap = f", capped at {ref['max_tokens']:,} tokens" if ref.get("max_tokens") else ""
        lines.append(f"- Reference: one shuffled pass over the whole source mix{cap}, seeds "
                     f"{', '.join(map(str, ref.get('seeds', [])))}.")
    ab = cfg.get("ablation") or {}
    if ab.get("target_sizes"):
        lines.append(f"- Target-size ablation: {', '.join(ab.get('methods', []))} with "
                     f"{', '.join(map(str, ab['target_sizes']))} and all target examples, at {ab.get('budget'):,} "
                     f"tokens, seeds {', '.join(map(str, ab.get('seeds', [])))}.")
    lc = cfg.get("length_control") or {}
    if lc.get("strata"):
        lines.append(f"- Length control: {', '.join(lc.get('methods', []))} cut again with `--length-strata "
                     f"{lc['strata']}` at {lc.get('budget'):,} tokens, seeds "
                     f"{', '.join(map(str, lc.get('seeds', [])))}.")
    timings = summary.get("timings", {})
    machine = summary.get("machine", {})
    lines += ["", "Wall time per phase (each step's own time when it ran; steps reused from an earlier run of the "
              "same config keep their time):", "", "| phase | time | steps | reused |", "|---|---:|---:|---:|"]
    for phase, t in timings.get("phases", {}).items():
        lines.append(f"| {phase.replace('_', ' ')} | {_duration(t['seconds'])} | {t['steps']} | {t['reused']} |")
    lines.append(f"| **total** | **{_duration(timings.get('compute_seconds', 0))}** | | |")
    load = machine.get("load_average")
    lines += ["", f"This invocation took {_duration(timings.get('wall_seconds', 0))} on {machine.get('cpus', '?')} "
              f"CPUs" + (f" (load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} over 1 / 5 / 15 "
                         "min)" if load else "")
              + ". The CPUs were shared with other work, so times are upper bounds of what a quiet machine takes.",
              ""]
    return lines


def _budget_section(b: Mapping[str, Any], domains: Sequence[str], plot: str | None) -> list[str]:
    budget = b["budget"]
    lines = [f"## Results at {budget:,} training tokens", ""]
    if b["bar_method"]:
        lines += [f"Bar: the best baseline's final CE, **{b['bar_method']} {b['bar']:.3f}** nats/token (mean over "
                  f"seeds) after {b['bar_tokens']:,.0f} tokens. \"Tokens to reach\" is where a method's mean curve "
                  "first gets to the bar (linear interpolation between evaluations); \"% faster\" = 1 − tokens to "
                  f"reach / {b['bar_method']}'s {b['bar_tokens']:,.0f} tokens (the paper's definition).", ""]
    lines += ["| method | seeds | CE before training | final CE nats/token (mean ± std) | bits/byte | tokens trained "
              "| tokens to reach bar | % faster | alignment | selection time |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for method, s in b["methods"].items():
        sel = s["selection"]
        reach = f"{s['reach']:,.0f}" if s["reach"] is not None else "not reached"
        faster = f"{s['faster']:.1f}%" if s["faster"] is not None else "—"
        align = f"{sel['alignment']:.4f}" if "alignment" in sel else "—"
        seconds = f"{sel['selection_seconds']:.1f} s" if sel.get("selection_seconds") is not None else "—"
        name = f"**{method}**" if method in ZIPFIT_METHODS else method
        lines.append(f"| {name} | {len(s['seeds'])} | {s['initial_ce']:.3f} | {_pm(s['ce'], s['ce_std'])} "
                     f"| {_pm(s['bpb'], s['bpb_std'])} "
                     f"| {s['tokens']:,.0f} | {reach} | {faster} | {align} | {seconds} |")
    if b.get("reference"):
        lines.append(reference_part.table_row(b["reference"], b["reference_here"], _pm))
    lines.append("")
    if b.get("reference"):
        lines += reference_part.note(b["reference"], budget, b["reference_here"])
    lines += paired.pairs_table(b)
    if any(len(s["curve"].tokens) <= 2 for s in b["methods"].values()):
        lines += ["Only two evaluations per run (before and after training): \"tokens to reach\" is read off the "
                  "straight line between them, so it and \"% faster\" are only indicative.", ""]
    for v in b["verdicts"]:
        lines += [f"- {v}"]
    if b["verdicts"]:
        lines.append("")
    if plot:
        lines += [f"![target CE vs training tokens at {budget:,}]({plot})", ""]
    lines += ["What each method selected (share of documents / share of tokens per source dataset; length in "
              "characters):", "",
              "| method | documents | tokens | chars p10 / median / p90 | " + " | ".join(domains) + " |",
              "|---|---:|---:|---:|" + "---:|" * len(domains)]
    for method, s in b["methods"].items():
        sel = s["selection"]
        if not sel:
            continue
        n_docs, n_tok = max(sel["documents"], 1), max(sel["tokens"], 1)
        cells = []
        for d in domains:
            got = sel.get("domains", {}).get(d, {"documents": 0, "tokens": 0})
            cells.append(f"{100 * got['documents'] / n_docs:.0f}% / {100 * got['tokens'] / n_tok:.0f}%")
        ln = sel["lengths"]
        lines.append(f"| {method} | {sel['documents']:,} | {sel['tokens']:,} | {ln['p10']:,.0f} / {ln['p50']:,.0f} / "
                     f"{ln['p90']:,.0f} | " + " | ".join(cells) + " |")
    excluded = {m: s["selection"].get("exclusions", {}) for m, s in b["methods"].items() if s["selection"]}
    contaminated = {m: e["source_contaminated"] for m, e in excluded.items() if "source_contaminated" in e}
    if contaminated:
        lines += ["", "Dropped by decontamination before selection (source documents overlapping the eval set; from "
                  "each selection's manifest): " + ", ".join(f"{m} {n:,}" for m, n in contaminated.items()) + "."]
    skipped = {m: e["duplicates_skipped"] for m, e in excluded.items() if e.get("duplicates_skipped")}
    if skipped:
        lines += ["", "Near-duplicates skipped by `dedup`: " + ", ".join(f"{m} {n:,}" for m, n in skipped.items())
                  + "."]
    overlap = {m: s["selection"].get("eval_ngram_overlap") for m, s in b["methods"].items() if s["selection"]}
    if any(v is not None for v in overlap.values()):
        lines += ["", "Contamination check, after selection: selected documents sharing a 13-word n-gram with the "
                  "eval set: " + ", ".join(f"{m} {v:,}" for m, v in overlap.items() if v is not None) + "."]
    copies = {m: s["selection"].get("target_copies", 0) for m, s in b["methods"].items() if s["selection"]}
    if any(copies.values()):
        lines += ["", "Selected exact copies of target examples: "
                  + ", ".join(f"{m} {n}" for m, n in copies.items() if n) + "."]
    lines.append("")
    return lines


def _alignment_section(a: Mapping[str, Any], plot: str | None) -> list[str]:
    if not a["datasets"]:
        return []
    lines = [f"## Dataset alignment vs target CE ({a['budget']:,} training tokens each)", "",
             "Each source dataset alone: a random sample of about the budget, its mean ZIP-FIT alignment to the "
             "target, and the eval CE after training on it. The paper reports R² = 0.90 for GPT-2 "
             "(Mistral-7B: 0.75).", "", "| points | alignment | final CE (mean ± std) | tokens | documents |",
             "|---|---:|---:|---:|---:|"]
    for p in a["datasets"]:
        lines.append(f"| {p['label']} (dataset) | {p['alignment']:.4f} | {_pm(p['ce'], p['ce_std'])} | "
                     f"{p['tokens']:,} | {p['documents']:,} |")
    for p in a["selections"]:
        lines.append(f"| {p['label']} (selection) | {p['alignment']:.4f} | {_pm(p['ce'], p['ce_std'])} | "
                     f"{p['tokens']:,} | {p['documents']:,} |")
    lines += ["", "- " + _fit_sentence(a["fit_datasets"], "Source datasets only (the paper's fit)")]
    if not a["selections"]:
        lines.append(f"- The selections were trained at other budgets than {a['budget']:,} tokens, so they are not "
                     "points here: CE depends on the number of training tokens.")
    if a["selections"]:
        lines.append("- " + _fit_sentence(a["fit_all"], f"Source datasets and the {len(a['selections'])} "
                                          "selections at the same budget"))
    lines.append("")
    if plot:
        lines += [f"![alignment vs CE]({plot})", ""]
    return lines


def render_report(summary: Mapping[str, Any], analysis: Mapping[str, Any] | None = None,
                  plots: Mapping[str, str] | None = None) -> str:
    """report.md's text; ``plots`` maps "curves-<budget>" and "alignment" to paths relative to the report."""
    analysis = analysis if analysis is not None else analyse(summary)
    plots = plots or {}
    domains = list(summary.get("mix", {}).get("domains", {}))
    lines = [f"# Experiment: {summary.get('name', '?')}", ""]
    lines += _headline(analysis)
    lines += _setup(summary)
    for b in analysis["budgets"]:
        lines += _budget_section(b, domains, plots.get(f"curves-{b['budget']}"))
    lines += _alignment_section(analysis["alignment"], plots.get("alignment"))
    lines += scores_part.section(analysis.get("alignment_scores"), plots.get("alignment-scores"))
    lines += ablation_part.section(analysis.get("ablation"), plots.get("ablation"))
    lines += length_part.section(analysis.get("length_control"))
    lines += ["## Files", "", "`experiment.json` (everything in this report), `data/` (source mix, target and eval "
              "sets), `tokenizer/`, `selections/` (each with its manifest), `datasets/` (per-dataset samples), "
              "`runs/` (every curve as CSV, JSON and PNG), `plots/`, `steps/` (what a rerun reuses).", ""]
    return "\n".join(lines)


def _headline(analysis: Mapping[str, Any]) -> list[str]:
    lines = []
    for b in analysis["budgets"]:
        for v in b["verdicts"]:
            lines.append(f"- At {b['budget']:,} tokens: {v}")
        ours = {m: d for m, d in b.get("pairs", {}).get("random", {}).items() if m in ZIPFIT_METHODS}
        if ours:
            lines.append(f"- At {b['budget']:,} tokens, final CE minus random's, paired by seed (95% t-interval): "
                         + "; ".join(f"{m} {paired.difference_cell(d)}" for m, d in ours.items()) + ".")
    fit = analysis["alignment"]["fit_datasets"]
    scored = (analysis.get("alignment_scores") or {}).get("methods", [])
    if fit is not None and not scored:
        lines.append(f"- Alignment vs CE over the source datasets: R² = {fit.r2:.2f} (n = {fit.n}).")
    for m in scored:
        lines.append("- Alignment vs CE, " + scores_part.claim_sentence(m["method"], m["fit"], m["interval"]))
    return ([*lines, ""] if lines else [])


# ---- plots -----------------------------------------------------------------------------------------------------


def band_title(budget: int, seeds: Sequence[int]) -> str:
    """The curve plot's title: it claims a min-max band only for methods trained with two seeds or more, the
    only ones that have one."""
    head = f"budget {budget:,} tokens"
    if not seeds or max(seeds) < 2:
        return f"{head}: one seed per method, no band"
    if min(seeds) < 2:
        return f"{head}: mean over seeds, band = min-max (methods with 2+ seeds)"
    return f"{head}: mean over seeds, band = min-max"


def plot_budget(b: Mapping[str, Any], out: Path) -> Path:
    """Mean eval CE over seeds against training tokens, one line per method (a min-max band where there are two
    seeds or more), the bar dotted. Every evaluation is in the frame, the one at 0 tokens (the untrained model)
    too, and the tokens axis starts at 0."""
    return save_png(budget_figure(b), out)


def budget_figure(b: Mapping[str, Any]) -> Any:
    """The figure ``plot_budget`` saves (for tests to look at)."""
    fig = new_figure((7.5, 4.6))
    ax = fig.subplots()
    for method, s in b["methods"].items():
        c = s["curve"]
        style = "-" if method in ZIPFIT_METHODS else "--"
        n = len(s["seeds"])
        # clip_on off: the points at 0 tokens sit on the axis and are drawn whole
        (line,) = ax.plot(c.tokens, c.mean, style, marker="o", markersize=3, clip_on=False,
                          label=f"{method} ({n} seed{'s' if n > 1 else ''}): final {s['ce']:.3f}")
        if c.runs > 1:
            ax.fill_between(c.tokens, c.low, c.high, color=line.get_color(), alpha=0.18, linewidth=0)
    if b.get("reference"):
        reference_part.draw(ax, b["reference"], b["budget"])
    if b["bar"] is not None:
        ax.axhline(b["bar"], color="grey", linewidth=0.8, linestyle=":",
                   label=f"bar: {b['bar_method']} final {b['bar']:.3f}")
    from matplotlib.ticker import FuncFormatter

    from zipfit.harness.plot import tokens_label

    ax.set_xlim(left=0)
    ax.xaxis.set_major_formatter(FuncFormatter(tokens_label))
    ax.set_xlabel("training tokens")
    ax.set_ylabel("eval cross-entropy (nats/token)")
    ax.set_title(band_title(b["budget"], [len(s["seeds"]) for s in b["methods"].values()]))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_alignment(a: Mapping[str, Any], out: Path) -> Path:
    """Alignment vs final CE: datasets (circles), selections (triangles), least-squares lines with R²."""
    return save_png(alignment_figure(a), out)


def alignment_figure(a: Mapping[str, Any]) -> Any:
    """The figure ``plot_alignment`` saves. Error bars (± one standard deviation over seeds) are drawn, and shown
    in the legend, only for points with two seeds or more: a legend never shows what is not drawn."""
    fig = new_figure((7.0, 4.8))
    ax = fig.subplots()
    for points, marker, kind in ((a["datasets"], "o", "dataset"), (a["selections"], "^", "selection")):
        if not points:
            continue
        spread = [p for p in points if p.get("seeds", 1) > 1 and p["ce_std"]]
        single = [p for p in points if p not in spread]
        if spread:
            ax.errorbar([p["alignment"] for p in spread], [p["ce"] for p in spread],
                        yerr=[p["ce_std"] for p in spread], fmt=marker, capsize=3, color="C0" if kind == "dataset"
                        else "C1", label=f"{kind}s (mean ± std over seeds)")
        if single:
            ax.plot([p["alignment"] for p in single], [p["ce"] for p in single], marker, linestyle="none",
                    color="C0" if kind == "dataset" else "C1",
                    label=f"{kind}s" + (" (one seed)" if spread else ""))
        for p in points:
            ax.annotate(p["label"], (p["alignment"], p["ce"]), textcoords="offset points", xytext=(4, 4),
                        fontsize="x-small")
    all_x = [p["alignment"] for p in a["datasets"] + a["selections"]]
    for fit, style, what in ((a["fit_datasets"], "-", "datasets"), (a["fit_all"], ":", "all points")):
        if fit is None or (what == "all points" and not a["selections"]):
            continue
        x0, x1 = min(all_x), max(all_x)
        p = f", p = {fit.p_value:.2g}" if fit.p_value is not None else ""
        ax.plot([x0, x1], [fit.slope * x0 + fit.intercept, fit.slope * x1 + fit.intercept], style, color="black",
                linewidth=1, label=f"fit, {what}: R² = {fit.r2:.2f}{p}")
    ax.set_xlabel("mean ZIP-FIT alignment to the target")
    ax.set_ylabel("eval cross-entropy after training (nats/token)")
    ax.set_title(f"alignment vs CE ({a['budget']:,} training tokens each)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def write_report(summary: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Write the plots under ``plots/`` and ``report.md`` in ``out_dir``; returns the report's path."""
    out_dir = Path(out_dir)
    (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    analysis = analyse(summary)
    plots: dict[str, str] = {}
    for b in analysis["budgets"]:
        name = f"curves-{b['budget']}"
        plot_budget(b, out_dir / "plots" / f"{name}.png")
        plots[name] = f"plots/{name}.png"
    a = analysis["alignment"]
    if a["datasets"]:
        plot_alignment(a, out_dir / "plots" / "alignment.png")
        plots["alignment"] = "plots/alignment.png"
    if analysis.get("alignment_scores"):
        save_png(scores_part.figure(analysis["alignment_scores"]), out_dir / "plots" / "alignment-scores.png")
        plots["alignment-scores"] = "plots/alignment-scores.png"
    if analysis.get("ablation") and analysis["ablation"]["methods"]:
        save_png(ablation_part.figure(analysis["ablation"]), out_dir / "plots" / "ablation.png")
        plots["ablation"] = "plots/ablation.png"
    path = out_dir / "report.md"
    with atomic_output(path) as tmp:
        tmp.write_text(render_report(summary, analysis, plots), encoding="utf-8")
    return path


def redraw(out_dir: str | Path) -> Path:
    """Rewrite ``report.md`` and ``plots/`` of a finished experiment from its ``experiment.json``, training nothing:
    how a change to the report or its plots reaches results that took an hour to compute."""
    import json

    from zipfit.errors import ZipfitError

    path = Path(out_dir) / "experiment.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZipfitError(f"{path}: not found; --redraw takes the output directory of a finished experiment") from None
    except (OSError, ValueError) as exc:
        raise ZipfitError(f"{path}: cannot read it ({exc})") from None
    return write_report(summary, out_dir)
