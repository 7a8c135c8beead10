"""Corpus on real data in every supported format, and on broken input."""

from __future__ import annotations

import gzip
import json
import os

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from io_data import HUMANEVAL, MBPP, PROOFNET, PROOFNET_TEMPLATE, write_jsonl

from zipfit.errors import ZipfitError
from zipfit.io import Corpus, Document, TextSpec, file_sha256

PROOFNET_VALID = TextSpec(template=PROOFNET_TEMPLATE, where=(("split", "valid"),))


def _triples(corpus: Corpus) -> list[tuple[int, str, int]]:
    return [(d.index, d.text, d.row) for d in corpus.documents()]


# ---- real data, JSON Lines ------------------------------------------------------------------------------


def test_mbpp_text_and_code_fields(mbpp_records):
    docs = list(Corpus([MBPP]).documents())
    assert len(docs) == len(mbpp_records) == 974
    assert [d.text for d in docs] == [r["text"] for r in mbpp_records]
    assert [d.index for d in docs] == list(range(974))
    assert [d.row for d in docs] == list(range(1, 975))
    assert {d.file for d in docs} == {0}
    assert all(d.record is None for d in docs)
    code = Corpus([MBPP], TextSpec(field="code"))
    assert [d.text for d in code.documents()] == [r["code"] for r in mbpp_records]
    assert code.n_records == 974
    assert code.exclusions.total == 0
    assert code.exclusions.summary("source") == ""


def test_records_true_gives_the_original_records(mbpp_records):
    docs = list(Corpus([MBPP]).documents(records=True))
    assert [d.record for d in docs] == mbpp_records


