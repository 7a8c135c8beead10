"""Decontamination: flag source documents that overlap excluded documents (typically a target's test split).

Two checks, the standard ones (GPT-3 appendix C; METHOD.md §5):

``"ngram_overlap"`` — the source contains an excluded document's text verbatim, after normalisation
(``shingles``: lowercase; words are alphanumeric runs, or characters with whitespace collapsed):

- it shares an n-gram with an excluded document of at least ``ngram`` units (13 words by default,
  GPT-3's maximum; 8 words is common for code; ``unit="char"`` with 50 characters is about one line
  of code or 8-10 words of prose, long enough that shared boilerplate such as ``if __name__ ==
  "__main__":`` (26) or a docstring opener does not collide, short enough that a copied statement
  is caught even when reformatted, since whitespace runs are collapsed);
- or it contains the whole of an excluded document that has ``min_units`` to ``ngram - 1`` units
  (a short test statement planted inside a longer document has no ngram-long run to share);
- or its whole normalised text equals an excluded document shorter than ``min_units``: a run of 1-7
  words occurs by chance in unrelated text, so such a document is only matched as a whole.
  ``min_units`` defaults to 8 for words (GPT-3: "due to spurious collisions at lower values of N we
  use a minimum value of 8") and to 32 characters.

``"near_duplicate"`` — the Jaccard similarity of the two documents' shingle sets (character 5-grams
by default) is at least ``near_duplicate``: an edited copy shares no long n-gram when edits are dense.
Found with MinHash: LSH bands pick candidates (rows chosen so that a pair exactly at the threshold
is a candidate with probability >= 99.9%), the MinHash estimate of the Jaccard similarity decides.
Sizes bound the similarity exactly (J(A, B) <= min(|A|, |B|) / max(|A|, |B|)), so source documents
much longer or shorter than every excluded one skip MinHash: with short test statements and long
source documents that is almost all of them.

``fit`` builds the index once; it pickles to its hashes and signatures (8-16 bytes an n-gram, 512
bytes a document at 128 permutations), ``setup`` rebuilds the lookup tables in each worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zipfit.errors import ZipfitError
from zipfit.filters.base import MAP, Filter
from zipfit.filters.shingles import (
    UNITS,
    Units,
    band_keys,
    candidate_probability,
    minhash,
    permutations,
    recall_bands,
    units,
    window_starts,
)

NGRAM_OVERLAP = "ngram_overlap"
NEAR_DUPLICATE = "near_duplicate"
REASONS = (NGRAM_OVERLAP, NEAR_DUPLICATE)
DEFAULT_MIN_UNITS = {"word": 8, "char": 32}
FIT_BATCH = 256  # excluded documents per batch while fitting (bounds the memory of the prefix sums)


class _SortedKeys:
    """A sorted uint64 array with one owner per key, and a byte-table prefilter built per process.

    Most lookups miss; the table (2^bits bytes, ~1/16 full) answers almost all of them with one
    gather, and only its hits go to the binary search. With ``unique``, a key keeps only its smallest
    owner; otherwise every (key, owner) pair is kept, sorted, for ``ranges``.
    """

    def __init__(self, keys: np.ndarray, owners: np.ndarray, unique: bool = True) -> None:
        order = np.lexsort((owners, keys))
        keys, owners = keys[order], owners[order]
        if unique:
            first = np.ones(len(keys), dtype=bool)
            first[1:] = keys[1:] != keys[:-1]
            keys, owners = keys[first], owners[first]
        self.keys = keys
        self.owners = owners.astype(np.int32)
        self._table: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def __getstate__(self) -> dict[str, Any]:
        return {"keys": self.keys, "owners": self.owners, "_table": None}

    def setup(self) -> None:
        if self._table is None:
            bits = int(min(26, max(10, np.ceil(np.log2(len(self.keys) + 1)) + 4)))
            self._shift = np.uint64(64 - bits)
            self._table = np.zeros(1 << bits, dtype=bool)
            self._table[self.keys >> self._shift] = True

    def find(self, queries: np.ndarray) -> np.ndarray:
        """The owner of every query, -1 where it is not a key."""
        self.setup()
        assert self._table is not None
        out = np.full(len(queries), -1, dtype=np.int64)
        maybe = np.flatnonzero(self._table[queries >> self._shift])
        if len(maybe) and len(self.keys):
            q = queries[maybe]
            at = np.minimum(np.searchsorted(self.keys, q), len(self.keys) - 1)
            hit = self.keys[at] == q
            out[maybe[hit]] = self.owners[at[hit]]
        return out

    def ranges(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For every query, which query it is and the owner, once per (query, matching entry)."""
        self.setup()
        assert self._table is not None
        maybe = np.flatnonzero(self._table[queries >> self._shift])
        q = queries[maybe]
        lo = np.searchsorted(self.keys, q, side="left")
        hi = np.searchsorted(self.keys, q, side="right")
        n = hi - lo
        query = np.repeat(maybe, n)
        # lo..hi-1 for every query, as one array: a running index reset at each query's lo
        slot = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n) + np.repeat(lo, n)
        return query, self.owners[slot]


