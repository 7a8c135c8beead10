"""Output checks, atomic writes, rank-ordered spilling writer, score tables."""

from __future__ import annotations

import csv
import datetime
import decimal
import gzip
import json
import math
import os
import pickle
import random
import stat
import tracemalloc

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from io_data import LEAN_BATTERIES, MBPP

from zipfit.errors import ZipfitError
from zipfit.io import (
    OUTPUT_SUFFIXES,
    TableWriter,
    atomic_output,
    check_output,
    file_sha256,
    write_json,
    write_ranked,
    write_table,
    writers,
)
from zipfit.io.writers import _Spill


def _entries(directory):
    return sorted(p.name for p in directory.iterdir())


# ---- check_output -----------------------------------------------------------------------------------------


def test_check_output_accepts_supported_suffixes(tmp_path):
    for suffix in OUTPUT_SUFFIXES:
        assert check_output(tmp_path / f"out{suffix}", overwrite=False) == tmp_path / f"out{suffix}"
    assert check_output(str(tmp_path / "OUT.JSONL.GZ"), overwrite=False) == tmp_path / "OUT.JSONL.GZ"
    assert check_output(tmp_path / "m.json", overwrite=False, suffixes=(".json",)) == tmp_path / "m.json"


def test_check_output_refuses_unsupported_suffix_listing_supported(tmp_path):
    with pytest.raises(ZipfitError) as err:
        check_output(tmp_path / "out.csv", overwrite=True)
    assert str(err.value) == f"{tmp_path / 'out.csv'}: unsupported output type; use one of " + ", ".join(
        OUTPUT_SUFFIXES
    )
    with pytest.raises(ZipfitError, match="unsupported output type"):
        check_output(tmp_path / ".jsonl", overwrite=True)


def test_check_output_refuses_existing_without_overwrite(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("keep me\n")
    with pytest.raises(ZipfitError) as err:
        check_output(out, overwrite=False)
    assert str(err.value) == f"{out} exists; pass --overwrite to replace it"
    assert check_output(out, overwrite=True) == out
    assert out.read_text() == "keep me\n"


def test_check_output_never_targets_an_input(tmp_path, monkeypatch):
    src = tmp_path / "data.jsonl"
    src.write_text('{"text": "x"}\n')
    for spelling in [src, tmp_path / "sub" / ".." / "data.jsonl"]:
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(ZipfitError, match="is an input"):
            check_output(spelling, overwrite=True, inputs=[src])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ZipfitError, match="never modifies its inputs"):
        check_output("data.jsonl", overwrite=True, inputs=[src])
    hard = tmp_path / "hard.jsonl"
    hard.hardlink_to(src)
    with pytest.raises(ZipfitError, match="is an input"):
        check_output(hard, overwrite=True, inputs=[src])


def test_check_output_refuses_a_path_inside_an_input_dataset_dir(tmp_path):
    datasets.Dataset.from_list([{"text": "a"}]).save_to_disk(str(tmp_path / "hf"))
    with pytest.raises(ZipfitError, match="is an input"):
        check_output(tmp_path / "hf" / "out.jsonl", overwrite=True, inputs=[tmp_path / "hf"])


def test_check_output_missing_parent_and_directory(tmp_path):
    with pytest.raises(ZipfitError) as err:
        check_output(tmp_path / "no" / "out.jsonl", overwrite=True)
    assert str(err.value) == f"{tmp_path / 'no' / 'out.jsonl'}: directory {tmp_path / 'no'} does not exist"
    (tmp_path / "d.jsonl").mkdir()
    with pytest.raises(ZipfitError, match="is a directory"):
        check_output(tmp_path / "d.jsonl", overwrite=True)


# ---- atomic_output / write_json / file_sha256 -------------------------------------------------------------


def test_atomic_output_replaces_only_on_success(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    with pytest.raises(RuntimeError, match="boom"), atomic_output(out) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".out.jsonl.tmp-")
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert out.read_text() == "old\n"
    assert _entries(tmp_path) == ["out.jsonl"]
    with atomic_output(out) as tmp:
        tmp.write_text("new\n")
        assert out.read_text() == "old\n"
    assert out.read_text() == "new\n"
    assert _entries(tmp_path) == ["out.jsonl"]


