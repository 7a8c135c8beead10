"""The fast exact path must equal the plain formula to the bit, on real text."""

import gzip
import math

import pytest

from zipfit.ncd import GzipPairLengths, alignment_from_lengths, alignment_plain, ncd


@pytest.mark.parametrize("level", [1, 6, 9])
def test_pair_lengths_are_bit_identical_to_gzip_compress(mixed_sources, proofnet_valid, level):
    targets = [*proofnet_valid[:12], mixed_sources[-1][:3000], mixed_sources[5]]  # uneven target lengths
    pairs = GzipPairLengths([t.encode() for t in targets], level)
    checked = 0
    for x in mixed_sources[::3]:
        cx, cxys = pairs.lengths(x.encode())
        assert cx == len(gzip.compress(x.encode(), level))
        for y, cxy in zip(targets, cxys, strict=True):
            assert cxy == len(gzip.compress((x + y).encode(), level)), (len(x), len(y))
            checked += 1
    assert checked > 500


def test_every_window_size_is_exercised_and_exact(proofnet_valid):
    """Pairs straddling each window limit (2**w - 262 bytes) take different windows; all must be exact."""
    base = "\n".join(proofnet_valid).encode()
    target = proofnet_valid[0].encode()
    pairs = GzipPairLengths([target], 6)
    for bits in range(9, 16):
        limit = (1 << bits) - 262
        for total in (limit - 1, limit, limit + 1):
            x = base[: total - len(target)].decode("utf-8", "ignore").encode()
            _, (cxy,) = pairs.lengths(x)
            assert cxy == len(gzip.compress(x + target, 6))


def test_ncd_formula():
    assert ncd(100, 50, 120) == (120 - 50) / 100
    assert ncd(50, 100, 120) == (120 - 50) / 100


def test_alignment_is_independent_of_pair_order():
    cys = [31, 77, 40, 59, 1000, 23]
    cxys = [90, 140, 100, 120, 1040, 85]
    a = alignment_from_lengths(70, cys, cxys)
    b = alignment_from_lengths(70, cys[::-1], cxys[::-1])
    assert a == b
    expected = 1 - math.fsum((c - min(70, y)) / max(70, y) for y, c in zip(cys, cxys, strict=True)) / len(cys)
    assert a == expected


def test_alignment_plain_is_the_paper_formula(proofnet_valid):
    x = proofnet_valid[10]
    ys = proofnet_valid[:5]
    cx = len(gzip.compress(x.encode(), 1))
    terms = []
    for y in ys:
        cy = len(gzip.compress(y.encode(), 1))
        cxy = len(gzip.compress((x + y).encode(), 1))
        terms.append((cxy - min(cx, cy)) / max(cx, cy))
    assert alignment_plain(x, ys) == pytest.approx(1 - sum(terms) / len(terms), abs=1e-15)
    # a document aligns with itself better than an unrelated one does
    assert alignment_plain(ys[0], ys[:1]) > alignment_plain("the cat sat on the mat " * 20, ys[:1])
