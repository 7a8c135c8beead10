"""The Python API. Every CLI command is one call here; the CLI only parses arguments.

Each call runs the same stages: set up (settings, engine, inputs, targets, method, filters), score (the
map pass, whose output is the score dataset), cut (the budget, from the scores), write (the records and
their manifest). ``select`` can start at the cut from a saved score dataset (``scores=``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zipfit import __version__, failpoints
from zipfit.config import (
    Decontamination,
    PathsLike,
    Settings,
    parse_where,
    paths,
    settings_from,
)
from zipfit.engines import make_engine
from zipfit.engines.base import Engine
from zipfit.errors import CorruptFileError, ZipfitError, reported
from zipfit.filters.base import FilterChain
from zipfit.filters.contamination import ContaminationIndex
from zipfit.filters.dedup import DuplicateKeys
from zipfit.fingerprint import fingerprint, text_sha256, texts_digest
from zipfit.io import (
    TABLE_SUFFIXES,
    Corpus,
    TextSpec,
    check_output,
    file_sha256,
    storage,
    write_json,
    write_ranked,
    write_table,
)
from zipfit.io.commit import Commit, remove_leftovers
from zipfit.io.datasets_out import MANIFEST_NAME, check_output_dir, dataset_layout, stage_manifest, write_dataset
from zipfit.io.lock import OutputLock
from zipfit.io.memory import in_memory
from zipfit.io.sources import Source
from zipfit.io.texts import read_texts, spec_dict
from zipfit.io.writers import record_kind
from zipfit.kernel import kernel_name
from zipfit.manifest import Timer, distribution, environment, length_report, score_summary
from zipfit.methods import CASCADE, SCORES, SET, Method, accepted_parameters, all_parameters, make_method
from zipfit.passes import MapResult, gather, ranked_records, rescore
from zipfit.pipeline.annotate import write_annotated
from zipfit.pipeline.groups import document_groups, group_mix, parse_weights
from zipfit.pipeline.rejects import check_rejects, write_rejects
from zipfit.pipeline.scores import MANIFEST_FILE, ScoreDataset, ShardScores
from zipfit.pipeline.worker_reads import describe_inputs, plan_on_workers, ranked_records_on_workers
from zipfit.reporting import check_report_path, compare_report, write_run_report
from zipfit.reporting import publish as publish_report
from zipfit.reporting.inputs import recorded_targets
from zipfit.selection import Cut, choose, cut_scores, require_documents, score_all
from zipfit.tokens import TokenCounter
from zipfit.topk import Budget

log = logging.getLogger("zipfit")

__all__ = ["ScoreResult", "SelectionResult", "align", "compare", "parse_where", "score", "select"]
CHECKPOINT_SUFFIX = ".zipfit-checkpoint"  # where select keeps its score dataset while it runs, unless told


@dataclass
class SelectionResult:
    """What ``select`` did: where it wrote, the manifest it wrote, and the selection in rank order."""

    out: Path | None  # None with out=None (the result is in ``table``)
    manifest_path: Path | None
    manifest: dict[str, Any]
    indices: np.ndarray  # eligible-document indices, best first
    scores: np.ndarray  # their scores
    table: Any = None  # with out=None: the selected records, best first, with zipfit_score and zipfit_rank
    dataset: Any = None  # with out=None and a datasets.Dataset (or IterableDataset) source: the table as one


@dataclass
class ScoreResult:
    """What ``score`` wrote: the score dataset directory, its manifest, and every eligible document's score."""

    out: Path | None  # None with out=None (the result is in ``table``)
    manifest_path: Path | None
    manifest: dict[str, Any]
    scores: np.ndarray
    table: Any = None  # with out=None: the score dataset as one pyarrow Table (a row per record, in input order)
    dataset: Any = None  # with out=None and a datasets.Dataset (or IterableDataset) source: the table as one


# ---- set-up, shared by every call ------------------------------------------------------------------------------


def _settings(settings: Settings | None, options: Mapping[str, Any], function: str) -> Settings:
    s = settings_from(settings, options, function=function, method_parameters=frozenset(all_parameters()))
    storage.set_options(s.run.storage_options)  # what URLs (s3://...) named by this call are opened with
    return s


def _method(name: str, s: Settings, *, params: Mapping[str, Any] | None = None) -> Method:
    """The method with the parameters the user set; one it does not declare is an error, not silently dropped."""
    return make_method(name, dict(s.params if params is None else params), seed=s.seed)


def load_targets(target: PathsLike | None, target_texts: Sequence[str] | None,
                 spec: TextSpec) -> tuple[list[str], dict[str, Any], Corpus | None]:
    """Target texts from files (with exclusions counted) or given directly."""
    if (target is None) == (target_texts is None):
        raise ZipfitError("give the target examples: --target FILE... (or target_texts=[...] in Python)")
    if target_texts is not None:
        texts = [t for t in target_texts if isinstance(t, str) and t.strip()]
        dropped = len(target_texts) - len(texts)
        if dropped:
            log.warning("ignored %d empty or non-string target texts", dropped)
        info: dict[str, Any] = {"given": "texts", "count": len(texts), "excluded": dropped}
        corpus = None
    else:
        texts, info, corpus = read_texts(target, spec, "target")
    if not texts:
        raise ZipfitError("the target set is empty after reading: ZIP-FIT needs at least one target example")
    return texts, info, corpus


def _manifest_path(out: Path, overwrite: bool, inputs: Sequence[Path]) -> Path:
    path = out.with_name(out.name + ".manifest.json")
    check_output(path, overwrite=overwrite, inputs=inputs, suffixes=(".json",))
    return path


def _claim(held: contextlib.ExitStack, out: Path, *beside: Path) -> None:
    """Hold ``out``'s lock until ``held`` closes (one live run per output), then remove what killed runs left
    beside it (their temp and spill files)."""
    held.enter_context(OutputLock(out))
    remove_leftovers(out, *beside)


def _input_paths(*corpora: Corpus | None) -> list[Path]:
    return [f.path for c in corpora if c is not None for f in c.files]


