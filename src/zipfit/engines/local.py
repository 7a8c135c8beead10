"""One machine: a pool of worker processes, results in input order, bounded memory."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ClassVar, TypeVar

from zipfit.engines.base import Engine, Job
from zipfit.engines.fate import die_with_parent
from zipfit.errors import ZipfitError
from zipfit.process import mark_owned
from zipfit.progress import progress_bar

B = TypeVar("B")


# The job a worker process currently runs, by key; a new map call brings a new key.
_worker_jobs: dict[str, Job] = {}


def _init_worker(parent: int) -> None:
    die_with_parent(parent)  # a killed driver leaves no worker behind (nor, through them, the resource tracker)
    mark_owned()  # worker processes are zipfit's: a method may tune them for throughput


def _run(key: str, payload: bytes, batch: Any) -> Any:
    # Every task carries its job, pickled once by the parent (tens of KB against seconds of work);
    # a worker unpickles and sets it up on the first batch it sees. An error in setup() then travels
    # back through future.result() as itself instead of killing the pool.
    job = _worker_jobs.get(key)
    if job is None:
        _worker_jobs.clear()
        job = pickle.loads(payload)
        job.setup()
        _worker_jobs[key] = job
    return job(batch)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class LocalEngine(Engine):
    """Runs jobs over batches on ``workers`` processes (all cores by default).

    Batches are submitted a few at a time (never the whole input: the reader is a stream) and
    results are yielded in submission order, so output never depends on scheduling. The worker
    processes start on the first ``map`` and serve every later one until ``close`` (use the engine
    as a context manager): a run with several passes pays for process start-up once. With one
    worker the job runs in this process. On Linux the workers die with this process, even when it is
    killed (``zipfit.engines.fate.die_with_parent``).
    """

    name: ClassVar[str] = "local"
    reads_shards: ClassVar[bool] = False  # this process reads the inputs and sends texts

    def __init__(self, workers: int | None = None, *, progress: bool | None = None) -> None:
        if workers is not None and workers < 1:
            raise ZipfitError(f"--workers must be at least 1, got {workers}")
        self.workers: int = workers or available_cores()
        self.progress = progress
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalEngine:
        return self

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                             initargs=(os.getpid(),))
        return self._pool

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
            pool = self._executor()
            key, payload = uuid.uuid4().hex, pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
            in_flight: deque[tuple[Future, int]] = deque()
            limit = 2 * self.workers + 2
            try:
                for batch in batches:
                    in_flight.append((pool.submit(_run, key, payload, batch), size(batch)))
                    if len(in_flight) >= limit:
                        future, n = in_flight.popleft()
                        yield future.result()
                        bar.update(n)
                while in_flight:
                    future, n = in_flight.popleft()
                    yield future.result()
                    bar.update(n)
            except BrokenProcessPool:
                self._pool = None
                raise ZipfitError(
                    "a worker process died. If you call zipfit from a script, put the call under "
                    '`if __name__ == "__main__":` (worker processes re-import your script), or use '
                    "workers=1; otherwise the machine may be out of memory"
                ) from None
            finally:
                # an abandoned or failed map must not leave its batches running for the next one
                for future, _ in in_flight:
                    future.cancel()
                for future, _ in in_flight:
                    if not future.cancelled():
                        with contextlib.suppress(BaseException):  # the first error is already on its way
                            future.result()

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "workers": self.workers}
