"""report.md from fake results: the tables, the paper's "% faster", and honest wording when ZIP-FIT loses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zipfit.harness.metrics import LinearFit
from zipfit.harness.report import (
    alignment_figure,
    analyse,
    band_title,
    budget_figure,
    relation_wording,
    render_report,
    write_report,
)

DOMAINS = ("lean", "wiki")


def run(method: str, seed: int, ces: list[float], budget: int = 100, kind: str = "selection",
        domain: str | None = None) -> dict[str, Any]:
    tokens = [round(i * budget / (len(ces) - 1)) for i in range(len(ces))]
    curve = [{"tokens": t, "step": i, "ce_nats": c, "bits_per_byte": c / 2, "seconds": float(i)}
             for i, (t, c) in enumerate(zip(tokens, ces, strict=True))]
    out = {"label": f"{method}-{budget}-s{seed}", "kind": kind, "method": method, "budget": budget, "seed": seed,
           "curve": curve, "parameters": 1000, "seconds": 10.0, "config": {"resolved": {"lr": 0.001}}}
    if domain:
        out["domain"] = domain
    return out


def selection(method: str, alignment: float, lean: int, budget: int = 100) -> dict[str, Any]:
    return {"method": method, "budget": budget, "documents": 10, "tokens": 100, "alignment": alignment,
            "domains": {"lean": {"documents": lean, "tokens": lean * 10},
                        "wiki": {"documents": 10 - lean, "tokens": (10 - lean) * 10}},
            "lengths": {"p10": 50.0, "p50": 120.0, "p90": 400.0}, "selection_seconds": 1.5, "target_copies": 0,
            "eval_ngram_overlap": 0, "exclusions": {"source_contaminated": 3, "duplicates_skipped": 0}}


def summary(zipfit_curves: list[list[float]]) -> dict[str, Any]:
    runs = [run("zipfit", s, c) for s, c in enumerate(zipfit_curves)]
    runs += [run("dsir", 0, [9.0, 7.0, 6.0]), run("dsir", 1, [9.0, 7.2, 6.2])]
    runs += [run("random", 0, [9.0, 8.0, 7.0]), run("random", 1, [9.0, 8.2, 7.4])]
    runs += [run("random", 0, [9.0, 7.0, 5.5], 50, "dataset", "lean"), run("random", 0, [9.0, 8.0, 7.5], 50,
                                                                           "dataset", "wiki")]
    return {
        "name": "fake",
        "config": {"methods": ["zipfit", "dsir", "random"], "budgets": [100], "seeds": [0, 1], "seed": 0,
                   "train": {"model": "tiny-gpt"}, "target": {"files": ["t.jsonl"], "where": [["split", "valid"]]},
                   "eval": {"files": ["t.jsonl"], "template": "{a}"}, "per_dataset": {"include_selections": True}},
        "baselines": ["dsir", "random"],
        "mix": {"documents": 20, "domains": {d: {"documents": 10, "available": 30, "chars": 5000} for d in DOMAINS}},
        "examples": {"target": 5, "eval": 6},
        "tokenizer": {"kind": "bpe", "vocab_size": 512, "sample_docs": 20},
        "decontamination": {"requested": True, "applied": True, "dedup": False, "note": ""},
        "selections": [selection("zipfit", 0.30, 9), selection("dsir", 0.20, 6), selection("random", 0.10, 5)],
        "datasets": [{"domain": "lean", "budget": 50, "documents": 5, "tokens": 50, "alignment": 0.25},
                     {"domain": "wiki", "budget": 50, "documents": 5, "tokens": 50, "alignment": 0.05}],
        "runs": runs,
        "timings": {"phases": {"selection": {"seconds": 12.0, "steps": 3, "reused": 0},
                               "training": {"seconds": 600.0, "steps": 6, "reused": 2}},
                    "compute_seconds": 612.0, "wall_seconds": 700.0},
        "machine": {"cpus": 2, "load_average": [3.0, 2.0, 1.0]},
    }


def test_a_win_gets_tokens_to_reach_and_percent_faster() -> None:
    # dsir is the best baseline: final CE mean (6.0 + 6.2) / 2 = 6.1 after 100 tokens. zipfit's mean curve is
    # 9.0, 6.0, 5.0 at 0, 50, 100 tokens: it reaches 6.1 at 50 * (9.0 - 6.1) / (9.0 - 6.0) tokens.
    s = summary([[9.0, 6.0, 5.0], [9.0, 6.0, 5.0]])
    a = analyse(s)
    (b,) = a["budgets"]
    assert b["bar_method"] == "dsir" and b["bar"] == pytest.approx(6.1) and b["bar_tokens"] == 100
    reach = 50 * (9.0 - 6.1) / 3.0
    assert b["methods"]["zipfit"]["reach"] == pytest.approx(reach)
    assert b["methods"]["zipfit"]["faster"] == pytest.approx(100 * (1 - reach / 100))
    assert b["methods"]["random"]["reach"] is None
    assert b["methods"]["dsir"]["ce_std"] == pytest.approx(0.1414, abs=1e-4)
    text = render_report(s, a)
    assert "| method | seeds | CE before training | final CE nats/token (mean ± std)" in text
    assert "| **zipfit** | 2 | 9.000 | 5.000 ± 0.000 |" in text  # CE before training, then after
    assert "| dsir | 2 | 9.000 | 6.100 ± 0.141 |" in text
    assert f"{100 * (1 - reach / 100):.1f}%" in text and "not reached" in text  # random never gets there
    assert "did not win" not in text
    assert "90% / 90%" in text  # zipfit's domain mix: 9 of 10 documents, 90 of 100 tokens from lean
    assert "50 / 120 / 400" in text
    assert "Dropped by decontamination before selection" in text and "zipfit 3, dsir 3, random 3" in text
    assert "dedup" not in text  # nothing was skipped


def test_a_loss_is_reported_as_a_loss() -> None:
    s = summary([[9.0, 7.5, 6.6], [9.0, 7.6, 6.8]])
    a = analyse(s)
    (b,) = a["budgets"]
    assert b["methods"]["zipfit"]["reach"] is None and b["methods"]["zipfit"]["faster"] is None
    text = render_report(s, a)
    assert "**zipfit did not win at this budget**" in text
    assert "6.700" in text and "6.100" in text
    headline = text.split("## Setup")[0]
    assert "did not win" in headline  # the loss is in the summary at the top, not only in a table


def test_a_difference_within_the_seed_spread_is_called_so() -> None:
    s = summary([[9.0, 7.0, 5.95], [9.0, 7.0, 6.15]])  # mean 6.05 vs dsir 6.1, spreads ~0.14 each
    text = render_report(s)
    assert "within the spread over seeds" in text


def test_alignment_fit_over_datasets_and_selections() -> None:
    s = summary([[9.0, 6.0, 5.0], [9.0, 6.0, 5.0]])
    a = analyse(s)["alignment"]
    assert [p["label"] for p in a["datasets"]] == ["lean", "wiki"]
    assert a["fit_datasets"].r2 == pytest.approx(1.0)  # two points
    assert a["fit_datasets"].slope == pytest.approx((5.5 - 7.5) / (0.25 - 0.05))
    # the selections ran at budget 100, the datasets at 50: not the same budget, so not in the fit
    assert a["selections"] == [] and a["budget"] == 50
    assert "so they are not points here" in render_report(s)
    for r in s["runs"]:
        r["eval_examples"] = 4  # of the 6 eval examples
    assert "measured on the first 4 of them" in render_report(s)
    for d in s["datasets"]:
        d["budget"] = 100
    for r in s["runs"]:
        r["budget"] = 100
    a = analyse(s)["alignment"]
    assert [p["label"] for p in a["selections"]] == ["zipfit", "dsir", "random"]
    assert a["fit_all"].n == 5


def test_write_report_writes_the_plots_it_links(tmp_path: Path) -> None:
    s = summary([[9.0, 6.0, 5.0], [9.0, 6.5, 5.5]])
    path = write_report(s, tmp_path)
    text = path.read_text(encoding="utf-8")
    for png in ("plots/curves-100.png", "plots/alignment.png"):
        assert f"]({png})" in text
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "R² = 1.00" in text and "took 11.7 min" in text and "shared with other work" in text


def test_no_baseline_means_no_verdict() -> None:
    s = summary([[9.0, 6.0, 5.0]])
    s["baselines"] = []
    text = render_report(s)
    assert "nothing to compare ZIP-FIT with" in text


# ---- plots and wording that say exactly what is true -------------------------------------------------------------


def test_the_curve_plot_shows_the_evaluation_at_0_tokens_and_starts_its_axis_there() -> None:
    (b,) = analyse(summary([[9.0, 6.0, 5.0], [9.0, 6.5, 5.5]]))["budgets"]
    ax = budget_figure(b).axes[0]
    assert ax.get_xlim()[0] == 0
    low, high = ax.get_ylim()
    assert low <= 5.0 and high >= 9.0  # the untrained model's CE (9.0, at 0 tokens) is in the frame
    for line in ax.get_lines()[:3]:  # one per method; the last line is the bar
        assert line.get_xdata()[0] == 0 and not line.get_clip_on()


def test_a_band_is_claimed_only_where_two_seeds_or_more_drew_one() -> None:
    (two,) = analyse(summary([[9.0, 6.0, 5.0], [9.0, 6.5, 5.5]]))["budgets"]
    fig = budget_figure(two)
    assert fig.axes[0].get_title().endswith("band = min-max")
    assert len(fig.axes[0].collections) == 3  # a band for each of the three methods
    one_seed = summary([[9.0, 6.0, 5.0]])
    one_seed["runs"] = [r for r in one_seed["runs"] if r["seed"] == 0]
    (one,) = analyse(one_seed)["budgets"]
    fig = budget_figure(one)
    assert "no band" in fig.axes[0].get_title() and "min-max" not in fig.axes[0].get_title()
    assert len(fig.axes[0].collections) == 0
    assert band_title(100, [1, 3]) == "budget 100 tokens: mean over seeds, band = min-max (methods with 2+ seeds)"


def test_the_alignment_legend_shows_error_bars_only_where_they_are_drawn() -> None:
    from matplotlib.container import ErrorbarContainer

    a = analyse(summary([[9.0, 6.0, 5.0]]))["alignment"]  # one seed per dataset: no spread to draw
    ax = alignment_figure(a).axes[0]
    handles, labels = ax.get_legend_handles_labels()
    assert not any(isinstance(h, ErrorbarContainer) for h in handles) and len(ax.containers) == 0
    assert labels[0] == "datasets"
    s = summary([[9.0, 6.0, 5.0]])
    s["runs"].append(run("random", 1, [9.0, 7.5, 6.5], 50, "dataset", "lean"))  # lean: two seeds, a spread
    ax = alignment_figure(analyse(s)["alignment"]).axes[0]
    handles, labels = ax.get_legend_handles_labels()
    bars = [label for h, label in zip(handles, labels, strict=True) if isinstance(h, ErrorbarContainer)]
    assert bars == ["datasets (mean ± std over seeds)"] and "datasets (one seed)" in labels
    (drawn,) = ax.containers
    assert drawn.has_yerr


def test_the_wording_of_a_fit_follows_its_p_value() -> None:
    noise = relation_wording(LinearFit(slope=1.9, intercept=8.1, r2=0.0, p_value=0.997, n=7))
    assert noise.startswith("no significant relation") and "p = 0.997" in noise
    assert "goes with" not in noise and "HIGHER" not in noise and "opposite" not in noise
    lower = relation_wording(LinearFit(slope=-4.0, intercept=9.0, r2=0.9, p_value=0.001, n=7))
    assert lower.startswith("higher alignment goes with lower CE") and "p = 0.001" in lower
    higher = relation_wording(LinearFit(slope=4.0, intercept=9.0, r2=0.9, p_value=0.001, n=7))
    assert "HIGHER CE" in higher
    assert "no direction" in relation_wording(LinearFit(slope=-1.0, intercept=9.0, r2=1.0, p_value=None, n=2))
    # the report's sentence is the same: two datasets give a line but no p-value, so no direction is claimed
    text = render_report(summary([[9.0, 6.0, 5.0]]))
    assert "too few points (n = 2) to test the slope" in text and "as in the paper" not in text


def test_redraw_rewrites_the_report_and_plots_from_experiment_json(tmp_path: Path, capsys) -> None:
    from zipfit.cli import main

    s = summary([[9.0, 6.0, 5.0], [9.0, 6.5, 5.5]])
    (tmp_path / "experiment.json").write_text(json.dumps(s), encoding="utf-8")
    assert main(["experiment", "--redraw", str(tmp_path)]) == 0
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == render_report(
        s, plots={"curves-100": "plots/curves-100.png", "alignment": "plots/alignment.png"})
    assert (tmp_path / "plots" / "curves-100.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["experiment", "--redraw", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "experiment.json: not found" in err and "Traceback" not in err
