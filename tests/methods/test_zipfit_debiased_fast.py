"""zipfit-debiased-fast selects what exact zipfit-debiased selects, for less work, on real text."""

from __future__ import annotations

import json

import numpy as np
import pytest

import zipfit
from zipfit.cli import main
from zipfit.errors import ZipfitError
from zipfit.methods import ZipFit, ZipFitDebiased, ZipFitDebiasedFast, ZipFitFast, check_params, make_method
from zipfit.topk import Budget, cut, ranking


@pytest.fixture(scope="module")
def background(mixed_sources) -> list[str]:
    return mixed_sources[3::11][:12]


def test_calibration_gives_the_exact_debiased_scores(mixed_sources, proofnet_valid, background):
    targets = proofnet_valid[:12]
    exact = ZipFitDebiased(background_docs=12).fit(targets, background)
    fast = ZipFitDebiasedFast(stage1_targets=3, stage2_targets=8, calibration_docs=24,
                              background_docs=12).fit(targets, background)
    assert fast.columns_ == [*targets, *exact.background_]
    sample = [*mixed_sources[:20], *background[:4]]  # background documents leave out their own column
    got = fast.calibrate(fast.profiler().score(sample))
    assert np.array_equal(got, exact.score(sample))
    assert len(fast.stage2_indices_) == 8 and fast.r2_ > 0.5


def test_the_cascade_selects_the_exact_top_k(mixed_sources, proofnet_valid, background):
    """The full algorithm outside any engine, background documents among the candidates."""
    targets = proofnet_valid[:30]
    budget = Budget(k=8)
    exact_scores = ZipFitDebiased(background_docs=12).fit(targets, background).score(mixed_sources)
    fast = ZipFitDebiasedFast(stage1_targets=4, stage2_targets=10, calibration_docs=24, seed=3,
                              background_docs=12).fit(targets, background)
    assert not fast.single_stage
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
    assert len(idx) < len(mixed_sources)


def test_select_output_is_byte_identical_to_exact_debiased(tmp_path, mixed_sources, proofnet_valid):
    docs = [{"text": t} for t in mixed_sources]
    targets = proofnet_valid[:24]
    exact_out, fast_out = tmp_path / "exact.jsonl", tmp_path / "fast.jsonl"
    zipfit.select(docs, targets, method="zipfit-debiased", k=10, out=exact_out, workers=1, progress=False,
                  background_docs=12)
    result = zipfit.select(docs, targets, method="zipfit-debiased-fast", k=10, out=fast_out, workers=1,
                           progress=False, background_docs=12, stage1_targets=4, stage2_targets=10,
                           calibration_docs=24)
    assert fast_out.read_bytes() == exact_out.read_bytes()
    counts = result.manifest["counts"]
    assert counts["two_stage"] and counts["rescored"] + counts["calibration_docs"] < len(docs)
    assert result.manifest["method"]["background_docs"] == 12


def test_fast_selects_the_cascade_of_either_score():
    assert type(make_method("zipfit", {"fast": True})) is ZipFitFast
    assert type(make_method("zipfit", {"fast": False})) is ZipFit
    cascade = make_method("zipfit-debiased", {"fast": True, "stage1_targets": 3, "background_docs": 8}, seed=5)
    assert type(cascade) is ZipFitDebiasedFast
    assert (cascade.stage1_targets, cascade.background_docs, cascade.seed) == (3, 8, 5)
    assert check_params("zipfit-debiased", {"fast": True, "confidence": 3.0}) == {"fast": True, "confidence": 3.0}
    with pytest.raises(ZipfitError, match="--stage1-targets does not apply to --method zipfit-debiased"):
        make_method("zipfit-debiased", {"stage1_targets": 3})
    with pytest.raises(ZipfitError, match="--fast does not apply to --method dsir"):
        make_method("dsir", {"fast": True})
    with pytest.raises(ZipfitError, match="zipfit-debiased-fast"):
        ZipFitDebiased(fast=True)


def test_cli_fast_is_the_exact_debiased_selection(tmp_path, mixed_sources, proofnet_valid, capsys):
    sources = tmp_path / "sources.jsonl"
    sources.write_text("".join(json.dumps({"text": t}) + "\n" for t in mixed_sources), encoding="utf-8")
    target = tmp_path / "target.jsonl"
    target.write_text("".join(json.dumps({"text": t}) + "\n" for t in proofnet_valid[:24]), encoding="utf-8")
    common = ["select", str(sources), "--target", str(target), "--k", "10", "--background-docs", "12",
              "--workers", "1", "--no-progress"]
    assert main([*common, "--method", "zipfit-debiased", "--out", str(tmp_path / "exact.jsonl")]) == 0
    assert main([*common, "--method", "zipfit-debiased", "--fast", "--stage2-targets", "10", "--calibration-docs",
                 "24", "--out", str(tmp_path / "fast.jsonl")]) == 0
    assert (tmp_path / "fast.jsonl").read_bytes() == (tmp_path / "exact.jsonl").read_bytes()
    manifest = json.loads((tmp_path / "fast.jsonl.manifest.json").read_text())
    assert manifest["method"]["name"] == "zipfit-debiased" and manifest["method"]["fast"] is True
    assert manifest["counts"]["two_stage"] and manifest["parameters"]["kernel"] == "native"
