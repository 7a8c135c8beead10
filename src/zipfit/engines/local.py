"""One machine: a pool of worker processes, results in input order, bounded memory."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from zipfit.errors import ZipfitError
from zipfit.ncd import tune_allocator
from zipfit.progress import progress_bar

B = TypeVar("B")


class Job(Protocol):
    """What an engine runs: picklable, set up once per worker, then called per batch."""

    def setup(self) -> None: ...

    def __call__(self, batch: Any) -> Any: ...


_worker_job: Job | None = None
_worker_ready = False


def _init_worker(job: Job) -> None:
    global _worker_job
    _worker_job = job
    tune_allocator()  # worker processes are ours: configure them for throughput


def _run(batch: Any) -> Any:
    # setup() runs on the first batch, not in the initializer: an error there then travels back
    # through future.result() as itself, instead of killing the pool (BrokenProcessPool).
    global _worker_ready
    assert _worker_job is not None
    if not _worker_ready:
        _worker_job.setup()
        _worker_ready = True
    return _worker_job(batch)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class LocalEngine:
    """Runs a job over batches on ``workers`` processes (all cores by default).

    Batches are submitted a few at a time (never the whole input: the reader is a stream) and
    results are yielded in submission order, so output never depends on scheduling. With one
    worker the job runs in this process.
    """

    name = "local"

    def __init__(self, workers: int | None = None, *, progress: bool | None = None) -> None:
        if workers is not None and workers < 1:
            raise ZipfitError(f"--workers must be at least 1, got {workers}")
        self.workers = workers or available_cores()
        self.progress = progress

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
        with progress_bar(desc=desc, total=total, unit=unit, enabled=self.progress) as bar:
            if self.workers == 1:
                job.setup()
                for batch in batches:
                    result = job(batch)
                    bar.update(size(batch))
                    yield result
                return
            context = multiprocessing.get_context("spawn")
            in_flight: deque[tuple[Future, int]] = deque()
            limit = 2 * self.workers + 2
            with ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_init_worker, initargs=(job,)
            ) as pool:
                try:
                    for batch in batches:
                        in_flight.append((pool.submit(_run, batch), size(batch)))
                        if len(in_flight) >= limit:
                            future, n = in_flight.popleft()
                            yield future.result()
                            bar.update(n)
                    while in_flight:
                        future, n = in_flight.popleft()
                        yield future.result()
                        bar.update(n)
                except BrokenProcessPool:
                    raise ZipfitError(
                        "a worker process died. If you call zipfit from a script, put the call under "
                        "`if __name__ == \"__main__\":` (worker processes re-import your script), or use "
                        "workers=1; otherwise the machine may be out of memory"
                    ) from None
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "workers": self.workers}