def _check_dataset_dir(out: str | os.PathLike, inputs: Sequence[Path]) -> Path:
    """A score dataset directory can be written here, and replacing it can never touch an input."""
    path = storage.as_path(out)
    resolved = path.resolve()
    if path.exists() and not path.is_dir():
        raise ZipfitError(f"{out} exists and is not a directory: a score dataset is a directory")
    for inp in inputs:
        r = inp.resolve() if storage.is_remote(inp) else Path(inp).resolve()
        if r == resolved or resolved in r.parents or r in resolved.parents:
            raise ZipfitError(f"{out} holds or is an input ({inp}); choose another directory for the scores")
    if not storage.is_remote(path) and not path.parent.is_dir():  # a store's prefixes need no creating
        raise ZipfitError(f"{out}: directory {path.parent} does not exist")
    return path


def _with_score_fields(schema: Any) -> Any:
    import pyarrow as pa

    if schema is None:
        return None
    for name in ("zipfit_score", "zipfit_rank"):
        if name in schema.names:
            schema = schema.remove(schema.get_field_index(name))
    return schema.append(pa.field("zipfit_score", pa.float64())).append(pa.field("zipfit_rank", pa.int64()))


def _warn_shared_inputs(corpus: Corpus, target_corpus: Corpus | None) -> None:
    if target_corpus is None:
        return
    shared = {f.path.resolve() for f in corpus.files} & {f.path.resolve() for f in target_corpus.files}
    for path in sorted(shared):
        log.warning("%s is both a source and a target: its documents will select themselves", path)


def _text_hashes(texts: Sequence[str]) -> list[str]:
    return sorted({text_sha256(t) for t in texts})


def _contamination_index(d: Decontamination, spec: TextSpec) -> tuple[ContaminationIndex, dict[str, Any]]:
    texts, read, _ = read_texts(list(d.files), spec, "exclude")
    if not texts:
        raise ZipfitError("--exclude: no documents to exclude were read (check --exclude-text-field/-template)")
    index = ContaminationIndex(d.ngram, d.unit, d.near_duplicate).fit(texts)
    info = {"files": read["files"], "spec": read["spec"], "documents": len(texts), **index.params(),
            "fingerprint": [texts_digest(texts), d.ngram, d.unit, d.near_duplicate]}
    return index, info


def _run_parts(corpus: Corpus, scorer: Any, targets: Sequence[str], s: Settings, runner: Engine,
               exclude_info: dict[str, Any] | None) -> dict[str, Any]:
    """Everything a score dataset's numbers depend on: its parts are reused only by a run with the same."""
    return {
        "zipfit": __version__,
        "method": {"name": scorer.name, **scorer.params()},
        "targets": texts_digest(targets),
        "source": spec_dict(corpus.spec),
        **_per_source(corpus),
        # in-memory data and files: inputs by their content (their temp file's path changes with every call)
        "inputs": [f.identity() if f.described is None else [f.label, f.described["sha256"]] for f in corpus.files],
        "tokenizer": s.tokenizer,
        "seed": s.seed,
        "shard_rows": s.run.shard_rows,
        "reader": "workers" if runner.reads_shards else "this process",
        "exclude": exclude_info and exclude_info["fingerprint"],
        "filters": [[f.name, f.params()] for f in s.filters],
    }


def _per_source(corpus: Corpus) -> dict[str, Any]:
    """How each input was read, when some were read with options of their own (``Source``); nothing otherwise, so
    runs without per-source options record (and fingerprint) what they always did."""
    if not corpus.per_source:
        return {}
    return {"per_source": [{"path": str(f.path), **spec_dict(spec)} for f, spec in zip(corpus.files, corpus.specs,
                                                                                       strict=True)]}


def _length_line(lengths: dict[str, Any], method: str) -> str:
    selected, source = lengths["chars"]["selected"]["p50"], lengths["chars"]["source"]["p50"]
    ratio = lengths["median_chars_ratio"]
    line = f"length: selected median {selected:,.0f} chars vs source median {source:,.0f} ({ratio:.2f}x)"
    if ratio < 1 and method in ("zipfit", "zipfit-fast"):  # the paper's score; other methods have other biases
        line += "; ZIP-FIT favours short documents (see 'lengths' in the manifest)"
    return line


class _Setup:
    """What every call sets up the same way: settings, engine, the source corpus, targets, outputs checked."""

    def __init__(self, s: Settings, sources: PathsLike, target: PathsLike | None) -> None:
        self.s = s
        self.timer = Timer()
        self.spec = s.texts.source
        self.corpus = Corpus(paths(sources), self.spec, role="source")
        self.target = target
        self.target_corpus = (Corpus(paths(target), s.texts.target_spec, role="target") if target is not None
                              else None)
        self.inputs = _input_paths(self.corpus, self.target_corpus)
        _warn_shared_inputs(self.corpus, self.target_corpus)

    def targets(self) -> tuple[list[str], dict[str, Any]]:
        texts, info, _ = load_targets(self.target, self.s.target_texts, self.s.texts.target_spec)
        return texts, info

    def decontamination(self) -> tuple[ContaminationIndex | None, dict[str, Any] | None]:
        if self.s.decontamination is None:
            return None, None
        with self.timer.phase("index_excluded"):
            return _contamination_index(self.s.decontamination, self.s.texts.exclude_spec)

    def filters(self, index: ContaminationIndex | None) -> FilterChain | None:
        """The map pass's filters: decontamination first, then the user's own, in the order given."""
        chain = [*([index] if index is not None else []), *self.s.filters]
        return FilterChain(chain) if chain else None

    def dedup(self) -> DuplicateKeys | None:
        if self.s.dedup is None:
            return None
        finder = DuplicateKeys(near_duplicate=self.s.dedup.threshold, seed=self.s.dedup.seed)
        finder.setup()  # checks the parameters here, before any work
        return finder


def _kernel(method_params: Mapping[str, Any]) -> str | None:
    """Which exact gzip pair kernel scored ("native" or "python"); None where the method uses neither."""
    if method_params.get("codec") == "gzip" and method_params.get("level") in range(1, 10):
        return kernel_name()
    return None


