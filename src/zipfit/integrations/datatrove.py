"""ZIP-FIT as datatrove pipeline steps: a scorer, and the exact global cut as a two-stage recipe.

``ZipfitScore`` scores every ``Document`` against the targets where it passes, writes the score into
``doc.metadata`` (``zipfit_score`` unless told) and counts what it did in datatrove's stats. Given an
``output_folder`` it also writes the score table of its task there (``{rank:05d}.parquet``, the columns of a
zipfit score dataset: file, row, id, score, n_tokens, n_chars, status, reason, detail): stage 1.

A streaming step cannot make a global cut alone, so ``ZipfitSelect`` is stage 2, a datatrove filter run after
every task of stage 1 has finished (``depends=``): each of its tasks reads all the score tables (a few numbers per
document), makes the cut with the library's own code (``k``, ``tokens``, ``fraction``, ``min_score``: the same
arithmetic and the same tie-breaking as ``zipfit select``), keeps the documents it selects (with ``zipfit_score``
and ``zipfit_rank``) and sends the others to datatrove's ``exclusion_writer`` with their reason (``below_cutoff``,
or why the document was never scored).

Input order, which breaks ties, is the order ``zipfit select`` reads the same files in: by file path
(``metadata["file_path"]``, which datatrove's disk readers set), then by position in the file. A document's place
travels with it as ``zipfit_file`` and ``zipfit_row`` in its metadata, so stage 2 may read stage 1's output; one
without them (stage 2 reading the original files again, with the same reader) is placed the same way stage 1
placed it. See docs/integrations.md and examples/datatrove_pipeline.py.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils.batching import batched
from datatrove.utils.logging import logger
from datatrove.utils.typeshelper import StatHints

from zipfit.errors import ZipfitError
from zipfit.integrations.cut import exact_cut
from zipfit.integrations.scoring import NOT_ELIGIBLE, Scorer, fit_scorer, score_records
from zipfit.io.exclusions import Exclusions
from zipfit.io.textspec import TextSpec
from zipfit.pipeline.scores import SCHEMA
from zipfit.topk import Budget

__all__ = ["ZipfitScore", "ZipfitSelect"]

FILE_KEY, ROW_KEY = "zipfit_file", "zipfit_row"
BELOW_CUTOFF = "below_cutoff"


def _place(doc: Document, rank: int, seen: defaultdict[str, int]) -> tuple[str, int]:
    """(file, 1-based position in it) of a document: from its metadata when stage 1 put it there, else counted
    here as stage 1 counts (documents of one file arrive at one task, in file order)."""
    file, row = doc.metadata.get(FILE_KEY), doc.metadata.get(ROW_KEY)
    if file is not None and row is not None:
        return str(file), int(row)
    file = str(doc.metadata.get("file_path") or f"rank-{rank:05d}")
    seen[file] += 1
    return file, seen[file]


class ZipfitScore(PipelineStep):
    """Score each document against the targets; ``doc.metadata[score_key]`` is its score (None when it is not
    scored: ``zipfit_reason`` says why), and with ``output_folder`` this task's score table is written there.

    ``target``: target files, a list of texts or in-memory records, read with ``target_text_field`` or
    ``target_template``. ``method`` and ``params`` as in ``zipfit score``; a method that needs a pass over the
    source first (``zipfit-debiased``'s background sample) draws it from ``fit_from`` (the source files, read by
    zipfit with ``fit_from_text_field``), once, when the step is made. The method is fitted here, in the process
    that builds the pipeline, and set up once in each process that runs tasks.
    """

    name = "🎯 ZIP-FIT score"
    type = "🎯 - ZIPFIT"

    def __init__(
        self,
        target: Any,
        *,
        method: str = "zipfit",
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
        tokenizer: str = "whitespace",
        target_text_field: str = "text",
        target_template: str | None = None,
        score_key: str = "zipfit_score",
        output_folder: DataFolderLike | None = None,
        fit_from: Any = None,
        fit_from_text_field: str = "text",
        batch_size: int = 64,
    ) -> None:
        super().__init__()
        source = None
        if fit_from is not None:
            from zipfit.config import paths
            from zipfit.io.corpus import Corpus

            source = Corpus(paths(fit_from), TextSpec(field=fit_from_text_field), role="source")
        self.scorer: Scorer = fit_scorer(target, method=method, params=params, seed=seed, tokenizer=tokenizer,
                                         target_text_field=target_text_field, target_template=target_template,
                                         source=source)
        self.score_key = score_key
        self.output_folder = get_datafolder(output_folder) if output_folder is not None else None
        if batch_size < 1:
            raise ZipfitError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        seen: defaultdict[str, int] = defaultdict(int)
        table: dict[str, list] = {name: [] for name in SCHEMA.names}
        for batch in batched(data or (), self.batch_size):
            with self.track_time("batch"):
                scored = score_records(self.scorer, [{"text": doc.text} for doc in batch])
            self.stat_update("batches")
            for i, doc in enumerate(batch):
                file, row = _place(doc, rank, seen)
                score, status, reason = scored.scores[i], scored.statuses[i], scored.reasons[i]
                doc.metadata[self.score_key] = score if status == "scored" else None
                doc.metadata[FILE_KEY], doc.metadata[ROW_KEY] = file, row
                if reason is not None:
                    doc.metadata["zipfit_reason"] = reason
                self.stat_update(StatHints.total, status)
                if reason is not None and reason != status:
                    self.stat_update(f"{status}_{reason}")
                if status == "scored":
                    self.stat_update(self.score_key, value=score)
                    self.stat_update("zipfit_tokens", value=scored.n_tokens[i])
                for name, value in (("file", file), ("row", row), ("id", doc.id), ("score", score),
                                    ("n_tokens", scored.n_tokens[i]), ("n_chars", scored.n_chars[i]),
                                    ("status", status), ("reason", reason), ("detail", scored.details[i])):
                    table[name].append(value)
                self.update_doc_stats(doc)
                yield doc
        if self.output_folder is not None:
            self._write_table(pa.table(table, schema=SCHEMA), rank, world_size)

    def _write_table(self, table: pa.Table, rank: int, world_size: int) -> None:
        """This task's score table, whole or not at all (a task that dies leaves none; datatrove runs it again)."""
        table = table.replace_schema_metadata({
            "zipfit.run": json.dumps(self.scorer.info, sort_keys=True, default=str), "zipfit.rank": str(rank),
            "zipfit.world_size": str(world_size), "zipfit.unscorable_reason": self.scorer.unscorable_reason})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        name, tmp = f"{rank:05d}.parquet", f".{rank:05d}.parquet.tmp"
        folder = self.output_folder
        assert folder is not None
        with folder.open(tmp, "wb") as f:
            f.write(sink.getvalue().to_pybytes())
        folder.mv(tmp, name)


