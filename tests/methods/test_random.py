import numpy as np

from zipfit.methods.random import RandomSample


def test_keys_are_uniform_and_seeded(mixed_sources):
    texts = [f"{t[:200]} #{i}" for i, t in enumerate(mixed_sources * 20)]  # distinct real texts
    a = RandomSample(seed=1).fit([]).score(texts)
    assert np.array_equal(a, RandomSample(seed=1).fit([]).score(texts))
    assert not np.array_equal(a, RandomSample(seed=2).fit([]).score(texts))
    assert ((a >= 0) & (a < 1)).all()
    counts, _ = np.histogram(a, bins=10, range=(0, 1))
    assert np.abs(counts / len(a) - 0.1).max() < 0.03


def test_keys_do_not_depend_on_batching(mixed_sources):
    method = RandomSample(seed=7).fit([])
    whole = method.score(mixed_sources)
    pieces = np.concatenate([method.score(mixed_sources[i : i + 5]) for i in range(0, len(mixed_sources), 5)])
    assert np.array_equal(whole, pieces)


def test_top_k_of_keys_is_a_uniform_sample():
    """Over many seeds every document is picked about K/N of the time."""
    texts = [f"document {i}" for i in range(40)]
    picks = np.zeros(40)
    for seed in range(2000):
        scores = RandomSample(seed=seed).fit([]).score(texts)
        picks[np.argsort(-scores)[:10]] += 1
    rate = picks / 2000
    assert np.abs(rate - 0.25).max() < 0.05
