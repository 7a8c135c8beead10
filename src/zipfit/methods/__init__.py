"""Selection methods and the names the CLI and API know them by."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from typing import Any

from zipfit.errors import ZipfitError
from zipfit.methods.base import Method
from zipfit.methods.random import RandomSample
from zipfit.methods.zipfit import ZipFit
from zipfit.methods.zipfit_debiased import ZipFitDebiased
from zipfit.methods.zipfit_fast import ZipFitFast

METHODS: dict[str, type] = {"zipfit": ZipFit, "zipfit-fast": ZipFitFast, "zipfit-debiased": ZipFitDebiased,
                            "random": RandomSample}
# Baselines with heavy or optional dependencies are imported only when asked for.
_OPTIONAL: dict[str, tuple[str, str]] = {
    "dsir": ("zipfit.methods.dsir", "DSIR"),
    "embed": ("zipfit.methods.embed", "EmbeddingSimilarity"),
    "d4": ("zipfit.methods.d4", "D4"),
}


def method_names() -> list[str]:
    return [*METHODS, *(n for n, (mod, _) in _OPTIONAL.items() if importlib.util.find_spec(mod) is not None)]


def method_class(name: str) -> type:
    if name in METHODS:
        return METHODS[name]
    if name in _OPTIONAL and importlib.util.find_spec(_OPTIONAL[name][0]) is not None:
        module, attr = _OPTIONAL[name]
        return getattr(importlib.import_module(module), attr)
    raise ZipfitError(f"unknown method {name!r}; choose one of {', '.join(method_names())}")


def accepted_parameters(name: str) -> set[str]:
    return set(inspect.signature(method_class(name).__init__).parameters) - {"self"}


def make_method(name: str, **params: Any) -> Any:
    """Instantiate a method by name with the parameters it accepts (others are for other methods)."""
    accepted = accepted_parameters(name)
    return method_class(name)(**{k: v for k, v in params.items() if k in accepted})


__all__ = [
    "METHODS",
    "Method",
    "RandomSample",
    "ZipFit",
    "ZipFitDebiased",
    "ZipFitFast",
    "accepted_parameters",
    "make_method",
    "method_class",
    "method_names",
]
