"""The reads that workers make when an engine's workers read the inputs themselves (``Engine.reads_shards``: Ray).

With inputs on an object store and no disk shared by the nodes, the driver (the process that runs zipfit) then opens
an input only to check it when the run starts (its first bytes and first record); every full read of the inputs is
made by the workers, each reading its own files or shards from the store with the storage options it was sent:

- ``describe_inputs``: each input's sha256 for the manifest, and the row starts the shard plan needs, one task per
  input file (the driver would otherwise stream every input twice, once to hash it and once to count its rows).
- ``sample_on_workers``: ``zipfit-debiased``'s background sample. The workers count the eligible documents of each
  shard; the driver draws the sample's indices from the total alone (``reservoir_indices``: the same draw as the
  streaming ``passes.sample_documents``, so the same sample); the workers return those documents' texts.
- ``dedup_keys_on_workers``: ``--dedup``'s keys of the documents its walk reaches, read and computed by the
  workers (the walk itself, over the keys, stays in the driver).
- ``field_values_on_workers``: ``--group-by``'s field of every document, one task per shard.
- ``ranked_records_on_workers``: the write pass. The driver cuts the scores; each shard holding selected documents
  is read again by a worker, which returns their records with ``zipfit_score`` and ``zipfit_rank``, serialised as
  the output keeps them (JSON lines, or pickles for Parquet); the driver writes them, shard by shard in input order,
  as they come back (only the shards in flight are held).

Every result comes back in shard order, so the output is the bytes of a run that read in the driver. These passes
run on the engine's own pool of workers (``Engine.map``, one item per task), which outlives a pass; the scoring pass's
Ray Data pipeline starts a pool of its own, which costs seconds that these short passes need not pay.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zipfit.engines.base import Engine
from zipfit.errors import ZipfitError
from zipfit.fingerprint import text_sha256
from zipfit.io.corpus import Corpus, Document
from zipfit.io.inputs import input_sha256
from zipfit.io.shards import Shard, plan_shards
from zipfit.io.writers import EncodedRecord, encode_record


class InputFacts:
    """Per input file: its sha256 (None for in-memory data, which describes itself) and its row starts."""

    def __init__(self, corpus: Corpus, every: int, hashes: bool) -> None:
        self.corpus = corpus
        self.every = every
        self.hashes = hashes

    def setup(self) -> None:
        pass

    def __call__(self, file_no: int) -> tuple[str | None, tuple[int, list[int | None]]]:
        f = self.corpus.files[file_no]
        digest = input_sha256(f) if self.hashes and f.described is None else None
        return digest, self.corpus.rows(file_no, self.every)


def _facts(corpus: Corpus, engine: Engine, every: int, hashes: bool) -> list[str | None]:
    files = list(range(len(corpus.files)))
    results = list(engine.map(InputFacts(corpus, every, hashes), files, desc="hashing inputs" if hashes
                              else "counting rows", total=len(files), size=lambda _: 1, unit="file"))
    for file_no, (_, rows) in enumerate(results):
        corpus.remember_rows(file_no, every, rows)
    return [digest for digest, _ in results]


def describe_inputs(corpus: Corpus, engine: Engine, every: int) -> list[dict]:
    """``corpus.describe()``, with the inputs hashed (and their rows counted, for ``plan_on_workers``) by the
    workers of an engine that reads shards; by this process otherwise."""
    if not engine.reads_shards or not corpus.files:
        return corpus.describe()
    return corpus.describe(_facts(corpus, engine, every, hashes=True))


def plan_on_workers(corpus: Corpus, engine: Engine, every: int) -> list[Shard]:
    """``plan_shards``, with the JSON Lines inputs' rows counted by the workers of an engine that reads shards (once:
    ``describe_inputs`` may have counted them already)."""
    if engine.reads_shards and corpus.files and not corpus.rows_known(every):
        _facts(corpus, engine, every, hashes=False)
    return plan_shards(corpus, every)


@dataclass(frozen=True)
class Picks:
    """Documents of one shard to read: their positions among its eligible documents (ascending) and, for the
    write pass, their ranks and scores."""

    shard: Shard
    positions: np.ndarray
    ranks: np.ndarray | None = None
    scores: np.ndarray | None = None


def _picked(corpus: Corpus, picks: Picks, records: bool) -> Iterator[Document]:
    """The documents at ``picks.positions`` of the shard, by one read of it."""
    wanted = picks.positions.tolist()
    docs, _ = corpus.shard_documents(picks.shard, records=records)
    found = 0
    for doc in docs:
        if found < len(wanted) and doc.index == wanted[found]:
            yield doc
            found += 1
            if found == len(wanted):
                return
    raise ZipfitError(f"{corpus.files[picks.shard.file].label} changed while zipfit was reading it (shard "
                      f"{picks.shard.key} holds fewer documents than when it was scored)")


class CountDocuments:
    """The number of eligible documents of a shard."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    def setup(self) -> None:
        pass

    def __call__(self, shard: Shard) -> int:
        docs, _ = self.corpus.shard_documents(shard)
        return sum(1 for _ in docs)


