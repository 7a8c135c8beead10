"""Selection methods and the names the CLI and API know them by."""

from __future__ import annotations

from typing import Any

from zipfit.errors import ZipfitError
from zipfit.methods.base import Method
from zipfit.methods.zipfit import ZipFit
from zipfit.methods.zipfit_fast import ZipFitFast

METHODS: dict[str, type] = {"zipfit": ZipFit, "zipfit-fast": ZipFitFast}


def make_method(name: str, **params: Any) -> Any:
    """Instantiate a method by name with only the parameters it accepts."""
    try:
        cls = METHODS[name]
    except KeyError:
        raise ZipfitError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None
    import inspect

    accepted = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in params.items() if k in accepted})


__all__ = ["METHODS", "Method", "ZipFit", "ZipFitFast", "make_method"]
