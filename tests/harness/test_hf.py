"""A damaged or hostile model file given to train-eval ends in one `zipfit: error:` line naming it (exit 3), never a
traceback: a garbage or truncated .gguf, a model directory whose config.json, tokenizer.json or weights are broken.

Every case fails while reading the model's header or metadata, so none trains anything.
"""

import json
import shutil
from pathlib import Path

import pytest

from zipfit.cli import main
from zipfit.errors import CorruptFileError
from zipfit.harness import hf


@pytest.fixture(scope="module")
def texts(tmp_path_factory, mathlib, proofnet_test) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("texts")
    train, evaluate = directory / "train.jsonl", directory / "eval.jsonl"
    train.write_text("".join(json.dumps({"text": t}) + "\n" for t in mathlib[:3]), encoding="utf-8")
    evaluate.write_text("".join(json.dumps({"text": t}) + "\n" for t in proofnet_test[:3]), encoding="utf-8")
    return train, evaluate


def _train_eval_error(model: Path, texts: tuple[Path, Path], out: Path, capsys) -> str:
    """The one line train-eval prints for ``model``; checks the exit code and that nothing was written."""
    train, evaluate = texts
    code = main(["train-eval", "--train", str(train), "--eval", str(evaluate), "--out", str(out), "--model",
                 str(model), "--block-size", "64", "--max-tokens", "64", "--threads", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith("zipfit: error: ")
    assert not list(out.parent.glob(out.name + ".*"))
    return line


def test_a_garbage_gguf_model_is_one_line(tmp_path, texts, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = tmp_path / "garbage.gguf"
    model.write_bytes(bytes(range(256)) * 16)
    line = _train_eval_error(model, texts, tmp_path / "r", capsys)
    assert line.startswith(f"zipfit: error: cannot load model {model}: ")
    assert "not a GGUF file" in line


@pytest.mark.parametrize("size", [4096, 65536])
def test_a_truncated_gguf_model_is_one_line(tmp_path, texts, smollm2_gguf, capsys, monkeypatch, size):
    # was: struct.error from transformers' GGUF reader, as a traceback
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = tmp_path / "truncated.gguf"
    with open(smollm2_gguf, "rb") as fh:
        model.write_bytes(fh.read(size))
    line = _train_eval_error(model, texts, tmp_path / "r", capsys)
    assert line.startswith(f"zipfit: error: cannot load model {model}: ")


def _copy(directory: Path, to: Path) -> Path:
    shutil.copytree(directory, to)
    return to


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json"])
def test_a_model_directory_with_a_broken_json_file_is_one_line(tmp_path, texts, tiny_llama_dir, capsys, name):
    model = _copy(tiny_llama_dir, tmp_path / "model")
    (model / name).write_text("{not json", encoding="utf-8")
    line = _train_eval_error(model, texts, tmp_path / "r", capsys)
    assert line.startswith(f"zipfit: error: {model / name}: not valid JSON (")


def test_a_model_directory_with_only_a_broken_config_is_one_line(tmp_path, texts, capsys):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{not json", encoding="utf-8")
    line = _train_eval_error(model, texts, tmp_path / "r", capsys)
    assert line.startswith(f"zipfit: error: {model / 'config.json'}: not valid JSON (")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "bad_header"])
def test_a_model_directory_with_damaged_weights_is_one_line(tmp_path, texts, tiny_llama_dir, capsys, damage):
    # was: safetensors' SafetensorError ("Error while deserializing header"), as a traceback
    model = _copy(tiny_llama_dir, tmp_path / "model")
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    if damage == "truncated":
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        weights.write_bytes(b"garbage!" * 100)
    else:
        header = b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": "x"}}'
        weights.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 4)
    line = _train_eval_error(model, texts, tmp_path / "r", capsys)
    assert line.startswith(f"zipfit: error: {weights}: ")


def test_a_model_config_transformers_rejects_is_one_line(tmp_path, texts, tiny_llama_dir, capsys):
    # valid JSON, so only the loading call finds it wrong (a huggingface_hub validation error, not an OSError)
    model = _copy(tiny_llama_dir, tmp_path / "model")
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    (model / "config.json").write_text(json.dumps({**config, "vocab_size": "many"}), encoding="utf-8")
    line = _train_eval_error(model, texts, tmp_path / "r", capsys)
    assert line.startswith(f"zipfit: error: cannot load model {model}: ")


def test_the_intact_model_directory_still_loads(tmp_path, tiny_llama_dir):
    lm, tok = hf.load(tiny_llama_dir, "cpu")
    assert tok.vocab_size == 512 and hf.max_positions(lm) == 128
    broken = _copy(tiny_llama_dir, tmp_path / "model")
    (broken / "generation_config.json").write_text("[", encoding="utf-8")
    with pytest.raises(CorruptFileError, match=r"generation_config\.json: not valid JSON"):
        hf.locate(broken)
