import hashlib
import json
import pickle
import re

import data_selection  # test extra: data-selection==1.0.3 with nltk<3.10.3 (the oracle)
import nltk
import numpy as np
import pytest
from data_selection import HashedNgramDSIR
from data_selection.hashed_ngram_dsir import get_ngram_counts
from realdata import read_jsonl

from zipfit.engines import LocalEngine
from zipfit.errors import ZipfitError
from zipfit.methods import dsir as dsir_module
from zipfit.methods.dsir import DSIR, bucket, buckets_of, char_classes, ngram_strings, word_spans, words
from zipfit.passes import ScoreJob


@pytest.fixture(scope="module")
def sources(data_dir, mixed_sources) -> list[str]:
    """~300 real documents: long and short (many MBPP problems and ProofNet statements are < 100 words)."""
    texts = list(mixed_sources)
    texts += [r["text"] + "\n" + r["code"] for r in read_jsonl(data_dir / "mbpp" / "mbpp.jsonl", 100)[40:]]
    rows = read_jsonl(data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl")
    texts += [f"{r['nl_statement']}\n{r['formal_statement']}" for r in rows if r["split"] == "test"][:40]
    texts += [r["text"][:4000] for r in read_jsonl(data_dir / "lean4" / "batteries.jsonl.gz", 30)]
    return [t for t in texts if t.strip()]


def plain_counts(text: str, n: int, num_buckets: int) -> np.ndarray:
    """The feature function written out the slow, obvious way."""
    tokens = nltk.tokenize.WordPunctTokenizer().tokenize(text.lower())
    out = np.zeros(num_buckets, dtype=np.int64)
    for k in range(1, n + 1):
        for gram in nltk.ngrams(tokens, k):
            out[int(hashlib.sha256(" ".join(gram).encode("utf-8")).hexdigest(), 16) % num_buckets] += 1
    return out


def write_jsonl(path, texts):
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": i, "text": t}) + "\n")
    return str(path)


# -- 1. faithfulness to the package ---------------------------------------------------------------


@pytest.mark.parametrize("num_buckets,ngrams,min_length,k", [(10_000, 2, 100, 40), (4096, 3, 30, 60)])
def test_same_weights_drops_and_top_k_as_the_package(
    tmp_path, sources, proofnet_valid, num_buckets, ngrams, min_length, k
):
    assert data_selection.__version__ == "1.0.3"
    src = write_jsonl(tmp_path / "src.jsonl", sources)
    tgt = write_jsonl(tmp_path / "tgt.jsonl", proofnet_valid)
    pkg = HashedNgramDSIR(
        [src], [tgt], cache_dir=str(tmp_path / "cache"), num_proc=1,
        ngrams=ngrams, num_buckets=num_buckets, min_example_length=min_length,
    )  # fmt: skip
    pkg.fit_importance_estimator(num_tokens_to_fit="auto")
    pkg.compute_importance_weights()
    # one shard with num_proc=1: its log weights and lengths, in input order
    pkg_logw = np.load(tmp_path / "cache" / "log_importance_weights" / "0.npy")
    pkg_lengths = np.load(tmp_path / "cache" / "perexample_metadata" / "0.npy")
    pkg.resample(out_dir=str(tmp_path / "out"), num_to_sample=k, top_k=True)
    with open(tmp_path / "out" / "0.jsonl", encoding="utf-8") as f:
        pkg_top = {json.loads(line)["id"] for line in f}

    ours = DSIR(num_buckets=num_buckets, ngrams=ngrams, min_example_length=min_length)
    ours.fit(proofnet_valid)
    ours.fit_source(sum(ours.source_counts(sources[i : i + 17]) for i in range(0, len(sources), 17)))
    scores = ours.score(sources)

    assert len(pkg_logw) == len(scores) == len(sources)
    kept = pkg_lengths >= min_length
    assert 20 <= (~kept).sum() <= len(sources) - k - 20  # the data exercises both sides of the filter
    assert np.array_equal(np.isnan(scores), ~kept)
    np.testing.assert_allclose(scores[kept], pkg_logw[kept], rtol=1e-6, atol=0)
    assert np.array_equal(scores[kept], pkg_logw[kept])  # in fact bit-identical: same arrays, same np.dot
    assert np.array_equal(ours.log_diff_, pkg.log_diff)
    # the package also weighs the documents it then drops: so does our feature vector
    dropped = np.flatnonzero(~kept)
    assert np.array_equal([np.dot(ours.log_diff_, ours.counts(sources[i])) for i in dropped], pkg_logw[dropped])

    eligible = np.flatnonzero(kept)
    order = eligible[np.argsort(-scores[eligible], kind="stable")]
    assert scores[order[k - 1]] > scores[order[k]]  # no tie at the cutoff, so the top-K set is unique
    assert set(order[:k].tolist()) == pkg_top


# -- 2. features ----------------------------------------------------------------------------------


def test_bucket_equals_the_hexdigest_formula_on_real_ngrams(sources):
    grams = sorted({g for t in sources for g in ngram_strings(words(t), 3)})
    assert len(grams) > 50_000
    for num_buckets in (10_000, 997, 1, 2**31 - 1, 2**31):
        plain = [int(hashlib.sha256(g.encode("utf-8")).hexdigest(), 16) % num_buckets for g in grams]
        assert buckets_of(grams, num_buckets).tolist() == plain
        assert [bucket(g, num_buckets) for g in grams[::10]] == plain[::10]
    with pytest.raises(ZipfitError, match="num_buckets"):
        DSIR(num_buckets=2**31 + 1).fit(["a"])


UNICODE = (
    "Ünïcode — naïve café, x₁+x₂ ≤ ∑ αᵢ; 数学 test_case __init__ 3.88$ İstanbul ǅ ß ﬃ 😀🎉 𝔸𝔹 ab\u200bcd "
    "a\x00b \x00\x00 \u3000wide\u3000space abcdefg abcdefgh abcdef\x00 \x00abcdef toolongword1234 短"
)


def test_tokenizer_is_nltk_wordpunct(mixed_sources):
    wpt = nltk.tokenize.WordPunctTokenizer()
    texts = [*mixed_sources, UNICODE, "", " ", "x"]
    expected = [wpt.tokenize(t.lower()) for t in texts]
    assert [words(t) for t in texts] == expected
    joined, _, starts, ends, per_text = word_spans(texts)
    assert [joined[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)] == [
        w for e in expected for w in e
    ]
    assert per_text.tolist() == [len(e) for e in expected]


def test_character_classes_are_the_regex_classes_on_every_code_point():
    codepoints = np.arange(0x110000, dtype=np.uint32)
    word, space = re.compile(r"\w"), re.compile(r"\s")
    expected = [2 if word.match(c) else 0 if space.match(c) else 1 for c in map(chr, range(0x110000))]
    assert char_classes(codepoints).tolist() == expected


@pytest.mark.parametrize("ngrams,num_buckets", [(2, 10_000), (1, 10_000), (3, 997), (4, 50)])
def test_counts_equal_the_plain_reimplementation(mixed_sources, ngrams, num_buckets):
    method = DSIR(num_buckets=num_buckets, ngrams=ngrams)
    texts = [*mixed_sources[::5], "", "word", "two words", "   \n\t "]
    for text in texts:
        counts = method.counts(text)
        assert counts.dtype == np.int64
        assert np.array_equal(counts, plain_counts(text, ngrams, num_buckets))
        assert np.array_equal(counts, get_ngram_counts(text, n=ngrams, num_buckets=num_buckets))
    batch = method.source_counts(texts)
    assert batch.dtype == np.float64 and batch.shape == (num_buckets,)
    assert np.array_equal(batch, sum(plain_counts(t, ngrams, num_buckets) for t in texts))


@pytest.mark.parametrize("ngrams", [2, 3])
def test_memo_clearing_changes_nothing(monkeypatch, mixed_sources, proofnet_valid, ngrams):
    method = DSIR(ngrams=ngrams, min_example_length=0).fit(proofnet_valid, source_sample=mixed_sources)
    expected = method.score(mixed_sources)
    monkeypatch.setattr(dsir_module, "CACHE_LIMIT", 50)
    dsir_module._hashers.clear()
    batches = [mixed_sources[i : i + 4] for i in range(0, len(mixed_sources), 4)]
    largest = 0
    scores = []
    for batch in batches:
        scores.append(method.score(batch))
        largest = max(largest, len(dsir_module._hashers[10_000]))
    assert np.array_equal(np.concatenate(scores), expected)
    # cleared before a batch whenever past the limit: never more than the limit plus one batch's n-grams
    assert largest <= 50 + max(sum(len(ngram_strings(words(t), ngrams)) for t in b) for b in batches)
    assert np.array_equal(method.source_counts(mixed_sources), DSIR(ngrams=ngrams).source_counts(mixed_sources))


def test_batch_features_equal_one_document_at_a_time(mixed_sources):
    """Bigrams never cross documents of a batch, whatever the empty or one-word documents around them."""
    method = DSIR(min_example_length=0).fit(["a b"], source_sample=["a b c"])
    texts = ["", "", "one", *mixed_sources[:5], "", "x", "y z", "", *mixed_sources[5:8], "w", ""]
    alone = [method.counts(t) for t in texts]
    assert np.array_equal(method.source_counts(texts), sum(alone))
    assert np.array_equal(method.score(texts), [np.dot(method.log_diff_, c) for c in alone])
    assert len(method.score([])) == 0 and np.array_equal(method.source_counts([]), np.zeros(10_000))


def test_int_table_against_a_dict():
    rng = np.random.default_rng(1)
    table, reference = dsir_module._IntTable(bits=4), {}
    for _ in range(30):
        keys = rng.integers(0, 3000, size=rng.integers(1, 400)) * 1_000_003  # collide in the low bits too
        values, found = table.find(keys)
        assert found.tolist() == [k in reference for k in keys.tolist()]
        assert values[found].tolist() == [reference[k] for k in keys[found].tolist()]
        new = np.unique(keys[~found])
        table.insert(new, new % 977)
        reference.update(zip(new.tolist(), (new % 977).tolist(), strict=True))
    assert len(table) == len(reference) and table.bits > 4
    assert 2 * len(table) <= len(table.keys)


def test_length_filter_counts_wordpunct_tokens():
    method = DSIR(min_example_length=5, ngrams=2).fit(["a b c"], source_sample=["a b c d e f"])
    four, five = "x, y z", "x, y z!"  # 4 and 5 WordPunct tokens, 3 whitespace words each
    assert np.isnan(method.score([four])[0])
    assert not np.isnan(method.score([five])[0])


# -- 3. determinism -------------------------------------------------------------------------------


def test_scores_do_not_depend_on_batching_pickling_or_process(sources, proofnet_valid):
    method = DSIR(min_example_length=50).fit(proofnet_valid)
    method.fit_source(method.source_counts(sources))
    whole = method.score(sources)
    clone = pickle.loads(pickle.dumps(method))
    pieces = np.concatenate([clone.score(sources[i : i + 7]) for i in range(0, len(sources), 7)])
    assert np.array_equal(whole, pieces, equal_nan=True)
    reversed_batch = method.score(sources[::-1])[::-1]
    assert np.array_equal(whole, reversed_batch, equal_nan=True)
    with LocalEngine(2, progress=False) as engine:
        batches = [sources[i : i + 13] for i in range(0, len(sources), 13)]
        remote = np.concatenate([s for s, _ in engine.map(ScoreJob(method), batches)])
        counts = sum(engine.map(_CountJob(DSIR(min_example_length=50)), batches))
    assert np.array_equal(whole, remote, equal_nan=True)
    assert np.array_equal(counts, method.source_counts(sources))


class _CountJob:
    def __init__(self, method):
        self.method = method

    def setup(self):
        self.method.setup()

    def __call__(self, texts):
        return self.method.source_counts(texts)


def test_gumbel_noise_is_seeded():
    a = DSIR.gumbel_noise(10_000, 7)
    assert a.shape == (10_000,) and a.dtype == np.float64
    assert np.array_equal(a, DSIR.gumbel_noise(10_000, 7))
    assert np.array_equal(a[:100], DSIR.gumbel_noise(100, 7))  # entry i does not depend on n
    assert not np.array_equal(a, DSIR.gumbel_noise(10_000, 8))
    assert abs(a.mean() - np.euler_gamma) < 0.05 and abs(a.var() - np.pi**2 / 6) < 0.1  # standard Gumbel


# -- 4. ranking -----------------------------------------------------------------------------------


def test_target_like_text_outranks_unrelated_text(proofnet_valid, mixed_sources):
    method = DSIR().fit(proofnet_valid[:100], source_sample=mixed_sources)
    lean = "\n".join(proofnet_valid[100:106])
    prose = "The European lobster is a species of clawed lobster from the eastern Atlantic Ocean. " * 8
    lean_score, prose_score = method.score([lean, prose])
    assert lean_score > prose_score


# -- errors and parameters ------------------------------------------------------------------------


def test_errors():
    with pytest.raises(ZipfitError, match="target set is empty"):
        DSIR().fit([])
    with pytest.raises(ZipfitError, match="no words"):
        DSIR().fit(["  ", "\n"])
    with pytest.raises(ZipfitError, match="fit_source"):
        DSIR().fit(["a b"]).score(["a b"])
    with pytest.raises(ZipfitError, match="shape"):
        DSIR().fit(["a b"]).fit_source(np.ones(5))
    with pytest.raises(ZipfitError, match="needs fit"):
        DSIR().fit_source(np.ones(10_000))
    with pytest.raises(ZipfitError, match="ngrams"):
        DSIR(ngrams=0).fit(["a"])


def test_no_work_in_init_and_params(proofnet_valid):
    method = DSIR(num_buckets=123, ngrams=3, min_example_length=7, seed=5)
    assert vars(method) == {"num_buckets": 123, "ngrams": 3, "min_example_length": 7, "seed": 5}
    method.fit(proofnet_valid[:3], source_sample=proofnet_valid[3:6])
    params = method.params()
    assert params["num_buckets"] == 123 and params["seed"] == 5 and params["n_targets"] == 3
    assert params["source_ngrams"] > 0 and params["target_ngrams"] > 0
    assert b"_Hasher" not in pickle.dumps(method)


def test_fit_with_a_source_sample_equals_fit_source(proofnet_valid, mixed_sources):
    a = DSIR().fit(proofnet_valid, source_sample=mixed_sources)
    b = DSIR().fit(proofnet_valid).fit_source(DSIR().source_counts(mixed_sources))
    assert np.array_equal(a.log_diff_, b.log_diff_)


def test_wordpunct_regex_is_nltks():
    assert dsir_module.WORDPUNCT.pattern == nltk.tokenize.WordPunctTokenizer()._pattern
    assert dsir_module.WORDPUNCT.flags & re.UNICODE
