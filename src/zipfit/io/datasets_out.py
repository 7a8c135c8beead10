"""Outputs that are a directory: a sharded dataset (``part-00000-of-00003.parquet`` or ``.jsonl(.gz/.zst)``) or a
Hugging Face ``save_to_disk`` directory (``--format hf``), with ``_manifest.json`` inside.

The whole directory is written into a hidden temp directory beside it (``.DIR.tmp-*``), manifest included, and
renamed into place in one step (``Commit.stage_dir``): a reader never sees half a dataset, and while the
directory exists its manifest is its own. The records are first written as one file in rank (or input) order by
``write_ranked``, exactly as a single-file output, then split into parts at limits computed from the records
alone (``max_rows`` records, or records whose JSON Lines size adds up to ``max_bytes``), so the parts are the
same bytes for any number of workers and on every engine, and their concatenation is the single-file output.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from zipfit.errors import ZipfitError
from zipfit.io.commit import Commit
from zipfit.io.writers import (
    OUTPUT_SUFFIXES,
    PARQUET_GROUP_ROWS,
    _JsonLines,
    _LineSink,
    _suffix_of,
    file_sha256,
    write_json,
    write_ranked,
)

DATASET_FORMATS = ("parquet", "jsonl", "jsonl.gz", "jsonl.zst", "hf")
MANIFEST_NAME = "_manifest.json"
_READ_ROWS = 4096


@dataclass(frozen=True)
class Layout:
    """How a directory output is laid out: its format and the limits of one file."""

    format: str = "parquet"
    max_rows: int | None = None
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.format not in DATASET_FORMATS:
            raise ZipfitError(f"--format {self.format}: use one of {', '.join(DATASET_FORMATS)}")
        for name, value in (("--max-rows-per-file", self.max_rows), ("--max-bytes-per-file", self.max_bytes)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ZipfitError(f"{name} must be a positive integer, got {value!r}")

    def describe(self) -> dict[str, Any]:
        return {"format": self.format, "max_rows_per_file": self.max_rows, "max_bytes_per_file": self.max_bytes}

    def part_name(self, i: int, n: int) -> str:
        if self.format == "hf":
            return f"data-{i:05d}-of-{n:05d}.arrow"  # the names datasets.save_to_disk gives
        return f"part-{i:05d}-of-{n:05d}.{self.format}"


def dataset_layout(out: str | os.PathLike, out_format: str | None = None, max_rows: int | None = None,
                   max_bytes: int | None = None) -> Layout | None:
    """The layout of a directory output, or None for a single file. ``out`` is a directory when it ends with a
    slash or ``out_format`` is given; the limits need a directory."""
    text = os.fspath(out)
    directory = text.endswith(("/", os.sep)) or out_format is not None
    if not directory:
        if max_rows is not None or max_bytes is not None:
            raise ZipfitError(f"--max-rows-per-file/--max-bytes-per-file split a directory output: give --out "
                              f"{text}/ (a directory) or --format")
        return None
    name = Path(text).name
    if out_format is None:
        out_format = "parquet"
    if out_format != "hf" and _suffix_of(Path(name), OUTPUT_SUFFIXES) is not None and not text.endswith("/"):
        raise ZipfitError(f"--format {out_format} writes a directory of parts, and {text} looks like a file name; "
                          f"give a directory, e.g. {Path(name).parent / 'selected'}/")
    return Layout(out_format, max_rows, max_bytes)


def check_output_dir(out: str | os.PathLike, *, overwrite: bool, inputs: Sequence[Any] = ()) -> Path:
    """Refuse a bad output directory before any work is done (as ``check_output`` does for files)."""
    path = Path(out)
    resolved = path.resolve()
    for item in inputs:
        inp = Path(getattr(item, "path", item)).resolve()
        if inp == resolved or resolved in inp.parents or inp in resolved.parents:
            raise ZipfitError(f"{out} holds or is an input ({inp}); zipfit never modifies its inputs, choose another "
                              "output")
    if not path.parent.is_dir():
        raise ZipfitError(f"{out}: directory {path.parent} does not exist")
    if path.exists() and not path.is_dir():
        raise ZipfitError(f"{out} exists and is not a directory; a sharded output is a directory")
    if path.exists() and not overwrite:
        raise ZipfitError(f"{out} exists; pass --overwrite to replace it")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ZipfitError(f"{out}: cannot write to directory {path.parent} (permission denied)")
    return path


def _boundaries(sizes: Iterable[int], layout: Layout) -> list[int]:
    """Rows per part: a part ends before the record that would pass a limit (a part holds at least one)."""
    counts: list[int] = []
    rows = size = 0
    for s in sizes:
        full = rows and ((layout.max_rows is not None and rows >= layout.max_rows)
                         or (layout.max_bytes is not None and size + s > layout.max_bytes))
        if full:
            counts.append(rows)
            rows = size = 0
        rows += 1
        size += s
    if rows or not counts:
        counts.append(rows)
    return counts


def _jsonl_lines(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        yield from fh


def _arrow_batches(path: Path) -> Iterator[pa.RecordBatch]:
    pf = pq.ParquetFile(path)
    yield from pf.iter_batches(batch_size=_READ_ROWS)


def _row_sizes(path: Path) -> Iterator[int]:
    encode = _JsonLines()
    for batch in _arrow_batches(path):
        for rec in batch.to_pylist():
            yield len(encode(rec))


def _split_lines(single: Path, directory: Path, layout: Layout) -> list[tuple[str, int]]:
    counts = _boundaries((len(line) for line in _jsonl_lines(single)), layout)
    suffix = "." + layout.format
    parts, lines = [], _jsonl_lines(single)
    for i, count in enumerate(counts):
        name = layout.part_name(i, len(counts))
        with _LineSink(directory / name, suffix) as sink:
            for _ in range(count):
                sink.write(next(lines))
        parts.append((name, count))
    return parts


def _flush(writer: Any, group: list[pa.RecordBatch], schema: pa.Schema, hf: bool) -> None:
    if not group:
        return
    table = pa.Table.from_batches(group, schema=schema)
    if hf:
        writer.write_table(table)
    else:
        writer.write_table(table, row_group_size=table.num_rows)
    group.clear()


def _split_arrow(single: Path, directory: Path, layout: Layout) -> list[tuple[str, int]]:
    counts = _boundaries(_row_sizes(single), layout)
    schema = pq.ParquetFile(single).schema_arrow.remove_metadata()
    hf = layout.format == "hf"
    batches = _arrow_batches(single)
    pending: pa.RecordBatch | None = None
    parts = []
    for i, count in enumerate(counts):
        name = layout.part_name(i, len(counts))
        writer: Any = pa.ipc.new_stream(str(directory / name), schema) if hf else pq.ParquetWriter(directory / name,
                                                                                                   schema)
        group: list[pa.RecordBatch] = []
        left = count
        with writer:
            while left:
                if pending is None or pending.num_rows == 0:
                    pending = next(batches).cast(schema)
                take = min(left, pending.num_rows)
                group.append(pending.slice(0, take))
                pending = pending.slice(take)
                left -= take
                if sum(b.num_rows for b in group) >= PARQUET_GROUP_ROWS:
                    _flush(writer, group, schema, hf)
            _flush(writer, group, schema, hf)
            if count == 0 and not hf:
                writer.write_table(schema.empty_table())
        parts.append((name, count))
    return parts


def write_dataset(out: Path, items: Iterable[tuple[int, dict]], *, n: int, order: str, schema: pa.Schema | None,
                  layout: Layout, commit: Commit) -> dict[str, Any]:
    """Write the selected records (as ``write_ranked`` takes them) as a directory of parts, staged in ``commit``
    (publish it after ``stage_manifest``). Returns the manifest's ``output`` block: the parts, their records and
    sha256, and one sha256 over them all."""
    with commit.stage_dir(out) as directory:
        arrow = layout.format in ("parquet", "hf")
        single = directory / (".records.parquet" if arrow else ".records.jsonl")
        write_ranked(single, items, n=n, order=order, schema=schema)
        parts = (_split_arrow if arrow else _split_lines)(single, directory, layout)
        single.unlink()
        files = [{"name": name, "records": count, "bytes": (directory / name).stat().st_size,
                  "sha256": file_sha256(directory / name)} for name, count in parts]
        digest = hashlib.sha256("".join(f"{f['name']} {f['sha256']}\n" for f in files).encode()).hexdigest()
        if layout.format == "hf":
            _write_hf_metadata(directory, [f["name"] for f in files], digest)
    return {**layout.describe(), "files": files, "sha256": digest}


def _write_hf_metadata(directory: Path, names: list[str], digest: str) -> None:
    """``state.json`` and ``dataset_info.json`` as ``datasets.save_to_disk`` writes them; the features are left
    to ``load_from_disk`` to read from the Arrow schema, so the bytes never depend on whether ``datasets`` is
    installed here."""
    state = {"_data_files": [{"filename": name} for name in names], "_fingerprint": digest[:16],
             "_format_columns": None, "_format_kwargs": {}, "_format_type": None, "_output_all_columns": False,
             "_split": None}
    (directory / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    info = {"citation": "", "description": "selected by zipfit", "homepage": "", "license": ""}
    (directory / "dataset_info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def stage_manifest(commit: Commit, out: Path, manifest: dict[str, Any]) -> Path:
    """Put the manifest inside the staged directory ``out``: it appears with the dataset, in the same rename."""
    path = commit.staged(out) / MANIFEST_NAME
    write_json(path, manifest)
    return path
