"""The harness's subcommands. Importing this module must stay cheap: heavy imports go inside handlers."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any) -> None:
    """Register the harness's subcommands on the main parser's subparsers; each sets ``handler``."""
    add_experiment_command(sub)


def add_experiment_command(sub: Any) -> None:
    p = sub.add_parser("experiment", help="select with several methods, train on each selection, write a report",
                       description="Run the experiment a TOML config describes (see docs/experiments.md): source "
                                   "mix, tokenizer, selections, training runs per seed, per-dataset runs, report.md. "
                                   "A rerun reuses every finished step.")
    p.add_argument("config", metavar="CONFIG.toml", help="experiment config (relative paths are relative to it)")
    p.add_argument("--out", help="output directory (default: runs/<config name>)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the outputs of steps whose parameters changed (otherwise that is an error)")
    p.add_argument("--quiet", action="store_true", help="only warnings and errors")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: on a terminal)")
    p.set_defaults(handler=run_experiment_command)


def run_experiment_command(args: Any) -> int:
    from pathlib import Path

    from zipfit.harness.experiment import run_experiment

    out = args.out or str(Path("runs") / Path(args.config).stem)
    result = run_experiment(args.config, out, overwrite=args.overwrite,
                            progress=False if args.quiet else args.progress)
    print(result.report)
    return 0