class PickTexts:
    """The texts of the picked documents of a shard."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    def setup(self) -> None:
        pass

    def __call__(self, picks: Picks) -> list[str]:
        return [doc.text for doc in _picked(self.corpus, picks, records=False)]


class PickRecords:
    """The picked records of a shard with ``zipfit_score`` and ``zipfit_rank``, serialised for the output when
    ``kind`` says how (``writers.record_kind``), and the ranks of those whose text is exactly a target example (by
    sha256)."""

    def __init__(self, corpus: Corpus, target_hashes: frozenset[str], kind: str | None = None) -> None:
        self.corpus = corpus
        self.target_hashes = target_hashes
        self.kind = kind

    def setup(self) -> None:
        pass

    def __call__(self, picks: Picks) -> tuple[list[tuple[int, dict[str, Any] | EncodedRecord]], list[int]]:
        assert picks.ranks is not None and picks.scores is not None
        out: list[tuple[int, dict[str, Any] | EncodedRecord]] = []
        copies: list[int] = []
        for doc, rank, score in zip(_picked(self.corpus, picks, records=True), picks.ranks.tolist(),
                                    picks.scores.tolist(), strict=True):
            record = dict(doc.record or {})
            record["zipfit_score"] = float(score)
            record["zipfit_rank"] = rank
            if self.target_hashes and text_sha256(doc.text) in self.target_hashes:
                copies.append(rank)
            out.append((rank, record if self.kind is None else encode_record(record, self.kind)))
        return out, copies


def _split(indices: np.ndarray, shard_docs: Sequence[int]) -> Iterator[tuple[int, int, int, int]]:
    """For each shard holding some of ``indices`` (ascending, over all documents): (shard, first document of the
    shard, and the slice of ``indices`` in it)."""
    bounds = np.concatenate([[0], np.cumsum(np.asarray(shard_docs, dtype=np.int64))])
    cuts = np.searchsorted(indices, bounds)
    for i in range(len(shard_docs)):
        if cuts[i] < cuts[i + 1]:
            yield i, int(bounds[i]), int(cuts[i]), int(cuts[i + 1])


class PickKeys:
    """The ``--dedup`` keys of the picked documents of a shard (computed where they are read), with their rows."""

    def __init__(self, corpus: Corpus, finder: Any) -> None:
        self.corpus = corpus
        self.finder = finder

    def setup(self) -> None:
        self.finder.setup()

    def __call__(self, picks: Picks) -> tuple[np.ndarray, list[int]]:
        docs = list(_picked(self.corpus, picks, records=False))
        return self.finder([doc.text for doc in docs]), [doc.row for doc in docs]


def dedup_keys_on_workers(corpus: Corpus, engine: Engine, shards: Sequence[Shard], shard_docs: Sequence[int],
                          indices: np.ndarray, finder: Any) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The ``--dedup`` keys of the documents at ``indices`` (ascending), read and computed by the workers, and each
    document's (file, row): what ``dedup_walk`` otherwise reads in this process."""
    keys, places = [], []
    picks = [Picks(shards[i], indices[lo:hi] - first) for i, first, lo, hi in _split(indices, shard_docs)]
    for (rows, at), pick in zip(engine.map(PickKeys(corpus, finder), picks, desc="duplicates", total=len(indices),
                                           size=lambda p: len(p.positions), unit="doc"), picks, strict=True):
        keys.append(rows)
        places.extend((pick.shard.file, row) for row in at)
    return np.concatenate(keys), places


