import numpy as np
import pytest

import zipfit
from zipfit.errors import ZipfitError
from zipfit.methods import ZipFit, ZipFitFast
from zipfit.methods.zipfit_fast import greedy_targets
from zipfit.topk import Budget, cut, ranking


@pytest.fixture(scope="module")
def calibrated(mixed_sources, proofnet_valid):
    fast = ZipFitFast(stage1_targets=3, stage2_targets=6, calibration_docs=40).fit(proofnet_valid[:60])
    sample = mixed_sources[::4]
    exact = fast.calibrate(fast.profiler().score(sample))
    return fast, sample, exact


def test_calibration_exact_scores_are_bit_identical_to_zipfit(calibrated, proofnet_valid):
    _, sample, exact = calibrated
    assert np.array_equal(exact, ZipFit().fit(proofnet_valid[:60]).score(sample))


def test_the_learned_proxies_predict_the_exact_score(calibrated):
    fast, sample, exact = calibrated
    assert len(set(fast.stage2_indices_)) == 6 and fast.stage1_indices_ == fast.stage2_indices_[:3]
    assert fast.r2_ > 0.9  # six targets stand for sixty
    coarse, fine = fast.stage1_.score(sample), fast.stage2_.score(sample)
    assert np.corrcoef(fine, exact)[0, 1] > 0.95
    # leave-one-out spreads: never below the in-sample residual spread, and the fine proxy is tighter
    assert fast.sigma_ >= np.std(exact - fine) * 0.999
    assert fast.sigma1_ >= np.std(exact - coarse) * 0.999
    assert fast.sigma_ < fast.sigma1_


def test_survivors_are_those_the_coarse_proxy_cannot_rule_out():
    fast = ZipFitFast(confidence=2.0)
    fast.sigma1_ = 0.01
    coarse = np.array([0.50, 0.45, 0.44, 0.40, 0.38, 0.10])
    # K = 2: cutoff 0.45, lower bound 0.43; keep coarse + 0.02 >= 0.43, i.e. coarse >= 0.41
    assert list(fast.survivors(coarse, Budget(k=2), np.ones(6))) == [0, 1, 2]
    # a budget of 3 tokens with 2-token documents holds one: cutoff 0.50, bound 0.48, keep >= 0.46
    assert list(fast.survivors(coarse, Budget(tokens=3), np.full(6, 2))) == [0]


def test_greedy_selection_finds_the_columns_that_carry_the_signal():
    rng = np.random.default_rng(0)
    profile = rng.normal(size=(200, 30))
    target = 0.7 * profile[:, 4] - 0.3 * profile[:, 17] + 0.01 * rng.normal(size=200)
    chosen, coef = greedy_targets(profile, target, 2)
    assert chosen == [4, 17]
    assert coef[1:] == pytest.approx([0.7, -0.3], abs=0.01)


def test_candidates_by_count_and_by_tokens():
    method = ZipFitFast(candidate_factor=2.0)
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3, 0.8])
    tokens = np.array([5, 10, 10, 10, 10, 10])
    assert list(method.candidates(scores, Budget(k=2), tokens)) == [1, 2, 3, 5]
    # 2 x 15 tokens = 30: ranking 1,5,3,2,... cumulative 10,20,30,40 -> the smallest prefix reaching 30, plus one
    assert list(method.candidates(scores, Budget(tokens=15), tokens)) == [1, 2, 3, 5]
    assert len(method.candidates(scores, Budget(k=5), tokens)) == 6  # capped at N


def test_cutoff_and_more_candidates():
    method = ZipFitFast(confidence=2.0)
    method.sigma_ = 0.01
    proxy = np.array([0.50, 0.40, 0.39, 0.37, 0.30, 0.10])
    rescored = np.array([0, 1])
    exact = np.array([0.52, 0.41])  # residuals +0.02, +0.01: bias 0.015, spread max(0.01, 0.005)
    tokens = np.array([3, 3, 3, 3, 3, 3])
    assert method.cutoff(rescored, exact, Budget(k=2), tokens) == 0.41
    assert method.cutoff(rescored, exact, Budget(tokens=4), tokens) == 0.52
    # reach = proxy + 0.015 + 2 * 0.01 >= 0.41  <=>  proxy >= 0.375
    assert list(method.more_candidates(proxy, rescored, exact, Budget(k=2), tokens)) == [2]
    # with a budget the top document alone fills, the cutoff is 0.52: nobody else can enter
    assert list(method.more_candidates(proxy, rescored, exact, Budget(tokens=4), tokens)) == []


