"""The Python API. Every CLI command is one call here; the CLI only parses arguments."""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from zipfit import __version__
from zipfit.checkpoints import Checkpoint, texts_digest
from zipfit.engines import make_engine
from zipfit.errors import ZipfitError
from zipfit.filters.contamination import ContaminationIndex
from zipfit.filters.dedup import DuplicateKeys
from zipfit.io import (
    TABLE_SUFFIXES,
    Corpus,
    Document,
    TableWriter,
    TextSpec,
    check_output,
    file_sha256,
    write_json,
    write_ranked,
    write_table,
)
from zipfit.io.shards import ROWS_PER_SHARD
from zipfit.manifest import Timer, distribution, environment, length_report, score_summary
from zipfit.methods import accepted_parameters, make_method
from zipfit.passes import map_pass, ranked_records, rescore
from zipfit.selection import choose, prepare, require_documents
from zipfit.tokens import TokenCounter
from zipfit.topk import Budget

log = logging.getLogger("zipfit")

PathsLike = str | os.PathLike | Sequence[str | os.PathLike]
WhereLike = Mapping[str, Any] | Sequence[str] | Sequence[tuple[str, Any]] | None


@dataclass
class SelectionResult:
    """What ``select`` did: where it wrote, the manifest it wrote, and the selection in rank order."""

    out: Path
    manifest_path: Path
    manifest: dict[str, Any]
    indices: np.ndarray  # eligible-document indices, best first
    scores: np.ndarray  # their scores


@dataclass
class ScoreResult:
    out: Path
    manifest_path: Path
    manifest: dict[str, Any]
    scores: np.ndarray


def parse_where(where: WhereLike) -> tuple[tuple[str, str], ...]:
    """``{"split": "valid"}``, ``["split=valid"]`` or ``[("split", "valid")]`` -> (("split", "valid"),)."""
    if not where:
        return ()
    items = where.items() if isinstance(where, Mapping) else where
    pairs = []
    for item in items:
        if isinstance(item, str):
            field, sep, value = item.partition("=")
            if not sep or not field:
                raise ZipfitError(f"--where takes FIELD=VALUE, got {item!r}")
            pairs.append((field, value))
        else:
            field, value = item
            pairs.append((str(field), str(value)))
    return tuple(pairs)


def _paths(value: PathsLike) -> list[str | os.PathLike]:
    return [value] if isinstance(value, (str, os.PathLike)) else list(value)


def read_texts(paths: PathsLike, spec: TextSpec, role: str) -> tuple[list[str], dict[str, Any], Corpus]:
    """Every eligible text of a small input set read whole (targets, excluded documents), its exclusions
    logged, and a description for the manifest."""
    corpus = Corpus(_paths(paths), spec, role=role)
    texts = [doc.text for doc in corpus.documents()]
    summary = corpus.exclusions.summary(role)
    if summary:
        log.warning(summary)
    info = {"files": corpus.describe(), "spec": _spec_dict(spec), "count": len(texts),
            "exclusions": corpus.exclusions.as_dict()}
    return texts, info, corpus


def load_targets(
    target: PathsLike | None,
    target_texts: Sequence[str] | None,
    spec: TextSpec,
) -> tuple[list[str], dict[str, Any], Corpus | None]:
    """Target texts from files (with exclusions counted) or given directly."""
    if (target is None) == (target_texts is None):
        raise ZipfitError("give the target examples: --target FILE... (or target_texts=[...] in Python)")
    if target_texts is not None:
        texts = [t for t in target_texts if isinstance(t, str) and t.strip()]
        dropped = len(target_texts) - len(texts)
        if dropped:
            log.warning("ignored %d empty or non-string target texts", dropped)
        info = {"given": "texts", "count": len(texts), "excluded": dropped}
        corpus = None
    else:
        texts, info, corpus = read_texts(target, spec, "target")
    if not texts:
        raise ZipfitError("the target set is empty after reading: ZIP-FIT needs at least one target example")
    return texts, info, corpus


