"""experiments/autoformalization-gpu.toml: what it asks for, and the whole experiment at a toy size on the CPU.

The config is sized for one H200. Here it runs with the toy overrides below through the real command line: every
method, every source and both budget levels, with the GPU config's bf16 precision on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zipfit.cli import main
from zipfit.harness.config import load_config

CONFIG = Path(__file__).resolve().parents[2] / "experiments" / "autoformalization-gpu.toml"

TOY = ["train.n_layer=1", "train.n_head=2", "train.d_model=32", "train.block_size=64", "train.batch_size=4",
       "train.vocab_size=512", "train.lr=3e-3", "train.threads=1", "budgets=[3000, 6000]", "seeds=[0]",
       "sources.*.max_docs=25", "target.max_examples=20", "eval.max_examples=8", "tokenizer.sample_docs=100",
       "selection.workers=1", "per_dataset.budget=2500", "per_dataset.seeds=[0]"]


def test_the_config_is_sized_for_a_large_gpu():
    import torch

    from zipfit.harness.model import GPTConfig, TinyGPT

    cfg = load_config(CONFIG)
    train = cfg.train
    assert (train["device"], train["precision"]) == ("cuda", "bf16")
    assert cfg.budgets == (1_000_000, 2_000_000, 4_000_000) and cfg.seeds == (0, 1, 2)
    assert set(cfg.methods) >= {"zipfit", "zipfit-debiased", "dsir", "random"}
    assert all(s.max_docs is None for s in cfg.sources)  # every source whole: the mix must outgrow 4M tokens
    with torch.device("meta"):  # the shapes alone: no memory, no time
        model = TinyGPT(GPTConfig(vocab_size=train["vocab_size"], n_layer=train["n_layer"], n_head=train["n_head"],
                                  d_model=train["d_model"], block_size=train["block_size"]))
    matrices = sum(p.numel() for name, p in model.named_parameters() if p.dim() == 2 and name != "pos_emb.weight")
    assert round(matrices / 1e6, 1) == 91.2  # the N of the wall-time estimate in the config's comments


def test_the_gpu_config_runs_at_a_toy_size_on_the_cpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["experiment", str(CONFIG), "--out", str(out), "--device", "cpu", "--quiet"]
    assert main([*args, *(x for o in TOY for x in ("--set", o))]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.md")  # the command prints where the report is
    summary = json.loads((out / "experiment.json").read_text(encoding="utf-8"))
    methods = ["zipfit", "zipfit-debiased", "zipfit-ml", "dsir", "random"]
    selections = [r for r in summary["runs"] if r["kind"] == "selection"]
    assert sorted((r["method"], r["budget"]) for r in selections) == sorted((m, b) for m in methods
                                                                           for b in (3000, 6000))
    assert len([r for r in summary["runs"] if r["kind"] == "dataset"]) == len(summary["config"]["sources"]) == 7
    for run in summary["runs"]:
        config = run["config"]
        assert (config["device"], config["precision"], config["n_layer"], config["block_size"]) == ("cpu", "bf16",
                                                                                                    1, 64)
        assert run["curve"][-1]["ce_nats"] < run["curve"][0]["ce_nats"]
    assert summary["config"]["train"]["device"] == "cpu"  # the override is what the report records
    assert summary["config"]["overrides"] == [*TOY, "train.device=cpu"]  # --device is one more --set
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Run with these changes to the config file: `--set train.n_layer=1` `--set train.n_head=2`" in report
    assert "autoformalization-gpu" in report and all(f"| {m} " in report for m in methods)


def test_asking_for_a_missing_gpu_fails_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.xfail("this machine has a GPU: the config would run")  # never on CI, which has none
    out = tmp_path / "run"
    assert main(["experiment", str(CONFIG), "--out", str(out), "--quiet"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("zipfit: error: ")]
    assert errors == ["zipfit: error: device cuda asked for, but torch sees no CUDA GPU"]
    assert not out.exists()
