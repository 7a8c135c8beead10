"""ZIP-FIT on Hugging Face ``datasets``: a score column through ``Dataset.map``, and the selected rows as a Dataset.

``score_dataset(ds, target)`` adds ``zipfit_score`` (and ``zipfit_status``, ``zipfit_reason``) with
``Dataset.map(batched=True, num_proc=...)``: the method is fitted once, here, and set up once in each process
``map`` starts. An ``IterableDataset`` is scored lazily, as it streams. ``select_dataset(ds, target, k=...)`` returns
the rows ``zipfit select`` writes, best first, with ``zipfit_score`` and ``zipfit_rank``.

The scores are ``zipfit score``'s for the same records read from a file, and the selection ``zipfit select``'s (the
same cut, the same ties): a record is a document by the same rule (``text_field`` or ``template``, ``where``; an
empty text, a missing field, a non-string are excluded and never scored), and a method that needs the source before
it scores (``zipfit-debiased``'s background sample) draws it from the dataset with the same seeded pass.

``datasets`` is imported by whoever calls this module, never by ``import zipfit``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from zipfit.errors import ZipfitError
from zipfit.integrations.cut import exact_cut
from zipfit.integrations.scoring import NOT_ELIGIBLE, RecordDocuments, Scorer, fit_scorer, score_records
from zipfit.io.exclusions import Exclusions
from zipfit.io.memory import kind_of
from zipfit.io.textspec import TextSpec, parse_where

__all__ = ["score_dataset", "select_dataset"]

STATUS, REASON, TOKENS = "zipfit_status", "zipfit_reason", "zipfit_n_tokens"
RANK = "zipfit_rank"
SCORE_COLUMNS = ("zipfit_score", STATUS, REASON, TOKENS)  # what score_dataset adds; select_dataset reads them back
# the columns select_dataset scores into, dropped before it returns: a user's own columns are never touched
_SCORE, _STATUS, _REASON, _TOKENS = "__zipfit_score", "__zipfit_status", "__zipfit_reason", "__zipfit_n_tokens"
READ_ROWS = 1000  # rows per batch when this module reads a dataset itself


def _kind(ds: Any) -> str:
    kind = kind_of(ds)  # also refuses a DatasetDict with a clear message
    if kind not in ("datasets.Dataset", "datasets.IterableDataset"):
        raise ZipfitError(f"expected a datasets.Dataset or datasets.IterableDataset, got {type(ds).__name__}")
    return kind


def _check_fields(ds: Any, spec: TextSpec) -> None:
    names = ds.column_names
    if names is None:  # a stream whose features are not known until it is read
        return
    for name in spec.fields:
        if name not in names:
            hint = "it is used by where=" if name not in spec.text_fields else \
                "choose one with text_field= or template="
            raise ZipfitError(f"no column {name!r} in the dataset (columns: {', '.join(names)}); {hint}")


def _records(ds: Any, fields: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    for batch in ds.select_columns(list(fields)).iter(batch_size=READ_ROWS):
        n = len(batch[fields[0]])
        for i in range(n):
            yield {name: batch[name][i] for name in fields}


def _scorer(ds: Any, target: Any, options: dict[str, Any]) -> Scorer:
    spec = TextSpec(field=options["text_field"], template=options["template"], where=parse_where(options["where"]))
    _check_fields(ds, spec)
    source = RecordDocuments(lambda: _records(ds, spec.fields), spec)
    return fit_scorer(target, source=source, **options)


class ScoreBatch:
    """What ``map`` runs on each batch: the scorer (pickled into each of ``map``'s processes, set up once in each)
    and the names of the columns it adds."""

    def __init__(self, scorer: Scorer, score: str, status: str | None, reason: str | None,
                 tokens: str | None = None) -> None:
        self.scorer = scorer
        self.names = (score, status, reason, tokens)

    def __call__(self, batch: Mapping[str, list]) -> dict[str, list]:
        fields = self.scorer.spec.fields
        n = len(next(iter(batch.values()))) if batch else 0
        records = [{name: batch[name][i] if name in batch else None for name in fields} for i in range(n)]
        scored = score_records(self.scorer, records)
        score, status, reason, tokens = self.names
        out: dict[str, list] = {score: scored.scores}
        if status is not None:
            out[status] = scored.statuses
        if reason is not None:
            out[reason] = scored.reasons
        if tokens is not None:
            out[tokens] = scored.n_tokens
        return out


def _features(ds: Any, added: Mapping[str, str]) -> Any:
    """The dataset's features with the added columns' types (None for a stream that does not know its own)."""
    if ds.features is None:
        return None
    from datasets import Value

    features = ds.features.copy()
    for name, dtype in added.items():
        features[name] = Value(dtype)
    return features


def _map(ds: Any, job: ScoreBatch, added: Mapping[str, str], num_proc: int | None, batch_size: int,
         streaming: bool) -> Any:
    features = _features(ds, added)
    if streaming:
        if num_proc not in (None, 1):
            raise ZipfitError("num_proc: an IterableDataset is scored in this process as it streams; leave num_proc "
                              "out (or load the dataset without streaming to score it with several processes)")
        return ds.map(job, batched=True, batch_size=batch_size, features=features)
    return ds.map(job, batched=True, batch_size=batch_size, num_proc=num_proc, features=features,
                  desc="zipfit scoring")


def _options(method: str, params: Mapping[str, Any] | None, seed: int, tokenizer: str, text_field: str,
             template: str | None, where: Any, target_text_field: str, target_template: str | None) -> dict[str, Any]:
    return {"method": method, "params": params, "seed": seed, "tokenizer": tokenizer, "text_field": text_field,
            "template": template, "where": where, "target_text_field": target_text_field,
            "target_template": target_template}


def score_dataset(
    ds: Any,
    target: Any,
    *,
    method: str = "zipfit",
    params: Mapping[str, Any] | None = None,
    column: str = "zipfit_score",
    text_field: str = "text",
    template: str | None = None,
    where: Any = None,
    target_text_field: str = "text",
    target_template: str | None = None,
    tokenizer: str = "whitespace",
    seed: int = 0,
    num_proc: int | None = None,
    batch_size: int = 256,
) -> Any:
    """``ds`` with the column ``column`` (every record's score: None for a record that is not a document, NaN for
    one the method could not score), ``zipfit_status`` (``scored``, ``unscorable``, ``excluded``, ``filtered``),
    ``zipfit_reason`` and ``zipfit_n_tokens`` (by ``tokenizer``): what ``select_dataset`` cuts from without scoring
    again.

    ``target``: target files (paths, globs), a list of texts, or in-memory records (a Dataset, a list of dicts, ...)
    read with ``target_text_field`` or ``target_template``. ``params``: the method's parameters (``level``,
    ``background_docs``, ...). A ``Dataset`` is scored with ``num_proc`` processes; an ``IterableDataset`` lazily, as
    it is iterated (a method that needs a background sample reads the stream once first, here).
    """
    streaming = _kind(ds) == "datasets.IterableDataset"
    scorer = _scorer(ds, target, _options(method, params, seed, tokenizer, text_field, template, where,
                                          target_text_field, target_template))
    job = ScoreBatch(scorer, column, STATUS, REASON, TOKENS)
    added = {column: "float64", STATUS: "string", REASON: "string", TOKENS: "int64"}
    return _map(ds, job, added, num_proc, batch_size, streaming)


def select_dataset(
    ds: Any,
    target: Any = None,
    *,
    k: int | None = None,
    tokens: int | None = None,
    fraction: float | None = None,
    min_score: float | None = None,
    method: str = "zipfit",
    params: Mapping[str, Any] | None = None,
    order: str = "rank",
    sampling: str = "top-k",
    text_field: str = "text",
    template: str | None = None,
    where: Any = None,
    target_text_field: str = "text",
    target_template: str | None = None,
    tokenizer: str = "whitespace",
    seed: int = 0,
    num_proc: int | None = None,
    batch_size: int = 256,
) -> Any:
    """The rows ``zipfit select`` selects, as a ``Dataset``: every column of each, plus ``zipfit_score`` and
    ``zipfit_rank`` (1 = best), best first (``order="input"``: in the dataset's order).

    The budget: ``k`` rows, ``tokens`` (the longest prefix of the ranking within that many tokens of
    ``tokenizer``), ``fraction`` of the eligible rows; ``min_score`` keeps only rows scoring at least that (alone:
    all of them). Every row is scored first (``num_proc`` processes for a ``Dataset``); an ``IterableDataset`` is
    read twice, once to score it and once to take the selected rows.

    Without ``target``, ``ds`` is what ``score_dataset`` returned: the cut is made from its columns, nothing is
    scored again (score once, select many), and the output drops them for ``zipfit_score`` and ``zipfit_rank``.
    """
    if order not in ("rank", "input"):
        raise ZipfitError(f"order must be 'rank' or 'input', got {order!r}")
    streaming = _kind(ds) == "datasets.IterableDataset"
    if target is None:
        missing = [c for c in SCORE_COLUMNS if c not in (ds.column_names or ())]
        if missing:
            raise ZipfitError(f"select_dataset: give the target, or a dataset score_dataset scored (this one has no "
                              f"{', '.join(missing)})")
        unscorable_reason = "unscorable"
        scored, names, dropped = ds, SCORE_COLUMNS, SCORE_COLUMNS
    else:
        options = _options(method, params, seed, tokenizer, text_field, template, where, target_text_field,
                           target_template)
        scorer = _scorer(ds, target, options)
        unscorable_reason = scorer.unscorable_reason
        job = ScoreBatch(scorer, _SCORE, _STATUS, _REASON, _TOKENS)
        added = {_SCORE: "float64", _STATUS: "string", _REASON: "string", _TOKENS: "int64"}
        scored, names, dropped = _map(ds, job, added, num_proc, batch_size, streaming), added, ("zipfit_score",)
    statuses, reasons, scores, n_tokens = _columns(scored, tuple(names))
    eligible = ~np.isin(statuses, NOT_ELIGIBLE)
    rows = np.flatnonzero(eligible)
    exclusions = Exclusions()
    exclusions.n_records = len(statuses)
    for row in np.flatnonzero(~eligible).tolist():
        exclusions.add(reasons[row], "dataset", row + 1)
    selection = exact_cut(scores[rows], n_tokens[rows], k=k, tokens=tokens, fraction=fraction, min_score=min_score,
                          sampling=sampling, seed=seed, method=method, unscorable_reason=unscorable_reason,
                          n_records=len(statuses), exclusions=exclusions)
    picked = rows[selection.positions]  # dataset rows, best first
    ranks = np.arange(1, len(picked) + 1)
    take = np.argsort(picked, kind="stable") if order == "input" else np.arange(len(picked))
    if streaming:
        return _streamed_rows(ds, picked[take], selection.scores[take], ranks[take], (*dropped, RANK))
    out = ds.select(picked[take].tolist()).flatten_indices()
    out = out.remove_columns([c for c in (*dropped, RANK) if c in out.column_names])
    out = out.add_column("zipfit_score", selection.scores[take].tolist())
    return out.add_column(RANK, ranks[take].tolist())


def _columns(scored: Any, names: tuple[str, ...]) -> tuple[np.ndarray, list[str | None], np.ndarray, np.ndarray]:
    """Per row: status, reason, score (NaN when none) and tokens (0 when none), in row order, from the columns
    ``names`` (score, status, reason, tokens)."""
    score, status, reason, tokens = names
    statuses: list[str] = []
    reasons: list[str | None] = []
    scores: list[float | None] = []
    n_tokens: list[int | None] = []
    for batch in scored.select_columns(list(names)).iter(batch_size=READ_ROWS * 10):
        statuses.extend(batch[status])
        reasons.extend(batch[reason])
        scores.extend(batch[score])
        n_tokens.extend(batch[tokens])
    as_float = np.array([np.nan if s is None else s for s in scores], dtype=np.float64)
    as_int = np.array([0 if t is None else t for t in n_tokens], dtype=np.int64)
    return np.array(statuses, dtype=object), reasons, as_float, as_int


def _streamed_rows(ds: Any, rows: np.ndarray, scores: np.ndarray, ranks: np.ndarray, dropped: tuple[str, ...]) -> Any:
    """The rows at ``rows`` (0-based) of a stream, read again, in the order given, with their score and rank."""
    from datasets import Dataset

    wanted = {int(r): i for i, r in enumerate(rows.tolist())}
    found: list[dict[str, Any] | None] = [None] * len(rows)
    for row, record in enumerate(ds):
        at = wanted.get(row)
        if at is not None:
            found[at] = {**{k: v for k, v in record.items() if k not in dropped},
                         "zipfit_score": float(scores[at]), RANK: int(ranks[at])}
    if any(r is None for r in found):
        raise ZipfitError("the stream changed between its two reads (fewer rows the second time)")
    features = _features(ds, {"zipfit_score": "float64", RANK: "int64"})
    if features is not None:
        for name in dropped:
            if name in features and name not in ("zipfit_score", RANK):
                del features[name]
    return Dataset.from_list(found, features=features)  # type: ignore[arg-type]
