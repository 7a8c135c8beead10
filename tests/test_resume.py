"""A real run killed with SIGKILL resumes from its checkpoints and writes the bytes of an uninterrupted run."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import zipfit
from zipfit.errors import ZipfitError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    mix = root / "mix.jsonl"
    with gzip.open(EXAMPLES / "source_mix.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    lines.insert(100, "{broken")  # an exclusion the resumed run must still count
    mix.write_text("\n".join(lines) + "\n", encoding="utf-8")
    second = root / "mix2.jsonl.gz"
    second.write_bytes(gzip.compress(("\n".join(reversed(lines[1:])) + "\n").encode("utf-8")))
    return [mix, second], EXAMPLES / "proofnet_valid.jsonl"


def _cli(sources, target, out, *extra):
    return [sys.executable, "-m", "zipfit", "select", *map(str, sources), "--target", str(target),
            "--target-template", "{nl_statement}\\n{formal_statement}", "--k", "40", "--out", str(out),
            "--shard-rows", "25", "--quiet", *extra]


def test_kill_9_then_resume_writes_the_same_bytes(tmp_path, inputs):
    sources, target = inputs
    reference = tmp_path / "reference.jsonl"
    subprocess.run(_cli(sources, target, reference, "--workers", "2"), check=True)

    out = tmp_path / "out.jsonl"
    shards = Path(str(out) + ".zipfit-checkpoint")
    run = subprocess.Popen(_cli(sources, target, out, "--workers", "1"))
    deadline = time.monotonic() + 120
    while len(list(shards.glob("part-*.parquet"))) < 4:
        assert run.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    done = len(list(shards.glob("part-*.parquet")))
    assert not out.exists()

    again = subprocess.run(_cli(sources, target, out, "--workers", "1"), capture_output=True, text=True)
    assert again.returncode == 2 and "--resume" in again.stderr  # forgetting --resume loses nothing

    subprocess.run(_cli(sources, target, out, "--workers", "2", "--resume"), check=True)
    assert out.read_bytes() == reference.read_bytes()
    manifest = json.loads(Path(str(out) + ".manifest.json").read_text())
    assert done <= manifest["counts"]["resumed_shards"] < 48
    assert manifest["exclusions"]["source"]["by_reason"]["malformed_json"]["count"] == 2  # one in each file
    assert not shards.exists()  # removed once the output is written


def test_changed_parameters_do_not_reuse_checkpoints(tmp_path, inputs, proofnet_valid):
    sources, _ = inputs
    out = tmp_path / "o.jsonl"
    options = {"out": out, "k": 10, "shard_rows": 100, "workers": 1, "progress": False}
    with pytest.raises(ZipfitError, match="only"):  # k too large: a user error after scoring
        zipfit.select(sources, target_texts=proofnet_valid[:20], **{**options, "k": 10**6}, resume=True)
    shards = Path(str(out) + ".zipfit-checkpoint")
    assert len(list(shards.glob("part-*.parquet"))) == 13  # 601 + 600 rows in shards of 100; kept under --resume
    fixed = zipfit.select(sources, target_texts=proofnet_valid[:20], **options, resume=True)
    assert fixed.manifest["counts"]["resumed_shards"] == 13 and not shards.exists()

    with pytest.raises(ZipfitError):
        zipfit.select(sources, target_texts=proofnet_valid[:20], **{**options, "k": 10**6}, resume=True,
                      overwrite=True)
    other = zipfit.select(sources, target_texts=proofnet_valid[:21], **options, resume=True, overwrite=True)
    assert other.manifest["counts"]["resumed_shards"] == 0  # other targets: other scores
    with pytest.raises(ZipfitError):
        zipfit.select(sources, target_texts=proofnet_valid[:20], **{**options, "k": 10**6}, overwrite=True)
    assert not shards.exists()  # a user error outside --resume leaves nothing behind


def test_score_resumes_too(tmp_path, inputs, proofnet_valid, monkeypatch):
    sources, _ = inputs
    options = {"target_texts": proofnet_valid[:10], "shard_rows": 100, "workers": 1, "progress": False}
    whole = zipfit.score(sources, out=tmp_path / "whole", **options)
    out = tmp_path / "part"
    from zipfit.pipeline.scores import ScoreDataset

    save, calls = ScoreDataset.save, []

    def interrupted(self, key, file, part):
        calls.append(1)
        if len(calls) > 6:
            raise KeyboardInterrupt  # as Ctrl-C or SIGTERM arrive in the CLI
        return save(self, key, file, part)

    monkeypatch.setattr(ScoreDataset, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        zipfit.score(sources, out=out, **options)
    monkeypatch.setattr(ScoreDataset, "save", save)
    assert not (out / "_manifest.json").exists() and len(list(out.glob("part-*.parquet"))) == 6
    resumed = zipfit.score(sources, out=out, **options, resume=True)
    for name in [p.name for p in whole.out.glob("part-*.parquet")]:
        assert (out / name).read_bytes() == (whole.out / name).read_bytes()
    assert resumed.manifest["counts"]["resumed_shards"] == 6
    assert resumed.manifest["exclusions"] == whole.manifest["exclusions"]


def test_resume_keeps_decontamination_counts(tmp_path, inputs, proofnet_valid, data_dir, monkeypatch):
    sources, _ = inputs
    proofnet = data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl"
    test = [json.loads(line) for line in proofnet.read_text().splitlines() if '"split": "test"' in line][:30]
    planted = tmp_path / "planted.jsonl"
    planted.write_text("".join(json.dumps({"text": f"{r['nl_statement']}\n{r['formal_statement']}"}) + "\n"
                               for r in test), encoding="utf-8")
    options = {"target_texts": proofnet_valid[:10], "shard_rows": 64, "workers": 1, "progress": False, "k": 30,
               "exclude": proofnet, "exclude_where": {"split": "test"},
               "exclude_template": "{nl_statement}\n{formal_statement}"}
    whole = zipfit.select([planted, *sources], out=tmp_path / "whole.jsonl", **options)
    from zipfit.pipeline.scores import ScoreDataset

    save, saved = ScoreDataset.save, []

    def interrupted(self, key, file, part):
        if len(saved) == 5:
            raise KeyboardInterrupt
        saved.append(key)
        return save(self, key, file, part)

    monkeypatch.setattr(ScoreDataset, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        zipfit.select([planted, *sources], out=tmp_path / "out.jsonl", **options)
    monkeypatch.setattr(ScoreDataset, "save", save)
    resumed = zipfit.select([planted, *sources], out=tmp_path / "out.jsonl", **options, resume=True)
    assert resumed.out.read_bytes() == whole.out.read_bytes()
    assert resumed.manifest["counts"]["resumed_shards"] == 5  # the planted shard among them
    assert resumed.manifest["decontamination"]["dropped"] == whole.manifest["decontamination"]["dropped"]
    assert whole.manifest["counts"]["source_contaminated"] >= 30
