"""The target-size ablation's table, paired differences from "all", plot and JSON, from fake runs."""

from __future__ import annotations

import pytest
from test_report import run, summary

from zipfit.harness.ablation import figure
from zipfit.harness.report import analyse, render_report, statistics


def ablated(s: dict) -> dict:
    """zipfit and dsir selected with 2 and 4 of the 5 target examples, seeds 0 and 1, at budget 100."""
    finals = {("zipfit", 2): (6.0, 6.4), ("zipfit", 4): (5.5, 5.7), ("dsir", 2): (6.5, 6.7), ("dsir", 4): (6.1, 6.3)}
    for (method, n), ces in finals.items():
        for seed, ce in enumerate(ces):
            r = run(method, seed, [9.0, 7.0, ce], 100, "ablation")
            r["target_size"] = n
            s["runs"].append(r)
    s["ablation"] = {"budget": 100, "target_examples": 5, "selections": []}
    s["config"]["ablation"] = {"target_sizes": [2, 4], "methods": ["zipfit", "dsir"], "budget": 100, "seeds": [0, 1]}
    return s


def test_the_ablation_table_has_every_size_and_all() -> None:
    s = ablated(summary([[9.0, 6.0, 5.0], [9.0, 6.5, 5.4]]))  # zipfit with all 5 examples: 5.0 and 5.4
    ab = analyse(s)["ablation"]
    assert ab["sizes"] == [2, 4] and ab["target_examples"] == 5 and list(ab["methods"]) == ["zipfit", "dsir"]
    z = ab["methods"]["zipfit"]
    assert z["2"]["ce"] == pytest.approx(6.2) and z["all"]["ce"] == pytest.approx(5.2) and z["all"]["target_size"] == 5
    # paired with the run on all examples by seed: 6.0 - 5.0 and 6.4 - 5.4
    assert z["2"]["vs_all"].diffs == pytest.approx([1.0, 1.0]) and z["2"]["vs_all"].includes_zero is False
    assert ab["random"] == pytest.approx(7.2)
    text = render_report(s)
    assert "## Target-size ablation (100 training tokens)" in text
    assert "| method | n = 2 | n = 4 | all |" in text
    assert "| zipfit | 6.200 ± 0.283 | 5.600 ± 0.141 | 5.200 ± 0.283 |" in text
    assert "| dsir | 6.600 ± 0.141 | 6.200 ± 0.141 | 6.100 ± 0.141 |" in text
    assert "| zipfit | +1.000 [+1.000, +1.000] |" in text
    assert "(a seed's 2 examples are among its 4)" in text and "the main run with all 5" in text
    assert "- Target-size ablation: zipfit, dsir with 2, 4 and all target examples, at 100 tokens" in text
    rows = statistics(s)["ablation"]
    assert {(r["method"], r["target_size"]) for r in rows} == {(m, k) for m in ("zipfit", "dsir")
                                                             for k in ("2", "4", "all")}
    assert next(r for r in rows if r["method"] == "dsir" and r["target_size"] == "2")["vs_all"]["mean"] \
        == pytest.approx(0.5)


def test_the_ablation_plot_puts_all_at_the_full_target_size() -> None:
    ab = analyse(ablated(summary([[9.0, 6.0, 5.0], [9.0, 6.5, 5.4]])))["ablation"]
    ax = figure(ab).axes[0]
    assert ax.get_xscale() == "log" and ax.get_title().endswith("mean ± std over seeds")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "4", "5 (all)"]
    zipfit_line = ax.containers[0].lines[0]
    assert list(zipfit_line.get_xdata()) == [2, 4, 5]
    assert list(zipfit_line.get_ydata()) == pytest.approx([6.2, 5.6, 5.2])
    assert any(ln.get_label() == "random 7.200" for ln in ax.get_lines())


def test_one_seed_says_so_and_compares_random_of_that_seed() -> None:
    s = ablated(summary([[9.0, 6.0, 5.0], [9.0, 6.5, 5.4]]))
    s["runs"] = [r for r in s["runs"] if r["kind"] != "ablation" or r["seed"] == 1]
    ab = analyse(s)["ablation"]
    assert ab["seeds"] == [1]
    assert ab["methods"]["zipfit"]["all"]["ce"] == pytest.approx(5.4)  # seed 1's main run, not the mean
    assert ab["random"] == pytest.approx(7.4)  # random's seed-1 run (7.0 and 7.4 average 7.2)
    ax = figure(ab).axes[0]
    assert ax.containers == [] and ax.get_title().endswith("one seed, no error bars")  # no bars, none in the legend
    zipfit_line = next(ln for ln in ax.get_lines() if ln.get_label() == "zipfit")
    assert list(zipfit_line.get_ydata()) == pytest.approx([6.4, 5.7, 5.4])
    text = render_report(s)
    assert "Final CE with training seed 1 (one seed, so no spread;" in text
    assert "mean ± std over seeds" not in text.split("## Target-size ablation")[1].split("##")[0]


def test_no_ablation_runs_no_section() -> None:
    s = summary([[9.0, 6.0, 5.0], [9.0, 6.5, 5.4]])
    assert analyse(s)["ablation"] is None and "Target-size ablation" not in render_report(s)
    assert statistics(s)["ablation"] == []
