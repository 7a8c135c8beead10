"""What a run records about itself: environment, length statistics, timings."""

from __future__ import annotations

import platform
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

PERCENTILES = (10, 25, 50, 75, 90)


def environment() -> dict[str, str]:
    import pyarrow

    from zipfit import __version__

    return {
        "zipfit": __version__,
        "python": sys.version.split()[0],
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "numpy": np.__version__,
        "pyarrow": pyarrow.__version__,
        "platform": platform.platform(),
    }


def distribution(values: np.ndarray) -> dict[str, float | int]:
    """Count, mean, min, percentiles and max of a length column."""
    values = np.asarray(values)
    if len(values) == 0:
        return {"count": 0}
    summary: dict[str, float | int] = {"count": len(values), "mean": round(float(values.mean()), 2)}
    summary["min"] = int(values.min())
    for q, v in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True):
        summary[f"p{q}"] = round(float(v), 1)
    summary["max"] = int(values.max())
    return summary


def length_report(n_chars: np.ndarray, n_tokens: np.ndarray, selected: np.ndarray) -> dict[str, Any]:
    """Length distribution of the selection against the whole eligible source.

    ZIP-FIT's score favours short documents; this block is how users see by how much.
    """
    report: dict[str, Any] = {}
    for unit, column in (("chars", n_chars), ("tokens", n_tokens)):
        column = np.asarray(column)
        report[unit] = {"source": distribution(column), "selected": distribution(column[selected])}
    src = report["chars"]["source"].get("p50")
    sel = report["chars"]["selected"].get("p50")
    report["median_chars_ratio"] = round(sel / src, 4) if src and sel is not None else None
    return report


def score_summary(scores: np.ndarray) -> dict[str, float]:
    scores = np.asarray(scores)
    if len(scores) == 0:
        return {}
    return {"min": float(scores.min()), "mean": float(scores.mean()), "max": float(scores.max())}


class Timer:
    """Wall-clock seconds per named phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - t, 4)

    def as_dict(self) -> dict[str, float]:
        return {**self.seconds, "total": round(time.perf_counter() - self._start, 4)}
