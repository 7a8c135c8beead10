"""Two-stage exact ZIP-FIT: a cheap pass on a few targets, then exact rescoring of the leaders.

Stage 1 scores every document exactly on m randomly chosen targets; the best c·K documents (or
the best documents covering c times the token budget) are rescored exactly on all n targets and
the final top-K is taken from them with the exact score. The result equals exact ZIP-FIT whenever
stage 1 ranks every true top-K document among its candidates; the manifest records how many
documents were rescored. Cost per document: m pairs, plus n pairs for the c·K/N that are rescored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from zipfit.errors import ZipfitError
from zipfit.methods.zipfit import ZipFit
from zipfit.topk import Budget, prefix_within, ranking


class ZipFitFast:
    name = "zipfit-fast"

    def __init__(
        self,
        codec: str = "gzip",
        level: int | None = None,
        *,
        stage1_targets: int = 16,
        candidate_factor: float = 2.0,
        seed: int = 0,
        allow_level_0: bool = False,
    ) -> None:
        self.codec = codec
        self.level = level
        self.stage1_targets = stage1_targets
        self.candidate_factor = candidate_factor
        self.seed = seed
        self.allow_level_0 = allow_level_0

    def fit(self, targets: Sequence[str], source_sample: Sequence[str] | None = None) -> ZipFitFast:
        if self.stage1_targets < 1:
            raise ZipfitError(f"--stage1-targets must be at least 1, got {self.stage1_targets}")
        if not (math.isfinite(self.candidate_factor) and self.candidate_factor >= 1.0):
            raise ZipfitError(f"--candidate-factor must be a finite number of at least 1, got {self.candidate_factor}")
        kwargs = {"codec": self.codec, "level": self.level, "allow_level_0": self.allow_level_0}
        self.exact_ = ZipFit(**kwargs).fit(targets)
        n = len(targets)
        m = min(self.stage1_targets, n)
        rng = np.random.default_rng(self.seed)
        self.stage1_indices_ = np.sort(rng.choice(n, size=m, replace=False))
        self.stage1_ = ZipFit(**kwargs).fit([targets[j] for j in self.stage1_indices_])
        return self

    @property
    def single_stage(self) -> bool:
        """With no fewer stage-1 targets than targets, stage 1 already is the exact score."""
        return len(self.stage1_indices_) == len(self.exact_.targets_)

    def candidates(self, stage1_scores: np.ndarray, budget: Budget, n_tokens: np.ndarray) -> np.ndarray:
        """Indices (ascending) of the documents to rescore exactly."""
        order = ranking(stage1_scores)
        if budget.k is not None:
            count = math.ceil(self.candidate_factor * budget.k)
        else:
            assert budget.tokens is not None
            want = math.ceil(self.candidate_factor * budget.tokens)
            # the smallest prefix reaching the enlarged budget: one more than the largest within it
            count = prefix_within(np.asarray(n_tokens)[order], want) + 1
        return np.sort(order[: min(count, len(order))])

    def params(self) -> dict[str, Any]:
        return {
            **self.exact_.params(),
            "stage1_targets": len(self.stage1_indices_),
            "stage1_target_indices": [int(j) for j in self.stage1_indices_],
            "candidate_factor": self.candidate_factor,
            "seed": self.seed,
        }
