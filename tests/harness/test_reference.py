"""The whole-source reference: a row in every budget's table, a curve in its plot, numbers in experiment.json."""

from __future__ import annotations

import pytest
from test_report import run, summary

from zipfit.harness.report import analyse, budget_figure, render_report, statistics


def with_reference(s: dict) -> dict:
    # two seeds over 300 tokens, evaluated every 50: the mean curve is 9.0, 8.0, 7.0, 6.5, 6.0, 5.5, 5.0
    s["runs"] += [run("full-source", 0, [9.0, 8.1, 7.1, 6.6, 6.1, 5.6, 5.1], 300, "reference"),
                  run("full-source", 1, [9.0, 7.9, 6.9, 6.4, 5.9, 5.4, 4.9], 300, "reference")]
    s["reference"] = {"method": "full-source", "documents": 20, "tokens": 299, "max_tokens": None}
    return s


def test_the_reference_is_a_row_and_a_curve_at_every_budget() -> None:
    s = with_reference(summary([[9.0, 6.0, 5.0], [9.0, 6.5, 5.5]]))
    a = analyse(s)
    ref = a["reference"]
    assert ref["ce"] == pytest.approx(5.0) and ref["tokens"] == 300 and ref["seeds"] == [0, 1]
    (b,) = a["budgets"]
    assert "full-source" not in b["methods"]  # not a method: it sets no bar and gets no verdict
    # the bar is dsir's 6.1: the reference's mean curve crosses it between 150 (6.5) and 200 (6.0) tokens
    assert b["reference_here"]["ce_at_budget"] == pytest.approx(7.0)
    assert b["reference_here"]["reach"] == pytest.approx(150 + 50 * (6.5 - 6.1) / 0.5)
    text = render_report(s)
    assert "| whole source, 300 tokens | 2 | 9.000 | 5.000 ± 0.141 |" in text
    assert "Its mean curve is at CE 7.000 after 100 tokens" in text
    assert "- Reference:" not in text  # the config did not ask for one: the setup does not claim one
    ax = budget_figure(b).axes[0]
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("whole source")]
    assert list(line.get_xdata()) == [0, 50, 100] and list(line.get_ydata()) == pytest.approx([9.0, 8.0, 7.0])
    stats = statistics(s)["reference"]
    assert stats["ce"] == pytest.approx(5.0) and stats["at_budgets"]["100"]["ce_at_budget"] == pytest.approx(7.0)


def test_a_budget_past_the_reference_curve_has_no_point_on_it() -> None:
    s = with_reference(summary([[9.0, 6.0, 5.0], [9.0, 6.5, 5.5]]))
    s["runs"] = [r for r in s["runs"] if r["kind"] != "reference" or r["seed"] == 0]
    for r in s["runs"]:
        if r["kind"] == "reference":
            r["curve"] = [p for p in r["curve"] if p["tokens"] <= 50]
    (b,) = analyse(s)["budgets"]
    assert b["reference_here"]["ce_at_budget"] is None and b["reference_here"]["reach"] is None
    text = render_report(s)
    assert "| whole source, 50 tokens | 1 | 9.000 | 8.100 | 4.050 | 50 | not reached | — |" in text
    assert "Its mean curve is at" not in text
