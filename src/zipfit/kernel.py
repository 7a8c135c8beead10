"""Which exact gzip pair-length kernel runs: the compiled one (``zipfit._native``) or the Python path.

Both return C(x) and C(x ⊕ y_j) equal to ``len(gzip.compress(x + y_j, level))`` for gzip levels 1-9,
so a score never depends on which one ran; the compiled one is only faster. It is built by
``pip install`` where a C compiler is present. Where it is missing, zipfit logs one line and uses
``ncd.GzipPairLengths``. ``ZIPFIT_KERNEL=python`` forces the Python path (tests and CI cover both);
``ZIPFIT_KERNEL=native`` makes a missing compiled kernel an error instead of a fallback.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from types import ModuleType
from typing import Protocol

from zipfit.errors import ZipfitError
from zipfit.ncd import GzipPairLengths

KERNEL_ENV = "ZIPFIT_KERNEL"
NATIVE = "native"
PYTHON = "python"
_CHOICES = ("auto", NATIVE, PYTHON)

log = logging.getLogger("zipfit")
_warned = False


class PairLengths(Protocol):
    def lengths(self, x: bytes) -> tuple[int, list[int]]: ...


def _requested() -> str:
    value = os.environ.get(KERNEL_ENV, "auto").strip().lower() or "auto"
    if value not in _CHOICES:
        raise ZipfitError(f"{KERNEL_ENV}={value!r}: choose one of {', '.join(_CHOICES)}")
    return value


def _native() -> ModuleType | None:
    global _warned
    try:
        from zipfit import _native  # type: ignore[attr-defined]
    except ImportError as e:
        if _requested() == NATIVE:
            raise ZipfitError(f"{KERNEL_ENV}=native but the compiled kernel cannot be imported ({e}); "
                              "reinstall zipfit on a machine with a C compiler") from e
        if not _warned:
            _warned = True
            log.warning("zipfit: the compiled gzip kernel is not built (%s); using the Python path, which is slower", e)
        return None
    return _native


def kernel_name() -> str:
    """The kernel exact gzip scoring uses in this process: "native" or "python"."""
    if _requested() == PYTHON:
        return PYTHON
    return NATIVE if _native() is not None else PYTHON


def pair_lengths(targets: Sequence[bytes], level: int) -> PairLengths:
    """An object whose ``lengths(x)`` gives C(x) and C(x ⊕ y_j) for every target (gzip, levels 1-9)."""
    if not 1 <= level <= 9:
        raise ZipfitError(f"the pair kernels compute gzip levels 1-9, got {level}")
    if kernel_name() == NATIVE:
        module = _native()
        assert module is not None
        return module.PairKernel(list(targets), level)
    return GzipPairLengths(targets, level)
