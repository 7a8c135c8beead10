"""Low-level readers: column projection and batch size for Arrow inputs, multi-frame zstd, JSON arrays."""

from __future__ import annotations

import contextlib
import gc
import gzip
import json
import os
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from io_data import MBPP

from zipfit.errors import ZipfitError
from zipfit.io import Corpus
from zipfit.io.inputs import resolve_inputs
from zipfit.io.readers import (
    ARROW_BATCH_ROWS,
    _open_binary,
    iter_arrow_batches,
    iter_jsonl,
    jsonl_row_starts,
    jsonl_rows,
)


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


@pytest.mark.parametrize(
    "layout",
    [
        lambda recs: json.dumps(recs, indent=2),  # pretty-printed: "[" alone on the first line
        lambda recs: "[" + ",\n".join(json.dumps(r) for r in recs) + "]\n",  # one record a line, inside [ ]
        lambda recs: "\ufeff\n  \n" + json.dumps(recs, indent=1),  # BOM and blank lines first
    ],
)
def test_a_json_array_file_is_refused_at_its_first_record(tmp_path, mbpp_records, layout):
    path = tmp_path / "mbpp.json"
    path.write_text(layout(mbpp_records[:20]), encoding="utf-8")
    (f,) = resolve_inputs([path])
    message = (
        f"{path} looks like one JSON array, not JSON Lines (one object per line); convert it, e.g. with jq -c '.[]'"
    )
    lines = iter_jsonl(f)
    with pytest.raises(ZipfitError) as err:
        next(row for row in lines if row[2] != "blank_line")
    assert str(err.value) == message
    with pytest.raises(ZipfitError) as err:
        Corpus([path])  # before any work: the corpus reads its first record when it is built
    assert str(err.value) == message


def test_an_array_that_parses_on_one_line_is_a_record_that_is_not_an_object(tmp_path, mbpp_records):
    path = tmp_path / "mixed.json"
    rest = [json.dumps(r) for r in mbpp_records[:3]]
    path.write_text("\n".join(["[1, 2]", *rest, "[1, 2", json.dumps(mbpp_records[3])]) + "\n", encoding="utf-8")
    (f,) = resolve_inputs([path])
    rows = list(iter_jsonl(f))
    assert rows[0] == (1, [1, 2], "", "")
    assert rows[4][:3] == (5, None, "malformed_json")  # a later broken line starting with [ stays a bad line
    corpus = Corpus([path])
    assert [d.text for d in corpus.documents()] == [r["text"] for r in mbpp_records[:4]]
    assert corpus.exclusions.counts() == {"not_an_object": 1, "malformed_json": 1}


def _descriptors_on(path: Path) -> int:
    """Descriptors of this process open on ``path``."""
    target = os.path.realpath(path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the descriptor listdir itself used, now closed
            count += os.path.realpath(os.readlink(f"/proc/self/fd/{fd}")) == target
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_a_closed_reader_leaves_no_descriptor_on_its_file(tmp_path, suffix):
    # A gzip.GzipFile given a fileobj does not close it: the .jsonl.gz file stayed open until the garbage
    # collector freed the stream (a ResourceWarning per file read), not when the reader closed it.
    raw = MBPP.read_bytes()
    path = tmp_path / f"m{suffix}"
    path.write_bytes({".jsonl": raw, ".jsonl.gz": gzip.compress(raw),
                      ".jsonl.zst": zstandard.ZstdCompressor().compress(raw)}[suffix])
    (f,) = resolve_inputs([path])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        stream = _open_binary(f)
        assert stream.read(100) == raw[:100] and _descriptors_on(path) == 1
        stream.close()
        assert _descriptors_on(path) == 0  # while the closed stream is still referenced
        del stream
        lines = iter_jsonl(f)
        next(lines)
        lines.close()  # stopped early, as the write pass stops after the last selected document
        docs = list(Corpus([path]).documents())
        assert len(docs) == 974 and _descriptors_on(path) == 0
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
@pytest.mark.parametrize("last_newline", [True, False])
def test_the_fast_row_count_is_the_count_the_reader_makes(tmp_path, suffix, last_newline):
    # real MBPP lines with a blank line and a broken one among them: a bar's total must be what reading counts
    lines = MBPP.read_bytes().splitlines(keepends=True)[:300]
    body = b"".join(lines[:100]) + b"\n" + b"{broken\n" + b"".join(lines[100:])
    if not last_newline:
        body = body.rstrip(b"\n")
    path = tmp_path / f"m{suffix}"
    packed = {".jsonl": body, ".jsonl.gz": gzip.compress(body),
              ".jsonl.zst": zstandard.ZstdCompressor().compress(body)}[suffix]
    path.write_bytes(packed)
    (f,) = resolve_inputs([path])
    heard: list[int] = []
    assert jsonl_rows(f, heard.append) == len(list(iter_jsonl(f))) == jsonl_row_starts(f, 4096)[0] == 302
    assert sum(heard) == len(packed)  # the bytes a bar in file bytes was told of: the whole file
