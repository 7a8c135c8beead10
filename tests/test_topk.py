import numpy as np
import pytest

from zipfit.errors import ZipfitError
from zipfit.topk import Budget, cut, prefix_within, ranking, select_top


def test_ranking_breaks_ties_by_input_order():
    scores = np.array([0.5, 0.9, 0.5, 0.9, 0.1])
    assert list(ranking(scores)) == [1, 3, 0, 2, 4]


def test_top_k_matches_a_plain_sort():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 50, size=2000) / 50  # many ties
    expected = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:137]
    assert list(cut(ranking(scores), Budget(k=137))) == expected


def test_token_budget_is_the_longest_prefix_within_budget():
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    tokens = np.array([10, 50, 5, 5])
    assert list(cut(ranking(scores), Budget(tokens=59), tokens)) == [0]
    assert list(cut(ranking(scores), Budget(tokens=60), tokens)) == [0, 1]
    assert list(cut(ranking(scores), Budget(tokens=10**9), tokens)) == [0, 1, 2, 3]
    assert prefix_within(np.array([3, 3, 3]), 2) == 0


def test_budget_validation():
    with pytest.raises(ZipfitError, match="exactly one"):
        Budget()
    with pytest.raises(ZipfitError, match="not --k and --tokens"):
        Budget(k=1, tokens=1)
    with pytest.raises(ZipfitError, match=r"--fraction must be in \(0, 1\]"):
        Budget(fraction=1.5)
    assert Budget(fraction=0.25).resolve(10) == Budget(k=2)
    assert Budget(min_score=0.5).resolve(10, 3) == Budget(k=3, min_score=0.5)
    with pytest.raises(ZipfitError, match="less than one document"):
        Budget(fraction=0.01).resolve(10)
    with pytest.raises(ZipfitError, match="at least 1"):
        Budget(k=0)
    with pytest.raises(ZipfitError, match=r"--k 5 but only 3 eligible"):
        cut(ranking(np.zeros(3)), Budget(k=5))


@pytest.mark.parametrize("seed", range(6))
def test_select_top_equals_the_full_sort(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    scores = rng.integers(0, 40, size=n) / 40  # many ties
    if seed % 2:
        scores[rng.random(n) < 0.1] = -np.inf  # unscorable documents
    tokens = rng.integers(1, 500, size=n).astype(np.uint32)
    finite = int(np.isfinite(scores).sum())
    for k in {1, max(1, finite // 3), finite}:
        if k <= finite:
            expected = cut(ranking(scores), Budget(k=k))
            assert list(select_top(scores, Budget(k=k))) == list(expected)
    for budget in (1, 499, 500, 10_000, int(tokens.sum()) - 1, int(tokens.sum()) + 5):
        expected = cut(ranking(scores), Budget(tokens=budget), tokens)
        got = select_top(scores, Budget(tokens=budget), tokens)
        expected = expected[np.isfinite(scores[expected])]
        got = got[np.isfinite(scores[got])]
        assert list(got) == list(expected)
