"""`zipfit experiment` end to end on a tiny config of real data, and the cache that lets a rerun continue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zipfit.cli import main
from zipfit.harness import train

PROOFNET = "proofnet/proofnet_lean4_zipfit_v2.jsonl"


def write_config(path: Path, data: Path, lean_docs: int = 40) -> Path:
    """A tiny experiment; its third source holds 3 of the eval statements among 12 harmless documents."""
    rows = [json.loads(line) for line in (data / PROOFNET).read_text(encoding="utf-8").splitlines()]
    tests = [f"{r['nl_statement']}\n{r['formal_statement']}" for r in rows if r["split"] == "test"][:3]
    harmless = [" ".join(f"word{i}x{j}" for j in range(60)) for i in range(12)]
    (path.parent / "planted.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in tests + harmless),
                                               encoding="utf-8")
    path.write_text(f"""
name = "tiny"
methods = ["zipfit", "random"]
budgets = [1500, 1000]
seeds = [0]

[[sources]]
name = "lean"
files = ["{data / "lean4" / "mathematics_in_lean.jsonl.gz"}"]
chunk_lines = 30
chunk_chars = 1200
max_docs = {lean_docs}

[[sources]]
name = "mbpp"
files = ["{data / "mbpp" / "mbpp.jsonl"}"]
template = "{{text}}\\n{{code}}"
max_docs = 40

[[sources]]
name = "planted"
files = ["{path.parent / "planted.jsonl"}"]

[target]
files = ["{data / PROOFNET}"]
template = "{{nl_statement}}\\n{{formal_statement}}"
where = {{split = "valid"}}
max_examples = 12

[eval]
files = ["{data / PROOFNET}"]
template = "{{nl_statement}}\\n{{formal_statement}}"
where = {{split = "test"}}
max_examples = 6

[selection]
workers = 1

[tokenizer]
sample_docs = 60

[train]
vocab_size = 300
n_layer = 1
n_head = 2
d_model = 32
block_size = 64
batch_size = 4
eval_every = 500

[per_dataset]
budget = 800
""", encoding="utf-8")
    return path


def test_experiment_end_to_end_and_rerun_from_cache(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "tiny.toml", data_dir)
    out = tmp_path / "out"
    assert main(["experiment", str(config), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(out / "report.md")

    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Results at 1,500 training tokens" in report
    assert "| **zipfit** | 1 |" in report and "| random | 1 |" in report
    assert "## Dataset alignment vs target CE (800 training tokens each)" in report
    for png in ("plots/curves-1500.png", "plots/alignment.png"):
        assert (out / png).is_file() and f"]({png})" in report
    labels = ["zipfit-1500-s0", "random-1500-s0", "zipfit-1000-s0", "random-1000-s0", "dataset-lean-800-s0",
              "dataset-mbpp-800-s0"]
    for label in labels:
        for suffix in (".csv", ".json", ".png"):
            assert (out / "runs" / f"{label}{suffix}").is_file()

    summary = json.loads((out / "experiment.json").read_text(encoding="utf-8"))
    # each method scored the mix once; both budgets were cut from its score dataset
    assert summary["timings"]["phases"]["scoring"]["steps"] == 2
    assert summary["timings"]["phases"]["selection"]["steps"] == 4
    assert "| scoring |" in report and (out / "scores" / "zipfit" / "_manifest.json").is_file()
    labels.append("dataset-planted-800-s0")
    assert sorted(r["label"] for r in summary["runs"]) == sorted(labels)
    # decontamination against the eval set is on by default: the planted eval statements never reach a selection
    assert summary["decontamination"]["applied"] is True
    assert "Decontamination against the eval set: on" in report
    for sel in summary["selections"] + summary["datasets"]:
        # counted among the documents a selection considers: the whole mix, or one source dataset
        assert sel["exclusions"]["source_contaminated"] == (3 if sel.get("domain", "planted") == "planted" else 0)
        assert sel["eval_ngram_overlap"] == 0
    planted = [json.loads(line) for line in (out / "datasets" / "planted-800.jsonl").read_text().splitlines()]
    assert planted and all(r["text"].startswith("word") for r in planted)
    assert summary["tokenizer"]["kind"] == "bpe"
    tokenizer = out / "tokenizer" / "tokenizer.json"
    for sel in summary["selections"]:
        # budgets are counted in the training tokenizer's tokens, so the selection fits the training budget
        assert 0 < sel["tokens"] <= sel["budget"]
        assert sum(d["documents"] for d in sel["domains"].values()) == sel["documents"]
    for r in summary["runs"]:
        assert r["config"]["tokenizer"] == str(tokenizer)  # trained with the same tokenizer
        assert r["train_tokens"] <= r["budget"]
        assert r["config"]["resolved"]["vocab_size"] == 300
    datasets = {d["domain"]: d for d in summary["datasets"]}
    assert set(datasets) == {"lean", "mbpp", "planted"}
    selected = [json.loads(line) for line in (out / "datasets" / "lean-800.jsonl").read_text().splitlines()]
    assert {r["domain"] for r in selected} == {"lean"}
    target = (out / "data" / "target.jsonl").read_text(encoding="utf-8")
    mix = (out / "data" / "mix.jsonl").read_text(encoding="utf-8")
    assert len(target.splitlines()) == 12 and len(mix.splitlines()) == 95

    # a rerun trains nothing: every step is reused
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached step ran again")

    monkeypatch.setattr(train, "train_eval", refuse)
    before = (out / "runs" / "zipfit-1500-s0.json").read_bytes()
    assert main(["experiment", str(config), "--out", str(out), "--quiet"]) == 0
    again = json.loads((out / "experiment.json").read_text(encoding="utf-8"))
    assert all(r["cached"] for r in again["runs"])
    assert all(p["reused"] == p["steps"] for p in again["timings"]["phases"].values())
    assert (out / "runs" / "zipfit-1500-s0.json").read_bytes() == before
    capsys.readouterr()

    # changed parameters of a step that ran: refused without --overwrite, the old outputs untouched
    write_config(config, data_dir, lean_docs=30)
    assert main(["experiment", str(config), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "step mix was run with other parameters" in err and "--overwrite" in err and err.count("\n") == 1
    assert len((out / "data" / "mix.jsonl").read_text(encoding="utf-8").splitlines()) == 95


def test_config_errors_are_one_line(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "bad.toml", data_dir)
    config.write_text(config.read_text(encoding="utf-8").replace('methods = ["zipfit", "random"]',
                                                                 'methods = ["zipfit", "randm"]'), encoding="utf-8")
    assert main(["experiment", str(config), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("zipfit: error: unknown method 'randm'") and "random" in err[-1]
    assert not (tmp_path / "o").exists()  # nothing was started


EVIDENCE = """
[reference]
full_source = true
max_tokens = 2000
seeds = [0]

