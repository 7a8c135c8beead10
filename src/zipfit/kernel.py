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
import random
import zlib
from collections.abc import Sequence
from types import ModuleType
from typing import Protocol

from zipfit.compression import GZIP_OVERHEAD
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


_checked: bool | None = None


def _agrees_with_zlib(module: ModuleType) -> bool:
    """The compiled kernel models zlib's decisions; a zlib that decides differently (a fork such as zlib-ng
    in its compatibility mode) would make its lengths wrong. Checked once per process on a few inputs whose
    blocks take all three forms."""
    global _checked
    if _checked is None:
        rng = random.Random(0)
        words = [bytes(rng.choices(range(97, 123), k=rng.randint(2, 9))) for _ in range(300)]
        text = b" ".join(rng.choices(words, k=1500))
        cases = [(text[:3000], [text[5000:5400], b"", text[:200]]),  # dynamic blocks
                 (rng.randbytes(700), [text[:90], b"x"]),  # stored
                 (b"abc", [b"", b"abcabc"])]  # fixed
        _checked = all(module.PairKernel(ys, level).lengths(x) ==
                       (_gzip_length(x, level), [_gzip_length(x + y, level) for y in ys])
                       for level in (1, 6, 9) for x, ys in cases)
    return _checked


def _gzip_length(data: bytes, level: int) -> int:
    return GZIP_OVERHEAD + len(zlib.compress(data, level, -15))


def _native() -> ModuleType | None:
    global _warned
    try:
        from zipfit import _native  # type: ignore[attr-defined]
    except ImportError as e:
        problem = f"the compiled gzip kernel is not built ({e})"
    else:
        if _agrees_with_zlib(_native):
            return _native
        problem = f"the compiled gzip kernel does not reproduce this Python's zlib {zlib.ZLIB_RUNTIME_VERSION}"
    if _requested() == NATIVE:
        raise ZipfitError(f"{KERNEL_ENV}=native but {problem}; reinstall zipfit on a machine with a C compiler, "
                          "or leave the variable unset to use the Python path")
    if not _warned:
        _warned = True
        log.warning("zipfit: %s; using the Python path, which gives the same lengths more slowly", problem)
    return None


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
