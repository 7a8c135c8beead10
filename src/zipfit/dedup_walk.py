"""``--dedup``: walk the ranking best first and skip copies, so a budget is not spent on duplicates.

Of each group of exact or near-duplicate documents the best-ranked one is kept (exact copies have
equal scores, so that is the first in input order). Keys are computed only for the documents the
walk reaches: the budget's worth of the ranking plus a margin, and more chunks while copies keep
the budget from filling, each by one streaming read of the inputs with the keys computed by the
engine's workers (where the workers read shards: each shard holding some is read by a worker, which computes their
keys). Memory: (1 + bands) x 8 bytes per document reached.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from zipfit.engines.base import Engine
from zipfit.filters.dedup import DuplicateKeys
from zipfit.io import Corpus, Exclusions
from zipfit.io.shards import Shard
from zipfit.passes import documents_at
from zipfit.pipeline.worker_reads import dedup_keys_on_workers
from zipfit.topk import Budget, ranking

MARGIN = 1.25  # the first chunk: this many times the budget's documents, plus a few


@dataclass
class DedupResult:
    selected: np.ndarray  # document indices, best first
    skipped: Exclusions = field(default_factory=Exclusions)  # by reason, with "file:row" examples
    duplicates_of: list[dict[str, str]] = field(default_factory=list)  # first examples: copy -> kept document
    reached: int = 0  # documents whose keys were computed
    # every skipped document, in walk order: (its index, reason, "file:row" of the kept document it copies)
    skipped_at: list[tuple[int, str, str]] = field(default_factory=list)


class _KeysJob:
    def __init__(self, keys: DuplicateKeys) -> None:
        self.keys = keys

    def setup(self) -> None:
        self.keys.setup()

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.keys(texts)


def deduplicated_cut(corpus: Corpus, engine: Engine, keys: np.ndarray, budget: Budget, n_tokens: np.ndarray,
                     finder: DuplicateKeys,
                     located: tuple[Sequence[Shard], Sequence[int]] | None = None) -> DedupResult:
    """The budget's selection from the ranking of ``keys`` (-inf = never selected), skipping duplicates.

    ``located``: the map pass's shards and their numbers of documents, when the engine's workers read shards; they
    then read the documents the walk reaches and compute their keys."""
    order = ranking(keys)
    order = order[np.isfinite(keys[order])]
    walker = finder.walker()
    result = DedupResult(np.zeros(0, dtype=np.int64))
    kept: list[int] = []
    where: dict[int, str] = {}
    total_tokens, position = 0, 0
    first = budget.k if budget.k is not None else _documents_for_tokens(order, n_tokens, budget.tokens or 0)
    chunk = math.ceil(first * MARGIN) + 16
    done = False
    while not done and position < len(order):
        part = order[position : position + chunk]
        position += len(part)
        ascending = np.sort(part)
        if located is not None and engine.reads_shards:
            rows, places = dedup_keys_on_workers(corpus, engine, located[0], located[1], ascending, finder)
        else:
            docs = list(documents_at(corpus, ascending))
            texts = [d.text for d in docs]
            places = [(d.file, d.row) for d in docs]
            rows = np.concatenate(list(engine.map(_KeysJob(finder), [texts[i : i + 64]
                                                                      for i in range(0, len(texts), 64)],
                                                  desc="duplicates", total=len(texts))))
        slot = {int(i): j for j, i in enumerate(ascending.tolist())}
        for index in part.tolist():
            j = slot[index]
            file, row = places[j]
            here = f"{corpus.files[file].path}:{row}"
            twin, reason = walker.offer_reason(index, rows[j])
            if twin is not None:
                assert reason is not None
                result.skipped.add(reason, corpus.files[file].path, row)
                result.skipped_at.append((index, reason, where[twin]))
                if len(result.duplicates_of) < 5:
                    result.duplicates_of.append({"copy": here, "of": where[twin], "reason": reason})
                continue
            where[index] = here  # only documents the walker keeps can be the twin of a later one
            if budget.k is not None:
                kept.append(index)
                done = len(kept) >= budget.k
            else:
                if total_tokens + int(n_tokens[index]) > (budget.tokens or 0):
                    done = True  # the selection is a prefix of the deduplicated ranking
                else:
                    kept.append(index)
                    total_tokens += int(n_tokens[index])
            if done:
                break
        result.reached += len(part)
        chunk = max(chunk, 1024)
    result.selected = np.array(kept, dtype=np.int64)
    return result


def _documents_for_tokens(order: np.ndarray, n_tokens: np.ndarray, tokens: int) -> int:
    return max(1, int(np.searchsorted(np.cumsum(n_tokens[order], dtype=np.int64), tokens, side="right")))
