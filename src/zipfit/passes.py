"""The two passes every run makes over its inputs, independent of method and engine.

Map pass: stream documents, batch their texts, have the engine score them; keep only a few
numbers per document (score, tokens, characters). Write pass: stream the inputs again and emit
the chosen records. Nothing here holds texts beyond one batch per worker in flight.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zipfit.engines.base import Engine
from zipfit.errors import ZipfitError
from zipfit.filters.base import FilterChain
from zipfit.fingerprint import text_sha256
from zipfit.io import Corpus, Document, Exclusions
from zipfit.io.shards import ROWS_PER_SHARD, Shard, shard_key, shard_number
from zipfit.pipeline.scores import ScoreDataset, ShardScores
from zipfit.pipeline.worker_reads import plan_on_workers
from zipfit.progress import bar_shown, progress_bar
from zipfit.tokens import TokenCounter

assert array("I").itemsize == 4
BATCH_DOCS = 64
BATCH_CHARS = 1 << 18


class ScoreJob:
    """Score a batch of texts with a method and, optionally, count their tokens."""

    def __init__(self, method: Any, counter: TokenCounter | None = None) -> None:
        self.method = method
        self.counter = counter

    def setup(self) -> None:
        self.method.setup()
        if self.counter is not None:
            self.counter.setup()

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        counts = self.counter.count(texts) if self.counter is not None else None
        return self.method.score(texts), counts


class FilteredScoreJob(ScoreJob):
    """A ScoreJob that first drops the texts the map-stage filters flag: they get a NaN score (and are
    not scored at all) and a flag (see ``FilterChain``)."""

    def __init__(self, method: Any, counter: TokenCounter | None, filters: FilterChain) -> None:
        super().__init__(method, counter)
        self.filters = filters

    def setup(self) -> None:
        super().setup()
        self.filters.setup()

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:  # type: ignore[override]
        flags = np.array(self.filters.flags(texts), dtype=np.int8)
        clean = np.flatnonzero(flags == 0)
        counts = self.counter.count(texts) if self.counter is not None else None
        if len(clean) == len(texts):
            return self.method.score(texts), counts, flags
        scored = self.method.score([texts[i] for i in clean] if len(clean) else list(texts[:1]))
        out = np.full((len(texts), *scored.shape[1:]), np.nan)
        if len(clean):
            out[clean] = scored
        return out, counts, flags


def document_batches(docs: Iterable[Document]) -> Iterator[list[Document]]:
    """Group documents into batches of at most BATCH_DOCS documents or about BATCH_CHARS characters."""
    batch: list[Document] = []
    chars = 0
    for doc in docs:
        batch.append(doc)
        chars += len(doc.text)
        if len(batch) >= BATCH_DOCS or chars >= BATCH_CHARS:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def text_batches(docs: Iterable[Document]) -> Iterator[list[str]]:
    for batch in document_batches(docs):
        yield [doc.text for doc in batch]


class RowProgress:
    """A full read's progress in input rows, so its bar has a total (the rows of the inputs, counted up front,
    and only when a bar is drawn) and ends at it.

    Documents are what the engine scores, but records the reader excludes (blank, malformed, filtered out) take
    time too and are rows of no batch: each batch is charged the rows read since the one before it, and the last
    batch the rows read after it as well, so the bar's final count is every row of the inputs.
    """

    def __init__(self, corpus: Corpus, enabled: bool | None) -> None:
        self.corpus = corpus
        self.shown = bar_shown(enabled)
        self.total = planned_rows(corpus, enabled) if self.shown else None
        self._rows: dict[int, int] = {}  # id(batch) -> its rows, until the engine asks for them
        self._charged = 0

    def batches(self, batches: Iterable[list[str]]) -> Iterable[list[str]]:
        """``batches`` (of ``corpus.documents()``, begun just before), each held until the next one is read."""
        return self._held(batches) if self.shown else batches

    def _held(self, batches: Iterable[list[str]]) -> Iterator[list[str]]:
        held: list[str] | None = None
        through = 0
        for batch in batches:
            read = self.corpus.n_records  # rows read up to this batch's last document
            if held is not None:
                self._charge(held, through)
                yield held
            held, through = batch, read
        if held is not None:
            self._charge(held, self.corpus.n_records)
            yield held

    def _charge(self, batch: list[str], through: int) -> None:
        self._rows[id(batch)] = through - self._charged
        self._charged = through

    def size(self, batch: list[str]) -> int:
        """The rows a batch stands for: the engine's ``size`` to advance the bar by."""
        return self._rows.pop(id(batch), 0) if self.shown else len(batch)


