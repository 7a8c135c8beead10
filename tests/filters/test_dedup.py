import hashlib
import json
import pickle
import random
import re
import subprocess
import sys

import numpy as np
import pytest
from plain_shingles import jaccard
from realdata import read_jsonl

from zipfit.errors import ZipfitError
from zipfit.filters import dedup, shingles
from zipfit.filters.dedup import DuplicateKeys, GreedyDeduplicator, exact_key
from zipfit.filters.shingles import balanced_bands, candidate_probability


def keys_of(keyer: DuplicateKeys, texts: list[str]) -> np.ndarray:
    return np.concatenate([keyer(texts[lo : lo + 64]) for lo in range(0, len(texts), 64)])


def walk(keys: np.ndarray, bands: int) -> tuple[list[int | None], GreedyDeduplicator]:
    d = GreedyDeduplicator(bands)
    return [d.offer(i, k) for i, k in enumerate(keys)], d


def typos(text: str, count: int, rng: random.Random) -> str:
    chars = list(text)
    letters = [i for i, c in enumerate(chars) if c.isalpha()]
    for i in rng.sample(letters, min(count, len(letters))):
        chars[i] = "q" if chars[i] != "q" else "z"
    return "".join(chars)


@pytest.fixture(scope="module")
def distinct(data_dir) -> list[str]:
    """2,000 real documents: every MBPP problem, every HumanEval problem, the first stdlib functions."""
    texts = [r["text"] + "\n" + r["code"] for r in read_jsonl(data_dir / "mbpp" / "mbpp.jsonl")]
    texts += [r["prompt"] + r["canonical_solution"] for r in read_jsonl(data_dir / "humaneval" / "HumanEval.jsonl.gz")]
    stdlib = read_jsonl(data_dir / "code" / "cpython311_stdlib_functions.jsonl.gz", 2000 - len(texts))
    return texts + [r["code"] for r in stdlib]


