"""The report's numbers against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zipfit.harness.metrics import (
    average_ranks,
    correlation_interval,
    length_percentiles,
    linear_fit,
    mean_curve,
    mean_std,
    ngram_overlap,
    ngram_set,
    paired_difference,
    percent_faster,
    shares,
    spearman,
    student_t_quantile,
    student_t_two_sided,
    tokens_to_reach,
)


def test_tokens_to_reach_interpolates_between_the_evaluations_around_the_crossing() -> None:
    # CE 3.0 at 200 tokens, 2.0 at 300: the bar 2.5 is crossed half way, at 250
    assert tokens_to_reach([0, 100, 200, 300], [5.0, 4.0, 3.0, 2.0], 2.5) == pytest.approx(250.0)
    # exactly on an evaluation
    assert tokens_to_reach([0, 100, 200, 300], [5.0, 4.0, 3.0, 2.0], 3.0) == pytest.approx(200.0)
    # the first crossing counts, even if the curve goes back up later
    assert tokens_to_reach([0, 10, 20, 30], [4.0, 2.0, 3.0, 1.0], 2.5) == pytest.approx(10 * (4 - 2.5) / 2)


def test_tokens_to_reach_not_reached_and_reached_at_the_start() -> None:
    assert tokens_to_reach([0, 100, 200], [5.0, 4.0, 3.5], 3.0) is None
    assert tokens_to_reach([50, 100], [2.0, 1.0], 3.0) == 50.0
    with pytest.raises(ValueError):
        tokens_to_reach([0, 1], [1.0], 0.5)


def test_percent_faster_is_the_papers_definition() -> None:
    # X = 1 - 250 / 1000
    assert percent_faster(250, 1000) == pytest.approx(75.0)
    assert percent_faster(1000, 1000) == pytest.approx(0.0)
    assert percent_faster(None, 1000) is None
    with pytest.raises(ValueError):
        percent_faster(10, 0)


def test_linear_fit_matches_hand_computed_least_squares() -> None:
    # x = 1..4, y = 2, 4, 5, 4: slope 3.5/5 = 0.7, intercept 3.75 - 0.7 * 2.5 = 2.0,
    # SS_res = 0.49 + 0.36 + 0.81 + 0.64 = 2.3, SS_tot = 4.75, R² = 1 - 2.3/4.75
    fit = linear_fit([1, 2, 3, 4], [2, 4, 5, 4])
    assert fit.slope == pytest.approx(0.7)
    assert fit.intercept == pytest.approx(2.0)
    assert fit.r2 == pytest.approx(1 - 2.3 / 4.75)
    t = math.sqrt(fit.r2 * 2 / (1 - fit.r2))
    assert fit.p_value == pytest.approx(1 - t / math.sqrt(t * t + 2))  # Student t, 2 df, in closed form
    assert fit.n == 4


def test_linear_fit_edge_cases() -> None:
    perfect = linear_fit([0.1, 0.2, 0.3], [3.0, 2.0, 1.0])
    assert perfect.r2 == pytest.approx(1.0) and perfect.slope == pytest.approx(-10.0) and perfect.p_value == 0.0
    assert linear_fit([1, 2], [1, 3]).p_value is None
    with pytest.raises(ValueError):
        linear_fit([1, 1, 1], [1, 2, 3])


@pytest.mark.parametrize(("t", "df", "p"), [(1.0, 1, 0.5), (2.228, 10, 0.05), (12.706, 1, 0.05), (4.303, 2, 0.05),
                                          (2.571, 5, 0.05), (3.169, 10, 0.01), (0.0, 7, 1.0)])
def test_student_t_two_sided_matches_tables(t: float, df: int, p: float) -> None:
    assert student_t_two_sided(t, df) == pytest.approx(p, abs=2e-4)


def test_mean_std_and_mean_curve() -> None:
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_std([4.0]) == (4.0, None)
    curve = mean_curve([([0, 10, 20], [6.0, 5.0, 4.0]), ([0, 10, 20], [8.0, 5.0, 2.0])])
    assert curve.tokens.tolist() == [0, 10, 20]
    assert curve.mean.tolist() == [7.0, 5.0, 3.0]
    assert curve.low.tolist() == [6.0, 5.0, 2.0] and curve.high.tolist() == [8.0, 5.0, 4.0]
    # a run evaluated at other points is interpolated onto the first run's, never extrapolated
    shifted = mean_curve([([0, 10, 20], [6.0, 5.0, 4.0]), ([0, 20], [8.0, 4.0])])
    assert shifted.mean.tolist() == [7.0, 5.5, 4.0]
    short = mean_curve([([0, 10, 20], [6.0, 5.0, 4.0]), ([0, 10], [6.0, 5.0])])
    assert short.tokens.tolist() == [0, 10]


def test_shares_lengths_and_ngram_overlap() -> None:
    assert shares({"a": 1, "b": 3}) == {"a": 0.25, "b": 0.75}
    assert shares({"a": 0}) == {"a": 0.0}
    lengths = length_percentiles(list(range(1, 102)))
    assert lengths == {"p10": 11.0, "p50": 51.0, "p90": 91.0}
    words = [f"w{i}" for i in range(20)]
    reference = ngram_set([" ".join(words)])
    inside = " ".join(["other", *words[3:16], "tail"])  # shares words 3..15: one 13-gram
    twelve = " ".join(words[3:15])  # only 12 words in common
    assert ngram_overlap([inside, twelve, "nothing here"], reference) == 1
    assert ngram_overlap([inside.upper()], reference) == 1  # lower-cased, as GPT-3's check
    assert np.isclose(len(reference), 20 - 13 + 1)


def test_the_t_quantile_matches_the_printed_tables() -> None:
    # two-sided 95% critical values of Student's t (any statistics table)
    for df, value in ((1, 12.7062), (2, 4.3027), (4, 2.7764), (30, 2.0423)):
        assert student_t_quantile(0.95, df) == pytest.approx(value, abs=1e-4)
    assert student_t_quantile(0.99, 3) == pytest.approx(5.8409, abs=1e-4)


def test_a_paired_difference_pairs_by_seed_and_gives_a_t_interval() -> None:
    # differences per seed: -0.2, -0.4, -0.3 -> mean -0.3, sd 0.1, half-width 4.3027 * 0.1 / sqrt(3)
    d = paired_difference({0: 5.0, 1: 5.1, 2: 5.2, 7: 1.0}, {0: 5.2, 1: 5.5, 2: 5.5})
    assert d is not None and d.n == 3 and d.diffs == pytest.approx([-0.2, -0.4, -0.3])
    half = 4.302653 * 0.1 / math.sqrt(3)
    assert d.mean == pytest.approx(-0.3) and d.low == pytest.approx(-0.3 - half, abs=1e-5)
    assert d.high == pytest.approx(-0.3 + half, abs=1e-5) and d.includes_zero is False
    wide = paired_difference({0: 5.0, 1: 5.6}, {0: 5.2, 1: 5.5})  # -0.2 and +0.1: the interval holds 0
    assert wide is not None and wide.includes_zero is True
    one = paired_difference({0: 5.0}, {0: 5.2, 1: 5.5})
    assert one is not None and one.low is None and one.includes_zero is None and one.mean == pytest.approx(-0.2)
    assert paired_difference({0: 5.0}, {1: 5.0}) is None  # no seed in common: nothing to pair


def test_the_correlation_interval_is_fishers() -> None:
    x = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    y = [7.0, 6.1, 6.3, 5.2, 5.4, 4.6]
    ci = correlation_interval(x, y)
    assert ci is not None and ci.n == 6
    r = float(np.corrcoef(x, y)[0, 1])
    half = 1.959964 / math.sqrt(3)
    assert ci.r == pytest.approx(r)
    assert ci.r_low == pytest.approx(math.tanh(math.atanh(r) - half), abs=1e-6)
    assert ci.r_high == pytest.approx(math.tanh(math.atanh(r) + half), abs=1e-6)
    assert ci.r_high < 0 and ci.r2_low == pytest.approx(ci.r_high ** 2) and ci.r2_high == pytest.approx(ci.r_low ** 2)
    # r2 of the linear fit is r squared
    assert linear_fit(x, y).r2 == pytest.approx(r * r)
    noisy = correlation_interval([1, 2, 3, 4], [1.0, 3.0, 2.0, 2.5])  # an r interval across 0: R² from 0
    assert noisy is not None and noisy.r_low < 0 < noisy.r_high and noisy.r2_low == 0.0
    assert correlation_interval([1, 2, 3], [3.0, 2.0, 1.0]) is None  # n - 3 = 0: no interval
    assert correlation_interval([1, 1, 1, 1], [3.0, 2.0, 1.0, 0.0]) is None


def test_average_ranks_share_the_mean_rank_among_ties() -> None:
    # 5 is smallest (rank 1), the two 20s span ranks 3 and 4
    assert average_ranks([10, 20, 20, 5, 30]).tolist() == [2.0, 3.5, 3.5, 1.0, 5.0]


def test_spearman_by_hand() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [40, 1, 0.5, -3]) == pytest.approx(-1.0)  # monotone, not linear: still -1
    # ranks of y: 2 1 4 3 5; d² sums to 4, so rho = 1 − 6·4 / (5·24) = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    # with ties: Pearson's r of the average ranks (1, 2.5, 2.5, 4) and (1, 2, 3, 4) = 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(4.5 * 5))


def test_spearman_has_no_value_without_an_order() -> None:
    assert spearman([1.0], [2.0]) is None and spearman([3, 3, 3], [1, 2, 3]) is None
    with pytest.raises(ValueError, match="differ in length"):
        spearman([1, 2], [1, 2, 3])
