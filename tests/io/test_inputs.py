"""Resolving what the user typed into input files; every mistake is a one-line ZipfitError."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from io_data import HUMANEVAL, MBPP, write_jsonl

from zipfit.errors import ZipfitError
from zipfit.io import Corpus, TextSpec
from zipfit.io.inputs import resolve_inputs


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_formats_are_detected_by_suffix(tmp_path):
    for name in ["a.jsonl", "b.json", "c.jsonl.gz", "d.JSON.GZ", "e.jsonl.zst", "f.json.zst", "g.parquet"]:
        (tmp_path / name).write_bytes(b"")
    files = resolve_inputs([str(tmp_path / "*")])
    assert [(f.path.name, f.format) for f in files] == [
        ("a.jsonl", "jsonl"),
        ("b.json", "jsonl"),
        ("c.jsonl.gz", "jsonl.gz"),
        ("d.JSON.GZ", "jsonl.gz"),
        ("e.jsonl.zst", "jsonl.zst"),
        ("f.json.zst", "jsonl.zst"),
        ("g.parquet", "parquet"),
    ]


def test_glob_matches_are_sorted_and_recursive_and_keep_input_order(tmp_path):
    (tmp_path / "sub" / "deep").mkdir(parents=True)
    for rel in ["b.jsonl", "a.jsonl", "sub/c.jsonl", "sub/deep/d.jsonl"]:
        write_jsonl(tmp_path / rel, [{"text": rel}])
    files = resolve_inputs([str(MBPP), str(tmp_path / "**" / "*.jsonl")])
    names = [f.path.relative_to(tmp_path).as_posix() for f in files[1:]]
    assert files[0].path == MBPP
    assert names == sorted(names) == ["a.jsonl", "b.jsonl", "sub/c.jsonl", "sub/deep/d.jsonl"]
    texts = [d.text for d in Corpus([str(tmp_path / "**" / "*.jsonl")]).documents()]
    assert texts == ["a.jsonl", "b.jsonl", "sub/c.jsonl", "sub/deep/d.jsonl"]


def test_size_and_mtime_are_recorded():
    (f,) = resolve_inputs([MBPP])
    st = MBPP.stat()
    assert (f.size, f.mtime_ns) == (st.st_size, st.st_mtime_ns)


def test_missing_file(tmp_path):
    with pytest.raises(ZipfitError) as err:
        Corpus([tmp_path / "nope.jsonl"])
    assert _one_line(err) == f"no such file: {tmp_path / 'nope.jsonl'}"


def test_glob_matching_nothing_names_the_pattern(tmp_path):
    pattern = str(tmp_path / "*.parquet")
    with pytest.raises(ZipfitError) as err:
        Corpus([pattern])
    assert pattern in _one_line(err)


def test_unknown_suffix_lists_supported_ones(tmp_path):
    (tmp_path / "data.csv").write_text("text\nhello\n")
    with pytest.raises(ZipfitError) as err:
        Corpus([tmp_path / "data.csv"])
    msg = _one_line(err)
    assert "data.csv" in msg
    for suffix in [".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst", ".parquet"]:
        assert suffix in msg


def test_duplicate_input_is_refused_even_under_another_spelling(tmp_path):
    link = tmp_path / "link.jsonl"
    link.symlink_to(MBPP)
    with pytest.raises(ZipfitError, match="given twice"):
        Corpus([MBPP, link])
    with pytest.raises(ZipfitError, match="given twice"):
        Corpus([str(MBPP), str(MBPP.parent / ".." / "mbpp" / "mbpp.jsonl")])


def test_plain_directory_is_refused(tmp_path):
    shutil.copy(MBPP, tmp_path / "mbpp.jsonl")
    with pytest.raises(ZipfitError, match="not a dataset saved with save_to_disk") as err:
        Corpus([tmp_path])
    assert "*.jsonl" in _one_line(err)


def test_no_inputs():
    with pytest.raises(ZipfitError, match="no target inputs"):
        Corpus([], role="target")


def test_literal_path_with_glob_characters_is_used_as_is(tmp_path):
    odd = write_jsonl(tmp_path / "[v1].jsonl", [{"text": "x"}])
    assert [d.text for d in Corpus([str(odd)]).documents()] == ["x"]


def test_unreadable_file(tmp_path, monkeypatch):
    """chmod cannot stop root (tests and CI run as root), so the OS refusal is simulated at open()."""
    path = tmp_path / "secret.jsonl.gz"
    shutil.copy(HUMANEVAL, path)
    real_open = open

    def refusing_open(file, *args, **kwargs):
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refusing_open)
    with pytest.raises(ZipfitError, match="permission denied"):
        Corpus([path], TextSpec(template="{prompt}"))