def planned_rows(corpus: Corpus, enabled: bool | None) -> int | None:
    """The rows of the corpus's inputs (see ``Corpus.total_rows``); counting JSON Lines inputs has a bar of its
    own, in bytes of the files, since on a large compressed corpus it takes a while."""
    counted = [f.size for f in corpus.files if not f.is_arrow]
    with progress_bar(desc="counting rows", total=sum(counted) if counted else None, unit="B",
                      enabled=bar_shown(enabled) and bool(counted) and not corpus.rows_counted) as bar:
        return corpus.total_rows(bar.update)


@dataclass
class MapResult:
    scores: np.ndarray
    n_tokens: np.ndarray
    n_chars: np.ndarray
    n_records: int = 0
    exclusions: Exclusions = field(default_factory=Exclusions)  # as found by this full read
    resumed_shards: int = 0  # shards whose scores came from an earlier run's score dataset
    # documents dropped by map-stage filters (decontamination; score NaN): their indices, and reasons with examples
    contaminated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    contamination: Exclusions = field(default_factory=Exclusions)
    # the shards the pass read, when its workers read them, and each shard's number of eligible documents: what a
    # write pass on those workers needs to find a document again (``zipfit.pipeline.worker_reads``)
    shards: list[Shard] | None = None
    shard_docs: list[int] | None = None

    def __len__(self) -> int:
        return len(self.scores)


BatchSink = Callable[[list[Document], np.ndarray, np.ndarray], None]


def _score_job(method: Any, counter: TokenCounter | None, filters: FilterChain | None) -> ScoreJob:
    return ScoreJob(method, counter) if filters is None else FilteredScoreJob(method, counter, filters)


class _Flagged:
    """The documents the map-stage filters dropped: indices, reasons and statuses, with file:row examples."""

    def __init__(self, corpus: Corpus, filters: FilterChain | None = None) -> None:
        self.corpus = corpus
        self.filters = filters
        self.index: list[int] = []
        self.reasons: list[str] = []
        self.statuses: list[str] = []
        self.exclusions = Exclusions()

    def add(self, batch: list[Document], flags: np.ndarray) -> None:
        for position in np.flatnonzero(flags).tolist():
            doc = batch[position]
            self.index.append(doc.index)
            assert self.filters is not None
            self.reasons.append(self.filters.reason(int(flags[position])))
            self.statuses.append(self.filters.status(int(flags[position])))
            self.exclusions.add(self.reasons[-1], self.corpus.files[doc.file].label, doc.row)

    def take(self, contaminated: np.ndarray, exclusions: Exclusions, offset: int) -> None:
        """Append a later part's flags (a shard's), its positions shifted by ``offset``."""
        self.index.extend((np.asarray(contaminated, dtype=np.int64) + offset).tolist())
        self.exclusions.merge(exclusions)

    def part(self, shard: ShardScores) -> ShardScores:
        """``shard`` with these flags (positions within it)."""
        shard.contaminated, shard.contamination = self.indices(), self.exclusions
        shard.reasons, shard.statuses = self.reasons, self.statuses
        return shard

    def indices(self) -> np.ndarray:
        return np.array(self.index, dtype=np.int64)


