"""Normalised units of text, their n-grams as stable 64-bit hashes, MinHash signatures and LSH bands.

Shared by ``contamination`` and ``dedup``. Everything works on a whole batch of texts at once with
numpy, and every hash is a fixed function of the text alone (never Python's salted ``hash()``, never
the batch a text arrives in), so the same text gives the same numbers in any process, on any run.

Units (``unit=``):

- ``"word"``: the text lowercased (final sigma ς folded into σ), words are maximal runs of
  alphanumeric characters (``str.isalnum``, so ``_``, punctuation, symbols and whitespace all
  separate words and are dropped) — the GPT-3 decontamination normalisation ("ignoring all
  punctuation, whitespace, and casing");
- ``"char"``: the text lowercased (likewise), every run of whitespace (``str.isspace``) one space, no leading or
  trailing space; punctuation kept (for code, where it carries meaning).

Hashing: every unit gets a 64-bit value (a character: a mix of its code point; a word: a polynomial
hash of its characters), and a run of units ``v[s:s+m]`` hashes to ``mix((P[s+m] - P[s]) * Q^-s + m K)``
where ``P`` is the prefix sum of ``v[j] Q^j`` mod 2^64 and ``Q`` is odd (so invertible mod 2^64). Any
run of any length costs O(1) from the prefix sums, and the hash does not depend on where the run
starts: a window of a long text and a whole short text with the same units hash the same, which is
what matching short excluded documents inside longer texts needs. Because unit values are random
64-bit numbers, two different runs collide with probability about 2^-56 or less (the difference is a
linear form in random values, its coefficients sums of powers of Q, at most a few factors of 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

UNITS = ("word", "char")
_M64 = (1 << 64) - 1
# Odd multipliers of the two polynomial hashes (characters -> word; units -> run) and length salts:
# arbitrary fixed constants (digits of pi and e), part of the on-disk meaning of every key.
Q_CHAR = 0x243F6A8885A308D3
Q_UNIT = 0xB7E151628AED2A6B
K_CHAR = 0x13198A2E03707344
K_UNIT = 0xA4093822299F31D0
SALT_CODEPOINT = 0x082EFA98EC4E6C89


def mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer on a uint64 array (a bijection that spreads every input bit over all
    output bits); returns a new array."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@lru_cache(maxsize=1)
def _bmp_classes() -> tuple[np.ndarray, np.ndarray]:
    """``str.isalnum`` and ``str.isspace`` of U+0000..U+FFFF, built once per process (~15 ms)."""
    chars = [chr(i) for i in range(0x10000)]
    alnum = np.fromiter(map(str.isalnum, chars), dtype=bool, count=0x10000)
    space = np.fromiter(map(str.isspace, chars), dtype=bool, count=0x10000)
    return alnum, space


def _classes(codepoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    alnum_bmp, space_bmp = _bmp_classes()
    bmp = np.minimum(codepoints, 0xFFFF)
    alnum, space = alnum_bmp[bmp], space_bmp[bmp]
    astral = codepoints > 0xFFFF
    if astral.any():
        values, where = np.unique(codepoints[astral], return_inverse=True)
        chars = [chr(v) for v in values.tolist()]
        alnum[astral] = np.fromiter(map(str.isalnum, chars), dtype=bool, count=len(chars))[where]
        space[astral] = np.fromiter(map(str.isspace, chars), dtype=bool, count=len(chars))[where]
    return alnum, space


def _powers(q: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """q^j and q^-j mod 2^64 for j < n (q odd)."""
    fwd = np.full(n, q, dtype=np.uint64)
    inv = np.full(n, pow(q, -1, 1 << 64), dtype=np.uint64)
    if n:
        fwd[0] = inv[0] = 1
    return np.cumprod(fwd, dtype=np.uint64), np.cumprod(inv, dtype=np.uint64)  # products wrap mod 2^64


class Runs:
    """Hashes of runs of consecutive values, from prefix sums (see the module docstring)."""

    def __init__(self, values: np.ndarray, q: int, salt: int) -> None:
        self.fwd, self.inv = _powers(q, len(values))
        self.prefix = np.zeros(len(values) + 1, dtype=np.uint64)
        np.cumsum(values * self.fwd, dtype=np.uint64, out=self.prefix[1:])
        self.salt = np.uint64(salt)

    def hash(self, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The hash of ``values[s:s+m]`` for each start s and length m (uint64)."""
        starts = np.asarray(starts, dtype=np.intp)
        lengths = np.asarray(lengths, dtype=np.intp)
        inv = self.inv[np.minimum(starts, len(self.inv) - 1)] if len(self.inv) else np.ones(len(starts), np.uint64)
        h = (self.prefix[starts + lengths] - self.prefix[starts]) * inv
        return mix64(h + lengths.astype(np.uint64) * self.salt)


