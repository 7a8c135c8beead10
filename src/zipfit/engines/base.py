"""The contract every engine follows, and the jobs it runs.

An engine owns parallelism and progress; it never knows which method it runs. It takes a picklable
``Job``, sets it up once per worker and calls it per batch, and yields results in submission order, so
output never depends on scheduling, worker count or engine. ``tests/engines/test_conformance.py``
holds every engine to this.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

B = TypeVar("B")


class Job(Protocol):
    """What an engine runs: picklable, set up once per worker, then called per batch."""

    def setup(self) -> None: ...

    def __call__(self, batch: Any) -> Any: ...


class Engine(ABC):
    """Runs jobs over batches on workers; results come back in submission order.

    The workers start on the first ``map`` and serve every later one until ``close``: use the engine as
    a context manager. An exception a job raises (a ``ZipfitError`` above all) reaches the caller as
    itself, not wrapped in the engine's own error types.
    """

    name: ClassVar[str]
    # True when the workers read their own input shards (``map_shards``): the caller then sends row
    # ranges, not texts, and this process never reads the corpus
    reads_shards: ClassVar[bool] = False

    # None means every worker the engine can find (all cores; on Ray, every CPU of the cluster), which
    # a remote engine learns only when it connects: ``describe()`` then says how many it used
    workers: int | None
    progress: bool | None  # None: a progress bar when stderr is a terminal

    @abstractmethod
    def map(
        self,
        job: Job,
        batches: Iterable[B],
        *,
        desc: str = "scoring",
        total: int | None = None,
        size: Callable[[B], int] = len,  # type: ignore[assignment]
        unit: str = "doc",
    ) -> Iterator[Any]:
        """``job(batch)`` for every batch, in submission order. ``batches`` is consumed lazily (a stream is
        never drained ahead); ``size(batch)`` advances the progress bar, of ``total`` ``unit``s."""

    def map_shards(
        self,
        job: Job,
        shards: Sequence[Any],
        *,
        desc: str = "scoring",
        total: int | None = None,
        size: Callable[[Any], int] = len,
        unit: str = "row",
    ) -> Iterator[Any]:
        """``job(shard)`` for every shard, in order, where the job reads its shard itself on the worker.

        Only engines with ``reads_shards`` implement it; the others read in the calling process and send
        batches to ``map``."""
        raise NotImplementedError(
            f"the {self.name} engine's workers do not read their own shards (reads_shards is False): "
            "read the inputs in this process and send the batches to map()"
        )

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What ran the job, for the manifest: at least ``engine`` (its name) and ``workers``."""

    @abstractmethod
    def close(self) -> None:
        """Stop the workers (and whatever the engine started for them). Idempotent."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Engine", "Job"]