def _score_manifest(st: _Setup, runner: Engine, scorer: Any, mapped: MapResult, targets: Sequence[str],
                    target_info: dict[str, Any], sources_info: list[dict], exclude_info: dict[str, Any] | None,
                    command: str) -> dict[str, Any]:
    s = st.s
    valid = np.isfinite(mapped.scores)
    return {
        "command": command,
        "method": {"name": scorer.name, **scorer.params(),
                   "unscorable_reason": scorer.unscorable_reason},
        "parameters": {"source": spec_dict(st.spec), **_per_source(st.corpus), "tokenizer": s.tokenizer, "seed": s.seed,
                       "shard_rows": s.run.shard_rows, **runner.describe(), "kernel": _kernel(scorer.params())},
        "inputs": {"sources": sources_info, "target": target_info},
        "target_sha256": _text_hashes(targets),
        "counts": {"source_records": mapped.n_records, "scored": int(valid.sum()),
                   "source_eligible": len(mapped), "source_excluded": mapped.exclusions.total,
                   "source_filtered": mapped.exclusions.filtered, "source_contaminated": len(mapped.contaminated),
                   "unscorable": len(mapped) - len(mapped.contaminated) - int(valid.sum()),
                   "targets": len(targets), "resumed_shards": mapped.resumed_shards},
        "exclusions": {"source": mapped.exclusions.as_dict()},
        "filters": _filters_info(s),
        "decontamination": _decontamination_info(exclude_info, mapped),
        "scores": score_summary(mapped.scores[valid]) if valid.any() else None,
        "lengths": {"chars": distribution(mapped.n_chars), "tokens": distribution(mapped.n_tokens)},
        "environment": environment(),
        "timings_s": st.timer.as_dict(),
    }


def _filters_info(s: Settings) -> list[dict[str, Any]]:
    return [{"name": f.name, "status": f.status, **f.params()} for f in s.filters]


def _decontamination_info(exclude_info: dict[str, Any] | None, mapped: MapResult) -> dict[str, Any] | None:
    """The manifest's decontamination block: what was excluded, and what it dropped (a saved score dataset's
    block already says both)."""
    if exclude_info is None or "dropped" in exclude_info:
        return exclude_info
    return {**{k: v for k, v in exclude_info.items() if k != "fingerprint"}, "dropped": mapped.contamination.as_dict()}


def _load_scores(dataset: ScoreDataset) -> MapResult:
    """A saved score dataset as the map pass's result, in input order."""

    def parts() -> Iterator[tuple[ShardScores, bool]]:
        for key in dataset.manifest["parts"]:
            try:
                yield dataset.part_from_table(dataset.read_part(key)), True
            except FileNotFoundError:
                raise CorruptFileError(f"--scores {dataset.directory}: part {key} is missing; score again") from None
            except ValueError as exc:
                raise CorruptFileError(f"--scores {dataset.directory}: part {key}: {exc}; score again") from None

    mapped = gather(parts())
    mapped.resumed_shards = 0  # nothing was scored: the selection's manifest counts no resumed shards
    return mapped


def _check_saved_inputs(dataset: ScoreDataset, sources_info: list[dict]) -> None:
    recorded = dataset.manifest["inputs"]["sources"]
    if len(recorded) != len(sources_info):
        raise ZipfitError(f"--scores {dataset.directory} scored {len(recorded)} input files, not the "
                          f"{len(sources_info)} given")
    for old, new in zip(recorded, sources_info, strict=True):
        if old["sha256"] != new["sha256"] or old["bytes"] != new["bytes"]:
            raise ZipfitError(f"{new['path']} is not the input that was scored as {old['path']} in "
                              f"{dataset.directory} (its content differs): score it again")


# ---- select -----------------------------------------------------------------------------------------------------


