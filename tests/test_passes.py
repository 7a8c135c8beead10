"""passes: the samples several reservoirs draw by one read, and KeptTexts (a later pass over documents one read kept
gets them from memory, as read)."""

from __future__ import annotations

import numpy as np

from zipfit.io import Corpus
from zipfit.io.textspec import TextSpec
from zipfit.passes import KeptTexts, documents_at, sample_documents, sample_documents_many


def _corpus(data_dir) -> Corpus:
    return Corpus([data_dir / "text" / "toy_pile_1000.jsonl"], TextSpec(field="contents"))


def test_kept_documents_are_the_ones_a_read_gives(data_dir):
    corpus = _corpus(data_dir)
    read = np.arange(3, 900, 7)
    kept = KeptTexts()
    passed = [(d.index, d.text) for d in kept.keep(documents_at(corpus, read))]
    assert [i for i, _ in passed] == read.tolist()
    subset = read[::5]
    from_memory = kept.at(corpus, subset)
    assert isinstance(from_memory, list)  # no read of the source
    assert [(d.index, d.text) for d in from_memory] == [(d.index, d.text) for d in documents_at(corpus, subset)]
    # a document that was not kept sends the pass back to the source
    other = np.array([0, 3])
    assert [d.index for d in kept.at(corpus, other)] == [0, 3]


def test_past_the_limit_nothing_is_kept_and_the_source_is_read(data_dir):
    corpus = _corpus(data_dir)
    kept = KeptTexts(limit_chars=2_000)
    indices = np.arange(0, 50)
    assert len(list(kept.keep(documents_at(corpus, indices)))) == 50  # every document still passes through
    assert kept.docs is None
    assert [d.index for d in kept.at(corpus, indices[:4])] == [0, 1, 2, 3]


def test_samples_by_one_read_are_the_samples_of_separate_reads(data_dir):
    corpus = _corpus(data_dir)
    together = sample_documents_many(corpus, (30, 7), seed=4)
    for size, (indices, texts, count) in zip((30, 7), together, strict=True):
        alone = sample_documents(corpus, size, seed=4)
        assert indices.tolist() == alone[0].tolist() and texts == alone[1] and count == alone[2] == 1000
