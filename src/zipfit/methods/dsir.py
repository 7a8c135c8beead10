"""DSIR (Xie, Santurkar, Ma, Liang 2023): importance resampling with hashed n-gram features.

The same numbers as ``HashedNgramDSIR`` of the PyPI package ``data-selection`` 1.0.3:

- features: ``text.lower()`` split by NLTK's WordPunct regex ``\\w+|[^\\w\\s]+``; the words and, for
  k = 2..ngrams, every run of k consecutive words joined by one space; each string counted in bucket
  ``int(sha256(utf8).hexdigest(), 16) % num_buckets``;
- p_raw, p_tgt: summed counts over the source (every document, short ones included) and over the
  targets, each divided by its total; ``log_diff = log(p_tgt + 1e-8) - log(p_raw + 1e-8)``;
- log importance weight of a document: ``log_diff · counts`` (a dense dot product, as the package's);
- a document whose word count ``(Σ counts + ngrams(ngrams-1)/2) // ngrams`` is below
  ``min_example_length`` is dropped by the package; here it scores NaN so that the drop is counted.

The speed (the package spends most of its time in SHA-256, the rest in the regex and Python
loops) comes from exact shortcuts only, over a whole batch at a time:

- words are found with numpy: a WordPunct word is a maximal run of one character class (\\w, or
  neither \\w nor \\s), and the class of every code point is the one ``re`` uses (tested on all);
- a per-process memo of the bucket function, which depends on the n-gram string alone, so one
  memo serves every job a worker runs: words get integer ids (a short ASCII word is found by its
  bytes packed in an int64), a bigram is the int64 pair of ids, both looked up in numpy hash tables;
- only new n-grams are hashed: ``digest()``, then reduced modulo num_buckets by numpy;
- the weight is still the package's dense ``np.dot(log_diff, counts)``: bit-identical.

``words`` and ``ngram_strings`` are the plain reference the fast path is tested against.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from itertools import pairwise, repeat
from typing import Any

import numpy as np

from zipfit.errors import ZipfitError
from zipfit.methods.base import SEED, SOURCE_STATS, Method, Param

# nltk.tokenize.WordPunctTokenizer: RegexpTokenizer(r"\w+|[^\w\s]+") with these flags, via re.findall.
WORDPUNCT = re.compile(r"\w+|[^\w\s]+", re.UNICODE | re.MULTILINE | re.DOTALL)
SMOOTHING = 1e-8
MAX_BUCKETS = 1 << 31  # buckets_of reduces 32 bits at a time in uint64
CACHE_LIMIT = 2_000_000  # memo entries per worker process; cleared when passed


def bucket(gram: str, num_buckets: int) -> int:
    """``int(sha256(gram).hexdigest(), 16) % num_buckets`` without the hex round trip."""
    return int.from_bytes(hashlib.sha256(gram.encode("utf-8")).digest(), "big") % num_buckets


def buckets_of(grams: Sequence[str], num_buckets: int) -> np.ndarray:
    """``bucket`` of many strings: the 256-bit digests reduced modulo num_buckets (at most 2**31) by numpy."""
    sha256 = hashlib.sha256
    digests = b"".join([sha256(g.encode("utf-8")).digest() for g in grams])
    limbs = np.frombuffer(digests, dtype=">u4").reshape(-1, 8).astype(np.uint64)
    rest = np.zeros(len(grams), dtype=np.uint64)
    nb = np.uint64(num_buckets)
    for i in range(8):  # Horner: (rest * 2**32 + limb) mod nb, below 2**63 + 2**32
        rest = ((rest << np.uint64(32)) | limbs[:, i]) % nb
    return rest.astype(np.intp)


def words(text: str) -> list[str]:
    """The package's tokens of one text (reference for ``word_spans``)."""
    return WORDPUNCT.findall(text.lower())


def _char_class(ch: str) -> int:
    """2 for a \\w character (str.isalnum() or "_", as re defines it), 0 for \\s (str.isspace()), 1 otherwise."""
    return 2 if ch.isalnum() or ch == "_" else 0 if ch.isspace() else 1


_bmp_classes: np.ndarray | None = None  # _char_class of U+0000..U+FFFF, built once per process (~10 ms)


