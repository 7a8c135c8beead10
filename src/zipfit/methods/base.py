"""The contract every selection method follows, in the spirit of scikit-learn estimators.

Parameters go to ``__init__`` (no work there); ``fit`` sees the target examples; ``score`` maps a
batch of source texts to one number per text, higher = better fit. Engines pickle a fitted method,
call ``setup`` once per worker and ``score`` per batch: a method never knows how many processes or
machines run it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np


class Method(ABC):
    name: ClassVar[str]

    @abstractmethod
    def fit(self, targets: Sequence[str], source_sample: Sequence[str] | None = None) -> Method:
        """Learn whatever the method needs from the target examples; returns self."""

    @abstractmethod
    def score(self, texts: Sequence[str]) -> np.ndarray:
        """One float64 per text; higher means a better fit to the target."""

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Build per-process state once per worker (after unpickling)."""

    def params(self) -> dict[str, Any]:
        """Parameters as recorded in the manifest."""
        return {}