def test_two_stage_equals_exact_on_real_data(mixed_sources, proofnet_valid):
    """The full algorithm on real text, outside any engine: same top-K as exact ZIP-FIT."""
    targets = proofnet_valid[:80]
    budget = Budget(k=8)
    exact_scores = ZipFit().fit(targets).score(mixed_sources)
    fast = ZipFitFast(stage1_targets=4, stage2_targets=10, calibration_docs=24, seed=3).fit(targets)
    sample = np.arange(0, len(mixed_sources), 7)[:24]
    sample_exact = fast.calibrate(fast.profiler().score([mixed_sources[i] for i in sample]))
    ones = np.ones(len(mixed_sources))
    alive = fast.survivors(fast.stage1_.score(mixed_sources), budget, ones)
    assert len(alive) < len(mixed_sources)
    proxy = np.full(len(mixed_sources), -np.inf)
    proxy[alive] = fast.stage2_.score([mixed_sources[i] for i in alive])
    idx, exact = sample, sample_exact
    todo = np.setdiff1d(fast.candidates(proxy, budget, ones), idx)
    todo = todo[np.isfinite(proxy[todo])]
    while len(todo):
        fresh = fast.exact_.score([mixed_sources[i] for i in todo])
        idx, exact = np.concatenate([idx, todo]), np.concatenate([exact, fresh])
        order = np.argsort(idx)
        idx, exact = idx[order], exact[order]
        todo = fast.more_candidates(proxy, idx, exact, budget, ones)
    assert np.array_equal(exact, exact_scores[idx])
    assert list(idx[cut(ranking(exact), budget)]) == list(cut(ranking(exact_scores), budget))
    assert len(idx) < len(mixed_sources)  # it did not simply rescore everything


def test_invalid_parameters():
    for kwargs, message in [
        ({"stage1_targets": 0}, "--stage1-targets"),
        ({"candidate_factor": 0.5}, "--candidate-factor"),
        ({"candidate_factor": float("inf")}, "finite"),
        ({"confidence": float("nan")}, "--confidence"),
        ({"stage1_targets": 4, "stage2_targets": 4}, "--stage2-targets"),
        ({"stage2_targets": 10, "calibration_docs": 12}, "--calibration-docs"),
    ]:
        with pytest.raises(ZipfitError, match=message):
            ZipFitFast(**kwargs).fit(["a"])


def test_small_corpora_and_few_targets_run_exactly():
    fast = ZipFitFast(stage1_targets=2, stage2_targets=4, calibration_docs=10).fit(["a", "b", "c", "d", "e"])
    assert not fast.single_stage and fast.worthwhile(41) and not fast.worthwhile(40)
    few = ZipFitFast(stage1_targets=2, stage2_targets=5).fit(["a", "b", "c", "d", "e"])
    assert not few.single_stage and few.proxy_sizes() == (1, 2)  # smaller proxies, still cheaper than exact
    assert ZipFitFast().fit(["y"] * 10).proxy_sizes() == (2, 5)
    assert ZipFitFast().fit(["y"] * 40).proxy_sizes() == (4, 16)
    assert ZipFitFast(stage1_targets=1, stage2_targets=4, calibration_docs=8).fit(["a", "b"]).single_stage


def test_ten_targets_still_take_the_cascade_and_select_exactly(tmp_path, mixed_sources, proofnet_valid):
    docs = [{"text": t} for t in mixed_sources]
    exact_out, fast_out = tmp_path / "exact.jsonl", tmp_path / "fast.jsonl"
    zipfit.select(docs, proofnet_valid[:10], method="zipfit", k=10, out=exact_out, workers=1, progress=False)
    result = zipfit.select(docs, proofnet_valid[:10], method="zipfit", fast=True, k=10, out=fast_out, workers=1,
                           progress=False, calibration_docs=32)
    assert fast_out.read_bytes() == exact_out.read_bytes()
    counts = result.manifest["counts"]
    assert counts["two_stage"] and len(result.manifest["method"]["stage2_target_indices"]) == 5
    assert counts["stage2_docs"] < len(docs)
