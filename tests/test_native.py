"""The compiled kernel (src/zipfit/_native.c) must give len(gzip.compress(x + y, level)) to the byte.

It models zlib's decisions rather than calling zlib, so every place where those decisions change is
covered here: each level's matcher, window and lookahead boundaries, the window slide, full symbol
buffers (several blocks), stored blocks for incompressible data, and the trivial inputs.
"""

from __future__ import annotations

import gzip
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from realdata import read_jsonl
from zipfit._native import PairKernel


def gz(data: bytes, level: int) -> int:
    return len(gzip.compress(data, level))


def assert_exact(x: bytes, targets: list[bytes], level: int) -> int:
    cx, cxys = PairKernel(targets, level).lengths(x)
    assert cx == gz(x, level), (level, len(x))
    for y, cxy in zip(targets, cxys, strict=True):
        assert cxy == gz(x + y, level), (level, len(x), len(y))
    return len(cxys)


@pytest.fixture(scope="module")
def lean_corpus(data_dir) -> bytes:
    """About 400 KB of real Lean: enough for several blocks and window slides."""
    rows = read_jsonl(data_dir / "lean4" / "mathlib4_c46b5e4.jsonl.gz", 120)
    return "\n".join(r["text"] for r in rows).encode()[:400_000]


@pytest.mark.parametrize("level", [1, 6, 9])
def test_real_pairs_are_exact(mixed_sources, proofnet_valid, level):
    targets = [t.encode() for t in [*proofnet_valid[:10], mixed_sources[7][:4000], mixed_sources[-1]]]
    checked = sum(assert_exact(x.encode(), targets, level) for x in mixed_sources[::4])
    assert checked > 400


@pytest.mark.parametrize("level", range(1, 10))
def test_every_level_is_exact(mixed_sources, proofnet_valid, level):
    targets = [t.encode() for t in proofnet_valid[20:26]]
    for x in mixed_sources[1::23]:
        assert_exact(x.encode(), targets, level)


@pytest.mark.parametrize("level", [1, 4, 6, 9])
def test_window_and_lookahead_boundaries(lean_corpus, proofnet_valid, level):
    """Totals around 2**w - 262 (the Python path's window limits), 32 KiB, the 64 KiB window and the
    slide point, and sources around the 262-byte lookahead the kernel pauses x at."""
    target = proofnet_valid[0].encode()
    totals = [(1 << w) - 262 + d for w in range(9, 17) for d in (-1, 0, 1)]
    totals += [32768, 65274 + 262, 65536 + 1]
    for total in totals:
        assert_exact(lean_corpus[: total - len(target)], [target], level)
    for n in (0, 1, 2, 3, 261, 262, 263, 264, 520):
        assert_exact(lean_corpus[:n], [target, b"", b"x"], level)


@pytest.mark.parametrize("level", [1, 6, 9])
def test_trivial_and_long_targets(proofnet_valid, lean_corpus, level):
    x = proofnet_valid[3].encode()
    assert_exact(x, [b"", b"a", b"\x00", x, lean_corpus[:5000], lean_corpus[100_000:180_000]], level)
    assert_exact(b"", [b"", b"a", x], level)
    assert_exact(b"z", [b"", b"z", x], level)


@pytest.mark.parametrize("level", [1, 6, 9])
def test_incompressible_bytes_take_stored_blocks(proofnet_valid, level):
    rng = random.Random(11)
    noise = rng.randbytes(90_000)
    assert gz(noise, level) > len(noise)  # zlib stores these blocks: the kernel must choose the same
    text = proofnet_valid[5].encode()
    assert_exact(noise[:3000], [rng.randbytes(200), text, rng.randbytes(40_000)], level)
    assert_exact(noise, [text, b""], level)
    assert_exact(text, [noise[:70_000]], level)


@pytest.mark.parametrize("level", [1, 6, 9])
def test_several_blocks_and_slides(lean_corpus, proofnet_valid, level):
    """Sources past one block's 16383 symbols and past the 64 KiB window, including a target that slides."""
    targets = [proofnet_valid[1].encode(), b"", lean_corpus[300_000:370_000]]
    for n in (30_000, 100_000, 250_000):
        assert_exact(lean_corpus[:n], targets, level)
    assert_exact(b"ab" * 60_000, [b"ab" * 100, b"abc" * 5000], level)  # maximal matches, full chains
    assert_exact(b"\x00" * 150_000, [b"\x00" * 300, b"\x01"], level)


@pytest.mark.parametrize("kind", ["text", "bytes"])
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_random_inputs(kind, data):
    if kind == "text":
        piece = st.text(max_size=400).map(lambda s: s.encode("utf-8", "surrogatepass"))
    else:
        piece = st.binary(max_size=700)
    # small alphabets too, so that matches (and their lazy evaluation) happen
    repeated = st.builds(lambda p, n: p * n, piece, st.integers(1, 40))
    x = data.draw(st.one_of(piece, repeated))
    targets = data.draw(st.lists(st.one_of(piece, repeated), min_size=1, max_size=4))
    assert_exact(x, targets, data.draw(st.integers(1, 9)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="level"):
        PairKernel([b"a"], 0)
    with pytest.raises(TypeError, match="bytes"):
        PairKernel(["a"], 1)
    assert PairKernel([], 6).lengths(b"abc") == (gz(b"abc", 6), [])


def test_threads_with_their_own_kernels(mixed_sources, proofnet_valid):
    """lengths() releases the GIL: kernels in parallel threads stay exact."""
    from concurrent.futures import ThreadPoolExecutor

    targets = [t.encode() for t in proofnet_valid[:6]]
    sources = [x.encode() for x in mixed_sources[::6]]

    def work(level: int) -> list[tuple[int, list[int]]]:
        kernel = PairKernel(targets, level)
        return [kernel.lengths(x) for x in sources]

    with ThreadPoolExecutor(4) as pool:
        results = dict(zip((1, 4, 6, 9), pool.map(work, (1, 4, 6, 9)), strict=True))
    for level, got in results.items():
        for x, (cx, cxys) in zip(sources, got, strict=True):
            assert cx == gz(x, level) and cxys == [gz(x + y, level) for y in targets]