class Units:
    """The normalised units of a batch of texts: one uint64 value per unit, text after text.

    ``counts[i]`` is the number of units of text i, ``offsets[i]`` where they start in ``values``.
    """

    def __init__(self, values: np.ndarray, counts: np.ndarray) -> None:
        self.values = values
        self.counts = counts
        self.offsets = np.zeros(len(counts) + 1, dtype=np.intp)
        np.cumsum(counts, out=self.offsets[1:])
        self._runs: Runs | None = None

    @property
    def runs(self) -> Runs:
        if self._runs is None:
            self._runs = Runs(self.values, Q_UNIT, K_UNIT)
        return self._runs

    def whole(self) -> np.ndarray:
        """One hash per text of all its units (the hash of its normalised text)."""
        return self.runs.hash(self.offsets[:-1], self.counts)

    def windows(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The hash of every run of n consecutive units inside one text, and the text it is in."""
        starts = window_starts(self.offsets, n)
        owner = np.searchsorted(self.offsets, starts, side="right") - 1
        return self.runs.hash(starts, np.full(len(starts), n)), owner

    def shingles(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``windows(n)``, plus the whole text as its one shingle when it has fewer than n units, so
        that every text has at least one shingle (two short texts match only when equal)."""
        hashes, owner = self.windows(n)
        short = np.flatnonzero(self.counts < n)
        if len(short) == 0:
            return hashes, owner
        whole = self.runs.hash(self.offsets[short], self.counts[short])
        hashes, owner = np.concatenate([hashes, whole]), np.concatenate([owner, short])
        order = np.argsort(owner, kind="stable")
        return hashes[order], owner[order]


def window_starts(offsets: np.ndarray, n: int) -> np.ndarray:
    """Start of every run of n units that lies inside one text (texts given by their unit offsets)."""
    counts = np.diff(offsets)
    per_text = np.maximum(counts - n + 1, 0)
    total = int(per_text.sum())
    if total == 0:
        return np.zeros(0, dtype=np.intp)
    # ramps 0..k-1 per text, shifted to each text's first unit
    firsts = np.repeat(offsets[:-1] - np.cumsum(per_text) + per_text, per_text)
    return (firsts + np.arange(total)).astype(np.intp)


def _codepoints(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    # final sigma is folded into sigma: str.lower's only context-sensitive rule, so that lowercasing
    # is per character and a prefix of a text normalises to a prefix of the text's units
    lowered = [t.lower().replace("ς", "σ") for t in texts]
    joined = "".join(lowered)
    codepoints = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return codepoints, np.fromiter(map(len, lowered), dtype=np.intp, count=len(lowered))


def _text_starts(lengths: np.ndarray, n: int) -> np.ndarray:
    """True at the first code point of every non-empty text."""
    first = np.zeros(n + 1, dtype=bool)
    first[np.cumsum(lengths) - lengths] = True
    return first[:n]


def units(texts: Sequence[str], unit: str) -> Units:
    """The normalised units of each text (see the module docstring for ``unit``)."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    codepoints, lengths = _codepoints(texts)
    n = len(codepoints)
    alnum, space = _classes(codepoints)
    first = _text_starts(lengths, n)
    values = mix64(codepoints.astype(np.uint64) ^ np.uint64(SALT_CODEPOINT))
    text_of = np.repeat(np.arange(len(texts)), lengths)
    if unit == "word":
        prev = np.zeros(n, dtype=bool)
        prev[1:] = alnum[:-1]
        starts = np.flatnonzero(alnum & (~prev | first))
        nxt = np.zeros(n, dtype=bool)
        nxt[:-1] = alnum[1:] & ~first[1:]
        ends = np.flatnonzero(alnum & ~nxt) + 1
        words = Runs(values, Q_CHAR, K_CHAR).hash(starts, ends - starts)
        return Units(words, np.bincount(text_of[starts], minlength=len(texts)))
    values[space] = mix64(np.array([ord(" ") ^ SALT_CODEPOINT], dtype=np.uint64))[0]
    prev = np.zeros(n, dtype=bool)
    prev[1:] = space[:-1]
    keep = ~space | ~prev | first  # the first space of every run
    kept = np.flatnonzero(keep)
    owner = text_of[kept]
    is_space = space[kept]
    head = np.ones(len(kept), dtype=bool)
    head[1:] = owner[1:] != owner[:-1]
    tail = np.ones(len(kept), dtype=bool)
    tail[:-1] = owner[1:] != owner[:-1]
    inner = ~(is_space & (head | tail))  # strip: drop a space that begins or ends its text
    return Units(values[kept[inner]], np.bincount(owner[inner], minlength=len(texts)))


# -- MinHash and LSH banding -------------------------------------------------------------------

_CHUNK = 1 << 13  # shingles hashed at a time: CHUNK x num_perm uint64 stays in cache (8 MB at 128)


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) of ``num_perm`` hash functions ``h(x) = ((a x + b) mod 2^64) >> 32`` on 32-bit x, a odd.

    This is Dietzfelbinger's multiply-add-shift family, strongly universal for 32-bit keys to 32-bit
    values, computed exactly by uint64 wrap-around (no 128-bit product needed). a and b come from a
    splitmix64 stream of the seed, so the functions are the same everywhere.
    """
    start = (seed * 0x9E3779B97F4A7C15) & _M64
    stream = mix64(np.arange(1, 2 * num_perm + 1, dtype=np.uint64) + np.uint64(start))
    return stream[:num_perm] | np.uint64(1), stream[num_perm:]


def minhash(hashes: np.ndarray, owner: np.ndarray, n_texts: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MinHash signatures (n_texts x num_perm, uint32) of shingle sets given as 64-bit hashes with the
    text each belongs to (sorted by text). A text without shingles gets all-ones (2^32 - 1).

    The key of a shingle is the top 32 bits of its (already mixed) hash: within one text two shingles
    share a key with probability ~size^2 / 2^33, which does not move a Jaccard estimate.
    """
    num_perm = len(a)
    out = np.full((num_perm, n_texts), _M64, dtype=np.uint64)
    keys = hashes >> np.uint64(32)
    # (perm, shingle) layout: numpy reduces along the last axis several times faster than along the first
    buf = np.empty((num_perm, _CHUNK), dtype=np.uint64)
    for lo in range(0, len(keys), _CHUNK):
        k = keys[lo : lo + _CHUNK]
        own = owner[lo : lo + _CHUNK]
        h = buf[:, : len(k)]
        np.multiply(a[:, None], k[None, :], out=h)
        h += b[:, None]
        firsts = np.concatenate(([0], np.flatnonzero(np.diff(own)) + 1))
        texts = own[firsts]
        out[:, texts] = np.minimum(out[:, texts], np.minimum.reduceat(h, firsts, axis=1))
    # >> 32 commutes with min (it is monotone), so it is applied to the minima only
    return (out >> np.uint64(32)).T.astype(np.uint32)


def candidate_probability(similarity: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """The LSH S-curve: probability that two sets of Jaccard similarity s agree on at least one band."""
    return 1.0 - (1.0 - np.asarray(similarity, dtype=np.float64) ** rows) ** bands


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One uint64 key per band (n x bands): a hash of the band's ``rows`` signature values and of the
    band's number (so keys of different bands never meet by accident in a shared table)."""
    n = len(signatures)
    sig = signatures[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    powers, _ = _powers(Q_UNIT, rows)
    keys = (sig * powers).sum(axis=2, dtype=np.uint64)
    keys += np.arange(bands, dtype=np.uint64) * np.uint64(K_UNIT)
    return mix64(keys)


def _area(bands: int, rows: int, threshold: float) -> tuple[float, float]:
    """Integrated false-positive (below the threshold) and false-negative (above) probability."""
    s = np.linspace(0.0, 1.0, 1001)
    p = candidate_probability(s, bands, rows)
    below = s < threshold
    fp = np.trapezoid(np.where(below, p, 0.0), s)
    fn = np.trapezoid(np.where(below, 0.0, 1.0 - p), s)
    return float(fp), float(fn)


@lru_cache(maxsize=64)
def balanced_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows), bands x rows <= num_perm, minimising the false-positive plus false-negative area
    of the S-curve around the threshold: for LSH that decides alone, without a confirming estimate."""
    best = min(
        (sum(_area(num_perm // rows, rows, threshold)), rows) for rows in range(1, num_perm + 1)
    )
    return num_perm // best[1], best[1]


@lru_cache(maxsize=64)
def recall_bands(threshold: float, num_perm: int, recall: float = 0.999) -> tuple[int, int]:
    """(bands, rows) with the most rows (fewest spurious candidates) whose S-curve still passes a pair
    exactly at the threshold with probability ``recall``: for LSH as a candidate filter before an
    estimate that decides."""
    rows = 1
    for r in range(1, num_perm + 1):
        if candidate_probability(threshold, num_perm // r, r) >= recall:
            rows = r
    return num_perm // rows, rows
