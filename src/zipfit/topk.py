"""Exact global selection from per-document scores: top K by count or by token budget.

Ties are broken by input order (the lower document index wins), so a selection is a pure
function of the scores, whatever engine or number of workers produced them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zipfit.errors import ZipfitError


@dataclass(frozen=True)
class Budget:
    """How much to select: exactly one of ``k`` (documents) or ``tokens``."""

    k: int | None = None
    tokens: int | None = None

    def __post_init__(self) -> None:
        if (self.k is None) == (self.tokens is None):
            raise ZipfitError("give exactly one of --k (documents) or --tokens (token budget)")
        if self.k is not None and self.k < 1:
            raise ZipfitError(f"--k must be at least 1, got {self.k}")
        if self.tokens is not None and self.tokens < 1:
            raise ZipfitError(f"--tokens must be at least 1, got {self.tokens}")

    def describe(self) -> dict[str, int]:
        return {"k": self.k} if self.k is not None else {"tokens": self.tokens}


def ranking(scores: np.ndarray) -> np.ndarray:
    """Document indices, best score first, ties by input order."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def prefix_within(n_tokens_in_order: np.ndarray, budget: int) -> int:
    """Length of the longest prefix whose token total stays within the budget."""
    return int(np.searchsorted(np.cumsum(n_tokens_in_order, dtype=np.int64), budget, side="right"))


def cut(order: np.ndarray, budget: Budget, n_tokens: np.ndarray | None = None) -> np.ndarray:
    """The selected document indices, best first.

    By count, K larger than the number of eligible documents is an error (the user asked for more
    than exists). By tokens, the selection is the longest prefix of the ranking whose total stays
    within the budget; a budget above the corpus total selects everything (the caller reports it).
    """
    if budget.k is not None:
        if budget.k > len(order):
            raise ZipfitError(
                f"--k {budget.k:,} but only {len(order):,} eligible source documents; lower --k "
                "(exclusions, if any, are reported above)"
            )
        return order[: budget.k]
    assert budget.tokens is not None and n_tokens is not None
    return order[: prefix_within(np.asarray(n_tokens)[order], budget.tokens)]
