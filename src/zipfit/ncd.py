"""Normalized Compression Distance and ZIP-FIT alignment.

NCD(x, y) = (C(x ⊕ y) − min(C(x), C(y))) / max(C(x), C(y)), source first;
alignment(x) = 1 − mean_j NCD(x, y_j).

The mean is taken with ``math.fsum`` (correctly rounded, independent of summation order), so a
score never depends on how documents were batched, which process computed it, or the order in
which the target lengths were produced: the fast paths and the plain formula agree to the bit.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import sys
import zlib
from collections.abc import Sequence

from zipfit.compression import GZIP_OVERHEAD, length_function

# zlib only finds matches up to w_size - MIN_LOOKAHEAD (262) bytes back; while the whole
# concatenation fits in that distance, a smaller window yields the same deflate stream.
_MIN_LOOKAHEAD = 262
_WINDOW_BITS = tuple(range(9, 16))
_WINDOW_LIMIT = tuple((1 << w) - _MIN_LOOKAHEAD for w in _WINDOW_BITS)


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_allocator_tuned = False


def tune_allocator() -> bool:
    """Stop glibc from returning freed heap to the OS after every compressor copy.

    Each pair allocates and frees ~150-250 KB of deflate state. With glibc's defaults the free
    trims the heap and the next copy page-faults it back in: measured 147 µs per pair instead of
    47 at a 32 KB window. Raising the trim threshold keeps that memory mapped (peak usage is
    unchanged; the process just does not hand it back between pairs). It changes the whole
    process's allocator, so zipfit applies it only in processes it owns: engine workers and the
    CLI. Once per process, only on glibc; returns whether it was applied.
    """
    global _allocator_tuned
    if _allocator_tuned or not sys.platform.startswith("linux"):
        return _allocator_tuned
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    _allocator_tuned = bool(mallopt(_M_TRIM_THRESHOLD, 256 << 20)) and bool(mallopt(_M_MMAP_THRESHOLD, 16 << 20))
    return _allocator_tuned


def ncd(cx: int, cy: int, cxy: int) -> float:
    return (cxy - min(cx, cy)) / max(cx, cy)


def ncd_values(cx: int, cys: Sequence[int], cxys: Sequence[int]) -> list[float]:
    """NCD(x, y_j) for every target, from compressed lengths."""
    return [(cxy - min(cx, cy)) / max(cx, cy) for cy, cxy in zip(cys, cxys, strict=True)]


def alignment_from_ncds(values: Sequence[float]) -> float:
    """1 − mean NCD; the order of the values is irrelevant (fsum is correctly rounded)."""
    return 1.0 - math.fsum(values) / len(values)


def alignment_from_lengths(cx: int, cys: Sequence[int], cxys: Sequence[int]) -> float:
    """1 − mean NCD over the targets, from compressed lengths (order of the pairs is irrelevant)."""
    return alignment_from_ncds(ncd_values(cx, cys, cxys))


def alignment_plain(x: str, targets: Sequence[str], codec: str = "gzip", level: int = 1) -> float:
    """The paper's formula computed the slow, obvious way: one compression per string and per pair."""
    length = length_function(codec, level)
    xb = x.encode("utf-8")
    cx = length(xb)
    cys = [length(y.encode("utf-8")) for y in targets]
    cxys = [length((x + y).encode("utf-8")) for y in targets]
    return alignment_from_lengths(cx, cys, cxys)


class GzipPairLengths:
    """Exact C(x ⊕ y_j) for one source x against many targets, compressing x only once.

    x is fed to a raw-deflate compressor; for each target the compressor state is copied, y_j is
    appended and the stream finished. Deflate's output (levels 1-9, no flushes) does not depend on
    how its input was split, so the length equals compressing x + y_j in one call. The window is the
    smallest that holds x and the longest target: copying the compressor state is the dominant cost
    and it shrinks with the window, while one shared window keeps x to a single compression.
    """

    def __init__(self, targets: Sequence[bytes], level: int) -> None:
        self.level = level
        self.targets = list(targets)
        self.longest = max((len(t) for t in self.targets), default=0)

    def lengths(self, x: bytes) -> tuple[int, list[int]]:
        """C(x) and C(x ⊕ y_j) for every target, in target order."""
        need = len(x) + self.longest
        bits = next((b for b, limit in zip(_WINDOW_BITS, _WINDOW_LIMIT, strict=True) if need <= limit), 15)
        base = zlib.compressobj(self.level, zlib.DEFLATED, -bits)
        head = len(base.compress(x)) + GZIP_OVERHEAD
        cx = head + len(base.copy().flush())
        copy = base.copy
        out = []
        for y in self.targets:
            c = copy()
            out.append(head + len(c.compress(y)) + len(c.flush()))
        return cx, out