@pytest.fixture(scope="module")
def proofnet(data_dir) -> list[str]:
    rows = read_jsonl(data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl")
    return [f"{r['nl_statement']}\n{r['formal_statement']}" for r in rows]


def test_exact_key_is_blake2b_of_whitespace_normalised_text():
    text = "  def f(x):\n\treturn   x\u00a0+ 1\n\n"
    plain = hashlib.blake2b(b"def f(x): return x + 1", digest_size=8).digest()
    assert exact_key(text) == int.from_bytes(plain, "little")
    assert exact_key("def f(x): return x + 1") == exact_key(text) != exact_key("def f(x): return x + 2")
    assert exact_key("DEF f(x): return x + 1") != exact_key(text)  # case is kept
    assert exact_key("\ud800 lone surrogate") != exact_key("")  # any str, no UnicodeEncodeError


def test_documented_s_curve():
    """The module docstring's table is the S-curve of the bands it chooses."""
    assert balanced_bands(0.8, 128) == (9, 13)
    keyer = DuplicateKeys()
    assert (keyer.bands, keyer.rows) == (9, 13)
    table = re.search(r"s +0\.3.*\n +p +(.*)\n", dedup.__doc__)
    documented = [float(x) for x in table.group(1).split()]
    s = [0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    computed = candidate_probability(np.array(s), 9, 13)
    assert np.allclose(computed, documented, rtol=0.05, atol=1e-6)
    assert keyer.params()["p_duplicate_at"][0.8] == pytest.approx(0.40, abs=0.01)


def test_planted_near_duplicates_are_caught(distinct, proofnet):
    """Real documents and copies with a few typos: the copies go, to the original they copy."""
    rng = random.Random(11)
    keyer = DuplicateKeys()
    sample = rng.sample(distinct, 300) + proofnet[:100]
    kept, _ = walk(keys_of(keyer, sample), keyer.bands)
    originals = [t for t, r in zip(sample, kept, strict=True) if r is None]  # real data has its own duplicates
    assert len(originals) > 380
    copies = [typos(t, rng.randrange(1, 4), rng) for t in originals]
    results, d = walk(keys_of(keyer, originals + copies), keyer.bands)
    n = len(originals)
    assert results[:n] == [None] * n
    similarity = np.array([jaccard(a, b) for a, b in zip(originals, copies, strict=True)])
    caught = np.array([r is not None for r in results[n:]])
    assert all(r is None or r == i for i, r in enumerate(results[n:]))
    assert similarity.min() < 0.8 and np.median(similarity) > 0.9
    # measured on these 396: all copies from 0.95 up caught, 284 of 285 from 0.9 up, 361 in all
    # (the S-curve gives 0.998 at 0.95, 0.93 at 0.9, 0.40 at 0.8)
    assert caught[similarity >= 0.95].all()
    assert caught[similarity >= 0.9].mean() > 0.99
    assert caught.mean() > 0.9
    assert d.counts == {"exact_duplicate": 0, "near_duplicate": int(caught.sum())}
    # whitespace-only changes are exact duplicates
    results, d = walk(keys_of(keyer, originals[:50] + [" " + re.sub(r" ", "  ", t) for t in originals[:50]]), 9)
    assert results[50:] == list(range(50)) and d.counts["exact_duplicate"] == 50


def test_no_false_positives_on_real_distinct_documents(distinct):
    """Among 2,000 real documents (2 million pairs) only genuinely similar pairs are called duplicates.

    Measured and inspected: 59 documents are removed (3 exact copies, 29 MBPP problems restated, the
    rest stdlib methods written from one template, such as ``remove_reader``/``remove_writer`` or
    Decimal's ``Context.is_*`` doctests); 55 of those pairs have character-shingle similarity >= 0.7
    and the lowest is 0.53. No pair below 0.5 is removed, as the S-curve (1e-3 at 0.5, 1e-6 at 0.3)
    predicts for pairs that are almost all below 0.3.
    """
    assert len(distinct) == 2000
    keyer = DuplicateKeys()
    results, d = walk(keys_of(keyer, distinct), keyer.bands)
    pairs = [(i, r) for i, r in enumerate(results) if r is not None]
    similarity = np.array([jaccard(distinct[i], distinct[r]) for i, r in pairs])
    assert similarity.min() >= 0.5
    assert (similarity < 0.7).sum() <= 4
    assert len(pairs) == 59
    assert d.counts["near_duplicate"] + d.counts["exact_duplicate"] == len(pairs)
    assert len(d) == len(distinct) - len(pairs)


def test_band_keys_follow_the_signatures(distinct):
    """Two texts share a band key exactly when their signatures agree on that band's rows."""
    texts = distinct[:300]
    u = shingles.units(texts, "char")
    hashes, owner = u.shingles(5)
    a, b = shingles.permutations(128, 0)
    sig = shingles.minhash(hashes, owner, len(texts), a, b)
    keys = DuplicateKeys()(texts)[:, 1:]
    for band in range(9):
        rows = [tuple(r) for r in sig[:, band * 13 : (band + 1) * 13].tolist()]
        same_rows = np.array([[x == y for y in rows] for x in rows])
        same_keys = keys[:, band][:, None] == keys[:, band][None, :]
        assert (same_rows == same_keys).all()
    assert len(np.unique(keys)) > 0.9 * keys.size  # bands of different numbers never share keys by accident


CHILD = """
import json, sys
from zipfit.filters.dedup import DuplicateKeys
texts = json.loads(sys.stdin.read())
print(json.dumps([DuplicateKeys(unit=u)(texts).tolist() for u in ("char", "word")]))
"""


def test_deterministic_picklable_and_batch_independent(distinct, proofnet):
    texts = distinct[:40] + proofnet[:40] + ["", "  ", "x", "ΟΔΟΣ"]
    here = [DuplicateKeys(unit=u)(texts).tolist() for u in ("char", "word")]
    child = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(texts), capture_output=True, text=True,
                           check=True, env={"PYTHONPATH": shingles.__file__.rsplit("/zipfit/", 1)[0],
                                            "PYTHONHASHSEED": "7"})
    assert json.loads(child.stdout) == here
    keyer = pickle.loads(pickle.dumps(DuplicateKeys()))
    keyer.setup()
    keys = keyer(texts)
    assert keys.dtype == np.uint64 and keys.shape == (len(texts), 10)
    assert keys.tolist() == here[0]
    assert np.concatenate([keyer([t]) for t in texts]).tolist() == here[0]
    assert keyer([]).shape == (0, 10)
    assert DuplicateKeys(seed=1)(texts[:5])[:, 1:].tolist() != keys[:5, 1:].tolist()
    exact_only = DuplicateKeys(near_duplicate=None)
    assert exact_only.bands == 0 and exact_only(texts).tolist() == keys[:, :1].tolist()


def test_greedy_deduplicator_keeps_the_best_ranked():
    d = GreedyDeduplicator(bands=2)
    k = np.array
    assert d.offer(10, k([1, 100, 200], dtype=np.uint64)) is None
    assert d.offer(11, k([1, 101, 201], dtype=np.uint64)) == 10  # same exact key
    assert d.offer(12, k([2, 300, 200], dtype=np.uint64)) == 10  # shares band 1 with 10
    assert d.offer(13, k([3, 300, 400], dtype=np.uint64)) is None  # 12 was removed: it does not remove 13
    assert d.offer(14, k([4, 200, 100], dtype=np.uint64)) is None  # same values in the other bands: no match
    assert d.counts == {"exact_duplicate": 1, "near_duplicate": 1}
    assert len(d) == 3
    with pytest.raises(ValueError):
        d.offer(15, k([5, 6], dtype=np.uint64))


@pytest.mark.parametrize("kwargs", [{"near_duplicate": 0.0}, {"unit": "line"}, {"num_perm": 0}, {"shingle": 0}])
def test_bad_parameters_are_one_line_errors(kwargs):
    with pytest.raises(ZipfitError):
        DuplicateKeys(**kwargs)(["text"])
