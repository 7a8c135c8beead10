"""``zipfit score --annotate DIR``: every input record with its score columns, in the input's order.

The convention of datatrove and NeMo Curator: rather than a selection, the corpus itself with a score per
record, for a pipeline to filter on later. One output file per input file, in the input's format (JSON Lines
stay JSON Lines, with the same compression; Parquet and ``save_to_disk`` inputs become Parquet), each record
with every original field plus

    zipfit_score   its score (null when it has none)
    zipfit_rank    its rank among the scored documents, 1 = best, ties by input order: the order a
                   ``select`` of this score dataset would take them in (null when not scored)
    zipfit_status  scored, unscorable, contaminated (or another filter's status), excluded or filtered
    zipfit_reason  why it was not scored (null when it was)

Row N of an output is row N of its input: a line that holds no JSON object (malformed, blank, an array) is
written as an object of the four columns alone. The directory is staged whole and renamed into place with its
``_manifest.json`` (``Commit.stage_dir``); its bytes depend only on the score dataset and the inputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from zipfit.io.commit import Commit
from zipfit.io.inputs import InputFile
from zipfit.io.readers import arrow_schema, iter_arrow_batches, iter_jsonl
from zipfit.io.writers import _JsonLines, _LineSink, file_sha256, write_json
from zipfit.pipeline.records import Row, dataset_rows
from zipfit.pipeline.scores import SCORED, ScoreDataset
from zipfit.topk import ranking

COLUMNS = ("zipfit_score", "zipfit_rank", "zipfit_status", "zipfit_reason")
_FIELDS = [pa.field("zipfit_score", pa.float64()), pa.field("zipfit_rank", pa.int64()),
           pa.field("zipfit_status", pa.string()), pa.field("zipfit_reason", pa.string())]
MANIFEST_NAME = "_manifest.json"


def ranks_of(scores: np.ndarray) -> np.ndarray:
    """Rank (1 = best) of every eligible document with a finite score, 0 for the others; ties by input order."""
    scores = np.asarray(scores, dtype=np.float64)
    valid = np.isfinite(scores)
    order = ranking(np.where(valid, scores, -np.inf))[: int(valid.sum())]
    ranks = np.zeros(len(scores), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def output_names(files: Sequence[InputFile]) -> list[str]:
    """An output name per input: its own name (Parquet for Arrow inputs), prefixed by its position when two
    inputs share a name."""
    names = []
    for f in files:
        if f.format == "hf":
            names.append(f.path.name + ".parquet")
        else:
            names.append(f.path.name)
    if len(set(names)) < len(names):
        names = [f"{i:05d}-{name}" for i, name in enumerate(names)]
    return names


def _columns(r: Row, ranks: np.ndarray) -> dict[str, Any]:
    score = r.score if r.score is not None and math.isfinite(r.score) else None
    rank = int(ranks[r.position]) if r.position is not None and ranks[r.position] else None
    return {"zipfit_score": score, "zipfit_rank": rank, "zipfit_status": r.status,
            "zipfit_reason": None if r.status == SCORED else r.reason}


def _write_jsonl(path: Path, f: InputFile, rows: Iterator[Row], ranks: np.ndarray) -> int:
    encode = _JsonLines()
    n = 0
    with _LineSink(path, "." + f.format) as sink:
        for (row, value, _reason, _detail), r in zip(iter_jsonl(f), rows, strict=True):
            if row != r.row:
                raise ValueError(f"{f.path}: row {row} against score row {r.row}: the input changed")
            extra = _columns(r, ranks)
            sink.write(encode({**value, **extra} if isinstance(value, dict) else extra))
            n += 1
    return n


def _write_parquet(path: Path, f: InputFile, rows: Iterator[Row], ranks: np.ndarray) -> int:
    base = arrow_schema(f).remove_metadata()
    for name in COLUMNS:
        if name in base.names:
            base = base.remove(base.get_field_index(name))
    schema = pa.schema([*base, *_FIELDS])
    n = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in iter_arrow_batches(f, base.names):
            extra = [_columns(next(rows), ranks) for _ in range(batch.num_rows)]
            arrays = [*batch.columns, *(pa.array([e[c.name] for e in extra], type=c.type) for c in _FIELDS)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            n += batch.num_rows
        if n == 0:
            writer.write_table(schema.empty_table())
    return n


def write_annotated(out: Path, dataset: ScoreDataset, keys: Sequence[str], files: Sequence[InputFile],
                    scores: np.ndarray, commit: Commit, manifest: dict[str, Any]) -> dict[str, Any]:
    """Stage the annotated copy of every input in ``commit`` (as directory ``out``); returns its manifest."""
    ranks = ranks_of(scores)
    names = output_names(files)
    written = []
    counts: dict[str, int] = {}
    every = dataset_rows(dataset, keys)  # one walk, so eligible positions count across files
    head: list[Row | None] = [next(every, None)]
    with commit.stage_dir(out) as directory:
        for file_no, f in enumerate(files):
            def rows(file_no: int = file_no) -> Iterator[Row]:
                while head[0] is not None and head[0].file_no == file_no:
                    r = head[0]
                    head[0] = next(every, None)
                    counts[r.status] = counts.get(r.status, 0) + 1
                    yield r

            path = directory / names[file_no]
            writer = _write_parquet if f.is_arrow else _write_jsonl
            n = writer(path, f, rows(), ranks)
            written.append({"input": str(f.path), "name": names[file_no], "records": n,
                            "sha256": file_sha256(path)})
        info = {**manifest, "columns": list(COLUMNS), "files": written, "counts": dict(sorted(counts.items()))}
        write_json(directory / MANIFEST_NAME, info)
    return info