def test_humaneval_gzip_with_template():
    with gzip.open(HUMANEVAL, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    corpus = Corpus([HUMANEVAL], TextSpec(template="{prompt}{canonical_solution}"))
    assert corpus.files[0].format == "jsonl.gz"
    docs = list(corpus.documents())
    assert len(docs) == 164
    assert [d.text for d in docs] == [r["prompt"] + r["canonical_solution"] for r in records]


def test_proofnet_where_split(proofnet_records):
    valid = Corpus([PROOFNET], PROOFNET_VALID, role="target")
    docs = list(valid.documents())
    assert len(docs) == 185
    expected = [r for r in proofnet_records if r["split"] == "valid"]
    assert [d.text for d in docs] == [f"{r['nl_statement']}\n{r['formal_statement']}" for r in expected]
    assert [d.index for d in docs] == list(range(185))
    assert valid.n_records == 371
    assert valid.exclusions.total == 0
    assert valid.exclusions.counts() == {"filtered": 186}
    assert valid.exclusions.summary("target") == "filtered out 186 of 371 target records by --where"
    test = Corpus([PROOFNET], TextSpec(template=PROOFNET_TEMPLATE, where=(("split", "test"),)))
    assert sum(1 for _ in test.documents()) == 186


NON_STRING_RECORDS = [
    {"q": "one", "a": "1"},  # row 1: the one eligible record
    {"q": "two", "a": 2},  # 2: int
    {"q": "half", "a": 0.5},  # 3: float
    {"q": "nan", "a": float("nan")},  # 4: NaN (json.dumps writes NaN, json.loads reads it back as a float)
    {"q": "dict", "a": {"x": 1}},  # 5
    {"q": "list", "a": ["x"]},  # 6
    {"q": "bool", "a": True},  # 7
    {"q": "null", "a": None},  # 8: a null is a missing field, as with --text-field
    {"q": 3, "a": "3"},  # 9: the first non-string field is named
]
NON_STRING_DETAILS = ["a: int", "a: float", "a: float", "a: dict", "a: list"]  # the first five examples


def _check_non_string_template_fields(corpus: Corpus) -> None:
    assert [(d.text, d.row) for d in corpus.documents()] == [("one=1", 1)]
    ex = corpus.exclusions
    assert ex.counts() == {"missing_field": 1, "non_string_text": 7}
    by_reason = ex.as_dict()["by_reason"]
    assert by_reason["non_string_text"]["details"] == NON_STRING_DETAILS
    assert [e.rpartition(":")[2] for e in ex.examples("non_string_text")] == ["2", "3", "4", "5", "6"]
    assert by_reason["missing_field"] == {"count": 1, "examples": [f"{corpus.files[0].path}:8"], "details": ["a"]}


def test_template_fields_must_be_strings_like_the_text_field(tmp_path):
    # these were formatted with str(): "two=2", "nan=nan", "dict={'x': 1}", "bool=True" were scored as text
    path = write_jsonl(tmp_path / "n.jsonl", NON_STRING_RECORDS)
    corpus = Corpus([path], TextSpec(template="{q}={a}"))
    _check_non_string_template_fields(corpus)
    ninth = Corpus([write_jsonl(tmp_path / "q.jsonl", NON_STRING_RECORDS[8:])], TextSpec(template="{q}={a}"))
    assert list(ninth.documents()) == []
    assert ninth.exclusions.as_dict()["by_reason"]["non_string_text"]["details"] == ["q: int"]
    # the --text-field path gives the same reason for the same values
    field = Corpus([path], TextSpec(field="a"))
    assert [d.text for d in field.documents()] == ["1", "3"]
    assert field.exclusions.counts() == {"missing_field": 1, "non_string_text": 6}


def test_template_over_mbpp_lists_and_ids_excludes_every_record(mbpp_records):
    # MBPP's test_list is a list and task_id an int: a template over them used to score their str() forms
    for template, detail in [("{text}\n{test_list}", "test_list: list"), ("{task_id}: {text}", "task_id: int")]:
        corpus = Corpus([MBPP], TextSpec(template=template))
        assert list(corpus.documents()) == []
        assert corpus.exclusions.counts() == {"non_string_text": len(mbpp_records)}
        assert corpus.exclusions.as_dict()["by_reason"]["non_string_text"]["details"] == [detail] * 5
    assert len(list(Corpus([MBPP], TextSpec(template="{text}\n{code}")).documents())) == len(mbpp_records)


def test_template_fields_must_be_strings_in_arrow_inputs_too(tmp_path):
    # Parquet and save_to_disk rows go through the same check: one column per type, as Arrow needs
    rows = [{"q": "one", "i": 1, "f": float("nan"), "s": {"x": 1}, "l": ["x"], "b": True, "t": "t", "n": None}]
    rows.append({"q": "two", "i": None, "f": None, "s": None, "l": None, "b": None, "t": "u", "n": "v"})
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "n.parquet")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "hf"))
    for source in (tmp_path / "n.parquet", tmp_path / "hf"):
        for name, detail in [("i", "i: int"), ("f", "f: float"), ("s", "s: dict"), ("l", "l: list"),
                             ("b", "b: bool")]:
            corpus = Corpus([source], TextSpec(template="{q}:{" + name + "}"))
            assert list(corpus.documents()) == []
            assert corpus.exclusions.counts() == {"missing_field": 1, "non_string_text": 1}, (source, name)
            assert corpus.exclusions.as_dict()["by_reason"]["non_string_text"]["details"] == [detail]
        corpus = Corpus([source], TextSpec(template="{q}:{t}{n}"))
        assert [(d.text, d.row) for d in corpus.documents()] == [("two:uv", 2)]
        assert corpus.exclusions.counts() == {"missing_field": 1}


def test_where_on_numbers_compares_their_string_form(tmp_path):
    path = write_jsonl(tmp_path / "w.jsonl", [{"text": f"t{i}", "level": i % 3} for i in range(9)])
    corpus = Corpus([path], TextSpec(where=(("level", "1"),)))
    assert [d.text for d in corpus.documents()] == ["t1", "t4", "t7"]


# ---- real data, other formats give the same documents -------------------------------------------------


