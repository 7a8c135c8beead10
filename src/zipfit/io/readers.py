"""Streaming readers: raw JSON Lines records and Arrow record batches, one file at a time, in constant memory.

Every way a file can be broken becomes either a counted per-line problem (bad line) or a ZipfitError naming the
file; a corrupt stream never ends a file early in silence.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from zipfit.errors import CorruptFileError, ZipfitError
from zipfit.io.inputs import InputFile, hf_data_files
from zipfit.io.storage import RemotePath

ARROW_BATCH_ROWS = 1024
_READ_CHUNK = 1 << 16


class _TruncatedZstd(Exception):
    pass


class _ZstdReader(io.RawIOBase):
    """Decompresses concatenated zstd frames and, unlike zstandard's stream_reader, fails on a truncated frame."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._dctx = zstandard.ZstdDecompressor()
        self._dobj = self._dctx.decompressobj()
        self._in_frame = False
        self._buf = memoryview(b"")
        self._pos = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def _feed(self, data: bytes) -> bytes:
        out = []
        while data:
            out.append(self._dobj.decompress(data))
            self._in_frame = True
            if not self._dobj.eof:
                break
            data = self._dobj.unused_data
            self._dobj = self._dctx.decompressobj()
            self._in_frame = False
        return b"".join(out)

    def readinto(self, b: Any) -> int:
        while self._pos >= len(self._buf):
            if self._done:
                return 0
            chunk = self._fh.read(_READ_CHUNK)
            if not chunk:
                if self._in_frame:
                    raise _TruncatedZstd("zstd stream ends in the middle of a frame")
                self._done = True
                return 0
            self._buf, self._pos = memoryview(self._feed(chunk)), 0
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


_CODECS = {"jsonl.gz": "gz", "jsonl.zst": "zst"}


def _open_binary(f: InputFile) -> BinaryIO:
    """The file's decompressed bytes; a file that cannot be opened is a ZipfitError naming it."""
    try:
        return _open_stream(f)
    except OSError as exc:
        raise ZipfitError(f"{f.path}: cannot read ({exc.strerror or exc})") from None


class _OwningGzip(gzip.GzipFile):
    """A GzipFile over a file object that it closes too (a GzipFile never closes a fileobj it is given)."""

    def close(self) -> None:
        owned = self.fileobj
        try:
            super().close()
        finally:
            if owned is not None:
                owned.close()


def _open_stream(f: InputFile) -> BinaryIO:
    if isinstance(f.path, RemotePath):
        remote = f.path.open("rb")
        if f.format == "jsonl.gz":
            return _OwningGzip(fileobj=remote, mode="rb")  # type: ignore[return-value]
        if f.format == "jsonl.zst":
            return io.BufferedReader(_ZstdReader(remote), buffer_size=_READ_CHUNK)  # type: ignore[return-value]
        return remote
    if f.format == "jsonl.gz":
        # Opened by name, so closing the stream closes the file: a GzipFile never closes a fileobj it is given
        return gzip.GzipFile(f.path, mode="rb")  # type: ignore[return-value]
    raw = open(f.path, "rb")  # noqa: SIM115 - ownership passes to the returned stream
    if f.format == "jsonl.zst":
        return io.BufferedReader(_ZstdReader(raw), buffer_size=_READ_CHUNK)  # type: ignore[return-value]
    return raw


_STREAM_ERRORS = (EOFError, OSError, zlib.error, zstandard.ZstdError, _TruncatedZstd)


def _stream_error(f: InputFile, codec: str | None, row: int, exc: BaseException) -> ZipfitError:
    if codec is None:
        return ZipfitError(f"{f.path}: read error after row {row} ({exc})")
    return ZipfitError(f"{f.path}: corrupt or truncated {codec} data after row {row}")


def jsonl_row_starts(f: InputFile, every: int) -> tuple[int, list[int | None]]:
    """(rows in the file, byte offset of rows 1, every + 1, 2 * every + 1, ...), by one pass over the file.

    Offsets are None for compressed files (a reader cannot seek in them). Rows are counted as the
    reader counts them: every line, including blank ones and a last line without a newline.
    """
    codec = _CODECS.get(f.format)
    rows, position, starts = 0, 0, []
    with _open_binary(f) as stream:
        try:
            for line in stream:
                if rows % every == 0:
                    starts.append(position if codec is None else None)
                rows += 1
                position += len(line)
        except _STREAM_ERRORS as exc:
            raise _stream_error(f, codec, rows, exc) from None
    return rows, starts


