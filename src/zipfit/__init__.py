"""zipfit: pick the documents that best fit a target task (ZIP-FIT, arXiv 2410.18194)."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names, loaded on first use so that `import zipfit` stays cheap (no pyarrow until needed).
_EXPORTS = {
    "select": "zipfit.api",
    "score": "zipfit.api",
    "align": "zipfit.api",
    "compare": "zipfit.api",
    "report": "zipfit.reporting.saved",
    "SelectionResult": "zipfit.api",
    "ScoreResult": "zipfit.api",
    "ZipfitError": "zipfit.errors",
    "Source": "zipfit.io.sources",
    "ZipFit": "zipfit.methods",
    "ZipFitFast": "zipfit.methods",
    "alignment_plain": "zipfit.ncd",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'zipfit' has no attribute {name!r}")
