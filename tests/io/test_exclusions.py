from __future__ import annotations

import pytest

from zipfit.io import Exclusions


def test_counts_examples_and_total_exclude_filtered():
    ex = Exclusions()
    for row in range(1, 8):
        ex.add("malformed_json", "dir/a.jsonl", row, "Expecting value")
    ex.add("empty_text", "b.parquet", 17)
    ex.add("filtered", "a.jsonl", 20)
    ex.add("filtered", "a.jsonl", 21)
    assert ex.total == 8
    assert ex.counts() == {"empty_text": 1, "filtered": 2, "malformed_json": 7}
    assert list(ex.counts()) == sorted(ex.counts())
    d = ex.as_dict()
    assert d["total"] == 8
    assert d["filtered"] == 2
    assert d["by_reason"]["malformed_json"]["count"] == 7
    assert d["by_reason"]["malformed_json"]["examples"] == [f"dir/a.jsonl:{r}" for r in range(1, 6)]
    assert d["by_reason"]["malformed_json"]["details"] == ["Expecting value"] * 5
    assert "details" not in d["by_reason"]["empty_text"]
    assert d["by_reason"]["empty_text"]["examples"] == ["b.parquet:17"]


def test_summary_is_one_line_with_counts_examples_and_filter_label():
    ex = Exclusions()
    ex.n_records = 1203
    ex.add("malformed_json", "data/a.jsonl", 5)
    ex.add("malformed_json", "data/a.jsonl", 9)
    ex.add("empty_text", "data/b.parquet", 17)
    assert ex.summary("source") == (
        "excluded 3 of 1,203 source records: 2 malformed_json (a.jsonl:5, a.jsonl:9), 1 empty_text (b.parquet:17)"
    )
    ex.add("filtered", "data/a.jsonl", 11)
    assert ex.summary("source").endswith("; 1 filtered out by --where")


def test_summary_with_only_filtered_records_says_so():
    ex = Exclusions()
    ex.n_records = 371
    for row in range(186):
        ex.add("filtered", "p.jsonl", row + 1)
    assert ex.total == 0
    assert ex.summary("target") == "filtered out 186 of 371 target records by --where"


def test_summary_is_empty_when_nothing_was_left_out():
    assert Exclusions().summary("source") == ""
    assert Exclusions().as_dict() == {"total": 0, "by_reason": {}, "filtered": 0}


def test_unknown_reason_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown exclusion reason"):
        Exclusions().add("Bad vibes", "a.jsonl", 1)  # a filter's own reason must be a snake_case name