class ShardJob:
    """Read one shard of the corpus, score it, save it to the score dataset: what a worker that reads does."""

    def __init__(self, corpus: Corpus, method: Any, counter: TokenCounter | None,
                 dataset: ScoreDataset | None, filters: FilterChain | None = None) -> None:
        self.corpus = corpus
        self.score = _score_job(method, counter, filters)
        self.dataset = dataset

    def setup(self) -> None:
        self.score.setup()

    def __call__(self, shard: Shard) -> tuple[ShardScores, bool]:
        if self.dataset is not None:
            done = self.dataset.load(shard.key)
            if done is not None:
                return done, True
        docs, exclusions = self.corpus.shard_documents(shard)
        exclusions.log = []
        scores, n_tokens, n_chars, rows = array("d"), array("I"), array("I"), array("q")
        ids: list[str | None] = []
        flagged = _Flagged(self.corpus, getattr(self.score, "filters", None))
        for batch in document_batches(docs):
            batch_scores, batch_tokens, *flags = self.score([doc.text for doc in batch])
            if flags:
                flagged.add(batch, flags[0])
            scores.extend(batch_scores.tolist())
            n_tokens.extend(batch_tokens.tolist())
            n_chars.extend(len(doc.text) for doc in batch)
            rows.extend(doc.row for doc in batch)
            ids.extend(doc.id for doc in batch)
        excluded = [(row, reason, detail) for _, row, reason, detail in exclusions.log]
        exclusions.log = None
        part = flagged.part(ShardScores(
            np.frombuffer(scores, dtype=np.float64), np.frombuffer(n_tokens, dtype=np.uint32),
            np.frombuffer(n_chars, dtype=np.uint32), exclusions, rows=np.frombuffer(rows, dtype=np.int64), ids=ids,
            excluded=excluded))
        if self.dataset is not None:
            self.dataset.save(shard.key, shard.file, part)
        return part, False


def map_pass(
    corpus: Corpus,
    method: Any,
    engine: Engine,
    counter: TokenCounter,
    *,
    desc: str = "scoring",
    records: bool = False,
    on_batch: BatchSink | None = None,
    dataset: ScoreDataset | None = None,
    shard_rows: int = ROWS_PER_SHARD,
    filters: FilterChain | None = None,
) -> MapResult:
    """Score every eligible document of the corpus, keeping O(N) small numbers of memory.

    On an engine whose workers read their own shards (Ray), this process only plans the shards and
    gathers their scores. Otherwise it reads the inputs and sends batches of texts; then
    ``on_batch(documents, scores, n_tokens)`` sees every batch in input order as its scores come back,
    and only batches in flight are held. With a ``dataset``, every finished shard is saved as a part of
    the score dataset and shards saved by an earlier run are not scored again. With map-stage
    ``filters``, the documents they flag are not scored: NaN, listed in ``contaminated``.
    """
    if engine.reads_shards and on_batch is None and not records:
        return _map_shards(corpus, method, engine, counter, desc, dataset, shard_rows, filters)
    scores = array("d")
    n_tokens = array("I")  # 4 bytes: a document has fewer than 2**32 tokens and characters
    n_chars = array("I")
    rows = array("q")  # only while a shard is open: the rows and ids of its documents, for its part
    ids: list[str | None] = []
    # In input order: ("batch", docs) for each batch sent to the engine, ("done", key, part, docs)
    # for a shard found in the dataset, ("end", key) after a shard's last batch.
    entries: deque[tuple] = deque()
    resumed = 0
    flagged = _Flagged(corpus, filters)  # the whole pass
    current = _Flagged(corpus, filters)  # the shard whose batches are coming back, merged into `flagged` at its end
    documents = corpus.documents(records=records)
    log: deque = deque()
    if dataset is not None:
        corpus.exclusions.log = log  # type: ignore[assignment]
    file_number = {f.label: i for i, f in enumerate(corpus.files)}

    def log_key(entry: tuple) -> str:
        return shard_key(file_number[entry[0]], shard_number(entry[1], shard_rows))

    def excluded_before(key: str) -> None:
        """Parts for the shards before ``key`` that hold no eligible document, only excluded records."""
        while log and log_key(log[0]) < key:
            first = log_key(log[0])
            part = ShardScores(np.zeros(0), np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.uint32),
                               excluded=_take_log(log, first, log_key))
            assert dataset is not None
            dataset.save(first, _file_of(first), part)

    def texts() -> Iterator[list[str]]:
        nonlocal resumed
        for key, docs in _by_shard(documents, shard_rows):
            done = dataset.load(key) if dataset is not None else None
            if done is not None:
                resumed += 1
                kept = list(docs) if on_batch is not None else None
                n_chars.extend(len(doc.text) for doc in (kept if kept is not None else docs))
                entries.append(("done", key, done, kept))
                continue
            for batch in document_batches(docs):
                n_chars.extend(len(doc.text) for doc in batch)
                entries.append(("batch", batch))
                yield [doc.text for doc in batch]
            entries.append(("end", key))

    shard_start = 0  # where the current shard's documents begin in `scores`

    def settle() -> None:
        """Take the finished shards at the head of `entries`: loaded ones and those whose batches are all back."""
        nonlocal shard_start, current, rows, ids
        while entries and entries[0][0] != "batch":
            entry = entries.popleft()
            key = entry[1]
            if dataset is not None:
                excluded_before(key)
                excluded = _take_log(log, key, log_key)
            if entry[0] == "done":
                part, docs = entry[2], entry[3]
                flagged.take(part.contaminated, part.contamination, len(scores))
                scores.extend(part.scores.tolist())
                n_tokens.extend(part.n_tokens.tolist())
                if on_batch is not None:
                    on_batch(docs, part.scores, part.n_tokens)
            else:
                if dataset is not None:
                    part = current.part(ShardScores(
                        np.array(scores[shard_start:], dtype=np.float64),
                        np.array(n_tokens[shard_start:], dtype=np.uint32),
                        np.array(n_chars[shard_start : len(scores)], dtype=np.uint32),
                        rows=np.frombuffer(rows, dtype=np.int64), ids=ids, excluded=excluded))
                    part.contaminated = part.contaminated - shard_start
                    dataset.save(key, _file_of(key), part)
                flagged.take(current.indices(), current.exclusions, 0)
                current = _Flagged(corpus, filters)
            rows, ids = array("q"), []
            shard_start = len(scores)

    rows_read = RowProgress(corpus, engine.progress)
    for batch_scores, batch_tokens, *flags in engine.map(_score_job(method, counter, filters),
                                                          rows_read.batches(texts()), desc=desc,
                                                          total=rows_read.total, size=rows_read.size, unit="row"):
        settle()
        _, batch = entries.popleft()
        if flags:
            current.add(batch, flags[0])
        # a method may return rows (e.g. embeddings) instead of scores: those go to on_batch only
        scores.extend(batch_scores.tolist() if batch_scores.ndim == 1 else [math.nan] * len(batch_scores))
        n_tokens.extend(batch_tokens.tolist())
        if dataset is not None:
            rows.extend(doc.row for doc in batch)
            ids.extend(doc.id for doc in batch)
        if on_batch is not None:
            on_batch(batch, batch_scores, batch_tokens)
    settle()
    if dataset is not None:
        excluded_before("~")  # after every key: the trailing shards without eligible documents
        corpus.exclusions.log = None
        dataset.resumed = resumed
    return MapResult(
        # views over the arrays' buffers (no copy: this is the O(N) part of a run's memory)
        scores=np.frombuffer(scores, dtype=np.float64),
        n_tokens=np.frombuffer(n_tokens, dtype=np.uint32),
        n_chars=np.frombuffer(n_chars, dtype=np.uint32),
        # later partial reads (rescoring, writing) reset the corpus's own counters
        n_records=corpus.n_records,
        exclusions=copy.deepcopy(corpus.exclusions),
        resumed_shards=resumed,
        contaminated=flagged.indices(),
        contamination=flagged.exclusions,
    )


