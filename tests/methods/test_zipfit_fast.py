import numpy as np
import pytest

from zipfit.errors import ZipfitError
from zipfit.methods import ZipFit, ZipFitFast
from zipfit.topk import Budget, cut, ranking


def test_stage1_targets_are_a_seeded_subset(proofnet_valid):
    a = ZipFitFast(stage1_targets=5, seed=1).fit(proofnet_valid)
    b = ZipFitFast(stage1_targets=5, seed=1).fit(proofnet_valid)
    c = ZipFitFast(stage1_targets=5, seed=2).fit(proofnet_valid)
    assert list(a.stage1_indices_) == list(b.stage1_indices_)
    assert list(a.stage1_indices_) != list(c.stage1_indices_)
    assert len(a.stage1_.targets_) == 5 and len(a.exact_.targets_) == len(proofnet_valid)
    assert not a.single_stage
    assert ZipFitFast(stage1_targets=500).fit(proofnet_valid[:20]).single_stage


def test_candidates_by_count_and_by_tokens():
    method = ZipFitFast(candidate_factor=2.0)
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3, 0.8])
    tokens = np.array([5, 10, 10, 10, 10, 10])
    assert sorted(method.candidates(scores, Budget(k=2), tokens)) == [1, 2, 3, 5]
    # 2 x 15 tokens = 30: ranking 1,5,3,2.. cumulative 10,20,30,40 -> smallest prefix reaching 30 plus one
    assert sorted(method.candidates(scores, Budget(tokens=15), tokens)) == [1, 2, 3, 5]
    assert len(method.candidates(scores, Budget(k=5), tokens)) == 6  # capped at N


def _two_stage(fast, texts, budget):
    candidates = fast.candidates(fast.stage1_.score(texts), budget, np.ones(len(texts)))
    rescored = fast.exact_.score([texts[i] for i in candidates])
    return candidates, candidates[cut(ranking(rescored), budget)], rescored


def test_two_stage_with_defaults_finds_the_exact_top_k_on_real_data(mixed_sources, proofnet_valid):
    budget = Budget(k=10)
    exact = ZipFit().fit(proofnet_valid[:40])
    true_top = cut(ranking(exact.score(mixed_sources)), budget)
    _, found, _ = _two_stage(ZipFitFast().fit(proofnet_valid[:40]), mixed_sources, budget)
    assert list(found) == list(true_top)


@pytest.mark.parametrize("seed", range(4))
def test_two_stage_is_exact_whenever_stage1_recalls_the_top_k(mixed_sources, proofnet_valid, seed):
    """With few stage-1 targets recall can fail; when it does not, the result is the exact top-K."""
    budget = Budget(k=10)
    exact = ZipFit().fit(proofnet_valid[:40])
    exact_scores = exact.score(mixed_sources)
    true_top = cut(ranking(exact_scores), budget)
    candidates, found, rescored = _two_stage(ZipFitFast(stage1_targets=4, seed=seed).fit(proofnet_valid[:40]),
                                             mixed_sources, budget)
    assert np.array_equal(rescored, exact_scores[candidates])  # stage 2 is the exact score
    if set(true_top) <= set(candidates):
        assert list(found) == list(true_top)
    else:
        assert set(found) != set(true_top)


def test_invalid_parameters():
    with pytest.raises(ZipfitError, match="--stage1-targets"):
        ZipFitFast(stage1_targets=0).fit(["a"])
    with pytest.raises(ZipfitError, match="--candidate-factor"):
        ZipFitFast(candidate_factor=0.5).fit(["a"])


def test_candidate_factor_must_be_finite():
    with pytest.raises(ZipfitError, match="finite"):
        ZipFitFast(candidate_factor=float("inf")).fit(["a"])
