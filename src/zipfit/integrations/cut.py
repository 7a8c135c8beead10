"""The exact global cut from every document's score, for a framework that scores in pieces.

A streaming framework scores each document where it passes; the cut (top ``k``, a token budget, a fraction,
a minimum score) needs all of them. Gathered in input order, the scores go through the library's own cut
(``zipfit.selection.cut_scores``): the same budget arithmetic, the same tie-breaking (the earlier document
wins) and the same errors as ``zipfit select``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zipfit.io.exclusions import Exclusions
from zipfit.manifest import Timer
from zipfit.passes import MapResult
from zipfit.selection import Cut, cut_scores
from zipfit.topk import Budget


@dataclass
class Selection:
    """The selected documents, best first: their positions among the eligible documents, and their scores."""

    positions: np.ndarray
    scores: np.ndarray

    @property
    def cutoff(self) -> float:
        """The lowest selected score."""
        return float(self.scores[-1])

    def ranks(self) -> dict[int, int]:
        """Eligible position -> rank (1 = best)."""
        return {int(p): r for r, p in enumerate(self.positions.tolist(), 1)}


def exact_cut(
    scores: Sequence[float] | np.ndarray,
    n_tokens: Sequence[int] | np.ndarray,
    *,
    k: int | None = None,
    tokens: int | None = None,
    fraction: float | None = None,
    min_score: float | None = None,
    sampling: str = "top-k",
    seed: int = 0,
    method: str = "zipfit",
    unscorable_reason: str = "unscorable",
    n_records: int | None = None,
    exclusions: Exclusions | None = None,
) -> Selection:
    """The selection ``zipfit select`` makes from these scores (every eligible document's, in input order; NaN
    for one the method could not score) and token counts."""
    cut = Cut(Budget(k=k, tokens=tokens, fraction=fraction, min_score=min_score), sampling, seed)
    values = np.asarray(scores, dtype=np.float64)
    counts = np.asarray(n_tokens, dtype=np.uint32)
    excluded = exclusions if exclusions is not None else Exclusions()
    mapped = MapResult(values, counts, np.zeros(len(values), dtype=np.uint32),
                       n_records=len(values) if n_records is None else n_records, exclusions=excluded)
    # the corpus and the engine serve only --group-by and --dedup, which a per-document cut does not use
    choice = cut_scores(mapped, None, None, cut, name=method,  # type: ignore[arg-type]
                        unscorable_reason=unscorable_reason, timer=Timer())
    return Selection(np.asarray(choice.selected, dtype=np.int64), np.asarray(choice.scores, dtype=np.float64))
