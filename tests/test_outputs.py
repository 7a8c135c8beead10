"""Outputs users' pipelines read: sharded directories, Hugging Face directories, annotated inputs, rejects.

On real data: MBPP records (with bad lines, copies and a contaminated record planted among them) in a JSON
Lines file and a Parquet file, scored against HumanEval.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from realdata import DATA, read_jsonl

import zipfit
from zipfit.cli import main

MBPP = DATA / "mbpp" / "mbpp.jsonl"
HUMANEVAL = DATA / "humaneval" / "HumanEval.jsonl.gz"
OPTS = {"template": "{text}\n{code}", "target_template": "{prompt}{canonical_solution}", "overwrite": True}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A JSON Lines file with 8 bad records and 4 exact copies among 240 MBPP records, a Parquet file of 60
    more, and an exclude file holding 2 of the JSON Lines file's records."""
    root = tmp_path_factory.mktemp("outputs")
    records = read_jsonl(MBPP)
    lines = [json.dumps(r).encode() for r in records[:240]]
    bad = [b"{not json", b"\xff\xfe broken utf-8", b"", json.dumps({"code": "x = 1"}).encode(),
           json.dumps({"text": "", "code": ""}).encode(), json.dumps({"text": 5, "code": "y"}).encode(),
           b"[1, 2]", json.dumps({"text": "   ", "code": " "}).encode()]
    for i, line in enumerate(bad):
        lines.insert(20 * i + 7, line)
    for i in (3, 50, 100, 150):  # exact copies, later in the input than their originals
        lines.append(json.dumps(records[i]).encode())
    src = root / "mbpp_mix.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    table = pa.Table.from_pylist(records[300:360])
    pq.write_table(table, root / "mbpp_more.parquet")
    exclude = root / "exclude.jsonl"
    exclude.write_text("".join(json.dumps({"prompt": r["text"] + "\n", "canonical_solution": r["code"]}) + "\n"
                               for r in (records[10], records[200])), encoding="utf-8")
    return {"root": root, "sources": [str(src), str(root / "mbpp_more.parquet")], "exclude": str(exclude),
            "n_records": len(lines) + 60, "n_bad": len(bad)}


def _select(corpus: dict, out: Path | str, **kw) -> zipfit.SelectionResult:
    return zipfit.select(corpus["sources"], str(HUMANEVAL), out=str(out), **{**OPTS, **kw})


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name != "_manifest.json"}


def test_a_sharded_parquet_dir_is_the_single_file_split_by_rows_and_the_same_for_any_workers(corpus, tmp_path):
    single = _select(corpus, tmp_path / "single.parquet", k=45, workers=1)
    one = _select(corpus, f"{tmp_path}/one/", k=45, max_rows_per_file=10, workers=1)
    two = _select(corpus, f"{tmp_path}/two/", k=45, max_rows_per_file=10, workers=2)
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == ["_manifest.json", *(f"part-{i:05d}-of-00005.parquet" for i in range(5))]
    assert _files(tmp_path / "one") == _files(tmp_path / "two")
    assert one.manifest["output"]["sha256"] == two.manifest["output"]["sha256"]
    assert [pq.read_metadata(tmp_path / "one" / n).num_rows for n in names[1:]] == [10, 10, 10, 10, 5]
    whole = pd.read_parquet(tmp_path / "single.parquet")
    assert pd.read_parquet(tmp_path / "one").equals(whole)  # pandas reads the directory, skipping _manifest.json
    assert list(whole["zipfit_rank"]) == list(range(1, 46))
    manifest = json.loads((tmp_path / "one" / "_manifest.json").read_text())
    assert manifest["output"]["files"][0]["records"] == 10 and manifest["counts"]["selected"] == 45
    assert single.indices.tolist() == one.indices.tolist()
    assert not list(tmp_path.glob(".*"))  # no temp directory, spill or lock file left behind


def test_jsonl_gz_parts_respect_the_byte_limit_and_concatenate_to_the_single_file(corpus, tmp_path):
    _select(corpus, tmp_path / "single.jsonl", k=60, workers=2)
    result = _select(corpus, tmp_path / "parts", k=60, out_format="jsonl.gz", max_bytes_per_file=8000, workers=2)
    parts = sorted((tmp_path / "parts").glob("part-*.jsonl.gz"))
    assert len(parts) == len(result.manifest["output"]["files"]) > 2
    texts = [gzip.decompress(p.read_bytes()) for p in parts]
    for text in texts:
        assert len(text) <= 8000 or text.count(b"\n") == 1
    assert b"".join(texts) == (tmp_path / "single.jsonl").read_bytes()
    assert sum(f["records"] for f in result.manifest["output"]["files"]) == 60


