"""zipfit-debiased for less work: the calibrated cascade of ``zipfit-fast`` on the debiased score.

The debiased score, alignment to the targets minus alignment to a background sample of the source,
is a linear function of the NCDs to every target and every background document. So the cascade
carries over unchanged once its columns are the targets *and* the background documents:

- calibration scores a seeded sample exactly on all of them;
- the proxies weight a few learned columns, which may be targets or background documents;
- stage 1, stage 2 and the exact rounds run as in ``zipfit-fast``.

A background document is not compared with itself in the exact score. In a proxy that uses its own
column, its NCD to itself is replaced by that column's mean over the calibration sample.

The selection is made from exact ``zipfit-debiased`` scores alone, as ``zipfit-fast``'s is from
exact ZIP-FIT scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from zipfit.methods.base import BACKGROUND, Method
from zipfit.methods.zipfit_debiased import BACKGROUND_DOCS, ZipFitDebiased
from zipfit.methods.zipfit_fast import LinearProxy, ZipFitFast, greedy_targets
from zipfit.ncd import ncd_values


class DebiasedProfile(Method):
    """Per text: its NCD to every column (targets, then background documents) and, last, its exact score."""

    name = "ncd-profile-debiased"

    def __init__(self, exact: ZipFitDebiased) -> None:
        self.exact = exact

    def fit(self, targets: Sequence[str], source_sample: Sequence[str] | None = None) -> DebiasedProfile:
        raise TypeError("DebiasedProfile wraps an already fitted ZipFitDebiased")

    def setup(self) -> None:
        self.exact.setup()

    def score(self, texts: Sequence[str]) -> np.ndarray:
        rows = self.exact._fitted().ncd_rows(texts)
        return np.column_stack([rows, self.exact.score(texts)])


class OwnColumnProxy(LinearProxy):
    """A linear proxy whose background columns stand in for a document's NCD to itself with a constant."""

    name = "zipfit-debiased-proxy"

    def with_own_columns(self, own: dict[bytes, int], fill: Sequence[float]) -> OwnColumnProxy:
        self.own_ = own  # full text of a background document -> its position among this proxy's columns
        self.fill_ = [float(v) for v in fill]
        return self

    def score(self, texts: Sequence[str]) -> np.ndarray:
        cys, w = self.target_lengths_, self.weights_
        out = np.empty(len(texts), dtype=np.float64)
        for i, text in enumerate(texts):
            cx, cxys = self.pair_lengths(text)
            values = ncd_values(cx, cys, cxys)
            own = self.own_.get(text.encode("utf-8"))
            if own is not None:
                values[own] = self.fill_[own]
            out[i] = self.intercept_ + math.fsum(a * b for a, b in zip(w, values, strict=True))
        return out


class ZipFitDebiasedFast(ZipFitFast):
    """``zipfit-debiased``'s selection through ``zipfit-fast``'s cascade (module docstring)."""

    name = "zipfit-debiased-fast"
    needs = frozenset({BACKGROUND})
    parameters = (*ZipFitFast.parameters, BACKGROUND_DOCS)
    # Twice zipfit-fast's columns (targets and background documents), and larger proxies: with 200 targets at
    # K/N = 1%, 12 columns pass 18% of the documents to stage 2 (4: 73%), and a 72-column fine proxy leaves
    # 3.6 K to rescore exactly at 10^5 documents (40 columns: 6.7 K), each of which costs 400 pairs (BENCHMARKS.md).
    default_stages = (12, 72)

    def __init__(self, codec: str = "gzip", level: int | None = None, *, stage1_targets: int | None = None,
                 stage2_targets: int | None = None, calibration_docs: int = 256, confidence: float = 4.0,
                 candidate_factor: float = 1.5, seed: int = 0, allow_level_0: bool = False,
                 background_docs: int | None = None) -> None:
        super().__init__(codec, level, stage1_targets=stage1_targets, stage2_targets=stage2_targets,
                         calibration_docs=calibration_docs, confidence=confidence,
                         candidate_factor=candidate_factor, seed=seed, allow_level_0=allow_level_0)
        self.background_docs = background_docs

    def fit(self, targets: Sequence[str], source_sample: Sequence[str] | None = None) -> ZipFitDebiasedFast:
        super().fit(targets)  # checks the cascade's parameters
        self.exact_ = ZipFitDebiased(self.codec, self.level, allow_level_0=self.allow_level_0,
                                     background_docs=self.background_docs, seed=self.seed).fit(targets)
        self.background_: list[str] | None = None
        if source_sample is not None:
            self.fit_background(source_sample)
        return self

    def background_size(self) -> int:
        return self.exact_.background_size()

    def fit_background(self, background: Sequence[str]) -> ZipFitDebiasedFast:
        self.exact_.fit_background(background)
        self.background_ = self.exact_.background_
        return self

    @property
    def columns_(self) -> list[str]:
        """What the NCD profile's columns compare with: the targets, then the (cut) background documents."""
        background = self.background_ if self.background_ is not None else []
        return [*self.targets_, *background]

    def _n_columns(self) -> int:
        return len(self.targets_) + (len(self.background_) if self.background_ is not None else self.background_size())

    def profiler(self) -> DebiasedProfile:  # type: ignore[override]
        return DebiasedProfile(self.exact_)

    def calibrate(self, profile: np.ndarray) -> np.ndarray:
        """Fit both proxies on the sample's NCD profile; returns the sample's exact scores (the last column)."""
        ncds, exact = profile[:, :-1], profile[:, -1].copy()
        self.column_means_ = ncds.mean(axis=0)
        coarse, fine = self.proxy_sizes()
        order, _ = greedy_targets(ncds, exact, fine)
        self.stage1_, self.sigma1_, _ = self._proxy(ncds, exact, order[:coarse])
        self.stage2_, self.sigma_, self.r2_ = self._proxy(ncds, exact, order)
        self.stage1_indices_, self.stage2_indices_ = order[:coarse], order
        return exact

    def _proxy(self, profile: np.ndarray, exact: np.ndarray, chosen: list[int]) -> tuple[LinearProxy, float, float]:
        linear, sigma, r2 = super()._proxy(profile, exact, chosen)
        n = len(self.targets_)
        position = {j - n: k for k, j in enumerate(chosen) if j >= n}  # background index -> proxy column
        own = {text: position[i] for text, i in self.exact_._background_bytes.items() if i in position}
        proxy = OwnColumnProxy(codec=self.codec, level=self.level, allow_level_0=self.allow_level_0)
        proxy.fit([self.columns_[j] for j in chosen]).with_weights(linear.intercept_, linear.weights_)
        return proxy.with_own_columns(own, [self.column_means_[j] for j in chosen]), sigma, r2

    def params(self) -> dict[str, Any]:
        params = super().params()
        params["background_docs"] = params.get("background_docs", self.background_docs)
        return params