def char_classes(codepoints: np.ndarray) -> np.ndarray:
    """``_char_class`` of every code point (uint8)."""
    global _bmp_classes
    if _bmp_classes is None:
        _bmp_classes = np.array([_char_class(chr(i)) for i in range(0x10000)], dtype=np.uint8)
    out = _bmp_classes[np.minimum(codepoints, 0xFFFF)]
    astral = codepoints > 0xFFFF
    if astral.any():
        values, where = np.unique(codepoints[astral], return_inverse=True)
        out[astral] = np.array([_char_class(chr(v)) for v in values.tolist()], dtype=np.uint8)[where]
    return out


def word_spans(texts: Sequence[str]) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``words`` of every text at once, as spans: the lowercased texts joined by newlines, its code
    points, the start and end of every word in it, and how many words each text has.

    A WordPunct word is a maximal run of \\w characters or of characters that are neither \\w nor
    \\s, so words are the runs of one character class other than whitespace.
    """
    lowered = [t.lower() for t in texts]
    joined = "\n".join(lowered)
    codepoints = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    classes = char_classes(codepoints)
    n = len(classes)
    change = np.ones(n + 1, dtype=bool)
    np.not_equal(classes[1:], classes[:-1], out=change[1:n])
    bounds = np.flatnonzero(change)
    starts, ends = bounds[:-1], bounds[1:]
    words_only = classes[starts] != 0
    starts, ends = starts[words_only], ends[words_only]
    text_ends = np.cumsum([len(t) + 1 for t in lowered])  # past each text's separator
    per_text = np.bincount(np.searchsorted(text_ends, starts, side="right"), minlength=len(texts))
    return joined, codepoints, starts, ends, per_text


def ngram_strings(tokens: list[str], ngrams: int) -> list[str]:
    """The words, then the bigrams, ..., then the ``ngrams``-grams, each joined by one space."""
    grams = list(tokens)
    for k in range(2, ngrams + 1):
        if k == 2:
            grams += [a + " " + b for a, b in pairwise(tokens)]
        else:
            grams += map(" ".join, zip(*(tokens[i:] for i in range(k)), strict=False))
    return grams


class _Strings(dict):
    """n-gram string -> bucket; a miss hashes the string and remembers it."""

    def __init__(self, num_buckets: int) -> None:
        super().__init__()
        self.num_buckets = num_buckets

    def __missing__(self, gram: str) -> int:
        b = self[gram] = bucket(gram, self.num_buckets)
        return b


class _IntTable:
    """int64 -> int, an open-addressing hash table probed with numpy a whole batch at a time.

    A dict lookup per key costs a Python call and a cache miss; here a batch of keys costs a few
    vectorised gathers. Keys are non-negative; -1 marks an empty slot; the load stays at most 1/2.
    """

    _MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing

    def __init__(self, bits: int = 16) -> None:
        self.bits = bits
        self.keys = np.full(1 << bits, -1, dtype=np.int64)
        self.vals = np.zeros(1 << bits, dtype=np.intp)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.view(np.uint64) * self._MULT) >> np.uint64(64 - self.bits)).astype(np.intp)

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The value of every key, and whether it was found."""
        out = np.zeros(len(keys), dtype=np.intp)
        found = np.zeros(len(keys), dtype=bool)
        slots = self._slots(keys)
        pending = np.arange(len(keys))
        mask = len(self.keys) - 1
        while pending.size:
            s = slots[pending]
            stored = self.keys[s]
            hit = stored == keys[pending]
            out[pending[hit]] = self.vals[s[hit]]
            found[pending[hit]] = True
            probe = ~hit & (stored != -1)
            pending = pending[probe]
            slots[pending] = (s[probe] + 1) & mask
        return out, found

    def insert(self, keys: np.ndarray, vals: np.ndarray) -> None:
        """Add distinct keys that are not in the table."""
        while 2 * (self.size + len(keys)) > len(self.keys):
            self._grow()
        slots = self._slots(keys)
        pending = np.arange(len(keys))
        mask = len(self.keys) - 1
        while pending.size:
            s = slots[pending]
            free = np.flatnonzero(self.keys[s] == -1)
            taken, first = np.unique(s[free], return_index=True)  # one claimant per free slot wins
            winners = pending[free[first]]
            self.keys[taken] = keys[winners]
            self.vals[taken] = vals[winners]
            lost = np.ones(len(pending), dtype=bool)
            lost[free[first]] = False
            pending = pending[lost]
            slots[pending] = (slots[pending] + 1) & mask
        self.size += len(keys)

    def _grow(self) -> None:
        used = self.keys != -1
        keys, vals = self.keys[used], self.vals[used]
        self.bits += 1
        self.keys = np.full(1 << self.bits, -1, dtype=np.int64)
        self.vals = np.zeros(1 << self.bits, dtype=np.intp)
        self.size = 0
        self.insert(keys, vals)


