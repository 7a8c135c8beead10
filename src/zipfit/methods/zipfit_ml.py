"""ZIP-FIT's idea as a Moore-Lewis cross-entropy difference: one compression of a document per context.

A compressor primed with text is a language model: the bytes it needs to code x after a context are x's
code length under that context. Moore & Lewis (2010) rank a document by how much better an in-domain model
predicts it than a general one, per token; here the in-domain model is the compressor primed with the target
examples and the general one the same compressor primed with an equally large, length-matched sample of the
source itself:

    score(x) = (mean_b C(x | background_b) − C(x | targets)) / |x|      (bytes per byte of x; higher = better)

Unlike ``zipfit``, whose cost grows with the number of targets (one compression per pair), a document costs
one compression per context, whatever the number of targets. Contrasting with the source's own text makes
the score about what is *specific* to the target, as in ``zipfit-debiased``, and dividing by |x| makes it a
rate, so a document's length does not set its score.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import random
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zipfit.errors import ZipfitError
from zipfit.methods.base import BACKGROUND, SEED, Method, Param

log = logging.getLogger("zipfit")

ML_CODECS = ("zstd", "gzip")
ML_DEFAULT_LEVEL = {"zstd": 9, "gzip": 9}
ML_LEVELS = {"zstd": range(1, 23), "gzip": range(1, 10)}
# gzip's window is 32 KiB: a primed context longer than that is out of reach, and the document itself needs room
GZIP_MAX_CONTEXT = 24 * 1024
# More, smaller contexts, averaged, gave better precision on the quality benchmark at a cost linear in their
# number (docs/methods.md). By default the target text is cut into about AUTO_PARTS parts, none smaller than
# MIN_CONTEXT nor larger than MAX_CONTEXT: at least AUTO_PARTS contexts for small target sets, and a cost that
# grows with the target text, not faster, for large ones.
AUTO_PARTS = 4
MIN_CONTEXT = 4 * 1024
MAX_CONTEXT = {"zstd": 32 * 1024, "gzip": GZIP_MAX_CONTEXT}
OVERSAMPLE = 3  # source documents drawn per background slot when matching lengths: room to find a near length


def _key(text: bytes) -> bytes:
    return hashlib.blake2b(text, digest_size=16).digest()


class ZipFitML(Method):
    """score(x) = (mean over backgrounds of C(x | background) − C(x | targets)) / len(x), in bytes.

    The target context is the target examples, concatenated in order and split into parts of at most
    ``context_bytes``; each part primes the compressor on its own (a zstd raw-content dictionary, a deflate
    preset dictionary) and x's code lengths are averaged over the parts. ``backgrounds`` background contexts
    are built the same way from disjoint sets of source documents, one per target example: with
    ``length_match`` the unused sampled document nearest in length to that example, cut to its length, so
    every background holds as many documents of the same lengths (and bytes) as the target context. A
    document that is part of a background is scored against the other backgrounds only (leave one out): its
    own would predict it perfectly.
    """

    name = "zipfit-ml"
    needs = frozenset({BACKGROUND})
    parameters = (
        Param("ml_codec", str, "zstd", "compressor that primes the contexts (a zstd raw-content dictionary or a "
              "deflate preset dictionary)", choices=ML_CODECS),
        Param("ml_level", int, None, "compression level of --ml-codec", minimum=1, maximum=22, allow_none=True,
              none_means=", ".join(f"{level} for {codec}" for codec, level in ML_DEFAULT_LEVEL.items())),
        Param("backgrounds", int, 2, "disjoint background contexts drawn from the source", minimum=2),
        Param("context_bytes", int, None, "most bytes one primed context holds; the target text is split into "
              "contexts this large whose code lengths are averaged", minimum=1024, allow_none=True,
              none_means=f"a quarter of the target text, from {MIN_CONTEXT // 1024} KiB to "
              f"{MAX_CONTEXT['zstd'] // 1024} KiB ({MAX_CONTEXT['gzip'] // 1024} KiB for gzip)"),
        Param("length_match", bool, True, "build each background from source documents of the target "
              "examples' lengths (otherwise: random documents cut to those lengths)"),
        SEED,
    )
    unscorable_reason = "empty_text"

    def __init__(self, ml_codec: str = "zstd", ml_level: int | None = None, *, backgrounds: int = 2,
                 context_bytes: int | None = None, length_match: bool = True, seed: int = 0) -> None:
        self.ml_codec = ml_codec
        self.ml_level = ml_level
        self.backgrounds = backgrounds
        self.context_bytes = context_bytes
        self.length_match = length_match
        self.seed = seed

    # ---- fitting ----------------------------------------------------------------------------------------------

    def fit(self, targets: Sequence[str], source_sample: Sequence[str] | None = None) -> ZipFitML:
        if self.ml_codec not in ML_CODECS:
            raise ZipfitError(f"--ml-codec must be one of {', '.join(ML_CODECS)}, got {self.ml_codec!r}")
        level = ML_DEFAULT_LEVEL[self.ml_codec] if self.ml_level is None else self.ml_level
        if level not in ML_LEVELS[self.ml_codec]:
            levels = ML_LEVELS[self.ml_codec]
            raise ZipfitError(f"--ml-level for {self.ml_codec} must be between {levels.start} and "
                              f"{levels.stop - 1}, got {level}")
        if self.backgrounds < 2:
            raise ZipfitError(f"--backgrounds must be at least 2 (leave-one-out needs another), got {self.backgrounds}")
        if self.ml_codec == "gzip" and self.context_bytes is not None and self.context_bytes > GZIP_MAX_CONTEXT:
            raise ZipfitError(f"--context-bytes for gzip is at most {GZIP_MAX_CONTEXT:,} (deflate sees 32 KiB "
                              f"back), got {self.context_bytes:,}")
        encoded = [t.encode("utf-8") for t in targets]
        encoded = [t for t in encoded if t]
        if not encoded:
            raise ZipfitError("the target set is empty: zipfit-ml needs at least one non-empty target example")
        total = sum(map(len, encoded))
        limit = self.context_bytes if self.context_bytes is not None else \
            min(max(-(-total // AUTO_PARTS), MIN_CONTEXT), MAX_CONTEXT[self.ml_codec])
        self.level_ = level
        self.context_bytes_ = limit
        self.targets_ = encoded
        self.background_: list[list[bytes]] | None = None
        self._contexts: list[list[Callable[[bytes], int]]] | None = None
        if source_sample is not None:
            self.fit_background(source_sample)
        return self

    def background_size(self) -> int:
        return self.backgrounds * len(self.targets_) * (OVERSAMPLE if self.length_match else 1)

    def fit_background(self, background: Sequence[str]) -> ZipFitML:
        """Build the background contexts from a seeded sample of the source (``background_size()`` documents)."""
        pool = [t.encode("utf-8") for t in background]
        pool = [t for t in pool if t]
        n_slots = len(pool) // self.backgrounds
        if n_slots < 1:
            raise ZipfitError(f"zipfit-ml needs at least {self.backgrounds} non-empty background documents "
                              f"(one per background), got {len(pool)}")
        targets = self.targets_
        if n_slots < len(targets):
            # every background must hold as many documents as the target context: use that many targets
            log.warning("zipfit-ml: %d background documents for %d backgrounds x %d targets; the contexts use "
                        "the first %d targets", len(pool), self.backgrounds, len(targets), n_slots)
            targets = targets[:n_slots]
        rng = random.Random(self.seed)
        rng.shuffle(pool)  # the sample comes in source order; ties in length then fall to a seeded order
        members: list[list[bytes]] = [[] for _ in range(self.backgrounds)]
        if self.length_match:
            pool.sort(key=len)  # stable: equal lengths keep the seeded order
            lengths = [len(p) for p in pool]
            for target in targets:
                for b in range(self.backgrounds):
                    i = bisect.bisect_left(lengths, len(target))
                    if i == len(lengths) or (i > 0 and len(target) - lengths[i - 1] <= lengths[i] - len(target)):
                        i -= 1
                    members[b].append(pool.pop(i))
                    lengths.pop(i)
        else:
            for j in range(len(targets)):
                for b in range(self.backgrounds):
                    members[b].append(pool[j * self.backgrounds + b])
        self.background_ = members
        self.n_context_targets_ = len(targets)
        self._members = {_key(doc): b for b, docs in enumerate(members) for doc in docs}
        # each context is cut at the same target boundaries, and every part to the size of the smallest of
        # its siblings: a larger dictionary predicts any text better, so the parts compared must be equal
        bounds = self._splits([len(t) for t in targets])
        self.target_parts_: list[bytes] = []
        self.background_parts_: list[list[bytes]] = [[] for _ in range(self.backgrounds)]
        for lo, hi in bounds:
            own = b"".join(targets[lo:hi])
            others = [b"".join(d[: len(t)] for d, t in zip(docs[lo:hi], targets[lo:hi], strict=True))
                      for docs in members]
            size = min(len(own), *(len(o) for o in others), self.context_bytes_)
            self.target_parts_.append(own[len(own) - size:])
            for b, other in enumerate(others):
                self.background_parts_[b].append(other[len(other) - size:])
        self._contexts = None
        return self

    def _splits(self, lengths: list[int]) -> list[tuple[int, int]]:
        """Target index ranges, one per context: ceil(total / context_bytes_) of them, cut at the target nearest
        each equal share (a remainder of a few bytes would weigh as much in the average as a full context). A
        part that ends up over the limit loses its first bytes in ``fit_background``."""
        total = sum(lengths)
        parts = max(1, -(-total // self.context_bytes_))
        out: list[tuple[int, int]] = []
        start, done = 0, 0
        for i, n in enumerate(lengths):
            if i > start and len(out) < parts - 1 and done + n / 2 > total * (len(out) + 1) / parts:
                out.append((start, i))
                start = i
            done += n
        out.append((start, len(lengths)))
        return out

    # ---- scoring ----------------------------------------------------------------------------------------------

    def setup(self) -> None:
        if self._contexts is None:
            self._fitted()
            parts = [self.target_parts_, *self.background_parts_]
            self._contexts = [[self._primed(p) for p in context] for context in parts]

    def _primed(self, context: bytes) -> Callable[[bytes], int]:
        """C(x | context): the compressed length of x with the compressor primed with ``context``."""
        level = self.level_
        if self.ml_codec == "zstd":
            import zstandard

            dictionary = zstandard.ZstdCompressionDict(context, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
            dictionary.precompute_compress(level=level)
            compressor = zstandard.ZstdCompressor(level=level, dict_data=dictionary, write_checksum=False,
                                                  write_content_size=False, write_dict_id=False)
            return lambda x: len(compressor.compress(x))

        def deflate_length(x: bytes) -> int:
            c = zlib.compressobj(level, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, context)
            return len(c.compress(x)) + len(c.flush())

        return deflate_length

    def _fitted(self) -> None:
        if getattr(self, "background_", None) is None:
            raise ZipfitError("zipfit-ml has no background sample: fit it with source_sample=, or run it through "
                              "zipfit.select, which draws one from the source")

    def score(self, texts: Sequence[str]) -> np.ndarray:
        self.setup()
        assert self._contexts is not None
        docs = [t.encode("utf-8") for t in texts]
        own = [self._members.get(_key(x)) if x else None for x in docs]
        parts = len(self._contexts[0])
        # context-major: one compressor's tables stay in cache across the batch (document-major was ~2x slower)
        totals = np.zeros((len(self._contexts), len(docs)), dtype=np.int64)
        for c, context in enumerate(self._contexts):
            skip = c - 1  # background c - 1 is never scored for its own members
            for i, x in enumerate(docs):
                if x and own[i] != skip:
                    totals[c, i] = sum(length(x) for length in context)
        out = np.empty(len(docs), dtype=np.float64)
        for i, x in enumerate(docs):
            if not x:
                out[i] = np.nan
                continue
            others = [b for b in range(1, len(self._contexts)) if b - 1 != own[i]]
            in_target = int(totals[0, i]) / parts
            in_background = sum(int(totals[b, i]) for b in others) / (len(others) * parts)
            out[i] = (in_background - in_target) / len(x)
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_contexts"] = None  # compressors are process-local; setup() rebuilds them in each worker
        return state

    def params(self) -> dict[str, Any]:
        fitted = getattr(self, "background_", None) is not None
        return {"ml_codec": self.ml_codec, "ml_level": getattr(self, "level_", self.ml_level),
                "backgrounds": self.backgrounds, "context_bytes": getattr(self, "context_bytes_", self.context_bytes),
                "length_match": self.length_match, "seed": self.seed,
                "n_targets": len(getattr(self, "targets_", ())),
                "contexts": len(self.target_parts_) if fitted else None,
                "context_target_bytes": sum(map(len, self.target_parts_)) if fitted else None}
