"""D4 (Tirumala, Simig, Aghajanyan, Morcos 2023): SemDeDup, then SSL-prototype diversification.

Target-agnostic and not a per-document score: it needs the embeddings of the whole pool at once
(N x dim float32 in memory, plus a few N-sized arrays and, per k-means step, one chunk of
similarities). The pipeline embeds every document (:meth:`D4.embedder` is an engine job), stacks
the vectors in input order and calls :meth:`D4.select` or :meth:`D4.select_tokens`.

1. Spherical k-means (k-means++ seeding, Lloyd steps on the unit sphere), seeded.
2. SemDeDup: within each cluster, documents in input order; x_j is removed when
   max_{i<j} cos(x_i, x_j) > 1 - eps (as in the SemDeDup code, whether or not x_i itself is
   removed, which makes the kept set monotone in eps). eps is chosen so that a fraction
   ``r_dedup`` of the pool survives: the survivors are exactly the documents whose
   max-similarity-to-an-earlier-neighbour is below a quantile, so eps is read off the sorted
   similarities instead of bisected. Or give ``epsilon`` to fix it. Of a group of near-duplicates
   the first in input order is kept.
3. Re-cluster the survivors; SSL prototypes: score = cosine distance to the own cluster's
   centroid; the most prototypical (closest) are dropped, i.e. the K least prototypical kept,
   best first, ties by input order.

Deviation from the paper: it embeds with OPT-125m (last layer, last token); that model is not
installable offline here, so the default embedding is the bundled all-MiniLM-L6-v2 sentence
model (384 dims) as a stand-in. Any local sentence-transformers model can be given instead.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from zipfit.embeddings import Embedder, normalise
from zipfit.errors import ZipfitError
from zipfit.methods.base import SEED, SET, Method, Param
from zipfit.methods.embed import EMBEDDING, MODEL
from zipfit.topk import prefix_within

_CHUNK = 4096  # rows per block of similarities to the centroids
_ELEMENTS = 1 << 24  # at most this many pairwise similarities at once in SemDeDup (128 MB in float64)


def default_clusters(n: int) -> int:
    """sqrt(n) clusters, at least 1 and at most n."""
    return max(1, min(n, round(math.sqrt(n))))


def _best_centroid(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of and cosine to the nearest centroid, per row (first index on ties)."""
    labels = np.empty(len(x), dtype=np.int64)
    sims = np.empty(len(x), dtype=np.float32)
    for start in range(0, len(x), _CHUNK):
        block = x[start : start + _CHUNK] @ centroids.T
        labels[start : start + len(block)] = block.argmax(axis=1)
        sims[start : start + len(block)] = block[np.arange(len(block)), labels[start : start + len(block)]]
    return labels, sims


