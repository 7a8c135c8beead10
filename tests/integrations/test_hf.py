"""Hugging Face datasets: the scores `zipfit score` writes and the rows `zipfit select` writes, from a Dataset
(scored with Dataset.map, several processes) and from an IterableDataset (streamed), for zipfit and zipfit-debiased.

The source is 200 real documents of the demo mix plus two records zipfit does not score (an empty text, a missing
one), read by the CLI from a JSON Lines file and by `datasets` from the same file.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from zipfit.errors import ZipfitError
from zipfit.integrations.hf import score_dataset, select_dataset

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = "{nl_statement}\n{formal_statement}"
METHODS = ("zipfit", "zipfit-debiased")
K = 20


def zipfit_cli(*args: object) -> None:
    proc = subprocess.run([sys.executable, "-m", "zipfit", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=300)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The source (200 real documents, then an empty text and a record without one) and 40 ProofNet targets."""
    where = tmp_path_factory.mktemp("hf")
    with gzip.open(ROOT / "examples" / "source_mix.jsonl.gz", "rt", encoding="utf-8") as f:
        records = [json.loads(line) for _, line in zip(range(200), f, strict=False)]
    records[50:50] = [{"id": "blank", "domain": "none", "text": "  \n"}]
    records[120:120] = [{"id": "no-text", "domain": "none", "text": None}]
    source = where / "source.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    target = where / "target.jsonl"
    target.write_text("".join((ROOT / "examples" / "proofnet_valid.jsonl").read_text().splitlines(True)[:40]))
    return {"source": source, "target": target, "dir": where}


@pytest.fixture(scope="module")
def cli(files) -> dict[str, dict[str, Path]]:
    """Per method: `zipfit select --k 20 --scores-out DIR`, which writes the score dataset and the selection."""
    out = {}
    for method in METHODS:
        scores, selected = files["dir"] / f"scores-{method}", files["dir"] / f"selected-{method}.jsonl"
        zipfit_cli("select", files["source"], "--target", files["target"], "--target-template", "{nl_statement}\\n"
                   "{formal_statement}", "--method", method, "--k", K, "--out", selected, "--scores-out", scores,
                   "--workers", 1)
        out[method] = {"scores": scores, "selected": selected}
    return out


@pytest.fixture(scope="module")
def ds(files, tmp_path_factory) -> datasets.Dataset:
    return datasets.Dataset.from_json(str(files["source"]), cache_dir=str(tmp_path_factory.mktemp("cache")))


def cli_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def same_scores(scored: list[dict], score_dataset_dir: Path) -> None:
    table = pq.read_table(score_dataset_dir).to_pydict()
    assert len(scored) == len(table["score"])
    for row, (got, want, status, reason) in enumerate(zip(scored, table["score"], table["status"], table["reason"],
                                                          strict=True)):
        assert (got["zipfit_status"], got["zipfit_reason"]) == (status, reason), row
        if want is None or math.isnan(want):
            assert got["zipfit_score"] is None or math.isnan(got["zipfit_score"]), row
        else:
            assert got["zipfit_score"] == want, row  # the same float, not a close one


@pytest.mark.parametrize("method", METHODS)
def test_score_dataset_gives_the_scores_of_zipfit_score(ds, files, cli, method):
    scored = score_dataset(ds, files["target"], target_template=TEMPLATE, method=method, num_proc=2)
    assert scored.column_names == [*ds.column_names, "zipfit_score", "zipfit_status", "zipfit_reason",
                                   "zipfit_n_tokens"]
    rows = scored.to_list()
    same_scores(rows, cli[method]["scores"])
    assert [r["zipfit_reason"] for r in rows if r["zipfit_status"] == "excluded"] == ["empty_text", "missing_field"]
    tokens = pq.read_table(cli[method]["scores"], columns=["n_tokens"]).column(0).to_pylist()
    assert [r["zipfit_n_tokens"] for r in rows] == tokens
    # score once, select many: the cut from the columns, nothing scored again
    assert select_dataset(scored, k=K).to_list() == cli_rows(cli[method]["selected"])


@pytest.mark.parametrize("method", METHODS)
def test_select_dataset_gives_the_rows_of_zipfit_select(ds, files, cli, method):
    selected = select_dataset(ds, files["target"], target_template=TEMPLATE, method=method, k=K, num_proc=2)
    assert isinstance(selected, datasets.Dataset)
    assert selected.to_list() == cli_rows(cli[method]["selected"])


def test_streaming_scores_and_selects_like_the_cli(files, cli):
    stream = datasets.load_dataset("json", data_files=str(files["source"]), split="train", streaming=True)
    assert isinstance(stream, datasets.IterableDataset)
    scored = score_dataset(stream, files["target"], target_template=TEMPLATE, method="zipfit-debiased")
    assert isinstance(scored, datasets.IterableDataset)  # lazy: scored as it is iterated
    same_scores(list(scored), cli["zipfit-debiased"]["scores"])
    selected = select_dataset(stream, files["target"], target_template=TEMPLATE, method="zipfit-debiased", k=K)
    assert selected.to_list() == cli_rows(cli["zipfit-debiased"]["selected"])


def test_input_order_and_the_other_budgets(ds, files, cli):
    ranked = cli_rows(cli["zipfit"]["selected"])
    by_input = select_dataset(ds, files["target"], target_template=TEMPLATE, k=K, order="input").to_list()
    assert sorted(by_input, key=lambda r: r["zipfit_rank"]) == ranked
    assert [r["id"] for r in by_input] != [r["id"] for r in ranked]
    # min_score at the K-th score keeps the same K rows (no ties there in this data)
    at_cutoff = select_dataset(ds, files["target"], target_template=TEMPLATE, min_score=ranked[-1]["zipfit_score"])
    assert at_cutoff.to_list() == ranked


def test_user_errors_are_zipfit_errors(ds, files):
    with pytest.raises(ZipfitError, match="no column 'body'"):
        score_dataset(ds, files["target"], target_template=TEMPLATE, text_field="body")
    with pytest.raises(ZipfitError, match="holds several splits"):
        score_dataset(datasets.DatasetDict({"train": ds}), files["target"], target_template=TEMPLATE)
    with pytest.raises(ZipfitError, match="zipfit-fast selects the same documents"):
        select_dataset(ds, files["target"], target_template=TEMPLATE, method="zipfit-fast", k=3)
    with pytest.raises(ZipfitError, match="give the target, or a dataset score_dataset scored"):
        select_dataset(ds, k=3)
    with pytest.raises(ZipfitError, match="--k 1,000 but only 200 eligible"):
        select_dataset(ds, files["target"], target_template=TEMPLATE, k=1000)


def test_the_recipe_in_the_docs_runs_as_written(tmp_path):
    """The first Python block of docs/integrations.md, run from a directory that has the examples."""
    block = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "integrations.md").read_text(encoding="utf-8"),
                       re.S)[0]
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "recipe.py").write_text(block, encoding="utf-8")
    proc = subprocess.run([sys.executable, "recipe.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("1 0.2") and len(lines) == 4
