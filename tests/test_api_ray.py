"""End to end on Ray through the public API (its own module: the engine tests hold a cluster of their own)."""

import json

import ray

import zipfit


def test_select_and_score_write_the_same_bytes_on_ray(tmp_path, mixed_sources, proofnet_valid):
    """Through the public API: engine="ray" starts a private local cluster and stops it at the end."""
    src = tmp_path / "sources.jsonl"
    with open(src, "w", encoding="utf-8") as f:
        for i, text in enumerate(mixed_sources):
            f.write(json.dumps({"id": f"doc-{i}", "text": text, "meta": {"n": i}}) + "\n")
    options = {"target_texts": proofnet_valid[:50], "workers": 2, "progress": False}
    local = zipfit.select(src, out=tmp_path / "local.jsonl", k=25, **options)
    on_ray = zipfit.select(src, out=tmp_path / "ray.jsonl", k=25, engine="ray", **options)
    assert local.out.read_bytes() == on_ray.out.read_bytes()
    assert on_ray.manifest["parameters"]["engine"] == "ray"
    local_scores = zipfit.score(src, out=tmp_path / "local.csv", **options)
    on_ray_scores = zipfit.score(src, out=tmp_path / "ray.csv", engine="ray", **options)
    assert local_scores.out.read_bytes() == on_ray_scores.out.read_bytes()
    assert not ray.is_initialized()  # the cluster zipfit started is gone
