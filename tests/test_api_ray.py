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
    local_scores = zipfit.score(src, out=tmp_path / "local-scores", shard_rows=40, **options)
    on_ray_scores = zipfit.score(src, out=tmp_path / "ray-scores", engine="ray", shard_rows=40, **options)
    parts = sorted(p.name for p in local_scores.out.glob("part-*.parquet"))
    assert len(parts) == -(-len(mixed_sources) // 40)
    assert parts == sorted(p.name for p in on_ray_scores.out.glob("part-*.parquet"))
    for name in parts:  # the workers that read their own shards write the same parts, byte for byte
        assert (local_scores.out / name).read_bytes() == (on_ray_scores.out / name).read_bytes()
    assert not ray.is_initialized()  # the cluster zipfit started is gone


def test_many_files_split_shards_exclude_and_dedup_equal_on_ray(tmp_path, mixed_sources, proofnet_valid, data_dir):
    """More input files than workers, one file split into many shards, decontamination and dedup: same bytes."""
    import gzip

    lines = (data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    planted = [f"{r['nl_statement']}\n{r['formal_statement']}" for r in rows if r["split"] == "test"][:15]
    texts = mixed_sources + planted + mixed_sources[:10]  # exact copies for --dedup
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    sources = [big]
    for part in range(4):
        p = tmp_path / f"part{part}.jsonl.gz"
        p.write_bytes(gzip.compress("".join(json.dumps({"id": f"{part}-{i}", "text": t}) + "\n"
                                            for i, t in enumerate(texts[part * 20 : part * 20 + 20])).encode()))
        sources.append(p)
    options = {"target_texts": proofnet_valid[:30], "workers": 2, "progress": False, "k": 60, "shard_rows": 16,
               "exclude": data_dir / "proofnet" / "proofnet_lean4_zipfit_v2.jsonl", "exclude_where": {"split": "test"},
               "exclude_template": "{nl_statement}\n{formal_statement}", "dedup": True}
    for method in ("zipfit", "zipfit-debiased"):
        local = zipfit.select(sources, out=tmp_path / f"local-{method}.jsonl", method=method, **options)
        on_ray = zipfit.select(sources, out=tmp_path / f"ray-{method}.jsonl", engine="ray", method=method, **options)
        assert local.out.read_bytes() == on_ray.out.read_bytes()
        assert local.manifest["counts"]["source_contaminated"] == on_ray.manifest["counts"]["source_contaminated"] >= 15
        assert local.manifest["decontamination"]["dropped"] == on_ray.manifest["decontamination"]["dropped"]
        assert on_ray.manifest["counts"]["duplicates_skipped"] == local.manifest["counts"]["duplicates_skipped"] > 0


def test_directory_outputs_rejects_and_annotations_equal_on_ray(tmp_path, mixed_sources, proofnet_valid):
    """A sharded directory, --rejects with --dedup, and score --annotate: the same bytes on both engines."""
    src = tmp_path / "sources.jsonl"
    lines = [json.dumps({"id": i, "text": t}) for i, t in enumerate(mixed_sources)]
    lines[5:5] = ["{broken", json.dumps({"id": "empty", "text": " "})]
    lines += [json.dumps({"id": "copy", "text": mixed_sources[7]})]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    options = {"target_texts": proofnet_valid[:50], "workers": 2, "progress": False, "dedup": True}
    out = {}
    for engine in ("local", "ray"):
        zipfit.select(src, out=f"{tmp_path}/{engine}/", k=30, max_rows_per_file=7, engine=engine,
                      rejects=tmp_path / f"{engine}-rejects.jsonl", **options)
        zipfit.score(src, out=tmp_path / f"{engine}-scores", engine=engine, shard_rows=40,
                     annotate=tmp_path / f"{engine}-annotated", rejects=tmp_path / f"{engine}-srejects.parquet",
                     **{k: v for k, v in options.items() if k != "dedup"})
        files = [*sorted((tmp_path / engine).glob("part-*")), *sorted((tmp_path / f"{engine}-annotated").glob("s*")),
                 tmp_path / f"{engine}-rejects.jsonl", tmp_path / f"{engine}-srejects.parquet"]
        out[engine] = [p.read_bytes() for p in files]
    assert len(out["local"]) == 8  # 5 parts of 7 or fewer records, the annotated input, 2 rejects files
    assert out["local"] == out["ray"]
