"""Pretrained causal LMs from local files: a Hugging Face model directory or a GGUF file, never the network."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zipfit.errors import ZipfitError
from zipfit.harness.extras import need

log = logging.getLogger("zipfit")


def locate(model: str | os.PathLike) -> tuple[Path, str | None]:
    """(directory, gguf file name or None) for a model directory or a .gguf file."""
    path = Path(model)
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path.parent, path.name
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ZipfitError(f"{model} has no config.json: give a Hugging Face model directory "
                              "(saved with save_pretrained) or a .gguf file")
        return path, None
    if path.exists():
        raise ZipfitError(f"{model} is neither a model directory nor a .gguf file")
    raise ZipfitError(f"model {model} not found: give 'tiny-gpt', a local Hugging Face model directory "
                      "or a .gguf file")


class HFTokenizer:
    """A Hugging Face tokenizer seen through the harness's TextTokenizer interface."""

    def __init__(self, tok: Any, name: str) -> None:
        self._tok = tok
        tok.model_max_length = sys.maxsize  # we split long texts ourselves: silence the length warning
        # EOS separates documents in pretraining corpora; a model without one gets its BOS instead
        sep = tok.eos_token_id if tok.eos_token_id is not None else tok.bos_token_id
        if sep is None:
            raise ZipfitError(f"tokenizer of {name} has neither an EOS nor a BOS token to separate documents")
        self.eos_id = int(sep)
        self.vocab_size = len(tok)
        self.name = name

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [list(ids) for ids in self._tok(list(texts), add_special_tokens=False)["input_ids"]]


def load(model: str | os.PathLike, device: str) -> tuple[Any, HFTokenizer]:
    """(float32 model on `device`, tokenizer) from local files only."""
    need("torch")
    transformers = need("transformers")
    directory, gguf_file = locate(model)
    if gguf_file is not None:
        need("gguf", "loading a GGUF model")
    import torch

    kwargs: dict[str, Any] = {"local_files_only": True}
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    try:
        tok = transformers.AutoTokenizer.from_pretrained(directory, **kwargs)
        # float32 whatever the checkpoint's dtype: CPU training in half precision loses small updates
        lm = transformers.AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise ZipfitError(f"cannot load model {model}: {str(exc).strip().splitlines()[0]}") from None
    return lm.to(device), HFTokenizer(tok, str(model))


def max_positions(lm: Any) -> int | None:
    cfg = lm.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