def _text_specs(
    text_field: str,
    template: str | None,
    where: WhereLike,
    target_text_field: str | None,
    target_template: str | None,
    target_where: WhereLike,
) -> tuple[TextSpec, TextSpec]:
    """How to read source and target texts; the target's field defaults to the source's."""
    source = TextSpec(field=text_field, template=template, where=parse_where(where))
    target = TextSpec(field=target_text_field or text_field, template=target_template, where=parse_where(target_where))
    return source, target


def _spec_dict(spec: TextSpec) -> dict[str, Any]:
    return {"text_field": spec.field, "template": spec.template, "where": [list(p) for p in spec.where]}


def _manifest_path(out: Path, overwrite: bool, inputs: Sequence[Path]) -> Path:
    path = out.with_name(out.name + ".manifest.json")
    check_output(path, overwrite=overwrite, inputs=inputs, suffixes=(".json",))
    return path


def _input_paths(*corpora: Corpus | None) -> list[Path]:
    return [f.path for c in corpora if c is not None for f in c.files]


def _with_score_fields(schema: Any) -> Any:
    import pyarrow as pa

    if schema is None:
        return None
    for name in ("zipfit_score", "zipfit_rank"):
        if name in schema.names:
            schema = schema.remove(schema.get_field_index(name))
    return schema.append(pa.field("zipfit_score", pa.float64())).append(pa.field("zipfit_rank", pa.int64()))


