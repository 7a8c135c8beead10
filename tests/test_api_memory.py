"""In-memory inputs and outputs (lists, DataFrames, Arrow tables, datasets) and plain files as documents (files:).

Every in-memory kind must select and score exactly what the same data read from a file does, without the private
temp file it is materialised to showing anywhere in the outputs.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from realdata import read_jsonl

import zipfit
from zipfit.errors import ZipfitError

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "examples" / "source_mix.jsonl.gz"
TARGET = ROOT / "examples" / "proofnet_valid.jsonl"
OPTIONS = {"k": 40, "target_template": "{nl_statement}\n{formal_statement}", "workers": 2, "overwrite": True}


@pytest.fixture(scope="module")
def records() -> list[dict]:
    with gzip.open(SOURCE, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def from_file(tmp_path_factory) -> tuple[bytes, zipfit.SelectionResult]:
    out = tmp_path_factory.mktemp("file") / "selected.jsonl"
    result = zipfit.select(SOURCE, TARGET, out=out, **OPTIONS)
    return out.read_bytes(), result


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch) -> Path:
    """zipfit's temp directories go here, so a test can see that none is left behind."""
    where = tmp_path / "system-tmp"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    yield where
    assert not list(where.glob("zipfit-memory-*")), "a call left its temp directory behind"


def _as(kind: str, records: list[dict]):
    if kind == "records":
        return records
    if kind == "pandas":
        import pandas as pd

        return pd.DataFrame(records)
    if kind == "arrow":
        return pa.Table.from_pylist(records)
    import datasets

    if kind == "dataset":
        return datasets.Dataset.from_list(records)
    return datasets.IterableDataset.from_generator(lambda: iter(records))  # streamed, nothing held


KINDS = ["records", "pandas", "arrow", "dataset", "iterable"]


def _no_temp_path(obj, private_tmp: Path) -> None:
    text = json.dumps(obj, default=str)
    assert str(private_tmp) not in text and "zipfit-memory-" not in text


@pytest.mark.parametrize("kind", KINDS)
def test_each_in_memory_kind_selects_what_the_file_does(tmp_path, records, from_file, kind, private_tmp):
    expected, file_result = from_file
    result = zipfit.select(_as(kind, records), TARGET, out=tmp_path / "selected.jsonl", **OPTIONS)
    assert (tmp_path / "selected.jsonl").read_bytes() == expected
    assert result.indices.tolist() == file_result.indices.tolist()
    assert result.scores.tolist() == file_result.scores.tolist()
    described = result.manifest["inputs"]["sources"]
    assert len(described) == 1 and described[0]["name"] == "memory:0"
    assert described[0]["path"].startswith("<in-memory ") and "600 rows" in described[0]["path"]
    assert len(described[0]["sha256"]) == 64
    _no_temp_path(result.manifest, private_tmp)

    # out=None: the same rows, in rank order, in memory
    again = zipfit.select(_as(kind, records), TARGET, **{**OPTIONS, "overwrite": False})
    assert again.out is None and again.manifest_path is None
    rows = [json.loads(line) for line in expected.decode().splitlines()]
    assert again.table.to_pylist() == rows
    if kind in ("dataset", "iterable"):
        assert again.dataset.to_list() == rows
    else:
        assert again.dataset is None
    assert again.manifest["output"]["path"].startswith("<in memory")
    _no_temp_path(again.manifest, private_tmp)


def test_score_in_memory_equals_score_of_the_file(tmp_path, records, private_tmp):
    import pandas as pd

    options = {"target_template": "{nl_statement}\n{formal_statement}", "workers": 2, "shard_rows": 256}
    on_disk = zipfit.score(SOURCE, TARGET, out=tmp_path / "scores", **options)
    in_memory = zipfit.score(pd.DataFrame(records), TARGET, out=tmp_path / "scores-memory", **options)
    assert in_memory.scores.tolist() == on_disk.scores.tolist()
    a, b = pq.read_table(tmp_path / "scores"), pq.read_table(tmp_path / "scores-memory")
    assert b.column("file").to_pylist() == ["memory:0"] * 600
    assert b.drop(["file"]).equals(a.drop(["file"]))
    _no_temp_path(in_memory.manifest, private_tmp)

    returned = zipfit.score(_as("dataset", records), TARGET, **options)
    assert returned.out is None
    assert returned.table.equals(b.replace_schema_metadata(None))
    assert returned.dataset.num_rows == 600

    # cutting from a score dataset of in-memory data: the same data again, checked by its sha256
    cut = zipfit.select(pd.DataFrame(records), scores=tmp_path / "scores-memory", k=40, out=tmp_path / "cut.jsonl")
    direct = zipfit.select(SOURCE, TARGET, k=40, out=tmp_path / "direct.jsonl", **options)
    assert (tmp_path / "cut.jsonl").read_bytes() == (tmp_path / "direct.jsonl").read_bytes()
    assert cut.indices.tolist() == direct.indices.tolist()
    with pytest.raises(ZipfitError, match="pass the same sources again"):
        zipfit.select(scores=tmp_path / "scores-memory", k=40, out=tmp_path / "cut2.jsonl")


