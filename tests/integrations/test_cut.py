"""The exact cut from gathered scores is the library's: the same documents as select_top, ties to the earlier one."""

from __future__ import annotations

import numpy as np
import pytest

from zipfit.errors import ZipfitError
from zipfit.integrations.cut import exact_cut
from zipfit.topk import Budget, select_top


def test_ties_go_to_the_earlier_document_and_nan_is_never_selected():
    scores = np.array([0.5, 0.9, 0.5, np.nan, 0.5, 0.7])
    tokens = np.array([3, 4, 5, 6, 7, 8])
    chosen = exact_cut(scores, tokens, k=3)
    assert chosen.positions.tolist() == [1, 5, 0] and chosen.cutoff == 0.5
    assert chosen.ranks() == {1: 1, 5: 2, 0: 3}
    assert exact_cut(scores, tokens, tokens=12).positions.tolist() == [1, 5]
    assert exact_cut(scores, tokens, min_score=0.5).positions.tolist() == [1, 5, 0, 2, 4]
    assert exact_cut(scores, tokens, fraction=0.5).positions.tolist() == [1, 5]  # half of 5 scorable, rounded down


def test_the_same_selection_as_select_top_on_real_sized_random_scores():
    rng = np.random.default_rng(7)
    scores = np.round(rng.random(5000), 3)  # many ties
    tokens = rng.integers(1, 500, size=5000)
    for budget in (Budget(k=700), Budget(tokens=40_000)):
        expected = select_top(scores, budget, tokens)
        got = exact_cut(scores, tokens, k=budget.k, tokens=budget.tokens)
        assert got.positions.tolist() == expected.tolist()
        assert got.scores.tolist() == scores[expected].tolist()


def test_budget_errors_are_the_cli_ones():
    with pytest.raises(ZipfitError, match="--k 9 but only 2 eligible"):
        exact_cut([0.1, 0.2], [1, 1], k=9)
    with pytest.raises(ZipfitError, match="give one of --k, --tokens or --fraction"):
        exact_cut([0.1], [1], k=1, tokens=3)
