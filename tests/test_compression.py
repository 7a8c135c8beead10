import gzip

import lz4.frame
import pytest
import zstandard

from zipfit.compression import LEVEL_0_REFUSAL, length_function, resolve_level
from zipfit.errors import ZipfitError


def test_default_level_is_one_for_gzip():
    assert resolve_level("gzip", None) == 1


def test_level_0_is_refused_with_the_reason_unless_forced():
    with pytest.raises(ZipfitError, match="length ranking"):
        resolve_level("gzip", 0)
    assert resolve_level("gzip", 0, allow_level_0=True) == 0
    assert "--allow-level-0" in LEVEL_0_REFUSAL


@pytest.mark.parametrize("codec,level", [("gzip", 10), ("gzip", -1), ("zstd", 0), ("zstd", 23), ("lz4", 17)])
def test_out_of_range_levels_are_errors(codec, level):
    with pytest.raises(ZipfitError, match="level must be between"):
        resolve_level(codec, level)


def test_unknown_codec():
    with pytest.raises(ZipfitError, match="unknown codec 'brotli'"):
        resolve_level("brotli", 1)


@pytest.mark.parametrize("level", range(0, 10))
def test_gzip_length_equals_gzip_compress(mixed_sources, level):
    length = length_function("gzip", level)
    for text in mixed_sources[::7]:
        data = text.encode()
        assert length(data) == len(gzip.compress(data, level))


def test_zstd_and_lz4_lengths_are_their_compressed_sizes(mixed_sources):
    data = mixed_sources[3].encode()
    assert length_function("zstd", 3)(data) == len(zstandard.ZstdCompressor(level=3).compress(data))
    assert length_function("lz4", 0)(data) == len(lz4.frame.compress(data, compression_level=0))