def test_format_hf_opens_with_load_from_disk_with_the_same_rows(corpus, tmp_path):
    import datasets
    _select(corpus, tmp_path / "single.parquet", k=30, workers=1)
    _select(corpus, tmp_path / "hf", k=30, out_format="hf", max_rows_per_file=12, workers=2)
    loaded = datasets.load_from_disk(str(tmp_path / "hf"))
    assert loaded.num_rows == 30
    assert loaded.to_pandas().equals(pd.read_parquet(tmp_path / "single.parquet"))
    assert sorted(p.name for p in (tmp_path / "hf").glob("*.arrow")) == [f"data-{i:05d}-of-00003.arrow" for i in
                                                                         range(3)]
    # and zipfit reads it back as an input
    again = zipfit.select(str(tmp_path / "hf"), str(HUMANEVAL), out=str(tmp_path / "again.jsonl"), k=5, workers=1,
                          **OPTS)
    assert again.manifest["counts"]["source_records"] == 30


def test_a_directory_output_is_replaced_whole_and_only_with_overwrite(corpus, tmp_path):
    _select(corpus, tmp_path / "d", out_format="jsonl", k=20, max_rows_per_file=5, workers=1)
    with pytest.raises(zipfit.errors.ZipfitError, match="exists"):
        _select(corpus, tmp_path / "d", out_format="jsonl", k=20, workers=1, overwrite=False)
    (tmp_path / ".d.tmp-leftover").mkdir()  # what a killed run leaves: removed by the next run that holds the lock
    (tmp_path / ".d.tmp-leftover" / "part-00000-of-00001.jsonl").write_text("{}\n")
    _select(corpus, tmp_path / "d", out_format="jsonl", k=20, workers=1)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["_manifest.json", "part-00000-of-00001.jsonl"]
    assert not (tmp_path / ".d.tmp-leftover").exists()
    with pytest.raises(zipfit.errors.ZipfitError, match="directory"):
        _select(corpus, tmp_path / "x.jsonl", k=5, max_rows_per_file=5, workers=1)


def test_rejects_hold_every_record_that_was_not_eligible_with_its_reason(corpus, tmp_path):
    # the paper's score: under it a copy ranks within the 40, so dedup has one to skip
    result = _select(corpus, tmp_path / "sel.jsonl", k=40, dedup=True, exclude=corpus["exclude"],
                     rejects=str(tmp_path / "rejects.jsonl"), method="zipfit", workers=2)
    rows = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    counts = result.manifest["counts"]
    assert counts["source_excluded"] == corpus["n_bad"]
    assert counts["source_contaminated"] >= 2 and counts["duplicates_skipped"] >= 1
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    assert by_status.get("excluded", 0) == counts["source_excluded"]
    assert by_status.get("contaminated", 0) == counts["source_contaminated"]
    assert by_status.get("duplicate", 0) == counts["duplicates_skipped"]
    assert len(rows) == result.manifest["rejects"]["records"] == sum(by_status.values())
    assert [(r["file"], r["row"]) for r in rows] == sorted((r["file"], r["row"]) for r in rows)  # input order
    reasons = {r["reason"] for r in rows if r["status"] == "excluded"}
    assert {"malformed_json", "invalid_utf8", "blank_line", "missing_field", "empty_text", "non_string_text",
            "not_an_object"} <= reasons
    for r in rows:
        parseable = r["status"] != "excluded" or r["reason"] in ("missing_field", "empty_text", "non_string_text")
        assert (r["record"] is not None) == parseable, r
        # a line that is not a JSON object comes back as it was, so it can be seen and mended
        assert (r["line"] is not None) == (r["record"] is None), r
        if r["line"] is not None:
            raw = Path(r["file"]).read_bytes().splitlines()[r["row"] - 1]
            assert r["line"] == raw.decode("utf-8", "backslashreplace")
        if r["status"] == "duplicate":
            assert r["reason"] == "exact_duplicate" and r["detail"].startswith("copy of ")
            source, row = r["detail"][len("copy of "):].rsplit(":", 1)
            lines = Path(source).read_bytes().splitlines()
            assert json.loads(lines[int(row) - 1]) == r["record"]
    # the same rejects from the saved score dataset, in Parquet, with the same bytes for one worker
    zipfit.score(corpus["sources"], str(HUMANEVAL), out=str(tmp_path / "scores"), exclude=corpus["exclude"],
                 method="zipfit", workers=1, **OPTS)
    again = zipfit.select(scores=str(tmp_path / "scores"), k=40, dedup=True, out=str(tmp_path / "sel2.jsonl"),
                          rejects=str(tmp_path / "rejects2.jsonl"), workers=1, overwrite=True)
    assert (tmp_path / "rejects2.jsonl").read_bytes() == (tmp_path / "rejects.jsonl").read_bytes()
    assert again.manifest["rejects"]["sha256"] == result.manifest["rejects"]["sha256"]