class FieldOfShard:
    """The value of one field of every eligible document of a shard (None where a record has none)."""

    def __init__(self, corpus: Corpus, name: str) -> None:
        self.corpus = corpus
        self.name = name

    def setup(self) -> None:
        pass

    def __call__(self, shard: Shard) -> list[Any]:
        docs, _ = self.corpus.shard_documents(shard, records=True)
        return [(doc.record or {}).get(self.name) for doc in docs]


def field_values_on_workers(corpus: Corpus, engine: Engine, shards: Sequence[Shard], name: str,
                            n_documents: int) -> list[Any]:
    """``passes.field_values`` (``--group-by``'s values), read by the workers: one task per shard of the map pass."""
    values = [v for part in engine.map(FieldOfShard(corpus, name), shards, desc=f"reading {name}",
                                       total=sum(s.stop - s.start for s in shards), size=lambda s: s.stop - s.start,
                                       unit="row") for v in part]
    if len(values) != n_documents:
        raise ZipfitError("the inputs changed while zipfit was reading them")
    if all(v is None for v in values) and not corpus.has_field(name):
        raise ZipfitError(f"--group-by {name}: no source record has a field {name!r}")
    return values


def reservoir_indices(count: int, size: int, seed: int) -> np.ndarray:
    """The indices (ascending) that ``passes.sample_documents`` keeps from ``count`` documents: its reservoir
    draws depend on how many documents came before, never on their texts, so the draw needs only the count."""
    rng = random.Random(seed)
    reservoir = list(range(min(size, count)))
    for seen in range(size + 1, count + 1):
        slot = rng.randrange(seen)
        if slot < size:
            reservoir[slot] = seen - 1
    return np.array(sorted(reservoir), dtype=np.int64)


def sample_on_workers(corpus: Corpus, engine: Engine, size: int, seed: int, every: int, *,
                      desc: str = "sampling") -> tuple[np.ndarray, list[str], int]:
    """``passes.sample_documents`` (the same indices and texts, and the number of documents), by two passes of the
    workers: one counts each shard's documents, one returns the sampled texts."""
    shards = plan_on_workers(corpus, engine, every)
    counts = list(engine.map(CountDocuments(corpus), shards, desc=f"{desc} (counting)",
                             total=sum(s.stop - s.start for s in shards), size=lambda s: s.stop - s.start, unit="row"))
    indices = reservoir_indices(sum(counts), size, seed)
    picks = [Picks(shards[i], indices[lo:hi] - first) for i, first, lo, hi in _split(indices, counts)]
    texts = [text for batch in engine.map(PickTexts(corpus), picks, desc=desc, total=len(indices),
                                          size=lambda p: len(p.positions), unit="doc") for text in batch]
    return indices, texts, sum(counts)


def ranked_records_on_workers(corpus: Corpus, engine: Engine, shards: Sequence[Shard], shard_docs: Sequence[int],
                              selected: np.ndarray, scores: np.ndarray, *, target_hashes: frozenset[str] | set[str],
                              copies: list[int], kind: str | None = None
                              ) -> Iterator[tuple[int, dict[str, Any] | EncodedRecord]]:
    """``passes.ranked_records`` read by the workers: (rank, record + zipfit_score + zipfit_rank) for the selection,
    in input order. ``shards`` are the map pass's, ``shard_docs`` their numbers of eligible documents. With ``kind``
    (``writers.record_kind`` of the output), the workers serialise the records too, as ``write_ranked`` would."""
    if len(shards) != len(shard_docs):
        raise ValueError(f"{len(shards)} shards but {len(shard_docs)} document counts")
    by_index = np.argsort(selected, kind="stable")
    ascending = selected[by_index]
    ranks, ordered = by_index + 1, np.asarray(scores)[by_index]
    picks = [Picks(shards[i], ascending[lo:hi] - first, ranks[lo:hi], ordered[lo:hi])
             for i, first, lo, hi in _split(ascending, shard_docs)]
    job = PickRecords(corpus, frozenset(target_hashes), kind)
    for records, found in engine.map(job, picks, desc="writing", total=len(selected),
                                     size=lambda p: len(p.positions), unit="doc"):
        copies.extend(found)
        yield from records


__all__ = ["Picks", "dedup_keys_on_workers", "describe_inputs", "field_values_on_workers", "plan_on_workers",
           "ranked_records_on_workers", "reservoir_indices", "sample_on_workers"]
