import gzip
import pickle

import numpy as np
import pytest

from zipfit.errors import ZipfitError
from zipfit.methods import ZipFit, make_method
from zipfit.ncd import alignment_plain


@pytest.mark.parametrize("level", [1, 6, 9])
def test_scores_equal_the_plain_formula_exactly(mixed_sources, proofnet_valid, level):
    targets = proofnet_valid[:8]
    method = ZipFit(level=level).fit(targets)
    texts = mixed_sources[::4]
    fast = method.score(texts)
    plain = np.array([alignment_plain(x, targets, "gzip", level) for x in texts])
    assert np.array_equal(fast, plain)


@pytest.mark.parametrize("codec,level", [("zstd", 3), ("lz4", 0)])
def test_other_codecs_use_the_same_formula(mixed_sources, proofnet_valid, codec, level):
    targets = proofnet_valid[:4]
    method = ZipFit(codec=codec).fit(targets)
    texts = mixed_sources[:10]
    assert np.array_equal(method.score(texts), [alignment_plain(x, targets, codec, level) for x in texts])


def test_score_does_not_depend_on_batching_or_pickling(mixed_sources, proofnet_valid):
    method = ZipFit().fit(proofnet_valid[:6])
    whole = method.score(mixed_sources)
    clone = pickle.loads(pickle.dumps(method))
    pieces = np.concatenate([clone.score(mixed_sources[i : i + 7]) for i in range(0, len(mixed_sources), 7)])
    assert np.array_equal(whole, pieces)


def test_target_like_text_outranks_unrelated_text(data_dir, proofnet_valid):
    method = ZipFit().fit(proofnet_valid[:50])
    lean = proofnet_valid[100]
    prose = "The European lobster is a species of clawed lobster from the eastern Atlantic Ocean. " * 3
    assert method.score([lean])[0] > method.score([prose])[0]


def test_empty_target_set_is_an_error():
    with pytest.raises(ZipfitError, match="target set is empty"):
        ZipFit().fit([])


def test_level_0_refused_at_fit():
    with pytest.raises(ZipfitError, match="--allow-level-0"):
        ZipFit(level=0).fit(["a"])
    method = ZipFit(level=0, allow_level_0=True).fit(["theorem foo : 1 = 1"])
    assert method.score(["x"])[0] == alignment_plain("x", ["theorem foo : 1 = 1"], "gzip", 0)


def test_make_method_by_name():
    assert isinstance(make_method("zipfit", level=6, stage1_targets=3), ZipFit)
    with pytest.raises(ZipfitError, match="unknown method 'dsir2'"):
        make_method("dsir2")


def test_level_0_is_exact_on_inputs_larger_than_a_stored_block(data_dir):
    """Stored blocks (level 0) split differently when input arrives in pieces: the plain path is used.

    The prefix-copy path gave C(x ⊕ y) 5 bytes off for these real pairs (x of 452 and 100,000
    characters against 40,000 characters of WikiText)."""
    text = (data_dir / "text" / "wikitext-2" / "valid.txt").read_text(encoding="utf-8")
    target = text[200_000:240_000]
    method = ZipFit(level=0, allow_level_0=True).fit([target])
    for x in [text[:452], text[:100_000]]:
        assert method.pair_lengths(x)[1] == [len(gzip.compress((x + target).encode(), 0))]
        assert method.score([x])[0] == alignment_plain(x, [target], "gzip", 0)
