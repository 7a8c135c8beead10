"""Both exact pair kernels (compiled and Python) give the same lengths and the same scores, and the
manifest says which one ran. CI runs the whole comparison, so both paths are exercised there."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pytest

import zipfit
from zipfit import kernel as kernel_module
from zipfit.errors import ZipfitError
from zipfit.kernel import KERNEL_ENV, NATIVE, PYTHON, kernel_name, pair_lengths
from zipfit.ncd import GzipPairLengths


def test_native_is_the_default_where_built(monkeypatch):
    monkeypatch.delenv(KERNEL_ENV, raising=False)
    assert kernel_name() == NATIVE  # the README's install builds it; CI must not silently run the fallback
    monkeypatch.setenv(KERNEL_ENV, "python")
    assert kernel_name() == PYTHON
    assert isinstance(pair_lengths([b"a"], 1), GzipPairLengths)
    monkeypatch.setenv(KERNEL_ENV, "fastest")
    with pytest.raises(ZipfitError, match=KERNEL_ENV):
        kernel_name()


def test_a_kernel_that_disagrees_with_zlib_is_not_used(monkeypatch, caplog):
    """The compiled kernel checks itself against this Python's zlib once; where they differ (a zlib fork),
    the Python path runs instead, with one warning, and a run that demands the native kernel stops."""
    monkeypatch.delenv(KERNEL_ENV, raising=False)
    assert kernel_module._agrees_with_zlib(kernel_module._native()) is True
    monkeypatch.setattr(kernel_module, "_checked", False)
    monkeypatch.setattr(kernel_module, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="zipfit"):
        assert kernel_name() == PYTHON and kernel_name() == PYTHON
    warnings = [r.getMessage() for r in caplog.records if "zlib" in r.getMessage()]
    assert len(warnings) == 1 and "does not reproduce" in warnings[0]
    assert isinstance(pair_lengths([b"y"], 6), GzipPairLengths)
    monkeypatch.setenv(KERNEL_ENV, "native")
    with pytest.raises(ZipfitError, match="does not reproduce"):
        kernel_name()


@pytest.mark.parametrize("level", [1, 6, 9])
def test_both_kernels_give_the_same_lengths(monkeypatch, mixed_sources, proofnet_valid, level):
    targets = [t.encode() for t in proofnet_valid[:8]] + [mixed_sources[3].encode()]
    monkeypatch.setenv(KERNEL_ENV, "native")
    native = pair_lengths(targets, level)
    monkeypatch.setenv(KERNEL_ENV, "python")
    python = pair_lengths(targets, level)
    for x in mixed_sources[::9]:
        xb = x.encode()
        got = native.lengths(xb)
        assert got == python.lengths(xb)
        assert got[0] == len(gzip.compress(xb, level))


@pytest.mark.parametrize("method", ["zipfit", "zipfit-debiased"])
def test_both_kernels_give_identical_scores_through_the_api(monkeypatch, tmp_path, mixed_sources, proofnet_valid,
                                                             method):
    docs = [{"text": t} for t in mixed_sources[:60]]
    results = {}
    for kernel in (NATIVE, PYTHON):
        monkeypatch.setenv(KERNEL_ENV, kernel)
        results[kernel] = zipfit.score(docs, proofnet_valid[:20], method=method, out=tmp_path / kernel, workers=1,
                                       progress=False, level=6)
        assert results[kernel].manifest["parameters"]["kernel"] == kernel
    assert np.array_equal(results[NATIVE].scores, results[PYTHON].scores, equal_nan=True)
    assert np.isfinite(results[NATIVE].scores).sum() > 50


def test_both_kernels_select_the_same_documents_with_the_cascade(monkeypatch, tmp_path, mixed_sources,
                                                                  proofnet_valid):
    docs = [{"text": t} for t in mixed_sources]
    selected = {}
    for kernel in (NATIVE, PYTHON):
        monkeypatch.setenv(KERNEL_ENV, kernel)
        out = tmp_path / f"{kernel}.jsonl"
        result = zipfit.select(docs, proofnet_valid[:40], method="zipfit-fast", k=12, out=out, workers=1,
                               progress=False)
        assert result.manifest["parameters"]["kernel"] == kernel
        selected[kernel] = out.read_bytes()
    assert selected[NATIVE] == selected[PYTHON]
    assert selected[NATIVE].count(b"\n") == 12
