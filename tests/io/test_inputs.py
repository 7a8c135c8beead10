"""Resolving what the user typed into input files; every mistake is a one-line ZipfitError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from io_data import HUMANEVAL, MBPP, write_jsonl

from zipfit.errors import CorruptFileError, ZipfitError
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


# ---- a save_to_disk directory's state.json is data: it may name only files inside the directory ------------


def _hf_dataset(directory: Path, records: list[dict]) -> Path:
    import datasets

    datasets.Dataset.from_list(records).save_to_disk(str(directory))
    return directory


def _set_data_files(directory: Path, names: list) -> None:
    state_path = directory / "state.json"
    state = json.loads(state_path.read_text(encoding="utf-8"))
    state["_data_files"] = [{"filename": n} for n in names]
    state_path.write_text(json.dumps(state), encoding="utf-8")


@pytest.fixture
def public_and_private(tmp_path, mbpp_records) -> tuple[Path, Path]:
    """A dataset directory ("public", MBPP's first 5 records) and an Arrow file outside it ("private")."""
    public = _hf_dataset(tmp_path / "public", mbpp_records[:5])
    private = _hf_dataset(tmp_path / "private", mbpp_records[5:10]) / "data-00000-of-00001.arrow"
    return public, private


def _entry_error(directory: Path, entry: str) -> str:
    with pytest.raises(CorruptFileError) as err:
        list(Corpus([directory]).documents())
    message = _one_line(err)
    assert message.startswith(f"{directory}: state.json lists data file {entry!r}")
    return message


@pytest.mark.parametrize("how", ["dotdot", "absolute", "dotdot_inside", "backslash"])
def test_state_json_cannot_name_a_file_outside_the_dataset(public_and_private, how):
    public, private = public_and_private
    entry = {"dotdot": "../private/data-00000-of-00001.arrow", "absolute": str(private),
             "dotdot_inside": "sub/../../private/data-00000-of-00001.arrow",
             "backslash": "..\\private\\data-00000-of-00001.arrow"}[how]
    _set_data_files(public, [entry])
    # was: the private records were read as the dataset's (and an absolute path crashed in input_sha256)
    message = _entry_error(public, entry)
    assert "which is not a relative path inside the dataset directory" in message


def test_state_json_cannot_reach_outside_through_a_symlink(public_and_private):
    public, private = public_and_private
    (public / "link.arrow").symlink_to(private)
    _set_data_files(public, ["link.arrow"])
    message = _entry_error(public, "link.arrow")
    assert f"which leads outside the dataset directory (to {private})" in message
    (public / "sub").symlink_to(private.parent, target_is_directory=True)
    _set_data_files(public, ["sub/data-00000-of-00001.arrow"])
    _entry_error(public, "sub/data-00000-of-00001.arrow")


def test_a_symlink_inside_the_dataset_to_its_own_file_is_read(public_and_private, mbpp_records):
    public, _ = public_and_private
    (public / "alias.arrow").symlink_to("data-00000-of-00001.arrow")
    _set_data_files(public, ["alias.arrow"])
    assert [d.text for d in Corpus([public]).documents()] == [r["text"] for r in mbpp_records[:5]]


@pytest.mark.parametrize(("state", "fragment"), [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[]", 'no list of data files ("_data_files")'),
    (b'{"_fingerprint": "x"}', 'no list of data files ("_data_files")'),
    (b'{"_data_files": "data-00000-of-00001.arrow"}', 'no list of data files ("_data_files")'),
    (b'{"_data_files": [null]}', 'data file entry None has no "filename" string'),
    (b'{"_data_files": [{"file": "x"}]}', "data file entry {'file': 'x'} has no \"filename\" string"),
    (b'{"_data_files": [{"filename": 5}]}', "data file entry {'filename': 5} has no \"filename\" string"),
    (b'{"_data_files": [{"filename": ["a", "b"]}]}', "has no \"filename\" string"),
])
def test_a_malformed_state_json_is_one_line(public_and_private, state, fragment):
    public, _ = public_and_private
    (public / "state.json").write_bytes(state)
    with pytest.raises(CorruptFileError) as err:
        Corpus([public])
    message = _one_line(err)
    assert message.startswith(f"{public / 'state.json'}: ")
    assert fragment in message


def test_a_data_file_state_json_lists_must_exist(public_and_private):
    public, _ = public_and_private
    _set_data_files(public, ["data-00000-of-00001.arrow", "data-00001-of-00002.arrow"])
    with pytest.raises(CorruptFileError) as err:
        Corpus([public])
    assert _one_line(err) == f"{public}: state.json lists data file 'data-00001-of-00002.arrow' but it is missing"


def test_the_cli_reports_a_hostile_state_json_in_one_line_with_exit_code_3(public_and_private, capsys):
    from zipfit.cli import main

    public, _ = public_and_private
    _set_data_files(public, ["../private/data-00000-of-00001.arrow"])
    out = public.parent / "scores"
    assert main(["score", str(public), "--target", str(MBPP), "--out", str(out), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert err.splitlines() == [f"zipfit: error: {public}: state.json lists data file "
                                "'../private/data-00000-of-00001.arrow', which is not a relative path inside the "
                                "dataset directory; refusing to read it"]
    assert not out.exists()