def test_zstd_multi_frame_gives_same_documents(tmp_path, mbpp_records):
    raw = MBPP.read_bytes()
    cut = raw.index(b"\n", len(raw) // 2) + 1
    cctx = zstandard.ZstdCompressor(level=3)
    path = tmp_path / "mbpp.jsonl.zst"
    path.write_bytes(cctx.compress(raw[:cut]) + cctx.compress(raw[cut:]))  # two concatenated frames
    corpus = Corpus([path], TextSpec(field="code"))
    assert corpus.files[0].format == "jsonl.zst"
    assert _triples(corpus) == _triples(Corpus([MBPP], TextSpec(field="code")))


def test_parquet_gives_same_documents_and_records(tmp_path, mbpp_records):
    path = tmp_path / "mbpp.parquet"
    pq.write_table(pa.Table.from_pylist(mbpp_records), path, row_group_size=100)
    corpus = Corpus([path])
    assert corpus.files[0].format == "parquet"
    assert _triples(corpus) == _triples(Corpus([MBPP]))
    docs = list(corpus.documents(records=True))
    assert [d.record for d in docs] == mbpp_records
    assert all(d.record is None for d in corpus.documents())


def test_parquet_missing_column_is_a_user_error_at_construction(tmp_path, mbpp_records):
    path = tmp_path / "mbpp.parquet"
    pq.write_table(pa.Table.from_pylist(mbpp_records), path)
    with pytest.raises(ZipfitError) as err:
        Corpus([path], TextSpec(field="content"))
    msg = str(err.value)
    assert msg.startswith(f"{path}: no field 'content' in source records (fields: text, code, task_id")
    assert "--text-field" in msg


def test_parquet_null_and_binary_values_are_excluded(tmp_path):
    table = pa.table({"text": pa.array(["ok", None, "  ", "fine"]), "n": [1, 2, 3, 4]})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    corpus = Corpus([path])
    assert _triples(corpus) == [(0, "ok", 1), (1, "fine", 4)]
    assert corpus.exclusions.counts() == {"empty_text": 1, "missing_field": 1}
    assert corpus.exclusions.as_dict()["by_reason"]["missing_field"]["examples"] == [f"{path}:2"]
    pq.write_table(pa.table({"text": pa.array([b"raw", b"bytes"])}), tmp_path / "b.parquet")
    binary = Corpus([tmp_path / "b.parquet"])
    assert list(binary.documents()) == []
    assert binary.exclusions.counts() == {"non_string_text": 2}


def test_hf_save_to_disk_gives_same_documents(tmp_path, proofnet_records):
    target = tmp_path / "proofnet_hf"
    datasets.Dataset.from_list(proofnet_records).save_to_disk(str(target), num_shards=3)
    corpus = Corpus([target], PROOFNET_VALID)
    (f,) = corpus.files
    assert f.format == "hf"
    assert f.size == sum(p.stat().st_size for p in target.iterdir() if p.is_file())
    assert _triples(corpus) == _triples(Corpus([PROOFNET], PROOFNET_VALID))
    assert corpus.exclusions.counts() == {"filtered": 186}
    assert [d.record for d in corpus.documents(records=True)][:3] == [
        r for r in proofnet_records if r["split"] == "valid"
    ][:3]
    with pytest.raises(ZipfitError, match="no field 'statement'"):
        Corpus([target], TextSpec(field="statement"))


def test_dataset_dict_directory_lists_its_splits(tmp_path, proofnet_records):
    ds = datasets.Dataset.from_list(proofnet_records[:10])
    datasets.DatasetDict({"train": ds, "validation": ds}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(ZipfitError) as err:
        Corpus([tmp_path / "dd"])
    msg = str(err.value)
    assert "DatasetDict" in msg
    assert "train, validation" in msg
    assert str(tmp_path / "dd" / "train") in msg
    assert "\n" not in msg
    assert len(list(Corpus([tmp_path / "dd" / "validation"], TextSpec(field="name")).documents())) == 10


def test_indices_continue_across_files_of_mixed_formats(tmp_path, mbpp_records):
    pq.write_table(pa.Table.from_pylist(mbpp_records[:50]), tmp_path / "a.parquet")
    datasets.Dataset.from_list(mbpp_records[50:80]).save_to_disk(str(tmp_path / "hf"))
    corpus = Corpus([tmp_path / "a.parquet", MBPP, tmp_path / "hf"])
    docs = list(corpus.documents())
    assert [d.index for d in docs] == list(range(50 + 974 + 30))
    assert [d.file for d in docs] == [0] * 50 + [1] * 974 + [2] * 30
    assert [d.row for d in docs[-30:]] == list(range(1, 31))
    assert [d.text for d in docs[-30:]] == [r["text"] for r in mbpp_records[50:80]]
    assert corpus.n_records == 1054


def test_arrow_schema_unifies_parquet_and_hf_inputs_only(tmp_path):
    pq.write_table(pa.table({"text": ["a"], "n": pa.array([1], pa.int32())}), tmp_path / "a.parquet")
    datasets.Dataset.from_list([{"text": "b", "n": 2.5, "extra": True}]).save_to_disk(str(tmp_path / "hf"))
    schema = Corpus([tmp_path / "a.parquet", tmp_path / "hf"]).arrow_schema()
    assert schema is not None
    assert schema.names == ["text", "n", "extra"]
    assert schema.field("n").type == pa.float64()
    assert not schema.metadata
    assert Corpus([tmp_path / "a.parquet", MBPP]).arrow_schema() is None


# ---- broken input -----------------------------------------------------------------------------------------

BAD_LINES = [
    b'{"text": "first good", "id": 1}',  # 1 -> doc 0
    b"",  # 2 blank_line
    b'{"text": "unterminated',  # 3 malformed_json
    b'{"text": "caf\xe9"}',  # 4 invalid_utf8 (latin-1 byte)
    b"[1, 2, 3]",  # 5 not_an_object
    b'{"id": 6}',  # 6 missing_field
    b'{"text": null}',  # 7 missing_field
    b'{"text": 42}',  # 8 non_string_text
    b'{"text": " \\n\\t "}',  # 9 empty_text
    b"   \t",  # 10 blank_line
    b'{"text": "second good"}',  # 11 -> doc 1
    b'{"text": "lone \\ud800 surrogate"}',  # 12 invalid_utf8 (would not encode)
    b'"just a string"',  # 13 not_an_object
    b'{"text": "third good"}',  # 14 -> doc 2
]


def test_bad_lines_are_counted_by_reason_with_rows(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(BAD_LINES) + b"\n")
    corpus = Corpus([path])
    docs = list(corpus.documents())
    assert [(d.index, d.text, d.row) for d in docs] == [
        (0, "first good", 1),
        (1, "second good", 11),
        (2, "third good", 14),
    ]
    ex = corpus.exclusions
    assert ex.counts() == {
        "blank_line": 2,
        "empty_text": 1,
        "invalid_utf8": 2,
        "malformed_json": 1,
        "missing_field": 2,
        "non_string_text": 1,
        "not_an_object": 2,
    }
    assert ex.total == 11
    assert corpus.n_records == 14
    by_reason = ex.as_dict()["by_reason"]
    assert by_reason["blank_line"]["examples"] == [f"{path}:2", f"{path}:10"]
    assert by_reason["missing_field"]["examples"] == [f"{path}:6", f"{path}:7"]
    assert by_reason["invalid_utf8"]["examples"] == [f"{path}:4", f"{path}:12"]
    assert by_reason["not_an_object"]["details"] == ["list", "str"]
    summary = ex.summary("source")
    assert summary.startswith("excluded 11 of 14 source records: 2 blank_line (bad.jsonl:2, bad.jsonl:10)")
    assert "1 malformed_json (bad.jsonl:3)" in summary


def test_two_iterations_are_identical_and_exclusions_reset(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(BAD_LINES) + b"\n")
    corpus = Corpus([path, MBPP])
    first = list(corpus.documents())
    first_ex = corpus.exclusions.as_dict()
    second = list(corpus.documents())
    assert first == second
    assert corpus.exclusions.as_dict() == first_ex
    assert corpus.exclusions.total == 11
    assert corpus.n_records == 14 + 974


def test_missing_field_on_first_record_lists_fields(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_bytes(b"\nnot json\n" + json.dumps({"question": "q", "answer": "a"}).encode() + b"\n")
    with pytest.raises(ZipfitError) as err:
        Corpus([path])
    assert str(err.value) == (
        f"{path}: no field 'text' in source records (fields: question, answer); "
        "choose one with --text-field or --template"
    )


def test_missing_template_or_where_field_on_first_record(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(ZipfitError, match=r"no field 'solution' .* used by --target-template"):
        Corpus([path], TextSpec(template="{question}{solution}"), role="target")
    with pytest.raises(ZipfitError, match=r"no field 'split' in target records .*--target-where"):
        Corpus([path], TextSpec(field="question", where=(("split", "valid"),)), role="target")


def test_where_field_missing_later_is_counted(tmp_path):
    path = write_jsonl(tmp_path / "w.jsonl", [{"text": "a", "split": "x"}, {"text": "b"}, {"text": "c", "split": "y"}])
    corpus = Corpus([path], TextSpec(where=(("split", "x"),)))
    assert [d.text for d in corpus.documents()] == ["a"]
    assert corpus.exclusions.counts() == {"filtered": 1, "missing_field": 1}


def _gzip_mbpp() -> bytes:
    return gzip.compress(MBPP.read_bytes(), mtime=0)


def test_truncated_gzip_fails_after_yielding_what_it_could(tmp_path):
    data = _gzip_mbpp()
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    corpus = Corpus([path])
    docs = corpus.documents()
    assert next(docs).row == 1  # streaming: documents come before the damage is reached
    with pytest.raises(ZipfitError, match=r"cut\.jsonl\.gz: corrupt or truncated gz data after row (\d+)") as err:
        list(docs)
    row = int(str(err.value).rsplit(" ", 1)[1])
    assert 100 < row < 974


def test_corrupt_gzip_body_is_an_error_not_a_short_read(tmp_path):
    data = bytearray(_gzip_mbpp())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(64)
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(ZipfitError, match="corrupt or truncated gz data after row"):
        list(Corpus([path]).documents())


def test_truncated_zstd_is_an_error(tmp_path):
    data = zstandard.ZstdCompressor().compress(MBPP.read_bytes())
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ZipfitError, match=r"cut\.jsonl\.zst: corrupt or truncated zst data after row \d+"):
        list(Corpus([path]).documents())


def test_not_gzip_at_all(tmp_path):
    path = tmp_path / "plain.jsonl.gz"
    path.write_bytes(MBPP.read_bytes())
    with pytest.raises(ZipfitError, match="corrupt or truncated gz data after row 0"):
        Corpus([path])


def test_corrupt_parquet_names_the_file(tmp_path):
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"PAR1" + os.urandom(500))
    with pytest.raises(ZipfitError, match=r"junk\.parquet: not a readable Parquet file"):
        Corpus([path])


def test_bom_on_first_line_is_tolerated(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "a"}\r\n{"text": "b"}\r\n')
    assert [d.text for d in Corpus([path]).documents()] == ["a", "b"]


# ---- inputs are only read, and their identity is recorded ---------------------------------------------------


def test_inputs_unchanged_and_described(tmp_path, mbpp_records):
    pq.write_table(pa.Table.from_pylist(mbpp_records[:20]), tmp_path / "a.parquet")
    datasets.Dataset.from_list(mbpp_records[:5]).save_to_disk(str(tmp_path / "hf"))
    paths = [MBPP, HUMANEVAL, tmp_path / "a.parquet"]
    before = [file_sha256(p) for p in paths]
    stats_before = [p.stat().st_mtime_ns for p in paths]
    corpus = Corpus([MBPP, tmp_path / "a.parquet", tmp_path / "hf"])
    list(corpus.documents(records=True))
    list(Corpus([HUMANEVAL], TextSpec(template="{prompt}")).documents())
    corpus.check_unchanged()
    assert [file_sha256(p) for p in paths] == before
    assert [p.stat().st_mtime_ns for p in paths] == stats_before
    described = corpus.describe()
    assert [d["format"] for d in described] == ["jsonl", "parquet", "hf"]
    assert described[0] == {"path": str(MBPP), "format": "jsonl", "bytes": MBPP.stat().st_size, "sha256": before[0]}
    assert described[1]["sha256"] == before[2]
    assert len(described[2]["sha256"]) == 64
    assert corpus.describe() == described


def test_hf_digest_changes_with_content(tmp_path, mbpp_records):
    datasets.Dataset.from_list(mbpp_records[:5]).save_to_disk(str(tmp_path / "a"))
    datasets.Dataset.from_list(mbpp_records[:5]).save_to_disk(str(tmp_path / "b"))
    datasets.Dataset.from_list(mbpp_records[1:6]).save_to_disk(str(tmp_path / "c"))
    digest = [Corpus([tmp_path / x]).describe()[0]["sha256"] for x in "abc"]
    assert digest[0] == digest[1] != digest[2]


def test_check_unchanged_detects_a_modified_input(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": "a"}])
    corpus = Corpus([path])
    corpus.check_unchanged()
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"text": "b"}\n')
    with pytest.raises(ZipfitError, match=r"a\.jsonl changed while zipfit was reading it"):
        corpus.check_unchanged()
    path.unlink()
    with pytest.raises(ZipfitError, match="changed while zipfit was reading it"):
        corpus.check_unchanged()


def test_document_is_frozen():
    doc = Document(0, "t", 0, 1, None)
    with pytest.raises(AttributeError):
        doc.text = "u"  # type: ignore[misc]


def test_total_rows_counts_every_record_once_from_metadata_or_a_fast_read(tmp_path, mbpp_records):
    parquet = tmp_path / "m.parquet"
    pq.write_table(pa.Table.from_pylist(mbpp_records), parquet)
    corpus = Corpus([parquet, MBPP], TextSpec(field="text"))
    assert not corpus.rows_counted
    assert corpus.total_rows() == 2 * 974
    list(corpus.documents())
    assert corpus.n_records == 2 * 974 and corpus.rows_counted
