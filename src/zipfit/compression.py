"""Compressed length C(s) for each supported codec, computed the plain way (one call per string).

This is the reference every fast path is tested against. gzip lengths equal
``len(gzip.compress(data, level))`` exactly: a gzip member is a 10-byte header, a raw deflate
stream and an 8-byte trailer, so 18 + the raw deflate length is the same number without
building the header.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from zipfit.errors import ZipfitError

CODECS = ("gzip", "zstd", "lz4")
DEFAULT_LEVEL = {"gzip": 1, "zstd": 3, "lz4": 0}
LEVELS = {"gzip": range(0, 10), "zstd": range(1, 23), "lz4": range(0, 17)}
GZIP_OVERHEAD = 18

LEVEL_0_REFUSAL = (
    "gzip level 0 stores the text without compressing it, so the score becomes a pure length ranking "
    "(mean_j 23/(max(|x|,|y_j|)+23)) with no content signal; use a level from 1 to 9 "
    "(ZIP-FIT's original release used 1), or pass --allow-level-0 if you really want a length ranking"
)


def resolve_level(codec: str, level: int | None, *, allow_level_0: bool = False) -> int:
    """Validate codec and level; None means the codec's default. Refuses gzip level 0 unless forced."""
    if codec not in CODECS:
        raise ZipfitError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
    if level is None:
        return DEFAULT_LEVEL[codec]
    levels = LEVELS[codec]
    if level not in levels:
        raise ZipfitError(f"{codec} level must be between {levels.start} and {levels.stop - 1}, got {level}")
    if codec == "gzip" and level == 0 and not allow_level_0:
        raise ZipfitError(LEVEL_0_REFUSAL)
    return level


def length_function(codec: str, level: int) -> Callable[[bytes], int]:
    """The plain C(.) for a codec and level: bytes -> compressed length."""
    if codec == "gzip":
        def gzip_length(data: bytes) -> int:
            return GZIP_OVERHEAD + len(zlib.compress(data, level, -15))

        return gzip_length
    if codec == "zstd":
        import zstandard

        compressor = zstandard.ZstdCompressor(level=level)

        def zstd_length(data: bytes) -> int:
            return len(compressor.compress(data))

        return zstd_length
    if codec == "lz4":
        import lz4.frame

        def lz4_length(data: bytes) -> int:
            return len(lz4.frame.compress(data, compression_level=level))

        return lz4_length
    raise ZipfitError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
