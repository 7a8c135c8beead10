"""Random selection: the baseline every data-selection method has to beat."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from zipfit.methods.base import SEED, Method

_SCALE = float(1 << 64)


class RandomSample(Method):
    """A seeded uniform sample without replacement, as a per-document score.

    Each text gets a key uniform in [0, 1), derived from (seed, text) by BLAKE2b; the K largest keys
    are a uniform random sample of size K. Deriving the key from the text rather than a random
    stream makes it independent of batching, worker count and input order. Identical texts share a
    key, so exact duplicates are drawn together (ties then fall to input order).
    """

    name = "random"
    parameters = (SEED,)

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, targets: Sequence[str], source_sample: Sequence[str] | None = None) -> RandomSample:
        self.key_ = self.seed.to_bytes(8, "little", signed=True)
        return self

    def score(self, texts: Sequence[str]) -> np.ndarray:
        key = self.key_
        return np.fromiter(
            (int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8, key=key).digest(), "little") / _SCALE
             for t in texts),
            dtype=np.float64,
            count=len(texts),
        )

    def params(self) -> dict[str, Any]:
        return {"seed": self.seed}