def test_atomic_output_leaves_nothing_when_the_first_write_fails(tmp_path):
    out = tmp_path / "fresh.parquet"
    with pytest.raises(KeyboardInterrupt), atomic_output(out):
        raise KeyboardInterrupt
    assert _entries(tmp_path) == []


def test_atomic_output_gives_the_mode_a_plain_open_would(tmp_path):
    out = tmp_path / "o.jsonl"
    with atomic_output(out) as tmp:
        tmp.write_text("x")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # mkstemp alone would give 0o600
    plain = tmp_path / "plain.jsonl"
    plain.write_text("x")
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_write_json_format(tmp_path):
    out = tmp_path / "manifest.json"
    obj = {"zeta": 1, "alpha": "ProofNet ∀ε", "n": np.int64(3), "x": np.float32(0.5), "p": tmp_path}
    write_json(out, obj)
    text = out.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert "∀ε" in text
    assert text.index('"zeta"') < text.index('"alpha"')
    assert text.startswith('{\n  "zeta": 1,')
    assert json.loads(text) == {"zeta": 1, "alpha": "ProofNet ∀ε", "n": 3, "x": 0.5, "p": str(tmp_path)}


def test_file_sha256_matches_hashlib():
    import hashlib

    assert file_sha256(MBPP) == hashlib.sha256(MBPP.read_bytes()).hexdigest()


# ---- write_ranked -----------------------------------------------------------------------------------------


@pytest.fixture
def ranked(mbpp_records):
    """mbpp records (in input order) with a shuffled rank each, as the selection step hands them over."""
    records = [dict(r) for r in mbpp_records[:200]]
    ranks = list(range(1, len(records) + 1))
    random.Random(7).shuffle(ranks)
    for rec, rank in zip(records, ranks, strict=True):
        rec["zipfit_score"] = 1.0 - rank / 1000
        rec["zipfit_rank"] = rank
    return list(zip(ranks, records, strict=True))


def _read_lines(path):
    opener = {".gz": gzip.open, ".zst": lambda p, m: zstandard.open(p, m)}.get(path.suffix, open)
    with opener(path, "rt") as fh:
        return [json.loads(line) for line in fh]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_write_ranked_rank_order(tmp_path, ranked, suffix):
    out = tmp_path / f"sel{suffix}"
    assert write_ranked(out, iter(ranked), n=len(ranked)) == 200
    rows = _read_lines(out)
    assert [r["zipfit_rank"] for r in rows] == list(range(1, 201))
    by_rank = {rank: rec for rank, rec in ranked}
    assert rows == [by_rank[k] for k in range(1, 201)]
    assert _entries(tmp_path) == [out.name]  # spill file and temp file are gone


def test_write_ranked_input_order(tmp_path, ranked):
    out = tmp_path / "sel.jsonl"
    write_ranked(out, iter(ranked), n=len(ranked), order="input")
    assert _read_lines(out) == [rec for _, rec in ranked]
    pq_out = tmp_path / "sel.parquet"
    write_ranked(pq_out, iter(ranked), n=len(ranked), order="input")
    assert pq.read_table(pq_out).to_pylist() == [rec for _, rec in ranked]
    assert _entries(tmp_path) == ["sel.jsonl", "sel.parquet"]


