"""Embedding similarity to the target set: the baseline reviewers asked for (METHOD §4)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from zipfit.embeddings import Embedder
from zipfit.errors import ZipfitError
from zipfit.methods.base import Method, Param

# The options of zipfit.embeddings.Embedder, shared by every method that embeds (embed, d4).
MODEL = Param("model", str, None, "a local sentence-transformers directory", allow_none=True, path=True,
              none_means="the bundled all-MiniLM-L6-v2")
EMBEDDING = (
    Param("batch_size", int, 32, "texts per model call", minimum=1),
    Param("max_seq_length", int, None, "tokens of a text the model reads", minimum=2, allow_none=True,
          none_means="the model's own limit"),
    Param("cache", bool, True, "cache embeddings on disk"),
    Param("cache_dir", str, None, "embedding cache directory", allow_none=True, path=True,
          none_means="$ZIPFIT_CACHE_DIR/embeddings, else ~/.cache/zipfit/embeddings"),
    Param("threads", int, None, "torch threads per worker process", minimum=1, allow_none=True,
          none_means="1 in each worker process, torch's own in a single process"),
    Param("device", str, "cpu", "torch device for the model, e.g. cuda"),
)


class EmbeddingSimilarity(Method):
    """score(x) = mean_j cos(e(x), e(y_j)), the mean cosine similarity to the target examples.

    With L2-normalised embeddings this is exactly e(x) · m where m = mean_j e(y_j) is the mean
    of the normalised target vectors, *not* re-normalised. That is what is computed: one dot
    product per document against m, fitted once. (The cosine to the centroid, cos(e(x), m), is the
    same score divided by |m|, a constant for a fixed target set, so both rank documents
    identically; the values differ and these are the mean cosines.) Scores lie in [-1, 1].

    A per-document score, so it runs through the same map/select pipeline as ZIP-FIT. Embedding
    arguments are those of :class:`zipfit.embeddings.Embedder`; the default model is the bundled
    all-MiniLM-L6-v2 and vectors are cached on disk.
    """

    name = "embed"
    parameters = (MODEL, *EMBEDDING)

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        batch_size: int = 32,
        max_seq_length: int | None = None,
        cache: bool = True,
        cache_dir: str | os.PathLike | None = None,
        threads: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.cache = cache
        self.cache_dir = cache_dir
        self.threads = threads
        self.device = device

    def _embedder(self) -> Embedder:
        return Embedder.like(self)

    def fit(self, targets: Sequence[str], source_sample: Sequence[str] | None = None) -> EmbeddingSimilarity:
        if len(targets) == 0:
            raise ZipfitError("the target set is empty: embedding similarity needs at least one target example")
        self.embedder_ = self._embedder()
        target_vectors = self.embedder_.embed(targets).astype(np.float64)
        self.n_targets_ = len(targets)
        self.target_mean_ = target_vectors.mean(axis=0)
        return self

    def setup(self) -> None:
        self.embedder_.setup()

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder_.embed(texts).astype(np.float64) @ self.target_mean_

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {**super().params(), "n_targets": getattr(self, "n_targets_", 0)}
        embedder = getattr(self, "embedder_", None)
        if embedder is not None:
            out.update(embedder.describe())
            out["norm_of_target_mean"] = float(np.linalg.norm(self.target_mean_))
        return out
