"""Cross-entropy and bits per byte against plain formulas."""

import itertools
import math

import pytest
import torch

from zipfit.harness import crossentropy as xe
from zipfit.harness.tokenizer import ByteTokenizer, load_tokenizer, train_tokenizer


def test_windows_predict_every_token_once_with_the_separator_as_first_context():
    ids = list(range(10, 27))  # 17 tokens
    for block in (1, 2, 5, 17, 18, 100):
        windows = xe.split_windows(ids, 0, block)
        assert all(2 <= len(w) <= block + 1 for w in windows)
        assert windows[0][0] == 0
        assert [t for w in windows for t in w[1:]] == ids  # targets: each token exactly once, in order
        for a, b in itertools.pairwise(windows):
            assert b[0] == a[-1]  # a window's first input is the previous window's last target


def test_uniform_model_gives_ln_v_nats_and_known_bits_per_byte():
    texts = ["theorem foo : 1 + 1 = 2 := by norm_num", "Soit $G$ un groupe fini. ∀ x ∈ G, x ^ |G| = 1"]
    tok = ByteTokenizer()
    eval_set = xe.build_eval_set(texts, tok.encode_batch(texts), tok.eos_id, block_size=16)
    n_bytes = sum(len(t.encode()) for t in texts)
    assert eval_set.tokens == eval_set.bytes == n_bytes  # bytes are the tokens; the separator is not predicted

    def uniform(ids: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*ids.shape, tok.vocab_size)

    nll = xe.total_nll(uniform, eval_set, batch_size=3, pad_id=tok.eos_id)
    assert nll == pytest.approx(n_bytes * math.log(257), rel=1e-6)
    assert xe.ce_nats(nll, eval_set.tokens) == pytest.approx(math.log(257), rel=1e-6)
    assert xe.bits_per_byte(nll, eval_set.bytes) == pytest.approx(math.log2(257), rel=1e-6)


def test_nll_equals_a_plain_sum_for_a_bigram_model(tmp_path, mathlib, proofnet_test):
    """A model whose logits depend only on the current token: its NLL does not depend on how a text is cut
    into windows or batched, so it must equal the textbook sum over each text's tokens."""
    tok = load_tokenizer(train_tokenizer(mathlib[:20], 300, tmp_path / "tok.json"))
    texts = proofnet_test[:7]
    ids = tok.encode_batch(texts)
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(tok.vocab_size, tok.vocab_size, generator=gen, dtype=torch.float64) * 3

    expected = 0.0
    for seq in ids:
        prev = tok.eos_id
        for t in seq:
            row = table[prev].tolist()
            top = max(row)
            expected -= row[t] - top - math.log(sum(math.exp(v - top) for v in row))
            prev = t
    n_tokens = sum(len(s) for s in ids)
    for block, batch in ((7, 1), (32, 5), (4096, 2)):
        eval_set = xe.build_eval_set(texts, ids, tok.eos_id, block)
        nll = xe.total_nll(lambda x: table[x], eval_set, batch_size=batch, pad_id=tok.eos_id)
        assert eval_set.tokens == n_tokens
        assert nll == pytest.approx(expected, rel=1e-9)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    assert xe.bits_per_byte(expected, n_bytes) == pytest.approx(expected / n_tokens * n_tokens / n_bytes / math.log(2))


def test_padding_contributes_no_loss():
    x, y = xe.pad_batch([[5, 6, 7, 8], [5, 6]], pad_id=0)
    assert x.tolist() == [[5, 6, 7], [5, 6, 0]]
    assert y.tolist() == [[6, 7, 8], [6, xe.IGNORE, xe.IGNORE]]
    logits = torch.zeros(2, 3, 9)
    assert float(xe.nll_sum(logits, y)) == pytest.approx(4 * math.log(9))


def test_trained_bpe_round_trips_any_text(tmp_path, mathlib):
    path = train_tokenizer(mathlib[:10], 400, tmp_path / "t.json")
    tok = load_tokenizer(path)
    assert tok.vocab_size == 400 and tok.eos_id == 0
    text = "∀ ε > 0, ∃ δ — naïve 日本語 🙂 \t\n"
    ids = tok.encode_batch([text])[0]
    assert tok.eos_id not in ids
    assert tok._tok.decode(ids) == text  # byte-level: unseen characters still encode, exactly
    again = train_tokenizer(mathlib[:10], 400, tmp_path / "u.json")
    assert again.read_bytes() == path.read_bytes()  # deterministic
