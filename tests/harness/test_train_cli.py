"""zipfit train-eval as a user meets it: real processes, files, exit codes, one-line errors."""

import csv
import json
import os
import subprocess
import sys

import pytest

from zipfit.cli import main
from zipfit.errors import ZipfitError
from zipfit.harness.extras import need

SMALL = ["--tokenizer", "bytes", "--n-layer", "1", "--n-head", "2", "--d-model", "32", "--block-size", "64",
         "--lr", "3e-3", "--threads", "1"]
EVAL = ["--eval-template", "{nl_statement}\\n{formal_statement}", "--eval-where", "split=test",
        "--eval-max-examples", "5"]


def zipfit_cli(*args):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "zipfit", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def train_file(tmp_path_factory, mathlib):
    path = tmp_path_factory.mktemp("data") / "lean.jsonl"
    rows = [{"text": t, "kind": "lean"} for t in mathlib[:15]] + [{"text": "prose", "kind": "wiki"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def proofnet_file(data_dir):
    return data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl"


def test_train_eval_end_to_end(tmp_path, train_file, proofnet_file, capsys):
    out = tmp_path / "run"
    args = ["train-eval", "--train", train_file, "--where", "kind=lean", "--eval", proofnet_file, *EVAL,
            "--out", out, *SMALL, "--max-tokens", 4096, "--eval-every", 2048, "--label", "lean"]
    proc = zipfit_cli(*args, "--progress")
    assert proc.returncode == 0, proc.stderr
    assert "tok/s" in proc.stderr  # the progress bar, asked for although stderr is a pipe
    assert "4,096 tokens: target CE" in proc.stderr and "wrote" in proc.stderr
    assert "filtered out 185 of 371 eval records by --eval-where" in proc.stderr  # the option actually given
    csv_path, json_path, png_path = (tmp_path / f"run.{ext}" for ext in ("csv", "json", "png"))
    rows = list(csv.DictReader(csv_path.read_text(encoding="utf-8").splitlines()))
    assert [int(r["tokens"]) for r in rows] == [0, 2048, 4096]
    assert float(rows[-1]["ce_nats"]) < float(rows[0]["ce_nats"])
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["label"] == "lean" and data["train_documents"] == 15 and data["eval_examples"] == 5
    assert data["config"]["tokenizer"] == "bytes" and data["config"]["max_tokens"] == 4096
    assert png_path.read_bytes()[:4] == b"\x89PNG"

    before = csv_path.read_text(encoding="utf-8")
    argv = [str(a) for a in args]
    assert main([*argv, "--quiet"]) == 2  # refused before any work
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("zipfit: error: ")]
    assert len(errors) == 1 and "run.csv exists; pass --overwrite" in errors[0]
    assert csv_path.read_text(encoding="utf-8") == before
    assert main([*argv, "--quiet", "--overwrite", "--seed", "1"]) == 0
    err = capsys.readouterr().err
    # --quiet: warnings only: no progress bar, and no word on the records --eval-where left out, as asked
    assert "target CE" not in err and "tok/s" not in err and "filtered out" not in err
    assert csv_path.read_text(encoding="utf-8") != before


def test_missing_model_is_one_line_and_writes_nothing(tmp_path, train_file, proofnet_file):
    proc = zipfit_cli("train-eval", "--train", train_file, "--eval", proofnet_file, *EVAL, "--out", tmp_path / "r",
                      "--model", tmp_path / "no-such-model")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("zipfit: error: ")]
    assert len(errors) == 1 and "no-such-model not found" in errors[0]
    assert list(tmp_path.iterdir()) == []


def test_empty_training_set_is_an_error(tmp_path, train_file, proofnet_file, capsys):
    code = main(["train-eval", "--train", str(train_file), "--where", "kind=none", "--eval", str(proofnet_file),
                 *EVAL, "--out", str(tmp_path / "r"), *SMALL, "-q"])
    assert code == 2
    assert "zipfit: error: the training set is empty" in capsys.readouterr().err


def test_hugging_face_directory_through_the_cli(tmp_path, tiny_llama_dir, train_file, proofnet_file, capsys):
    code = main(["train-eval", "--train", str(train_file), "--eval", str(proofnet_file), *EVAL,
                 "--out", str(tmp_path / "llama"), "--model", str(tiny_llama_dir), "--block-size", "64",
                 "--batch-size", "4", "--max-tokens", "2048", "--lr", "3e-3", "--threads", "1", "-q"])
    assert code == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "llama.json").read_text())
    assert data["model"] == str(tiny_llama_dir) and data["label"] == "tiny-llama0"
    assert data["curve"][-1]["tokens"] == 2048 and data["curve"][-1]["ce_nats"] < data["curve"][0]["ce_nats"]


def test_missing_extra_names_it(monkeypatch, tiny_llama_dir, proofnet_test):
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed
    with pytest.raises(ZipfitError, match=r"install zipfit\[train\]"):
        need("transformers")
    from zipfit.harness.train import TrainConfig, train_eval

    with pytest.raises(ZipfitError, match=r"needs the 'transformers' package.*zipfit\[train\]") as info:
        train_eval(["lemma"], proofnet_test[:1], TrainConfig(model=str(tiny_llama_dir)))
    assert "\n" not in str(info.value)


def test_precision_and_device_options(tmp_path, train_file, proofnet_file, capsys):
    out = tmp_path / "run"
    args = ["train-eval", "--train", train_file, "--eval", proofnet_file, *EVAL, "--out", out, *SMALL,
            "--max-tokens", 1024, "--quiet"]
    assert main([*map(str, args), "--device", "tpu9"]) == 2  # refused before the data is read
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("zipfit: error: ")]
    assert len(errors) == 1 and "unknown device 'tpu9'" in errors[0]
    assert not list(tmp_path.iterdir())
    assert main([*map(str, args), "--precision", "bf16"]) == 0
    data = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert data["config"]["precision"] == "bf16" and data["config"]["device"] == "cpu"
    assert data["curve"][-1]["ce_nats"] < data["curve"][0]["ce_nats"]
