"""A Ray cluster: the Engine contract, with the work done by actors on every node.

In the map pass the workers read the inputs themselves, on Ray Data: a dataset of shards (row
ranges of the input files) mapped by a pool of actors that hold the scoring job; the driver (this
process) gets back a few numbers per document and never reads the corpus. Other passes send
batches of texts to a pool of actors. Either way each actor holds the job after one ``setup()``,
and results come back in submission order. Ray is an optional dependency: ``pip install 'zipfit[ray]'``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import pickle
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, TypeVar

from zipfit.engines.base import Engine, Job
from zipfit.engines.fate import Reaper, children
from zipfit.errors import ZipfitError
from zipfit.process import mark_owned
from zipfit.progress import progress_bar

B = TypeVar("B")
log = logging.getLogger("zipfit")

# A batch whose actor dies is run again on the restarted actor up to this many times; a batch that
# kills its worker every time (a document too large for the node's memory) then fails the run.
MAX_TASK_RETRIES = 3
FREE_CPUS_WAIT_S = 60.0  # at most this long for the CPUs a finished pass still holds
LOOPBACK = "127.0.0.1"  # the address of a local cluster of our own: reachable from this machine only


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ZipfitError("the Ray engine needs Ray, which is not installed: pip install 'zipfit[ray]'") from None
    return ray


@contextlib.contextmanager
def _loopback_node() -> Iterator[None]:
    """While ``ray.init`` starts a local cluster, let the node's address be loopback.

    Ray turns a loopback ``_node_ip_address`` into the machine's external address, except where it
    does not support multi-node clusters (``ray_constants.ENABLE_RAY_CLUSTER`` false, as on macOS and
    Windows): there a node's address is loopback. This makes the local cluster such a node for the time
    of the call; if a later Ray drops the switch, the cluster starts anyway and the caller warns.
    """
    try:
        from ray._private import ray_constants
    except ImportError:
        yield
        return
    saved = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    if saved is None:
        yield
        return
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


class _Worker:
    """A Ray actor: the current job, set up once, then called per batch.

    The job travels as an object reference (put in the object store once per map); an actor fetches
    and sets it up on the first batch of a new map, and again after a restart (its state is fresh).
    """

    def __init__(self) -> None:
        mark_owned()  # actors are zipfit's processes, as LocalEngine's workers: a method may tune them
        self._key: str | None = None
        self._job: Job | None = None

    def ready(self) -> bool:
        return True

    def run(self, key: str, job_ref: list[Any], batch: Any) -> Any:
        if key != self._key:
            import ray

            self._key, self._job = None, None  # a failed setup() is retried on the next batch
            job = ray.get(job_ref[0])
            job.setup()
            self._key, self._job = key, job
        assert self._job is not None
        return self._job(batch)


class _ShardScorer:
    """A Ray Data actor: the job set up once, then one shard per call (the job reads the shard itself)."""

    def __init__(self, refs: list[Any]) -> None:
        import ray

        mark_owned()
        # the job and the shard list come by reference (the driver holds them until the pass ends): they
        # go to the object store once, not once per actor
        self.job, self.shards = ray.get(refs)
        # Ray Data hands an exception raised here or in __call__ to the driver as a UserCodeException without
        # its cause, so a ZipfitError (a user's mistake: a missing field, an unreadable file) travels back as
        # a result instead and the driver raises it as itself, as map() does. It is not retried: it would fail
        # again. Other errors still go through Ray (their remote traceback is all that names them).
        self.failed: ZipfitError | None = None
        try:
            self.job.setup()
        except ZipfitError as exc:
            self.failed = exc

    def _run(self, shard: Any) -> tuple[ZipfitError | None, Any]:
        if self.failed is not None:
            return self.failed, None
        try:
            return None, self.job(shard)
        except ZipfitError as exc:
            return exc, None

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        results = [pickle.dumps(self._run(self.shards[int(i)]), protocol=pickle.HIGHEST_PROTOCOL)
                   for i in batch["shard"]]
        return {"shard": batch["shard"], "result": np.array(results, dtype=object)}


class RayEngine(Engine):
    """Runs jobs over batches on a pool of Ray actors, one per CPU (every CPU of the cluster by default).

    ``address=None`` starts a local Ray cluster for this engine (stopped by ``close``), unless this
    process is already connected to one or ``RAY_ADDRESS`` names one (as under ``ray job submit``);
    otherwise it joins the cluster at ``address`` ("auto", "ray://head:10001", ...).

    Batches are submitted a few per actor at a time (the input is a stream and is never drained
    ahead), each to the actor with the fewest unfinished batches, and results are yielded in
    submission order, so output does not depend on scheduling. An actor that dies (node lost, OOM
    kill) is restarted and its batches run again. The actors start on the first ``map`` and serve
    every later one until ``close`` (use the engine as a context manager).
    """

    name: ClassVar[str] = "ray"
    # the map pass sends shards, not texts: workers read their part of the inputs themselves
    reads_shards: ClassVar[bool] = True

    def __init__(self, workers: int | None = None, *, address: str | None = None,
                 progress: bool | None = None) -> None:
        if workers is not None and workers < 1:
            raise ZipfitError(f"--workers must be at least 1, got {workers}")
        self._ray = import_ray()
        self.workers = workers
        self.address = address
        self.progress = progress
        self._connected = False  # this engine called ray.init (and so calls ray.shutdown)
        self._actors: list[Any] = []
        self._cpus: int | None = None
        self._joined: str | None = None  # the address joined, when not a local cluster of our own
        self._reaper: Reaper | None = None  # kills our local cluster's processes when this process dies

    def __enter__(self) -> RayEngine:
        return self

    def close(self) -> None:
        """Stop the actors; stop the cluster if this engine started it, leave it if it joined it."""
        ray = self._ray
        self._release_pool()
        if self._connected:
            ray.shutdown()  # stops a local cluster we started; only disconnects from a joined one
            self._connected = False
        if self._reaper is not None:
            self._reaper.close()  # kills what ray.shutdown left of our local cluster
            self._reaper = None

    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            if self.address is not None:
                log.debug("already connected to a Ray cluster: using it instead of %s", self.address)
            return
        verbose = log.isEnabledFor(logging.DEBUG)
        quiet = {"log_to_driver": verbose, "logging_level": logging.INFO if verbose else logging.ERROR}
        address = self.address or os.environ.get("RAY_ADDRESS")  # set by `ray job submit`, KubeRay's RayJob
        try:
            if address is None:
                self._start_local_cluster(quiet)
            else:
                ray.init(address=address, **quiet)  # the user's cluster, with the user's settings
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = "start a local Ray cluster" if address is None else f"join the Ray cluster at {address}"
            raise ZipfitError(f"could not {where}: {exc}") from None
        self._connected = True
        self._joined = address

    def _start_local_cluster(self, quiet: dict[str, Any]) -> None:
        """A private Ray cluster on this machine: reachable from this machine only, usage statistics off
        (unless the user set ``RAY_USAGE_STATS_ENABLED``), no dashboard, and gone when this process dies.

        Ray binds its servers to the node's address and replaces a loopback address given to ``ray.init``
        by the machine's external one (a local cluster may be joined by other nodes); here the node's
        address is loopback, so every server of the cluster (GCS, raylet, workers, this driver, the
        agents) listens on 127.0.0.1 only. Ray's own head processes die with this one (Ray asks the kernel
        for that), but the agents its raylet starts outlive a killed driver: a reaper process kills every
        process of the cluster once this one is gone (``zipfit.engines.fate.Reaper``).
        """
        ray = self._ray
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # before Ray reads it; a user's own choice stays
        reaper = Reaper()
        before = children()
        reaper.adopt()  # what ray.init starts: the cluster's head processes
        try:
            with _loopback_node():
                ray.init(address="local", num_cpus=self.workers, include_dashboard=False,
                         _node_ip_address=LOOPBACK, **quiet)
        except BaseException:
            reaper.watch(children() - before)  # whatever a failed start left
            reaper.close()
            raise
        reaper.watch(children() - before)  # those started since the reaper's last look
        reaper.stop_adopting()
        self._reaper = reaper
        node_ip = ray.util.get_node_ip_address()
        try:
            loopback = ipaddress.ip_address(node_ip).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            log.warning("zipfit's local Ray cluster listens on %s, not on loopback only", node_ip)

    def _pool(self) -> list[Any]:
        if self._actors:
            return self._actors
        self._connect()
        ray = self._ray
        self._cpus = int(ray.cluster_resources().get("CPU", 0))
        n = self.workers or self._cpus
        if n < 1:
            raise ZipfitError("the Ray cluster has no CPUs to run zipfit's workers on")
        # The actors of the previous pass (ours, or Ray Data's after a failed pass) give their CPUs back
        # asynchronously; a pass that starts while none is free can wait forever for its actor pool
        # (seen on a 2-CPU local cluster right after a failed pass). Give them time to go first.
        if n > self._cpus:  # before waiting for free CPUs: that many never will be
            raise ZipfitError(f"--workers {n} but the Ray cluster has {self._cpus} CPUs; "
                              "use fewer workers or add nodes to the cluster")
        deadline = time.monotonic() + FREE_CPUS_WAIT_S
        while ray.available_resources().get("CPU", 0) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        actor = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=MAX_TASK_RETRIES,
                           scheduling_strategy="SPREAD")(_Worker)
        actors = [actor.remote() for _ in range(n)]
        try:
            ray.get([a.ready.remote() for a in actors])
        except ray.exceptions.RayError as exc:
            for a in actors:
                with contextlib.suppress(Exception):
                    ray.kill(a)
            raise ZipfitError("zipfit's Ray workers could not start; is the same zipfit version installed on "
                              f"every node of the cluster? {exc}") from None
        self._actors = actors
        return actors

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
        ray = self._ray
        with progress_bar(desc=desc, total=total, unit=unit, enabled=self.progress) as bar:
            actors = self._pool()
            key, job_ref = uuid.uuid4().hex, [ray.put(job)]  # in the object store once, fetched once per actor
            in_flight: deque[tuple[Any, int]] = deque()
            unfinished: dict[Any, int] = {}  # task -> actor, for tasks not known to have finished
            limit = 2 * len(actors) + 2
            turn = 0
            try:
                for batch in batches:
                    target = self._least_busy(unfinished, len(actors), turn)
                    turn += 1
                    ref = actors[target].run.remote(key, job_ref, batch)
                    unfinished[ref] = target
                    in_flight.append((ref, size(batch)))
                    if len(in_flight) >= limit:
                        ref, n = in_flight.popleft()
                        yield self._result(ref)
                        unfinished.pop(ref, None)
                        bar.update(n)
                while in_flight:
                    ref, n = in_flight.popleft()
                    yield self._result(ref)
                    unfinished.pop(ref, None)
                    bar.update(n)
            finally:
                # an abandoned or failed map must not leave its batches running for the next one
                pending = [ref for ref, _ in in_flight]
                for ref in pending:
                    with contextlib.suppress(Exception):
                        ray.cancel(ref)
                if pending:
                    with contextlib.suppress(Exception):
                        ray.wait(pending, num_returns=len(pending), timeout=60, fetch_local=False)

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
        """``job(shard)`` for every shard, in order, on Ray Data: a dataset of shard numbers mapped by an
        actor pool (one actor per worker CPU, the job set up once per actor), streamed back in order.

        An actor that dies is restarted and its shard run again (Ray Data retries the task).
        """
        if not shards:
            return
        self._connect()
        self._release_pool()  # its actors hold the CPUs Ray Data's actors need
        try:
            import ray.data
        except ImportError as exc:
            raise ZipfitError(f"the Ray engine needs Ray Data ({exc}): pip install 'zipfit[ray]'") from None

        ray = self._ray
        verbose = log.isEnabledFor(logging.DEBUG)
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # results in shard order: output never depends on timing
        context.enable_progress_bars = verbose
        context.print_on_execution_start = verbose
        logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.ERROR)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        n = min(self.workers or cpus, cpus, len(shards))
        if n < 1:
            raise ZipfitError("the Ray cluster has no CPUs to run zipfit's workers on")
        # The actors of the previous pass (ours, or Ray Data's after a failed pass) give their CPUs back
        # asynchronously; a pass that starts while none is free can wait forever for its actor pool
        # (seen on a 2-CPU local cluster right after a failed pass). Give them time to go first.
        deadline = time.monotonic() + FREE_CPUS_WAIT_S
        while ray.available_resources().get("CPU", 0) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        refs = [ray.put(job), ray.put(list(shards))]
        dataset = ray.data.from_items([{"shard": i} for i in range(len(shards))],
                                      override_num_blocks=len(shards))
        with warnings.catch_warnings():  # Ray 2.60 deprecates retry arguments it has no other way to take yet
            warnings.simplefilter("ignore", DeprecationWarning)
            dataset = dataset.map_batches(_ShardScorer, fn_constructor_args=(refs,), batch_size=1,
                                          concurrency=n, num_cpus=1, max_restarts=-1,
                                          max_task_retries=MAX_TASK_RETRIES)
        exceptions = ray.exceptions
        rows = iter(dataset.iter_rows())  # the generator itself, so that leaving early can close it
        with progress_bar(desc=desc, total=total, unit=unit, enabled=self.progress) as bar:
            try:
                for row in rows:
                    failure, result = pickle.loads(row["result"])
                    if failure is not None:
                        raise failure
                    bar.update(size(shards[int(row["shard"])]))
                    yield result
            except exceptions.RayTaskError as exc:
                raise self._job_error(exc) from None
            except exceptions.RayError as exc:
                raise ZipfitError(f"the Ray cluster failed to score the shards: {exc}") from None
            finally:
                # a pass left early (an error travelled back as a result, or the caller stopped reading) must
                # stop its streaming execution now: its actors hold the CPUs the next pass needs, and a
                # traceback that keeps the iterator alive would keep them until it is collected
                close = getattr(rows, "close", None)
                if close is not None:
                    close()

    def _release_pool(self) -> None:
        for actor in self._actors:
            with contextlib.suppress(Exception):
                self._ray.kill(actor)
        self._actors = []

    def _least_busy(self, unfinished: dict[Any, int], n_actors: int, turn: int) -> int:
        """The actor with the fewest unfinished batches; ties go round-robin from ``turn``."""
        load = [0] * n_actors
        for target in unfinished.values():
            load[target] += 1
        if min(load) > 0:  # ask Ray which batches are done only when no actor is known to be idle
            refs = list(unfinished)
            done, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=False)
            for ref in done:
                load[unfinished.pop(ref)] -= 1
        return min(range(n_actors), key=lambda i: (load[i], (i - turn) % n_actors))

    def _result(self, ref: Any) -> Any:
        exceptions = self._ray.exceptions
        try:
            return self._ray.get(ref)
        except exceptions.RayTaskError as exc:
            raise self._job_error(exc) from None
        except exceptions.RayActorError as exc:
            raise ZipfitError(f"a batch failed: its Ray worker died and {MAX_TASK_RETRIES} retries did not complete "
                              f"it (out of memory, or its node lost?): {exc}") from None
        except exceptions.RayError as exc:
            raise ZipfitError(f"the Ray cluster failed to run a batch: {exc}") from None

    def _job_error(self, exc: Any) -> BaseException:
        """The job's own exception, as itself (a ZipfitError stays a one-line user error), from the
        RayTaskError that carries it (Ray Data wraps it once more, in a UserCodeException)."""
        exceptions = self._ray.exceptions
        cause = exc.cause
        while isinstance(cause, (exceptions.RayTaskError, exceptions.UserCodeException)):
            cause = cause.cause if isinstance(cause, exceptions.RayTaskError) else cause.__cause__
        if cause is None:
            return ZipfitError(f"a job failed on the Ray cluster: {exc}")
        if not isinstance(cause, ZipfitError) and hasattr(cause, "add_note"):
            cause.add_note(f"raised in a Ray worker: {exc}")  # the remote traceback
        return cause

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"engine": self.name, "address": self._joined or self.address or "local",
                               "workers": len(self._actors) or self.workers}
        if self._cpus is not None:
            out["cluster_cpus"] = self._cpus
        return out