@dataclass
class _Cut:
    """Stage 2's view of the score tables: the selected places with rank and score, why the documents that were
    never scored were not, and how many documents each file had."""

    kept: dict[tuple[str, int], tuple[int, float]]
    not_scored: dict[tuple[str, int], str]
    rows: dict[str, int]
    cutoff: float


def read_tables(folder: DataFolderLike) -> tuple[pa.Table, dict[str, Any]]:
    """Every task's score table from stage 1, checked complete and from one run, in input order."""
    root = get_datafolder(folder)
    names = sorted(n for n in root.list_files(recursive=False) if n.endswith(".parquet"))
    if not names:
        raise ZipfitError(f"{root.path}: no score tables (stage 1, ZipfitScore with output_folder=, writes them)")
    tables, runs, sizes, ranks = [], set(), set(), set()
    for name in names:
        with root.open(name, "rb") as f:
            table = pq.read_table(pa.BufferReader(f.read()))
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        if "zipfit.run" not in meta:
            raise ZipfitError(f"{root.path}/{name} is not a zipfit score table")
        runs.add(meta["zipfit.run"])
        sizes.add(int(meta["zipfit.world_size"]))
        ranks.add(int(meta["zipfit.rank"]))
        tables.append(table.replace_schema_metadata(None).cast(SCHEMA))
    if len(runs) > 1:
        raise ZipfitError(f"{root.path} holds score tables of different runs (other targets or method); empty it "
                          "and run stage 1 again")
    if len(sizes) > 1:
        raise ZipfitError(f"{root.path} holds score tables of runs with {sorted(sizes)} tasks; empty it and run "
                          "stage 1 again")
    world_size = sizes.pop()
    missing = sorted(set(range(world_size)) - ranks)
    if missing:
        raise ZipfitError(f"{root.path}: the score tables of tasks {', '.join(map(str, missing[:10]))} of "
                          f"{world_size} are missing; the cut needs every document's score (finish stage 1 first)")
    table = pa.concat_tables(tables).sort_by([("file", "ascending"), ("row", "ascending")])
    return table, {**json.loads(runs.pop()), "unscorable_reason": meta["zipfit.unscorable_reason"]}


