"""Output files: checked before any work, written atomically, byte-identical for identical input."""

from __future__ import annotations

import base64
import csv
import datetime
import decimal
import gzip
import hashlib
import json
import logging
import math
import os
import pickle
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from zipfit import failpoints
from zipfit.errors import ZipfitError
from zipfit.io.commit import Commit, fsync_dir, staged_file, temp_beside
from zipfit.io.storage import RemotePath, as_path, check_remote_output, remote_output

OUTPUT_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")
TABLE_SUFFIXES = (*OUTPUT_SUFFIXES, ".csv")
TABLE_CHUNK_ROWS = 65_536
# A selected-records Parquet row group ends at whichever limit comes first; bytes are the records' pickled size,
# so a row group's memory does not grow with record size and its boundaries depend only on the records.
PARQUET_GROUP_ROWS = 65_536
PARQUET_GROUP_BYTES = 32 << 20
_FLUSH_BYTES = 1 << 20
_BATCH_BYTES = 1 << 20  # serialised records turned into Python objects at once, for Parquet
_READ_BLOCK = 4096  # spill keys whose offsets are fetched from numpy at once

log = logging.getLogger("zipfit")


def _suffix_of(path: Path, suffixes: Sequence[str]) -> str | None:
    name = path.name.lower()
    matches = [s for s in suffixes if name.endswith(s) and len(name) > len(s)]
    return max(matches, key=len) if matches else None


