"""Output files: checked before any work, written atomically, byte-identical for identical input."""

from __future__ import annotations

import base64
import csv
import datetime
import decimal
import functools
import gzip
import hashlib
import io
import json
import math
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from zipfit.errors import ZipfitError

OUTPUT_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")
TABLE_SUFFIXES = (*OUTPUT_SUFFIXES, ".csv")
TABLE_CHUNK_ROWS = 65_536
MAX_BUCKETS = 256
_FLUSH_BYTES = 1 << 20


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
    path = Path(out)
    if _suffix_of(path, suffixes) is None:
        raise ZipfitError(f"{out}: unsupported output type; use one of {', '.join(suffixes)}")
    resolved = path.resolve()
    for item in inputs:
        inp = Path(getattr(item, "path", item))  # also accepts InputFile
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


@functools.cache
def _file_mode() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_output(out: Path) -> Iterator[Path]:
    """A temp path beside `out` that replaces `out` only on success, so readers never see a partial file."""
    out = Path(out)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.tmp-")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(out.parent)


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


def _json_line(rec: Any) -> bytes:
    text = json.dumps(rec, ensure_ascii=False, default=_json_default)
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # lone surrogates: escape them so the line stays valid UTF-8 and round-trips
        return json.dumps(rec, ensure_ascii=True, default=_json_default).encode("ascii") + b"\n"


def write_json(out: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False, default=_json_default) + "\n"
    with atomic_output(Path(out)) as tmp:
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
        self._buf: list[bytes] = []
        self._size = 0

    def write(self, line: bytes) -> None:
        self._buf.append(line)
        self._size += len(line)
        if self._size >= _FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._stream.write(b"".join(self._buf))
            self._buf, self._size = [], 0

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
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"column {name!r} cannot be written as a table column: {exc}") from None


class TableWriter:
    """Rows of one schema streamed to .parquet, .jsonl(.gz/.zst) or .csv, atomically, in bounded memory.

    Rows are buffered and written in groups of exactly ``chunk_rows`` (the last group excepted), so
    the file's bytes do not depend on how the caller happened to batch its rows.
    """

    def __init__(self, out: Path, schema: pa.Schema, chunk_rows: int = TABLE_CHUNK_ROWS) -> None:
        self.out = Path(out)
        self.suffix = _suffix_of(self.out, TABLE_SUFFIXES)
        if self.suffix is None:
            raise ValueError(f"{out}: tables can be written as {', '.join(TABLE_SUFFIXES)}")
        self.schema = schema
        self.chunk_rows = chunk_rows
        self.rows = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

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
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
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
                self._sink.write(_json_line(rec))

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self._drain(final=True)
        finally:
            try:
                self._sink.close()
            finally:
                self._atomic.__exit__(exc_type, exc, tb)


def write_table(out: Path, columns: dict[str, Sequence | np.ndarray]) -> None:
    """Columns of equal length to .parquet, .jsonl(.gz/.zst) or .csv; rows are converted in bounded chunks."""
    if not columns:
        raise ValueError("write_table needs at least one column")
    table = pa.table({name: _to_arrow(name, col) for name, col in columns.items()})  # checks equal lengths
    with TableWriter(Path(out), table.schema) as writer:
        for batch in table.to_batches(max_chunksize=TABLE_CHUNK_ROWS):
            writer.write(dict(zip(batch.schema.names, batch.columns, strict=True)))


# ---- selected records in rank order -----------------------------------------------------------------------


