"""Per-source reading options: one run over inputs whose text lives in different fields."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

import zipfit
from zipfit.errors import ZipfitError
from zipfit.io.sources import Source, parse_source
from zipfit.io.textspec import TextSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TARGET = EXAMPLES / "proofnet_valid.jsonl"
TARGET_TEMPLATE = "{nl_statement}\n{formal_statement}"
RULES = {  # how each source builds its text
    "humaneval": lambda r: r["prompt"] + r["canonical_solution"],
    "mbpp": lambda r: r["code"],
    "stdlib": lambda r: r["code"],
}


@pytest.fixture(scope="module")
def sources(data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    with gzip.open(data_dir / "humaneval" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as f:
        humaneval = [json.loads(line) for line in f][:60]
    mbpp = [json.loads(line) for line in (data_dir / "mbpp" / "mbpp.jsonl").read_text().splitlines()[:80]]
    with gzip.open(data_dir / "code" / "cpython311_stdlib_functions.jsonl.gz", "rt", encoding="utf-8") as f:
        stdlib = [json.loads(next(f)) for _ in range(80)]
    stdlib[5]["code"] = None  # a record without text: excluded, and counted
    files = {}
    for name, records in (("humaneval", humaneval), ("mbpp", mbpp), ("stdlib", stdlib)):
        files[name] = root / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    # the same documents preprocessed into one "text" field: what users had to write before
    flat = root / "flat.jsonl"
    with open(flat, "w", encoding="utf-8") as out:
        for name, records in (("humaneval", humaneval), ("mbpp", mbpp), ("stdlib", stdlib)):
            for r in records:
                if r.get("code", "") is not None:
                    out.write(json.dumps({"text": RULES[name](r)}) + "\n")
    return files, flat


def _mixed(files):
    return [Source(files["humaneval"], template="{prompt}{canonical_solution}"), files["mbpp"],
            Source(files["stdlib"], text_field="code")]


def test_a_mixed_run_selects_what_preprocessing_into_one_field_would(sources, tmp_path):
    files, flat = sources
    mixed = zipfit.select(_mixed(files), TARGET, out=tmp_path / "mixed.jsonl", k=40, text_field="code",
                          target_template=TARGET_TEMPLATE, workers=1, progress=False)
    plain = zipfit.select(flat, TARGET, out=tmp_path / "flat.jsonl", k=40, target_template=TARGET_TEMPLATE,
                          workers=1, progress=False)
    assert mixed.scores.tolist() == plain.scores.tolist()
    picked = [json.loads(line) for line in (tmp_path / "mixed.jsonl").read_text().splitlines()]
    texts = [RULES["humaneval"](r) if "prompt" in r else r["code"] for r in picked]
    assert texts == [json.loads(line)["text"] for line in (tmp_path / "flat.jsonl").read_text().splitlines()]
    assert {("prompt" in r, "test_list" in r) for r in picked} == {(True, False), (False, True), (False, False)}
    per_source = mixed.manifest["parameters"]["per_source"]
    assert [p["template"] for p in per_source] == ["{prompt}{canonical_solution}", None, None]
    assert [p["text_field"] for p in per_source][1:] == ["code", "code"]
    assert mixed.manifest["exclusions"]["source"]["by_reason"]["missing_field"]["count"] == 1
    assert "per_source" not in plain.manifest["parameters"]  # runs without Source record what they always did


def test_the_cli_source_option_is_the_python_source(sources, tmp_path):
    files, _ = sources
    mixed = _mixed(files)
    zipfit.select([mixed[1], mixed[0], mixed[2]], TARGET, out=tmp_path / "api.jsonl", k=25, text_field="code",
                  target_template=TARGET_TEMPLATE, workers=1, progress=False)
    proc = subprocess.run(
        [sys.executable, "-m", "zipfit", "select", str(files["mbpp"]), "--source", str(files["humaneval"]),
         "template={prompt}{canonical_solution}", "--source", str(files["stdlib"]),
         "text_field=code", "--text-field", "code", "--target", str(TARGET), "--target-template",
         "{nl_statement}\\n{formal_statement}", "--k", "25", "--out", str(tmp_path / "cli.jsonl"), "--workers", "2",
         "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cli.jsonl").read_bytes() == (tmp_path / "api.jsonl").read_bytes()


def test_saved_scores_remember_how_each_source_was_read(sources, tmp_path):
    files, _ = sources
    options = dict(text_field="code", target_template=TARGET_TEMPLATE, workers=1, progress=False)
    direct = zipfit.select(_mixed(files), TARGET, out=tmp_path / "direct.jsonl", k=30, **options)
    zipfit.score(_mixed(files), TARGET, out=tmp_path / "scores", **options)
    cut = zipfit.select(scores=tmp_path / "scores", out=tmp_path / "cut.jsonl", k=30, progress=False)
    assert (tmp_path / "cut.jsonl").read_bytes() == (tmp_path / "direct.jsonl").read_bytes()
    assert cut.manifest["parameters"]["per_source"] == direct.manifest["parameters"]["per_source"]
    with pytest.raises(ZipfitError, match="per-source options differing"):
        zipfit.select(list(files.values()), scores=tmp_path / "scores", out=tmp_path / "x.jsonl", k=5,
                      progress=False)


def test_a_source_option_left_out_comes_from_the_run():
    run = TextSpec(field="code", where=(("split", "test"),))
    assert Source("a.jsonl").spec(run) == run
    assert Source("a.jsonl", template="{a}{b}").spec(run) == TextSpec(field="code", template="{a}{b}",
                                                                      where=(("split", "test"),))
    assert Source("a.jsonl", text_field="body", where={"lang": "py"}).spec(run) == \
        TextSpec(field="body", where=(("lang", "py"),))
    assert parse_source(["a.jsonl", "template={x}\\n{y}", "where=lang=py", "where=split=train"]) == \
        Source("a.jsonl", template="{x}\n{y}", where=(("lang", "py"), ("split", "train")))


@pytest.mark.parametrize(("tokens", "message"), [
    (["a.jsonl", "field=code"], "is not one of text_field=..., template=..., where=..."),
    (["a.jsonl", "text_field=code", "template={x}"], "give text_field or template, not both"),
    (["a.jsonl", "template={x.y}"], "is not allowed"),
    (["a.jsonl", "where=lang"], "FIELD=VALUE"),
])
def test_bad_source_options_are_one_line_errors(tokens, message):
    with pytest.raises(ZipfitError, match=message):
        parse_source(tokens)


def test_a_missing_field_names_the_source_option(sources, tmp_path):
    files, _ = sources
    with pytest.raises(ZipfitError, match=r"mbpp.jsonl: no field 'prompt'.*--source PATH template"):
        zipfit.select([files["humaneval"], Source(files["mbpp"], template="{prompt}")], TARGET,
                      out=tmp_path / "o.jsonl", k=5, text_field="prompt", progress=False)
    with pytest.raises(ZipfitError, match="given twice"):
        zipfit.select([files["mbpp"], Source(files["mbpp"], text_field="code")], TARGET, out=tmp_path / "o.jsonl",
                      k=5, progress=False)