def select(
    sources: PathsLike,
    target: PathsLike | None = None,
    *,
    out: str | os.PathLike,
    k: int | None = None,
    tokens: int | None = None,
    method: str = "zipfit",
    target_texts: Sequence[str] | None = None,
    text_field: str = "text",
    template: str | None = None,
    where: WhereLike = None,
    target_text_field: str | None = None,
    target_template: str | None = None,
    target_where: WhereLike = None,
    codec: str = "gzip",
    level: int | None = None,
    allow_level_0: bool = False,
    stage1_targets: int | None = None,
    stage2_targets: int | None = None,
    candidate_factor: float | None = None,
    calibration_docs: int | None = None,
    confidence: float | None = None,
    tokenizer: str = "whitespace",
    workers: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    seed: int = 0,
    order: str = "rank",
    sampling: str = "top-k",
    method_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    resume: bool = False,
    shard_rows: int = ROWS_PER_SHARD,
    exclude: PathsLike | None = None,
    exclude_text_field: str | None = None,
    exclude_template: str | None = None,
    exclude_where: WhereLike = None,
    exclude_ngram: int = 13,
    exclude_unit: str = "word",
    exclude_near_duplicate: float | None = 0.8,
    dedup: bool = False,
    dedup_threshold: float | None = 0.8,
    progress: bool | None = None,
) -> SelectionResult:
    """Select the source documents that best fit the target and write them, best first, to ``out``.

    ``k`` selects that many documents; ``tokens`` the longest prefix of the ranking within that many
    tokens (``tokenizer``: whitespace words by default). Output keeps every field of each record and
    adds ``zipfit_score`` and ``zipfit_rank`` (1 = best); a manifest is written beside it.

    The scores are checkpointed shard by shard (``shard_rows`` rows of an input each) beside ``out``;
    after a crash or kill, the same call with ``resume=True`` scores only the missing shards and writes
    the same bytes as an uninterrupted run.

    ``exclude`` (files, typically the target's test split; read with the target's text field or
    template unless ``exclude_text_field``/``exclude_template`` say otherwise) drops every source
    document that shares an ``exclude_ngram``-gram of ``exclude_unit``s ("word" or "char") with an
    excluded document, contains a short one whole, or is a near-duplicate of one (MinHash Jaccard >=
    ``exclude_near_duplicate``; None turns that check off). ``dedup`` skips exact and near-duplicate
    (``dedup_threshold``; None = exact only) copies of better-ranked documents before the budget is cut.
    """
    timer = Timer()
    budget = Budget(k=k, tokens=tokens)
    if order not in ("rank", "input"):
        raise ZipfitError(f"order must be 'rank' or 'input', got {order!r}")
    with make_engine(engine, workers, ray_address=ray_address, progress=progress) as runner:
        spec, target_spec = _text_specs(text_field, template, where, target_text_field, target_template,
                                        target_where)
        corpus = Corpus(_paths(sources), spec, role="source")
        fast_options = {"stage1_targets": stage1_targets, "stage2_targets": stage2_targets,
                    "candidate_factor": candidate_factor,
                        "calibration_docs": calibration_docs, "confidence": confidence}
        if method != "zipfit-fast" and any(v is not None for v in fast_options.values()):
            log.warning("%s only apply to --method zipfit-fast; ignored",
                        ", ".join(k for k, v in fast_options.items() if v is not None))
        unused = set(method_options or {}) - accepted_parameters(method)
        if unused:
            log.warning("%s do not apply to --method %s; ignored", ", ".join(sorted(unused)), method)
        scorer = make_method(method, codec=codec, level=level, allow_level_0=allow_level_0, seed=seed,
                             **{k: v for k, v in fast_options.items() if v is not None}, **(method_options or {}))
        counter = TokenCounter(tokenizer)
        with timer.phase("read_targets"):
            target_corpus = Corpus(_paths(target), target_spec, role="target") if target is not None else None
            inputs = _input_paths(corpus, target_corpus)
            out_path = check_output(out, overwrite=overwrite, inputs=inputs)
            manifest_path = _manifest_path(out_path, overwrite, inputs)
            _warn_shared_inputs(corpus, target_corpus)
            targets, target_info, _ = load_targets(target, target_texts, target_spec)
        with timer.phase("hash_inputs"):
            sources_info = corpus.describe()  # before the run: the manifest describes what was read
        with timer.phase("fit"):
            scorer.fit(targets)
        contamination, exclude_info = None, None
        if exclude is not None:
            with timer.phase("index_excluded"):
                contamination, exclude_info = _contamination_index(
                    exclude, TextSpec(field=exclude_text_field or target_spec.field,
                                      template=exclude_template if exclude_text_field or exclude_template
                                      else target_spec.template, where=parse_where(exclude_where)),
                    exclude_ngram, exclude_unit, exclude_near_duplicate)
        finder = None
        if dedup:
            finder = DuplicateKeys(near_duplicate=dedup_threshold, seed=seed)
            finder.setup()  # checks the parameters here, before any work
        checkpoint = _checkpoint("select", out_path, corpus, scorer, targets, tokenizer, seed, shard_rows, runner,
                                 resume=resume, overwrite=overwrite,
                                 extra={"exclude": exclude_info and exclude_info["fingerprint"]})
        with checkpoint.guard(resume):
            choice = choose(scorer, corpus, runner, counter, budget, seed=seed, sampling=sampling, timer=timer,
                            checkpoint=checkpoint, shard_rows=shard_rows, contamination=contamination, dedup=finder)
            mapped, selected, selected_scores = choice.mapped, choice.selected, choice.scores
            target_copies: list[int] = []
            with timer.phase("write"):
                corpus.check_unchanged()
                if manifest_path.exists():
                    manifest_path.unlink()  # never leave the old manifest beside a new output
                records = ranked_records(corpus, selected, selected_scores, targets=set(targets), copies=target_copies)
                written = write_ranked(out_path, records, n=len(selected), order=order,
                                       schema=_with_score_fields(corpus.arrow_schema()))
                output_sha256 = file_sha256(out_path)
            source_tokens = int(mapped.n_tokens.sum())
            selected_tokens = int(mapped.n_tokens[selected].sum())
            if budget.tokens is not None and budget.tokens >= source_tokens:
                log.warning("--tokens %s covers the whole eligible source (%s tokens): everything was selected",
                            f"{budget.tokens:,}", f"{source_tokens:,}")
            if target_copies:
                shown = ", ".join(map(str, sorted(target_copies)[:10])) + (" ..." if len(target_copies) > 10 else "")
                log.warning("%d selected documents are exact copies of target examples (ranks %s); if the target is "
                            "an evaluation set, remove them before training", len(target_copies), shown)
            lengths = length_report(mapped.n_chars, mapped.n_tokens, selected)
            manifest: dict[str, Any] = {
                "command": "select",
                "method": {"name": method, **scorer.params()},
                "budget": {**budget.describe(), "tokenizer": tokenizer},
                "parameters": {"source": _spec_dict(spec), "order": order, "seed": seed, "sampling": sampling,
                               "shard_rows": shard_rows, **runner.describe()},
                "inputs": {"sources": sources_info, "target": target_info},
                "counts": {
                    "source_records": mapped.n_records,
                    "source_eligible": len(mapped),
                    "source_excluded": mapped.exclusions.total,
                    "source_filtered": mapped.exclusions.counts().get("filtered", 0),
                    "targets": len(targets),
                    "selected": int(written),
                    "selected_tokens": selected_tokens,
                    "source_tokens": source_tokens,
                    "selected_target_copies": len(target_copies),
                    "resumed_shards": mapped.resumed_shards,
                    "source_contaminated": len(mapped.contaminated),
                    "duplicates_skipped": choice.counts.get("dedup", {}).get("skipped", {}).get("total", 0),
                    **{k: v for k, v in choice.counts.items() if k not in ("sampling", "dedup")},
                },
                "exclusions": {"source": mapped.exclusions.as_dict(), "method": choice.unscorable},
                "decontamination": None if exclude_info is None else {
                    **{k: v for k, v in exclude_info.items() if k != "fingerprint"},
                    "dropped": mapped.contamination.as_dict()},
                "dedup": choice.counts.get("dedup"),
                "scores": {"selected": score_summary(selected_scores), "cutoff": float(selected_scores[-1])},
                "lengths": lengths,
                "output": {"path": str(out_path), "records": int(written), "order": order, "sha256": output_sha256},
                "environment": environment(),
                "timings_s": timer.as_dict(),
            }
            write_json(manifest_path, manifest)
        checkpoint.remove()
        log.info("selected %s of %s documents (%s of %s tokens) -> %s", f"{written:,}", f"{len(mapped):,}",
                 f"{selected_tokens:,}", f"{source_tokens:,}", out_path)
        log.info(_length_line(lengths))
        return SelectionResult(out_path, manifest_path, manifest, selected, selected_scores)