def test_write_ranked_is_byte_deterministic(tmp_path, ranked, monkeypatch):
    for suffix in [".jsonl.gz", ".jsonl.zst"]:
        a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
        write_ranked(a, iter(ranked), n=200)
        write_ranked(b, iter(ranked), n=200)
        assert a.read_bytes() == b.read_bytes(), suffix
    monkeypatch.setattr(writers, "PARQUET_GROUP_BYTES", 20_000)  # several row groups
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_ranked(a, iter(ranked), n=200)
    write_ranked(b, iter(ranked), n=200)
    assert pq.ParquetFile(a).metadata.num_row_groups > 3
    assert a.read_bytes() == b.read_bytes()
    plain = tmp_path / "c.jsonl"
    write_ranked(plain, iter(ranked), n=200)
    assert gzip.decompress((tmp_path / "a.jsonl.gz").read_bytes()) == plain.read_bytes()


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".parquet"])
@pytest.mark.parametrize("order", ["rank", "input"])
def test_records_serialised_elsewhere_give_the_same_bytes(tmp_path, ranked, suffix, order):
    """Records a worker serialised (``encode_record``), mixed with plain ones, give the bytes of plain ones alone."""
    kind = writers.record_kind(tmp_path / f"x{suffix}")
    assert kind == ("pickle" if suffix == ".parquet" else "json")
    mixed = [(rank, writers.encode_record(rec, kind) if i % 2 else rec) for i, (rank, rec) in enumerate(ranked)]
    a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    write_ranked(a, iter(ranked), n=200, order=order)
    write_ranked(b, iter(mixed), n=200, order=order)
    assert a.read_bytes() == b.read_bytes()
    other = "json" if kind == "pickle" else "pickle"
    with pytest.raises(ValueError, match=f"encoded as {other}"):
        write_ranked(tmp_path / f"c{suffix}", iter([(1, writers.encode_record({"a": 1}, other))]), n=1, order=order)


def test_a_worker_counts_the_nan_it_wrote_as_null(tmp_path, zipfit_warnings):
    records = [(1, writers.encode_record({"x": math.nan, "y": [math.inf]}, "json")), (2, {"x": math.nan})]
    write_ranked(tmp_path / "a.jsonl", iter(records), n=2)
    assert _read_lines(tmp_path / "a.jsonl") == [{"x": None, "y": [None]}, {"x": None}]
    assert any("wrote 3 NaN/Infinity value(s) as null" in m for m in zipfit_warnings)


def test_write_ranked_parquet_with_heterogeneous_records(tmp_path, monkeypatch):
    # Row group 1 (ranks 1-3) has only nulls for "tag" and ints for "x"; later groups add floats and strings and
    # a field that appears only at the end: one schema must still hold every record.
    monkeypatch.setattr(writers, "PARQUET_GROUP_ROWS", 3)
    recs = [{"text": f"t{i}", "x": i, "tag": None} for i in range(1, 4)]
    recs += [{"text": f"t{i}", "x": i + 0.5, "tag": f"g{i}"} for i in range(4, 7)]
    recs += [{"text": "t7", "late": [1, 2]}]
    items = [(i, {**r, "zipfit_score": 0.1 * i, "zipfit_rank": i}) for i, r in enumerate(recs, 1)]
    items.reverse()  # arrival order differs from rank order
    out = tmp_path / "h.parquet"
    assert write_ranked(out, iter(items), n=7) == 7
    assert pq.ParquetFile(out).metadata.num_row_groups == 3
    table = pq.read_table(out)
    assert table.schema.field("x").type == pa.float64()
    assert table.schema.field("tag").type == pa.string()
    assert table.schema.field("late").type == pa.list_(pa.int64())
    rows = table.to_pylist()
    assert [r["zipfit_rank"] for r in rows] == list(range(1, 8))
    assert rows[0] == {"text": "t1", "x": 1.0, "tag": None, "zipfit_score": 0.1, "zipfit_rank": 1, "late": None}
    assert rows[6]["late"] == [1, 2]
    assert rows[6]["x"] is None


def test_write_ranked_parquet_with_given_schema_keeps_input_types(tmp_path):
    schema = pa.schema(
        [("text", pa.large_string()), ("n", pa.int16()), ("zipfit_score", pa.float64()), ("zipfit_rank", pa.int64())]
    )
    items = [(2, {"text": "b", "n": 2, "zipfit_score": 0.5, "zipfit_rank": 2})]
    items.append((1, {"text": "a", "n": None, "zipfit_score": 0.9, "zipfit_rank": 1}))
    out = tmp_path / "s.parquet"
    write_ranked(out, iter(items), n=2, schema=schema)
    table = pq.read_table(out)
    assert table.schema == schema
    assert table.column("text").to_pylist() == ["a", "b"]
    write_ranked(out, iter(items), n=2, schema=schema, order="input")
    assert pq.read_table(out).column("text").to_pylist() == ["b", "a"]
    assert pq.read_table(out).schema == schema
    with pytest.raises(ValueError, match="not in the Parquet schema"):
        write_ranked(tmp_path / "t.parquet", iter([(1, {"text": "a", "other": 1})]), n=1, schema=schema)


