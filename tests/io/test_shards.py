"""Shards read one after another are exactly the corpus, in every format, with the same exclusions."""

from __future__ import annotations

import gzip
import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from io_data import MBPP, PROOFNET, PROOFNET_TEMPLATE

from zipfit.io import Corpus, Exclusions, TextSpec
from zipfit.io.shards import plan_shards, shard_number


def _broken_mbpp(tmp_path, records):
    """Real MBPP lines with blank, malformed, non-object and missing-field lines among them, no final newline."""
    lines = [json.dumps(r) for r in records[:60]]
    lines[3] = ""
    lines[10] = "{not json"
    lines[17] = "[1, 2]"
    lines[25] = json.dumps({"code": "x"})
    path = tmp_path / "mbpp.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _sharded(corpus: Corpus, rows: int, records: bool = False) -> tuple[list, Exclusions]:
    docs, merged = [], Exclusions()
    for shard in plan_shards(corpus, rows):
        shard_docs, ex = corpus.shard_documents(shard, records=records)
        shard_docs = list(shard_docs)
        assert [d.index for d in shard_docs] == list(range(len(shard_docs)))
        assert all(d.file == shard.file and shard.start < d.row <= shard.stop for d in shard_docs)
        docs.extend(shard_docs)
        merged.merge(ex)
    return docs, merged


def _same(corpus: Corpus, rows: int) -> None:
    whole = list(corpus.documents(records=True))
    docs, ex = _sharded(corpus, rows, records=True)
    assert [(d.text, d.file, d.row, d.record) for d in docs] == [(d.text, d.file, d.row, d.record) for d in whole]
    assert ex.as_dict() == corpus.exclusions.as_dict()
    assert ex.n_records == corpus.n_records


@pytest.mark.parametrize("rows", [1, 7, 16, 4096])
def test_jsonl_plain_and_gzip_with_bad_lines(tmp_path, mbpp_records, rows):
    plain = _broken_mbpp(tmp_path, mbpp_records)
    gz = tmp_path / "mbpp.jsonl.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    corpus = Corpus([plain, gz], TextSpec(field="text"))
    _same(corpus, rows)
    shards = plan_shards(corpus, rows)
    assert [s.stop - s.start for s in shards if s.file == 0] == [min(rows, 60 - i) for i in range(0, 60, rows)]
    assert all(s.offset is not None for s in shards if s.file == 0)  # plain files are read by seeking
    assert all(s.offset is None for s in shards if s.file == 1)


def test_shard_of_a_row_matches_the_plan(tmp_path, mbpp_records):
    corpus = Corpus([MBPP], TextSpec(field="text"))
    by_key = {s.number: s for s in plan_shards(corpus, 100)}
    for doc in corpus.documents():
        shard = by_key[shard_number(doc.row, 100)]
        assert shard.start < doc.row <= shard.stop


@pytest.mark.parametrize("rows", [5, 100, 1000])
def test_parquet_with_row_groups_and_hf_dataset(tmp_path, proofnet_records, rows):
    table = pa.Table.from_pylist(proofnet_records)
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=64)
    assert pq.ParquetFile(tmp_path / "p.parquet").metadata.num_row_groups > 3
    datasets.Dataset.from_list(proofnet_records).save_to_disk(str(tmp_path / "hf"), num_shards=3)
    spec = TextSpec(template=PROOFNET_TEMPLATE, where=(("split", "test"),))
    corpus = Corpus([tmp_path / "p.parquet", tmp_path / "hf", PROOFNET], spec)
    _same(corpus, rows)
    assert sum(s.stop - s.start for s in plan_shards(corpus, rows)) == 3 * len(proofnet_records)


def test_empty_file_has_no_shards(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    one = tmp_path / "one.jsonl"
    one.write_text('{"text": "a"}\n', encoding="utf-8")
    corpus = Corpus([empty, one])
    assert [(s.file, s.start, s.stop) for s in plan_shards(corpus, 10)] == [(1, 0, 1)]
