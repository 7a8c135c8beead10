"""The harness's subcommands. Importing this module must stay cheap: heavy imports go inside handlers."""

from __future__ import annotations

import argparse
import logging
from typing import Any

log = logging.getLogger("zipfit")


def add_commands(sub: Any) -> None:
    """Register the harness's subcommands on the main parser's subparsers; each sets ``handler``."""
    add_train_eval(sub)
    add_experiment_command(sub)


def add_experiment_command(sub: Any) -> None:
    p = sub.add_parser("experiment", help="select with several methods, train on each selection, write a report",
                       description="Run the experiment a TOML config describes (see docs/experiments.md): source "
                                   "mix, tokenizer, selections, training runs per seed, per-dataset runs, report.md. "
                                   "A rerun reuses every finished step.")
    p.add_argument("config", metavar="CONFIG.toml", nargs="?",
                   help="experiment config (relative paths are relative to it)")
    p.add_argument("--redraw", metavar="DIR",
                   help="run nothing: rewrite DIR/report.md and DIR/plots/ from DIR/experiment.json (the output "
                        "directory of a finished experiment)")
    p.add_argument("--out", help="output directory (default: runs/<config name>)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="change a config value for this run, e.g. train.n_layer=2, budgets=[2000], "
                        "sources.*.max_docs=50 (repeatable; VALUE is TOML, or a plain string)")
    p.add_argument("--device", help="train on this device: cpu, cuda or cuda:N (the same as --set train.device=...)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the outputs of steps whose parameters changed (otherwise that is an error)")
    p.add_argument("--quiet", action="store_true", help="only warnings and errors")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: on a terminal)")
    p.set_defaults(handler=run_experiment_command)


def run_experiment_command(args: Any) -> int:
    from pathlib import Path

    from zipfit.errors import ZipfitError
    from zipfit.harness.config import load_config
    from zipfit.harness.experiment import run_experiment

    if args.redraw is not None:
        if args.config is not None or args.overrides or args.device:
            raise ZipfitError("--redraw DIR takes no config, --set or --device: it redraws what "
                              "DIR/experiment.json holds")
        from zipfit.harness.report import redraw

        print(redraw(args.redraw))
        return 0
    if args.config is None:
        raise ZipfitError("experiment needs a CONFIG.toml (or --redraw DIR)")
    overrides = [*args.overrides, *([f"train.device={args.device}"] if args.device else [])]
    config = load_config(args.config, overrides=overrides)
    device = config.train.get("device", "cpu")
    if device != "cpu":
        from zipfit.harness.train import check_device

        check_device(str(device))  # no GPU here: say so now, not after the selections
    out = args.out or str(Path("runs") / Path(args.config).stem)
    result = run_experiment(config, out, overwrite=args.overwrite, progress=False if args.quiet else args.progress)
    print(result.report)
    return 0


# ---- train-eval ------------------------------------------------------------------------------------------