def _contamination_index(exclude: PathsLike, spec: TextSpec, ngram: int, unit: str,
                         near_duplicate: float | None) -> tuple[ContaminationIndex, dict[str, Any]]:
    texts, read, _ = read_texts(exclude, spec, "exclude")
    if not texts:
        raise ZipfitError("--exclude: no documents to exclude were read (check --exclude-text-field/-template)")
    index = ContaminationIndex(ngram, unit, near_duplicate).fit(texts)
    info = {"files": read["files"], "spec": read["spec"], "documents": len(texts), **index.params(),
            "fingerprint": [texts_digest(texts), ngram, unit, near_duplicate]}
    return index, info


def _checkpoint(command: str, out: Path, corpus: Corpus, scorer: Any, targets: Sequence[str], tokenizer: str,
                seed: int, shard_rows: int, runner: Any, *, resume: bool, overwrite: bool,
                extra: dict[str, Any] | None = None) -> Checkpoint:
    """The checkpoint of this run, keyed by everything its scores depend on."""
    parts = {
        **(extra or {}),
        "command": command,
        "zipfit": __version__,
        "method": {"name": scorer.name, **scorer.params()},
        "targets": texts_digest(targets),
        "source": _spec_dict(corpus.spec),
        "inputs": [[str(f.path.resolve()), f.size, f.mtime_ns] for f in corpus.files],
        "tokenizer": tokenizer,
        "seed": seed,
        "shard_rows": shard_rows,
        "reader": "workers" if getattr(runner, "reads_shards", False) else "this process",
    }
    return Checkpoint.open(out, parts, resume=resume, overwrite=overwrite)


