"""Per-shard checkpoints of a map pass, so a run killed at any moment resumes where it stopped.

Each finished shard is one file, written atomically (temp file + rename), so a shard file either
exists whole or not at all. The directory sits beside the output (``OUT.zipfit-checkpoint``) and
holds one subdirectory per run fingerprint: a hash of everything the scores depend on (method and
its parameters, the target texts, the text spec, the inputs' paths, sizes and modification times,
the tokenizer, the shard size, who reads the inputs). A changed run therefore never finds stale
work; a successful run removes the directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zipfit.errors import ZipfitError
from zipfit.io import Exclusions

log = logging.getLogger("zipfit")
SUFFIX = ".zipfit-checkpoint"


@dataclass
class ShardScores:
    """One shard's part of a map pass: per eligible document, in input order."""

    scores: np.ndarray
    n_tokens: np.ndarray
    n_chars: np.ndarray
    exclusions: Exclusions = field(default_factory=Exclusions)  # only when a worker read the shard itself
    # documents dropped by decontamination: their positions in the shard, and why (with examples)
    contaminated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    contamination: Exclusions = field(default_factory=Exclusions)


def fingerprint(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def texts_digest(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class Checkpoint:
    """The checkpoint directory of one run; picklable, so workers that read shards save their own."""

    def __init__(self, root: Path, key: str, parts: dict[str, Any] | None = None) -> None:
        self.root = root
        self.directory = root / key[:32]
        self.parts = parts or {}

    @classmethod
    def open(cls, out: Path, parts: dict[str, Any], *, resume: bool, overwrite: bool) -> Checkpoint:
        """The checkpoint for ``out``. Without ``resume``, leftovers of an interrupted run are an error
        (unless ``overwrite``): hours of scoring are not thrown away because a flag was forgotten."""
        root = out.with_name(out.name + SUFFIX)
        key = fingerprint(parts)
        checkpoint = cls(root, key, parts)
        if root.exists():
            done = checkpoint.done()
            if not resume:
                if not overwrite and done:
                    raise ZipfitError(f"{root} holds {done} finished shards of an interrupted run: pass --resume to "
                                      "continue it, or --overwrite to start over")
                shutil.rmtree(root, ignore_errors=True)
            else:
                stale = [p for p in root.iterdir() if p != checkpoint.directory]
                if stale:
                    log.warning("%s: checkpoints of a run with other inputs or parameters are not reused", root)
                    for p in stale:
                        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                if done:
                    log.info("resuming: %d shards already scored in %s", done, checkpoint.directory)
        elif resume:
            log.info("--resume: no checkpoint at %s, starting from the beginning", root)
        return checkpoint

    def done(self) -> int:
        if not self.directory.is_dir():
            return 0
        return sum(1 for p in self.directory.iterdir() if p.name.startswith("shard-") and p.suffix == ".npz")

    def _path(self, shard_key: str) -> Path:
        return self.directory / f"shard-{shard_key}.npz"

    def load(self, shard_key: str) -> ShardScores | None:
        path = self._path(shard_key)
        try:
            with np.load(path, allow_pickle=False) as z:
                exclusions = Exclusions.from_dict(json.loads(str(z["exclusions"])))
                contamination = Exclusions.from_dict(json.loads(str(z["contamination"])))
                return ShardScores(z["scores"], z["n_tokens"], z["n_chars"], exclusions, z["contaminated"],
                                   contamination)
        except FileNotFoundError:
            return None

    def save(self, shard_key: str, part: ShardScores) -> None:
        """Write one finished shard (created on the first save: a run that fails early leaves nothing)."""
        if not self.directory.is_dir():
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_atomic(self.directory / "run.json",
                          json.dumps(self.parts, sort_keys=True, default=str, indent=1).encode("utf-8"))
        buffer = io.BytesIO()
        np.savez(buffer, scores=part.scores, n_tokens=part.n_tokens, n_chars=part.n_chars,
                 exclusions=np.array(json.dumps(part.exclusions.to_dict())), contaminated=part.contaminated,
                 contamination=np.array(json.dumps(part.contamination.to_dict())))
        _write_atomic(self._path(shard_key), buffer.getvalue())

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @contextlib.contextmanager
    def guard(self, resume: bool) -> Iterator[Checkpoint]:
        """Removed when the block succeeds, or fails with a user error outside ``--resume``; kept when
        the run is interrupted or crashes, for ``--resume``."""
        try:
            yield self
        except ZipfitError:
            if not resume:
                self.remove()
            raise
        self.remove()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # workers on other hosts write other shards
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