class ZipfitSelect(BaseFilter):
    """Stage 2: keep the documents of the exact global cut made from stage 1's score tables in ``scores_folder``.

    The budget: ``k`` documents, ``tokens`` (the longest prefix of the ranking within that many tokens, counted
    by stage 1's tokenizer), ``fraction`` of the eligible documents; ``min_score`` keeps only documents scoring at
    least that (alone: all of them). A kept document gets ``metadata[score_key]`` and ``metadata[rank_key]`` (1 =
    best); the others go to ``exclusion_writer`` with ``filter_reason`` ``below_cutoff`` (or why they were never
    scored). ``keep_place=False`` drops ``zipfit_file``/``zipfit_row`` from the kept documents.
    """

    name = "🎯 ZIP-FIT select"

    def __init__(
        self,
        scores_folder: DataFolderLike,
        *,
        k: int | None = None,
        tokens: int | None = None,
        fraction: float | None = None,
        min_score: float | None = None,
        sampling: str = "top-k",
        seed: int = 0,
        score_key: str = "zipfit_score",
        rank_key: str = "zipfit_rank",
        keep_place: bool = False,
        exclusion_writer: DiskWriter | None = None,
    ) -> None:
        super().__init__(exclusion_writer)
        Budget(k=k, tokens=tokens, fraction=fraction, min_score=min_score)  # a bad budget fails here, not in a task
        self.scores_folder = scores_folder
        self.budget = {"k": k, "tokens": tokens, "fraction": fraction, "min_score": min_score}
        self.sampling, self.seed = sampling, seed
        self.score_key, self.rank_key, self.keep_place = score_key, rank_key, keep_place
        self._cut: _Cut | None = None
        self._rank = 0
        self._seen: defaultdict[str, int] = defaultdict(int)

    def cut(self) -> _Cut:
        """The cut, made once per task from every score table (each task makes the same one)."""
        if self._cut is None:
            self._cut = self._make_cut()
        return self._cut

    def _make_cut(self) -> _Cut:
        table, run = read_tables(self.scores_folder)
        columns = table.select(["file", "row", "score", "n_tokens", "status", "reason", "detail"]).to_pydict()
        files, rows, statuses = columns["file"], columns["row"], columns["status"]
        eligible = [i for i, s in enumerate(statuses) if s not in NOT_ELIGIBLE]
        exclusions = Exclusions()
        exclusions.n_records = len(statuses)
        not_scored: dict[tuple[str, int], str] = {}
        for i, (file, row, status, reason) in enumerate(zip(files, rows, statuses, columns["reason"], strict=True)):
            if status != "scored":
                not_scored[(file, row)] = reason or status
                if status in NOT_ELIGIBLE:
                    exclusions.add(reason, file, row, columns["detail"][i] or "")
        scores = [math.nan if columns["score"][i] is None else columns["score"][i] for i in eligible]
        selection = exact_cut(scores, [columns["n_tokens"][i] or 0 for i in eligible], **self.budget,
                              sampling=self.sampling, seed=self.seed, method=run["method"]["name"],
                              unscorable_reason=run["unscorable_reason"], n_records=len(statuses),
                              exclusions=exclusions)
        kept = {}
        for rank, (position, score) in enumerate(zip(selection.positions.tolist(), selection.scores.tolist(),
                                                     strict=True), 1):
            i = eligible[position]
            kept[(files[i], rows[i])] = (rank, score)
        per_file: dict[str, int] = {}
        for file, row in zip(files, rows, strict=True):
            per_file[file] = max(per_file.get(file, 0), row)
        logger.info(f"zipfit: {len(kept):,} of {len(eligible):,} documents selected "
                    f"({', '.join(f'{k}={v}' for k, v in self.budget.items() if v is not None)}); "
                    f"cutoff score {selection.cutoff!r}")
        return _Cut(kept, not_scored, per_file, selection.cutoff)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self._rank, self._seen = rank, defaultdict(int)
        yield from super().run(data, rank, world_size)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        cut = self.cut()
        place = _place(doc, self._rank, self._seen)
        if place[1] > cut.rows.get(place[0], 0):
            raise ZipfitError(f"document {doc.id!r} ({place[0]}, document {place[1]}) has no score: stage 2 must "
                              "read what stage 1 scored, with the same reader")
        hit = cut.kept.get(place)
        if hit is None:
            return False, cut.not_scored.get(place, BELOW_CUTOFF)
        doc.metadata[self.rank_key], doc.metadata[self.score_key] = hit
        if not self.keep_place:
            doc.metadata.pop(FILE_KEY, None)
            doc.metadata.pop(ROW_KEY, None)
        return True
