"""Training data as packed blocks, visited in a seeded order, cut to an exact token budget."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def pack(token_ids: Sequence[Sequence[int]], sep_id: int) -> np.ndarray:
    """One stream ``sep d1 sep d2 ... sep dn``: every document follows a separator, as evaluated texts do."""
    total = sum(len(ids) + 1 for ids in token_ids)
    stream = np.empty(total, dtype=np.int64)
    pos = 0
    for ids in token_ids:
        stream[pos] = sep_id
        stream[pos + 1 : pos + 1 + len(ids)] = ids
        pos += len(ids) + 1
    return stream


class Blocks:
    """The stream cut into windows of block_size + 1 tokens overlapping by one: every token after the first
    is a training target exactly once per epoch. The last block may be shorter."""

    def __init__(self, stream: np.ndarray, block_size: int) -> None:
        self.stream = stream
        self.block_size = block_size
        self.targets = max(len(stream) - 1, 0)  # training tokens in one epoch
        self.count = -(-self.targets // block_size)

    def block(self, i: int, limit: int | None = None) -> np.ndarray:
        """Block i, cut to `limit` targets when the budget ends inside it."""
        start = i * self.block_size
        n = min(self.block_size, self.targets - start) if limit is None else min(limit, self.block_size)
        return self.stream[start : start + n + 1]


def batch_plan(blocks: Blocks, batch_size: int, max_tokens: int | None, seed: int) -> list[list[tuple[int, int]]]:
    """Batches of (block index, targets used), in a seeded shuffled order, until `max_tokens` targets.

    None means one epoch. A budget larger than the data repeats it, reshuffled each epoch; the block where
    the budget runs out is cut so the run trains on exactly `max_tokens` tokens.
    """
    budget = blocks.targets if max_tokens is None else max_tokens
    rng = np.random.default_rng(seed)
    batches: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    used = 0
    for i in _epochs(blocks.count, rng):
        if used >= budget:
            break
        size = len(blocks.block(i)) - 1
        take = min(size, budget - used)
        current.append((i, take))
        used += take
        if len(current) == batch_size:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    return batches


def _epochs(count: int, rng: np.random.Generator) -> Iterator[int]:
    while count:
        yield from (int(i) for i in rng.permutation(count))
