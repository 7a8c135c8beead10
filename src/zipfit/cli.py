"""Command line: a thin shell over the Python API (``zipfit.select``, ``zipfit.score``, ``zipfit.align``)."""

from __future__ import annotations

import argparse
import inspect
import logging
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from zipfit import __version__
from zipfit.engines import ENGINES
from zipfit.errors import ZipfitError
from zipfit.filters.shingles import UNITS
from zipfit.io.shards import ROWS_PER_SHARD
from zipfit.methods import SCORES, all_parameters, check_params, method_class, method_names
from zipfit.selection import SAMPLING

_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\\\": "\\"}


def unescape(template: str | None) -> str | None:
    """Let shell users write ``"{a}\\n{b}"`` for a newline, as the examples in the docs do."""
    if template is None:
        return None
    out, i = [], 0
    while i < len(template):
        pair = template[i : i + 2]
        if pair in _ESCAPES:
            out.append(_ESCAPES[pair])
            i += 2
        else:
            out.append(template[i])
            i += 1
    return "".join(out)


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


_METAVARS = {int: "N", float: "X"}
# Set once for the whole run and handed to every method that declares it: each subcommand has its own option.
_RUN_SETTINGS = ("seed",)


def _add_method_options(p: argparse.ArgumentParser, methods: Sequence[str], title: str) -> None:
    """One option per parameter that any of ``methods`` declares, generated from the declarations.

    Every option defaults to None, so that what the user did not set is left to each method's own default.
    """
    g = p.add_argument_group(title)
    for name, shared in all_parameters().items():
        takers = [m for m in shared.methods if m in methods]
        if name in _RUN_SETTINGS or not takers:
            continue
        param = shared.param
        if param.type is bool and param.default:
            help_ = f"{', '.join(takers)}: turn off '{param.help}' (on by default)"
        else:
            help_ = f"{', '.join(takers)}: {param.help} (default: {param.describe_default()})"
        help_ = help_.replace("%", "%%")  # argparse formats help with %
        if param.type is bool:
            g.add_argument(param.cli_flag, dest=name, action="store_const", const=not param.default, default=None,
                           help=help_)
        else:
            metavar = param.metavar or _METAVARS.get(param.type, "DIR" if param.path else "TEXT")
            g.add_argument(param.flag, dest=name, type=param.type, choices=param.choices, default=None,
                           metavar=None if param.choices else metavar, help=help_)


def _add_seed_option(p: argparse.ArgumentParser, methods: Sequence[str]) -> None:
    seed = all_parameters()["seed"]
    takers = [m for m in seed.methods if m in methods]
    p.add_argument("--seed", type=int, default=seed.param.default,
                   help=f"seed of {', '.join(takers)} (default: {seed.param.describe_default()})")


def _user_params(args: argparse.Namespace) -> dict[str, Any]:
    """The method parameters set on the command line (an option left out is None)."""
    return {name: getattr(args, name) for name in all_parameters()
            if name not in _RUN_SETTINGS and getattr(args, name, None) is not None}


