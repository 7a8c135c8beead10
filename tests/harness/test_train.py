"""train_eval end to end on real text, with models small enough for CI."""

import json
import math

import pytest

from zipfit.errors import ZipfitError
from zipfit.harness.train import EvalPoint, TrainConfig, TrainResult, train_eval, write_curve

# 2 layers, width 64, byte tokens: ~120k parameters, ~20k tokens/s on 2 cores
SMALL = {"tokenizer": "bytes", "n_layer": 2, "n_head": 2, "d_model": 64, "block_size": 64, "batch_size": 8,
         "lr": 3e-3, "threads": 1}  # one thread: CI machines are shared, and 2 threads thrash when they are


@pytest.fixture(scope="module")
def aligned_vs_unrelated(mathlib, wikitext, proofnet_test):
    """The issue's smoke test: ~200 steps on Lean mathlib vs on WikiText, target = ProofNet test."""
    config = TrainConfig(**SMALL, max_tokens=100_000, eval_every=50_000, eval_max_examples=30, seed=0)
    return {name: train_eval(texts, proofnet_test, config) for name, texts in
            (("mathlib", mathlib), ("wikitext", wikitext))}


def test_target_aligned_text_lowers_target_loss_more_than_unrelated_text(aligned_vs_unrelated):
    lean, wiki = aligned_vs_unrelated["mathlib"], aligned_vs_unrelated["wikitext"]
    for r in (lean, wiki):
        assert [p.tokens for p in r.curve] == [0, 98 * 512, 100_000]  # at the first step boundary past 50,000
        assert r.train_tokens == 100_000 and r.eval_examples == 30
        assert r.curve[0].ce_nats == pytest.approx(math.log(257), abs=0.05)  # untrained: near uniform
    assert lean.curve[0] == wiki.curve[0]  # same seed, same initial model, same target
    start = lean.curve[0].ce_nats
    # measured: start 5.58, WikiText 4.63, mathlib 3.72 nats per byte
    assert wiki.final.ce_nats < start - 0.4
    assert lean.final.ce_nats < wiki.final.ce_nats - 0.6
    assert lean.final.bits_per_byte == pytest.approx(lean.final.ce_nats / math.log(2))  # a byte is a token


