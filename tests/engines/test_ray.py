"""The Ray engine on a local two-CPU Ray cluster, started once for the module, with the real method and data."""

import json
import os
import signal
import sys
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import zipfit.api  # noqa: E402
from zipfit.engines import LocalEngine  # noqa: E402
from zipfit.engines.ray import RayEngine  # noqa: E402
from zipfit.errors import ZipfitError  # noqa: E402
from zipfit.methods import ZipFit  # noqa: E402
from zipfit.passes import ScoreJob  # noqa: E402

# the jobs below are defined here, a module Ray's workers cannot import: ship them by value
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def engine():
    with RayEngine(2, progress=False) as engine:
        yield engine
    assert not ray.is_initialized()  # the engine started this cluster, so it stopped it


@pytest.fixture(scope="module")
def job(proofnet_valid):
    return ScoreJob(ZipFit().fit(proofnet_valid[:50]))


@pytest.fixture(scope="module")
def batches(mixed_sources):
    return [mixed_sources[i : i + 9] for i in range(0, len(mixed_sources), 9)]


@pytest.fixture(scope="module")
def expected(job, batches):
    return np.concatenate([s for s, _ in LocalEngine(1, progress=False).map(job, batches)])


def scores(results):
    return np.concatenate([s for s, _ in results])


def test_scores_are_identical_to_the_local_engine(engine, job, batches, expected):
    two = scores(LocalEngine(2, progress=False).map(job, batches))
    on_ray = scores(engine.map(job, iter(batches)))
    assert np.array_equal(on_ray, expected)
    assert np.array_equal(on_ray, two)


class SlowDoubler:
    """Batches finish out of order: later ones are often quicker."""

    def setup(self):
        self.ready = True

    def __call__(self, batch):
        assert self.ready
        time.sleep(0.002 * (7 - batch[0] % 7))
        return [2 * x for x in batch]


def test_results_come_back_in_input_order(engine):
    batches = [list(range(i, i + 3)) for i in range(0, 150, 3)]  # 50 batches for 2 actors
    assert list(engine.map(SlowDoubler(), iter(batches))) == [[2 * x for x in b] for b in batches]


def test_input_is_consumed_lazily(engine):
    pulled = []

    def batches():
        for i in range(100):
            pulled.append(i)
            yield [i]

    results = engine.map(SlowDoubler(), batches())
    assert next(results) == [0]
    assert len(pulled) <= 2 * 2 + 2
    results.close()
    assert len(pulled) <= 2 * 2 + 2


class DiesOnce:
    """Kills its own worker process on one batch, the first time only (the marker file remembers)."""

    def __init__(self, job, victim, marker):
        self.job, self.victim, self.marker = job, victim, marker

    def setup(self):
        self.job.setup()

    def __call__(self, batch):
        if batch == self.victim and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return self.job(batch)


def test_a_worker_killed_mid_run_is_replaced_and_its_batch_rerun(engine, job, batches, expected, tmp_path):
    marker = tmp_path / "killed"
    out = scores(engine.map(DiesOnce(job, batches[5], marker), batches))
    assert marker.exists()
    assert np.array_equal(out, expected)


def test_an_actor_killed_from_outside_is_restarted(engine, job, batches, expected):
    results = engine.map(job, batches)
    first = next(results)
    ray.kill(engine._actors[0], no_restart=False)
    out = scores([first, *results])
    assert np.array_equal(out, expected)


class FailsInSetup:
    def setup(self):
        raise ZipfitError("cannot load the scorer's model")

    def __call__(self, batch):
        return batch


class FailsOnBatch:
    def setup(self):
        pass

    def __call__(self, batch):
        if batch == [3]:
            raise ValueError("batch 3 is malformed")
        return batch


def test_an_error_in_the_job_arrives_as_itself(engine):
    with pytest.raises(ZipfitError, match="cannot load the scorer's model") as info:
        list(engine.map(FailsInSetup(), [[1], [2], [3]]))
    assert not isinstance(info.value, ray.exceptions.RayError)
    assert str(info.value) == "cannot load the scorer's model"
    with pytest.raises(ValueError, match="batch 3 is malformed") as info:
        list(engine.map(FailsOnBatch(), [[i] for i in range(8)]))
    assert not isinstance(info.value, ray.exceptions.RayError)
    assert list(engine.map(FailsOnBatch(), [[1], [2]])) == [[1], [2]]  # the engine still serves


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ZipfitError, match=r"pip install 'zipfit\[ray\]'"):
        RayEngine(1)


def test_describe_and_a_borrowed_connection(engine):
    list(engine.map(SlowDoubler(), [[1]]))
    assert engine.describe() == {"engine": "ray", "address": "local", "workers": 2, "cluster_cpus": 2}
    with pytest.raises(ZipfitError, match="--workers 3 but the Ray cluster has 2 CPUs"):
        list(RayEngine(3, progress=False).map(SlowDoubler(), [[1]]))
    assert ray.is_initialized()  # an engine that did not start the cluster leaves it running
    with pytest.raises(ZipfitError, match="--workers"):
        RayEngine(0)


class Borrowed:
    """What zipfit.api's `with LocalEngine(workers, progress=...) as engine` gets: the module's engine, kept open."""

    def __init__(self, engine):
        self.engine = engine

    def __enter__(self):
        return self.engine

    def __exit__(self, *exc):
        pass


def test_select_writes_the_same_bytes_on_ray(engine, tmp_path, mixed_sources, proofnet_valid, monkeypatch):
    src = tmp_path / "sources.jsonl"
    with open(src, "w", encoding="utf-8") as f:
        for i, text in enumerate(mixed_sources):
            f.write(json.dumps({"id": f"doc-{i}", "text": text, "meta": {"n": i}}) + "\n")
    options = {"target_texts": proofnet_valid[:50], "k": 25, "workers": 2, "progress": False}
    local = zipfit.select(src, out=tmp_path / "local.jsonl", **options)
    monkeypatch.setattr(zipfit.api, "LocalEngine", lambda workers=None, *, progress=None: Borrowed(engine))
    on_ray = zipfit.select(src, out=tmp_path / "ray.jsonl", **options)
    assert local.out.read_bytes() == on_ray.out.read_bytes()
    assert on_ray.manifest["parameters"]["engine"] == "ray"
    on_ray_scores = zipfit.score(src, out=tmp_path / "ray.csv", **{k: v for k, v in options.items() if k != "k"})
    monkeypatch.undo()
    local_scores = zipfit.score(src, out=tmp_path / "local.csv", **{k: v for k, v in options.items() if k != "k"})
    assert local_scores.out.read_bytes() == on_ray_scores.out.read_bytes()
