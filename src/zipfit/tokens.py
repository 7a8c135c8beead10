"""Token counts for token budgets and length statistics.

Whitespace words by default (no dependency, the unit most corpus tools report); characters or
UTF-8 bytes; or a real tokenizer (Hugging Face ``tokenizers``) from a local ``tokenizer.json``, a
directory holding one, or a model name already in the local Hugging Face cache.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zipfit.errors import ZipfitError

BUILTIN = ("whitespace", "chars", "bytes")


class TokenCounter:
    def __init__(self, spec: str = "whitespace") -> None:
        self.spec = spec
        self._tokenizer = None
        if spec not in BUILTIN:
            self._path = _tokenizer_file(spec)
            self.setup()  # load once here, so a bad file is reported before any work starts

    def setup(self) -> None:
        if self.spec in BUILTIN or self._tokenizer is not None:
            return
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise ZipfitError(
                "counting tokens with a tokenizer file needs the 'tokenizers' package: "
                "pip install 'zipfit[tokenizers]'"
            ) from None
        try:
            self._tokenizer = Tokenizer.from_file(str(self._path))
        except Exception as exc:
            raise ZipfitError(f"cannot load tokenizer {self._path}: {exc}") from None

    def count(self, texts: Sequence[str]) -> np.ndarray:
        if self.spec == "whitespace":
            return np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=len(texts))
        if self.spec == "chars":
            return np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        if self.spec == "bytes":
            return np.fromiter((len(t.encode("utf-8")) for t in texts), dtype=np.int64, count=len(texts))
        self.setup()
        assert self._tokenizer is not None
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_tokenizer"] = None
        return state


def _hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    return home / "hub"


def _cached_tokenizer(name: str) -> Path | None:
    """tokenizer.json of a model already in the local Hugging Face cache (nothing is downloaded)."""
    snapshots = _hub_cache() / f"models--{name.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/tokenizer.json"), key=lambda p: p.stat().st_mtime) if snapshots.is_dir() else []
    return found[-1] if found else None


def _tokenizer_file(spec: str) -> Path:
    path = Path(spec)
    if path.is_dir():
        path = path / "tokenizer.json"
    if path.is_file():
        return path
    cached = _cached_tokenizer(spec)
    if cached is not None:
        return cached
    raise ZipfitError(
        f"unknown tokenizer {spec!r}: use one of {', '.join(BUILTIN)}, the path of a Hugging Face tokenizer.json "
        f"(or a directory holding one), or the name of a model in the local Hugging Face cache ({_hub_cache()}); "
        "nothing is downloaded"
    )