def _route(api: Any, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split parameters into the API call's own keywords (codec=, level=, ...) and its ``method_options``."""
    keywords = set(inspect.signature(api).parameters) - {"method_options"}
    return {k: v for k, v in params.items() if k in keywords}, {k: v for k, v in params.items() if k not in keywords}


def _compare_params(names: Sequence[str], params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each method's share of the parameters set; one that none of ``names`` takes is an error."""
    for key in params:
        if not any(method_class(n).parameter(key) is not None for n in names):
            takers = ", ".join(all_parameters()[key].methods)
            raise ZipfitError(f"--{key.replace('_', '-')} applies to none of --methods {','.join(names)}; it is a "
                              f"parameter of {takers}")
    return {n: check_params(n, {k: v for k, v in params.items() if method_class(n).parameter(k) is not None})
            for n in names}


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
    g.add_argument("--exclude-unit", default="word", choices=UNITS,
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
    g.add_argument("--engine", default="local", choices=ENGINES,
                   help="run on this machine (default) or on a Ray cluster (pip install 'zipfit[ray]')")
    g.add_argument("--ray-address", help="join a running Ray cluster: auto, HOST:6379 or ray://HOST:10001 "
                                         "(default: start a local one, or use RAY_ADDRESS)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing output")
    g.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors on stderr")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: on when stderr is a terminal)")


_METHOD_OPTIONS = "method parameters (each method takes the ones that name it; the CLI refuses the others)"


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
    p.add_argument("--sampling", default="top-k", choices=SAMPLING,
                   help="top-k by score (default), or Gumbel top-k: sampling without replacement (as DSIR resamples)")
    p.add_argument("--order", default="rank", choices=("rank", "input"),
                   help="output order: best first (default) or input order")
    p.add_argument("--tokenizer", default="whitespace",
                   help="token unit for --tokens: whitespace (default), chars, bytes, or a tokenizer.json path")
    _add_seed_option(p, method_names())
    _add_text_options(p)
    _add_method_options(p, method_names(), _METHOD_OPTIONS)
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
    _add_seed_option(p, method_names())
    p.add_argument("--out", help="also write the report as JSON")
    _add_text_options(p)
    _add_method_options(p, method_names(), _METHOD_OPTIONS)
    _add_run_options(p)

    p = sub.add_parser("score", help="write the score of every source document",
                       description="Write index, file, row, id, score, n_chars, n_tokens for every document.")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.add_argument("--out", required=True, help="output .parquet, .jsonl or .csv")
    p.add_argument("--tokenizer", default="whitespace", help="token unit for n_tokens")
    scorers = [m for m in method_names() if method_class(m).kind == SCORES]
    p.add_argument("--method", default="zipfit", choices=scorers,
                   help="zipfit (default) or a method that gives every document a score")
    _add_seed_option(p, scorers)
    _add_text_options(p)
    _add_method_options(p, scorers, _METHOD_OPTIONS)
    _add_checkpoint_options(p)
    _add_run_options(p)

    p = sub.add_parser("align", help="dataset-level alignment of each dataset with the target",
                       description="Mean ZIP-FIT alignment of each DATASET (one argument = one dataset).")
    p.add_argument("datasets", nargs="+", metavar="DATASET")
    p.add_argument("--max-docs", type=int, help="score a seeded sample of this many documents per dataset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the table to .json, .jsonl, .csv or .parquet")
    _add_text_options(p)
    _add_method_options(p, ["zipfit"], "scoring")
    _add_run_options(p)

    from zipfit.harness.cli import add_commands

    add_commands(sub)  # train-eval, experiment: they set args.handler
    return parser


def _common(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "target": args.target,
        "text_field": args.text_field,
        "template": unescape(args.template),
        "where": args.where,
        "target_text_field": args.target_text_field,
        "target_template": unescape(args.target_template),
        "target_where": args.target_where,
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
        # validated here, before any work: a parameter --method does not take is a mistake, not a no-op
        keywords, options = _route(zipfit.select, check_params(args.method, _user_params(args)))
        zipfit.select(args.sources, out=args.out, k=args.k, tokens=args.tokens, method=args.method,
                      order=args.order, sampling=args.sampling, method_options=options,
                      tokenizer=args.tokenizer, seed=args.seed, resume=args.resume, shard_rows=args.shard_rows,
                      exclude=args.exclude, exclude_text_field=args.exclude_text_field,
                      exclude_template=unescape(args.exclude_template), exclude_where=args.exclude_where,
                      exclude_ngram=args.exclude_ngram, exclude_unit=args.exclude_unit,
                      exclude_near_duplicate=args.exclude_near_duplicate, dedup=args.dedup,
                      dedup_threshold=args.dedup_threshold, **keywords, **_common(args))
    elif args.command == "score":
        keywords, options = _route(zipfit.score, check_params(args.method, _user_params(args)))
        zipfit.score(args.sources, out=args.out, tokenizer=args.tokenizer, method=args.method, seed=args.seed,
                     method_options=options, resume=args.resume, shard_rows=args.shard_rows,
                     **keywords, **_common(args))
    elif args.command == "compare":
        names = [m.strip() for m in args.methods.split(",") if m.strip()]
        per_method = _compare_params(names, _user_params(args))
        # what compare takes as its own keyword goes to every method that declares it; the rest per method
        keywords, _ = _route(zipfit.compare, {k: v for p in per_method.values() for k, v in p.items()})
        options = {n: {k: v for k, v in p.items() if k not in keywords} for n, p in per_method.items()}
        report = zipfit.compare(args.sources, methods=names, method_options=options, k=args.k, tokens=args.tokens,
                                tokenizer=args.tokenizer, seed=args.seed, out=args.out, **keywords, **_common(args))
        print(format_comparison(report))
    elif args.command == "align":
        keywords, options = _route(zipfit.align, check_params("zipfit", _user_params(args)))
        if options:
            raise ZipfitError(f"align does not take {', '.join(options)}")
        rows = zipfit.align(args.datasets, out=args.out, max_docs=args.max_docs, seed=args.seed, **keywords,
                            **_common(args))
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
    from zipfit.ncd import tune_allocator

    if getattr(args, "workers", None) == 1 or (getattr(args, "workers", None) is None and available_cores() == 1):
        # scoring runs in this process: tune it like a worker. Otherwise leave it alone: tuned, it would
        # keep the copies left behind by its growing per-document arrays (measured: +7 MB at 10^6 documents)
        tune_allocator()
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