def test_result_fields_and_round_trip(aligned_vs_unrelated):
    r = aligned_vs_unrelated["mathlib"]
    assert r.model == "tiny-gpt" and r.tokenizer == "bytes" and 100_000 < r.parameters < 200_000
    assert r.eval_tokens == r.eval_bytes > 0
    assert r.config["resolved"]["steps"] == -(-100_000 // (8 * 64))
    assert r.config["max_tokens"] == 100_000 and r.config["resolved"]["lr"] == 3e-3
    assert 0 < r.train_seconds < r.seconds and r.train_tokens_per_second > 0 and r.eval_tokens_per_second > 0
    assert r.curve[0].seconds == 0 and r.curve[-1].seconds == pytest.approx(r.train_seconds)
    assert r.curve[1].step == -(-50_000 // 512)
    back = TrainResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.curve == r.curve and back.final == r.final and back.config == r.config


def test_same_seed_same_curve_other_seed_other_curve(mathlib, proofnet_test):
    config = TrainConfig(**SMALL, max_tokens=8_000, eval_every=4_000, eval_max_examples=8, seed=3)
    a = train_eval(mathlib[:40], proofnet_test, config)
    b = train_eval(mathlib[:40], proofnet_test, config)
    assert [p.ce_nats for p in a.curve] == [p.ce_nats for p in b.curve]
    assert [(p.tokens, p.step, p.bits_per_byte) for p in a.curve] == [(p.tokens, p.step, p.bits_per_byte)
                                                                         for p in b.curve]
    config.seed = 4
    c = train_eval(mathlib[:40], proofnet_test, config)
    assert [p.ce_nats for p in c.curve] != [p.ce_nats for p in a.curve]


def test_bpe_trained_on_the_training_texts_by_default(mathlib, proofnet_test):
    config = TrainConfig(n_layer=1, n_head=2, d_model=32, block_size=32, vocab_size=600, max_tokens=2_000,
                         eval_max_examples=4, threads=1)
    r = train_eval(mathlib[:10], proofnet_test, config)
    assert r.config["resolved"]["vocab_size"] == 600 and "bpe-600" in r.tokenizer
    assert r.curve[0].ce_nats == pytest.approx(math.log(600), abs=0.05)
    assert r.config["resolved"]["eval_every"] == 200  # default: ~10 evaluations after the first
    assert 8 <= len(r.curve) <= 11 and r.curve[-1].tokens == 2_000
    assert r.eval_tokens < r.eval_bytes  # merges: fewer tokens than bytes


def test_write_curve_files_and_overwrite(tmp_path):
    curve = [EvalPoint(0, 0, 5.5, 7.9, 0.0), EvalPoint(1000, 4, 4.25, 6.1, 1.5)]
    result = TrainResult(curve=curve, model="tiny-gpt", parameters=10, train_tokens=1000, eval_tokens=50,
                         eval_bytes=60, seconds=2.0, config={"seed": 0})
    paths = write_curve(result, tmp_path / "run", label="zipfit")
    assert [p.name for p in paths] == ["run.csv", "run.json", "run.png"]
    assert paths[0].read_text().splitlines() == ["tokens,step,ce_nats,bits_per_byte,seconds", "0,0,5.5,7.9,0.0",
                                                 "1000,4,4.25,6.1,1.5"]
    data = json.loads(paths[1].read_text())
    assert data["label"] == "zipfit" and data["curve"][1]["ce_nats"] == 4.25
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ZipfitError, match="exists; pass --overwrite"):
        write_curve(result, tmp_path / "run")
    (tmp_path / "other.png").write_bytes(b"x")
    with pytest.raises(ZipfitError, match=r"other\.png exists"):
        write_curve(result, tmp_path / "other")
    assert not (tmp_path / "other.csv").exists()  # nothing written when any output is refused
    write_curve(result, tmp_path / "run", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.png", "run.csv", "run.json", "run.png"]


@pytest.mark.parametrize(("config", "message"), [
    (TrainConfig(model="/nonexistent/model"), "model /nonexistent/model not found"),
    (TrainConfig(tokenizer="/nonexistent/tok.json"), "tokenizer file /nonexistent/tok.json does not exist"),
    (TrainConfig(block_size=0), "block_size must be a positive integer"),
    (TrainConfig(d_model=30, n_head=4), "multiple of n_head"),
    (TrainConfig(device="cuda"), "no CUDA GPU"),
    (TrainConfig(device="gpu"), "unknown device 'gpu'"),
    (TrainConfig(precision="fp16"), "precision must be one of fp32, bf16"),
])
def test_bad_config_is_a_one_line_error(config, message, proofnet_test):
    with pytest.raises(ZipfitError, match=message) as info:
        train_eval(["lemma x : 1 = 1 := rfl"], proofnet_test[:2], config)
    assert "\n" not in str(info.value)


def test_empty_sets_are_errors(proofnet_test):
    with pytest.raises(ZipfitError, match="training set is empty"):
        train_eval(["", "  "], proofnet_test[:2], TrainConfig(**SMALL))
    with pytest.raises(ZipfitError, match="evaluation set is empty"):
        train_eval(["lemma x : 1 = 1 := rfl"], [], TrainConfig(**SMALL))


def test_bf16_autocast_trains_about_as_well_as_fp32(mathlib, proofnet_test):
    """bf16 is the GPU config's precision; the CPU runs the same autocast path, so it is tested here."""
    base = {**SMALL, "max_tokens": 8_000, "eval_every": 4_000, "eval_max_examples": 8, "seed": 0}
    fp32 = train_eval(mathlib[:40], proofnet_test, TrainConfig(**base))
    bf16 = train_eval(mathlib[:40], proofnet_test, TrainConfig(**base, precision="bf16"))
    assert fp32.config["precision"] == "fp32" and bf16.config["precision"] == "bf16"
    assert [p.ce_nats for p in bf16.curve] != [p.ce_nats for p in fp32.curve]  # autocast did run in bf16
    assert [p.tokens for p in bf16.curve] == [p.tokens for p in fp32.curve] == [0, 4_096, 8_000]
    assert bf16.final.ce_nats < bf16.curve[0].ce_nats - 0.5  # it learns
    assert abs(bf16.final.ce_nats - fp32.final.ce_nats) < 0.1  # and about as fast as in float32


def test_check_device():
    import torch

    from zipfit.harness.train import check_device

    check_device("cpu")
    with pytest.raises(ZipfitError, match="unknown device 'tpu9': use cpu or cuda"):
        check_device("tpu9")
    if torch.cuda.is_available():
        check_device("cuda")
        with pytest.raises(ZipfitError, match=r"cuda:99 asked for, but torch sees [0-9]+ CUDA GPU"):
            check_device("cuda:99")
    else:
        with pytest.raises(ZipfitError, match="device cuda asked for, but torch sees no CUDA GPU"):
            check_device("cuda")