@pytest.mark.parametrize("group_rows", [1, 10])  # the conflict across row groups, then within one
def test_write_ranked_parquet_conflicting_types_is_a_user_error_and_writes_nothing(tmp_path, monkeypatch, group_rows):
    monkeypatch.setattr(writers, "PARQUET_GROUP_ROWS", group_rows)
    items = [(1, {"x": 1}), (2, {"x": "one"})]
    with pytest.raises(ZipfitError, match=r"'x'.*write \.jsonl instead"):
        write_ranked(tmp_path / "c.parquet", iter(items), n=2)
    assert _entries(tmp_path) == []


def test_write_ranked_serialises_parquet_values_as_json(tmp_path):
    rec = {
        "blob": b"\x00\xffzip",
        "when": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc),
        "day": datetime.date(2024, 5, 1),
        "at": datetime.time(8, 15),
        "price": decimal.Decimal("1.10"),
        "count": np.int64(3),
        "lone": "\ud800",
        "text": "naïve",
    }
    out = tmp_path / "v.jsonl"
    write_ranked(out, iter([(1, rec)]), n=1)
    raw = out.read_bytes()
    raw.decode("utf-8")  # valid UTF-8 even with a lone surrogate in a value
    (row,) = _read_lines(out)
    assert row == {
        "blob": "AP96aXA=",
        "when": "2024-05-01T12:30:00+00:00",
        "day": "2024-05-01",
        "at": "08:15:00",
        "price": "1.10",
        "count": 3,
        "lone": "\ud800",
        "text": "naïve",
    }


@pytest.mark.parametrize(
    ("ranks", "n", "message"),
    [
        ([1, 2, 2], 3, "received twice"),
        ([1, 2, 4], 3, "not an integer in 1..3"),
        ([0, 1, 2], 3, "not an integer in 1..3"),
        ([1, 3], 3, r"received 2 ranks, expected 3 \(rank 2 is missing\)"),
        ([1.0], 1, "not an integer"),
        ([True], 1, "not an integer"),
    ],
)
@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_write_ranked_validates_ranks_and_leaves_nothing(tmp_path, ranks, n, message, suffix):
    out = tmp_path / f"r{suffix}"
    for order in ["rank", "input"]:
        with pytest.raises(ValueError, match=message):
            write_ranked(out, ((r, {"text": "x", "zipfit_rank": r}) for r in ranks), n=n, order=order)
        assert _entries(tmp_path) == []


def test_write_ranked_accepts_numpy_ranks_and_empty_selections(tmp_path):
    out = tmp_path / "np.jsonl"
    write_ranked(out, iter([(np.int64(2), {"a": 2}), (np.int32(1), {"a": 1})]), n=2)
    assert _read_lines(out) == [{"a": 1}, {"a": 2}]
    for suffix in [".jsonl", ".jsonl.gz", ".parquet"]:
        empty = tmp_path / f"empty{suffix}"
        assert write_ranked(empty, iter([]), n=0) == 0
        assert empty.exists()
    assert (tmp_path / "empty.jsonl").read_bytes() == b""
    assert pq.read_table(tmp_path / "empty.parquet").num_rows == 0
    with pytest.raises(ValueError, match="order must be"):
        write_ranked(tmp_path / "o.jsonl", iter([]), n=0, order="score")