class _Hasher:
    """Per-process memo of the bucket function: exact, since a bucket depends on its n-gram string only.

    Words get integer ids: a word of at most 7 ASCII characters is found by its bytes packed into an
    int64, any other by its string; a bigram is the int64 (id << 32 | id). Packed words and bigrams
    are looked up in numpy hash tables a whole batch at a time; only new ones are hashed, in bulk.
    Longer n-grams are memoised by string. Everything is dropped when the memo passes CACHE_LIMIT
    entries, which bounds its memory (~100 bytes an entry).
    """

    def __init__(self, num_buckets: int) -> None:
        self.num_buckets = num_buckets
        self.clear()

    def clear(self) -> None:
        self.tokens: list[str] = []  # by id
        self.unigram = np.zeros(1024, dtype=np.intp)  # bucket by id
        self.packed = _IntTable()  # packed short ASCII word -> id
        self.ids: dict[str, int] = {}  # any other word -> id
        self.pairs = _IntTable()  # id << 32 | id -> bucket
        self.longer = _Strings(self.num_buckets)

    def __len__(self) -> int:
        return len(self.packed) + len(self.ids) + len(self.pairs) + len(self.longer)

    def add_words(self, words: list[str]) -> np.ndarray:
        """New ids for these words, with their unigram buckets."""
        first = len(self.tokens)
        self.tokens += words
        if len(self.tokens) > len(self.unigram):
            self.unigram = np.resize(self.unigram, 2 * len(self.tokens))
        self.unigram[first : len(self.tokens)] = buckets_of(words, self.num_buckets)
        return np.arange(first, len(self.tokens), dtype=np.int64)

    def _word_ids(self, joined: str, codepoints: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        lengths = ends - starts
        non_ascii = np.concatenate(([0], np.cumsum(codepoints > 127)))
        short = (lengths <= 7) & (non_ascii[ends] == non_ascii[starts])
        ids = np.empty(len(starts), dtype=np.int64)

        s, n = starts[short], lengths[short]
        # the word's bytes read as a little-endian int64 (8 from its start, the ones past its end
        # masked off), its length in the top byte
        text_bytes = np.zeros(len(codepoints) + 8, dtype=np.uint8)
        text_bytes[: len(codepoints)] = codepoints  # wraps non-ASCII code points: those are never read
        eight = np.lib.stride_tricks.sliding_window_view(text_bytes, 8)[s]
        keys = eight.view("<i8")[:, 0] & ((np.int64(1) << (8 * n)) - 1) | (n << 56)
        found_ids, found = self.packed.find(keys)
        if not found.all():
            new, first, where = np.unique(keys[~found], return_index=True, return_inverse=True)
            at = s[~found][first].tolist()
            new_ids = self.add_words([joined[a : a + k] for a, k in zip(at, n[~found][first].tolist(), strict=True)])
            self.packed.insert(new, new_ids)
            found_ids[~found] = new_ids[where]
        ids[short] = found_ids

        other = np.flatnonzero(~short)
        words = [joined[a:b] for a, b in zip(starts[other].tolist(), ends[other].tolist(), strict=True)]
        other_ids = np.fromiter(map(self.ids.get, words, repeat(-1)), dtype=np.int64, count=len(words))
        missing = np.flatnonzero(other_ids < 0).tolist()
        if missing:
            new_words = list(dict.fromkeys([words[i] for i in missing]))
            self.ids.update(zip(new_words, self.add_words(new_words).tolist(), strict=True))
            other_ids[missing] = [self.ids[words[i]] for i in missing]
        ids[other] = other_ids
        return ids

    def _pair_buckets(self, keys: np.ndarray) -> np.ndarray:
        out, found = self.pairs.find(keys)
        if not found.all():
            new, where = np.unique(keys[~found], return_inverse=True)
            tokens = self.tokens
            left, right = (new >> 32).tolist(), (new & 0xFFFFFFFF).tolist()
            vals = buckets_of([tokens[a] + " " + tokens[b] for a, b in zip(left, right, strict=True)], self.num_buckets)
            self.pairs.insert(new, vals)
            out[~found] = vals[where]
        return out

    def buckets(self, texts: Sequence[str], ngrams: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """For n = 1..ngrams: the bucket of every n-gram of the texts, text after text, and how many
        n-grams each text has."""
        if len(self) > CACHE_LIMIT:
            self.clear()
        joined, codepoints, starts, ends, lens = word_spans(texts)
        ids = self._word_ids(joined, codepoints, starts, ends)
        total = len(ids)
        parts = [(self.unigram[ids], lens)]
        if ngrams >= 2:
            within = np.ones(max(total - 1, 0), dtype=bool)  # consecutive words of one text
            last = np.cumsum(lens) - 1
            within[last[(last >= 0) & (last < total - 1)]] = False
            pairs = self._pair_buckets(((ids[:-1] << 32) | ids[1:])[within])
            parts.append((pairs, np.maximum(lens - 1, 0)))
        if ngrams >= 3:
            words = [self.tokens[i] for i in ids.tolist()]
            offsets = np.concatenate(([0], np.cumsum(lens))).tolist()
            per_text = [words[a:b] for a, b in pairwise(offsets)]
        for k in range(3, ngrams + 1):
            grams = [" ".join(g) for tokens in per_text for g in zip(*(tokens[j:] for j in range(k)), strict=False)]
            found = np.fromiter(map(self.longer.__getitem__, grams), dtype=np.intp, count=len(grams))
            parts.append((found, np.maximum(lens - k + 1, 0)))
        return parts


_hashers: dict[int, _Hasher] = {}  # by num_buckets, one per process


def _hasher(num_buckets: int) -> _Hasher:
    h = _hashers.get(num_buckets)
    if h is None:
        h = _hashers[num_buckets] = _Hasher(num_buckets)
    return h


class DSIR(Method):
    """Data Selection with Importance Resampling, hashed unigram+bigram features (the package's defaults).

    Three steps, each parallel over documents: ``fit(targets)`` learns the target n-gram
    distribution; ``source_counts`` of every source batch, summed, goes to ``fit_source`` (the raw
    distribution); ``score`` gives each document's log importance weight (NaN when shorter than
    ``min_example_length`` words). Plain top-K of the scores is the package's ``top_k=True``;
    adding ``gumbel_noise`` first is its default importance resampling (sampling without replacement).
    """

    name = "dsir"
    needs = frozenset({SOURCE_STATS})
    unscorable_reason = "too_short"  # shorter than min_example_length words: the package drops these silently
    parameters = (
        Param("num_buckets", int, 10_000, "hashed n-gram buckets", minimum=1, maximum=MAX_BUCKETS),
        Param("ngrams", int, 2, "longest n-gram", minimum=1),
        Param("min_example_length", int, 100, "shorter documents (in words) are excluded and counted", minimum=0),
        SEED,
    )

    def __init__(
        self, num_buckets: int = 10_000, ngrams: int = 2, min_example_length: int = 100, seed: int = 0
    ) -> None:
        self.num_buckets = num_buckets
        self.ngrams = ngrams
        self.min_example_length = min_example_length
        self.seed = seed

    # -- features -----------------------------------------------------------------------------

    def _parts(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        return _hasher(self.num_buckets).buckets(texts, self.ngrams)

    def counts(self, text: str) -> np.ndarray:
        """The package's feature vector of one text: int64 counts per bucket."""
        self._check_params()
        return self._batch_counts([text])

    def _batch_counts(self, texts: Sequence[str]) -> np.ndarray:
        flat = [buckets for buckets, _ in self._parts(texts)]
        return np.bincount(np.concatenate(flat), minlength=self.num_buckets)

    def source_counts(self, texts: Sequence[str]) -> np.ndarray:
        """Summed n-gram counts of a batch (float64, length num_buckets); sum these over every source document."""
        self._check_params()
        return self._batch_counts(texts).astype(np.float64)

    # -- fitting ------------------------------------------------------------------------------

    def _check_params(self) -> None:
        if not 1 <= self.num_buckets <= MAX_BUCKETS:
            raise ZipfitError(f"DSIR num_buckets must be between 1 and {MAX_BUCKETS:,}, got {self.num_buckets}")
        if self.ngrams < 1:
            raise ZipfitError(f"DSIR ngrams must be at least 1, got {self.ngrams}")

    def fit(self, targets: Sequence[str], source_sample: Sequence[str] | None = None) -> DSIR:
        """Learn the target distribution; with ``source_sample``, also the raw one from that sample."""
        self._check_params()
        if len(targets) == 0:
            raise ZipfitError("the target set is empty: DSIR needs at least one target example")
        counts = self.source_counts(targets)
        if counts.sum() == 0:
            raise ZipfitError("the target examples contain no words: DSIR has no n-gram to learn from")
        self.n_targets_ = len(targets)
        self.target_ngrams_ = int(counts.sum())
        self.target_probs_ = counts / counts.sum()
        self.log_diff_: np.ndarray | None = None
        if source_sample is not None:
            self.fit_source(self.source_counts(source_sample))
        return self

    def fit_source(self, raw_counts: np.ndarray) -> DSIR:
        """Set the raw distribution from the summed ``source_counts`` of the source documents."""
        if getattr(self, "target_probs_", None) is None:
            raise ZipfitError("DSIR.fit_source needs fit(targets) first")
        raw = np.asarray(raw_counts, dtype=np.float64)
        if raw.shape != (self.num_buckets,):
            raise ZipfitError(f"DSIR raw counts must have shape ({self.num_buckets},), got {raw.shape}")
        if raw.sum() <= 0:
            raise ZipfitError("the source documents contain no words: DSIR cannot estimate their distribution")
        self.source_ngrams_ = int(raw.sum())
        self.raw_probs_ = raw / raw.sum()
        self.log_diff_ = np.log(self.target_probs_ + SMOOTHING) - np.log(self.raw_probs_ + SMOOTHING)
        return self

    # -- scoring ------------------------------------------------------------------------------

    def setup(self) -> None:
        _hasher(self.num_buckets)  # the memo lives in the process, not in the (pickled) method

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Log importance weight per text; NaN where the package drops the text as too short."""
        log_diff = getattr(self, "log_diff_", None)
        if log_diff is None:
            raise ZipfitError("DSIR.score needs fit(targets) and fit_source(raw_counts) first")
        parts = self._parts(texts)
        n_grams = sum(lens for _, lens in parts)
        # the package's length, (sum of the counts + n(n-1)/2) // n: the number of words (from n - 1 words on)
        n = self.ngrams
        short = (n_grams + n * (n - 1) / 2) // n < self.min_example_length
        out = np.full(len(texts), np.nan)
        offsets = [np.concatenate(([0], np.cumsum(lens))).tolist() for _, lens in parts]
        for i in np.flatnonzero(~short).tolist():
            buckets = np.concatenate([b[o[i] : o[i + 1]] for (b, _), o in zip(parts, offsets, strict=True)])
            out[i] = np.dot(log_diff, np.bincount(buckets, minlength=self.num_buckets))
        return out

    @staticmethod
    def gumbel_noise(n: int, seed: int) -> np.ndarray:
        """n standard Gumbel draws for a seed; entry i does not depend on n (a prefix of one stream)."""
        return np.random.default_rng(seed).gumbel(size=n)

    def params(self) -> dict[str, Any]:
        return {
            "num_buckets": self.num_buckets,
            "ngrams": self.ngrams,
            "min_example_length": self.min_example_length,
            "seed": self.seed,
            "tokenizer": "wordpunct",
            "n_targets": getattr(self, "n_targets_", 0),
            "target_ngrams": getattr(self, "target_ngrams_", 0),
            "source_ngrams": getattr(self, "source_ngrams_", 0),
        }
