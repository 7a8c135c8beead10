"""Every engine against the one Engine contract (zipfit.engines.base), and the golden output through each.

Parametrized over LocalEngine with 1 and 2 workers and RayEngine with 2 workers on a local cluster started
once for the module (with spare CPUs, so a ``select(engine="ray")`` can join it beside the engine's actors).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid

import pytest
import ray  # the test extra installs it: a missing Ray must fail here, not skip
from test_golden import GOLDEN, _content_sha, _select
from test_golden import golden_inputs as golden_inputs  # a fixture: imported, pytest finds it here

from zipfit.engines import Engine, LocalEngine
from zipfit.engines.ray import RayEngine
from zipfit.errors import ZipfitError

# the jobs below are defined here, a module Ray's workers cannot import: ship them by value
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

ENGINES = ["local-1", "local-2", "ray-2"]


@pytest.fixture(scope="module", params=ENGINES)
def engine(request):
    kind, workers = request.param.split("-")
    if kind == "local":
        with LocalEngine(int(workers), progress=False) as engine:
            yield engine
        return
    ray.init(address="local", num_cpus=2 * int(workers), include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)
    try:
        with RayEngine(int(workers), progress=False) as engine:
            yield engine
    finally:
        ray.shutdown()


class Jittery:
    """Later batches often finish first; the result names its batch."""

    def setup(self) -> None:
        pass

    def __call__(self, batch: list[int]) -> list[int]:
        time.sleep(0.001 * (5 - batch[0] % 5))
        return [2 * x for x in batch]


class CountsSetups:
    """Counts setup() calls in the worker's process (an environment variable outlives any copy of the job)."""

    def __init__(self) -> None:
        self.key = f"ZIPFIT_TEST_SETUPS_{uuid.uuid4().hex}"

    def setup(self) -> None:
        os.environ[self.key] = str(int(os.environ.get(self.key, "0")) + 1)

    def __call__(self, batch: list[int]) -> tuple[int, int]:
        return os.getpid(), int(os.environ[self.key])


class FailsOn:
    def __init__(self, bad: int, *, in_setup: bool = False) -> None:
        self.bad, self.in_setup = bad, in_setup

    def setup(self) -> None:
        if self.in_setup:
            raise ZipfitError("cannot load the scorer's model")

    def __call__(self, batch: int) -> int:
        if batch == self.bad:
            raise ZipfitError(f"item {batch} is unreadable")
        return batch


def test_is_an_engine(engine):
    assert isinstance(engine, Engine)
    assert engine.name in ("local", "ray")
    assert isinstance(engine.reads_shards, bool)


def test_results_come_back_in_submission_order(engine):
    batches = [list(range(i, i + 2)) for i in range(0, 160, 2)]  # 80 batches
    assert list(engine.map(Jittery(), iter(batches))) == [[2 * x for x in b] for b in batches]


def test_setup_runs_once_per_worker_not_per_batch(engine):
    results = list(engine.map(CountsSetups(), [[i] for i in range(40)]))
    assert len(results) == 40
    assert all(count == 1 for _, count in results)
    assert len({pid for pid, _ in results}) <= engine.workers


def test_a_zipfit_error_in_a_job_arrives_as_itself(engine):
    with pytest.raises(ZipfitError) as info:
        list(engine.map(FailsOn(3), range(8), size=lambda b: 1))
    assert type(info.value) is ZipfitError and str(info.value) == "item 3 is unreadable"
    if engine.reads_shards:
        with pytest.raises(ZipfitError) as info:
            list(engine.map_shards(FailsOn(2), [0, 1, 2], size=lambda s: 1))
        assert type(info.value) is ZipfitError and str(info.value) == "item 2 is unreadable"
    with pytest.raises(ZipfitError) as info:
        list(engine.map(FailsOn(-1, in_setup=True), range(4), size=lambda b: 1))
    assert type(info.value) is ZipfitError and str(info.value) == "cannot load the scorer's model"
    if engine.reads_shards:
        with pytest.raises(ZipfitError) as info:
            list(engine.map_shards(FailsOn(-1, in_setup=True), [0, 1], size=lambda s: 1))
        assert type(info.value) is ZipfitError and str(info.value) == "cannot load the scorer's model"
    assert list(engine.map(FailsOn(-1), range(4), size=lambda b: 1)) == [0, 1, 2, 3]  # the engine still serves


def test_an_empty_input_yields_nothing(engine):
    assert list(engine.map(Jittery(), [])) == []
    assert list(engine.map(Jittery(), iter(()))) == []
    if engine.reads_shards:
        assert list(engine.map_shards(Jittery(), [])) == []


def test_map_shards_only_where_workers_read_shards(engine):
    if engine.reads_shards:
        assert list(engine.map_shards(FailsOn(-1), [0, 1, 2], size=lambda s: 1)) == [0, 1, 2]
    else:
        with pytest.raises(NotImplementedError, match="reads_shards"):
            list(engine.map_shards(FailsOn(-1), [0, 1, 2], size=lambda s: 1))


def test_describe_names_the_engine_and_its_workers(engine):
    list(engine.map(Jittery(), [[1]]))
    described = engine.describe()
    assert described["engine"] == engine.name
    assert described["workers"] == engine.workers


def test_select_writes_the_golden_output(engine, golden_inputs, tmp_path):
    # through the public API, which makes its own engine of this kind (on Ray it joins the module's cluster)
    extra = {"shard_rows": 150} if engine.reads_shards else {}
    out = _select("zipfit-exclude-dedup", golden_inputs, tmp_path, engine=engine.name, workers=engine.workers,
                  **extra)
    assert _content_sha(out) == GOLDEN["zipfit-exclude-dedup"]


def test_close_is_idempotent(engine):
    # last in the module: the fixture closes the engine once more
    list(engine.map(Jittery(), [[1]]))
    engine.close()
    engine.close()
