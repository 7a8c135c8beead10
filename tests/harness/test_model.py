"""The from-scratch tiny GPT, and any Hugging Face causal LM from a local directory."""

import math

import pytest
import torch

from zipfit.errors import ZipfitError
from zipfit.harness.model import GPTConfig, TinyGPT
from zipfit.harness.train import TrainConfig, train_eval


def test_default_size_is_the_one_method_md_measures():
    gpt = TinyGPT(GPTConfig(vocab_size=8192))
    assert 5.2e6 < gpt.num_parameters() < 5.4e6
    assert gpt.head.weight is gpt.tok_emb.weight


def test_tiny_gpt_is_causal():
    torch.manual_seed(0)
    gpt = TinyGPT(GPTConfig(vocab_size=50, n_layer=2, n_head=2, d_model=16, block_size=12)).eval()
    ids = torch.randint(0, 50, (1, 12))
    changed = ids.clone()
    changed[0, 7:] = (changed[0, 7:] + 1) % 50
    a, b = gpt(ids), gpt(changed)
    assert a.shape == (1, 12, 50)
    assert torch.equal(a[0, :7], b[0, :7])  # a position never sees a later token
    assert not torch.allclose(a[0, 7:], b[0, 7:])
    with pytest.raises(ValueError, match="longer than the block size"):
        gpt(torch.zeros(1, 13, dtype=torch.long))


def test_local_hugging_face_model_trains_and_evaluates(tiny_llama_dir, mathlib, proofnet_test, monkeypatch, caplog):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = TrainConfig(model=str(tiny_llama_dir), block_size=256, batch_size=4, max_tokens=30_000, lr=3e-3,
                         eval_every=15_000, eval_max_examples=10, threads=1)
    with caplog.at_level("WARNING", logger="zipfit"):
        r = train_eval(mathlib[30:80], proofnet_test, config)
    assert "longer than" in caplog.text and r.config["resolved"]["block_size"] == 128  # capped at the model's
    assert r.model == str(tiny_llama_dir) and r.config["resolved"]["separator_id"] == 0
    assert 1e5 < r.parameters < 2e5
    assert r.curve[0].ce_nats == pytest.approx(math.log(512), abs=0.1)  # random init: near uniform
    assert [p.tokens for p in r.curve][::2] == [0, 30_000]
    assert r.final.ce_nats < r.curve[0].ce_nats - 0.8  # measured: 6.24 -> 5.17
    assert r.final.bits_per_byte < r.curve[0].bits_per_byte - 0.5
    again = train_eval(mathlib[30:80], proofnet_test, config)
    assert [p.ce_nats for p in again.curve] == [p.ce_nats for p in r.curve]


def test_pretrained_default_lr_is_a_fine_tuning_one(tiny_llama_dir, mathlib, proofnet_test):
    config = TrainConfig(model=str(tiny_llama_dir), block_size=64, max_tokens=500, eval_max_examples=2, threads=1)
    r = train_eval(mathlib[:5], proofnet_test, config)
    assert r.config["resolved"]["lr"] == 5e-6


def test_model_directory_without_config_is_refused(tmp_path, proofnet_test):
    with pytest.raises(ZipfitError, match=r"has no config\.json"):
        train_eval(["x"], proofnet_test[:1], TrainConfig(model=str(tmp_path)))
    (tmp_path / "w.bin").write_bytes(b"")
    with pytest.raises(ZipfitError, match=r"neither a model directory nor a \.gguf file"):
        train_eval(["x"], proofnet_test[:1], TrainConfig(model=str(tmp_path / "w.bin")))


def test_hugging_face_loss_agrees_with_ours(tiny_llama_dir, proofnet_test):
    from zipfit.harness import crossentropy as xe
    from zipfit.harness import hf

    lm, tok = hf.load(tiny_llama_dir, "cpu")
    text = min(proofnet_test, key=len)
    ids = tok.encode_batch([text])[0]
    assert 10 < len(ids) < 127
    eval_set = xe.build_eval_set([text], [ids], tok.eos_id, 128)
    ours = xe.total_nll(lambda x: lm(x).logits, eval_set, batch_size=1, pad_id=tok.eos_id)
    with torch.no_grad():
        seq = torch.tensor([[tok.eos_id, *ids]])
        theirs = float(lm(seq, labels=seq).loss) * len(ids)  # HF shifts the labels itself
    assert ours == pytest.approx(theirs, rel=1e-5)
