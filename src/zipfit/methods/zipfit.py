"""ZIP-FIT (arXiv 2410.18194): alignment = 1 − mean gzip-NCD to the target examples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zipfit.compression import CODECS, DEFAULT_LEVEL, LEVELS, length_function, resolve_level
from zipfit.errors import ZipfitError
from zipfit.kernel import PairLengths, pair_lengths
from zipfit.methods.base import Method, Param
from zipfit.ncd import alignment_from_lengths, tune_allocator
from zipfit.process import owned

# Shared by every member of the ZIP-FIT family (exact, debiased, fast): one meaning, one CLI option each.
CODEC = Param("codec", str, "gzip", "compressor", choices=CODECS)
LEVEL = Param("level", int, None, "compression level; each codec checks its own range",
              minimum=min(r.start for r in LEVELS.values()), maximum=max(r.stop - 1 for r in LEVELS.values()),
              allow_none=True, none_means=", ".join(f"{level} for {codec}" for codec, level in DEFAULT_LEVEL.items()))
ALLOW_LEVEL_0 = Param("allow_level_0", bool, False,
                      "permit gzip level 0, which stores without compressing and ranks by length only")
COMPRESSION = (CODEC, LEVEL, ALLOW_LEVEL_0)
# Picks the method's cascade (zipfit -> zipfit-fast, zipfit-debiased -> zipfit-debiased-fast) by name: the
# registry builds the cascade instead, so a method object itself never has it on.
FAST = Param("fast", bool, False, "select through the calibrated cascade: exact scores only for the documents "
             "that can be selected, same selection")


def refuse_fast(fast: bool, cls: type[Method]) -> None:
    if fast:
        raise ZipfitError(f"{cls.name} with fast=True is its cascade {cls.fast_variant}: build it by name "
                          f"(make_method({cls.name!r}, {{'fast': True}})) or construct that class")


class ZipFit(Method):
    """The paper's score, computed exactly. gzip levels 1-9 use a pair kernel (zipfit.kernel: compiled,
    or the Python compress-once, copy-per-target path); gzip level 0 (stored blocks, whose layout
    depends on how the input arrives), zstd and lz4 (which offer no state copy) compress every pair."""

    name = "zipfit"
    parameters = (*COMPRESSION, FAST)
    fast_variant = "zipfit-fast"

    def __init__(self, codec: str = "gzip", level: int | None = None, *, allow_level_0: bool = False,
                 fast: bool = False) -> None:
        refuse_fast(fast, type(self))
        self.fast = fast
        self.codec = codec
        self.level = level
        self.allow_level_0 = allow_level_0

    def fit(self, targets: Sequence[str], source_sample: Sequence[str] | None = None) -> ZipFit:
        self.level_ = resolve_level(self.codec, self.level, allow_level_0=self.allow_level_0)
        if len(targets) == 0:
            raise ZipfitError("the target set is empty: ZIP-FIT needs at least one target example")
        self.targets_ = [t.encode("utf-8") for t in targets]
        length = length_function(self.codec, self.level_)
        self.target_lengths_ = [length(t) for t in self.targets_]
        self._pairs: PairLengths | None = None
        return self

    @property
    def _copies_state(self) -> bool:
        return self.codec == "gzip" and self.level_ > 0

    def setup(self) -> None:
        if owned():  # process-wide allocator settings: only in zipfit's own processes, never a user's
            tune_allocator()
        if self._copies_state and self._pairs is None:
            self._pairs = pair_lengths(self.targets_, self.level_)

    def pair_lengths(self, text: str) -> tuple[int, list[int]]:
        """C(x) and C(x ⊕ y_j) for every target, in target order."""
        x = text.encode("utf-8")
        if self._copies_state:
            self.setup()
            assert self._pairs is not None
            return self._pairs.lengths(x)
        length = self._length()
        return length(x), [length(x + y) for y in self.targets_]

    def score(self, texts: Sequence[str]) -> np.ndarray:
        cys = self.target_lengths_
        out = np.empty(len(texts), dtype=np.float64)
        for i, text in enumerate(texts):
            cx, cxys = self.pair_lengths(text)
            out[i] = alignment_from_lengths(cx, cys, cxys)
        return out

    def ncd_rows(self, texts: Sequence[str]) -> np.ndarray:
        """NCD to every target, one row per text (len(texts) x n_targets)."""
        # ncd_values in numpy: integer min/max and one IEEE division per value, so the same floats, without
        # Python's per-value cost (a tenth of an exact zipfit-debiased rescoring at 400 columns)
        cys = np.asarray(self.target_lengths_, dtype=np.int64)
        out = np.empty((len(texts), len(cys)), dtype=np.float64)
        for i, text in enumerate(texts):
            cx, cxys = self.pair_lengths(text)
            np.divide(np.asarray(cxys, dtype=np.int64) - np.minimum(cx, cys), np.maximum(cx, cys), out=out[i])
        return out

    def _length(self):
        fn = getattr(self, "_length_fn", None)
        if fn is None:
            fn = self._length_fn = length_function(self.codec, self.level_)
        return fn

    def __getstate__(self) -> dict[str, Any]:
        # Compressor objects are process-local; workers rebuild them in setup().
        state = self.__dict__.copy()
        state["_pairs"] = None
        state.pop("_length_fn", None)
        return state

    def params(self) -> dict[str, Any]:
        level = getattr(self, "level_", self.level)
        return {"codec": self.codec, "level": level, "allow_level_0": self.allow_level_0, "fast": False,
                "n_targets": len(getattr(self, "targets_", ()))}
