"""The CLI's method options, generated from the declared parameters: offered, validated, routed to the API."""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import zipfit
from zipfit.cli import build_parser, main
from zipfit.methods import SCORES, all_parameters, method_class, method_names

EXAMPLE = Path(__file__).resolve().parents[2] / "examples"
SELECT = ["select", str(EXAMPLE / "source_mix.jsonl.gz"), "--target", str(EXAMPLE / "proofnet_valid.jsonl"),
          "--target-template", "{nl_statement}\\n{formal_statement}", "--k", "5"]
GENERATED = {name: use for name, use in all_parameters().items() if name != "seed"}  # seed: a run option


def subcommand(name: str) -> argparse.ArgumentParser:
    actions = build_parser()._subparsers._group_actions  # type: ignore[union-attr]
    return actions[0].choices[name]


def option(parser: argparse.ArgumentParser, dest: str) -> argparse.Action | None:
    return next((a for a in parser._actions if a.dest == dest), None)


def test_select_offers_every_parameter_with_the_methods_that_take_it():
    parser = subcommand("select")
    text = parser.format_help()
    for name, use in GENERATED.items():
        action = option(parser, name)
        assert action is not None and action.default is None, name  # unset = not passed on
        assert use.param.cli_flag in action.option_strings and use.param.cli_flag in text
        assert action.help.startswith(", ".join(use.methods) + ": "), action.help
        assert use.param.describe_default() in action.help
        if use.param.choices:
            assert tuple(action.choices) == use.param.choices
    assert option(parser, "method").choices == method_names()


def test_score_offers_only_methods_that_score_and_their_parameters():
    parser = subcommand("score")
    scorers = [m for m in method_names() if method_class(m).kind == SCORES]
    assert option(parser, "method").choices == scorers and "d4" not in scorers and "zipfit-fast" not in scorers
    assert option(parser, "stage1_targets") is None and option(parser, "r_dedup") is None
    assert option(parser, "num_buckets") is not None and option(parser, "background_docs") is not None


def test_bool_parameters_are_flags_that_leave_the_default_alone_unless_given():
    args = subcommand("select").parse_args([*SELECT[1:], "--out", "o.jsonl"])
    assert args.allow_level_0 is None and args.cache is None and args.codec is None
    args = subcommand("select").parse_args([*SELECT[1:], "--out", "o.jsonl", "--allow-level-0", "--no-cache"])
    assert args.allow_level_0 is True and args.cache is False


def test_a_parameter_the_method_does_not_take_is_an_error_line_and_exit_2(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "zipfit", *SELECT, "--out", str(tmp_path / "o.jsonl"),
                           "--num-buckets", "5", "--method", "zipfit"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ("zipfit: error: --num-buckets does not apply to --method zipfit; "
                                   "it is a parameter of dsir")
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--method", "dsir", "--num-buckets", "0"], "--num-buckets must be at least 1, got 0"),
    (["--method", "d4", "--r-dedup", "1.5"], "--r-dedup must be at most 1, got 1.5"),
    (["--method", "zipfit-fast", "--confidence", "inf"], "--confidence must be a finite number, got inf"),
    (["--method", "d4", "--codec", "zstd"], "--codec does not apply to --method d4; it is a parameter of zipfit, "
                                            "zipfit-fast, zipfit-debiased, zipfit-debiased-fast"),
])
def test_out_of_range_or_misplaced_values_are_refused_before_any_work(extra, message, tmp_path, capsys):
    assert main([*SELECT, "--out", str(tmp_path / "o.jsonl"), *extra]) == 2
    assert capsys.readouterr().err.strip() == f"zipfit: error: {message}"
    assert list(tmp_path.iterdir()) == []


def test_a_float_for_an_integer_parameter_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*SELECT, "--out", "o.jsonl", "--num-buckets", "5.5"])
    assert exit_.value.code == 2 and "--num-buckets: invalid int value" in capsys.readouterr().err


class _Called(BaseException):  # not an Exception: the CLI reports those as internal errors
    pass


def capture(monkeypatch, api_name: str) -> dict[str, Any]:
    """Replace zipfit.<api_name> with a recorder of the same signature (the CLI routes by it)."""
    real = getattr(zipfit, api_name)
    seen: dict[str, Any] = {}

    @functools.wraps(real)
    def record(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise _Called

    monkeypatch.setattr(zipfit, api_name, record)
    return seen


def test_select_passes_only_what_the_user_set(monkeypatch, tmp_path):
    seen = capture(monkeypatch, "select")
    with pytest.raises(_Called):
        main([*SELECT, "--out", str(tmp_path / "o.jsonl"), "--method", "zipfit-fast", "--stage1-targets", "2",
              "--level", "6", "--seed", "4"])
    assert seen["params"] == {"stage1_targets": 2, "level": 6} and seen["seed"] == 4
    with pytest.raises(_Called):
        main([*SELECT, "--out", str(tmp_path / "o.jsonl"), "--method", "dsir", "--num-buckets", "500"])
    assert seen["params"] == {"num_buckets": 500}


def test_compare_gives_each_method_only_its_own_parameters(monkeypatch, tmp_path, capsys):
    seen = capture(monkeypatch, "compare")
    compare = ["compare", *SELECT[1:], "--methods", "zipfit,dsir,random"]
    with pytest.raises(_Called):
        main([*compare, "--num-buckets", "500", "--level", "6", "--allow-level-0"])
    # each method gets the parameters it declares, and only those
    assert seen["params"] == {"zipfit": {"level": 6, "allow_level_0": True}, "dsir": {"num_buckets": 500},
                              "random": {}}
    assert main([*compare[:-1], "zipfit,random", "--r-dedup", "0.5"]) == 2
    assert capsys.readouterr().err.strip() == ("zipfit: error: --r-dedup applies to none of --methods zipfit,random; "
                                               "it is a parameter of d4")
