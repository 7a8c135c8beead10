"""Command line: a thin shell over the Python API (``zipfit.select``, ``zipfit.score``, ``zipfit.align``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from zipfit import __version__
from zipfit.config import ORDERS
from zipfit.engines import engine_names
from zipfit.errors import EXIT_CODES, INTERNAL_EXIT, INTERRUPTED_EXIT, StorageError, ZipfitError, from_os_error
from zipfit.filters.shingles import UNITS
from zipfit.io.shards import ROWS_PER_SHARD
from zipfit.io.sources import parse_source
from zipfit.io.textspec import unescape
from zipfit.methods import DEFAULT_METHOD, SCORES, all_parameters, check_params, method_class, method_names
from zipfit.progress import LogHandler
from zipfit.selection import SAMPLING


def _add_text_options(p: argparse.ArgumentParser, *, with_target: bool = True, target_required: bool = True,
                      with_sources: bool = True) -> None:
    g = p.add_argument_group("what text to read")
    g.add_argument("--text-field", help="source field holding the text (default: text)")
    g.add_argument("--template", help='source format string over fields, e.g. "{prompt}{canonical_solution}"')
    g.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE",
                   help="keep only source records whose FIELD equals VALUE (repeatable)")
    if with_sources:
        g.add_argument("--source", action="append", nargs="+", default=[], metavar=("PATH", "KEY=VALUE"),
                       help="a source read with its own options, e.g. --source 'stack/*.jsonl.gz' text_field=content "
                            "(keys: text_field, template, where=FIELD=VALUE; repeatable; options left out come from "
                            "--text-field, --template and --where)")
    if with_target:
        g.add_argument("--target", nargs="+", required=target_required, metavar="TARGET",
                       help="target example files or globs")
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


def _add_budget_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("how much to select (one of --k, --tokens, --fraction; --min-score alone or with one)")
    budget = g.add_mutually_exclusive_group()
    budget.add_argument("--k", type=int, help="number of documents to select")
    budget.add_argument("--tokens", type=int, help="token budget: best documents up to this many tokens")
    budget.add_argument("--fraction", type=float, help="this fraction of the eligible documents, e.g. 0.1")
    g.add_argument("--min-score", type=float, help="only documents scoring at least this (alone: all of them)")
    g.add_argument("--group-by", metavar="FIELD",
                   help="split the budget across the values of this source field, by their share of the source")
    g.add_argument("--group-weights", metavar="VALUE=W,...",
                   help="with --group-by: the share of each value instead (normalised; values left out get none)")
    g.add_argument("--length-strata", type=int, metavar="N",
                   help="split the budget across N equal-count length strata of the source, by their share, so the "
                        "selection keeps the source's length distribution (a control for length bias)")


def _add_clean_options(p: argparse.ArgumentParser, *, dedup: bool = True) -> None:
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
    if not dedup:
        return
    g.add_argument("--dedup", action="store_true",
                   help="skip exact and near-duplicate copies of better-ranked documents before the budget is cut")
    g.add_argument("--dedup-threshold", type=_fraction_or_off, default=0.8, metavar="JACCARD",
                   help="near-duplicate Jaccard similarity for --dedup (default: 0.8; 'off' = exact copies only)")


def _add_checkpoint_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("checkpoints (the score dataset, written shard by shard)")
    g.add_argument("--resume", action="store_true",
                   help="continue an interrupted run: shards already scored are not scored again; the output is "
                        "the same as an uninterrupted run's")
    g.add_argument("--shard-rows", type=int, default=ROWS_PER_SHARD,
                   help=f"rows of an input per shard, the unit of checkpoints and of work on Ray "
                        f"(default: {ROWS_PER_SHARD})")


def _storage_options(text: str) -> dict[str, Any]:
    from zipfit.io.storage import parse_options

    try:
        return parse_options(text)
    except ZipfitError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--storage-options: ")) from None


def _add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("running")
    g.add_argument("--workers", type=int, help="worker processes (default: all cores; with Ray, all cluster CPUs)")
    g.add_argument("--engine", default="local", choices=engine_names(),
                   help="run on this machine (default) or on a Ray cluster (pip install 'zipfit[ray]')")
    g.add_argument("--ray-address", help="join a running Ray cluster: auto, HOST:6379 or ray://HOST:10001 "
                                         "(default: start a local one, or use RAY_ADDRESS)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing output")
    g.add_argument("--storage-options", type=_storage_options, metavar="JSON",
                   help="fsspec options for URL inputs and outputs (s3://, gs://, ...), e.g. "
                        "'{\"endpoint_url\": \"http://localhost:9000\"}'; credentials also come from the usual "
                        "environment variables (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...)")
    g.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors on stderr")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: on when stderr is a terminal)")


_METHOD_OPTIONS = "method parameters (each method takes the ones that name it; the CLI refuses the others)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zipfit",
        description="Pick the documents that best fit a target task (ZIP-FIT: gzip compression distance).",
        epilog="exit status: " + "; ".join(f"{code} {what}" for code, what in EXIT_CODES.items()),
    )
    parser.add_argument("--version", action="version", version=f"zipfit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("select", help="write the source documents that best fit the target",
                       description="Score every source document against the target and write the best; or, with "
                                   "--scores DIR, cut the selection from a saved score dataset without scoring.")
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="JSONL(.gz/.zst), Parquet, save_to_disk dirs; globs allowed (with --scores: optional, the "
                        "scored inputs by default)")
    _add_budget_options(p)
    p.add_argument("--out", required=True,
                   help="output .jsonl, .jsonl.gz, .jsonl.zst or .parquet; or DIR/ for a directory of parts")
    out = p.add_argument_group("sharded and other outputs")
    out.add_argument("--format", dest="out_format", choices=("parquet", "jsonl", "jsonl.gz", "jsonl.zst", "hf"),
                     help="write --out as a directory of parts in this format (default for DIR/: parquet); hf: a "
                          "directory datasets.load_from_disk opens")
    out.add_argument("--max-rows-per-file", type=int, metavar="N", help="directory output: at most N records a part")
    out.add_argument("--max-bytes-per-file", type=int, metavar="B",
                     help="directory output: a part's records add up to at most B bytes as JSON Lines")
    out.add_argument("--rejects", metavar="PATH",
                     help="also write every record that was not eligible (.jsonl(.gz/.zst) or .parquet), with its "
                          "status, reason and where it came from")
    out.add_argument("--report", metavar="PAGE.html",
                     help="also write the run's report page (plots, mix, examples, target coverage) and its plots "
                          "as PNG beside it")
    out.add_argument("--report-by", metavar="FIELD",
                     help="show the report's mix by this source field (default: --group-by, else the source file)")
    p.add_argument("--method", choices=method_names(),
                   help=f"{DEFAULT_METHOD} (default), zipfit (the paper's score), zipfit-ml, or a baseline")
    p.add_argument("--sampling", default="top-k", choices=SAMPLING,
                   help="top-k by score (default), or Gumbel top-k: sampling without replacement (as DSIR resamples)")
    p.add_argument("--order", default="rank", choices=ORDERS,
                   help="output order: best first (default) or input order")
    p.add_argument("--tokenizer",
                   help="token unit for --tokens: whitespace (default), chars, bytes, or a tokenizer.json path")
    scores = p.add_argument_group("score datasets (see `zipfit score`)")
    scores.add_argument("--scores", metavar="DIR",
                        help="cut from this saved score dataset instead of scoring (the inputs must be unchanged)")
    scores.add_argument("--scores-out", metavar="DIR",
                        help="keep the score dataset of this run in DIR, to cut more selections from it later")
    _add_seed_option(p, method_names())
    _add_text_options(p, target_required=False)
    _add_method_options(p, method_names(), _METHOD_OPTIONS)
    _add_clean_options(p)
    _add_checkpoint_options(p)
    _add_run_options(p)

    p = sub.add_parser("compare", help="run several methods on the same data: overlaps, lengths, times",
                       description="Select with each method (nothing written) and compare the selections.")
    p.add_argument("sources", nargs="*", metavar="SOURCE")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--k", type=int, help="number of documents each method selects")
    budget.add_argument("--tokens", type=int, help="token budget for each method")
    p.add_argument("--methods", default=f"{DEFAULT_METHOD},zipfit,random",
                   help=f"comma-separated (default: {DEFAULT_METHOD},zipfit,random: the default beside the paper's "
                        f"score and a baseline), from: {', '.join(method_names())}")
    p.add_argument("--tokenizer", default="whitespace", help="token unit for --tokens and lengths")
    _add_seed_option(p, method_names())
    p.add_argument("--out", help="also write the report as JSON")
    p.add_argument("--report", metavar="PAGE.html",
                   help="also write a report page: the selections' overlap as a heat map and their mixes side by side")
    p.add_argument("--report-by", metavar="FIELD",
                   help="count each method's mix (in the JSON and the page) by this source field (default: by file)")
    _add_text_options(p)
    _add_method_options(p, method_names(), _METHOD_OPTIONS)
    _add_run_options(p)

    p = sub.add_parser("score", help="write the score dataset: the score of every source document",
                       description="Write a score dataset to the directory --out: per input shard one Parquet file "
                                   "with a row per record (file, row, id, score, n_tokens, n_chars, status, reason) "
                                   "and _manifest.json. `zipfit select --scores DIR` cuts selections from it.")
    p.add_argument("sources", nargs="*", metavar="SOURCE")
    p.add_argument("--out", required=True, metavar="DIR", help="the score dataset directory")
    p.add_argument("--annotate", metavar="DIR",
                   help="also write every input record with zipfit_score, zipfit_rank, zipfit_status and "
                        "zipfit_reason, in input order, one file per input file")
    p.add_argument("--rejects", metavar="PATH",
                   help="also write every record that was not scored (.jsonl(.gz/.zst) or .parquet), with its status, "
                        "reason and where it came from")
    p.add_argument("--report", metavar="PAGE.html",
                   help="also write the run's report page (score and length distributions, mix, examples, target "
                        "coverage) and its plots as PNG beside it")
    p.add_argument("--report-by", metavar="FIELD", help="show the report's mix by this source field (default: file)")
    p.add_argument("--tokenizer", help="token unit for n_tokens (default: whitespace)")
    scorers = [m for m in method_names() if method_class(m).kind == SCORES]
    p.add_argument("--method", default=DEFAULT_METHOD, choices=scorers,
                   help=f"{DEFAULT_METHOD} (default), zipfit (the paper's score) or another method that gives every "
                        "document a score")
    _add_seed_option(p, scorers)
    _add_text_options(p)
    _add_method_options(p, scorers, _METHOD_OPTIONS)
    _add_clean_options(p, dedup=False)
    _add_checkpoint_options(p)
    _add_run_options(p)

    p = sub.add_parser("align", help="dataset-level alignment of each dataset with the target",
                       description="Mean ZIP-FIT alignment of each DATASET (one argument = one dataset).")
    p.add_argument("datasets", nargs="+", metavar="DATASET")
    p.add_argument("--max-docs", type=int, help="score a seeded sample of this many documents per dataset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the table to .json, .jsonl, .csv or .parquet")
    _add_text_options(p, with_sources=False)
    _add_method_options(p, ["zipfit"], "scoring")
    _add_run_options(p)

    p = sub.add_parser("report", help="write the report page of a finished run",
                       description="Write one self-contained HTML page (and its plots as PNG beside it) for a run: a "
                                   "score dataset directory, a selection output (its manifest beside it; its scores "
                                   "kept with --scores-out) or a compare JSON report.")
    p.add_argument("run", metavar="RUN", help="score dataset directory, selection output, or compare .json")
    p.add_argument("--out", metavar="PAGE.html", help="the page (default: RUN.report.html beside the run)")
    p.add_argument("--scores", metavar="DIR", help="the score dataset a selection was cut from, if its manifest does "
                                                   "not name one")
    p.add_argument("--group-by", metavar="FIELD", help="show the mix by this source field (default: the run's "
                                                       "--group-by, else the source file)")
    p.add_argument("--examples", type=int, default=5, metavar="N", help="examples shown per section (default 5)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing page")
    p.add_argument("--storage-options", type=_storage_options, metavar="JSON",
                   help="options of the store a remote RUN is on (s3://...), e.g. '{\"endpoint_url\": \"http://...\"}'")
    p.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")

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
    """The options every command shares, only those given: the API's own defaults (or a score dataset's
    recorded choices) apply to the rest."""
    options = {
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
        "tokenizer": getattr(args, "tokenizer", None),
        "seed": getattr(args, "seed", None),
        "resume": getattr(args, "resume", None) or None,
        "shard_rows": getattr(args, "shard_rows", None),
        "storage_options": getattr(args, "storage_options", None),
    }
    return {k: v for k, v in options.items() if v is not None and v != []}


def _exclude_options(args: argparse.Namespace) -> dict[str, Any]:
    if not args.exclude:
        return {}
    return {"exclude": args.exclude, "exclude_text_field": args.exclude_text_field,
            "exclude_template": unescape(args.exclude_template), "exclude_where": args.exclude_where,
            "exclude_ngram": args.exclude_ngram, "exclude_unit": args.exclude_unit,
            "exclude_near_duplicate": args.exclude_near_duplicate}


def _sources(args: argparse.Namespace) -> list:
    return [*args.sources, *(parse_source(tokens) for tokens in args.source)]


def _required_sources(args: argparse.Namespace) -> list:
    sources = _sources(args)
    if not sources:
        raise ZipfitError("give the source files: SOURCE... or --source PATH [KEY=VALUE...]")
    return sources


def run(args: argparse.Namespace) -> int:
    import zipfit

    if getattr(args, "handler", None) is not None:
        return args.handler(args)
    if args.command == "select":
        # validated here, before any work: a parameter --method does not take is a mistake, not a no-op
        params = _user_params(args)
        if params and args.scores is None:
            params = check_params(args.method or DEFAULT_METHOD, params)
        extra = {"dedup": True, "dedup_threshold": args.dedup_threshold} if args.dedup else {}
        if args.group_by is not None:
            extra.update(group_by=args.group_by, group_weights=args.group_weights)
        if args.length_strata is not None:
            extra["length_strata"] = args.length_strata
        if args.sampling != "top-k":
            extra["sampling"] = args.sampling
        zipfit.select(_sources(args) or None, args.target, out=args.out, k=args.k, tokens=args.tokens,
                      fraction=args.fraction, min_score=args.min_score, method=args.method, scores=args.scores,
                      scores_out=args.scores_out, order=args.order, params=params, out_format=args.out_format,
                      max_rows_per_file=args.max_rows_per_file, max_bytes_per_file=args.max_bytes_per_file,
                      rejects=args.rejects, report=args.report,
                      report_by=args.report_by, **extra,
                      **_exclude_options(args), **_common(args))
    elif args.command == "score":
        params = check_params(args.method, _user_params(args))
        zipfit.score(_required_sources(args), args.target, out=args.out, method=args.method, params=params,
                     annotate=args.annotate, rejects=args.rejects, report=args.report, report_by=args.report_by,
                     **_exclude_options(args), **_common(args))
    elif args.command == "compare":
        names = [m.strip() for m in args.methods.split(",") if m.strip()]
        per_method = _compare_params(names, _user_params(args))
        report = zipfit.compare(_required_sources(args), args.target, methods=names, params=per_method, k=args.k,
                                tokens=args.tokens, out=args.out, report=args.report, report_by=args.report_by,
                                **_common(args))
        print(format_comparison(report))
    elif args.command == "report":
        zipfit.report(args.run, args.out, scores=args.scores, group_by=args.group_by, examples=args.examples,
                      overwrite=args.overwrite, storage_options=args.storage_options)
    elif args.command == "align":
        params = check_params("zipfit", _user_params(args))
        rows = zipfit.align(args.datasets, args.target, out=args.out, max_docs=args.max_docs, params=params,
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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from zipfit.engines.local import available_cores
    from zipfit.process import mark_owned

    if getattr(args, "workers", None) == 1 or (getattr(args, "workers", None) is None and available_cores() == 1):
        # scoring runs in this process: let the method tune it like a worker. Otherwise leave it unmarked: tuned,
        # it would keep the copies left behind by its growing per-document arrays (measured: +7 MB at 10^6 docs)
        mark_owned()
    handler = LogHandler()  # through the progress bars, which it would otherwise break
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
        print(f"zipfit: error: {_one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the environment failed under the run (disk full, permission, I/O error)
        error = from_os_error(exc, f"zipfit {args.command}")
        print(f"zipfit: error: {_one_line(error)}", file=sys.stderr)
        return error.exit_code
    except MemoryError:
        print("zipfit: error: out of memory; use fewer --workers or a smaller --shard-rows", file=sys.stderr)
        return StorageError.exit_code
    except KeyboardInterrupt:
        print("zipfit: interrupted; finish with the same command and --resume", file=sys.stderr)
        return INTERRUPTED_EXIT
    except Exception:
        traceback.print_exc()
        print(f"zipfit: internal error (a bug in zipfit {__version__}); please report it with the traceback above "
              "and the command line", file=sys.stderr)
        return INTERNAL_EXIT
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
