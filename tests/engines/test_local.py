import numpy as np
import pytest

from zipfit.engines import LocalEngine
from zipfit.errors import ZipfitError
from zipfit.methods import ZipFit
from zipfit.passes import ScoreJob


class Doubler:
    def setup(self):
        self.ready = True

    def __call__(self, batch):
        assert self.ready
        return [2 * x for x in batch]


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_in_input_order(workers):
    batches = [list(range(i, i + 3)) for i in range(0, 60, 3)]
    out = list(LocalEngine(workers, progress=False).map(Doubler(), iter(batches)))
    assert out == [[2 * x for x in b] for b in batches]


def test_input_is_consumed_lazily():
    """The engine must not drain the reader: only a few batches may be in flight at once."""
    pulled = []

    def batches():
        for i in range(100):
            pulled.append(i)
            yield [i]

    results = LocalEngine(2, progress=False).map(Doubler(), batches())
    first = next(results)
    assert first == [0]
    assert len(pulled) <= 2 * 2 + 2
    results.close()


def test_scores_are_identical_across_worker_counts(mixed_sources, proofnet_valid):
    job = ScoreJob(ZipFit().fit(proofnet_valid[:5]))
    batches = [mixed_sources[i : i + 9] for i in range(0, len(mixed_sources), 9)]
    one = np.concatenate([s for s, _ in LocalEngine(1, progress=False).map(job, batches)])
    two = np.concatenate([s for s, _ in LocalEngine(2, progress=False).map(job, batches)])
    assert np.array_equal(one, two)


def test_worker_count_must_be_positive():
    with pytest.raises(ZipfitError, match="--workers"):
        LocalEngine(0)


class FailsInSetup:
    def setup(self):
        raise ZipfitError("cannot load the scorer's model")

    def __call__(self, batch):
        return batch


@pytest.mark.parametrize("workers", [1, 2])
def test_an_error_in_worker_setup_arrives_as_itself(workers):
    with pytest.raises(ZipfitError, match="cannot load the scorer's model"):
        list(LocalEngine(workers, progress=False).map(FailsInSetup(), [[1], [2], [3]]))


def test_a_script_without_main_guard_gets_a_clear_error(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "from zipfit.engines import LocalEngine\n"
        "from zipfit.methods import ZipFit\n"
        "from zipfit.passes import ScoreJob\n"
        "job = ScoreJob(ZipFit().fit(['theorem a : 1 = 1']))\n"
        "print(list(LocalEngine(2, progress=False).map(job, [['x'], ['y']])))\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode != 0
    # the error's own line (multiprocessing's resource tracker may print a warning after it)
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("zipfit.errors.ZipfitError")]
    assert 'if __name__ == "__main__":' in line


def test_one_pool_serves_every_map_of_an_engine():
    with LocalEngine(2, progress=False) as engine:
        assert list(engine.map(Doubler(), [[1], [2]])) == [[2], [4]]
        pool = engine._pool
        [(scores, _)] = list(engine.map(ScoreJob(ZipFit().fit(["theorem a : 1 = 1"])), [["x"]]))
        assert scores.shape == (1,)
        assert engine._pool is pool
    assert engine._pool is None