def _file_of(key: str) -> int:
    return int(key.split("-")[0])


def _take_log(log: deque, key: str, log_key: Callable[[tuple], str]) -> list[tuple[int, str, str]]:
    """The logged exclusions of shard ``key`` at the head of ``log``, as (row, reason, detail)."""
    out = []
    while log and log_key(log[0]) == key:
        _, row, reason, detail = log.popleft()
        out.append((row, reason, detail))
    return out


def _by_shard(docs: Iterable[Document], shard_rows: int) -> Iterator[tuple[str, Iterator[Document]]]:
    """Consecutive documents grouped, lazily, by the shard they come from (shards without documents are skipped)."""
    return itertools.groupby(docs, key=lambda doc: shard_key(doc.file, shard_number(doc.row, shard_rows)))


def _map_shards(corpus: Corpus, method: Any, engine: Engine, counter: TokenCounter, desc: str,
                dataset: ScoreDataset | None, shard_rows: int, filters: FilterChain | None) -> MapResult:
    shards = plan_on_workers(corpus, engine, shard_rows)
    job = ShardJob(corpus, method, counter, dataset, filters)
    mapped = gather(engine.map_shards(job, shards, desc=desc, total=sum(s.stop - s.start for s in shards),
                                      size=lambda s: s.stop - s.start, unit="row"))
    if dataset is not None:
        dataset.resumed = mapped.resumed_shards
    mapped.shards = shards
    return mapped