def test_score_annotate_writes_every_input_record_with_its_score_in_input_order(corpus, tmp_path):
    one = zipfit.score(corpus["sources"], str(HUMANEVAL), out=str(tmp_path / "s1"), exclude=corpus["exclude"],
                       annotate=str(tmp_path / "a1"), rejects=str(tmp_path / "r1.parquet"), workers=1, **OPTS)
    zipfit.score(corpus["sources"], str(HUMANEVAL), out=str(tmp_path / "s2"), exclude=corpus["exclude"],
                 annotate=str(tmp_path / "a2"), rejects=str(tmp_path / "r2.parquet"), workers=2, **OPTS)
    assert _files(tmp_path / "a1") == _files(tmp_path / "a2")
    assert (tmp_path / "r1.parquet").read_bytes() == (tmp_path / "r2.parquet").read_bytes()
    assert sorted(p.name for p in (tmp_path / "a1").iterdir()) == ["_manifest.json", "mbpp_mix.jsonl",
                                                                  "mbpp_more.parquet"]
    src = Path(corpus["sources"][0]).read_bytes().splitlines()
    annotated = [json.loads(line) for line in (tmp_path / "a1" / "mbpp_mix.jsonl").read_text().splitlines()]
    assert len(annotated) == len(src)
    more = pq.read_table(tmp_path / "a1" / "mbpp_more.parquet").to_pylist()
    assert [{k: v for k, v in r.items() if not k.startswith("zipfit_")} for r in more] == \
        pq.read_table(corpus["sources"][1]).to_pylist()
    scores = pd.read_parquet(tmp_path / "s1")
    everything = annotated + more
    assert len(everything) == len(scores) == corpus["n_records"]
    for line, a in zip(src, annotated, strict=True):
        try:
            original = json.loads(line)
        except ValueError:
            continue
        if isinstance(original, dict):
            assert {k: v for k, v in a.items() if not k.startswith("zipfit_")} == original
    for a, (_, s) in zip(everything, scores.iterrows(), strict=True):
        assert a["zipfit_status"] == s["status"]
        if s["status"] == "scored":
            assert a["zipfit_score"] == s["score"] and a["zipfit_reason"] is None
        else:
            assert a["zipfit_score"] is None and a["zipfit_rank"] is None and a["zipfit_reason"] == s["reason"]
    # ranks are the order a select of these scores takes
    ranked = sorted((a for a in everything if a["zipfit_rank"] is not None), key=lambda a: a["zipfit_rank"])
    chosen = zipfit.select(scores=str(tmp_path / "s1"), k=len(ranked), out=str(tmp_path / "all.jsonl"), workers=1)
    selected = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert [a["zipfit_score"] for a in ranked] == [r["zipfit_score"] for r in selected]
    assert [a["task_id"] for a in ranked] == [r["task_id"] for r in selected]
    assert chosen.manifest["counts"]["selected"] == len(ranked)
    rejects = pq.read_table(tmp_path / "r1.parquet").to_pandas()
    assert len(rejects) == (scores["status"] != "scored").sum()
    assert one.manifest["counts"]["source_excluded"] == (rejects["status"] == "excluded").sum()


def test_cli_runs_each_new_option(corpus, tmp_path):
    common = ["--target", str(HUMANEVAL), "--template", "{text}\\n{code}", "--target-template",
              "{prompt}{canonical_solution}", "--workers", "1", "--quiet"]
    assert main(["select", *corpus["sources"], *common, "--k", "25", "--out", f"{tmp_path}/sel/",
                 "--max-rows-per-file", "10", "--rejects", str(tmp_path / "rej.jsonl.gz"), "--dedup"]) == 0
    assert len(list((tmp_path / "sel").glob("part-*-of-00003.parquet"))) == 3
    assert gzip.decompress((tmp_path / "rej.jsonl.gz").read_bytes()).count(b"\n") >= corpus["n_bad"]
    assert main(["select", *corpus["sources"], *common, "--k", "25", "--out", str(tmp_path / "hf"),
                 "--format", "hf", "--max-bytes-per-file", "20000"]) == 0
    assert (tmp_path / "hf" / "state.json").is_file()
    assert main(["score", *corpus["sources"], *common, "--out", str(tmp_path / "scores"), "--annotate",
                 str(tmp_path / "ann"), "--rejects", str(tmp_path / "srej.jsonl")]) == 0
    assert (tmp_path / "ann" / "mbpp_mix.jsonl").is_file()
    assert main(["select", *corpus["sources"], *common, "--k", "5", "--out", str(tmp_path / "o.jsonl"),
                 "--max-rows-per-file", "2"]) == 2
