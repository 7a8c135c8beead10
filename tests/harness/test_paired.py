"""Paired differences of final CE per training seed, with t-intervals, in report.md and experiment.json."""

from __future__ import annotations

import math

import pytest
from test_report import summary

from zipfit.harness.paired import difference_cell
from zipfit.harness.report import analyse, render_report, statistics


def test_every_method_is_paired_with_random_and_the_best_baseline_by_seed() -> None:
    # zipfit ends at 5.0 and 5.4 (seeds 0, 1); dsir, the best baseline, at 6.0 and 6.2; random at 7.0 and 7.4
    s = summary([[9.0, 6.0, 5.0], [9.0, 6.5, 5.4]])
    (b,) = analyse(s)["budgets"]
    vs_random, vs_bar = b["pairs"]["random"], b["pairs"]["bar"]
    assert b["bar_method"] == "dsir"
    assert vs_random["zipfit"].diffs == pytest.approx([-2.0, -2.0]) and vs_random["zipfit"].low == pytest.approx(-2.0)
    # dsir - random: -1.0 and -1.2 -> mean -1.1, sd 0.1414, half-width 12.706 * 0.1414 / sqrt(2)
    d = vs_random["dsir"]
    half = 12.7062 * math.sqrt(0.02) / math.sqrt(2)
    assert d.mean == pytest.approx(-1.1) and d.high == pytest.approx(-1.1 + half, abs=1e-3)
    assert d.includes_zero is True  # two seeds: the interval is wide
    assert vs_bar["zipfit"].diffs == pytest.approx([-1.0, -0.8]) and "dsir" not in vs_bar
    assert set(vs_bar) == {"zipfit", "random"} and "random" not in vs_random

    text = render_report(s)
    assert "| method | vs random | vs the best baseline (dsir) |" in text
    assert "| dsir | -1.100 [" in text and "not distinguishable at 2 seeds" in text
    assert "95% Student-t interval over seeds (n − 1 degrees of freedom)" in text
    headline = text.split("## Setup")[0]
    assert "- At 100 tokens, final CE minus random's, paired by seed (95% t-interval): zipfit -2.000 [-2.000, " \
           "-2.000]." in headline

    rows = statistics(s)["paired_differences"]
    row = next(r for r in rows if r["method"] == "dsir" and r["versus"] == "random")
    assert row["budget"] == 100 and row["seeds"] == 2 and row["includes_zero"] is True
    assert row["low"] == pytest.approx(d.low) and row["differences"] == pytest.approx([-1.0, -1.2])
    assert {(r["method"], r["versus"]) for r in rows} == {("zipfit", "random"), ("dsir", "random"),
                                                          ("zipfit", "dsir"), ("random", "dsir")}


def test_a_difference_from_one_seed_has_no_interval_and_says_so() -> None:
    s = summary([[9.0, 6.0, 5.0]])
    s["runs"] = [r for r in s["runs"] if r["seed"] == 0]
    (b,) = analyse(s)["budgets"]
    assert difference_cell(b["pairs"]["random"]["zipfit"]) == "-2.000 (one seed: no interval)"
    assert difference_cell(None) == "—"


def test_random_as_the_best_baseline_gets_one_column() -> None:
    s = summary([[9.0, 6.0, 5.0], [9.0, 6.5, 5.4]])
    s["runs"] = [r for r in s["runs"] if r["method"] != "dsir"]
    s["baselines"] = ["random"]
    (b,) = analyse(s)["budgets"]
    assert b["bar_method"] == "random" and b["pairs"]["bar"] == {}
    assert "| method | vs random |\n" in render_report(s)
    assert [r["versus"] for r in statistics(s)["paired_differences"]] == ["random"]