def _cluster_sums(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Sum of the rows of each cluster, float64, in a fixed order (deterministic)."""
    dim = x.shape[1]
    sums = np.zeros(k * dim, dtype=np.float64)
    columns = np.arange(dim)
    for start in range(0, len(x), _CHUNK):
        flat = (labels[start : start + _CHUNK, None] * dim + columns).ravel()
        sums += np.bincount(flat, weights=x[start : start + _CHUNK].ravel(), minlength=k * dim)
    return sums.reshape(k, dim)


def spherical_kmeans(
    x: np.ndarray, k: int, seed: int = 0, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray, int]:
    """Cluster unit vectors by cosine: (labels, unit centroids, Lloyd iterations run). Deterministic for a seed."""
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    # k-means++ seeding with the cosine distance 1 - cos: O(n k dim), one Lloyd step's worth.
    chosen = [int(rng.integers(n))]
    dist = np.maximum(1.0 - (x @ x[chosen[0]]).astype(np.float64), 0.0)
    for _ in range(1, k):
        weights = dist**2
        total = weights.sum()
        if total > 0:
            nxt = int(rng.choice(n, p=weights / total))
        else:  # every point sits on a chosen centre: take any point not yet chosen
            free = np.setdiff1d(np.arange(n), chosen)
            nxt = int(free[rng.integers(len(free))])
        chosen.append(nxt)
        dist = np.minimum(dist, np.maximum(1.0 - (x @ x[nxt]).astype(np.float64), 0.0))
    centroids = x[chosen].astype(np.float32)
    labels = np.full(n, -1, dtype=np.int64)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - reported
        new_labels, sims = _best_centroid(x, centroids)
        counts = np.bincount(new_labels, minlength=k)
        empty = np.flatnonzero(counts == 0)
        if len(empty):  # re-seed empty clusters with the points farthest from their centroids
            far = np.argsort(sims, kind="stable")[: len(empty)]
            new_labels[far] = empty
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        centroids = normalise(_cluster_sums(x, labels, k))
    return labels, centroids, iterations


def max_earlier_similarity(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """max_{i<j, same cluster} cos(x_i, x_j) per document j (-inf for the first of its cluster)."""
    out = np.full(len(x), -np.inf, dtype=np.float64)
    order = np.argsort(labels, kind="stable")  # by cluster, input order within
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for members in np.split(order, bounds):
        xc = x[members]
        start = 1
        while start < len(members):
            stop = min(start + max(1, min(_CHUNK, _ELEMENTS // (start + _CHUNK))), len(members))
            sims = (xc[start:stop] @ xc[:stop].T).astype(np.float64)  # rows j in [start, stop), columns i < stop
            sims[np.arange(stop)[None, :] >= np.arange(start, stop)[:, None]] = -np.inf
            out[members[start:stop]] = sims.max(axis=1)
            start = stop
    return out


def keep_threshold(m: np.ndarray, n_keep: int) -> tuple[float, int]:
    """A threshold t with count(m <= t) as close to n_keep as ties allow (ties kept together): (t, kept)."""
    s = np.sort(m)
    n = len(s)
    if n_keep >= n:
        return float(s[-1]), n
    value = s[n_keep - 1]
    kept_hi = int(np.searchsorted(s, value, side="right"))
    kept_lo = int(np.searchsorted(s, value, side="left"))
    kept = kept_hi if kept_lo == 0 or kept_hi - n_keep <= n_keep - kept_lo else kept_lo
    if kept == n:
        return float(s[-1]), n
    lower, upper = float(s[kept - 1]), float(s[kept])
    t = (lower + upper) / 2 if math.isfinite(lower) else float(np.nextafter(upper, -np.inf))
    return t, kept


class D4(Method):
    """D4 selection over embeddings; see the module docstring for the algorithm.

    Parameters
    ----------
    model:
        Embedding model for :meth:`embedder` (``None``: the bundled MiniLM, standing in for the
        paper's OPT-125m).
    r_dedup:
        Fraction of the pool SemDeDup keeps (paper: about 0.75). Ignored when ``epsilon`` is given.
    epsilon:
        Fix SemDeDup's eps instead: remove x_j when max_{i<j} cos(x_i, x_j) > 1 - eps.
    clusters:
        k-means clusters for both clusterings; default round(sqrt(n)) of the set clustered.
    seed:
        Seeds both k-means runs; the selection is a pure function of embeddings and seed.
    """

    name = "d4"
    kind = SET
    parameters = (
        MODEL,
        Param("r_dedup", float, 0.75, "fraction of the pool semantic deduplication keeps (ignored with --epsilon)",
              above=0.0, maximum=1.0),
        Param("epsilon", float, None, "fix SemDeDup's eps instead: drop a document within cosine 1 - eps of an "
              "earlier one in its cluster", minimum=0.0, allow_none=True, none_means="chosen to keep --r-dedup"),
        Param("clusters", int, None, "k-means clusters", minimum=1, allow_none=True,
              none_means="the square root of the documents clustered"),
        Param("max_iter", int, 100, "most Lloyd iterations per k-means run", minimum=1),
        SEED,
        *EMBEDDING,
    )

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        r_dedup: float = 0.75,
        clusters: int | None = None,
        seed: int = 0,
        *,
        epsilon: float | None = None,
        max_iter: int = 100,
        batch_size: int = 32,
        max_seq_length: int | None = None,
        cache: bool = True,
        cache_dir: str | os.PathLike | None = None,
        threads: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.model = model
        self.r_dedup = r_dedup
        self.clusters = clusters
        self.seed = seed
        self.epsilon = epsilon
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.cache = cache
        self.cache_dir = cache_dir
        self.threads = threads
        self.device = device

    def _check(self) -> None:
        if self.epsilon is None and not 0 < self.r_dedup <= 1:
            raise ZipfitError(f"D4 r_dedup must be in (0, 1], got {self.r_dedup}")
        if self.epsilon is not None and self.epsilon < 0:
            raise ZipfitError(f"D4 epsilon must be at least 0, got {self.epsilon}")
        if self.clusters is not None and self.clusters < 1:
            raise ZipfitError(f"D4 clusters must be at least 1, got {self.clusters}")

    # -- embedding ------------------------------------------------------------------------------
    def embedder(self) -> Embedder:
        """The embedding job for the pipeline: picklable, ``setup()`` per worker, ``embedder(texts)``."""
        return Embedder.like(self)

    def fit(self, targets: Sequence[str] | None = None, source_sample: Sequence[str] | None = None) -> D4:
        """D4 is target-agnostic: nothing to learn (kept for the common contract)."""
        self._check()
        return self

    def score(self, texts: Sequence[str]) -> np.ndarray:
        raise TypeError("D4 chooses a set from the whole pool and gives no document a score of its own: "
                        "embed every document with embedder(), then call select() or select_tokens()")

    # -- selection ------------------------------------------------------------------------------
    def rank(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """All SemDeDup survivors, least prototypical first: (indices, scores, stats)."""
        self._check()
        x = np.asarray(embeddings)
        if x.ndim != 2 or len(x) == 0:
            raise ZipfitError(f"D4 needs a non-empty (n_documents, dim) array of embeddings, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ZipfitError("D4 got embeddings with NaN or infinite values")
        x = normalise(x)
        n = len(x)
        k1 = self.clusters or default_clusters(n)
        labels, _, iters1 = spherical_kmeans(x, k1, self.seed, self.max_iter)
        m = max_earlier_similarity(x, labels)
        if self.epsilon is not None:
            epsilon = float(self.epsilon)
            keep = m <= 1.0 - epsilon
        else:
            t, _ = keep_threshold(m, max(1, round(self.r_dedup * n)))
            epsilon = 1.0 - t
            keep = m <= t
        survivors = np.flatnonzero(keep)
        xs = x[survivors]
        k2 = min(self.clusters, len(xs)) if self.clusters else default_clusters(len(xs))
        labels2, centroids2, iters2 = spherical_kmeans(xs, k2, self.seed, self.max_iter)
        own = np.einsum("ij,ij->i", xs.astype(np.float64), centroids2[labels2].astype(np.float64))
        scores = 1.0 - own  # cosine distance to the own prototype: higher = less prototypical
        order = np.argsort(-scores, kind="stable")
        stats = {
            "n_documents": n,
            "semdedup": {
                "clusters": int(min(k1, n)),
                "kmeans_iterations": iters1,
                "epsilon": epsilon,
                "epsilon_given": self.epsilon is not None,
                "r_dedup_target": None if self.epsilon is not None else self.r_dedup,
                "kept": len(survivors),
                "removed": n - len(survivors),
                "kept_fraction": len(survivors) / n,
            },
            "prototypes": {"clusters": int(k2), "kmeans_iterations": iters2},
            "seed": self.seed,
        }
        return survivors[order], scores[order], stats

    def select(self, embeddings: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """The K least prototypical SemDeDup survivors, best first: (indices, scores, stats).

        K above the number of survivors is an error: D4 does not refill with the duplicates it removed.
        """
        if k < 1:
            raise ZipfitError(f"--k must be at least 1, got {k}")
        if k > len(embeddings):
            raise ZipfitError(f"--k {k:,} but only {len(embeddings):,} source documents; lower --k")
        order, scores, stats = self.rank(embeddings)
        n = stats["n_documents"]
        if k > len(order):
            hint = f"raise r_dedup to at least {k / n:.3f}" if self.epsilon is None else "lower epsilon"
            raise ZipfitError(
                f"D4 keeps {len(order):,} of {n:,} documents after semantic deduplication "
                f"(epsilon {stats['semdedup']['epsilon']:.4g}) but --k is {k:,}: {hint}, or lower --k"
            )
        stats["selected"] = k
        return order[:k], scores[:k], stats

    def select_tokens(
        self, embeddings: np.ndarray, n_tokens: np.ndarray, budget: int
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """The longest prefix of the D4 ranking whose token total stays within ``budget``.

        A budget above the survivors' total selects every survivor; ``stats["budget_unused"]``
        says how many tokens were left.
        """
        if budget < 1:
            raise ZipfitError(f"--tokens must be at least 1, got {budget}")
        n_tokens = np.asarray(n_tokens, dtype=np.int64)
        if n_tokens.shape != (len(embeddings),):
            raise ZipfitError(f"D4 needs one token count per document: {n_tokens.shape} for {len(embeddings)}")
        order, scores, stats = self.rank(embeddings)
        take = prefix_within(n_tokens[order], budget)
        stats["selected"] = take
        stats["selected_tokens"] = int(n_tokens[order[:take]].sum())
        stats["budget_unused"] = budget - stats["selected_tokens"]
        return order[:take], scores[:take], stats

    def params(self) -> dict[str, Any]:
        return {
            **super().params(), "r_dedup": None if self.epsilon is not None else self.r_dedup,
            "embedding_stand_in_for": "OPT-125m (paper)",
        }
