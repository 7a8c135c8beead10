"""Golden outputs: the sha256 of what a fixed set of runs writes, pinned before the staged-pipeline refactor.

Every method, JSON Lines and Parquet in and out, local (1 and 2 workers) and Ray, with ``exclude`` and
``dedup``. A change of any hash here is a change of behaviour: it needs a reason, not a new hash.
JSON Lines outputs are hashed as bytes; Parquet outputs by their rows and schema (the file's bytes carry
the pyarrow version that wrote them).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from realdata import DATA, read_jsonl

import zipfit

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TARGET_TEMPLATE = "{nl_statement}\n{formal_statement}"


# methods whose scores come from a float32 model: their last bits may differ between CPUs, so their output is
# pinned by ids, ranks and scores to 5 decimals
FLOAT32_MODELS = ("embed", "d4")


def _rounded_sha(path: Path) -> str:
    rows = [(r["id"], r["zipfit_rank"], round(r["zipfit_score"], 5)) for r in read_jsonl(path)]
    return hashlib.sha256(json.dumps(rows).encode("utf-8")).hexdigest()


def _content_sha(path: Path) -> str:
    if path.suffix == ".parquet" or path.is_dir():
        table = pq.read_table(path)
        body = json.dumps({"schema": [f"{f.name}:{f.type}" for f in table.schema],
                           "rows": table.to_pylist()}, sort_keys=True, default=str)
        return hashlib.sha256(body.encode("utf-8")).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def golden_inputs(tmp_path_factory) -> dict[str, Path]:
    """The shipped 600-document mix with 12 ProofNet test statements planted (decontamination must drop them)
    and 8 exact copies of mix documents (``dedup`` must skip them), as JSON Lines and as Parquet."""
    root = tmp_path_factory.mktemp("golden")
    with gzip.open(EXAMPLES / "source_mix.jsonl.gz", "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    test_rows = [r for r in read_jsonl(DATA / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl") if r["split"] == "test"]
    planted = [{"id": f"planted-{i}", "domain": "lean4-mathlib",
                "text": "-- exercise\n" + r["nl_statement"] + "\n" + r["formal_statement"]}
               for i, r in enumerate(test_rows[:12])]
    copies = [{**records[i], "id": f"copy-{i}"} for i in range(5, 600, 75)]
    mixed = []
    for i, rec in enumerate(records):
        mixed.append(rec)
        if i % 50 == 7 and planted:
            mixed.append(planted.pop())
        if i % 70 == 3 and copies:
            mixed.append(copies.pop())
    mixed += planted + copies
    jsonl = root / "mix.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in mixed), encoding="utf-8")
    parquet = root / "mix.parquet"
    pq.write_table(pa.Table.from_pylist(mixed), parquet, row_group_size=128)
    exclude = root / "proofnet_test.jsonl"
    exclude.write_text("".join(json.dumps(r) + "\n" for r in test_rows), encoding="utf-8")
    return {"jsonl": jsonl, "parquet": parquet, "target": EXAMPLES / "proofnet_valid.jsonl", "exclude": exclude,
            "cache": root / "embeddings"}


# name -> (source format, output suffix, select() keyword arguments); every run names its method, so a change of
# the default changes no hash
RUNS: dict[str, tuple[str, str, dict]] = {
    "zipfit-k": ("jsonl", ".jsonl", {"k": 50, "method": "zipfit"}),
    "zipfit-tokens-parquet": ("parquet", ".parquet", {"tokens": 20_000, "method": "zipfit", "workers": 2}),
    "zipfit-input-order-gz": ("jsonl", ".jsonl.gz", {"k": 40, "method": "zipfit", "order": "input", "level": 6}),
    "zipfit-exclude-dedup": ("jsonl", ".jsonl", {"k": 60, "method": "zipfit", "exclude": "EXCLUDE", "dedup": True,
                                                  "workers": 2}),
    "zipfit-exclude-dedup-parquet": ("parquet", ".jsonl", {"tokens": 15_000, "method": "zipfit",
                                                                  "exclude": "EXCLUDE", "dedup": True}),
    "zipfit-fast": ("jsonl", ".jsonl", {"k": 50, "method": "zipfit-fast", "calibration_docs": 32,
                                        "stage1_targets": 2, "stage2_targets": 8}),
    "zipfit-debiased": ("parquet", ".jsonl", {"k": 50, "method": "zipfit-debiased", "seed": 3}),
    "dsir": ("jsonl", ".jsonl", {"k": 50, "method": "dsir", "method_options": {"num_buckets": 4096,
                                                                             "min_example_length": 5}}),
    "dsir-gumbel": ("jsonl", ".parquet", {"tokens": 30_000, "method": "dsir", "sampling": "gumbel", "seed": 1,
                                          "method_options": {"num_buckets": 4096, "min_example_length": 5}}),
    "random": ("jsonl", ".jsonl", {"k": 50, "method": "random", "seed": 7}),
    "embed": ("jsonl", ".jsonl", {"k": 30, "method": "embed", "method_options": {"cache_dir": "CACHE"}}),
    "d4": ("parquet", ".jsonl", {"k": 30, "method": "d4", "method_options": {"cache_dir": "CACHE", "clusters": 8}}),
}

GOLDEN = {
    "zipfit-k": "91e04bb0693bdd77cb970d8b521fff8f902448f95aece42332c2314e0dd561e0",
    "zipfit-tokens-parquet": "1a705d5d7e2c9a854982140ea158475481d0e906958d921236a1f2a5ec16b359",
    "zipfit-input-order-gz": "5f6892e33e3c1d78e8ef8c0a7804f12d5fd20d61eae4f2347fa45ffadae2764c",
    "zipfit-exclude-dedup": "0ed13b1c75f206827316dc5d777dd7d5e460c1cbc4efc55ed878d5623787abbc",
    "zipfit-exclude-dedup-parquet": "bf2cdfb0396d5944c54200e8fa6f0aabebf08597a3f04458f5e20444576972ab",
    "zipfit-fast": "91e04bb0693bdd77cb970d8b521fff8f902448f95aece42332c2314e0dd561e0",
    "zipfit-debiased": "1830a1ae9c6c8b742afccc5361c4cd8d90fa4b3b1aa38ec88dcde40d3f0b0600",
    "dsir": "9359545f0b32ce75eb3cf2ace9cb78fb5c447d7d79e33416d5fce780df802132",
    "dsir-gumbel": "d693f7524be3877e09d3711ef691322ac9eca8684709c93442fad82b7c8328c8",
    "random": "3493a6fc741e75a8ce0813ce4029f4d64dee4420e28942146fe18f7de39117f9",
    "embed": "3073943a11bb947c356fd5c901cc9be888a56fe80d9eec22259cde5cb4379b9c",
    "d4": "e743f84158e18f2312e9d64ae69f6f7f9e0bc680413b6d7abafa43853d2f9e4f",
    "score-zipfit": "0be9f48e9ae0bc65ca621889d1ac8d67e7a43860b33e67590f95e7bdaa7f1ebd",
}


def _kwargs(options: dict, inputs: dict[str, Path]) -> dict:
    out = dict(options)
    if out.get("exclude") == "EXCLUDE":
        out["exclude"] = inputs["exclude"]
        out["exclude_where"] = {"split": "test"}
    if "method_options" in out:
        out["method_options"] = {k: (str(inputs["cache"]) if v == "CACHE" else v)
                                 for k, v in out["method_options"].items()}
    out.setdefault("workers", 1)
    return out


def _select(name: str, inputs: dict[str, Path], tmp_path: Path, **extra) -> Path:
    fmt, suffix, options = RUNS[name]
    out = tmp_path / f"{name}{suffix}"
    zipfit.select(inputs[fmt], inputs["target"], out=out, target_template=TARGET_TEMPLATE, progress=False,
                  **{**_kwargs(options, inputs), **extra})
    return out


@pytest.mark.parametrize("name", list(RUNS))
def test_select_output_is_unchanged(name, golden_inputs, tmp_path):
    out = _select(name, golden_inputs, tmp_path)
    got = _rounded_sha(out) if name in FLOAT32_MODELS else _content_sha(out)
    assert got == GOLDEN[name]
    if name.startswith("zipfit-exclude-dedup"):  # the run does exercise both filters
        counts = json.loads(out.with_name(out.name + ".manifest.json").read_text())["counts"]
        assert counts["source_contaminated"] == 12 and counts["duplicates_skipped"] > 0


def test_ray_output_is_the_local_golden_output(golden_inputs, tmp_path):
    out = _select("zipfit-exclude-dedup", golden_inputs, tmp_path, engine="ray", workers=2, shard_rows=150)
    assert _content_sha(out) == GOLDEN["zipfit-exclude-dedup"]


def _score_rows_sha(path: Path) -> str:
    """The numbers a score output holds per scored document, whatever its layout: (row, score, n_tokens, n_chars)
    in input order."""
    table = pq.read_table(path)
    if "status" in table.column_names:
        table = table.filter(pa.compute.equal(table["status"], "scored"))
    rows = sorted(zip(table["row"].to_pylist(), table["score"].to_pylist(), table["n_tokens"].to_pylist(),
                      table["n_chars"].to_pylist(), strict=True))
    return hashlib.sha256(json.dumps(rows).encode("utf-8")).hexdigest()


def test_score_numbers_are_unchanged(golden_inputs, tmp_path):
    out = tmp_path / "scores.parquet"
    zipfit.score(golden_inputs["jsonl"], golden_inputs["target"], out=out, target_template=TARGET_TEMPLATE,
                 method="zipfit", workers=2, progress=False)
    assert _score_rows_sha(out) == GOLDEN["score-zipfit"]
