"""Exact and near-duplicate removal among ranked candidates, so a budget is not spent on copies.

Use: compute ``DuplicateKeys`` of the candidates' texts in parallel workers (a picklable callable on
a batch of texts), then walk the candidates best first through one ``GreedyDeduplicator``: a
document is kept unless a better-ranked kept document is its exact or near duplicate. Memory is
(1 + bands) x 8 bytes a candidate.

Exact duplicates: the same text after ``" ".join(text.split())`` (leading and trailing whitespace
stripped, every run of whitespace one space, case and everything else kept); the key is the first 8
bytes of its BLAKE2b digest, stable everywhere.

Near duplicates: MinHash (``num_perm`` permutations) of the text's shingles — ``shingle``-grams of
``unit``s as ``shingles`` normalises them (lowercase; characters with whitespace collapsed, or
alphanumeric words) — and LSH banding. Two documents are near duplicates when all ``rows``
signature values of some band agree; no estimate confirms it (that would need whole signatures in
memory), so bands x rows are chosen to minimise the S-curve's false-positive plus false-negative
area around ``near_duplicate``. At the defaults (0.8, 128 permutations: 9 bands of 13 rows) the
probability that a pair of Jaccard similarity s is called a duplicate is::

    s    0.3    0.5      0.6     0.7    0.75   0.8    0.85   0.9    0.95
    p    1e-6   0.0011   0.012   0.084  0.19   0.40   0.69   0.93   0.998

so the effective threshold (p = 1/2) is about 0.82, and a pair must be very similar (s <= 0.5:
about 1 in 1,000) to be removed by mistake. Character 5-grams are the default: an edit of one word
changes about 5 + its length shingles, so near duplicates of short documents (a few hundred
characters, typical of problems and theorem statements) keep a high similarity, which word
shingles would not give them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from zipfit.errors import ZipfitError
from zipfit.filters.base import CUT, Filter
from zipfit.filters.shingles import (
    UNITS,
    balanced_bands,
    band_keys,
    candidate_probability,
    minhash,
    permutations,
    units,
)

EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"


def exact_key(text: str) -> int:
    """The 64-bit key of a text's whitespace-normalised form (see the module docstring)."""
    normalised = " ".join(text.split()).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(normalised, digest_size=8).digest(), "little")


