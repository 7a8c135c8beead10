import numpy as np
import pytest

from zipfit.errors import ZipfitError
from zipfit.tokens import TokenCounter


def test_builtin_units():
    texts = ["def f(x):\n    return x", "héllo  world"]
    assert list(TokenCounter().count(texts)) == [4, 2]
    assert list(TokenCounter("chars").count(texts)) == [len(t) for t in texts]
    assert list(TokenCounter("bytes").count(texts)) == [len(t.encode()) for t in texts]


def test_tokenizer_file_trained_locally(tmp_path, mixed_sources):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(mixed_sources, trainers.BpeTrainer(vocab_size=500, special_tokens=["[UNK]"]))
    tok.save(str(tmp_path / "tokenizer.json"))
    counter = TokenCounter(str(tmp_path))  # a directory holding tokenizer.json
    counts = counter.count(mixed_sources[:5])
    expected = [len(tok.encode(t, add_special_tokens=False).ids) for t in mixed_sources[:5]]
    assert list(counts) == expected
    assert np.all(counts > TokenCounter().count(mixed_sources[:5]))  # subwords outnumber words


def test_unknown_tokenizer_is_a_clear_error():
    with pytest.raises(ZipfitError, match=r"unknown tokenizer 'gpt2'.*nothing is downloaded"):
        TokenCounter("gpt2")


def test_a_broken_tokenizer_file_fails_at_construction(tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text('{"not": "a tokenizer"}')
    with pytest.raises(ZipfitError, match="cannot load tokenizer"):
        TokenCounter(str(bad))


def test_tokenizer_by_name_from_the_local_hub_cache(tmp_path, monkeypatch, mixed_sources):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(mixed_sources, trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"]))
    snapshot = tmp_path / "hub" / "models--acme--tiny-bpe" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    tok.save(str(snapshot / "tokenizer.json"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    counts = TokenCounter("acme/tiny-bpe").count(mixed_sources[:3])
    assert list(counts) == [len(tok.encode(t).ids) for t in mixed_sources[:3]]
    with pytest.raises(ZipfitError, match="local Hugging Face cache"):
        TokenCounter("acme/not-cached")