@in_memory("select")
def select(
    sources: PathsLike | None = None,
    target: PathsLike | None = None,
    *,
    out: str | os.PathLike | None = None,
    k: int | None = None,
    tokens: int | None = None,
    fraction: float | None = None,
    min_score: float | None = None,
    method: str | None = None,
    scores: str | os.PathLike | None = None,
    scores_out: str | os.PathLike | None = None,
    out_format: str | None = None,
    max_rows_per_file: int | None = None,
    max_bytes_per_file: int | None = None,
    rejects: str | os.PathLike | None = None,
    report: str | os.PathLike | None = None,
    report_by: str | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> SelectionResult:
    """Select the source documents that best fit the target and write them, best first, to ``out``.

    The budget: ``k`` documents, ``tokens`` (the longest prefix of the ranking within that many tokens of
    ``tokenizer``), or ``fraction`` of the eligible documents; ``min_score`` keeps only documents scoring at
    least that (alone: all of them). ``group_by=FIELD`` splits the budget across the values of a source
    field, by their share of the source or by ``group_weights``; ``length_strata=N`` splits it across N
    equal-count length strata of the source instead, so the selection keeps the source's length
    distribution (a control for a score's length bias). Output keeps every field of each record
    and adds ``zipfit_score`` and ``zipfit_rank`` (1 = best); a manifest is written beside it.

    The scores are a score dataset, written shard by shard beside ``out`` (or to ``scores_out``, where it
    is kept); after a crash or kill the same call with ``resume=True`` scores only the missing shards.
    ``scores=DIR`` cuts from a saved score dataset instead of scoring: the same bytes as a direct call.

    ``out="DIR/"`` (or ``out_format=``: ``parquet``, ``jsonl``, ``jsonl.gz``, ``jsonl.zst``, ``hf``) writes a
    directory of parts, ``max_rows_per_file``/``max_bytes_per_file`` each, with ``_manifest.json`` inside,
    renamed into place whole. ``rejects=PATH`` also writes every record that was not eligible, with its reason.
    ``report=PAGE.html`` also writes the run's report page, and its plots beside it (``zipfit.reporting``), its
    mix shown by the source field ``report_by`` (default: ``group_by``, else the source file).

    ``options`` are the keyword shortcuts of ``zipfit.config.Settings`` (``text_field``, ``target_template``,
    ``where``, ``workers``, ``engine``, ``exclude``, ``dedup``, ``order``, ``sampling``, ``seed``, ...) and the
    method's parameters (``level``, ``num_buckets``, ...; ``params={...}`` also works).
    """
    s = _settings(settings, options, "select")
    layout = dataset_layout(out, out_format, max_rows_per_file, max_bytes_per_file)
    cut = Cut(Budget(k=k, tokens=tokens, fraction=fraction, min_score=min_score), s.sampling, s.seed, s.group_by,
              parse_weights(s.group_weights), s.length_strata)
    saved = ScoreDataset.open(scores) if scores is not None else None
    if saved is not None:
        s, method, sources = _from_saved(saved, s, method, sources)
    method = method or "zipfit"
    if sources is None:
        raise ZipfitError("give the source files (or scores= a saved score dataset)")
    with contextlib.ExitStack() as held, \
            make_engine(s.run.engine, s.run.workers, ray_address=s.run.ray_address, progress=s.run.progress) as runner:
        st = _Setup(s, sources, target if saved is None else None)
        timer, corpus = st.timer, st.corpus
        with timer.phase("read_targets"):
            # with --resume an existing output may be the interrupted run's own: checked once its key is known
            replace = s.run.overwrite or s.run.resume
            if layout is None:
                out_path = check_output(out, overwrite=replace, inputs=st.inputs)
                manifest_path = _manifest_path(out_path, replace, st.inputs)
            else:
                out_path = check_output_dir(out, overwrite=replace, inputs=st.inputs)
                manifest_path = out_path / MANIFEST_NAME
            rejects_path = None if rejects is None else check_rejects(rejects, overwrite=replace, inputs=st.inputs,
                                                                       others=[out_path, manifest_path])
            if scores_out is not None:
                _check_dataset_dir(scores_out, st.inputs)
            report_path = None if report is None else check_report_path(
                report, overwrite=replace, inputs=st.inputs,
                others=[p for p in (out_path, manifest_path, rejects_path) if p is not None])
            _claim(held, out_path, manifest_path)
            for extra in (rejects_path, report_path):
                if extra is not None:
                    _claim(held, extra)
            if scores_out is not None:
                _claim(held, storage.as_path(scores_out))
            failpoints.point("locked")
            if saved is None:
                targets, target_info = st.targets()
                target_hashes = set(_text_hashes(targets))
                scorer = _method(method, s)
                kind = scorer.kind
                if rejects is not None and kind == SET:
                    raise ZipfitError(f"--rejects: --method {method} selects a set and writes no score dataset to "
                                      "read the rejected records from; use a method that scores every document")
                if report is not None and kind != SCORES:
                    raise ZipfitError(f"--report: --method {method} does not give every document an exact score, "
                                      "and the report shows them all" + ("; use --method zipfit (zipfit-fast "
                                                                         "selects the same documents)"
                                                                         if kind == CASCADE else ""))
            else:
                target_info = saved.manifest["inputs"]["target"]
                target_hashes = set(saved.manifest["target_sha256"])
                targets = []
                kind = SCORES
        with timer.phase("hash_inputs"):
            # before the run: the manifest describes what was read (by the workers, where they read the shards)
            sources_info = describe_inputs(corpus, runner, saved.run.get("shard_rows") or s.run.shard_rows
                                           if saved is not None else s.run.shard_rows)
        failpoints.point("inputs_hashed")
        finder = st.dedup()
        exclude_info = saved.manifest["decontamination"] if saved is not None else None
        if saved is not None:
            _check_saved_inputs(saved, sources_info)
            if _per_source(corpus).get("per_source") != saved.manifest["parameters"].get("per_source"):
                raise ZipfitError(f"--scores {saved.directory}: the sources are not read as they were when scored "
                                  "(per-source options differ); leave the sources out to use the scored ones")
            with timer.phase("read_scores"):
                mapped = _load_scores(saved)
            method_params = {k: v for k, v in saved.manifest["method"].items()
                             if k not in ("name", "unscorable_reason")}
            run_key = _selection_key(saved.key, cut, s, out_path, layout)
            _check_replaced(out_path, manifest_path, run_key, s)
            choice = cut_scores(mapped, corpus, runner, cut, name=method,
                                unscorable_reason=saved.manifest["method"]["unscorable_reason"], timer=timer,
                                dedup=finder)
            dataset = None
        else:
            if scores_out is not None and kind != SCORES:
                raise ZipfitError(f"--scores-out: --method {method} does not give every document an exact score "
                                  "to save" + ("; use --method zipfit (zipfit-fast selects the same documents)"
                                               if kind == CASCADE else ""))
            with timer.phase("fit"):
                scorer.fit(targets)
            contamination, exclude_info = st.decontamination()
            filters = st.filters(contamination)
            run = _run_parts(corpus, scorer, targets, s, runner, exclude_info)
            run_key = _selection_key(fingerprint(run), cut, s, out_path, layout)
            _check_replaced(out_path, manifest_path, run_key, s)
            dataset = None
            if kind != SET:
                dataset = ScoreDataset.create(
                    scores_out if scores_out is not None else out_path.with_name(out_path.name + CHECKPOINT_SUFFIX),
                    [f.label for f in corpus.files], run,
                    resume=s.run.resume, overwrite=s.run.overwrite,
                    unscorable_reason=scorer.unscorable_reason, keep=scores_out is not None)
            try:
                if kind == SCORES:
                    mapped = score_all(scorer, corpus, runner, TokenCounter(s.tokenizer), s.seed, timer,
                                       dataset=dataset, shard_rows=s.run.shard_rows, filters=filters)
                    if scores_out is not None and dataset is not None:
                        require_documents(mapped)
                        _finish_dataset(dataset, st, runner, scorer, mapped, targets, target_info, sources_info,
                                        exclude_info, "select")
                    choice = cut_scores(mapped, corpus, runner, cut, name=scorer.name,
                                        unscorable_reason=scorer.unscorable_reason,
                                        timer=timer, dedup=finder)
                else:
                    choice = choose(scorer, corpus, runner, TokenCounter(s.tokenizer), cut, timer=timer,
                                    dataset=dataset, shard_rows=s.run.shard_rows, filters=filters,
                                    dedup=finder)
            except ZipfitError as exc:
                # a mistake in what was asked wastes nothing; what a full disk or a damaged file interrupted is
                # kept, for --resume
                if dataset is not None and scores_out is None and not s.run.resume \
                        and exc.exit_code == ZipfitError.exit_code:
                    dataset.remove()
                raise
            method_params = scorer.params()
        mapped, selected, selected_scores = choice.mapped, choice.selected, choice.scores
        target_copies: list[int] = []
        commit = held.enter_context(Commit(out_path))
        with timer.phase("write"), reported(f"writing {out_path}"):
            corpus.check_unchanged()
            records = _selected_records(corpus, runner, mapped, selected, selected_scores, target_hashes,
                                        target_copies, s.run.progress, saved,
                                        record_kind(out_path, None if layout is None else layout.format))
            schema = _with_score_fields(corpus.arrow_schema())
            if layout is None:
                written = write_ranked(out_path, records, n=len(selected), order=s.order, schema=schema,
                                       commit=commit)
                output_sha256 = file_sha256(commit.staged(out_path))
            else:
                parts = write_dataset(out_path, records, n=len(selected), order=s.order, schema=schema,
                                      layout=layout, commit=commit)
                written, output_sha256 = len(selected), parts["sha256"]
            if rejects_path is not None:
                rejected_from = saved if saved is not None else dataset
                assert rejected_from is not None  # set methods are refused above
                keys = saved.manifest["parts"] if saved is not None else rejected_from.part_keys()
                rejects_info = write_rejects(rejects_path, rejected_from, keys, corpus.files, choice.duplicates,
                                             commit)
        failpoints.point("output_staged")
        source_tokens = int(mapped.n_tokens.sum())
        selected_tokens = int(mapped.n_tokens[selected].sum())
        if cut.budget.tokens is not None and cut.budget.tokens >= source_tokens:
            log.warning("--tokens %s covers the whole eligible source (%s tokens): everything was selected",
                        f"{cut.budget.tokens:,}", f"{source_tokens:,}")
        if target_copies:
            shown = ", ".join(map(str, sorted(target_copies)[:10])) + (" ..." if len(target_copies) > 10 else "")
            log.warning("%d selected documents are exact copies of target examples (ranks %s); if the target is "
                        "an evaluation set, remove them before training", len(target_copies), shown)
        lengths = length_report(mapped.n_chars, mapped.n_tokens, selected)
        manifest = _selection_manifest(
            st, runner, method, method_params, cut, mapped, choice, int(written), selected_tokens, source_tokens,
            len(target_copies), target_info, sources_info, exclude_info, lengths, out_path, output_sha256,
            n_targets=len(targets) if saved is None else saved.manifest["counts"]["targets"],
            scores_from=None if saved is None else str(saved.directory), scores_out=scores_out,
            saved_filters=None if saved is None else saved.manifest.get("filters", []))
        manifest["fingerprint"] = run_key
        if layout is not None:
            manifest["output"].update(parts)
        if rejects_path is not None:
            manifest["rejects"] = rejects_info
        with reported(f"writing {manifest_path}"):
            if layout is None:
                write_json(manifest_path, manifest, commit)
            else:
                stage_manifest(commit, out_path, manifest)
        failpoints.point("manifest_staged")
        commit.publish()  # the output and its manifest appear together
        failpoints.point("output_published")
        log.info("selected %s of %s documents (%s of %s tokens) -> %s", f"{written:,}", f"{len(mapped):,}",
                 f"{selected_tokens:,}", f"{source_tokens:,}", out_path)
        log.info(_length_line(lengths, method))
        try:
            if report_path is not None:
                scored = saved if saved is not None else dataset
                assert scored is not None  # methods without a score per document are refused above
                write_run_report(report_path, scored,
                                 saved.manifest["parts"] if saved is not None else scored.part_keys(), manifest,
                                 selected, corpus, targets if saved is None else recorded_targets(saved.manifest),
                                 report_by or s.group_by)
        finally:
            if dataset is not None and scores_out is None:
                dataset.remove()
        failpoints.point("checkpoint_removed")
        return SelectionResult(out_path, manifest_path, manifest, selected, selected_scores)


def _selected_records(corpus: Corpus, runner: Engine, mapped: MapResult, selected: np.ndarray, scores: np.ndarray,
                      target_hashes: set[str], copies: list[int], progress: bool | None,
                      saved: ScoreDataset | None, kind: str) -> Iterator[tuple[int, Any]]:
    """The write pass's records, in input order: read (and serialised as ``kind`` says) by the workers when they read
    the shards and the map pass says which shard holds each document, else by this process."""
    shards = mapped.shards
    if runner.reads_shards and shards is None and saved is not None and mapped.shard_docs is not None:
        every = saved.run.get("shard_rows")
        if every:  # the saved parts are the shards of the run that scored: planned again, they must match
            planned = plan_on_workers(corpus, runner, int(every))
            if [p.key for p in planned] == list(saved.manifest["parts"]):
                shards = planned
    if runner.reads_shards and shards is not None and mapped.shard_docs is not None:
        return ranked_records_on_workers(corpus, runner, shards, mapped.shard_docs, selected, scores,
                                         target_hashes=target_hashes, copies=copies, kind=kind)
    return ranked_records(corpus, selected, scores, target_hashes=target_hashes, copies=copies, progress=progress)


def _selection_key(scores_key: str, cut: Cut, s: Settings, out_path: Path, layout: Any = None) -> str:
    """What a selection's bytes depend on beyond its scores: a --resume may replace only an output with this key."""
    key = {"scores": scores_key, "budget": cut.budget.describe(), "cut": cut.describe(), "seed": s.seed,
           "order": s.order, "dedup": s.dedup, "tokenizer": s.tokenizer, "output": out_path.name}
    if layout is not None:
        key["layout"] = layout.describe()
    return fingerprint(key)


def _check_replaced(out_path: Path, manifest_path: Path, run_key: str, s: Settings) -> None:
    """With --resume (and no --overwrite), what is already at the output must be this run's own: a commit that a
    kill interrupted, or its finished result. Anything else is kept, as without --resume."""
    if s.run.overwrite or not (out_path.exists() or manifest_path.exists()):
        return
    try:
        recorded = json.loads(manifest_path.read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if recorded != run_key:
        what = out_path if out_path.exists() else manifest_path
        raise ZipfitError(f"{what} exists and was not written by this run (other inputs or parameters); pass "
                          "--overwrite to replace it")
    log.info("--resume: %s was written by this run; finishing it", out_path)


def _from_saved(saved: ScoreDataset, s: Settings, method: str | None,
                sources: PathsLike | None) -> tuple[Settings, str, PathsLike]:
    """Settings for cutting from a saved score dataset: what the scores depend on comes from it, and a
    conflicting choice is an error rather than a selection made from other scores than asked for."""
    import dataclasses

    recorded = saved.manifest
    name = recorded["method"]["name"]
    if method is not None and method != name:
        raise ZipfitError(f"--scores {saved.directory} holds {name} scores, not {method}")
    if s.params:
        raise ZipfitError(f"--scores: method parameters ({', '.join(sorted(s.params))}) are fixed by the score "
                          "dataset; leave them out")
    if s.decontamination is not None:
        raise ZipfitError("--scores: decontamination is part of the score dataset (its 'decontamination' block); "
                          "score with --exclude to change it")
    if s.filters:
        raise ZipfitError("--scores: filters act before scoring and are part of the score dataset (its 'filters' "
                          "block); score with filters= to change them")
    if s.target_texts is not None:
        raise ZipfitError("--scores: the targets are fixed by the score dataset; leave them out")
    spec_given = {"text_field", "template", "where"} & s.given
    spec = recorded["parameters"]["source"]
    saved_spec = TextSpec(field=spec["text_field"], template=spec["template"],
                          where=tuple(tuple(p) for p in spec["where"]))
    if spec_given and s.texts.source != saved_spec:
        raise ZipfitError(f"--scores {saved.directory} scored {spec_dict(saved_spec)}, not "
                          f"{spec_dict(s.texts.source)}")
    tokenizer = recorded["parameters"]["tokenizer"]
    if "tokenizer" in s.given and s.tokenizer != tokenizer:
        raise ZipfitError(f"--scores {saved.directory} counted tokens with {tokenizer!r}, not {s.tokenizer!r}")
    if sources is None and any("name" in f for f in recorded["inputs"]["sources"]):
        raise ZipfitError(f"--scores {saved.directory} scored in-memory data or files: inputs "
                          f"({recorded['inputs']['sources'][0]['path']}, ...); pass the same sources again")
    texts = dataclasses.replace(s.texts, source=saved_spec)
    s = dataclasses.replace(s, texts=texts, tokenizer=tokenizer)
    if sources is not None and "per_source" in recorded["parameters"]:
        raise ZipfitError(f"--scores {saved.directory}: its sources were read with per-source options differing "
                          "from the run's; leave the sources out to use the scored ones as they were read")
    if sources is None and "per_source" in recorded["parameters"]:
        sources = [Source(p["path"], text_field=p["text_field"] if p["template"] is None else None,
                          template=p["template"], where=p["where"]) for p in recorded["parameters"]["per_source"]]
    return s, name, sources if sources is not None else [f["path"] for f in recorded["inputs"]["sources"]]


def _finish_dataset(dataset: ScoreDataset, st: _Setup, runner: Engine, scorer: Any, mapped: MapResult,
                    targets: Sequence[str], target_info: dict[str, Any], sources_info: list[dict],
                    exclude_info: dict[str, Any] | None, command: str) -> dict[str, Any]:
    manifest = _score_manifest(st, runner, scorer, mapped, targets, target_info, sources_info, exclude_info, command)
    manifest["parts"] = dataset.part_keys()
    dataset.finish(manifest)
    return dataset.manifest


def _selection_manifest(st: _Setup, runner: Engine, method: str, method_params: dict[str, Any], cut: Cut,
                        mapped: MapResult, choice: Any, written: int, selected_tokens: int, source_tokens: int,
                        target_copies: int, target_info: Any, sources_info: list[dict],
                        exclude_info: dict[str, Any] | None, lengths: dict[str, Any], out_path: Path,
                        output_sha256: str, *, n_targets: int, scores_from: str | None,
                        scores_out: Any, saved_filters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    s = st.s
    return {
        "command": "select",
        "method": {"name": method, **method_params},
        "budget": {**cut.budget.describe(), "tokenizer": s.tokenizer},
        "parameters": {"source": spec_dict(st.spec), **_per_source(st.corpus), "order": s.order, "seed": s.seed,
                       **cut.describe(), "shard_rows": s.run.shard_rows, **runner.describe(),
                       "kernel": None if scores_from else _kernel(method_params)},
        "inputs": {"sources": sources_info, "target": target_info},
        "scores": {"from": scores_from, "saved_to": None if scores_out is None else str(scores_out),
                   "selected": score_summary(choice.scores), "cutoff": float(choice.scores[-1])},
        "counts": {
            "source_records": mapped.n_records,
            "source_eligible": len(mapped),
            "source_excluded": mapped.exclusions.total,
            "source_filtered": mapped.exclusions.counts().get("filtered", 0),
            "targets": n_targets,
            "selected": written,
            "selected_tokens": selected_tokens,
            "source_tokens": source_tokens,
            "selected_target_copies": target_copies,
            "resumed_shards": mapped.resumed_shards,
            "source_contaminated": len(mapped.contaminated),
            "duplicates_skipped": choice.counts.get("dedup", {}).get("skipped", {}).get("total", 0),
            **{k: v for k, v in choice.counts.items() if k not in ("sampling", "dedup", "groups")},
        },
        "groups": choice.counts.get("groups"),
        "filters": saved_filters if saved_filters is not None else _filters_info(s),
        "exclusions": {"source": mapped.exclusions.as_dict(), "method": choice.unscorable},
        "decontamination": _decontamination_info(exclude_info, mapped),
        "dedup": choice.counts.get("dedup"),
        "lengths": lengths,
        "output": {"path": str(out_path), "records": written, "order": s.order, "sha256": output_sha256},
        "environment": environment(),
        "timings_s": st.timer.as_dict(),
    }


# ---- score ------------------------------------------------------------------------------------------------------


@in_memory("score")
def score(
    sources: PathsLike,
    target: PathsLike | None = None,
    *,
    out: str | os.PathLike | None = None,
    method: str = "zipfit",
    annotate: str | os.PathLike | None = None,
    rejects: str | os.PathLike | None = None,
    report: str | os.PathLike | None = None,
    report_by: str | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> ScoreResult:
    """Score every source document and write the score dataset to the directory ``out``: per input shard one
    Parquet file with a row per record (file, row, id, score, n_tokens, n_chars, status, reason), and
    ``_manifest.json``. ``pandas.read_parquet(out)`` reads it; ``select(scores=out)`` cuts selections from it.

    Shards are written as they finish: an interrupted run continues with ``resume=True``.

    ``annotate=DIR`` also writes every input record with ``zipfit_score``, ``zipfit_rank``, ``zipfit_status`` and
    ``zipfit_reason``, in input order, one file per input file; ``rejects=PATH`` every record that was not scored,
    with its reason (``zipfit.pipeline.annotate``, ``zipfit.pipeline.rejects``); ``report=PAGE.html`` the run's
    report page (``zipfit.reporting``), its mix by the source field ``report_by`` (default: the source file).
    """
    s = _settings(settings, options, "score")
    with contextlib.ExitStack() as held, \
            make_engine(s.run.engine, s.run.workers, ray_address=s.run.ray_address, progress=s.run.progress) as runner:
        st = _Setup(s, sources, target)
        timer, corpus = st.timer, st.corpus
        out_path = _check_dataset_dir(out, st.inputs)
        _claim(held, out_path)
        extras = _score_outputs(held, s, st.inputs, out_path, annotate, rejects, report)
        failpoints.point("locked")
        scorer = _method(method, s)
        if scorer.kind != SCORES:
            raise ZipfitError(f"--method {method} does not give every document its own exact score; `score` needs "
                              "one that does" + (" (zipfit-fast only speeds up selection: use --method zipfit)"
                                                 if method == "zipfit-fast" else ""))
        with timer.phase("read_targets"):
            targets, target_info = st.targets()
        with timer.phase("hash_inputs"):
            sources_info = describe_inputs(corpus, runner, s.run.shard_rows)
        failpoints.point("inputs_hashed")
        with timer.phase("fit"):
            scorer.fit(targets)
        contamination, exclude_info = st.decontamination()
        filters = st.filters(contamination)
        dataset = ScoreDataset.create(out_path, [f.label for f in corpus.files],
                                      _run_parts(corpus, scorer, targets, s, runner, exclude_info),
                                      resume=s.run.resume, overwrite=s.run.overwrite,
                                      unscorable_reason=scorer.unscorable_reason, keep=True)
        mapped = score_all(scorer, corpus, runner, TokenCounter(s.tokenizer), s.seed, timer, dataset=dataset,
                           shard_rows=s.run.shard_rows, filters=filters)
        require_documents(mapped)
        failpoints.point("scored")
        corpus.check_unchanged()
        manifest = _finish_dataset(dataset, st, runner, scorer, mapped, targets, target_info, sources_info,
                                   exclude_info, "score")
        failpoints.point("score_manifest_written")
        if set(extras) - {"report"}:
            _write_score_outputs(extras, dataset, corpus, mapped, sources_info)
        if "report" in extras:
            write_run_report(extras["report"], dataset, manifest["parts"], manifest, None, corpus, targets, report_by)
        log.info("scored %s documents -> %s", f"{len(mapped):,}", out_path)
        return ScoreResult(out_path, out_path / MANIFEST_FILE, manifest, mapped.scores)


def _score_outputs(held: contextlib.ExitStack, s: Settings, inputs: Sequence[Path], out_path: Path,
                   annotate: str | os.PathLike | None, rejects: str | os.PathLike | None,
                   report: str | os.PathLike | None) -> dict[str, Path]:
    """``score``'s optional outputs, checked and locked before any work."""
    replace = s.run.overwrite or s.run.resume
    extras: dict[str, Path] = {}
    if annotate is not None:
        extras["annotate"] = check_output_dir(annotate, overwrite=replace, inputs=inputs)
        where = extras["annotate"].resolve()
        if where == out_path.resolve() or out_path.resolve() in where.parents:
            raise ZipfitError(f"--annotate {annotate} is the score dataset's directory; choose another")
    if rejects is not None:
        extras["rejects"] = check_rejects(rejects, overwrite=replace, inputs=inputs, others=list(extras.values()))
        if out_path.resolve() in extras["rejects"].resolve().parents:
            raise ZipfitError(f"--rejects {rejects} is inside the score dataset's directory; choose another path")
    if report is not None:
        extras["report"] = check_report_path(report, overwrite=replace, inputs=inputs,
                                             others=list(extras.values()))
        if out_path.resolve() in extras["report"].resolve().parents:
            raise ZipfitError(f"--report {report} is inside the score dataset's directory; choose another path")
    for path in extras.values():
        _claim(held, path)
    return extras


def _write_score_outputs(extras: dict[str, Path], dataset: ScoreDataset, corpus: Corpus, mapped: MapResult,
                         sources_info: list[dict]) -> None:
    """The annotated inputs and the rejects of a finished score dataset, published together."""
    keys = dataset.manifest["parts"]
    with Commit(extras.get("annotate") or extras["rejects"]) as commit:
        if "rejects" in extras:
            with reported(f"writing {extras['rejects']}"):
                info = write_rejects(extras["rejects"], dataset, keys, corpus.files, [], commit)
            log.info("wrote %s rejected records -> %s", f"{info['records']:,}", extras["rejects"])
        if "annotate" in extras:
            with reported(f"writing {extras['annotate']}"):
                write_annotated(extras["annotate"], dataset, keys, corpus.files, mapped.scores, commit,
                                {"command": "score --annotate", "scores": str(dataset.directory),
                                 "fingerprint": dataset.key, "inputs": sources_info})
        commit.publish()


# ---- align ------------------------------------------------------------------------------------------------------


def align(
    datasets: PathsLike,
    target: PathsLike | None = None,
    *,
    max_docs: int | None = None,
    out: str | os.PathLike | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Dataset-level alignment: the mean ZIP-FIT alignment of each dataset against the target.

    Each argument (a file, a directory or a glob) is one dataset. ``max_docs`` scores a seeded
    uniform sample of that many documents per dataset instead of all of them.
    """
    s = _settings(settings, options, "align")
    if max_docs is not None and max_docs < 1:
        raise ZipfitError(f"--max-docs must be at least 1, got {max_docs}")
    with contextlib.ExitStack() as held, \
            make_engine(s.run.engine, s.run.workers, ray_address=s.run.ray_address, progress=s.run.progress) as runner:
        corpora = [Corpus([d], s.texts.source, role="source") for d in paths(datasets)]
        out_path = None
        if out is not None:
            target_corpus = Corpus(paths(target), s.texts.target_spec, role="target") if target is not None else None
            out_path = check_output(out, overwrite=s.run.overwrite, inputs=_input_paths(*corpora, target_corpus),
                                    suffixes=(*TABLE_SUFFIXES, ".json"))
            _claim(held, out_path)
        targets, _, _ = load_targets(target, s.target_texts, s.texts.target_spec)
        scorer = _method("zipfit", s).fit(targets)
        rows = []
        for name, corpus in zip(paths(datasets), corpora, strict=True):
            n_docs = sum(1 for _ in corpus.documents())
            exclusions = copy.deepcopy(corpus.exclusions)  # the sampled read below may stop early
            if n_docs == 0:
                raise ZipfitError(f"{name}: no eligible documents to align")
            if max_docs is not None and max_docs < n_docs:
                picked = np.sort(np.random.default_rng(s.seed).choice(n_docs, size=max_docs, replace=False))
            else:
                picked = np.arange(n_docs)
            values = rescore(corpus, picked, scorer, runner, desc=f"aligning {Path(name).name}")
            summary = exclusions.summary("source")
            if summary:
                log.warning("%s: %s", name, summary)
            rows.append({
                "dataset": str(name),
                "documents": n_docs,
                "scored": len(values),
                "alignment": math.fsum(values.tolist()) / len(values),
                "std": float(np.std(values)),
                "p10": float(np.percentile(values, 10)),
                "median": float(np.median(values)),
                "p90": float(np.percentile(values, 90)),
                "excluded": exclusions.total,
            })
        if out_path is not None:
            with reported(f"writing {out_path}"):
                if out_path.suffix == ".json":
                    write_json(out_path, {"target_count": len(targets), "method": scorer.params(), "datasets": rows})
                else:
                    write_table(out_path, {key: [r[key] for r in rows] for key in rows[0]})
        return rows


# ---- compare ----------------------------------------------------------------------------------------------------


@in_memory("compare")
def compare(
    sources: PathsLike,
    target: PathsLike | None = None,
    *,
    methods: Sequence[str] = ("zipfit", "random"),
    k: int | None = None,
    tokens: int | None = None,
    fraction: float | None = None,
    out: str | os.PathLike | None = None,
    report: str | os.PathLike | None = None,
    report_by: str | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Run several methods on the same sources and target; report their overlaps, mixes, lengths and times.

    Method parameters go in ``params={method: {...}}`` (or, for every method that takes it, as a keyword).
    Each method's mix counts its documents by source file, or by the source field ``report_by``. Nothing is written
    but the optional JSON report (and, with ``report=PAGE.html``, its report page): this is for choosing a method,
    not for training.
    """
    per_method = options.pop("method_options", None) or options.pop("params", None) or {}
    s = _settings(settings, options, "compare")
    cut = Cut(Budget(k=k, tokens=tokens, fraction=fraction), s.sampling, s.seed)
    if len(set(methods)) != len(methods) or not methods:
        raise ZipfitError(f"--methods needs distinct method names, got {', '.join(methods) or 'none'}")
    shared = dict(s.params)
    unused = set(shared) - {p for name in methods for p in accepted_parameters(name)}
    if unused:
        raise ZipfitError(f"{', '.join('--' + u.replace('_', '-') for u in sorted(unused))}: no method in "
                          f"--methods {','.join(methods)} takes it")
    with contextlib.ExitStack() as held, \
            make_engine(s.run.engine, s.run.workers, ray_address=s.run.ray_address, progress=s.run.progress) as runner:
        st = _Setup(s, sources, target)
        corpus = st.corpus
        scorers = {name: _method(name, s, params={**{k: v for k, v in shared.items() if k in accepted_parameters(name)},
                                                  **dict(per_method.get(name, {}))})
                   for name in methods}
        counter = TokenCounter(s.tokenizer)
        out_path = None
        if out is not None:
            out_path = check_output(out, overwrite=s.run.overwrite, inputs=st.inputs, suffixes=(".json",))
            _claim(held, out_path)
        report_path = None
        if report is not None:
            report_path = check_report_path(report, overwrite=s.run.overwrite, inputs=st.inputs,
                                            others=[] if out_path is None else [out_path])
            _claim(held, report_path)
        targets, target_info = st.targets()
        rows, chosen = [], {}
        groups: tuple[np.ndarray, list[str], str] | None = None
        for name, scorer in scorers.items():
            timer = Timer()
            with timer.phase("fit"):
                scorer.fit(targets)
            choice = choose(scorer, corpus, runner, counter, cut, timer=timer)
            picked = choice.selected
            chosen[name] = set(picked.tolist())
            if groups is None:
                groups = document_groups(corpus, report_by)
            lengths = length_report(choice.mapped.n_chars, choice.mapped.n_tokens, picked)
            rows.append({
                "method": name,
                "selected": len(picked),
                "tokens": int(choice.mapped.n_tokens[picked].sum()),
                "median_chars": lengths["chars"]["selected"]["p50"],
                "median_tokens": lengths["tokens"]["selected"]["p50"],
                "lengths": {"chars": lengths["chars"]["selected"], "tokens": lengths["tokens"]["selected"]},
                "seconds": timer.as_dict()["total"],
                "unscorable": choice.unscorable,
                "counts": choice.counts,
                "mix": group_mix(groups, picked, choice.mapped.n_tokens),
            })
        source = length_report(choice.mapped.n_chars, choice.mapped.n_tokens, picked)
        overlap = {a: {b: round(len(chosen[a] & chosen[b]) / max(1, min(len(chosen[a]), len(chosen[b]))), 4)
                       for b in chosen} for a in chosen}
        result = {
            "budget": cut.budget.describe(),
            "targets": len(targets),
            "source": {"documents": len(choice.mapped), "median_chars": source["chars"]["source"]["p50"],
                       "median_tokens": source["tokens"]["source"]["p50"],
                       "lengths": {"chars": source["chars"]["source"], "tokens": source["tokens"]["source"]}},
            "methods": rows,
            "overlap": overlap,
            "mix_by": groups[2] if groups is not None else "source file",
            "inputs": {"sources": [f.label for f in corpus.files], "target": target_info},
        }
        if out_path is not None:
            with reported(f"writing {out_path}"):
                write_json(out_path, result)
        if report_path is not None:
            html_text, pngs = compare_report(result)
            publish_report(report_path, html_text, pngs)
            log.info("report -> %s", report_path)
        return result
