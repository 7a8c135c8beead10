"""The reads that workers make for an engine that reads shards give exactly what the driver's own reads give.

The engine here is the local process pool declaring that its workers read shards (``map_shards`` is its ``map``:
each shard, pickled, goes to a worker process, which reads it), so these checks need no Ray cluster;
tests/engines/test_ray_remote.py runs the same reads on Ray with the inputs on an S3 server.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from realdata import DATA, read_jsonl

import zipfit
from zipfit.engines import LocalEngine, register_engine, unregister_engine
from zipfit.errors import ZipfitError
from zipfit.fingerprint import text_sha256
from zipfit.io import Corpus, TextSpec
from zipfit.io.shards import plan_shards
from zipfit.io.writers import encode_record
from zipfit.methods import ZipFit
from zipfit.passes import map_pass, ranked_records, sample_documents
from zipfit.pipeline.worker_reads import (
    describe_inputs,
    plan_on_workers,
    ranked_records_on_workers,
    reservoir_indices,
    sample_on_workers,
)
from zipfit.tokens import TokenCounter

MBPP = DATA / "mbpp" / "mbpp.jsonl"
PROOFNET = DATA / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl"
PROOFNET_TEMPLATE = "{nl_statement}\n{formal_statement}"
ROWS = 37  # rows per shard: many shards per file, none aligned with the bad lines


class ShardReadingPool(LocalEngine):
    """The local pool, its workers reading shards: every job runs in a worker process on a pickled shard."""

    reads_shards = True

    def map_shards(self, job: Any, shards: Any, **kwargs: Any) -> Any:
        return self.map(job, shards, **kwargs)


@pytest.fixture(scope="module")
def engine():
    with ShardReadingPool(1, progress=False) as engine:
        yield engine


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Real MBPP records as plain JSON Lines with bad lines among them, the same gzipped, and as Parquet."""
    root = tmp_path_factory.mktemp("inputs")
    records = read_jsonl(MBPP)[:300]
    lines = [json.dumps(r) for r in records]
    lines[3], lines[40], lines[77], lines[150] = "", "{not json", "[1, 2]", json.dumps({"code": "no text"})
    plain = root / "mbpp.jsonl"
    plain.write_text("\n".join(lines) + "\n", encoding="utf-8")
    packed = root / "mbpp.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes(), mtime=0))
    table = root / "mbpp.parquet"
    pq.write_table(pa.Table.from_pylist(records[150:]), table, row_group_size=50)
    return [plain, packed, table]


@pytest.fixture
def shard_pool():
    """The pool above as an engine the API can be asked for by name; yields the jobs it ran, by class name."""
    jobs: list[str] = []

    class Recording(ShardReadingPool):
        def map(self, job: Any, batches: Any, **kwargs: Any) -> Any:
            jobs.append(type(job).__name__)
            return super().map(job, batches, **kwargs)

    register_engine("shard-pool", lambda workers, *, address, progress: Recording(workers, progress=progress))
    try:
        yield jobs
    finally:
        unregister_engine("shard-pool")


