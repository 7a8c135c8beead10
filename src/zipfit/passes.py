"""The two passes every run makes over its inputs, independent of method and engine.

Map pass: stream documents, batch their texts, have the engine score them; keep only a few
numbers per document (score, tokens, characters). Write pass: stream the inputs again and emit
the chosen records. Nothing here holds texts beyond one batch per worker in flight.
"""

from __future__ import annotations

import copy
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zipfit.io import Corpus, Document, Exclusions
from zipfit.tokens import TokenCounter

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


def text_batches(docs: Iterable[Document], sink: Any = None) -> Iterator[list[str]]:
    """Group texts into batches of at most BATCH_DOCS documents or about BATCH_CHARS characters.

    ``sink(doc)`` sees every document as it is batched (to keep ids or lengths in order).
    """
    batch: list[str] = []
    chars = 0
    for doc in docs:
        if sink is not None:
            sink(doc)
        batch.append(doc.text)
        chars += len(doc.text)
        if len(batch) >= BATCH_DOCS or chars >= BATCH_CHARS:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


@dataclass
class MapResult:
    scores: np.ndarray
    n_tokens: np.ndarray
    n_chars: np.ndarray
    n_records: int = 0
    exclusions: Exclusions = field(default_factory=Exclusions)  # as found by this full read
    ids: list[Any] | None = None
    locations: np.ndarray | None = None  # (file, row) per document, when asked for

    def __len__(self) -> int:
        return len(self.scores)


def map_pass(
    corpus: Corpus,
    method: Any,
    engine: Any,
    counter: TokenCounter,
    *,
    desc: str = "scoring",
    keep_ids: bool = False,
) -> MapResult:
    """Score every eligible document of the corpus; O(N) small numbers of memory."""
    scores = array("d")
    n_tokens = array("q")
    n_chars = array("q")
    ids: list[Any] | None = [] if keep_ids else None
    files = array("q")
    rows = array("q")

    def keep(doc: Document) -> None:
        n_chars.append(len(doc.text))
        if ids is not None:
            record = doc.record or {}
            ids.append(record.get("id"))
            files.append(doc.file)
            rows.append(doc.row)

    docs = corpus.documents(records=keep_ids)
    for batch_scores, batch_tokens in engine.map(ScoreJob(method, counter), text_batches(docs, keep), desc=desc):
        scores.extend(batch_scores.tolist())
        n_tokens.extend(batch_tokens.tolist())
    locations = None
    if keep_ids:
        locations = np.stack([np.frombuffer(files, dtype=np.int64), np.frombuffer(rows, dtype=np.int64)], axis=1)
    return MapResult(
        scores=np.frombuffer(scores, dtype=np.float64).copy(),
        n_tokens=np.frombuffer(n_tokens, dtype=np.int64).copy(),
        n_chars=np.frombuffer(n_chars, dtype=np.int64).copy(),
        # later partial reads (rescoring, writing) reset the corpus's own counters
        n_records=corpus.n_records,
        exclusions=copy.deepcopy(corpus.exclusions),
        ids=ids,
        locations=locations,
    )


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
    return np.frombuffer(out, dtype=np.float64).copy()


def ranked_records(
    corpus: Corpus, selected: np.ndarray, scores: np.ndarray
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(rank, record + zipfit_score + zipfit_rank) for the selection, in input order.

    ``selected`` is in rank order (best first); ``scores[i]`` is the score of ``selected[i]``.
    """
    by_index = np.argsort(selected, kind="stable")
    ascending = selected[by_index]
    for position, doc in zip(by_index.tolist(), documents_at(corpus, ascending, records=True), strict=True):
        record = dict(doc.record or {})
        record["zipfit_score"] = float(scores[position])
        record["zipfit_rank"] = position + 1
        yield position + 1, record