def test_texts_as_a_list_of_strings_targets_and_exclusions(tmp_path, records, proofnet_valid, private_tmp):
    import pandas as pd

    texts = [r["text"] for r in records]
    plain = tmp_path / "texts.jsonl"
    plain.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    targets = proofnet_valid[:60]
    zipfit.select(plain, target_texts=targets, k=30, out=tmp_path / "a.jsonl", workers=2)
    # sources and target both lists of strings; a text field given for the source would be an error
    listed = zipfit.select(texts, targets, k=30, out=tmp_path / "b.jsonl", workers=2)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert listed.manifest["inputs"]["target"]["files"][0]["path"] == "<in-memory list of strings: 60 rows>"
    assert listed.manifest["inputs"]["target"]["files"][0]["name"] == "memory:1"
    with pytest.raises(ZipfitError, match="text_field: the source is a list of strings"):
        zipfit.select(texts, targets, k=30, out=tmp_path / "c.jsonl", text_field="text")

    # exclude= a DataFrame drops what the same file drops
    test_split = [r for r in read_jsonl(TARGET)][:40]
    exclude_file = tmp_path / "exclude.jsonl"
    exclude_file.write_text("".join(json.dumps(r) + "\n" for r in test_split), encoding="utf-8")
    options = {"k": 30, "target_template": "{nl_statement}\n{formal_statement}", "workers": 1}
    leaks = [{"id": "copy", "domain": "leak", "text": r["nl_statement"] + "\n" + r["formal_statement"]}
             for r in test_split[:5]]
    sources = records[:200] + leaks
    a = zipfit.select(sources, TARGET, out=tmp_path / "d.jsonl", exclude=exclude_file, **options)
    b = zipfit.select(sources, TARGET, out=tmp_path / "e.jsonl", exclude=pd.DataFrame(test_split), **options)
    assert (tmp_path / "d.jsonl").read_bytes() == (tmp_path / "e.jsonl").read_bytes()
    assert a.manifest["counts"]["source_contaminated"] == b.manifest["counts"]["source_contaminated"] >= 5
    dropped = b.manifest["decontamination"]["dropped"]
    assert all(e.startswith("memory:0:") for r in dropped["by_reason"].values() for e in r["examples"])
    assert b.manifest["decontamination"]["files"][0]["path"] == "<in-memory pandas.DataFrame: 40 rows>"
    _no_temp_path(b.manifest, private_tmp)


def test_mistakes_are_clear_errors(tmp_path, records):
    with pytest.raises(ZipfitError, match="a single string is read as a path, never as a text"):
        zipfit.select("theorem foo : 1 + 1 = 2 := by norm_num", TARGET, k=5, out=tmp_path / "a.jsonl")
    with pytest.raises(ZipfitError, match="no such file"):
        zipfit.select("missing.jsonl", TARGET, k=5, out=tmp_path / "a.jsonl")
    with pytest.raises(ZipfitError, match="mixes file names"):
        zipfit.select([str(SOURCE), "some text"], TARGET, k=5, out=tmp_path / "a.jsonl")
    with pytest.raises(ZipfitError, match="nothing to resume"):
        zipfit.select(records, TARGET, k=5, out=tmp_path / "a.jsonl", resume=True)
    with pytest.raises(ZipfitError, match="nothing to resume"):
        zipfit.score(SOURCE, TARGET, resume=True)
    with pytest.raises(ZipfitError, match="several splits"):
        import datasets

        zipfit.select(datasets.DatasetDict({"train": datasets.Dataset.from_list(records[:3])}), TARGET, k=1)
    # an error inside the run still removes the temp directory (checked by the fixture)
    with pytest.raises(ZipfitError, match="no field 'content'"):
        zipfit.select(records, TARGET, k=5, out=tmp_path / "a.jsonl", text_field="content")
    assert not (tmp_path / "a.jsonl").exists()


