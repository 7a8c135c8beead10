"""Low-level readers: column projection and batch size for Arrow inputs, multi-frame zstd."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from io_data import MBPP

from zipfit.io.inputs import resolve_inputs
from zipfit.io.readers import ARROW_BATCH_ROWS, iter_arrow_batches, iter_jsonl


def test_parquet_reads_only_requested_columns_in_bounded_batches(tmp_path, mbpp_records):
    path = tmp_path / "m.parquet"
    pq.write_table(pa.Table.from_pylist(mbpp_records), path)  # one row group of 974 rows
    (f,) = resolve_inputs([path])
    batches = list(iter_arrow_batches(f, ["code", "text"]))
    assert {tuple(sorted(b.schema.names)) for b in batches} == {("code", "text")}
    assert sum(b.num_rows for b in batches) == 974
    assert max(b.num_rows for b in batches) <= ARROW_BATCH_ROWS
    assert len(next(iter_arrow_batches(f, None)).schema.names) == 6


def test_zstd_reader_matches_plain_lines_with_empty_frames_between(tmp_path):
    raw = MBPP.read_bytes()
    cctx = zstandard.ZstdCompressor()
    path = tmp_path / "m.jsonl.zst"
    path.write_bytes(cctx.compress(raw[:1000]) + cctx.compress(b"") + cctx.compress(raw[1000:]))
    (zst,) = resolve_inputs([path])
    (plain,) = resolve_inputs([MBPP])
    assert list(iter_jsonl(zst)) == list(iter_jsonl(plain))
