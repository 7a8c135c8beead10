"""datatrove: the worked example (examples/datatrove_pipeline.py, LocalPipelineExecutor, 4 tasks per stage) keeps the
documents `zipfit select` selects, with the same scores and ranks; stage 2 makes every budget's cut as `zipfit select
--scores` does; ties fall as in the CLI (the earlier file, then the earlier line); a method with a background sample
(zipfit-debiased) scores as `zipfit score` does.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datatrove.data import Document
from datatrove.pipeline.readers import JsonlReader

from zipfit.errors import ZipfitError
from zipfit.integrations.datatrove import ZipfitScore, ZipfitSelect

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "examples" / "source_mix.jsonl.gz"
TARGET = ROOT / "examples" / "proofnet_valid.jsonl"
TEMPLATE_ARG = "{nl_statement}\\n{formal_statement}"  # as typed in a shell
TEMPLATE = "{nl_statement}\n{formal_statement}"


def run(*args: object) -> None:
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr[-3000:]


def zipfit_cli(*args: object) -> None:
    run("-m", "zipfit", *args)


def jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def read_folder(folder: Path) -> list[dict]:
    return [r for path in sorted(folder.glob("*.jsonl.gz")) for r in jsonl(path)]


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("datatrove") / "work"
    run(ROOT / "examples" / "datatrove_pipeline.py", "--work", work, "--k", 50, "--tasks", 4, "--workers", 2)
    return work


@pytest.fixture(scope="module")
def cli_scores(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "scores"
    # the integrations default to the paper's score, the CLI to zipfit-debiased: the CLI runs name the method
    zipfit_cli("score", SOURCE, "--target", TARGET, "--target-template", TEMPLATE_ARG, "--method", "zipfit",
               "--out", out, "--workers", 1)
    return out


def cli_select(scores: Path, out: Path, *budget: object) -> list[dict]:
    zipfit_cli("select", "--scores", scores, "--out", out, *budget)
    return jsonl(out)


def test_the_example_keeps_what_zipfit_select_selects(example, cli_scores, tmp_path):
    wanted = cli_select(cli_scores, tmp_path / "selected.jsonl", "--k", 50)
    kept = read_folder(example / "selected")
    assert len(kept) == 50
    assert {r["id"]: (r["text"], r["metadata"]["zipfit_score"], r["metadata"]["zipfit_rank"]) for r in kept} == \
        {r["id"]: (r["text"], r["zipfit_score"], r["zipfit_rank"]) for r in wanted}
    assert all({"zipfit_file", "zipfit_row"}.isdisjoint(r["metadata"]) for r in kept)
    rejected = read_folder(example / "rejected")
    assert len(rejected) == 550 and {r["metadata"]["filter_reason"] for r in rejected} == {"below_cutoff"}
    # every document's score, kept or not, is the one `zipfit score` wrote
    scores = dict(zip(*pq.read_table(cli_scores, columns=["id", "score"]).to_pydict().values(), strict=True))
    assert {r["id"]: r["metadata"]["zipfit_score"] for r in kept + rejected} == scores
    # stage 1 wrote one score table per task, and counted in datatrove's own stats
    assert sorted(p.name for p in (example / "scores").iterdir()) == [f"{r:05d}.parquet" for r in range(4)]
    stats = json.loads((example / "logs" / "score" / "stats.json").read_text())
    zipfit_stats = next(s["stats"] for s in stats if "ZIP-FIT score" in s["name"])
    assert zipfit_stats["scored"] == zipfit_stats["total"] == 600
    assert zipfit_stats["zipfit_score"]["n"] == 600


def stage2(example: Path, **budget: object) -> list[Document]:
    """Stage 2 in one task over all of stage 1's output."""
    reader = JsonlReader(str(example / "scored"))
    return list(ZipfitSelect(str(example / "scores"), **budget).run(reader.run(), rank=0, world_size=1))


@pytest.mark.parametrize("budget", [
    {"tokens": 2000}, {"fraction": 0.05}, {"min_score": 0.19}, {"k": 30, "min_score": 0.2},
])
def test_every_budget_is_cut_as_zipfit_select_cuts_it(example, cli_scores, tmp_path, budget):
    flags = [x for key, value in budget.items() for x in (f"--{key.replace('_', '-')}", value)]
    wanted = cli_select(cli_scores, tmp_path / "selected.jsonl", *flags)
    kept = stage2(example, **budget)
    assert sorted((d.metadata["zipfit_rank"], d.id, d.metadata["zipfit_score"]) for d in kept) == \
        [(r["zipfit_rank"], r["id"], r["zipfit_score"]) for r in wanted]


