"""Exact ZIP-FIT for less work: calibrated cheap scores decide which documents get the exact one.

1. Calibration. A seeded uniform sample of S source documents is scored exactly against all n
   targets (its NCD profile).
2. Proxies. Greedy forward selection orders the targets by how much their NCDs, combined linearly
   (least squares on the sample), add to predicting the exact alignment. The first m1 make a
   coarse proxy, the first m2 a fine one; σ is each one's leave-one-out residual spread. (A random
   subset of targets instead of learned ones recalled only 72-92% of the exact top 1% on a mixed
   corpus: a few targets cannot stand for all of them, but a weighted few can.)
3. Stage 1. Every document gets the coarse proxy (m1 compressions instead of n). The K-th best
   coarse score less z·σ1 bounds the final cutoff from below; documents whose coarse score + z·σ1
   stays under that bound cannot be selected and leave.
4. Stage 2. The survivors get the fine proxy (m2 compressions).
5. Stage 3. The best c·K survivors by fine proxy are scored exactly; then every survivor whose fine
   score + bias + z·σ reaches the current cutoff (the K-th best exact score so far, or the last
   document inside the token budget), and so on until none qualifies. The cutoff only rises, so
   this ends. σ here is the larger of the calibration spread and the spread among the top
   rescored documents, where the proxy errs most.

The selection is made from exact scores alone: it equals exact ZIP-FIT unless a document's proxy
error exceeds z·σ. The method states what to score; the caller (``zipfit.api``) runs the passes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from zipfit.errors import ZipfitError
from zipfit.methods.base import CASCADE, SEED, Method, Param
from zipfit.methods.zipfit import ALLOW_LEVEL_0, CODEC, LEVEL, ZipFit
from zipfit.ncd import alignment_from_ncds, ncd_values
from zipfit.topk import Budget, last_position, prefix_within, ranking


class NcdProfile(Method):
    """NCD to every target, per text: the calibration data (a len(texts) x n matrix)."""

    name = "ncd-profile"

    def __init__(self, exact: ZipFit) -> None:
        self.exact = exact

    def fit(self, targets: Sequence[str], source_sample: Sequence[str] | None = None) -> NcdProfile:
        raise TypeError("NcdProfile wraps an already fitted ZipFit")

    def setup(self) -> None:
        self.exact.setup()

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self.exact.ncd_rows(texts)


class LinearProxy(ZipFit):
    """intercept + Σ_j w_j · NCD(x, y_j) over a few chosen targets: the stage-1 score."""

    name = "zipfit-proxy"

    def with_weights(self, intercept: float, weights: Sequence[float]) -> LinearProxy:
        self.intercept_ = float(intercept)
        self.weights_ = [float(w) for w in weights]
        return self

    def score(self, texts: Sequence[str]) -> np.ndarray:
        cys, w = self.target_lengths_, self.weights_
        out = np.empty(len(texts), dtype=np.float64)
        for i, text in enumerate(texts):
            cx, cxys = self.pair_lengths(text)
            values = ncd_values(cx, cys, cxys)
            out[i] = self.intercept_ + math.fsum(a * b for a, b in zip(w, values, strict=True))
        return out


def greedy_targets(profile: np.ndarray, exact: np.ndarray, m: int) -> tuple[list[int], np.ndarray]:
    """Forward selection of m columns of ``profile`` minimising the least-squares error on ``exact``.

    Returns the chosen columns (in selection order) and the coefficients [intercept, w_1..w_m].

    Each step adds the column that removes the most of the remaining residual. Every column is kept
    orthogonal to the chosen ones (and to the intercept), so a step costs one matrix-vector product
    over all columns instead of one least-squares fit per column (m·n fits took seconds with 400 columns).
    """
    s, n = profile.shape
    rest = profile - profile.mean(axis=0)  # each column's part the intercept and the chosen columns do not explain
    residual = exact - exact.mean()
    floor = 1e-12 * np.maximum(np.einsum("ij,ij->j", rest, rest), 1e-300)
    chosen: list[int] = []
    for _ in range(min(m, n)):
        norms = np.einsum("ij,ij->j", rest, rest)
        dots = rest.T @ residual
        # a column already in the span of the chosen ones removes nothing
        gain = np.where(norms > floor, dots**2 / np.where(norms > floor, norms, 1.0), 0.0)
        gain[chosen] = -np.inf
        j = int(np.argmax(gain))  # ties keep the lower column, so the choice is reproducible
        chosen.append(j)
        if norms[j] > floor[j]:
            q = rest[:, j] / math.sqrt(float(norms[j]))
            residual = residual - q * float(q @ residual)
            rest = rest - np.outer(q, q @ rest)
    design = np.column_stack([np.ones(s), profile[:, chosen]])
    coef = np.linalg.lstsq(design, exact, rcond=None)[0]
    return chosen, coef


class ZipFitFast(Method):
    """The cascade of the module docstring. Its per-document score is exact ZIP-FIT's; what it adds is
    hooks with which the pipeline avoids computing that score for documents that cannot be selected."""

    name = "zipfit-fast"
    kind = CASCADE
    default_stages = (4, 16)  # columns in the coarse and the fine proxy when the caller names none
    parameters = (
        CODEC,
        LEVEL,
        ALLOW_LEVEL_0,
        Param("stage1_targets", int, None, "targets in the coarse proxy every document gets", minimum=1,
              allow_none=True, none_means="4; 12 for zipfit-debiased --fast"),
        Param("stage2_targets", int, None, "targets in the fine proxy for the documents stage 1 keeps "
              "(more than --stage1-targets)", minimum=2, allow_none=True,
              none_means="16; 72 for zipfit-debiased --fast"),
        Param("calibration_docs", int, 256, "documents scored exactly on all targets to fit the proxies "
              "(at least twice --stage2-targets)", minimum=4),
        Param("confidence", float, 4.0, "rescore every document within this many proxy-error sigmas of the "
              "cutoff", minimum=0.0),
        Param("candidate_factor", float, 1.5, "first rescore this many times the budget, best by proxy",
              minimum=1.0),
        SEED,
    )

    def __init__(
        self,
        codec: str = "gzip",
        level: int | None = None,
        *,
        stage1_targets: int | None = None,
        stage2_targets: int | None = None,
        calibration_docs: int = 256,
        confidence: float = 4.0,
        candidate_factor: float = 1.5,
        seed: int = 0,
        allow_level_0: bool = False,
    ) -> None:
        self.codec = codec
        self.level = level
        coarse, fine = self.default_stages
        self.stage2_targets = fine if stage2_targets is None else stage2_targets
        if stage1_targets is None:  # a fine proxy given smaller than the default coarse one scales the coarse one
            stage1_targets = coarse if coarse < self.stage2_targets else max(1, self.stage2_targets * coarse // fine)
        self.stage1_targets = stage1_targets
        self.calibration_docs = calibration_docs
        self.confidence = confidence
        self.candidate_factor = candidate_factor
        self.seed = seed
        self.allow_level_0 = allow_level_0

    def fit(self, targets: Sequence[str], source_sample: Sequence[str] | None = None) -> ZipFitFast:
        if self.stage1_targets < 1:
            raise ZipfitError(f"--stage1-targets must be at least 1, got {self.stage1_targets}")
        if self.stage2_targets <= self.stage1_targets:
            raise ZipfitError(f"--stage2-targets ({self.stage2_targets}) must be more than --stage1-targets "
                              f"({self.stage1_targets})")
        if self.calibration_docs < 2 * self.stage2_targets:
            raise ZipfitError(f"--calibration-docs must be at least twice --stage2-targets "
                              f"({2 * self.stage2_targets}), got {self.calibration_docs}")
        if not (math.isfinite(self.candidate_factor) and self.candidate_factor >= 1.0):
            raise ZipfitError(f"--candidate-factor must be a finite number of at least 1, got {self.candidate_factor}")
        if not (math.isfinite(self.confidence) and self.confidence >= 0):
            raise ZipfitError(f"--confidence must be a finite number of at least 0, got {self.confidence}")
        self.exact_ = ZipFit(codec=self.codec, level=self.level, allow_level_0=self.allow_level_0).fit(targets)
        self.targets_ = list(targets)
        self.stage1_: LinearProxy | None = None
        self.stage2_: LinearProxy | None = None
        return self

    def setup(self) -> None:
        self.exact_.setup()

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Exact ZIP-FIT scores, which the cascade's selection is made from."""
        return self.exact_.score(texts)

    @property
    def columns_(self) -> list[str]:
        """What the NCD profile's columns compare with (the proxies choose among them)."""
        return self.targets_

    def _n_columns(self) -> int:
        return len(self.targets_)

    def proxy_sizes(self) -> tuple[int, int]:
        """Columns in the coarse and the fine proxy. With no more columns than --stage2-targets, smaller
        proxies (half the columns, and half that) keep the cascade cheaper than exact scoring."""
        n = self._n_columns()
        if self.stage2_targets < n:
            return self.stage1_targets, self.stage2_targets
        fine = max(2, n // 2)
        return max(1, min(self.stage1_targets, fine // 2)), fine

    @property
    def single_stage(self) -> bool:
        """With fewer than three columns no proxy can be smaller than exact scoring."""
        return self._n_columns() < 3

    def worthwhile(self, n_docs: int) -> bool:
        """Two stages pay off only when the corpus is much larger than the calibration sample."""
        return not self.single_stage and n_docs > 4 * self.calibration_docs

    def profiler(self) -> NcdProfile:
        return NcdProfile(self.exact_)

    def calibrate(self, profile: np.ndarray) -> np.ndarray:
        """Fit both proxies on the sample's NCD profile; returns the sample's exact scores."""
        exact = np.array([alignment_from_ncds(row) for row in profile.tolist()])
        coarse, fine = self.proxy_sizes()
        order, _ = greedy_targets(profile, exact, fine)
        self.stage1_, self.sigma1_, _ = self._proxy(profile, exact, order[:coarse])
        self.stage2_, self.sigma_, self.r2_ = self._proxy(profile, exact, order)
        self.stage1_indices_, self.stage2_indices_ = order[:coarse], order
        return exact

    def _proxy(self, profile: np.ndarray, exact: np.ndarray, chosen: list[int]) -> tuple[LinearProxy, float, float]:
        design = np.column_stack([np.ones(len(exact)), profile[:, chosen]])
        coef = np.linalg.lstsq(design, exact, rcond=None)[0]
        residuals = exact - design @ coef
        # leave-one-out residuals: the spread a document outside the sample should expect
        leverage = np.einsum("ij,ij->i", design @ np.linalg.pinv(design.T @ design), design)
        sigma = float(np.std(residuals / np.maximum(1.0 - leverage, 1e-6)))
        total = float(np.sum((exact - exact.mean()) ** 2))
        r2 = 1.0 - float(np.sum(residuals**2)) / total if total > 0 else 1.0
        proxy = LinearProxy(codec=self.codec, level=self.level, allow_level_0=self.allow_level_0)
        return proxy.fit([self.columns_[j] for j in chosen]).with_weights(coef[0], coef[1:]), sigma, r2

    def survivors(self, coarse: np.ndarray, budget: Budget, n_tokens: np.ndarray) -> np.ndarray:
        """Documents (ascending) that the coarse proxy cannot rule out.

        Each of the best documents by coarse score has an exact score of at least its coarse score
        less z·σ1, so the cutoff is at least the coarse cutoff less z·σ1; a document needs a coarse
        score + z·σ1 of at least that to stand a chance.
        """
        order = ranking(coarse)
        cut_at = order[last_position(np.asarray(n_tokens)[order], budget)]
        lower_bound = float(coarse[cut_at]) - self.confidence * self.sigma1_
        return np.flatnonzero(coarse + self.confidence * self.sigma1_ >= lower_bound)

    def candidates(self, proxy_scores: np.ndarray, budget: Budget, n_tokens: np.ndarray) -> np.ndarray:
        """The first documents to rescore (ascending): the best c·K by proxy, or c times the token budget."""
        order = ranking(proxy_scores)
        if budget.k is not None:
            count = math.ceil(self.candidate_factor * budget.k)
        else:
            assert budget.tokens is not None
            want = math.ceil(self.candidate_factor * budget.tokens)
            count = prefix_within(np.asarray(n_tokens)[order], want) + 1  # the smallest prefix reaching it
        return np.sort(order[: min(count, len(order))])

    def cutoff(self, rescored: np.ndarray, exact: np.ndarray, budget: Budget, n_tokens: np.ndarray) -> float:
        """The exact score a document must reach to change the selection made from the rescored ones."""
        order = ranking(exact)  # rescored is ascending, so ties fall to the lower document index
        return float(exact[order[last_position(np.asarray(n_tokens)[rescored[order]], budget)]])

    def more_candidates(
        self,
        proxy_scores: np.ndarray,
        rescored: np.ndarray,
        exact: np.ndarray,
        budget: Budget,
        n_tokens: np.ndarray,
    ) -> np.ndarray:
        """Documents not yet rescored whose exact score could still reach the cutoff (ascending).

        The proxy errs more on top-scoring documents than on the uniform calibration sample
        (measured: twice the spread), so the margin uses the larger of the calibration spread and
        the spread among the rescored documents the proxy ranks highest, where the cutoff lies.
        """
        threshold = self.cutoff(rescored, exact, budget, n_tokens)
        proxy = proxy_scores[rescored]
        scored = np.flatnonzero(np.isfinite(proxy))  # calibration documents the coarse proxy ruled out have none
        near = max(math.ceil(self.candidate_factor * (budget.k or 0)), 50)
        top = scored[np.argsort(-proxy[scored], kind="stable")][:near]
        residuals = exact[top] - proxy[top]
        bias = max(0.0, float(np.median(residuals)))
        spread = max(self.sigma_, float(np.std(residuals, ddof=1)) if len(top) > 1 else 0.0)
        reach = proxy_scores + bias + self.confidence * spread >= threshold
        reach[rescored] = False
        return np.flatnonzero(reach)

    def params(self) -> dict[str, Any]:
        exact = getattr(self, "exact_", None) or ZipFit(self.codec, self.level, allow_level_0=self.allow_level_0)
        params = {
            **exact.params(),
            "stage1_targets": self.stage1_targets,
            "stage2_targets": self.stage2_targets,
            "calibration_docs": self.calibration_docs,
            "confidence": self.confidence,
            "candidate_factor": self.candidate_factor,
            "seed": self.seed,
            "fast": True,  # the cascade, however it was named (zipfit-fast, or --method zipfit --fast)
        }
        if getattr(self, "stage2_", None) is not None:
            params["stage2_target_indices"] = [int(j) for j in self.stage2_indices_]
            params["stage1_sigma"] = self.sigma1_
            params["proxy_r2"] = round(self.r2_, 6)
            params["proxy_sigma"] = self.sigma_
        return params
