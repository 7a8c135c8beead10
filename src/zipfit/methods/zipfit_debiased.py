"""ZIP-FIT contrasted with the source's own background: alignment to the target minus alignment to a
seeded random sample of the source.

The paper's alignment rewards whatever compresses well against *any* text: short documents and
generic boilerplate score high against every target, which is why it correlates with −length
(METHOD.md §1). Nothing in it contrasts the target with the source itself, as DSIR's importance
ratio log p(x)/q(x) does. Subtracting the alignment to a background sample drawn from the source
removes the part of the score a document earns against typical source text: a short generic
document aligns with the background as well as with the target and falls to about 0, while a
document that resembles the target more than the source keeps a positive score.

Same exact machinery as ``zipfit`` (one compression of x, a state copy per target and per
background document); twice the work per document when the background is as large as the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zipfit.errors import ZipfitError
from zipfit.methods.base import BACKGROUND, SEED, Method, Param
from zipfit.methods.zipfit import COMPRESSION, FAST, ZipFit, refuse_fast
from zipfit.ncd import alignment_from_ncds

BACKGROUND_DOCS = Param("background_docs", int, None, "source documents in the seeded background sample", minimum=2,
                        allow_none=True, none_means="as many as there are targets")


class ZipFitDebiased(Method):
    """score(x) = alignment(x, target) − alignment(x, background).

    ``background_docs`` source documents are drawn by a seeded uniform sample of the whole source
    (``None``: as many as there are target examples). Background document i is cut to the length
    of target example i (cycling through the targets): NCD depends on the lengths of both sides, so
    a background as long as the target on average is what makes the two alignments comparable, and
    it keeps the cost of a background pair that of a target pair. A background document is not
    compared with itself: its background term is the mean over the other background documents.
    """

    name = "zipfit-debiased"
    needs = frozenset({BACKGROUND})
    needs_background = True  # the attribute selection read before ``needs`` existed
    parameters = (*COMPRESSION, BACKGROUND_DOCS, SEED, FAST)
    fast_variant = "zipfit-debiased-fast"

    def __init__(self, codec: str = "gzip", level: int | None = None, *, allow_level_0: bool = False,
                 background_docs: int | None = None, seed: int = 0, fast: bool = False) -> None:
        refuse_fast(fast, type(self))
        self.fast = fast
        self.codec = codec
        self.level = level
        self.allow_level_0 = allow_level_0
        self.background_docs = background_docs
        self.seed = seed

    def fit(self, targets: Sequence[str], source_sample: Sequence[str] | None = None) -> ZipFitDebiased:
        if len(targets) == 0:
            raise ZipfitError("the target set is empty: ZIP-FIT needs at least one target example")
        if self.background_docs is not None and self.background_docs < 2:
            raise ZipfitError(f"background_docs must be at least 2, got {self.background_docs}")
        self.targets_ = list(targets)
        self.background_: list[str] | None = None
        if source_sample is not None:
            self.fit_background(source_sample)
        return self

    def background_size(self) -> int:
        return self.background_docs if self.background_docs is not None else max(2, len(self.targets_))

    def fit_background(self, background: Sequence[str]) -> ZipFitDebiased:
        if len(background) < 2:
            raise ZipfitError(f"zipfit-debiased needs at least 2 background documents, got {len(background)}")
        lengths = [len(t) for t in self.targets_]
        self.background_ = [b[: lengths[i % len(lengths)]] for i, b in enumerate(background)]
        self.pairs_ = ZipFit(self.codec, self.level, allow_level_0=self.allow_level_0).fit(
            [*self.targets_, *self.background_])
        self._background_bytes = {t.encode("utf-8"): i for i, t in enumerate(background)}
        return self

    def setup(self) -> None:
        self._fitted().setup()

    def _fitted(self) -> ZipFit:
        if getattr(self, "background_", None) is None:
            raise ZipfitError("zipfit-debiased has no background sample: fit it with source_sample=, or run it "
                              "through zipfit.select, which draws one from the source")
        return self.pairs_

    def score(self, texts: Sequence[str]) -> np.ndarray:
        rows = self._fitted().ncd_rows(texts)
        n = len(self.targets_)
        out = np.empty(len(texts), dtype=np.float64)
        for i, (text, row) in enumerate(zip(texts, rows, strict=True)):
            background = row[n:].tolist()
            own = self._background_bytes.get(text.encode("utf-8"))
            if own is not None:
                del background[own]
            out[i] = alignment_from_ncds(row[:n].tolist()) - alignment_from_ncds(background)
        return out

    def params(self) -> dict[str, Any]:
        fitted = getattr(self, "pairs_", None)
        return {"codec": self.codec, "level": fitted.level_ if fitted is not None else self.level,
                "n_targets": len(getattr(self, "targets_", ())),
                "background_docs": len(self.background_) if getattr(self, "background_", None) else
                self.background_docs, "seed": self.seed, "allow_level_0": self.allow_level_0, "fast": False}
