"""Command line: a thin shell over the Python API (``zipfit.select``, ``zipfit.score``, ``zipfit.align``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from zipfit import __version__
from zipfit.errors import ZipfitError
from zipfit.io.shards import ROWS_PER_SHARD
from zipfit.io.textspec import unescape
from zipfit.methods import method_names


def _add_text_options(p: argparse.ArgumentParser, *, with_target: bool = True) -> None:
    g = p.add_argument_group("what text to read")
    g.add_argument("--text-field", default="text", help="source field holding the text (default: text)")
    g.add_argument("--template", help='source format string over fields, e.g. "{prompt}{canonical_solution}"')
    g.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE",
                   help="keep only source records whose FIELD equals VALUE (repeatable)")
    if with_target:
        g.add_argument("--target", nargs="+", required=True, metavar="TARGET", help="target example files or globs")
        g.add_argument("--target-text-field", help="target field holding the text (default: --text-field)")
        g.add_argument("--target-template", help='target format string, e.g. "{nl_statement}\\n{formal_statement}"')
        g.add_argument("--target-where", action="append", default=[], metavar="FIELD=VALUE",
                       help="keep only target records whose FIELD equals VALUE, e.g. split=valid (repeatable)")


def _add_score_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scoring")
    g.add_argument("--codec", default="gzip", choices=("gzip", "zstd", "lz4"), help="compressor (default: gzip)")
    g.add_argument("--level", type=int, help="compression level (default: 1 for gzip, as ZIP-FIT's first release)")
    g.add_argument("--allow-level-0", action="store_true",
                   help="permit gzip level 0, which stores without compressing and ranks by length only")


BASELINE_OPTIONS = ("num_buckets", "ngrams", "min_example_length", "model", "cache_dir", "batch_size", "r_dedup",
                    "clusters", "background_docs")


def _add_baseline_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("baselines (each method takes the options that apply to it)")
    g.add_argument("--num-buckets", type=int, help="dsir: hashed n-gram buckets (default: 10000)")
    g.add_argument("--ngrams", type=int, help="dsir: longest n-gram (default: 2)")
    g.add_argument("--min-example-length", type=int,
                   help="dsir: shorter documents (in words) are excluded and counted (default: 100)")
    g.add_argument("--model", help="embed, d4: a local sentence-transformers directory (default: the bundled MiniLM)")
    g.add_argument("--cache-dir", help="embed, d4: embedding cache (default: ~/.cache/zipfit/embeddings)")
    g.add_argument("--batch-size", type=int, help="embed, d4: texts per model call (default: 32)")
    g.add_argument("--r-dedup", type=float, help="d4: fraction kept by semantic dedup (default: 0.75)")
    g.add_argument("--clusters", type=int, help="d4: k-means clusters (default: sqrt of the documents)")
    g.add_argument("--background-docs", type=int,
                   help="zipfit-debiased: source documents in the seeded background sample (default: as many as "
                        "there are targets)")


def _baseline_options(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name) for name in BASELINE_OPTIONS if getattr(args, name) is not None}


def _fraction_or_off(value: str) -> float | None:
    if value.lower() in ("off", "none", "no"):
        return None
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a Jaccard similarity in (0, 1] or 'off', got {value!r}") from None


def _add_clean_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("decontamination and deduplication")
    g.add_argument("--exclude", nargs="+", metavar="FILE",
                   help="drop source documents that overlap these (e.g. the target's test split): a shared long "
                        "n-gram, a short one contained whole, or a near-duplicate")
    g.add_argument("--exclude-text-field", help="field of the excluded records (default: the target's)")
    g.add_argument("--exclude-template", help="format string for the excluded records (default: the target's)")
    g.add_argument("--exclude-where", action="append", default=[], metavar="FIELD=VALUE",
                   help="keep only excluded records whose FIELD equals VALUE, e.g. split=test (repeatable)")
    g.add_argument("--exclude-ngram", type=int, default=13, help="n-gram length (default: 13; 8 is common for code)")
    g.add_argument("--exclude-unit", default="word", choices=("word", "char"),
                   help="n-grams of words (default) or of characters (for code: try --exclude-ngram 50)")
    g.add_argument("--exclude-near-duplicate", type=_fraction_or_off, default=0.8, metavar="JACCARD",
                   help="also drop near-duplicates at this MinHash Jaccard similarity (default: 0.8; 'off')")
    g.add_argument("--dedup", action="store_true",
                   help="skip exact and near-duplicate copies of better-ranked documents before the budget is cut")
    g.add_argument("--dedup-threshold", type=_fraction_or_off, default=0.8, metavar="JACCARD",
                   help="near-duplicate Jaccard similarity for --dedup (default: 0.8; 'off' = exact copies only)")


def _add_checkpoint_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("checkpoints (beside --out, removed when the run succeeds)")
    g.add_argument("--resume", action="store_true",
                   help="continue an interrupted run: shards already scored are not scored again; the output is "
                        "the same as an uninterrupted run's")
    g.add_argument("--shard-rows", type=int, default=ROWS_PER_SHARD,
                   help=f"rows of an input per shard, the unit of checkpoints and of work on Ray "
                        f"(default: {ROWS_PER_SHARD})")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("running")
    g.add_argument("--workers", type=int, help="worker processes (default: all cores; with Ray, all cluster CPUs)")
    g.add_argument("--engine", default="local", choices=("local", "ray"),
                   help="run on this machine (default) or on a Ray cluster (pip install 'zipfit[ray]')")
    g.add_argument("--ray-address", help="join a running Ray cluster: auto, HOST:6379 or ray://HOST:10001 "
                                         "(default: start a local one, or use RAY_ADDRESS)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing output")
    g.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors on stderr")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: on when stderr is a terminal)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zipfit",
        description="Pick the documents that best fit a target task (ZIP-FIT: gzip compression distance).",
    )
    parser.add_argument("--version", action="version", version=f"zipfit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("select", help="write the source documents that best fit the target",
                       description="Score every source document against the target and write the best.")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="JSONL(.gz/.zst), Parquet, save_to_disk dirs; globs allowed")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--k", type=int, help="number of documents to select")
    budget.add_argument("--tokens", type=int, help="token budget: best documents up to this many tokens")
    p.add_argument("--out", required=True, help="output .jsonl, .jsonl.gz, .jsonl.zst or .parquet")
    p.add_argument("--method", default="zipfit", choices=method_names(),
                   help="zipfit (default), zipfit-fast (same result, less work) or a baseline")
    p.add_argument("--sampling", default="top-k", choices=("top-k", "gumbel"),
                   help="top-k by score (default), or Gumbel top-k: sampling without replacement (as DSIR resamples)")
    p.add_argument("--order", default="rank", choices=("rank", "input"),
                   help="output order: best first (default) or input order")
    p.add_argument("--tokenizer", default="whitespace",
                   help="token unit for --tokens: whitespace (default), chars, bytes, or a tokenizer.json path")
    p.add_argument("--seed", type=int, default=0, help="seed (zipfit-fast's stage-1 target sample)")
    fast = p.add_argument_group("zipfit-fast (calibrated proxies, then exact scores for the contenders)")
    fast.add_argument("--stage1-targets", type=int,
                      help="targets in the coarse proxy every document gets (default: 4)")
    fast.add_argument("--stage2-targets", type=int,
                      help="targets in the fine proxy for the documents stage 1 keeps (default: 16)")
    fast.add_argument("--calibration-docs", type=int,
                      help="documents scored exactly on all targets to fit the proxies (default: 256)")
    fast.add_argument("--confidence", type=float,
                      help="rescore every document within this many proxy-error sigmas of the cutoff (default: 4)")
    fast.add_argument("--candidate-factor", type=float,
                      help="first rescore this many times the budget, best by proxy (default: 1.5)")
    _add_text_options(p)
    _add_score_options(p)
    _add_baseline_options(p)
    _add_clean_options(p)
    _add_checkpoint_options(p)
    _add_run_options(p)

    p = sub.add_parser("compare", help="run several methods on the same data: overlaps, lengths, times",
                       description="Select with each method (nothing written) and compare the selections.")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--k", type=int, help="number of documents each method selects")
    budget.add_argument("--tokens", type=int, help="token budget for each method")
    p.add_argument("--methods", default="zipfit,random", help=f"comma-separated, from: {', '.join(method_names())}")
    p.add_argument("--tokenizer", default="whitespace", help="token unit for --tokens and lengths")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the report as JSON")
    _add_text_options(p)
    _add_score_options(p)
    _add_baseline_options(p)
    _add_run_options(p)

    p = sub.add_parser("score", help="write the score of every source document",
                       description="Write index, file, row, id, score, n_chars, n_tokens for every document.")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.add_argument("--out", required=True, help="output .parquet, .jsonl or .csv")
    p.add_argument("--tokenizer", default="whitespace", help="token unit for n_tokens")
    p.add_argument("--method", default="zipfit", choices=[m for m in method_names() if m not in ("zipfit-fast", "d4")],
                   help="zipfit (default) or a method that gives every document a score")
    p.add_argument("--seed", type=int, default=0)
    _add_text_options(p)
    _add_score_options(p)
    _add_baseline_options(p)
    _add_checkpoint_options(p)
    _add_run_options(p)

    p = sub.add_parser("align", help="dataset-level alignment of each dataset with the target",
                       description="Mean ZIP-FIT alignment of each DATASET (one argument = one dataset).")
    p.add_argument("datasets", nargs="+", metavar="DATASET")
    p.add_argument("--max-docs", type=int, help="score a seeded sample of this many documents per dataset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the table to .json, .jsonl, .csv or .parquet")
    _add_text_options(p)
    _add_score_options(p)
    _add_run_options(p)

    _add_plugin_commands(sub)
    return parser


COMMANDS_GROUP = "zipfit.commands"


def _add_plugin_commands(sub: Any) -> None:
    """Subcommands other packages register under the ``zipfit.commands`` entry-point group (the harness's
    train-eval and experiment among them): each entry is ``add_commands(subparsers)`` and sets
    ``args.handler``. Found through the installed metadata, so the library never imports its plugins."""
    from importlib.metadata import entry_points

    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            add_commands = entry.load()
        except Exception as exc:  # a broken plugin must not take the library's own commands down with it
            print(f"zipfit: warning: cannot load the {entry.name!r} commands ({entry.value}): {exc}", file=sys.stderr)
            continue
        add_commands(sub)


def _common(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "target": args.target,
        "text_field": args.text_field,
        "template": unescape(args.template),
        "where": args.where,
        "target_text_field": args.target_text_field,
        "target_template": unescape(args.target_template),
        "target_where": args.target_where,
        "codec": args.codec,
        "level": args.level,
        "allow_level_0": args.allow_level_0,
        "workers": args.workers,
        "engine": args.engine,
        "ray_address": args.ray_address,
        "overwrite": args.overwrite,
        "progress": False if args.quiet else args.progress,
    }


def run(args: argparse.Namespace) -> int:
    import zipfit

    if getattr(args, "handler", None) is not None:
        return args.handler(args)
    if args.command == "select":
        zipfit.select(args.sources, out=args.out, k=args.k, tokens=args.tokens, method=args.method,
                      order=args.order, sampling=args.sampling, method_options=_baseline_options(args),
                      tokenizer=args.tokenizer, seed=args.seed,
                      stage1_targets=args.stage1_targets, candidate_factor=args.candidate_factor,
                      stage2_targets=args.stage2_targets, calibration_docs=args.calibration_docs,
                      confidence=args.confidence, resume=args.resume, shard_rows=args.shard_rows,
                      exclude=args.exclude, exclude_text_field=args.exclude_text_field,
                      exclude_template=unescape(args.exclude_template), exclude_where=args.exclude_where,
                      exclude_ngram=args.exclude_ngram, exclude_unit=args.exclude_unit,
                      exclude_near_duplicate=args.exclude_near_duplicate, dedup=args.dedup,
                      dedup_threshold=args.dedup_threshold, **_common(args))
    elif args.command == "score":
        zipfit.score(args.sources, out=args.out, tokenizer=args.tokenizer, method=args.method, seed=args.seed,
                     method_options=_baseline_options(args), resume=args.resume, shard_rows=args.shard_rows,
                     **_common(args))
    elif args.command == "compare":
        common = _common(args)
        common.pop("allow_level_0")
        names = [m.strip() for m in args.methods.split(",") if m.strip()]
        options = _baseline_options(args)
        report = zipfit.compare(args.sources, methods=names, method_options={name: options for name in names},
                                k=args.k, tokens=args.tokens, tokenizer=args.tokenizer, seed=args.seed, out=args.out,
                                **common)
        print(format_comparison(report))
    elif args.command == "align":
        rows = zipfit.align(args.datasets, out=args.out, max_docs=args.max_docs, seed=args.seed, **_common(args))
        print(format_alignment(rows))
    return 0


def format_alignment(rows: Sequence[dict[str, Any]]) -> str:
    width = max(len("dataset"), *(len(r["dataset"]) for r in rows))
    lines = [f"{'dataset':<{width}}  {'docs':>9}  {'scored':>9}  {'alignment':>9}  {'std':>7}  {'median':>7}"]
    for r in sorted(rows, key=lambda r: -r["alignment"]):
        lines.append(f"{r['dataset']:<{width}}  {r['documents']:>9,}  {r['scored']:>9,}  {r['alignment']:>9.5f}  "
                     f"{r['std']:>7.4f}  {r['median']:>7.4f}")
    return "\n".join(lines)


def _terminate(signum: int, frame: Any) -> None:
    # SIGTERM unwinds like Ctrl-C: temp files are removed and worker pools shut down
    raise KeyboardInterrupt


def format_comparison(report: dict[str, Any]) -> str:
    rows = report["methods"]
    width = max(len("method"), *(len(r["method"]) for r in rows))
    source = report["source"]
    lines = [f"{source['documents']:,} source documents (median {source['median_chars']:,.0f} chars), "
             f"{report['targets']} targets",
             f"{'method':<{width}}  {'selected':>8}  {'tokens':>10}  {'chars p10':>9}  {'median':>7}  {'p90':>7}  "
             f"{'seconds':>8}"]
    for r in rows:
        chars = r["lengths"]["chars"]
        lines.append(f"{r['method']:<{width}}  {r['selected']:>8,}  {r['tokens']:>10,}  {chars['p10']:>9,.0f}  "
                     f"{chars['p50']:>7,.0f}  {chars['p90']:>7,.0f}  {r['seconds']:>8.2f}")
    chars = source["lengths"]["chars"]
    lines.append(f"{'(source)':<{width}}  {source['documents']:>8,}  {'':>10}  {chars['p10']:>9,.0f}  "
                 f"{chars['p50']:>7,.0f}  {chars['p90']:>7,.0f}")
    names = [r["method"] for r in rows]
    lines.append("")
    lines.append("overlap (shared selected documents / the smaller selection)")
    lines.append(f"{'':<{width}}  " + "  ".join(f"{n:>{max(6, len(n))}}" for n in names))
    for a in names:
        lines.append(f"{a:<{width}}  " + "  ".join(f"{report['overlap'][a][b]:>{max(6, len(b))}.2f}" for b in names))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from zipfit.engines.local import available_cores
    from zipfit.process import mark_owned

    if getattr(args, "workers", None) == 1 or (getattr(args, "workers", None) is None and available_cores() == 1):
        # scoring runs in this process: let the method tune it like a worker. Otherwise leave it unmarked: tuned,
        # it would keep the copies left behind by its growing per-document arrays (measured: +7 MB at 10^6 docs)
        mark_owned()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("zipfit: %(message)s"))
    logger = logging.getLogger("zipfit")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.WARNING if args.quiet else logging.INFO)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        return run(args)
    except ZipfitError as exc:
        print(f"zipfit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("zipfit: interrupted", file=sys.stderr)
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