class DuplicateKeys(Filter):
    """``keys(texts)``: uint64 array (len(texts), 1 + bands) of [exact key, band keys...] per text.

    A cut-stage filter: ``flag(texts)`` offers the texts in the order given (rank order, best first) and
    drops each exact or near duplicate of a text kept before it. The cut computes the keys on the
    engine's workers and offers them on the driver (``walker()``), which is the same walk in parallel.
    Picklable; with ``near_duplicate=None`` only the exact key.
    """

    name = "dedup"
    stage = CUT
    status = "duplicate"
    reasons = (EXACT_DUPLICATE, NEAR_DUPLICATE)

    def __init__(
        self,
        near_duplicate: float | None = 0.8,
        num_perm: int = 128,
        shingle: int = 5,
        unit: str = "char",
        seed: int = 0,
    ) -> None:
        self.near_duplicate = near_duplicate
        self.num_perm = num_perm
        self.shingle = shingle
        self.unit = unit
        self.seed = seed

    def _check_params(self) -> None:
        if self.near_duplicate is None:
            return
        if not 0.0 < self.near_duplicate <= 1.0:
            raise ZipfitError(f"near_duplicate must be in (0, 1] or None, got {self.near_duplicate}")
        if self.unit not in UNITS:
            raise ZipfitError(f"dedup unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if self.num_perm < 1 or self.shingle < 1:
            raise ZipfitError(f"num_perm and shingle must be at least 1, got {self.num_perm}, {self.shingle}")

    @property
    def bands(self) -> int:
        """Band keys per text (0 without near-duplicate detection)."""
        return 0 if self.near_duplicate is None else self._layout()[0]

    @property
    def rows(self) -> int:
        return 0 if self.near_duplicate is None else self._layout()[1]

    def _layout(self) -> tuple[int, int]:
        self._check_params()
        assert self.near_duplicate is not None
        return balanced_bands(self.near_duplicate, self.num_perm)

    def setup(self) -> None:
        self._check_params()
        units([], self.unit)  # the character tables, once per process

    def walker(self) -> GreedyDeduplicator:
        """A fresh walk: offer (position, keys) best first."""
        return GreedyDeduplicator(self.bands)

    def flag(self, texts: Sequence[str]) -> list[str | None]:
        """Per text, in order: None (kept), or why it duplicates a text kept before it in this or an earlier
        call (the walk goes on across calls)."""
        walk = self.__dict__.setdefault("_walk", self.walker())
        return [walk.offer_reason(len(walk) + sum(walk.counts.values()), row)[1] for row in self(texts)]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_walk", None)  # a walk belongs to the process that offers
        return state

    def keys(self, texts: Sequence[str]) -> np.ndarray:
        return self(texts)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        exact = np.fromiter(map(exact_key, texts), dtype=np.uint64, count=len(texts))
        if self.near_duplicate is None:
            return exact[:, None]
        bands, rows = self._layout()
        u = units(texts, self.unit)
        hashes, owner = u.shingles(self.shingle)
        a, b = permutations(self.num_perm, self.seed)
        signatures = minhash(hashes, owner, len(texts), a, b)
        return np.concatenate([exact[:, None], band_keys(signatures, bands, rows)], axis=1)

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"exact": "same text after stripping and collapsing whitespace",
                               "near_duplicate": self.near_duplicate}
        if self.near_duplicate is not None:
            bands, rows = self._layout()
            out.update(num_perm=self.num_perm, shingle=self.shingle, unit=self.unit, seed=self.seed,
                       bands=bands, rows=rows,
                       p_duplicate_at={s: round(float(candidate_probability(s, bands, rows)), 6)
                                       for s in (0.5, 0.7, self.near_duplicate, 0.9)})
        return out


class GreedyDeduplicator:
    """Offer documents best first; each is kept unless a kept document is its exact or near duplicate.

    Holds one dict for exact keys and one per band, each from key to the position of the first kept
    document with it. A removed document's keys are not remembered: only kept documents can make
    later ones duplicates, so chains (A ~ B ~ C, A kept, B removed) do not remove C through B.
    """

    def __init__(self, bands: int) -> None:
        self.bands = bands
        self._exact: dict[int, int] = {}
        self._bands: list[dict[int, int]] = [{} for _ in range(bands)]
        self.counts: dict[str, int] = {EXACT_DUPLICATE: 0, NEAR_DUPLICATE: 0}

    def offer(self, position: int, keys: np.ndarray) -> int | None:
        """None when the document is kept (and remembered); else the position of the kept document it
        duplicates (an exact duplicate first, else the first band that matches)."""
        row = keys.tolist()
        if len(row) != 1 + self.bands:
            raise ValueError(f"expected {1 + self.bands} keys, got {len(row)}")
        same = self._exact.get(row[0])
        if same is not None:
            self.counts[EXACT_DUPLICATE] += 1
            return same
        for table, key in zip(self._bands, row[1:], strict=True):
            near = table.get(key)
            if near is not None:
                self.counts[NEAR_DUPLICATE] += 1
                return near
        self._exact[row[0]] = position
        for table, key in zip(self._bands, row[1:], strict=True):
            table[key] = position
        return None

    def offer_reason(self, position: int, keys: np.ndarray) -> tuple[int | None, str | None]:
        """``offer``, with why: (None, None) when kept, else (the kept twin's position, "exact_duplicate" or
        "near_duplicate")."""
        exact_before = self.counts[EXACT_DUPLICATE]
        twin = self.offer(position, keys)
        if twin is None:
            return None, None
        return twin, EXACT_DUPLICATE if self.counts[EXACT_DUPLICATE] > exact_before else NEAR_DUPLICATE

    def __len__(self) -> int:
        """Documents kept so far."""
        return len(self._exact)