def jsonl_rows(f: InputFile, on_bytes: Callable[[int], None] | None = None) -> int | None:
    """Rows in a local JSON Lines file, counted as ``iter_jsonl`` counts them (every line, a last one without a
    newline too) by one read in large chunks, without parsing: a progress bar's total. ``on_bytes(n)`` hears of
    every ``n`` bytes of the file read (compressed bytes for a compressed file). None for a remote file: counting
    would download it once more."""
    if isinstance(f.path, RemotePath):
        return None
    codec = _CODECS.get(f.format)
    rows, last, told = 0, b"\n", 0
    with open(f.path, "rb") as raw:
        stream: BinaryIO = raw
        if codec == "gz":
            stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        elif codec == "zst":
            stream = io.BufferedReader(_ZstdReader(raw), buffer_size=_READ_CHUNK)  # type: ignore[assignment]
        try:
            while chunk := stream.read(1 << 20):
                rows += chunk.count(b"\n")
                last = chunk[-1:]
                if on_bytes is not None and raw.tell() > told:
                    on_bytes(raw.tell() - told)
                    told = raw.tell()
        except _STREAM_ERRORS as exc:
            raise _stream_error(f, codec, rows, exc) from None
    return rows + (last != b"\n")


def iter_jsonl(
    f: InputFile, start: int = 0, stop: int | None = None, offset: int | None = None
) -> Iterator[tuple[int, Any, str, str]]:
    """Yields (row, value, reason, detail) per line; reason is "" for a parsed JSON value, else why it is bad.

    Only rows ``start < row <= stop`` (a shard: 0-based row range [start, stop)); ``offset`` is the byte
    where row ``start + 1`` begins in an uncompressed file (lets a reader seek instead of scanning).
    """
    codec = _CODECS.get(f.format)
    row = 0
    first_value = start == 0  # the first non-blank line tells a JSON array apart from JSON Lines
    with _open_binary(f) as stream:
        lines = iter(stream)
        if start and offset is not None and codec is None:
            stream.seek(offset)
            row = start
        while row < start:  # skip to the shard without decoding what precedes it
            try:
                next(lines)
            except StopIteration:
                return
            except _STREAM_ERRORS as exc:
                raise _stream_error(f, codec, row, exc) from None
            row += 1
        while True:
            if stop is not None and row >= stop:
                return
            try:
                line = next(lines)
            except StopIteration:
                return
            except _STREAM_ERRORS as exc:
                raise _stream_error(f, codec, row, exc) from None
            row += 1
            if row == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if not line.strip():
                yield row, None, "blank_line", ""
                continue
            was_first, first_value = first_value, False
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield row, None, "invalid_utf8", f"byte {exc.start}"
                continue
            try:
                value = json.loads(text)
            except ValueError as exc:
                # A pretty-printed or multi-line array would otherwise make every line a malformed record; a
                # whole array on one line parses, and is left to be excluded as one record that is not an object.
                if was_first and text.lstrip().startswith("["):
                    raise ZipfitError(
                        f"{f.path} looks like one JSON array, not JSON Lines (one object per line); "
                        "convert it, e.g. with jq -c '.[]'"
                    ) from None
                yield row, None, "malformed_json", str(exc)
                continue
            yield row, value, "", ""


def lines_at(f: InputFile, rows: Iterable[int]) -> Iterator[tuple[int, bytes]]:
    """(row, raw line) of each 1-based row in ``rows`` (ascending) of a JSON Lines input: one pass that decodes
    nothing but those lines and stops at the last of them."""
    codec = _CODECS.get(f.format)
    with _open_binary(f) as stream:
        lines, at, line = iter(stream), 0, b""
        for want in rows:
            try:
                while at < want:
                    line = next(lines)
                    at += 1
            except StopIteration:
                raise ValueError(f"{f.path} has no row {want}: the input changed since it was scored") from None
            except _STREAM_ERRORS as exc:
                raise _stream_error(f, codec, at, exc) from None
            yield want, line


def _open_parquet(f: InputFile) -> pq.ParquetFile:
    try:
        if isinstance(f.path, RemotePath):  # a seekable, buffered file of the store's: only the footer and the
            return pq.ParquetFile(f.path.open("rb"))  # column chunks asked for are read
        return pq.ParquetFile(f.path)
    except (pa.ArrowException, OSError) as exc:
        raise ZipfitError(f"{f.path}: not a readable Parquet file ({exc})") from None