class ContaminationIndex(Filter):
    """Which source documents overlap a set of excluded documents, and why: a map-stage filter.

    ``fit(excluded)`` indexes the excluded documents; ``check(texts)`` gives, per text, None (clean)
    or the reason it is contaminated; ``match(text)`` also names the excluded document it matches.
    Deterministic: the same excluded documents and parameters give the same answers in any process.
    """

    name = "decontamination"
    stage = MAP
    status = "contaminated"
    reasons = REASONS

    def __init__(
        self,
        ngram: int = 13,
        unit: str = "word",
        near_duplicate: float | None = 0.8,
        *,
        min_units: int | None = None,
        num_perm: int = 128,
        shingle: int = 5,
        shingle_unit: str = "char",
        seed: int = 0,
    ) -> None:
        self.ngram = ngram
        self.unit = unit
        self.near_duplicate = near_duplicate
        self.min_units = min_units
        self.num_perm = num_perm
        self.shingle = shingle
        self.shingle_unit = shingle_unit
        self.seed = seed

    # -- fitting ------------------------------------------------------------------------------

    def _check_params(self) -> int:
        for name in ("unit", "shingle_unit"):
            if getattr(self, name) not in UNITS:
                raise ZipfitError(f"contamination {name} must be one of {', '.join(UNITS)}, "
                                  f"got {getattr(self, name)!r}")
        if self.ngram < 1:
            raise ZipfitError(f"contamination ngram must be at least 1, got {self.ngram}")
        min_units = DEFAULT_MIN_UNITS[self.unit] if self.min_units is None else self.min_units
        min_units = min(min_units, self.ngram)
        if min_units < 1:
            raise ZipfitError(f"contamination min_units must be at least 1, got {self.min_units}")
        if self.near_duplicate is not None:
            if not 0.0 < self.near_duplicate <= 1.0:
                raise ZipfitError(f"near_duplicate must be in (0, 1] or None, got {self.near_duplicate}")
            if self.num_perm < 1 or self.shingle < 1:
                raise ZipfitError(f"num_perm and shingle must be at least 1, got {self.num_perm}, {self.shingle}")
        return min_units

    def fit(self, excluded: Sequence[str]) -> ContaminationIndex:
        """Index the excluded documents; returns self."""
        min_units = self._check_params()
        n = self.ngram
        grams: list[np.ndarray] = []
        gram_owner: list[np.ndarray] = []
        probes: list[np.ndarray] = []  # short documents: hash of their first min_units units
        probe_owner: list[np.ndarray] = []
        whole: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        for lo in range(0, len(excluded), FIT_BATCH):
            u = units(excluded[lo : lo + FIT_BATCH], self.unit)
            hashes, owner = u.windows(n)
            grams.append(hashes)
            gram_owner.append(owner + lo)
            counts.append(u.counts)
            whole.append(u.whole())
            short = np.flatnonzero((u.counts >= min_units) & (u.counts < n))
            probes.append(u.runs.hash(u.offsets[short], np.full(len(short), min_units)))
            probe_owner.append(short + lo)
        count = np.concatenate(counts) if counts else np.zeros(0, dtype=np.intp)
        whole_hash = np.concatenate(whole) if whole else np.zeros(0, dtype=np.uint64)
        tiny = np.flatnonzero((count > 0) & (count < min_units))
        short_owner = np.concatenate(probe_owner) if probe_owner else np.zeros(0, dtype=np.intp)

        self.min_units_ = min_units
        self.n_excluded_ = len(excluded)
        self.regimes_ = {
            "ngram": int((count >= n).sum()),  # matched by any shared n-gram
            "contained": len(short_owner),  # min_units <= units < ngram: matched when contained whole
            "whole_only": len(tiny),  # 1 <= units < min_units: matched only as the entire text
            "empty": int((count == 0).sum()),  # no units at all: never matched
        }
        self.grams_ = _SortedKeys(np.concatenate(grams) if grams else np.zeros(0, np.uint64),
                                  np.concatenate(gram_owner) if gram_owner else np.zeros(0, np.intp))
        # short documents are found by the hash of their first min_units units, then confirmed by
        # their whole hash and length: one extra pass over the source whatever their lengths
        self.probes_ = _SortedKeys(np.concatenate(probes) if probes else np.zeros(0, np.uint64),
                                   np.arange(len(short_owner)), unique=False)
        self.short_hash_ = whole_hash[short_owner]
        self.short_len_ = count[short_owner].astype(np.int32)
        self.short_owner_ = short_owner.astype(np.int32)
        self.whole_ = _SortedKeys(whole_hash[tiny], tiny)
        if self.near_duplicate is not None:
            self._fit_near(excluded)
        return self

    def _fit_near(self, excluded: Sequence[str]) -> None:
        self.bands_, self.rows_ = recall_bands(self.near_duplicate, self.num_perm)
        a, b = permutations(self.num_perm, self.seed)
        sigs, sizes, blank = [], [], []
        for lo in range(0, len(excluded), FIT_BATCH):
            u = units(excluded[lo : lo + FIT_BATCH], self.shingle_unit)
            hashes, owner = u.shingles(self.shingle)
            sizes.append(_set_sizes(hashes, owner, len(u.counts)))
            sigs.append(minhash(hashes, owner, len(u.counts), a, b))
            blank.append(u.counts == 0)
        size = np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int64)
        # a text without units (blank, or no word at all) is never a near-duplicate of anything
        keep = np.flatnonzero(~np.concatenate(blank)) if blank else np.zeros(0, dtype=np.intp)
        self.signatures_ = (np.concatenate(sigs) if sigs else np.zeros((0, self.num_perm), np.uint32))[keep]
        self.sizes_ = size[keep].astype(np.int32)
        self.sig_owner_ = keep.astype(np.int32)
        self._bands: _SortedKeys | None = None

    # -- per worker ---------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_bands", None)
        return state

    def setup(self) -> None:
        """Build the per-process lookup tables (prefilters, LSH band table) after unpickling."""
        self._require_fit()
        for keys in (self.grams_, self.probes_, self.whole_):
            keys.setup()
        if self.near_duplicate is not None and getattr(self, "_bands", None) is None:
            keys = band_keys(self.signatures_, self.bands_, self.rows_).ravel()
            self._bands = _SortedKeys(keys, np.repeat(np.arange(len(self.signatures_)), self.bands_), unique=False)
            self._bands.setup()

    def _require_fit(self) -> None:
        if not hasattr(self, "grams_"):
            raise ZipfitError("ContaminationIndex needs fit(excluded) before check or match")

    # -- checking -----------------------------------------------------------------------------

    def check(self, texts: Sequence[str]) -> list[str | None]:
        """Per text: None when clean, else "ngram_overlap" or "near_duplicate"."""
        return [None if m is None else m[0] for m in self._matches(texts)]

    flag = check

    def match(self, text: str) -> tuple[str, int] | None:
        """The reason and the index (in ``fit``'s order) of an excluded document the text matches."""
        return self._matches([text])[0]

    def _matches(self, texts: Sequence[str]) -> list[tuple[str, int] | None]:
        self.setup()
        found = self._ngram_matches(units(texts, self.unit))
        out: list[tuple[str, int] | None] = [None] * len(texts)
        for i in np.flatnonzero(found >= 0).tolist():
            out[i] = (NGRAM_OVERLAP, int(found[i]))
        if self.near_duplicate is not None and len(self.signatures_):
            rest = np.flatnonzero(found < 0)
            near = self._near_matches([texts[i] for i in rest.tolist()])
            for i, j in zip(rest.tolist(), near.tolist(), strict=True):
                if j >= 0:
                    out[i] = (NEAR_DUPLICATE, j)
        return out

    def _ngram_matches(self, u: Units) -> np.ndarray:
        """Per text, the smallest index of an excluded document it overlaps by n-grams, else -1."""
        n_texts = len(u.counts)
        best = np.full(n_texts, np.iinfo(np.int64).max, dtype=np.int64)

        def record(text: np.ndarray, owner: np.ndarray) -> None:
            np.minimum.at(best, text, owner)

        if len(self.grams_):
            hashes, text = u.windows(self.ngram)
            owner = self.grams_.find(hashes)
            hit = owner >= 0
            record(text[hit], owner[hit])
        if len(self.probes_):
            self._contained(u, record)
        if len(self.whole_):
            owner = self.whole_.find(u.whole())
            hit = np.flatnonzero((owner >= 0) & (u.counts > 0))
            record(hit, owner[hit])
        return np.where(best == np.iinfo(np.int64).max, -1, best)

    def _contained(self, u: Units, record: Any) -> None:
        """Short excluded documents contained whole: their first min_units units, then all of them."""
        starts = window_starts(u.offsets, self.min_units_)
        if len(starts) == 0:
            return
        query, rows = self.probes_.ranges(u.runs.hash(starts, np.full(len(starts), self.min_units_)))
        if len(query) == 0:
            return
        pos = starts[query]
        text = np.searchsorted(u.offsets, pos, side="right") - 1
        length = self.short_len_[rows].astype(np.intp)
        inside = pos + length <= u.offsets[text + 1]
        pos, text, rows, length = pos[inside], text[inside], rows[inside], length[inside]
        same = u.runs.hash(pos, length) == self.short_hash_[rows]
        record(text[same], self.short_owner_[rows[same]].astype(np.int64))

    def _near_matches(self, texts: Sequence[str]) -> np.ndarray:
        """Per text, the excluded document it most resembles with estimated Jaccard >= threshold, else -1."""
        out = np.full(len(texts), -1, dtype=np.int64)
        t = float(self.near_duplicate)
        lo_size, hi_size = int(self.sizes_.min()), int(self.sizes_.max())
        maybe = self._not_too_long(texts, hi_size / t)
        if len(maybe) == 0:
            return out
        u = units([texts[i] for i in maybe.tolist()], self.shingle_unit)
        hashes, owner = u.shingles(self.shingle)
        size = _set_sizes(hashes, owner, len(maybe))
        fits = (size >= t * lo_size) & (size * t <= hi_size) & (u.counts > 0)
        keep = fits[owner]
        local = np.cumsum(fits) - 1  # renumber the texts that fit
        hashes, owner = hashes[keep], local[owner[keep]]
        maybe, size = maybe[fits], size[fits]
        if len(maybe) == 0:
            return out
        a, b = permutations(self.num_perm, self.seed)
        sig = minhash(hashes, owner, len(maybe), a, b)
        keys = band_keys(sig, self.bands_, self.rows_).ravel()
        assert self._bands is not None
        query, row = self._bands.ranges(keys)
        if len(query) == 0:
            return out
        pairs = np.unique(np.stack([query // self.bands_, row.astype(np.int64)], axis=1), axis=0)
        q, r = pairs[:, 0], pairs[:, 1]
        estimate = (sig[q] == self.signatures_[r]).mean(axis=1)
        sa, sb = size[q], self.sizes_[r]
        ok = (estimate >= t) & (np.minimum(sa, sb) >= t * np.maximum(sa, sb))
        q, r, estimate = q[ok], r[ok], estimate[ok]
        # the best estimate per text, ties to the first excluded document
        order = np.lexsort((self.sig_owner_[r], -estimate, q))
        q, r = q[order], r[order]
        first = np.ones(len(q), dtype=bool)
        first[1:] = q[1:] != q[:-1]
        out[maybe[q[first]]] = self.sig_owner_[r[first]]
        return out

    def _not_too_long(self, texts: Sequence[str], most: float) -> np.ndarray:
        """Indices of the texts that may have at most ``most`` distinct shingles.

        Jaccard >= t needs |A| <= max |B| / t. A long text is tried on a prefix first: the shingles of
        a prefix, but for the one that ends at its last (maybe cut) unit, are shingles of the text, so
        more than ``most`` of them distinct proves the text too long without reading the rest of it.
        """
        need = int(most) + 1
        chars = (need + self.shingle) * (2 if self.shingle_unit == "char" else 12)
        long = np.array([i for i, text in enumerate(texts) if len(text) > chars], dtype=np.intp)
        if len(long) == 0:
            return np.arange(len(texts))
        u = units([texts[i][:chars] for i in long.tolist()], self.shingle_unit)
        hashes, owner = u.windows(self.shingle)
        last = np.ones(len(owner), dtype=bool)
        last[:-1] = owner[1:] != owner[:-1]
        # distinct counts from truncated hashes can only be too low: the bound stays safe
        distinct = _set_sizes(hashes[~last], owner[~last], len(long))
        ok = np.ones(len(texts), dtype=bool)
        ok[long[distinct >= need]] = False
        return np.flatnonzero(ok)

    # -- reporting ----------------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        """Parameters and index statistics, for the run manifest."""
        out: dict[str, Any] = {
            "ngram": self.ngram,
            "unit": self.unit,
            "min_units": getattr(self, "min_units_", self.min_units),
            "near_duplicate": self.near_duplicate,
            "normalisation": "lowercase; alphanumeric runs" if self.unit == "word"
            else "lowercase; whitespace runs collapsed to one space, stripped",
        }
        if self.near_duplicate is not None:
            out.update(num_perm=self.num_perm, shingle=self.shingle, shingle_unit=self.shingle_unit, seed=self.seed)
            if hasattr(self, "bands_"):
                out.update(bands=self.bands_, rows=self.rows_,
                           band_recall_at_threshold=round(float(candidate_probability(
                               self.near_duplicate, self.bands_, self.rows_)), 6))
        if hasattr(self, "n_excluded_"):
            out.update(n_excluded=self.n_excluded_, excluded_by_regime=dict(self.regimes_), n_ngrams=len(self.grams_))
        return out


def _set_sizes(hashes: np.ndarray, owner: np.ndarray, n_texts: int) -> np.ndarray:
    """Distinct shingles per text (hashes grouped by text, owner ascending)."""
    if len(hashes) == 0:
        return np.zeros(n_texts, dtype=np.int64)
    # text in the top 24 bits, the hash's top 40 below: one sort of plain uint64 groups and orders both;
    # two distinct shingles of one text share 40 bits with probability ~size^2 / 2^41
    if n_texts >= 1 << 24:
        raise ValueError("at most 2^24 texts a batch")
    keyed = (owner.astype(np.uint64) << np.uint64(40)) | (hashes >> np.uint64(24))
    keyed.sort()
    new = np.ones(len(keyed), dtype=bool)
    new[1:] = keyed[1:] != keyed[:-1]
    return np.bincount((keyed[new] >> np.uint64(40)).astype(np.intp), minlength=n_texts)
