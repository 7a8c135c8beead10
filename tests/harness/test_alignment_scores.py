"""Dataset alignment vs CE under several scores, and the test of the paper's R² = 0.90."""

from __future__ import annotations

import math

import pytest
from test_report import run, summary

from zipfit.harness.alignment_scores import PAPER_R, claim_sentence, figure
from zipfit.harness.metrics import CorrelationInterval, LinearFit
from zipfit.harness.report import analyse, render_report, statistics

DOMAINS = ("lean", "latex", "code", "wiki", "pile", "mbpp")
CE = (5.0, 6.0, 5.6, 6.6, 7.0, 6.4)
PAPER = (0.30, 0.25, 0.20, 0.10, 0.08, 0.18)  # tracks CE (r = -0.91): high alignment, low CE
DEBIASED = (0.01, -0.02, 0.03, 0.00, 0.02, -0.01)  # no relation to CE


def scored_summary() -> dict:
    s = summary([[9.0, 6.0, 5.0]])
    s["runs"] = [r for r in s["runs"] if r["kind"] != "dataset"]
    s["runs"] += [run("random", 0, [9.0, 8.0, ce], 50, "dataset", d) for d, ce in zip(DOMAINS, CE, strict=True)]
    s["datasets"] = [{"domain": d, "budget": 50, "documents": 5, "tokens": 50, "alignment": a}
                     for d, a in zip(DOMAINS, PAPER, strict=True)]
    s["alignment_scores"] = {"methods": ["zipfit", "zipfit-debiased"], "selections": {},
                             "datasets": {d: {"zipfit": a, "zipfit-debiased": b}
                                          for d, a, b in zip(DOMAINS, PAPER, DEBIASED, strict=True)}}
    return s


def test_each_score_gets_its_fit_its_interval_and_a_verdict_on_the_papers_r2() -> None:
    s = scored_summary()
    paper, debiased = analyse(s)["alignment_scores"]["methods"]
    assert [p["label"] for p in paper["points"]] == list(DOMAINS)
    assert paper["fit"].slope < 0 and paper["interval"].n == 6
    assert paper["fit"].r2 == pytest.approx(paper["interval"].r ** 2)
    assert paper["paper_inside"] is True  # a strong negative relation: r = -0.95 is in its interval
    assert debiased["paper_inside"] is False and debiased["interval"].r_low > PAPER_R
    text = render_report(s)
    assert "## Alignment vs CE under each score" in text
    assert "| dataset | final CE | zipfit | zipfit-debiased |" in text and "| lean | 5.000 | 0.3000 | 0.0100 |" in text
    assert "consistent with the paper's R² = 0.90" in text
    assert "zipfit-debiased: R² = " in text and "the relation here is weaker than the paper's (rejected" in text
    headline = text.split("## Setup")[0]
    assert "Alignment vs CE, zipfit-debiased: R² =" in headline
    fits = {f["score"]: f for f in statistics(s)["alignment_fits"]}
    assert fits["zipfit"]["paper_inside_interval"] is True and fits["zipfit-debiased"]["paper_inside_interval"] is False
    assert fits["zipfit"]["r2_low"] <= fits["zipfit"]["r2"] <= fits["zipfit"]["r2_high"] and fits["zipfit"]["n"] == 6
    ax0, ax1 = figure(analyse(s)["alignment_scores"]).axes
    assert ax0.get_title().startswith("zipfit: R² = ") and "[" in ax0.get_title()
    assert ax1.get_title().startswith("zipfit-debiased")


def test_the_claim_sentence_follows_the_interval() -> None:
    fit = LinearFit(slope=-1.0, intercept=9.0, r2=0.99, p_value=0.001, n=8)
    strong = CorrelationInterval(r=-0.995, r_low=-0.999, r_high=-0.97, r2_low=0.94, r2_high=0.998, n=8)
    assert "stronger than the paper's R² = 0.90" in claim_sentence("zipfit", fit, strong)
    wide = CorrelationInterval(r=-0.8, r_low=-0.97, r_high=-0.2, r2_low=0.04, r2_high=0.94, n=5)
    assert "cannot confirm it either" in claim_sentence("zipfit", fit, wide)
    assert "not tested" in claim_sentence("zipfit", LinearFit(-1.0, 9.0, 0.9, 0.2, 3), None)
    assert "too few datasets" in claim_sentence("zipfit", None, None)
    assert math.isclose(PAPER_R, -math.sqrt(0.9))


def test_without_scores_the_old_headline_stays() -> None:
    s = summary([[9.0, 6.0, 5.0]])
    assert analyse(s)["alignment_scores"] is None
    text = render_report(s)
    assert "Alignment vs CE over the source datasets: R² = 1.00 (n = 2)." in text
    assert "under each score" not in text
