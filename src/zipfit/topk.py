"""Exact global selection from per-document scores: top K by count or by token budget.

Ties are broken by input order (the lower document index wins), so a selection is a pure
function of the scores, whatever engine or number of workers produced them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zipfit.errors import ZipfitError


@dataclass(frozen=True)
class Budget:
    """How much to select: at most one of ``k`` (documents), ``tokens`` or ``fraction`` (of the eligible
    documents), and optionally ``min_score``: only documents scoring at least that (alone: all of them)."""

    k: int | None = None
    tokens: int | None = None
    fraction: float | None = None
    min_score: float | None = None

    def __post_init__(self) -> None:
        given = [name for name in ("k", "tokens", "fraction") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ZipfitError(f"give one of --k, --tokens or --fraction, not {' and '.join('--' + g for g in given)}")
        if not given and self.min_score is None:
            raise ZipfitError("give exactly one of --k (documents) or --tokens (token budget), or --fraction, "
                              "or --min-score")
        if self.k is not None and self.k < 1:
            raise ZipfitError(f"--k must be at least 1, got {self.k}")
        if self.tokens is not None and self.tokens < 1:
            raise ZipfitError(f"--tokens must be at least 1, got {self.tokens}")
        if self.fraction is not None and not (0 < self.fraction <= 1):
            raise ZipfitError(f"--fraction must be in (0, 1], got {self.fraction}")
        if self.min_score is not None and not math.isfinite(self.min_score):
            raise ZipfitError(f"--min-score must be a finite number, got {self.min_score}")

    def describe(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in ("k", "tokens", "fraction", "min_score")
                if getattr(self, name) is not None}

    def resolve(self, eligible: int, above_min: int | None = None) -> Budget:
        """The budget as documents or tokens: ``fraction`` of the ``eligible`` documents (rounded down), and
        ``min_score`` alone as every one of the ``above_min`` documents that reach it."""
        if self.fraction is not None:
            k = math.floor(self.fraction * eligible + 1e-9)
            if k < 1:
                raise ZipfitError(f"--fraction {self.fraction} of {eligible:,} eligible documents is less than one "
                                  "document")
            return Budget(k=k, min_score=self.min_score)
        if self.k is None and self.tokens is None:
            if not above_min:
                raise ZipfitError(f"no eligible document scores at least --min-score {self.min_score}")
            return Budget(k=above_min, min_score=self.min_score)
        return self


def ranking(scores: np.ndarray) -> np.ndarray:
    """Document indices, best score first, ties by input order."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def prefix_within(n_tokens_in_order: np.ndarray, budget: int) -> int:
    """Length of the longest prefix whose token total stays within the budget."""
    return int(np.searchsorted(np.cumsum(n_tokens_in_order, dtype=np.int64), budget, side="right"))


def last_position(n_tokens_in_order: np.ndarray, budget: Budget) -> int:
    """Position in a ranking of the last document the budget takes (the first, if none fits a token budget)."""
    if budget.k is not None:
        return min(budget.k, len(n_tokens_in_order)) - 1
    assert budget.tokens is not None
    return max(prefix_within(n_tokens_in_order, budget.tokens), 1) - 1


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


def _rank_subset(scores: np.ndarray, subset: np.ndarray) -> np.ndarray:
    """``subset`` (document indices) ordered best first, ties by input order."""
    return subset[np.lexsort((subset, -scores[subset]))]


def select_top(scores: np.ndarray, budget: Budget, n_tokens: np.ndarray | None = None) -> np.ndarray:
    """The same selection as ``cut(ranking(scores), budget, n_tokens)``, without sorting every document.

    A full stable argsort needs ~20 bytes of temporaries per document; here only the documents that
    can be selected are sorted. By count: the K-th largest score by partition, then the documents
    at or above it. By tokens: bisection on a score threshold until the documents at or above it
    hold more tokens than the budget, then those. Everything below the threshold ranks after them,
    so the result is exact.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    if budget.k is not None:
        if budget.k > n:
            return cut(np.arange(n), budget)  # the error message with the counts
        if budget.k == n:
            return _rank_subset(scores, np.arange(n))
        threshold = np.partition(scores, n - budget.k)[n - budget.k]
        return _rank_subset(scores, np.flatnonzero(scores >= threshold))[: budget.k]
    assert budget.tokens is not None and n_tokens is not None
    tokens = np.asarray(n_tokens)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    finite = np.isfinite(scores)
    low = float(np.min(scores, where=finite, initial=np.inf))
    high = float(np.max(scores, where=finite, initial=-np.inf))
    if int(tokens.sum(dtype=np.int64)) > budget.tokens:
        # invariant: the documents scoring >= low hold more tokens than the budget
        while True:
            mid = low + (high - low) / 2
            if mid <= low or mid >= high:
                break
            if int(tokens[scores >= mid].sum(dtype=np.int64)) > budget.tokens:
                low = mid
            else:
                high = mid
    candidates = _rank_subset(scores, np.flatnonzero(scores >= low))
    return candidates[: prefix_within(tokens[candidates], budget.tokens)]


def gumbel_keys(n: int, seed: int) -> np.ndarray:
    """Seeded Gumbel noise: ranking by score + noise samples without replacement in proportion to exp(score)."""
    return np.random.default_rng(seed).gumbel(size=n)