def test_ties_fall_to_the_earlier_file_and_line(tmp_path):
    """Every text twice, in two files that two tasks read: the k-th place is a tie, won by the copy zipfit select
    reads first."""
    records = jsonl(SOURCE)[:40]
    inputs = tmp_path / "input"
    inputs.mkdir()
    for name, copy in (("a.jsonl", "first"), ("b.jsonl", "second")):
        (inputs / name).write_text("".join(json.dumps({**r, "id": f"{r['id']}-{copy}"}) + "\n" for r in records))
    scorer = ZipfitScore(str(TARGET), target_template=TEMPLATE, output_folder=str(tmp_path / "scores"))
    for rank in range(2):  # two tasks: a.jsonl goes to task 0, b.jsonl to task 1
        for _ in scorer.run(JsonlReader(str(inputs)).run(rank=rank, world_size=2), rank=rank, world_size=2):
            pass
    kept = list(ZipfitSelect(str(tmp_path / "scores"), k=5).run(JsonlReader(str(inputs)).run(), 0, 1))
    wanted = cli_select_files(inputs, tmp_path / "selected.jsonl", "--k", 5)
    assert sorted((d.metadata["zipfit_rank"], d.id) for d in kept) == [(r["zipfit_rank"], r["id"]) for r in wanted]
    assert sum(d.id.endswith("-first") for d in kept) == 3  # the tie at place 5 went to the first copy


def cli_select_files(inputs: Path, out: Path, *budget: object) -> list[dict]:
    zipfit_cli("select", *sorted(inputs.iterdir()), "--target", TARGET, "--target-template", TEMPLATE_ARG,
               "--method", "zipfit", "--out", out, *budget)
    return jsonl(out)


def test_a_method_with_a_background_sample_scores_as_zipfit_score(tmp_path):
    source = tmp_path / "source.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in jsonl(SOURCE)[:120]))
    target = tmp_path / "target.jsonl"
    target.write_text("".join(TARGET.read_text().splitlines(True)[:30]))
    scorer = ZipfitScore(str(target), target_template=TEMPLATE, method="zipfit-debiased", fit_from=str(source))
    docs = list(scorer.run(JsonlReader(str(source)).run()))
    zipfit_cli("score", source, "--target", target, "--target-template", TEMPLATE_ARG, "--method", "zipfit-debiased",
               "--out", tmp_path / "scores", "--workers", 1)
    wanted = pq.read_table(tmp_path / "scores", columns=["id", "score"]).to_pydict()
    assert [(d.id, d.metadata["zipfit_score"]) for d in docs] == list(zip(wanted["id"], wanted["score"], strict=True))
    with pytest.raises(ZipfitError, match="needs a pass over the source"):
        ZipfitScore(str(target), target_template=TEMPLATE, method="zipfit-debiased")


def test_an_incomplete_or_mixed_stage_1_is_refused(example, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    for rank in (0, 1, 3):
        (partial / f"{rank:05d}.parquet").write_bytes((example / "scores" / f"{rank:05d}.parquet").read_bytes())
    with pytest.raises(ZipfitError, match="tasks 2 of 4 are missing"):
        ZipfitSelect(str(partial), k=5).cut()
    other = ZipfitScore(["a different target"], output_folder=str(partial))
    for _ in other.run(iter([Document("text", "x", metadata={"file_path": "f"})]), rank=2, world_size=4):
        pass
    with pytest.raises(ZipfitError, match="different runs"):
        ZipfitSelect(str(partial), k=5).cut()
    with pytest.raises(ZipfitError, match="give one of --k, --tokens or --fraction"):
        ZipfitSelect(str(partial), k=5, tokens=10)


def test_a_document_stage_1_never_scored_is_an_error(example):
    step = ZipfitSelect(str(example / "scores"), k=5)
    stray = Document("not scored", "stray", metadata={"file_path": "/nowhere.jsonl"})
    with pytest.raises(ZipfitError, match="has no score"):
        list(step.run(iter([stray])))
