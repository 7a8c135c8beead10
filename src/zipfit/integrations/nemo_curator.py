"""ZIP-FIT in NeMo Curator: a ``DocumentFilter`` (score, keep by threshold), a scoring stage for its Ray pipelines,
and the exact global cut as a second pipeline.

``ZipfitFilter`` is a ``DocumentFilter`` for NeMo Curator's ``ScoreFilter``/``Score``/``Filter`` stages: its
``score_document`` is the document's ZIP-FIT score, ``keep_document`` keeps a score at or above ``min_score``, and its
``load_model`` sets the method up once per worker (which makes ``ScoreFilter`` an actor stage).

``ZipfitScoreStage`` scores a whole ``DocumentBatch`` at once and adds ``zipfit_score`` (NaN: not scored),
``zipfit_status``, ``zipfit_reason``, ``zipfit_n_tokens`` and the document's place (``zipfit_file``: the batch's
source files, ``zipfit_row``: its position in them), which the global cut needs to break ties as ``zipfit select``
does. ``ZipfitSelectStage`` is stage 2: run in a second pipeline over stage 1's output, it reads the score columns
of every file stage 1 wrote (once per worker), makes the cut for ``k``, ``tokens``, ``fraction`` or ``min_score``
with the library's own code, and keeps the selected rows with ``zipfit_rank``.

Write stage 1's output with NeMo Curator's ``ParquetWriter``: its ``JsonlWriter`` (pandas) rounds floats to 10
digits, so the scores would no longer be the exact ones. The readers must give one batch per file group in
path order (``files_per_partition`` or ``blocksize`` partitioning, both do). See docs/integrations.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from nemo_curator.stages.base import ProcessingStage
from nemo_curator.stages.text.filters import DocumentFilter
from nemo_curator.tasks import DocumentBatch

from zipfit.errors import ZipfitError
from zipfit.integrations.cut import exact_cut
from zipfit.integrations.scoring import NOT_ELIGIBLE, Scorer, fit_scorer, score_records
from zipfit.io.exclusions import Exclusions
from zipfit.topk import Budget

__all__ = ["ZipfitFilter", "ZipfitScoreStage", "ZipfitSelectStage"]

FILE, ROW, STATUS, REASON, TOKENS, RANK = ("zipfit_file", "zipfit_row", "zipfit_status", "zipfit_reason",
                                           "zipfit_n_tokens", "zipfit_rank")


def _fit(target: Any, options: Mapping[str, Any]) -> Scorer:
    source = options.get("fit_from")
    corpus = None
    if source is not None:
        from zipfit.config import paths
        from zipfit.io.corpus import Corpus
        from zipfit.io.textspec import TextSpec

        corpus = Corpus(paths(source), TextSpec(field=options.get("text_field", "text")), role="source")
    return fit_scorer(target, method=options.get("method", "zipfit"), params=options.get("params"),
                      seed=options.get("seed", 0), tokenizer=options.get("tokenizer", "whitespace"),
                      target_text_field=options.get("target_text_field", "text"),
                      target_template=options.get("target_template"), source=corpus)


class ZipfitFilter(DocumentFilter):
    """A document's ZIP-FIT score against the targets; keep it when the score is at least ``min_score``.

    The method is fitted here (``method``, ``params``, ``seed``, ``target_text_field``, ``target_template``,
    ``fit_from`` for a method that needs the source first, as for ``ZipfitScoreStage``). A text zipfit does not
    score (empty, whitespace only) gets NaN and is not kept.
    """

    def __init__(self, target: Any, *, min_score: float, **options: Any) -> None:
        super().__init__()
        Budget(min_score=min_score)  # a finite number
        self.min_score = min_score
        self.scorer = _fit(target, options)
        self._name = "zipfit"

    def load_model(self) -> None:
        """Set the method up once in this worker (ScoreFilter calls it in its setup)."""
        self.scorer.ready()

    def score_document(self, text: str) -> float:
        score = score_records(self.scorer, [{"text": text}]).scores[0]
        return math.nan if score is None else float(score)

    def keep_document(self, score: float) -> bool:
        return bool(score >= self.min_score)  # NaN compares false: never kept


def _batch(batch: DocumentBatch, data: Any) -> DocumentBatch:
    return DocumentBatch(dataset_name=batch.dataset_name, data=data, _metadata=batch._metadata,
                         _stage_perf=batch._stage_perf)


def _file_of(batch: DocumentBatch) -> str:
    files = batch._metadata.get("source_files") if batch._metadata else None
    if not files:
        raise ZipfitError("a batch without source_files in its metadata: ZipfitScoreStage places documents by the "
                          "files they were read from; put it after one of NeMo Curator's file readers")
    return "\n".join(map(str, files))


@dataclass
class ZipfitScoreStage(ProcessingStage[DocumentBatch, DocumentBatch]):
    """Score every document of each batch; adds ``zipfit_score`` and the columns the global cut needs.

    ``text_field`` or ``template`` choose the text (as ``--text-field``/``--template``); ``options``: ``method``,
    ``params``, ``seed``, ``tokenizer``, ``target_text_field``, ``target_template``, ``fit_from``.
    """

    target: Any = None
    text_field: str = "text"
    template: str | None = None
    score_field: str = "zipfit_score"
    options: dict[str, Any] = field(default_factory=dict)
    name: str = "zipfit_score"

    def __post_init__(self) -> None:
        if self.target is None:
            raise ZipfitError("ZipfitScoreStage needs target= (target files, a list of texts, or records)")
        scorer = _fit(self.target, {**self.options, "text_field": self.text_field})
        from zipfit.io.textspec import TextSpec

        scorer.spec = TextSpec(field=self.text_field, template=self.template)
        self.scorer = scorer

    def inputs(self) -> tuple[list[str], list[str]]:
        return ["data"], list(self.scorer.spec.text_fields)

    def outputs(self) -> tuple[list[str], list[str]]:
        return ["data"], [self.score_field, STATUS, REASON, TOKENS, FILE, ROW]

    def ray_stage_spec(self) -> dict[str, Any]:
        return {"is_actor_stage": True}  # set the method up once per worker, not per batch

    def setup(self, worker_metadata: Any = None) -> None:
        self.scorer.ready()

    def process(self, batch: DocumentBatch) -> DocumentBatch:
        df = batch.to_pandas().copy()
        fields = self.scorer.spec.fields
        records = [{name: (None if _missing(v) else v) for name, v in zip(fields, values, strict=True)}
                   for values in zip(*(df[name].tolist() for name in fields), strict=True)] if len(df) else []
        scored = score_records(self.scorer, records)
        df[self.score_field] = np.array([math.nan if s is None else s for s in scored.scores], dtype=np.float64)
        df[STATUS] = scored.statuses
        df[REASON] = scored.reasons
        df[TOKENS] = np.array([0 if t is None else t for t in scored.n_tokens], dtype=np.int64)
        df[FILE] = _file_of(batch)
        df[ROW] = np.arange(1, len(df) + 1, dtype=np.int64)
        return _batch(batch, df)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass
class ZipfitSelectStage(ProcessingStage[DocumentBatch, DocumentBatch]):
    """Stage 2: keep the rows of the exact global cut made from every file stage 1 wrote to ``scored``.

    The budget: ``k`` rows, ``tokens`` (counted by stage 1's tokenizer), ``fraction`` of the eligible rows;
    ``min_score`` keeps only rows scoring at least that (alone: all of them). Kept rows get ``zipfit_rank`` (1 =
    best); the place columns are dropped unless ``keep_place``.
    """

    scored: str = ""
    k: int | None = None
    tokens: int | None = None
    fraction: float | None = None
    min_score: float | None = None
    sampling: str = "top-k"
    seed: int = 0
    score_field: str = "zipfit_score"
    method: str = "zipfit"
    keep_place: bool = False
    name: str = "zipfit_select"

    def __post_init__(self) -> None:
        Budget(k=self.k, tokens=self.tokens, fraction=self.fraction, min_score=self.min_score)
        if not self.scored:
            raise ZipfitError("ZipfitSelectStage needs scored= (the directory stage 1 wrote)")
        self._kept: dict[tuple[str, int], int] | None = None

    def inputs(self) -> tuple[list[str], list[str]]:
        return ["data"], [self.score_field, FILE, ROW]

    def outputs(self) -> tuple[list[str], list[str]]:
        return ["data"], [self.score_field, RANK]

    def ray_stage_spec(self) -> dict[str, Any]:
        return {"is_actor_stage": True}  # the cut is made once per worker

    def setup(self, worker_metadata: Any = None) -> None:
        self.cut()

    def cut(self) -> dict[tuple[str, int], int]:
        """(file, row) -> rank of every selected document."""
        if self._kept is None:
            self._kept = self._make_cut()
        return self._kept

    def _make_cut(self) -> dict[tuple[str, int], int]:
        files = sorted(p for p in Path(self.scored).rglob("*.parquet") if not p.name.startswith((".", "_")))
        if not files:
            raise ZipfitError(f"{self.scored}: no Parquet files (stage 1 writes them with ParquetWriter)")
        columns = [self.score_field, TOKENS, STATUS, REASON, FILE, ROW]
        table = pa.concat_tables([pq.read_table(p, columns=columns) for p in files])
        table = table.sort_by([(FILE, "ascending"), (ROW, "ascending")])
        data = table.to_pydict()
        places = list(zip(data[FILE], data[ROW], strict=True))
        if len(set(places)) != len(places):
            raise ZipfitError(f"{self.scored}: a document appears twice in stage 1's output")
        eligible = [i for i, s in enumerate(data[STATUS]) if s not in NOT_ELIGIBLE]
        exclusions = Exclusions()
        exclusions.n_records = len(places)
        for i, status in enumerate(data[STATUS]):
            if status in NOT_ELIGIBLE:
                exclusions.add(data[REASON][i], data[FILE][i], data[ROW][i])
        scores = [data[self.score_field][i] for i in eligible]
        selection = exact_cut([math.nan if s is None else s for s in scores], [data[TOKENS][i] for i in eligible],
                              k=self.k, tokens=self.tokens, fraction=self.fraction, min_score=self.min_score,
                              sampling=self.sampling, seed=self.seed, method=self.method,
                              n_records=len(places), exclusions=exclusions)
        return {places[eligible[p]]: rank for rank, p in enumerate(selection.positions.tolist(), 1)}

    def process(self, batch: DocumentBatch) -> DocumentBatch | None:
        kept = self.cut()
        df = batch.to_pandas()
        ranks = [kept.get((f, int(r))) for f, r in zip(df[FILE].tolist(), df[ROW].tolist(), strict=True)]
        mask = np.array([r is not None for r in ranks], dtype=bool)
        out = df[mask].reset_index(drop=True)  # pandas would carry the filtered index into the written files
        out[RANK] = np.array([r for r in ranks if r is not None], dtype=np.int64)
        if not self.keep_place:
            out = out.drop(columns=[FILE, ROW])
        return _batch(batch, out)