def test_write_ranked_parquet_row_groups_end_at_a_byte_or_row_limit(tmp_path, ranked, monkeypatch):
    by_rank = [rec for _, rec in sorted(ranked, key=lambda item: item[0])]
    cap = 10_000
    monkeypatch.setattr(writers, "PARQUET_GROUP_BYTES", cap)
    expected, rows, size = [], 0, 0  # greedy over the records' pickled sizes, in output order
    for rec in by_rank:
        b = len(pickle.dumps(rec, protocol=pickle.HIGHEST_PROTOCOL))
        if rows and size + b > cap:
            expected.append(rows)
            rows, size = 0, 0
        rows, size = rows + 1, size + b
    expected.append(rows)
    out = tmp_path / "g.parquet"
    write_ranked(out, iter(ranked), n=200)
    meta = pq.ParquetFile(out).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == expected
    assert len(expected) > 5
    assert pq.read_table(out).to_pylist() == by_rank
    monkeypatch.setattr(writers, "PARQUET_GROUP_BYTES", 1 << 30)
    monkeypatch.setattr(writers, "PARQUET_GROUP_ROWS", 64)
    write_ranked(out, iter(ranked), n=200)
    meta = pq.ParquetFile(out).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [64, 64, 64, 8]
    assert pq.read_table(out).to_pylist() == by_rank


def test_spill_reads_records_back_by_position(tmp_path, mbpp_records):
    lines = [json.dumps(r).encode() for r in mbpp_records[:300]]
    lines[17] = b"x" * (3 << 20)  # larger than one read run
    keys = list(range(len(lines)))
    random.Random(3).shuffle(keys)
    keys[:50] = sorted(keys[:50])  # some neighbours on disk too, read as runs
    spill = _Spill(tmp_path / "s.jsonl", len(lines))
    try:
        assert spill.path.parent == tmp_path and spill.path.name.startswith(".s.jsonl.spill-")
        for key in keys:
            spill.add(key, lines[key])
        assert [bytes(r) for r in spill.records()] == lines
        assert spill.offsets.dtype == spill.lengths.dtype == np.int64
    finally:
        spill.cleanup()
    assert _entries(tmp_path) == []


@pytest.fixture(scope="module")
def lean_lines():
    """Whole .lean files as JSON lines of 10-40 KB."""
    with gzip.open(LEAN_BATTERIES, "rt", encoding="utf-8") as fh:
        return [line for line in fh if 10_000 <= len(line) <= 40_000]


def _traced_peak(out, lines, k, order):
    ranks = list(range(1, k + 1))
    random.Random(k).shuffle(ranks)

    def items():
        for i, rank in enumerate(ranks):
            # parsed on the fly, as the reader does: each record is new memory that the writer may keep or drop
            yield rank, {**json.loads(lines[i % len(lines)]), "zipfit_rank": rank}

    tracemalloc.start()
    try:
        write_ranked(out, items(), n=k, order=order)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("suffix", "order"), [(".jsonl", "rank"), (".jsonl.zst", "input"), (".parquet", "rank")])
def test_write_ranked_memory_does_not_grow_with_k(tmp_path, monkeypatch, lean_lines, suffix, order):
    monkeypatch.setattr(writers, "PARQUET_GROUP_BYTES", 1 << 20)  # 2,000 records then make many row groups
    _traced_peak(tmp_path / f"warm{suffix}", lean_lines, 20, order)  # one-time allocations out of the way
    small = _traced_peak(tmp_path / f"small{suffix}", lean_lines, 200, order)
    big = _traced_peak(tmp_path / f"big{suffix}", lean_lines, 2000, order)
    total = sum(len(lean_lines[i % len(lean_lines)]) for i in range(2000))
    assert total > 25_000_000
    assert big / small < 2, (small, big)  # holding records by count gives ~10
    assert big < total / 4, (big, total)
    if suffix == ".parquet":
        assert pq.ParquetFile(tmp_path / "big.parquet").metadata.num_rows == 2000
    else:
        assert len(_read_lines(tmp_path / f"big{suffix}")) == 2000


