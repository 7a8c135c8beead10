"""The numbers an experiment reports: tokens to reach a loss, "% faster", curve means, the alignment-CE fit.

Pure functions over plain sequences, so each is checked against hand-computed values in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


def tokens_to_reach(tokens: Sequence[float], ce: Sequence[float], bar: float) -> float | None:
    """Training tokens at which a loss curve first reaches ``bar`` (CE <= bar), linearly interpolated between
    the two evaluations around the crossing; None if the curve never reaches it.

    A curve that is already at or below the bar at its first evaluation reaches it there (no earlier point to
    interpolate from).
    """
    if len(tokens) != len(ce):
        raise ValueError(f"tokens and ce differ in length ({len(tokens)} vs {len(ce)})")
    for i, (t, c) in enumerate(zip(tokens, ce, strict=True)):
        if c <= bar:
            if i == 0:
                return float(t)
            t0, c0 = float(tokens[i - 1]), float(ce[i - 1])
            return t0 + (float(t) - t0) * (c0 - bar) / (c0 - float(c))
    return None


def percent_faster(tokens_needed: float | None, baseline_tokens: float) -> float | None:
    """The paper's "X% faster": X = 1 - tokens needed to reach the bar / the baseline's full budget, in percent."""
    if tokens_needed is None:
        return None
    if baseline_tokens <= 0:
        raise ValueError(f"the baseline's budget must be positive, got {baseline_tokens}")
    return 100.0 * (1.0 - tokens_needed / baseline_tokens)


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n - 1); no spread from a single value."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no values")
    return float(arr.mean()), (float(arr.std(ddof=1)) if arr.size > 1 else None)


@dataclass
class MeanCurve:
    tokens: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    runs: int


def mean_curve(curves: Sequence[tuple[Sequence[float], Sequence[float]]]) -> MeanCurve:
    """Mean, min and max over runs of (tokens, ce) curves, on the first run's evaluation points.

    Runs of one method evaluate at the same token counts; if one differs, it is interpolated onto the first
    run's points (and only within its own range, so no run is extrapolated).
    """
    if not curves:
        raise ValueError("no curves")
    grid = np.asarray(curves[0][0], dtype=np.float64)
    rows = []
    for tokens, ce in curves:
        t = np.asarray(tokens, dtype=np.float64)
        c = np.asarray(ce, dtype=np.float64)
        if t.shape == grid.shape and np.array_equal(t, grid):
            rows.append(c)
        else:
            row = np.interp(grid, t, c)
            row[(grid < t.min()) | (grid > t.max())] = np.nan
            rows.append(row)
    stack = np.vstack(rows)
    keep = ~np.isnan(stack).any(axis=0)
    stack, grid = stack[:, keep], grid[keep]
    return MeanCurve(grid, stack.mean(axis=0), stack.min(axis=0), stack.max(axis=0), len(curves))


def student_t_two_sided(t: float, df: int) -> float:
    """Two-sided p-value P(|T| >= |t|) of Student's t with an integer number of degrees of freedom.

    Closed form for integer df (Abramowitz & Stegun 26.7.3-4), so no statistics package is needed.
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if math.isinf(t):
        return 0.0
    theta = math.atan(abs(t) / math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2 == 1:
        total, term = 0.0, 1.0
        if df > 1:
            total = term = c
            for k in range(1, (df - 3) // 2 + 1):
                term *= c * c * (2 * k) / (2 * k + 1)
                total += term
        inside = (2.0 / math.pi) * (theta + s * total)
    else:
        total, term = 1.0, 1.0
        for k in range(1, (df - 2) // 2 + 1):
            term *= c * c * (2 * k - 1) / (2 * k)
            total += term
        inside = s * total
    return min(1.0, max(0.0, 1.0 - inside))


@dataclass
class LinearFit:
    slope: float
    intercept: float
    r2: float
    p_value: float | None  # of the slope (t test, n - 2 degrees of freedom); None with fewer than 3 points
    n: int


def linear_fit(x: Sequence[float], y: Sequence[float]) -> LinearFit:
    """Least-squares line y = slope * x + intercept, its R², and the slope's p-value."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = xa.size
    if n != ya.size or n < 2:
        raise ValueError(f"need at least two (x, y) points, got {n} and {ya.size}")
    sxx = float(((xa - xa.mean()) ** 2).sum())
    if sxx == 0:
        raise ValueError("all x values are equal: no line fits")
    slope = float(((xa - xa.mean()) * (ya - ya.mean())).sum()) / sxx
    intercept = float(ya.mean() - slope * xa.mean())
    ss_tot = float(((ya - ya.mean()) ** 2).sum())
    ss_res = float(((ya - (slope * xa + intercept)) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    p_value = None
    if n >= 3:
        if r2 >= 1.0:
            p_value = 0.0
        else:
            t = math.sqrt(max(r2, 0.0) * (n - 2) / (1.0 - r2))
            p_value = student_t_two_sided(t, n - 2)
    return LinearFit(slope, intercept, r2, p_value, n)


def shares(counts: Mapping[str, float]) -> dict[str, float]:
    """Each key's share of the total (0 for every key when the total is 0)."""
    total = float(sum(counts.values()))
    return {k: (float(v) / total if total else 0.0) for k, v in counts.items()}


def length_percentiles(lengths: Sequence[int]) -> dict[str, float]:
    """p10 / median / p90 of a length column (characters of the selected documents)."""
    arr = np.asarray(lengths, dtype=np.float64)
    if arr.size == 0:
        return {"p10": 0.0, "p50": 0.0, "p90": 0.0}
    p10, p50, p90 = np.percentile(arr, [10, 50, 90])
    return {"p10": float(p10), "p50": float(p50), "p90": float(p90)}


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def ngram_set(texts: Sequence[str], n: int = 13) -> set[tuple[str, ...]]:
    """Every lower-cased whitespace-word n-gram of the texts (GPT-3's contamination check uses 13-grams)."""
    out: set[tuple[str, ...]] = set()
    for t in texts:
        out |= _ngrams(t, n)
    return out


def ngram_overlap(texts: Sequence[str], reference: set[tuple[str, ...]], n: int = 13) -> int:
    """How many texts share at least one n-gram with ``reference`` (a measurement, not a filter)."""
    return sum(1 for t in texts if not reference.isdisjoint(_ngrams(t, n)))


def student_t_quantile(p: float, df: int) -> float:
    """The t value with P(|T| >= t) = 1 - p, e.g. p = 0.95 gives the half-width factor of a 95% interval.

    Found by bisection on ``student_t_two_sided``, so it needs no statistics package."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    lo, hi = 0.0, 1.0
    while student_t_two_sided(hi, df) > 1.0 - p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if student_t_two_sided(mid, df) > 1.0 - p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


@dataclass
class PairedDifference:
    """Mean of per-seed differences a − b with a two-sided t-interval over seeds (None with one seed)."""

    mean: float
    low: float | None
    high: float | None
    n: int
    diffs: list[float]

    @property
    def includes_zero(self) -> bool | None:
        if self.low is None or self.high is None:
            return None
        return self.low <= 0.0 <= self.high


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], confidence: float = 0.95
                      ) -> PairedDifference | None:
    """Differences a[s] − b[s] over the keys (training seeds) both have; a t-interval with n − 1 degrees of
    freedom on their mean. Pairing by seed removes what the two runs share (initialisation, block order)."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    diffs = [float(a[s]) - float(b[s]) for s in seeds]
    mean, std = mean_std(diffs)
    if std is None:
        return PairedDifference(mean, None, None, 1, diffs)
    half = student_t_quantile(confidence, len(diffs) - 1) * std / math.sqrt(len(diffs))
    return PairedDifference(mean, mean - half, mean + half, len(diffs), diffs)


@dataclass
class CorrelationInterval:
    """Pearson r with a Fisher-z interval, and the R² interval it implies."""

    r: float
    r_low: float
    r_high: float
    r2_low: float
    r2_high: float
    n: int


def correlation_interval(x: Sequence[float], y: Sequence[float], confidence: float = 0.95
                         ) -> CorrelationInterval | None:
    """Fisher's z interval for Pearson's r (atanh(r) ± z / sqrt(n − 3)); None below 4 points or without spread.

    Approximate for small n (it assumes bivariate normal points), but closed-form and deterministic. The R²
    interval is the square of the r interval, from 0 when the r interval spans 0."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = xa.size
    if n < 4 or xa.std() == 0 or ya.std() == 0:
        return None
    r = float(np.corrcoef(xa, ya)[0, 1])
    z = _normal_quantile(0.5 + confidence / 2.0)
    center = math.atanh(max(min(r, 1.0 - 1e-12), -1.0 + 1e-12))
    half = z / math.sqrt(n - 3)
    r_low, r_high = math.tanh(center - half), math.tanh(center + half)
    if r_low <= 0.0 <= r_high:
        r2_low, r2_high = 0.0, max(r_low * r_low, r_high * r_high)
    else:
        r2_low, r2_high = sorted((r_low * r_low, r_high * r_high))
    return CorrelationInterval(r, r_low, r_high, r2_low, r2_high, n)


def _normal_quantile(p: float) -> float:
    """The standard normal quantile, by bisection on erf (no statistics package)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n, tied values sharing the mean of the ranks they span (Spearman's convention)."""
    arr = np.asarray(values, dtype=np.float64)
    order = np.argsort(arr, kind="stable")
    _, first, counts = np.unique(arr[order], return_index=True, return_counts=True)
    # a run of equal values at sorted positions first..first+count-1 gets the mean of ranks first+1..first+count
    shared = np.repeat(first + (counts + 1) / 2.0, counts)
    ranks = np.empty(arr.size, dtype=np.float64)
    ranks[order] = shared
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation: Pearson's r of the average ranks. None below 2 points or when either side is
    constant (no order to correlate)."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xa.size != ya.size:
        raise ValueError(f"x and y differ in length ({xa.size} vs {ya.size})")
    if xa.size < 2:
        return None
    rx, ry = average_ranks(xa), average_ranks(ya)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])