def add_train_eval(sub: Any) -> None:
    p = sub.add_parser(
        "train-eval", help="train a language model on a selection and track its loss on a target test set",
        description="Train a causal LM on the TRAIN documents (a from-scratch tiny GPT, or a local Hugging Face "
                    "model or GGUF file) and evaluate cross-entropy on the EVAL texts at 0 tokens and every "
                    "--eval-every training tokens. Writes PREFIX.csv, PREFIX.json and PREFIX.png.")
    p.add_argument("--train", nargs="+", required=True, metavar="TRAIN",
                   help="training documents: JSONL(.gz/.zst), Parquet, save_to_disk dirs; globs allowed")
    p.add_argument("--eval", nargs="+", required=True, metavar="EVAL", help="target test examples (same formats)")
    p.add_argument("--out", required=True, metavar="PREFIX", help="write PREFIX.csv, PREFIX.json, PREFIX.png")
    p.add_argument("--label", help="name of the curve in the plot and JSON (default: the model's name)")
    g = p.add_argument_group("what text to read")
    g.add_argument("--text-field", default="text", help="training field holding the text (default: text)")
    g.add_argument("--template", help='training format string over fields, e.g. "{prompt}{canonical_solution}"')
    g.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE",
                   help="keep only training records whose FIELD equals VALUE (repeatable)")
    g.add_argument("--eval-text-field", help="eval field holding the text (default: --text-field)")
    g.add_argument("--eval-template", help='eval format string, e.g. "{nl_statement}\\n{formal_statement}"')
    g.add_argument("--eval-where", action="append", default=[], metavar="FIELD=VALUE",
                   help="keep only eval records whose FIELD equals VALUE, e.g. split=test (repeatable)")
    g = p.add_argument_group("model")
    g.add_argument("--model", default="tiny-gpt",
                   help="tiny-gpt (default: trained from scratch), a Hugging Face model directory or a .gguf file")
    g.add_argument("--tokenizer", help="tiny-gpt: a tokenizer.json, or 'bytes' (default: train a BPE on TRAIN)")
    g.add_argument("--vocab-size", type=int, default=8192, help="tiny-gpt: BPE vocabulary to train (default: 8192)")
    g.add_argument("--n-layer", type=int, default=4, help="tiny-gpt: transformer blocks (default: 4)")
    g.add_argument("--n-head", type=int, default=4, help="tiny-gpt: attention heads (default: 4)")
    g.add_argument("--d-model", type=int, default=256, help="tiny-gpt: width (default: 256)")
    g.add_argument("--block-size", type=int, default=256,
                   help="tokens per training block and eval window (default: 256)")
    g.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    g.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="fp32 (default), or bf16: forward passes under bfloat16 autocast, the fast choice on a GPU")
    g = p.add_argument_group("training")
    g.add_argument("--max-tokens", type=int, help="training token budget (default: one epoch of TRAIN)")
    g.add_argument("--batch-size", type=int, default=8, help="blocks per optimizer step (default: 8)")
    g.add_argument("--lr", type=float, help="peak learning rate (default: 1e-3 tiny-gpt, 5e-6 pretrained)")
    g.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (default: 0.01)")
    g.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm, 0 = off (default: 1.0)")
    g.add_argument("--warmup", type=float, default=0.05, help="fraction of steps warming up (default: 0.05)")
    g.add_argument("--seed", type=int, default=0, help="model initialisation and data order (default: 0)")
    g.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    g = p.add_argument_group("evaluation")
    g.add_argument("--eval-every", type=int, help="training tokens between evaluations (default: ~10 points)")
    g.add_argument("--eval-max-examples", type=int, help="evaluate on the first N eval examples only")
    g.add_argument("--eval-batch-size", type=int, default=8, help="windows per eval forward pass (default: 8)")
    g = p.add_argument_group("running")
    g.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    g.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors on stderr")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: on when stderr is a terminal)")
    p.set_defaults(handler=run_train_eval)


def run_train_eval(args: argparse.Namespace) -> int:
    from zipfit.api import parse_where
    from zipfit.harness.train import TrainConfig, check_curve_outputs, check_device, train_eval, write_curve
    from zipfit.io import Corpus, TextSpec, read_texts
    from zipfit.io.textspec import unescape

    train_spec = TextSpec(field=args.text_field, template=unescape(args.template), where=parse_where(args.where))
    eval_spec = TextSpec(field=args.eval_text_field or args.text_field, template=unescape(args.eval_template),
                         where=parse_where(args.eval_where))
    inputs = [f.path for paths, spec in ((args.train, train_spec), (args.eval, eval_spec))
              for f in Corpus(paths, spec).files]
    check_curve_outputs(args.out, overwrite=args.overwrite, inputs=inputs)
    config = TrainConfig(
        model=args.model, tokenizer=args.tokenizer, vocab_size=args.vocab_size, n_layer=args.n_layer,
        n_head=args.n_head, d_model=args.d_model, block_size=args.block_size, max_tokens=args.max_tokens,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
        warmup=args.warmup, eval_every=args.eval_every, eval_max_examples=args.eval_max_examples,
        eval_batch_size=args.eval_batch_size, device=args.device, precision=args.precision, seed=args.seed,
        threads=args.threads,
    )
    check_device(config.device)  # a GPU that is not there fails now, before the training set is read
    if config.model != "tiny-gpt":
        from zipfit.harness.hf import locate

        locate(config.model)  # a missing model fails now, before reading the training set
    train_texts, _, _ = read_texts(args.train, train_spec, "training", "--where")
    eval_texts, _, _ = read_texts(args.eval, eval_spec, "eval", "--eval-where")
    result = train_eval(train_texts, eval_texts, config, progress=False if args.quiet else args.progress)
    paths = write_curve(result, args.out, overwrite=args.overwrite, label=args.label)
    first, last = result.curve[0], result.final
    log.info("target CE %.4f -> %.4f nats/token, %.4f -> %.4f bits/byte after %s tokens (%.0f train tokens/s); "
             "wrote %s", first.ce_nats, last.ce_nats, first.bits_per_byte, last.bits_per_byte,
             f"{result.train_tokens:,}", result.train_tokens_per_second, ", ".join(map(str, paths)))
    return 0
