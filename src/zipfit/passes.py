"""The two passes every run makes over its inputs, independent of method and engine.

Map pass: stream documents, batch their texts, have the engine score them; keep only a few
numbers per document (score, tokens, characters). Write pass: stream the inputs again and emit
the chosen records. Nothing here holds texts beyond one batch per worker in flight.
"""

from __future__ import annotations

import copy
import math
import random
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zipfit.io import Corpus, Document, Exclusions
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


@dataclass
class MapResult:
    scores: np.ndarray
    n_tokens: np.ndarray
    n_chars: np.ndarray
    n_records: int = 0
    exclusions: Exclusions = field(default_factory=Exclusions)  # as found by this full read

    def __len__(self) -> int:
        return len(self.scores)


BatchSink = Callable[[list[Document], np.ndarray, np.ndarray], None]


def map_pass(
    corpus: Corpus,
    method: Any,
    engine: Any,
    counter: TokenCounter,
    *,
    desc: str = "scoring",
    records: bool = False,
    on_batch: BatchSink | None = None,
) -> MapResult:
    """Score every eligible document of the corpus, keeping O(N) small numbers of memory.

    ``on_batch(documents, scores, n_tokens)`` sees every batch in input order as its scores come
    back (to stream per-document rows out); only batches in flight are held.
    """
    scores = array("d")
    n_tokens = array("I")  # 4 bytes: a document has fewer than 2**32 tokens and characters
    n_chars = array("I")
    in_flight: deque[list[Document]] = deque()

    def texts() -> Iterator[list[str]]:
        for batch in document_batches(corpus.documents(records=records)):
            n_chars.extend(len(doc.text) for doc in batch)
            if on_batch is not None:
                in_flight.append(batch)
            yield [doc.text for doc in batch]

    for batch_scores, batch_tokens in engine.map(ScoreJob(method, counter), texts(), desc=desc):
        # a method may return rows (e.g. embeddings) instead of scores: those go to on_batch only
        scores.extend(batch_scores.tolist() if batch_scores.ndim == 1 else [math.nan] * len(batch_scores))
        n_tokens.extend(batch_tokens.tolist())
        if on_batch is not None:
            on_batch(in_flight.popleft(), batch_scores, batch_tokens)
    return MapResult(
        # views over the arrays' buffers (no copy: this is the O(N) part of a run's memory)
        scores=np.frombuffer(scores, dtype=np.float64),
        n_tokens=np.frombuffer(n_tokens, dtype=np.uint32),
        n_chars=np.frombuffer(n_chars, dtype=np.uint32),
        # later partial reads (rescoring, writing) reset the corpus's own counters
        n_records=corpus.n_records,
        exclusions=copy.deepcopy(corpus.exclusions),
    )


def sample_documents(corpus: Corpus, size: int, seed: int) -> tuple[np.ndarray, list[str], int]:
    """A seeded uniform sample of ``size`` documents by one streaming read (reservoir sampling).

    Returns their indices (ascending), their texts in that order, and the number of documents.
    """
    rng = random.Random(seed)
    reservoir: list[tuple[int, str]] = []
    count = 0
    for doc in corpus.documents():
        count += 1
        if len(reservoir) < size:
            reservoir.append((doc.index, doc.text))
        else:
            slot = rng.randrange(count)
            if slot < size:
                reservoir[slot] = (doc.index, doc.text)
    reservoir.sort()
    return np.array([i for i, _ in reservoir], dtype=np.int64), [t for _, t in reservoir], count


def collect_rows(
    corpus: Corpus, method: Any, engine: Any, counter: TokenCounter, *, desc: str
) -> tuple[MapResult, np.ndarray]:
    """Every eligible document's row from a method that returns rows (e.g. embeddings), as one float32 array.

    Memory is N x dim: this is for set-selection methods that need all rows at once (D4).
    """
    rows: list[np.ndarray] = []

    def keep(docs: list[Document], batch_rows: np.ndarray, batch_tokens: np.ndarray) -> None:
        rows.append(np.asarray(batch_rows, dtype=np.float32))

    mapped = map_pass(corpus, method, engine, counter, desc=desc, on_batch=keep)
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


def rescore(corpus: Corpus, indices: np.ndarray, method: Any, engine: Any, *, desc: str) -> np.ndarray:
    """Exact scores of the documents at ``indices`` (ascending), in that order."""
    out = array("d")
    batches = text_batches(documents_at(corpus, indices))
    for batch_scores, _ in engine.map(ScoreJob(method), batches, desc=desc, total=len(indices)):
        out.extend(batch_scores.tolist())
    return np.frombuffer(out, dtype=np.float64)


def ranked_records(
    corpus: Corpus,
    selected: np.ndarray,
    scores: np.ndarray,
    *,
    targets: set[str] | frozenset[str] = frozenset(),
    copies: list[int] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(rank, record + zipfit_score + zipfit_rank) for the selection, in input order.

    ``selected`` is in rank order (best first); ``scores[i]`` is the score of ``selected[i]``. The
    rank of every selected document whose text is exactly one of ``targets`` goes to ``copies``.
    """
    by_index = np.argsort(selected, kind="stable")
    ascending = selected[by_index]
    for position, doc in zip(by_index.tolist(), documents_at(corpus, ascending, records=True), strict=True):
        record = dict(doc.record or {})
        record["zipfit_score"] = float(scores[position])
        record["zipfit_rank"] = position + 1
        if copies is not None and doc.text in targets:
            copies.append(position + 1)
        yield position + 1, record