def gather(parts: Iterable[tuple[ShardScores, bool]]) -> MapResult:
    """One map pass's result from its shards' parts, in input order: (part, whether it was saved before)."""
    scores, n_tokens, n_chars = [], [], []
    exclusions, contamination, contaminated = Exclusions(), Exclusions(), []
    resumed, start, shard_docs = 0, 0, []
    for part, was_done in parts:
        shard_docs.append(len(part.scores))
        scores.append(part.scores)
        n_tokens.append(part.n_tokens)
        n_chars.append(part.n_chars)
        exclusions.merge(part.exclusions)
        contamination.merge(part.contamination)
        contaminated.append(np.asarray(part.contaminated, dtype=np.int64) + start)
        start += len(part.scores)
        resumed += was_done

    def joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)

    return MapResult(joined(scores, np.float64), joined(n_tokens, np.uint32), joined(n_chars, np.uint32),
                     exclusions.n_records, exclusions, resumed, joined(contaminated, np.int64), contamination,
                     shard_docs=shard_docs)


def read_with_bar(corpus: Corpus, docs: Iterable[Document], *, desc: str, enabled: bool | None) -> Iterator[Document]:
    """``docs`` (a ``corpus.documents()`` read, begun just before) behind a bar of the input rows read, for the
    passes that read every input in this process without an engine (sampling, reading a field)."""
    total = planned_rows(corpus, enabled) if bar_shown(enabled) else None
    with progress_bar(desc=desc, total=total, unit="row", enabled=enabled) as bar:
        told = 0
        for doc in docs:
            yield doc
            if corpus.n_records - told >= 256:  # a bar update per document would cost more than the read
                bar.update(corpus.n_records - told)
                told = corpus.n_records
        bar.update(corpus.n_records - told)


def sample_documents(corpus: Corpus, size: int, seed: int, *, desc: str = "sampling",
                     progress: bool | None = False) -> tuple[np.ndarray, list[str], int]:
    """A seeded uniform sample of ``size`` documents by one streaming read (reservoir sampling).

    Returns their indices (ascending), their texts in that order, and the number of documents.
    """
    return sample_documents_many(corpus, (size,), seed, desc=desc, progress=progress)[0]


def sample_documents_many(corpus: Corpus, sizes: Sequence[int], seed: int, *, desc: str = "sampling",
                          progress: bool | None = False) -> list[tuple[np.ndarray, list[str], int]]:
    """``sample_documents`` for each size, by one read: each sample is the one its own call would draw."""
    rngs = [random.Random(seed) for _ in sizes]
    reservoirs: list[list[tuple[int, str]]] = [[] for _ in sizes]
    count = 0
    for doc in read_with_bar(corpus, corpus.documents(), desc=desc, enabled=progress):
        count += 1
        for rng, reservoir, size in zip(rngs, reservoirs, sizes, strict=True):
            if len(reservoir) < size:
                reservoir.append((doc.index, doc.text))
            else:
                slot = rng.randrange(count)
                if slot < size:
                    reservoir[slot] = (doc.index, doc.text)
    out = []
    for reservoir in reservoirs:
        reservoir.sort()
        out.append((np.array([i for i, _ in reservoir], dtype=np.int64), [t for _, t in reservoir], count))
    return out


def collect_rows(
    corpus: Corpus, method: Any, engine: Engine, counter: TokenCounter, *, desc: str, filters: FilterChain | None = None
) -> tuple[MapResult, np.ndarray]:
    """Every eligible document's row from a method that returns rows (e.g. embeddings), as one float32 array.

    Memory is N x dim: this is for set-selection methods that need all rows at once (D4).
    """
    rows: list[np.ndarray] = []

    def keep(docs: list[Document], batch_rows: np.ndarray, batch_tokens: np.ndarray) -> None:
        rows.append(np.asarray(batch_rows, dtype=np.float32))

    mapped = map_pass(corpus, method, engine, counter, desc=desc, on_batch=keep, filters=filters)
    return mapped, (np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32))


