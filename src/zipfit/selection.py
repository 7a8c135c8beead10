"""From a fitted method to a selection: the passes each kind of method needs, on any engine.

Three kinds of method share the pipeline:
- per-document scores (``zipfit``, ``zipfit-debiased``, ``random``, ``embed``, ``dsir``): one map
  pass, then the exact global top-K or token-budget prefix. A method that needs statistics of the
  whole source first (DSIR's raw n-gram distribution) gets a counting pass before, one that needs a
  background sample of the source (``zipfit-debiased``) a seeded sampling pass; a method that cannot score some
  documents returns NaN for them, and those are counted as exclusions, never silently dropped;
  ``sampling="gumbel"`` ranks by score + seeded Gumbel noise (sampling without replacement).
- the ``zipfit-fast`` cascade: calibration, coarse proxy, fine proxy, exact rounds.
- set selection (D4): embeddings of every document, then the method chooses the set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zipfit.dedup_walk import deduplicated_cut
from zipfit.engines.base import Engine
from zipfit.errors import ZipfitError
from zipfit.filters.base import FilterChain
from zipfit.filters.dedup import DuplicateKeys
from zipfit.io.corpus import Corpus
from zipfit.io.shards import ROWS_PER_SHARD
from zipfit.manifest import Timer
from zipfit.methods.base import BACKGROUND, CASCADE, SCORES, SET, SOURCE_STATS
from zipfit.methods.zipfit_fast import ZipFitFast
from zipfit.passes import (
    KeptTexts,
    MapResult,
    RowProgress,
    ScoreJob,
    collect_rows,
    field_values,
    map_pass,
    rescore,
    sample_documents,
    sample_documents_many,
    text_batches,
)
from zipfit.pipeline.groups import encode, group_cut, length_strata
from zipfit.pipeline.scores import ScoreDataset
from zipfit.pipeline.worker_reads import field_values_on_workers, sample_on_workers
from zipfit.tokens import TokenCounter
from zipfit.topk import Budget, cut, gumbel_keys, ranking, select_top

log = logging.getLogger("zipfit")
SAMPLING = ("top-k", "gumbel")


@dataclass(frozen=True)
class Cut:
    """How to cut a selection from scores: the budget, how to rank (``sampling``, seeded) and, optionally, a
    per-group split of the budget over the values of a source field."""

    budget: Budget
    sampling: str = "top-k"
    seed: int = 0
    group_by: str | None = None
    group_weights: dict[str, float] | None = None
    length_strata: int | None = None

    def __post_init__(self) -> None:
        if self.sampling not in SAMPLING:
            raise ZipfitError(f"sampling must be one of {', '.join(SAMPLING)}, got {self.sampling!r}")
        if self.group_weights is not None and self.group_by is None:
            raise ZipfitError("--group-weights needs --group-by FIELD")
        if self.length_strata is not None:
            if isinstance(self.length_strata, bool) or not isinstance(self.length_strata, int) \
                    or self.length_strata < 2:
                raise ZipfitError(f"--length-strata must be a whole number of at least 2, got {self.length_strata!r}")
            if self.group_by is not None:
                raise ZipfitError("--length-strata and --group-by cannot be combined: choose one way to split the "
                                  "budget")

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sampling": self.sampling}
        if self.group_by is not None:
            out["group_by"] = self.group_by
            out["group_weights"] = self.group_weights
        if self.length_strata is not None:
            out["length_strata"] = self.length_strata
        return out


@dataclass
class Choice:
    """What a method chose: eligible-document indices best first, their scores, and what it took."""

    selected: np.ndarray
    scores: np.ndarray
    mapped: MapResult  # per-document numbers from the pass over every document (tokens, characters, ...)
    counts: dict[str, Any] = field(default_factory=dict)  # method-specific, for the manifest
    unscorable: dict[str, int] = field(default_factory=dict)  # documents the method could not score, by reason
    # documents --dedup skipped: (index, reason, "file:row" of the kept document they copy), for --rejects
    duplicates: list[tuple[int, str, str]] = field(default_factory=list)


class SourceStatsJob:
    """Sum a method's statistics over batches of source texts (e.g. DSIR's raw n-gram counts)."""

    def __init__(self, method: Any) -> None:
        self.method = method

    def setup(self) -> None:
        self.method.setup()

    def __call__(self, texts: list[str]) -> np.ndarray:
        return self.method.source_counts(texts)


def choose(
    method: Any,
    corpus: Any,
    engine: Engine,
    counter: TokenCounter,
    cut_: Cut,
    *,
    timer: Timer | None = None,
    dataset: ScoreDataset | None = None,
    shard_rows: int = ROWS_PER_SHARD,
    filters: FilterChain | None = None,
    dedup: DuplicateKeys | None = None,
) -> Choice:
    """Select with any kind of method. ``dataset`` saves (and on a resumed run, reuses) the scores of the
    pass over every document, shard by shard. Map-stage ``filters`` (decontamination, ...) drop the
    documents they flag before scoring; ``dedup`` skips copies of better-ranked documents."""
    kind = method.kind
    timer = timer or Timer()
    if kind != SCORES:
        _require_per_document_cut(method.name, cut_, dedup, kind)
        if kind == CASCADE:
            return _cascade(method, corpus, engine, counter, cut_.budget, cut_.seed, timer, dataset, shard_rows,
                            filters)
        return _set_selection(method, corpus, engine, counter, cut_.budget, timer, filters)
    mapped = score_all(method, corpus, engine, counter, cut_.seed, timer, dataset=dataset, shard_rows=shard_rows,
                       filters=filters)
    return cut_scores(mapped, corpus, engine, cut_, name=method.name,
                      unscorable_reason=method.unscorable_reason, timer=timer, dedup=dedup)


def _require_per_document_cut(name: str, cut_: Cut, dedup: DuplicateKeys | None, kind: str) -> None:
    what = "zipfit-fast computes exact scores only for the contenders" if kind == CASCADE else \
        f"{name} chooses a set rather than scoring each document"
    if dedup is not None:
        raise ZipfitError(f"--dedup works with methods that score every document (zipfit, zipfit-debiased, dsir, "
                          f"embed, random), not {name}" + (": D4 removes semantic duplicates itself" if kind == SET
                                                           else ""))
    if cut_.sampling != "top-k":
        raise ZipfitError(f"--sampling {cut_.sampling} needs every document's score: {what}")
    for flag, value in (("--min-score", cut_.budget.min_score), ("--group-by", cut_.group_by),
                        ("--length-strata", cut_.length_strata)):
        if value is not None:
            raise ZipfitError(f"{flag} needs every document's score: {what}; use a method that scores each document")


def score_all(method: Any, corpus: Any, engine: Engine, counter: TokenCounter, seed: int, timer: Timer, *,
              dataset: ScoreDataset | None = None, shard_rows: int = ROWS_PER_SHARD,
              filters: FilterChain | None = None) -> MapResult:
    """Every document's score from a method that scores each one: what it needs from the source first,
    then the map pass (saved to ``dataset``, shard by shard, when given)."""
    prepare(method, corpus, engine, seed, timer, shard_rows=shard_rows)
    with timer.phase("score"):
        return map_pass(corpus, method, engine, counter, dataset=dataset, shard_rows=shard_rows, filters=filters)


def prepare(method: Any, corpus: Any, engine: Engine, seed: int, timer: Timer, *,
            shard_rows: int = ROWS_PER_SHARD) -> None:
    """What a per-document method needs from the source before it can score: a background sample
    (``zipfit-debiased``; drawn by the workers where they read the shards) or statistics of the whole source
    (DSIR's raw n-gram distribution)."""
    if BACKGROUND in method.needs and getattr(method, "background_", None) is None:
        with timer.phase("background"):
            if engine.reads_shards and isinstance(corpus, Corpus):
                _, background, _ = sample_on_workers(corpus, engine, method.background_size(), seed, shard_rows,
                                                     desc="background sample")
            else:
                _, background, _ = sample_documents(corpus, method.background_size(), seed,
                                                    desc="background sample", progress=engine.progress)
            method.fit_background(background)
    if SOURCE_STATS in method.needs:
        with timer.phase("source_stats"):
            total = None
            rows_read = RowProgress(corpus, engine.progress)
            for batch in engine.map(SourceStatsJob(method), rows_read.batches(text_batches(corpus.documents())),
                                    desc="source statistics", total=rows_read.total, size=rows_read.size,
                                    unit="row"):
                total = batch if total is None else total + batch
            if total is None:
                raise ZipfitError("no eligible source documents to estimate the source distribution from")
            method.fit_source(total)


def require_documents(mapped: MapResult) -> None:
    """Report the map pass's exclusions; a clear error when no document is left to select from."""
    mapped.exclusions.report(log, "source")
    if len(mapped) == 0:
        if mapped.exclusions.total:
            raise ZipfitError("no eligible source documents (see the exclusions above)")
        if mapped.n_records:
            raise ZipfitError(f"no eligible source documents: all {mapped.n_records:,} records were filtered out "
                              "by --where")
        raise ZipfitError("no eligible source documents: the sources hold no records")


def _require(mapped: MapResult, budget: Budget, eligible: int | None = None) -> None:
    require_documents(mapped)
    if mapped.contamination.total:
        log.warning(mapped.contamination.summary("source").replace("excluded", "decontamination dropped", 1))
    eligible = len(mapped) - len(mapped.contaminated) if eligible is None else eligible
    if budget.k is not None and budget.k > eligible:
        raise ZipfitError(f"--k {budget.k:,} but only {eligible:,} eligible source documents; lower --k"
                          + (" (exclusions are reported above)" if mapped.exclusions.total or eligible < len(mapped)
                             else ""))


def _nothing_fits(budget: Budget, n_tokens: int) -> ZipfitError:
    return ZipfitError(f"--tokens {budget.tokens:,} is smaller than the best-ranked document ({n_tokens:,} tokens): "
                       "nothing fits in the budget")


def cut_scores(mapped: MapResult, corpus: Any, engine: Engine, cut_: Cut, *, name: str, unscorable_reason: str,
               timer: Timer, dedup: DuplicateKeys | None = None) -> Choice:
    """The selection from every document's score, computed now or read from a score dataset: the same
    numbers give the same bytes either way."""
    counts: dict[str, Any] = {}
    valid = np.isfinite(mapped.scores)
    eligible = int(valid.sum())
    unscorable: dict[str, int] = {}
    if eligible < len(mapped) - len(mapped.contaminated):
        unscorable[unscorable_reason] = len(mapped) - len(mapped.contaminated) - eligible
        log.warning("%s: %s of %s documents excluded (%s)", name, f"{unscorable[unscorable_reason]:,}",
                    f"{len(mapped):,}", unscorable_reason)
    budget = cut_.budget
    if budget.min_score is not None:
        valid &= mapped.scores >= budget.min_score
    budget = budget.resolve(eligible, int(valid.sum()))
    _require(mapped, budget if budget.min_score is None else Budget(k=1), eligible)
    with timer.phase("select"):
        keys = mapped.scores
        if cut_.sampling == "gumbel":
            keys = keys + gumbel_keys(len(keys), cut_.seed)
        if not valid.all():
            keys = np.where(valid, keys, -np.inf)
        if cut_.group_by is not None or cut_.length_strata is not None:
            flag = "--group-by" if cut_.group_by is not None else "--length-strata"
            if dedup is not None:
                raise ZipfitError(f"{flag} and --dedup cannot be combined yet: deduplicate the source first, or "
                                  f"select without {flag}")
            if cut_.group_by is not None:
                if engine.reads_shards and mapped.shards is not None:
                    values = field_values_on_workers(corpus, engine, mapped.shards, cut_.group_by, len(mapped))
                else:
                    values = field_values(corpus, cut_.group_by, len(mapped), progress=engine.progress)
                codes, names = encode(values)
            else:
                codes, names = length_strata(mapped.n_tokens, np.isfinite(keys), cut_.length_strata)
            selected, counts["groups"] = group_cut(keys, budget, mapped.n_tokens, codes, names, cut_.group_weights)
            short = {g: r["shortfall"] for g, r in counts["groups"].items() if r["shortfall"]}
            if short:
                log.warning("%s %s: %s had fewer eligible %s than their share (short by %s)", flag,
                            cut_.group_by or cut_.length_strata, ", ".join(short),
                            "documents" if budget.k is not None else "tokens",
                            ", ".join(f"{n:,}" for n in short.values()))
        elif dedup is None:
            selected = select_top(keys, budget if budget.k is None else Budget(k=min(budget.k, len(keys))),
                                  mapped.n_tokens)
            selected = selected[np.isfinite(keys[selected])]  # unscorable documents never fill a budget
    if dedup is not None:
        with timer.phase("dedup"):
            located = None if mapped.shards is None or mapped.shard_docs is None else (mapped.shards,
                                                                                        mapped.shard_docs)
            walk = deduplicated_cut(corpus, engine, keys, budget, mapped.n_tokens, dedup, located)
        selected = walk.selected
        if budget.k is not None and len(selected) < budget.k and budget.min_score is None:
            raise ZipfitError(f"--k {budget.k:,} but only {len(selected):,} eligible source documents are left "
                              "after --dedup; lower --k")
        counts["dedup"] = {"skipped": walk.skipped.as_dict(), "examples": walk.duplicates_of,
                           "documents_checked": walk.reached, **dedup.params()}
        if walk.skipped.total:
            log.info("--dedup skipped %s copies of better-ranked documents (%s)", f"{walk.skipped.total:,}",
                     ", ".join(f"{n:,} {r}" for r, n in walk.skipped.counts().items()))
    if len(selected) == 0:
        if budget.tokens is not None:
            raise _nothing_fits(budget, int(mapped.n_tokens[select_top(keys, Budget(k=1))[0]]))
        raise ZipfitError("nothing was selected: no eligible document reaches the cut")
    if budget.min_score is not None and budget.k is not None and len(selected) < budget.k and \
            cut_.budget.k is not None:
        log.warning("--min-score %s: only %s documents reach it, fewer than --k %s", budget.min_score,
                    f"{len(selected):,}", f"{budget.k:,}")
    counts["sampling"] = cut_.sampling
    return Choice(selected, mapped.scores[selected], mapped, counts, unscorable,
                  walk.skipped_at if dedup is not None else [])


def _cascade(method: ZipFitFast, corpus: Any, engine: Engine, counter: TokenCounter, budget: Budget, seed: int,
             timer: Timer, dataset: ScoreDataset | None, shard_rows: int, filters: FilterChain | None) -> Choice:
    two_stage, rounds, rescored, survivors = False, 0, 0, 0
    if BACKGROUND in method.needs and getattr(method, "background_", None) is None:
        with timer.phase("background"):  # zipfit-debiased-fast: its background and calibration samples by one read
            (_, background, _), (sample, sample_texts, n_docs) = sample_documents_many(
                corpus, (method.background_size(), method.calibration_docs), seed,
                desc="background and calibration samples", progress=engine.progress)
            method.fit_background(background)
    else:
        prepare(method, corpus, engine, seed, timer)
        with timer.phase("calibrate"):
            sample, sample_texts, n_docs = sample_documents(corpus, method.calibration_docs, seed,
                                                            desc="calibration sample", progress=engine.progress)
    with timer.phase("calibrate"):
        two_stage = method.worthwhile(n_docs)
        if two_stage:
            batches = [sample_texts[i : i + 64] for i in range(0, len(sample_texts), 64)]
            profile = np.concatenate([rows for rows, _ in engine.map(
                ScoreJob(method.profiler()), batches, desc="calibration", total=len(sample_texts))])
            sample_exact = method.calibrate(profile)
    with timer.phase("score"):
        first = method.stage1_ if two_stage else method.exact_
        mapped = map_pass(corpus, first, engine, counter, desc="stage 1" if two_stage else "scoring",
                          dataset=dataset, shard_rows=shard_rows, filters=filters)
        if len(mapped.contaminated):
            mapped.scores = mapped.scores.copy()
            mapped.scores[mapped.contaminated] = -np.inf  # never a survivor, never selected
    budget = budget.resolve(len(mapped) - len(mapped.contaminated))
    _require(mapped, budget)
    if not two_stage:
        log.info("zipfit-fast: %s documents are too few for the cascade (it needs more than %s): scored exactly",
                 f"{len(mapped):,}", f"{4 * method.calibration_docs:,}")
        with timer.phase("select"):
            ranked = ranking(mapped.scores)
            ranked = ranked[: len(ranked) - len(mapped.contaminated)]
            selected = cut(ranked, budget, mapped.n_tokens)
        if len(selected) == 0:
            raise _nothing_fits(budget, int(mapped.n_tokens[ranked[0]]))
        counts = {"two_stage": False, "calibration_docs": 0, "stage2_docs": 0, "rescored": 0, "rescore_rounds": 0}
        return Choice(selected, mapped.scores[selected], mapped, counts)
    with timer.phase("stage2"):
        alive = method.survivors(mapped.scores, budget, mapped.n_tokens)
        survivors = len(alive)
        fine = np.full(len(mapped), -np.inf)
        kept = KeptTexts()  # the exact rounds rescore only stage 2's documents
        fine[alive] = rescore(corpus, alive, method.stage2_, engine, desc="stage 2", kept=kept)
    idx, exact = sample, sample_exact  # the calibration documents already have exact scores
    if len(mapped.contaminated):
        clean = ~np.isin(idx, mapped.contaminated)
        idx, exact = idx[clean], exact[clean]
    with timer.phase("select"):
        todo = np.setdiff1d(method.candidates(fine, budget, mapped.n_tokens), idx)
        todo = todo[np.isfinite(fine[todo])]
    while len(todo):
        rounds += 1
        with timer.phase("rescore"):
            fresh = rescore(corpus, todo, method.exact_, engine, desc=f"exact, round {rounds}", kept=kept)
        rescored += len(todo)
        with timer.phase("select"):
            idx, exact = np.concatenate([idx, todo]), np.concatenate([exact, fresh])
            by_index = np.argsort(idx, kind="stable")
            idx, exact = idx[by_index], exact[by_index]
            todo = method.more_candidates(fine, idx, exact, budget, mapped.n_tokens)
    with timer.phase("select"):
        order = ranking(exact)
        chosen = cut(order, budget, mapped.n_tokens[idx])
    if len(chosen) == 0:
        raise _nothing_fits(budget, int(mapped.n_tokens[idx[order[0]]]))
    log.info("zipfit-fast: %d calibration documents (fine proxy R² %.4f); %s of %s documents passed stage 1; "
             "%s were scored exactly on all %d targets in %d round%s", len(sample), method.r2_, f"{survivors:,}",
             f"{len(mapped):,}", f"{rescored:,}", len(method.targets_), rounds, "" if rounds == 1 else "s")
    counts = {"two_stage": True, "calibration_docs": len(sample), "stage2_docs": survivors, "rescored": rescored,
              "rescore_rounds": rounds}
    return Choice(idx[chosen], exact[chosen], mapped, counts)


class _Rows:
    """An embedder seen as a method whose score is a row per text, for the map pass."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder

    def setup(self) -> None:
        self.embedder.setup()

    def score(self, texts: list[str]) -> np.ndarray:
        return self.embedder.embed(texts)


def _set_selection(method: Any, corpus: Any, engine: Engine, counter: TokenCounter, budget: Budget,
                   timer: Timer, filters: FilterChain | None) -> Choice:
    with timer.phase("embed"):
        mapped, rows = collect_rows(corpus, _Rows(method.embedder()), engine, counter, desc="embedding",
                                    filters=filters)
    budget = budget.resolve(len(mapped) - len(mapped.contaminated))
    _require(mapped, budget)
    with timer.phase("select"):
        keep = np.ones(len(mapped), dtype=bool)
        keep[mapped.contaminated] = False
        positions = np.flatnonzero(keep)
        if budget.k is not None:
            selected, scores, stats = method.select(rows[keep], budget.k)
        else:
            selected, scores, stats = method.select_tokens(rows[keep], mapped.n_tokens[keep], budget.tokens)
        selected = positions[np.asarray(selected, dtype=np.int64)]
    if len(selected) == 0:
        raise ZipfitError(f"--tokens {budget.tokens:,} is smaller than the first document {method.name} keeps: "
                          "nothing fits in the budget")
    return Choice(np.asarray(selected), np.asarray(scores, dtype=np.float64), mapped, dict(stats))
