"""Tokenizers for the from-scratch model: byte-level BPE trained locally, or raw UTF-8 bytes.

Both are byte-level, so every string round-trips to exactly its UTF-8 bytes: bits per byte is well defined
and no text is ever mapped to an unknown token. The document separator (EOS) is id 0 in a trained BPE and
id 256 in the byte tokenizer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from zipfit.errors import ZipfitError
from zipfit.harness.extras import need
from zipfit.io import atomic_output

EOS = "<|endoftext|>"
BYTES = "bytes"


class TextTokenizer(Protocol):
    """What training and evaluation need from a tokenizer."""

    eos_id: int  # separates packed training documents and precedes every evaluated text
    vocab_size: int
    name: str  # for results and logs

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]: ...


class ByteTokenizer:
    """Token = one UTF-8 byte (ids 0..255) plus an EOS (256): no training, no merges, bits per byte = CE/ln 2."""

    name = BYTES
    eos_id = 256
    vocab_size = 257

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [list(t.encode("utf-8")) for t in texts]


class FileTokenizer:
    """A Hugging Face ``tokenizers`` tokenizer.json with an EOS token."""

    def __init__(self, path: str | os.PathLike) -> None:
        tokenizers = need("tokenizers")
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        if not path.is_file():
            raise ZipfitError(f"tokenizer file {path} does not exist")
        try:
            self._tok = tokenizers.Tokenizer.from_file(str(path))
        except Exception as exc:
            raise ZipfitError(f"cannot load tokenizer {path}: {str(exc).splitlines()[0]}") from None
        eos = self._tok.token_to_id(EOS)
        if eos is None:
            raise ZipfitError(f"tokenizer {path} has no {EOS} token to separate documents")
        self.eos_id = eos
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        self.name = str(path)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]


def train_tokenizer(texts: Iterable[str], vocab_size: int, path: str | os.PathLike) -> Path:
    """Train a byte-level BPE on `texts` and write it to `path` (a tokenizer.json); returns the path.

    The whole byte alphabet is in the vocabulary from the start, so text unseen in training still encodes.
    Training is deterministic for the same texts in the same order.
    """
    tokenizers = need("tokenizers")
    from tokenizers import decoders, models, pre_tokenizers, trainers

    if vocab_size < 257 + 1:
        raise ZipfitError(f"vocab_size {vocab_size} is too small: a byte-level BPE needs at least 258 tokens")
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    path = Path(path)
    with atomic_output(path) as tmp:
        tok.save(str(tmp))
    return path


def load_tokenizer(spec: str | os.PathLike) -> TextTokenizer:
    """``"bytes"`` or a tokenizer.json path (or a directory holding one)."""
    if str(spec) == BYTES:
        return ByteTokenizer()
    return FileTokenizer(spec)