def read_jsonl_lines(path) -> list[str]:
    """The lines of a JSON Lines file that hold an object (the bad lines of ``inputs`` left out)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.startswith("{") and '"text"' in line]


def _targets() -> list[str]:
    rows = read_jsonl(PROOFNET)
    return [PROOFNET_TEMPLATE.format_map(r) for r in rows if r["split"] == "valid"][:40]


def test_the_reservoir_draw_needs_only_the_count(inputs):
    corpus = Corpus(inputs, TextSpec(field="text"))
    n = sum(1 for _ in corpus.documents())
    for size, seed in ((0, 0), (7, 0), (100, 3), (n, 1), (n + 50, 2)):
        indices, _, count = sample_documents(corpus, size, seed)
        assert count == n
        assert reservoir_indices(n, size, seed).tolist() == indices.tolist()
    assert reservoir_indices(0, 5, 0).tolist() == []


def test_hashes_rows_and_the_sample_come_from_the_workers(engine, inputs):
    corpus = Corpus(inputs, TextSpec(field="text"))
    on_workers = Corpus(inputs, TextSpec(field="text"))
    assert describe_inputs(on_workers, engine, ROWS) == corpus.describe()
    assert on_workers.rows_known(ROWS) and not on_workers.rows_known(ROWS + 1)
    assert [on_workers.rows(i, ROWS) for i in range(3)] == [corpus.rows(i, ROWS) for i in range(3)]
    assert plan_on_workers(Corpus(inputs, TextSpec(field="text")), engine, 11) == plan_shards(corpus, 11)
    for size, seed in ((25, 0), (400, 5)):
        indices, texts, count = sample_on_workers(on_workers, engine, size, seed, ROWS)
        want_indices, want_texts, want_count = sample_documents(corpus, size, seed)
        assert (indices.tolist(), texts, count) == (want_indices.tolist(), want_texts, want_count)


def test_the_write_pass_on_the_workers_reads_the_records_the_driver_reads(engine, inputs):
    corpus = Corpus(inputs, TextSpec(field="text"))
    method = ZipFit().fit(_targets())
    mapped = map_pass(corpus, method, engine, TokenCounter("whitespace"), shard_rows=ROWS)
    assert mapped.shards is not None and len(mapped.shards) > 10
    assert sum(mapped.shard_docs) == len(mapped)
    selected = np.argsort(-mapped.scores, kind="stable")[:120]  # best first, spread over every file
    scores = mapped.scores[selected]
    docs = list(corpus.documents())
    hashes = {text_sha256(docs[int(selected[5])].text), text_sha256(docs[int(selected[90])].text)}
    want_copies: list[int] = []
    want = list(ranked_records(corpus, selected, scores, target_hashes=hashes, copies=want_copies))
    copies: list[int] = []
    got = list(ranked_records_on_workers(corpus, engine, mapped.shards, mapped.shard_docs, selected, scores,
                                         target_hashes=hashes, copies=copies))
    assert got == want
    assert copies == want_copies and {6, 91} <= set(copies)  # the same texts are in every input: more copies
    assert {r["zipfit_rank"] for _, r in got} == set(range(1, 121))
    for kind in ("json", "pickle"):  # serialised on the worker as the writer would
        encoded = list(ranked_records_on_workers(corpus, engine, mapped.shards, mapped.shard_docs, selected, scores,
                                                 target_hashes=hashes, copies=[], kind=kind))
        assert [(rank, rec.kind, rec.data) for rank, rec in encoded] == \
            [(rank, kind, encode_record(rec, kind).data) for rank, rec in want]


def test_an_input_that_lost_documents_since_the_map_pass_is_one_error(engine, inputs, tmp_path):
    plain = tmp_path / "mbpp.jsonl"
    plain.write_bytes(inputs[0].read_bytes())
    corpus = Corpus([plain], TextSpec(field="text"))
    mapped = map_pass(corpus, ZipFit().fit(_targets()), engine, TokenCounter("whitespace"), shard_rows=ROWS)
    last = len(mapped) - 1
    plain.write_text("\n".join(plain.read_text(encoding="utf-8").splitlines()[:-5]) + "\n", encoding="utf-8")
    with pytest.raises(ZipfitError, match="changed while zipfit was reading it"):
        list(ranked_records_on_workers(corpus, engine, mapped.shards, mapped.shard_docs, np.array([last]),
                                       np.array([0.5]), target_hashes=set(), copies=[]))


def test_select_from_saved_scores_and_zipfit_debiased_read_on_the_workers(inputs, tmp_path, shard_pool, caplog):
    run = {"progress": False, "workers": 1}
    # a field that is NaN in every record of the first input: written as null, counted in one warning, whichever
    # process serialised the records
    nan = tmp_path / "mbpp-nan.jsonl"
    nan.write_text("".join(json.dumps({**json.loads(line), "weight": float("nan")}) + "\n"
                           for line in read_jsonl_lines(inputs[0])), encoding="utf-8")
    inputs = [nan, *inputs[1:]]
    zipfit.score(inputs, out=tmp_path / "scores", target_texts=_targets(), shard_rows=ROWS, engine="shard-pool", **run)
    shard_pool.clear()
    # the run's own shard_rows (the default) is not the saved one: the shards are planned with the saved one
    zipfit.select(scores=tmp_path / "scores", k=30, out=tmp_path / "pool.parquet", engine="shard-pool", **run)
    assert shard_pool == ["InputFacts", "PickRecords"]
    zipfit.select(scores=tmp_path / "scores", k=30, out=tmp_path / "local.parquet", **run)
    assert (tmp_path / "pool.parquet").read_bytes() == (tmp_path / "local.parquet").read_bytes()

    shard_pool.clear()
    options = {"k": 30, "method": "zipfit-debiased", "target_texts": _targets(), "shard_rows": ROWS, **run}
    on_pool = zipfit.select(inputs, out=tmp_path / "pool.jsonl", engine="shard-pool", **options)
    assert shard_pool == ["InputFacts", "CountDocuments", "PickTexts", "ShardJob", "PickRecords"]
    local = zipfit.select(inputs, out=tmp_path / "local.jsonl", **options)
    assert (tmp_path / "pool.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert on_pool.manifest["inputs"] == local.manifest["inputs"]
    nulled = [r.getMessage().split(": wrote ")[1] for r in caplog.records if "as null" in r.getMessage()]
    assert len(nulled) == 2 and nulled[0] == nulled[1] and not nulled[0].startswith("0 ")


def test_the_dedup_walk_reads_and_keys_on_the_workers(inputs, tmp_path, shard_pool):
    """The same texts are in all three inputs: --dedup skips their copies, with keys computed where they are read."""
    options = {"k": 30, "dedup": True, "target_texts": _targets(), "shard_rows": ROWS, "progress": False,
               "workers": 1}
    on_pool = zipfit.select(inputs, out=tmp_path / "pool.jsonl", engine="shard-pool", **options)
    # one PickKeys pass per chunk of the ranking the walk reaches (copies keep the budget from filling at first)
    assert shard_pool[:2] == ["InputFacts", "ShardJob"] and shard_pool[-1] == "PickRecords"
    assert set(shard_pool[2:-1]) == {"PickKeys"}
    local = zipfit.select(inputs, out=tmp_path / "local.jsonl", **options)
    assert (tmp_path / "pool.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert on_pool.manifest["dedup"] == local.manifest["dedup"]
    assert on_pool.manifest["dedup"]["skipped"]["total"] > 10


def test_group_by_reads_its_field_on_the_workers(tmp_path, shard_pool):
    source = tmp_path / "proofnet.jsonl"
    source.write_bytes(PROOFNET.read_bytes())
    options = {"k": 30, "group_by": "split", "template": PROOFNET_TEMPLATE, "target_texts": _targets()[:10],
               "shard_rows": ROWS, "progress": False, "workers": 1}
    on_pool = zipfit.select(source, out=tmp_path / "pool.jsonl", engine="shard-pool", **options)
    assert shard_pool == ["InputFacts", "ShardJob", "FieldOfShard", "PickRecords"]
    local = zipfit.select(source, out=tmp_path / "local.jsonl", **options)
    assert (tmp_path / "pool.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert on_pool.manifest["groups"] == local.manifest["groups"] and set(local.manifest["groups"]) == {"valid", "test"}