def _arrow_source(path: Any) -> pa.NativeFile:
    """A save_to_disk data file: memory-mapped when local, streamed from the store when remote."""
    if isinstance(path, RemotePath):
        return pa.PythonFile(path.open("rb"), mode="r")
    return pa.memory_map(str(path))


def _open_ipc(source: pa.NativeFile) -> Any:
    try:
        return pa.ipc.open_stream(source)
    except pa.ArrowInvalid:
        # Older `datasets` releases wrote the IPC file format; accept both.
        source.seek(0)
        return pa.ipc.open_file(source)


def _ipc_batches(reader: Any) -> Iterator[pa.RecordBatch]:
    if isinstance(reader, pa.ipc.RecordBatchFileReader):
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)
    else:
        yield from reader


def arrow_schema(f: InputFile) -> pa.Schema:
    """Schema of a parquet file or a save_to_disk dataset (its first shard; shards share one schema)."""
    if f.format == "parquet":
        return _open_parquet(f).schema_arrow
    files = hf_data_files(f.path)
    if not files:
        raise CorruptFileError(f"{f.path}: state.json lists no data files")
    try:
        with _arrow_source(files[0]) as source:
            return _open_ipc(source).schema
    except (pa.ArrowException, OSError) as exc:
        raise ZipfitError(f"{files[0]}: not a readable Arrow file ({exc})") from None


def arrow_rows(f: InputFile) -> int:
    """Rows in a Parquet file (from its footer) or a save_to_disk dataset (from its record batches' headers)."""
    if f.format == "parquet":
        return _open_parquet(f).metadata.num_rows
    return sum(batch.num_rows for batch in iter_arrow_batches(f, ()))


def iter_arrow_batches(
    f: InputFile, columns: Sequence[str] | None, start: int = 0, stop: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Record batches of rows [start, stop) (all by default), restricted to ``columns`` when given."""
    position = 0
    row_groups = None
    if f.format == "parquet" and (start or stop is not None):
        metadata = _open_parquet(f).metadata
        row_groups, first = [], 0
        for i in range(metadata.num_row_groups):
            n = metadata.row_group(i).num_rows
            if first + n > start and (stop is None or first < stop):
                if not row_groups:
                    position = first
                row_groups.append(i)
            first += n
        if not row_groups:
            return
    for batch in _arrow_batches(f, columns, row_groups):
        end = position + batch.num_rows
        if end > start and (stop is None or position < stop):
            lo, hi = max(start - position, 0), batch.num_rows if stop is None else min(stop - position, batch.num_rows)
            yield batch if (lo, hi) == (0, batch.num_rows) else batch.slice(lo, hi - lo)
        position = end
        if stop is not None and position >= stop:
            return


def arrow_rows_at(f: InputFile, rows: Iterable[int]) -> Iterator[dict]:
    """The record (a dict) of each 1-based row in ``rows`` (ascending) of a Parquet or Arrow input, converting
    only those rows."""
    batches = iter_arrow_batches(f, None)
    batch: pa.RecordBatch | None = None
    base = 0
    for want in rows:
        while batch is None or want > base + batch.num_rows:
            if batch is not None:
                base += batch.num_rows
            batch = next(batches, None)
            if batch is None:
                raise ValueError(f"{f.path} has no row {want}: the input changed since it was scored")
        yield batch.slice(want - 1 - base, 1).to_pylist()[0]


def _arrow_batches(
    f: InputFile, columns: Sequence[str] | None, row_groups: list[int] | None
) -> Iterator[pa.RecordBatch]:
    rows = 0
    if f.format == "parquet":
        pf = _open_parquet(f)
        batches = pf.iter_batches(batch_size=ARROW_BATCH_ROWS, columns=list(columns) if columns is not None else None,
                                  row_groups=row_groups)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as exc:
                raise ZipfitError(f"{f.path}: corrupt Parquet data after row {rows} ({exc})") from None
            rows += batch.num_rows
            yield batch
        return
    for shard in hf_data_files(f.path):
        with _arrow_source(shard) as source:
            try:
                batches = _ipc_batches(_open_ipc(source))
            except (pa.ArrowException, OSError) as exc:
                raise ZipfitError(f"{shard}: not a readable Arrow file ({exc})") from None
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except (pa.ArrowException, OSError):
                    raise ZipfitError(f"{shard}: corrupt Arrow data after row {rows} of {f.path}") from None
                rows += batch.num_rows
                yield batch.select(list(columns)) if columns is not None else batch
