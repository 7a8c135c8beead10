"""``--set KEY=VALUE`` overrides of an experiment config: values, source selectors, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from zipfit.errors import ZipfitError
from zipfit.harness.config import load_config
from zipfit.harness.overrides import apply_overrides, parse_override

CONFIG = Path(__file__).resolve().parents[2] / "experiments" / "autoformalization.toml"

RAW = {"name": "x", "budgets": [50000], "train": {"n_layer": 4},
       "sources": [{"name": "lean", "max_docs": 10}, {"name": "wiki"}]}


@pytest.mark.parametrize(("text", "path", "value"), [
    ("train.n_layer=1", ["train", "n_layer"], 1),
    ("train.lr=2.5e-4", ["train", "lr"], 2.5e-4),
    ("budgets=[1000, 2000]", ["budgets"], [1000, 2000]),
    ("per_dataset.enabled=false", ["per_dataset", "enabled"], False),
    ("train.device=cuda:1", ["train", "device"], "cuda:1"),  # not TOML: a plain string
    ('name="with spaces"', ["name"], "with spaces"),
    (" train.precision = bf16 ", ["train", "precision"], "bf16"),
])
def test_parse_override(text, path, value):
    assert parse_override(text) == (path, value)


def test_apply_overrides_sets_keys_and_leaves_the_input_alone():
    out = apply_overrides(RAW, ["train.n_layer=1", "selection.options.dsir.min_example_length=20",
                                "sources.wiki.max_docs=5", "sources.*.min_chars=50", "sources.0.chunk_chars=900"])
    assert out["train"] == {"n_layer": 1}
    assert out["selection"] == {"options": {"dsir": {"min_example_length": 20}}}
    assert out["sources"] == [{"name": "lean", "max_docs": 10, "min_chars": 50, "chunk_chars": 900},
                              {"name": "wiki", "max_docs": 5, "min_chars": 50}]
    assert RAW["train"] == {"n_layer": 4} and "min_chars" not in RAW["sources"][0]
    assert apply_overrides(RAW, ["budgets=[1]", "budgets=[2]"])["budgets"] == [2]  # in order: the last wins


@pytest.mark.parametrize(("text", "message"), [
    ("train.n_layer", "use KEY=VALUE"),
    ("train..n_layer=1", "use KEY=VALUE"),
    ("=3", "use KEY=VALUE"),
    ("sources.nope.max_docs=1", "no source named 'nope'; sources: lean, wiki"),
    ("sources.7.max_docs=1", "there are 2 sources"),
    ("sources.lean=1", "name a key of the source"),
    ("budgets.first=1", "budgets is a list, not a table"),
])
def test_bad_override_is_one_line(text, message):
    with pytest.raises(ZipfitError, match=message) as info:
        apply_overrides(RAW, [text])
    assert "\n" not in str(info.value)


def test_load_config_applies_overrides_before_checking():
    cfg = load_config(CONFIG, overrides=["train.n_layer=1", "budgets=[2000, 3000]", "sources.*.max_docs=7",
                                         "train.device=cuda"])
    assert cfg.train["n_layer"] == 1 and cfg.train["device"] == "cuda" and cfg.budgets == (2000, 3000)
    assert {s.max_docs for s in cfg.sources} == {7}
    assert cfg.per_dataset.budget == 15000  # set in the file, kept
    assert cfg.overrides == ("train.n_layer=1", "budgets=[2000, 3000]", "sources.*.max_docs=7", "train.device=cuda")
    assert load_config(CONFIG).overrides == ()
    with pytest.raises(ZipfitError, match="unknown key 'n_layers' in \\[train\\]"):
        load_config(CONFIG, overrides=["train.n_layers=1"])  # a typo is caught as one in the file would be
    with pytest.raises(ZipfitError, match=r"budgets\[0\] must be at least 1"):
        load_config(CONFIG, overrides=["budgets=[0]"])