def _refuse_constant(name):
    raise AssertionError(f"{name} in output")


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
@pytest.mark.parametrize("order", ["rank", "input"])
def test_write_ranked_writes_nan_and_infinity_as_null_with_one_warning(
    tmp_path, mbpp_records, zipfit_warnings, suffix, order
):
    # a Parquet float column holds nan/inf; Python's json reads NaN from a JSON Lines input
    from_parquet = pa.Table.from_pylist([{"score": math.nan}, {"score": -math.inf}]).to_pylist()
    from_jsonl = json.loads('{"a": NaN, "b": [1.5, Infinity], "c": {"d": -Infinity}}')
    records = [dict(r) for r in mbpp_records[:4]]
    records[0].update(from_parquet[0])
    records[1].update(from_parquet[1], n=np.float32("nan"), arr=np.array([0.25, np.inf]))
    records[3].update(from_jsonl)
    out = tmp_path / f"nan{suffix}"
    write_ranked(out, iter([(4, records[0]), (1, records[1]), (3, records[2]), (2, records[3])]), n=4, order=order)
    opener = gzip.open if suffix.endswith(".gz") else open
    with opener(out, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line, parse_constant=_refuse_constant) for line in fh]
    by_text = {r["text"]: r for r in rows}
    assert by_text[records[0]["text"]]["score"] is None
    assert by_text[records[1]["text"]]["score"] is None
    assert by_text[records[1]["text"]]["n"] is None
    assert by_text[records[1]["text"]]["arr"] == [0.25, None]
    assert by_text[records[2]["text"]] == records[2]
    assert {k: by_text[records[3]["text"]][k] for k in "abc"} == {"a": None, "b": [1.5, None], "c": {"d": None}}
    assert zipfit_warnings == [f"{out}: wrote 7 NaN/Infinity value(s) as null, since JSON has no such numbers"]


def test_table_writer_jsonl_writes_nan_as_null_with_one_warning(tmp_path, zipfit_warnings):
    out = tmp_path / "scores.jsonl"
    write_table(out, {"index": np.arange(3), "score": np.array([0.5, np.nan, np.nan])})
    rows = [json.loads(line, parse_constant=_refuse_constant) for line in out.read_text().splitlines()]
    assert [r["score"] for r in rows] == [0.5, None, None]
    assert zipfit_warnings == [f"{out}: wrote 2 NaN/Infinity value(s) as null, since JSON has no such numbers"]


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"meta": {}}, "field 'meta' only ever holds an empty object {}, which Parquet cannot store"),
        (
            {"meta": {"source": {}}},
            "field 'meta.source' only ever holds an empty object {}, which Parquet cannot store",
        ),
        ({"meta": [{}]}, "field 'meta[]' only ever holds an empty object {}, which Parquet cannot store"),
        ({"big": 2**64}, "field 'big' holds an integer outside the signed 64-bit range"),
    ],
)
@pytest.mark.parametrize("order", ["rank", "input"])
def test_write_ranked_parquet_unstorable_values_are_a_one_line_user_error(
    tmp_path, mbpp_records, extra, problem, order
):
    items = [(i, {**rec, "zipfit_rank": i}) for i, rec in enumerate(mbpp_records[:5], 1)]
    items[2][1].update(extra)
    out = tmp_path / "o.parquet"
    with pytest.raises(ZipfitError) as err:
        write_ranked(out, iter(items), n=5, order=order)
    assert str(err.value) == f"cannot write {out} as Parquet: {problem}; write .jsonl instead"
    assert _entries(tmp_path) == []
    write_ranked(tmp_path / "o.jsonl", iter(items), n=5, order=order)  # the suggested way out works
    assert _read_lines(tmp_path / "o.jsonl")[2] == items[2][1]


def test_write_ranked_parquet_with_given_schema_reports_unstorable_values(tmp_path):
    schema = pa.schema([("text", pa.string()), ("n", pa.int64())])
    out = tmp_path / "o.parquet"
    with pytest.raises(ZipfitError, match=r"field 'n' holds an integer outside the signed 64-bit range; write \.jsonl"):
        write_ranked(out, iter([(1, {"text": "a", "n": 2**64})]), n=1, schema=schema)
    with pytest.raises(ZipfitError, match=r"field 'n': .*; write \.jsonl instead$"):
        write_ranked(out, iter([(1, {"text": "a", "n": "seven"})]), n=1, schema=schema)
    empty = pa.schema([("text", pa.string()), ("meta", pa.struct([]))])
    with pytest.raises(ZipfitError, match=r"field 'meta' only ever holds an empty object"):
        write_ranked(out, iter([(1, {"text": "a", "meta": {}})]), n=1, schema=empty)
    assert _entries(tmp_path) == []