def _length_line(lengths: dict[str, Any]) -> str:
    selected, source = lengths["chars"]["selected"]["p50"], lengths["chars"]["source"]["p50"]
    ratio = lengths["median_chars_ratio"]
    line = f"length: selected median {selected:,.0f} chars vs source median {source:,.0f} ({ratio:.2f}x)"
    if ratio < 1:
        line += "; ZIP-FIT favours short documents (see 'lengths' in the manifest)"
    return line


def _warn_shared_inputs(corpus: Corpus, target_corpus: Corpus | None) -> None:
    if target_corpus is None:
        return
    shared = {f.path.resolve() for f in corpus.files} & {f.path.resolve() for f in target_corpus.files}
    for path in sorted(shared):
        log.warning("%s is both a source and a target: its documents will select themselves", path)


def _id_string(record: dict[str, Any] | None) -> str | None:
    value = (record or {}).get("id")
    return None if value is None else str(value)


def score(
    sources: PathsLike,
    target: PathsLike | None = None,
    *,
    out: str | os.PathLike,
    method: str = "zipfit",
    target_texts: Sequence[str] | None = None,
    text_field: str = "text",
    template: str | None = None,
    where: WhereLike = None,
    target_text_field: str | None = None,
    target_template: str | None = None,
    target_where: WhereLike = None,
    codec: str = "gzip",
    level: int | None = None,
    allow_level_0: bool = False,
    tokenizer: str = "whitespace",
    workers: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    seed: int = 0,
    method_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    resume: bool = False,
    shard_rows: int = ROWS_PER_SHARD,
    progress: bool | None = None,
) -> ScoreResult:
    """Score every eligible source document and write one row each: index, file, row, id, score, lengths.

    Checkpointed and resumable like ``select``.
    """
    timer = Timer()
    if method == "zipfit-fast":
        raise ZipfitError("zipfit-fast only speeds up selection; `score` computes exact scores: use --method zipfit")
    with make_engine(engine, workers, ray_address=ray_address, progress=progress) as runner:
        spec, target_spec = _text_specs(text_field, template, where, target_text_field, target_template,
                                        target_where)
        corpus = Corpus(_paths(sources), spec, role="source")
        target_corpus = Corpus(_paths(target), target_spec, role="target") if target is not None else None
        inputs = _input_paths(corpus, target_corpus)
        out_path = check_output(out, overwrite=overwrite, inputs=inputs, suffixes=TABLE_SUFFIXES)
        manifest_path = _manifest_path(out_path, overwrite, inputs)
        _warn_shared_inputs(corpus, target_corpus)
        scorer = make_method(method, codec=codec, level=level, allow_level_0=allow_level_0, seed=seed,
                             **(method_options or {}))
        if hasattr(scorer, "select_tokens"):
            raise ZipfitError(f"--method {method} does not give every document its own score; `score` needs one "
                              "that does")
        counter = TokenCounter(tokenizer)
        with timer.phase("read_targets"):
            targets, target_info, _ = load_targets(target, target_texts, target_spec)
        with timer.phase("hash_inputs"):
            sources_info = corpus.describe()
        with timer.phase("fit"):
            scorer.fit(targets)
        checkpoint = _checkpoint("score", out_path, corpus, scorer, targets, tokenizer, seed, shard_rows, runner,
                                 resume=resume, overwrite=overwrite)
        with checkpoint.guard(resume):
            prepare(scorer, corpus, runner, seed, timer)
            paths = [str(f.path) for f in corpus.files]
            # Always an id column (null where a record has none). JSON Lines records are parsed whole
            # anyway; Arrow inputs are read in full only when some schema has an id column.
            has_id = corpus.has_field("id") or not all(f.is_arrow for f in corpus.files)
            schema = pa.schema([("index", pa.int64()), ("file", pa.string()), ("row", pa.int64()), ("id", pa.string()),
                                ("score", pa.float64()), ("n_chars", pa.int64()), ("n_tokens", pa.int64())])

            def rows(docs: list[Document], scores: np.ndarray, n_tokens: np.ndarray) -> None:
                columns: dict[str, Any] = {
                    "index": [d.index for d in docs],
                    "file": [paths[d.file] for d in docs],
                    "row": [d.row for d in docs],
                    "score": scores,
                    "n_chars": [len(d.text) for d in docs],
                    "n_tokens": n_tokens,
                }
                columns["id"] = [_id_string(d.record) for d in docs] if has_id else [None] * len(docs)
                table.write(columns)

            with timer.phase("score"), TableWriter(out_path, schema) as table:
                mapped = map_pass(corpus, scorer, runner, counter, records=has_id, on_batch=rows, checkpoint=checkpoint,
                                  shard_rows=shard_rows)
                require_documents(mapped)  # raises before the table appears: nothing is written
                if manifest_path.exists():
                    manifest_path.unlink()  # never leave the old manifest beside a new output
            manifest = {
                "command": "score",
                "method": {"name": method, **scorer.params()},
                "parameters": {"source": _spec_dict(spec), "tokenizer": tokenizer, "seed": seed,
                               "shard_rows": shard_rows, **runner.describe()},
                "inputs": {"sources": sources_info, "target": target_info},
                "counts": {"source_records": mapped.n_records, "scored": len(mapped),
                           "source_excluded": mapped.exclusions.total, "targets": len(targets),
                           "resumed_shards": mapped.resumed_shards},
                "exclusions": {"source": mapped.exclusions.as_dict()},
                "scores": score_summary(mapped.scores),
                "lengths": {"chars": distribution(mapped.n_chars), "tokens": distribution(mapped.n_tokens)},
                "output": {"path": str(out_path), "rows": len(mapped)},
                "environment": environment(),
                "timings_s": timer.as_dict(),
            }
            write_json(manifest_path, manifest)
        checkpoint.remove()
        log.info("scored %s documents -> %s", f"{len(mapped):,}", out_path)
        return ScoreResult(out_path, manifest_path, manifest, mapped.scores)