[ablation]
target_sizes = [3, 6, 50]
seeds = [0]
"""


def test_reference_and_ablation_only_add_steps_to_a_finished_run(data_dir: Path, tmp_path: Path,
                                                                   count_training) -> None:
    config = write_config(tmp_path / "tiny.toml", data_dir)
    plain = config.read_text(encoding="utf-8").replace("budgets = [1500, 1000]", "budgets = [1000]") \
        .replace("seeds = [0]\n", "seeds = [0, 1]\n", 1)
    config.write_text(plain, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["experiment", str(config), "--out", str(out), "--quiet"]) == 0
    first = json.loads((out / "experiment.json").read_text(encoding="utf-8"))
    steps = {p.name: p.read_bytes() for p in (out / "steps").iterdir()}
    # the paper's alignment read from zipfit's scores of the mix is the one zipfit.align measures
    scores = first["alignment_scores"]
    assert scores["methods"] == ["zipfit", "zipfit-debiased", "zipfit-ml"]
    for d in first["datasets"]:
        assert scores["datasets"][d["domain"]]["zipfit"] == pytest.approx(d["alignment"], abs=1e-9)
        assert set(scores["datasets"][d["domain"]]) == set(scores["methods"])
    assert {(r["method"], r["versus"], r["seeds"]) for r in first["statistics"]["paired_differences"]} == {
        ("zipfit", "random", 2)}

    trained = count_training()
    config.write_text(plain + EVIDENCE, encoding="utf-8")
    assert main(["experiment", str(config), "--out", str(out), "--quiet"]) == 0
    second = json.loads((out / "experiment.json").read_text(encoding="utf-8"))
    # every step of the first run was reused as it was; only the reference and the ablation ran
    for name, content in steps.items():
        assert (out / "steps" / name).read_bytes() == content, name
    runs = {r["label"]: r for r in second["runs"]}
    assert all(runs[r["label"]]["cached"] for r in first["runs"])
    new = sorted(label for label, r in runs.items() if not r["cached"])
    assert new == ["ablation-zipfit-1000-n3-s0", "ablation-zipfit-1000-n6-s0", "reference-full-source-s0"]
    # 50 target examples is not below the 12 there are: that size is the normal run, not trained again
    assert len(trained) == 3 and all(tokens <= 2000 and seed == 0 for tokens, seed in trained)

    ref = runs["reference-full-source-s0"]
    assert ref["kind"] == "reference" and 0 < ref["train_tokens"] <= 2000 and len(ref["curve"]) >= 3
    assert second["reference"]["exclusions"]["source_contaminated"] == 3  # decontaminated like the selections
    small, large = ((out / "data" / f"target-n{n}-s0.jsonl").read_text(encoding="utf-8").splitlines() for n in (3, 6))
    target = (out / "data" / "target.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(small) == 3 and len(large) == 6
    texts = [{json.loads(line)["text"] for line in lines} for lines in (small, large, target)]
    assert texts[0] < texts[1] < texts[2]  # nested subsets of the target
    assert (out / "scores" / "zipfit-n3-s0" / "_manifest.json").is_file()

    report = (out / "report.md").read_text(encoding="utf-8")
    for text in (f"| whole source, {ref['train_tokens']:,} tokens | 1 |", "## Target-size ablation (1,000 training",
                 "| method | n = 3 | n = 6 | all |", "## Alignment vs CE under each score", "| method | vs random |"):
        assert text in report
    for png in ("curves-1000", "ablation", "alignment-scores"):
        assert f"](plots/{png}.png)" in report and (out / "plots" / f"{png}.png").is_file()
    assert second["statistics"]["reference"]["seeds"] == [0]
    assert {r["target_size"] for r in second["statistics"]["ablation"]} == {"3", "6", "all"}
    # --redraw rebuilds the same report from experiment.json, the new sections too
    (out / "report.md").unlink()
    assert main(["experiment", "--redraw", str(out)]) == 0
    assert (out / "report.md").read_text(encoding="utf-8") == report
