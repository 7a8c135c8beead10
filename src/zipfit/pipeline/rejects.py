"""``--rejects PATH``: every record that was not eligible for the selection, with why and where it came from.

One row per record, in input order: ``file``, ``row``, ``status`` (``excluded``: the record could not be used;
``filtered``: it failed ``--where``; ``contaminated`` or another map-stage filter's status; ``unscorable``: the
method gave it no score, e.g. DSIR's ``too_short``; ``duplicate``: ``--dedup`` skipped it as a copy of a
better-ranked document), ``reason``, ``detail`` (for a duplicate, the ``file:row`` of the document it copies),
``record``, the record itself when it could be parsed (JSON Lines: the object; Parquet: its JSON text; null for a
line that is not a JSON object: ``detail`` then says what was wrong), and ``line``, the raw line of such a JSON Lines
row (bytes that are not UTF-8 escaped as ``\\xNN``; null otherwise), so a malformed record can be seen and mended.

Built from the score dataset's rows whose status is not ``scored`` (and the dedup walk's skipped documents),
with the records fetched by one streaming read of the inputs that hold them. Staged in the output's
``Commit``: it appears with the output and its manifest, or not at all.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from zipfit.errors import ZipfitError
from zipfit.io.commit import Commit
from zipfit.io.inputs import InputFile
from zipfit.io.writers import OUTPUT_SUFFIXES, _JsonLines, _LineSink, _suffix_of, check_output, file_sha256
from zipfit.pipeline.records import Row, dataset_rows, records_and_lines_at
from zipfit.pipeline.scores import SCORED, ScoreDataset

DUPLICATE = "duplicate"
SCHEMA = pa.schema([("file", pa.string()), ("row", pa.int64()), ("status", pa.string()), ("reason", pa.string()),
                    ("detail", pa.string()), ("record", pa.string()), ("line", pa.string())])
_CHUNK = 65_536


def check_rejects(path: str | Any, *, overwrite: bool, inputs: Sequence[Any], others: Sequence[Path] = ()) -> Path:
    out = check_output(path, overwrite=overwrite, inputs=inputs, suffixes=OUTPUT_SUFFIXES)
    for other in others:
        where = Path(other).resolve()
        if out.resolve() == where or where in out.resolve().parents:
            raise ZipfitError(f"--rejects {path} is, or is inside, another output of this run ({other}); choose "
                              "another path")
    return out


def _rejected(rows: Iterator[Row], duplicates: dict[int, tuple[str, str]]) -> Iterator[Row]:
    for r in rows:
        if r.status != SCORED:
            yield r
        elif r.position is not None and r.position in duplicates:
            reason, of = duplicates[r.position]
            yield Row(r.file_no, r.file, r.row, r.position, r.score, DUPLICATE, reason, f"copy of {of}")


def write_rejects(out: Path, dataset: ScoreDataset, keys: Sequence[str], files: Sequence[InputFile],
                  duplicates: Sequence[tuple[int, str, str]], commit: Commit) -> dict[str, Any]:
    """Stage the rejects file in ``commit``; returns the manifest's ``rejects`` block."""
    dup = {index: (reason, of) for index, reason, of in duplicates}
    # two walks of one stream: the second reads the records of the rows the first names (tee buffers one row)
    rejected, wanted = itertools.tee(_rejected(dataset_rows(dataset, keys), dup))
    values = records_and_lines_at(files, ((r.file_no, r.row) for r in wanted))
    total = 0
    suffix = _suffix_of(out, OUTPUT_SUFFIXES)
    encode = _JsonLines()
    counts: dict[str, dict[str, int]] = {}

    def rows() -> Iterator[dict[str, Any]]:
        nonlocal total
        for r, (value, line) in zip(rejected, values, strict=True):
            total += 1
            by_reason = counts.setdefault(r.status, {})
            by_reason[r.reason or ""] = by_reason.get(r.reason or "", 0) + 1
            record = value if isinstance(value, dict) else None
            yield {"file": r.file, "row": r.row, "status": r.status, "reason": r.reason, "detail": r.detail,
                   "record": record, "line": line}

    with commit.stage(out) as tmp:
        if suffix == ".parquet":
            with pq.ParquetWriter(tmp, SCHEMA) as writer:
                chunk: list[dict[str, Any]] = []
                wrote = False
                for rec in rows():
                    if rec["record"] is not None:
                        rec["record"] = encode(rec["record"])[:-1].decode("utf-8")
                    chunk.append(rec)
                    if len(chunk) >= _CHUNK:
                        writer.write_table(pa.Table.from_pylist(chunk, schema=SCHEMA))
                        chunk, wrote = [], True
                if chunk or not wrote:
                    writer.write_table(pa.Table.from_pylist(chunk, schema=SCHEMA))
        else:
            with _LineSink(tmp, suffix or ".jsonl") as sink:
                for rec in rows():
                    sink.write(encode(rec))
        sha256 = file_sha256(tmp)
    encode.warn(out)
    return {"path": str(out), "records": total,
            "by_status": {s: dict(sorted(r.items())) for s, r in sorted(counts.items())}, "sha256": sha256}