def align(
    datasets: PathsLike,
    target: PathsLike | None = None,
    *,
    target_texts: Sequence[str] | None = None,
    text_field: str = "text",
    template: str | None = None,
    where: WhereLike = None,
    target_text_field: str | None = None,
    target_template: str | None = None,
    target_where: WhereLike = None,
    codec: str = "gzip",
    level: int | None = None,
    allow_level_0: bool = False,
    max_docs: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
) -> list[dict[str, Any]]:
    """Dataset-level alignment: the mean ZIP-FIT alignment of each dataset against the target.

    Each argument (a file, a directory or a glob) is one dataset. ``max_docs`` scores a seeded
    uniform sample of that many documents per dataset instead of all of them.
    """
    if max_docs is not None and max_docs < 1:
        raise ZipfitError(f"--max-docs must be at least 1, got {max_docs}")
    with make_engine(engine, workers, ray_address=ray_address, progress=progress) as runner:
        spec, target_spec = _text_specs(text_field, template, where, target_text_field, target_template,
                                        target_where)
        corpora = [Corpus([d], spec, role="source") for d in _paths(datasets)]
        out_path = None
        if out is not None:
            target_corpus = Corpus(_paths(target), target_spec, role="target") if target is not None else None
            out_path = check_output(out, overwrite=overwrite, inputs=_input_paths(*corpora, target_corpus),
                                    suffixes=(*TABLE_SUFFIXES, ".json"))
        targets, _, _ = load_targets(target, target_texts, target_spec)
        scorer = make_method("zipfit", codec=codec, level=level, allow_level_0=allow_level_0).fit(targets)
        rows = []
        for name, corpus in zip(_paths(datasets), corpora, strict=True):
            n_docs = sum(1 for _ in corpus.documents())
            exclusions = copy.deepcopy(corpus.exclusions)  # the sampled read below may stop early
            if n_docs == 0:
                raise ZipfitError(f"{name}: no eligible documents to align")
            if max_docs is not None and max_docs < n_docs:
                picked = np.sort(np.random.default_rng(seed).choice(n_docs, size=max_docs, replace=False))
            else:
                picked = np.arange(n_docs)
            scores = rescore(corpus, picked, scorer, runner, desc=f"aligning {Path(name).name}")
            summary = exclusions.summary("source")
            if summary:
                log.warning("%s: %s", name, summary)
            rows.append({
                "dataset": str(name),
                "documents": n_docs,
                "scored": len(scores),
                "alignment": math.fsum(scores.tolist()) / len(scores),
                "std": float(np.std(scores)),
                "p10": float(np.percentile(scores, 10)),
                "median": float(np.median(scores)),
                "p90": float(np.percentile(scores, 90)),
                "excluded": exclusions.total,
            })
        if out_path is not None:
            if out_path.suffix == ".json":
                write_json(out_path, {"target_count": len(targets), "method": scorer.params(), "datasets": rows})
            else:
                write_table(out_path, {key: [r[key] for r in rows] for key in rows[0]})
        return rows


