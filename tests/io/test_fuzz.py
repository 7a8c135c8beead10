"""Fuzzed inputs: any file, however broken, yields documents, counted exclusions or one ZipfitError."""

import gzip
import io
import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zipfit.errors import ZipfitError
from zipfit.io import Corpus, TextSpec

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
records = st.fixed_dictionaries({"text": st.one_of(st.text(max_size=80), json_values)}, optional={"id": json_values})
lines = st.one_of(
    records.map(lambda r: json.dumps(r).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=60),
    st.sampled_from([b"", b"   ", b"{", b'{"text": "a"', b"\xff\xfe", b'{"text": "\\ud800"}', b"[1, 2]", b"null"]),
)
documents_file = st.lists(lines, max_size=12).map(lambda ls: b"\n".join(ls))


def read_all(path: Path, spec: TextSpec | None = None) -> None:
    """Either the documents come out (every record accounted for) or a ZipfitError says why not."""
    try:
        corpus = Corpus([path], spec or TextSpec())
        docs = list(corpus.documents())
    except ZipfitError as exc:
        assert "\n" not in str(exc)  # one line, for the CLI
        return
    assert all(isinstance(d.text, str) and d.text.strip() for d in docs)
    assert [d.index for d in docs] == list(range(len(docs)))
    assert corpus.n_records == len(docs) + corpus.exclusions.total + corpus.exclusions.counts().get("filtered", 0)


def write(suffix: str, data: bytes) -> Path:
    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as handle:
        handle.write(data)
    return Path(handle.name)


@FUZZ
@given(documents_file)
def test_jsonl(data):
    path = write(".jsonl", data)
    try:
        read_all(path)
        read_all(path, TextSpec(template="{text}|{id}"))
    finally:
        path.unlink()


@FUZZ
@given(documents_file, st.integers(min_value=0, max_value=400), st.sampled_from(["gz", "zst"]))
def test_compressed_streams_whole_or_cut(data, cut, codec):
    packed = gzip.compress(data, mtime=0) if codec == "gz" else zstandard.ZstdCompressor().compress(data)
    for blob in (packed, packed[:cut]):
        path = write(f".jsonl.{codec}", blob)
        try:
            read_all(path)
        finally:
            path.unlink()


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([".jsonl.gz", ".jsonl.zst", ".parquet"]))
def test_garbage_with_a_known_suffix(data, suffix):
    path = write(suffix, data)
    try:
        read_all(path)
    finally:
        path.unlink()


@FUZZ
@given(st.lists(st.one_of(st.none(), st.text(max_size=40)), min_size=1, max_size=20),
       st.integers(min_value=0, max_value=2000))
def test_parquet_whole_or_cut(texts, cut):
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": pa.array(texts, type=pa.string())}), buffer)
    data = buffer.getvalue()
    for blob in (data, data[:cut]):
        path = write(".parquet", blob)
        try:
            read_all(path)
        finally:
            path.unlink()


def test_field_names_from_the_data_cannot_break_the_one_line_error():
    """Found by the fuzzer: a record whose field name holds a newline made the missing-field error two lines."""
    path = write(".jsonl", json.dumps({"a\nb": 1, "ok": 2}).encode() + b"\n")
    try:
        read_all(path)
        try:
            Corpus([path])
        except ZipfitError as exc:
            assert "'a\\nb', ok" in str(exc)
        else:
            raise AssertionError("a missing text field must be an error")
    finally:
        path.unlink()
