import gzip
import json
import pickle

import numpy as np
import pytest

from zipfit.embeddings import Embedder, normalise
from zipfit.errors import ZipfitError
from zipfit.methods.d4 import D4, keep_threshold, max_earlier_similarity, spherical_kmeans

N_DISTINCT = 60
N_PLANTED = 8


def short(text: str, words: int = 50) -> str:
    return " ".join(text.split()[:words])


def mutate(text: str) -> str:
    """A near-copy: two words in the middle swapped and a full stop added.

    Typos are not what a sentence embedding calls a duplicate: MiniLM's subword tokens make one
    changed letter move a 50-word text to cosine 0.72-0.95 of the original, as far as a different
    text; reordered words and punctuation keep it above 0.98.
    """
    words = text.split(" ")
    i = len(words) // 2
    words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words).rstrip() + " ."


@pytest.fixture(scope="module")
def pool(data_dir) -> list[str]:
    """60 distinct real documents (Python, ProofNet Lean, WikiText prose), then 8 planted near-copies."""
    with gzip.open(data_dir / "code" / "cpython311_stdlib_functions.jsonl.gz", "rt", encoding="utf-8") as f:
        code = [short(json.loads(line)["code"]) for _, line in zip(range(200), f, strict=False)][::10]
    with open(data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    lean = [short(f"{r['nl_statement']}\n{r['formal_statement']}") for r in rows if r["split"] == "test"][::9][:20]
    with open(data_dir / "text" / "wikitext-2" / "valid.txt", encoding="utf-8-sig") as f:
        prose = [short(line) for line in f if len(line.split()) > 60][::5][:20]
    distinct = code + lean + prose
    assert len(distinct) == N_DISTINCT == len(set(distinct))
    planted = [mutate(distinct[i]) for i in (1, 7, 15, 22, 30, 38, 45, 59)]
    assert len(planted) == N_PLANTED
    return distinct + planted


@pytest.fixture(scope="module")
def embeddings(pool, tmp_path_factory) -> np.ndarray:
    embedder = pickle.loads(pickle.dumps(D4(cache_dir=tmp_path_factory.mktemp("cache")).embedder()))
    assert isinstance(embedder, Embedder)
    return embedder.embed(pool)


def test_semdedup_removes_the_planted_copies_and_keeps_the_distinct_documents(embeddings):
    n = N_DISTINCT + N_PLANTED
    order, _, stats = D4(r_dedup=N_DISTINCT / n, seed=0).rank(embeddings)
    assert sorted(order.tolist()) == list(range(N_DISTINCT))
    assert stats["semdedup"]["removed"] == N_PLANTED and stats["semdedup"]["kept"] == N_DISTINCT
    # the copies are far closer to their originals than any two distinct documents are to each other
    m = max_earlier_similarity(embeddings, np.zeros(n, dtype=np.int64))
    assert m[N_DISTINCT:].min() > 0.97 and m[:N_DISTINCT].max() < 0.8
    # a fixed epsilon finds the same copies
    fixed, _, fixed_stats = D4(epsilon=0.05).rank(embeddings)
    assert sorted(fixed.tolist()) == list(range(N_DISTINCT))
    assert fixed_stats["semdedup"]["epsilon"] == 0.05 and fixed_stats["semdedup"]["r_dedup_target"] is None


def test_default_r_dedup_keeps_three_quarters(embeddings):
    order, _, stats = D4().rank(embeddings)
    assert len(order) == round(0.75 * len(embeddings)) == stats["semdedup"]["kept"]
    assert not set(order.tolist()) & set(range(N_DISTINCT, N_DISTINCT + N_PLANTED))
    assert 0 < stats["semdedup"]["epsilon"] < 1


def test_selection_is_deterministic_for_a_seed(embeddings):
    for seed in (0, 1):
        a = D4(seed=seed, r_dedup=0.8).select(embeddings, 30)
        b = D4(seed=seed, r_dedup=0.8).select(embeddings, 30)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        assert a[2] == b[2]
        assert np.all(np.diff(a[1]) <= 0)  # best (least prototypical) first


def test_ssl_prototypes_drop_the_most_prototypical(embeddings):
    """With one cluster the prototype is the survivors' mean direction: the K kept are the K farthest from it."""
    d4 = D4(r_dedup=N_DISTINCT / len(embeddings), clusters=1)
    kept, scores, stats = d4.select(embeddings, 20)
    survivors = np.arange(N_DISTINCT)
    x = embeddings[survivors].astype(np.float64)
    centre = normalise(x.sum(axis=0, keepdims=True)).astype(np.float64)[0]
    distance = 1 - x @ centre
    np.testing.assert_allclose(scores, distance[kept], atol=1e-5)
    dropped = np.setdiff1d(survivors, kept)
    assert distance[kept].min() >= distance[dropped].max() - 1e-6
    assert stats["prototypes"]["clusters"] == 1 and stats["selected"] == 20


def test_k_beyond_the_survivors_is_a_clear_error(embeddings):
    with pytest.raises(ZipfitError, match=r"keeps 51 of 68 .* raise r_dedup to at least 0\.882"):
        D4().select(embeddings, 60)
    with pytest.raises(ZipfitError, match="only 68 source documents"):
        D4().select(embeddings, 69)


def test_token_budget_takes_the_longest_prefix_of_the_ranking(embeddings, pool):
    n_tokens = np.array([len(t.split()) for t in pool])
    order, _, _ = D4(seed=3).rank(embeddings)
    budget = int(n_tokens[order[:10]].sum()) + 1
    chosen, _, stats = D4(seed=3).select_tokens(embeddings, n_tokens, budget)
    np.testing.assert_array_equal(chosen, order[:10])
    assert stats["selected_tokens"] == budget - 1 and stats["budget_unused"] == 1
    everything, _, stats = D4(seed=3).select_tokens(embeddings, n_tokens, 10**9)
    assert len(everything) == len(order)


def test_first_of_a_duplicate_group_in_input_order_is_kept():
    rng = np.random.default_rng(0)
    base = normalise(rng.normal(size=(40, 32)))
    copy_first = normalise(base[5:6] + 1e-3 * rng.normal(size=(1, 32)))
    x = np.vstack([copy_first, base])  # the copy comes before its original (row 6)
    order, _, stats = D4(epsilon=0.01, clusters=4).rank(x)
    assert stats["semdedup"]["removed"] == 1 and 6 not in order and 0 in order


def test_spherical_kmeans_finds_separated_groups_deterministically():
    rng = np.random.default_rng(1)
    centres = normalise(rng.normal(size=(5, 24)))
    x = normalise(np.repeat(centres, 30, axis=0) + 0.05 * rng.normal(size=(150, 24)))
    labels, centroids, _ = spherical_kmeans(x, 5, seed=0)
    assert sorted(np.bincount(labels).tolist()) == [30] * 5
    assert all(len(set(labels[i * 30 : (i + 1) * 30])) == 1 for i in range(5))
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1, atol=1e-5)
    again = spherical_kmeans(x, 5, seed=0)
    np.testing.assert_array_equal(labels, again[0])
    np.testing.assert_array_equal(centroids, again[1])
    many, _, _ = spherical_kmeans(x[:3], 10, seed=0)  # more clusters than points: one per point
    assert sorted(many.tolist()) == [0, 1, 2]


def test_keep_threshold_keeps_ties_together():
    m = np.array([-np.inf, 0.5, 0.9, 0.9, 0.99])
    t, kept = keep_threshold(m, 2)
    assert kept == 2 and (m <= t).sum() == 2 and 0.5 < t < 0.9
    t, kept = keep_threshold(m, 3)  # 0.9 twice: keeping both (4) is as close as dropping both (2)
    assert kept == 4 and (m <= t).sum() == 4
    t, kept = keep_threshold(m, 1)
    assert kept == 1 and (m <= t).sum() == 1
    assert keep_threshold(m, 5) == (0.99, 5)


def test_bad_input_is_a_user_error():
    x = normalise(np.random.default_rng(0).normal(size=(10, 8)))
    with pytest.raises(ZipfitError, match="r_dedup"):
        D4(r_dedup=0).rank(x)
    with pytest.raises(ZipfitError, match="NaN"):
        D4().rank(np.full((3, 4), np.nan))
    with pytest.raises(ZipfitError, match="non-empty"):
        D4().rank(np.zeros((0, 4)))
    with pytest.raises(ZipfitError, match="one token count per document"):
        D4().select_tokens(x, np.ones(3), 10)
    assert D4().fit(["ignored"]).params()["r_dedup"] == 0.75