class _Spill:
    """Records pickled into temp bucket files by key // bucket_size, so they can be read back in key order
    one bucket at a time: memory holds one bucket, never all selected records."""

    def __init__(self, directory: Path, name: str, n: int, bucket_size: int) -> None:
        self.bucket_size = max(1, bucket_size, math.ceil(n / MAX_BUCKETS))
        self.n_buckets = math.ceil(n / self.bucket_size) if n else 0
        self.dir = Path(tempfile.mkdtemp(dir=directory, prefix=f".{name}.buckets-"))
        self._files: dict[int, io.BufferedWriter] = {}

    def add(self, key: int, rec: dict) -> None:
        b = key // self.bucket_size
        fh = self._files.get(b)
        if fh is None:
            fh = self._files[b] = open(self.dir / f"{b:05d}.pkl", "wb")  # noqa: SIM115 - closed in finish()
        pickle.dump((key, rec), fh, protocol=pickle.HIGHEST_PROTOCOL)

    def finish(self) -> None:
        for fh in self._files.values():
            fh.close()

    def buckets(self) -> Iterator[list[dict]]:
        for b in range(self.n_buckets):
            path = self.dir / f"{b:05d}.pkl"
            if not path.exists():
                continue
            items = []
            with open(path, "rb") as fh:
                while True:
                    try:
                        items.append(pickle.load(fh))
                    except EOFError:
                        break
            items.sort(key=lambda kv: kv[0])
            yield [rec for _, rec in items]

    def cleanup(self) -> None:
        self.finish()
        shutil.rmtree(self.dir, ignore_errors=True)


def _records_to_table(records: list[dict], schema: pa.Schema, out: Path) -> pa.Table:
    names = set(schema.names)
    for rec in records:
        extra = rec.keys() - names
        if extra:
            raise ValueError(f"record fields {sorted(extra)} are not in the Parquet schema")
    try:
        arrays = [pa.array([rec.get(f.name) for rec in records], type=f.type) for f in schema]
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ZipfitError(f"cannot write {out} as Parquet: {exc}; write .jsonl instead") from None
    return pa.Table.from_arrays(arrays, schema=schema)


def _infer_schema(records: list[dict], out: Path) -> pa.Schema:
    names: dict[str, None] = {}
    for rec in records:
        names.update(dict.fromkeys(rec))
    fields = []
    for name in names:
        try:
            fields.append(pa.field(name, pa.array([rec.get(name) for rec in records]).type))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ZipfitError(
                f"cannot write {out} as Parquet: field {name!r} has values of different types ({exc}); "
                "write .jsonl instead"
            ) from None
    return pa.schema(fields)


def _unify(schemas: list[pa.Schema], out: Path) -> pa.Schema:
    try:
        return pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ZipfitError(
            f"cannot write {out} as Parquet: records have incompatible field types ({exc}); write .jsonl instead"
        ) from None


def _write_chunks(tmp: Path, out: Path, suffix: str, chunks: Iterable[list[dict]], schema: pa.Schema | None) -> None:
    if suffix != ".parquet":
        with _LineSink(tmp, suffix) as sink:
            for chunk in chunks:
                for rec in chunk:
                    sink.write(_json_line(rec))
        return
    assert schema is not None
    with pq.ParquetWriter(tmp, schema) as writer:
        wrote = False
        for chunk in chunks:
            if chunk:
                writer.write_table(_records_to_table(chunk, schema, out))
                wrote = True
        if not wrote:
            writer.write_table(schema.empty_table())


def _chunked(records: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for rec in records:
        chunk.append(rec)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_ranked(
    out: Path,
    items: Iterable[tuple[int, dict]],
    *,
    n: int,
    order: str = "rank",
    schema: pa.Schema | None = None,
    bucket_size: int = 10_000,
) -> int:
    """Write selected records that arrive in input order, sorted by rank (or as they arrive), atomically.

    Rank order spills records to at most ~256 temp buckets next to `out` (one bucket in memory at a time);
    a Parquet output without `schema` takes one schema unified over all records before writing the first row.
    """
    out = Path(out)
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

    with atomic_output(out) as tmp:
        if order == "input" and (suffix != ".parquet" or schema is not None):
            _write_chunks(tmp, out, suffix, _chunked((rec for _, rec in checked()), bucket_size), schema)
            return n
        spill = _Spill(out.parent, out.name, n, bucket_size)
        try:
            for arrival, (rank, rec) in enumerate(checked()):
                spill.add(rank - 1 if order == "rank" else arrival, rec)
            spill.finish()
            if suffix == ".parquet" and schema is None:
                schema = _unify([_infer_schema(bucket, out) for bucket in spill.buckets()], out)
            _write_chunks(tmp, out, suffix, spill.buckets(), schema)
        finally:
            spill.cleanup()
    return n
