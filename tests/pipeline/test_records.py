"""Records read by position (what --rejects and the report show) equal those of a full streaming read."""

from __future__ import annotations

import gzip
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from realdata import DATA, read_jsonl

from zipfit.io.inputs import resolve_inputs
from zipfit.pipeline.records import raw_records, records_at


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    work = tmp_path_factory.mktemp("records")
    records = read_jsonl(DATA / "mbpp" / "mbpp.jsonl", 300)
    assert len(records) == 300
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines[0] = "\ufeff" + lines[0]  # a byte order mark on row 1
    lines[10] = ""  # blank
    lines[20] = '{"text": "cut off'  # not JSON
    plain = work / "a.jsonl"
    plain.write_text("\n".join(lines) + "\n", encoding="utf-8")
    packed = work / "b.jsonl.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines[:200]) + "\n")
    table = pa.Table.from_pylist([{"text": r.get("text", ""), "n": i} for i, r in enumerate(records)])
    pq.write_table(table, work / "c.parquet", row_group_size=64)
    return resolve_inputs([plain, packed, work / "c.parquet"])


def test_records_at_equal_the_full_read_for_any_rows(inputs):
    full = {(i, row): value for i, f in enumerate(inputs) for row, value in raw_records(f)}
    rng = random.Random(7)
    for _ in range(5):
        wanted = sorted({*rng.sample(sorted(full), 40), (0, 1), (0, 11), (0, 21), (2, 64), (2, 65), (2, 300)})
        assert list(records_at(inputs, iter(wanted))) == [full[w] for w in wanted]
    assert full[(0, 11)] is None and full[(0, 21)] is None and isinstance(full[(0, 1)], dict)


def test_a_row_past_the_end_says_the_input_changed(inputs):
    for file_no, rows in ((0, 301), (1, 201), (2, 301)):
        with pytest.raises(ValueError, match=f"has no row {rows}: the input changed"):
            list(records_at(inputs, iter([(file_no, 5), (file_no, rows)])))
