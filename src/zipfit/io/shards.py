"""Shards: fixed row ranges of the input files, the unit of checkpoints and of reading on a cluster.

A shard is rows [number * R, (number + 1) * R) of one input file (R = rows per shard; the last
shard of a file is shorter). Its bounds depend only on the inputs and R, never on the engine or
the number of workers, so a checkpoint written by one run is found by the next, on any engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ROWS_PER_SHARD = 4096


@dataclass(frozen=True)
class Shard:
    file: int  # index into Corpus.files
    number: int  # shard of that file, from 0
    start: int  # first row, 0-based
    stop: int  # one past the last row
    offset: int | None = None  # byte where row `start` begins, in an uncompressed JSON Lines file

    @property
    def key(self) -> str:
        return shard_key(self.file, self.number)


def shard_key(file: int, number: int) -> str:
    return f"{file:05d}-{number:07d}"


def shard_number(row: int, rows_per_shard: int) -> int:
    """The shard of a 1-based row."""
    return (row - 1) // rows_per_shard


def plan_shards(corpus: Any, rows_per_shard: int = ROWS_PER_SHARD) -> list[Shard]:
    """Every shard of the corpus, in input order. Counts each JSON Lines file's rows (one read of it)."""
    if rows_per_shard < 1:
        raise ValueError(f"rows_per_shard must be at least 1, got {rows_per_shard}")
    shards = []
    for file_no in range(len(corpus.files)):
        n, starts = corpus.rows(file_no, rows_per_shard)
        for number, offset in enumerate(starts):
            start = number * rows_per_shard
            shards.append(Shard(file_no, number, start, min(start + rows_per_shard, n), offset))
    return shards
