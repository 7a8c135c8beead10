"""Pretrained causal LMs from local files: a Hugging Face model directory or a GGUF file, never the network."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zipfit.errors import CorruptFileError, ZipfitError, from_os_error
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
        _check_model_directory(path)
        return path, None
    if path.exists():
        raise ZipfitError(f"{model} is neither a model directory nor a .gguf file")
    raise ZipfitError(f"model {model} not found: give 'tiny-gpt', a local Hugging Face model directory "
                      "or a .gguf file")


_SAFETENSORS_MAX_HEADER = 100 * 2**20  # the limit safetensors itself enforces


def _check_model_directory(directory: Path) -> None:
    """Name a damaged JSON file (config, tokenizer) or .safetensors file now: transformers' errors often do not say
    which file it was. Cheap (the JSON files, and each weights file's header); what it misses fails in ``load``.
    """
    for config in sorted(directory.glob("*.json"), key=lambda p: p.name != "config.json"):  # config.json first
        try:
            json.loads(config.read_bytes())
        except OSError as exc:
            raise from_os_error(exc, f"reading {config}") from None
        except ValueError as exc:
            raise CorruptFileError(f"{config}: not valid JSON ({exc})") from None
    for weights in sorted(directory.glob("*.safetensors")):
        try:
            with open(weights, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                head = fh.read(8)
                n = int.from_bytes(head, "little") if len(head) == 8 else -1
                if not 0 < n <= min(size - 8, _SAFETENSORS_MAX_HEADER):
                    raise CorruptFileError(f"{weights}: not a safetensors file (no valid header)")
                header = json.loads(fh.read(n))
        except OSError as exc:
            raise from_os_error(exc, f"reading {weights}") from None
        except ValueError as exc:
            raise CorruptFileError(f"{weights}: damaged safetensors header ({exc})") from None
        try:
            end = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"), default=0)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError):
            raise CorruptFileError(f"{weights}: damaged safetensors header") from None
        if 8 + n + end > size:
            raise CorruptFileError(f"{weights}: truncated ({size:,} bytes; its header describes "
                                   f"{8 + n + end:,})")


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


# The last model loaded, untouched, so that a series of runs on one model (an experiment's methods and seeds)
# pays the 30-60 s of reading and de-quantizing a GGUF file once; each run trains a deep copy.
_pristine: dict[tuple, tuple[Any, Any]] = {}


def _cache_key(directory: Path, gguf_file: str | None) -> tuple:
    files = [directory / gguf_file] if gguf_file else sorted(p for p in directory.iterdir() if p.is_file())
    return (str(directory.resolve()), gguf_file, tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files))


def load(model: str | os.PathLike, device: str) -> tuple[Any, HFTokenizer]:
    """(float32 model on `device`, tokenizer) from local files only; a fresh copy on every call."""
    import copy

    need("torch")
    transformers = need("transformers")
    directory, gguf_file = locate(model)
    if gguf_file is not None:
        need("gguf", "loading a GGUF model")
    import torch

    key = _cache_key(directory, gguf_file)
    if key not in _pristine:
        kwargs: dict[str, Any] = {"local_files_only": True}
        if gguf_file is not None:
            kwargs["gguf_file"] = gguf_file
        # the model's files are data: a damaged or hostile one can fail anywhere inside transformers, gguf or
        # safetensors (struct.error on a truncated GGUF header, SafetensorError, a config's validation error), so
        # any failure of these two calls is reported as a damaged model file, in one line
        source = directory / gguf_file if gguf_file is not None else directory
        try:
            tok = transformers.AutoTokenizer.from_pretrained(directory, **kwargs)
            # float32 whatever the checkpoint's dtype: CPU training in half precision loses small updates
            lm = transformers.AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, **kwargs)
        except Exception as exc:  # not BaseException: a KeyboardInterrupt still passes
            if isinstance(exc, OSError) and exc.errno is not None:  # the file system (permission, I/O)
                raise from_os_error(exc, f"loading model {source}") from None
            raise CorruptFileError(f"cannot load model {source}: {_first_line(exc)}") from None
        _pristine.clear()
        _pristine[key] = (lm.eval(), tok)
    lm, tok = _pristine[key]
    return copy.deepcopy(lm).to(device), HFTokenizer(tok, str(model))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def max_positions(lm: Any) -> int | None:
    cfg = lm.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