def compare(
    sources: PathsLike,
    target: PathsLike | None = None,
    *,
    methods: Sequence[str] = ("zipfit", "random"),
    k: int | None = None,
    tokens: int | None = None,
    target_texts: Sequence[str] | None = None,
    text_field: str = "text",
    template: str | None = None,
    where: WhereLike = None,
    target_text_field: str | None = None,
    target_template: str | None = None,
    target_where: WhereLike = None,
    codec: str = "gzip",
    level: int | None = None,
    tokenizer: str = "whitespace",
    workers: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    seed: int = 0,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Run several methods on the same sources and target; report their overlaps, lengths and times.

    Nothing is written but the optional JSON report: this is for choosing a method, not for training.
    """
    budget = Budget(k=k, tokens=tokens)
    if len(set(methods)) != len(methods) or not methods:
        raise ZipfitError(f"--methods needs distinct method names, got {', '.join(methods) or 'none'}")
    options = {name: dict(opts) for name, opts in (method_options or {}).items()}
    with make_engine(engine, workers, ray_address=ray_address, progress=progress) as runner:
        spec, target_spec = _text_specs(text_field, template, where, target_text_field, target_template,
                                        target_where)
        corpus = Corpus(_paths(sources), spec, role="source")
        scorers = {name: make_method(name, codec=codec, level=level, seed=seed, **options.get(name, {}))
                   for name in methods}
        counter = TokenCounter(tokenizer)
        target_corpus = Corpus(_paths(target), target_spec, role="target") if target is not None else None
        out_path = None
        if out is not None:
            out_path = check_output(out, overwrite=overwrite, inputs=_input_paths(corpus, target_corpus),
                                    suffixes=(".json",))
        targets, target_info, _ = load_targets(target, target_texts, target_spec)
        rows, chosen = [], {}
        for name, scorer in scorers.items():
            timer = Timer()
            with timer.phase("fit"):
                scorer.fit(targets)
            choice = choose(scorer, corpus, runner, counter, budget, seed=seed, timer=timer)
            picked = choice.selected
            chosen[name] = set(picked.tolist())
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
            })
        source = length_report(choice.mapped.n_chars, choice.mapped.n_tokens, picked)
        overlap = {a: {b: round(len(chosen[a] & chosen[b]) / max(1, min(len(chosen[a]), len(chosen[b]))), 4)
                       for b in chosen} for a in chosen}
        report = {
            "budget": budget.describe(),
            "targets": len(targets),
            "source": {"documents": len(choice.mapped), "median_chars": source["chars"]["source"]["p50"],
                       "median_tokens": source["tokens"]["source"]["p50"],
                       "lengths": {"chars": source["chars"]["source"], "tokens": source["tokens"]["source"]}},
            "methods": rows,
            "overlap": overlap,
            "inputs": {"sources": [str(f.path) for f in corpus.files], "target": target_info},
        }
        if out_path is not None:
            write_json(out_path, report)
        return report
