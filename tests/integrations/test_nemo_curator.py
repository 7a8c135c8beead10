"""NeMo Curator: the two-pipeline recipe on Ray (RayDataExecutor, one batch per input file) keeps the documents
`zipfit select` selects, with its scores and ranks; ZipfitFilter in NeMo Curator's own ScoreFilter keeps what
`zipfit select --min-score` keeps, with the scores of `zipfit score`.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nemo_curator.backends.ray_data import RayDataExecutor
from nemo_curator.pipeline import Pipeline
from nemo_curator.stages.text.filters import ScoreFilter
from nemo_curator.stages.text.io.reader import JsonlReader, ParquetReader
from nemo_curator.stages.text.io.writer import ParquetWriter
from nemo_curator.tasks import DocumentBatch

from zipfit.errors import ZipfitError
from zipfit.integrations.nemo_curator import ZipfitFilter, ZipfitScoreStage, ZipfitSelectStage

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "examples" / "source_mix.jsonl.gz"
TARGET = ROOT / "examples" / "proofnet_valid.jsonl"
TEMPLATE = "{nl_statement}\n{formal_statement}"


def zipfit_cli(*args: object) -> None:
    proc = subprocess.run([sys.executable, "-m", "zipfit", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=300)
    assert proc.returncode == 0, proc.stderr


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def parquet_rows(folder: Path) -> list[dict]:
    return pa.concat_tables([pq.read_table(p) for p in sorted(folder.glob("*.parquet"))]).to_pylist()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """The demo source as 4 JSON Lines files, and `zipfit score --method zipfit` of it."""
    work = tmp_path_factory.mktemp("nemo")
    with gzip.open(SOURCE, "rt", encoding="utf-8") as f:
        lines = f.readlines()
    (work / "input").mkdir()
    for i in range(4):
        (work / "input" / f"part-{i}.jsonl").write_text("".join(lines[i * 150 : (i + 1) * 150]), encoding="utf-8")
    # the integrations default to the paper's score, the CLI to zipfit-debiased: the CLI run names the method
    zipfit_cli("score", SOURCE, "--target", TARGET, "--target-template", "{nl_statement}\\n{formal_statement}",
               "--method", "zipfit", "--out", work / "cli-scores", "--workers", 1)
    return work


def test_two_ray_pipelines_keep_what_zipfit_select_selects(work):
    executor = RayDataExecutor()
    Pipeline(name="zipfit-score", stages=[
        JsonlReader(str(work / "input"), files_per_partition=1),
        ZipfitScoreStage(target=str(TARGET), options={"target_template": TEMPLATE}),
        ParquetWriter(str(work / "scored")),
    ]).run(executor=executor)
    Pipeline(name="zipfit-select", stages=[
        ParquetReader(str(work / "scored")),
        ZipfitSelectStage(scored=str(work / "scored"), k=50),
        ParquetWriter(str(work / "selected")),
    ]).run(executor=executor)
    zipfit_cli("select", "--scores", work / "cli-scores", "--k", 50, "--out", work / "selected.jsonl")
    wanted = {r["id"]: (r["text"], r["zipfit_score"], r["zipfit_rank"]) for r in jsonl(work / "selected.jsonl")}
    kept = parquet_rows(work / "selected")
    assert {r["id"]: (r["text"], r["zipfit_score"], r["zipfit_rank"]) for r in kept} == wanted
    scores = dict(zip(*pq.read_table(work / "cli-scores", columns=["id", "score"]).to_pydict().values(), strict=True))
    assert {r["id"]: r["zipfit_score"] for r in parquet_rows(work / "scored")} == scores


def test_zipfit_filter_in_score_filter_keeps_what_min_score_keeps(work):
    zipfit_filter = ZipfitFilter(str(TARGET), min_score=0.19, target_template=TEMPLATE)
    stage = ScoreFilter(zipfit_filter, text_field="text", score_field="zipfit_score")
    assert stage.ray_stage_spec() == {"is_actor_stage": True}  # load_model: set up once per worker
    stage.setup()
    with gzip.open(SOURCE, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    kept = stage.process(DocumentBatch(dataset_name="demo", data=pa.Table.from_pylist(records)))
    zipfit_cli("select", "--scores", work / "cli-scores", "--min-score", 0.19, "--out", work / "min.jsonl")
    wanted = {r["id"]: r["zipfit_score"] for r in jsonl(work / "min.jsonl")}
    assert dict(zip(kept.to_pandas()["id"], kept.to_pandas()["zipfit_score"], strict=True)) == wanted
    assert zipfit_filter.score_document("   ") != zipfit_filter.score_document("   ")  # NaN: not scored
    assert not zipfit_filter.keep_document(zipfit_filter.score_document("   "))


def test_stage_2_without_stage_1_output_is_an_error(tmp_path):
    with pytest.raises(ZipfitError, match="no Parquet files"):
        ZipfitSelectStage(scored=str(tmp_path), k=5).cut()
    with pytest.raises(ZipfitError, match="give one of --k, --tokens or --fraction"):
        ZipfitSelectStage(scored=str(tmp_path), k=5, fraction=0.5)
