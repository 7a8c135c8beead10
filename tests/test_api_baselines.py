"""The baselines through the same API, output format, manifest and bad-input rules as ZIP-FIT."""

import json

import numpy as np
import pytest

import zipfit
from zipfit.errors import ZipfitError
from zipfit.methods.dsir import DSIR


@pytest.fixture()
def sources(tmp_path, mixed_sources):
    path = tmp_path / "sources.jsonl"
    path.write_text("".join(json.dumps({"id": f"doc-{i}", "text": t}) + "\n" for i, t in enumerate(mixed_sources)))
    return path


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_dsir_through_select_equals_the_method_and_reports_short_documents(tmp_path, sources, mixed_sources,
                                                                           proofnet_valid):
    out = tmp_path / "dsir.jsonl"
    result = zipfit.select(sources, target_texts=proofnet_valid, out=out, k=20, method="dsir", workers=2,
                           method_options={"min_example_length": 50}, progress=False)
    method = DSIR(min_example_length=50).fit(proofnet_valid)
    method.fit_source(method.source_counts(mixed_sources))
    plain = method.score(mixed_sources)
    short = int(np.isnan(plain).sum())
    assert short > 0
    assert result.manifest["exclusions"]["method"] == {"too_short": short}
    order = sorted(np.flatnonzero(~np.isnan(plain)), key=lambda i: (-plain[i], i))[:20]
    assert [r["id"] for r in read(out)] == [f"doc-{i}" for i in order]
    assert [r["zipfit_score"] for r in read(out)] == [plain[i] for i in order]
    assert result.manifest["method"]["name"] == "dsir"


def test_dsir_gumbel_and_k_above_the_eligible_count(tmp_path, sources, proofnet_valid):
    a = zipfit.select(sources, target_texts=proofnet_valid, out=tmp_path / "a.jsonl", k=10, method="dsir",
                      sampling="gumbel", seed=5, workers=1, progress=False)
    zipfit.select(sources, target_texts=proofnet_valid, out=tmp_path / "b.jsonl", k=10, method="dsir",
                  sampling="gumbel", seed=5, workers=2, progress=False)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert a.manifest["parameters"]["sampling"] == "gumbel"
    with pytest.raises(ZipfitError, match=r"--k 160 but only \d+ eligible.*exclusions"):
        zipfit.select(sources, target_texts=proofnet_valid, out=tmp_path / "c.jsonl", k=160, method="dsir",
                      workers=1, progress=False)


def test_random_embed_and_d4_on_the_same_contract(tmp_path, mixed_sources, proofnet_valid):
    texts = [" ".join(t.split()[:60]) for t in mixed_sources[:40]]  # short: embedding on CPU is slow
    src = tmp_path / "small.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    cache = tmp_path / "cache"
    embed = zipfit.select(src, target_texts=proofnet_valid[:30], out=tmp_path / "embed.jsonl", k=8, method="embed",
                          workers=1, method_options={"cache_dir": cache}, progress=False)
    rows = read(tmp_path / "embed.jsonl")
    assert [r["zipfit_rank"] for r in rows] == list(range(1, 9))
    assert all(-1 <= r["zipfit_score"] <= 1 for r in rows)
    scores = [r["zipfit_score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    d4 = zipfit.select(src, target_texts=proofnet_valid[:30], out=tmp_path / "d4.parquet", k=8, method="d4",
                       workers=1, method_options={"cache_dir": cache, "r_dedup": 0.9}, progress=False)
    assert d4.manifest["counts"]["selected"] == 8 and d4.manifest["method"]["name"] == "d4"
    with pytest.raises(ZipfitError, match=r"r_dedup"):
        zipfit.select(src, target_texts=proofnet_valid[:30], out=tmp_path / "d4b.jsonl", k=39, method="d4",
                      workers=1, method_options={"cache_dir": cache, "r_dedup": 0.5}, progress=False)
    assert embed.manifest["timings_s"]["total"] > 0