def documents_at(corpus: Corpus, indices: np.ndarray, *, records: bool = False) -> Iterator[Document]:
    """The documents whose index is in ``indices`` (ascending), in input order, by one streaming read."""
    if len(indices) == 0:
        return
    wanted = iter(indices.tolist())
    next_index = next(wanted)
    for doc in corpus.documents(records=records):
        if doc.index == next_index:
            yield doc
            next_index = next(wanted, None)
            if next_index is None:
                return


class KeptTexts:
    """The documents one read passes through, kept (up to ``limit_chars`` of text in all) so that later passes over
    a subset of them need not read and parse the whole source again.

    The cascade's exact rounds rescore only documents that stage 2 scored; at 10^5 documents each full read
    costs about as much CPU as 300 exact scores. Past the limit nothing is kept and every pass reads the source.
    """

    def __init__(self, limit_chars: int = 64 * 2**20) -> None:
        self.limit_chars = limit_chars
        self.docs: dict[int, Document] | None = {}
        self.chars = 0

    def keep(self, docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            if self.docs is not None:
                self.chars += len(doc.text)
                if self.chars > self.limit_chars:
                    self.docs = None
                else:
                    self.docs[doc.index] = doc
            yield doc

    def at(self, corpus: Corpus, indices: np.ndarray) -> Iterable[Document]:
        """The documents at ``indices`` (ascending): from memory when all were kept, else by a read."""
        kept, wanted = self.docs, indices.tolist()
        if kept is not None and all(i in kept for i in wanted):
            return [kept[i] for i in wanted]
        return documents_at(corpus, indices)


def rescore(corpus: Corpus, indices: np.ndarray, method: Any, engine: Engine, *, desc: str,
            kept: KeptTexts | None = None) -> np.ndarray:
    """Exact scores of the documents at ``indices`` (ascending), in that order. ``kept``: the documents read so far
    are kept there, and taken from there when it holds all of them."""
    out = array("d")
    if kept is None:
        docs: Iterable[Document] = documents_at(corpus, indices)
    elif kept.docs:
        docs = kept.at(corpus, indices)
    else:
        docs = kept.keep(documents_at(corpus, indices))
    batches = text_batches(docs)
    for batch_scores, _ in engine.map(ScoreJob(method), batches, desc=desc, total=len(indices)):
        out.extend(batch_scores.tolist())
    return np.frombuffer(out, dtype=np.float64)


def ranked_records(
    corpus: Corpus,
    selected: np.ndarray,
    scores: np.ndarray,
    *,
    target_hashes: set[str] | frozenset[str] = frozenset(),
    copies: list[int] | None = None,
    progress: bool | None = False,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(rank, record + zipfit_score + zipfit_rank) for the selection, in input order.

    ``selected`` is in rank order (best first); ``scores[i]`` is the score of ``selected[i]``. The
    rank of every selected document whose text is exactly a target example (by the sha256 of its UTF-8
    in ``target_hashes``: a saved score dataset records those, not the targets) goes to ``copies``.
    """
    by_index = np.argsort(selected, kind="stable")
    ascending = selected[by_index]
    with progress_bar(desc="writing", total=len(selected), unit="doc", enabled=progress) as bar:
        for position, doc in zip(by_index.tolist(), documents_at(corpus, ascending, records=True), strict=True):
            record = dict(doc.record or {})
            record["zipfit_score"] = float(scores[position])
            record["zipfit_rank"] = position + 1
            if copies is not None and target_hashes and text_sha256(doc.text) in target_hashes:
                copies.append(position + 1)
            yield position + 1, record
            bar.update(1)


def field_values(corpus: Corpus, name: str, n_documents: int, *, progress: bool | None = False) -> list[Any]:
    """The value of field ``name`` of every eligible document, in input order (None where a record has none),
    by one streaming read of the records."""
    values = [(doc.record or {}).get(name) for doc in read_with_bar(corpus, corpus.documents(records=True),
                                                                    desc=f"reading {name}", enabled=progress)]
    if len(values) != n_documents:
        raise ZipfitError("the inputs changed while zipfit was reading them")
    if all(v is None for v in values) and not corpus.has_field(name):
        raise ZipfitError(f"--group-by {name}: no source record has a field {name!r}")
    return values
