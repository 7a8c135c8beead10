"""Frozen settings and the keyword shortcuts that build them: the same call two ways, validated once."""

from __future__ import annotations

from pathlib import Path

import pytest

import zipfit
from zipfit.config import Compression, Dedup, Run, Settings, Texts, settings_from
from zipfit.errors import ZipfitError
from zipfit.io import TextSpec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TEMPLATE = "{nl_statement}\n{formal_statement}"


def _settings(**options):
    return settings_from(None, options, function="select", method_parameters=frozenset({"level", "codec"}))


def test_shortcuts_and_dataclasses_are_the_same_call(tmp_path):
    a = zipfit.select(EXAMPLES / "source_mix.jsonl.gz", EXAMPLES / "proofnet_valid.jsonl", k=30,
                      out=tmp_path / "a.jsonl", target_template=TEMPLATE, workers=1, level=6, dedup=True,
                      progress=False)
    settings = Settings(texts=Texts(target=TextSpec(template=TEMPLATE)), run=Run(workers=1, progress=False),
                        dedup=Dedup())
    b = zipfit.select(EXAMPLES / "source_mix.jsonl.gz", EXAMPLES / "proofnet_valid.jsonl", k=30,
                      out=tmp_path / "b.jsonl", settings=settings, compression=Compression(level=6))
    assert a.out.read_bytes() == b.out.read_bytes()
    assert a.manifest["method"] == b.manifest["method"]


def test_each_role_reads_text_its_own_way():
    s = _settings(text_field="content", target_template="{a}", exclude=["t.jsonl"], exclude_where=["split=test"],
                  target_where={"split": "valid"})
    assert s.texts.source == TextSpec(field="content")
    assert s.texts.target_spec == TextSpec(field="content", template="{a}", where=(("split", "valid"),))
    # excluded documents are read like the target, but the target's filters are its own
    assert s.texts.exclude_spec == TextSpec(field="content", template="{a}", where=(("split", "test"),))
    assert s.decontamination is not None and s.decontamination.files == ("t.jsonl",)
    assert _settings(target_template="{a}").texts.exclude_spec == TextSpec(template="{a}")


def test_bad_settings_are_caught_once_with_one_line():
    with pytest.raises(TypeError, match="unexpected keyword argument 'wokers'"):
        _settings(wokers=2)
    with pytest.raises(ZipfitError, match="--workers must be at least 1"):
        Run(workers=0)
    with pytest.raises(ZipfitError, match="--ray-address needs --engine ray"):
        _settings(ray_address="auto")
    with pytest.raises(ZipfitError, match="unknown engine 'spark'"):
        Run(engine="spark")
    with pytest.raises(ZipfitError, match="near_duplicate must be in"):
        _settings(exclude="t.jsonl", exclude_near_duplicate=1.5)
    with pytest.raises(ZipfitError, match="order must be"):
        _settings(order="random")
    assert _settings(level=6).params == {"level": 6}


def test_a_parameter_the_method_does_not_take_is_an_error(tmp_path):
    with pytest.raises(ZipfitError, match="--num-buckets does not apply to --method zipfit"):
        zipfit.select(EXAMPLES / "source_mix.jsonl.gz", EXAMPLES / "proofnet_valid.jsonl", k=5,
                      out=tmp_path / "x.jsonl", target_template=TEMPLATE, num_buckets=100, progress=False)
    assert not (tmp_path / "x.jsonl").exists()