# ---- write_table ------------------------------------------------------------------------------------------


def _score_columns(n):
    rng = np.random.default_rng(0)
    return {
        "index": np.arange(n, dtype=np.int64),
        "id": [f"doc-{i}" for i in range(n)],
        "score": rng.random(n),
        "n_chars": rng.integers(1, 10_000, n),
        "n_tokens": rng.integers(1, 2_000, n),
    }


def test_write_table_parquet_round_trip(tmp_path):
    cols = _score_columns(1000)
    out = tmp_path / "scores.parquet"
    write_table(out, cols)
    table = pq.read_table(out)
    assert table.column_names == ["index", "id", "score", "n_chars", "n_tokens"]
    assert table.schema.field("index").type == pa.int64()
    assert table.schema.field("score").type == pa.float64()
    np.testing.assert_array_equal(table.column("score").to_numpy(), cols["score"])
    assert table.column("id").to_pylist() == cols["id"]


def test_write_table_jsonl_round_trip_across_chunks(tmp_path):
    n = 70_000  # more than one 65,536-row chunk
    cols = _score_columns(n)
    out = tmp_path / "scores.jsonl"
    write_table(out, cols)
    rows = _read_lines(out)
    assert len(rows) == n
    assert rows[0] == {k: (v[0].item() if isinstance(v, np.ndarray) else v[0]) for k, v in cols.items()}
    assert [r["score"] for r in rows] == cols["score"].tolist()  # floats survive exactly
    assert rows[-1]["id"] == f"doc-{n - 1}"


def test_write_table_csv_round_trip(tmp_path):
    cols = _score_columns(300)
    cols["note"] = ['has, comma and "quotes"'] + [None] * 299
    out = tmp_path / "scores.csv"
    write_table(out, cols)
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["index", "id", "score", "n_chars", "n_tokens", "note"]
    assert len(rows) == 301
    assert [float(r[2]) for r in rows[1:]] == cols["score"].tolist()
    assert rows[1][5] == 'has, comma and "quotes"'
    assert rows[2][5] == ""


def test_write_table_rejects_unequal_columns_and_bad_suffix(tmp_path):
    with pytest.raises((ValueError, pa.ArrowInvalid)):
        write_table(tmp_path / "t.parquet", {"a": np.arange(3), "b": np.arange(4)})
    with pytest.raises(ValueError, match="tables can be written as"):
        write_table(tmp_path / "t.txt", {"a": [1]})
    assert _entries(tmp_path) == []


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv"])
def test_table_writer_streams_batches_into_fixed_row_groups(tmp_path, suffix):
    """Rows written in uneven batches give the same file as rows written at once."""
    schema = pa.schema([("index", pa.int64()), ("id", pa.string()), ("score", pa.float64())])
    n = 1000
    rows = {"index": np.arange(n), "id": [f"d{i}" for i in range(n)], "score": np.linspace(0, 1, n)}
    once, streamed = tmp_path / f"once{suffix}", tmp_path / f"streamed{suffix}"
    with TableWriter(once, schema, chunk_rows=128) as w:
        w.write(rows)
    with TableWriter(streamed, schema, chunk_rows=128) as w:
        for start, stop in [(0, 1), (1, 64), (64, 300), (300, 301), (301, 1000)]:
            w.write({k: v[start:stop] for k, v in rows.items()})
        assert w.rows == n
    assert once.read_bytes() == streamed.read_bytes()
    if suffix == ".parquet":
        meta = pq.ParquetFile(streamed).metadata
        assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [128] * 7 + [104]
        assert pq.read_table(streamed).column("id").to_pylist() == rows["id"]


def test_table_writer_leaves_nothing_on_error(tmp_path):
    schema = pa.schema([("a", pa.int64())])
    with pytest.raises(RuntimeError), TableWriter(tmp_path / "t.parquet", schema) as w:
        w.write({"a": [1, 2]})
        raise RuntimeError("interrupted")
    assert _entries(tmp_path) == []
