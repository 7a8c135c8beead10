"""The Ray engine on a local two-CPU Ray cluster, started once for the module, with the real method and data."""

import os
import signal
import sys
import time

import numpy as np
import pytest
import ray  # the test extra installs it: a missing Ray must fail here, not skip

from zipfit.engines import LocalEngine, make_engine
from zipfit.engines.ray import RayEngine
from zipfit.errors import ZipfitError
from zipfit.methods import ZipFit
from zipfit.passes import ScoreJob

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


def test_engine_names():
    assert isinstance(make_engine("local", 1), LocalEngine)
    with pytest.raises(ZipfitError, match="--ray-address needs --engine ray"):
        make_engine("local", 1, ray_address="auto")
    with pytest.raises(ZipfitError, match="unknown engine 'dask'"):
        make_engine("dask")


# ---- the map pass with workers that read their own shards ------------------------------------------------


@pytest.fixture(scope="module")
def many_files(tmp_path_factory, mixed_sources):
    """Seven inputs for two workers, in three formats; the first, plain, is split into many shards."""
    import gzip
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("many")
    lines = [json.dumps({"text": t}) for t in mixed_sources]
    lines[4] = "{broken"
    big = root / "big.jsonl"
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    paths = [big]
    for i in range(4):
        p = root / f"part{i}.jsonl.gz"
        p.write_bytes(gzip.compress(("\n".join(lines[i * 30 : i * 30 + 30]) + "\n").encode()))
        paths.append(p)
    for i in range(2):
        p = root / f"part{i}.parquet"
        pq.write_table(pa.table({"text": mixed_sources[i * 40 : i * 40 + 40]}), p, row_group_size=16)
        paths.append(p)
    return paths


class DiesOnText:
    """A method that kills its own worker process the first time it sees one text (the marker remembers)."""

    def __init__(self, method, victim, marker):
        self.method, self.victim, self.marker = method, victim, marker

    def setup(self):
        self.method.setup()

    def score(self, texts):
        if self.victim in texts and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return self.method.score(texts)


def _map(corpus, method, engine):
    from zipfit.passes import map_pass
    from zipfit.tokens import TokenCounter

    return map_pass(corpus, method, engine, TokenCounter("whitespace"), shard_rows=13)


def test_workers_read_the_shards_and_the_pass_equals_the_local_one(engine, many_files, proofnet_valid, tmp_path):
    from zipfit.io import Corpus
    from zipfit.io.shards import plan_shards

    method = ZipFit().fit(proofnet_valid[:20])
    corpus = Corpus(many_files)
    assert len(plan_shards(corpus, 13)) > 3 * engine.workers and sum(s.file == 0 for s in plan_shards(corpus, 13)) > 5
    local = _map(Corpus(many_files), method, LocalEngine(1, progress=False))
    on_ray = _map(corpus, method, engine)
    assert corpus.n_records == 0  # this process read nothing: the workers did
    for name in ("scores", "n_tokens", "n_chars"):
        assert np.array_equal(getattr(on_ray, name), getattr(local, name))
    assert on_ray.n_records == local.n_records and on_ray.exclusions.as_dict() == local.exclusions.as_dict()
    assert on_ray.exclusions.counts() == {"malformed_json": 2}  # big.jsonl and part0 hold the broken line

    marker = tmp_path / "killed"
    dying = DiesOnText(method, Corpus(many_files).shard_documents(plan_shards(corpus, 13)[9])[0].__next__().text,
                       marker)
    again = _map(Corpus(many_files), dying, engine)
    assert marker.exists()  # a worker died mid-shard; the shard ran again on its replacement
    assert np.array_equal(again.scores, local.scores)


class FailsOnShard:
    def setup(self):
        pass

    def __call__(self, shard):
        if shard == 2:
            raise ZipfitError("shard 2 is unreadable")
        if shard == 3:
            raise ValueError("shard 3 is malformed")
        return shard


def test_an_error_in_a_shard_arrives_as_itself(engine):
    with pytest.raises(ZipfitError, match="shard 2 is unreadable"):
        list(engine.map_shards(FailsOnShard(), [0, 1, 2], size=lambda s: 1))
    # Ray Data hands back only a UserCodeException for other types: the remote traceback names the error
    with pytest.raises(ZipfitError, match=r"(?s)a job failed on the Ray cluster.*ValueError: shard 3 is malformed"):
        list(engine.map_shards(FailsOnShard(), [0, 3], size=lambda s: 1))
    assert list(engine.map_shards(FailsOnShard(), [0, 1], size=lambda s: 1)) == [0, 1]