def check_output(
    out: str | os.PathLike,
    *,
    overwrite: bool,
    inputs: Sequence[str | os.PathLike] = (),
    suffixes: Sequence[str] = OUTPUT_SUFFIXES,
) -> Path:
    """Refuse a bad output path before any work is done, so a long run never fails at the very end."""
    path = as_path(out)
    if _suffix_of(path, suffixes) is None:
        raise ZipfitError(f"{out}: unsupported output type; use one of {', '.join(suffixes)}")
    if isinstance(path, RemotePath):
        return check_remote_output(path, out, overwrite=overwrite, inputs=inputs)  # type: ignore[return-value]
    resolved = path.resolve()
    for item in inputs:
        inp = as_path(getattr(item, "path", item))  # also accepts InputFile
        if isinstance(inp, RemotePath):  # a local output cannot be a remote input
            continue
        r = inp.resolve()
        same = resolved == r or (path.exists() and inp.exists() and os.path.samefile(path, inp))
        if same or r in resolved.parents:
            raise ZipfitError(f"{out} is an input ({inp}); zipfit never modifies its inputs, choose another output")
    if path.is_dir():
        raise ZipfitError(f"{out} is a directory; give a file name such as {path / 'selected.jsonl'}")
    parent = path.parent
    if not parent.is_dir():
        raise ZipfitError(f"{out}: directory {parent} does not exist")
    if path.exists() and not overwrite:
        raise ZipfitError(f"{out} exists; pass --overwrite to replace it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ZipfitError(f"{out}: cannot write to directory {parent} (permission denied)")
    return path


@contextmanager
def atomic_output(out: Path, commit: Commit | None = None) -> Iterator[Path]:
    """A temp path beside `out` that replaces `out` only on success, so readers never see a partial file.
    With ``commit``, the file is only staged: it becomes visible when the commit is published."""
    out = as_path(out)  # type: ignore[assignment]
    if commit is not None:
        with commit.stage(out) as tmp:
            yield tmp
        return
    if isinstance(out, RemotePath):
        with remote_output(out) as tmp:
            yield tmp
        return
    with staged_file(out) as tmp:
        yield tmp
    try:
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(out.parent)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# ---- JSON -------------------------------------------------------------------------------------------------


def _json_default(obj: Any) -> Any:
    """JSON stand-ins for values Parquet/Arrow records can hold."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, datetime.timedelta):
        return str(obj)
    if isinstance(obj, decimal.Decimal):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write a {type(obj).__name__} value as JSON")


def _without_non_finite(value: Any) -> tuple[Any, int]:
    """`value` with NaN/Infinity floats (nested too) replaced by None, and how many were replaced."""
    replaced = 0

    def walk(v: Any) -> Any:
        nonlocal replaced
        if isinstance(v, (float, np.floating)):
            if math.isfinite(v):
                return v
            replaced += 1
            return None
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        if isinstance(v, np.ndarray):
            return walk(v.tolist())
        return v

    return walk(value), replaced


class _JsonLines:
    """Records to JSON line bytes. NaN and Infinity, which Python writes but JSON (jq, JavaScript) rejects,
    become null; they are counted so the output gets one warning rather than one per value."""

    def __init__(self) -> None:
        self.nulled = 0

    def __call__(self, rec: Any) -> bytes:
        try:
            text = json.dumps(rec, ensure_ascii=False, allow_nan=False, default=_json_default)
        except ValueError:  # rare, so the common case pays for no tree walk
            rec, replaced = _without_non_finite(rec)
            self.nulled += replaced
            text = json.dumps(rec, ensure_ascii=False, allow_nan=False, default=_json_default)
        try:
            return text.encode("utf-8") + b"\n"
        except UnicodeEncodeError:  # lone surrogates: escape them so the line stays valid UTF-8 and round-trips
            return json.dumps(rec, ensure_ascii=True, allow_nan=False, default=_json_default).encode("ascii") + b"\n"

    def warn(self, out: Path) -> None:
        if self.nulled:
            log.warning(
                "%s: wrote %s NaN/Infinity value(s) as null, since JSON has no such numbers", out, f"{self.nulled:,}"
            )


def write_json(out: Path, obj: Any, commit: Commit | None = None) -> None:
    text = json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False, default=_json_default) + "\n"
    with atomic_output(as_path(out), commit) as tmp:  # type: ignore[arg-type]
        tmp.write_text(text, encoding="utf-8")


class _LineSink:
    """Binary sink for JSON Lines, plain or compressed; deterministic bytes (gzip: no name, mtime 0)."""

    def __init__(self, path: Path, suffix: str) -> None:
        self._raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._stream: BinaryIO
        if suffix == ".jsonl.gz":
            self._stream = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=6)  # type: ignore[assignment]
        elif suffix == ".jsonl.zst":
            self._stream = zstandard.ZstdCompressor(level=3).stream_writer(self._raw, closefd=False)  # type: ignore[assignment]
        else:
            self._stream = self._raw
        # Copying each line in (rather than keeping a list) means a line that is a view into a larger read
        # never keeps that read alive; flushing at a size fixed by the bytes keeps compressed output deterministic.
        self._buf = bytearray()

    def write(self, line: bytes | memoryview) -> None:
        self._buf += line
        if len(self._buf) >= _FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._stream.write(self._buf)
            self._buf = bytearray()

    def close(self) -> None:
        try:
            self._flush()
            if self._stream is not self._raw:
                self._stream.close()
        finally:
            self._raw.close()

    def __enter__(self) -> _LineSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- tables (per-document scores) -------------------------------------------------------------------------


def _to_arrow(name: str, col: Sequence | np.ndarray) -> pa.Array | pa.ChunkedArray:
    if isinstance(col, (pa.Array, pa.ChunkedArray)):
        return col
    try:
        return pa.array(col) if isinstance(col, np.ndarray) else pa.array(list(col))
    except (pa.ArrowException, OverflowError) as exc:
        raise ValueError(f"column {name!r} cannot be written as a table column: {exc}") from None


class TableWriter:
    """Rows of one schema streamed to .parquet, .jsonl(.gz/.zst) or .csv, atomically, in bounded memory.

    Rows are buffered and written in groups of exactly ``chunk_rows`` (the last group excepted), so
    the file's bytes do not depend on how the caller happened to batch its rows.
    """

    def __init__(self, out: Path, schema: pa.Schema, chunk_rows: int = TABLE_CHUNK_ROWS) -> None:
        self.out = as_path(out)
        self.suffix = _suffix_of(self.out, TABLE_SUFFIXES)
        if self.suffix is None:
            raise ValueError(f"{out}: tables can be written as {', '.join(TABLE_SUFFIXES)}")
        self.schema = schema
        self.chunk_rows = chunk_rows
        self.rows = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._json = _JsonLines()

    def __enter__(self) -> TableWriter:
        self._atomic = atomic_output(self.out)
        tmp = self._atomic.__enter__()
        try:
            if self.suffix == ".parquet":
                self._sink: Any = pq.ParquetWriter(tmp, self.schema)
            elif self.suffix == ".csv":
                self._sink = open(tmp, "w", encoding="utf-8", newline="")
                self._csv = csv.writer(self._sink, lineterminator="\n")
                self._csv.writerow(self.schema.names)
            else:
                self._sink = _LineSink(tmp, self.suffix)
        except BaseException as exc:
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def write(self, columns: dict[str, Sequence | np.ndarray]) -> None:
        arrays = [_to_arrow(name, columns[name]) for name in self.schema.names]
        try:
            batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        except (pa.ArrowException, OverflowError) as exc:
            raise ValueError(f"rows do not fit the table schema: {exc}") from None
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self.rows += batch.num_rows
        if self._pending_rows >= self.chunk_rows:
            self._drain(final=False)

    def _drain(self, *, final: bool) -> None:
        table = pa.Table.from_batches(self._pending, schema=self.schema)
        whole = table.num_rows if final else table.num_rows - table.num_rows % self.chunk_rows
        for start in range(0, whole, self.chunk_rows):
            self._emit(table.slice(start, min(self.chunk_rows, whole - start)))
        rest = table.slice(whole)
        self._pending = rest.to_batches() if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def _emit(self, table: pa.Table) -> None:
        if self.suffix == ".parquet":
            self._sink.write_table(table, row_group_size=self.chunk_rows)
        elif self.suffix == ".csv":
            self._csv.writerows(zip(*(c.to_pylist() for c in table.columns), strict=True))
        else:
            for rec in table.to_pylist():
                self._sink.write(self._json(rec))

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            try:
                if exc_type is None:
                    self._drain(final=True)
            finally:
                self._sink.close()
        except BaseException as err:
            # an error while draining or closing (a full disk) must reach the atomic wrapper as one, or it
            # would rename the truncated temp file into place
            self._atomic.__exit__(type(err), err, err.__traceback__)
            raise
        self._atomic.__exit__(exc_type, exc, tb)
        if exc_type is None:
            self._json.warn(self.out)


def write_table(out: Path, columns: dict[str, Sequence | np.ndarray]) -> None:
    """Columns of equal length to .parquet, .jsonl(.gz/.zst) or .csv; rows are converted in bounded chunks."""
    if not columns:
        raise ValueError("write_table needs at least one column")
    table = pa.table({name: _to_arrow(name, col) for name, col in columns.items()})  # checks equal lengths
    with TableWriter(as_path(out), table.schema) as writer:  # type: ignore[arg-type]
        for batch in table.to_batches(max_chunksize=TABLE_CHUNK_ROWS):
            writer.write(dict(zip(batch.schema.names, batch.columns, strict=True)))


# ---- selected records in rank order -----------------------------------------------------------------------


class EncodedRecord(NamedTuple):
    """A selected record serialised where it was read (a worker), as ``write_ranked`` keeps it for its output: a JSON
    line (``kind`` "json", with how many NaN/Infinity values it wrote as null) or a pickle (``kind`` "pickle", for
    Parquet). The process that writes then only copies bytes for JSON Lines."""

    data: bytes
    kind: str
    nulled: int = 0


def record_kind(out: Path, layout_format: str | None = None) -> str:
    """How ``write_ranked`` keeps the records of this output (``layout_format``: a directory output's format)."""
    if layout_format is not None:
        return "pickle" if layout_format in ("parquet", "hf") else "json"
    return "pickle" if _suffix_of(as_path(out), OUTPUT_SUFFIXES) == ".parquet" else "json"  # type: ignore[arg-type]


def encode_record(rec: dict, kind: str) -> EncodedRecord:
    """``rec`` as ``write_ranked`` would serialise it for an output of this ``kind`` (``record_kind``)."""
    if kind == "pickle":
        return EncodedRecord(pickle.dumps(rec, protocol=pickle.HIGHEST_PROTOCOL), kind)
    encode = _JsonLines()
    return EncodedRecord(encode(rec), kind, encode.nulled)


def _pread(fd: int, size: int, offset: int) -> bytes:
    data = os.pread(fd, size, offset)
    while len(data) < size:  # a regular file reads short only at its end or after a signal
        more = os.pread(fd, size - len(data), offset + len(data))
        if not more:
            raise OSError(f"spill file ended at byte {offset + len(data)}, expected {offset + size}")
        data += more
    return data


class _Spill:
    """Serialised records appended to one temp file beside the output, each written once, in arrival order.

    Only (offset, length) per output position is kept in memory, so holding K records costs 16 bytes each;
    they are read back by position, one record (or one run of records adjacent on disk) at a time.
    """

    def __init__(self, out: Path, n: int) -> None:
        self.path = temp_beside(out, ".spill-")
        try:
            self._fh = open(self.path, "w+b", buffering=_FLUSH_BYTES)  # noqa: SIM115 (closed by cleanup)
        except BaseException:
            self.path.unlink(missing_ok=True)
            raise
        self.offsets = np.zeros(n, dtype=np.int64)
        self.lengths = np.zeros(n, dtype=np.int64)
        self._end = 0

    def add(self, key: int, data: bytes) -> None:
        self._fh.write(data)
        self.offsets[key] = self._end
        self.lengths[key] = len(data)
        self._end += len(data)

    def records(self) -> Iterator[memoryview]:
        """Every record in key order. The file was just written, so it is read from the page cache; keys whose
        records lie next to each other on disk (all of them in input order) are fetched in one read of <= ~1 MB."""
        self._fh.flush()
        fd = self._fh.fileno()
        n = len(self.offsets)
        for block in range(0, n, _READ_BLOCK):
            offs = self.offsets[block : block + _READ_BLOCK].tolist()
            lens = self.lengths[block : block + _READ_BLOCK].tolist()
            i = 0
            while i < len(offs):
                start = offs[i]
                end = start + lens[i]
                j = i + 1
                while j < len(offs) and offs[j] == end and end - start < _FLUSH_BYTES:
                    end += lens[j]
                    j += 1
                run = memoryview(_pread(fd, end - start, start))
                for k in range(i, j):
                    yield run[offs[k] - start : offs[k] - start + lens[k]]
                i = j

    def cleanup(self) -> None:
        try:
            self._fh.close()
        finally:
            self.path.unlink(missing_ok=True)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _field_problem(name: str, exc: BaseException) -> str:
    if isinstance(exc, OverflowError):
        return f"field {name!r} holds an integer outside the signed 64-bit range"
    return f"field {name!r}: {_first_line(exc)}"


def _parquet_error(out: Path, what: str) -> ZipfitError:
    return ZipfitError(f"cannot write {out} as Parquet: {what}; write .jsonl instead")


def _records_to_table(records: list[dict], schema: pa.Schema, out: Path) -> pa.Table:
    names = set(schema.names)
    for rec in records:
        extra = rec.keys() - names
        if extra:
            raise ValueError(f"record fields {sorted(extra)} are not in the Parquet schema")
    arrays = []
    for f in schema:
        try:
            arrays.append(pa.array([rec.get(f.name) for rec in records], type=f.type))
        except (pa.ArrowException, OverflowError) as exc:
            raise _parquet_error(out, _field_problem(f.name, exc)) from None
    return pa.Table.from_arrays(arrays, schema=schema)


def _infer_schema(records: list[dict], out: Path) -> pa.Schema:
    names: dict[str, None] = {}
    for rec in records:
        names.update(dict.fromkeys(rec))
    fields = []
    for name in names:
        try:
            fields.append(pa.field(name, pa.array([rec.get(name) for rec in records]).type))
        except (pa.ArrowException, OverflowError) as exc:
            raise _parquet_error(out, _field_problem(name, exc)) from None
    return pa.schema(fields)


def _unify(a: pa.Schema, b: pa.Schema, out: Path) -> pa.Schema:
    try:
        return pa.unify_schemas([a, b], promote_options="permissive")
    except pa.ArrowException as exc:
        for field in b:  # name the field the conflict is in
            if field.name not in a.names:
                continue
            known = a.field(field.name)
            try:
                pa.unify_schemas([pa.schema([known]), pa.schema([field])], promote_options="permissive")
            except pa.ArrowException:
                types = f"{known.type} and {field.type}"
                raise _parquet_error(out, f"field {field.name!r} has values of types {types}") from None
        raise _parquet_error(out, f"records have incompatible field types ({_first_line(exc)})") from None


def _empty_struct(t: pa.DataType, path: str) -> str | None:
    """Where in a column of type `t` an object with no fields sits (Parquet cannot store one), or None."""
    if pa.types.is_struct(t):
        if t.num_fields == 0:
            return path
        for i in range(t.num_fields):
            found = _empty_struct(t.field(i).type, f"{path}.{t.field(i).name}")
            if found is not None:
                return found
        return None
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _empty_struct(t.value_type, f"{path}[]")
    if pa.types.is_map(t):
        return _empty_struct(t.item_type, f"{path}{{}}")
    return None


def _parquet_batches(spill: _Spill) -> Iterator[tuple[list[dict], bool]]:
    """Records in output order as (batch, ends_row_group): batches of <= ~1 MB serialised, so Python objects
    (up to 4 bytes a character) stay small while a row group, held as Arrow data, grows to its own limits."""
    batch: list[dict] = []
    batch_bytes = group_rows = group_bytes = 0
    for data in spill.records():
        size = len(data)
        if group_rows and (group_rows >= PARQUET_GROUP_ROWS or group_bytes + size > PARQUET_GROUP_BYTES):
            yield batch, True  # may be empty when the group's last batch was already handed over
            batch, batch_bytes, group_rows, group_bytes = [], 0, 0, 0
        elif batch and batch_bytes + size > _BATCH_BYTES:
            yield batch, False
            batch, batch_bytes = [], 0
        batch.append(pickle.loads(data))
        batch_bytes += size
        group_rows += 1
        group_bytes += size
    if batch:
        yield batch, True


def _write_parquet(tmp: Path, out: Path, spill: _Spill, schema: pa.Schema | None) -> None:
    try:
        if schema is None:
            # Every row group needs the one schema before the first is written: a first pass over the spill.
            schema = pa.schema([])
            for batch, _ in _parquet_batches(spill):
                schema = _unify(schema, _infer_schema(batch, out), out)
        for field in schema:
            where = _empty_struct(field.type, field.name)
            if where is not None:
                problem = f"field {where!r} only ever holds an empty object {{}}, which Parquet cannot store"
                raise _parquet_error(out, problem)
        with pq.ParquetWriter(tmp, schema) as writer:
            group: list[pa.Table] = []
            wrote = False
            for batch, ends_group in _parquet_batches(spill):
                if batch:
                    group.append(_records_to_table(batch, schema, out))
                if ends_group and group:
                    table = pa.concat_tables(group)
                    writer.write_table(table, row_group_size=table.num_rows)
                    group, wrote = [], True
            if not wrote:
                writer.write_table(schema.empty_table())
    except (pa.ArrowException, OverflowError) as exc:
        raise _parquet_error(out, _first_line(exc)) from None


def write_ranked(
    out: Path,
    items: Iterable[tuple[int, dict | EncodedRecord]],
    *,
    n: int,
    order: str = "rank",
    schema: pa.Schema | None = None,
    commit: Commit | None = None,
) -> int:
    """Write selected records that arrive in input order, sorted by rank (or as they arrive), atomically
    (with ``commit``: staged, to be published with the manifest).

    A record may arrive already serialised (``EncodedRecord``, of this output's ``record_kind``): the same bytes.
    Memory does not grow with the number or size of records: JSON Lines in input order stream straight through;
    otherwise each record is serialised once into a spill file beside `out` and read back by position. A Parquet
    output without `schema` takes one schema unified over all records before writing the first row.
    """
    out = as_path(out)  # type: ignore[assignment]
    suffix = _suffix_of(out, OUTPUT_SUFFIXES)
    if suffix is None:
        raise ValueError(f"{out}: write_ranked supports {', '.join(OUTPUT_SUFFIXES)}")
    if order not in ("rank", "input"):
        raise ValueError(f"order must be 'rank' or 'input', not {order!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    seen = np.zeros(n, dtype=bool)

    def checked() -> Iterator[tuple[int, dict]]:
        count = 0
        for rank, rec in items:
            if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 1 <= rank <= n:
                raise ValueError(f"rank {rank!r} is not an integer in 1..{n}")
            if seen[rank - 1]:
                raise ValueError(f"rank {rank} received twice")
            seen[rank - 1] = True
            count += 1
            yield int(rank), rec
        if count != n:
            missing = int(np.flatnonzero(~seen)[0]) + 1
            raise ValueError(f"received {count} ranks, expected {n} (rank {missing} is missing)")

    encode = _JsonLines()
    kind = "pickle" if suffix == ".parquet" else "json"

    def serialised(rec: dict | EncodedRecord) -> bytes:
        if isinstance(rec, EncodedRecord):  # a worker serialised it already
            if rec.kind != kind:
                raise ValueError(f"a record encoded as {rec.kind}, but {out} keeps {kind}")
            encode.nulled += rec.nulled
            return rec.data
        if kind == "pickle":
            return pickle.dumps(rec, protocol=pickle.HIGHEST_PROTOCOL)
        return encode(rec)

    with atomic_output(out, commit) as tmp:
        if suffix != ".parquet" and order == "input":
            with _LineSink(tmp, suffix) as sink:
                for _, rec in checked():
                    sink.write(serialised(rec))
        else:
            spill = _Spill(out, n)
            try:
                for arrival, (rank, rec) in enumerate(checked()):
                    key = rank - 1 if order == "rank" else arrival
                    spill.add(key, serialised(rec))
                failpoints.point("records_spilled")
                if suffix == ".parquet":
                    _write_parquet(tmp, out, spill, schema)
                else:
                    with _LineSink(tmp, suffix) as sink:
                        for line in spill.records():
                            sink.write(line)
            finally:
                spill.cleanup()
    encode.warn(out)
    return n
