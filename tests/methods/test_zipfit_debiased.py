import gzip
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

import zipfit
from zipfit.errors import ZipfitError
from zipfit.methods import ZipFit, ZipFitDebiased, make_method
from zipfit.ncd import alignment_plain

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example_mix() -> list[dict]:
    with gzip.open(EXAMPLES / "source_mix.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_score_is_target_alignment_minus_length_matched_background_alignment(mixed_sources, proofnet_valid):
    targets, background = proofnet_valid[:5], mixed_sources[-6:]
    method = ZipFitDebiased().fit(targets, background)
    cut = [b[: len(targets[i % len(targets)])] for i, b in enumerate(background)]
    texts = [*mixed_sources[:12], background[2]]  # the last one is a background document itself
    plain = [alignment_plain(x, targets) - alignment_plain(x, cut) for x in texts[:-1]]
    plain.append(alignment_plain(texts[-1], targets) - alignment_plain(texts[-1], cut[:2] + cut[3:]))
    assert np.array_equal(method.score(texts), plain)
    clone = pickle.loads(pickle.dumps(method))
    assert np.array_equal(np.concatenate([clone.score(texts[:5]), clone.score(texts[5:])]), method.score(texts))


def test_it_prefers_the_target_domain_where_the_paper_formula_prefers_short_documents(proofnet_valid):
    docs = _example_mix()
    texts = [d["text"] for d in docs]
    domains = np.array([d["domain"] for d in docs])
    rng = np.random.default_rng(0)
    background = [texts[i] for i in rng.choice(len(texts), len(proofnet_valid), replace=False)]
    top = {}
    for method in (ZipFit().fit(proofnet_valid), ZipFitDebiased().fit(proofnet_valid, background)):
        scores = method.score(texts)
        top[method.name] = domains[np.argsort(-scores, kind="stable")[:50]]
    # On this mix the paper's score fills its top 50 with short Python; the contrast picks Lean.
    assert (top["zipfit"] == "lean4-mathlib").sum() < 10
    assert (top["zipfit-debiased"] == "lean4-mathlib").sum() >= 40


def test_select_draws_a_seeded_background_and_records_it(tmp_path, proofnet_valid):
    source = EXAMPLES / "source_mix.jsonl.gz"
    runs = [zipfit.select(source, target_texts=proofnet_valid[:40], method="zipfit-debiased", k=30,
                          out=tmp_path / f"out{w}.jsonl", workers=w, seed=3, progress=False) for w in (1, 2)]
    assert (tmp_path / "out1.jsonl").read_bytes() == (tmp_path / "out2.jsonl").read_bytes()
    params = runs[0].manifest["method"]
    assert params["name"] == "zipfit-debiased" and params["background_docs"] == 40 and params["seed"] == 3
    other = zipfit.select(source, target_texts=proofnet_valid[:40], method="zipfit-debiased", k=30,
                          out=tmp_path / "seed4.jsonl", workers=1, seed=4, progress=False,
                          method_options={"background_docs": 20})
    assert other.manifest["method"]["background_docs"] == 20
    assert not np.array_equal(other.scores, runs[0].scores)


def test_clear_errors():
    with pytest.raises(ZipfitError, match="no background sample"):
        ZipFitDebiased().fit(["theorem a : 1 = 1"]).score(["x"])
    with pytest.raises(ZipfitError, match="at least 2"):
        ZipFitDebiased(background_docs=1).fit(["a"])
    with pytest.raises(ZipfitError, match="target set is empty"):
        make_method("zipfit-debiased").fit([])