# ---- plain files as documents ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def code_tree(tmp_path_factory, data_dir) -> Path:
    """A small code base written from real stdlib functions, with a .git directory, a binary file and a file that
    is not UTF-8."""
    root = tmp_path_factory.mktemp("tree") / "repo"
    for i, rec in enumerate(read_jsonl(data_dir / "code" / "cpython311_stdlib_functions.jsonl.gz", 120)):
        path = root / f"pkg{i % 4}" / ("sub" if i % 3 == 0 else "") / f"mod_{i:03d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rec["code"], encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "pkg1" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    (root / "pkg2" / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    return root


def test_plain_files_as_documents(tmp_path, code_tree, data_dir, private_tmp):
    targets = [r["prompt"] + r["canonical_solution"] for r in read_jsonl(data_dir / "humaneval" / "HumanEval.jsonl.gz")]
    spec = f"files:{code_tree}"
    one = zipfit.select(spec, target_texts=targets, k=25, out=tmp_path / "w1.jsonl", workers=1,
                        scores_out=tmp_path / "scores", shard_rows=32)
    two = zipfit.select(spec, target_texts=targets, k=25, out=tmp_path / "w2.jsonl", workers=2, shard_rows=32)
    assert (tmp_path / "w1.jsonl").read_bytes() == (tmp_path / "w2.jsonl").read_bytes()
    assert one.indices.tolist() == two.indices.tolist()
    selected = [json.loads(line) for line in (tmp_path / "w1.jsonl").read_text().splitlines()]
    for rec in selected:
        assert rec["text"] == (code_tree / rec["id"]).read_text(encoding="utf-8")
        assert rec["id"].endswith(".py") and not rec["id"].startswith("/")

    source = one.manifest["inputs"]["sources"][0]
    assert source["path"] == spec and source["format"] == "files" and source["files"] == 122
    excluded = one.manifest["exclusions"]["source"]["by_reason"]["binary_file"]
    assert excluded["count"] == 2
    assert sorted(d.split(":")[0] for d in excluded["details"]) == ["pkg1/logo.png", "pkg2/latin1.txt"]
    assert all(e.startswith(spec + ":") for e in excluded["examples"])
    assert one.manifest["counts"]["source_records"] == 122 and one.manifest["counts"]["source_eligible"] == 120

    scores = pq.read_table(tmp_path / "scores")
    assert set(scores.column("file").to_pylist()) == {spec}
    ids = [i for i in scores.column("id").to_pylist() if i is not None]  # excluded rows carry no id
    # sorted paths; hidden directories skipped
    assert len(ids) == 120 and ids == sorted(ids) and "HEAD" not in " ".join(ids)
    _no_temp_path(one.manifest, private_tmp)

    # the digest covers every file's path, size and content
    again = zipfit.select(spec, target_texts=targets, k=25, workers=1)
    assert again.manifest["inputs"]["sources"][0]["sha256"] == source["sha256"]
    (code_tree / "pkg0" / "mod_000.py").write_text("x = 1\n")
    changed = zipfit.select(spec, target_texts=targets, k=25, workers=1)
    assert changed.manifest["inputs"]["sources"][0]["sha256"] != source["sha256"]
    # a glob, relative to its fixed prefix
    globbed = zipfit.select(f"files:{code_tree}/pkg3/**/*.py", target_texts=targets, k=5, workers=1)
    assert all(not i.startswith("pkg3") and i.endswith(".py") for i in globbed.table.column("id").to_pylist())


def test_plain_files_on_the_command_line(tmp_path, code_tree, data_dir):
    import subprocess
    import sys

    target = data_dir / "humaneval" / "HumanEval.jsonl.gz"
    options = dict(k=10, target_template="{prompt}{canonical_solution}", workers=1, progress=False)
    zipfit.select(f"files:{code_tree}", target, out=tmp_path / "api.jsonl", **options)
    proc = subprocess.run([sys.executable, "-m", "zipfit", "select", f"files:{code_tree}", "--target", str(target),
                           "--target-template", "{prompt}{canonical_solution}", "--k", "10", "--workers", "2",
                           "--out", str(tmp_path / "cli.jsonl")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "2 binary_file" in proc.stderr  # the excluded files are counted on stderr too
    assert (tmp_path / "cli.jsonl").read_bytes() == (tmp_path / "api.jsonl").read_bytes()
