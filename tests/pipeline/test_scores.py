"""The score dataset: every record has a row, it is its own checkpoint, and selections cut from it are the
bytes of a direct selection."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import zipfit
from zipfit.errors import ZipfitError
from zipfit.ncd import alignment_plain
from zipfit.pipeline.scores import MANIFEST_FILE, RUN_FILE, SCHEMA

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TEMPLATE = "{nl_statement}\n{formal_statement}"


@pytest.fixture(scope="module")
def mix(tmp_path_factory) -> tuple[Path, list[dict]]:
    """The shipped 600-document mix, with bad lines in it (malformed JSON, blank line, empty text, no text)."""
    with gzip.open(EXAMPLES / "source_mix.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    bad = {10: "{not json", 150: "", 300: json.dumps({"id": "e", "domain": "mbpp", "text": "  "}),
           451: json.dumps({"id": "n", "domain": "mbpp"})}
    out = []
    for i, line in enumerate(lines):
        if i in bad:
            out.append(bad[i])
        out.append(line)
    path = tmp_path_factory.mktemp("mix") / "mix.jsonl"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path, [json.loads(line) for line in lines]


def _select(mix_path: Path, out: Path, **kwargs) -> zipfit.SelectionResult:
    return zipfit.select(mix_path, EXAMPLES / "proofnet_valid.jsonl", out=out, target_template=TEMPLATE, workers=1,
                         progress=False, shard_rows=128, **kwargs)


def test_every_record_has_a_row_with_its_status(mix, tmp_path):
    path, records = mix
    result = zipfit.score(path, EXAMPLES / "proofnet_valid.jsonl", out=tmp_path / "scores", target_template=TEMPLATE,
                          method="zipfit", workers=2, progress=False, shard_rows=128, where={"domain": "mbpp"})
    table = pq.read_table(result.out).to_pylist()  # Arrow skips _manifest.json and _run.json
    assert len(table) == len(records) + 4 and [r["row"] for r in table] == list(range(1, len(table) + 1))
    by_row = {r["row"]: r for r in table}
    assert by_row[11]["status"] == "excluded" and by_row[11]["reason"] == "malformed_json"
    assert by_row[152]["status"] == "excluded" and by_row[152]["reason"] == "blank_line"
    assert by_row[303]["reason"] == "empty_text" and by_row[455]["reason"] == "missing_field"
    assert by_row[455]["detail"] == "text"
    scored = [r for r in table if r["status"] == "scored"]
    assert {r["status"] for r in table} == {"scored", "excluded", "filtered"}
    assert len(scored) == sum(r["domain"] == "mbpp" for r in records) == 120
    targets = [f"{r['nl_statement']}\n{r['formal_statement']}" for r in map(json.loads,
               (EXAMPLES / "proofnet_valid.jsonl").read_text().splitlines())]
    text = {r["id"]: r["text"] for r in records}
    for r in scored[:5]:  # the plain formula, by id
        assert r["score"] == alignment_plain(text[r["id"]], targets) and r["n_chars"] == len(text[r["id"]])
    manifest = json.loads((result.out / MANIFEST_FILE).read_text())
    assert manifest["counts"]["scored"] == 120 and manifest["counts"]["source_excluded"] == 4
    assert manifest["counts"]["source_filtered"] == len(records) - 120  # the bad lines are extra, and mbpp
    assert manifest["parts"] == sorted(p.name[5:-8] for p in result.out.glob("part-*.parquet"))
    assert np.array_equal(result.scores, np.array([r["score"] for r in scored]))


# min_score on the default's scale: zipfit-debiased is a difference of alignments, about 0.03 at the top of this mix,
# where 0.005 keeps some 90 documents (more than the 60 of k)
@pytest.mark.parametrize("budget", [
    {"k": 40}, {"tokens": 12_000}, {"fraction": 0.1}, {"min_score": 0.005}, {"k": 60, "min_score": 0.005},
    {"k": 50, "group_by": "domain"}, {"tokens": 20_000, "group_by": "domain", "group_weights": "mbpp=1,wikitext=1"},
    {"k": 30, "sampling": "gumbel", "seed": 4}, {"k": 30, "dedup": True}])
def test_select_from_saved_scores_is_the_direct_selection(mix, tmp_path, budget):
    path, _ = mix
    direct = _select(path, tmp_path / "direct.jsonl", **budget)
    saved = _select(path, tmp_path / "saved-run.jsonl", scores_out=tmp_path / "scores", **budget)
    assert saved.out.read_bytes() == direct.out.read_bytes()
    assert (tmp_path / "scores" / MANIFEST_FILE).is_file()
    cut = zipfit.select(out=tmp_path / "cut.jsonl", scores=tmp_path / "scores", progress=False, **budget)
    assert cut.out.read_bytes() == direct.out.read_bytes()
    assert cut.manifest["scores"]["from"] == str(tmp_path / "scores")
    assert cut.manifest["counts"]["selected"] == direct.manifest["counts"]["selected"]
    assert "score" not in cut.manifest["timings_s"]


def test_group_budget_follows_the_source_mix_or_the_weights(mix, tmp_path):
    path, _ = mix
    zipfit.score(path, EXAMPLES / "proofnet_valid.jsonl", out=tmp_path / "scores", target_template=TEMPLATE,
                 workers=1, progress=False)
    even = zipfit.select(out=tmp_path / "even.jsonl", scores=tmp_path / "scores", k=100, group_by="domain",
                         progress=False)
    groups = even.manifest["groups"]
    assert sum(g["selected"] for g in groups.values()) == 100
    assert {name: g["selected"] for name, g in groups.items()} == {name: 20 for name in groups}  # 5 equal domains
    chosen = [json.loads(line) for line in even.out.read_text().splitlines()]
    assert [r["zipfit_rank"] for r in chosen] == list(range(1, 101))
    assert all(chosen[i]["zipfit_score"] >= chosen[i + 1]["zipfit_score"] for i in range(99))
    weighted = zipfit.select(out=tmp_path / "w.jsonl", scores=tmp_path / "scores", k=50, group_by="domain",
                             group_weights={"wikitext": 3, "mbpp": 1}, progress=False)
    got = {name: g["selected"] for name, g in weighted.manifest["groups"].items() if g["selected"]}
    assert got == {"wikitext": 37, "mbpp": 13}  # 37.5 and 12.5: a tied remainder goes to the name sorting first
    with pytest.raises(ZipfitError, match="no eligible source document has"):
        zipfit.select(out=tmp_path / "x.jsonl", scores=tmp_path / "scores", k=5, group_by="domain",
                      group_weights="klingon=1", progress=False)


def test_a_changed_input_is_an_error(mix, tmp_path):
    path, _ = mix
    copy = tmp_path / "mix.jsonl"
    copy.write_bytes(path.read_bytes())
    zipfit.score(copy, EXAMPLES / "proofnet_valid.jsonl", out=tmp_path / "scores", target_template=TEMPLATE,
                 workers=1, progress=False)
    with open(copy, "a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "late", "text": "a late document"}) + "\n")
    with pytest.raises(ZipfitError, match="is not the input that was scored"):
        zipfit.select(out=tmp_path / "sel.jsonl", scores=tmp_path / "scores", k=10, progress=False)
    with pytest.raises(ZipfitError, match="holds zipfit-debiased scores, not dsir"):  # the default's
        zipfit.select(copy, out=tmp_path / "sel.jsonl", scores=tmp_path / "scores", k=10, method="dsir",
                      progress=False)


def test_an_incomplete_dataset_is_refused_and_resumed(mix, tmp_path):
    path, _ = mix
    out = tmp_path / "scores"
    options = dict(target_template=TEMPLATE, progress=False, shard_rows=64)
    whole = zipfit.score(path, EXAMPLES / "proofnet_valid.jsonl", out=tmp_path / "whole", workers=1, **options)
    # a real kill: a CLI process SIGKILLed once it has written some parts
    cmd = [sys.executable, "-m", "zipfit", "score", str(path), "--target", str(EXAMPLES / "proofnet_valid.jsonl"),
           "--target-template", TEMPLATE.replace("\n", "\\n"), "--out", str(out), "--shard-rows", "64",
           "--workers", "1", "--quiet", "--level", "9"]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("part-*.parquet"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / RUN_FILE).is_file() and not (out / MANIFEST_FILE).exists()
    with pytest.raises(ZipfitError, match="not a complete score dataset"):
        zipfit.select(out=tmp_path / "sel.jsonl", scores=out, k=10, progress=False)
    with pytest.raises(ZipfitError, match="pass --resume"):
        zipfit.score(path, EXAMPLES / "proofnet_valid.jsonl", out=out, workers=1, level=9, **options)
    resumed = zipfit.score(path, EXAMPLES / "proofnet_valid.jsonl", out=out, workers=2, resume=True, level=9,
                           **options)
    assert resumed.manifest["counts"]["resumed_shards"] >= 3
    level9 = zipfit.score(path, EXAMPLES / "proofnet_valid.jsonl", out=tmp_path / "direct9", workers=1, level=9,
                          **options)
    assert pq.read_table(out).equals(pq.read_table(level9.out))
    assert not pq.read_table(out).equals(pq.read_table(whole.out))  # level 9 is not level 1
    with pytest.raises(ZipfitError, match="already holds a score dataset"):
        zipfit.score(path, EXAMPLES / "proofnet_valid.jsonl", out=out, workers=1, level=9, **options)


def test_scores_out_refuses_methods_without_exact_scores(mix, tmp_path):
    path, _ = mix
    with pytest.raises(ZipfitError, match="use --method zipfit"):
        _select(path, tmp_path / "o.jsonl", k=5, method="zipfit-fast", scores_out=tmp_path / "s")
    with pytest.raises(ZipfitError, match="zipfit-fast only speeds up selection"):
        zipfit.score(path, EXAMPLES / "proofnet_valid.jsonl", out=tmp_path / "s", method="zipfit-fast",
                     target_template=TEMPLATE, progress=False)
    with pytest.raises(ZipfitError, match="holds or is an input"):
        _select(path, tmp_path / "o.jsonl", k=5, scores_out=path.parent)


def test_a_damaged_or_misplaced_part_is_scored_again(mix, tmp_path, caplog):
    path, _ = mix
    options = dict(target_template=TEMPLATE, progress=False, shard_rows=100, workers=1)
    whole = zipfit.score(path, EXAMPLES / "proofnet_valid.jsonl", out=tmp_path / "whole", **options)
    out = tmp_path / "damaged"
    zipfit.score(path, EXAMPLES / "proofnet_valid.jsonl", out=out, **options)
    (out / MANIFEST_FILE).unlink()  # as if killed before the end
    parts = sorted(out.glob("part-*.parquet"))
    parts[1].write_bytes(parts[2].read_bytes())  # a copied part: valid Parquet, another shard's rows
    data = bytearray(parts[3].read_bytes())
    chunk = pq.ParquetFile(parts[3]).metadata.row_group(0).column(SCHEMA.names.index("id"))
    data[chunk.data_page_offset + chunk.total_compressed_size // 2] ^= 0xFF  # a flipped byte inside a page
    parts[3].write_bytes(bytes(data))
    parts[4].write_bytes(b"garbage")
    with caplog.at_level("WARNING", logger="zipfit"):
        resumed = zipfit.score(path, EXAMPLES / "proofnet_valid.jsonl", out=out, resume=True, **options)
    said = [r.getMessage() for r in caplog.records if "scoring that shard again" in r.getMessage()]
    assert len(said) == 3 and any("the part of shard 00000-0000002, not 00000-0000001" in m for m in said)
    assert resumed.manifest["counts"]["resumed_shards"] == len(parts) - 3
    assert pq.read_table(out).equals(pq.read_table(whole.out))
    parts[0].write_bytes(parts[5].read_bytes())
    with pytest.raises(ZipfitError, match="part 00000-0000000: the part of shard 00000-0000005"):
        zipfit.select(out=tmp_path / "sel.jsonl", scores=out, k=5, progress=False)


def test_score_refuses_an_input_that_changed_while_it_was_read(mix, tmp_path, monkeypatch):
    path, _ = mix
    source = tmp_path / "growing.jsonl"
    source.write_bytes(path.read_bytes())
    from zipfit import api

    real = api.score_all

    def appending(*args, **kwargs):
        result = real(*args, **kwargs)
        with open(source, "a", encoding="utf-8") as f:
            f.write(json.dumps({"id": "late", "text": "appended while scoring"}) + "\n")
        return result

    monkeypatch.setattr(api, "score_all", appending)
    with pytest.raises(ZipfitError, match="changed while zipfit was reading it"):
        zipfit.score(source, EXAMPLES / "proofnet_valid.jsonl", out=tmp_path / "s", target_template=TEMPLATE,
                     workers=1, progress=False)
    assert not (tmp_path / "s" / MANIFEST_FILE).exists()  # never a complete dataset of what was not recorded


def test_one_string_is_not_a_list_of_targets(mix, tmp_path):
    with pytest.raises(ZipfitError, match="not one string"):
        zipfit.select(mix[0], target_texts="theorem foo : 1 = 1", k=3, out=tmp_path / "o.jsonl", progress=False)
