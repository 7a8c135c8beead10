import json
import pickle

import numpy as np
import pytest

from zipfit.embeddings import Embedder
from zipfit.engines import LocalEngine
from zipfit.errors import ZipfitError
from zipfit.methods.embed import EmbeddingSimilarity
from zipfit.passes import ScoreJob


def short(text: str, words: int = 60) -> str:
    return " ".join(text.split()[:words])


@pytest.fixture(scope="module")
def proofnet_test(data_dir) -> list[str]:
    with open(data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [f"{r['nl_statement']}\n{r['formal_statement']}" for r in rows if r["split"] == "test"]


@pytest.fixture(scope="module")
def wikitext(data_dir) -> list[str]:
    with open(data_dir / "text" / "wikitext-2" / "valid.txt", encoding="utf-8-sig") as f:
        paragraphs = [line.strip() for line in f if len(line.split()) > 40]
    return [short(p) for p in paragraphs[:8]]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("embedding-cache")


def test_score_is_the_mean_cosine_to_the_targets(proofnet_valid, mixed_sources, cache_dir):
    targets = proofnet_valid[:8]
    sources = [short(t) for t in mixed_sources[::12]]
    method = EmbeddingSimilarity(cache_dir=cache_dir).fit(targets)
    got = method.score(sources)

    plain = Embedder(cache_dir=cache_dir)  # the same vectors, from the cache; the arithmetic is checked
    x, y = plain.embed(sources).astype(np.float64), plain.embed(targets).astype(np.float64)
    cos = (x @ y.T) / np.outer(np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1))
    np.testing.assert_allclose(got, cos.mean(axis=1), atol=1e-6)
    assert got.dtype == np.float64 and got.shape == (len(sources),)
    # = e(x) . mean_j e(y_j) (mean not re-normalised); the cosine to the centroid is that over |mean|
    centroid = y.mean(axis=0)
    np.testing.assert_allclose(got, x @ centroid, atol=1e-6)
    to_centroid = x @ centroid / np.linalg.norm(centroid)
    np.testing.assert_allclose(got / np.linalg.norm(centroid), to_centroid, atol=1e-6)
    assert np.linalg.norm(centroid) < 1
    assert method.params()["norm_of_target_mean"] == pytest.approx(np.linalg.norm(centroid), abs=1e-6)


def test_lean_statements_outrank_prose_for_a_proofnet_target(proofnet_valid, proofnet_test, wikitext, cache_dir):
    method = EmbeddingSimilarity(cache_dir=cache_dir).fit(proofnet_valid[:24])
    lean = method.score(proofnet_test[:8])
    prose = method.score(wikitext)
    assert lean.min() > prose.max()


def test_pickled_method_scores_the_same_in_engine_workers(proofnet_valid, proofnet_test, wikitext, cache_dir):
    method = EmbeddingSimilarity(cache_dir=cache_dir).fit(proofnet_valid[:12])
    sources = proofnet_test[:6] + wikitext[:6]
    expected = method.score(sources)
    clone = pickle.loads(pickle.dumps(method))
    assert clone.embedder_._model is None  # the model is never pickled
    batches = [sources[:4], sources[4:8], sources[8:]]
    with LocalEngine(2, progress=False) as engine:
        got = np.concatenate([scores for scores, _ in engine.map(ScoreJob(method), iter(batches))])
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_empty_target_set_is_a_user_error(cache_dir):
    with pytest.raises(ZipfitError, match="target set is empty"):
        EmbeddingSimilarity(cache_dir=cache_dir).fit([])


def test_params_name_the_model(proofnet_valid, cache_dir):
    params = EmbeddingSimilarity(cache_dir=cache_dir).fit(proofnet_valid[:2]).params()
    assert params["model"] == "all-MiniLM-L6-v2" and params["dim"] == 384 and params["max_seq_length"] == 256
    assert params["n_targets"] == 2 and params["identity"].startswith("st:")
